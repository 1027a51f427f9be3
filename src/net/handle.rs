//! [`NetHandle`]: how the rest of the program talks to the node. Every
//! request is a [`Command`] sent to the event loop (`event_loop.rs`), which
//! alone touches the swarm; a reply comes back on a oneshot channel.

use super::{Command, ConnStats, IdInfo, NetError, bitswap, meter, peers, session};
use libp2p::{Multiaddr, PeerId};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// A cheap, cloneable handle to the running node.
#[derive(Clone)]
pub struct NetHandle {
    pub(super) tx: mpsc::Sender<Command>,
    /// Our public key as `id` prints it.
    pub(super) public_key: Arc<str>,
    pub(super) meter: Arc<meter::Meter>,
    pub(super) rt: tokio::runtime::Handle,
    pub(super) bitswap: Arc<bitswap::Bitswap>,
    /// Connected peers, kept by the swarm task (read on every want round).
    pub(super) connected: Arc<Mutex<HashSet<PeerId>>>,
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
