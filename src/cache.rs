//! The cache limit (`store.cache_size`): blocks that no pin and no part of
//! the files/ tree reaches are cache, and once they pass the limit the least
//! recently used are evicted, down to 90% of it, by a background thread.
//! Pinned blocks and the files/ tree never count and are never evicted.

use crate::store::Store;
use cid::Cid;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What the cache limit works on: the store, the limit and this state.
/// The repo is one (implemented there, so this module does not name it).
pub trait Host: Send + Sync + 'static {
    fn store(&self) -> &Store;
    /// `store.cache_size` in bytes.
    fn limit(&self) -> u64;
    fn state(&self) -> &CacheLimit;
}

/// Why the roots besides the pins could not be listed.
pub type RootsError = Box<dyn std::error::Error + Send + Sync>;

/// Roots besides the pins that keep blocks alive (the files/ tree).
pub type RootsFn = Arc<dyn Fn() -> Result<Vec<Cid>, RootsError> + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Nothing is evicted without knowing what the files/ tree keeps.
    #[error("listing the files/ tree's blocks (nothing was evicted)")]
    Roots(#[source] RootsError),
    #[error(transparent)]
    Dag(#[from] crate::dag::DagError),
}

#[derive(Default)]
pub struct CacheLimit {
    roots: Mutex<Option<RootsFn>>,
    /// Roots being pinned right now: their blocks arrive before the pin is
    /// recorded, and must not be evicted meanwhile.
    pinning: Mutex<Vec<Cid>>,
    /// Store clock when each write in progress (add, import, pin) began:
    /// what it wrote is not reachable from a root yet.
    writers: Mutex<Vec<u64>>,
    running: AtomicBool,
    /// Bytes of live (pinned or files/) blocks at the last pass: the cache
    /// is at most `total - kept`, a bound that costs nothing to check.
    kept: AtomicU64,
}

impl CacheLimit {
    /// Tells the cache what else is live (the daemon's files/ tree).
    pub fn set_roots(&self, f: RootsFn) {
        *self.roots.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
    }

    /// Marks a write in progress: GC and eviction keep every block touched
    /// from now until the guard is dropped.
    pub fn writing(&self, store: &crate::store::Store) -> Writing<'_> {
        let start = store.clock();
        self.writers.lock().unwrap_or_else(|e| e.into_inner()).push(start);
        Writing(self, start)
    }

    /// The newest access tick a sweep starting now may delete: blocks
    /// touched later, or since the oldest write in progress began, stay.
    pub fn cutoff(&self, store: &crate::store::Store) -> u64 {
        let w = self.writers.lock().unwrap_or_else(|e| e.into_inner());
        w.iter().copied().min().unwrap_or(u64::MAX).min(store.clock())
    }

    /// Roots kept by [`CacheLimit::protect`] right now (GC keeps them too).
    pub fn protected(&self) -> Vec<Cid> {
        self.pinning.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Keeps the DAG under `root` from eviction and GC until the guard is
    /// dropped.
    pub fn protect(&self, root: Cid) -> Protected<'_> {
        self.pinning.lock().unwrap_or_else(|e| e.into_inner()).push(root);
        Protected(self, root)
    }
}

pub struct Protected<'a>(&'a CacheLimit, Cid);

pub struct Writing<'a>(&'a CacheLimit, u64);

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        let mut w = self.0.writers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = w.iter().position(|t| *t == self.1) {
            w.swap_remove(i);
        }
    }
}

impl Drop for Protected<'_> {
    fn drop(&mut self) {
        let mut p = self.0.pinning.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = p.iter().position(|c| *c == self.1) {
            p.swap_remove(i);
        }
    }
}

fn over(host: &impl Host) -> bool {
    let kept = host.state().kept.load(Ordering::Relaxed);
    host.store().total_bytes().saturating_sub(kept) > host.limit()
}

/// Starts an eviction pass in the background when the cache may be over its
/// limit. Cheap when it is not (two atomic loads); called after blocks are
/// cached.
pub fn check<H: Host>(host: &Arc<H>) {
    if !over(&**host) || host.state().running.swap(true, Ordering::AcqRel) {
        return;
    }
    let r = host.clone();
    let spawned = std::thread::Builder::new()
        .name("p2pfs-evict".into())
        .spawn(move || {
            // Blocks cached during a pass are seen by the next one. Blocks
            // touched after a pass began are not its to take: while a read
            // or write is still touching the over-limit part, wait a little
            // and look again (a few times; the next fetch starts it anew).
            let mut idle = 0;
            while over(&*r) && idle < 5 {
                match evict_now(&*r) {
                    Err(e) => {
                        tracing::warn!("cache eviction failed: {}", chain(&e));
                        break;
                    }
                    Ok(rep) if rep.evicted.blocks == 0 => {
                        idle += 1;
                        std::thread::sleep(std::time::Duration::from_secs(1 << idle.min(3)));
                    }
                    Ok(_) => idle = 0,
                }
            }
            r.state().running.store(false, Ordering::Release);
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start cache eviction: {e}");
        host.state().running.store(false, Ordering::Release);
    }
}

/// "error: cause: cause", for a log line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out.push_str(": ");
        out.push_str(&s.to_string());
        next = s.source();
    }
    out
}

/// One eviction pass, in the calling thread.
pub fn evict_now(host: &impl Host) -> Result<crate::dag::EvictReport, CacheError> {
    let (store, state, limit) = (host.store(), host.state(), host.limit());
    let roots = state.roots.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut extra = match roots {
        Some(f) => f().map_err(CacheError::Roots)?,
        None => Vec::new(),
    };
    extra.extend(state.protected());
    let cutoff = state.cutoff(store);
    let report = crate::dag::evict(store, &extra, limit, limit / 10 * 9, cutoff)?;
    state.kept.store(report.kept_bytes, Ordering::Relaxed);
    if report.evicted.blocks > 0 {
        tracing::info!(
            blocks = report.evicted.blocks,
            bytes = report.evicted.bytes,
            "cache over {limit} bytes: evicted the least recently used unpinned blocks"
        );
    }
    if report.kept_bytes > limit {
        tracing::debug!(
            "pinned content and files/ ({} bytes) exceed the cache size",
            report.kept_bytes
        );
    }
    Ok(report)
}
