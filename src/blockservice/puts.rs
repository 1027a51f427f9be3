//! Fetched blocks on their way into the store. One blocking task stores
//! every block waiting, so blocks that arrive while it works cost no hand-off
//! of their own: a hand-off to the blocking pool per block was two thread
//! switches, and a 1 GiB fetch made about 23k of them on the fetching node.

use super::FetchError;
use crate::repo::Repo;
use cid::Cid;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

type Put = (Cid, bytes::Bytes, oneshot::Sender<Result<(), FetchError>>);

/// The blocks waiting, and whether a task is storing them.
#[derive(Default)]
pub(super) struct Puts(Mutex<(Vec<Put>, bool)>);

impl Puts {
    fn lock(&self) -> std::sync::MutexGuard<'_, (Vec<Put>, bool)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores a verified block (unpinned, not announced); resolves once it
    /// is in the store.
    pub(super) async fn put(
        self: &Arc<Self>,
        repo: &Arc<Repo>,
        cid: Cid,
        data: bytes::Bytes,
    ) -> Result<(), FetchError> {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut q = self.lock();
            q.0.push((cid, data, tx));
            !std::mem::replace(&mut q.1, true)
        };
        if start {
            let (puts, repo) = (self.clone(), repo.clone());
            tokio::task::spawn_blocking(move || puts.drain(&repo));
        }
        rx.await.unwrap_or(Err(FetchError::StoreGone))
    }

    /// Stores what is waiting until nothing is.
    fn drain(&self, repo: &Repo) {
        let _reset = OnPanic(self);
        loop {
            let batch = {
                let mut q = self.lock();
                if q.0.is_empty() {
                    q.1 = false;
                    return;
                }
                std::mem::take(&mut q.0)
            };
            for (cid, data, tx) in batch {
                let r = repo.store.put_cached(&cid, &data);
                let _ = tx.send(r.map_err(|e| FetchError::Store(Arc::new(e))));
            }
        }
    }
}

/// A storing task that panicked: its waiters get an error (their senders
/// are dropped) and the next block starts a new task.
struct OnPanic<'a>(&'a Puts);

impl Drop for OnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut q = self.0.lock();
            q.0.clear();
            q.1 = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockGet;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_block_put_at_once_is_stored_and_answered() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Arc::new(Repo::open_or_init(dir.path()).unwrap().0);
        let puts = Arc::new(Puts::default());
        let blocks: Vec<(Cid, bytes::Bytes)> = (0..200u32)
            .map(|i| {
                let data = bytes::Bytes::from(vec![i as u8; 2000 + i as usize]);
                (crate::block::cid_v1(crate::block::RAW, &data), data)
            })
            .collect();
        let all = blocks.iter().map(|(c, d)| {
            let (puts, repo) = (puts.clone(), repo.clone());
            let (c, d) = (*c, d.clone());
            tokio::spawn(async move { puts.put(&repo, c, d).await })
        });
        for r in futures::future::join_all(all).await {
            r.unwrap().unwrap();
        }
        for (c, d) in &blocks {
            assert_eq!(repo.store.get(c).unwrap(), d.to_vec());
        }
        // The storing task ends once it finds nothing waiting.
        for _ in 0..500 {
            if !puts.lock().1 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the storing task never ended");
    }
}
