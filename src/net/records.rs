//! Value records in both DHTs (PUT_VALUE / GET_VALUE): IPNS records under
//! `/ipns/<peer-id bytes>`, the only namespace served, as Kubo's validator
//! allows (`/pk/` keys are inlined in Ed25519 peer IDs).
//!
//! Kademlia runs with `StoreInserts::FilterBoth`, so every record a peer
//! puts comes here first: an IPNS record is kept only if it is valid (size,
//! key, V2 signature, not expired) and better than the one held (higher
//! sequence, then later end of life), as a Kubo DHT server does. Provider
//! records (which the same setting also hands over) are stored as they are.

use super::Behaviour;
use super::dht::{DhtError, Which};
use crate::ipns::{IpnsError, Name, Record, check_newer};
use libp2p::kad::store::RecordStore;
use libp2p::{Swarm, kad};
use std::collections::HashMap;
use std::time::{Instant, SystemTime};
use tokio::sync::oneshot;

struct Put {
    running: usize,
    stored: usize,
    last_error: Option<DhtError>,
    reply: oneshot::Sender<Result<usize, DhtError>>,
}

struct Get {
    running: usize,
    found: Vec<Vec<u8>>,
    reply: oneshot::Sender<Vec<Vec<u8>>>,
}

/// Value queries under way on both DHTs.
#[derive(Default)]
pub struct Records {
    next: u64,
    puts: HashMap<u64, Put>,
    gets: HashMap<u64, Get>,
    queries: HashMap<(Which, kad::QueryId), u64>,
}

fn kad_of(swarm: &mut Swarm<Behaviour>, w: Which) -> &mut kad::Behaviour<kad::store::MemoryStore> {
    match w {
        Which::Wan => &mut swarm.behaviour_mut().kad,
        Which::Lan => &mut swarm.behaviour_mut().lan,
    }
}

/// Why a peer's value record is not stored.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("only /ipns/ records are accepted")]
    NotIpns,
    #[error(transparent)]
    Ipns(#[from] IpnsError),
}

/// Whether `value` may be stored under `key`, given what is held: a valid
/// IPNS record better than the held one (an invalid held one counts as none).
pub fn acceptable(key: &[u8], value: &[u8], held: Option<&[u8]>) -> Result<(), Refused> {
    let name = Name::from_routing_key(key).ok_or(Refused::NotIpns)?;
    let now = SystemTime::now();
    let new = Record::parse(value)?;
    new.validate(&name, now)?;
    match held.and_then(|h| Record::parse(h).ok()) {
        Some(old) if old.validate(&name, now).is_ok() => Ok(check_newer(&new, &old)?),
        _ => Ok(()),
    }
}

impl Records {
    /// A peer put a record or a provider record into DHT `w`.
    pub fn inbound(&mut self, swarm: &mut Swarm<Behaviour>, w: Which, request: kad::InboundRequest) {
        let store = kad_of(swarm, w).store_mut();
        match request {
            kad::InboundRequest::PutRecord {
                source,
                record: Some(mut record),
                ..
            } => {
                let held = store.get(&record.key).map(|r| r.value.clone());
                match acceptable(record.key.as_ref(), &record.value, held.as_deref()) {
                    Ok(()) => {
                        // Kept no longer than the record is valid.
                        if let Ok(eol) = Record::parse(&record.value)
                            && let Ok(left) = eol.eol.duration_since(SystemTime::now())
                        {
                            let until = Instant::now() + left;
                            record.expires = Some(record.expires.map_or(until, |e| e.min(until)));
                        }
                        if let Err(e) = store.put(record) {
                            tracing::debug!("record from {source} not stored: {e}");
                        }
                    }
                    Err(e) => tracing::debug!("record from {source} refused ({w:?} DHT): {e}"),
                }
            }
            kad::InboundRequest::AddProvider { record: Some(r) } => {
                if let Err(e) = store.add_provider(r) {
                    tracing::debug!("provider record not stored: {e}");
                }
            }
            _ => {}
        }
    }

    /// Puts `value` under `key` into both DHTs; `reply` gets how many
    /// peers took it (an error if none did).
    pub fn put(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        key: Vec<u8>,
        value: Vec<u8>,
        reply: oneshot::Sender<Result<usize, DhtError>>,
    ) {
        let id = self.next;
        self.next += 1;
        let mut put = Put {
            running: 0,
            stored: 0,
            last_error: None,
            reply,
        };
        for w in [Which::Wan, Which::Lan] {
            let record = kad::Record::new(kad::RecordKey::new(&key), value.clone());
            match kad_of(swarm, w).put_record(record, kad::Quorum::One) {
                Ok(q) => {
                    self.queries.insert((w, q), id);
                    put.running += 1;
                }
                Err(e) => put.last_error = Some(DhtError::Store(e)),
            }
        }
        if put.running == 0 {
            let _ = put.reply.send(Err(put.last_error.unwrap_or(DhtError::Ended)));
        } else {
            self.puts.insert(id, put);
        }
    }

    /// Gets every value stored under `key` in both DHTs (ours included);
    /// `reply` gets them, unchecked, once both queries ended.
    pub fn get(&mut self, swarm: &mut Swarm<Behaviour>, key: Vec<u8>, reply: oneshot::Sender<Vec<Vec<u8>>>) {
        let id = self.next;
        self.next += 1;
        for w in [Which::Wan, Which::Lan] {
            let q = kad_of(swarm, w).get_record(kad::RecordKey::new(&key));
            self.queries.insert((w, q), id);
        }
        let get = Get {
            running: 2,
            found: Vec::new(),
            reply,
        };
        self.gets.insert(id, get);
    }

    /// Takes the results of its own queries; gives back any other.
    pub fn progressed(
        &mut self,
        w: Which,
        q: kad::QueryId,
        result: kad::QueryResult,
        last: bool,
    ) -> Option<kad::QueryResult> {
        let Some(&id) = self.queries.get(&(w, q)) else {
            return Some(result);
        };
        if last {
            self.queries.remove(&(w, q));
        }
        match result {
            kad::QueryResult::PutRecord(r) => {
                let put = self.puts.get_mut(&id)?;
                match r {
                    Ok(_) => put.stored += 1,
                    Err(e) => put.last_error = Some(DhtError::PutRecord(e)),
                }
                if last {
                    put.running -= 1;
                    if put.running == 0
                        && let Some(p) = self.puts.remove(&id)
                    {
                        let r = if p.stored > 0 {
                            Ok(p.stored)
                        } else {
                            Err(p.last_error.unwrap_or(DhtError::Ended))
                        };
                        let _ = p.reply.send(r);
                    }
                }
            }
            kad::QueryResult::GetRecord(r) => {
                let get = self.gets.get_mut(&id)?;
                if let Ok(kad::GetRecordOk::FoundRecord(pr)) = r
                    && !get.found.contains(&pr.record.value)
                {
                    get.found.push(pr.record.value);
                }
                if last {
                    get.running -= 1;
                    if get.running == 0
                        && let Some(g) = self.gets.remove(&id)
                    {
                        let _ = g.reply.send(g.found);
                    }
                }
            }
            other => return Some(other),
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn only_valid_better_ipns_records_are_kept() {
        let key = libp2p::identity::Keypair::generate_ed25519();
        let name = Name(key.public().to_peer_id());
        let rk = name.routing_key();
        let eol = SystemTime::now() + Duration::from_secs(3600);
        let rec = |seq| Record::create(&key, b"/ipfs/bafkqaaa", seq, eol, Duration::from_secs(60)).unwrap();
        let (r1, r2) = (rec(1), rec(2));
        assert!(acceptable(&rk, r1.to_bytes(), None).is_ok());
        assert!(acceptable(&rk, r2.to_bytes(), Some(r1.to_bytes())).is_ok());
        let lower = acceptable(&rk, r1.to_bytes(), Some(r2.to_bytes()))
            .unwrap_err()
            .to_string();
        assert!(lower.contains("lower than the 2 already known"), "{lower}");
        // The same record again is fine; another with its sequence, ending no later, is not.
        assert!(acceptable(&rk, r1.to_bytes(), Some(r1.to_bytes())).is_ok());
        let other_value = Record::create(&key, b"/ipfs/bafkqaab", 1, eol, Duration::from_secs(60)).unwrap();
        let same_seq = acceptable(&rk, other_value.to_bytes(), Some(r1.to_bytes()))
            .unwrap_err()
            .to_string();
        assert!(same_seq.contains("same sequence"), "{same_seq}");
        // Someone else's key, another namespace, garbage.
        let other = Name(
            libp2p::identity::Keypair::generate_ed25519()
                .public()
                .to_peer_id(),
        );
        assert!(acceptable(&other.routing_key(), r1.to_bytes(), None).is_err());
        assert!(matches!(
            acceptable(b"/pk/x", r1.to_bytes(), None),
            Err(Refused::NotIpns)
        ));
        assert!(acceptable(&rk, b"junk", None).is_err());
        // Expired.
        let old = Record::create(
            &key,
            b"/ipfs/bafkqaaa",
            9,
            SystemTime::now() - Duration::from_secs(1),
            Duration::ZERO,
        )
        .unwrap();
        assert!(
            acceptable(&rk, old.to_bytes(), None)
                .unwrap_err()
                .to_string()
                .contains("expired")
        );
        // A damaged held record does not block a valid one.
        assert!(acceptable(&rk, r1.to_bytes(), Some(b"junk")).is_ok());
    }
}
