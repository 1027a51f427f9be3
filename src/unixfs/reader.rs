//! Random-access reads of UnixFS files. A read at an offset descends only
//! into the children whose byte range it overlaps (found from `blocksizes`),
//! so it loads O(depth + blocks read) blocks, never the whole file.

use super::Error;
use super::data::DataType;
use super::resolve::{Node, NodeCache};
use crate::block::BlockGet;
use cid::Cid;
use std::sync::Arc;

/// Calls `sink` with the bytes of file `cid` in `[offset, offset+len)`, in
/// order, one leaf slice at a time.
pub fn read_range<B: BlockGet + ?Sized>(
    blocks: &B,
    cid: &Cid,
    offset: u64,
    len: u64,
    sink: &mut dyn FnMut(&[u8]) -> Result<(), Error>,
) -> Result<(), Error> {
    read_range_cached(blocks, None, cid, offset, len, sink)
}

/// [`read_range`], keeping decoded inner nodes in `cache` so that many small
/// reads of one file (FUSE) decode each inner node once.
pub fn read_range_cached<B: BlockGet + ?Sized>(
    blocks: &B,
    cache: Option<&NodeCache>,
    cid: &Cid,
    offset: u64,
    len: u64,
    sink: &mut dyn FnMut(&[u8]) -> Result<(), Error>,
) -> Result<(), Error> {
    read_pieces(blocks, cache, cid, offset, len, &mut |p| sink(&p))
}

/// The bytes of `[offset, offset+len)` as one buffer. A range inside one
/// raw leaf (the common FUSE read) is returned as read, without a copy.
pub fn read_range_owned<B: BlockGet + ?Sized>(
    blocks: &B,
    cache: Option<&NodeCache>,
    cid: &Cid,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    read_pieces(blocks, cache, cid, offset, len, &mut |p| {
        if out.is_empty() {
            out = p.into_owned();
        } else {
            out.extend_from_slice(&p);
        }
        Ok(())
    })?;
    Ok(out)
}

/// Children hinted ahead of a read (see [`BlockGet::prefetch`]): 64 MiB
/// of 256 KiB leaves, what a 1 Gbit/s link with 120 ms of round trip keeps
/// in flight (its window) with room to spare. Only hints: what is asked of
/// peers is bounded by their flow windows.
const PREFETCH_AHEAD: usize = 256;
/// Hints go out this many links at a time, beyond the window above.
const HINT_STRIDE: usize = 16;

/// A piece of file content: borrowed from a node, or a leaf read for it.
type Piece<'a> = std::borrow::Cow<'a, [u8]>;
type PieceSink<'s> = dyn FnMut(Piece<'_>) -> Result<(), Error> + 's;

fn read_pieces<B: BlockGet + ?Sized>(
    blocks: &B,
    cache: Option<&NodeCache>,
    cid: &Cid,
    offset: u64,
    len: u64,
    sink: &mut PieceSink<'_>,
) -> Result<(), Error> {
    if len == 0 {
        return Ok(());
    }
    if cid.codec() == crate::block::RAW {
        let b = blocks.get_range(cid, offset, len)?;
        return if b.is_empty() {
            Ok(())
        } else {
            sink(Piece::Owned(b))
        };
    }
    let node = load(blocks, cache, cid)?;
    let at = Place {
        cid,
        next: None,
        depth: 0,
    };
    read_node(blocks, cache, at, &node, offset, offset.saturating_add(len), sink)
}

/// Where a node sits: its CID, the sibling after it (whose first children
/// are hinted when a read nears this node's end, so that the look-ahead
/// does not run dry at every boundary between inner nodes), its depth.
#[derive(Clone, Copy)]
struct Place<'a> {
    cid: &'a Cid,
    next: Option<&'a Cid>,
    depth: usize,
}

/// Hints the first children of `next` when it is already local (it was
/// hinted by the parent long before): never waits for the network.
fn hint_next<B: BlockGet + ?Sized>(blocks: &B, cache: Option<&NodeCache>, next: Option<&Cid>, n: usize) {
    let Some(next) = next else { return };
    if n == 0 || next.codec() == crate::block::RAW || !blocks.has(next).unwrap_or(false) {
        return;
    }
    if let Ok(node) = load(blocks, cache, next)
        && let Node::Pb { node, .. } = node.as_ref()
    {
        blocks.prefetch(&mut node.links.iter().take(n).map(|l| l.cid));
    }
}

fn load<B: BlockGet + ?Sized>(blocks: &B, cache: Option<&NodeCache>, cid: &Cid) -> Result<Arc<Node>, Error> {
    match cache {
        Some(c) => c.load(blocks, cid),
        None => Ok(Arc::new(Node::load(blocks, cid)?)),
    }
}

fn read_node<B: BlockGet + ?Sized>(
    blocks: &B,
    cache: Option<&NodeCache>,
    at: Place<'_>,
    node: &Node,
    start: u64,
    end: u64,
    sink: &mut PieceSink<'_>,
) -> Result<(), Error> {
    let cid = at.cid;
    if at.depth > 64 {
        return Err(Error::Malformed("file DAG nested too deep"));
    }
    match node {
        Node::Raw(bytes) => emit(bytes, start, end, sink),
        Node::Pb { node, data } => {
            match data.kind {
                DataType::File | DataType::Raw => {}
                DataType::Directory | DataType::HamtShard => {
                    return Err(Error::IsADirectory(cid.to_string()));
                }
                DataType::Symlink | DataType::Metadata => {
                    return Err(Error::Unsupported(format!("{cid} is not a regular file")));
                }
            }
            // A node's content is its own Data bytes, then its children's.
            let inline = data.data.as_deref().unwrap_or_default();
            emit(inline, start, end, sink)?;
            let mut pos = inline.len() as u64;
            // Links hinted so far by this call: each is hinted once, a stride
            // at a time (hinting the whole window again at every child cost
            // 256 hint lookups per leaf read).
            let mut hinted_to = 0;
            if node.links.len() != data.blocksizes.len() && !node.links.is_empty() {
                return Err(Error::Malformed(
                    "UnixFS file: links and blocksizes differ in number",
                ));
            }
            for (i, (link, &size)) in node.links.iter().zip(&data.blocksizes).enumerate() {
                let child_end = pos.saturating_add(size);
                if child_end > start && pos < end {
                    // Sequential reads go on into the next children: let a
                    // network-backed store fetch a window of them ahead.
                    if hinted_to < (i + PREFETCH_AHEAD).min(node.links.len()) {
                        let from = hinted_to.max(i);
                        hinted_to = (i + PREFETCH_AHEAD + HINT_STRIDE).min(node.links.len());
                        blocks.prefetch(&mut node.links[from..hinted_to].iter().map(|l| l.cid));
                    }
                    // Every 32 children (loading the sibling costs a decode).
                    let left = node.links.len() - i;
                    if left % 32 == 0 || left == 1 {
                        hint_next(blocks, cache, at.next, PREFETCH_AHEAD.saturating_sub(left) + 32);
                    }
                    let s = start.saturating_sub(pos);
                    let e = end.min(child_end) - pos;
                    if link.cid.codec() == crate::block::RAW {
                        // A raw leaf: read only the bytes asked for.
                        sink(Piece::Owned(blocks.get_range(&link.cid, s, e - s)?))?;
                    } else {
                        let child = load(blocks, cache, &link.cid)?;
                        let next = node.links.get(i + 1).map(|l| &l.cid);
                        let place = Place {
                            cid: &link.cid,
                            next,
                            depth: at.depth + 1,
                        };
                        read_node(blocks, cache, place, &child, s, e, sink)?;
                    }
                }
                pos = child_end;
                if pos >= end {
                    break;
                }
            }
            Ok(())
        }
    }
}

fn emit(bytes: &[u8], start: u64, end: u64, sink: &mut PieceSink<'_>) -> Result<(), Error> {
    let len = bytes.len() as u64;
    if start >= len || end <= start {
        return Ok(());
    }
    let s = start as usize;
    let e = end.min(len) as usize;
    sink(Piece::Borrowed(&bytes[s..e]))
}

/// The leaves of a file DAG in order, as (cid, content size, tsize), when
/// every byte of the file is in a leaf (no Data inside inner nodes) — true of
/// everything Kubo, Helia and p2pfs write. None otherwise.
pub fn leaves<B: BlockGet + ?Sized>(
    blocks: &B,
    root: &Cid,
    root_tsize: u64,
) -> Result<Option<Vec<super::importer::Entry>>, Error> {
    let mut out = Vec::new();
    let mut stack = vec![(*root, None::<u64>, root_tsize)];
    while let Some((cid, size, tsize)) = stack.pop() {
        match Node::load(blocks, &cid)? {
            Node::Raw(b) => out.push(super::importer::Entry {
                cid,
                size: b.len() as u64,
                tsize,
            }),
            Node::Pb { node, data } => {
                if !matches!(data.kind, DataType::File | DataType::Raw) {
                    return Err(Error::Unsupported(format!("{cid} is not a file")));
                }
                let inline = data.data.as_ref().map_or(0, |d| d.len());
                if node.links.is_empty() {
                    let size = size.unwrap_or(inline as u64);
                    out.push(super::importer::Entry { cid, size, tsize });
                    continue;
                }
                if inline > 0 || node.links.len() != data.blocksizes.len() {
                    return Ok(None);
                }
                for (l, s) in node.links.iter().zip(&data.blocksizes).rev() {
                    stack.push((l.cid, Some(*s), l.tsize.unwrap_or(0)));
                }
            }
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unixfs::importer::tests::{MemStore, pattern};
    use crate::unixfs::importer::{ImportOptions, import_file};

    fn read(s: &MemStore, cid: &Cid, off: u64, len: u64) -> Vec<u8> {
        let mut out = Vec::new();
        read_range(s, cid, off, len, &mut |b| {
            out.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn ranges_match_source() {
        for opts in [
            ImportOptions {
                chunk_size: 7,
                max_links: 3,
                ..Default::default()
            },
            ImportOptions {
                chunk_size: 5,
                max_links: 2,
                ..ImportOptions::kubo_v0()
            },
        ] {
            let s = MemStore::default();
            let data = pattern(1000);
            let e = import_file(&s, &opts, &data[..], |_| {}).unwrap();
            assert_eq!(e.size, 1000);
            for (off, len) in [
                (0, 1000),
                (0, 5000),
                (3, 10),
                (999, 1),
                (1000, 5),
                (500, 0),
                (13, 400),
            ] {
                let want = &data[(off as usize).min(1000)..((off + len) as usize).min(1000)];
                assert_eq!(read(&s, &e.cid, off, len), want, "{opts:?} off {off} len {len}");
            }
        }
    }

    #[test]
    fn reads_only_needed_blocks() {
        let s = MemStore::default();
        let opts = ImportOptions {
            chunk_size: 10,
            max_links: 4,
            ..Default::default()
        };
        let data = pattern(10 * 64);
        let e = import_file(&s, &opts, &data[..], |_| {}).unwrap();
        // Remove every leaf except the one holding bytes 300..310: the read must still work.
        let keep = crate::block::cid_v1(crate::block::RAW, &data[300..310]);
        s.0.lock()
            .unwrap()
            .retain(|c, _| c.codec() != crate::block::RAW || *c == keep);
        assert_eq!(read(&s, &e.cid, 302, 5), &data[302..307]);
    }

    /// A store that records the hints it gets and which leaf each read was
    /// at when they came.
    struct Hinted {
        inner: MemStore,
        hints: std::sync::Mutex<Vec<Cid>>,
        reads: std::sync::Mutex<Vec<Cid>>,
    }

    impl BlockGet for Hinted {
        fn get(&self, cid: &Cid) -> Result<Vec<u8>, crate::block::BlockError> {
            self.reads.lock().unwrap().push(*cid);
            self.inner.get(cid)
        }
        fn has(&self, cid: &Cid) -> Result<bool, crate::block::BlockError> {
            self.inner.has(cid)
        }
        fn prefetch(&self, cids: &mut dyn Iterator<Item = Cid>) {
            let mut h = self.hints.lock().unwrap();
            h.extend(cids);
        }
    }

    #[test]
    fn a_long_read_hints_each_leaf_once_and_stays_a_window_ahead() {
        let inner = MemStore::default();
        let opts = ImportOptions {
            chunk_size: 4,
            max_links: 1000,
            ..Default::default()
        };
        let n = 700;
        let data = pattern(4 * n);
        let e = import_file(&inner, &opts, &data[..], |_| {}).unwrap();
        let s = Hinted {
            inner,
            hints: Default::default(),
            reads: Default::default(),
        };
        let mut out = Vec::new();
        let mut seen_hints = Vec::new();
        read_range(&s, &e.cid, 0, data.len() as u64, &mut |b| {
            out.extend_from_slice(b);
            seen_hints.push(s.hints.lock().unwrap().len());
            Ok(())
        })
        .unwrap();
        assert_eq!(out, data);
        let hints = s.hints.into_inner().unwrap();
        let reads: Vec<Cid> = s
            .reads
            .into_inner()
            .unwrap()
            .into_iter()
            .filter(|c| c.codec() == crate::block::RAW)
            .collect();
        assert_eq!(reads.len(), n);
        // Each leaf once, in file order.
        assert_eq!(hints, reads);
        // When leaf i is read, at least the next PREFETCH_AHEAD were hinted.
        for (i, h) in seen_hints.iter().enumerate() {
            assert!(*h >= (i + PREFETCH_AHEAD).min(n), "leaf {i}: only {h} hinted");
        }
    }
}
