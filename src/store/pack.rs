//! Append-only record files: the pack files holding block bytes too big to
//! keep inline in redb, and the write-ahead log of small blocks.
//!
//! Each record is self-describing — `[0xB1][mh len u8][data len u32 LE][multihash][data]`
//! — so what was appended but not yet indexed survives a killed process: on
//! open the tail past the committed length is scanned, every record whose
//! bytes hash to its multihash is indexed again, and the file is cut at the
//! first torn record. The pack is fsynced before the redb transaction that
//! points into it commits. Deleted blocks become holes
//! (`FALLOC_FL_PUNCH_HOLE`), so disk use follows live data without rewriting.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// A pack is closed and a new one started past this size.
pub const PACK_MAX: u64 = 1 << 30;

pub struct Packs {
    dir: PathBuf,
    readers: RwLock<HashMap<u32, Arc<File>>>,
}

/// The pack being appended to.
pub struct Appender {
    pub id: u32,
    file: File,
    pub len: u64,
    /// Where the kernel was last told to start writing back (`append`).
    written_back: u64,
}

/// Appended bytes past this are handed to the kernel's writeback at once
/// (`sync_file_range`, not waiting), so a commit's `fdatasync`, which runs
/// under the store's lock, finds little left to write. Without it a 1 GiB
/// fetch spent 722 ms of its 3.3 s in 32 pack syncs (`perf trace -e
/// fdatasync`), every put waiting behind each; with it, 120 ms, and the
/// fetching node's blocking pool peaked at 30-44 threads instead of 53-67.
const WRITEBACK_STEP: u64 = 4 << 20;

impl Packs {
    pub fn new(dir: &Path) -> std::io::Result<Packs> {
        std::fs::create_dir_all(dir)?;
        Ok(Packs {
            dir: dir.to_path_buf(),
            readers: RwLock::new(HashMap::new()),
        })
    }

    pub fn path(&self, id: u32) -> PathBuf {
        self.dir.join(format!("pack-{id:06}.dat"))
    }

    /// Pack ids present on disk.
    pub fn list(&self) -> std::io::Result<Vec<u32>> {
        let mut ids = Vec::new();
        for e in std::fs::read_dir(&self.dir)? {
            let name = e?.file_name();
            let name = name.to_string_lossy();
            if let Some(id) = name.strip_prefix("pack-").and_then(|n| n.strip_suffix(".dat"))
                && let Ok(id) = id.parse()
            {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// Cuts a record file at `len`, dropping a torn append.
    pub fn truncate(path: &Path, len: u64) -> std::io::Result<()> {
        let file = OpenOptions::new().write(true).open(path)?;
        if file.metadata()?.len() > len {
            tracing::info!(file = %path.display(), len, "dropping a torn record at the end");
            file.set_len(len)?;
            file.sync_all()?;
        }
        Ok(())
    }

    pub fn open_appender(&self, id: u32, len: u64) -> std::io::Result<Appender> {
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(self.path(id))?;
        file.set_len(len)?;
        Ok(Appender {
            id,
            file,
            len,
            written_back: len,
        })
    }

    fn reader(&self, id: u32) -> std::io::Result<Arc<File>> {
        if let Some(f) = self.readers.read().unwrap_or_else(|e| e.into_inner()).get(&id) {
            return Ok(f.clone());
        }
        let f = Arc::new(File::open(self.path(id))?);
        self.readers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, f.clone());
        Ok(f)
    }

    pub fn read(&self, id: u32, offset: u64, len: u32) -> std::io::Result<Vec<u8>> {
        let f = self.reader(id)?;
        let len = len as usize;
        // Read into the Vec's spare capacity: zeroing a buffer that is
        // about to be overwritten cost a tenth of a warm read. Capacity may
        // pass `len`; bytes read past it are cut off.
        let mut buf = Vec::with_capacity(len);
        while buf.len() < len {
            let at = offset + buf.len() as u64;
            match rustix::io::pread(&*f, rustix::buffer::spare_capacity(&mut buf), at) {
                Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        buf.truncate(len);
        Ok(buf)
    }

    /// Asks the kernel to start reading `[offset, offset+len)` now. The
    /// leaves of a file sit one after the other in a pack, so this is a
    /// readahead of the file: concurrent FUSE reads defeat the kernel's own
    /// sequential-read detection on the shared descriptor.
    pub fn prefetch(&self, id: u32, offset: u64, len: u64) {
        if let Ok(f) = self.reader(id) {
            let _ = nix::fcntl::posix_fadvise(
                f.as_fd(),
                offset as i64,
                len as i64,
                nix::fcntl::PosixFadviseAdvice::POSIX_FADV_WILLNEED,
            );
        }
    }

    /// Frees the disk blocks under a deleted block's bytes. Best effort:
    /// filesystems without hole punching keep the space until the pack goes.
    pub fn punch(&self, id: u32, offset: u64, len: u32) {
        let res = self.reader_rw(id).and_then(|f| {
            nix::fcntl::fallocate(
                f.as_fd(),
                nix::fcntl::FallocateFlags::FALLOC_FL_PUNCH_HOLE
                    | nix::fcntl::FallocateFlags::FALLOC_FL_KEEP_SIZE,
                offset as i64,
                len as i64,
            )
            .map_err(std::io::Error::from)
        });
        if let Err(e) = res {
            tracing::debug!(pack = id, "could not punch a hole: {e}");
        }
    }

    fn reader_rw(&self, id: u32) -> std::io::Result<File> {
        OpenOptions::new().write(true).open(self.path(id))
    }
}

const MAGIC: u8 = 0xB1;
const HEADER: usize = 6;

/// A record found by [`scan`].
pub struct Record {
    pub multihash: Vec<u8>,
    /// Offset of the data (after the header and multihash).
    pub offset: u64,
    pub data: Vec<u8>,
}

/// Reads the records of `path` from `from` on, keeping those that verify;
/// returns them and the offset just past the last good one.
pub fn scan(path: &Path, from: u64) -> std::io::Result<(Vec<Record>, u64)> {
    let file = File::open(path)?;
    let end = file.metadata()?.len();
    let mut out = Vec::new();
    let mut pos = from;
    while pos + HEADER as u64 <= end {
        let mut h = [0u8; HEADER];
        file.read_exact_at(&mut h, pos)?;
        let mh_len = h[1] as u64;
        let len = u32::from_le_bytes([h[2], h[3], h[4], h[5]]) as u64;
        let body = pos + HEADER as u64;
        if h[0] != MAGIC || len > crate::block::MAX_BLOCK_SIZE as u64 || body + mh_len + len > end {
            break;
        }
        let mut mh = vec![0u8; mh_len as usize];
        file.read_exact_at(&mut mh, body)?;
        let mut data = vec![0u8; len as usize];
        file.read_exact_at(&mut data, body + mh_len)?;
        if !hash_matches(&mh, &data) {
            break;
        }
        out.push(Record {
            multihash: mh,
            offset: body + mh_len,
            data,
        });
        pos = body + mh_len + len;
    }
    Ok((out, pos))
}

fn hash_matches(mh: &[u8], data: &[u8]) -> bool {
    match multihash::Multihash::<64>::from_bytes(mh) {
        Ok(m) => crate::block::verify(&cid::Cid::new_v1(crate::block::RAW, m), data).is_ok(),
        Err(_) => false,
    }
}

impl Appender {
    /// Opens a record log that is not a numbered pack (the WAL).
    pub fn open_file(path: &Path, len: u64) -> std::io::Result<Appender> {
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(path)?;
        file.set_len(len)?;
        Ok(Appender {
            id: u32::MAX,
            file,
            len,
            written_back: len,
        })
    }

    /// Appends one record; returns the offset of `data` within the file.
    pub fn append(&mut self, multihash: &[u8], data: &[u8]) -> std::io::Result<u64> {
        let mut rec = Vec::with_capacity(HEADER + multihash.len());
        rec.push(MAGIC);
        rec.push(multihash.len() as u8);
        rec.extend_from_slice(&(data.len() as u32).to_le_bytes());
        rec.extend_from_slice(multihash);
        let off = self.len;
        self.file.write_all_at(&rec, off)?;
        let data_off = off + rec.len() as u64;
        self.file.write_all_at(data, data_off)?;
        self.len = data_off + data.len() as u64;
        if self.len - self.written_back >= WRITEBACK_STEP {
            self.start_writeback();
        }
        Ok(data_off)
    }

    /// Starts writeback of what was appended since the last call; only a
    /// hint (the commit's `fdatasync` is what makes bytes durable), so an
    /// error is only logged.
    fn start_writeback(&mut self) {
        use std::os::fd::AsRawFd;
        let (from, n) = (self.written_back, self.len - self.written_back);
        // SAFETY: a plain syscall on a file descriptor this appender owns;
        // no memory is passed.
        let r = unsafe {
            libc::sync_file_range(
                self.file.as_raw_fd(),
                from as libc::off64_t,
                n as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            )
        };
        if r != 0 {
            tracing::debug!("sync_file_range: {}", std::io::Error::last_os_error());
        }
        self.written_back = self.len;
    }

    /// Empties the log (after its records were committed elsewhere).
    pub fn sync(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        self.file.sync_data()
    }
}

/// Every record of `path` that verifies, for rebuilding a lost index: a
/// record whose bytes do not hash to its multihash is skipped (and
/// counted), and after any damaged record the scan looks for the next
/// record start (magic, a sha2-256 multihash, a sane length, bytes that
/// hash right) from the next byte instead of stopping or trusting a length.
/// Returns the records, the number skipped, and the file's length.
pub fn scan_all(path: &Path) -> std::io::Result<(Vec<Record>, u64, u64)> {
    let file = File::open(path)?;
    let end = file.metadata()?.len();
    let (mut out, mut skipped, mut pos) = (Vec::new(), 0u64, 0u64);
    let mut lost_sync = false;
    while pos + HEADER as u64 + 2 <= end {
        let mut h = [0u8; HEADER + 2];
        file.read_exact_at(&mut h, pos)?;
        let mh_len = h[1] as u64;
        let len = u32::from_le_bytes([h[2], h[3], h[4], h[5]]) as u64;
        let body = pos + HEADER as u64;
        // Only sha2-256 multihashes are stored (0x12, 32 bytes).
        let plausible = h[0] == MAGIC
            && mh_len == 34
            && h[6] == 0x12
            && h[7] == 0x20
            && len <= crate::block::MAX_BLOCK_SIZE as u64
            && body + mh_len + len <= end;
        let record = if plausible {
            let mut mh = vec![0u8; mh_len as usize];
            file.read_exact_at(&mut mh, body)?;
            let mut data = vec![0u8; len as usize];
            file.read_exact_at(&mut data, body + mh_len)?;
            hash_matches(&mh, &data).then_some((mh, data))
        } else {
            None
        };
        let Some((mh, data)) = record else {
            // A damaged header, length or body: that record is lost; the
            // next one is looked for from the next byte (a damaged length
            // must not make the scan jump over a good record).
            if !lost_sync {
                skipped += 1;
            }
            lost_sync = true;
            pos += 1;
            continue;
        };
        lost_sync = false;
        out.push(Record {
            multihash: mh,
            offset: body + mh_len,
            data,
        });
        pos = body + mh_len + len;
    }
    Ok((out, skipped, end))
}

/// Whether `path` holds a valid record anywhere at or after `from` (looked
/// for byte by byte, as `scan_all` resyncs). Bounded: past `MAX_TAIL` bytes
/// the answer is yes without looking (a torn append is never that long).
pub fn record_after(path: &Path, from: u64) -> std::io::Result<bool> {
    const MAX_TAIL: u64 = 3 << 20;
    let file = File::open(path)?;
    let end = file.metadata()?.len();
    if end.saturating_sub(from) > MAX_TAIL {
        return Ok(true);
    }
    let mut tail = vec![0u8; end.saturating_sub(from) as usize];
    file.read_exact_at(&mut tail, from)?;
    for i in 0..tail.len() {
        let h = &tail[i..];
        if h.len() < HEADER + 34 || h[0] != MAGIC || h[1] != 34 || h[6] != 0x12 || h[7] != 0x20 {
            continue;
        }
        let len = u32::from_le_bytes([h[2], h[3], h[4], h[5]]) as usize;
        let body = HEADER + 34;
        if len <= crate::block::MAX_BLOCK_SIZE
            && body + len <= h.len()
            && hash_matches(&h[HEADER..body], &h[body..body + len])
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether `at` is where a record of `path` ends (walking the headers from
/// the start, without hashing). A cut anywhere else would take part of a
/// record.
pub fn is_boundary(path: &Path, at: u64) -> std::io::Result<bool> {
    let file = File::open(path)?;
    let end = file.metadata()?.len();
    let mut pos = 0u64;
    while pos < at {
        let mut h = [0u8; HEADER];
        if pos + HEADER as u64 > end {
            return Ok(false);
        }
        file.read_exact_at(&mut h, pos)?;
        let len = u32::from_le_bytes([h[2], h[3], h[4], h[5]]) as u64;
        if h[0] != MAGIC || len > crate::block::MAX_BLOCK_SIZE as u64 {
            return Ok(false);
        }
        pos += HEADER as u64 + h[1] as u64 + len;
    }
    Ok(pos == at)
}
