//! Files the kernel writes itself (FUSE passthrough). When the mount has
//! passthrough, a file created in files/, or opened with O_TRUNC while no
//! one has it open, is a plain file under `<repo>/staging/` until its last
//! close: the kernel reads and writes that file directly, so no WRITE
//! reaches the daemon. At the last close its bytes are imported into the
//! DAG (the CID `p2pfs add` gives) and journaled like any other close.
//!
//! The journal names the staging file from the start (`Op::Stage`), so a
//! killed daemon imports it when it starts again. A staging file is deleted
//! only once a checkpoint holds what was imported from it (`retired`).
//! While a file is staged, its size and times come from the staging file
//! (the kernel keeps them), and a CID asked for meanwhile (a checkpoint,
//! `files stat`) imports the bytes as they are at that moment.

use super::*;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

const DIR: &str = "staging";

/// A staged file's bytes on the repo's disk.
pub struct Staged {
    file: File,
    name: String,
    /// Bumped by every open and truncate: an import that started before
    /// is stale.
    version: AtomicU64,
    /// Its bytes imported by a checkpoint's pass outside the tree lock,
    /// used (once) by that checkpoint.
    snapshot: Mutex<Option<Entry>>,
}

impl Staged {
    /// The file the kernel reads and writes (open read-write).
    pub fn file(&self) -> &File {
        &self.file
    }

    fn bump(&self) {
        self.version.fetch_add(1, Ordering::SeqCst);
    }

    fn take_snapshot(&self, mfs: &Mfs) -> Result<()> {
        let e = mfs.import_staged(self)?;
        *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
        Ok(())
    }
}

/// Chunks hashed together (on all cores) when importing a staging file.
const BATCH: u64 = 32;

/// Fills `buf` from `file` at `offset` until the end of the file (pread:
/// the kernel's handles share the file position); the bytes read.
fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// The next offset at or after `from` where `file` has data (`SEEK_DATA`),
/// or `size` when only a hole follows.
fn next_data(file: &File, from: u64, size: u64) -> std::io::Result<u64> {
    use std::os::fd::AsRawFd;
    // SAFETY: lseek on a descriptor we own; it moves only the position
    // of this description, which nobody reads from (all I/O is pread).
    let r = unsafe { libc::lseek(file.as_raw_fd(), from as libc::off_t, libc::SEEK_DATA) };
    if r >= 0 {
        return Ok((r as u64).min(size));
    }
    match std::io::Error::last_os_error() {
        e if e.raw_os_error() == Some(libc::ENXIO) => Ok(size),
        // A filesystem without SEEK_DATA: everything is data.
        e if e.raw_os_error() == Some(libc::EINVAL) => Ok(from),
        e => Err(e),
    }
}

fn staging_err(what: &str, source: std::io::Error) -> MfsError {
    MfsError::Staging {
        what: what.to_string(),
        source,
    }
}

/// A staging file's name as the journal may hold it: made by
/// [`Mfs::new_staging_file`], never a path.
fn valid_staging_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

impl Mfs {
    fn staging_dir(&self) -> PathBuf {
        self.repo.path.join(DIR)
    }

    /// From now on new and truncated files are staged (the mount calls it
    /// when the kernel took passthrough).
    pub fn enable_staging(&self) -> Result<()> {
        std::fs::create_dir_all(self.staging_dir()).map_err(|e| staging_err("creating staging/", e))?;
        self.staging.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// New files are no longer staged (the kernel refused passthrough);
    /// those staged already go through the daemon until closed.
    pub fn disable_staging(&self) {
        self.staging.store(false, Ordering::SeqCst);
    }

    /// The staging file of `ino`, when the kernel should read and write it
    /// directly.
    pub fn staged(&self, ino: Ino) -> Option<Arc<Staged>> {
        self.lock_always().staged.get(&ino).cloned()
    }

    fn new_staging_file(&self) -> Result<(File, String)> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        loop {
            let seq = SEQ.fetch_add(1, Ordering::Relaxed);
            let name = format!("{:x}-{:x}-{seq:x}", t.as_nanos(), std::process::id());
            let made = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(self.staging_dir().join(&name));
            match made {
                Ok(f) => return Ok((f, name)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(staging_err("creating a staging file", e)),
            }
        }
    }

    /// Whether file `ino` should be staged now: staging is on, it is a
    /// regular file and nobody has it open (a handle already open reads
    /// and writes through the daemon, and the kernel cannot mix the two).
    pub(super) fn stageable(&self, st: &State, ino: Ino) -> bool {
        self.staging.load(Ordering::SeqCst)
            && !st.staged.contains_key(&ino)
            && matches!(
                st.nodes.get(&ino),
                Some(MNode { body: Body::File { open: 0, .. }, meta, .. })
                    if meta.is_none_or(|m| m.mode & libc::S_IFMT == 0)
            )
    }

    /// Makes file `ino` empty and staged, journaling the staging file.
    pub(super) fn stage(&self, st: &mut State, ino: Ino) -> Result<()> {
        if no_io() {
            return Err(MfsError::WouldBlock);
        }
        let (file, name) = self.new_staging_file()?;
        if let Some(MNode {
            body:
                Body::File {
                    content,
                    size,
                    unsaved,
                    stored,
                    ..
                },
            ..
        }) = st.nodes.get_mut(&ino)
        {
            *content = None;
            *size = 0;
            *unsaved = false;
            *stored = Some(0);
        }
        st.staged.insert(
            ino,
            Arc::new(Staged {
                file,
                name,
                version: AtomicU64::new(0),
                snapshot: Mutex::new(None),
            }),
        );
        Self::touch(st, ino);
        // An O_TMPFILE file has no name yet: journaled once it gets one.
        if st.nodes.get(&ino).is_some_and(|n| n.parent != 0) {
            self.journal_staged(st, ino)?;
        }
        Ok(())
    }

    /// Journals staged file `ino` under its path (an O_TMPFILE file just
    /// named); nothing for a file not staged.
    pub(super) fn journal_staged(&self, st: &mut State, ino: Ino) -> Result<()> {
        let Some(s) = st.staged.get(&ino) else {
            return Ok(());
        };
        let op = self.stage_op(st, ino, &s.name);
        self.log(st, op)
    }

    /// The journal line naming `name` as the staging file of `ino`.
    fn stage_op(&self, st: &State, ino: Ino, name: &str) -> Op {
        Op::stage(
            self.path(st, ino),
            name.to_string(),
            &self.meta_of(st, ino, Kind::File),
        )
    }

    /// An open of a staged file: imports started before it are stale.
    pub(super) fn staged_opened(st: &State, ino: Ino) {
        if let Some(s) = st.staged.get(&ino) {
            s.bump();
        }
    }

    /// Size, stored bytes, mtime and ctime of a staged file, from its
    /// staging file (the kernel writes it without telling us).
    pub(super) fn staged_attr(st: &State, ino: Ino, a: &mut Attr) {
        let Some(s) = st.staged.get(&ino) else { return };
        let Ok(m) = s.file.metadata() else { return };
        a.size = m.len();
        a.blocks = m.blocks();
        a.mtime = meta::time_of((m.mtime(), m.mtime_nsec() as u32));
        a.ctime = a.ctime.max(meta::time_of((m.ctime(), m.ctime_nsec() as u32)));
    }

    /// truncate of a staged file.
    pub(super) fn truncate_staged(&self, st: &mut State, ino: Ino, size: u64) -> Result<bool> {
        let Some(s) = st.staged.get(&ino).cloned() else {
            return Ok(false);
        };
        if no_io() {
            return Err(MfsError::WouldBlock);
        }
        if size > file::MAX_FILE_SIZE {
            return Err(MfsError::TooBig(size));
        }
        s.file
            .set_len(size)
            .map_err(|e| staging_err("truncating a staging file", e))?;
        s.bump();
        Self::touch(st, ino);
        Ok(true)
    }

    /// utimensat of a staged file: its staging file keeps the times.
    pub(super) fn staged_times(st: &State, ino: Ino, m: &FileMeta) {
        let Some(s) = st.staged.get(&ino) else { return };
        let t = |(secs, nanos): (i64, u32)| nix::sys::time::TimeSpec::new(secs, nanos as i64);
        let _ = nix::sys::stat::futimens(&s.file, &t(m.atime), &t((m.secs, m.nanos)));
    }

    /// A write that reached the daemon for a staged file (an open without
    /// passthrough): into the staging file.
    pub(super) fn write_staged(
        &self,
        ino: Ino,
        offset: u64,
        data: &[u8],
        append: bool,
    ) -> Result<Option<u32>> {
        let Some(s) = self.lock()?.staged.get(&ino).cloned() else {
            return Ok(None);
        };
        if no_io() {
            return Err(MfsError::WouldBlock);
        }
        let len = s
            .file
            .metadata()
            .map_err(|e| staging_err("a staging file", e))?
            .len();
        let off = if append { len } else { offset };
        if !data.is_empty() && off.saturating_add(data.len() as u64) > file::MAX_FILE_SIZE {
            return Err(MfsError::TooBig(off.saturating_add(data.len() as u64)));
        }
        s.file
            .write_all_at(data, off)
            .map_err(|e| staging_err("writing a staging file", e))?;
        let mut st = self.lock_always();
        Self::touch(&mut st, ino);
        if !data.is_empty() {
            self.modified(&mut st, ino)?;
        }
        Ok(Some(data.len() as u32))
    }

    /// A read of a staged file that reached the daemon.
    pub(super) fn read_staged(&self, ino: Ino, offset: u64, size: u32) -> Result<Option<Vec<u8>>> {
        let Some(s) = self.lock()?.staged.get(&ino).cloned() else {
            return Ok(None);
        };
        if no_io() {
            return Err(MfsError::WouldBlock);
        }
        let mut buf = vec![0u8; size as usize];
        let done =
            read_full_at(&s.file, &mut buf, offset).map_err(|e| staging_err("reading a staging file", e))?;
        buf.truncate(done);
        Ok(Some(buf))
    }

    /// fsync of a staged file: its bytes and the journal reach the disk.
    pub(super) fn fsync_staged(&self, ino: Ino) -> Result<bool> {
        let Some(s) = self.lock()?.staged.get(&ino).cloned() else {
            return Ok(false);
        };
        s.file
            .sync_all()
            .map_err(|e| staging_err("syncing a staging file", e))?;
        self.lock()?.journal.sync().map_err(MfsError::Journal)?;
        Ok(true)
    }

    /// The DAG of a staged file's bytes as they are now (stored).
    pub(super) fn import_staged(&self, s: &Staged) -> Result<Entry> {
        if no_io() {
            return Err(MfsError::WouldBlock);
        }
        self.import_sparse(&s.file)
    }

    /// Imports `file` as `p2pfs add` would, in time and memory bounded by
    /// its data, not its size: chunks wholly in a hole (`SEEK_DATA`) are
    /// the zero leaf, added as runs.
    fn import_sparse(&self, file: &File) -> Result<Entry> {
        use crate::unixfs::importer::{FileBuilder, store_leaves};
        let size = file
            .metadata()
            .map_err(|e| staging_err("a staging file", e))?
            .len();
        let cs = self.opts.chunk_size as u64;
        let (n, whole) = (size.div_ceil(cs), size / cs);
        let mut b = FileBuilder::new(self.store(), self.opts);
        let mut zero = None;
        let mut buf = Vec::new();
        let mut i = 0;
        while i < n {
            let data = next_data(file, i * cs, size).map_err(|e| staging_err("reading a staging file", e))?;
            // Whole chunks before the next data are holes.
            let holes = (data / cs).min(whole).saturating_sub(i);
            if holes > 0 {
                let z = match zero {
                    Some(z) => z,
                    None => *store_leaves(self.store(), &self.opts, &[&vec![0; cs as usize]])?
                        .first()
                        .ok_or_else(|| MfsError::Invalid("no zero leaf".into()))?,
                };
                zero = Some(z);
                b.add_stored_run(z, holes)?;
                i += holes;
                continue;
            }
            let j = (i + BATCH).min(n);
            let len = ((j * cs).min(size) - i * cs) as usize;
            buf.resize(len, 0);
            // Bytes past the end (a truncate meanwhile) read as zeros.
            let got =
                read_full_at(file, &mut buf, i * cs).map_err(|e| staging_err("reading a staging file", e))?;
            buf[got..].fill(0);
            let chunks: Vec<&[u8]> = buf.chunks(cs as usize).collect();
            for e in store_leaves(self.store(), &self.opts, &chunks)? {
                b.add_stored_leaf(e)?;
            }
            i = j;
        }
        Ok(b.finish()?)
    }

    /// Bytes the staging files hold on the repo's disk (`df` counts them).
    pub fn staged_bytes(&self) -> u64 {
        let st = self.lock_always();
        st.staged
            .values()
            .filter_map(|s| s.file.metadata().ok())
            .map(|m| m.blocks() * 512)
            .sum()
    }

    /// A staged file's DAG for a CID asked for now: the checkpoint's
    /// snapshot if one was taken, else its bytes imported now.
    pub(super) fn staged_entry(&self, s: &Staged) -> Result<Entry> {
        match s.snapshot.lock().unwrap_or_else(|e| e.into_inner()).take() {
            Some(e) => Ok(e),
            None => self.import_staged(s),
        }
    }

    /// A checkpoint's pass outside the tree lock: staged files nobody has
    /// open are imported for good, open ones snapshotted.
    pub(super) fn settle_staged(&self) -> Result<()> {
        let (idle, open): (Vec<_>, Vec<_>) = {
            let st = self.lock()?;
            st.staged
                .iter()
                .map(|(&ino, s)| {
                    let idle = matches!(
                        st.nodes.get(&ino),
                        Some(MNode {
                            body: Body::File { open: 0, .. },
                            ..
                        })
                    );
                    (ino, s.clone(), idle)
                })
                .partition(|(_, _, idle)| *idle)
        };
        for (ino, _, _) in idle {
            self.ingest(ino)?;
        }
        for (_, s, _) in open {
            s.take_snapshot(self)?;
        }
        Ok(())
    }

    /// Imports the bytes of staged files at or under `ino` as they are now
    /// (outside the tree lock), for the CID of `ino` computed next. (A
    /// staged file whose other name is under `ino` is imported then,
    /// under the lock.)
    pub(super) fn snapshot_staged(&self, ino: Ino) -> Result<()> {
        let staged: Vec<Arc<Staged>> = {
            let st = self.lock()?;
            st.staged
                .iter()
                .filter(|(f, _)| Self::inside(&st, **f, ino))
                .map(|(_, s)| s.clone())
                .collect()
        };
        for s in staged {
            s.take_snapshot(self)?;
        }
        Ok(())
    }

    /// Imports staged file `ino` into the DAG once nobody has it open,
    /// journals it, and ends its staging; a file unlinked meanwhile is
    /// dropped. Runs at the last close (and for any left at a checkpoint).
    pub fn ingest(&self, ino: Ino) -> Result<()> {
        loop {
            let s = {
                let mut st = self.lock()?;
                let Some(s) = st.staged.get(&ino).cloned() else {
                    return Ok(());
                };
                match st.nodes.get(&ino).map(|n| (n.parent, &n.body)) {
                    Some((_, Body::File { open, .. })) if *open > 0 => return Ok(()),
                    Some((p, Body::File { .. })) if p != 0 => s,
                    _ => {
                        // Gone: its names were removed (journaled).
                        st.staged.remove(&ino);
                        if st.nodes.get(&ino).is_some_and(|n| n.parent == 0) {
                            st.nodes.remove(&ino);
                        }
                        drop(st);
                        let _ = std::fs::remove_file(self.staging_dir().join(&s.name));
                        return Ok(());
                    }
                }
            };
            let version = s.version.load(Ordering::SeqCst);
            let entry = self.import_staged(&s)?;
            let m = s.file.metadata().map_err(|e| staging_err("a staging file", e))?;
            let mut st = self.lock_always();
            let current = st.staged.get(&ino).is_some_and(|c| Arc::ptr_eq(c, &s));
            let open =
                matches!(st.nodes.get(&ino), Some(MNode { body: Body::File { open, .. }, .. }) if *open > 0);
            if !current || open || s.version.load(Ordering::SeqCst) != version {
                // Opened, truncated or removed meanwhile: look again.
                continue;
            }
            self.unstage(&mut st, ino, &s, entry, (m.mtime(), m.mtime_nsec() as u32))?;
            return Ok(());
        }
    }

    /// Ends the staging of `ino`: its content is now `entry`.
    fn unstage(&self, st: &mut State, ino: Ino, s: &Staged, entry: Entry, mtime: (i64, u32)) -> Result<()> {
        st.staged.remove(&ino);
        st.retired.push(s.name.clone());
        if let Some(MNode {
            body:
                Body::File {
                    entry: e,
                    content,
                    size,
                    unsaved,
                    stored,
                    ..
                },
            ..
        }) = st.nodes.get_mut(&ino)
        {
            *e = entry;
            *content = None;
            *size = entry.size;
            *unsaved = false;
            *stored = None;
        }
        Self::touch(st, ino);
        let mut meta = self.meta_of(st, ino, Kind::File);
        (meta.secs, meta.nanos) = mtime;
        if let Some(n) = st.nodes.get_mut(&ino) {
            n.meta = Some(meta);
        }
        let path = self.path(st, ino);
        self.log(st, Op::put(path, entry.cid.to_string(), entry.tsize, &meta))
    }

    /// The last handle of a staged file closed: an unlinked one is
    /// dropped, any other imported. Ok(false) when `ino` is not staged.
    pub(super) fn release_staged(&self, ino: Ino) -> Result<bool> {
        let mut st = self.lock()?;
        let Some(s) = st.staged.get(&ino).cloned() else {
            return Ok(false);
        };
        let last =
            matches!(st.nodes.get(&ino), Some(MNode { body: Body::File { open, .. }, .. }) if *open <= 1);
        if last && no_io() {
            // Importing reads the disk: nothing changed yet, so a retry
            // on the blocking pool counts the close once.
            return Err(MfsError::WouldBlock);
        }
        let mut orphan = false;
        if let Some(n) = st.nodes.get_mut(&ino)
            && let Body::File { open, .. } = &mut n.body
        {
            *open = open.saturating_sub(1);
            orphan = *open == 0 && n.parent == 0;
        }
        if !last {
            return Ok(true);
        }
        if orphan {
            st.nodes.remove(&ino);
            st.tmpfiles.remove(&ino);
            st.staged.remove(&ino);
            drop(st);
            let _ = std::fs::remove_file(self.staging_dir().join(&s.name));
            return Ok(true);
        }
        drop(st);
        self.ingest(ino)?;
        Ok(true)
    }

    /// Stage ops naming every staged file where it is now (a checkpoint
    /// journals them after its marker: the new journal must still know
    /// the staging files).
    pub(super) fn restage_ops(&self, st: &State) -> Vec<Op> {
        st.staged
            .iter()
            .filter(|(ino, _)| st.nodes.get(ino).is_some_and(|n| n.parent != 0))
            .map(|(&ino, s)| self.stage_op(st, ino, &s.name))
            .collect()
    }

    /// Deletes staging files whose content a checkpoint now holds.
    pub(super) fn delete_retired(&self, names: &[String]) {
        for name in names {
            if let Err(e) = std::fs::remove_file(self.staging_dir().join(name))
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!("could not delete staging file {name}: {e}");
            }
        }
    }

    /// Replay of `Op::Stage`: the staging file's bytes at `path` (none if
    /// it is gone: a later op in the journal then replaces or removes it).
    pub(super) fn replay_stage(&self, st: &mut State, op: &Op, path: &str, name: &str) -> Result<()> {
        if !valid_staging_name(name) {
            return Err(MfsError::Invalid(format!("staging file name {name:?}")));
        }
        let mut meta = op.file_meta().map(|(_, m)| m);
        let entry = match File::open(self.staging_dir().join(name)) {
            Ok(f) => {
                let m = f.metadata().map_err(|e| staging_err("a staging file", e))?;
                if let Some(meta) = &mut meta {
                    (meta.secs, meta.nanos) = (m.mtime(), m.mtime_nsec() as u32);
                }
                self.import_sparse(&f)?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                crate::unixfs::importer::import_file(self.store(), &self.opts, std::io::empty(), |_| {})?
            }
            Err(e) => return Err(staging_err("opening a staging file", e)),
        };
        let m = meta.unwrap_or_else(|| FileMeta::new(default_mode(Kind::File), 0, 0));
        let put = Op::put(path.to_string(), entry.cid.to_string(), entry.tsize, &m);
        self.replay_put(st, &put, path, &entry.cid.to_string(), entry.tsize)
    }

    /// Staging files left by an earlier run: replay imported them, so they
    /// go once the next checkpoint holds the tree.
    pub(super) fn leftover_staging(&self) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(self.staging_dir()) else {
            return Vec::new();
        };
        dir.filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| valid_staging_name(n))
            .collect()
    }
}
