//! What the node knows of other peers, for `p2pfs id PEER`, `swarm addrs`,
//! `swarm disconnect` and `routing findpeer`: each peer's Identify answer
//! (kept for the most recent `REMEMBERED` peers), each open connection's
//! remote address, and lookups of a peer's addresses in both DHTs
//! (FIND_NODE walks towards the peer's ID; the peers nearest it tell its
//! addresses, as Kubo's `FindPeer`).

use super::both::Both;
use super::dht::{Which, kad_of};
use super::waiters::Waiters;
use super::{Behaviour, IdInfo, NetError};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::ConnectionId;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::{Multiaddr, PeerId, Swarm, identify, kad};
use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroUsize;
use tokio::sync::oneshot;

/// Identify answers kept (a few KiB each): every connected peer of a
/// busy node, and the recently gone.
const REMEMBERED: usize = 2048;
/// Addresses kept from one peer's Identify (a peer chooses how many it sends).
const ADDRS_PER_PEER: usize = 16;
/// Protocols kept from one peer's Identify.
const PROTOCOLS_PER_PEER: usize = 64;

/// Requests about other peers, answered by the swarm task.
pub enum Ask {
    /// What the peer told about itself (None: it never identified).
    Info(PeerId, oneshot::Sender<Option<IdInfo>>),
    /// Be connected to the peer and have its Identify answer: dial it at
    /// these addresses (and any known) when not connected.
    Identify(PeerId, Vec<Multiaddr>, oneshot::Sender<Result<PeerId, NetError>>),
    /// Every peer with an address we know: connections, Identify, DHT tables.
    KnownAddrs(oneshot::Sender<BTreeMap<String, Vec<String>>>),
    /// Close the connections to `/p2p/ID` (all) or `ADDR/p2p/ID` (that one).
    Disconnect(Multiaddr, oneshot::Sender<Result<PeerId, NetError>>),
    /// A peer's addresses: known ones if connected, else from both DHTs.
    FindPeer(PeerId, oneshot::Sender<Vec<Multiaddr>>),
}

struct Identified {
    public_key: String,
    agent: String,
    protocols: Vec<String>,
    listen: Vec<Multiaddr>,
}

struct Lookup {
    peer: PeerId,
    found: Vec<Multiaddr>,
    reply: oneshot::Sender<Vec<Multiaddr>>,
}

/// A disconnect waiting for its connections to be closed.
struct Closing {
    peer: PeerId,
    left: Vec<ConnectionId>,
    reply: oneshot::Sender<Result<PeerId, NetError>>,
}

pub struct PeerBook {
    identified: lru::LruCache<PeerId, Identified>,
    conns: HashMap<PeerId, Vec<(ConnectionId, Multiaddr)>>,
    closing: Vec<Closing>,
    lookups: Both<Lookup>,
}

impl Default for PeerBook {
    fn default() -> Self {
        PeerBook {
            identified: lru::LruCache::new(NonZeroUsize::new(REMEMBERED).unwrap_or(NonZeroUsize::MIN)),
            conns: HashMap::new(),
            closing: Vec::new(),
            lookups: Both::default(),
        }
    }
}

/// The public key as `ipfs id` prints it: base64 of its protobuf encoding.
pub fn public_key_string(key: &libp2p::identity::PublicKey) -> String {
    // Multibase "M" is RFC 4648 base64 with padding, Go's StdEncoding.
    let s = multibase::encode(multibase::Base::Base64Pad, key.encode_protobuf());
    s.get(1..).unwrap_or_default().to_string()
}

/// `addr` without a trailing `/p2p/<id>`.
fn transport_part(addr: &Multiaddr) -> Multiaddr {
    addr.iter().filter(|p| !matches!(p, Protocol::P2p(_))).collect()
}

impl PeerBook {
    pub fn opened(&mut self, peer: PeerId, id: ConnectionId, addr: &Multiaddr) {
        self.conns
            .entry(peer)
            .or_default()
            .push((id, transport_part(addr)));
    }

    pub fn closed(&mut self, peer: &PeerId, id: ConnectionId) {
        if let Some(v) = self.conns.get_mut(peer) {
            v.retain(|(c, _)| *c != id);
            if v.is_empty() {
                self.conns.remove(peer);
            }
        }
        for c in &mut self.closing {
            c.left.retain(|l| *l != id);
        }
        for done in self.closing.extract_if(.., |c| c.left.is_empty()) {
            let _ = done.reply.send(Ok(done.peer));
        }
    }

    pub fn identified(&mut self, peer: PeerId, info: &identify::Info) {
        let mut protocols: Vec<String> = info
            .protocols
            .iter()
            .take(PROTOCOLS_PER_PEER)
            .map(|p| p.to_string())
            .collect();
        protocols.sort();
        let listen = info
            .listen_addrs
            .iter()
            .take(ADDRS_PER_PEER)
            .map(transport_part)
            .collect();
        let entry = Identified {
            public_key: public_key_string(&info.public_key),
            agent: info
                .agent_version
                .chars()
                .filter(|c| !c.is_control())
                .take(256)
                .collect(),
            protocols,
            listen,
        };
        self.identified.put(peer, entry);
    }

    /// Addresses of a connected peer: where it listens, else where we reach it.
    fn addrs_of(&self, peer: &PeerId) -> Vec<Multiaddr> {
        let mut v: Vec<Multiaddr> = self
            .identified
            .peek(peer)
            .map(|i| i.listen.clone())
            .unwrap_or_default();
        for (_, a) in self.conns.get(peer).into_iter().flatten() {
            if !v.contains(a) {
                v.push(a.clone());
            }
        }
        v
    }

    fn info(&mut self, peer: PeerId) -> Option<IdInfo> {
        let addrs = self.addrs_of(&peer);
        let i = self.identified.get(&peer)?;
        let mut addresses: Vec<String> = addrs.iter().map(|a| format!("{a}/p2p/{peer}")).collect();
        addresses.sort();
        Some(IdInfo {
            id: peer.to_string(),
            public_key: i.public_key.clone(),
            addresses,
            agent_version: i.agent.clone(),
            protocols: i.protocols.clone(),
        })
    }

    pub fn handle(&mut self, swarm: &mut Swarm<Behaviour>, waiters: &mut Waiters, ask: Ask) {
        match ask {
            Ask::Info(peer, reply) => {
                let _ = reply.send(self.info(peer));
            }
            Ask::Identify(peer, addrs, reply) => self.identify(swarm, waiters, peer, addrs, reply),
            Ask::KnownAddrs(reply) => {
                let _ = reply.send(self.known(swarm));
            }
            Ask::Disconnect(addr, reply) => match self.disconnect(swarm, &addr) {
                // Answered once the swarm has closed them all (`closed`).
                Ok((peer, left)) if !left.is_empty() => self.closing.push(Closing { peer, left, reply }),
                Ok((peer, _)) => {
                    let _ = reply.send(Ok(peer));
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Ask::FindPeer(peer, reply) => self.find(swarm, peer, reply),
        }
    }

    fn identify(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        waiters: &mut Waiters,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        reply: oneshot::Sender<Result<PeerId, NetError>>,
    ) {
        if self.conns.contains_key(&peer) {
            if self.identified.contains(&peer) {
                let _ = reply.send(Ok(peer));
            } else {
                waiters.identify(peer, reply);
            }
            return;
        }
        let first = addrs.first().cloned().unwrap_or_else(Multiaddr::empty);
        // Addresses the behaviours know (the DHT tables) are tried too.
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .extend_addresses_through_behaviour()
            .build();
        match swarm.dial(opts) {
            Ok(()) => waiters.dial_by_hand(peer, first, reply),
            Err(e) => {
                let _ = reply.send(Err(NetError::Dial {
                    addr: first,
                    reason: e.to_string(),
                }));
            }
        }
    }

    /// Every peer with a known address, as `ipfs swarm addrs` lists them.
    fn known(&self, swarm: &mut Swarm<Behaviour>) -> BTreeMap<String, Vec<String>> {
        let mut all: BTreeMap<PeerId, Vec<Multiaddr>> = BTreeMap::new();
        let mut add = |p: PeerId, a: &Multiaddr| {
            let v = all.entry(p).or_default();
            let a = transport_part(a);
            if !v.contains(&a) {
                v.push(a);
            }
        };
        for (p, conns) in &self.conns {
            for (_, a) in conns {
                add(*p, a);
            }
        }
        for (p, i) in self.identified.iter() {
            i.listen.iter().for_each(|a| add(*p, a));
        }
        for w in [Which::Wan, Which::Lan] {
            for bucket in kad_of(swarm, w).kbuckets() {
                for e in bucket.iter() {
                    e.node.value.iter().for_each(|a| add(*e.node.key.preimage(), a));
                }
            }
        }
        all.into_iter()
            .map(|(p, v)| {
                let mut v: Vec<String> = v.iter().map(|a| a.to_string()).collect();
                v.sort();
                (p.to_string(), v)
            })
            .collect()
    }

    /// Starts closing the connections `addr` names; Ok(the peer, those
    /// still open).
    fn disconnect(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        addr: &Multiaddr,
    ) -> Result<(PeerId, Vec<ConnectionId>), NetError> {
        let Some(peer) = super::connmgr::peer_of(addr) else {
            return Err(NetError::Dial {
                addr: addr.clone(),
                reason: "the address must end in /p2p/<peer ID>".into(),
            });
        };
        let Some(conns) = self.conns.get(&peer) else {
            return Err(NetError::NotConnected(peer));
        };
        // `/p2p/ID` alone: every connection to the peer.
        let want = transport_part(addr);
        let matching: Vec<ConnectionId> = conns
            .iter()
            .filter(|(_, a)| want.is_empty() || *a == want)
            .map(|(c, _)| *c)
            .collect();
        if matching.is_empty() {
            return Err(NetError::NoConnection { peer, addr: want });
        }
        // One the swarm no longer knows is closed already.
        let left = matching
            .into_iter()
            .filter(|c| swarm.close_connection(*c))
            .collect();
        Ok((peer, left))
    }

    fn find(&mut self, swarm: &mut Swarm<Behaviour>, peer: PeerId, reply: oneshot::Sender<Vec<Multiaddr>>) {
        // Connected: what it told us is its own word (as Kubo's FindLocal).
        if self.conns.contains_key(&peer) {
            let mut addrs = self.addrs_of(&peer);
            addrs.sort_by_key(|a| a.to_string());
            let _ = reply.send(addrs);
            return;
        }
        let l = Lookup {
            peer,
            found: Vec::new(),
            reply,
        };
        // Looking a peer up always starts a query.
        let _ = self
            .lookups
            .start(l, |w, _| Some(kad_of(swarm, w).get_closest_peers(peer)));
    }

    /// Takes the results of its own DHT queries; gives back any other.
    pub fn progressed(
        &mut self,
        w: Which,
        q: kad::QueryId,
        result: kad::QueryResult,
        last: bool,
    ) -> Option<kad::QueryResult> {
        if !self.lookups.owns(w, q) {
            return Some(result);
        }
        let kad::QueryResult::GetClosestPeers(r) = result else {
            return Some(result);
        };
        let peers = match r {
            Ok(ok) => ok.peers,
            // A timeout still tells the peers it reached.
            Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
        };
        if let Some(l) = self.lookups.state(w, q) {
            for p in peers.iter().filter(|p| p.peer_id == l.peer) {
                for a in p.addrs.iter().map(transport_part) {
                    if !l.found.contains(&a) {
                        l.found.push(a);
                    }
                }
            }
        }
        if last && let Some(mut l) = self.lookups.ended(w, q) {
            l.found.sort_by_key(|a| a.to_string());
            let _ = l.reply.send(l.found);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_is_base64_of_the_protobuf_form() {
        let key = libp2p::identity::Keypair::ed25519_from_bytes([7u8; 32]).unwrap();
        let s = public_key_string(&key.public());
        // Ed25519 keys: type 1, 32 bytes: "CAESI" then the key.
        assert!(s.starts_with("CAESI"), "{s}");
        let (_, bytes) = multibase::decode(format!("M{s}")).unwrap();
        let back = libp2p::identity::PublicKey::try_decode_protobuf(&bytes).unwrap();
        assert_eq!(back.to_peer_id(), key.public().to_peer_id());
    }

    #[test]
    fn transport_part_drops_the_peer_id() {
        let p = PeerId::random();
        let a: Multiaddr = format!("/ip4/127.0.0.1/tcp/4001/p2p/{p}").parse().unwrap();
        assert_eq!(transport_part(&a).to_string(), "/ip4/127.0.0.1/tcp/4001");
        let only: Multiaddr = format!("/p2p/{p}").parse().unwrap();
        assert!(transport_part(&only).is_empty());
    }
}
