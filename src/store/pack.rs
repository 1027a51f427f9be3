//! Append-only pack files holding block bytes too big to keep inline in redb.
//!
//! A block is appended to the current pack; the pack is fsynced before the
//! redb transaction that points at the bytes commits, and redb records how
//! far each pack is committed. On open, bytes past that length (a crash
//! between append and commit) are cut off. Deleted blocks become holes
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
}

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

    /// Cuts a pack back to its committed length, dropping torn appends.
    pub fn truncate(&self, id: u32, committed: u64) -> std::io::Result<()> {
        let path = self.path(id);
        let file = OpenOptions::new().write(true).open(&path)?;
        if file.metadata()?.len() > committed {
            tracing::info!(
                pack = id,
                committed,
                "dropping uncommitted bytes at the end of a pack"
            );
            file.set_len(committed)?;
            file.sync_all()?;
        }
        Ok(())
    }

    pub fn remove(&self, id: u32) -> std::io::Result<()> {
        self.readers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        std::fs::remove_file(self.path(id))
    }

    pub fn open_appender(&self, id: u32, len: u64) -> std::io::Result<Appender> {
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(self.path(id))?;
        file.set_len(len)?;
        Ok(Appender { id, file, len })
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
        let mut buf = vec![0u8; len as usize];
        self.reader(id)?.read_exact_at(&mut buf, offset)?;
        Ok(buf)
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

impl Appender {
    /// Appends `data`, returning its offset.
    pub fn append(&mut self, data: &[u8]) -> std::io::Result<u64> {
        let off = self.len;
        self.file.write_all_at(data, off)?;
        self.len += data.len() as u64;
        Ok(off)
    }

    pub fn sync(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        self.file.sync_data()
    }
}
