//! The swarm task: one [`EventLoop`] owns the `Swarm` and all that changes
//! with it (connected peers, listen addresses, DHT queries, dial waiters,
//! blocked peers). It takes commands from [`super::NetHandle`]
//! (`handle_command`) and swarm events (`handle_event`) one at a time, the
//! shape of rust-libp2p's file-sharing example; timers drive the connection
//! manager, the paced provider records and the expiry of blocks and waits.

use super::swarm::{Behaviour, BehaviourEvent};
use super::{
    AGENT, Command, IdInfo, NetError, announce, bitswap, connmgr, dht, keep, peers, protocols, records,
    waiters,
};
use futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, identify, kad};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, Interval};

/// How long a peer that broke the protocol (a wrong or oversized block, a
/// malformed message) is refused.
const BLOCK_FOR: Duration = Duration::from_secs(600);

pub(super) struct EventLoop {
    swarm: Swarm<Behaviour>,
    /// The connected peers as the handle reads them (`NetHandle::connected`).
    shared_peers: Arc<Mutex<HashSet<PeerId>>>,
    bitswap: Arc<bitswap::Bitswap>,
    keeper: keep::Keeper,
    /// Peers refused until a time (they broke the protocol).
    blocked_until: Vec<(Instant, PeerId)>,
    /// Expires blocks and dial waits.
    unblock: Interval,
    listen: Vec<Multiaddr>,
    /// Each connected peer and the address of its last connection.
    connected: HashMap<PeerId, Multiaddr>,
    waiters: waiters::Waiters,
    dht: dht::Dht,
    records: records::Records,
    book: peers::PeerBook,
    provide_tick: Interval,
    /// Announce addresses are set: listen addresses are told to no one.
    announcing: bool,
}

impl EventLoop {
    pub(super) fn new(
        swarm: Swarm<Behaviour>,
        shared_peers: Arc<Mutex<HashSet<PeerId>>>,
        bitswap: Arc<bitswap::Bitswap>,
        mgr: connmgr::Manager,
        announcing: bool,
    ) -> Self {
        EventLoop {
            swarm,
            shared_peers,
            bitswap,
            keeper: keep::Keeper::new(mgr),
            blocked_until: Vec::new(),
            unblock: tokio::time::interval(Duration::from_secs(2)),
            listen: Vec::new(),
            connected: HashMap::new(),
            waiters: waiters::Waiters::default(),
            dht: dht::Dht::default(),
            records: records::Records::default(),
            book: peers::PeerBook::default(),
            provide_tick: tokio::time::interval(Duration::from_secs(1)),
            announcing,
        }
    }

    /// Runs until every `NetHandle` is gone.
    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        loop {
            tokio::select! {
                _ = self.keeper.tick.tick() => self.keeper.check(&mut self.swarm, &self.bitswap),
                _ = self.keeper.save_tick.tick() => self.keeper.save(false),
                _ = self.keeper.ensure_tick.tick(), if self.keeper.ensuring() => {
                    self.keeper.ensure_expired(&self.swarm)
                }
                _ = self.provide_tick.tick() => {
                    // Records go out once someone can take them, urgent ones
                    // at once, the rest paced (a big add or fetch queues
                    // thousands, and each query costs a walk of the routing
                    // table).
                    if !self.connected.is_empty() {
                        self.dht.pump(&mut self.swarm);
                    }
                }
                _ = self.unblock.tick() => self.expire(),
                cmd = rx.recv() => match cmd {
                    None => return,
                    Some(cmd) => self.handle_command(cmd),
                },
                event = self.swarm.select_next_some() => self.handle_event(event),
            }
        }
    }

    /// Dial waits past their deadline end; blocked peers whose time is up
    /// are let in again.
    fn expire(&mut self) {
        let now = Instant::now();
        self.waiters.expire(now);
        let swarm = &mut self.swarm;
        self.blocked_until.retain(|(t, p)| {
            if *t <= now {
                swarm.behaviour_mut().blocked.unblock_peer(*p);
            }
            *t > now
        });
    }

    fn handle_command(&mut self, cmd: Command) {
        let swarm = &mut self.swarm;
        match cmd {
            Command::Shutdown(reply) => {
                self.keeper.save(true);
                let _ = reply.send(());
            }
            Command::AddBootstrap(addr) => self.keeper.mgr.add_bootstrap(addr),
            Command::EnsurePeers(reply) => self.keeper.ensure(swarm, reply),
            Command::Conns(reply) => {
                let _ = reply.send(self.keeper.stats(swarm));
            }
            Command::Peer(ask) => self.book.handle(swarm, &mut self.waiters, ask),
            Command::DropPeer(peer) => {
                swarm.behaviour_mut().blocked.block_peer(peer);
                self.blocked_until.push((Instant::now() + BLOCK_FOR, peer));
                let _ = swarm.disconnect_peer_id(peer);
            }
            Command::Provide(cid, reply) => self.provide(cid, reply),
            Command::ProvideKeys(keys, now) => {
                self.dht.queue(keys, now);
                if now {
                    self.provide_tick.reset_immediately();
                }
            }
            Command::PutValue(key, value, reply) => self.records.put(swarm, key, value, reply),
            Command::GetValue(key, reply) => self.records.get(swarm, key, reply),
            Command::FindProviders(cid, reply) => self.dht.find(swarm, &cid.hash().to_bytes(), reply),
            Command::ConnectPeer(peer, reply) => self.connect_peer(peer, reply),
            Command::Id(reply) => {
                let _ = reply.send(self.id());
            }
            Command::Peers(reply) => {
                let _ = reply.send(self.peers());
            }
            Command::Connect(addr, reply) => self.connect(addr, reply),
        }
    }

    /// One provider record, put now; the answer says whether a peer took it.
    fn provide(&mut self, cid: cid::Cid, reply: oneshot::Sender<Result<(), NetError>>) {
        let (tx, rx) = oneshot::channel();
        self.dht.provide(&mut self.swarm, &cid.hash().to_bytes(), tx);
        tokio::spawn(async move {
            let r = match rx.await.unwrap_or(Err(super::dht::DhtError::Ended)) {
                Ok(true) => Ok(()),
                Ok(false) => Err(NetError::NotProvided),
                Err(e) => Err(NetError::Dht(e)),
            };
            let _ = reply.send(r);
        });
    }

    /// A connection to a peer the DHT knows (addresses from the swarm's
    /// behaviours).
    fn connect_peer(&mut self, peer: PeerId, reply: oneshot::Sender<Result<PeerId, NetError>>) {
        if self.connected.contains_key(&peer) {
            let _ = reply.send(Ok(peer));
        } else if let Err(e) = self.swarm.dial(peer) {
            let _ = reply.send(Err(NetError::Dial {
                addr: Multiaddr::empty(),
                reason: e.to_string(),
            }));
        } else {
            self.waiters.dial_peer(peer, reply);
        }
    }

    /// `swarm connect ADDR`: answered once the peer has identified itself.
    fn connect(&mut self, addr: Multiaddr, reply: oneshot::Sender<Result<PeerId, NetError>>) {
        let Some(peer) = connmgr::peer_of(&addr) else {
            let _ = reply.send(Err(NetError::Dial {
                addr,
                reason: "the address must end in /p2p/<peer ID>".into(),
            }));
            return;
        };
        if self.connected.contains_key(&peer) {
            let _ = reply.send(Ok(peer));
            return;
        }
        self.keeper.mgr.by_hand(peer);
        match self.swarm.dial(addr.clone()) {
            Ok(()) => self.waiters.dial_by_hand(peer, addr, reply),
            Err(e) => {
                let _ = reply.send(Err(NetError::Dial {
                    addr,
                    reason: e.to_string(),
                }));
            }
        }
    }

    /// What `id` says of this node (the handle adds the public key).
    fn id(&self) -> IdInfo {
        IdInfo {
            id: self.swarm.local_peer_id().to_string(),
            public_key: String::new(),
            addresses: announce::own_addresses(&self.swarm, &self.listen, self.announcing),
            agent_version: AGENT.into(),
            protocols: protocols(),
        }
    }

    /// The connected peers, each with the address of its last connection.
    fn peers(&self) -> Vec<(PeerId, Multiaddr)> {
        let mut v: Vec<_> = self
            .connected
            .iter()
            .map(|(p, a)| {
                // A dialed address already ends in /p2p/<id>.
                let a = a.clone().with_p2p(*p).unwrap_or_else(|a| a);
                (*p, a)
            })
            .collect();
        v.sort_by_key(|(p, _)| p.to_string());
        v
    }

    fn set_shared(&self) {
        *self.shared_peers.lock().unwrap_or_else(|e| e.into_inner()) =
            self.connected.keys().copied().collect();
    }

    fn handle_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!("listening on {address}");
                // Provider records carry our confirmed external addresses
                // (peers drop records without any); on a LAN or loopback the
                // listen addresses are the ones peers can use, unless
                // announce addresses say otherwise.
                if !self.announcing {
                    self.swarm.add_external_address(address.clone());
                }
                self.listen.push(address);
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => self.listen.retain(|a| *a != address),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                connection_id,
                ..
            } => {
                self.book
                    .opened(peer_id, connection_id, endpoint.get_remote_address());
                self.connected
                    .insert(peer_id, endpoint.get_remote_address().clone());
                self.set_shared();
                self.bitswap.flows.touch();
                self.keeper.connected(peer_id, &endpoint);
                self.waiters.connected(peer_id);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => self.closed(peer_id, connection_id, num_established),
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                self.keeper.dial_failed(&self.swarm);
                if let Some(peer) = peer_id {
                    self.waiters.dial_failed(&peer, &error.to_string());
                }
            }
            SwarmEvent::Behaviour(e) => self.behaviour_event(e),
            _ => {}
        }
    }

    /// A connection closed; with it the last one to `peer`, the peer is
    /// gone.
    fn closed(&mut self, peer: PeerId, connection: libp2p::swarm::ConnectionId, num_established: u32) {
        self.book.closed(&peer, connection);
        if num_established > 0 {
            return;
        }
        self.connected.remove(&peer);
        self.set_shared();
        self.bitswap.flows.gone(&peer);
        self.bitswap.server.forget(&peer);
        self.keeper.disconnected(&peer);
        self.waiters.closed(&peer);
    }

    fn behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                self.keeper.listen_addrs(peer_id, &info.listen_addrs);
                self.book.identified(peer_id, &info);
                // Kademlia learns a peer once it says it speaks the DHT.
                self.dht
                    .add_peer(&mut self.swarm, peer_id, &info.protocols, &info.listen_addrs);
                self.waiters.identified(&peer_id);
            }
            BehaviourEvent::Identify(identify::Event::Error { peer_id, .. }) => {
                self.waiters.identified(&peer_id)
            }
            BehaviourEvent::Ping(e) => {
                if let Ok(rtt) = &e.result {
                    self.bitswap.server.ping(e.peer, *rtt);
                }
                self.keeper.ping(&mut self.swarm, e)
            }
            BehaviourEvent::Kad(e) => self.kad_event(dht::Which::Wan, e),
            BehaviourEvent::Lan(e) => self.kad_event(dht::Which::Lan, e),
            _ => {}
        }
    }

    /// An event of DHT `w`: value records (`records.rs`) first, then peer
    /// lookups (`peers.rs`), then providers.
    fn kad_event(&mut self, w: dht::Which, event: kad::Event) {
        match event {
            kad::Event::OutboundQueryProgressed {
                id,
                result,
                step,
                stats,
            } => match self
                .records
                .progressed(w, id, result, step.last)
                .and_then(|r| self.book.progressed(w, id, r, step.last))
            {
                Some(kad::QueryResult::StartProviding(r)) => {
                    self.dht.provided(w, id, r, stats.num_successes() > 0)
                }
                Some(kad::QueryResult::GetProviders(r)) => {
                    let connected = &self.connected;
                    self.dht.progressed(&mut self.swarm, w, id, r, step.last, &|p| {
                        connected.contains_key(p)
                    })
                }
                Some(_) | None => {}
            },
            kad::Event::InboundRequest { request } => self.records.inbound(&mut self.swarm, w, request),
            _ => {}
        }
    }
}
