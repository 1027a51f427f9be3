//! The one way readers get blocks. Today: the local store plus a small cache
//! of dag-pb nodes, so reading a file chunk by chunk does not re-read and
//! re-parse the same inner nodes for every FUSE request. (Fetching missing
//! blocks from peers lands here with the network.)

use crate::block::{BlockError, BlockGet, DAG_PB};
use cid::Cid;
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

/// Inner nodes are small (≤ ~10 KiB for 174 links); a few thousand cover
/// the trees of many large files.
const NODES: usize = 4096;

pub struct NodeCache(Mutex<LruCache<Cid, Arc<Vec<u8>>>>);

impl Default for NodeCache {
    fn default() -> Self {
        NodeCache(Mutex::new(LruCache::new(
            NonZeroUsize::new(NODES).unwrap_or(NonZeroUsize::MIN),
        )))
    }
}

/// `inner` with dag-pb blocks served from `cache`.
pub struct Cached<'a, B: ?Sized> {
    pub inner: &'a B,
    pub cache: &'a NodeCache,
}

impl<B: BlockGet + ?Sized> BlockGet for Cached<'_, B> {
    fn get(&self, cid: &Cid) -> Result<Vec<u8>, BlockError> {
        if cid.codec() != DAG_PB {
            return self.inner.get(cid);
        }
        if let Some(b) = self.cache.0.lock().unwrap_or_else(|e| e.into_inner()).get(cid) {
            return Ok(b.as_ref().clone());
        }
        let b = self.inner.get(cid)?;
        self.cache
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .put(*cid, Arc::new(b.clone()));
        Ok(b)
    }

    fn has(&self, cid: &Cid) -> Result<bool, BlockError> {
        self.inner.has(cid)
    }

    fn get_range(&self, cid: &Cid, start: u64, len: u64) -> Result<Vec<u8>, BlockError> {
        if cid.codec() == DAG_PB {
            let b = self.get(cid)?;
            let s = (start as usize).min(b.len());
            return Ok(b[s..s.saturating_add(len as usize).min(b.len())].to_vec());
        }
        self.inner.get_range(cid, start, len)
    }
}
