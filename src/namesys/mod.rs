//! IPNS names on the running node (`p2pfs name`, like Kubo's namesys):
//! publishing a signed record into both DHTs, resolving a name from them
//! (every record found is validated, the best kept, and cached for its
//! TTL), and republishing (`republish.rs`) while the node runs.
//!
//! Blocking: every method waits for the network through `NetHandle::block_on`
//! and reads small files, so callers are threads outside the runtime (the
//! control socket's, the mount's blocking pool, the gateway's readers).

mod follow;
mod republish;

pub use follow::{current as files_value, start_following};

use crate::ipns::{IpnsError, Name, Record, better};
use crate::net::{NetError, NetHandle};
use crate::repo::Repo;
use crate::repo::keys::KeyError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How long a DHT lookup of a name may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(60);
/// `/ipns/` values pointing at other names are followed this deep (Kubo's limit).
const MAX_DEPTH: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum NameError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Ipns(#[from] IpnsError),
    #[error(transparent)]
    Net(#[from] NetError),
    #[error(
        "no IPNS record found for {0} in the DHT: is the publishing node running, or did it publish at all?"
    )]
    NotFound(String),
    #[error("{found} IPNS record(s) found for {name}, none valid: {reason}")]
    NoneValid {
        name: String,
        found: usize,
        reason: IpnsError,
    },
    #[error("cannot publish {0:?}: give /ipfs/<CID>[/path] or /ipns/<name>[/path]")]
    BadValue(String),
    #[error("{0} points at itself through more than 32 /ipns/ names")]
    TooDeep(String),
    #[error("timed out after {0} s looking up the name in the DHT")]
    Timeout(u64),
    #[error(
        "the record for {name} is saved and will be republished while the node runs, but no DHT peer took it now: {reason}"
    )]
    /// The network's error is shown in the message, so it is not also a source.
    NotStored {
        name: String,
        reason: crate::net::NetError,
    },
    /// The I/O error is shown in the message, so it is not also a source.
    #[error("{context}: {err}")]
    Io { context: String, err: std::io::Error },
}

struct Cached {
    record: Record,
    until: Instant,
}

/// Names on one node: the repo's keys, the network, the resolve cache.
pub struct Names {
    repo: Arc<Repo>,
    net: NetHandle,
    cache: Mutex<HashMap<Name, Cached>>,
    /// Wakes the republisher when a name is published (its lifetime may be
    /// shorter than the republisher's sleep).
    published: tokio::sync::Notify,
}

/// What `publish` did.
pub struct Published {
    pub name: Name,
    pub record: Record,
    /// How many DHT peers took it.
    pub peers: usize,
}

/// Checks a value to publish: `/ipfs/<CID>[/…]` or `/ipns/<name>[/…]`.
pub fn check_value(value: &str) -> Result<(), NameError> {
    let bad = || NameError::BadValue(value.to_string());
    let (ns, rest) = value
        .strip_prefix('/')
        .and_then(|v| v.split_once('/'))
        .ok_or_else(bad)?;
    let first = rest.split('/').next().unwrap_or("");
    match ns {
        "ipfs" => crate::block::parse_cid(first).map(|_| ()).map_err(|_| bad()),
        "ipns" => Name::parse(first).map(|_| ()).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

impl Names {
    /// Names on this node; starts republishing what was published before.
    pub fn start(repo: Arc<Repo>, net: NetHandle) -> Arc<Names> {
        let names = Arc::new(Names {
            repo,
            net,
            cache: Mutex::new(HashMap::new()),
            published: tokio::sync::Notify::new(),
        });
        republish::start(names.clone());
        names
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<Name, Cached>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes `value` under the key `key` (`self` or a named key) with
    /// a record valid for `lifetime`, cacheable for `ttl`. The sequence
    /// number grows whenever the value changes; it starts above any record
    /// of the name known here or found in the DHT. With `follow` (a files/
    /// path), the name is republished as that folder changes (`follow.rs`).
    pub fn publish(
        &self,
        key: &str,
        value: &str,
        lifetime: Duration,
        ttl: Duration,
        follow: Option<&str>,
    ) -> Result<Published, NameError> {
        check_value(value)?;
        let kp = self.repo.keys().get(key)?;
        let name = Name(kp.public().to_peer_id());
        let mut prev = republish::load(&self.repo, &name).map(|p| p.record);
        // A record of ours in the DHT may be newer (a lost repo, another node).
        if let Ok(found) = self.lookup(&name)
            && prev.as_ref().is_none_or(|p| better(&found, p))
        {
            prev = Some(found);
        }
        let seq = match &prev {
            Some(p) if p.value == value.as_bytes() => p.sequence,
            Some(p) => p
                .sequence
                .checked_add(1)
                .ok_or(IpnsError::Sign("sequence number exhausted".into()))?,
            None => 0,
        };
        let eol = SystemTime::now() + lifetime;
        let record = Record::create(&kp, value.as_bytes(), seq, eol, ttl)?;
        republish::save(&self.repo, &name, &record, lifetime, follow)?;
        self.published.notify_one();
        self.remember(&name, &record);
        let peers = self.put(&name, &record)?;
        Ok(Published { name, record, peers })
    }

    /// Puts a record of `name` into the DHT.
    fn put(&self, name: &Name, record: &Record) -> Result<usize, NameError> {
        let put = self.net.put_value(name.routing_key(), record.to_bytes().to_vec());
        self.net.block_on(put).map_err(|e| NameError::NotStored {
            name: name.to_string(),
            reason: e,
        })
    }

    fn remember(&self, name: &Name, record: &Record) {
        let left = record.eol.duration_since(SystemTime::now()).unwrap_or_default();
        let until = Instant::now() + record.ttl.min(left);
        self.cache().insert(
            *name,
            Cached {
                record: record.clone(),
                until,
            },
        );
    }

    /// The best valid record of `name` in the DHT (the local store included).
    fn lookup(&self, name: &Name) -> Result<Record, NameError> {
        let get = self.net.get_value(name.routing_key());
        let values = self
            .net
            .block_on(async { tokio::time::timeout(LOOKUP_TIMEOUT, get).await })
            .map_err(|_| NameError::Timeout(LOOKUP_TIMEOUT.as_secs()))??;
        let now = SystemTime::now();
        let mut best: Option<Record> = None;
        let mut first_error = None;
        for v in &values {
            match Record::parse(v).and_then(|r| r.validate(name, now).map(|()| r)) {
                Ok(r) if best.as_ref().is_none_or(|b| better(&r, b)) => best = Some(r),
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!("IPNS record for {name} rejected: {e}");
                    first_error.get_or_insert(e);
                }
            }
        }
        match (best, first_error) {
            (Some(b), _) => Ok(b),
            (None, Some(reason)) => Err(NameError::NoneValid {
                name: name.to_string(),
                found: values.len(),
                reason,
            }),
            (None, None) => Err(NameError::NotFound(name.to_string())),
        }
    }

    /// Whether this node published a record of `name` (one it still has).
    pub fn published(&self, name: &Name) -> bool {
        republish::load(&self.repo, name).is_some()
    }

    /// The current record of `name`: ours, as last published, when we
    /// publish it; else from the cache while its TTL runs
    /// (unless `nocache`), else from the DHT. A record found with a lower
    /// sequence than one already seen is not taken.
    pub fn resolve(&self, name: &Name, nocache: bool) -> Result<Record, NameError> {
        let now = SystemTime::now();
        if let Some(saved) = republish::load(&self.repo, name)
            && saved.record.validate(name, now).is_ok()
        {
            return Ok(saved.record);
        }
        let known = self.cache().get(name).and_then(|c| {
            let valid = c.record.validate(name, now).is_ok();
            valid.then(|| (c.record.clone(), c.until > Instant::now()))
        });
        if let Some((r, fresh)) = &known
            && *fresh
            && !nocache
        {
            return Ok(r.clone());
        }
        let found = match (self.lookup(name), known) {
            (Ok(f), Some((k, _))) if better(&k, &f) => {
                tracing::info!(
                    "{}",
                    IpnsError::LowerSequence {
                        got: f.sequence,
                        have: k.sequence
                    }
                );
                k
            }
            (Ok(f), _) => f,
            // The DHT lost it, the one known is still valid.
            (Err(_), Some((k, _))) => k,
            (Err(e), None) => return Err(e),
        };
        self.remember(name, &found);
        Ok(found)
    }

    /// The best valid record of `name` in the DHT (`routing get`).
    pub fn get_record(&self, name: &Name) -> Result<Record, NameError> {
        self.lookup(name)
    }

    /// Puts a record someone made (`routing put`): it must be a valid
    /// record of `name`, not older than the best one known.
    pub fn put_record(&self, name: &Name, bytes: &[u8]) -> Result<usize, NameError> {
        let record = Record::parse(bytes)?;
        record.validate(name, SystemTime::now())?;
        if let Ok(known) = self.resolve(name, true) {
            crate::ipns::check_newer(&record, &known)?;
        }
        self.remember(name, &record);
        self.put(name, &record)
    }

    /// Resolves an `/ipns/<name>[/path]` path (or a bare name) to an
    /// `/ipfs/<CID>[/path]` path, following names that point at names.
    pub fn resolve_path(&self, path: &str, nocache: bool) -> Result<String, NameError> {
        let mut path = path.to_string();
        for _ in 0..MAX_DEPTH {
            let p = path.strip_prefix("/ipns/").unwrap_or(&path);
            let (first, rest) = p.split_once('/').map_or((p, ""), |(a, b)| (a, b));
            let name = Name::parse(first)?;
            let record = self.resolve(&name, nocache)?;
            let value = record.value_str()?.trim_end_matches('/');
            path = if rest.is_empty() {
                value.to_string()
            } else {
                format!("{value}/{rest}")
            };
            if path.starts_with("/ipfs/") {
                return Ok(path);
            }
            if !path.starts_with("/ipns/") {
                return Err(NameError::BadValue(path));
            }
        }
        Err(NameError::TooDeep(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_ipfs_or_ipns_paths() {
        for ok in [
            "/ipfs/bafkqaaa",
            "/ipfs/bafkqaaa/a/b",
            "/ipns/k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8",
        ] {
            check_value(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "",
            "/",
            "bafkqaaa",
            "/ipfs/",
            "/ipfs/nope",
            "/ipns/nope",
            "/files/x",
        ] {
            assert!(check_value(bad).is_err(), "{bad}");
        }
    }
}
