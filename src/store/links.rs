//! Hard links of the files/ tree: which paths are names of one inode.
//! UnixFS cannot say it (the DAG only shows the same CID under each name,
//! as a re-add of the tree would), so the groups are kept beside the tree:
//! one sealed META value, `files_links`, rewritten at each checkpoint from
//! the tree in memory (a linked inode is always there with all its names)
//! in the checkpoint's own transaction, and logged to meta.log when it
//! changes, so rebuild-index keeps them. Paths are those of the
//! checkpointed root, as in `files_meta`.

use super::*;

/// Each group: every path that names one inode, sorted (and the groups
/// sorted), so an unchanged set encodes to the same bytes.
pub type LinkGroups = Vec<Vec<String>>;

pub(super) const KEY: &str = "files_links";

pub(super) fn encode(groups: &LinkGroups) -> Vec<u8> {
    serde_json::to_vec(groups).unwrap_or_default()
}

pub(super) fn decode(b: &[u8]) -> Result<LinkGroups, StoreError> {
    serde_json::from_slice(b).map_err(|_| StoreError::BadEntry(KEY.into()))
}

/// Stores `groups` in a checkpoint's transaction; true when they changed
/// (a repo that never had links keeps no value at all).
pub(super) fn put(meta: &mut redb::Table<&str, &[u8]>, groups: &LinkGroups) -> Result<bool, StoreError> {
    let old = sealed::get_meta(meta, KEY)?;
    let new = encode(groups);
    if old.as_deref() == Some(new.as_slice()) || (old.is_none() && groups.is_empty()) {
        return Ok(false);
    }
    sealed::put_meta(meta, KEY, &new)?;
    Ok(true)
}

impl Store {
    /// The hard-link groups of the saved files/ root (none in repos made
    /// before links were kept).
    pub fn files_links(&self) -> Result<LinkGroups, StoreError> {
        match self.meta(KEY)? {
            None => Ok(Vec::new()),
            Some(b) => decode(&b),
        }
    }
}
