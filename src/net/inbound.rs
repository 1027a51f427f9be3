//! Accepts inbound Bitswap streams and queues them for the server task.
//!
//! libp2p-stream hands inbound streams over a channel with room for one:
//! a peer that opens streams in a burst (Helia opens one per message) loses
//! all but the first until the reader catches up, and a lost stream is a
//! lost reply. Here every negotiated stream is queued (up to a bound that
//! only a flood reaches), so none is dropped in normal traffic.

use futures::future::{Ready, ready};
use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, InboundUpgrade, Multiaddr, OutboundUpgrade, UpgradeInfo};
use libp2p::swarm::handler::{ConnectionEvent, FullyNegotiatedInbound};
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm, NetworkBehaviour,
    Stream, StreamProtocol, SubstreamProtocol, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// Streams waiting for the server at most; past this a peer is flooding.
const QUEUE: usize = 4096;

pub type Incoming = mpsc::UnboundedReceiver<(PeerId, Stream)>;

#[derive(Clone)]
struct Queue {
    tx: mpsc::UnboundedSender<(PeerId, Stream)>,
    /// Streams queued and not yet taken by the reader.
    queued: Arc<AtomicUsize>,
}

/// Takes one stream off the queue (the reader calls this for each).
pub struct Taken(Arc<AtomicUsize>);

impl Taken {
    pub fn one(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

pub struct Behaviour {
    protocols: Vec<StreamProtocol>,
    queue: Queue,
}

impl Behaviour {
    pub fn new(protocols: &[&'static str]) -> (Self, Incoming, Taken) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let b = Behaviour {
            protocols: protocols.iter().map(|p| StreamProtocol::new(p)).collect(),
            queue: Queue {
                tx,
                queued: queued.clone(),
            },
        };
        (b, rx, Taken(queued))
    }

    fn handler(&self, peer: PeerId) -> Handler {
        Handler {
            peer,
            protocols: self.protocols.clone(),
            queue: self.queue.clone(),
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer))
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer))
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(&mut self, _: PeerId, _: ConnectionId, event: THandlerOutEvent<Self>) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

pub struct Handler {
    peer: PeerId,
    protocols: Vec<StreamProtocol>,
    queue: Queue,
}

pub struct Upgrade(Vec<StreamProtocol>);

impl UpgradeInfo for Upgrade {
    type Info = StreamProtocol;
    type InfoIter = std::vec::IntoIter<StreamProtocol>;
    fn protocol_info(&self) -> Self::InfoIter {
        self.0.clone().into_iter()
    }
}

impl InboundUpgrade<Stream> for Upgrade {
    type Output = Stream;
    type Error = Infallible;
    type Future = Ready<Result<Stream, Infallible>>;
    fn upgrade_inbound(self, s: Stream, _: StreamProtocol) -> Self::Future {
        ready(Ok(s))
    }
}

impl OutboundUpgrade<Stream> for Upgrade {
    type Output = Stream;
    type Error = Infallible;
    type Future = Ready<Result<Stream, Infallible>>;
    fn upgrade_outbound(self, s: Stream, _: StreamProtocol) -> Self::Future {
        ready(Ok(s))
    }
}

impl ConnectionHandler for Handler {
    type FromBehaviour = Infallible;
    type ToBehaviour = Infallible;
    type InboundProtocol = Upgrade;
    type OutboundProtocol = Upgrade;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Upgrade> {
        SubstreamProtocol::new(Upgrade(self.protocols.clone()), ())
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ConnectionHandlerEvent<Upgrade, (), Infallible>> {
        Poll::Pending
    }

    fn on_behaviour_event(&mut self, event: Infallible) {
        match event {}
    }

    fn on_connection_event(&mut self, event: ConnectionEvent<Upgrade, Upgrade>) {
        if let ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound { protocol: stream, .. }) =
            event
        {
            if self.queue.queued.load(Ordering::Relaxed) >= QUEUE {
                tracing::debug!(peer = %self.peer, "bitswap stream queue full; dropping a stream");
                return;
            }
            self.queue.queued.fetch_add(1, Ordering::Relaxed);
            if self.queue.tx.send((self.peer, stream)).is_err() {
                self.queue.queued.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}
