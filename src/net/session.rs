//! A Bitswap client session: one per read (a `cat`, an open file, a pin).
//!
//! A block is first asked with want-have of the connected peers (and of
//! providers the DHT finds); want-block goes to one peer that has it. Once a
//! peer has sent blocks in this session it is asked want-block directly,
//! which makes every later block a single round trip; many fetches of one
//! session run at once (the blockservice keeps a window of them in flight).
//! Wants are sent again every round (a message can be lost), cancelled when
//! the block arrives or the reader goes away, and a block that takes longer
//! than the timeout is an error, never a hang.

use super::bitswap::{Bitswap, Reply, Want};
use super::{NetError, NetHandle};
use cid::Cid;
use libp2p::PeerId;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// How often unanswered wants are sent again.
const WANT_ROUND: Duration = Duration::from_millis(1000);
/// Rounds without a block from the chosen peer before another that said
/// HAVE is asked instead.
const PATIENCE: u32 = 2;
/// A session asks the DHT for providers at most this often.
const LOOKUP_EVERY: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Session {
    net: NetHandle,
    timeout: Duration,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// Peers that sent blocks or HAVEs in this session, best first.
    good: Vec<PeerId>,
    last_lookup: Option<Instant>,
}

/// Cancels the wants of a fetch when it ends, however it ends.
struct Asked {
    bitswap: Arc<Bitswap>,
    cid: Cid,
    peers: HashSet<PeerId>,
}

impl Drop for Asked {
    fn drop(&mut self) {
        self.bitswap.wants.forget(&self.cid);
        if self.bitswap.wants.is_wanted(&self.cid) {
            return; // another reader still wants it
        }
        for p in self.peers.drain() {
            self.bitswap.outbox.send(p, want(&self.cid, Kind::Cancel));
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Block,
    Have,
    Cancel,
}

fn want(cid: &Cid, kind: Kind) -> Want {
    Want {
        cid: cid.to_bytes(),
        cancel: matches!(kind, Kind::Cancel),
        want_have: matches!(kind, Kind::Have),
        send_dont_have: !matches!(kind, Kind::Cancel),
    }
}

/// One block's progress through the protocol.
struct Fetch {
    cid: Cid,
    asked: Asked,
    dont_have: HashSet<PeerId>,
    /// Peers that said HAVE and were not asked for the block yet.
    haves: Vec<PeerId>,
    /// The peer asked with want-block, and for how many rounds.
    target: Option<(PeerId, u32)>,
}

impl Session {
    pub fn new(net: NetHandle, timeout: Duration) -> Self {
        Session {
            net,
            timeout,
            state: Arc::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves `peer` to the front of the session's peers.
    fn credit(&self, peer: PeerId) {
        let mut s = self.state();
        s.good.retain(|p| *p != peer);
        s.good.insert(0, peer);
    }

    /// Moves `peer` to the back of the session's peers.
    fn demote(&self, peer: PeerId) {
        let mut s = self.state();
        if let Some(i) = s.good.iter().position(|p| *p == peer) {
            let p = s.good.remove(i);
            s.good.push(p);
        }
    }

    fn noted_have(&self, peer: PeerId) {
        let mut s = self.state();
        if !s.good.contains(&peer) {
            s.good.push(peer);
        }
    }

    /// The session's best peer that is connected and not excluded.
    fn best(&self, connected: &HashSet<PeerId>, exclude: &HashSet<PeerId>) -> Option<PeerId> {
        self.state()
            .good
            .iter()
            .find(|p| connected.contains(p) && !exclude.contains(p))
            .copied()
    }

    /// Fetches one block. The bytes are checked against `cid` (a block is
    /// only delivered to the waiter of the CID its bytes hash to).
    pub async fn fetch(&self, cid: Cid) -> Result<bytes::Bytes, NetError> {
        let bitswap = self.net.bitswap.clone();
        let mut f = Fetch {
            cid,
            asked: Asked {
                bitswap: bitswap.clone(),
                cid,
                peers: HashSet::new(),
            },
            dont_have: HashSet::new(),
            haves: Vec::new(),
            target: None,
        };
        // Declared after `f`, so dropped before it: Asked::drop sees the
        // waiter gone.
        let mut rx = bitswap.wants.add(&cid);
        if self.net.connected().is_empty() {
            return Err(NetError::NoPeers);
        }
        let deadline = Instant::now() + self.timeout;
        let mut round = tokio::time::interval_at(Instant::now() + WANT_ROUND, WANT_ROUND);
        self.round(&mut f, true);
        loop {
            tokio::select! {
                r = rx.recv() => match r {
                    None => return Err(NetError::Stopped),
                    Some((peer, Reply::Block(data))) => {
                        self.credit(peer);
                        f.asked.peers.remove(&peer);
                        return Ok(data);
                    }
                    Some((peer, Reply::Have)) => {
                        self.noted_have(peer);
                        if f.target.is_none() {
                            self.ask(&mut f, peer, Kind::Block);
                            f.target = Some((peer, 0));
                        } else if !f.haves.contains(&peer) && f.target.map(|t| t.0) != Some(peer) {
                            f.haves.push(peer);
                        }
                    }
                    Some((peer, Reply::DontHave)) => {
                        f.dont_have.insert(peer);
                        f.haves.retain(|p| *p != peer);
                        if f.target.map(|t| t.0) == Some(peer) {
                            f.target = None;
                            if let Some(next) = f.haves.pop() {
                                self.ask(&mut f, next, Kind::Block);
                                f.target = Some((next, 0));
                            }
                        }
                        if f.target.is_none() && self.net.connected().iter().all(|p| f.dont_have.contains(p)) {
                            self.lookup(cid);
                        }
                    }
                },
                _ = round.tick() => self.round(&mut f, false),
                _ = tokio::time::sleep_until(deadline) => return Err(NetError::Timeout),
            }
        }
    }

    fn ask(&self, f: &mut Fetch, peer: PeerId, kind: Kind) {
        f.asked.peers.insert(peer);
        self.net.bitswap.outbox.send(peer, want(&f.cid, kind));
    }

    /// Sends (or sends again) the wants of one block.
    fn round(&self, f: &mut Fetch, first: bool) {
        let connected = self.net.connected();
        if let Some((t, n)) = f.target {
            if !connected.contains(&t) {
                f.target = None;
            } else if n >= PATIENCE
                && let Some(next) = f.haves.pop()
            {
                // Slow, lost, or a peer that says HAVE and never sends:
                // another peer that has it gets the want, and the slow one
                // stops being the session's first choice.
                self.demote(t);
                // Its want-block goes too: the block should not come twice.
                self.net.bitswap.outbox.send(t, want(&f.cid, Kind::Cancel));
                self.ask(f, next, Kind::Block);
                f.target = Some((next, 0));
            } else {
                // Wants can be lost (a dropped stream): ask again.
                self.ask(f, t, Kind::Block);
                f.target = Some((t, n + 1));
            }
        }
        let from_session = f.target.is_none()
            && match self.best(&connected, &f.dont_have) {
                Some(p) => {
                    self.ask(f, p, Kind::Block);
                    f.target = Some((p, 0));
                    true
                }
                None => false,
            };
        // A peer of the session most likely has the next block too; ask the
        // others only when that guess fails.
        if !(first && from_session) {
            let target = f.target.map(|t| t.0);
            for p in connected {
                if !f.dont_have.contains(&p) && Some(p) != target {
                    self.ask(f, p, Kind::Have);
                }
            }
        }
        if f.target.is_none() {
            self.lookup(f.cid);
        }
    }

    /// Asks the DHT for providers of `cid` (at most every few seconds per
    /// session); each one found is dialed and asked want-have.
    fn lookup(&self, cid: Cid) {
        {
            let mut s = self.state();
            if s.last_lookup.is_some_and(|t| t.elapsed() < LOOKUP_EVERY) {
                return;
            }
            s.last_lookup = Some(Instant::now());
        }
        let net = self.net.clone();
        self.net.rt.spawn(async move {
            for p in net.find_providers(cid).await.unwrap_or_default() {
                if net.connect_peer(p).await.is_ok() && net.bitswap.wants.is_wanted(&cid) {
                    net.bitswap.outbox.send(p, want(&cid, Kind::Have));
                }
            }
        });
    }
}
