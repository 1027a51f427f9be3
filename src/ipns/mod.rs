//! IPNS records (specs.ipfs.tech/ipns/ipns-record): creating, encoding,
//! parsing, validating and choosing between them. Pure: no I/O, no network;
//! the DHT (`net/`) validates what peers store with it, `namesys` publishes
//! and resolves with it.
//!
//! A record is the protobuf `IpnsEntry`; what is signed (V2) is its `data`
//! field, a DAG-CBOR map {Value, Validity, ValidityType, Sequence, TTL}
//! (encoded by `serde_ipld_dagcbor`, whose maps are written in canonical
//! key order). The V1 signature and fields are written too, for old
//! readers, and must agree with `data` when a record carries them.

mod name;
mod record;
pub mod time;

pub use name::{Name, routing_key};
pub use record::{MAX_RECORD_SIZE, Record, better};

use std::time::SystemTime;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpnsError {
    #[error("IPNS record is {size} bytes, over the limit of 10 KiB: rejected")]
    TooBig { size: usize },
    #[error("malformed IPNS record: {0}")]
    Malformed(String),
    #[error("IPNS record has no V2 signature (signatureV2 and data are required)")]
    NoSignatureV2,
    #[error("IPNS record signature is invalid: it was not signed by the key of {0}")]
    BadSignature(String),
    #[error("IPNS record's {0} differs between its signed data and its protobuf fields")]
    Mismatch(&'static str),
    #[error("IPNS record's public key does not belong to the name {0}")]
    WrongKey(String),
    #[error(
        "IPNS record for {name} expired at {eol}: republish it (`p2pfs name publish`) on the node that holds the key"
    )]
    Expired { name: String, eol: String },
    #[error("IPNS record has sequence {got}, lower than the {have} already known: rejected")]
    LowerSequence { got: u64, have: u64 },
    #[error("IPNS record has the same sequence {0} as the one already known and ends no later: rejected")]
    NotNewer(u64),
    #[error("cannot sign the IPNS record: {0}")]
    Sign(String),
    #[error("not an IPNS name: {0:?} (expected a key's name as k51…, a peer ID, or /ipns/<name>)")]
    BadName(String),
}

/// Refuses `new` when `known` (a valid record of the same name) is better:
/// a lower sequence, or the same one ending no later.
pub fn check_newer(new: &Record, known: &Record) -> Result<(), IpnsError> {
    if new.sequence < known.sequence {
        Err(IpnsError::LowerSequence {
            got: new.sequence,
            have: known.sequence,
        })
    } else if new.sequence == known.sequence && new.eol <= known.eol && new.to_bytes() != known.to_bytes() {
        Err(IpnsError::NotNewer(new.sequence))
    } else {
        Ok(())
    }
}

/// When a record stops being valid, as the text records carry.
pub fn format_time(t: SystemTime) -> String {
    time::format_rfc3339(t)
}
