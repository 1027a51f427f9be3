//! `user.*` extended attributes of files and directories: held on the
//! node (`MNode::xattrs`), journaled as `Op::Xattr` before the call
//! returns, saved beside the tree at checkpoints (`Store::files_xattrs`),
//! never in the DAG (no CID changes). Other namespaces are not kept
//! (EOPNOTSUPP); Linux itself refuses `user.*` on symlinks and special
//! files before the request reaches us.
//!
//! Limits, with Linux's errors: a value at most `XATTR_SIZE_MAX` (E2BIG),
//! a name at most 255 bytes (ERANGE), and per inode at most
//! `XATTR_TOTAL_MAX` bytes of names and values and a name list of at most
//! `XATTR_LIST_MAX` bytes (ENOSPC), so listxattr always fits the kernel's
//! buffer and a node's attributes stay small in memory and in the journal.

use super::*;

/// Largest value (Linux's XATTR_SIZE_MAX).
pub const XATTR_SIZE_MAX: usize = 65536;
/// Largest listxattr answer (Linux's XATTR_LIST_MAX).
pub const XATTR_LIST_MAX: usize = 65536;
/// Names and values of one inode together.
pub const XATTR_TOTAL_MAX: usize = 256 * 1024;
const NAME_MAX: usize = 255;
const USER: &str = "user.";

/// setxattr(2) flags.
const XATTR_CREATE: i32 = 1;
const XATTR_REPLACE: i32 = 2;

fn check_name(name: &str) -> Result<()> {
    if name.len() > NAME_MAX || name.is_empty() {
        return Err(MfsError::XattrName(name.len()));
    }
    if !name.starts_with(USER) || name.len() == USER.len() {
        return Err(MfsError::NoSuchOp);
    }
    Ok(())
}

impl Mfs {
    /// getxattr(2) of a `user.*` attribute.
    pub fn getxattr(&self, ino: Ino, name: &str) -> Result<Vec<u8>> {
        let st = self.lock()?;
        let n = st
            .nodes
            .get(&ino)
            .ok_or_else(|| MfsError::NotFound(format!("inode {ino}")))?;
        n.xattrs
            .as_ref()
            .and_then(|x| x.get(name))
            .cloned()
            .ok_or_else(|| MfsError::NoAttr(name.to_string()))
    }

    /// listxattr(2): the names of the attributes kept.
    pub fn listxattr(&self, ino: Ino) -> Result<Vec<String>> {
        let st = self.lock()?;
        let n = st
            .nodes
            .get(&ino)
            .ok_or_else(|| MfsError::NotFound(format!("inode {ino}")))?;
        Ok(n.xattrs
            .as_ref()
            .map(|x| x.keys().cloned().collect())
            .unwrap_or_default())
    }

    /// setxattr(2) of a `user.*` attribute (`flags`: XATTR_CREATE,
    /// XATTR_REPLACE).
    pub fn setxattr(&self, ino: Ino, name: &str, value: &[u8], flags: i32) -> Result<()> {
        check_name(name)?;
        if value.len() > XATTR_SIZE_MAX {
            return Err(MfsError::XattrTooBig(value.len()));
        }
        let mut st = self.lock()?;
        self.resolve(&mut st, ino)?;
        let x = Self::xattrs(&st, ino)?;
        let old = x.get(name);
        if flags & XATTR_CREATE != 0 && old.is_some() {
            return Err(MfsError::Exists(name.to_string()));
        }
        if flags & XATTR_REPLACE != 0 && old.is_none() {
            return Err(MfsError::NoAttr(name.to_string()));
        }
        let (total, list) = x
            .iter()
            .filter(|(k, _)| *k != name)
            .fold((0, 0), |(t, l), (k, v)| (t + k.len() + v.len(), l + k.len() + 1));
        if total + name.len() + value.len() > XATTR_TOTAL_MAX || list + name.len() + 1 > XATTR_LIST_MAX {
            return Err(MfsError::NoSpace);
        }
        self.change_xattr(&mut st, ino, name, Some(value.to_vec()))
    }

    /// removexattr(2).
    pub fn removexattr(&self, ino: Ino, name: &str) -> Result<()> {
        check_name(name)?;
        let mut st = self.lock()?;
        // Resolved first: a retry after WouldBlock must find nothing done.
        self.resolve(&mut st, ino)?;
        if !Self::xattrs(&st, ino)?.contains_key(name) {
            return Err(MfsError::NoAttr(name.to_string()));
        }
        self.change_xattr(&mut st, ino, name, None)
    }

    fn xattrs<'a>(st: &'a State, ino: Ino) -> Result<std::borrow::Cow<'a, Xattrs>> {
        let n = st
            .nodes
            .get(&ino)
            .ok_or_else(|| MfsError::NotFound(format!("inode {ino}")))?;
        Ok(match &n.xattrs {
            Some(x) => std::borrow::Cow::Borrowed(x.as_ref()),
            None => std::borrow::Cow::Owned(Xattrs::new()),
        })
    }

    /// Applies a change, journals it (not for an unlinked file: it has no
    /// path, and goes at its last close) and moves ctime, as Linux does.
    fn change_xattr(&self, st: &mut State, ino: Ino, name: &str, value: Option<Vec<u8>>) -> Result<()> {
        let orphan = st.nodes.get(&ino).is_some_and(|n| n.parent == 0 && ino != ROOT);
        Self::set_xattr(st, ino, name, value.clone());
        if !orphan {
            let path = self.path(st, ino);
            let name = name.to_string();
            self.log(st, Op::Xattr { path, name, value })?;
        }
        let kind = self.attr_of(st, ino)?.kind;
        self.changed(st, ino, kind, meta::now())
    }

    /// Sets (Some) or removes (None) one attribute in memory.
    pub(super) fn set_xattr(st: &mut State, ino: Ino, name: &str, value: Option<Vec<u8>>) {
        let Some(n) = st.nodes.get_mut(&ino) else { return };
        let x = n.xattrs.get_or_insert_with(Default::default);
        match value {
            Some(v) => x.insert(name.to_string(), v),
            None => x.remove(name),
        };
        if x.is_empty() {
            n.xattrs = None;
        }
    }
}
