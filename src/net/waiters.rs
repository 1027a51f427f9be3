//! Callers waiting on a dial. A dial by hand (`swarm connect`) answers
//! once the peer has identified itself, as go-libp2p's host does: only then
//! does the DHT know the peer, so a `routing findprovs` right after a
//! connect asks it. A dial for Bitswap answers as soon as the connection is up.

use std::collections::HashMap;
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::NetError;

type Reply = oneshot::Sender<Result<PeerId, NetError>>;

/// How long a connect waits for Identify after the connection is up (a peer
/// that never identifies is still connected).
const IDENTIFY_WAIT: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct Waiters {
    /// Dials by hand, with the address dialed (for the error).
    dialing: HashMap<PeerId, Vec<(Multiaddr, Reply)>>,
    /// Dials by peer ID (a provider the DHT named).
    peers: HashMap<PeerId, Vec<Reply>>,
    /// Connected by hand, waiting for the peer's Identify.
    identifying: HashMap<PeerId, (Instant, Vec<Reply>)>,
}

impl Waiters {
    pub fn dial_by_hand(&mut self, peer: PeerId, addr: Multiaddr, reply: Reply) {
        self.dialing.entry(peer).or_default().push((addr, reply));
    }

    /// Connected already, its Identify not in yet (`p2pfs id PEER`).
    pub fn identify(&mut self, peer: PeerId, reply: Reply) {
        let (_, waiting) = self
            .identifying
            .entry(peer)
            .or_insert_with(|| (Instant::now(), Vec::new()));
        waiting.push(reply);
    }

    pub fn dial_peer(&mut self, peer: PeerId, reply: Reply) {
        self.peers.entry(peer).or_default().push(reply);
    }

    pub fn connected(&mut self, peer: PeerId) {
        for r in self.peers.remove(&peer).unwrap_or_default() {
            let _ = r.send(Ok(peer));
        }
        let by_hand = self.dialing.remove(&peer).unwrap_or_default();
        if !by_hand.is_empty() {
            let (_, waiting) = self
                .identifying
                .entry(peer)
                .or_insert_with(|| (Instant::now(), Vec::new()));
            waiting.extend(by_hand.into_iter().map(|(_, r)| r));
        }
    }

    /// The peer identified itself (or failed to: the connection stands).
    pub fn identified(&mut self, peer: &PeerId) {
        for r in self.identifying.remove(peer).map(|(_, v)| v).unwrap_or_default() {
            let _ = r.send(Ok(*peer));
        }
    }

    pub fn closed(&mut self, peer: &PeerId) {
        for r in self.identifying.remove(peer).map(|(_, v)| v).unwrap_or_default() {
            let _ = r.send(Err(NetError::Dial {
                addr: Multiaddr::empty(),
                reason: "the peer closed the connection while identifying".into(),
            }));
        }
    }

    pub fn dial_failed(&mut self, peer: &PeerId, reason: &str) {
        for (addr, r) in self.dialing.remove(peer).unwrap_or_default() {
            let _ = r.send(Err(NetError::Dial {
                addr,
                reason: reason.into(),
            }));
        }
        for r in self.peers.remove(peer).unwrap_or_default() {
            let _ = r.send(Err(NetError::Dial {
                addr: Multiaddr::empty(),
                reason: reason.into(),
            }));
        }
    }

    /// Answers connects whose peer never identified (called every few seconds).
    pub fn expire(&mut self, now: Instant) {
        let late: Vec<PeerId> = self
            .identifying
            .iter()
            .filter(|(_, (since, _))| now.duration_since(*since) >= IDENTIFY_WAIT)
            .map(|(p, _)| *p)
            .collect();
        for p in late {
            self.identified(&p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> PeerId {
        PeerId::random()
    }

    #[tokio::test]
    async fn by_hand_waits_for_identify_bitswap_does_not() {
        let (p, q) = (peer(), peer());
        let mut w = Waiters::default();
        let (t1, mut r1) = oneshot::channel();
        let (t2, mut r2) = oneshot::channel();
        w.dial_by_hand(p, Multiaddr::empty(), t1);
        w.dial_peer(q, t2);
        w.connected(p);
        w.connected(q);
        assert!(
            r1.try_recv().is_err(),
            "a connect by hand answered before Identify"
        );
        assert_eq!(r2.try_recv().unwrap().unwrap(), q);
        w.identified(&p);
        assert_eq!(r1.try_recv().unwrap().unwrap(), p);
    }

    #[tokio::test]
    async fn closed_while_identifying_is_an_error_and_failures_reach_all() {
        let p = peer();
        let mut w = Waiters::default();
        let (t1, mut r1) = oneshot::channel();
        w.dial_by_hand(p, Multiaddr::empty(), t1);
        w.connected(p);
        w.closed(&p);
        assert!(r1.try_recv().unwrap().is_err());
        let (t2, mut r2) = oneshot::channel();
        let (t3, mut r3) = oneshot::channel();
        w.dial_by_hand(p, Multiaddr::empty(), t2);
        w.dial_peer(p, t3);
        w.dial_failed(&p, "refused");
        assert!(r2.try_recv().unwrap().is_err());
        assert!(r3.try_recv().unwrap().is_err());
    }

    #[tokio::test]
    async fn a_peer_that_never_identifies_is_answered_after_the_wait() {
        let p = peer();
        let mut w = Waiters::default();
        let (t1, mut r1) = oneshot::channel();
        w.dial_by_hand(p, Multiaddr::empty(), t1);
        w.connected(p);
        w.expire(Instant::now());
        assert!(r1.try_recv().is_err());
        w.expire(Instant::now() + IDENTIFY_WAIT);
        assert_eq!(r1.try_recv().unwrap().unwrap(), p);
    }
}
