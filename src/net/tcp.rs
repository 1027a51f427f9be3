//! TCP + TLS or Noise (`secure.rs`) + Yamux, as `SwarmBuilder::with_tcp`
//! builds it, plus one socket option: `TCP_NOTSENT_LOWAT` (and its streams counted, `meter.rs`).
//!
//! Why: Linux grows a connection's send buffer to megabytes, and a block
//! written into it can no longer be withdrawn. A downloader that asked two
//! peers for a block (Kubo's client re-routes a want-block whose answer is
//! late, without cancelling it at the first peer) cancels at the loser once
//! the block arrives; the loser can honour that only while the block is
//! still in its wantlist. With the option the kernel takes new bytes only
//! while less than `NOTSENT_LOWAT` of what was written is unsent, so the
//! server's queue stays in its wantlist (cancellable) instead of in the
//! socket — without lowering the rate: bytes in flight (sent, unacked) do
//! not count.

use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::Boxed;
use libp2p::core::upgrade::Version;
use libp2p::{PeerId, Transport, noise, tcp, tls, yamux};

/// What `SwarmBuilder::with_other_transport` takes as a constructor's error.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Unsent bytes the kernel holds per connection: two 256 KiB blocks. At
/// 1 Gbit/s that is 4 ms of data, enough for the writer to wake up and
/// refill; at 100 Mbit/s about one 40 ms round trip.
pub const NOTSENT_LOWAT: u32 = 512 << 10;

/// The TCP transport of the swarm (dialing and listening).
pub fn transport(
    key: &libp2p::identity::Keypair,
    meter: std::sync::Arc<super::meter::Meter>,
) -> Result<Boxed<(PeerId, StreamMuxerBox)>, BoxError> {
    let tcp = tcp::tokio::Transport::new(tcp::Config::default().nodelay(true)).map(
        |s: tcp::tokio::TcpStream, _| {
            // Best effort: without it the connection works as before.
            if let Err(e) = socket2::SockRef::from(&s.0).set_tcp_notsent_lowat(NOTSENT_LOWAT) {
                tracing::debug!("TCP_NOTSENT_LOWAT not set: {e}");
            }
            s
        },
    );
    Ok(tcp
        .upgrade(Version::V1Lazy)
        .authenticate(super::secure::Either2(
            tls::Config::new(key)?,
            noise::Config::new(key)?,
        ))
        .multiplex(yamux::Config::default())
        .map(move |(peer, muxer), _| {
            (
                peer,
                StreamMuxerBox::new(super::meter::Metered::new(muxer, meter)),
            )
        })
        .boxed())
}

#[cfg(test)]
mod tests {
    /// Two p2pfs nodes settle on AES-128-GCM (third_party/libp2p-tls):
    /// the configs the TLS upgrade uses, handshaking in memory.
    #[test]
    fn two_nodes_pick_aes_gcm() {
        use rustls::{ClientConnection, ServerConnection};
        let (a, b) = (
            libp2p::identity::Keypair::generate_ed25519(),
            libp2p::identity::Keypair::generate_ed25519(),
        );
        let client = libp2p::tls::make_client_config(&a, Some(b.public().to_peer_id())).unwrap();
        let server = libp2p::tls::make_server_config(&b).unwrap();
        let name = rustls::pki_types::ServerName::try_from("l").unwrap();
        let mut c = ClientConnection::new(std::sync::Arc::new(client), name).unwrap();
        let mut s = ServerConnection::new(std::sync::Arc::new(server)).unwrap();
        for _ in 0..10 {
            let mut buf = Vec::new();
            while c.wants_write() {
                c.write_tls(&mut buf).unwrap();
            }
            s.read_tls(&mut &buf[..]).unwrap();
            s.process_new_packets().unwrap();
            let mut buf = Vec::new();
            while s.wants_write() {
                s.write_tls(&mut buf).unwrap();
            }
            c.read_tls(&mut &buf[..]).unwrap();
            c.process_new_packets().unwrap();
            if !c.is_handshaking() && !s.is_handshaking() {
                break;
            }
        }
        assert!(
            !c.is_handshaking() && !s.is_handshaking(),
            "the handshake did not finish"
        );
        let suite = c.negotiated_cipher_suite().unwrap().suite();
        assert_eq!(suite, rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
        assert_eq!(s.negotiated_cipher_suite().unwrap().suite(), suite);
    }

    #[test]
    fn option_is_set_on_a_socket() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let s = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let r = socket2::SockRef::from(&s);
        r.set_tcp_notsent_lowat(super::NOTSENT_LOWAT).unwrap();
        assert_eq!(r.tcp_notsent_lowat().unwrap(), super::NOTSENT_LOWAT);
    }
}
