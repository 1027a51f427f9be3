//! One `get(cid)` for every reader: the local store first, then the network
//! (Bitswap from connected peers). A fetched block is hashed against its CID
//! before it is stored or returned. Blocking: call it from blocking threads
//! (FUSE's blocking pool, the control socket's threads), never from tokio
//! workers.

use crate::block::{BlockError, BlockGet, verify};
use crate::net::NetHandle;
use crate::repo::Repo;
use cid::Cid;
use std::sync::Arc;
use std::time::Duration;

/// How long one block may take to arrive before the read fails.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

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
}

pub struct BlockService {
    repo: Arc<Repo>,
    net: Option<NetHandle>,
}

impl BlockService {
    pub fn new(repo: Arc<Repo>, net: Option<NetHandle>) -> Self {
        BlockService { repo, net }
    }

    fn fetch(&self, cid: &Cid) -> Result<Vec<u8>, BlockError> {
        let Some(net) = &self.net else {
            return Err(BlockError::NotFound(*cid));
        };
        let data = net
            .block_on(net.fetch(*cid, FETCH_TIMEOUT))
            .map_err(|e| BlockError::Unavailable {
                cid: *cid,
                reason: e.to_string(),
            })?;
        verify(cid, &data)?;
        // Cached unpinned: GC may take it back.
        self.repo.store.put_block(cid, &data)?;
        Ok(data)
    }
}

impl BlockGet for BlockService {
    fn get(&self, cid: &Cid) -> Result<Vec<u8>, BlockError> {
        match self.repo.store.get(cid) {
            Err(BlockError::NotFound(_)) => self.fetch(cid),
            r => r,
        }
    }
    fn has(&self, cid: &Cid) -> Result<bool, BlockError> {
        self.repo.store.has(cid)
    }
    fn get_range(&self, cid: &Cid, start: u64, len: u64) -> Result<Vec<u8>, BlockError> {
        match self.repo.store.get_range(cid, start, len) {
            Err(BlockError::NotFound(_)) => {
                let b = self.fetch(cid)?;
                let s = (start as usize).min(b.len());
                Ok(b[s..s.saturating_add(len as usize).min(b.len())].to_vec())
            }
            r => r,
        }
    }
}
