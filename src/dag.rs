//! Whole-DAG operations over [`BlockGet`]: traversal (for pins, GC, CAR
//! export) and the GC sweep itself.

use crate::block::{BlockError, BlockGet};
use crate::store::{PinKind, Store, StoreError};
use crate::unixfs::pb::links_of;
use cid::Cid;
use std::collections::HashSet;

#[derive(Debug, thiserror::Error)]
pub enum DagError {
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("block {cid}: {source}")]
    Decode { cid: Cid, source: crate::unixfs::Error },
}

/// Called with each block of a walk.
pub type Visitor<'a> = dyn FnMut(&Cid, &[u8]) -> Result<(), DagError> + 'a;

/// What to do when a block of the DAG is not available.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Fail,
    Skip,
}

/// Visits every block reachable from `root` once, depth-first, parents
/// before children, links in order (the order Kubo writes CARs in).
pub fn walk<B: BlockGet + ?Sized>(
    blocks: &B,
    root: &Cid,
    missing: Missing,
    seen: &mut HashSet<Vec<u8>>,
    visit: &mut Visitor<'_>,
) -> Result<(), DagError> {
    let mut stack = vec![*root];
    while let Some(cid) = stack.pop() {
        if !seen.insert(cid.hash().to_bytes()) {
            continue;
        }
        let data = match blocks.get(&cid) {
            Ok(d) => d,
            Err(BlockError::NotFound(_)) if missing == Missing::Skip => continue,
            Err(e) => return Err(e.into()),
        };
        visit(&cid, &data)?;
        let links = links_of(&cid, &data).map_err(|source| DagError::Decode { cid, source })?;
        blocks.prefetch(&mut links.iter().copied());
        stack.extend(links.into_iter().rev());
    }
    Ok(())
}

/// Multihashes of every block reachable from a pin or the files/ root.
pub fn live_set(store: &Store, extra_roots: &[Cid]) -> Result<HashSet<Vec<u8>>, DagError> {
    let mut seen = HashSet::new();
    for (cid, kind) in store.pins()? {
        match kind {
            PinKind::Direct => {
                seen.insert(cid.hash().to_bytes());
            }
            PinKind::Recursive => walk(store, &cid, Missing::Skip, &mut seen, &mut |_, _| Ok(()))?,
        }
    }
    for root in extra_roots {
        walk(store, root, Missing::Skip, &mut seen, &mut |_, _| Ok(()))?;
    }
    Ok(seen)
}

#[derive(Debug, Default, serde::Serialize)]
pub struct GcReport {
    pub blocks: u64,
    pub bytes: u64,
}

/// Deletes every block not reachable from a pin or `extra_roots`.
pub fn gc(store: &Store, extra_roots: &[Cid]) -> Result<GcReport, DagError> {
    let live = live_set(store, extra_roots)?;
    let dead: Vec<Vec<u8>> = store
        .all_hashes()?
        .into_iter()
        .filter(|h| !live.contains(h))
        .collect();
    let mut report = GcReport::default();
    for batch in dead.chunks(4096) {
        let (n, b) = store.delete(batch)?;
        report.blocks += n;
        report.bytes += b;
    }
    Ok(report)
}

/// Total bytes and blocks under `root` (each block counted once).
pub fn dag_size<B: BlockGet + ?Sized>(
    blocks: &B,
    root: &Cid,
    missing: Missing,
    seen: &mut HashSet<Vec<u8>>,
) -> Result<(u64, u64), DagError> {
    let (mut n, mut bytes) = (0, 0);
    walk(blocks, root, missing, seen, &mut |_, d| {
        n += 1;
        bytes += d.len() as u64;
        Ok(())
    })?;
    Ok((n, bytes))
}
