//! The DAG a file's content started from: its size checked all the way
//! down when the file is opened, and walked at flush to link unchanged
//! subtrees and runs of one leaf (holes) without reading them.

use super::*;

/// The content size of file DAG `cid`, checked all the way down: every
/// `blocksizes` entry must be its child's content size, and `filesize` (if
/// present) the node's. Inner nodes are memoised by CID, so a DAG that links
/// one subtree many times is checked in time proportional to its blocks.
pub(super) fn content_size<B: BlockGet + ?Sized>(
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
pub(super) struct BaseWalk<'a, B: ?Sized> {
    pub(super) blocks: &'a B,
    pub(super) nodes: HashMap<Cid, (Arc<Node>, u64)>,
    /// Block lengths of dag-pb leaves seen (a hole's leaf is seen often).
    pub(super) leaves: HashMap<Cid, u64>,
    pub(super) uniform: HashMap<Cid, Option<(Entry, u64)>>,
}

impl<B: BlockGet + ?Sized> BaseWalk<'_, B> {
    /// A dag-pb node with links (None for a leaf) and its block length;
    /// both kinds are cached.
    pub(super) fn load(&mut self, cid: &Cid) -> Result<(Option<Arc<Node>>, u64), Error> {
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
    pub(super) fn uniform(&mut self, cid: &Cid, depth: usize) -> Result<Option<(Entry, u64)>, Error> {
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
