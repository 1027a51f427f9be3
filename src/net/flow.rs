//! Flow control of the Bitswap client, per peer, shared by every session.
//!
//! What a peer owes us (blocks asked with want-block and not yet received)
//! is bounded by a window sized from what the peer has shown it can do:
//! its delivery rate (the largest recent sample, measured as BBR measures
//! it) times its minimum round trip, twice over, plus a floor. A fast peer
//! is owed much, a slow one little, so a slow link never holds more than a
//! few seconds of queue, and a block that waits in a queue is not asked
//! again (wants travel on reliable streams: a repeated want is not how a
//! loss shows up). A want is sent again only when the stream it went on
//! broke (`generation` moves) or the peer sent no bytes of blocks for a
//! stall interval derived from its round trip and rate.

use libp2p::PeerId;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// What a fresh peer is owed: sixteen leaves of 256 KiB, two for each of
/// the server's reply streams (`outbox.rs`), until it has delivered that
/// much; then the window grows from what it delivered. On a 1 Gbit/s,
/// 120 ms link (`integration/wan/bench-wan.sh`, `fat`), 128 MiB went from
/// 0.46-0.51x TCP with 1 MiB to 0.57-0.58x with 2 MiB, and, once the
/// server's reply streams no longer held each lane's first block a round
/// trip, from 0.61-0.68x to 0.66-0.71x with 4 MiB; the swarm, churn, 2 and
/// 4 Mbit/s rows are unchanged (0.92-0.99x).
pub const START_WINDOW: u64 = 4 << 20;
/// What a peer that has delivered is owed at least: two seconds at its
/// rate, up to this (a slow link never holds a long standing queue).
pub const MIN_WINDOW: u64 = 2 << 20;
/// And at most (a 1 Gbit/s link with 250 ms of round trip, twice).
pub const MAX_WINDOW: u64 = 64 << 20;
/// The size a block is assumed to have before any arrived.
const FIRST_BLOCK_GUESS: u64 = 256 << 10;
/// How far back the delivery-rate maximum looks (at least; also ten round
/// trips): long enough to ride out a pause, short enough to follow a
/// link that slowed down.
const RATE_MEMORY: Duration = Duration::from_secs(3);

/// One want-block sent to a peer and not yet answered.
#[derive(Clone, Copy, Debug)]
struct Sent {
    at: Instant,
    /// The peer's delivered bytes and time when it was sent (BBR's rate
    /// sample: bytes delivered in between over the time in between).
    delivered: u64,
    delivered_time: Instant,
    /// Bytes the peer owed when it was asked, this block included: what
    /// it has to send before this block arrives.
    ahead: u64,
}

/// The client's view of one peer.
#[derive(Debug)]
pub struct PeerFlow {
    owed: HashMap<Vec<u8>, Sent>,
    delivered: u64,
    delivered_time: Instant,
    /// Smallest want-to-block time seen since the peer connected (never
    /// re-measured under load: a queue would inflate it and the window
    /// with it).
    min_rtt: Option<Duration>,
    /// Recent delivery-rate samples (time, bytes/s), for a windowed max.
    rates: VecDeque<(Instant, f64)>,
    avg_block: u64,
    /// Moves when the stream wants went on broke: what it owed is asked again.
    pub generation: u64,
    /// When the delivery rate last grew by a quarter (BBR's startup: while
    /// it keeps growing, the window grows faster).
    grew: Option<(Instant, f64)>,
    pub blocks_received: u64,
    pub bytes_received: u64,
    /// Bitswap messages received from the peer.
    pub messages: u64,
    /// The last Bitswap message from the peer.
    pub last_seen: Option<Instant>,
    /// When bytes of a large message (blocks) last arrived from the peer,
    /// before the message was whole: a peer sending blocks on several
    /// streams at once over a slow link completes them together, seconds
    /// apart, and is sending all the while.
    receiving: Option<Instant>,
}

impl PeerFlow {
    fn new(now: Instant) -> Self {
        PeerFlow {
            owed: HashMap::new(),
            delivered: 0,
            delivered_time: now,
            min_rtt: None,
            rates: VecDeque::new(),
            avg_block: FIRST_BLOCK_GUESS,
            generation: 0,
            grew: None,
            blocks_received: 0,
            bytes_received: 0,
            messages: 0,
            last_seen: None,
            receiving: None,
        }
    }

    /// Bytes per second: the largest recent sample (the front: `rates`
    /// keeps only samples no later one beats, so this is O(1) — it is asked
    /// for every block scheduled, and a fast peer leaves thousands).
    pub fn rate(&self) -> Option<f64> {
        self.rates.front().map(|r| r.1)
    }

    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }

    /// Bytes asked of the peer and not received (estimated by block count).
    pub fn owed_bytes(&self) -> u64 {
        self.owed.len() as u64 * self.avg_block
    }

    pub fn owed_blocks(&self) -> usize {
        self.owed.len()
    }

    /// What the peer may be owed: twice the bandwidth-delay product, plus
    /// a floor. The minimum round trip includes one block's time on the
    /// wire (on a slow link a leaf takes a second); the floor covers that,
    /// so it is taken out of the product.
    /// The window: gain × (rate × min RTT − a block) + the floor, where the
    /// gain is 3 while the rate is still growing (startup: the window then
    /// triples each round trip instead of doubling) and 2 after.
    pub fn window(&self) -> u64 {
        let bdp = match (self.rate(), self.min_rtt) {
            (Some(r), Some(rtt)) => {
                // Growing: the rate grew by a quarter within the last three
                // round trips (counted to the last delivery).
                let starting = self.grew.is_some_and(|(t, _)| {
                    self.delivered_time.duration_since(t) < 3 * rtt.max(Duration::from_millis(10))
                });
                let gain = if starting { 3 } else { 2 };
                ((r * rtt.as_secs_f64()) as u64).saturating_sub(self.avg_block) * gain
            }
            _ => 0,
        };
        // Once the peer's rate is known (from a window's worth of blocks:
        // the first samples, taken while Yamux windows still grow, are far
        // below the path's rate) the floor is at most two seconds of it: a
        // slow peer never holds a long queue.
        let floor = match self.rate() {
            Some(r) if self.bytes_received >= START_WINDOW => ((r * 2.0) as u64).min(MIN_WINDOW),
            _ => START_WINDOW,
        };
        (bdp + floor.max(2 * self.avg_block)).min(MAX_WINDOW)
    }

    /// Whether one more block fits in the window.
    pub fn has_room(&self) -> bool {
        self.owed_bytes() + self.avg_block <= self.window() || self.owed.is_empty()
    }

    /// Free room in bytes (to prefer the peer with the most).
    pub fn room(&self) -> u64 {
        self.window().saturating_sub(self.owed_bytes())
    }

    /// How long the peer may go without delivering anything while it owes
    /// blocks before its wants are moved or sent again: two round trips
    /// plus twice the time its debt takes at its rate, and at least 2 s.
    pub fn stall_after(&self) -> Duration {
        let rtt = self.min_rtt.unwrap_or(Duration::from_millis(500));
        let drain = match self.rate() {
            Some(r) if r > 0.0 => Duration::from_secs_f64((self.owed_bytes() as f64 / r).min(60.0)),
            _ => Duration::from_secs(2),
        };
        (2 * rtt + 2 * drain).max(Duration::from_secs(2))
    }

    /// How long the block `key` asked of this peer may take before it
    /// counts as late: three round trips plus one and a half times what
    /// the peer owed when it was asked takes at its rate, plus 100 ms of
    /// scheduling slack (what a healthy peer on a busy machine delivers
    /// within). The debt at asking, not now: a block asked behind a long
    /// queue is on its way while that queue drains (measuring by the debt
    /// left made the endgame ask a second peer for the last blocks of a
    /// 100 Mbit/s provider that were 50 ms from arriving).
    pub fn late_after(&self, key: &[u8]) -> Duration {
        let rtt = self.min_rtt.unwrap_or(Duration::from_millis(500));
        let ahead = self
            .owed
            .get(key)
            .map_or(self.owed_bytes() + self.avg_block, |s| s.ahead);
        let drain = match self.rate() {
            Some(r) if r > 0.0 => Duration::from_secs_f64((ahead as f64 / r).min(60.0)),
            _ => Duration::from_secs(1),
        };
        3 * rtt + drain * 3 / 2 + Duration::from_millis(100)
    }

    /// Whether the peer owes blocks and has sent none of their bytes for a
    /// while.
    pub fn stalled(&self, now: Instant) -> bool {
        let Some(oldest) = self.owed.values().map(|s| s.at).min() else {
            return false;
        };
        let active = oldest.max(self.delivered_time);
        let active = self.receiving.map_or(active, |r| active.max(r));
        now.duration_since(active) > self.stall_after()
    }

    pub fn is_owed(&self, key: &[u8]) -> bool {
        self.owed.contains_key(key)
    }

    fn sent(&mut self, key: Vec<u8>, now: Instant) {
        if self.owed.is_empty() {
            // An idle pipe: the rate sample starts now, not at the last
            // delivery long ago.
            self.delivered_time = now;
        }
        let s = Sent {
            at: now,
            delivered: self.delivered,
            delivered_time: self.delivered_time,
            ahead: self.owed_bytes() + self.avg_block,
        };
        self.owed.insert(key, s);
    }

    fn delivered(&mut self, key: &[u8], len: u64, now: Instant) {
        self.delivered += len;
        self.delivered_time = now;
        self.blocks_received += 1;
        self.bytes_received += len;
        self.avg_block = (self.avg_block * 7 + len.max(1)) / 8;
        let Some(s) = self.owed.remove(key) else { return };
        let rtt = now.duration_since(s.at);
        self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
        let interval = rtt.max(now.duration_since(s.delivered_time));
        if interval > Duration::ZERO {
            let sample = (self.delivered - s.delivered) as f64 / interval.as_secs_f64();
            while self.rates.back().is_some_and(|r| r.1 <= sample) {
                self.rates.pop_back();
            }
            self.rates.push_back((now, sample));
            if self.grew.is_none_or(|(_, r)| sample > 1.25 * r) {
                self.grew = Some((now, sample));
            }
        }
        tracing::trace!(
            owed = self.owed.len(),
            window = self.window(),
            rate = self.rate().unwrap_or_default() as u64,
            rtt_ms = rtt.as_millis() as u64,
            "delivered"
        );
        let keep = RATE_MEMORY.max(10 * self.min_rtt.unwrap_or_default());
        while self.rates.front().is_some_and(|r| now.duration_since(r.0) > keep) && self.rates.len() > 1 {
            self.rates.pop_front();
        }
        if self.rates.len() > 4096 {
            self.rates.pop_front();
        }
    }
}

/// Every peer's flow, and a signal that moves whenever room may have opened
/// somewhere (a delivery, a peer gone, a stream replaced).
pub struct Flows {
    peers: Mutex<HashMap<PeerId, PeerFlow>>,
    changed: tokio::sync::watch::Sender<u64>,
}

impl Default for Flows {
    fn default() -> Self {
        Flows {
            peers: Mutex::new(HashMap::new()),
            changed: tokio::sync::watch::channel(0).0,
        }
    }
}

impl Flows {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PeerId, PeerFlow>> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn poke(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Connections changed: sessions look again at whom to ask.
    pub fn touch(&self) {
        self.poke();
    }

    /// A receiver that sees every change.
    pub fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Runs `f` on the peer's flow (made if new).
    pub fn with<T>(&self, peer: PeerId, f: impl FnOnce(&mut PeerFlow) -> T) -> T {
        let mut m = self.lock();
        let flow = m.entry(peer).or_insert_with(|| PeerFlow::new(Instant::now()));
        f(flow)
    }

    /// A want-block for `key` went to `peer`.
    pub fn sent(&self, peer: PeerId, key: Vec<u8>) {
        self.with(peer, |f| f.sent(key, Instant::now()));
    }

    /// A message arrived from `peer`.
    pub fn seen(&self, peer: PeerId) {
        self.with(peer, |f| {
            f.last_seen = Some(Instant::now());
            f.messages += 1;
        });
    }

    /// Bytes of a large message from `peer` arrived (the peer must be
    /// known: no entry is made for it).
    pub fn receiving(&self, peer: &PeerId) {
        if let Some(f) = self.lock().get_mut(peer) {
            f.receiving = Some(Instant::now());
        }
    }

    /// When the peer last sent a message, and whether it owes blocks.
    pub fn activity(&self, peer: &PeerId) -> (Option<Instant>, bool) {
        self.lock()
            .get(peer)
            .map_or((None, false), |f| (f.last_seen, !f.owed.is_empty()))
    }

    /// The delivery rate of `peer` (0 before one is measured) if it
    /// delivered blocks within `recent` and has room for one more; `None`
    /// for a peer never heard from (no entry is made for it).
    pub fn recent_rate(&self, peer: &PeerId, recent: Duration) -> Option<f64> {
        let now = Instant::now();
        let m = self.lock();
        let f = m.get(peer)?;
        let lately = f.last_seen.is_some_and(|t| now.duration_since(t) < recent);
        (f.bytes_received > 0 && lately && f.has_room()).then(|| f.rate().unwrap_or(0.0))
    }

    /// A block arrived from `peer`.
    pub fn delivered(&self, peer: PeerId, key: &[u8], len: u64) {
        self.with(peer, |f| f.delivered(key, len, Instant::now()));
        self.poke();
    }

    /// The peer no longer owes `key` (cancelled, moved, or said DONT_HAVE).
    pub fn release(&self, peer: PeerId, key: &[u8]) {
        let removed = self
            .lock()
            .get_mut(&peer)
            .is_some_and(|f| f.owed.remove(key).is_some());
        if removed {
            self.poke();
        }
    }

    /// The stream to `peer` broke: wants written on it may be lost.
    pub fn stream_replaced(&self, peer: PeerId) {
        self.with(peer, |f| f.generation += 1);
        self.poke();
    }

    /// The peer disconnected: it owes nothing, and its measurements go.
    pub fn gone(&self, peer: &PeerId) {
        self.lock().remove(peer);
        self.poke();
    }

    /// A snapshot for `stats bitswap --verbose`.
    pub fn snapshot(&self) -> Vec<(PeerId, FlowStats)> {
        let mut v: Vec<_> = self
            .lock()
            .iter()
            .map(|(p, f)| {
                let s = FlowStats {
                    owed_blocks: f.owed_blocks(),
                    window_bytes: f.window(),
                    rate: f.rate().unwrap_or(0.0),
                    min_rtt_ms: f.min_rtt.map(|d| d.as_secs_f64() * 1000.0),
                    blocks_received: f.blocks_received,
                    bytes_received: f.bytes_received,
                    messages_received: f.messages,
                };
                (*p, s)
            })
            .collect();
        v.sort_by_key(|(p, _)| p.to_string());
        v
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FlowStats {
    #[serde(rename = "OwedBlocks")]
    pub owed_blocks: usize,
    #[serde(rename = "WindowBytes")]
    pub window_bytes: u64,
    #[serde(rename = "RateBytesPerSec")]
    pub rate: f64,
    #[serde(rename = "MinRttMs")]
    pub min_rtt_ms: Option<f64>,
    #[serde(rename = "BlocksReceived")]
    pub blocks_received: u64,
    #[serde(rename = "DataReceived")]
    pub bytes_received: u64,
    #[serde(rename = "MessagesReceived")]
    pub messages_received: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: u64 = 256 << 10;

    /// A simulated peer on a link of `rate` bytes/s and `rtt`: the client
    /// keeps the window full, the peer sends blocks one after another.
    /// Runs until `end` or until `blocks` blocks arrived; returns the time
    /// then and the longest any block waited in the peer's queue.
    fn drive(
        flow: &mut PeerFlow,
        start: Instant,
        rate: f64,
        rtt: Duration,
        end: Option<Instant>,
        blocks: u64,
    ) -> (Instant, Duration) {
        let per_block = Duration::from_secs_f64(BLOCK as f64 / rate);
        let (mut now, mut link_free, mut queued) = (start, start, Duration::ZERO);
        // (arrival time, key) of blocks on the way, in order.
        let mut on_the_way: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
        let (mut asked, mut got) = (0u64, 0u64);
        while got < blocks && end.is_none_or(|e| now < e) {
            while flow.has_room() && asked < blocks {
                let key = asked.to_be_bytes().to_vec();
                asked += 1;
                flow.sent(key.clone(), now);
                // The want takes half a round trip, then the block waits
                // for the link, then takes its time on it and half a trip.
                let starts = (now + rtt / 2).max(link_free);
                queued = queued.max(starts - (now + rtt / 2));
                link_free = starts + per_block;
                on_the_way.push_back((link_free + rtt / 2, key));
            }
            let Some((at, key)) = on_the_way.pop_front() else {
                break;
            };
            now = at;
            flow.delivered(&key, BLOCK, now);
            got += 1;
        }
        (now, queued)
    }

    /// `drive` for `secs` seconds of simulated time; returns the time then.
    fn simulate(flow: &mut PeerFlow, start: Instant, rate: f64, rtt: Duration, secs: f64) -> Instant {
        let end = start + Duration::from_secs_f64(secs);
        drive(flow, start, rate, rtt, Some(end), u64::MAX).0
    }

    #[test]
    fn window_grows_to_the_path_and_stays_near_it() {
        let start = Instant::now();
        let mut f = PeerFlow::new(start);
        assert_eq!(f.window(), START_WINDOW);
        // 12.5 MB/s, 40 ms: a bandwidth-delay product of 500 kB.
        let rtt = Duration::from_millis(40);
        simulate(&mut f, start, 12.5e6, rtt, 10.0);
        let rate = f.rate().unwrap();
        assert!((11e6..=13e6).contains(&rate), "rate {rate}");
        let m = f.min_rtt().unwrap();
        assert!(m >= rtt && m < rtt + Duration::from_millis(30), "min rtt {m:?}");
        // About 2 × BDP + the floor: never a queue of seconds.
        let w = f.window();
        assert!(w > MIN_WINDOW && w < 3 << 20, "window {w}");
        assert!(f.stall_after() < Duration::from_secs(3));
    }

    #[test]
    fn window_is_larger_on_a_long_fat_link_and_small_on_a_slow_one() {
        let start = Instant::now();
        let mut fat = PeerFlow::new(start);
        simulate(&mut fat, start, 125e6, Duration::from_millis(120), 10.0);
        // 125 MB/s × 120 ms = 15 MB in flight needed.
        assert!(fat.window() > 15_000_000, "fat window {}", fat.window());
        let mut slow = PeerFlow::new(start);
        simulate(&mut slow, start, 250e3, Duration::from_millis(40), 20.0);
        // 2 Mbit/s: the window stays near the floor, a few seconds of data.
        let secs = slow.window() as f64 / 250e3;
        assert!(secs < 4.6, "slow window {} = {secs} s", slow.window());
        assert!(
            slow.stall_after() >= Duration::from_secs(4),
            "{:?}",
            slow.stall_after()
        );
    }

    /// Fetches `blocks` leaves from a fresh simulated peer (`drive`);
    /// returns the time taken and the longest any block waited in the
    /// peer's queue.
    fn fetch_all(rate: f64, rtt: Duration, blocks: u64) -> (Duration, Duration) {
        let start = Instant::now();
        let (end, queued) = drive(&mut PeerFlow::new(start), start, rate, rtt, None, blocks);
        (end.duration_since(start), queued)
    }

    #[test]
    fn a_long_fat_link_fills_within_a_few_round_trips_and_a_slow_one_never_queues_long() {
        // 128 MiB over 1 Gbit/s, 120 ms: one round trip and 1.07 s on the
        // wire at best. With a 2 MiB start it took 1.145x that.
        let rtt = Duration::from_millis(120);
        let (took, _) = fetch_all(125e6, rtt, 512);
        let ideal = rtt.as_secs_f64() + 512.0 * BLOCK as f64 / 125e6;
        assert!(took.as_secs_f64() < 1.10 * ideal, "{took:?} against {ideal} s");
        // 100 Mbit/s, 40 ms: no block waits half a second behind others.
        let (took, queued) = fetch_all(12.5e6, Duration::from_millis(40), 512);
        assert!(queued < Duration::from_millis(500), "queued {queued:?}");
        assert!(took.as_secs_f64() < 1.02 * (0.04 + 512.0 * BLOCK as f64 / 12.5e6));
    }

    #[test]
    fn window_shrinks_when_the_peer_slows_down() {
        let start = Instant::now();
        let mut f = PeerFlow::new(start);
        let rtt = Duration::from_millis(40);
        let t = simulate(&mut f, start, 50e6, rtt, 5.0);
        let fast = f.window();
        simulate(&mut f, t, 1e6, rtt, 20.0);
        assert!(f.window() < fast / 2, "{} vs {fast}", f.window());
    }

    #[test]
    fn a_block_asked_behind_a_queue_is_late_only_after_that_queue() {
        let start = Instant::now();
        let mut f = PeerFlow::new(start);
        let rtt = Duration::from_millis(40);
        let t = simulate(&mut f, start, 12.5e6, rtt, 5.0);
        // Sixteen blocks asked at once; all but the last delivered since.
        for k in 0..16u8 {
            f.sent(vec![b'q', k], t);
        }
        let r = f.rate().unwrap();
        let later = t + Duration::from_secs_f64(15.0 * BLOCK as f64 / r);
        for k in 0..15u8 {
            f.delivered(&[b'q', k], BLOCK, later);
        }
        // The last one waited behind fifteen others: it is not late yet,
        // though the peer owes only it now.
        let last = [b'q', 15];
        let waited = later.duration_since(t);
        assert!(
            f.late_after(&last) > waited,
            "{:?} <= {waited:?}",
            f.late_after(&last)
        );
        // A block asked now, with nothing ahead, may take far less.
        f.sent(b"new".to_vec(), later);
        assert!(f.late_after(b"new") < f.late_after(&last));
    }

    #[test]
    fn stall_is_noticed_and_release_frees_room() {
        let start = Instant::now();
        let mut f = PeerFlow::new(start);
        f.sent(b"a".to_vec(), start);
        assert!(!f.stalled(start + Duration::from_secs(1)));
        assert!(f.stalled(start + Duration::from_secs(10)));
        // Bytes of blocks on the way (several streams at once over a slow
        // link) are progress, though no block is whole yet.
        f.receiving = Some(start + Duration::from_secs(9));
        assert!(!f.stalled(start + Duration::from_secs(10)));
        assert!(f.stalled(start + Duration::from_secs(20)));
        f.owed.remove(&b"a"[..]);
        assert!(!f.stalled(start + Duration::from_secs(20)));
        // A block nobody asked of this peer still counts as delivered bytes.
        f.delivered(b"zzz", 100, start);
        assert_eq!(f.bytes_received, 100);
    }
}
