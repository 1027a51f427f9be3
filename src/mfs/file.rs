//! A file in the writable tree whose content is being changed.
//!
//! The content is a list of fixed-size chunks, each either a leaf already in
//! the store (reused as is: a random write rewrites only the chunks it
//! touches), a range of the previous DAG (when its leaves do not line up with
//! our chunks), zeros (sparse growth costs no memory), or bytes in memory.
//! Chunks that fill up are hashed and stored at once, so a long sequential
//! write keeps one partial chunk in memory, never the file.

use crate::block::{BlockGet, BlockPut};
use crate::unixfs::Error;
use crate::unixfs::importer::{Entry, FileBuilder, ImportOptions, store_leaves};
use crate::unixfs::reader::{leaves, read_range, read_range_cached};
use cid::Cid;

#[derive(Debug, Clone)]
enum Chunk {
    Stored(Entry),
    /// `len` bytes of `base` starting at this chunk's offset.
    Base(u32),
    Zero(u32),
    Dirty(Vec<u8>),
}

impl Chunk {
    fn len(&self) -> u64 {
        match self {
            Chunk::Stored(e) => e.size,
            Chunk::Base(n) | Chunk::Zero(n) => *n as u64,
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
    base: Option<Cid>,
    chunks: Vec<Chunk>,
    size: u64,
    dirty_bytes: usize,
    /// The DAG root for the current content, when nothing changed since.
    clean: Option<Entry>,
}

/// Memory kept in dirty chunks before full ones are stored early.
const DIRTY_LIMIT: usize = 32 << 20;

impl FileContent {
    pub fn empty(opts: ImportOptions) -> Self {
        FileContent {
            opts,
            base: None,
            chunks: Vec::new(),
            size: 0,
            dirty_bytes: 0,
            clean: None,
        }
    }

    /// Opens existing content for changes.
    pub fn from_entry<B: BlockGet + ?Sized>(
        blocks: &B,
        opts: ImportOptions,
        root: Entry,
    ) -> Result<Self, Error> {
        let cs = opts.chunk_size as u64;
        let mut f = FileContent {
            opts,
            base: Some(root.cid),
            chunks: Vec::new(),
            size: root.size,
            dirty_bytes: 0,
            clean: Some(root),
        };
        let aligned = leaves(blocks, &root.cid, root.tsize)?.filter(|ls| {
            let n = ls.len();
            ls.iter()
                .enumerate()
                .all(|(i, l)| l.size == cs || (i + 1 == n && l.size <= cs))
        });
        f.chunks = match aligned {
            Some(ls) if root.size > 0 => ls.into_iter().map(Chunk::Stored).collect(),
            _ => (0..root.size.div_ceil(cs))
                .map(|i| Chunk::Base((root.size - i * cs).min(cs) as u32))
                .collect(),
        };
        Ok(f)
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether every byte is in memory (flushing reads nothing).
    pub fn in_memory(&self) -> bool {
        self.chunks
            .iter()
            .all(|c| matches!(c, Chunk::Dirty(_) | Chunk::Zero(_)))
    }

    pub fn is_clean(&self) -> Option<Entry> {
        self.clean
    }

    /// Blocks this content references that may not be under any root yet
    /// (GC must keep them).
    pub fn referenced(&self) -> impl Iterator<Item = Cid> + '_ {
        self.chunks
            .iter()
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

    fn chunk_bytes<B: BlockGet + ?Sized>(&self, blocks: &B, i: usize) -> Result<Vec<u8>, Error> {
        let cs = self.cs();
        let mut out = Vec::with_capacity(self.chunks[i].len() as usize);
        match &self.chunks[i] {
            Chunk::Dirty(b) => out.extend_from_slice(b),
            Chunk::Zero(n) => out.resize(*n as usize, 0),
            Chunk::Stored(e) => read_range(blocks, &e.cid, 0, e.size, &mut |b| {
                out.extend_from_slice(b);
                Ok(())
            })?,
            Chunk::Base(n) => {
                let base = self.base.ok_or(Error::Malformed("base range without a base"))?;
                read_range(blocks, &base, i as u64 * cs, *n as u64, &mut |b| {
                    out.extend_from_slice(b);
                    Ok(())
                })?
            }
        }
        Ok(out)
    }

    /// Plans a read of `[offset, offset+len)`; run it with [`read_plan`].
    pub fn plan_read(&self, offset: u64, len: u64) -> Vec<Segment> {
        let cs = self.cs();
        let end = (offset.saturating_add(len)).min(self.size);
        let mut out = Vec::new();
        let mut pos = offset;
        while pos < end {
            let i = (pos / cs) as usize;
            let start = pos - i as u64 * cs;
            let n = (self.chunks[i].len() - start).min(end - pos);
            out.push(match &self.chunks[i] {
                Chunk::Stored(e) => Segment::Block {
                    cid: e.cid,
                    offset: start,
                    len: n,
                },
                Chunk::Base(_) => Segment::Block {
                    cid: self.base.unwrap_or_default(),
                    offset: i as u64 * cs + start,
                    len: n,
                },
                Chunk::Zero(_) => Segment::Zero(n),
                Chunk::Dirty(b) => Segment::Bytes(b[start as usize..(start + n) as usize].to_vec()),
            });
            pos += n;
        }
        out
    }

    fn make_dirty<B: BlockGet + ?Sized>(&mut self, blocks: &B, i: usize) -> Result<(), Error> {
        if !matches!(self.chunks[i], Chunk::Dirty(_)) {
            let bytes = self.chunk_bytes(blocks, i)?;
            self.dirty_bytes += bytes.len();
            self.chunks[i] = Chunk::Dirty(bytes);
        }
        Ok(())
    }

    /// Grows or shrinks to `size`; new bytes are zeros.
    pub fn truncate<B: BlockGet + ?Sized>(&mut self, blocks: &B, size: u64) -> Result<(), Error> {
        let cs = self.cs();
        if size == self.size {
            return Ok(());
        }
        self.clean = None;
        if size < self.size {
            let n = size.div_ceil(cs) as usize;
            for c in self.chunks.drain(n..) {
                if let Chunk::Dirty(b) = c {
                    self.dirty_bytes -= b.len();
                }
            }
            let tail = size - (n as u64).saturating_sub(1) * cs;
            if n > 0 && self.chunks[n - 1].len() != tail {
                self.make_dirty(blocks, n - 1)?;
                if let Chunk::Dirty(b) = &mut self.chunks[n - 1] {
                    self.dirty_bytes -= b.len() - tail as usize;
                    b.truncate(tail as usize);
                }
            }
        } else {
            // Fill the last partial chunk, then add zero chunks.
            if let Some(last) = self.chunks.len().checked_sub(1) {
                let have = self.chunks[last].len();
                if have < cs {
                    let want = (have + (size - self.size)).min(cs);
                    match &mut self.chunks[last] {
                        Chunk::Zero(n) => *n = want as u32,
                        _ => {
                            self.make_dirty(blocks, last)?;
                            if let Chunk::Dirty(b) = &mut self.chunks[last] {
                                self.dirty_bytes += (want - have) as usize;
                                b.resize(want as usize, 0);
                            }
                        }
                    }
                }
            }
            let mut covered: u64 = self.chunks.iter().map(Chunk::len).sum();
            while covered < size {
                let n = (size - covered).min(cs);
                self.chunks.push(Chunk::Zero(n as u32));
                covered += n;
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
        let end = offset + data.len() as u64;
        if end > self.size {
            self.truncate(blocks, end)?;
        }
        self.clean = None;
        let mut pos = offset;
        let mut src = data;
        let mut full = Vec::new();
        while !src.is_empty() {
            let i = (pos / cs) as usize;
            let start = (pos - i as u64 * cs) as usize;
            let n = (self.chunks[i].len() as usize - start).min(src.len());
            if let Chunk::Zero(z) = self.chunks[i] {
                // Build the chunk from the data itself: zero only the gaps.
                let z = z as usize;
                let mut b = Vec::with_capacity(z);
                b.resize(start, 0);
                b.extend_from_slice(&src[..n]);
                b.resize(z, 0);
                self.dirty_bytes += z;
                self.chunks[i] = Chunk::Dirty(b);
            } else {
                self.make_dirty(blocks, i)?;
                if let Chunk::Dirty(b) = &mut self.chunks[i] {
                    b[start..start + n].copy_from_slice(&src[..n]);
                }
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
            for i in 0..self.chunks.len() {
                if matches!(&self.chunks[i], Chunk::Dirty(b) if b.len() as u64 == cs) {
                    self.store_chunk(blocks, i)?;
                }
            }
        }
        Ok(())
    }

    fn store_chunk<B: BlockPut + ?Sized>(&mut self, blocks: &B, i: usize) -> Result<(), Error> {
        self.store_chunks(blocks, &[i])
    }

    /// Hashes (on all cores) and stores the given dirty chunks.
    fn store_chunks<B: BlockPut + ?Sized>(&mut self, blocks: &B, idx: &[usize]) -> Result<(), Error> {
        let idx: Vec<usize> = idx
            .iter()
            .copied()
            .filter(|&i| matches!(self.chunks[i], Chunk::Dirty(_)))
            .collect();
        let bufs: Vec<&[u8]> = idx
            .iter()
            .filter_map(|&i| {
                if let Chunk::Dirty(b) = &self.chunks[i] {
                    Some(b.as_slice())
                } else {
                    None
                }
            })
            .collect();
        let entries = store_leaves(blocks, &self.opts, &bufs)?;
        for (i, e) in idx.into_iter().zip(entries) {
            self.dirty_bytes -= e.size as usize;
            self.chunks[i] = Chunk::Stored(e);
        }
        Ok(())
    }

    /// Stores what is not stored yet and returns the DAG root: the same CID
    /// `p2pfs add` gives the same bytes.
    pub fn flush<B: BlockGet + BlockPut + ?Sized>(&mut self, blocks: &B) -> Result<Entry, Error> {
        if let Some(e) = self.clean {
            return Ok(e);
        }
        let mut builder = FileBuilder::new(blocks, self.opts);
        for i in 0..self.chunks.len() {
            let entry = match &self.chunks[i] {
                Chunk::Stored(e) => *e,
                _ => {
                    let bytes = self.chunk_bytes(blocks, i)?;
                    let e = builder.add_chunk(&bytes)?;
                    if let Chunk::Dirty(b) = &self.chunks[i] {
                        self.dirty_bytes -= b.len();
                    }
                    self.chunks[i] = Chunk::Stored(e);
                    continue;
                }
            };
            builder.add_stored_leaf(entry)?;
        }
        let root = builder.finish()?;
        self.base = Some(root.cid);
        self.clean = Some(root);
        Ok(root)
    }
}

/// Runs a read plan against the store.
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
                read_range_cached(blocks, cache, &cid, offset, len, &mut |b| {
                    out.extend_from_slice(b);
                    Ok(())
                })?
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
