//! The swarm task's side of the connection manager (`connmgr.rs` decides,
//! this applies it to the swarm): trimming, redialing, dead connections,
//! saved peers, and reads waiting for a first peer.

use super::connmgr::{self, Manager, PeerInfo};
use super::{Behaviour, ConnStats, NetError, bitswap};
use libp2p::core::ConnectedPoint;
use libp2p::{Multiaddr, PeerId, Swarm, ping};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::{Instant, Interval};

/// Pings that fail in a row before a connection counts as dead.
const PING_FAILURES: u32 = 3;
/// How often the saved-peers file is rewritten.
const SAVE_EVERY: Duration = Duration::from_secs(300);
/// How long a read waits for a first peer to connect.
const ENSURE_FOR: Duration = Duration::from_secs(8);

pub struct Keeper {
    pub mgr: Manager,
    pub tick: Interval,
    pub save_tick: Interval,
    pub ensure_tick: Interval,
    since: HashMap<PeerId, Instant>,
    /// Dialable addresses: what Identify says the peer listens on, or what
    /// we dialed.
    addrs: HashMap<PeerId, Vec<Multiaddr>>,
    ping_failures: HashMap<PeerId, u32>,
    /// Reads waiting for a first peer: their replies, the deadline, the
    /// dials still pending, and what was tried.
    waiting: Vec<oneshot::Sender<Result<(), NetError>>>,
    ensure_until: Option<Instant>,
    ensure_dials: usize,
    tried: Vec<String>,
}

impl Keeper {
    pub fn new(mgr: Manager) -> Self {
        let mut save_tick = tokio::time::interval(SAVE_EVERY);
        save_tick.reset();
        Keeper {
            mgr,
            tick: tokio::time::interval(connmgr::CHECK_EVERY),
            save_tick,
            ensure_tick: tokio::time::interval(Duration::from_millis(250)),
            since: HashMap::new(),
            addrs: HashMap::new(),
            ping_failures: HashMap::new(),
            waiting: Vec::new(),
            ensure_until: None,
            ensure_dials: 0,
            tried: Vec::new(),
        }
    }

    fn connected_set(&self) -> HashSet<PeerId> {
        self.since.keys().copied().collect()
    }

    fn dial(&mut self, swarm: &mut Swarm<Behaviour>, force: bool) -> usize {
        let addrs = self.mgr.to_dial(&self.connected_set(), Instant::now(), force);
        let mut n = 0;
        for a in addrs {
            self.tried.push(a.to_string());
            match swarm.dial(a.clone()) {
                Ok(()) => n += 1,
                Err(e) => tracing::debug!("dialing {a}: {e}"),
            }
        }
        n
    }

    fn routing_table(swarm: &mut Swarm<Behaviour>) -> HashSet<PeerId> {
        let mut out = HashSet::new();
        for bucket in swarm.behaviour_mut().kad.kbuckets() {
            for e in bucket.iter() {
                out.insert(*e.node.key.preimage());
            }
        }
        out
    }

    /// Every few seconds: redial when below the minimum, trim above high.
    pub fn check(&mut self, swarm: &mut Swarm<Behaviour>, bitswap: &bitswap::Bitswap) {
        self.tried.clear();
        self.dial(swarm, false);
        if self.since.len() <= self.mgr.cfg.high {
            return;
        }
        let table = Self::routing_table(swarm);
        let peers: Vec<PeerInfo> = self
            .since
            .iter()
            .map(|(p, since)| {
                let (active, owes) = bitswap.flows.activity(p);
                PeerInfo {
                    peer: *p,
                    since: *since,
                    active,
                    busy: owes || bitswap.server.wantlist_len(p) > 0,
                    in_routing_table: table.contains(p),
                }
            })
            .collect();
        let victims = self.mgr.trim(&peers, Instant::now());
        if !victims.is_empty() {
            tracing::debug!(
                "{} connections, high water {}: closing {}",
                peers.len(),
                self.mgr.cfg.high,
                victims.len()
            );
        }
        for p in victims {
            let _ = swarm.disconnect_peer_id(p);
        }
    }

    pub fn connected(&mut self, peer: PeerId, endpoint: &ConnectedPoint) {
        self.since.entry(peer).or_insert_with(Instant::now);
        self.mgr.connected(&peer);
        if let ConnectedPoint::Dialer { address, .. } = endpoint {
            let a = self.addrs.entry(peer).or_default();
            if !a.contains(address) {
                a.insert(0, address.clone());
            }
        }
        for w in self.waiting.drain(..) {
            let _ = w.send(Ok(()));
        }
        self.ensure_until = None;
    }

    pub fn disconnected(&mut self, peer: &PeerId) {
        self.since.remove(peer);
        self.ping_failures.remove(peer);
        // Addresses stay a while for saving; bounded by what was connected.
        if self.addrs.len() > 4 * connmgr::MAX_SAVED {
            let keep = self.connected_set();
            self.addrs.retain(|p, _| keep.contains(p));
        }
    }

    pub fn listen_addrs(&mut self, peer: PeerId, addrs: &[Multiaddr]) {
        let a = self.addrs.entry(peer).or_default();
        for x in addrs.iter().take(8) {
            if !a.contains(x) {
                a.push(x.clone());
            }
        }
        a.truncate(8);
    }

    /// A connection whose pings keep failing is dead: close it (a dead
    /// connection would otherwise be kept forever, nothing idles it out).
    pub fn ping(&mut self, swarm: &mut Swarm<Behaviour>, e: ping::Event) {
        match e.result {
            Ok(_) => {
                self.ping_failures.remove(&e.peer);
            }
            Err(ping::Failure::Unsupported) => {}
            Err(err) => {
                let n = self.ping_failures.entry(e.peer).or_default();
                *n += 1;
                if *n >= PING_FAILURES {
                    tracing::debug!(peer = %e.peer, "closing a connection that stopped answering pings: {err}");
                    let _ = swarm.close_connection(e.connection);
                }
            }
        }
    }

    /// Writes the peers connected now (and those saved before) to the file;
    /// at shutdown at once, else off the swarm task.
    pub fn save(&mut self, now: bool) {
        let Some(path) = self.mgr.saved_path.clone() else {
            return;
        };
        let peers: Vec<(PeerId, Vec<Multiaddr>)> = self
            .since
            .keys()
            .map(|p| (*p, self.addrs.get(p).cloned().unwrap_or_default()))
            .collect();
        if peers.is_empty() {
            return; // keep what an earlier run saved
        }
        let list = self.mgr.remember(peers);
        let write = move || {
            if let Err(e) = connmgr::write_saved(&path, &list) {
                tracing::warn!("saving peers to {}: {e}", path.display());
            }
        };
        if now {
            write(); // a small file, once, while the daemon stops
        } else {
            tokio::task::spawn_blocking(write);
        }
    }

    pub fn ensuring(&self) -> bool {
        self.ensure_until.is_some()
    }

    /// A read found no peer: dial everyone we know now.
    pub fn ensure(&mut self, swarm: &mut Swarm<Behaviour>, reply: oneshot::Sender<Result<(), NetError>>) {
        if !self.since.is_empty() {
            let _ = reply.send(Ok(()));
            return;
        }
        if !self.ensuring() {
            self.tried.clear();
            self.ensure_dials = self.dial(swarm, true);
            self.ensure_until = Some(Instant::now() + ENSURE_FOR);
        }
        self.waiting.push(reply);
        self.ensure_expired(swarm);
    }

    pub fn dial_failed(&mut self, swarm: &Swarm<Behaviour>) {
        self.ensure_dials = self.ensure_dials.saturating_sub(1);
        self.ensure_expired(swarm);
    }

    /// Fails the waiting reads once every dial failed or time is up.
    pub fn ensure_expired(&mut self, _swarm: &Swarm<Behaviour>) {
        let Some(until) = self.ensure_until else { return };
        if !self.since.is_empty() || (self.ensure_dials > 0 && Instant::now() < until) {
            return;
        }
        let err = if self.tried.is_empty() {
            NetError::NoPeers
        } else {
            NetError::NoPeersReachable(self.tried.clone())
        };
        for w in self.waiting.drain(..) {
            let _ = w.send(if self.since.is_empty() {
                Err(err.clone())
            } else {
                Ok(())
            });
        }
        self.ensure_until = None;
    }

    pub fn stats(&mut self, swarm: &mut Swarm<Behaviour>) -> ConnStats {
        let table = Self::routing_table(swarm);
        ConnStats {
            connected: self.since.len(),
            low: self.mgr.cfg.low,
            high: self.mgr.cfg.high,
            protected: self.since.keys().filter(|p| self.mgr.protected(p)).count(),
            routing_table: table.len(),
            known: self.mgr.known(),
        }
    }
}
