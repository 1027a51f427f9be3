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

/// Why a block is pinned, as `pin ls CID` tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Direct,
    Recursive,
    /// Inside the DAG of this recursive pin.
    Indirect(Cid),
}

/// How `cid` is pinned, if it is. Indirect pins are found by walking the
/// recursive pins' DAGs in the store (blocks not here are skipped).
pub fn status(repo: &Repo, cid: &Cid) -> Result<Option<Status>, DagError> {
    let pins = repo.store.pins()?;
    let key = cid.hash().to_bytes();
    if let Some((_, kind)) = pins.iter().find(|(c, _)| c.hash().to_bytes() == key) {
        return Ok(Some(match kind {
            PinKind::Direct => Status::Direct,
            PinKind::Recursive => Status::Recursive,
        }));
    }
    let mut seen = HashSet::new();
    for (root, _) in pins.iter().filter(|(_, k)| *k == PinKind::Recursive) {
        let mut found = false;
        walk(&repo.store, root, Missing::Skip, &mut seen, &mut |c, _| {
            found |= c.hash().to_bytes() == key;
            Ok(())
        })?;
        if found {
            return Ok(Some(Status::Indirect(*root)));
        }
    }
    Ok(None)
}

/// The roots of recursive pins (what `ipfs/` lists), in the store's order.
pub fn recursive_roots(repo: &Repo) -> Result<Vec<Cid>, DagError> {
    let pins = repo.store.pins()?;
    Ok(pins
        .into_iter()
        .filter(|(_, k)| *k == PinKind::Recursive)
        .map(|(c, _)| c)
        .collect())
}

/// Every block inside a recursive pin's DAG that is not itself a pin root
/// (`pin ls --type=indirect`), each once, in DAG order.
pub fn indirect(repo: &Repo) -> Result<Vec<Cid>, DagError> {
    let pins = repo.store.pins()?;
    let roots: HashSet<Vec<u8>> = pins.iter().map(|(c, _)| c.hash().to_bytes()).collect();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (root, _) in pins.iter().filter(|(_, k)| *k == PinKind::Recursive) {
        walk(&repo.store, root, Missing::Skip, &mut seen, &mut |c, _| {
            if !roots.contains(&c.hash().to_bytes()) {
                out.push(*c);
            }
            Ok(())
        })?;
    }
    Ok(out)
}
