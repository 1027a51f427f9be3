//! The libp2p node: TCP and QUIC, Noise, Yamux, Identify, Ping and Kademlia
//! (`/ipfs/kad/1.0.0`). It runs on the daemon's tokio runtime; the rest of
//! the program talks to it through a [`NetHandle`] (`handle.rs`: commands
//! over a channel), never by touching the swarm (`swarm.rs`), which the
//! event loop (`event_loop.rs`) alone owns. The node dials only what it is
//! told to: configured bootstrap peers and `swarm connect`.
//!
//! Blocks move with Bitswap (`bitswap.rs` the wire format and server,
//! `session.rs` the client); a missing block is asked of the connected peers
//! and of providers found in the DHT.

mod announce;
pub mod bitswap;
mod both;
mod bound;
pub mod connmgr;
mod dht;
pub use dht::DhtError;
mod event_loop;
pub mod flow;
mod handle;
pub use handle::NetHandle;
mod inbound;
mod keep;
pub mod meter;
mod outbox;
mod peers;
pub use peers::public_key_string;
mod receive;
mod records;
pub mod server;
pub mod session;
pub mod stats;
mod swarm;
use swarm::Behaviour;
mod secure;
mod tcp;
mod waiters;

use libp2p::{Multiaddr, PeerId, kad};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

pub const AGENT: &str = concat!("p2pfs/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Clone, thiserror::Error)]
pub enum NetError {
    #[error("invalid listen address {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
    #[error(
        "cannot listen on {addr}: the port is in use (by another p2pfs, or a Kubo node?); choose another with --listen or network.listen in config.toml (port 0 picks a free one)"
    )]
    PortInUse { addr: Multiaddr },
    #[error("cannot dial {addr}: {reason}")]
    Dial { addr: Multiaddr, reason: String },
    #[error("starting the network: {0}")]
    Setup(String),
    #[error("the network task has stopped")]
    Stopped,
    #[error("timed out: no connected peer sent it")]
    Timeout,
    #[error(
        "timed out: no block arrived from any peer for {secs} s (asked: {})",
        peer_list(peers)
    )]
    Stalled { secs: u64, peers: Vec<PeerId> },
    #[error("no peer is connected (connect one with `p2pfs swarm connect`)")]
    NoPeers,
    #[error("no peer is connected, and none of the bootstrap or saved peers answered (tried: {}); check `p2pfs bootstrap list` or connect one with `p2pfs swarm connect`", .0.join(", "))]
    NoPeersReachable(Vec<String>),
    /// The DHT's cause is in the message (not also a source).
    #[error("DHT: {0}")]
    Dht(DhtError),
    /// A provide that no peer took (no DHT peer known, or none answered).
    #[error(
        "no DHT peer took the provider record (is a peer connected? `p2pfs swarm peers` lists them; connect one with `p2pfs swarm connect` or `p2pfs bootstrap add`)"
    )]
    NotProvided,
    #[error("not connected to {0} (`p2pfs swarm peers` lists connections)")]
    NotConnected(PeerId),
    #[error("no connection to {peer} at {addr} (`p2pfs swarm peers` lists connections)")]
    NoConnection { peer: PeerId, addr: Multiaddr },
    #[error("routing: {0} not found: no DHT peer knows its addresses")]
    PeerNotFound(PeerId),
    #[error("{0} connected but never identified itself")]
    NotIdentified(PeerId),
}

/// Why listening on `addr` failed, said plainly when the port is taken.
fn listen_error(addr: &Multiaddr, e: libp2p::TransportError<std::io::Error>) -> NetError {
    // The io::Error sits under transport wrappers that do not all chain
    // their sources: its kind shows in the debug form whatever the nesting.
    let debug = format!("{e:?}");
    if debug.contains("AddrInUse") {
        return NetError::PortInUse { addr: addr.clone() };
    }
    NetError::Listen {
        addr: addr.clone(),
        // Some transport errors display as nothing.
        reason: match e.to_string() {
            s if s.trim().is_empty() => debug,
            s => s,
        },
    }
}

fn peer_list(peers: &[PeerId]) -> String {
    match peers {
        [] => "no peer had it".into(),
        _ => peers.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", "),
    }
}

/// What `p2pfs id` prints (field names as Kubo's `ipfs id`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct IdInfo {
    #[serde(rename = "ID")]
    pub id: String,
    /// Base64 of the protobuf-encoded public key.
    #[serde(rename = "PublicKey")]
    pub public_key: String,
    #[serde(rename = "Addresses")]
    pub addresses: Vec<String>,
    #[serde(rename = "AgentVersion")]
    pub agent_version: String,
    #[serde(rename = "Protocols")]
    pub protocols: Vec<String>,
}

/// The protocols this node serves (what Identify tells peers, too).
pub fn protocols() -> Vec<String> {
    let mut v: Vec<String> = [
        "/ipfs/id/1.0.0",
        "/ipfs/id/push/1.0.0",
        dht::WAN,
        dht::LAN,
        "/ipfs/ping/1.0.0",
    ]
    .into_iter()
    .chain(bitswap::PROTOCOLS)
    .map(String::from)
    .collect();
    v.sort();
    v
}

enum Command {
    /// A peer broke the protocol: disconnect it and refuse it for a while.
    DropPeer(PeerId),
    /// Announce in the DHT that we provide a block.
    Provide(cid::Cid, oneshot::Sender<Result<(), NetError>>),
    /// Announce many blocks (by multihash), in the background; urgent ones
    /// go before those already waiting.
    ProvideKeys(Vec<Vec<u8>>, bool),
    /// Put a value record (IPNS) into both DHTs: how many peers took it.
    PutValue(Vec<u8>, Vec<u8>, oneshot::Sender<Result<usize, DhtError>>),
    /// Every value stored under a key in both DHTs, unchecked.
    GetValue(Vec<u8>, oneshot::Sender<Vec<Vec<u8>>>),
    /// Providers of a block found through the DHT (they are dialed as found).
    FindProviders(cid::Cid, oneshot::Sender<Vec<PeerId>>),
    /// Make sure a connection to a known peer exists (addresses from the DHT).
    ConnectPeer(PeerId, oneshot::Sender<Result<PeerId, NetError>>),
    Id(oneshot::Sender<IdInfo>),
    Peers(oneshot::Sender<Vec<(PeerId, Multiaddr)>>),
    Connect(Multiaddr, oneshot::Sender<Result<PeerId, NetError>>),
    /// A new bootstrap peer (kept connected, redialed when lost).
    AddBootstrap(Multiaddr),
    /// No peer is connected: dial bootstrap and saved peers now, and say
    /// once one is connected (or which were tried).
    EnsurePeers(oneshot::Sender<Result<(), NetError>>),
    Conns(oneshot::Sender<ConnStats>),
    /// What the node knows of other peers (`peers.rs`).
    Peer(peers::Ask),
    /// The daemon is stopping: save what must outlive it.
    Shutdown(oneshot::Sender<()>),
}

/// Connections against the manager's marks (`p2pfs stats swarm`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnStats {
    #[serde(rename = "Connected")]
    pub connected: usize,
    #[serde(rename = "LowWater")]
    pub low: usize,
    #[serde(rename = "HighWater")]
    pub high: usize,
    #[serde(rename = "Protected")]
    pub protected: usize,
    #[serde(rename = "RoutingTable")]
    pub routing_table: usize,
    /// Bootstrap peers, then saved peers (dialed when below the minimum).
    #[serde(rename = "Known")]
    pub known: Vec<String>,
}

pub struct NetConfig {
    pub listen: Vec<Multiaddr>,
    /// When not empty, the only addresses told to peers (see `announce.rs`).
    pub announce: Vec<Multiaddr>,
    pub bootstrap: Vec<Multiaddr>,
    pub conns: connmgr::ConnConfig,
    /// Where the addresses of good peers are kept between runs.
    pub saved_peers: Option<std::path::PathBuf>,
}

/// Starts the node on the current tokio runtime.
pub async fn start(
    keypair: libp2p::identity::Keypair,
    cfg: NetConfig,
    blocks: std::sync::Arc<dyn crate::block::BlockGet>,
) -> Result<NetHandle, NetError> {
    let (inbound, incoming, taken) = inbound::Behaviour::new(&bitswap::PROTOCOLS);
    let hide = !cfg.announce.is_empty();
    let public_key = peers::public_key_string(&keypair.public()).into();
    let meter = Arc::new(meter::Meter::default());
    meter.start_sampling();
    let mut swarm = swarm::build_swarm(keypair, inbound, hide, &meter)?;
    if !cfg.listen.is_empty() {
        // We answer DHT queries once we can be reached.
        swarm.behaviour_mut().kad.set_mode(Some(kad::Mode::Server));
        swarm.behaviour_mut().lan.set_mode(Some(kad::Mode::Server));
    }
    for addr in &cfg.listen {
        swarm.listen_on(addr.clone()).map_err(|e| listen_error(addr, e))?;
    }
    for addr in &cfg.announce {
        swarm.add_external_address(addr.clone());
    }
    // Bootstrap peers are dialed by the manager's first check, at once.
    let mgr = connmgr::Manager::new(cfg.conns, cfg.bootstrap, cfg.saved_peers);
    let (tx, rx) = mpsc::channel(1024);
    let control = swarm.behaviour().stream.new_control();
    let connected = Arc::new(Mutex::new(HashSet::new()));
    let rt = tokio::runtime::Handle::current();
    let flows = Arc::new(flow::Flows::default());
    let bitswap = Arc::new(bitswap::Bitswap {
        wants: Default::default(),
        outbox: Arc::new(outbox::Outbox::new(
            control.clone(),
            rt.clone(),
            connected.clone(),
            flows.clone(),
        )),
        flows,
        server: Arc::new(server::Server::new(blocks)),
        stats: Default::default(),
    });
    tokio::spawn(receive::serve(incoming, taken, bitswap.clone(), tx.clone()));
    let event_loop = event_loop::EventLoop::new(swarm, connected.clone(), bitswap.clone(), mgr, hide);
    tokio::spawn(event_loop.run(rx));
    Ok(NetHandle {
        tx,
        public_key,
        meter,
        rt,
        bitswap,
        connected,
    })
}
