//! Bitswap 1.2.0 (answering 1.1.0 and 1.0.0 too) on libp2p streams, as
//! boxo and Helia speak it: every message is varint-length-prefixed protobuf
//! (4 MiB at most); requests and replies travel on separate streams, each
//! side opening its own. The server answers wants from the local store; the
//! client sends want-block to connected peers and waits for a block whose
//! bytes hash to the wanted CID. A peer sending a block that nobody wanted,
//! or one over 2 MiB, is disconnected by the caller.

use crate::block::MAX_BLOCK_SIZE;
use crate::wire::{Reader, Value, put_bytes_field, put_key, put_varint, put_varint_field, varint_len};
use bytes::Bytes;
use cid::Cid;
use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::{PeerId, StreamProtocol};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const PROTOCOLS: [&str; 4] = [
    "/ipfs/bitswap/1.2.0",
    "/ipfs/bitswap/1.1.0",
    "/ipfs/bitswap/1.0.0",
    "/ipfs/bitswap",
];
const MAX_MESSAGE: usize = 4 << 20;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Want {
    pub cid: Vec<u8>,
    pub cancel: bool,
    pub want_have: bool,
    pub send_dont_have: bool,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Message {
    pub wants: Vec<Want>,
    /// The wantlist is the peer's whole list (it replaces the last one).
    pub full: bool,
    /// (cid, data) of blocks carried; received ones share the message's buffer.
    pub blocks: Vec<(Cid, Bytes)>,
    /// (cid bytes, have?) presences.
    pub presences: Vec<(Vec<u8>, bool)>,
}

fn prefix(cid: &Cid) -> Vec<u8> {
    let mut p = Vec::with_capacity(8);
    put_varint(&mut p, cid.version() as u64);
    put_varint(&mut p, cid.codec());
    put_varint(&mut p, cid.hash().code());
    put_varint(&mut p, cid.hash().size() as u64);
    p
}

/// The CID a block has under `prefix`: its bytes hashed as the prefix says.
fn cid_from_prefix(prefix: &[u8], data: &[u8]) -> Option<Cid> {
    let mut r = Reader::new(prefix);
    let (version, codec, code) = (r.varint().ok()?, r.varint().ok()?, r.varint().ok()?);
    if code != crate::block::SHA2_256 {
        return None;
    }
    let mh = crate::block::sha256_multihash(data);
    match version {
        0 => Cid::new_v0(mh).ok(),
        1 => Some(Cid::new_v1(codec, mh)),
        _ => None,
    }
}

impl Message {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the message to `out`, preceded by its varint length when
    /// `framed`. Block bytes are copied once, straight into `out`.
    fn encode_parts(&self, out: &mut Vec<u8>, framed: bool) {
        let mut head = Vec::new();
        if !self.wants.is_empty() || self.full {
            let mut wl = Vec::new();
            for w in &self.wants {
                let mut e = Vec::new();
                put_bytes_field(&mut e, 1, &w.cid);
                put_varint_field(&mut e, 2, 1);
                if w.cancel {
                    put_varint_field(&mut e, 3, 1);
                }
                if w.want_have {
                    put_varint_field(&mut e, 4, 1);
                }
                if w.send_dont_have {
                    put_varint_field(&mut e, 5, 1);
                }
                put_bytes_field(&mut wl, 1, &e);
            }
            if self.full {
                put_varint_field(&mut wl, 2, 1);
            }
            put_bytes_field(&mut head, 1, &wl);
        }
        let mut tail = Vec::new();
        for (cid, have) in &self.presences {
            let mut p = Vec::new();
            put_bytes_field(&mut p, 1, cid);
            put_varint_field(&mut p, 2, if *have { 0 } else { 1 });
            put_bytes_field(&mut tail, 4, &p);
        }
        let blocks: Vec<(Vec<u8>, usize)> = self
            .blocks
            .iter()
            .map(|(cid, data)| {
                let pre = prefix(cid);
                let inner = 1
                    + varint_len(pre.len() as u64)
                    + pre.len()
                    + 1
                    + varint_len(data.len() as u64)
                    + data.len();
                (pre, inner)
            })
            .collect();
        let body: usize = head.len()
            + tail.len()
            + blocks
                .iter()
                .map(|(_, inner)| 1 + varint_len(*inner as u64) + inner)
                .sum::<usize>();
        out.reserve(body + 10);
        if framed {
            put_varint(out, body as u64);
        }
        out.extend_from_slice(&head);
        for ((pre, inner), (_, data)) in blocks.iter().zip(&self.blocks) {
            put_key(out, 3, 2);
            put_varint(out, *inner as u64);
            put_bytes_field(out, 1, pre);
            put_bytes_field(out, 2, data);
        }
        out.extend_from_slice(&tail);
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        self.encode_parts(out, false)
    }

    /// Decodes a message; blocks over 2 MiB are an error (the peer is dropped).
    pub fn decode(buf: &Bytes) -> Result<Message, &'static str> {
        let mut m = Message::default();
        let mut r = Reader::new(buf);
        while let Some((field, v)) = r.field().map_err(|_| "malformed message")? {
            match (field, v) {
                (1, Value::Bytes(wl)) => {
                    let mut wr = Reader::new(wl);
                    while let Some((f, v)) = wr.field().map_err(|_| "malformed wantlist")? {
                        if let (2, Value::Varint(full)) = (f, &v) {
                            m.full = *full != 0;
                        }
                        if let (1, Value::Bytes(e)) = (f, v) {
                            let mut w = Want::default();
                            let mut er = Reader::new(e);
                            while let Some((f, v)) = er.field().map_err(|_| "malformed want")? {
                                match (f, v) {
                                    (1, Value::Bytes(c)) => w.cid = c.to_vec(),
                                    (3, Value::Varint(x)) => w.cancel = x != 0,
                                    (4, Value::Varint(x)) => w.want_have = x == 1,
                                    (5, Value::Varint(x)) => w.send_dont_have = x != 0,
                                    _ => {}
                                }
                            }
                            m.wants.push(w);
                        }
                    }
                }
                (2, Value::Bytes(data)) => {
                    // Bitswap 1.0.0: bare blocks are CIDv0.
                    if data.len() > MAX_BLOCK_SIZE {
                        return Err("block over 2 MiB");
                    }
                    let cid = Cid::new_v0(crate::block::sha256_multihash(data)).map_err(|_| "bad block")?;
                    m.blocks.push((cid, buf.slice_ref(data)));
                }
                (3, Value::Bytes(b)) => {
                    let (mut pre, mut data) = (None, None);
                    let mut br = Reader::new(b);
                    while let Some((f, v)) = br.field().map_err(|_| "malformed block")? {
                        match (f, v) {
                            (1, Value::Bytes(p)) => pre = Some(p),
                            (2, Value::Bytes(d)) => data = Some(d),
                            _ => {}
                        }
                    }
                    let (Some(pre), Some(data)) = (pre, data) else {
                        return Err("block without prefix or data");
                    };
                    if data.len() > MAX_BLOCK_SIZE {
                        return Err("block over 2 MiB");
                    }
                    let cid = cid_from_prefix(pre, data).ok_or("unsupported block prefix")?;
                    m.blocks.push((cid, buf.slice_ref(data)));
                }
                (4, Value::Bytes(p)) => {
                    let (mut cid, mut have) = (Vec::new(), true);
                    let mut pr = Reader::new(p);
                    while let Some((f, v)) = pr.field().map_err(|_| "malformed presence")? {
                        match (f, v) {
                            (1, Value::Bytes(c)) => cid = c.to_vec(),
                            (2, Value::Varint(t)) => have = t == 0,
                            _ => {}
                        }
                    }
                    m.presences.push((cid, have));
                }
                _ => {}
            }
        }
        Ok(m)
    }
}

/// Reads one message's length prefix; Ok(None) at the end of the stream.
pub async fn read_len(s: &mut libp2p::Stream) -> std::io::Result<Option<usize>> {
    let mut len: u64 = 0;
    for i in 0..10 {
        let mut b = [0u8; 1];
        match s.read(&mut b).await? {
            0 if i == 0 => return Ok(None),
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            _ => {}
        }
        len |= ((b[0] & 0x7f) as u64) << (7 * i);
        if b[0] & 0x80 == 0 {
            if len as usize > MAX_MESSAGE {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "bitswap message over 4 MiB",
                ));
            }
            return Ok(Some(len as usize));
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "bad length prefix",
    ))
}

/// Reads a message body of `len` bytes (from [`read_len`]).
pub async fn read_body(s: &mut libp2p::Stream, len: usize) -> std::io::Result<Bytes> {
    let mut buf = vec![0u8; len];
    s.read_exact(&mut buf).await?;
    Ok(Bytes::from(buf))
}

fn frame(msg: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    msg.encode_parts(&mut out, true);
    out
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

/// What a peer said about a wanted block.
#[derive(Debug)]
pub enum Reply {
    Block(Bytes),
    Have,
    DontHave,
}

/// Where replies about wanted blocks go: a session's channel, which gets
/// (peer, multihash, reply).
pub type Waiter = tokio::sync::mpsc::UnboundedSender<(PeerId, Vec<u8>, Reply)>;

/// How many recently wanted blocks are remembered, so that a block arriving
/// after another peer already sent it is not taken for garbage.
const RECENT_WANTS: usize = 1 << 16;

/// Who waits for which block (by multihash), and what was wanted lately.
pub struct Wants(Mutex<WantsInner>);

/// The CID asked, and its waiters by session id.
type Waiting = (Cid, Vec<(u64, Waiter)>);

struct WantsInner {
    /// By multihash.
    waiting: HashMap<Vec<u8>, Waiting>,
    /// Wanted lately: who wanted it (a HAVE that comes after the block
    /// still tells a session that the peer has its content).
    recent: lru::LruCache<Vec<u8>, Vec<(u64, Waiter)>>,
}

impl Default for Wants {
    fn default() -> Self {
        Wants(Mutex::new(WantsInner {
            waiting: HashMap::new(),
            recent: lru::LruCache::new(
                std::num::NonZeroUsize::new(RECENT_WANTS).unwrap_or(std::num::NonZeroUsize::MIN),
            ),
        }))
    }
}

/// What became of a block a peer sent.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Somebody was waiting for it.
    Wanted,
    /// Wanted lately, already received from another peer.
    Late,
    /// Its bytes hash to nothing we asked for: a broken or hostile peer.
    Unwanted,
}

impl Wants {
    fn lock(&self) -> std::sync::MutexGuard<'_, WantsInner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers session `id`'s interest in a block; replies about it go to `tx`.
    pub fn add(&self, cid: &Cid, id: u64, tx: &Waiter) {
        let key = cid.hash().to_bytes();
        let mut w = self.lock();
        if !w.recent.contains(&key) {
            w.recent.put(key.clone(), Vec::new());
        }
        let e = w.waiting.entry(key).or_insert_with(|| (*cid, Vec::new()));
        if !e.1.iter().any(|(i, _)| *i == id) {
            e.1.push((id, tx.clone()));
        }
    }

    /// Session `id` no longer waits for the block; true if nobody does.
    pub fn remove(&self, key: &[u8], id: u64) -> bool {
        let mut w = self.lock();
        let Some(e) = w.waiting.get_mut(key) else {
            return true;
        };
        e.1.retain(|(i, t)| *i != id && !t.is_closed());
        if e.1.is_empty() {
            w.waiting.remove(key);
            return true;
        }
        false
    }

    /// Hands a received block to its waiters.
    pub fn deliver(&self, peer: PeerId, cid: &Cid, data: &Bytes) -> Delivery {
        let key = cid.hash().to_bytes();
        let mut w = self.lock();
        match w.waiting.remove(&key) {
            Some((_, waiters)) => {
                for (_, t) in &waiters {
                    let _ = t.send((peer, key.clone(), Reply::Block(data.clone())));
                }
                w.recent.put(key, waiters);
                Delivery::Wanted
            }
            None if w.recent.contains(&key) => Delivery::Late,
            None => Delivery::Unwanted,
        }
    }

    /// Passes a HAVE or DONT_HAVE on to whoever waits for the block.
    pub fn presence(&self, peer: PeerId, cid: &[u8], have: bool) {
        let Ok(cid) = Cid::try_from(cid) else { return };
        let key = cid.hash().to_bytes();
        let mut w = self.lock();
        let waiters = match w.waiting.get(&key) {
            Some((_, waiters)) => waiters,
            // Delivered already: a HAVE still makes the peer one of the
            // session's (it has this content).
            None if have => match w.recent.get(&key) {
                Some(v) => v,
                None => return,
            },
            None => return,
        };
        for (_, t) in waiters {
            let reply = if have { Reply::Have } else { Reply::DontHave };
            let _ = t.send((peer, key.clone(), reply));
        }
    }

    /// Whether anyone still waits for the block.
    pub fn is_wanted(&self, cid: &Cid) -> bool {
        self.lock().waiting.contains_key(&cid.hash().to_bytes())
    }

    /// Every block waited for (`stats bitswap`), at most `max`.
    pub fn list(&self, max: usize) -> Vec<Cid> {
        self.lock().waiting.values().take(max).map(|(c, _)| *c).collect()
    }
}

/// Most wants the server takes from one message; the rest are ignored.
pub const MAX_WANTS_PER_MESSAGE: usize = 1024;
/// What waits to be sent to a peer.
enum Item {
    Want(Want),
    /// A reply; the sender learns whether it was written.
    Message(Message, tokio::sync::oneshot::Sender<bool>),
}

/// An outgoing stream idle this long is closed (Helia aborts inbound
/// streams after 10 s without a message).
const STREAM_IDLE: std::time::Duration = std::time::Duration::from_secs(5);
/// How long one message may take to write before the stream is given up.
const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// A peer's queue task ends after this long without anything to send.
const QUEUE_IDLE: std::time::Duration = std::time::Duration::from_secs(60);

/// Everything sent to one peer goes through its queue, on one long-lived
/// stream (as boxo's message queues do): wants queued while a message is
/// being written go out together in the next one, and opening a stream
/// (a negotiation round trip) is paid once, not per message.
pub struct Outbox {
    control: libp2p_stream::Control,
    rt: tokio::runtime::Handle,
    queues: Mutex<HashMap<PeerId, tokio::sync::mpsc::UnboundedSender<Item>>>,
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
            queues: Mutex::new(HashMap::new()),
            connected,
            flows,
        }
    }

    pub fn send(&self, peer: PeerId, want: Want) {
        self.push(peer, Item::Want(want));
    }

    /// Queues a reply; the receiver says once it is written (false if it
    /// could not be).
    pub fn send_message(&self, peer: PeerId, msg: Message) -> tokio::sync::oneshot::Receiver<bool> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.push(peer, Item::Message(msg, tx));
        rx
    }

    fn push(&self, peer: PeerId, item: Item) {
        // Opening a stream would dial: never redial a peer that left or
        // was dropped just to tell it something.
        if !self
            .connected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&peer)
        {
            return;
        }
        let mut q = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let item = match q.get(&peer) {
            Some(tx) => match tx.send(item) {
                Ok(()) => return,
                Err(e) => e.0,
            },
            None => item,
        };
        // Queues of peers that went quiet have ended: forget them.
        q.retain(|_, tx| !tx.is_closed());
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let _ = tx.send(item);
        q.insert(peer, tx);
        self.rt
            .spawn(run_queue(self.control.clone(), peer, rx, self.flows.clone()));
    }
}

/// One peer's sender: batches wants, writes messages in order.
async fn run_queue(
    mut control: libp2p_stream::Control,
    peer: PeerId,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Item>,
    flows: Arc<super::flow::Flows>,
) {
    let mut stream: Option<libp2p::Stream> = None;
    let mut next: Option<Item> = None;
    let mut closing = false;
    loop {
        let item = match next.take() {
            Some(i) => i,
            None if closing => match rx.try_recv() {
                Ok(i) => i,
                Err(_) => break,
            },
            None => match tokio::time::timeout(STREAM_IDLE, rx.recv()).await {
                Ok(Some(i)) => i,
                Ok(None) => break,
                Err(_) => {
                    if let Some(mut s) = stream.take() {
                        let _ = s.close().await;
                    }
                    match tokio::time::timeout(QUEUE_IDLE, rx.recv()).await {
                        Ok(Some(i)) => i,
                        Ok(None) => break,
                        Err(_) => {
                            // Refuse new items, then send what slipped in.
                            rx.close();
                            closing = true;
                            continue;
                        }
                    }
                }
            },
        };
        let (msg, ack) = match item {
            Item::Message(m, ack) => (m, Some(ack)),
            Item::Want(w) => {
                let mut wants = vec![w];
                while wants.len() < MAX_WANTS_PER_MESSAGE {
                    match rx.try_recv() {
                        Ok(Item::Want(w)) => wants.push(w),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let msg = Message {
                    wants,
                    ..Default::default()
                };
                (msg, None)
            }
        };
        let (ok, broke) = write(&mut control, peer, &mut stream, &frame(&msg)).await;
        if broke {
            // Wants written on the broken stream may never have arrived:
            // sessions ask the peer again what it owes.
            flows.stream_replaced(peer);
        }
        if let Some(ack) = ack {
            let _ = ack.send(ok);
        }
    }
    if let Some(mut s) = stream.take() {
        let _ = s.close().await;
    }
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

/// Shared state of the bitswap client and server.
pub struct Bitswap {
    pub wants: Wants,
    pub outbox: Arc<Outbox>,
    pub flows: Arc<super::flow::Flows>,
    pub server: Arc<super::server::Server>,
    pub stats: ClientStats,
}

/// What the client received, for `stats bitswap` (Kubo's names).
#[derive(Default)]
pub struct ClientStats {
    pub blocks_received: std::sync::atomic::AtomicU64,
    pub data_received: std::sync::atomic::AtomicU64,
    pub dup_blocks_received: std::sync::atomic::AtomicU64,
    pub dup_data_received: std::sync::atomic::AtomicU64,
    pub messages_received: std::sync::atomic::AtomicU64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_roundtrip() {
        let cid = crate::block::cid_v1(crate::block::RAW, b"hello");
        let v0 = crate::block::cid_v0(b"x");
        let m = Message {
            wants: vec![Want {
                cid: cid.to_bytes(),
                cancel: false,
                want_have: true,
                send_dont_have: true,
            }],
            full: true,
            blocks: vec![
                (cid, Bytes::from_static(b"hello")),
                (v0, Bytes::from_static(b"x")),
            ],
            presences: vec![(cid.to_bytes(), false)],
        };
        assert_eq!(Message::decode(&Bytes::from(m.encode())).unwrap(), m);
        // A frame is the varint length, then the same bytes.
        let f = frame(&m);
        let body = m.encode();
        assert_eq!(&f[f.len() - body.len()..], &body[..]);
        assert_eq!(f.len() - body.len(), varint_len(body.len() as u64));
    }

    #[test]
    fn garbage_and_oversize_are_errors() {
        assert!(Message::decode(&Bytes::from_static(&[0x1a, 0x05, 0x0a])).is_err());
        let big = Message {
            blocks: vec![(
                crate::block::cid_v1(0x55, b"a"),
                Bytes::from(vec![0; MAX_BLOCK_SIZE + 1]),
            )],
            ..Default::default()
        };
        assert!(Message::decode(&Bytes::from(big.encode())).is_err());
    }
}

#[cfg(test)]
#[path = "bitswap_tests.rs"]
mod more_tests;
