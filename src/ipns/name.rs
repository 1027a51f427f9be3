//! IPNS names: the multihash of a public key (a peer ID), written as a
//! CIDv1 with the libp2p-key codec in base36 (`k51…`, as Kubo prints them),
//! or as a base58 peer ID (`12D3Koo…`), with or without `/ipns/`.

use super::IpnsError;
use crate::peer::PeerId;

/// Multicodec of a CID naming a public key.
const LIBP2P_KEY: u64 = 0x72;

/// An IPNS name: whose key signs its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Name(pub PeerId);

impl Name {
    /// Parses `k51…`, `bafz…`, `12D3Koo…`/`Qm…`, optionally after `/ipns/`.
    pub fn parse(s: &str) -> Result<Name, IpnsError> {
        let bad = || IpnsError::BadName(s.to_string());
        let t = s.strip_prefix("/ipns/").unwrap_or(s);
        if t.is_empty() || t.contains('/') {
            return Err(bad());
        }
        if let Ok(p) = t.parse::<PeerId>() {
            return Ok(Name(p));
        }
        let cid = cid::Cid::try_from(t).map_err(|_| bad())?;
        if cid.codec() != LIBP2P_KEY {
            return Err(bad());
        }
        PeerId::from_multihash(*cid.hash()).map(Name).map_err(|_| bad())
    }

    /// The DHT key of its records: `/ipns/` and the peer ID's bytes.
    pub fn routing_key(&self) -> Vec<u8> {
        routing_key(&self.0)
    }

    /// The name from a DHT key, if it is one.
    pub fn from_routing_key(key: &[u8]) -> Option<Name> {
        let mh = key.strip_prefix(b"/ipns/")?;
        PeerId::from_bytes(mh).ok().map(Name)
    }
}

/// The DHT key of `peer`'s records.
pub fn routing_key(peer: &PeerId) -> Vec<u8> {
    let mut k = b"/ipns/".to_vec();
    k.extend_from_slice(&peer.to_bytes());
    k
}

impl std::fmt::Display for Name {
    /// As Kubo prints names: CIDv1, libp2p-key, base36.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mh =
            cid::multihash::Multihash::<64>::from_bytes(&self.0.to_bytes()).map_err(|_| std::fmt::Error)?;
        let cid = cid::Cid::new_v1(LIBP2P_KEY, mh);
        match cid.to_string_of_base(multibase::Base::Base36Lower) {
            Ok(s) => f.write_str(&s),
            Err(_) => write!(f, "{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_in_every_form() {
        let kp = crate::peer::Keypair::generate_ed25519();
        let peer = kp.public().to_peer_id();
        let name = Name(peer);
        let k = name.to_string();
        assert!(k.starts_with("k51"), "{k}");
        for s in [
            k.clone(),
            format!("/ipns/{k}"),
            peer.to_string(),
            format!("/ipns/{peer}"),
        ] {
            assert_eq!(Name::parse(&s).unwrap(), name, "{s}");
        }
        assert_eq!(Name::from_routing_key(&name.routing_key()), Some(name));
        for bad in [
            "",
            "/ipns/",
            "nope",
            "/ipns/k51/x",
            // a CID, but not of a key
            "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq",
        ] {
            assert!(Name::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Name::from_routing_key(b"/pk/x"), None);
    }
}
