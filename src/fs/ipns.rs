//! The read-only `ipns/` view: `ipns/<name>` is the `ipfs/` node the name
//! points at now. `<name>` is an IPNS name (`k51…`, a peer ID) or the name
//! of one of this node's keys; listing `ipns/` shows the keys that have a
//! published record. Resolving goes through the node's `Names` (its own
//! records from the repo, others' from the cache, else the DHT), and the
//! kernel keeps the entry only for the record's TTL, so a lookup after it
//! runs out resolves again and sees a new version.

use crate::ipns::Name;
use crate::namesys::{NameError, Names};
use crate::repo::Repo;
use fuser::Errno;
use std::sync::Arc;
use std::time::Duration;

/// The longest an `ipns/` entry is cached by the kernel, whatever the TTL.
const MAX_TTL: Duration = Duration::from_secs(3600);

pub struct IpnsView {
    repo: Arc<Repo>,
    names: Option<Arc<Names>>,
}

impl IpnsView {
    pub fn new(repo: Arc<Repo>, names: Option<Arc<Names>>) -> Self {
        IpnsView { repo, names }
    }

    /// The name `entry` stands for: one of our keys by its name, else an IPNS name.
    fn name_of(&self, entry: &str) -> Result<Name, Errno> {
        if let Ok(kp) = self.repo.keys().get(entry) {
            return Ok(Name(kp.public().to_peer_id()));
        }
        Name::parse(entry).map_err(|_| Errno::ENOENT)
    }

    /// `ipns/<entry>`: the `/ipfs/` path it points at and how long the
    /// kernel may keep that answer. Blocking (may ask the DHT).
    pub fn resolve(&self, entry: &str) -> Result<(String, Duration), Errno> {
        let names = self.names.as_ref().ok_or(Errno::ENOENT)?;
        let name = self.name_of(entry)?;
        let record = names.resolve(&name, false).map_err(|e| {
            tracing::info!("ipns/{entry}: {e}");
            match e {
                NameError::NotFound(_) | NameError::NoneValid { .. } | NameError::Ipns(_) => Errno::ENOENT,
                _ => Errno::EIO,
            }
        })?;
        let path = names.resolve_path(&format!("/ipns/{name}"), false).map_err(|e| {
            tracing::info!("ipns/{entry}: {e}");
            Errno::ENOENT
        })?;
        Ok((path, record.ttl.min(MAX_TTL)))
    }

    /// Our keys that have a published record, by key name.
    pub fn list(&self) -> Vec<String> {
        let Ok(keys) = self.repo.keys().list() else {
            return Vec::new();
        };
        keys.into_iter()
            .filter(|(_, peer)| self.names.as_ref().is_some_and(|n| n.published(&Name(*peer))))
            .map(|(k, _)| k)
            .collect()
    }
}
