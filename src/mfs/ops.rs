//! POSIX operations on names: lookup, listing, create, mkdir, symlink,
//! unlink, rename.

use super::*;

impl Mfs {
    pub fn lookup(&self, parent: Ino, name: &str) -> Result<Attr> {
        if name.len() > NAME_MAX {
            return Err(MfsError::NameTooLong(name.len()));
        }
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

    /// Entries of a directory: (name, ino, kind, file type bits).
    pub fn readdir(&self, ino: Ino) -> Result<Vec<(String, Ino, Kind, u32)>> {
        let mut st = self.lock()?;
        self.load_dir(&mut st, ino)?;
        let list: Vec<(String, Ino)> = match st.nodes.get(&ino).map(|n| &n.body) {
            Some(Body::Dir { entries: Some(e), .. }) => e.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            _ => return Err(MfsError::NotDir(self.path(&st, ino))),
        };
        let mut out = Vec::with_capacity(list.len());
        for (name, child) in list {
            let a = self.attr_of(&mut st, child)?;
            out.push((name, child, a.kind, a.ftype));
        }
        Ok(out)
    }

    pub fn parent_of(&self, ino: Ino) -> Ino {
        self.lock()
            .map_or(ROOT, |st| st.nodes.get(&ino).map_or(ROOT, |n| n.parent))
    }

    /// creat(2)/open(O_CREAT) by `who`; an existing file is opened.
    pub fn create(
        &self,
        parent: Ino,
        name: &str,
        mode: u32,
        who: Owner,
        exclusive: bool,
        truncate: bool,
    ) -> Result<Attr> {
        valid_name(name)?;
        let mut st = self.lock()?;
        if let Some(existing) = self.child(&mut st, parent, name)? {
            if exclusive {
                return Err(MfsError::Exists(name.to_string()));
            }
            // One lock: a retry after WouldBlock must not count the handle twice.
            self.open_locked(&mut st, existing, true, truncate)?;
            return self.attr_of(&mut st, existing);
        }
        let staging = self.staging.load(std::sync::atomic::Ordering::SeqCst);
        if staging && no_io() {
            // Making the staging file is I/O: before any change, so the
            // retry on the blocking pool creates the file once.
            return Err(MfsError::WouldBlock);
        }
        let content = FileContent::empty(self.opts);
        let body = Body::File {
            entry: Entry {
                cid: Cid::default(),
                size: 0,
                tsize: 0,
            },
            content: Some(Arc::new(Mutex::new(content))),
            size: 0,
            open: 1,
            unsaved: true,
            stored: None,
        };
        let (who, _) = self.inherit(&st, parent, who);
        let meta = new_meta(mode & 0o7777, who);
        // Nothing is journaled yet but the directory's times: the file is
        // saved when it is closed.
        let ino = self.insert(&mut st, parent, name, body, Some(meta))?;
        if staging {
            self.stage(&mut st, ino)?;
        }
        self.dir_changed(&mut st, parent, (meta.secs, meta.nanos))?;
        self.attr_of(&mut st, ino)
    }

    pub fn mkdir(&self, parent: Ino, name: &str, mode: u32, who: Owner) -> Result<Attr> {
        valid_name(name)?;
        let mut st = self.lock()?;
        if self.child(&mut st, parent, name)?.is_some() {
            return Err(MfsError::Exists(name.to_string()));
        }
        let body = Body::Dir {
            entries: Some(BTreeMap::new()),
            cached: None,
        };
        // A set-group-ID directory passes its group and the bit on.
        let (who, sgid) = self.inherit(&st, parent, who);
        let sgid = if sgid { libc::S_ISGID } else { 0 };
        let meta = new_meta((mode & 0o7777) | sgid, who);
        let ino = self.insert(&mut st, parent, name, body, Some(meta))?;
        let path = self.path(&st, ino);
        self.log(&mut st, Op::Mkdir { path })?;
        self.set_meta(&mut st, ino, meta)?;
        self.dir_changed(&mut st, parent, (meta.secs, meta.nanos))?;
        self.attr_of(&mut st, ino)
    }

    pub fn symlink(&self, parent: Ino, name: &str, target: &[u8], who: Owner) -> Result<Attr> {
        valid_name(name)?;
        let mut st = self.lock()?;
        if self.child(&mut st, parent, name)?.is_some() {
            return Err(MfsError::Exists(name.to_string()));
        }
        let (cid, bytes) = symlink_node(&self.opts, target);
        crate::block::BlockPut::put(self.store(), &cid, &bytes).map_err(crate::unixfs::Error::from)?;
        let (who, _) = self.inherit(&st, parent, who);
        let meta = new_meta(0o777, who);
        let ino = self.insert(&mut st, parent, name, Body::Symlink(target.to_vec()), Some(meta))?;
        let path = self.path(&st, ino);
        // The metadata given to the link: a replay or a checkpoint must
        // keep what stat showed.
        self.log(&mut st, Op::put(path, cid.to_string(), bytes.len() as u64, &meta))?;
        self.dir_changed(&mut st, parent, (meta.secs, meta.nanos))?;
        self.attr_of(&mut st, ino)
    }

    /// mknod(2), mkfifo(3), bind(2) of an AF_UNIX socket: a FIFO, socket or
    /// device node is metadata only (journaled as such, left out of the
    /// DAG); S_IFREG makes an empty file.
    pub fn mknod(&self, parent: Ino, name: &str, mode: u32, rdev: u64, who: Owner) -> Result<Attr> {
        let ftype = mode & libc::S_IFMT;
        if ftype == libc::S_IFREG || ftype == 0 {
            // Made and closed in one call: a retry after WouldBlock would
            // find it made, so never start it in no-I/O mode.
            if no_io() {
                return Err(MfsError::WouldBlock);
            }
            let a = self.create(parent, name, mode & 0o7777, who, true, false)?;
            self.release(a.ino)?;
            return self.getattr(a.ino);
        }
        if ![libc::S_IFIFO, libc::S_IFSOCK, libc::S_IFCHR, libc::S_IFBLK].contains(&ftype) {
            return Err(MfsError::Invalid(format!("mknod of type {ftype:o}")));
        }
        valid_name(name)?;
        let mut st = self.lock()?;
        if self.child(&mut st, parent, name)?.is_some() {
            return Err(MfsError::Exists(name.to_string()));
        }
        let (who, _) = self.inherit(&st, parent, who);
        let mut meta = new_meta(ftype | (mode & 0o7777), who);
        if ftype == libc::S_IFCHR || ftype == libc::S_IFBLK {
            meta.rdev = rdev;
        }
        let ino = self.insert(&mut st, parent, name, Body::Special, Some(meta))?;
        self.set_meta(&mut st, ino, meta)?;
        self.dir_changed(&mut st, parent, (meta.secs, meta.nanos))?;
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
        let path = join(&self.path(&st, parent), name);
        let survives = Self::linked(&st, ino);
        self.detach_name(&mut st, ino, parent, name);
        self.log(&mut st, Op::Remove { path })?;
        let t = meta::now();
        if survives {
            // One name fewer: the link count is part of the inode's ctime.
            let kind = self.attr_of(&mut st, ino)?.kind;
            self.changed(&mut st, ino, kind, t)?;
        }
        self.dir_changed(&mut st, parent, t)
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
        let path = join(&self.path(&st, parent), name);
        let survives = Self::linked(&st, ino);
        self.detach_name(&mut st, ino, parent, name);
        self.log(&mut st, Op::Remove { path })?;
        let t = meta::now();
        if survives {
            // One name fewer: the link count is part of the inode's ctime.
            let kind = self.attr_of(&mut st, ino)?.kind;
            self.changed(&mut st, ino, kind, t)?;
        }
        self.dir_changed(&mut st, parent, t)
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
            let survives = Self::linked(&st, target);
            self.detach_name(&mut st, target, newparent, newname);
            if survives {
                let tkind = self.attr_of(&mut st, target)?.kind;
                self.changed(&mut st, target, tkind, meta::now())?;
            }
        }
        // The name renamed (a hard-linked file has others).
        let from = join(&self.path(&st, parent), name);
        self.relink(&mut st, ino, (parent, name), newparent, newname)?;
        let to = join(&self.path(&st, newparent), newname);
        self.log(&mut st, Op::Rename { from, to })?;
        let t = meta::now();
        self.changed(&mut st, ino, kind, t)?;
        self.dir_changed(&mut st, parent, t)?;
        if newparent != parent {
            self.dir_changed(&mut st, newparent, t)?;
        }
        Ok(())
    }

    /// renameat2(RENAME_EXCHANGE): the two entries swap places. Journaled
    /// as three renames through a temporary name, which replay and the
    /// metadata table already know how to follow.
    pub fn exchange(&self, parent: Ino, name: &str, newparent: Ino, newname: &str) -> Result<()> {
        let mut st = self.lock()?;
        let found = |st: &mut State, p, n: &str| -> Result<Ino> {
            self.child(st, p, n)?
                .ok_or_else(|| MfsError::NotFound(n.to_string()))
        };
        let a = found(&mut st, parent, name)?;
        let b = found(&mut st, newparent, newname)?;
        if a == b {
            return Ok(());
        }
        if Self::inside(&st, newparent, a) || Self::inside(&st, parent, b) {
            return Err(MfsError::Invalid("cannot move a directory into itself".into()));
        }
        let (ka, kb) = (self.attr_of(&mut st, a)?.kind, self.attr_of(&mut st, b)?.kind);
        let tmp = format!(".p2pfs-exchange-{a}");
        if self.child(&mut st, parent, &tmp)?.is_some() {
            return Err(MfsError::Exists(tmp));
        }
        let (pa, pb) = (
            join(&self.path(&st, parent), name),
            join(&self.path(&st, newparent), newname),
        );
        self.relink(&mut st, a, (parent, name), parent, &tmp)?;
        let pt = join(&self.path(&st, parent), &tmp);
        self.relink(&mut st, b, (newparent, newname), parent, name)?;
        self.relink(&mut st, a, (parent, &tmp), newparent, newname)?;
        self.log(
            &mut st,
            Op::Rename {
                from: pa.clone(),
                to: pt.clone(),
            },
        )?;
        self.log(
            &mut st,
            Op::Rename {
                from: pb.clone(),
                to: pa,
            },
        )?;
        self.log(&mut st, Op::Rename { from: pt, to: pb })?;
        let t = meta::now();
        self.changed(&mut st, a, ka, t)?;
        self.changed(&mut st, b, kb, t)?;
        self.dir_changed(&mut st, parent, t)?;
        if newparent != parent {
            self.dir_changed(&mut st, newparent, t)?;
        }
        Ok(())
    }

    /// Whether `dir` is `ino` or inside it.
    pub(super) fn inside(st: &State, mut dir: Ino, ino: Ino) -> bool {
        loop {
            if dir == ino {
                return true;
            }
            if dir == ROOT {
                return false;
            }
            dir = st.nodes.get(&dir).map_or(ROOT, |n| n.parent);
        }
    }

    /// Moves `ino`'s name `from` (a directory and a name in it) to
    /// `newname` in `newparent` (whatever was there is already gone):
    /// rename and its journal replay.
    pub(super) fn relink(
        &self,
        st: &mut State,
        ino: Ino,
        from: (Ino, &str),
        newparent: Ino,
        newname: &str,
    ) -> Result<()> {
        self.load_dir(st, newparent)?;
        if !st.nodes.contains_key(&ino) {
            return Err(MfsError::NotFound(format!("inode {ino}")));
        }
        if let Some(MNode {
            body: Body::Dir { entries: Some(e), .. },
            ..
        }) = st.nodes.get_mut(&from.0)
        {
            e.remove(from.1);
        }
        Self::touch(st, from.0);
        if let Some(n) = st.nodes.get_mut(&ino) {
            let to = (newparent, newname.to_string());
            if n.parent == from.0 && n.name == from.1 {
                (n.parent, n.name) = to;
            } else if let Some(a) = n.aliases.iter_mut().find(|a| a.0 == from.0 && a.1 == from.1) {
                *a = to;
            }
        }
        if let Some(MNode {
            body: Body::Dir { entries: Some(e), .. },
            ..
        }) = st.nodes.get_mut(&newparent)
        {
            e.insert(newname.to_string(), ino);
        }
        Self::touch(st, newparent);
        Ok(())
    }
}
