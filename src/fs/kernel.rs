//! What the mount asks of the kernel at FUSE init.

use fuser::KernelConfig;

impl super::Inner {
    /// Sizes and capabilities for the kernel's FUSE_INIT reply.
    pub(super) fn negotiate(&self, cfg: &mut KernelConfig) {
        let _ = cfg.set_max_write(1 << 20);
        let _ = cfg.set_max_readahead(1 << 20);
        // Passthrough (`passthrough.rs`): new and truncated files are
        // written by the kernel into staging files, no WRITE reaching us.
        let passthrough = self.pt.negotiate(cfg, self.repo.config.mount.passthrough);
        if passthrough && let Err(e) = self.mfs.enable_staging() {
            tracing::warn!("files/ writes go through the daemon: {e}");
        }
        // READDIRPLUS: `ls -l`/`find`/`stat` get attributes with the listing
        // instead of one LOOKUP round trip per entry. WRITEBACK_CACHE
        // (refused by the kernel beside passthrough): the kernel gathers
        // writes in its page cache and sends them in large requests while
        // the writer goes on; close and fsync still wait for them.
        // HANDLE_KILLPRIV_V2: we keep no setuid bits or capabilities
        // (mounts are nosuid), which spares a GETXATTR per write.
        // ATOMIC_O_TRUNC: O_TRUNC comes with the open, not as a SETATTR
        // after it (one request less, and the open can stage the file).
        // Each is asked for alone: the kernel may lack one of them.
        let writeback = (!passthrough).then_some(fuser::InitFlags::FUSE_WRITEBACK_CACHE);
        for flag in [
            fuser::InitFlags::FUSE_PARALLEL_DIROPS,
            fuser::InitFlags::FUSE_DO_READDIRPLUS,
            fuser::InitFlags::FUSE_HANDLE_KILLPRIV_V2,
            fuser::InitFlags::FUSE_ATOMIC_O_TRUNC,
        ]
        .into_iter()
        .chain(writeback)
        {
            if let Err(missing) = cfg.add_capabilities(flag) {
                tracing::info!("the kernel does not offer {missing:?}");
            }
        }
        let _ = cfg.set_max_background(64);
    }
}
