//! Bytes → UnixFS file DAG, identical to `ipfs add` for the same options:
//! fixed-size chunks, balanced layout (at most `max_links` per node), leaves
//! raw or dag-pb, CIDv0 or v1. Streams: memory is one batch of chunks plus one
//! partly filled node per tree level.

use super::Error;
use super::data::{DataType, UnixFsData};
use super::pb::{PbLink, PbNode};
pub use super::profile::MAX_CHUNK_SIZE;
use super::profile::{HamtOptions, MAX_LINKS, MIN_LINKS};
use crate::block::{BlockPut, DAG_PB, RAW, cid_v0, cid_v1};
use cid::Cid;
use rayon::prelude::*;
use std::io::Read;

/// Kubo's defaults for `ipfs add --cid-version=1`.
pub const DEFAULT_CHUNK_SIZE: usize = 262_144;
pub const DEFAULT_MAX_LINKS: usize = 174;
/// Chunks hashed in parallel per batch (8 MiB at the default chunk size).
const BATCH_CHUNKS: usize = 32;

/// How files and directories become DAGs; the bounds each option must
/// respect are in [`ImportOptions::validate`] (`profile.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOptions {
    pub chunk_size: usize,
    pub raw_leaves: bool,
    pub cid_version: u8,
    /// Links per file node of the balanced layout.
    pub max_links: usize,
    /// When a directory becomes a HAMT, and its fanout.
    pub hamt: HamtOptions,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            chunk_size: DEFAULT_CHUNK_SIZE,
            raw_leaves: true,
            cid_version: 1,
            max_links: DEFAULT_MAX_LINKS,
            hamt: HamtOptions::default(),
        }
    }
}

impl ImportOptions {
    /// Kubo's `ipfs add` with no flags: CIDv0, dag-pb leaves.
    pub fn kubo_v0() -> Self {
        ImportOptions {
            raw_leaves: false,
            cid_version: 0,
            ..Default::default()
        }
    }

    pub fn dag_pb_cid(&self, bytes: &[u8]) -> Cid {
        if self.cid_version == 0 {
            cid_v0(bytes)
        } else {
            cid_v1(DAG_PB, bytes)
        }
    }

    /// Parses Kubo's `--chunker` syntax; only fixed-size chunking is supported.
    pub fn parse_chunker(spec: &str) -> Result<usize, Error> {
        let n = spec
            .strip_prefix("size-")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| {
                Error::Unsupported(format!(
                    "chunker '{spec}' is not supported; use size-N (e.g. size-262144)"
                ))
            })?;
        if n == 0 || n > MAX_CHUNK_SIZE {
            return Err(Error::Unsupported(format!(
                "chunk size {n} is out of range 1..={MAX_CHUNK_SIZE}"
            )));
        }
        Ok(n)
    }
}

/// A finished node as its parent links to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub cid: Cid,
    /// Bytes of file content under it.
    pub size: u64,
    /// Cumulative block bytes under it (dag-pb `Tsize`).
    pub tsize: u64,
}

/// A leaf ready to store: its entry, and its encoded bytes when they are
/// not simply the chunk (dag-pb leaves).
struct Leaf {
    entry: Entry,
    encoded: Option<Vec<u8>>,
}

fn make_leaf(opts: &ImportOptions, chunk: &[u8]) -> Leaf {
    let size = chunk.len() as u64;
    if opts.raw_leaves {
        let cid = cid_v1(RAW, chunk);
        Leaf {
            entry: Entry {
                cid,
                size,
                tsize: size,
            },
            encoded: None,
        }
    } else {
        let mut d = UnixFsData::new(DataType::File);
        d.filesize = Some(size);
        // Empty data is left out, as Kubo and Helia do (the empty-file CID).
        d.data = (!chunk.is_empty()).then(|| chunk.to_vec());
        let bytes = PbNode {
            links: vec![],
            data: Some(d.encode()),
        }
        .encode();
        let cid = opts.dag_pb_cid(&bytes);
        Leaf {
            entry: Entry {
                cid,
                size,
                tsize: bytes.len() as u64,
            },
            encoded: Some(bytes),
        }
    }
}

/// The entry of the leaf the importer makes for `chunk`, without storing it.
pub fn leaf_entry(opts: &ImportOptions, chunk: &[u8]) -> Entry {
    make_leaf(opts, chunk).entry
}

/// Hashes `chunks` as leaves on all cores and stores them; returns their
/// entries in order (for callers that keep their own leaf list).
pub fn store_leaves<S: BlockPut + ?Sized>(
    store: &S,
    opts: &ImportOptions,
    chunks: &[&[u8]],
) -> Result<Vec<Entry>, Error> {
    let leaves: Vec<Leaf> = chunks.par_iter().map(|c| make_leaf(opts, c)).collect();
    let mut out = Vec::with_capacity(leaves.len());
    for (leaf, chunk) in leaves.into_iter().zip(chunks) {
        store.put(&leaf.entry.cid, leaf.encoded.as_deref().unwrap_or(chunk))?;
        out.push(leaf.entry);
    }
    Ok(out)
}

/// Builds the balanced tree bottom-up as leaves arrive. `levels[0]` holds
/// leaves not yet under a parent, `levels[1]` level-1 nodes, and so on.
/// This gives exactly the shape of Kubo's balanced layout.
pub struct FileBuilder<'s, S: BlockPut + ?Sized> {
    store: &'s S,
    opts: ImportOptions,
    levels: Vec<Vec<Entry>>,
}

impl<'s, S: BlockPut + ?Sized> FileBuilder<'s, S> {
    pub fn new(store: &'s S, mut opts: ImportOptions) -> Self {
        // Callers validate; a node of fewer than 2 links would add a
        // level per leaf, so even unchecked options cannot do that.
        opts.max_links = opts.max_links.clamp(MIN_LINKS, MAX_LINKS);
        FileBuilder {
            store,
            opts,
            levels: vec![Vec::new()],
        }
    }

    fn push(&mut self, level: usize, entry: Entry) -> Result<(), Error> {
        if self.levels.len() <= level {
            self.levels.push(Vec::new());
        }
        if self.levels[level].len() == self.opts.max_links {
            let children = std::mem::take(&mut self.levels[level]);
            let parent = self.make_node(&children)?;
            self.push(level + 1, parent)?;
        }
        self.levels[level].push(entry);
        Ok(())
    }

    fn make_node(&self, children: &[Entry]) -> Result<Entry, Error> {
        let mut d = UnixFsData::new(DataType::File);
        let size: u64 = children.iter().map(|c| c.size).sum();
        d.filesize = Some(size);
        d.blocksizes = children.iter().map(|c| c.size).collect();
        let node = PbNode {
            links: children.iter().map(|c| PbLink::new(c.cid, "", c.tsize)).collect(),
            data: Some(d.encode()),
        };
        let bytes = node.encode();
        let cid = self.opts.dag_pb_cid(&bytes);
        self.store.put(&cid, &bytes)?;
        let tsize = bytes.len() as u64 + children.iter().map(|c| c.tsize).sum::<u64>();
        Ok(Entry { cid, size, tsize })
    }

    /// Adds a leaf that is already in the store (the writable tree reuses
    /// unchanged leaves instead of rehashing them).
    pub fn add_stored_leaf(&mut self, entry: Entry) -> Result<(), Error> {
        self.push(0, entry)
    }

    /// Adds `count` copies of a stored leaf: the same DAG as `count` calls
    /// of [`FileBuilder::add_stored_leaf`], in O(depth × max_links) steps —
    /// a node whose children are all this leaf (or all one such node) is
    /// built and stored once per level, not once per occurrence. This is
    /// what makes a hole of a sparse file cheap to flush.
    pub fn add_stored_run(&mut self, entry: Entry, count: u64) -> Result<(), Error> {
        self.push_run(0, entry, count)
    }

    fn push_run(&mut self, level: usize, entry: Entry, mut count: u64) -> Result<(), Error> {
        let max = self.opts.max_links;
        if self.levels.len() <= level {
            self.levels.push(Vec::new());
        }
        // Fill the open node at this level.
        while count > 0 && self.levels[level].len() < max {
            self.levels[level].push(entry);
            count -= 1;
        }
        if count == 0 {
            return Ok(());
        }
        // The level is full: the next entry closes it.
        let children = std::mem::take(&mut self.levels[level]);
        let parent = self.make_node(&children)?;
        self.push(level + 1, parent)?;
        // Of the `count` entries left, every full node of them closes when
        // the next one arrives; the last 1..=max stay open.
        let max = max as u64;
        let full = (count - 1) / max;
        if full > 0 {
            let node = self.make_node(&vec![entry; max as usize])?;
            self.push_run(level + 1, node, full)?;
        }
        self.levels[level] = vec![entry; (count - full * max) as usize];
        Ok(())
    }

    /// Hashes, stores and adds one chunk as a leaf.
    pub fn add_chunk(&mut self, chunk: &[u8]) -> Result<Entry, Error> {
        let leaf = make_leaf(&self.opts, chunk);
        let entry = leaf.entry;
        self.add_leaf(leaf, chunk)?;
        Ok(entry)
    }

    fn add_leaf(&mut self, leaf: Leaf, chunk: &[u8]) -> Result<(), Error> {
        self.store
            .put(&leaf.entry.cid, leaf.encoded.as_deref().unwrap_or(chunk))?;
        self.push(0, leaf.entry)
    }

    /// Closes every partly filled level and returns the root.
    pub fn finish(mut self) -> Result<Entry, Error> {
        if self.levels.len() == 1 && self.levels[0].is_empty() {
            // An empty file is one empty leaf, as in Kubo.
            let leaf = make_leaf(&self.opts, &[]);
            self.store
                .put(&leaf.entry.cid, leaf.encoded.as_deref().unwrap_or_default())?;
            return Ok(leaf.entry);
        }
        let mut level = 0;
        loop {
            let top = level + 1 == self.levels.len();
            let items = std::mem::take(&mut self.levels[level]);
            if top {
                // A single leaf is its own root (Kubo's single-chunk files);
                // a single node on the top level is the root.
                if items.len() == 1 {
                    return Ok(items[0]);
                }
                return self.make_node(&items);
            }
            if !items.is_empty() {
                let node = self.make_node(&items)?;
                self.push(level + 1, node)?;
            }
            level += 1;
        }
    }
}

/// Imports everything `reader` yields as one file. `progress` is called with
/// the bytes consumed so far. One batch buffer is reused throughout, so the
/// memory used does not grow with the file.
pub fn import_file<S: BlockPut + ?Sized>(
    store: &S,
    opts: &ImportOptions,
    mut reader: impl Read,
    mut progress: impl FnMut(u64),
) -> Result<Entry, Error> {
    opts.validate()?;
    let mut builder = FileBuilder::new(store, *opts);
    // Most files of a tree are one chunk: start with one, and grow to a
    // whole batch (32 MiB with 1 MiB chunks) only for longer input.
    let mut buf = vec![0u8; opts.chunk_size];
    let mut done = 0u64;
    loop {
        let filled = read_full(&mut reader, &mut buf)?;
        let chunks: Vec<&[u8]> = buf[..filled].chunks(opts.chunk_size).collect();
        // Hashing is the expensive part: spread it over all cores.
        let leaves: Vec<Leaf> = chunks.par_iter().map(|c| make_leaf(opts, c)).collect();
        for (leaf, chunk) in leaves.into_iter().zip(&chunks) {
            builder.add_leaf(leaf, chunk)?;
        }
        done += filled as u64;
        progress(done);
        if filled < buf.len() {
            break;
        }
        buf.resize(BATCH_CHUNKS * opts.chunk_size, 0);
    }
    builder.finish()
}

/// Fills `buf` unless the input ends first; returns the bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> Result<usize, Error> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("reading input", e)),
        }
    }
    Ok(filled)
}

/// Encodes a UnixFS symlink node.
pub fn symlink_node(opts: &ImportOptions, target: &[u8]) -> (Cid, Vec<u8>) {
    let mut d = UnixFsData::new(DataType::Symlink);
    d.data = Some(target.to_vec());
    let bytes = PbNode {
        links: vec![],
        data: Some(d.encode()),
    }
    .encode();
    (opts.dag_pb_cid(&bytes), bytes)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::block::BlockError;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// An in-memory block store for codec tests.
    #[derive(Default)]
    pub struct MemStore(pub Mutex<HashMap<Cid, Vec<u8>>>);

    impl BlockPut for MemStore {
        fn put(&self, cid: &Cid, data: &[u8]) -> Result<(), BlockError> {
            self.0.lock().unwrap().insert(*cid, data.to_vec());
            Ok(())
        }
        fn flush(&self) -> Result<(), BlockError> {
            Ok(())
        }
    }

    impl crate::block::BlockGet for MemStore {
        fn get(&self, cid: &Cid) -> Result<Vec<u8>, BlockError> {
            if let Some(b) = crate::block::identity_bytes(cid) {
                return Ok(b.to_vec());
            }
            self.0
                .lock()
                .unwrap()
                .get(cid)
                .cloned()
                .ok_or(BlockError::NotFound(*cid))
        }
        fn has(&self, cid: &Cid) -> Result<bool, BlockError> {
            Ok(self.0.lock().unwrap().contains_key(cid))
        }
    }

    pub fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn empty_file_vector() {
        let s = MemStore::default();
        let e = import_file(&s, &ImportOptions::default(), &[][..], |_| {}).unwrap();
        assert_eq!(
            e.cid.to_string(),
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
        );
        let e = import_file(&s, &ImportOptions::kubo_v0(), &[][..], |_| {}).unwrap();
        // `ipfs add` (CIDv0) of an empty file: the well-known empty-file CID.
        assert_eq!(
            e.cid.to_string(),
            "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
        );
    }

    #[test]
    fn shape_of_175_chunks() {
        let s = MemStore::default();
        let opts = ImportOptions {
            chunk_size: 4,
            ..Default::default()
        };
        let data = pattern(4 * 175);
        let e = import_file(&s, &opts, &data[..], |_| {}).unwrap();
        let root = PbNode::decode(&s.0.lock().unwrap()[&e.cid]).unwrap();
        assert_eq!(root.links.len(), 2);
        let second = PbNode::decode(&s.0.lock().unwrap()[&root.links[1].cid]).unwrap();
        assert_eq!(second.links.len(), 1);
        assert_eq!(e.size, 700);
    }
}
