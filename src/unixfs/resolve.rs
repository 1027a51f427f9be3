//! Reading the structure of a UnixFS DAG: what a CID is (file, directory,
//! symlink), directory listings (plain and HAMT), and path resolution.

use super::data::{DataType, UnixFsData};
use super::hamt;
use super::pb::PbNode;
use super::{EntryVisitor, Error};
use crate::block::{BlockGet, DAG_PB, RAW};
use cid::Cid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Directory,
    Symlink,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Directory => "directory",
            Kind::Symlink => "symlink",
        }
    }
}

/// A decoded UnixFS node.
#[derive(Debug, Clone)]
pub enum Node {
    /// A raw block: file bytes.
    Raw(Vec<u8>),
    /// A dag-pb node with its UnixFS data.
    Pb { node: PbNode, data: UnixFsData },
}

impl Node {
    pub fn load<B: BlockGet + ?Sized>(blocks: &B, cid: &Cid) -> Result<Node, Error> {
        let bytes = blocks.get(cid)?;
        Node::decode(cid, bytes)
    }

    pub fn decode(cid: &Cid, bytes: Vec<u8>) -> Result<Node, Error> {
        match cid.codec() {
            RAW => Ok(Node::Raw(bytes)),
            DAG_PB => {
                let node = PbNode::decode(&bytes)?;
                let data = UnixFsData::decode(
                    node.data
                        .as_deref()
                        .ok_or(Error::Malformed("dag-pb node without UnixFS Data"))?,
                )?;
                Ok(Node::Pb { node, data })
            }
            codec => Err(Error::UnsupportedCodec { cid: *cid, codec }),
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Node::Raw(_) => Kind::File,
            Node::Pb { data, .. } => match data.kind {
                DataType::Directory | DataType::HamtShard => Kind::Directory,
                DataType::Symlink => Kind::Symlink,
                DataType::File | DataType::Raw | DataType::Metadata => Kind::File,
            },
        }
    }

    /// File size for files, target length for symlinks, 0 for directories.
    pub fn size(&self) -> u64 {
        match self {
            Node::Raw(b) => b.len() as u64,
            Node::Pb { data, .. } => match data.kind {
                DataType::Directory | DataType::HamtShard => 0,
                DataType::Symlink => data.data.as_ref().map_or(0, |d| d.len() as u64),
                _ => data.file_size(),
            },
        }
    }

    pub fn symlink_target(&self) -> Option<&[u8]> {
        match self {
            Node::Pb { data, .. } if data.kind == DataType::Symlink => {
                Some(data.data.as_deref().unwrap_or_default())
            }
            _ => None,
        }
    }

    pub fn mode(&self) -> Option<u32> {
        match self {
            Node::Pb { data, .. } => data.mode,
            Node::Raw(_) => None,
        }
    }
}

/// Decoded dag-pb nodes by CID, least recently used dropped first. Inner
/// nodes are small and hot: every read of a file passes through its root.
pub struct NodeCache(std::sync::Mutex<lru::LruCache<Cid, std::sync::Arc<Node>>>);

impl Default for NodeCache {
    fn default() -> Self {
        const NODES: usize = 4096;
        NodeCache(std::sync::Mutex::new(lru::LruCache::new(
            std::num::NonZeroUsize::new(NODES).unwrap_or(std::num::NonZeroUsize::MIN),
        )))
    }
}

impl NodeCache {
    /// Loads `cid`, from the cache when it is a dag-pb node seen before.
    pub fn load<B: BlockGet + ?Sized>(&self, blocks: &B, cid: &Cid) -> Result<std::sync::Arc<Node>, Error> {
        if cid.codec() != DAG_PB {
            return Ok(std::sync::Arc::new(Node::load(blocks, cid)?));
        }
        if let Some(n) = self.0.lock().unwrap_or_else(|e| e.into_inner()).get(cid) {
            return Ok(n.clone());
        }
        let n = std::sync::Arc::new(Node::load(blocks, cid)?);
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .put(*cid, n.clone());
        Ok(n)
    }
}

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub cid: Cid,
    pub tsize: Option<u64>,
}

/// Lists a directory node (plain or HAMT) in link order.
pub fn list<B: BlockGet + ?Sized>(blocks: &B, cid: &Cid, node: &Node) -> Result<Vec<DirEntry>, Error> {
    let mut out = Vec::new();
    for_each_entry(blocks, cid, node, &mut |name, cid, tsize| {
        out.push(DirEntry {
            name: name.to_string(),
            cid,
            tsize,
        });
        Ok(())
    })?;
    Ok(out)
}

/// Streams the entries of a directory without collecting them.
pub fn for_each_entry<B: BlockGet + ?Sized>(
    blocks: &B,
    cid: &Cid,
    node: &Node,
    f: &mut EntryVisitor<'_>,
) -> Result<(), Error> {
    match node {
        Node::Pb { node, data } if data.kind == DataType::Directory => {
            for l in &node.links {
                f(l.name(), l.cid, l.tsize)?;
            }
            Ok(())
        }
        Node::Pb { node, data } if data.kind == DataType::HamtShard => hamt::for_each(blocks, node, data, f),
        _ => Err(Error::NotADirectory(cid.to_string())),
    }
}

/// Looks `name` up in a directory node.
pub fn lookup<B: BlockGet + ?Sized>(
    blocks: &B,
    cid: &Cid,
    node: &Node,
    name: &str,
) -> Result<Option<Cid>, Error> {
    match node {
        Node::Pb { node, data } if data.kind == DataType::Directory => {
            Ok(node.links.iter().find(|l| l.name() == name).map(|l| l.cid))
        }
        Node::Pb { node, data } if data.kind == DataType::HamtShard => {
            Ok(hamt::lookup(blocks, node, data, name)?.map(|(c, _)| c))
        }
        _ => Err(Error::NotADirectory(cid.to_string())),
    }
}

/// A parsed `CID[/path…]` or `/ipfs/CID[/path…]` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpfsPath {
    pub root: Cid,
    pub components: Vec<String>,
}

impl std::fmt::Display for IpfsPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.root)?;
        for c in &self.components {
            write!(f, "/{c}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for IpfsPath {
    type Err = crate::block::ParseCidError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.strip_prefix("/ipfs/").unwrap_or(s);
        let mut parts = s.split('/').filter(|p| !p.is_empty());
        let root = crate::block::parse_cid(parts.next().unwrap_or(""))?;
        Ok(IpfsPath {
            root,
            components: parts.map(str::to_string).collect(),
        })
    }
}

/// Follows `path` from its root to the CID it names.
pub fn resolve<B: BlockGet + ?Sized>(blocks: &B, path: &IpfsPath) -> Result<Cid, Error> {
    let mut cid = path.root;
    let mut walked = cid.to_string();
    for name in &path.components {
        let node = Node::load(blocks, &cid)?;
        if node.kind() != Kind::Directory {
            return Err(Error::NotADirectory(walked));
        }
        cid = lookup(blocks, &cid, &node, name)?.ok_or_else(|| Error::NoSuchEntry {
            parent: walked.clone(),
            name: name.clone(),
        })?;
        walked.push('/');
        walked.push_str(name);
    }
    Ok(cid)
}
