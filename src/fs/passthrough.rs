//! FUSE passthrough: handles of staged files (`mfs/staged.rs`) are served
//! by the kernel from the staging file itself, so their reads and writes
//! never reach the daemon. It needs a kernel that offers it (Linux 6.9+),
//! CAP_SYS_ADMIN (the kernel's rule for registering a backing file), and
//! no writeback cache (the kernel refuses passthrough beside it). Without
//! any of these, every file goes through the daemon as before.

use fuser::{BackingId, KernelConfig};
use std::collections::HashMap;
use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// File handle of a passthrough open (1 is a files/ handle through the
/// daemon, 2 ipfs/, 3 snapshots/).
pub(super) const FH: u64 = 4;

/// A passthrough handle's close needs no FLUSH: its bytes are in the
/// staging file, which the journal names (the last close's RELEASE imports
/// them). One request less per file written.
const NOFLUSH: fuser::FopenFlags = fuser::FopenFlags::FOPEN_NOFLUSH;

/// CAP_SYS_ADMIN's bit in /proc/self/status `CapEff`.
const CAP_SYS_ADMIN: u32 = 21;

#[derive(Default)]
pub(super) struct Passthrough {
    on: AtomicBool,
    /// The kernel wants one backing id per inode for all its handles:
    /// each kept, with the count of its open handles, until the last closes.
    backings: Mutex<HashMap<u64, (Arc<BackingId>, u32)>>,
}

/// Whether this process holds CAP_SYS_ADMIN.
fn has_sys_admin() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_SYS_ADMIN) != 0)
}

impl Passthrough {
    pub(super) fn on(&self) -> bool {
        self.on.load(Ordering::SeqCst)
    }

    /// At init: asks the kernel for passthrough when `wanted` and possible;
    /// true if it is on (the caller must then not ask for the writeback
    /// cache).
    pub(super) fn negotiate(&self, cfg: &mut KernelConfig, wanted: bool) -> bool {
        if !wanted {
            return false;
        }
        if !has_sys_admin() {
            tracing::info!("no passthrough: it needs CAP_SYS_ADMIN (files/ writes go through the daemon)");
            return false;
        }
        if let Err(missing) = cfg.add_capabilities(fuser::InitFlags::FUSE_PASSTHROUGH) {
            tracing::info!("no passthrough: the kernel does not offer {missing:?}");
            return false;
        }
        // 1: the repo's disk is not itself stacked (overlayfs, FUSE); the
        // kernel refuses backing files on one that is deeper.
        if cfg.set_max_stack_depth(1).is_err() {
            return false;
        }
        self.on.store(true, Ordering::SeqCst);
        true
    }

    /// The backing id for one more passthrough handle of `ino`, made from
    /// `file` by `register` if it has none; None (and passthrough off from
    /// now on) when the kernel refuses it.
    pub(super) fn acquire(
        &self,
        ino: u64,
        file: &File,
        register: impl FnOnce(&File) -> std::io::Result<BackingId>,
    ) -> Option<Arc<BackingId>> {
        let mut map = self.backings.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((b, n)) = map.get_mut(&ino) {
            *n += 1;
            return Some(b.clone());
        }
        match register(file) {
            Ok(b) => {
                let b = Arc::new(b);
                map.insert(ino, (b.clone(), 1));
                Some(b)
            }
            Err(e) => {
                tracing::warn!("passthrough turned off: the kernel refused a backing file: {e}");
                self.on.store(false, Ordering::SeqCst);
                None
            }
        }
    }

    /// A passthrough handle of `ino` closed.
    pub(super) fn release(&self, ino: u64) {
        let mut map = self.backings.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, n)) = map.get_mut(&ino) {
            *n -= 1;
            if *n == 0 {
                map.remove(&ino);
            }
        }
    }
}

impl super::Inner {
    /// Answers an open of files/ inode `ino`: through the kernel when the
    /// file is staged, else through the daemon.
    pub(super) fn reply_open(&self, ino: u64, reply: fuser::ReplyOpen) {
        use fuser::{FileHandle, FopenFlags};
        if let Some(b) = self.backing(ino, |f| reply.open_backing(f)) {
            return reply.opened_passthrough(FileHandle(FH), NOFLUSH, &b);
        }
        reply.opened(FileHandle(1), FopenFlags::empty());
    }

    /// Answers a create with `attr`, as [`Self::reply_open`].
    pub(super) fn reply_create(&self, attr: &fuser::FileAttr, reply: fuser::ReplyCreate) {
        use fuser::{FileHandle, FopenFlags, Generation};
        let ttl = super::TTL;
        if let Some(b) = self.backing(attr.ino.0, |f| reply.open_backing(f)) {
            return reply.created_passthrough(&ttl, attr, Generation(0), FileHandle(FH), NOFLUSH, &b);
        }
        reply.created(&ttl, attr, Generation(0), FileHandle(1), FopenFlags::empty());
    }

    fn backing(
        &self,
        ino: u64,
        register: impl FnOnce(&File) -> std::io::Result<BackingId>,
    ) -> Option<Arc<BackingId>> {
        if !self.pt.on() {
            return None;
        }
        let staged = self.mfs.staged(ino)?;
        let b = self.pt.acquire(ino, staged.file(), register);
        if b.is_none() {
            self.mfs.disable_staging();
        }
        b
    }
}
