//! POSIX operations on names: lookup, listing, create, mkdir, symlink,
//! unlink, rename.

use super::*;

impl Mfs {
    pub fn lookup(&self, parent: Ino, name: &str) -> Result<Attr> {
        let mut st = self.lock()?;
        let ino = self
            .child(&mut st, parent, name)?
            .ok_or_else(|| MfsError::NotFound(name.to_string()))?;
        self.attr_of(&mut st, ino)
    }

    pub fn getattr(&self, ino: Ino) -> Result<Attr> {
        let mut st = self.lock()?;
        self.attr_of(&mut st, ino)
    }

    /// Entries of a directory: (name, ino, kind).
    pub fn readdir(&self, ino: Ino) -> Result<Vec<(String, Ino, Kind)>> {
        let mut st = self.lock()?;
        self.load_dir(&mut st, ino)?;
        let list: Vec<(String, Ino)> = match st.nodes.get(&ino).map(|n| &n.body) {
            Some(Body::Dir { entries: Some(e), .. }) => e.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            _ => return Err(MfsError::NotDir(self.path(&st, ino))),
        };
        let mut out = Vec::with_capacity(list.len());
        for (name, child) in list {
            let kind = self.attr_of(&mut st, child)?.kind;
            out.push((name, child, kind));
        }
        Ok(out)
    }

    pub fn parent_of(&self, ino: Ino) -> Ino {
        self.lock()
            .map_or(ROOT, |st| st.nodes.get(&ino).map_or(ROOT, |n| n.parent))
    }

    pub fn create(
        &self,
        parent: Ino,
        name: &str,
        mode: u32,
        exclusive: bool,
        truncate: bool,
    ) -> Result<Attr> {
        valid_name(name)?;
        let mut st = self.lock()?;
        if let Some(existing) = self.child(&mut st, parent, name)? {
            if exclusive {
                return Err(MfsError::Exists(name.to_string()));
            }
            drop(st);
            self.open_file(existing, true, truncate)?;
            return self.getattr(existing);
        }
        let content = FileContent::empty(self.opts);
        let body = Body::File {
            entry: Entry {
                cid: Cid::default(),
                size: 0,
                tsize: 0,
            },
            content: Some(Box::new(content)),
            open: 1,
            unsaved: true,
        };
        // Nothing is journaled yet: the file is saved when it is closed.
        let ino = self.insert(&mut st, parent, name, body, Some(now_meta(mode & 0o7777)))?;
        self.attr_of(&mut st, ino)
    }

    pub fn mkdir(&self, parent: Ino, name: &str, mode: u32) -> Result<Attr> {
        valid_name(name)?;
        let mut st = self.lock()?;
        if self.child(&mut st, parent, name)?.is_some() {
            return Err(MfsError::Exists(name.to_string()));
        }
        let body = Body::Dir {
            entries: Some(BTreeMap::new()),
            cached: None,
        };
        let meta = now_meta(mode & 0o7777);
        let ino = self.insert(&mut st, parent, name, body, Some(meta))?;
        let path = self.path(&st, ino);
        self.log(&mut st, Op::Mkdir { path })?;
        self.set_meta(&mut st, ino, meta)?;
        self.attr_of(&mut st, ino)
    }

    pub fn symlink(&self, parent: Ino, name: &str, target: &[u8]) -> Result<Attr> {
        valid_name(name)?;
        let mut st = self.lock()?;
        if self.child(&mut st, parent, name)?.is_some() {
            return Err(MfsError::Exists(name.to_string()));
        }
        let (cid, bytes) = symlink_node(&self.opts, target);
        self.store().put_block(&cid, &bytes)?;
        let meta = now_meta(0o777);
        let ino = self.insert(&mut st, parent, name, Body::Symlink(target.to_vec()), Some(meta))?;
        let path = self.path(&st, ino);
        // The mtime given to the link, not 0: a replay or a checkpoint must
        // keep what stat showed.
        self.log(
            &mut st,
            Op::Put {
                path,
                cid: cid.to_string(),
                tsize: bytes.len() as u64,
                meta: Some((meta.mode, meta.secs, meta.nanos)),
            },
        )?;
        self.attr_of(&mut st, ino)
    }

    pub fn readlink(&self, ino: Ino) -> Result<Vec<u8>> {
        let mut st = self.lock()?;
        self.resolve(&mut st, ino)?;
        match st.nodes.get(&ino).map(|n| &n.body) {
            Some(Body::Symlink(t)) => Ok(t.clone()),
            _ => Err(MfsError::Invalid("not a symlink".into())),
        }
    }

    /// Removes an entry whatever it is, a non-empty directory included.
    pub fn remove_tree(&self, parent: Ino, name: &str) -> Result<()> {
        let mut st = self.lock()?;
        let ino = self
            .child(&mut st, parent, name)?
            .ok_or_else(|| MfsError::NotFound(name.to_string()))?;
        let path = self.path(&st, ino);
        self.detach(&mut st, ino);
        self.log(&mut st, Op::Remove { path })
    }

    pub fn unlink(&self, parent: Ino, name: &str, dir: bool) -> Result<()> {
        let mut st = self.lock()?;
        let ino = self
            .child(&mut st, parent, name)?
            .ok_or_else(|| MfsError::NotFound(name.to_string()))?;
        let kind = self.attr_of(&mut st, ino)?.kind;
        match (dir, kind) {
            (true, Kind::Directory) => {
                self.load_dir(&mut st, ino)?;
                if matches!(st.nodes.get(&ino).map(|n| &n.body), Some(Body::Dir { entries: Some(e), .. }) if !e.is_empty())
                {
                    return Err(MfsError::NotEmpty(name.to_string()));
                }
            }
            (true, _) => return Err(MfsError::NotDir(name.to_string())),
            (false, Kind::Directory) => return Err(MfsError::IsDir(name.to_string())),
            (false, _) => {}
        }
        let path = self.path(&st, ino);
        self.detach(&mut st, ino);
        self.log(&mut st, Op::Remove { path })
    }

    pub fn rename(
        &self,
        parent: Ino,
        name: &str,
        newparent: Ino,
        newname: &str,
        noreplace: bool,
    ) -> Result<()> {
        valid_name(newname)?;
        let mut st = self.lock()?;
        let ino = self
            .child(&mut st, parent, name)?
            .ok_or_else(|| MfsError::NotFound(name.to_string()))?;
        // A directory cannot move into itself.
        let mut p = newparent;
        while p != ROOT {
            if p == ino {
                return Err(MfsError::Invalid("cannot move a directory into itself".into()));
            }
            p = st.nodes.get(&p).map_or(ROOT, |n| n.parent);
        }
        let kind = self.attr_of(&mut st, ino)?.kind;
        if let Some(target) = self.child(&mut st, newparent, newname)? {
            // As renameat2(2): RENAME_NOREPLACE fails even onto itself.
            if noreplace {
                return Err(MfsError::Exists(newname.to_string()));
            }
            if target == ino {
                return Ok(());
            }
            let tkind = self.attr_of(&mut st, target)?.kind;
            match (kind == Kind::Directory, tkind == Kind::Directory) {
                (true, false) => return Err(MfsError::NotDir(newname.to_string())),
                (false, true) => return Err(MfsError::IsDir(newname.to_string())),
                (true, true) => {
                    self.load_dir(&mut st, target)?;
                    if matches!(st.nodes.get(&target).map(|n| &n.body), Some(Body::Dir { entries: Some(e), .. }) if !e.is_empty())
                    {
                        return Err(MfsError::NotEmpty(newname.to_string()));
                    }
                }
                _ => {}
            }
            self.detach(&mut st, target);
        }
        let from = self.path(&st, ino);
        if let Some(MNode {
            body: Body::Dir { entries: Some(e), .. },
            ..
        }) = st.nodes.get_mut(&parent)
        {
            e.remove(name);
        }
        Self::touch(&mut st, parent);
        if let Some(n) = st.nodes.get_mut(&ino) {
            n.parent = newparent;
            n.name = newname.to_string();
        }
        self.load_dir(&mut st, newparent)?;
        if let Some(MNode {
            body: Body::Dir { entries: Some(e), .. },
            ..
        }) = st.nodes.get_mut(&newparent)
        {
            e.insert(newname.to_string(), ino);
        }
        Self::touch(&mut st, newparent);
        let to = self.path(&st, ino);
        self.log(&mut st, Op::Rename { from, to })
    }
}
