//! The read-only `ipfs/` view: inodes for content addressed by CID. One
//! inode per CID (content is immutable, so the same CID is the same file
//! wherever it appears).

use crate::block::{BlockError, parse_cid};
use crate::blockservice::BlockService;
use crate::repo::Repo;
use crate::store::PinKind;
use crate::unixfs::Error as UfsError;
use crate::unixfs::reader::read_range_owned;
use crate::unixfs::resolve::{Kind, NodeCache, for_each_entry, lookup};
use cid::Cid;
use fuser::{Errno, FileType};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// ipfs/ inodes are numbered from here up.
const BASE: u64 = 1 << 40;

#[derive(Clone, Copy)]
pub struct IpfsNode {
    pub cid: Cid,
    pub kind: Kind,
    pub size: u64,
}

#[derive(Default)]
struct Table {
    by_cid: HashMap<Cid, u64>,
    nodes: Vec<IpfsNode>,
}

pub struct IpfsView {
    repo: Arc<Repo>,
    /// Local store, then peers.
    blocks: BlockService,
    table: Mutex<Table>,
    nodes: NodeCache,
    /// Read sessions of open files, with their open counts.
    sessions: Mutex<HashMap<u64, (Arc<BlockService>, usize)>>,
}

fn ufs_errno(e: UfsError) -> Errno {
    match e {
        UfsError::NoSuchEntry { .. } => Errno::ENOENT,
        UfsError::NotADirectory(_) => Errno::ENOTDIR,
        UfsError::IsADirectory(_) => Errno::EISDIR,
        UfsError::Block(BlockError::NotFound(c)) => {
            tracing::warn!("ipfs/: block {c} is not in the local store and no peer has it");
            Errno::EIO
        }
        e => {
            tracing::warn!("ipfs/: {e}");
            Errno::EIO
        }
    }
}

impl IpfsView {
    pub fn new(repo: Arc<Repo>, net: Option<crate::net::NetHandle>) -> Self {
        IpfsView {
            blocks: BlockService::new(repo.clone(), net).without_verify_ahead(),
            repo,
            table: Mutex::new(Table::default()),
            nodes: NodeCache::default(),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    pub fn owns(ino: u64) -> bool {
        ino >= BASE
    }

    pub fn node(&self, ino: u64) -> Option<IpfsNode> {
        let t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        t.nodes.get((ino.checked_sub(BASE)?) as usize).copied()
    }

    fn register(&self, cid: Cid) -> Result<u64, Errno> {
        if let Some(&ino) = self
            .table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_cid
            .get(&cid)
        {
            return Ok(ino);
        }
        let node = self.nodes.load(&self.blocks, &cid).map_err(ufs_errno)?;
        let n = IpfsNode {
            cid,
            kind: node.kind(),
            size: node.size(),
        };
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&ino) = t.by_cid.get(&cid) {
            return Ok(ino);
        }
        let ino = BASE + t.nodes.len() as u64;
        t.nodes.push(n);
        t.by_cid.insert(cid, ino);
        Ok(ino)
    }

    /// `ipfs/<name>`: the name must be a CID.
    pub fn lookup_root(&self, name: &str) -> Result<u64, Errno> {
        let cid = parse_cid(name).map_err(|_| Errno::ENOENT)?;
        self.register(cid)
    }

    pub fn lookup(&self, parent: u64, name: &str) -> Result<u64, Errno> {
        let p = self.node(parent).ok_or(Errno::ENOENT)?;
        let node = self.nodes.load(&self.blocks, &p.cid).map_err(ufs_errno)?;
        let cid = lookup(&self.blocks, &p.cid, &node, name)
            .map_err(ufs_errno)?
            .ok_or(Errno::ENOENT)?;
        self.register(cid)
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
            let child = self.register(cid)?;
            out.push((
                child,
                super::kind_of(self.node(child).ok_or(Errno::EIO)?.kind),
                name.into_bytes(),
            ));
        }
        Ok(out)
    }

    /// Listing `ipfs/` shows the pinned roots.
    pub fn list_roots(&self) -> Result<Vec<(u64, FileType, Vec<u8>)>, Errno> {
        let pins = self.repo.store.pins().map_err(|_| Errno::EIO)?;
        let mut out = Vec::new();
        for (cid, kind) in pins {
            if kind != PinKind::Recursive {
                continue;
            }
            if let Ok(ino) = self.register(cid) {
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
