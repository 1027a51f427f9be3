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
use super::both::Both;
use super::dht::{DhtError, Which, kad_of};
use crate::ipns::{IpnsError, Name, Record, check_newer};
use libp2p::kad::store::RecordStore;
use libp2p::{Swarm, kad};
use std::time::{Instant, SystemTime};
use tokio::sync::oneshot;

struct Put {
    stored: usize,
    last_error: Option<DhtError>,
    reply: oneshot::Sender<Result<usize, DhtError>>,
}

struct Get {
    found: Vec<Vec<u8>>,
    reply: oneshot::Sender<Vec<Vec<u8>>>,
}

/// Value queries under way on both DHTs.
#[derive(Default)]
pub struct Records {
    puts: Both<Put>,
    gets: Both<Get>,
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
        let put = Put {
            stored: 0,
            last_error: None,
            reply,
        };
        let started = self.puts.start(put, |w, put| {
            let record = kad::Record::new(kad::RecordKey::new(&key), value.clone());
            kad_of(swarm, w)
                .put_record(record, kad::Quorum::One)
                .map_err(|e| put.last_error = Some(DhtError::Store(e)))
                .ok()
        });
        if let Err(put) = started {
            let _ = put.reply.send(Err(put.last_error.unwrap_or(DhtError::Ended)));
        }
    }

    /// Gets every value stored under `key` in both DHTs (ours included);
    /// `reply` gets them, unchecked, once both queries ended.
    pub fn get(&mut self, swarm: &mut Swarm<Behaviour>, key: Vec<u8>, reply: oneshot::Sender<Vec<Vec<u8>>>) {
        let get = Get {
            found: Vec::new(),
            reply,
        };
        // A record lookup always starts a query.
        let _ = self.gets.start(get, |w, _| {
            Some(kad_of(swarm, w).get_record(kad::RecordKey::new(&key)))
        });
    }

    /// Takes the results of its own queries; gives back any other.
    pub fn progressed(
        &mut self,
        w: Which,
        q: kad::QueryId,
        result: kad::QueryResult,
        last: bool,
    ) -> Option<kad::QueryResult> {
        match result {
            kad::QueryResult::PutRecord(r) if self.puts.owns(w, q) => {
                if let Some(put) = self.puts.state(w, q) {
                    match r {
                        Ok(_) => put.stored += 1,
                        Err(e) => put.last_error = Some(DhtError::PutRecord(e)),
                    }
                }
                if last && let Some(p) = self.puts.ended(w, q) {
                    let r = if p.stored > 0 {
                        Ok(p.stored)
                    } else {
                        Err(p.last_error.unwrap_or(DhtError::Ended))
                    };
                    let _ = p.reply.send(r);
                }
                None
            }
            kad::QueryResult::GetRecord(r) if self.gets.owns(w, q) => {
                if let Some(get) = self.gets.state(w, q)
                    && let Ok(kad::GetRecordOk::FoundRecord(pr)) = r
                    && !get.found.contains(&pr.record.value)
                {
                    get.found.push(pr.record.value);
                }
                if last && let Some(g) = self.gets.ended(w, q) {
                    let _ = g.reply.send(g.found);
                }
                None
            }
            other => Some(other),
        }
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
