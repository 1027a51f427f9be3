//! Pinning a DAG: every block present first (fetched when the block source
//! can fetch), then the pin, then the announcement. One way for `pin add`
//! and `dag import --pin-roots` (whose copy once forgot to announce).

use crate::block::BlockGet;
use crate::dag::{DagError, Missing, walk};
use crate::repo::Repo;
use crate::store::PinKind;
use cid::Cid;
use std::collections::HashSet;

/// Pins `root` recursively once every block it reaches is in `blocks`
/// (a session that fetches, or the store alone), calling `on_block` with
/// each block's size. While the walk runs, what arrives is protected from
/// eviction. On success the pin is announced per the node's provide
/// strategy (when a node runs).
pub fn pin_recursive<B: BlockGet + ?Sized>(
    repo: &Repo,
    blocks: &B,
    root: &Cid,
    on_block: &mut dyn FnMut(usize),
) -> Result<(), DagError> {
    let _keep = repo.cache.protect(*root);
    let _writing = repo.cache.writing(&repo.store);
    walk(
        blocks,
        root,
        Missing::Fail,
        &mut HashSet::new(),
        &mut |_, data| {
            on_block(data.len());
            Ok(())
        },
    )?;
    repo.store.pin(root, PinKind::Recursive)?;
    repo.announce_pinned(*root);
    Ok(())
}
