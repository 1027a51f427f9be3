//! What the node announces in the DHT (`network.provide`):
//!
//! - `all`: every block the node adds, writes under files/ or pins (blocks
//!   fetched for a read are cache, evicted at will, and not announced);
//! - `pinned`: the blocks of pinned DAGs and of the files/ tree;
//! - `roots`: only the root CIDs of pins and of the files/ tree.
//!
//! At start what the repo keeps is queued (pinned DAGs and the files/ tree;
//! roots only under `roots`); afterwards what is new: blocks as they are
//! added or written (`all`), DAGs as they are pinned, the files/ tree at
//! each checkpoint. The network sends the records a few at a time once a peer is
//! connected, roots first; the DHT republishes them every 12 h (they live
//! 48 h).

use crate::cache::RootsFn;
use crate::net::NetHandle;
use crate::repo::config::ProvideStrategy;
use crate::repo::{Announce, Repo};
use crate::store::PinKind;
use cid::Cid;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// Keys handed to the network per command.
const BATCH: usize = 4096;

pub struct Provider {
    strategy: ProvideStrategy,
    net: NetHandle,
    repo: Arc<Repo>,
    /// Blocks already announced under `pinned` (so a DAG announced once is
    /// not walked again when the files/ tree or a new pin contains it).
    provided: Mutex<HashSet<Vec<u8>>>,
}

/// Starts announcing per the repo's strategy, and registers as the repo's
/// announcer.
pub fn start(repo: Arc<Repo>, net: NetHandle, files_roots: RootsFn) -> Arc<Provider> {
    let p = Arc::new(Provider {
        strategy: repo.config.provide_strategy(),
        net: net.clone(),
        repo: repo.clone(),
        provided: Mutex::new(HashSet::new()),
    });
    if p.strategy == ProvideStrategy::All {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        repo.store.set_listener(Box::new(move |mh| {
            let _ = tx.send(mh.to_vec());
        }));
        // New blocks come one by one; they go to the network in batches,
        // each once (a pin of the same DAG may announce it too).
        let q = p.clone();
        net.spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut keys = vec![first];
                while keys.len() < BATCH
                    && let Ok(k) = rx.try_recv()
                {
                    keys.push(k);
                }
                {
                    let mut provided = q.provided.lock().unwrap_or_else(|e| e.into_inner());
                    keys.retain(|k| provided.insert(k.clone()));
                }
                q.net.provide_keys(keys, false);
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        });
    }
    let _ = repo.announce.set(p.clone());
    let q = p.clone();
    let spawned = std::thread::Builder::new()
        .name("p2pfs-provide".into())
        .spawn(move || {
            if let Err(e) = q.announce_all(&files_roots) {
                tracing::warn!("announcing the repo's content: {e}");
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start announcing: {e}");
    }
    p
}

impl Provider {
    /// The start-up pass: everything the strategy covers.
    fn announce_all(&self, files_roots: &RootsFn) -> Result<(), crate::store::StoreError> {
        let pins: Vec<Cid> = self
            .repo
            .store
            .pins()?
            .into_iter()
            .filter(|(_, k)| *k == PinKind::Recursive)
            .map(|(c, _)| c)
            .collect();
        let files = files_roots().unwrap_or_default();
        match self.strategy {
            // What the repo keeps: unpinned blocks in the store are cache by
            // now, even those added with --pin=false.
            ProvideStrategy::All | ProvideStrategy::Pinned => {
                for root in pins.iter().chain(files.iter()) {
                    self.announce_dag(*root, false);
                }
            }
            ProvideStrategy::Roots => {
                let mut keys: Vec<Vec<u8>> = pins.iter().map(|c| c.hash().to_bytes()).collect();
                keys.extend(files.first().map(|c| c.hash().to_bytes()));
                self.net.provide_keys(keys, false);
            }
        }
        Ok(())
    }

    /// Announces the blocks of the DAG under `root` not announced yet (the
    /// root first). Raw leaves are named by their links: only inner nodes
    /// are read.
    fn announce_dag(&self, root: Cid, urgent: bool) {
        let mut keys = Vec::new();
        {
            let mut provided = self.provided.lock().unwrap_or_else(|e| e.into_inner());
            let mut stack = vec![root];
            while let Some(cid) = stack.pop() {
                if crate::block::identity_bytes(&cid).is_some() || !provided.insert(cid.hash().to_bytes()) {
                    continue;
                }
                keys.push(cid.hash().to_bytes());
                if cid.codec() == crate::block::RAW {
                    continue;
                }
                if let Ok(Some(data)) = self.repo.store.get_by_hash(&cid.hash().to_bytes())
                    && let Ok(links) = crate::unixfs::pb::links_of(&cid, &data)
                {
                    stack.extend(links.into_iter().rev());
                }
            }
        }
        if let Some((first, rest)) = keys.split_first() {
            self.net.provide_keys(vec![first.clone()], urgent);
            for chunk in rest.chunks(BATCH) {
                self.net.provide_keys(chunk.to_vec(), false);
            }
        }
    }
}

impl Announce for Provider {
    fn pinned(&self, root: Cid) {
        match self.strategy {
            ProvideStrategy::Roots => self.net.provide_keys(vec![root.hash().to_bytes()], true),
            // Blocks added were announced as stored, but a pin of fetched
            // content (cache, not announced) is the node's own now.
            ProvideStrategy::All | ProvideStrategy::Pinned => self.announce_dag(root, true),
        }
    }

    fn files_root(&self, root: Cid) {
        match self.strategy {
            ProvideStrategy::All => {} // new blocks were announced as stored
            ProvideStrategy::Roots => self.net.provide_keys(vec![root.hash().to_bytes()], true),
            ProvideStrategy::Pinned => self.announce_dag(root, true),
        }
    }
}
