//! One `get(cid)` for every reader: the local store first, then the network
//! (a Bitswap session). A fetched block is hashed against its CID before it
//! is stored or returned, and stored unpinned (cache).
//!
//! A `BlockService` is one read session: readers hint the blocks they will
//! need next ([`BlockGet::prefetch`]), and once the session has had to go to
//! the network those are fetched ahead, a window of them at a time. One
//! fetch per block at a time: concurrent readers of a block share its fetch.
//!
//! Blocking: call it from blocking threads (FUSE's blocking pool, the
//! control socket's threads), never from tokio workers.

use crate::block::{BlockError, BlockGet};
use crate::net::NetHandle;
use crate::net::session::Session;
use crate::repo::Repo;
use cid::Cid;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

mod landed;
mod puts;
use landed::Landed;
use puts::Puts;

/// Blocks hinted ahead that may wait in the session at once. What is
/// actually asked of peers is bounded by their flow windows (`net::flow`);
/// this only bounds the queue of hints.
pub const WINDOW: usize = 512;

/// The local store alone, shareable (what the Bitswap server answers from).
pub struct LocalBlocks(pub Arc<Repo>);

impl BlockGet for LocalBlocks {
    fn get(&self, cid: &Cid) -> Result<Vec<u8>, BlockError> {
        self.0.store.get(cid)
    }
    fn has(&self, cid: &Cid) -> Result<bool, BlockError> {
        self.0.store.has(cid)
    }
    fn get_range(&self, cid: &Cid, start: u64, len: u64) -> Result<Vec<u8>, BlockError> {
        self.0.store.get_range(cid, start, len)
    }
    fn size(&self, cid: &Cid) -> Result<Option<u64>, BlockError> {
        self.0.store.size(cid)
    }
}

/// Turns true when whoever reads through a session has gone away.
pub type Gone = tokio::sync::watch::Receiver<bool>;

type Flight = Shared<BoxFuture<'static, Result<bytes::Bytes, FetchError>>>;

/// Why a fetch failed; cloned to every reader waiting on the same flight.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Net(#[from] crate::net::NetError),
    #[error("a peer sent more than the 2 MiB a block may have")]
    TooLarge,
    #[error("storing it: {0}")]
    Store(Arc<crate::store::StoreError>),
    #[error("the task storing it ended first (see the log)")]
    StoreGone,
    #[error("the reader went away")]
    ReaderGone,
}

impl FetchError {
    /// No block came in time (the gateway answers 504).
    pub fn timed_out(&self) -> bool {
        matches!(
            self,
            FetchError::Net(crate::net::NetError::Timeout | crate::net::NetError::Stalled { .. })
        )
    }
}

/// Fetches under way, shared by every session made from one service.
type Flights = Arc<Mutex<HashMap<Vec<u8>, Flight>>>;

/// Counters for `p2pfs stats` style reporting and progress bars.
#[derive(Default)]
pub struct Counters {
    pub fetched_blocks: AtomicU64,
    pub fetched_bytes: AtomicU64,
}

pub struct BlockService {
    repo: Arc<Repo>,
    net: Option<NetHandle>,
    session: Option<Session>,
    flights: Flights,
    /// Set once this session fetched from the network: only then are hints
    /// worth acting on (a local read needs no prefetch).
    remote: AtomicBool,
    /// Blocks already hinted in this session (so a hint costs no store lookup).
    hinted: Mutex<HashSet<Vec<u8>>>,
    window: Arc<tokio::sync::Semaphore>,
    prefetches: Mutex<Vec<tokio::task::AbortHandle>>,
    /// Flights this session started (removed from `flights` when it ends,
    /// so that nobody later waits on a fetch that nobody drives).
    started: Mutex<Vec<Vec<u8>>>,
    pub counters: Arc<Counters>,
    /// Fetched blocks on their way into the store, shared like `flights`.
    puts: Arc<Puts>,
    gone: Option<Gone>,
    /// Whether hints of local blocks verify them ahead on other cores (see
    /// `prefetch`). Off for the mount: FUSE already reads in parallel, and
    /// the hand-offs cost more than they saved (cold 512 MiB read: daemon
    /// CPU 0.72 -> 0.56 s, wall 0.88 -> 0.77 s without).
    verify_ahead: bool,
    /// Blocks fetched ahead, waiting for this session's reader.
    landed: Arc<Landed>,
}

impl BlockService {
    pub fn new(repo: Arc<Repo>, net: Option<NetHandle>) -> Self {
        Self::with_flights(repo, net, Arc::default(), Arc::default())
    }

    fn with_flights(
        repo: Arc<Repo>,
        net: Option<NetHandle>,
        flights: Flights,
        counters: Arc<Counters>,
    ) -> Self {
        let timeout = repo.config.fetch_timeout();
        BlockService {
            session: net.as_ref().map(|n| n.session(timeout)),
            repo,
            net,
            flights,
            remote: AtomicBool::new(false),
            hinted: Mutex::new(HashSet::new()),
            window: Arc::new(tokio::sync::Semaphore::new(WINDOW)),
            prefetches: Mutex::new(Vec::new()),
            started: Mutex::new(Vec::new()),
            counters,
            puts: Arc::default(),
            gone: None,
            verify_ahead: true,
            landed: Arc::default(),
        }
    }

    /// No verifying ahead of local reads (for readers that are parallel
    /// already, like the mount).
    pub fn without_verify_ahead(mut self) -> Self {
        self.verify_ahead = false;
        self
    }

    /// Stops waiting for blocks (with an error) once `gone` turns true.
    pub fn until(mut self, gone: Option<Gone>) -> Self {
        self.gone = gone;
        self
    }

    /// How many peers have sent this session blocks (for progress reports).
    pub fn senders(&self) -> usize {
        self.session.as_ref().map_or(0, Session::senders)
    }

    /// A new read session sharing this one's fetches under way.
    pub fn session(&self) -> BlockService {
        let mut s = Self::with_flights(
            self.repo.clone(),
            self.net.clone(),
            self.flights.clone(),
            self.counters.clone(),
        );
        s.verify_ahead = self.verify_ahead;
        s.puts = self.puts.clone();
        s
    }

    /// The fetch of `cid`: the one under way, or a new one. None when the
    /// block is in the store (it may have landed since the caller looked).
    fn flight(&self, cid: &Cid) -> Result<Option<Flight>, BlockError> {
        let Some(session) = &self.session else {
            return Err(BlockError::NotFound(*cid));
        };
        let key = cid.hash().to_bytes();
        if let Some(f) = self.flights.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(Some(f.clone()));
        }
        // Flights are removed only after their block is stored, so a block
        // is stored or in flight. The store is asked outside the lock (it
        // may wait on a commit's fsync, and tokio workers take this lock);
        // a block landing in between costs a second fetch, nothing worse.
        if self.repo.store.has(cid)? {
            return Ok(None);
        }
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = flights.get(&key) {
            return Ok(Some(f.clone()));
        }
        let (cid, session, repo, all) = (*cid, session.clone(), self.repo.clone(), self.flights.clone());
        let (counters, puts) = (self.counters.clone(), self.puts.clone());
        let fut = async move {
            let res = async {
                let data = session.fetch(cid).await?;
                // Verified already: Bitswap hashed the bytes on arrival and
                // hands a block only to the waiter of the CID they hash to
                // (hashing twice cost 10% of a transfer).
                if data.len() > crate::block::MAX_BLOCK_SIZE {
                    return Err(FetchError::TooLarge);
                }
                // Cache: not announced (what the node adds, writes and pins
                // is; a fetched block may be evicted any time).
                puts.put(&repo, cid, data.clone()).await?;
                crate::cache::check(&repo);
                counters.fetched_blocks.fetch_add(1, Ordering::Relaxed);
                counters
                    .fetched_bytes
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
                Ok(data)
            }
            .await;
            all.lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&cid.hash().to_bytes());
            res
        }
        .boxed()
        .shared();
        flights.insert(key.clone(), fut.clone());
        let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        // A long-lived session (the mount's) forgets flights that ended.
        if started.len() >= 4096 {
            started.retain(|k| flights.contains_key(k));
        }
        started.push(key);
        Ok(Some(fut))
    }

    fn fetch(&self, cid: &Cid) -> Result<Option<bytes::Bytes>, BlockError> {
        let Some(f) = self.flight(cid)? else {
            return Ok(None);
        };
        self.remote.store(true, Ordering::Relaxed);
        self.landed.demanded(&cid.hash().to_bytes());
        let net = self.net.as_ref().ok_or(BlockError::NotFound(*cid))?;
        let mut gone = self.gone.clone();
        net.block_on(async move {
            match &mut gone {
                None => f.await,
                // A watcher that failed (Err) says nothing: keep waiting.
                Some(g) => tokio::select! {
                    r = f => r,
                    Ok(_) = g.wait_for(|v| *v) => Err(FetchError::ReaderGone),
                },
            }
        })
        .map(Some)
        .map_err(|e| BlockError::Unavailable {
            cid: *cid,
            timed_out: e.timed_out(),
            why: Box::new(e),
        })
    }
}

impl Drop for BlockService {
    /// The reader went away: its fetches ahead stop (and cancel their wants).
    fn drop(&mut self) {
        for h in self
            .prefetches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            h.abort();
        }
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        for key in self.started.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            flights.remove(&key);
        }
    }
}

/// Whether a store error is one a peer's copy cures: missing, or damaged
/// (a verified copy from a peer heals the store).
fn fetchable(e: &BlockError) -> bool {
    matches!(e, BlockError::NotFound(_) | BlockError::Corrupt { .. })
}

impl BlockService {
    /// Fetches after a local miss or damage; without a network the local
    /// error stands (a damaged block is reported as damaged).
    fn fetch_after(&self, cid: &Cid, local: BlockError) -> Result<Option<bytes::Bytes>, BlockError> {
        if self.net.is_none() {
            return Err(local);
        }
        self.fetch(cid)
    }
}

impl BlockService {
    /// The block if it was fetched ahead for this reader (verified on arrival).
    fn landed(&self, cid: &Cid) -> Option<bytes::Bytes> {
        if !self.remote.load(Ordering::Relaxed) {
            return None;
        }
        self.landed.take(&cid.hash().to_bytes())
    }
}

impl BlockGet for BlockService {
    fn get(&self, cid: &Cid) -> Result<Vec<u8>, BlockError> {
        if let Some(b) = self.landed(cid) {
            return Ok(b.to_vec());
        }
        match self.repo.store.get(cid) {
            Err(e) if fetchable(&e) => match self.fetch_after(cid, e)? {
                Some(b) => Ok(b.to_vec()),
                None => self.repo.store.get(cid),
            },
            r => r,
        }
    }
    fn has(&self, cid: &Cid) -> Result<bool, BlockError> {
        self.repo.store.has(cid)
    }
    fn get_range(&self, cid: &Cid, start: u64, len: u64) -> Result<Vec<u8>, BlockError> {
        let range = |b: bytes::Bytes| {
            let s = (start as usize).min(b.len());
            b[s..s.saturating_add(len as usize).min(b.len())].to_vec()
        };
        if let Some(b) = self.landed(cid) {
            return Ok(range(b));
        }
        match self.repo.store.get_range(cid, start, len) {
            Err(e) if fetchable(&e) => match self.fetch_after(cid, e)? {
                Some(b) => Ok(range(b)),
                None => self.repo.store.get_range(cid, start, len),
            },
            r => r,
        }
    }
    fn prefetch(&self, cids: &mut dyn Iterator<Item = Cid>) {
        if !self.remote.load(Ordering::Relaxed) {
            if !self.verify_ahead {
                return;
            }
            // Local reads: the next blocks are verified on other cores.
            let mut keys = cids.map(|c| c.hash().to_bytes());
            for key in self.repo.store.to_verify_ahead(&mut keys) {
                let repo = self.repo.clone();
                rayon::spawn(move || repo.store.verify_ahead(&key));
            }
            return;
        }
        let Some(net) = &self.net else { return };
        let mut hinted = self.hinted.lock().unwrap_or_else(|e| e.into_inner());
        let mut handles = self.prefetches.lock().unwrap_or_else(|e| e.into_inner());
        handles.retain(|h| !h.is_finished());
        for cid in cids {
            if crate::block::identity_bytes(&cid).is_some() || !hinted.insert(cid.hash().to_bytes()) {
                continue;
            }
            let Ok(Some(f)) = self.flight(&cid) else { continue };
            let (window, landed) = (self.window.clone(), self.landed.clone());
            let key = cid.hash().to_bytes();
            let h = net.spawn(async move {
                // Demand reads poll their flight directly; fetches ahead
                // wait for a place in the window.
                let Ok(_slot) = window.acquire_owned().await else {
                    return;
                };
                if let Ok(b) = f.await {
                    landed.offer(key, b);
                }
            });
            handles.push(h);
        }
        // A long read forgets old hints rather than growing without bound.
        if hinted.len() > 1 << 16 {
            hinted.clear();
        }
    }
}
