//! Restoring an old version (from a snapshot) into the tree: the old DAG is
//! linked back at a path, replacing what is there, without copying bytes,
//! and every entry under it gets back the metadata and `user.*`
//! attributes it had.

use super::*;
use crate::store::Xattrs;
use std::time::Duration;

fn time((s, ns): (i64, u32)) -> SystemTime {
    match u64::try_from(s) {
        Ok(s) => UNIX_EPOCH + Duration::new(s, ns),
        Err(_) => UNIX_EPOCH - Duration::from_secs(s.unsigned_abs()),
    }
}

impl Mfs {
    /// Links `cid` at `path` (replacing the entry there, if any) and sets
    /// each entry under it to `meta(relative path)` ("" for `path`
    /// itself): its metadata where there is some, and its extended
    /// attributes. Returns how many entries got metadata back. Loads the
    /// directories of the restored subtree.
    pub fn restore(
        &self,
        path: &str,
        cid: &Cid,
        meta: &dyn Fn(&str) -> (Option<FileMeta>, Xattrs),
    ) -> Result<u64> {
        let path = path.trim_matches('/');
        let (dir, name) = Self::split(path);
        valid_name(name)?;
        let parent = self.lookup_path(dir)?;
        if self.lookup(parent, name).is_ok() {
            self.remove_tree(parent, name)?;
        }
        self.put(path, cid)?;
        let mut set = 0;
        let mut stack = vec![String::new()];
        while let Some(rel) = stack.pop() {
            let ino = self.lookup_path(&join(path, &rel))?;
            let (m, xattrs) = meta(&rel);
            for (name, value) in &xattrs {
                self.setxattr(ino, name, value, 0)?;
            }
            if let Some(m) = m {
                let owner = |v: u32| (v != FileMeta::NO_OWNER).then_some(v);
                let s = SetAttr {
                    mode: Some(m.mode & 0o7777),
                    uid: owner(m.uid),
                    gid: owner(m.gid),
                    atime: Some(time(m.atime)),
                    mtime: Some(time((m.secs, m.nanos))),
                    ..Default::default()
                };
                self.setattr(ino, &s)?;
                set += 1;
            }
            if self.getattr(ino)?.kind == Kind::Directory {
                for (name, ..) in self.readdir(ino)? {
                    stack.push(join(&rel, &name));
                }
            }
        }
        Ok(set)
    }
}
