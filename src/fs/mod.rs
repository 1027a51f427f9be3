//! The FUSE filesystem: `/ipfs/<CID>/…` (read-only, any content by CID) and
//! `/files/…` (the writable tree). A request is first tried on the FUSE
//! thread in no-I/O mode (see `mfs::without_io`): most requests on the
//! writable tree touch only memory and are answered at once. Anything that
//! needs the disk (or a busy lock) is handed to tokio's blocking pool and
//! answered from there, so a FUSE thread never waits on I/O.

mod attr;
mod held;
mod ipfs;
mod ipns;
mod kernel;
pub mod mount;
mod passthrough;
mod snapshots;

use attr::{errno, kind_of};

use crate::mfs::{self, Attr, Mfs, MfsError, Owner, SetAttr};
use crate::repo::Repo;
use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, KernelConfig,
    LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyDirectoryPlus,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use ipfs::IpfsView;
use ipns::IpnsView;
use snapshots::{SnapNode, SnapshotsView};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ROOT: u64 = 1;
const IPFS: u64 = 2;
const FILES: u64 = mfs::ROOT;
const SNAPS: u64 = snapshots::DIR;
/// `ipns/`: names resolved on lookup (files/ inodes start at 2^20).
const IPNS: u64 = 5;
/// Content under ipfs/ never changes: let the kernel cache it for long.
const IMMUTABLE_TTL: Duration = Duration::from_secs(3600);
const TTL: Duration = Duration::from_secs(1);
pub const CID_XATTR: &str = "user.p2pfs.cid";
/// st_blksize: tools like cp size their buffers from it.
const BLKSIZE: u32 = 1 << 20;

/// A directory listing: (inode, type, name), snapshotted at opendir.
type Listing = Vec<(u64, FileType, Vec<u8>)>;

struct Inner {
    repo: Arc<Repo>,
    mfs: Arc<Mfs>,
    ipfs: IpfsView,
    snaps: SnapshotsView,
    ipns: IpnsView,
    uid: u32,
    gid: u32,
    started: SystemTime,
    dirs: Mutex<HashMap<u64, Arc<Listing>>>,
    next_fh: AtomicU64,
    pt: passthrough::Passthrough,
}

pub struct P2pFs {
    inner: Arc<Inner>,
    rt: tokio::runtime::Handle,
}

impl P2pFs {
    /// `blocks` reads content the store lacks (through the network when
    /// the daemon made it with one); both read-only views share its fetches.
    pub fn new(
        repo: Arc<Repo>,
        mfs: Arc<Mfs>,
        blocks: crate::blockservice::BlockService,
        names: Option<Arc<crate::namesys::Names>>,
        rt: tokio::runtime::Handle,
    ) -> Self {
        let blocks = blocks.without_verify_ahead();
        let inner = Inner {
            snaps: SnapshotsView::new(repo.clone(), blocks.session()),
            ipfs: IpfsView::new(repo.clone(), blocks),
            ipns: IpnsView::new(repo.clone(), names),
            repo,
            mfs,
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            started: SystemTime::now(),
            dirs: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            pt: Default::default(),
        };
        P2pFs {
            inner: Arc::new(inner),
            rt,
        }
    }

    /// Runs `f` on the blocking pool: FUSE threads never wait on the disk.
    fn spawn(&self, f: impl FnOnce(&Inner) + Send + 'static) {
        let inner = self.inner.clone();
        self.rt.spawn_blocking(move || f(&inner));
    }
}

/// Replies that can carry an error (fuser's own trait is private).
trait ErrReply: Send + 'static {
    fn fail(self, e: Errno);
}

macro_rules! err_reply {
    ($($t:ty),*) => { $(impl ErrReply for $t { fn fail(self, e: Errno) { self.error(e) } })* };
}
err_reply!(
    ReplyEntry,
    ReplyAttr,
    ReplyEmpty,
    ReplyWrite,
    ReplyCreate,
    ReplyOpen,
    ReplyXattr
);

impl P2pFs {
    /// Answers a request: first right here in no-I/O mode (most requests on
    /// the writable tree touch only memory), else on the blocking pool.
    fn run<T: 'static, R: ErrReply>(
        &self,
        reply: R,
        op: impl Fn(&Inner) -> Result<T, Errno> + Send + 'static,
        done: impl FnOnce(&Inner, R, T) + Send + 'static,
    ) {
        match mfs::without_io(|| op(&self.inner)) {
            Err(e) if e.code() == libc::EAGAIN => self.spawn(move |fs| match op(fs) {
                Ok(v) => done(fs, reply, v),
                Err(e) => reply.fail(e),
            }),
            Ok(v) => done(&self.inner, reply, v),
            Err(e) => reply.fail(e),
        }
    }
}

/// Who made a request: new entries are theirs.
fn owner(req: &Request) -> Owner {
    Owner {
        uid: req.uid(),
        gid: req.gid(),
    }
}

/// Writes under ipfs/, snapshots/ or at the top level are refused.
fn writable(ino: u64) -> Result<(), Errno> {
    if ino == ROOT
        || ino == IPFS
        || ino == SNAPS
        || ino == IPNS
        || IpfsView::owns(ino)
        || SnapshotsView::owns(ino)
    {
        Err(Errno::EROFS)
    } else {
        Ok(())
    }
}

macro_rules! try_reply {
    ($reply:expr, $e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return $reply.error(e),
        }
    };
}

// After the macro: it uses try_reply!.
mod xattr;

impl Filesystem for P2pFs {
    fn init(&mut self, _req: &Request, cfg: &mut KernelConfig) -> std::io::Result<()> {
        self.inner.negotiate(cfg);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let name = name.to_os_string();
        self.run(
            reply,
            move |fs| fs.lookup(parent.0, &name),
            |_, reply, (attr, ttl)| reply.entry(&ttl, &attr, Generation(0)),
        );
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        self.run(
            reply,
            move |fs| fs.getattr(ino.0),
            |_, reply, (attr, ttl)| reply.attr(&ttl, &attr),
        );
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        if let Err(e) = writable(ino.0) {
            return reply.error(e);
        }
        let time = |t: Option<TimeOrNow>| {
            t.map(|t| match t {
                TimeOrNow::SpecificTime(t) => t,
                TimeOrNow::Now => SystemTime::now(),
            })
        };
        let s = SetAttr {
            size,
            mode,
            uid,
            gid,
            atime: time(atime),
            mtime: time(mtime),
            ctime,
        };
        self.run(
            reply,
            move |fs| fs.mfs.setattr(ino.0, &s).map_err(|e| errno(&e)),
            |fs, reply, a| reply.attr(&TTL, &fs.mfs_attr(&a)),
        );
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        self.spawn(move |fs| {
            let target = if IpfsView::owns(ino.0) {
                try_reply!(reply, fs.ipfs.readlink(ino.0))
            } else if SnapshotsView::owns(ino.0) {
                try_reply!(reply, fs.snaps.readlink(ino.0))
            } else {
                try_reply!(reply, fs.mfs.readlink(ino.0).map_err(|e| errno(&e)))
            };
            reply.data(&target);
        });
    }

    fn mkdir(&self, req: &Request, parent: INodeNo, name: &OsStr, mode: u32, umask: u32, reply: ReplyEntry) {
        if let Err(e) = writable(parent.0) {
            return reply.error(e);
        }
        let who = owner(req);
        let name = name.to_os_string();
        self.run(
            reply,
            move |fs| {
                let name = name.to_str().ok_or(Errno::EINVAL)?;
                fs.mfs
                    .mkdir(parent.0, name, mode & !umask, who)
                    .map_err(|e| errno(&e))
            },
            |fs, reply, a| reply.entry(&TTL, &fs.mfs_attr(&a), Generation(0)),
        );
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        if let Err(e) = writable(parent.0) {
            return reply.error(e);
        }
        let who = owner(req);
        let name = name.to_os_string();
        let mode = (mode & libc::S_IFMT) | (mode & 0o7777 & !umask);
        self.run(
            reply,
            move |fs| {
                let name = name.to_str().ok_or(Errno::EINVAL)?;
                fs.mfs
                    .mknod(parent.0, name, mode, rdev as u64, who)
                    .map_err(|e| errno(&e))
            },
            |fs, reply, a| reply.entry(&TTL, &fs.mfs_attr(&a), Generation(0)),
        );
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, false, reply);
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, true, reply);
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &std::path::Path,
        reply: ReplyEntry,
    ) {
        if let Err(e) = writable(parent.0) {
            return reply.error(e);
        }
        let who = owner(req);
        let (name, target) = (link_name.to_os_string(), target.as_os_str().as_bytes().to_vec());
        self.run(
            reply,
            move |fs| {
                let name = name.to_str().ok_or(Errno::EINVAL)?;
                fs.mfs
                    .symlink(parent.0, name, &target, who)
                    .map_err(|e| errno(&e))
            },
            |fs, reply, a| reply.entry(&TTL, &fs.mfs_attr(&a), Generation(0)),
        );
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if writable(parent.0).and(writable(newparent.0)).is_err() {
            return reply.error(Errno::EROFS);
        }
        if flags.contains(RenameFlags::RENAME_WHITEOUT) {
            return reply.error(Errno::EINVAL);
        }
        let noreplace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        let exchange = flags.contains(RenameFlags::RENAME_EXCHANGE);
        let (name, newname) = (name.to_os_string(), newname.to_os_string());
        self.run(
            reply,
            move |fs| {
                let (Some(name), Some(newname)) = (name.to_str(), newname.to_str()) else {
                    return Err(Errno::EINVAL);
                };
                let r = if exchange {
                    fs.mfs.exchange(parent.0, name, newparent.0, newname)
                } else {
                    fs.mfs.rename(parent.0, name, newparent.0, newname, noreplace)
                };
                r.map_err(|e| errno(&e))
            },
            |_, reply, ()| reply.ok(),
        );
    }

    fn link(&self, _req: &Request, ino: INodeNo, newparent: INodeNo, newname: &OsStr, reply: ReplyEntry) {
        // Links stay inside files/: ipfs/ is another (read-only) tree.
        let (from_files, to_files) = (writable(ino.0).is_ok(), writable(newparent.0).is_ok());
        if !from_files || !to_files {
            return reply.error(if from_files || to_files {
                Errno::EXDEV
            } else {
                Errno::EROFS
            });
        }
        let newname = newname.to_os_string();
        self.run(
            reply,
            move |fs| {
                let name = newname.to_str().ok_or(Errno::EINVAL)?;
                fs.mfs.link(ino.0, newparent.0, name).map_err(|e| errno(&e))
            },
            |fs, reply, a| reply.entry(&TTL, &fs.mfs_attr(&a), Generation(0)),
        );
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let write = flags.0 & libc::O_ACCMODE != libc::O_RDONLY;
        if IpfsView::owns(ino.0) {
            if write {
                return reply.error(Errno::EROFS);
            }
            // Each open file reads through its own Bitswap session.
            self.inner.ipfs.open(ino.0);
            return reply.opened(FileHandle(2), FopenFlags::FOPEN_KEEP_CACHE);
        }
        if SnapshotsView::owns(ino.0) {
            if write {
                return reply.error(Errno::EROFS);
            }
            return reply.opened(FileHandle(3), FopenFlags::FOPEN_KEEP_CACHE);
        }
        if writable(ino.0).is_err() {
            return reply.error(if write { Errno::EROFS } else { Errno::EISDIR });
        }
        let truncate = flags.0 & libc::O_TRUNC != 0;
        self.run(
            reply,
            move |fs| fs.mfs.open_file(ino.0, write, truncate).map_err(|e| errno(&e)),
            move |fs, reply, ()| fs.reply_open(ino.0, reply),
        );
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.spawn(move |fs| {
            let data = if IpfsView::owns(ino.0) {
                try_reply!(reply, fs.ipfs.read(ino.0, offset, size))
            } else if SnapshotsView::owns(ino.0) {
                try_reply!(reply, fs.snaps.read(ino.0, offset, size))
            } else {
                let plan = try_reply!(
                    reply,
                    fs.mfs.plan_read(ino.0, offset, size).map_err(|e| errno(&e))
                );
                try_reply!(reply, fs.mfs.run_read(plan).map_err(|e| errno(&e)))
            };
            reply.data(&data);
        });
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        if let Err(e) = writable(ino.0) {
            return reply.error(e);
        }
        // The kernel resolves O_APPEND into `offset` (it knows the size), in
        // writeback mode too; applying it again here would be wrong.
        let data = data.to_vec();
        let kill_priv = write_flags.contains(WriteFlags::FUSE_WRITE_KILL_SUIDGID);
        self.run(
            reply,
            move |fs| {
                fs.mfs
                    .write_as(ino.0, offset, &data, kill_priv)
                    .map_err(|e| errno(&e))
            },
            |_, reply, n| reply.written(n),
        );
    }

    fn flush(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        if writable(ino.0).is_err() {
            return reply.ok();
        }
        self.run(
            reply,
            move |fs| fs.mfs.flush(ino.0).map_err(|e| errno(&e)),
            |_, reply, ()| reply.ok(),
        );
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        if IpfsView::owns(ino.0) && fh.0 == 2 {
            self.inner.ipfs.release(ino.0);
            return reply.ok();
        }
        if writable(ino.0).is_err() || (fh.0 != 1 && fh.0 != passthrough::FH) {
            return reply.ok();
        }
        if fh.0 == passthrough::FH {
            self.inner.pt.release(ino.0);
        }
        self.run(
            reply,
            move |fs| fs.mfs.release(ino.0).map_err(|e| errno(&e)),
            |_, reply, ()| reply.ok(),
        );
    }

    fn fsync(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        if writable(ino.0).is_err() {
            return reply.ok();
        }
        self.spawn(move |fs| {
            try_reply!(reply, fs.mfs.fsync(ino.0).map_err(|e| errno(&e)));
            reply.ok();
        });
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        if let Err(e) = writable(ino.0) {
            return reply.error(e);
        }
        // Mode 0 and KEEP_SIZE; punching and collapsing are not offered.
        if mode & !libc::FALLOC_FL_KEEP_SIZE != 0 {
            return reply.error(Errno::EOPNOTSUPP);
        }
        let keep = mode & libc::FALLOC_FL_KEEP_SIZE != 0;
        self.run(
            reply,
            move |fs| {
                fs.mfs
                    .allocate(ino.0, offset, length, keep)
                    .map_err(|e| errno(&e))
            },
            |_, reply, ()| reply.ok(),
        );
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        self.run(
            reply,
            move |fs| fs.list(ino.0),
            |fs, reply, list| {
                let fh = fs.next_fh.fetch_add(1, Ordering::Relaxed);
                fs.dirs
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(fh, Arc::new(list));
                reply.opened(FileHandle(fh), FopenFlags::empty());
            },
        );
    }

    fn readdir(&self, _req: &Request, _ino: INodeNo, fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        let Some(list) = self.listing(fh) else {
            return reply.error(Errno::EBADF);
        };
        for (i, (ino, kind, name)) in list.iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(*ino), (i + 1) as u64, *kind, OsStr::from_bytes(name)) {
                break;
            }
        }
        reply.ok();
    }

    fn readdirplus(
        &self,
        _req: &Request,
        dir: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let Some(list) = self.listing(fh) else {
            return reply.error(Errno::EBADF);
        };
        self.spawn(move |fs| {
            for (i, (ino, _, name)) in list.iter().enumerate().skip(offset as usize) {
                let Ok((attr, ttl)) = fs.getattr(*ino) else {
                    continue;
                };
                // ipns/ entries are looked up again (resolved) when used.
                let ttl = if dir.0 == IPNS { Duration::ZERO } else { ttl };
                if reply.add(
                    INodeNo(*ino),
                    (i + 1) as u64,
                    OsStr::from_bytes(name),
                    &ttl,
                    &attr,
                    Generation(0),
                ) {
                    break;
                }
                // The kernel counts a lookup for each entry but "." and "..".
                if i >= 2 && IpfsView::owns(*ino) {
                    fs.ipfs.remember(*ino);
                } else if i >= 2 && SnapshotsView::owns(*ino) {
                    fs.snaps.remember(*ino);
                }
            }
            reply.ok();
        });
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        let list = self
            .inner
            .dirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&fh.0);
        if let Some(list) = list {
            // Past "." and "..", an ipfs/ listing held its entries.
            let held = list.iter().skip(2).map(|e| e.0);
            self.inner
                .ipfs
                .unlist(held.clone().filter(|&i| IpfsView::owns(i)));
            self.inner.snaps.unlist(held.filter(|&i| SnapshotsView::owns(i)));
        }
        reply.ok();
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        if IpfsView::owns(ino.0) {
            self.inner.ipfs.forget(ino.0, nlookup);
        } else if SnapshotsView::owns(ino.0) {
            self.inner.snaps.forget(ino.0, nlookup);
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        self.spawn(move |fs| fs.statfs(reply));
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        self.get_xattr(ino.0, name, size, reply);
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        self.list_xattr(ino.0, size, reply);
    }

    fn setxattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        self.set_xattr(ino.0, name, value, flags, reply);
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove_xattr(ino.0, name, reply);
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        if let Err(e) = writable(parent.0) {
            return reply.error(e);
        }
        let who = owner(req);
        let name = name.to_os_string();
        let exclusive = flags & libc::O_EXCL != 0;
        let truncate = flags & libc::O_TRUNC != 0;
        self.run(
            reply,
            move |fs| {
                let name = name.to_str().ok_or(Errno::EINVAL)?;
                fs.mfs
                    .create(parent.0, name, mode & !umask, who, exclusive, truncate)
                    .map_err(|e| errno(&e))
            },
            |fs, reply, a| fs.reply_create(&fs.mfs_attr(&a), reply),
        );
    }

    /// open(O_TMPFILE): a file with no name yet (nlink 0).
    fn tmpfile(
        &self,
        req: &Request,
        parent: INodeNo,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        if let Err(e) = writable(parent.0) {
            return reply.error(e);
        }
        let who = owner(req);
        self.run(
            reply,
            move |fs| {
                fs.mfs
                    .tmpfile(parent.0, mode & !umask, who)
                    .map_err(|e| errno(&e))
            },
            |fs, reply, a| fs.reply_create(&fs.mfs_attr(&a), reply),
        );
    }
}

impl P2pFs {
    /// The listing snapshotted by `opendir` for this handle.
    fn listing(&self, fh: FileHandle) -> Option<Arc<Listing>> {
        self.inner
            .dirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&fh.0)
            .cloned()
    }

    fn remove(&self, parent: INodeNo, name: &OsStr, dir: bool, reply: ReplyEmpty) {
        if let Err(e) = writable(parent.0) {
            return reply.error(e);
        }
        let name = name.to_os_string();
        self.run(
            reply,
            move |fs| {
                let name = name.to_str().ok_or(Errno::ENOENT)?;
                fs.mfs.unlink(parent.0, name, dir).map_err(|e| errno(&e))
            },
            |_, reply, ()| reply.ok(),
        );
    }
}
