//! A Bitswap client session: one per read (a `cat`, an open file, a pin).
//!
//! A session is a task (the driver) that owns the blocks its readers wait
//! for. A block nobody in the session is known to have is asked with
//! want-have of every connected peer (and of providers the DHT finds, once
//! all connected ones said DONT_HAVE); peers that answered HAVE or sent
//! blocks are the session's peers. A block goes with want-block to one
//! such peer that has room in its window (see `flow.rs`): the one with the
//! most, so blocks split across peers by how fast each delivers. A want
//! goes to a peer once; it is moved to another peer when its peer stalls
//! (delivers nothing for its stall interval) or disconnects, and sent again
//! when the stream it went on broke. Endgame: when nothing is left to ask,
//! the last few outstanding blocks may be asked of a second peer, and the
//! loser is cancelled the moment one arrives.
//!
//! A block fails for lack of progress, not for waiting its turn: only when
//! no block of the session has arrived for the timeout (counted from when
//! it was asked, or from the last block that arrived, whichever is later).

use super::bitswap::{Reply, Waiter, Want};
use super::flow::Flows;
use super::{NetError, NetHandle};
use bytes::Bytes;
use cid::Cid;
use libp2p::PeerId;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// A session asks the DHT for providers at most this often.
const LOOKUP_EVERY: Duration = Duration::from_secs(5);
/// How often stalls and deadlines are looked at.
const TICK: Duration = Duration::from_millis(200);
/// Outstanding blocks at most for the endgame to ask a second peer.
const ENDGAME_BLOCKS: usize = 4;
/// Pending blocks looked at per scheduling pass (bounds the work per wake).
const MAX_SCAN: usize = 512;
/// A connected peer outside the session is asked about its content at most
/// this often.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// A peer that delivered blocks (to any session) this recently is asked a
/// new session's first block straight away (`Driver::likely`).
const RECENT: Duration = Duration::from_secs(60);

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

type Answer = oneshot::Sender<Result<Bytes, NetError>>;

enum Cmd {
    Fetch(Cid, Answer),
    /// A reader stopped waiting for the block.
    Forget(Vec<u8>),
}

/// A handle to the session's driver; the driver stops (cancelling its
/// wants) when the last clone is dropped.
#[derive(Clone)]
pub struct Session {
    cmds: mpsc::UnboundedSender<Cmd>,
    net: NetHandle,
    /// How many peers have delivered blocks to this session (for progress).
    senders: Arc<AtomicUsize>,
}

impl Session {
    pub fn new(net: NetHandle, timeout: Duration) -> Self {
        let (cmds, rx) = mpsc::unbounded_channel();
        let (replies_tx, replies) = mpsc::unbounded_channel();
        let senders = Arc::new(AtomicUsize::new(0));
        let driver = Driver {
            senders: (HashSet::new(), senders.clone()),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            flows: net.bitswap.flows.clone(),
            net: net.clone(),
            timeout,
            replies_tx,
            wants: HashMap::new(),
            pending: VecDeque::new(),
            peers: Vec::new(),
            last_delivery: None,
            last_lookup: None,
            probed: HashMap::new(),
            pass: 0,
        };
        net.rt.spawn(driver.run(rx, replies));
        Session { cmds, net, senders }
    }

    /// How many peers have sent this session blocks so far.
    pub fn senders(&self) -> usize {
        self.senders.load(Ordering::Relaxed)
    }

    /// Fetches one block. The bytes are checked against `cid` (a block is
    /// only delivered to the waiter of the CID its bytes hash to).
    pub async fn fetch(&self, cid: Cid) -> Result<Bytes, NetError> {
        // With no peer, look first: bootstrap and saved peers are dialed.
        self.net.ensure_peers().await?;
        let (tx, rx) = oneshot::channel();
        self.cmds
            .send(Cmd::Fetch(cid, tx))
            .map_err(|_| NetError::Stopped)?;
        let mut guard = Forget {
            cmds: &self.cmds,
            key: Some(cid.hash().to_bytes()),
        };
        let r = rx.await.map_err(|_| NetError::Stopped);
        guard.key = None;
        r?
    }
}

/// Tells the driver when a reader stops waiting (its wants are cancelled
/// at once if nobody else waits).
struct Forget<'a> {
    cmds: &'a mpsc::UnboundedSender<Cmd>,
    key: Option<Vec<u8>>,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            let _ = self.cmds.send(Cmd::Forget(k));
        }
    }
}

/// One block the session waits for.
struct Wanted {
    cid: Cid,
    waiters: Vec<Answer>,
    since: Instant,
    /// The peer asked with want-block, when, and the stream generation.
    target: Option<(PeerId, Instant, u64)>,
    /// A second peer asked in the endgame.
    second: Option<PeerId>,
    haves: Vec<PeerId>,
    dont_have: HashSet<PeerId>,
    /// Peers that stalled on it: not asked again while others can be.
    avoid: HashSet<PeerId>,
    asked_have: HashSet<PeerId>,
    /// Everyone asked anything about it (they get a CANCEL).
    asked: HashSet<PeerId>,
    /// The scheduling pass that last put it back in `pending`.
    kept: u64,
}

enum Pick {
    Peer(PeerId),
    /// Peers that may have it have no room now.
    Wait,
    /// No peer is known to have it.
    Nobody,
}

struct Driver {
    id: u64,
    net: NetHandle,
    flows: Arc<Flows>,
    timeout: Duration,
    replies_tx: Waiter,
    wants: HashMap<Vec<u8>, Wanted>,
    /// Blocks not asked with want-block yet, in the order readers asked.
    pending: VecDeque<Vec<u8>>,
    /// Peers that sent blocks or HAVEs in this session, latest first.
    peers: Vec<PeerId>,
    /// Peers that sent blocks, and their number as the session shows it.
    senders: (HashSet<PeerId>, Arc<AtomicUsize>),
    last_delivery: Option<Instant>,
    last_lookup: Option<Instant>,
    /// When connected peers outside the session were last asked whether
    /// they have its content (so a peer slow to answer the first want-have,
    /// or connected later, still joins and shares the load).
    probed: HashMap<PeerId, Instant>,
    /// Scheduling passes so far (see `Wanted::kept`).
    pass: u64,
}

/// Each peer's room as one scheduling pass saw it: the flows lock and the
/// window's arithmetic once per peer and ask, not once per pending key (a
/// pass looks at up to [`MAX_SCAN`] keys after every delivery).
#[derive(Default)]
struct Rooms(Vec<(PeerId, Option<u64>)>);

impl Rooms {
    fn of(&mut self, flows: &Flows, p: PeerId) -> Option<u64> {
        if let Some((_, r)) = self.0.iter().find(|(q, _)| *q == p) {
            return *r;
        }
        let r = flows.with(p, |f| f.has_room().then(|| f.room()));
        self.0.push((p, r));
        r
    }

    /// The peer was just asked for a block: look again next time.
    fn forget(&mut self, p: PeerId) {
        self.0.retain(|(q, _)| *q != p);
    }
}

fn want(cid: &Cid, have: bool, cancel: bool) -> Want {
    Want {
        cid: cid.to_bytes(),
        cancel,
        want_have: have && !cancel,
        send_dont_have: !cancel,
    }
}

impl Driver {
    async fn run(
        mut self,
        mut cmds: mpsc::UnboundedReceiver<Cmd>,
        mut replies: mpsc::UnboundedReceiver<(PeerId, Vec<u8>, Reply)>,
    ) {
        let mut changed = self.flows.watch();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                c = cmds.recv() => match c {
                    Some(c) => self.command(c),
                    None => break,
                },
                Some((peer, key, r)) = replies.recv() => self.reply(peer, key, r),
                Ok(()) = changed.changed() => {}
                _ = tick.tick() => self.check(),
            }
            // Take everything that is ready before scheduling once.
            for _ in 0..1024 {
                match replies.try_recv() {
                    Ok((peer, key, r)) => self.reply(peer, key, r),
                    Err(_) => break,
                }
            }
            while let Ok(c) = cmds.try_recv() {
                self.command(c);
            }
            self.schedule();
        }
        let keys: Vec<Vec<u8>> = self.wants.keys().cloned().collect();
        for k in keys {
            self.drop_want(&k, NetError::Stopped);
        }
    }

    fn command(&mut self, c: Cmd) {
        match c {
            Cmd::Fetch(cid, answer) => {
                if self.net.connected().is_empty() {
                    let _ = answer.send(Err(NetError::NoPeers));
                    return;
                }
                let key = cid.hash().to_bytes();
                if let Some(w) = self.wants.get_mut(&key) {
                    w.waiters.push(answer);
                    return;
                }
                self.net.bitswap.wants.add(&cid, self.id, &self.replies_tx);
                let w = Wanted {
                    cid,
                    waiters: vec![answer],
                    since: Instant::now(),
                    target: None,
                    second: None,
                    haves: Vec::new(),
                    dont_have: HashSet::new(),
                    avoid: HashSet::new(),
                    asked_have: HashSet::new(),
                    asked: HashSet::new(),
                    kept: 0,
                };
                self.wants.insert(key.clone(), w);
                self.pending.push_back(key);
            }
            Cmd::Forget(key) => {
                let gone = self
                    .wants
                    .get_mut(&key)
                    .map(|w| {
                        w.waiters.retain(|a| !a.is_closed());
                        w.waiters.is_empty()
                    })
                    .unwrap_or(false);
                if gone {
                    self.drop_want(&key, NetError::Stopped);
                }
            }
        }
    }

    /// Ends a want: its waiters get `err` (if any still wait), every peer
    /// asked gets a CANCEL, and the peers' windows are freed.
    fn drop_want(&mut self, key: &[u8], err: NetError) {
        let Some(w) = self.wants.remove(key) else { return };
        for a in w.waiters {
            let _ = a.send(Err(err.clone()));
        }
        self.finish(key, &w.cid, &w.asked, None);
    }

    fn finish(&self, key: &[u8], cid: &Cid, asked: &HashSet<PeerId>, from: Option<PeerId>) {
        let nobody_else = self.net.bitswap.wants.remove(key, self.id);
        for p in asked {
            if Some(*p) != from {
                self.flows.release(*p, key);
            }
            if nobody_else {
                self.net.bitswap.outbox.send(*p, want(cid, false, true));
            }
        }
    }

    fn reply(&mut self, peer: PeerId, key: Vec<u8>, r: Reply) {
        match r {
            Reply::Block(data) => {
                let Some(w) = self.wants.remove(&key) else { return };
                let now = Instant::now();
                self.last_delivery = Some(now);
                self.credit(peer);
                if self.senders.0.insert(peer) {
                    self.senders.1.store(self.senders.0.len(), Ordering::Relaxed);
                }
                for a in w.waiters {
                    let _ = a.send(Ok(data.clone()));
                }
                self.finish(&key, &w.cid, &w.asked, Some(peer));
            }
            Reply::Have => {
                if !self.peers.contains(&peer) {
                    self.peers.push(peer);
                }
                if let Some(w) = self.wants.get_mut(&key)
                    && !w.haves.contains(&peer)
                {
                    w.haves.push(peer);
                }
            }
            Reply::DontHave => {
                let Some(w) = self.wants.get_mut(&key) else { return };
                w.dont_have.insert(peer);
                w.haves.retain(|p| *p != peer);
                if w.second == Some(peer) {
                    w.second = None;
                }
                if w.target.is_some_and(|t| t.0 == peer) {
                    w.target = None;
                    self.flows.release(peer, &key);
                    self.pending.push_front(key);
                }
            }
        }
    }

    /// Moves `peer` to the front of the session's peers.
    fn credit(&mut self, peer: PeerId) {
        if self.peers.first() != Some(&peer) {
            self.peers.retain(|p| *p != peer);
            self.peers.insert(0, peer);
        }
    }

    /// Which peer gets the want-block of `w`: of those that have it (or,
    /// failing that, the session's peers), connected, not known to lack it
    /// and not stalled on it, the one with the most room.
    fn pick(&self, w: &Wanted, connected: &HashSet<PeerId>, rooms: &mut Rooms) -> Pick {
        let ok = |p: &&PeerId| connected.contains(p) && !w.dont_have.contains(p);
        let list: &[PeerId] = if w.haves.iter().any(|p| ok(&p)) {
            &w.haves
        } else {
            &self.peers
        };
        if !list.iter().any(|p| ok(&p)) {
            return Pick::Nobody;
        }
        let shun = !w.avoid.is_empty() && list.iter().filter(ok).any(|p| !w.avoid.contains(p));
        let best = list
            .iter()
            .filter(ok)
            .filter(|p| !shun || !w.avoid.contains(*p))
            .filter_map(|p| rooms.of(&self.flows, *p).map(|room| (room, *p)))
            .max_by_key(|(room, _)| *room);
        match best {
            Some((_, p)) => Pick::Peer(p),
            None => Pick::Wait,
        }
    }

    /// Whom to ask straight away for a want no session peer can take: of
    /// the connected peers that delivered blocks lately (to any session)
    /// and have room, the fastest. Its block (or DONT_HAVE) comes a round
    /// trip sooner than after a want-have, which a new session's first
    /// block (a file's root, or all of a small file) paid every time.
    /// With none such, the only connected peer (a node joined to one
    /// friend): a want-have to it could learn nothing a want-block does not,
    /// as a peer without the block answers DONT_HAVE to either.
    fn likely(&self, w: &Wanted, connected: &HashSet<PeerId>) -> Option<PeerId> {
        let mut candidates = connected.iter().filter(|p| !w.dont_have.contains(p));
        let fastest = candidates
            .clone()
            .filter_map(|p| self.flows.recent_rate(p, RECENT).map(|r| (r, *p)))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, p)| p);
        fastest.or_else(|| match (candidates.next(), candidates.next()) {
            (Some(only), None) => Some(*only),
            _ => None,
        })
    }

    fn ask_block(&mut self, key: &[u8], peer: PeerId) {
        let Some(w) = self.wants.get_mut(key) else { return };
        let generation = self.flows.with(peer, |f| f.generation);
        w.target = Some((peer, Instant::now(), generation));
        w.asked.insert(peer);
        self.flows.sent(peer, key.to_vec());
        self.net.bitswap.outbox.send(peer, want(&w.cid, false, false));
    }

    /// Sends want-have for `w` to connected peers not asked yet.
    fn ask_have(&mut self, key: &[u8], connected: &HashSet<PeerId>) -> bool {
        let Some(w) = self.wants.get_mut(key) else {
            return false;
        };
        for p in connected {
            if !w.dont_have.contains(p) && w.asked_have.insert(*p) {
                w.asked.insert(*p);
                self.net.bitswap.outbox.send(*p, want(&w.cid, true, false));
            }
        }
        connected.iter().all(|p| w.dont_have.contains(p))
    }

    /// Gives pending blocks to peers with room; asks who has the rest.
    fn schedule(&mut self) {
        let connected = self.net.connected();
        let mut keep = VecDeque::new();
        // A key can be queued twice (put back by a DONT_HAVE and by a
        // lost peer): it is kept once per pass (`Wanted::kept`, not a scan
        // of `keep` per key, which was 2 % of a loopback transfer's CPU).
        self.pass += 1;
        let pass = self.pass;
        let mut rooms = Rooms::default();
        // No connected session peer has room: every key behind the first
        // that must wait would wait too (new keys join at the back, keys put
        // back after a DONT_HAVE or a lost peer at the front, and a peer that
        // answers HAVE joins the session), so the pass ends there instead of
        // looking at hundreds of keys after every delivery.
        let mut full = self.all_full(&connected, &mut rooms);
        let mut lookup = None;
        let mut scanned = 0;
        while let Some(key) = self.pending.pop_front() {
            let Some(w) = self.wants.get(&key) else { continue };
            if w.target.is_some() || w.kept == pass {
                continue;
            }
            if scanned == MAX_SCAN {
                keep.push_back(key);
                break;
            }
            scanned += 1;
            match self.pick(w, &connected, &mut rooms) {
                Pick::Peer(p) => {
                    self.ask_block(&key, p);
                    rooms.forget(p);
                    full = self.all_full(&connected, &mut rooms);
                }
                Pick::Wait => {
                    if let Some(w) = self.wants.get_mut(&key) {
                        w.kept = pass;
                    }
                    keep.push_back(key);
                    if full {
                        break;
                    }
                }
                Pick::Nobody => {
                    let first = self.peers.is_empty() && w.asked.is_empty();
                    if let Some(p) = first.then(|| self.likely(w, &connected)).flatten() {
                        self.ask_block(&key, p);
                        rooms.forget(p);
                        if let Some(w) = self.wants.get_mut(&key) {
                            w.asked_have.insert(p);
                        }
                    }
                    if self.ask_have(&key, &connected) {
                        lookup = self.wants.get(&key).map(|w| w.cid);
                    }
                    if let Some(w) = self.wants.get_mut(&key) {
                        w.kept = pass;
                    }
                    keep.push_back(key);
                }
            }
        }
        keep.append(&mut self.pending);
        self.pending = keep;
        self.probe(&connected);
        if let Some(cid) = lookup {
            self.lookup(cid);
        }
        if self.pending.is_empty() {
            self.endgame(&connected);
        }
    }

    /// Whether the session has connected peers and none of them has room.
    fn all_full(&self, connected: &HashSet<PeerId>, rooms: &mut Rooms) -> bool {
        let mut on = self.peers.iter().filter(|p| connected.contains(*p)).peekable();
        on.peek().is_some() && on.all(|p| rooms.of(&self.flows, *p).is_none())
    }

    /// Asks connected peers that are not the session's yet (at most once a
    /// second each) whether they have its newest want: a HAVE makes them
    /// session peers, asked for blocks from then on.
    fn probe(&mut self, connected: &HashSet<PeerId>) {
        let now = Instant::now();
        let outside: Vec<PeerId> = connected
            .iter()
            .filter(|p| !self.peers.contains(p))
            .filter(|p| {
                self.probed
                    .get(*p)
                    .is_none_or(|t| now.duration_since(*t) >= PROBE_EVERY)
            })
            .copied()
            .collect();
        if outside.is_empty() || self.peers.is_empty() {
            return; // no session yet: every want goes to everyone anyway
        }
        let Some(key) = self.pending.back().or_else(|| self.wants.keys().next()).cloned() else {
            return;
        };
        let Some(w) = self.wants.get_mut(&key) else { return };
        for p in outside {
            self.probed.insert(p, now);
            if !w.dont_have.contains(&p) && w.asked_have.insert(p) {
                w.asked.insert(p);
                self.net.bitswap.outbox.send(p, want(&w.cid, true, false));
            }
        }
        self.probed.retain(|p, _| connected.contains(p));
    }

    /// The last few outstanding blocks, once late, are also asked of another
    /// peer that has room (the first to arrive wins; the other is
    /// cancelled).
    fn endgame(&mut self, connected: &HashSet<PeerId>) {
        if self.wants.is_empty() || self.wants.len() > ENDGAME_BLOCKS {
            return;
        }
        let now = Instant::now();
        let keys: Vec<Vec<u8>> = self.wants.keys().cloned().collect();
        for key in keys {
            let Some(w) = self.wants.get(&key) else { continue };
            let Some((t, at, _)) = w.target else { continue };
            // Only a block later than its peer should take: a healthy
            // peer's blocks are never asked twice.
            if w.second.is_some() || now.duration_since(at) < self.flows.with(t, |f| f.late_after(&key)) {
                continue;
            }
            let other = self
                .peers
                .iter()
                .chain(&w.haves)
                .filter(|p| **p != t && connected.contains(p) && !w.dont_have.contains(p))
                .find(|p| {
                    self.flows.with(**p, |f| {
                        f.has_room() && now.duration_since(at) > f.min_rtt().unwrap_or(Duration::MAX)
                    })
                })
                .copied();
            if let Some(p) = other
                && let Some(w) = self.wants.get_mut(&key)
            {
                w.second = Some(p);
                w.asked.insert(p);
                self.flows.sent(p, key.clone());
                self.net.bitswap.outbox.send(p, want(&w.cid, false, false));
            }
        }
    }

    /// Stalled or gone peers lose their wants; broken streams get them
    /// again; blocks with no progress for the timeout fail.
    fn check(&mut self) {
        let connected = self.net.connected();
        let now = Instant::now();
        let progress = self.last_delivery;
        let mut failed = Vec::new();
        let mut moved = Vec::new();
        let mut resend = Vec::new();
        for (key, w) in self.wants.iter_mut() {
            let since = progress.map_or(w.since, |t| t.max(w.since));
            if now.duration_since(since) > self.timeout {
                failed.push(key.clone());
                continue;
            }
            if let Some(s) = w.second
                && !connected.contains(&s)
            {
                w.second = None;
            }
            let Some((p, at, generation)) = w.target else {
                continue;
            };
            let (stalled, current) = self.flows.with(p, |f| (f.stalled(now), f.generation));
            if !connected.contains(&p) {
                w.target = None;
                moved.push(key.clone());
            } else if stalled && now.duration_since(at) > TICK {
                // Another peer gets it if there is one (the stalled one is
                // told to forget it: the block should not come twice);
                // else the same peer is asked again (its want may have been
                // lost).
                w.avoid.insert(p);
                w.target = None;
                moved.push(key.clone());
                self.flows.release(p, key);
                self.net.bitswap.outbox.send(p, want(&w.cid, false, true));
            } else if current != generation {
                resend.push((key.clone(), p));
            }
        }
        for key in failed {
            let peers = self
                .wants
                .get(&key)
                .map(|w| w.asked.iter().copied().collect())
                .unwrap_or_default();
            self.drop_want(
                &key,
                NetError::Stalled {
                    secs: self.timeout.as_secs(),
                    peers,
                },
            );
        }
        for (key, p) in resend {
            self.ask_block(&key, p);
        }
        for key in moved.into_iter().rev() {
            self.pending.push_front(key);
        }
        self.peers.retain(|p| connected.contains(p));
    }

    /// Asks the DHT for providers of `cid` (at most every few seconds per
    /// session); each one found is dialed, and asked once connected.
    fn lookup(&mut self, cid: Cid) {
        if self.last_lookup.is_some_and(|t| t.elapsed() < LOOKUP_EVERY) {
            return;
        }
        self.last_lookup = Some(Instant::now());
        let net = self.net.clone();
        self.net.rt.spawn(async move {
            for p in net.find_providers(cid).await.unwrap_or_default() {
                // Connecting wakes the driver (the flows signal), which
                // asks the new peer.
                let _ = net.connect_peer(p).await;
            }
        });
    }
}
