//! Keeping the node in the network, as Kubo's connection manager and
//! bootstrap routine do.
//!
//! - Connections are never closed for being idle (libp2p's idle timeout is
//!   off; Ping keeps them alive and a peer that stops answering pings is
//!   dropped). Only above the high water mark are connections trimmed, down
//!   to the low one, least useful first: never bootstrap peers, peers the
//!   user connected by hand, peers owing blocks or active within the grace
//!   period; DHT routing-table peers go last.
//! - Below `MIN_PEERS` connections the bootstrap peers are dialed again
//!   (at once, then every 30 s, each failing peer backing off to 10 min),
//!   and the peers saved from earlier runs when no bootstrap peer answers.
//! - Saved peers: the addresses of peers that were connected are written
//!   to a file in the repo every few minutes and at shutdown (Kubo's
//!   backup bootstrap peers).

use libp2p::{Multiaddr, PeerId};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;
use tokio::time::Instant;

/// Below this many connections, the node dials its bootstrap peers again.
pub const MIN_PEERS: usize = 4;
/// How often the connection count is looked at.
pub const CHECK_EVERY: Duration = Duration::from_secs(10);
const REDIAL_FIRST: Duration = Duration::from_secs(30);
const REDIAL_MAX: Duration = Duration::from_secs(600);
/// The saved-peers file, in the repo.
pub const SAVED_FILE: &str = "peers.json";
/// Peers saved at most.
pub const MAX_SAVED: usize = 32;
/// Addresses kept per saved peer.
const MAX_SAVED_ADDRS: usize = 4;

#[derive(Debug, Clone)]
pub struct ConnConfig {
    pub low: usize,
    pub high: usize,
    pub grace: Duration,
}

impl Default for ConnConfig {
    fn default() -> Self {
        // Kubo's defaults.
        ConnConfig {
            low: 32,
            high: 96,
            grace: Duration::from_secs(20),
        }
    }
}

/// What the manager knows of one connected peer.
pub struct PeerInfo {
    pub peer: PeerId,
    pub since: Instant,
    /// Last Bitswap message from it, if any.
    pub active: Option<Instant>,
    /// It owes blocks to a session, or has wants standing with our server.
    pub busy: bool,
    pub in_routing_table: bool,
}

/// A saved peer: its ID and the addresses it was reached at.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SavedPeer {
    pub id: String,
    pub addrs: Vec<String>,
}

pub struct Manager {
    pub cfg: ConnConfig,
    /// Bootstrap peers by ID (addresses without /p2p are dialed as given).
    bootstrap: Vec<Multiaddr>,
    saved: Vec<(PeerId, Vec<Multiaddr>)>,
    pub saved_path: Option<PathBuf>,
    by_hand: HashSet<PeerId>,
    /// Per address: when it may be dialed again, and the next backoff.
    backoff: HashMap<Multiaddr, (Instant, Duration)>,
}

pub fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

impl Manager {
    pub fn new(cfg: ConnConfig, bootstrap: Vec<Multiaddr>, saved_path: Option<PathBuf>) -> Self {
        let saved = saved_path.as_ref().map(|p| load_saved(p)).unwrap_or_default();
        Manager {
            cfg,
            bootstrap,
            saved,
            saved_path,
            by_hand: HashSet::new(),
            backoff: HashMap::new(),
        }
    }

    pub fn by_hand(&mut self, peer: PeerId) {
        self.by_hand.insert(peer);
    }

    pub fn add_bootstrap(&mut self, addr: Multiaddr) {
        if !self.bootstrap.contains(&addr) {
            self.bootstrap.push(addr);
        }
    }

    fn is_bootstrap(&self, peer: &PeerId) -> bool {
        self.bootstrap.iter().any(|a| peer_of(a) == Some(*peer))
    }

    pub fn protected(&self, peer: &PeerId) -> bool {
        self.by_hand.contains(peer) || self.is_bootstrap(peer)
    }

    /// Peers to disconnect: above the high water mark, down to the low one.
    pub fn trim(&self, peers: &[PeerInfo], now: Instant) -> Vec<PeerId> {
        if peers.len() <= self.cfg.high {
            return Vec::new();
        }
        let recent = |t: Instant| now.duration_since(t) < self.cfg.grace;
        let mut victims: Vec<&PeerInfo> = peers
            .iter()
            .filter(|p| !self.protected(&p.peer) && !p.busy && !recent(p.since))
            .filter(|p| !p.active.is_some_and(recent))
            .collect();
        // Least useful first: outside the routing table, then idle longest.
        victims.sort_by_key(|p| (p.in_routing_table, p.active.unwrap_or(p.since)));
        let excess = peers.len() - self.cfg.low;
        victims.into_iter().take(excess).map(|p| p.peer).collect()
    }

    /// Addresses to dial now, when the node has few connections: bootstrap
    /// peers not connected, and saved peers when no bootstrap peer is
    /// connected (or there are none). Each is then backed off.
    pub fn to_dial(&mut self, connected: &HashSet<PeerId>, now: Instant, force: bool) -> Vec<Multiaddr> {
        if connected.len() >= MIN_PEERS && !force {
            return Vec::new();
        }
        let mut out: Vec<Multiaddr> = self
            .bootstrap
            .iter()
            .filter(|a| peer_of(a).is_none_or(|p| !connected.contains(&p)))
            .cloned()
            .collect();
        let bootstrap_up = self
            .bootstrap
            .iter()
            .any(|a| peer_of(a).is_some_and(|p| connected.contains(&p)));
        if !bootstrap_up {
            for (p, addrs) in &self.saved {
                if !connected.contains(p) {
                    out.extend(addrs.iter().map(|a| a.clone().with_p2p(*p).unwrap_or_else(|a| a)));
                }
            }
        }
        out.retain(|a| force || self.backoff.get(a).is_none_or(|(t, _)| *t <= now));
        for a in &out {
            let next = self
                .backoff
                .get(a)
                .map_or(REDIAL_FIRST, |(_, d)| (*d * 2).min(REDIAL_MAX));
            self.backoff.insert(a.clone(), (now + next, next));
        }
        out
    }

    /// A peer connected: its addresses start afresh.
    pub fn connected(&mut self, peer: &PeerId) {
        self.backoff.retain(|a, _| peer_of(a) != Some(*peer));
    }

    /// Bootstrap and saved peers, for an error that says who was tried.
    pub fn known(&self) -> Vec<String> {
        let mut v: Vec<String> = self.bootstrap.iter().map(|a| a.to_string()).collect();
        v.extend(self.saved.iter().map(|(p, _)| p.to_string()));
        v
    }

    /// Remembers the peers connected now (their dialable addresses) and
    /// returns what to write to the saved-peers file.
    pub fn remember(&mut self, now_connected: Vec<(PeerId, Vec<Multiaddr>)>) -> Vec<SavedPeer> {
        let mut next: Vec<(PeerId, Vec<Multiaddr>)> = now_connected
            .into_iter()
            .filter(|(_, a)| !a.is_empty())
            .map(|(p, mut a)| {
                a.truncate(MAX_SAVED_ADDRS);
                (p, a)
            })
            .collect();
        for old in &self.saved {
            if next.len() >= MAX_SAVED {
                break;
            }
            if !next.iter().any(|(p, _)| *p == old.0) {
                next.push(old.clone());
            }
        }
        next.truncate(MAX_SAVED);
        self.saved = next;
        self.saved
            .iter()
            .map(|(p, a)| SavedPeer {
                id: p.to_string(),
                addrs: a.iter().map(|a| a.to_string()).collect(),
            })
            .collect()
    }
}

/// The saved peers in `path` (a damaged or missing file is no peers).
pub fn load_saved(path: &std::path::Path) -> Vec<(PeerId, Vec<Multiaddr>)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let Ok(list) = serde_json::from_str::<Vec<SavedPeer>>(&text) else {
        tracing::warn!("ignoring {}: not a saved-peers file", path.display());
        return Vec::new();
    };
    list.into_iter()
        .take(MAX_SAVED)
        .filter_map(|s| {
            let p: PeerId = s.id.parse().ok()?;
            let a: Vec<Multiaddr> = s
                .addrs
                .iter()
                .filter_map(|a| a.parse().ok())
                .take(MAX_SAVED_ADDRS)
                .collect();
            (!a.is_empty()).then_some((p, a))
        })
        .collect()
}

/// Writes the saved peers (atomically: a temporary file renamed).
pub fn write_saved(path: &std::path::Path, peers: &[SavedPeer]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(peers)?)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(peer: PeerId, since: Instant, active: Option<Instant>) -> PeerInfo {
        PeerInfo {
            peer,
            since,
            active,
            busy: false,
            in_routing_table: false,
        }
    }

    #[test]
    fn trims_only_above_high_and_never_the_protected() {
        let now = Instant::now();
        let old = now - Duration::from_secs(600);
        let boot = PeerId::random();
        let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/1/p2p/{boot}").parse().unwrap();
        let cfg = ConnConfig {
            low: 2,
            high: 4,
            grace: Duration::from_secs(20),
        };
        let mut m = Manager::new(cfg, vec![addr], None);
        let hand = PeerId::random();
        m.by_hand(hand);
        let mut peers = vec![info(boot, old, None), info(hand, old, None)];
        for _ in 0..3 {
            peers.push(info(PeerId::random(), old, None));
        }
        assert!(m.trim(&peers[..4], now).is_empty(), "at the high mark: nothing");
        // A new connection (in its grace period), a busy one, a recently
        // active one and one in the routing table.
        let fresh = info(PeerId::random(), now, None);
        let mut busy = info(PeerId::random(), old, None);
        busy.busy = true;
        let active = info(PeerId::random(), old, Some(now - Duration::from_secs(1)));
        let mut table = info(PeerId::random(), old, None);
        table.in_routing_table = true;
        let ids = [fresh.peer, busy.peer, active.peer, table.peer];
        peers.extend([fresh, busy, active, table]);
        let v = m.trim(&peers, now);
        // 9 peers, low 2: 7 could go, but only 4 may (3 plain + table).
        assert_eq!(v.len(), 4, "{v:?}");
        assert!(!v.contains(&boot) && !v.contains(&hand));
        assert!(!v.contains(&ids[0]) && !v.contains(&ids[1]) && !v.contains(&ids[2]));
        assert_eq!(v.last(), Some(&ids[3]), "routing-table peers go last");
    }

    #[test]
    fn redials_bootstrap_then_saved_with_backoff() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers.json");
        let saved_peer = PeerId::random();
        let saved = vec![SavedPeer {
            id: saved_peer.to_string(),
            addrs: vec!["/ip4/127.0.0.1/tcp/9".into(), "not an address".into()],
        }];
        write_saved(&path, &saved).unwrap();
        let boot = PeerId::random();
        let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/1/p2p/{boot}").parse().unwrap();
        let mut m = Manager::new(ConnConfig::default(), vec![addr.clone()], Some(path));
        let now = Instant::now();
        let none = HashSet::new();
        let first = m.to_dial(&none, now, false);
        assert_eq!(first.len(), 2, "bootstrap and the saved peer: {first:?}");
        assert!(
            m.to_dial(&none, now + Duration::from_secs(1), false).is_empty(),
            "backed off"
        );
        assert_eq!(m.to_dial(&none, now + Duration::from_secs(31), false).len(), 2);
        // Backoff doubles: 60 s now.
        assert!(m.to_dial(&none, now + Duration::from_secs(62), false).is_empty());
        // A forced dial (a read found no peer) ignores the backoff.
        assert_eq!(m.to_dial(&none, now + Duration::from_secs(62), true).len(), 2);
        // With the bootstrap peer up, the saved one is not needed.
        let up: HashSet<PeerId> = [boot].into();
        assert!(m.to_dial(&up, now + Duration::from_secs(3600), false).is_empty());
        // Remembering keeps the newest first and is bounded.
        let many: Vec<(PeerId, Vec<Multiaddr>)> = (0..40)
            .map(|i| {
                (
                    PeerId::random(),
                    vec![format!("/ip4/127.0.0.1/tcp/{i}").parse().unwrap()],
                )
            })
            .collect();
        assert_eq!(m.remember(many).len(), MAX_SAVED);
        // A damaged file is no saved peers, not an error.
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, b"{garbage").unwrap();
        assert!(load_saved(&bad).is_empty());
    }
}
