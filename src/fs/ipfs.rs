//! The read-only `ipfs/` view: inodes for content addressed by CID. One
//! inode per CID (content is immutable, so the same CID is the same file
//! wherever it appears), kept while the kernel knows it (its lookup count,
//! given back by FORGET) or a directory listing names it, then dropped: the
//! table holds what is in use, not everything ever looked at.

use crate::block::{BlockError, parse_cid};
use crate::blockservice::BlockService;
use crate::repo::Repo;
use crate::unixfs::Error as UfsError;
use crate::unixfs::reader::read_range_owned;
use crate::unixfs::resolve::{Kind, NodeCache, for_each_entry, lookup};
use cid::Cid;
use fuser::{Errno, FileType};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::held::Held;
use super::held::Hold;

/// ipfs/ inodes are numbered from here up.
const BASE: u64 = 1 << 40;

#[derive(Clone, Copy)]
pub struct IpfsNode {
    pub cid: Cid,
    pub kind: Kind,
    pub size: u64,
}

pub struct IpfsView {
    repo: Arc<Repo>,
    /// Local store, then peers.
    blocks: BlockService,
    table: Held<Cid, IpfsNode>,
    nodes: NodeCache,
    /// Read sessions of open files, with their open counts.
    sessions: Mutex<HashMap<u64, (Arc<BlockService>, usize)>>,
}

pub(super) fn ufs_errno(e: UfsError) -> Errno {
    match e {
        UfsError::Block(BlockError::NotFound(c)) => {
            tracing::warn!("ipfs/: block {c} is not in the local store and no peer has it")
        }
        ref e if e.errno() == libc::EIO => tracing::warn!("ipfs/: {e}"),
        _ => {}
    }
    Errno::from_i32(e.errno())
}

impl IpfsView {
    pub fn new(repo: Arc<Repo>, blocks: BlockService) -> Self {
        IpfsView {
            blocks,
            repo,
            table: Held::new(BASE),
            nodes: NodeCache::default(),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    pub fn owns(ino: u64) -> bool {
        (BASE..super::snapshots::BASE).contains(&ino)
    }

    pub fn node(&self, ino: u64) -> Option<IpfsNode> {
        self.table.node(ino)
    }

    /// The inode of `cid`, held for `why` (every call is one hold).
    fn register(&self, cid: Cid, why: Hold) -> Result<u64, Errno> {
        if let Some(ino) = self.table.hold(&cid, why) {
            return Ok(ino);
        }
        let node = self.nodes.load(&self.blocks, &cid).map_err(ufs_errno)?;
        let n = IpfsNode {
            cid,
            kind: node.kind(),
            size: node.size(),
        };
        Ok(self.table.insert(cid, n, why))
    }

    /// The kernel was given `ino` as an entry once more (READDIRPLUS).
    pub fn remember(&self, ino: u64) {
        self.table.remember(ino);
    }

    /// FORGET: the kernel gives back `n` lookups of `ino`.
    pub fn forget(&self, ino: u64, n: u64) {
        self.table.forget(ino, n);
    }

    /// RELEASEDIR of a listing: its entries are no longer held by it.
    pub fn unlist(&self, inos: impl Iterator<Item = u64>) {
        self.table.unlist(inos);
    }

    /// `ipfs/<name>`: the name must be a CID. Counts one lookup: the caller
    /// replies with the entry.
    pub fn lookup_root(&self, name: &str) -> Result<u64, Errno> {
        let cid = parse_cid(name).map_err(|_| Errno::ENOENT)?;
        self.register(cid, Hold::Lookup)
    }

    /// Entry `name` of directory `parent`; counts one lookup, like
    /// [`IpfsView::lookup_root`].
    /// The CID at `/ipfs/<CID>[/path]` (what an `ipns/` name points at),
    /// walked without holding the directories on the way.
    fn cid_at(&self, path: &str) -> Result<Cid, Errno> {
        let mut parts = path
            .strip_prefix("/ipfs/")
            .ok_or(Errno::ENOENT)?
            .split('/')
            .filter(|p| !p.is_empty());
        let mut cid = parse_cid(parts.next().ok_or(Errno::ENOENT)?).map_err(|_| Errno::ENOENT)?;
        for p in parts {
            let node = self.nodes.load(&self.blocks, &cid).map_err(ufs_errno)?;
            cid = lookup(&self.blocks, &cid, &node, p)
                .map_err(ufs_errno)?
                .ok_or(Errno::ENOENT)?;
        }
        Ok(cid)
    }

    /// The node at an `/ipfs/` path; counts one lookup (the caller replies
    /// with the entry), or with `listing` one listing hold.
    pub fn lookup_path(&self, path: &str, listing: bool) -> Result<u64, Errno> {
        let why = if listing { Hold::Listing } else { Hold::Lookup };
        self.register(self.cid_at(path)?, why)
    }

    pub fn lookup(&self, parent: u64, name: &str) -> Result<u64, Errno> {
        let p = self.node(parent).ok_or(Errno::ENOENT)?;
        let node = self.nodes.load(&self.blocks, &p.cid).map_err(ufs_errno)?;
        let cid = lookup(&self.blocks, &p.cid, &node, name)
            .map_err(ufs_errno)?
            .ok_or(Errno::ENOENT)?;
        self.register(cid, Hold::Lookup)
    }

    pub fn list(&self, ino: u64) -> Result<Vec<(u64, FileType, Vec<u8>)>, Errno> {
        let p = self.node(ino).ok_or(Errno::ENOENT)?;
        let node = self.nodes.load(&self.blocks, &p.cid).map_err(ufs_errno)?;
        let mut children = Vec::new();
        for_each_entry(&self.blocks, &p.cid, &node, &mut |name, cid, _| {
            children.push((name.to_string(), cid));
            Ok(())
        })
        .map_err(ufs_errno)?;
        let mut out = Vec::with_capacity(children.len());
        for (name, cid) in children {
            match self.register(cid, Hold::Listing) {
                Ok(child) => {
                    let kind = self
                        .node(child)
                        .map_or(FileType::RegularFile, |n| super::kind_of(n.kind));
                    out.push((child, kind, name.into_bytes()));
                }
                Err(e) => {
                    // No listing will be released for these: give them back.
                    self.unlist(out.iter().map(|e| e.0));
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    /// Listing `ipfs/` shows the pinned roots.
    pub fn list_roots(&self) -> Result<Vec<(u64, FileType, Vec<u8>)>, Errno> {
        let roots = crate::pinning::recursive_roots(&self.repo).map_err(|_| Errno::EIO)?;
        let mut out = Vec::new();
        for cid in roots {
            if let Ok(ino) = self.register(cid, Hold::Listing) {
                let k = self
                    .node(ino)
                    .map_or(FileType::RegularFile, |n| super::kind_of(n.kind));
                out.push((ino, k, cid.to_string().into_bytes()));
            }
        }
        Ok(out)
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (Arc<BlockService>, usize)>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A file was opened: its reads share one session (no I/O here).
    pub fn open(&self, ino: u64) {
        let mut s = self.sessions();
        s.entry(ino)
            .or_insert_with(|| (Arc::new(self.blocks.session()), 0))
            .1 += 1;
    }

    /// A file was closed: the last close ends its session, which cancels
    /// whatever it still fetches.
    pub fn release(&self, ino: u64) {
        let mut s = self.sessions();
        if let Some(e) = s.get_mut(&ino) {
            e.1 -= 1;
            if e.1 == 0 {
                s.remove(&ino);
            }
        }
    }

    pub fn read(&self, ino: u64, offset: u64, size: u32) -> Result<Vec<u8>, Errno> {
        let n = self.node(ino).ok_or(Errno::ENOENT)?;
        if n.kind != Kind::File {
            return Err(Errno::EISDIR);
        }
        let session = self.sessions().get(&ino).map(|e| e.0.clone());
        let blocks: &BlockService = session.as_deref().unwrap_or(&self.blocks);
        read_range_owned(blocks, Some(&self.nodes), &n.cid, offset, size as u64).map_err(ufs_errno)
    }

    pub fn readlink(&self, ino: u64) -> Result<Vec<u8>, Errno> {
        let n = self.node(ino).ok_or(Errno::ENOENT)?;
        let node = self.nodes.load(&self.blocks, &n.cid).map_err(ufs_errno)?;
        node.symlink_target().map(<[u8]>::to_vec).ok_or(Errno::EINVAL)
    }
}
