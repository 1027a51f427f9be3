//! A file in the writable tree whose content is being changed.
//!
//! The content is a sparse list of fixed-size chunks: only chunks that were
//! touched are kept (`chunks`, by index), each either a leaf already in the
//! store (reused as is: a random write rewrites only the chunks it touches)
//! or bytes in memory. Every other chunk is implicit: the bytes of the base
//! DAG below `base_len`, zeros above it. So a hole costs nothing however
//! large it is, and truncate, writes, reads, [`FileContent::referenced`] and
//! flushing take memory and time in proportion to the data written, not to
//! the size. Chunks that fill up are hashed and stored at once, so a long
//! sequential write keeps one partial chunk in memory, never the file.
//!
//! Sizes read from a base DAG (which may come from a peer or a CAR) are
//! checked against the blocks they describe when the file is opened, and
//! every read of a base range must give exactly the bytes expected: a DAG
//! that lies is [`Error::Malformed`], never a panic.

use crate::block::{BlockGet, BlockPut, DAG_PB, RAW};
use crate::unixfs::Error;
use crate::unixfs::data::DataType;
use crate::unixfs::importer::{Entry, FileBuilder, ImportOptions, leaf_entry, store_leaves};
use crate::unixfs::reader::{read_range, read_range_cached};
use crate::unixfs::resolve::Node;
use cid::Cid;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The largest size a file in the writable tree can grow to: 16 TiB
/// (2^44 bytes = 17 592 186 044 416), ext4's limit with 4 KiB blocks.
/// Growing past it (truncate or write) fails with `EFBIG`. A larger file
/// that already exists (a DAG from elsewhere) can still be read and changed
/// within its size.
pub const MAX_FILE_SIZE: u64 = 1 << 44;

/// The multihash code of sha2-256, the only hash the importer writes.
const SHA2_256: u64 = 0x12;
/// Deepest file DAG we walk (as the reader).
const MAX_DEPTH: usize = 64;
/// Inner nodes kept decoded during one flush (cleared when full).
const NODE_CACHE: usize = 4096;

#[derive(Debug, Clone)]
enum Chunk {
    Stored(Entry),
    Dirty(Vec<u8>),
}

impl Chunk {
    fn len(&self) -> u64 {
        match self {
            Chunk::Stored(e) => e.size,
            Chunk::Dirty(b) => b.len() as u64,
        }
    }
}

/// A piece of a read, resolved under the tree lock and executed outside it.
#[derive(Debug)]
pub enum Segment {
    Block { cid: Cid, offset: u64, len: u64 },
    Bytes(Vec<u8>),
    Zero(u64),
}

pub struct FileContent {
    opts: ImportOptions,
    /// The DAG this content started from (or was last flushed to).
    base: Option<Cid>,
    /// The content size of `base`.
    base_size: u64,
    /// Implicit chunks read `[0, base_len)` from `base`; bytes past it are
    /// zeros (shrinking lowers it, so regrown bytes are zeros).
    base_len: u64,
    /// The chunks that differ from the implicit content, by index; each is
    /// exactly as long as its place in the file.
    chunks: BTreeMap<u64, Chunk>,
    size: u64,
    dirty_bytes: usize,
    /// The DAG root for the current content, when nothing changed since.
    clean: Option<Entry>,
    /// The leaf of a chunk of zeros, once needed.
    zero: std::cell::OnceCell<Entry>,
}

/// Memory kept in dirty chunks before full ones are stored early.
const DIRTY_LIMIT: usize = 32 << 20;

fn too_big(size: u64) -> Error {
    Error::Unsupported(format!(
        "file size {size} is over the limit of {MAX_FILE_SIZE} bytes"
    ))
}

/// Whether a leaf can be linked as is into a DAG built with `opts` (the
/// importer would make the same CID for its bytes).
fn reusable(opts: &ImportOptions, cid: &Cid) -> bool {
    if cid.hash().code() != SHA2_256 {
        return false;
    }
    if opts.raw_leaves {
        cid.codec() == RAW
    } else {
        cid.codec() == DAG_PB && (cid.version() == cid::Version::V0) == (opts.cid_version == 0)
    }
}

/// The content size of file DAG `cid`, checked all the way down: every
/// `blocksizes` entry must be its child's content size, and `filesize` (if
/// present) the node's. Inner nodes are memoised by CID, so a DAG that links
/// one subtree many times is checked in time proportional to its blocks.
fn content_size<B: BlockGet + ?Sized>(
    blocks: &B,
    cid: &Cid,
    memo: &mut HashMap<Cid, u64>,
    depth: usize,
) -> Result<u64, Error> {
    if let Some(&n) = memo.get(cid) {
        return Ok(n);
    }
    if depth > MAX_DEPTH {
        return Err(Error::Malformed("file DAG nested too deep"));
    }
    let (node, inner) = match Node::load(blocks, cid)? {
        Node::Raw(b) => return Ok(b.len() as u64),
        Node::Pb { node, data } => {
            if !matches!(data.kind, DataType::File | DataType::Raw) {
                return Err(Error::Unsupported(format!("{cid} is not a file")));
            }
            let inner = !node.links.is_empty();
            (Node::Pb { node, data }, inner)
        }
    };
    let Node::Pb { node, data } = node else {
        return Err(Error::Malformed("unreachable"));
    };
    if node.links.len() != data.blocksizes.len() {
        return Err(Error::Malformed(
            "UnixFS file: links and blocksizes differ in number",
        ));
    }
    let mut total = data.data.as_ref().map_or(0, |d| d.len() as u64);
    for (l, &s) in node.links.iter().zip(&data.blocksizes) {
        if content_size(blocks, &l.cid, memo, depth + 1)? != s {
            return Err(Error::Malformed(
                "UnixFS file: a blocksize differs from its child's size",
            ));
        }
        total = total
            .checked_add(s)
            .ok_or(Error::Malformed("UnixFS file size overflows"))?;
    }
    if data.filesize.is_some_and(|f| f != total) {
        return Err(Error::Malformed(
            "UnixFS file: filesize differs from the sum of its parts",
        ));
    }
    if inner {
        memo.insert(*cid, total);
    }
    Ok(total)
}

/// What one flush knows about the base DAG: decoded inner nodes, and which
/// subtrees are one leaf repeated (a hole of a sparse file).
struct BaseWalk<'a, B: ?Sized> {
    blocks: &'a B,
    nodes: HashMap<Cid, (Arc<Node>, u64)>,
    /// Block lengths of dag-pb leaves seen (a hole's leaf is seen often).
    leaves: HashMap<Cid, u64>,
    uniform: HashMap<Cid, Option<(Entry, u64)>>,
}

impl<B: BlockGet + ?Sized> BaseWalk<'_, B> {
    /// A dag-pb node with links (None for a leaf) and its block length;
    /// both kinds are cached.
    fn load(&mut self, cid: &Cid) -> Result<(Option<Arc<Node>>, u64), Error> {
        if let Some((n, len)) = self.nodes.get(cid) {
            return Ok((Some(n.clone()), *len));
        }
        if let Some(&len) = self.leaves.get(cid) {
            return Ok((None, len));
        }
        let bytes = self.blocks.get(cid)?;
        let len = bytes.len() as u64;
        match Node::decode(cid, bytes)? {
            Node::Pb { node, data } if !node.links.is_empty() => {
                if self.nodes.len() >= NODE_CACHE {
                    self.nodes.clear();
                }
                let node = Arc::new(Node::Pb { node, data });
                self.nodes.insert(*cid, (node.clone(), len));
                Ok((Some(node), len))
            }
            Node::Pb { .. } => {
                if self.leaves.len() >= NODE_CACHE {
                    self.leaves.clear();
                }
                self.leaves.insert(*cid, len);
                Ok((None, len))
            }
            Node::Raw(_) => Err(Error::Malformed("raw block with a dag-pb CID")),
        }
    }

    /// `Some((leaf, n))` when every leaf under inner node `cid` is `leaf`
    /// (n of them, no inline data anywhere).
    fn uniform(&mut self, cid: &Cid, depth: usize) -> Result<Option<(Entry, u64)>, Error> {
        if let Some(u) = self.uniform.get(cid) {
            return Ok(*u);
        }
        if depth > MAX_DEPTH {
            return Err(Error::Malformed("file DAG nested too deep"));
        }
        let (node, _) = self.load(cid)?;
        let r = match node.as_deref() {
            Some(Node::Pb { node, data })
                if !node.links.is_empty()
                    && data.data.as_ref().is_none_or(|d| d.is_empty())
                    && node.links.len() == data.blocksizes.len()
                    && node.links.iter().all(|l| l.cid == node.links[0].cid)
                    && data.blocksizes.iter().all(|&s| s == data.blocksizes[0]) =>
            {
                let child = node.links[0].cid;
                let size = data.blocksizes[0];
                let under = if child.codec() == RAW {
                    Some((
                        Entry {
                            cid: child,
                            size,
                            tsize: size,
                        },
                        1,
                    ))
                } else {
                    match self.load(&child)? {
                        (None, len) => Some((
                            Entry {
                                cid: child,
                                size,
                                tsize: len,
                            },
                            1,
                        )),
                        (Some(_), _) => self.uniform(&child, depth + 1)?,
                    }
                };
                under.and_then(|(e, n)| n.checked_mul(node.links.len() as u64).map(|m| (e, m)))
            }
            _ => None,
        };
        self.uniform.insert(*cid, r);
        Ok(r)
    }
}

/// The implicit base chunks `[cursor, to)` of one gap between explicit
/// chunks, as the walk of the base DAG adds them to the builder.
struct Gap<'n> {
    /// Bytes of the base wanted: `[lo, hi)`.
    lo: u64,
    hi: u64,
    to: u64,
    /// The next chunk to add.
    cursor: u64,
    /// Leaves made or found for single chunks (they become explicit).
    new: &'n mut Vec<(u64, Entry)>,
}

impl FileContent {
    pub fn empty(opts: ImportOptions) -> Self {
        FileContent {
            opts,
            base: None,
            base_size: 0,
            base_len: 0,
            chunks: BTreeMap::new(),
            size: 0,
            dirty_bytes: 0,
            clean: None,
            zero: Default::default(),
        }
    }

    /// Opens existing content for changes. The DAG's sizes are checked
    /// against its blocks (each distinct block is read once): a DAG whose
    /// `filesize` or `blocksizes` lie is [`Error::Malformed`].
    pub fn from_entry<B: BlockGet + ?Sized>(
        blocks: &B,
        opts: ImportOptions,
        root: Entry,
    ) -> Result<Self, Error> {
        let size = content_size(blocks, &root.cid, &mut HashMap::new(), 0)?;
        if size != root.size {
            return Err(Error::Malformed(
                "UnixFS file: its size differs from the sum of its leaves",
            ));
        }
        Ok(FileContent {
            opts,
            base: Some(root.cid),
            base_size: size,
            base_len: size,
            chunks: BTreeMap::new(),
            size,
            dirty_bytes: 0,
            clean: Some(root),
            zero: Default::default(),
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether growing to `end` bytes would pass [`MAX_FILE_SIZE`].
    pub fn too_big(&self, end: u64) -> bool {
        end > MAX_FILE_SIZE && end > self.size
    }

    /// Whether every byte is in memory (flushing reads nothing).
    pub fn in_memory(&self) -> bool {
        self.base_len == 0 && self.chunks.values().all(|c| matches!(c, Chunk::Dirty(_)))
    }

    pub fn is_clean(&self) -> Option<Entry> {
        self.clean
    }

    /// Chunks kept explicitly (the rest is the base DAG or zeros).
    #[cfg(test)]
    fn explicit_chunks(&self) -> usize {
        self.chunks.len()
    }

    /// Blocks this content references that may not be under any root yet
    /// (GC must keep them).
    pub fn referenced(&self) -> impl Iterator<Item = Cid> + '_ {
        self.chunks
            .values()
            .filter_map(|c| {
                if let Chunk::Stored(e) = c {
                    Some(e.cid)
                } else {
                    None
                }
            })
            .chain(self.base)
    }

    fn cs(&self) -> u64 {
        self.opts.chunk_size as u64
    }

    /// The leaf of a full chunk of zeros (the leaf of every hole).
    fn zero_leaf(&self) -> Entry {
        *self
            .zero
            .get_or_init(|| leaf_entry(&self.opts, &vec![0; self.opts.chunk_size]))
    }

    /// The length of chunk `i` (which must be inside the file).
    fn chunk_len(&self, i: u64) -> u64 {
        (self.size - i * self.cs()).min(self.cs())
    }

    /// Reads `[offset, offset+len)` of `cid`, which must give exactly `len` bytes.
    fn read_exact<B: BlockGet + ?Sized>(
        blocks: &B,
        cid: &Cid,
        offset: u64,
        len: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let start = out.len();
        read_range(blocks, cid, offset, len, &mut |b| {
            if (out.len() - start) as u64 + b.len() as u64 > len {
                return Err(Error::Malformed("file DAG longer than its sizes"));
            }
            out.extend_from_slice(b);
            Ok(())
        })?;
        if (out.len() - start) as u64 != len {
            return Err(Error::Malformed("file DAG shorter than its sizes"));
        }
        Ok(())
    }

    fn chunk_bytes<B: BlockGet + ?Sized>(&self, blocks: &B, i: u64) -> Result<Vec<u8>, Error> {
        match self.chunks.get(&i) {
            Some(Chunk::Dirty(b)) => Ok(b.clone()),
            Some(Chunk::Stored(e)) => {
                let mut out = Vec::with_capacity(e.size as usize);
                Self::read_exact(blocks, &e.cid, 0, e.size, &mut out)?;
                Ok(out)
            }
            None => {
                let start = i * self.cs();
                let len = self.chunk_len(i);
                let mut out = Vec::with_capacity(len as usize);
                if start < self.base_len {
                    let base = self.base.ok_or(Error::Malformed("base range without a base"))?;
                    let n = (start + len).min(self.base_len) - start;
                    Self::read_exact(blocks, &base, start, n, &mut out)?;
                }
                out.resize(len as usize, 0);
                Ok(out)
            }
        }
    }

    /// Plans the read of implicit bytes `[a, b)`: the base, then zeros.
    fn plan_gap(&self, a: u64, b: u64, out: &mut Vec<Segment>) {
        let mid = b.min(self.base_len).max(a);
        if mid > a
            && let Some(base) = self.base
        {
            out.push(Segment::Block {
                cid: base,
                offset: a,
                len: mid - a,
            });
        }
        if b > mid {
            out.push(Segment::Zero(b - mid));
        }
    }

    /// Plans a read of `[offset, offset+len)`; run it with [`read_plan`].
    /// Holes and base ranges are one segment each, however long.
    pub fn plan_read(&self, offset: u64, len: u64) -> Vec<Segment> {
        let cs = self.cs();
        let end = offset.saturating_add(len).min(self.size);
        let mut out = Vec::new();
        let mut pos = offset;
        if pos >= end {
            return out;
        }
        for (&i, c) in self.chunks.range(pos / cs..) {
            let cstart = i * cs;
            if cstart >= end {
                break;
            }
            if pos < cstart {
                self.plan_gap(pos, cstart, &mut out);
                pos = cstart;
            }
            let start = pos - cstart;
            let n = c.len().saturating_sub(start).min(end - pos);
            if n == 0 {
                continue;
            }
            out.push(match c {
                Chunk::Stored(e) => Segment::Block {
                    cid: e.cid,
                    offset: start,
                    len: n,
                },
                Chunk::Dirty(b) => Segment::Bytes(b[start as usize..(start + n) as usize].to_vec()),
            });
            pos += n;
        }
        if pos < end {
            self.plan_gap(pos, end, &mut out);
        }
        out
    }

    fn make_dirty<B: BlockGet + ?Sized>(&mut self, blocks: &B, i: u64) -> Result<&mut Vec<u8>, Error> {
        if !matches!(self.chunks.get(&i), Some(Chunk::Dirty(_))) {
            let bytes = self.chunk_bytes(blocks, i)?;
            self.dirty_bytes += bytes.len();
            self.chunks.insert(i, Chunk::Dirty(bytes));
        }
        match self.chunks.get_mut(&i) {
            Some(Chunk::Dirty(b)) => Ok(b),
            _ => Err(Error::Malformed("chunk not in memory")),
        }
    }

    /// Grows or shrinks to `size`; new bytes are zeros. Costs nothing per
    /// byte: a hole is implicit.
    pub fn truncate<B: BlockGet + ?Sized>(&mut self, blocks: &B, size: u64) -> Result<(), Error> {
        let cs = self.cs();
        if size == self.size {
            return Ok(());
        }
        if self.too_big(size) {
            return Err(too_big(size));
        }
        self.clean = None;
        if size < self.size {
            let n = size.div_ceil(cs);
            for c in self.chunks.split_off(&n).into_values() {
                if let Chunk::Dirty(b) = c {
                    self.dirty_bytes -= b.len();
                }
            }
            self.base_len = self.base_len.min(size);
            if n > 0 {
                let tail = size - (n - 1) * cs;
                if self.chunks.get(&(n - 1)).is_some_and(|c| c.len() != tail) {
                    let b = self.make_dirty(blocks, n - 1)?;
                    let cut = b.len() - tail as usize;
                    b.truncate(tail as usize);
                    self.dirty_bytes -= cut;
                }
            }
        } else if !self.size.is_multiple_of(cs) {
            // An explicit partial last chunk grows with zeros.
            let last = self.size / cs;
            if self.chunks.contains_key(&last) {
                let want = (size - last * cs).min(cs) as usize;
                let b = self.make_dirty(blocks, last)?;
                let grow = want - b.len();
                b.resize(want, 0);
                self.dirty_bytes += grow;
            }
        }
        self.size = size;
        Ok(())
    }

    pub fn write<B: BlockGet + BlockPut + ?Sized>(
        &mut self,
        blocks: &B,
        offset: u64,
        data: &[u8],
    ) -> Result<(), Error> {
        if data.is_empty() {
            return Ok(());
        }
        let cs = self.cs();
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or_else(|| too_big(u64::MAX))?;
        if end > self.size {
            self.truncate(blocks, end)?;
        }
        self.clean = None;
        let mut pos = offset;
        let mut src = data;
        let mut full = Vec::new();
        while !src.is_empty() {
            let i = pos / cs;
            let start = (pos - i * cs) as usize;
            let clen = self.chunk_len(i) as usize;
            let n = (clen - start).min(src.len());
            if !self.chunks.contains_key(&i) && i * cs >= self.base_len {
                // A hole: build the chunk from the data itself, zero only the gaps.
                let mut b = Vec::with_capacity(clen);
                b.resize(start, 0);
                b.extend_from_slice(&src[..n]);
                b.resize(clen, 0);
                self.dirty_bytes += clen;
                self.chunks.insert(i, Chunk::Dirty(b));
            } else {
                self.make_dirty(blocks, i)?[start..start + n].copy_from_slice(&src[..n]);
            }
            // A chunk written up to its end is likely done: store it now.
            if start + n == cs as usize {
                full.push(i);
            }
            pos += n as u64;
            src = &src[n..];
        }
        self.store_chunks(blocks, &full)?;
        if self.dirty_bytes > DIRTY_LIMIT {
            let full: Vec<u64> = self
                .chunks
                .iter()
                .filter(|(_, c)| matches!(c, Chunk::Dirty(b) if b.len() as u64 == cs))
                .map(|(&i, _)| i)
                .collect();
            self.store_chunks(blocks, &full)?;
        }
        Ok(())
    }

    /// Hashes (on all cores) and stores the given dirty chunks.
    fn store_chunks<B: BlockPut + ?Sized>(&mut self, blocks: &B, idx: &[u64]) -> Result<(), Error> {
        let mut which = Vec::new();
        let mut bufs: Vec<&[u8]> = Vec::new();
        for i in idx {
            if let Some(Chunk::Dirty(b)) = self.chunks.get(i) {
                which.push(*i);
                bufs.push(b);
            }
        }
        let entries = store_leaves(blocks, &self.opts, &bufs)?;
        for (i, e) in which.into_iter().zip(entries) {
            self.dirty_bytes -= e.size as usize;
            self.chunks.insert(i, Chunk::Stored(e));
        }
        Ok(())
    }

    /// Stores what is not stored yet and returns the DAG root: the same CID
    /// `p2pfs add` gives the same bytes. Holes and other runs of one
    /// repeated leaf cost O(depth × max_links), not one step per chunk
    /// ([`FileBuilder::add_stored_run`]).
    pub fn flush<B: BlockGet + BlockPut + ?Sized>(&mut self, blocks: &B) -> Result<Entry, Error> {
        if let Some(e) = self.clean {
            return Ok(e);
        }
        let n = self.size.div_ceil(self.cs());
        let mut builder = FileBuilder::new(blocks, self.opts);
        let mut walk = BaseWalk {
            blocks,
            nodes: HashMap::new(),
            leaves: HashMap::new(),
            uniform: HashMap::new(),
        };
        let mut new = Vec::new();
        let mut zero = None;
        let mut i = 0;
        while i < n {
            let next = self.chunks.range(i..).next().map_or(n, |(&k, _)| k);
            if next > i {
                self.flush_gap(&mut walk, &mut builder, i, next, &mut zero, &mut new)?;
                i = next;
                continue;
            }
            match self.chunks.get(&i) {
                Some(Chunk::Stored(e)) => builder.add_stored_leaf(*e)?,
                Some(Chunk::Dirty(b)) => new.push((i, builder.add_chunk(b)?)),
                None => {}
            }
            i += 1;
        }
        let root = builder.finish()?;
        for (k, e) in new {
            if let Some(Chunk::Dirty(b)) = self.chunks.insert(k, Chunk::Stored(e)) {
                self.dirty_bytes -= b.len();
            }
        }
        // The new DAG is the base now: implicit chunks read from it.
        self.base = Some(root.cid);
        self.base_size = self.size;
        self.base_len = self.size;
        self.clean = Some(root);
        Ok(root)
    }

    /// Adds implicit chunks `[i, j)` to the builder: those over the base
    /// from a walk of the base DAG, the rest as runs of the zero leaf.
    fn flush_gap<B: BlockGet + BlockPut + ?Sized>(
        &self,
        walk: &mut BaseWalk<'_, B>,
        builder: &mut FileBuilder<'_, B>,
        i: u64,
        j: u64,
        zero: &mut Option<Entry>,
        new: &mut Vec<(u64, Entry)>,
    ) -> Result<(), Error> {
        let cs = self.cs();
        let base_end = self.base_len.div_ceil(cs).min(j);
        if i < base_end {
            let base = self.base.ok_or(Error::Malformed("base range without a base"))?;
            let mut g = Gap {
                lo: i * cs,
                hi: (base_end * cs).min(self.base_len),
                to: base_end,
                cursor: i,
                new,
            };
            self.visit(walk, builder, &base, 0, self.base_size, 0, true, &mut g)?;
            let hi = g.hi;
            self.add_unaligned(walk.blocks, builder, &mut g, hi)?;
        }
        let z = i.max(base_end);
        if z < j {
            let partial = j * cs > self.size;
            let full = j - z - partial as u64;
            if full > 0 {
                let e = match zero {
                    Some(e) => *e,
                    None => {
                        let zeros = vec![0u8; cs as usize];
                        let e = store_leaves(walk.blocks, &self.opts, &[&zeros])?[0];
                        *zero = Some(e);
                        e
                    }
                };
                builder.add_stored_run(e, full)?;
            }
            if partial {
                let zeros = vec![0u8; self.chunk_len(j - 1) as usize];
                new.push((j - 1, builder.add_chunk(&zeros)?));
            }
        }
        Ok(())
    }

    /// Adds chunks from the gap's cursor up to the one holding byte
    /// `upto - 1`, each read and hashed (the base's leaves do not line up).
    fn add_unaligned<B: BlockGet + BlockPut + ?Sized>(
        &self,
        blocks: &B,
        builder: &mut FileBuilder<'_, B>,
        g: &mut Gap<'_>,
        upto: u64,
    ) -> Result<(), Error> {
        while g.cursor < g.to && g.cursor * self.cs() < upto {
            let bytes = self.chunk_bytes(blocks, g.cursor)?;
            g.new.push((g.cursor, builder.add_chunk(&bytes)?));
            g.cursor += 1;
        }
        Ok(())
    }

    /// Walks base node `cid`, holding bytes `[off, off+len)` of the base
    /// (sizes checked when the base was opened or built), adding the gap's
    /// chunks it covers: a leaf that is exactly one of our chunks is linked
    /// as is, a subtree of one repeated full leaf is added as a run, and
    /// anything else is read and re-chunked.
    #[allow(clippy::too_many_arguments)]
    fn visit<B: BlockGet + BlockPut + ?Sized>(
        &self,
        w: &mut BaseWalk<'_, B>,
        b: &mut FileBuilder<'_, B>,
        cid: &Cid,
        off: u64,
        len: u64,
        depth: usize,
        record: bool,
        g: &mut Gap<'_>,
    ) -> Result<(), Error> {
        let cs = self.cs();
        let end = off.saturating_add(len);
        if len == 0 || end <= g.lo || off >= g.hi || end <= g.cursor * cs {
            return Ok(());
        }
        if depth > MAX_DEPTH {
            return Err(Error::Malformed("file DAG nested too deep"));
        }
        let inside = off >= g.lo && end <= g.hi && off.is_multiple_of(cs);
        let one_chunk = inside && len == self.chunk_len(off / cs);
        // A leaf (raw, or a dag-pb block with no links) is added as it is.
        let (node, tsize) = if cid.codec() == RAW {
            (None, len)
        } else {
            w.load(cid)?
        };
        let Some(node) = node else {
            let e = Entry {
                cid: *cid,
                size: len,
                tsize,
            };
            let reuse = one_chunk && reusable(&self.opts, cid);
            return self.add_leaf(w.blocks, b, g, off, end, reuse, record, e);
        };
        let Node::Pb { node: pb, data } = &*node else {
            return Err(Error::Malformed("raw block with a dag-pb CID"));
        };
        let uniform = w.uniform(cid, depth)?;
        if inside
            && let Some((leaf, count)) = uniform
            && leaf.size == cs
            && count.checked_mul(cs) == Some(len)
            && reusable(&self.opts, &leaf.cid)
        {
            self.add_unaligned(w.blocks, b, g, off)?;
            if g.cursor == off / cs {
                b.add_stored_run(leaf, count)?;
                g.cursor += count;
            }
            return Ok(());
        }
        let inline = data.data.as_ref().map_or(0, |d| d.len() as u64);
        if inline > 0 {
            self.add_unaligned(w.blocks, b, g, (off + inline).min(g.hi))?;
        }
        let mut pos = off + inline;
        for (l, &s) in pb.links.iter().zip(&data.blocksizes) {
            if pos >= g.hi {
                break;
            }
            // Leaves of a run stay implicit (a hole's edges would
            // otherwise become explicit chunks at every flush).
            let record = record && uniform.is_none();
            self.visit(w, b, &l.cid, pos, s, depth + 1, record, g)?;
            pos = pos.saturating_add(s);
        }
        Ok(())
    }

    /// Adds base leaf `e` at `[off, end)`: linked as is when `whole` (it is
    /// exactly one chunk of ours), else its chunks are re-chunked.
    #[allow(clippy::too_many_arguments)]
    fn add_leaf<B: BlockGet + BlockPut + ?Sized>(
        &self,
        blocks: &B,
        b: &mut FileBuilder<'_, B>,
        g: &mut Gap<'_>,
        off: u64,
        end: u64,
        whole: bool,
        record: bool,
        e: Entry,
    ) -> Result<(), Error> {
        if whole {
            self.add_unaligned(blocks, b, g, off)?;
            let k = off / self.cs();
            if g.cursor == k {
                b.add_stored_leaf(e)?;
                // A hole's leaf stays implicit: its neighbours in the
                // DAG would otherwise all become explicit at every flush.
                if record && !(e.size == self.cs() && e.cid == self.zero_leaf().cid) {
                    g.new.push((k, e));
                }
                g.cursor += 1;
            }
            Ok(())
        } else {
            self.add_unaligned(blocks, b, g, end.min(g.hi))
        }
    }
}

/// Runs a read plan against the store. A range of a DAG that gives more or
/// fewer bytes than planned (its sizes lie) is [`Error::Malformed`].
pub fn read_plan<B: BlockGet + ?Sized>(
    blocks: &B,
    cache: Option<&crate::unixfs::resolve::NodeCache>,
    plan: Vec<Segment>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    for seg in plan {
        match seg {
            Segment::Bytes(b) => out.extend_from_slice(&b),
            Segment::Zero(n) => out.resize(out.len() + n as usize, 0),
            Segment::Block { cid, offset, len } => {
                let start = out.len();
                read_range_cached(blocks, cache, &cid, offset, len, &mut |b| {
                    out.extend_from_slice(b);
                    Ok(())
                })?;
                if (out.len() - start) as u64 != len {
                    return Err(Error::Malformed("file DAG shorter than its sizes"));
                }
            }
        }
    }
    Ok(())
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockPut;
    use crate::unixfs::importer::import_file;
    use crate::unixfs::importer::tests::{MemStore, pattern};

    fn opts() -> ImportOptions {
        ImportOptions {
            chunk_size: 16,
            max_links: 3,
            ..Default::default()
        }
    }

    fn read(s: &MemStore, f: &FileContent) -> Vec<u8> {
        let mut out = Vec::new();
        read_plan(s, None, f.plan_read(0, u64::MAX), &mut out).unwrap();
        out
    }

    #[test]
    fn random_writes_match_a_model_and_the_importer() {
        let s = MemStore::default();
        let mut model = pattern(200);
        let base = import_file(&s, &opts(), &model[..], |_| {}).unwrap();
        let mut f = FileContent::from_entry(&s, opts(), base).unwrap();
        let ops: [(u64, &[u8]); 5] = [
            (5, b"hello"),
            (190, b"0123456789ABCDEF"),
            (300, b"x"),
            (16, &[7; 16]),
            (0, b""),
        ];
        for (off, data) in ops {
            f.write(&s, off, data).unwrap();
            let end = off as usize + data.len();
            if !data.is_empty() && end > model.len() {
                model.resize(end, 0);
            }
            model[off as usize..end].copy_from_slice(data);
            assert_eq!(read(&s, &f), model);
        }
        f.truncate(&s, 100).unwrap();
        model.truncate(100);
        f.truncate(&s, 150).unwrap();
        model.resize(150, 0);
        assert_eq!(read(&s, &f), model);
        let root = f.flush(&s).unwrap();
        let direct = import_file(&s, &opts(), &model[..], |_| {}).unwrap();
        assert_eq!(root, direct, "same bytes, same CID");
    }

    #[test]
    fn unaligned_base_is_rechunked() {
        let s = MemStore::default();
        let data = pattern(100);
        let odd = ImportOptions {
            chunk_size: 7,
            ..opts()
        };
        let base = import_file(&s, &odd, &data[..], |_| {}).unwrap();
        let mut f = FileContent::from_entry(&s, opts(), base).unwrap();
        f.write(&s, 50, b"!").unwrap();
        let mut model = data.clone();
        model[50] = b'!';
        assert_eq!(read(&s, &f), model);
        assert_eq!(
            f.flush(&s).unwrap(),
            import_file(&s, &opts(), &model[..], |_| {}).unwrap()
        );
    }

    /// A tiny deterministic generator (no extra dev-dependency).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % n.max(1)
        }
    }

    /// Random writes, truncates (into and out of holes and the base),
    /// flushes and reopens against a byte model: every read matches, every
    /// flush gives the importer's CID for the same bytes.
    #[test]
    fn sparse_content_matches_the_importer() {
        for (seed, o) in [
            ImportOptions {
                chunk_size: 512,
                max_links: 3,
                ..Default::default()
            },
            ImportOptions {
                chunk_size: 512,
                max_links: 4,
                ..ImportOptions::kubo_v0()
            },
            ImportOptions {
                chunk_size: 512,
                max_links: 2,
                ..Default::default()
            },
        ]
        .into_iter()
        .enumerate()
        {
            let s = MemStore::default();
            let mut rng = Lcg(seed as u64 + 1);
            let mut model: Vec<u8> = Vec::new();
            let mut f = FileContent::empty(o);
            for step in 0..300 {
                let big = 512 * 200;
                match rng.next(10) {
                    0..=4 => {
                        let off = if rng.next(3) == 0 {
                            rng.next(big)
                        } else {
                            rng.next(model.len() as u64 + 600)
                        };
                        let len = if rng.next(4) == 0 {
                            1 + rng.next(1500)
                        } else {
                            1 + rng.next(40)
                        };
                        let data: Vec<u8> = (0..len).map(|_| 1 + rng.next(255) as u8).collect();
                        f.write(&s, off, &data).unwrap();
                        let end = (off + len) as usize;
                        if end > model.len() {
                            model.resize(end, 0);
                        }
                        model[off as usize..end].copy_from_slice(&data);
                    }
                    5 | 6 => {
                        let size = if rng.next(3) == 0 {
                            rng.next(big)
                        } else {
                            rng.next(model.len() as u64 + 1000)
                        };
                        f.truncate(&s, size).unwrap();
                        model.resize(size as usize, 0);
                    }
                    7 => {
                        let root = f.flush(&s).unwrap();
                        let direct = import_file(&s, &o, &model[..], |_| {}).unwrap();
                        assert_eq!(root, direct, "seed {seed} step {step}: same bytes, same CID");
                    }
                    8 => {
                        // Reopen from the flushed DAG, as after a close.
                        let root = f.flush(&s).unwrap();
                        f = FileContent::from_entry(&s, o, root).unwrap();
                    }
                    _ => {
                        let off = rng.next(model.len() as u64 + 10);
                        let len = rng.next(3000);
                        let mut out = Vec::new();
                        read_plan(&s, None, f.plan_read(off, len), &mut out).unwrap();
                        let a = (off as usize).min(model.len());
                        let b = ((off + len) as usize).min(model.len());
                        assert_eq!(out, &model[a..b], "seed {seed} step {step}");
                    }
                }
                assert_eq!(f.size(), model.len() as u64);
            }
            assert_eq!(read(&s, &f), model);
            let root = f.flush(&s).unwrap();
            assert_eq!(root, import_file(&s, &o, &model[..], |_| {}).unwrap());
        }
    }

    #[test]
    fn shrinking_below_the_base_then_growing_gives_zeros() {
        for o in [
            opts(),
            ImportOptions {
                chunk_size: 7,
                ..opts()
            },
        ] {
            let s = MemStore::default();
            let data = pattern(200);
            let base = import_file(&s, &opts(), &data[..], |_| {}).unwrap();
            let mut f = FileContent::from_entry(&s, o, base).unwrap();
            f.truncate(&s, 50).unwrap();
            f.truncate(&s, 150).unwrap();
            let mut model = data[..50].to_vec();
            model.resize(150, 0);
            assert_eq!(read(&s, &f), model);
            assert_eq!(
                f.flush(&s).unwrap(),
                import_file(&s, &o, &model[..], |_| {}).unwrap()
            );
        }
    }

    /// A file node whose links are `leaves`, with the given sizes claimed.
    fn lying_node(s: &MemStore, leaves: &[Entry], blocksizes: Vec<u64>, filesize: u64) -> Entry {
        use crate::unixfs::data::UnixFsData;
        use crate::unixfs::pb::{PbLink, PbNode};
        let mut d = UnixFsData::new(DataType::File);
        d.filesize = Some(filesize);
        d.blocksizes = blocksizes;
        let bytes = PbNode {
            links: leaves.iter().map(|l| PbLink::new(l.cid, "", l.tsize)).collect(),
            data: Some(d.encode()),
        }
        .encode();
        let cid = crate::block::cid_v1(DAG_PB, &bytes);
        s.put(&cid, &bytes).unwrap();
        Entry {
            cid,
            size: Node::decode(&cid, bytes).unwrap().size(),
            tsize: 0,
        }
    }

    #[test]
    fn lying_sizes_are_malformed_not_a_panic() {
        let s = MemStore::default();
        let data = pattern(48);
        let chunks: Vec<&[u8]> = data.chunks(16).collect();
        let leaves = store_leaves(&s, &opts(), &chunks).unwrap();
        let honest = lying_node(&s, &leaves, vec![16, 16, 16], 48);
        assert!(FileContent::from_entry(&s, opts(), honest).is_ok());
        let lies = [
            (vec![16, 16, 1 << 40], (1 << 40) + 32),
            (vec![16, 16, 16], 1 << 50),
            (vec![16, 16, 16], 20),
            (vec![16, 16, 8], 40),
            (vec![16, 16], 32),
            (vec![16, 32, 0], 48),
        ];
        for (sizes, filesize) in lies {
            let root = lying_node(&s, &leaves, sizes.clone(), filesize);
            let r = FileContent::from_entry(&s, opts(), root);
            assert!(
                matches!(r, Err(Error::Malformed(_))),
                "{sizes:?} {filesize}: {:?}",
                r.err()
            );
        }
        // A lying subtree under an honest-looking root.
        let inner = lying_node(&s, &leaves, vec![16, 16, 100], 132);
        let root = lying_node(&s, &[inner, leaves[0]], vec![48, 16], 64);
        assert!(matches!(
            FileContent::from_entry(&s, opts(), root),
            Err(Error::Malformed(_))
        ));
        // Reads of a lying range never give the wrong number of bytes.
        let mut out = Vec::new();
        let plan = vec![Segment::Block {
            cid: lying_node(&s, &leaves, vec![16, 16, 100], 132).cid,
            offset: 0,
            len: 132,
        }];
        assert!(matches!(
            read_plan(&s, None, plan, &mut out),
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn huge_sparse_files_cost_what_is_written() {
        let s = MemStore::default();
        let o = ImportOptions::default();
        let mut f = FileContent::empty(o);
        assert!(f.truncate(&s, MAX_FILE_SIZE + 1).is_err());
        assert!(f.write(&s, MAX_FILE_SIZE, b"x").is_err());
        f.truncate(&s, MAX_FILE_SIZE).unwrap();
        assert_eq!(f.explicit_chunks(), 0);
        f.write(&s, MAX_FILE_SIZE / 3, b"middle").unwrap();
        f.write(&s, MAX_FILE_SIZE - 4, b"end!").unwrap();
        assert_eq!(f.explicit_chunks(), 2);
        assert!(f.referenced().count() <= 2);
        // A read across a hole is one segment, however long.
        let plan = f.plan_read(1 << 30, 1 << 40);
        assert!(matches!(plan[..], [Segment::Zero(n)] if n == 1 << 40), "{plan:?}");
        let mut out = Vec::new();
        read_plan(&s, None, f.plan_read(MAX_FILE_SIZE / 3 - 2, 10), &mut out).unwrap();
        assert_eq!(out, b"\0\0middle\0\0");
        let t = std::time::Instant::now();
        let root = f.flush(&s).unwrap();
        assert_eq!(root.size, MAX_FILE_SIZE);
        // A handful of distinct blocks: two leaves, the zero leaf, a few nodes per level.
        {
            let m = s.0.lock().unwrap();
            let mut kinds: Vec<(u64, usize)> = m.iter().map(|(c, b)| (c.codec(), b.len())).collect();
            kinds.sort();
            assert!(m.len() < 40, "{} {:?}", m.len(), kinds);
        }
        // Reopened (as after a close), changed and flushed again: still cheap.
        let mut g = FileContent::from_entry(&s, o, root).unwrap();
        g.write(&s, 12345 << 20, b"more").unwrap();
        let root2 = g.flush(&s).unwrap();
        assert_ne!(root2, root);
        assert!(g.explicit_chunks() <= 4, "{}", g.explicit_chunks());
        let mut out = Vec::new();
        read_plan(&s, None, g.plan_read(MAX_FILE_SIZE - 6, 100), &mut out).unwrap();
        assert_eq!(out, b"\0\0end!");
        // Writing the same bytes into a fresh hole gives the same DAG.
        let mut h = FileContent::empty(o);
        h.truncate(&s, MAX_FILE_SIZE).unwrap();
        h.write(&s, 12345 << 20, b"more").unwrap();
        h.write(&s, MAX_FILE_SIZE - 4, b"end!").unwrap();
        h.write(&s, MAX_FILE_SIZE / 3, b"middle").unwrap();
        assert_eq!(h.flush(&s).unwrap(), root2);
        // Shrinking to nothing and growing again: all zeros.
        g.truncate(&s, 0).unwrap();
        g.truncate(&s, 1 << 50).unwrap_err();
        g.truncate(&s, MAX_FILE_SIZE).unwrap();
        assert!(g.explicit_chunks() == 0);
        let mut z = FileContent::empty(o);
        z.truncate(&s, MAX_FILE_SIZE).unwrap();
        assert_eq!(g.flush(&s).unwrap(), z.flush(&s).unwrap());
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn runs_match_single_leaves() {
        let s = MemStore::default();
        for max_links in [2, 3, 5, 174] {
            let o = ImportOptions {
                chunk_size: 4,
                max_links,
                ..Default::default()
            };
            let leaf = store_leaves(&s, &o, &[b"abcd"]).unwrap()[0];
            let other = store_leaves(&s, &o, &[b"wxyz"]).unwrap()[0];
            for (pre, run, post) in [(0, 1, 0), (1, 7, 0), (3, 100, 2), (0, 1000, 1), (5, 30_000, 3)] {
                let mut a = FileBuilder::new(&s, o);
                let mut b = FileBuilder::new(&s, o);
                for _ in 0..pre {
                    a.add_stored_leaf(other).unwrap();
                    b.add_stored_leaf(other).unwrap();
                }
                a.add_stored_run(leaf, run).unwrap();
                for _ in 0..run {
                    b.add_stored_leaf(leaf).unwrap();
                }
                for _ in 0..post {
                    a.add_stored_leaf(other).unwrap();
                    b.add_stored_leaf(other).unwrap();
                }
                assert_eq!(
                    a.finish().unwrap(),
                    b.finish().unwrap(),
                    "{max_links} {pre} {run} {post}"
                );
            }
        }
    }
}
