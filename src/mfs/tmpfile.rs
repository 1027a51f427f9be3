//! O_TMPFILE: a file made with no name (an orphan, as an open file whose
//! names were all removed) that `linkat` may name once. Nothing about it is
//! journaled until then; unnamed, it is dropped at its last close like any
//! orphan.

use super::*;

impl Mfs {
    /// open(O_TMPFILE) in directory `dir` by `who`: the new file is open
    /// once (the caller's handle).
    pub fn tmpfile(&self, dir: Ino, mode: u32, who: Owner) -> Result<Attr> {
        let staging = self.staging.load(std::sync::atomic::Ordering::SeqCst);
        if staging && no_io() {
            // As `create`: the staging file is made on the blocking pool.
            return Err(MfsError::WouldBlock);
        }
        let mut st = self.lock()?;
        self.resolve(&mut st, dir)?;
        match st.nodes.get(&dir).map(|n| &n.body) {
            Some(Body::Dir { .. }) => {}
            Some(_) => return Err(MfsError::NotDir(self.path(&st, dir))),
            None => return Err(MfsError::NotFound(format!("inode {dir}"))),
        }
        let (who, _) = self.inherit(&st, dir, who);
        let body = Body::File {
            entry: Entry {
                cid: Cid::default(),
                size: 0,
                tsize: 0,
            },
            content: Some(Arc::new(Mutex::new(FileContent::empty(self.opts)))),
            size: 0,
            open: 1,
            unsaved: true,
            stored: None,
        };
        let ino = Self::new_node(&mut st, 0, "", Some(new_meta(mode & 0o7777, who)), None, body);
        st.tmpfiles.insert(ino);
        if staging {
            self.stage(&mut st, ino)?;
        }
        self.attr_of(&mut st, ino)
    }

    /// linkat of an O_TMPFILE file not yet named: `name` in `dir` becomes
    /// its name (and its content is journaled from now on). Ok(false) for
    /// any other inode.
    pub(super) fn name_tmpfile(&self, st: &mut State, ino: Ino, dir: Ino, name: &str) -> Result<bool> {
        if !st.tmpfiles.contains(&ino) || st.nodes.get(&ino).is_none_or(|n| n.parent != 0) {
            return Ok(false);
        }
        if self.child(st, dir, name)?.is_some() {
            return Err(MfsError::Exists(name.to_string()));
        }
        st.tmpfiles.remove(&ino);
        if let Some(n) = st.nodes.get_mut(&ino) {
            n.parent = dir;
            n.name = name.to_string();
            if let Body::File { unsaved, .. } = &mut n.body {
                // Saved at close under its name, even if an fsync already
                // flushed it while it had none.
                *unsaved = true;
            }
        }
        if let Some(MNode {
            body: Body::Dir { entries: Some(e), .. },
            ..
        }) = st.nodes.get_mut(&dir)
        {
            e.insert(name.to_string(), ino);
        }
        Self::touch(st, ino);
        self.journal_staged(st, ino)?;
        self.dir_changed(st, dir, meta::now())?;
        Ok(true)
    }
}
