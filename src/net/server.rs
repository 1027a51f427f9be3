//! The Bitswap server: a wantlist per peer, answered in fair turns.
//!
//! As in the spec and boxo's engine, a peer's wantlist is a set: a want for
//! a block already queued (or already sent while the want stands) is
//! merged, not queued again; a want-have is upgraded to want-block; a
//! cancel removes a queued want; a full wantlist replaces the old one. Each
//! peer with wants has one worker that turns them into replies of about
//! one leaf, reading the next from the store while earlier ones are
//! written (up to `outbox::LANES` at once); workers take answer slots from
//! one fair semaphore, so peers are served in turns and one peer holds at
//! most `LANES` + 1 replies in memory.
//! Answers come from the local store only: serving never fetches.

use super::bitswap::{Message, Want};
use super::outbox::{LANES, Outbox};
use crate::block::BlockGet;
use bytes::Bytes;
use cid::Cid;
use futures::StreamExt;
use libp2p::PeerId;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Wants kept per peer; more are ignored until some are answered.
pub const MAX_WANTS_PER_PEER: usize = 4096;
/// Blocks remembered as sent per peer (a want for one of them is a
/// duplicate until the peer cancels it or it is this old).
const MAX_SENT_PER_PEER: usize = 8192;
const SENT_FORGOTTEN_AFTER: Duration = Duration::from_secs(60);
/// Failed replies in a row whose blocks are queued again (a peer whose
/// streams all fail is not retried in a loop).
const WRITE_RETRIES: u32 = 3;
/// A reply closes once it carries this many block bytes: about one leaf.
/// The client sees a block only when its whole message has arrived, so on
/// a 100 Mbit/s link a 1 MiB reply held blocks back 80 ms (two round
/// trips) and starved the window; boxo too sends about one block per
/// message.
const REPLY_TARGET: usize = 256 << 10;
/// Never more than this in one message (peers refuse messages over 4 MiB).
const REPLY_MAX: usize = (4 << 20) - (64 << 10);
/// Presences in one reply at most.
const MAX_PRESENCES: usize = 1024;
/// Replies being prepared or written at once, over all peers (256 KiB
/// each: 16 MiB at most): room for several peers at [`LANES`] each.
const ANSWER_SLOTS: usize = 64;
/// A want-block this long after our HAVE for the same block is a new
/// want, not a re-target (see [`retarget_hold`]).
const RETARGET_WINDOW: Duration = Duration::from_secs(30);

/// How long to hold a want-block that arrives `gap` after this peer was
/// told HAVE for the same block, if it looks like a boxo client's
/// re-target; `rtt`: the peer's least ping time.
///
/// Why: a boxo client (Kubo, most of the network) asks one peer for a
/// block and the others only whether they have it. When the block is late
/// by twice its latency estimate, it asks the next peer for it without
/// cancelling the first, and cancels the loser only once a copy arrived.
/// On `integration/wan/bench-wan.sh`, p2pfs providers serving a Kubo 0.22
/// downloader sent 1.10-1.33x the file, nearly all of it such re-targets
/// (the client logs "timeout waiting for blocks"). A re-target shows here
/// as a want-block more than 1.5 round trips after our HAVE (a client that
/// asks for the block because of the HAVE does so one round trip after
/// it). Held for three round trips, it is cancelled when the first copy
/// was on its way; if the first peer is gone, the block leaves that late.
fn retarget_hold(gap: Duration, rtt: Option<Duration>) -> Option<Duration> {
    let rtt = rtt?;
    let looks_retargeted = gap >= rtt * 3 / 2 + Duration::from_millis(10) && gap <= RETARGET_WINDOW;
    looks_retargeted.then(|| (rtt * 3).clamp(Duration::from_millis(100), Duration::from_secs(1)))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    want_have: bool,
    send_dont_have: bool,
    /// Position in the queue (an entry upgraded in place keeps its turn).
    seq: u64,
    /// Not answered before this: a likely re-target ([`retarget_hold`]).
    not_before: Option<Instant>,
}

/// One peer's wantlist.
#[derive(Default)]
struct Ledger {
    wants: HashMap<Vec<u8>, Entry>,
    /// Arrival order; items whose seq no longer matches are stale.
    order: VecDeque<(u64, Vec<u8>)>,
    next_seq: u64,
    /// Blocks taken for sending (or sent) while the want stands.
    sent: HashMap<Vec<u8>, Instant>,
    worker: bool,
    /// Replies in a row that could not be written.
    failures: u32,
    /// Want-haves answered HAVE, and when (for [`retarget_hold`]).
    haves: HashMap<Vec<u8>, Instant>,
    /// The peer's least ping time.
    rtt: Option<Duration>,
    /// Told of new wants (a worker waiting for a held want wakes early).
    news: Arc<tokio::sync::Notify>,
}

impl Ledger {
    fn apply(&mut self, w: &Want, now: Instant) {
        if w.cancel {
            self.wants.remove(&w.cid);
            self.sent.remove(&w.cid);
            self.haves.remove(&w.cid);
            return;
        }
        if self
            .sent
            .get(&w.cid)
            .is_some_and(|t| now.duration_since(*t) < SENT_FORGOTTEN_AFTER)
        {
            return; // already on its way: a want does not make it twice
        }
        if let Some(e) = self.wants.get_mut(&w.cid) {
            // A want-block supersedes a want-have; never the reverse.
            e.want_have &= w.want_have;
            e.send_dont_have |= w.send_dont_have;
            return;
        }
        if self.wants.len() >= MAX_WANTS_PER_PEER {
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let told_have = if w.want_have {
            None
        } else {
            self.haves.remove(&w.cid)
        };
        let hold = told_have.and_then(|t| retarget_hold(now.saturating_duration_since(t), self.rtt));
        let e = Entry {
            want_have: w.want_have,
            send_dont_have: w.send_dont_have,
            seq,
            not_before: hold.map(|h| now + h),
        };
        self.wants.insert(w.cid.clone(), e);
        self.order.push_back((seq, w.cid.clone()));
    }

    /// A full wantlist: what it does not name is no longer wanted.
    fn replace(&mut self, wants: &[Want], now: Instant) {
        let named: std::collections::HashSet<&[u8]> = wants.iter().map(|w| w.cid.as_slice()).collect();
        self.wants.retain(|k, _| named.contains(k.as_slice()));
        self.sent.retain(|k, _| named.contains(k.as_slice()));
        self.haves.retain(|k, _| named.contains(k.as_slice()));
        for w in wants {
            self.apply(w, now);
        }
    }

    /// The oldest want still standing and not held, taken off the list.
    fn pop(&mut self, now: Instant) -> Option<(Vec<u8>, Entry)> {
        let mut held = Vec::new();
        let mut found = None;
        while let Some((seq, key)) = self.order.pop_front() {
            match self.wants.get(&key) {
                Some(e) if e.seq == seq && e.not_before.is_some_and(|t| t > now) => held.push((seq, key)),
                Some(e) if e.seq == seq => {
                    let e = *e;
                    self.wants.remove(&key);
                    found = Some((key, e));
                    break;
                }
                _ => continue,
            }
        }
        for h in held.into_iter().rev() {
            self.order.push_front(h);
        }
        found
    }

    /// When the first held want may be answered.
    fn next_release(&self) -> Option<Instant> {
        self.wants.values().filter_map(|e| e.not_before).min()
    }

    fn told_have(&mut self, key: Vec<u8>, now: Instant) {
        if self.haves.len() >= MAX_SENT_PER_PEER {
            self.haves.retain(|_, t| now.duration_since(*t) < RETARGET_WINDOW);
            if self.haves.len() >= MAX_SENT_PER_PEER {
                self.haves.clear();
            }
        }
        self.haves.insert(key, now);
    }

    /// A reply was written (`ok`) or could not be (its stream broke or
    /// could not be opened). Its blocks then stand again, first in line,
    /// unless cancelled meanwhile: the peer still waits for them, and would
    /// otherwise wait until it asks again (a boxo client: its rebroadcast,
    /// up to 30 s). After a few failures in a row that is left to the peer.
    fn written(&mut self, ok: bool, keys: Vec<Vec<u8>>) {
        if ok {
            self.failures = 0;
            return;
        }
        self.failures += 1;
        for k in keys.into_iter().rev() {
            // No sent mark: cancelled (or left out of a full wantlist).
            if self.sent.remove(&k).is_none()
                || self.failures > WRITE_RETRIES
                || self.wants.contains_key(&k)
                || self.wants.len() >= MAX_WANTS_PER_PEER
            {
                continue;
            }
            let seq = self.next_seq;
            self.next_seq += 1;
            let e = Entry {
                want_have: false,
                send_dont_have: false,
                seq,
                not_before: None,
            };
            self.wants.insert(k.clone(), e);
            self.order.push_front((seq, k));
        }
    }

    fn mark_sent(&mut self, key: Vec<u8>, now: Instant) {
        if self.sent.len() >= MAX_SENT_PER_PEER {
            self.sent
                .retain(|_, t| now.duration_since(*t) < SENT_FORGOTTEN_AFTER);
            if self.sent.len() >= MAX_SENT_PER_PEER {
                self.sent.clear();
            }
        }
        self.sent.insert(key, now);
    }
}

/// What the server did, for `stats bitswap`.
#[derive(Default)]
pub struct ServerStats {
    pub blocks_sent: AtomicU64,
    pub data_sent: AtomicU64,
}

pub struct Server {
    ledgers: Mutex<HashMap<PeerId, Arc<Mutex<Ledger>>>>,
    blocks: Arc<dyn BlockGet>,
    slots: Arc<tokio::sync::Semaphore>,
    pub stats: ServerStats,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Server {
    pub fn new(blocks: Arc<dyn BlockGet>) -> Self {
        Server {
            ledgers: Mutex::new(HashMap::new()),
            blocks,
            slots: Arc::new(tokio::sync::Semaphore::new(ANSWER_SLOTS)),
            stats: ServerStats::default(),
        }
    }

    /// Takes the wants of one message (in the order messages arrived) and
    /// makes sure the peer's worker runs.
    pub fn wants(self: &Arc<Self>, peer: PeerId, wants: &[Want], full: bool, outbox: &Arc<Outbox>) {
        if wants.is_empty() && !full {
            return;
        }
        let ledger = lock(&self.ledgers).entry(peer).or_default().clone();
        let start = {
            let mut l = lock(&ledger);
            let now = Instant::now();
            if full {
                l.replace(wants, now);
            } else {
                for w in wants {
                    l.apply(w, now);
                }
            }
            let start = !l.worker && !l.wants.is_empty();
            l.worker |= start;
            l.news.notify_one();
            start
        };
        if start {
            tokio::spawn(serve_peer(self.clone(), peer, ledger, outbox.clone()));
        }
    }

    /// A ping of the peer took `rtt`.
    pub fn ping(&self, peer: PeerId, rtt: Duration) {
        let ledger = lock(&self.ledgers).entry(peer).or_default().clone();
        let mut l = lock(&ledger);
        l.rtt = Some(l.rtt.map_or(rtt, |m| m.min(rtt)));
    }

    /// The peer disconnected: its wantlist goes.
    pub fn forget(&self, peer: &PeerId) {
        if let Some(l) = lock(&self.ledgers).remove(peer) {
            let mut l = lock(&l);
            l.wants.clear();
            l.order.clear();
        }
    }

    /// Wants standing for a peer (`stats bitswap`).
    pub fn wantlist_len(&self, peer: &PeerId) -> usize {
        lock(&self.ledgers).get(peer).map_or(0, |l| lock(l).wants.len())
    }
}

/// A block small enough to send in answer to a want-have instead of a
/// HAVE, as boxo does (`maxBlockSizeReplaceHasWithBlock`): it costs about
/// what the HAVE costs and saves the asker a round trip (a DAG's root).
const SEND_INSTEAD_OF_HAVE: u64 = 1024;

fn small(blocks: &dyn BlockGet, cid: &Cid) -> bool {
    matches!(blocks.size(cid), Ok(Some(n)) if n <= SEND_INSTEAD_OF_HAVE)
}

/// One reply's worth of the peer's wants, read from the store. `carry` is
/// a block read for the previous reply that did not fit in it.
fn next_reply(server: &Server, ledger: &Mutex<Ledger>, carry: &mut Option<(Cid, Bytes)>) -> Message {
    let mut out = Message::default();
    let mut bytes = 0;
    if let Some((cid, data)) = carry.take() {
        bytes += data.len();
        out.blocks.push((cid, data));
    }
    while bytes < REPLY_TARGET && out.presences.len() < MAX_PRESENCES {
        let Some((key, e)) = lock(ledger).pop(Instant::now()) else {
            break;
        };
        let Ok(cid) = Cid::try_from(key.as_slice()) else {
            continue;
        };
        let have = server.blocks.has(&cid).unwrap_or(false);
        if !have {
            if e.send_dont_have {
                out.presences.push((key, false));
            }
        } else if e.want_have && !small(&*server.blocks, &cid) {
            lock(ledger).told_have(key.clone(), Instant::now());
            out.presences.push((key, true));
        } else if let Ok(data) = server.blocks.get(&cid) {
            lock(ledger).mark_sent(key, Instant::now());
            let data = Bytes::from(data);
            if bytes > 0 && bytes + data.len() > REPLY_MAX {
                *carry = Some((cid, data));
                break;
            }
            bytes += data.len();
            out.blocks.push((cid, data));
        } else if e.send_dont_have {
            out.presences.push((key, false));
        }
    }
    out
}

/// Answers one peer's wants until none stand. The next reply is read while
/// earlier ones are written, up to [`LANES`] at once (each on its own
/// stream, see `outbox.rs`); each holds an answer slot.
async fn serve_peer(server: Arc<Server>, peer: PeerId, ledger: Arc<Mutex<Ledger>>, outbox: Arc<Outbox>) {
    let mut carry: Option<(Cid, Bytes)> = None;
    let mut writing = futures::stream::FuturesUnordered::new();
    loop {
        let Some(slot) = take_slot(&server.slots, &mut writing, |w| settle(&ledger, w)).await else {
            break;
        };
        let (s, l) = (server.clone(), ledger.clone());
        let Ok((reply, carry_back)) = tokio::task::spawn_blocking(move || {
            let r = next_reply(&s, &l, &mut carry);
            (r, carry)
        })
        .await
        else {
            break;
        };
        carry = carry_back;
        if reply.blocks.is_empty() && reply.presences.is_empty() && carry.is_none() {
            drop(slot);
            // Nothing to send now: what was sent may still fail and stand
            // again, so the worker ends only once every write is done.
            while let Some(w) = writing.next().await {
                settle(&ledger, w);
            }
            let (release, news) = {
                let mut l = lock(&ledger);
                if l.wants.is_empty() {
                    l.worker = false;
                    return;
                }
                (l.next_release(), l.news.clone())
            };
            // Only held wants stand: wait for the first to be released,
            // or for new wants.
            if let Some(t) = release {
                tokio::select! {
                    () = news.notified() => {}
                    () = tokio::time::sleep_until(t) => {}
                }
            }
            continue;
        }
        // Presences alone never overtake blocks being written: a boxo
        // client times a peer's answers (its DONT_HAVE timeout is twice
        // their average), and a HAVE that jumps the queue would make the
        // queued blocks look late, so it would ask another peer for them.
        // Else whichever write finishes first makes room (a write waiting
        // for its stream's window must not hold back the others).
        let lanes = if reply.blocks.is_empty() { 1 } else { LANES };
        while writing.len() >= lanes {
            if let Some(w) = writing.next().await {
                settle(&ledger, w);
            }
        }
        let n = reply.blocks.len() as u64;
        let data: u64 = reply.blocks.iter().map(|(_, d)| d.len() as u64).sum();
        server.stats.blocks_sent.fetch_add(n, Ordering::Relaxed);
        server.stats.data_sent.fetch_add(data, Ordering::Relaxed);
        let keys = reply.blocks.iter().map(|(c, _)| c.to_bytes()).collect();
        writing.push(written(outbox.send_message(peer, reply), slot, keys));
    }
    lock(&ledger).worker = false;
}

/// Takes an answer slot, settling the writes that end meanwhile. A write
/// that ended gives its slot back only once its future is polled, so
/// waiting for a slot without polling them deadlocked the server as soon
/// as the busy peers' finished writes held every slot (eight peers at
/// [`LANES`] each).
async fn take_slot<W: std::future::Future>(
    slots: &Arc<tokio::sync::Semaphore>,
    writing: &mut futures::stream::FuturesUnordered<W>,
    mut settle: impl FnMut(W::Output),
) -> Option<tokio::sync::OwnedSemaphorePermit> {
    // One acquire for the whole wait keeps this worker's turn in the queue.
    let acquire = slots.clone().acquire_owned();
    tokio::pin!(acquire);
    loop {
        tokio::select! {
            biased;
            s = &mut acquire => return s.ok(),
            Some(w) = writing.next() => settle(w),
        }
    }
}

/// Waits for a reply's write (holding its answer slot until then): whether
/// it was written, and its blocks.
async fn written(
    done: tokio::sync::oneshot::Receiver<bool>,
    _slot: tokio::sync::OwnedSemaphorePermit,
    keys: Vec<Vec<u8>>,
) -> (bool, Vec<Vec<u8>>) {
    (done.await.unwrap_or(false), keys)
}

/// A reply's write ended: see [`Ledger::written`].
fn settle(ledger: &Mutex<Ledger>, (ok, keys): (bool, Vec<Vec<u8>>)) {
    lock(ledger).written(ok, keys);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(cid: &[u8], have: bool) -> Want {
        Want {
            cid: cid.to_vec(),
            cancel: false,
            want_have: have,
            send_dont_have: true,
        }
    }

    fn cancel(cid: &[u8]) -> Want {
        Want {
            cid: cid.to_vec(),
            cancel: true,
            ..Default::default()
        }
    }

    /// Blocks in memory, with their sizes known.
    struct Mem(HashMap<Cid, Vec<u8>>);

    impl BlockGet for Mem {
        fn get(&self, cid: &Cid) -> Result<Vec<u8>, crate::block::BlockError> {
            self.0
                .get(cid)
                .cloned()
                .ok_or(crate::block::BlockError::NotFound(*cid))
        }
        fn has(&self, cid: &Cid) -> Result<bool, crate::block::BlockError> {
            Ok(self.0.contains_key(cid))
        }
        fn size(&self, cid: &Cid) -> Result<Option<u64>, crate::block::BlockError> {
            Ok(self.0.get(cid).map(|b| b.len() as u64))
        }
    }

    #[test]
    fn a_want_have_of_a_small_block_gets_the_block_and_of_a_big_one_a_have() {
        let (small, big) = (vec![1u8; 1024], vec![2u8; 1025]);
        let raw = crate::block::RAW;
        let (cs, cb) = (crate::block::cid_v1(raw, &small), crate::block::cid_v1(raw, &big));
        let blocks = HashMap::from([(cs, small.clone()), (cb, big)]);
        let server = Server::new(Arc::new(Mem(blocks)));
        let ledger = Mutex::new(Ledger::default());
        let now = Instant::now();
        lock(&ledger).apply(&want(&cs.to_bytes(), true), now);
        lock(&ledger).apply(&want(&cb.to_bytes(), true), now);
        let m = next_reply(&server, &ledger, &mut None);
        assert_eq!(m.blocks, vec![(cs, Bytes::from(small))]);
        assert_eq!(m.presences, vec![(cb.to_bytes(), true)]);
        // The block sent stands as sent: a want-block of it is merged.
        lock(&ledger).apply(&want(&cs.to_bytes(), false), now);
        assert!(next_reply(&server, &ledger, &mut None).blocks.is_empty());
    }

    #[test]
    fn repeated_wants_merge_and_keep_their_turn() {
        let now = Instant::now();
        let mut l = Ledger::default();
        l.apply(&want(b"a", true), now);
        l.apply(&want(b"b", false), now);
        l.apply(&want(b"a", false), now); // upgrade: a keeps first place
        l.apply(&want(b"b", false), now); // repeat: merged
        l.apply(&want(b"b", true), now); // want-have after want-block: no downgrade
        assert_eq!(l.wants.len(), 2);
        let (k, e) = l.pop(now).unwrap();
        assert_eq!((k.as_slice(), e.want_have), (&b"a"[..], false));
        let (k, e) = l.pop(now).unwrap();
        assert_eq!((k.as_slice(), e.want_have), (&b"b"[..], false));
        assert!(l.pop(now).is_none());
    }

    #[test]
    fn nothing_is_sent_twice_while_the_want_stands() {
        let now = Instant::now();
        let mut l = Ledger::default();
        l.apply(&want(b"a", false), now);
        let (k, _) = l.pop(now).unwrap();
        l.mark_sent(k, now);
        // The client asks again before the block reached it: not queued.
        l.apply(&want(b"a", false), now);
        assert!(l.pop(now).is_none());
        // It cancels (it got it); a later want is a new want.
        l.apply(&cancel(b"a"), now);
        l.apply(&want(b"a", false), now);
        assert!(l.pop(now).is_some());
        // Long after, a repeated want is served again (the peer lost it).
        l.mark_sent(b"b".to_vec(), now);
        l.apply(
            &want(b"b", false),
            now + SENT_FORGOTTEN_AFTER + Duration::from_secs(1),
        );
        assert!(l.pop(now).is_some());
    }

    #[test]
    fn a_reply_that_could_not_be_written_stands_again() {
        let now = Instant::now();
        let mut l = Ledger::default();
        for k in [b"a", b"b", b"c"] {
            l.apply(&want(k, false), now);
        }
        let taken: Vec<Vec<u8>> = (0..2).map(|_| l.pop(now).unwrap().0).collect();
        for k in &taken {
            l.mark_sent(k.clone(), now);
        }
        // b is cancelled while the reply is written; then the write fails.
        l.apply(&cancel(b"b"), now);
        l.written(false, taken.clone());
        let got: Vec<Vec<u8>> = std::iter::from_fn(|| l.pop(now).map(|(k, _)| k)).collect();
        assert_eq!(got, vec![b"a".to_vec(), b"c".to_vec()]);
        // A peer whose every write fails is not retried in a loop: after a
        // few failures in a row (the first was above) its blocks are left
        // to it to ask again.
        for _ in 1..WRITE_RETRIES {
            l.mark_sent(b"a".to_vec(), now);
            l.written(false, vec![b"a".to_vec()]);
            assert!(l.pop(now).is_some());
        }
        l.mark_sent(b"a".to_vec(), now);
        l.written(false, vec![b"a".to_vec()]);
        assert!(l.pop(now).is_none());
        // It asks again (its sent mark is gone): served; a write that
        // succeeds resets the count.
        l.apply(&want(b"a", false), now);
        assert!(l.pop(now).is_some());
        l.written(true, vec![b"a".to_vec()]);
        l.mark_sent(b"a".to_vec(), now);
        l.written(false, vec![b"a".to_vec()]);
        assert!(l.pop(now).is_some());
    }

    #[test]
    fn cancel_removes_a_queued_want_and_full_lists_replace() {
        let now = Instant::now();
        let mut l = Ledger::default();
        for k in [b"a", b"b", b"c"] {
            l.apply(&want(k, false), now);
        }
        l.apply(&cancel(b"b"), now);
        l.replace(&[want(b"c", false), want(b"d", true)], now);
        let got: Vec<Vec<u8>> = std::iter::from_fn(|| l.pop(now).map(|(k, _)| k)).collect();
        assert_eq!(got, vec![b"c".to_vec(), b"d".to_vec()]);
    }

    #[test]
    fn a_want_block_long_after_our_have_is_held_until_its_cancel_can_come() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut l = Ledger {
            rtt: Some(ms(40)),
            ..Default::default()
        };
        for k in [b"a", b"b", b"c"] {
            l.apply(&want(k, true), t0);
        }
        while let Some((k, _)) = l.pop(t0) {
            l.told_have(k, t0);
        }
        // `a` is asked for 200 ms later (a boxo client's re-target): held
        // three round trips, while other wants are answered.
        let t1 = t0 + ms(200);
        l.apply(&want(b"a", false), t1);
        l.apply(&want(b"d", false), t1);
        assert_eq!(l.pop(t1).map(|(k, _)| k), Some(b"d".to_vec()));
        assert!(l.pop(t1).is_none());
        assert_eq!(l.next_release(), Some(t1 + ms(120)));
        assert_eq!(l.pop(t1 + ms(120)).map(|(k, _)| k), Some(b"a".to_vec()));
        // `b` likewise, but its cancel comes first: never sent.
        l.apply(&want(b"b", false), t1);
        l.apply(&cancel(b"b"), t1 + ms(50));
        assert!(l.pop(t1 + ms(500)).is_none());
        // `c` is asked for one round trip after the HAVE (the asker acts on
        // it): answered at once.
        l.apply(&want(b"c", false), t0 + ms(45));
        assert!(l.pop(t0 + ms(45)).is_some());
    }

    #[test]
    fn no_want_is_held_without_a_ping_time_or_a_have() {
        let t0 = Instant::now();
        let mut l = Ledger::default();
        l.apply(&want(b"a", true), t0);
        let (k, _) = l.pop(t0).unwrap();
        l.told_have(k, t0);
        let t1 = t0 + Duration::from_secs(1);
        l.apply(&want(b"a", false), t1);
        assert!(l.pop(t1).is_some());
        l.rtt = Some(Duration::from_millis(40));
        l.apply(&want(b"e", false), t1);
        assert!(l.pop(t1).is_some());
        assert_eq!(
            retarget_hold(Duration::from_secs(60), Some(Duration::from_millis(40))),
            None
        );
    }

    #[test]
    fn a_ledger_is_bounded() {
        let now = Instant::now();
        let mut l = Ledger::default();
        for i in 0..(MAX_WANTS_PER_PEER + 100) {
            l.apply(&want(&(i as u64).to_be_bytes(), false), now);
        }
        assert_eq!(l.wants.len(), MAX_WANTS_PER_PEER);
        for i in 0..(MAX_SENT_PER_PEER + 10) {
            l.mark_sent((i as u64).to_be_bytes().to_vec(), now);
        }
        assert!(l.sent.len() <= MAX_SENT_PER_PEER);
    }

    /// Every slot held by writes that have ended but were not yet polled:
    /// taking the next slot must settle them rather than wait forever.
    #[tokio::test]
    async fn a_worker_waiting_for_a_slot_settles_its_finished_writes() {
        let slots = Arc::new(tokio::sync::Semaphore::new(2));
        let mut writing = futures::stream::FuturesUnordered::new();
        for _ in 0..2 {
            let permit = slots.clone().acquire_owned().await.unwrap();
            writing.push(async move {
                drop(permit);
            });
        }
        let mut settled = 0;
        let slot = tokio::time::timeout(
            Duration::from_secs(5),
            take_slot(&slots, &mut writing, |()| settled += 1),
        )
        .await
        .expect("a slot held by a finished write was never given back");
        assert!(slot.is_some());
        assert!(settled >= 1);
    }
}
