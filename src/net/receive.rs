//! Reads inbound Bitswap streams: blocks and presences go to the client's
//! waiters (and its flow control), wants to the server's ledger of the
//! peer. A peer may send any number of messages on one stream (Kubo ≥ 0.37
//! and p2pfs keep one stream per peer); each is decoded (hashing every
//! block) here when small, else on the blocking pool while the next is
//! read, and applied in the order it arrived, so a CANCEL never overtakes
//! its want.

use super::{Command, bitswap, inbound};
use libp2p::PeerId;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Streams one peer may have open to us at once, and in all.
const STREAMS_PER_PEER: usize = 32;
const STREAMS: usize = 256;
/// An inbound Bitswap stream quiet this long is closed.
const INBOUND_IDLE: Duration = Duration::from_secs(120);
/// Bytes of inbound messages held at once, over all streams, in units of
/// 64 KiB: a message waits for its share before it is read into memory.
const INBOUND_BUDGET: usize = 1024;

fn units(len: usize) -> u32 {
    (len >> 16).max(1) as u32
}

/// Accepts Bitswap streams; each is read on its own task.
pub async fn serve(
    mut incoming: inbound::Incoming,
    taken: inbound::Taken,
    bitswap: Arc<bitswap::Bitswap>,
    tx: mpsc::Sender<Command>,
) {
    let limit = Arc::new(tokio::sync::Semaphore::new(STREAMS));
    let budget = Arc::new(tokio::sync::Semaphore::new(INBOUND_BUDGET));
    let per_peer: Arc<Mutex<HashMap<PeerId, usize>>> = Arc::default();
    while let Some((peer, stream)) = incoming.recv().await {
        taken.one();
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "too many bitswap streams; dropping one");
            continue;
        };
        {
            let mut m = per_peer.lock().unwrap_or_else(|e| e.into_inner());
            let n = m.entry(peer).or_insert(0);
            if *n >= STREAMS_PER_PEER {
                tracing::debug!(%peer, "peer has too many bitswap streams open; dropping one");
                continue;
            }
            *n += 1;
        }
        let (bitswap, tx, per_peer, budget) = (bitswap.clone(), tx.clone(), per_peer.clone(), budget.clone());
        tokio::spawn(async move {
            read_stream(peer, stream, bitswap, tx, budget).await;
            drop(permit);
            let mut m = per_peer.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = m.get_mut(&peer) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&peer);
                }
            }
        });
    }
}

/// A message decoded on the reading task, or one decoding on the blocking pool.
enum Decoded {
    Ready(Result<bitswap::Message, &'static str>),
    Pending(tokio::task::JoinHandle<Result<bitswap::Message, &'static str>>),
}

/// Messages up to this size (one 256 KiB leaf and its framing) are decoded,
/// their blocks hashed, on the task that read them: about 0.2 ms of
/// SHA-256. A hand-off to the blocking pool costs two thread switches and
/// grew the pool to 60 threads on 2 cores; decoding here cut the fetching
/// node's context switches per GiB from 35-43k to 27-33k and its user time
/// by about 5 % (`integration/bench-net.sh 1024`). Larger messages, up to
/// 4 MiB of blocks, still go to the pool.
const DECODE_INLINE: usize = 300 << 10;

/// Reads the messages of one stream; a second task applies them in order.
async fn read_stream(
    peer: PeerId,
    mut stream: libp2p::Stream,
    bitswap: Arc<bitswap::Bitswap>,
    tx: mpsc::Sender<Command>,
    budget: Arc<tokio::sync::Semaphore>,
) {
    // Two messages of a stream in hand at once: one decoding, one read.
    let (dtx, mut drx) = mpsc::channel::<Decoded>(1);
    let apply = {
        let (bitswap, tx) = (bitswap.clone(), tx.clone());
        tokio::spawn(async move {
            while let Some(d) = drx.recv().await {
                let r = match d {
                    Decoded::Ready(r) => Ok(r),
                    Decoded::Pending(h) => h.await,
                };
                match r {
                    Ok(Ok(msg)) => {
                        if !handle_message(peer, msg, &bitswap, &tx).await {
                            return;
                        }
                    }
                    Ok(Err(why)) => return drop_peer(&tx, peer, why).await,
                    Err(_) => return,
                }
            }
        })
    };
    loop {
        // An idle stream is closed (the peer opens another when it has
        // something to say): idle streams must not use up the places.
        let Ok(len) = tokio::time::timeout(INBOUND_IDLE, bitswap::read_len(&mut stream)).await else {
            break;
        };
        let len = match len {
            Ok(Some(len)) => len,
            Ok(None) => break,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                drop_peer(&tx, peer, "oversized or malformed frame").await;
                break;
            }
            Err(_) => break,
        };
        let Ok(units) = budget.clone().acquire_many_owned(units(len)).await else {
            break;
        };
        let flows = &bitswap.flows;
        let Ok(buf) = bitswap::read_body(&mut stream, len, || flows.receiving(&peer)).await else {
            break;
        };
        let d = if buf.len() <= DECODE_INLINE {
            let m = bitswap::Message::decode(&buf);
            drop(units);
            Decoded::Ready(m)
        } else {
            Decoded::Pending(tokio::task::spawn_blocking(move || {
                let m = bitswap::Message::decode(&buf);
                drop(units);
                m
            }))
        };
        if dtx.send(d).await.is_err() {
            break;
        }
    }
    drop(dtx);
    let _ = apply.await;
}

pub(super) async fn drop_peer(tx: &mpsc::Sender<Command>, peer: PeerId, why: &str) {
    tracing::warn!(%peer, "dropping peer: {why}");
    let _ = tx.send(Command::DropPeer(peer)).await;
}

/// Applies one message; false when the peer was dropped for it.
async fn handle_message(
    peer: PeerId,
    msg: bitswap::Message,
    bitswap: &Arc<bitswap::Bitswap>,
    tx: &mpsc::Sender<Command>,
) -> bool {
    // An empty message opens a reply stream ahead of its replies
    // (`outbox::warm`): it says nothing, so it is not counted.
    if msg.blocks.is_empty() && msg.presences.is_empty() && msg.wants.is_empty() && !msg.full {
        return true;
    }
    let stats = &bitswap.stats;
    stats.messages_received.fetch_add(1, Ordering::Relaxed);
    bitswap.flows.seen(peer);
    for (cid, data) in &msg.blocks {
        // The CID was computed from the bytes: a delivered block is verified.
        let key = cid.hash().to_bytes();
        bitswap.flows.delivered(peer, &key, data.len() as u64);
        match bitswap.wants.deliver(peer, cid, data) {
            bitswap::Delivery::Wanted => {}
            bitswap::Delivery::Late => {
                tracing::trace!(%peer, %cid, "block arrived after another copy");
                stats.dup_blocks_received.fetch_add(1, Ordering::Relaxed);
                stats
                    .dup_data_received
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
            }
            bitswap::Delivery::Unwanted => {
                drop_peer(tx, peer, "sent a block that hashes to no wanted CID").await;
                return false;
            }
        }
        // As Kubo counts: every block received, duplicates included.
        stats.blocks_received.fetch_add(1, Ordering::Relaxed);
        stats
            .data_received
            .fetch_add(data.len() as u64, Ordering::Relaxed);
    }
    for (cid, have) in &msg.presences {
        bitswap.wants.presence(peer, cid, *have);
    }
    let mut wants = msg.wants;
    if wants.len() > bitswap::MAX_WANTS_PER_MESSAGE {
        tracing::debug!(%peer, "wantlist of {} entries; taking the first {}", wants.len(), bitswap::MAX_WANTS_PER_MESSAGE);
        wants.truncate(bitswap::MAX_WANTS_PER_MESSAGE);
    }
    bitswap.server.wants(peer, &wants, msg.full, &bitswap.outbox);
    true
}
