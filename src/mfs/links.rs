//! Hard links: one inode under several names (`MNode::aliases` besides
//! its first name). In the DAG the same CID simply sits under each name,
//! which is what a re-add of the tree gives; that the names are one inode
//! is kept beside the tree (`Store::files_links`, written at checkpoints),
//! and between checkpoints in the journal (`Op::Link`).
//!
//! Invariant: every name of a linked inode is in memory, and so is every
//! directory holding one. `Mfs::open` resolves the saved groups before it
//! replays the journal, and links are only made in loaded directories; so
//! nlink is the number of names known, never a stored count to keep right.
//! Directories are never linked (EPERM, as everywhere on Linux).

use super::*;
use crate::store::LinkGroups;

/// Groups, metadata rows and attribute rows (see [`Mfs::link_state`]).
pub(super) type LinkState = (LinkGroups, Vec<(String, FileMeta)>, Vec<(String, Xattrs)>);

impl Mfs {
    /// link(2): `newname` in `newparent` becomes another name of `ino`.
    pub fn link(&self, ino: Ino, newparent: Ino, newname: &str) -> Result<Attr> {
        valid_name(newname)?;
        let mut st = self.lock()?;
        self.resolve(&mut st, ino)?;
        if self.name_tmpfile(&mut st, ino, newparent, newname)? {
            return self.attr_of(&mut st, ino);
        }
        match st.nodes.get(&ino) {
            Some(MNode {
                body: Body::Dir { .. },
                ..
            }) => return Err(MfsError::LinkDir(self.path(&st, ino))),
            // Unlinked while open: Linux says ENOENT too.
            Some(n) if n.parent == 0 && ino != ROOT => {
                return Err(MfsError::NotFound(format!("inode {ino}")));
            }
            Some(_) => {}
            None => return Err(MfsError::NotFound(format!("inode {ino}"))),
        }
        if self.child(&mut st, newparent, newname)?.is_some() {
            return Err(MfsError::Exists(newname.to_string()));
        }
        // The journal line names the file by a path its replay finds: a
        // file not yet saved since it was made or changed is saved first.
        self.save_file(&mut st, ino)?;
        let from = self.path(&st, ino);
        Self::add_name(&mut st, ino, newparent, newname);
        let to = join(&self.path(&st, newparent), newname);
        self.log(&mut st, Op::Link { from, to })?;
        let t = meta::now();
        let kind = self.attr_of(&mut st, ino)?.kind;
        self.changed(&mut st, ino, kind, t)?;
        self.dir_changed(&mut st, newparent, t)?;
        self.attr_of(&mut st, ino)
    }

    /// Whether `ino` has more than one name.
    pub(super) fn linked(st: &State, ino: Ino) -> bool {
        st.nodes.get(&ino).is_some_and(|n| !n.aliases.is_empty())
    }

    fn add_name(st: &mut State, ino: Ino, dir: Ino, name: &str) {
        if let Some(n) = st.nodes.get_mut(&ino) {
            n.aliases.push((dir, name.to_string()));
        }
        if let Some(MNode {
            body: Body::Dir { entries: Some(e), .. },
            ..
        }) = st.nodes.get_mut(&dir)
        {
            e.insert(name.to_string(), ino);
        }
        Self::touch_up(st, dir);
    }

    /// Removes `name` in `dir` from the names `ino` knows (not from the
    /// directory); the next name becomes the first when it was the first.
    pub(super) fn unname(st: &mut State, ino: Ino, dir: Ino, name: &str) {
        let Some(n) = st.nodes.get_mut(&ino) else { return };
        if n.parent == dir && n.name == name {
            if !n.aliases.is_empty() {
                (n.parent, n.name) = n.aliases.remove(0);
            }
        } else {
            n.aliases.retain(|a| !(a.0 == dir && a.1 == name));
        }
    }

    /// Removes the entry `name` of `dir`, which is `ino`: a linked inode
    /// loses that name only; anything else is detached (and forgotten
    /// unless open).
    pub(super) fn detach_name(&self, st: &mut State, ino: Ino, dir: Ino, name: &str) {
        if !Self::linked(st, ino) {
            return self.detach(st, ino);
        }
        if let Some(MNode {
            body: Body::Dir { entries: Some(e), .. },
            ..
        }) = st.nodes.get_mut(&dir)
        {
            e.remove(name);
        }
        Self::touch_up(st, dir);
        Self::unname(st, ino, dir, name);
    }

    /// Replaces what `ino` is (replay of new content of a linked file).
    pub(super) fn set_body(st: &mut State, ino: Ino, body: Body, meta: Option<FileMeta>) {
        if let Some(n) = st.nodes.get_mut(&ino) {
            n.body = body;
            if meta.is_some() {
                n.meta = meta;
            }
        }
        Self::touch(st, ino);
    }

    /// Replay of `Op::Link`.
    pub(super) fn replay_link(&self, st: &mut State, from: &str, to: &str) -> Result<()> {
        let ino = self.resolve_path(st, from)?;
        self.resolve(st, ino)?;
        if matches!(st.nodes.get(&ino).map(|n| &n.body), Some(Body::Dir { .. })) {
            return Err(MfsError::LinkDir(from.to_string()));
        }
        let (dir, name) = Self::split(to);
        let parent = self.resolve_path(st, dir)?;
        if let Some(old) = self.child(st, parent, name)? {
            if old == ino {
                return Ok(());
            }
            self.detach_name(st, old, parent, name);
        }
        Self::add_name(st, ino, parent, name);
        Ok(())
    }

    /// At open: makes the saved groups' names one inode again. Each name
    /// was loaded as its own node (the DAG has the same CID under each);
    /// all but the first are dropped and their entries point at the first.
    pub(super) fn load_links(&self, st: &mut State) -> Result<()> {
        for group in self.store().files_links()? {
            let mut first: Option<(Ino, Option<Cid>)> = None;
            for path in &group {
                let (dir, name) = Self::split(path);
                let found = self
                    .resolve_path(st, dir)
                    .and_then(|p| Ok((p, self.child(st, p, name)?)));
                let Ok((parent, Some(ino))) = found else {
                    tracing::warn!("hard link {path:?}: not in the saved tree");
                    continue;
                };
                let cid = match st.nodes.get(&ino).map(|n| &n.body) {
                    Some(Body::Unresolved(e)) => Some(e.cid),
                    Some(Body::Special) => None,
                    _ => {
                        tracing::warn!("hard link {path:?}: not a file");
                        continue;
                    }
                };
                match first {
                    None => first = Some((ino, cid)),
                    Some((keep, c)) if c == cid && keep != ino => {
                        // The directories' CIDs stay as they are: the
                        // same CID was under both names already.
                        st.nodes.remove(&ino);
                        if let Some(n) = st.nodes.get_mut(&keep) {
                            n.aliases.push((parent, name.to_string()));
                        }
                        if let Some(MNode {
                            body: Body::Dir { entries: Some(e), .. },
                            ..
                        }) = st.nodes.get_mut(&parent)
                        {
                            e.insert(name.to_string(), keep);
                        }
                    }
                    Some(_) => tracing::warn!("hard link {path:?}: not the content of its group"),
                }
            }
        }
        Ok(())
    }

    /// What a checkpoint saves of the links: the groups (sorted, so an
    /// unchanged set stores the same bytes), and the metadata and extended
    /// attributes under every name (all of them one inode's, so whichever
    /// a later load finds first is right).
    pub(super) fn link_state(&self, st: &State) -> LinkState {
        let mut groups = Vec::new();
        let mut rows = Vec::new();
        let mut xattrs = Vec::new();
        for n in st
            .nodes
            .values()
            .filter(|n| !n.aliases.is_empty() && n.parent != 0)
        {
            let names = std::iter::once((n.parent, n.name.as_str()))
                .chain(n.aliases.iter().map(|(d, s)| (*d, s.as_str())));
            let mut paths: Vec<String> = names.map(|(d, s)| join(&self.path(st, d), s)).collect();
            paths.sort();
            if let Some(m) = n.meta {
                rows.extend(paths.iter().map(|p| (p.clone(), m)));
            }
            let x = n.xattrs.as_deref().cloned().unwrap_or_default();
            xattrs.extend(paths.iter().map(|p| (p.clone(), x.clone())));
            groups.push(paths);
        }
        groups.sort();
        (groups, rows, xattrs)
    }
}
