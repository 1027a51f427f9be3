//! Who a peer is and where it is reached: key pairs, public keys, peer IDs
//! and multiaddresses. The repo (the node's identity, IPNS keys), IPNS
//! records, the CLI and the network all speak of peers; this module is the
//! one place that names the crates behind those types (`libp2p-identity`,
//! `multiaddr`), so the rest of the crate says `peer::PeerId`, and only
//! `net` knows libp2p itself. They are the same types libp2p uses.

pub use libp2p_identity::{Keypair, PeerId, PublicKey};
pub use multiaddr::{Multiaddr, Protocol};
