//! Live folders (`name publish --follow /files/PATH`): after each
//! checkpoint of files/ the followed folders' CIDs are compared with what
//! their names point at, and a name whose folder changed is published
//! again (new sequence), at most once per `MIN_GAP`; a change inside the
//! gap goes out when it ends. The followed path is kept with the saved
//! record, so following survives restarts.

use super::{NameError, Names};
use crate::ipns::Name;
use crate::mfs::Mfs;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A followed name is published at most this often.
const MIN_GAP: Duration = Duration::from_secs(10);

/// Starts following: checkpoints wake it (through the repo's hook).
pub fn start_following(names: Arc<Names>, mfs: Arc<Mfs>) {
    let wake = Arc::new(tokio::sync::Notify::new());
    let w = wake.clone();
    let _ = names.repo.on_files_root.set(Box::new(move || w.notify_one()));
    let net = names.net.clone();
    net.spawn(async move {
        let mut last: HashMap<Name, Instant> = HashMap::new();
        // Once at start: a folder may have changed while the node was off.
        let mut wait = Some(Duration::ZERO);
        loop {
            match wait {
                Some(d) => tokio::time::sleep(d).await,
                None => wake.notified().await,
            }
            let (n, m) = (names.clone(), mfs.clone());
            match tokio::task::spawn_blocking(move || {
                let w = n.follow_once(&m, &mut last);
                (last, w)
            })
            .await
            {
                Ok((back, w)) => {
                    last = back;
                    wait = w;
                }
                Err(_) => return,
            }
        }
    });
}

impl Names {
    /// Publishes every followed name whose folder changed; returns how long
    /// until a rate-limited one may go (None: nothing waits).
    fn follow_once(&self, mfs: &Mfs, last: &mut HashMap<Name, Instant>) -> Option<Duration> {
        let keys = self.repo.keys().list().ok()?;
        let mut wait: Option<Duration> = None;
        for (key, peer) in keys {
            let name = Name(peer);
            let Some(saved) = super::republish::load(&self.repo, &name) else {
                continue;
            };
            let Some(path) = saved.follow.clone() else {
                continue;
            };
            let value = match current(mfs, &path) {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!("{name} follows {path}: {e}");
                    continue;
                }
            };
            if value.as_bytes() == saved.record.value {
                continue;
            }
            if let Some(t) = last.get(&name)
                && t.elapsed() < MIN_GAP
            {
                let left = MIN_GAP - t.elapsed();
                wait = Some(wait.map_or(left, |w| w.min(left)));
                continue;
            }
            last.insert(name, Instant::now());
            match self.publish(&key, &value, saved.lifetime, saved.record.ttl, Some(&path)) {
                Ok(p) => tracing::info!(
                    "{name} follows {path}: now {value} (sequence {})",
                    p.record.sequence
                ),
                Err(e) => tracing::warn!("{name} follows {path}: {e}"),
            }
        }
        wait
    }
}

/// `/ipfs/<CID>` of a files/ path now.
pub fn current(mfs: &Mfs, path: &str) -> Result<String, NameError> {
    let p = path.strip_prefix("/files").unwrap_or(path).trim_matches('/');
    let err = |e: crate::mfs::MfsError| NameError::Io {
        context: format!("/files/{p}"),
        err: std::io::Error::other(e.to_string()),
    };
    let ino = mfs.lookup_path(p).map_err(err)?;
    Ok(format!("/ipfs/{}", mfs.cid_of(ino).map_err(err)?.cid))
}
