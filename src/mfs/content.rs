//! File content: open, write, read, close (saving and journaling), setattr.

use super::*;

impl Mfs {
    /// Opens a file: counts the handle, truncates if asked.
    pub fn open_file(&self, ino: Ino, write: bool, truncate: bool) -> Result<()> {
        let mut st = self.lock()?;
        self.resolve(&mut st, ino)?;
        match st.nodes.get(&ino).map(|n| &n.body) {
            Some(Body::File { .. }) => {}
            Some(Body::Dir { .. }) if write => return Err(MfsError::IsDir(format!("inode {ino}"))),
            Some(_) => return Ok(()),
            None => return Err(MfsError::NotFound(format!("inode {ino}"))),
        }
        // Truncate first: under `without_io` it may fail with WouldBlock,
        // and the call is then made again; the handle must be counted once.
        if truncate {
            self.with_content(&mut st, ino, |c, s| Ok(c.truncate(s, 0)?))?;
        }
        if let Some(MNode {
            body: Body::File { open, .. },
            ..
        }) = st.nodes.get_mut(&ino)
        {
            *open += 1;
        }
        Ok(())
    }

    pub(super) fn with_content<T>(
        &self,
        st: &mut State,
        ino: Ino,
        f: impl FnOnce(&mut FileContent, &crate::store::Store) -> Result<T>,
    ) -> Result<T> {
        self.resolve(st, ino)?;
        let store = self.store();
        let (entry, content) = file_parts(st, ino)?;
        if content.is_none() {
            if no_io() {
                return Err(MfsError::WouldBlock);
            }
            *content = Some(Box::new(FileContent::from_entry(store, self.opts, *entry)?));
        }
        let c = content.as_mut().ok_or(MfsError::Invalid("no content".into()))?;
        let r = f(c, store)?;
        if c.is_clean().is_none() {
            if let Some(MNode {
                body: Body::File { unsaved, .. },
                ..
            }) = st.nodes.get_mut(&ino)
            {
                *unsaved = true;
            }
            Self::touch(st, ino);
        }
        Ok(r)
    }

    pub fn write(&self, ino: Ino, offset: u64, data: &[u8], append: bool) -> Result<u32> {
        let mut st = self.lock()?;
        if no_io() {
            // In memory only: a small file whose bytes are all in memory.
            let cheap = matches!(st.nodes.get(&ino), Some(MNode { body: Body::File { content: Some(c), .. }, .. })
                if c.in_memory() && c.size().max(offset.saturating_add(data.len() as u64)) <= SMALL_FILE);
            if !cheap {
                return Err(MfsError::WouldBlock);
            }
        }
        self.with_content(&mut st, ino, |c, s| {
            let off = if append { c.size() } else { offset };
            let end = off.saturating_add(data.len() as u64);
            if !data.is_empty() && c.too_big(end) {
                return Err(MfsError::TooBig(end));
            }
            Ok(c.write(s, off, data)?)
        })?;
        Ok(data.len() as u32)
    }

    /// What a read needs, planned under the lock; run it with [`Mfs::run_read`].
    pub fn plan_read(&self, ino: Ino, offset: u64, size: u32) -> Result<Vec<Segment>> {
        let mut st = self.lock()?;
        self.resolve(&mut st, ino)?;
        match st.nodes.get(&ino).map(|n| &n.body) {
            Some(Body::File { content: Some(c), .. }) => Ok(c.plan_read(offset, size as u64)),
            Some(Body::File { entry, .. }) => {
                let len = (size as u64).min(entry.size.saturating_sub(offset));
                Ok(vec![Segment::Block {
                    cid: entry.cid,
                    offset,
                    len,
                }])
            }
            Some(_) => Err(MfsError::IsDir(format!("inode {ino}"))),
            None => Err(MfsError::NotFound(format!("inode {ino}"))),
        }
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

    /// Computes a changed file's DAG (storing its blocks) and returns its root.
    pub(super) fn flush_file(&self, st: &mut State, ino: Ino) -> Result<Entry> {
        let store = self.store();
        let (entry, content) = file_parts(st, ino)?;
        if let Some(c) = content.as_mut() {
            if no_io() && c.is_clean().is_none() && !(c.in_memory() && c.size() <= SMALL_FILE) {
                return Err(MfsError::WouldBlock);
            }
            *entry = c.flush(store)?;
        }
        Ok(*entry)
    }

    /// close(2) of a file: its content is saved and journaled, so a killed
    /// daemon keeps it.
    pub fn flush(&self, ino: Ino) -> Result<()> {
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
            // Modified now: content and new mtime go in one journal line.
            let mode = st.nodes.get(&ino).and_then(|n| n.meta).map_or(0o644, |m| m.mode);
            let meta = now_meta(mode);
            if let Some(n) = st.nodes.get_mut(&ino) {
                n.meta = Some(meta);
            }
            let m = Some((meta.mode, meta.secs, meta.nanos));
            self.log(
                st,
                Op::Put {
                    path,
                    cid: entry.cid.to_string(),
                    tsize: entry.tsize,
                    meta: m,
                },
            )?;
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
        }
        Ok(())
    }

    /// fsync(2): the file and the journal reach the disk.
    pub fn fsync(&self, ino: Ino) -> Result<()> {
        self.flush(ino)?;
        self.store().commit()?;
        self.lock()?.journal.sync().map_err(MfsError::Journal)
    }

    pub fn setattr(
        &self,
        ino: Ino,
        size: Option<u64>,
        mode: Option<u32>,
        mtime: Option<SystemTime>,
    ) -> Result<Attr> {
        let mut st = self.lock()?;
        if let Some(size) = size {
            self.with_content(&mut st, ino, |c, s| {
                if c.too_big(size) {
                    return Err(MfsError::TooBig(size));
                }
                Ok(c.truncate(s, size)?)
            })?;
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
        }
        if mode.is_some() || mtime.is_some() {
            let cur = self.attr_of(&mut st, ino)?;
            let t = mtime
                .unwrap_or(cur.mtime)
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let meta = FileMeta {
                mode: mode.unwrap_or(cur.mode) & 0o7777,
                secs: t.as_secs() as i64,
                nanos: t.subsec_nanos(),
            };
            self.set_meta(&mut st, ino, meta)?;
        }
        self.attr_of(&mut st, ino)
    }
}

/// The committed entry and the changing content of file `ino`.
pub(super) fn file_parts(st: &mut State, ino: Ino) -> Result<(&mut Entry, &mut Option<Box<FileContent>>)> {
    match st.nodes.get_mut(&ino) {
        Some(MNode {
            body: Body::File { entry, content, .. },
            ..
        }) => Ok((entry, content)),
        _ => Err(MfsError::IsDir(format!("inode {ino}"))),
    }
}
