//! File content: open, write, read, close (saving and journaling), setattr.

use super::*;

/// A file's changing content with its own lock. Lock order: the tree lock
/// may be held while a file is locked (briefly: truncate, a checkpoint's
/// flush of what changed since its pass outside the lock), never the other
/// way round, so writers hash and store holding only their file.
pub(super) type Content = Arc<Mutex<FileContent>>;

/// Locks a file's content; in no-I/O mode a busy file is WouldBlock.
pub(super) fn lock_content(c: &Content) -> Result<MutexGuard<'_, FileContent>> {
    if no_io() {
        return match c.try_lock() {
            Ok(g) => Ok(g),
            Err(std::sync::TryLockError::Poisoned(e)) => Ok(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => Err(MfsError::WouldBlock),
        };
    }
    Ok(c.lock().unwrap_or_else(|e| e.into_inner()))
}

impl Mfs {
    /// Opens a file: counts the handle, truncates if asked.
    pub fn open_file(&self, ino: Ino, write: bool, truncate: bool) -> Result<()> {
        let mut st = self.lock()?;
        self.open_locked(&mut st, ino, write, truncate)
    }

    /// [`Mfs::open_file`] under the lock: the handle is counted last, after
    /// every step that may fail with WouldBlock, so a retry counts it once.
    pub(super) fn open_locked(&self, st: &mut State, ino: Ino, write: bool, truncate: bool) -> Result<()> {
        self.resolve(st, ino)?;
        match st.nodes.get(&ino).map(|n| &n.body) {
            Some(Body::File { .. }) => {}
            Some(Body::Dir { .. }) if write => return Err(MfsError::IsDir(format!("inode {ino}"))),
            Some(_) => return Ok(()),
            None => return Err(MfsError::NotFound(format!("inode {ino}"))),
        }
        // Truncate first: under `without_io` it may fail with WouldBlock,
        // and the call is then made again; the handle must be counted once.
        if truncate {
            if write && self.stageable(st, ino) {
                self.stage(st, ino)?;
            } else {
                self.truncate_locked(st, ino, 0)?;
            }
            self.modified(st, ino)?;
        }
        Self::staged_opened(st, ino);
        if let Some(MNode {
            body: Body::File { open, .. },
            ..
        }) = st.nodes.get_mut(&ino)
        {
            *open += 1;
        }
        Ok(())
    }

    /// Truncates file `ino` under the tree lock (cheap: a hole costs
    /// nothing, and only a cut inside a stored chunk reads it).
    fn truncate_locked(&self, st: &mut State, ino: Ino, size: u64) -> Result<()> {
        self.resolve(st, ino)?;
        if self.truncate_staged(st, ino, size)? {
            return Ok(());
        }
        let store = self.store();
        let (entry, content) = file_parts(st, ino)?;
        if content.is_none() {
            let c = if size == 0 {
                // Nothing of the old bytes is kept: no need to read them.
                FileContent::empty(self.opts)
            } else if no_io() {
                return Err(MfsError::WouldBlock);
            } else {
                FileContent::from_entry(store, self.opts, *entry)?
            };
            *content = Some(Arc::new(Mutex::new(c)));
        }
        let c = content.clone().ok_or(MfsError::Invalid("no content".into()))?;
        let (new_size, dirty) = {
            let mut c = lock_content(&c)?;
            if c.too_big(size) {
                return Err(MfsError::TooBig(size));
            }
            if no_io() && !c.in_memory() && size != c.size() {
                return Err(MfsError::WouldBlock);
            }
            c.truncate(store, size)?;
            (c.size(), c.is_clean().is_none())
        };
        Self::content_changed(st, ino, new_size, dirty);
        Ok(())
    }

    /// Records what a change of file `ino`'s content did: its size, and
    /// whether it must be saved again.
    fn content_changed(st: &mut State, ino: Ino, new_size: u64, dirty: bool) {
        if let Some(MNode {
            body:
                Body::File {
                    unsaved,
                    stored,
                    size,
                    ..
                },
            ..
        }) = st.nodes.get_mut(&ino)
        {
            *size = new_size;
            if dirty {
                *unsaved = true;
                *stored = None;
            }
        }
        if dirty {
            Self::touch(st, ino);
        }
    }

    /// The content of file `ino`, loaded (outside the tree lock) if needed.
    pub(super) fn content(&self, ino: Ino) -> Result<Content> {
        loop {
            let entry = {
                let mut st = self.lock()?;
                self.resolve(&mut st, ino)?;
                match file_parts(&mut st, ino)? {
                    (_, Some(c)) => return Ok(c.clone()),
                    _ if no_io() => return Err(MfsError::WouldBlock),
                    (e, None) => *e,
                }
            };
            let loaded = FileContent::from_entry(self.store(), self.opts, entry)?;
            let mut st = self.lock()?;
            match file_parts(&mut st, ino)? {
                (_, Some(c)) => return Ok(c.clone()),
                (e, content) if *e == entry => {
                    let size = loaded.size();
                    let c = Arc::new(Mutex::new(loaded));
                    *content = Some(c.clone());
                    if let Some(MNode {
                        body: Body::File { size: s, .. },
                        ..
                    }) = st.nodes.get_mut(&ino)
                    {
                        *s = size;
                    }
                    return Ok(c);
                }
                // Replaced while it was being loaded: load the new one.
                _ => continue,
            }
        }
    }

    /// Writes `data`; `kill_priv` (a write by someone without CAP_FSETID,
    /// as the kernel says) clears set-user-ID, and set-group-ID when the
    /// group may execute.
    pub fn write_as(&self, ino: Ino, offset: u64, data: &[u8], kill_priv: bool) -> Result<u32> {
        let n = self.write(ino, offset, data, false)?;
        if kill_priv {
            let mut st = self.lock_always();
            let mut m = self.meta_of(&st, ino, Kind::File);
            let sgid = if m.mode & 0o010 != 0 { libc::S_ISGID } else { 0 };
            if m.mode & (libc::S_ISUID | sgid) != 0 {
                m.mode &= !(libc::S_ISUID | sgid);
                self.set_meta(&mut st, ino, m)?;
            }
        }
        Ok(n)
    }

    /// Writes `data` at `offset` (or at the end). Outside no-I/O mode the
    /// bytes are written (chunks hashed and stored) holding only the
    /// file's lock; the tree lock is taken before and after, briefly.
    pub fn write(&self, ino: Ino, offset: u64, data: &[u8], append: bool) -> Result<u32> {
        if let Some(n) = self.write_staged(ino, offset, data, append)? {
            return Ok(n);
        }
        if no_io() {
            // In memory only, under both locks: a small file whose bytes
            // are all in memory, or WouldBlock before anything changed.
            let mut st = self.lock()?;
            self.resolve(&mut st, ino)?;
            let c = match file_parts(&mut st, ino)? {
                (_, Some(c)) => c.clone(),
                _ => return Err(MfsError::WouldBlock),
            };
            let (size, dirty) = Self::write_content(&c, self.store(), offset, data, append, true)?;
            Self::content_changed(&mut st, ino, size, dirty);
            if !data.is_empty() {
                self.modified(&mut st, ino)?;
            }
            return Ok(data.len() as u32);
        }
        let c = self.content(ino)?;
        let (size, dirty) = Self::write_content(&c, self.store(), offset, data, append, false)?;
        // The bytes are written: from here on nothing may fail with
        // WouldBlock (a retry would write them twice).
        let mut st = self.lock_always();
        Self::content_changed(&mut st, ino, size, dirty);
        if !data.is_empty() {
            self.modified(&mut st, ino)?;
        }
        Ok(data.len() as u32)
    }

    /// Writes into a file's content under its lock: (new size, changed).
    fn write_content(
        c: &Content,
        store: &(impl BlockGet + BlockPut + ?Sized),
        offset: u64,
        data: &[u8],
        append: bool,
        cheap_only: bool,
    ) -> Result<(u64, bool)> {
        let mut c = lock_content(c)?;
        let off = if append { c.size() } else { offset };
        let end = off.saturating_add(data.len() as u64);
        if cheap_only && !(c.in_memory() && c.size().max(end) <= SMALL_FILE) {
            return Err(MfsError::WouldBlock);
        }
        if !data.is_empty() && c.too_big(end) {
            return Err(MfsError::TooBig(end));
        }
        c.write(store, off, data)?;
        Ok((c.size(), c.is_clean().is_none()))
    }

    /// What a read needs, planned under the file's lock; run it with
    /// [`Mfs::run_read`] (no lock).
    pub fn plan_read(&self, ino: Ino, offset: u64, size: u32) -> Result<Vec<Segment>> {
        if let Some(bytes) = self.read_staged(ino, offset, size)? {
            return Ok(vec![Segment::Bytes(bytes)]);
        }
        let (content, entry) = {
            let mut st = self.lock()?;
            self.resolve(&mut st, ino)?;
            match st.nodes.get(&ino).map(|n| &n.body) {
                Some(Body::File { content, entry, .. }) => (content.clone(), *entry),
                Some(_) => return Err(MfsError::IsDir(format!("inode {ino}"))),
                None => return Err(MfsError::NotFound(format!("inode {ino}"))),
            }
        };
        if let Some(c) = content {
            return Ok(lock_content(&c)?.plan_read(offset, size as u64));
        }
        let len = (size as u64).min(entry.size.saturating_sub(offset));
        Ok(vec![Segment::Block {
            cid: entry.cid,
            offset,
            len,
        }])
    }

    pub fn run_read(&self, plan: Vec<Segment>) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        if let [Segment::Block { cid, offset, len }] = plan.as_slice() {
            // The common case: one range of one DAG, read without a copy.
            return Ok(crate::unixfs::reader::read_range_owned(
                self.store(),
                Some(&self.nodes),
                cid,
                *offset,
                *len,
            )?);
        }
        file::read_plan(self.store(), Some(&self.nodes), plan, &mut out)?;
        Ok(out)
    }

    /// Hashes and stores what changed in the given files' content, each
    /// under its own lock only: what the tree lock's holder then flushes
    /// is clean already (or a change made since, small).
    pub(super) fn flush_outside(&self, files: &[Content]) -> Result<()> {
        for c in files {
            let mut c = lock_content(c)?;
            if no_io() && c.is_clean().is_none() && !(c.in_memory() && c.size() <= SMALL_FILE) {
                return Err(MfsError::WouldBlock);
            }
            c.flush(self.store())?;
        }
        Ok(())
    }

    /// Computes a changed file's DAG (storing its blocks) and returns its
    /// root; cheap when [`Mfs::flush_outside`] ran first.
    pub(super) fn flush_file(&self, st: &mut State, ino: Ino) -> Result<Entry> {
        if let Some(s) = st.staged.get(&ino) {
            return self.staged_entry(s);
        }
        let (entry, content) = file_parts(st, ino)?;
        if let Some(c) = content.clone() {
            self.flush_outside(std::slice::from_ref(&c))?;
            *entry = lock_content(&c)?.flush(self.store())?;
        }
        let e = *entry;
        self.count_stored(st, ino, &e)?;
        Ok(e)
    }

    /// Counts the bytes file `ino` stores (its st_blocks) once its content
    /// is saved as `e`, unless known already; in no-I/O mode it stays
    /// unknown (shown whole) for now.
    fn count_stored(&self, st: &mut State, ino: Ino, e: &Entry) -> Result<()> {
        let known = matches!(
            st.nodes.get(&ino),
            Some(MNode {
                body: Body::File { stored: Some(_), .. },
                ..
            })
        );
        if known || no_io() {
            return Ok(());
        }
        // Only a count: a block that cannot be read leaves it unknown.
        let node = Node::load(self.store(), &e.cid);
        let Ok(n) = node.and_then(|node| blocks::stored_bytes(self.store(), &node)) else {
            return Ok(());
        };
        if let Some(MNode {
            body: Body::File { stored, .. },
            ..
        }) = st.nodes.get_mut(&ino)
        {
            *stored = Some(n);
        }
        Ok(())
    }

    /// close(2) of a file: its content is saved and journaled, so a killed
    /// daemon keeps it.
    pub fn flush(&self, ino: Ino) -> Result<()> {
        // Hash and store first, holding only the file's lock.
        let content = match self.lock()?.nodes.get(&ino).map(|n| &n.body) {
            Some(Body::File {
                content: Some(c),
                unsaved: true,
                ..
            }) => Some(c.clone()),
            _ => None,
        };
        if let Some(c) = content {
            self.flush_outside(&[c])?;
        }
        let mut st = self.lock()?;
        self.save_file(&mut st, ino)
    }

    /// Journals file `ino`'s content (with a new mtime) if it changed since
    /// it was last journaled.
    pub(super) fn save_file(&self, st: &mut State, ino: Ino) -> Result<()> {
        let dirty = matches!(
            st.nodes.get(&ino),
            Some(MNode {
                body: Body::File { unsaved: true, .. },
                ..
            })
        );
        if !dirty {
            return Ok(());
        }
        let entry = self.flush_file(st, ino)?;
        if st.nodes.get(&ino).is_some_and(|n| n.parent != 0) {
            let path = self.path(st, ino);
            // Content and metadata in one journal line: the times are those
            // of the last write, or what futimens/utime set since (cp -p,
            // tar -x set them before close).
            let meta = self.meta_of(st, ino, Kind::File);
            if let Some(n) = st.nodes.get_mut(&ino) {
                n.meta = Some(meta);
            }
            self.log(st, Op::put(path, entry.cid.to_string(), entry.tsize, &meta))?;
        }
        if let Some(MNode {
            body: Body::File { unsaved, .. },
            ..
        }) = st.nodes.get_mut(&ino)
        {
            *unsaved = false;
        }
        Ok(())
    }

    /// Last close of a handle.
    pub fn release(&self, ino: Ino) -> Result<()> {
        if self.release_staged(ino)? {
            return Ok(());
        }
        self.flush(ino)?;
        let mut st = self.lock()?;
        let mut orphan = false;
        if let Some(n) = st.nodes.get_mut(&ino)
            && let Body::File { open, content, .. } = &mut n.body
        {
            *open = open.saturating_sub(1);
            if *open == 0 {
                // Keep memory small: the DAG holds the content now.
                *content = None;
                orphan = n.parent == 0;
            }
        }
        if orphan {
            st.nodes.remove(&ino);
            st.tmpfiles.remove(&ino);
        }
        Ok(())
    }

    /// fsync(2): the file and the journal reach the disk.
    pub fn fsync(&self, ino: Ino) -> Result<()> {
        if self.fsync_staged(ino)? {
            return Ok(());
        }
        self.flush(ino)?;
        self.store().commit()?;
        self.lock()?.journal.sync().map_err(MfsError::Journal)
    }

    /// The content of `ino` changed (or was truncated): mtime and ctime are
    /// now, kept in memory and saved with the content at close (as what
    /// utimens sets until then); journaled at once when nothing is left to
    /// save (O_TRUNC of an empty file).
    pub(super) fn modified(&self, st: &mut State, ino: Ino) -> Result<()> {
        let t = meta::now();
        let mut m = self.meta_of(st, ino, Kind::File);
        (m.secs, m.nanos) = t;
        m.ctime = t;
        self.keep_meta(st, ino, m)
    }

    /// Sets the metadata of file `ino`: in memory while it has changes to
    /// save (they are journaled with it, and a Meta line now could name a
    /// file the journal does not have yet), else journaled.
    fn keep_meta(&self, st: &mut State, ino: Ino, m: FileMeta) -> Result<()> {
        match st.nodes.get_mut(&ino) {
            Some(
                n @ MNode {
                    body: Body::File { unsaved: true, .. },
                    ..
                },
            ) => {
                n.meta = Some(m);
                Ok(())
            }
            _ => self.set_meta(st, ino, m),
        }
    }

    /// fallocate(2) mode 0 (`keep_size` false) or FALLOC_FL_KEEP_SIZE: blocks
    /// are stored as written, so only the size may change (grown to
    /// `offset + len`, a hole that costs nothing).
    pub fn allocate(&self, ino: Ino, offset: u64, len: u64, keep_size: bool) -> Result<()> {
        let end = offset.checked_add(len).ok_or(MfsError::TooBig(u64::MAX))?;
        if len == 0 {
            return Err(MfsError::Invalid("fallocate of 0 bytes".into()));
        }
        let a = self.getattr(ino)?;
        if a.kind != Kind::File || a.ftype != libc::S_IFREG {
            return Err(MfsError::NoSuchOp);
        }
        if keep_size || end <= a.size {
            return Ok(());
        }
        let grow = SetAttr {
            size: Some(end),
            ..Default::default()
        };
        self.setattr(ino, &grow).map(|_| ())
    }

    /// chmod, chown, truncate, utimensat: what `s` says changes; ctime is now.
    pub fn setattr(&self, ino: Ino, s: &SetAttr) -> Result<Attr> {
        let mut st = self.lock()?;
        if let Some(size) = s.size {
            self.truncate_locked(&mut st, ino, size)?;
        }
        let kind = self.attr_of(&mut st, ino)?.kind;
        let mut m = self.meta_of(&st, ino, kind);
        meta::apply(&mut m, s, kind == Kind::Directory, meta::now());
        if s.atime.is_some() || s.mtime.is_some() {
            Self::staged_times(&st, ino, &m);
        }
        // Journaled now even for a file with unsaved content (chmod must
        // survive a crash); a file never saved has no path in the journal,
        // and replay skips the line.
        self.set_meta(&mut st, ino, m)?;
        // truncate(2) of a file nobody has open: no close will save it.
        if let Some(MNode {
            body: Body::File { open: 0, .. },
            ..
        }) = st.nodes.get(&ino)
        {
            self.save_file(&mut st, ino)?;
            if let Some(MNode {
                body: Body::File { content, .. },
                ..
            }) = st.nodes.get_mut(&ino)
            {
                *content = None;
            }
        }
        self.attr_of(&mut st, ino)
    }
}

/// The committed entry and the changing content of file `ino`.
pub(super) fn file_parts(st: &mut State, ino: Ino) -> Result<(&mut Entry, &mut Option<Content>)> {
    match st.nodes.get_mut(&ino) {
        Some(MNode {
            body: Body::File { entry, content, .. },
            ..
        }) => Ok((entry, content)),
        _ => Err(MfsError::IsDir(format!("inode {ino}"))),
    }
}
