//! Announce addresses (`network.announce`, `--announce`; Kubo's
//! `Addresses.Announce`): when set, they are the only addresses the node
//! tells anyone. They are the swarm's external addresses (what Identify
//! sends with `hide_listen_addrs`, and what provider records carry), and
//! the listen addresses are kept from Kademlia, which otherwise adds them
//! to its answers about its own provider records (`Hidden`).

use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent, THandlerOutEvent,
    ToSwarm,
};
use libp2p::{PeerId, Swarm};
use std::collections::HashSet;
use std::task::{Context, Poll};

/// A behaviour that, when `hide` is set, never hears of the swarm's listen
/// addresses (everything else passes through). For Kademlia: a node that
/// answers GET_PROVIDERS with its own record gives its listen and external
/// addresses, and with an announce address only that may be told.
pub struct Hidden<B> {
    pub inner: B,
    pub hide: bool,
}

impl<B> std::ops::Deref for Hidden<B> {
    type Target = B;
    fn deref(&self) -> &B {
        &self.inner
    }
}

impl<B> std::ops::DerefMut for Hidden<B> {
    fn deref_mut(&mut self) -> &mut B {
        &mut self.inner
    }
}

impl<B: NetworkBehaviour> NetworkBehaviour for Hidden<B> {
    type ConnectionHandler = B::ConnectionHandler;
    type ToSwarm = B::ToSwarm;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner.handle_pending_inbound_connection(id, local, remote)
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.inner
            .handle_established_inbound_connection(id, peer, local, remote)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: Option<PeerId>,
        addrs: &[Multiaddr],
        role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner
            .handle_pending_outbound_connection(id, peer, addrs, role)
    }

    fn handle_established_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.inner
            .handle_established_outbound_connection(id, peer, addr, role, port_use)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        if self.hide
            && matches!(
                event,
                FromSwarm::NewListenAddr(_) | FromSwarm::ExpiredListenAddr(_)
            )
        {
            return;
        }
        self.inner.on_swarm_event(event)
    }

    fn on_connection_handler_event(&mut self, peer: PeerId, id: ConnectionId, event: THandlerOutEvent<Self>) {
        self.inner.on_connection_handler_event(peer, id, event)
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        self.inner.poll(cx)
    }
}

/// What `p2pfs id` lists: the announce addresses when there are any (they
/// are then the external addresses), else the listen and external ones.
pub fn own_addresses<B: NetworkBehaviour>(
    swarm: &Swarm<B>,
    listen: &[Multiaddr],
    announcing: bool,
) -> Vec<String> {
    let me = *swarm.local_peer_id();
    let told = swarm.external_addresses();
    let all: HashSet<String> = if announcing {
        told.map(|a| format!("{a}/p2p/{me}")).collect()
    } else {
        listen
            .iter()
            .chain(told)
            .map(|a| format!("{a}/p2p/{me}"))
            .collect()
    };
    let mut v: Vec<String> = all.into_iter().collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::core::transport::ListenerId;
    use libp2p::swarm::{NewListenAddr, behaviour::ExternalAddrConfirmed, dummy};

    /// Records the addresses it hears of.
    #[derive(Default)]
    struct Seen(Vec<String>);

    impl NetworkBehaviour for Seen {
        type ConnectionHandler = dummy::ConnectionHandler;
        type ToSwarm = ();
        fn handle_established_inbound_connection(
            &mut self,
            _: ConnectionId,
            _: PeerId,
            _: &Multiaddr,
            _: &Multiaddr,
        ) -> Result<THandler<Self>, ConnectionDenied> {
            Ok(dummy::ConnectionHandler)
        }
        fn handle_established_outbound_connection(
            &mut self,
            _: ConnectionId,
            _: PeerId,
            _: &Multiaddr,
            _: Endpoint,
            _: PortUse,
        ) -> Result<THandler<Self>, ConnectionDenied> {
            Ok(dummy::ConnectionHandler)
        }
        fn on_swarm_event(&mut self, event: FromSwarm) {
            match event {
                FromSwarm::NewListenAddr(e) => self.0.push(format!("listen {}", e.addr)),
                FromSwarm::ExternalAddrConfirmed(e) => self.0.push(format!("external {}", e.addr)),
                _ => {}
            }
        }
        fn on_connection_handler_event(&mut self, _: PeerId, _: ConnectionId, e: THandlerOutEvent<Self>) {
            match e {}
        }
        fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<(), THandlerInEvent<Self>>> {
            Poll::Pending
        }
    }

    fn feed(hide: bool) -> Vec<String> {
        let mut h = Hidden {
            inner: Seen::default(),
            hide,
        };
        let listen: Multiaddr = "/ip4/10.0.0.5/tcp/4001".parse().unwrap();
        let external: Multiaddr = "/ip4/203.0.113.7/tcp/4001".parse().unwrap();
        h.on_swarm_event(FromSwarm::NewListenAddr(NewListenAddr {
            listener_id: ListenerId::next(),
            addr: &listen,
        }));
        h.on_swarm_event(FromSwarm::ExternalAddrConfirmed(ExternalAddrConfirmed {
            addr: &external,
        }));
        h.inner.0
    }

    #[test]
    fn hidden_keeps_listen_addresses_from_the_inner_behaviour() {
        assert_eq!(feed(true), ["external /ip4/203.0.113.7/tcp/4001"]);
        assert_eq!(
            feed(false),
            [
                "listen /ip4/10.0.0.5/tcp/4001",
                "external /ip4/203.0.113.7/tcp/4001"
            ]
        );
    }
}
