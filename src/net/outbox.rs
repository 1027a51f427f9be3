//! What the node sends to each peer over Bitswap, and on which streams.
//!
//! Wants go through one queue per peer, on one long-lived stream (as boxo's
//! message queues do): wants queued while a message is being written go out
//! together in the next one, their order is kept (a CANCEL never overtakes
//! its want), and opening a stream (a negotiation round trip) is paid once.
//!
//! The server's replies go on up to [`LANES`] streams of their own, written
//! at once. Why: a Yamux stream's receive window (2 MiB at the start here,
//! `third_party/yamux`; 256 KiB in the spec) at most doubles once per round
//! trip, so one stream on a long fat link needs several round trips to
//! carry a bandwidth-delay product (1 Gbit/s × 120 ms: 15 MB). Eight
//! streams start with 16 MiB between them. boxo's server gets the same
//! effect by opening a stream per reply. Replies carry blocks
//! and presences, whose order does not matter.

use super::bitswap::{Message, PROTOCOLS, Want, frame};
use futures::stream::FuturesUnordered;
use futures::{AsyncWriteExt, StreamExt};
use libp2p::{PeerId, StreamProtocol};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Replies to one peer being written at once, each on its own stream.
pub const LANES: usize = 8;
/// Most wants in one message.
const MAX_WANTS_PER_MESSAGE: usize = super::bitswap::MAX_WANTS_PER_MESSAGE;
/// An outgoing stream idle this long is closed (Helia aborts inbound
/// streams after 10 s without a message).
const STREAM_IDLE: Duration = Duration::from_secs(5);
/// How long one message may take to write before the stream is given up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// A peer's queue task ends after this long without anything to send.
const QUEUE_IDLE: Duration = Duration::from_secs(60);

/// A reply and who learns whether it was written.
type Reply = (Message, oneshot::Sender<bool>);

/// Every peer's queues of wants and of replies.
pub struct Outbox {
    control: libp2p_stream::Control,
    rt: tokio::runtime::Handle,
    wants: Mutex<HashMap<PeerId, mpsc::UnboundedSender<Want>>>,
    replies: Mutex<HashMap<PeerId, mpsc::UnboundedSender<Reply>>>,
    connected: Arc<Mutex<std::collections::HashSet<PeerId>>>,
    flows: Arc<super::flow::Flows>,
}

impl Outbox {
    pub fn new(
        control: libp2p_stream::Control,
        rt: tokio::runtime::Handle,
        connected: Arc<Mutex<std::collections::HashSet<PeerId>>>,
        flows: Arc<super::flow::Flows>,
    ) -> Self {
        Outbox {
            control,
            rt,
            wants: Mutex::new(HashMap::new()),
            replies: Mutex::new(HashMap::new()),
            connected,
            flows,
        }
    }

    pub fn send(&self, peer: PeerId, want: Want) {
        if !self.is_connected(&peer) {
            return;
        }
        let (control, flows) = (self.control.clone(), self.flows.clone());
        self.push(&self.wants, peer, want, |rx| run_wants(control, peer, rx, flows));
    }

    /// Queues a reply; the receiver says once it is written (false if it
    /// could not be).
    pub fn send_message(&self, peer: PeerId, msg: Message) -> oneshot::Receiver<bool> {
        let (tx, rx) = oneshot::channel();
        if self.is_connected(&peer) {
            let control = self.control.clone();
            self.push(&self.replies, peer, (msg, tx), |rx| {
                run_replies(control, peer, rx)
            });
        }
        rx
    }

    /// Opening a stream would dial: never redial a peer that left or was
    /// dropped just to tell it something.
    fn is_connected(&self, peer: &PeerId) -> bool {
        self.connected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(peer)
    }

    /// Hands `item` to the peer's task in `queues`, starting one (with
    /// `start`) if there is none or the last one ended.
    fn push<T: Send + 'static, F>(
        &self,
        queues: &Mutex<HashMap<PeerId, mpsc::UnboundedSender<T>>>,
        peer: PeerId,
        item: T,
        start: impl FnOnce(mpsc::UnboundedReceiver<T>) -> F,
    ) where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let mut q = queues.lock().unwrap_or_else(|e| e.into_inner());
        let item = match q.get(&peer) {
            Some(tx) => match tx.send(item) {
                Ok(()) => return,
                Err(e) => e.0,
            },
            None => item,
        };
        // Queues of peers that went quiet have ended: forget them.
        q.retain(|_, tx| !tx.is_closed());
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(item);
        q.insert(peer, tx);
        self.rt.spawn(start(rx));
    }
}

/// Waits for the next item of a queue: `None` when the queue ended (closed,
/// or idle for [`QUEUE_IDLE`], after which it refuses new items and hands
/// out what slipped in). `idle` runs once when nothing came for
/// [`STREAM_IDLE`] (to close streams).
async fn next_item<T>(
    rx: &mut mpsc::UnboundedReceiver<T>,
    closing: &mut bool,
    idle: impl AsyncFnOnce(),
) -> Option<T> {
    if *closing {
        return rx.try_recv().ok();
    }
    if let Ok(r) = tokio::time::timeout(STREAM_IDLE, rx.recv()).await {
        return r;
    }
    idle().await;
    match tokio::time::timeout(QUEUE_IDLE, rx.recv()).await {
        Ok(r) => r,
        Err(_) => {
            rx.close();
            *closing = true;
            rx.try_recv().ok()
        }
    }
}

/// One peer's wants: batched, written in order on one stream.
async fn run_wants(
    mut control: libp2p_stream::Control,
    peer: PeerId,
    mut rx: mpsc::UnboundedReceiver<Want>,
    flows: Arc<super::flow::Flows>,
) {
    let mut stream: Option<libp2p::Stream> = None;
    let mut closing = false;
    loop {
        let idle = async || {
            if let Some(mut s) = stream.take() {
                let _ = s.close().await;
            }
        };
        let Some(w) = next_item(&mut rx, &mut closing, idle).await else {
            break;
        };
        let mut wants = vec![w];
        while wants.len() < MAX_WANTS_PER_MESSAGE {
            match rx.try_recv() {
                Ok(w) => wants.push(w),
                Err(_) => break,
            }
        }
        let msg = Message {
            wants,
            ..Default::default()
        };
        let (_, broke) = write(&mut control, peer, &mut stream, &frame(&msg)).await;
        if broke {
            // Wants written on the broken stream may never have arrived:
            // sessions ask the peer again what it owes.
            flows.stream_replaced(peer);
        }
    }
    if let Some(mut s) = stream.take() {
        let _ = s.close().await;
    }
}

/// One peer's replies: up to [`LANES`] written at once, each on a stream
/// no other write is using (streams are kept for the next replies).
async fn run_replies(control: libp2p_stream::Control, peer: PeerId, mut rx: mpsc::UnboundedReceiver<Reply>) {
    // Idle streams are used in turn, so every lane's window grows.
    let mut idle: std::collections::VecDeque<libp2p::Stream> = std::collections::VecDeque::new();
    let mut busy: FuturesUnordered<
        std::pin::Pin<Box<dyn std::future::Future<Output = Option<libp2p::Stream>> + Send>>,
    > = FuturesUnordered::new();
    let mut closing = false;
    loop {
        if busy.len() == LANES || (closing && !busy.is_empty()) {
            if let Some(Some(s)) = busy.next().await {
                idle.push_back(s);
            }
            continue;
        }
        let item = if busy.is_empty() {
            let close_all = async || {
                for mut s in idle.drain(..) {
                    let _ = s.close().await;
                }
            };
            next_item(&mut rx, &mut closing, close_all).await
        } else {
            tokio::select! {
                done = busy.next() => {
                    if let Some(Some(s)) = done {
                        idle.push_back(s);
                    }
                    continue;
                }
                r = rx.recv() => r,
            }
        };
        let Some((msg, ack)) = item else { break };
        // The first reply with blocks opens every lane (see `warm`): the
        // lanes open once this reply has one (a new one if none is idle).
        if !msg.blocks.is_empty() {
            let open = idle.len() + busy.len() + usize::from(idle.is_empty());
            for _ in open..LANES {
                busy.push(Box::pin(warm(control.clone(), peer)));
            }
        }
        let (mut control, mut stream) = (control.clone(), idle.pop_front());
        // Replies in flight with this one (for traces).
        let in_flight = busy.len() + 1;
        busy.push(Box::pin(async move {
            let (t0, fresh, f) = (tokio::time::Instant::now(), stream.is_none(), frame(&msg));
            let (ok, _) = write(&mut control, peer, &mut stream, &f).await;
            tracing::trace!(
                in_flight,
                fresh,
                bytes = f.len(),
                ms = t0.elapsed().as_millis() as u64,
                "reply written"
            );
            let _ = ack.send(ok);
            stream
        }));
    }
    while let Some(s) = busy.next().await {
        if let Some(mut s) = s {
            let _ = s.close().await;
        }
    }
    for mut s in idle {
        let _ = s.close().await;
    }
}

/// Opens a reply lane ahead of its first reply with an empty message. Why:
/// a Yamux stream starts with a 256 KiB window, which a 256 KiB block and
/// its framing overrun by a few bytes, and the receiver grants more only
/// once it has read the stream's first frame; a lane opened for a block
/// therefore held it back a full round trip (120 ms on the `fat` row of
/// `integration/wan/bench-wan.sh`, on each of the eight lanes of every
/// new transfer). Opened with the first reply, lanes are ready by the
/// time a file's leaves are asked, a round trip or two later. An empty
/// message is valid Bitswap and changes nothing at the peer.
async fn warm(mut control: libp2p_stream::Control, peer: PeerId) -> Option<libp2p::Stream> {
    let mut stream = None;
    let (ok, _) = write(&mut control, peer, &mut stream, &frame(&Message::default())).await;
    stream.filter(|_| ok)
}

/// Opens a Bitswap stream to `peer`, trying 1.2.0 then 1.1.0.
async fn open(control: &mut libp2p_stream::Control, peer: PeerId) -> std::io::Result<libp2p::Stream> {
    let mut last = None;
    for proto in &PROTOCOLS[..2] {
        match control.open_stream(peer, StreamProtocol::new(proto)).await {
            Ok(s) => return Ok(s),
            Err(libp2p_stream::OpenStreamError::UnsupportedProtocol(p)) => last = Some(p.to_string()),
            Err(e) => return Err(std::io::Error::other(e.to_string())),
        }
    }
    Err(std::io::Error::other(format!(
        "peer {peer} does not speak bitswap ({})",
        last.unwrap_or_default()
    )))
}

/// Writes a frame on the peer's stream, opening it if needed; a stream the
/// peer closed is replaced once. Returns whether it was written, and
/// whether a stream broke on the way.
async fn write(
    control: &mut libp2p_stream::Control,
    peer: PeerId,
    stream: &mut Option<libp2p::Stream>,
    frame: &[u8],
) -> (bool, bool) {
    let mut broke = false;
    for _ in 0..2 {
        let s = match stream {
            Some(s) => s,
            None => match open(control, peer).await {
                Ok(s) => stream.insert(s),
                Err(e) => {
                    tracing::debug!(%peer, "cannot open a bitswap stream: {e}");
                    return (false, true);
                }
            },
        };
        // A peer that stops reading must not hold a reply (and the server's
        // answer slot) forever.
        let written = tokio::time::timeout(WRITE_TIMEOUT, async {
            s.write_all(frame).await?;
            s.flush().await
        })
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()));
        match written {
            Ok(()) => return (true, broke),
            Err(e) => {
                tracing::debug!(%peer, "bitswap stream broke: {e}");
                *stream = None;
                broke = true;
            }
        }
    }
    (false, broke)
}
