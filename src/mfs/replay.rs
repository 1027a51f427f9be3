//! Journal replay and paths.

use super::*;

impl Mfs {
    // ---- replay ----------------------------------------------------------

    pub(super) fn resolve_path(&self, st: &mut State, path: &str) -> Result<Ino> {
        let mut ino = ROOT;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            ino = self
                .child(st, ino, part)?
                .ok_or_else(|| MfsError::NotFound(path.to_string()))?;
        }
        Ok(ino)
    }

    pub(super) fn split(path: &str) -> (&str, &str) {
        path.rsplit_once('/').unwrap_or(("", path))
    }

    pub(super) fn replay(&self, st: &mut State, op: &Op) -> Result<()> {
        match op {
            Op::Put { path, cid, tsize, .. } => self.replay_put(st, op, path, cid, *tsize)?,
            Op::Stage { path, file, .. } => self.replay_stage(st, op, path, file)?,
            Op::Mkdir { path } => {
                let (dir, name) = Self::split(path);
                let parent = self.resolve_path(st, dir)?;
                if self.child(st, parent, name)?.is_none() {
                    self.insert(
                        st,
                        parent,
                        name,
                        Body::Dir {
                            entries: Some(BTreeMap::new()),
                            cached: None,
                        },
                        None,
                    )?;
                }
            }
            Op::Remove { path } => {
                let (dir, name) = Self::split(path);
                if let Ok(parent) = self.resolve_path(st, dir)
                    && let Some(ino) = self.child(st, parent, name)?
                {
                    self.detach_name(st, ino, parent, name);
                }
            }
            Op::Link { from, to } => self.replay_link(st, from, to)?,
            Op::Xattr { path, name, value } => {
                // As for Meta: a file never saved before the crash is not
                // in the journal.
                if let Ok(ino) = self.resolve_path(st, path) {
                    Self::set_xattr(st, ino, name, value.clone());
                }
            }
            Op::Rename { from, to } => {
                // The source may be missing: a file created and never closed
                // before the crash. What the rename replaced is gone anyway.
                let (fdir, fname) = Self::split(from);
                let fparent = self.resolve_path(st, fdir)?;
                let src = self.child(st, fparent, fname)?;
                let (dir, name) = Self::split(to);
                let newparent = self.resolve_path(st, dir)?;
                if let Some(old) = self.child(st, newparent, name)?
                    && src != Some(old)
                {
                    self.detach_name(st, old, newparent, name);
                }
                let src = src.ok_or_else(|| MfsError::NotFound(from.clone()))?;
                self.relink(st, src, (fparent, fname), newparent, name)?;
            }
            Op::Meta { path, .. } => {
                // A file changed while open but never closed before the
                // crash is not in the journal: nothing to apply.
                let Ok(ino) = self.resolve_path(st, path) else {
                    // Or a special file made: it is only metadata.
                    if let Some((_, m)) = op.file_meta().filter(|(_, m)| m.mode & libc::S_IFMT != 0) {
                        let (dir, name) = Self::split(path);
                        let parent = self.resolve_path(st, dir)?;
                        self.insert(st, parent, name, Body::Special, Some(m))?;
                    }
                    return Ok(());
                };
                if let (Some(n), Some((_, m))) = (st.nodes.get_mut(&ino), op.file_meta()) {
                    n.meta = Some(m);
                }
            }
        }
        Ok(())
    }

    /// Replay of `Op::Put`: content at `path`.
    pub(super) fn replay_put(
        &self,
        st: &mut State,
        op: &Op,
        path: &str,
        cid: &str,
        tsize: u64,
    ) -> Result<()> {
        let cid = crate::block::parse_cid(cid).map_err(|e| MfsError::Invalid(e.to_string()))?;
        let (dir, name) = Self::split(path);
        let parent = self.resolve_path(st, dir)?;
        let meta = op.file_meta().map(|(_, m)| m);
        let body = Body::Unresolved(Entry { cid, size: 0, tsize });
        if let Some(old) = self.child(st, parent, name)? {
            // New content of a hard-linked file: every name has it.
            if Self::linked(st, old) {
                Self::set_body(st, old, body, meta);
                return Ok(());
            }
            // The same file's new content: its attributes stay.
            let x = st.nodes.get_mut(&old).and_then(|n| n.xattrs.take());
            self.detach_name(st, old, parent, name);
            let ino = self.insert(st, parent, name, body, meta)?;
            if let Some(n) = st.nodes.get_mut(&ino) {
                n.xattrs = x;
            }
            return Ok(());
        }
        self.insert(st, parent, name, body, meta)?;
        Ok(())
    }

    /// Resolves a path under files/ to an inode (for the CLI's `files` commands).
    pub fn lookup_path(&self, path: &str) -> Result<Ino> {
        let mut st = self.lock()?;
        self.resolve_path(&mut st, path)
    }
}

/// Where what is now at `path` was at the last checkpoint (whose metadata
/// the store holds), given the changes made since: renames are undone, and
/// None when it was put, made or replaced since (nothing saved applies).
pub(super) fn saved_path(ops: &[Op], path: &str) -> Option<String> {
    let under = |p: &str, q: &str| p == q || (p.starts_with(q) && p.as_bytes().get(q.len()) == Some(&b'/'));
    let mut p = path.to_string();
    for op in ops.iter().rev() {
        match op {
            Op::Rename { from, to } => {
                if under(&p, to) {
                    p = format!("{from}{}", &p[to.len()..]);
                } else if under(&p, from) {
                    return None;
                }
            }
            Op::Put { path: q, .. }
            | Op::Stage { path: q, .. }
            | Op::Mkdir { path: q }
            | Op::Remove { path: q }
            | Op::Link { to: q, .. } => {
                if under(&p, q) {
                    return None;
                }
            }
            Op::Meta { .. } | Op::Xattr { .. } => {}
        }
    }
    Some(p)
}

pub(super) fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}
