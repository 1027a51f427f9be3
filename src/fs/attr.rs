//! Attributes and names of every inode: the root, `ipfs/` and `files/`.

use super::*;
use crate::unixfs::resolve::Kind;

pub(super) fn errno(e: &MfsError) -> Errno {
    if e.errno() == libc::EIO {
        tracing::warn!("files/: {e}");
    }
    Errno::from_i32(e.errno())
}

pub(super) fn kind_of(k: Kind) -> FileType {
    match k {
        Kind::Directory => FileType::Directory,
        Kind::File => FileType::RegularFile,
        Kind::Symlink => FileType::Symlink,
    }
}

/// The FUSE type of S_IFMT bits (special files included).
pub(super) fn file_type(ftype: u32) -> FileType {
    match ftype {
        libc::S_IFDIR => FileType::Directory,
        libc::S_IFLNK => FileType::Symlink,
        libc::S_IFIFO => FileType::NamedPipe,
        libc::S_IFSOCK => FileType::Socket,
        libc::S_IFCHR => FileType::CharDevice,
        libc::S_IFBLK => FileType::BlockDevice,
        _ => FileType::RegularFile,
    }
}

impl Inner {
    pub(super) fn attr(&self, ino: u64, kind: Kind, size: u64, perm: u32, mtime: SystemTime) -> FileAttr {
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: mtime,
            mtime,
            ctime: mtime,
            crtime: mtime,
            kind: kind_of(kind),
            perm: perm as u16,
            nlink: if kind == Kind::Directory { 2 } else { 1 },
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: BLKSIZE,
            flags: 0,
        }
    }

    pub(super) fn mfs_attr(&self, a: &Attr) -> FileAttr {
        FileAttr {
            atime: a.atime,
            ctime: a.ctime,
            nlink: a.nlink,
            uid: a.uid,
            gid: a.gid,
            kind: file_type(a.ftype),
            rdev: a.rdev as u32,
            blocks: a.blocks,
            ..self.attr(a.ino, a.kind, a.size, a.mode, a.mtime)
        }
    }

    /// An entry of snapshots/: the metadata it had in its snapshot.
    pub(super) fn snap_attr(&self, ino: u64, n: &SnapNode) -> FileAttr {
        let t = |(s, ns): (i64, u32)| match u64::try_from(s) {
            Ok(s) => UNIX_EPOCH + Duration::new(s, ns),
            Err(_) => UNIX_EPOCH - Duration::from_secs(s.unsigned_abs()),
        };
        if n.path.is_none() {
            return self.attr(ino, Kind::Directory, 0, 0o555, t((n.snap.time, 0)));
        }
        let default = match n.kind {
            Kind::Directory => 0o755,
            Kind::Symlink => 0o777,
            Kind::File => 0o644,
        };
        let m = n
            .meta
            .unwrap_or_else(|| crate::store::FileMeta::new(default, 0, 0));
        let own = |v: u32, mine: u32| {
            if v == crate::store::FileMeta::NO_OWNER {
                mine
            } else {
                v
            }
        };
        FileAttr {
            uid: own(m.uid, self.uid),
            gid: own(m.gid, self.gid),
            atime: t(m.atime),
            ctime: t(m.ctime),
            ..self.attr(ino, n.kind, n.size, m.mode & 0o7777, t((m.secs, m.nanos)))
        }
    }

    pub(super) fn dir_attr(&self, ino: u64, perm: u32) -> FileAttr {
        self.attr(ino, Kind::Directory, 0, perm, self.started)
    }

    /// Attributes and cache TTL of any inode.
    pub(super) fn getattr(&self, ino: u64) -> Result<(FileAttr, Duration), Errno> {
        match ino {
            ROOT => Ok((self.dir_attr(ROOT, 0o755), TTL)),
            IPFS => Ok((self.dir_attr(IPFS, 0o555), TTL)),
            SNAPS => Ok((self.dir_attr(SNAPS, 0o555), TTL)),
            i if SnapshotsView::owns(i) => {
                let n = self.snaps.node(i).ok_or(Errno::ENOENT)?;
                Ok((self.snap_attr(i, &n), TTL))
            }
            IPNS => Ok((self.dir_attr(IPNS, 0o555), TTL)),
            i if IpfsView::owns(i) => {
                let n = self.ipfs.node(i).ok_or(Errno::ENOENT)?;
                Ok((
                    self.attr(
                        i,
                        n.kind,
                        n.size,
                        if n.kind == Kind::Directory { 0o555 } else { 0o444 },
                        UNIX_EPOCH,
                    ),
                    IMMUTABLE_TTL,
                ))
            }
            i => self
                .mfs
                .getattr(i)
                .map(|a| (self.mfs_attr(&a), TTL))
                .map_err(|e| errno(&e)),
        }
    }

    pub(super) fn lookup(&self, parent: u64, name: &OsStr) -> Result<(FileAttr, Duration), Errno> {
        let name = name.to_str().ok_or(Errno::ENOENT)?;
        match parent {
            ROOT => match name {
                "ipfs" => self.getattr(IPFS),
                "ipns" => self.getattr(IPNS),
                "files" => self.getattr(FILES),
                "snapshots" => self.getattr(SNAPS),
                _ => Err(Errno::ENOENT),
            },
            // snapshots/ reads the index and blocks.
            p if mfs::io_forbidden() && (p == SNAPS || SnapshotsView::owns(p)) => Err(Errno::EAGAIN),
            SNAPS => {
                let ino = self.snaps.lookup_root(name)?;
                self.getattr(ino)
            }
            p if SnapshotsView::owns(p) => {
                let ino = self.snaps.lookup(p, name)?;
                self.getattr(ino)
            }
            // ipfs/ reads blocks: never in no-I/O mode.
            p if mfs::io_forbidden() && (p == IPFS || p == IPNS || IpfsView::owns(p)) => Err(Errno::EAGAIN),
            IPNS => {
                // The entry lives as long as the record's TTL; the node it
                // names is an immutable ipfs/ node.
                let (path, ttl) = self.ipns.resolve(name)?;
                let ino = self.ipfs.lookup_path(&path, false)?;
                Ok((self.getattr(ino)?.0, ttl))
            }
            IPFS => {
                let ino = self.ipfs.lookup_root(name)?;
                self.getattr(ino)
            }
            p if IpfsView::owns(p) => {
                let ino = self.ipfs.lookup(p, name)?;
                self.getattr(ino)
            }
            p => self
                .mfs
                .lookup(p, name)
                .map(|a| (self.mfs_attr(&a), TTL))
                .map_err(|e| errno(&e)),
        }
    }

    pub(super) fn list(&self, ino: u64) -> Result<Listing, Errno> {
        let parent = match ino {
            ROOT | IPFS | SNAPS | IPNS => ROOT,
            // ".." of an ipfs/ or snapshots/ node: the kernel fixes it up
            i if IpfsView::owns(i) || SnapshotsView::owns(i) => i,
            i => self.mfs.parent_of(i),
        };
        let mut out = vec![
            (ino, FileType::Directory, b".".to_vec()),
            (parent, FileType::Directory, b"..".to_vec()),
        ];
        match ino {
            ROOT => {
                out.push((IPFS, FileType::Directory, b"ipfs".to_vec()));
                out.push((IPNS, FileType::Directory, b"ipns".to_vec()));
                out.push((FILES, FileType::Directory, b"files".to_vec()));
                out.push((SNAPS, FileType::Directory, b"snapshots".to_vec()));
            }
            i if mfs::io_forbidden() && (i == SNAPS || SnapshotsView::owns(i)) => return Err(Errno::EAGAIN),
            SNAPS => out.extend(self.snaps.list_root()?),
            i if SnapshotsView::owns(i) => out.extend(self.snaps.list(i)?),
            i if mfs::io_forbidden() && (i == IPFS || i == IPNS || IpfsView::owns(i)) => {
                return Err(Errno::EAGAIN);
            }
            IPNS => {
                for key in self.ipns.list() {
                    let Ok((path, _)) = self.ipns.resolve(&key) else {
                        continue;
                    };
                    let Ok(ino) = self.ipfs.lookup_path(&path, true) else {
                        continue;
                    };
                    let kind = self
                        .ipfs
                        .node(ino)
                        .map_or(FileType::RegularFile, |n| kind_of(n.kind));
                    out.push((ino, kind, key.into_bytes()));
                }
            }
            IPFS => out.extend(self.ipfs.list_roots()?),
            i if IpfsView::owns(i) => out.extend(self.ipfs.list(i)?),
            i => {
                for (name, child, _, ftype) in self.mfs.readdir(i).map_err(|e| errno(&e))? {
                    out.push((child, file_type(ftype), name.into_bytes()));
                }
            }
        }
        Ok(out)
    }

    pub(super) fn cid_of(&self, ino: u64) -> Result<String, Errno> {
        match ino {
            ROOT | IPFS | SNAPS | IPNS => Err(Errno::ENODATA),
            i if SnapshotsView::owns(i) => Ok(self.snaps.node(i).ok_or(Errno::ENOENT)?.cid.to_string()),
            i if IpfsView::owns(i) => Ok(self.ipfs.node(i).ok_or(Errno::ENOENT)?.cid.to_string()),
            i => self
                .mfs
                .cid_of(i)
                .map(|e| e.cid.to_string())
                .map_err(|e| errno(&e)),
        }
    }
}

impl Inner {
    /// statfs of the mount (on the blocking pool: it reads the disk's).
    pub(super) fn statfs(&self, reply: ReplyStatfs) {
        let st = match nix::sys::statvfs::statvfs(&self.repo.path) {
            Ok(st) => st,
            Err(e) => return reply.error(Errno::from_i32(e as i32)),
        };
        // The repo's own usage (every stored block) as used, and what
        // the disk it lives on still has as free: df shows the repo,
        // not the host disk's other contents.
        let frsize = st.fragment_size().max(1);
        let used = (self.repo.store.total_bytes() + self.mfs.staged_bytes()).div_ceil(BLKSIZE as u64);
        let free = st.blocks_free() * frsize / BLKSIZE as u64;
        let avail = st.blocks_available() * frsize / BLKSIZE as u64;
        reply.statfs(
            used + free,
            free,
            avail,
            st.files(),
            st.files_free(),
            BLKSIZE,
            255,
            BLKSIZE,
        );
    }
}
