//! The swarm: its behaviours (connection limits, Identify, Ping, the WAN
//! and LAN Kademlias, streams, inbound Bitswap) and its transports (QUIC,
//! TCP from `tcp.rs`, DNS), built once at start.

use super::{AGENT, NetError, announce, dht, inbound, meter, tcp};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{Swarm, identify, kad, ping};
use std::sync::Arc;
use std::time::Duration;

/// Identify's "protocol version" field, as Kubo and Helia send it.
const PROTOCOL_VERSION: &str = "ipfs/0.1.0";

#[derive(NetworkBehaviour)]
pub(super) struct Behaviour {
    pub(super) blocked: libp2p::allow_block_list::Behaviour<libp2p::allow_block_list::BlockedPeers>,
    pub(super) limits: libp2p::connection_limits::Behaviour,
    pub(super) memory: libp2p::memory_connection_limits::Behaviour,
    pub(super) identify: identify::Behaviour,
    pub(super) ping: ping::Behaviour,
    pub(super) kad: announce::Hidden<kad::Behaviour<kad::store::MemoryStore>>,
    pub(super) lan: announce::Hidden<kad::Behaviour<kad::store::MemoryStore>>,
    pub(super) stream: libp2p_stream::Behaviour,
    pub(super) bitswap: inbound::Behaviour,
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

/// The swarm and its behaviours; `hide`: announce addresses are set, so
/// listen addresses are told to no one (`announce.rs`).
pub(super) fn build_swarm(
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
        // Outbound streams negotiate lazily (as go-libp2p's NewStream does
        // with one protocol): data follows the protocol proposal at once
        // instead of a round trip later, which on a 120 ms link is a round
        // trip saved per stream, and stream opens (one at a time per
        // connection) no longer queue behind each other's round trips.
        .with_swarm_config(|c| {
            c.with_idle_connection_timeout(Duration::from_secs(365 * 24 * 3600))
                .with_substream_upgrade_protocol_override(libp2p::core::upgrade::Version::V1Lazy)
        })
        .build())
}
