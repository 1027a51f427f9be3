//! Both of Kubo's DHTs: `/ipfs/kad/1.0.0` (the WAN DHT, the public
//! network) and `/ipfs/lan/kad/1.0.0` (the LAN DHT: peers reached at
//! private or loopback addresses). A Kubo node keeps a peer with only
//! private addresses out of its WAN table and keeps provider records per
//! DHT, so on a home network, an office or a test bed, records put into
//! the WAN DHT are stored but never returned. As Kubo does, p2pfs serves
//! and queries both: LAN for private and loopback addresses, provides
//! into both and looks up in both (results merged).
//!
//! The WAN DHT also takes private addresses of p2pfs peers (p2pfs nodes on
//! one LAN have always found each other through it); Kubo filters them on
//! its side.

use super::Behaviour;
use super::both::Both;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, kad};
use std::collections::{HashSet, VecDeque};
use std::time::Duration;
use tokio::sync::oneshot;

pub const WAN: &str = "/ipfs/kad/1.0.0";
pub const LAN: &str = "/ipfs/lan/kad/1.0.0";
/// Background provider-record queries under way at most (urgent ones, the
/// roots of what was just added or pinned, do not wait).
const PROVIDES_AT_ONCE: usize = 32;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Which {
    Wan,
    Lan,
}

/// A Kademlia behaviour for `protocol`, with p2pfs's settings.
pub fn behaviour(peer: PeerId, protocol: &'static str) -> kad::Behaviour<kad::store::MemoryStore> {
    let mut cfg = kad::Config::new(StreamProtocol::new(protocol));
    cfg.set_max_packet_size(4 << 20);
    // Our records live 48 h at the peers that keep them and are
    // republished every 12 h, well before they expire (Kubo's values:
    // 48 h, 22 h).
    cfg.set_provider_record_ttl(Some(Duration::from_secs(48 * 3600)));
    cfg.set_provider_publication_interval(Some(Duration::from_secs(12 * 3600)));
    // Value records (IPNS) are checked before they are stored (`records.rs`).
    cfg.set_record_filtering(kad::StoreInserts::FilterBoth);
    cfg.set_record_ttl(Some(Duration::from_secs(48 * 3600)));
    let store = kad::store::MemoryStore::with_config(
        peer,
        kad::store::MemoryStoreConfig {
            max_provided_keys: 1 << 20,
            // IPNS records are at most 10 KiB: 64 Ki of them, at most 640 MiB.
            max_records: 1 << 16,
            max_value_bytes: crate::ipns::MAX_RECORD_SIZE,
            ..Default::default()
        },
    );
    kad::Behaviour::with_config(peer, store, cfg)
}

/// Whether an address is one the LAN DHT deals in (Kubo's private filter:
/// private, loopback, link-local, unique-local).
pub fn is_lan(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_private() || ip.is_loopback() || ip.is_link_local(),
        Protocol::Ip6(ip) => {
            ip.is_loopback() || (ip.segments()[0] & 0xfe00) == 0xfc00 || (ip.segments()[0] & 0xffc0) == 0xfe80
        }
        _ => false,
    })
}

struct Find {
    found: Vec<PeerId>,
    reply: oneshot::Sender<Vec<PeerId>>,
}

/// Why putting a record into the DHTs failed. The cause is in the message
/// (so it is not also a source).
#[derive(Debug, Clone, thiserror::Error)]
pub enum DhtError {
    #[error("the local record store refused the record: {0}")]
    Store(kad::store::Error),
    #[error("no peer took the provider record: {0}")]
    AddProvider(kad::AddProviderError),
    #[error("no peer took the record: {0}")]
    PutRecord(kad::PutRecordError),
    #[error("the DHT query ended without an answer (the node is stopping?)")]
    Ended,
}

/// An explicit provide (`routing provide`, `add` through a node): the
/// record goes into both DHTs, and the answer waits for both queries.
struct Provide {
    /// Whether some peer took the record (a query with any success).
    reached: bool,
    error: Option<DhtError>,
    reply: oneshot::Sender<Result<bool, DhtError>>,
}

/// Queries under way on both DHTs.
#[derive(Default)]
pub struct Dht {
    finds: Both<Find>,
    /// Explicit provides, answered once both queries ended.
    provides: Both<Provide>,
    /// Background provides under way.
    providing: HashSet<(Which, kad::QueryId)>,
    to_provide: VecDeque<Vec<u8>>,
    urgent: VecDeque<Vec<u8>>,
}

/// The Kademlia behaviour of DHT `w`.
pub(super) fn kad_of(swarm: &mut Swarm<Behaviour>, w: Which) -> &mut kad::Behaviour<kad::store::MemoryStore> {
    match w {
        Which::Wan => &mut swarm.behaviour_mut().kad,
        Which::Lan => &mut swarm.behaviour_mut().lan,
    }
}

impl Dht {
    /// A peer said (by Identify) which DHTs it speaks and where it listens.
    pub fn add_peer(
        &self,
        swarm: &mut Swarm<Behaviour>,
        peer: PeerId,
        protocols: &[StreamProtocol],
        addrs: &[Multiaddr],
    ) {
        if protocols.iter().any(|p| p.as_ref() == WAN) {
            for a in addrs {
                swarm.behaviour_mut().kad.add_address(&peer, a.clone());
            }
        }
        if protocols.iter().any(|p| p.as_ref() == LAN) {
            for a in addrs.iter().filter(|a| is_lan(a)) {
                swarm.behaviour_mut().lan.add_address(&peer, a.clone());
            }
        }
    }

    /// Queues background provider records (urgent ones first).
    pub fn queue(&mut self, keys: Vec<Vec<u8>>, urgent: bool) {
        if urgent {
            self.urgent.extend(keys);
        } else {
            self.to_provide.extend(keys);
        }
    }

    /// Starts queued provides: urgent ones all, the rest paced.
    pub fn pump(&mut self, swarm: &mut Swarm<Behaviour>) {
        loop {
            let key = match self.urgent.pop_front() {
                Some(k) => k,
                None if self.providing.len() < 2 * PROVIDES_AT_ONCE => match self.to_provide.pop_front() {
                    Some(k) => k,
                    None => break,
                },
                None => break,
            };
            for w in [Which::Wan, Which::Lan] {
                match kad_of(swarm, w).start_providing(kad::RecordKey::new(&key)) {
                    Ok(q) => {
                        self.providing.insert((w, q));
                    }
                    Err(e) => tracing::warn!("provider record not stored: {e}"),
                }
            }
        }
    }

    /// Announces one key now, in both DHTs; `reply` hears, once both
    /// queries ended, whether any peer took the record (Ok(false): none
    /// did, e.g. no DHT peer is known).
    pub fn provide(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        key: &[u8],
        reply: oneshot::Sender<Result<bool, DhtError>>,
    ) {
        let p = Provide {
            reached: false,
            error: None,
            reply,
        };
        let started = self.provides.start(p, |w, p| {
            kad_of(swarm, w)
                .start_providing(kad::RecordKey::new(&key))
                .map_err(|e| p.error = Some(DhtError::Store(e)))
                .ok()
        });
        if let Err(p) = started {
            let _ = p.reply.send(Err(p.error.unwrap_or(DhtError::Ended)));
        }
    }

    /// A provide query of DHT `w` ended; `reached`: some peer took the
    /// record (kad counts a peer it sent ADD_PROVIDER to as a success, and
    /// sends to the closest peers that answered, so none answering is none
    /// reached).
    pub fn provided(&mut self, w: Which, id: kad::QueryId, result: kad::AddProviderResult, reached: bool) {
        if self.providing.remove(&(w, id))
            && let Err(e) = &result
        {
            tracing::debug!("provider record ({w:?} DHT): {e}");
        }
        let Some(p) = self.provides.state(w, id) else {
            return;
        };
        p.reached |= reached;
        if let Err(e) = result {
            p.error = Some(DhtError::AddProvider(e));
        }
        if let Some(p) = self.provides.ended(w, id) {
            let r = match (p.reached, p.error) {
                (true, _) => Ok(true),
                (false, Some(e)) => Err(e),
                (false, None) => Ok(false),
            };
            let _ = p.reply.send(r);
        }
    }

    /// Looks providers up in both DHTs; `reply` gets them all once both ended.
    pub fn find(&mut self, swarm: &mut Swarm<Behaviour>, key: &[u8], reply: oneshot::Sender<Vec<PeerId>>) {
        let f = Find {
            found: Vec::new(),
            reply,
        };
        // A provider lookup always starts a query.
        let _ = self.finds.start(f, |w, _| {
            Some(kad_of(swarm, w).get_providers(kad::RecordKey::new(&key)))
        });
    }

    /// Progress of a provider lookup of DHT `w`. Providers found are
    /// dialed while the query still knows their addresses.
    pub fn progressed(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        w: Which,
        id: kad::QueryId,
        result: kad::GetProvidersResult,
        last: bool,
        connected: &dyn Fn(&PeerId) -> bool,
    ) {
        let me = *swarm.local_peer_id();
        let Some(f) = self.finds.state(w, id) else {
            return;
        };
        if let Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) = result {
            for p in providers.into_iter().filter(|p| *p != me) {
                if !connected(&p) {
                    let _ = swarm.dial(p);
                }
                if !f.found.contains(&p) {
                    f.found.push(p);
                }
            }
        }
        if last && let Some(f) = self.finds.ended(w, id) {
            let _ = f.reply.send(f.found);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lan_addresses_are_private_or_loopback() {
        for a in [
            "/ip4/10.1.2.3/tcp/1",
            "/ip4/192.168.0.9/tcp/1",
            "/ip4/127.0.0.1/udp/1/quic-v1",
            "/ip6/::1/tcp/1",
            "/ip6/fd00::1/tcp/4001",
        ] {
            assert!(is_lan(&a.parse().unwrap()), "{a}");
        }
        for a in [
            "/ip4/8.8.8.8/tcp/1",
            "/ip6/2001:db8::1/tcp/1",
            "/dns4/example.com/tcp/1",
        ] {
            assert!(!is_lan(&a.parse().unwrap()), "{a}");
        }
    }
}
