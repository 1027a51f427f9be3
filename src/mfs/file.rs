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

#[path = "file_base.rs"]
mod base;
use base::{BaseWalk, content_size};

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
#[path = "file_tests.rs"]
mod tests;
