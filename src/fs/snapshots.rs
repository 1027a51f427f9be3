//! The read-only `snapshots/` view: one directory per snapshot of files/
//! (named by its name or UTC time), holding `files/` as it was: the
//! snapshot's DAG, with the mode, owner, times and `user.*` attributes
//! each entry had then (`Store::snapshot_meta`, `snapshot_xattrs`).
//! Inodes are per (snapshot, path), since metadata is per path; they are
//! made as entries are looked up, with their attributes, so `getattr`
//! touches only memory, and dropped as in ipfs/ once neither the kernel
//! (its lookup count, given back by FORGET) nor an open listing names them.

use super::held::{Held, Hold};
use super::ipfs::ufs_errno;
use crate::blockservice::BlockService;
use crate::repo::Repo;
use crate::store::{FileMeta, Snapshot, Xattrs, snapshot_dir_names};
use crate::unixfs::reader::read_range_owned;
use crate::unixfs::resolve::{Kind, NodeCache, for_each_entry, lookup};
use cid::Cid;
use fuser::{Errno, FileType};
use std::sync::Arc;

/// The snapshots/ directory.
pub const DIR: u64 = 4;
/// snapshots/ nodes are numbered from here up (ipfs/ ends below).
pub const BASE: u64 = 1 << 50;

#[derive(Clone)]
pub struct SnapNode {
    pub snap: Snapshot,
    /// None: the snapshot's own directory; Some(path) inside its files/
    /// ("" is files/ itself).
    pub path: Option<String>,
    pub cid: Cid,
    pub kind: Kind,
    pub size: u64,
    /// The entry's metadata in the snapshot, if it had any saved.
    pub meta: Option<FileMeta>,
}

type Key = (u64, Option<String>);

pub struct SnapshotsView {
    repo: Arc<Repo>,
    blocks: BlockService,
    table: Held<Key, SnapNode>,
    nodes: NodeCache,
}

fn store_err(e: impl std::fmt::Display) -> Errno {
    tracing::warn!("snapshots/: {e}");
    Errno::EIO
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

impl SnapshotsView {
    pub fn new(repo: Arc<Repo>, blocks: BlockService) -> Self {
        SnapshotsView {
            blocks,
            repo,
            table: Held::new(BASE),
            nodes: NodeCache::default(),
        }
    }

    pub fn owns(ino: u64) -> bool {
        ino >= BASE
    }

    pub fn node(&self, ino: u64) -> Option<SnapNode> {
        self.table.node(ino)
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

    /// The inode of an entry, made (with its attributes: I/O) if new, and
    /// held for `why` (every call is one hold).
    fn register(&self, snap: &Snapshot, path: Option<String>, cid: Cid, why: Hold) -> Result<u64, Errno> {
        let key = (snap.id, path.clone());
        if let Some(ino) = self.table.hold(&key, why) {
            return Ok(ino);
        }
        let (kind, size, meta) = match &path {
            None => (Kind::Directory, 0, None),
            Some(p) => {
                let node = self.nodes.load(&self.blocks, &cid).map_err(ufs_errno)?;
                let meta = self.repo.store.snapshot_meta(snap.seq, p).map_err(store_err)?;
                (node.kind(), node.size(), meta)
            }
        };
        let n = SnapNode {
            snap: snap.clone(),
            path,
            cid,
            kind,
            size,
            meta,
        };
        Ok(self.table.insert(key, n, why))
    }

    /// `snapshots/`: one directory per snapshot, oldest first.
    pub fn list_root(&self) -> Result<Vec<(u64, FileType, Vec<u8>)>, Errno> {
        let snaps = self.repo.store.snapshots().map_err(store_err)?;
        let names = snapshot_dir_names(&snaps);
        let mut out = Vec::with_capacity(snaps.len());
        for (name, s) in names.into_iter().zip(&snaps) {
            match self.register(s, None, s.root, Hold::Listing) {
                Ok(ino) => out.push((ino, FileType::Directory, name.into_bytes())),
                Err(e) => {
                    // No listing will be released for these: give them back.
                    self.unlist(out.iter().map(|e| e.0));
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    pub fn lookup_root(&self, name: &str) -> Result<u64, Errno> {
        let snaps = self.repo.store.snapshots().map_err(store_err)?;
        let names = snapshot_dir_names(&snaps);
        let i = names.iter().position(|n| n == name).ok_or(Errno::ENOENT)?;
        self.register(&snaps[i], None, snaps[i].root, Hold::Lookup)
    }

    pub fn lookup(&self, parent: u64, name: &str) -> Result<u64, Errno> {
        let p = self.node(parent).ok_or(Errno::ENOENT)?;
        let Some(dir) = &p.path else {
            return match name {
                "files" => self.register(&p.snap, Some(String::new()), p.snap.root, Hold::Lookup),
                _ => Err(Errno::ENOENT),
            };
        };
        let node = self.nodes.load(&self.blocks, &p.cid).map_err(ufs_errno)?;
        let cid = lookup(&self.blocks, &p.cid, &node, name)
            .map_err(ufs_errno)?
            .ok_or(Errno::ENOENT)?;
        self.register(&p.snap, Some(join(dir, name)), cid, Hold::Lookup)
    }

    pub fn list(&self, ino: u64) -> Result<Vec<(u64, FileType, Vec<u8>)>, Errno> {
        let p = self.node(ino).ok_or(Errno::ENOENT)?;
        let Some(dir) = &p.path else {
            let files = self.register(&p.snap, Some(String::new()), p.snap.root, Hold::Listing)?;
            return Ok(vec![(files, FileType::Directory, b"files".to_vec())]);
        };
        let node = self.nodes.load(&self.blocks, &p.cid).map_err(ufs_errno)?;
        let mut children = Vec::new();
        for_each_entry(&self.blocks, &p.cid, &node, &mut |name, cid, _| {
            children.push((name.to_string(), cid));
            Ok(())
        })
        .map_err(ufs_errno)?;
        let mut out = Vec::with_capacity(children.len());
        for (name, cid) in children {
            match self.register(&p.snap, Some(join(dir, &name)), cid, Hold::Listing) {
                Ok(child) => {
                    let kind = self
                        .node(child)
                        .map_or(FileType::RegularFile, |n| super::kind_of(n.kind));
                    out.push((child, kind, name.into_bytes()));
                }
                Err(e) => {
                    self.unlist(out.iter().map(|e| e.0));
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    pub fn read(&self, ino: u64, offset: u64, size: u32) -> Result<Vec<u8>, Errno> {
        let n = self.node(ino).ok_or(Errno::ENOENT)?;
        if n.kind != Kind::File || n.path.is_none() {
            return Err(Errno::EISDIR);
        }
        read_range_owned(&self.blocks, Some(&self.nodes), &n.cid, offset, size as u64).map_err(ufs_errno)
    }

    pub fn readlink(&self, ino: u64) -> Result<Vec<u8>, Errno> {
        let n = self.node(ino).ok_or(Errno::ENOENT)?;
        let node = self.nodes.load(&self.blocks, &n.cid).map_err(ufs_errno)?;
        node.symlink_target().map(<[u8]>::to_vec).ok_or(Errno::EINVAL)
    }

    /// The `user.*` attributes the entry had in its snapshot.
    pub fn xattrs(&self, ino: u64) -> Result<Xattrs, Errno> {
        let n = self.node(ino).ok_or(Errno::ENOENT)?;
        match &n.path {
            None => Ok(Xattrs::new()),
            Some(p) => self.repo.store.snapshot_xattrs(n.snap.seq, p).map_err(store_err),
        }
    }
}
