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

/// Makes sure every block reachable from `root` is available: what is
/// missing is fetched when `blocks` fetches (and so lands in the store), and
/// no block is kept here. A raw block already held is not even read (it has
/// no links), so checking a local DAG costs about its inner nodes. Returns
/// the number of blocks. For writers that must not start on an incomplete
/// DAG (`dag export`).
pub fn ensure_complete<B: BlockGet + ?Sized>(blocks: &B, root: &Cid) -> Result<u64, DagError> {
    let held_raw = |c: &Cid| c.codec() == crate::block::RAW && blocks.has(c).unwrap_or(false);
    let mut seen = HashSet::new();
    let mut stack = vec![*root];
    let mut n = 0;
    while let Some(cid) = stack.pop() {
        if !seen.insert(cid.hash().to_bytes()) {
            continue;
        }
        n += 1;
        if held_raw(&cid) {
            continue;
        }
        let data = blocks.get(&cid)?;
        let links = links_of(&cid, &data).map_err(|source| DagError::Decode { cid, source })?;
        // Hints for what will be read: fetches start a window ahead.
        blocks.prefetch(&mut links.iter().copied().filter(|c| !held_raw(c)));
        stack.extend(links.into_iter().rev());
    }
    Ok(n)
}

/// Multihashes of every block reachable from a pin, a snapshot of files/
/// or `extra_roots` (the files/ tree).
pub fn live_set(store: &Store, extra_roots: &[Cid]) -> Result<HashSet<Vec<u8>>, DagError> {
    let mut seen = HashSet::new();
    for (cid, kind) in store.pins()? {
        match kind {
            PinKind::Direct => {
                seen.insert(cid.hash().to_bytes());
            }
            PinKind::Recursive => mark(store, cid, &mut seen)?,
        }
    }
    // Kept snapshots of files/ are roots; expired ones are gone from the
    // table, so their blocks become cache.
    for snap in store.snapshots()? {
        mark(store, snap.root, &mut seen)?;
    }
    for root in extra_roots {
        mark(store, *root, &mut seen)?;
    }
    Ok(seen)
}

/// Adds every block under `root` to `seen`. Raw blocks have no links, so
/// only inner nodes are read: marking a DAG costs ~1/174 of its bytes.
fn mark(store: &Store, root: Cid, seen: &mut HashSet<Vec<u8>>) -> Result<(), DagError> {
    let mut stack = vec![root];
    while let Some(cid) = stack.pop() {
        if !seen.insert(cid.hash().to_bytes()) || cid.codec() == crate::block::RAW {
            continue;
        }
        let Some(data) = store.get_by_hash(&cid.hash().to_bytes())? else {
            continue;
        };
        let links = links_of(&cid, &data).map_err(|source| DagError::Decode { cid, source })?;
        stack.extend(links);
    }
    Ok(())
}

#[derive(Debug, Default, serde::Serialize)]
pub struct GcReport {
    pub blocks: u64,
    pub bytes: u64,
}

/// Deletes every block not reachable from a pin or `extra_roots`. Blocks
/// read or written after the sweep began are kept: a write in progress may
/// reference them from a root the live set has not seen yet.
///
/// `cutoff` is the newest access tick that may be deleted (take it before
/// anything else: `store.clock()`, or the cache's cutoff, which also covers
/// writes in progress).
pub fn gc(store: &Store, extra_roots: &[Cid], cutoff: u64) -> Result<GcReport, DagError> {
    let started = cutoff;
    let live = live_set(store, extra_roots)?;
    let dead: Vec<Vec<u8>> = store
        .cache_entries(&live)?
        .into_iter()
        .filter(|e| e.last_access <= started)
        .map(|e| e.multihash)
        .collect();
    // The metadata of expired snapshots goes with them.
    store.prune_history()?;
    delete(store, &dead, started)
}

fn delete(store: &Store, keys: &[Vec<u8>], cutoff: u64) -> Result<GcReport, DagError> {
    let mut report = GcReport::default();
    for batch in keys.chunks(4096) {
        let (n, b) = store.delete_unused(batch, cutoff)?;
        report.blocks += n;
        report.bytes += b;
    }
    Ok(report)
}

/// What an eviction pass found and did.
#[derive(Debug, Default, serde::Serialize)]
pub struct EvictReport {
    /// Unpinned bytes before the pass.
    pub cache_bytes: u64,
    /// Bytes of pinned blocks and the files/ tree (never evicted).
    pub kept_bytes: u64,
    pub evicted: GcReport,
}

/// Keeps the cache (blocks not reachable from a pin or `extra_roots`) under
/// `limit` bytes: when it is over, the least recently used unpinned blocks
/// are deleted until it is under `target`.
pub fn evict(
    store: &Store,
    extra_roots: &[Cid],
    limit: u64,
    target: u64,
    cutoff: u64,
) -> Result<EvictReport, DagError> {
    let started = cutoff;
    let live = live_set(store, extra_roots)?;
    let mut cache = store.cache_entries(&live)?;
    let cache_bytes: u64 = cache.iter().map(|e| e.size).sum();
    let mut report = EvictReport {
        cache_bytes,
        kept_bytes: store.total_bytes().saturating_sub(cache_bytes),
        evicted: GcReport::default(),
    };
    if cache_bytes <= limit {
        return Ok(report);
    }
    cache.retain(|e| e.last_access <= started);
    cache.sort_by_key(|e| e.last_access);
    let mut left = cache_bytes;
    let mut victims = Vec::new();
    for e in cache {
        if left <= target {
            break;
        }
        left -= e.size;
        victims.push(e.multihash);
    }
    report.evicted = delete(store, &victims, started)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{BlockPut, RAW, cid_v1};

    fn block(i: u32) -> (Cid, Vec<u8>) {
        let data = vec![i as u8; 20_000 + i as usize];
        (cid_v1(RAW, &data), data)
    }

    #[test]
    fn eviction_takes_least_recently_used_unpinned_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let blocks: Vec<_> = (0..10).map(block).collect();
        for (c, d) in &blocks {
            s.put(c, d).unwrap();
        }
        s.pin(&blocks[0].0, PinKind::Direct).unwrap();
        // Read 1 and 2 again: they are now the most recently used.
        s.get(&blocks[1].0).unwrap();
        s.get(&blocks[2].0).unwrap();
        let size = |i: usize| blocks[i].1.len() as u64;
        let cache: u64 = (1..10).map(size).sum();
        let total = cache + size(0);
        assert_eq!(s.total_bytes(), total);
        // Room for about four blocks: 3..=7 go (oldest first), 8, 9, 1, 2 stay.
        let limit = size(8) + size(9) + size(1) + size(2) + 100;
        let r = evict(&s, &[], limit, limit, s.clock()).unwrap();
        assert_eq!(r.cache_bytes, cache);
        assert_eq!(r.kept_bytes, size(0));
        assert_eq!(r.evicted.blocks, 5);
        for (i, (c, _)) in blocks.iter().enumerate() {
            let gone = (3..=7).contains(&i);
            assert_eq!(!s.has(c).unwrap(), gone, "block {i}");
        }
        assert_eq!(s.total_bytes(), total - (3..=7).map(size).sum::<u64>());
        // Under the limit: nothing more goes.
        assert_eq!(evict(&s, &[], limit, limit, s.clock()).unwrap().evicted.blocks, 0);
        // The pinned block stays even with no room at all; access times and
        // the total survive a reopen.
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.total_bytes(), size(0) + size(1) + size(2) + size(8) + size(9));
        let r = evict(&s, &[blocks[9].0], 0, 0, s.clock()).unwrap();
        assert_eq!(r.evicted.blocks, 3);
        assert!(s.has(&blocks[0].0).unwrap() && s.has(&blocks[9].0).unwrap());
    }

    #[test]
    fn gc_keeps_blocks_written_or_read_after_its_cutoff() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let ((a, da), (b, db)) = (block(1), block(2));
        s.put(&a, &da).unwrap();
        // A write in progress began here (its root is not recorded yet).
        let cutoff = s.clock();
        s.put(&b, &db).unwrap();
        s.get(&a).unwrap(); // read again: in use
        assert_eq!(gc(&s, &[], cutoff).unwrap().blocks, 0);
        assert!(s.has(&a).unwrap() && s.has(&b).unwrap());
        assert_eq!(gc(&s, &[], s.clock()).unwrap().blocks, 2);
    }

    /// Counts the blocks read through it.
    struct Counting<'a>(&'a Store, std::sync::atomic::AtomicUsize);
    impl BlockGet for Counting<'_> {
        fn get(&self, cid: &Cid) -> Result<Vec<u8>, BlockError> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.0.get(cid)
        }
        fn has(&self, cid: &Cid) -> Result<bool, BlockError> {
            self.0.has(cid)
        }
    }

    #[test]
    fn ensure_complete_reads_inner_nodes_only_and_finds_a_missing_leaf() {
        use crate::unixfs::importer::{ImportOptions, import_file};
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let opts = ImportOptions {
            chunk_size: 1024,
            ..ImportOptions::default()
        };
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let root = import_file(&s, &opts, &data[..], |_| {}).unwrap().cid;
        let c = Counting(&s, Default::default());
        // 196 raw leaves under 2 nodes and the root: 199 blocks, 3 read.
        assert_eq!(ensure_complete(&c, &root).unwrap(), 199);
        assert_eq!(c.1.load(std::sync::atomic::Ordering::Relaxed), 3);
        let leaf = crate::block::cid_v1(RAW, &data[5 * 1024..6 * 1024]);
        s.delete_unused(&[leaf.hash().to_bytes()], s.clock()).unwrap();
        match ensure_complete(&c, &root) {
            Err(DagError::Block(BlockError::NotFound(missing))) => assert_eq!(missing, leaf),
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn gc_deletes_unreachable_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let (a, da) = block(1);
        s.put(&a, &da).unwrap();
        assert_eq!(gc(&s, &[], s.clock()).unwrap().blocks, 1);
        assert!(!s.has(&a).unwrap());
    }
}
