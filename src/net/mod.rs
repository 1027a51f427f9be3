//! The libp2p node: TCP and QUIC, Noise, Yamux, Identify, Ping and Kademlia
//! (`/ipfs/kad/1.0.0`). It runs on the daemon's tokio runtime; the rest of
//! the program talks to it through a [`NetHandle`] (commands over a channel),
//! never by touching the swarm. The node dials only what it is told to:
//! configured bootstrap peers and `swarm connect`.
//!
//! Blocks move with Bitswap (`bitswap.rs` the wire format and server,
//! `session.rs` the client); a missing block is asked of the connected peers
//! and of providers found in the DHT.

mod announce;
pub mod bitswap;
pub mod connmgr;
mod dht;
pub mod flow;
mod inbound;
mod keep;
pub mod meter;
mod peers;
pub use peers::public_key_string;
mod receive;
mod records;
pub mod server;
pub mod session;
pub mod stats;
mod tcp;
mod waiters;

use futures::StreamExt;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, identify, kad, ping};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long a peer that broke the protocol (a wrong or oversized block, a
/// malformed message) is refused.
const BLOCK_FOR: Duration = Duration::from_secs(600);

pub const AGENT: &str = concat!("p2pfs/", env!("CARGO_PKG_VERSION"));
/// Identify's "protocol version" field, as Kubo and Helia send it.
const PROTOCOL_VERSION: &str = "ipfs/0.1.0";

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
    #[error("DHT: {0}")]
    Dht(String),
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

#[derive(NetworkBehaviour)]
struct Behaviour {
    blocked: libp2p::allow_block_list::Behaviour<libp2p::allow_block_list::BlockedPeers>,
    limits: libp2p::connection_limits::Behaviour,
    memory: libp2p::memory_connection_limits::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    kad: announce::Hidden<kad::Behaviour<kad::store::MemoryStore>>,
    lan: announce::Hidden<kad::Behaviour<kad::store::MemoryStore>>,
    stream: libp2p_stream::Behaviour,
    bitswap: inbound::Behaviour,
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
    PutValue(Vec<u8>, Vec<u8>, oneshot::Sender<Result<usize, String>>),
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

/// A cheap, cloneable handle to the running node.
#[derive(Clone)]
pub struct NetHandle {
    tx: mpsc::Sender<Command>,
    /// Our public key as `id` prints it.
    public_key: Arc<str>,
    meter: Arc<meter::Meter>,
    rt: tokio::runtime::Handle,
    bitswap: Arc<bitswap::Bitswap>,
    /// Connected peers, kept by the swarm task (read on every want round).
    connected: Arc<Mutex<HashSet<PeerId>>>,
}

impl NetHandle {
    /// Runs a request from a thread outside the runtime (the control
    /// socket's client threads).
    pub fn block_on<T>(&self, fut: impl std::future::Future<Output = T>) -> T {
        self.rt.block_on(fut)
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, NetError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).await.map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    pub async fn id(&self) -> Result<IdInfo, NetError> {
        let mut info = self.ask(Command::Id).await?;
        info.public_key = self.public_key.to_string();
        Ok(info)
    }

    /// Another peer's identity (`id PEER`): connected to it first (found
    /// through the DHT when not connected), then what its Identify said.
    pub async fn peer_info(&self, peer: PeerId) -> Result<IdInfo, NetError> {
        if !self.connected().contains(&peer) {
            let addrs = self.find_peer(peer).await?;
            self.dial(|tx| Command::Peer(peers::Ask::Identify(peer, addrs, tx)))
                .await?;
        } else {
            // Just connected: its Identify may still be on the way.
            self.dial(|tx| Command::Peer(peers::Ask::Identify(peer, Vec::new(), tx)))
                .await?;
        }
        self.ask(|tx| Command::Peer(peers::Ask::Info(peer, tx)))
            .await?
            .ok_or(NetError::NotIdentified(peer))
    }

    /// Every peer with an address we know, and those addresses.
    pub async fn known_addrs(&self) -> Result<std::collections::BTreeMap<String, Vec<String>>, NetError> {
        self.ask(|tx| Command::Peer(peers::Ask::KnownAddrs(tx))).await
    }

    /// Closes the connections to `/p2p/ID`, or the one at `ADDR/p2p/ID`.
    /// Waits (up to 30 s) until they are closed.
    pub async fn disconnect(&self, addr: Multiaddr) -> Result<PeerId, NetError> {
        self.dial(|tx| Command::Peer(peers::Ask::Disconnect(addr, tx)))
            .await
    }

    /// A peer's addresses: known ones when connected, else asked of both DHTs.
    pub async fn find_peer(&self, peer: PeerId) -> Result<Vec<Multiaddr>, NetError> {
        let found = self
            .ask(|tx| Command::Peer(peers::Ask::FindPeer(peer, tx)))
            .await?;
        if found.is_empty() {
            return Err(NetError::PeerNotFound(peer));
        }
        Ok(found)
    }

    pub async fn peers(&self) -> Result<Vec<(PeerId, Multiaddr)>, NetError> {
        self.ask(Command::Peers).await
    }

    /// Runs a task on the node's runtime.
    pub fn spawn(
        &self,
        fut: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> tokio::task::AbortHandle {
        self.rt.spawn(fut).abort_handle()
    }

    /// A Bitswap client session (see `session.rs`); `timeout` bounds the
    /// wait for each block.
    pub fn session(&self, timeout: Duration) -> session::Session {
        session::Session::new(self.clone(), timeout)
    }

    pub fn connected(&self) -> HashSet<PeerId> {
        self.connected.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Makes sure a connection to a peer the DHT told us about exists.
    pub async fn connect_peer(&self, peer: PeerId) -> Result<PeerId, NetError> {
        self.dial(|tx| Command::ConnectPeer(peer, tx)).await
    }

    /// Makes sure some peer is connected: with none, dials the bootstrap
    /// and saved peers and waits (up to 10 s) for one.
    pub async fn ensure_peers(&self) -> Result<(), NetError> {
        if !self.connected().is_empty() {
            return Ok(());
        }
        tokio::time::timeout(Duration::from_secs(10), self.ask(Command::EnsurePeers))
            .await
            .unwrap_or(Ok(Err(NetError::NoPeers)))?
    }

    /// Adds a bootstrap peer to the running node (it is dialed and kept).
    pub async fn add_bootstrap(&self, addr: Multiaddr) -> Result<(), NetError> {
        self.tx
            .send(Command::AddBootstrap(addr))
            .await
            .map_err(|_| NetError::Stopped)
    }

    /// Saves the peers worth dialing next time (call before stopping).
    pub async fn shutdown(&self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ask(Command::Shutdown)).await;
    }

    /// Bytes in and out of every connection (`stats bw`).
    pub fn bandwidth(&self) -> meter::Bandwidth {
        self.meter.snapshot()
    }

    pub async fn conns(&self) -> Result<ConnStats, NetError> {
        self.ask(Command::Conns).await
    }

    /// Sends a dialing (or closing) command and waits (up to 30 s) for it.
    async fn dial(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<PeerId, NetError>>) -> Command,
    ) -> Result<PeerId, NetError> {
        tokio::time::timeout(Duration::from_secs(30), self.ask(make))
            .await
            .map_err(|_| NetError::Timeout)?
            .and_then(|r| r)
    }

    /// Announces `cid` in the DHT (provider record with our addresses).
    pub async fn provide(&self, cid: cid::Cid) -> Result<(), NetError> {
        self.ask(|tx| Command::Provide(cid, tx)).await?
    }

    /// Queues provider records for these multihashes (sent a few at a time,
    /// once a peer is connected; the DHT republishes them every 12 h).
    pub fn provide_keys(&self, keys: Vec<Vec<u8>>, urgent: bool) {
        if keys.is_empty() {
            return;
        }
        if let Err(e) = self.tx.try_send(Command::ProvideKeys(keys, urgent)) {
            // The queue is full only under a flood of commands; blocking
            // here could stall a FUSE thread. The keys are announced again
            // at the next start.
            tracing::debug!("provide queue busy, keys dropped: {e}");
        }
    }

    /// Providers of `cid` according to the DHT.
    pub async fn find_providers(&self, cid: cid::Cid) -> Result<Vec<PeerId>, NetError> {
        self.ask(|tx| Command::FindProviders(cid, tx)).await
    }

    /// Puts a value record (an IPNS record under `/ipns/…`) into both
    /// DHTs, at the closest peers; Ok(how many peers took it).
    pub async fn put_value(&self, key: Vec<u8>, value: Vec<u8>) -> Result<usize, NetError> {
        self.ask(|tx| Command::PutValue(key, value, tx))
            .await?
            .map_err(NetError::Dht)
    }

    /// Every value the DHTs hold under `key` (ours included), unchecked.
    pub async fn get_value(&self, key: Vec<u8>) -> Result<Vec<Vec<u8>>, NetError> {
        self.ask(|tx| Command::GetValue(key, tx)).await
    }

    /// Dials `addr` and waits (up to 30 s) until the connection is up.
    pub async fn connect(&self, addr: Multiaddr) -> Result<PeerId, NetError> {
        self.dial(|tx| Command::Connect(addr, tx)).await
    }
}

/// How many connections the node keeps: enough for a busy DHT node, few
/// enough that a flood of dials cannot exhaust file descriptors.
fn connection_limits() -> libp2p::connection_limits::ConnectionLimits {
    libp2p::connection_limits::ConnectionLimits::default()
        .with_max_pending_incoming(Some(64))
        .with_max_pending_outgoing(Some(128))
        .with_max_established_incoming(Some(512))
        .with_max_established(Some(1024))
        .with_max_established_per_peer(Some(4))
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

/// The swarm and its behaviours; `hide`: announce addresses are set, so
/// listen addresses are told to no one (`announce.rs`).
fn build_swarm(
    keypair: libp2p::identity::Keypair,
    inbound: inbound::Behaviour,
    hide: bool,
    meter: &Arc<meter::Meter>,
) -> Result<Swarm<Behaviour>, NetError> {
    let setup = |e: &dyn std::fmt::Display| NetError::Setup(e.to_string());
    let quic_meter = meter.clone();
    let tcp_meter = meter.clone();
    Ok(libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        // QUIC as `with_quic` builds it, its streams counted.
        .with_other_transport(move |key| {
            libp2p::Transport::map(
                libp2p::quic::tokio::Transport::new(libp2p::quic::Config::new(key)),
                move |(peer, conn), _| (peer, meter::Metered::new(conn, quic_meter)),
            )
        })
        .map_err(|e| setup(&e))?
        .with_other_transport(move |key| tcp::transport(key, tcp_meter))
        .map_err(|e| setup(&e))?
        // Only dialing a /dns* address resolves anything (the public
        // bootstrap peers are /dnsaddr); nothing is looked up otherwise.
        .with_dns()
        .map_err(|e| NetError::Setup(format!("DNS resolver (from /etc/resolv.conf): {e}")))?
        .with_behaviour(|key| {
            let peer = key.public().to_peer_id();
            Behaviour {
                blocked: Default::default(),
                limits: libp2p::connection_limits::Behaviour::new(connection_limits()),
                // New connections are refused while the process uses more
                // than this share of the machine's memory.
                memory: libp2p::memory_connection_limits::Behaviour::with_max_percentage(0.8),
                identify: identify::Behaviour::new(
                    identify::Config::new(PROTOCOL_VERSION.into(), key.public())
                        .with_agent_version(AGENT.into())
                        // With announce addresses, only they (the external
                        // addresses) are told.
                        .with_hide_listen_addrs(hide),
                ),
                ping: ping::Behaviour::default(),
                kad: announce::Hidden {
                    inner: dht::behaviour(peer, dht::WAN),
                    hide,
                },
                lan: announce::Hidden {
                    inner: dht::behaviour(peer, dht::LAN),
                    hide,
                },
                stream: libp2p_stream::Behaviour::new(),
                bitswap: inbound,
            }
        })
        .map_err(|e| setup(&e))?
        // Connections are not closed for idleness: the connection manager
        // trims them above its high water mark (see connmgr.rs).
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(365 * 24 * 3600)))
        .build())
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
    let mut swarm = build_swarm(keypair, inbound, hide, &meter)?;
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
        outbox: Arc::new(bitswap::Outbox::new(
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
    tokio::spawn(run(swarm, rx, connected.clone(), bitswap.clone(), mgr, hide));
    Ok(NetHandle {
        tx,
        public_key,
        meter,
        rt,
        bitswap,
        connected,
    })
}

use connmgr::peer_of;

async fn run(
    mut swarm: Swarm<Behaviour>,
    mut rx: mpsc::Receiver<Command>,
    shared_peers: Arc<Mutex<HashSet<PeerId>>>,
    bitswap: Arc<bitswap::Bitswap>,
    mgr: connmgr::Manager,
    announcing: bool,
) {
    let mut keeper = keep::Keeper::new(mgr);
    let mut blocked_until: Vec<(tokio::time::Instant, PeerId)> = Vec::new();
    let mut unblock = tokio::time::interval(Duration::from_secs(2));
    let set_shared = |connected: &HashMap<PeerId, Multiaddr>| {
        *shared_peers.lock().unwrap_or_else(|e| e.into_inner()) = connected.keys().copied().collect();
    };
    let mut listen: Vec<Multiaddr> = Vec::new();
    let mut connected: HashMap<PeerId, Multiaddr> = HashMap::new();
    let mut waiters = waiters::Waiters::default();
    let mut dht = dht::Dht::default();
    let mut records = records::Records::default();
    let mut book = peers::PeerBook::default();
    let mut provide_tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = keeper.tick.tick() => keeper.check(&mut swarm, &bitswap),
            _ = keeper.save_tick.tick() => keeper.save(false),
            _ = keeper.ensure_tick.tick(), if keeper.ensuring() => keeper.ensure_expired(&swarm),
            _ = provide_tick.tick() => {
                // Records go out once someone can take them, urgent ones at
                // once, the rest paced (a big add or fetch queues thousands,
                // and each query costs a walk of the routing table).
                if !connected.is_empty() {
                    dht.pump(&mut swarm);
                }
            }
            _ = unblock.tick() => {
                let now = tokio::time::Instant::now();
                waiters.expire(now);
                blocked_until.retain(|(t, p)| {
                    if *t <= now {
                        swarm.behaviour_mut().blocked.unblock_peer(*p);
                    }
                    *t > now
                });
            }
            cmd = rx.recv() => match cmd {
                None => return,
                Some(Command::Shutdown(reply)) => {
                    keeper.save(true);
                    let _ = reply.send(());
                }
                Some(Command::AddBootstrap(addr)) => keeper.mgr.add_bootstrap(addr),
                Some(Command::EnsurePeers(reply)) => keeper.ensure(&mut swarm, reply),
                Some(Command::Conns(reply)) => { let _ = reply.send(keeper.stats(&mut swarm)); }
                Some(Command::Peer(ask)) => book.handle(&mut swarm, &mut waiters, ask),
                Some(Command::DropPeer(peer)) => {
                    swarm.behaviour_mut().blocked.block_peer(peer);
                    blocked_until.push((tokio::time::Instant::now() + BLOCK_FOR, peer));
                    let _ = swarm.disconnect_peer_id(peer);
                }
                Some(Command::Provide(cid, reply)) => {
                    let (tx, rx) = oneshot::channel();
                    dht.provide(&mut swarm, &cid.hash().to_bytes(), tx);
                    tokio::spawn(async move {
                        let r = match rx.await.unwrap_or_else(|_| Err("the DHT query ended".into())) {
                            Ok(true) => Ok(()),
                            Ok(false) => Err(NetError::NotProvided),
                            Err(e) => Err(NetError::Dht(e)),
                        };
                        let _ = reply.send(r);
                    });
                }
                Some(Command::ProvideKeys(keys, now)) => {
                    dht.queue(keys, now);
                    if now {
                        provide_tick.reset_immediately();
                    }
                }
                Some(Command::PutValue(key, value, reply)) => records.put(&mut swarm, key, value, reply),
                Some(Command::GetValue(key, reply)) => records.get(&mut swarm, key, reply),
                Some(Command::FindProviders(cid, reply)) => dht.find(&mut swarm, &cid.hash().to_bytes(), reply),
                Some(Command::ConnectPeer(peer, reply)) => {
                    if connected.contains_key(&peer) {
                        let _ = reply.send(Ok(peer));
                    } else if let Err(e) = swarm.dial(peer) {
                        let _ = reply.send(Err(NetError::Dial { addr: Multiaddr::empty(), reason: e.to_string() }));
                    } else {
                        waiters.dial_peer(peer, reply);
                    }
                }
                Some(Command::Id(reply)) => {
                    let addresses = announce::own_addresses(&swarm, &listen, announcing);
                    let _ = reply.send(IdInfo { id: swarm.local_peer_id().to_string(), public_key: String::new(), addresses, agent_version: AGENT.into(), protocols: protocols() });
                }
                Some(Command::Peers(reply)) => {
                    let mut v: Vec<_> = connected.iter().map(|(p, a)| {
                        // A dialed address already ends in /p2p/<id>.
                        let a = a.clone().with_p2p(*p).unwrap_or_else(|a| a);
                        (*p, a)
                    }).collect();
                    v.sort_by_key(|(p, _)| p.to_string());
                    let _ = reply.send(v);
                }
                Some(Command::Connect(addr, reply)) => {
                    let Some(peer) = peer_of(&addr) else {
                        let _ = reply.send(Err(NetError::Dial { addr, reason: "the address must end in /p2p/<peer ID>".into() }));
                        continue;
                    };
                    if connected.contains_key(&peer) {
                        let _ = reply.send(Ok(peer));
                        continue;
                    }
                    keeper.mgr.by_hand(peer);
                    match swarm.dial(addr.clone()) {
                        Ok(()) => waiters.dial_by_hand(peer, addr, reply),
                        Err(e) => { let _ = reply.send(Err(NetError::Dial { addr, reason: e.to_string() })); }
                    }
                }
            },
            event = swarm.select_next_some() => match event {
                SwarmEvent::NewListenAddr { address, .. } => {
                    tracing::info!("listening on {address}");
                    // Provider records carry our confirmed external addresses
                    // (peers drop records without any); on a LAN or loopback
                    // the listen addresses are the ones peers can use, unless
                    // announce addresses say otherwise.
                    if !announcing {
                        swarm.add_external_address(address.clone());
                    }
                    listen.push(address);
                }
                SwarmEvent::ExpiredListenAddr { address, .. } => listen.retain(|a| *a != address),
                SwarmEvent::ConnectionEstablished { peer_id, endpoint, connection_id, .. } => {
                    book.opened(peer_id, connection_id, endpoint.get_remote_address());
                    connected.insert(peer_id, endpoint.get_remote_address().clone());
                    set_shared(&connected);
                    bitswap.flows.touch();
                    keeper.connected(peer_id, &endpoint);
                    waiters.connected(peer_id);
                }
                SwarmEvent::ConnectionClosed { peer_id, connection_id, num_established, .. } => {
                    book.closed(&peer_id, connection_id);
                    if num_established > 0 {
                        continue;
                    }
                    connected.remove(&peer_id);
                    set_shared(&connected);
                    bitswap.flows.gone(&peer_id);
                    bitswap.server.forget(&peer_id);
                    keeper.disconnected(&peer_id);
                    waiters.closed(&peer_id);
                }
                SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                    keeper.dial_failed(&swarm);
                    let Some(peer) = peer_id else { continue };
                    waiters.dial_failed(&peer, &error.to_string());
                }
                SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                    keeper.listen_addrs(peer_id, &info.listen_addrs);
                    book.identified(peer_id, &info);
                    // Kademlia learns a peer once it says it speaks the DHT.
                    dht.add_peer(&mut swarm, peer_id, &info.protocols, &info.listen_addrs);
                    waiters.identified(&peer_id);
                }
                SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Error { peer_id, .. })) => waiters.identified(&peer_id),
                SwarmEvent::Behaviour(BehaviourEvent::Ping(e)) => keeper.ping(&mut swarm, e),
                SwarmEvent::Behaviour(BehaviourEvent::Kad(e)) => kad_event(&mut swarm, (&mut dht, &mut records, &mut book), dht::Which::Wan, e, &connected),
                SwarmEvent::Behaviour(BehaviourEvent::Lan(e)) => kad_event(&mut swarm, (&mut dht, &mut records, &mut book), dht::Which::Lan, e, &connected),
                _ => {}
            },
        }
    }
}

/// An event of DHT `w`: value records (`records.rs`) first, then peer
/// lookups (`peers.rs`), then providers.
fn kad_event(
    swarm: &mut Swarm<Behaviour>,
    (dht, records, book): (&mut dht::Dht, &mut records::Records, &mut peers::PeerBook),
    w: dht::Which,
    event: kad::Event,
    connected: &HashMap<PeerId, Multiaddr>,
) {
    match event {
        kad::Event::OutboundQueryProgressed {
            id,
            result,
            step,
            stats,
        } => match records
            .progressed(w, id, result, step.last)
            .and_then(|r| book.progressed(w, id, r, step.last))
        {
            Some(kad::QueryResult::StartProviding(r)) => dht.provided(w, id, r, stats.num_successes() > 0),
            Some(kad::QueryResult::GetProviders(r)) => {
                dht.progressed(swarm, w, id, r, step.last, &|p| connected.contains_key(p))
            }
            Some(_) | None => {}
        },
        kad::Event::InboundRequest { request } => records.inbound(swarm, w, request),
        _ => {}
    }
}
