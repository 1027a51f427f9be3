//! st_blocks of files in files/: the bytes the repo holds for a file, not
//! counting holes, so `du` of a sparse file shows what was written. A hole
//! is a leaf of zeros only: what truncate, a write past the end or
//! fallocate leave (the writable tree stores them as one shared zero leaf,
//! `FileBuilder::add_stored_run`), or zeros written out.
//!
//! Counted from the DAG, never from leaf bytes: a raw leaf is a hole when
//! its CID is that of as many zeros (sha2-256; the digests of zeros are
//! computed once per length). Inner nodes are loaded, each distinct CID
//! once (a sparse file of any size repeats the same zero subtree: one load
//! per level), at most `MAX_LOADS` per file; past that, and for dag-pb
//! children of at most `SMALL_PB` bytes (leaves of CIDv0 imports: loading
//! them would read the data), a subtree counts whole. So a count costs a
//! few reads: it is made where I/O is fine (a file's first resolve, a
//! flush off the FUSE thread) and kept on the node until the content
//! changes.

use super::*;
use crate::block::{DAG_PB, RAW};
use crate::unixfs::resolve::Node;
use sha2::{Digest, Sha256};

const MAX_LOADS: usize = 16;
const SMALL_PB: u64 = 1 << 20;
/// Leaves longer than this are not leaves the importer makes: not hashed.
const MAX_LEAF: u64 = 4 << 20;
const SHA2_256: u64 = 0x12;

/// The bytes of the file whose root node is `node` that are not holes.
pub(super) fn stored_bytes<B: BlockGet + ?Sized>(
    blocks: &B,
    node: &Node,
) -> std::result::Result<u64, crate::unixfs::Error> {
    Walk {
        blocks,
        memo: HashMap::new(),
        loads: 0,
    }
    .count(node)
}

struct Walk<'a, B: ?Sized> {
    blocks: &'a B,
    memo: HashMap<Cid, u64>,
    loads: usize,
}

impl<B: BlockGet + ?Sized> Walk<'_, B> {
    fn count(&mut self, node: &Node) -> std::result::Result<u64, crate::unixfs::Error> {
        let nonzero = |b: &[u8]| {
            if b.iter().all(|x| *x == 0) {
                0
            } else {
                b.len() as u64
            }
        };
        let (node, data) = match node {
            Node::Raw(b) => return Ok(nonzero(b)),
            Node::Pb { node, data } => (node, data),
        };
        let mut n = data.data.as_deref().map_or(0, nonzero);
        for (link, &len) in node.links.iter().zip(&data.blocksizes) {
            n += self.child(&link.cid, len)?;
        }
        Ok(n)
    }

    /// A child holding `len` bytes of the file (its parent's blocksizes).
    fn child(&mut self, cid: &Cid, len: u64) -> std::result::Result<u64, crate::unixfs::Error> {
        if cid.codec() == RAW {
            return Ok(if zero_leaf(cid, len) { 0 } else { len });
        }
        if let Some(&n) = self.memo.get(cid) {
            return Ok(n);
        }
        if cid.codec() != DAG_PB || self.loads >= MAX_LOADS || len <= SMALL_PB {
            return Ok(len);
        }
        self.loads += 1;
        let n = self.count(&Node::load(self.blocks, cid)?)?.min(len);
        self.memo.insert(*cid, n);
        Ok(n)
    }
}

/// Whether raw leaf `cid` is `len` zeros.
fn zero_leaf(cid: &Cid, len: u64) -> bool {
    if cid.hash().code() != SHA2_256 || len == 0 || len > MAX_LEAF {
        return false;
    }
    static ZEROS: std::sync::Mutex<Option<HashMap<u64, [u8; 32]>>> = std::sync::Mutex::new(None);
    let mut cache = ZEROS.lock().unwrap_or_else(|e| e.into_inner());
    let map = cache.get_or_insert_with(HashMap::new);
    if map.len() > 256 {
        // Tails of many lengths: start over rather than grow.
        map.clear();
    }
    let digest = map
        .entry(len)
        .or_insert_with(|| Sha256::digest(vec![0u8; len as usize]).into());
    cid.hash().digest() == digest.as_slice()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unixfs::importer::import_file;

    fn count(data: &[u8]) -> u64 {
        let dir = tempfile::tempdir().unwrap();
        let (repo, _) = Repo::open_or_init(dir.path()).unwrap();
        let e = import_file(&repo.store, &ImportOptions::default(), data, |_| {}).unwrap();
        repo.store.commit().unwrap();
        stored_bytes(&repo.store, &Node::load(&repo.store, &e.cid).unwrap()).unwrap()
    }

    #[test]
    fn zero_leaves_are_holes() {
        const C: usize = 256 * 1024;
        assert_eq!(count(b""), 0);
        assert_eq!(count(b"abc"), 3);
        assert_eq!(count(&[0; 100]), 0);
        // Three chunks: a hole between two written ones; a zero tail.
        let mut data = vec![0u8; 3 * C + 10];
        data[5] = 1;
        data[2 * C] = 1;
        assert_eq!(count(&data), 2 * C as u64);
        // Many levels of the same zero subtree, one written chunk.
        let mut big = vec![0u8; 200 * C];
        big[150 * C + 1] = 7;
        assert_eq!(count(&big), C as u64);
    }

    #[test]
    fn st_blocks_of_a_sparse_file_count_what_was_written() {
        const C: u64 = 256 * 1024;
        let dir = tempfile::tempdir().unwrap();
        let open = || Mfs::open(Arc::new(Repo::open_or_init(dir.path()).unwrap().0)).unwrap();
        let who = Owner { uid: 1, gid: 1 };
        let size = |s| SetAttr {
            size: Some(s),
            ..Default::default()
        };
        {
            let m = open();
            let f = m.create(ROOT, "f", 0o644, who, true, false).unwrap().ino;
            m.release(f).unwrap();
            let a = m.setattr(f, &size(1 << 30)).unwrap();
            assert_eq!((a.size, a.blocks), (1 << 30, 0));
            m.open_file(f, true, false).unwrap();
            m.write(f, 512 << 20, b"data", false).unwrap();
            // Unknown while open and changed: counted whole.
            assert_eq!(m.getattr(f).unwrap().blocks, (1 << 30) / 512);
            m.release(f).unwrap();
            assert_eq!(m.getattr(f).unwrap().blocks, C / 512);
            let g = m.create(ROOT, "g", 0o644, who, true, false).unwrap().ino;
            m.write(g, 0, &vec![1; 3 * C as usize], false).unwrap();
            m.release(g).unwrap();
            assert_eq!(m.getattr(g).unwrap().blocks, 3 * C / 512);
            m.checkpoint().unwrap();
        }
        // Counted again from the DAG when first resolved.
        let m = open();
        assert_eq!(m.lookup(ROOT, "f").unwrap().blocks, C / 512);
        assert_eq!(m.lookup(ROOT, "g").unwrap().blocks, 3 * C / 512);
    }
}
