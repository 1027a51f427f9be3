//! Blocks and the two traits every layer above the store uses to reach them.
//!
//! `unixfs`, `car` and (later) the network see blocks only through [`BlockGet`]
//! and [`BlockPut`]; only `store` knows that redb and pack files exist.

use cid::Cid;
use multihash::Multihash;
use sha2::{Digest, Sha256};

/// Multicodec codes this node understands.
pub const DAG_PB: u64 = 0x70;
pub const RAW: u64 = 0x55;
pub const DAG_CBOR: u64 = 0x71;
pub const SHA2_256: u64 = 0x12;
pub const IDENTITY: u64 = 0x00;

/// Largest block we accept from anyone (peer, CAR file, import): the
/// network-wide convention (Kubo and Helia refuse bigger ones too).
pub const MAX_BLOCK_SIZE: usize = 2 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("block {0} is not in the local store; mount or start the daemon to fetch it from peers")]
    NotFound(Cid),
    #[error("block {cid} is damaged: its bytes do not hash to its CID (run `p2pfs repo verify`)")]
    Corrupt { cid: Cid },
    #[error("unsupported hash function 0x{code:x} in {cid}: only sha2-256 and identity are supported")]
    UnsupportedHash { cid: Cid, code: u64 },
    #[error("block {cid} is {size} bytes, over the {max}-byte limit")]
    TooLarge { cid: Cid, size: usize, max: usize },
    /// The store's own error, kept typed (shown in the message, so not also
    /// a `source`: chains would print it twice).
    #[error("block store: {0}")]
    Store(Box<dyn std::error::Error + Send + Sync>),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("block {cid} is not in the local store and could not be fetched: {why}")]
    Unavailable {
        cid: Cid,
        /// No block came in time (rather than: the fetch failed).
        timed_out: bool,
        /// Why (typed; in the message, so not also a `source`).
        why: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Read access to blocks by CID.
pub trait BlockGet: Send + Sync {
    /// Returns the block's bytes, or [`BlockError::NotFound`].
    fn get(&self, cid: &Cid) -> Result<Vec<u8>, BlockError>;
    /// Whether the block is available without fetching.
    fn has(&self, cid: &Cid) -> Result<bool, BlockError>;
    /// Bytes `[start, start+len)` of a block (clamped to its size). Stores
    /// that can read part of a block override this.
    fn get_range(&self, cid: &Cid, start: u64, len: u64) -> Result<Vec<u8>, BlockError> {
        let b = self.get(cid)?;
        let s = (start as usize).min(b.len());
        Ok(b[s..(s.saturating_add(len as usize)).min(b.len())].to_vec())
    }
    /// The block's size if it is local and the store knows it without
    /// reading it; `None` when unknown (the default).
    fn size(&self, _cid: &Cid) -> Result<Option<u64>, BlockError> {
        Ok(None)
    }
    /// A hint that these blocks will be read soon, in this order. Stores
    /// that fetch from the network start fetching them; others ignore it
    /// (without consuming the iterator, so a hint costs nearly nothing).
    fn prefetch(&self, _cids: &mut dyn Iterator<Item = Cid>) {}
}

/// Write access to blocks. Writes may be buffered until [`BlockPut::flush`].
pub trait BlockPut: Send + Sync {
    /// Stores `data` under `cid`. The caller guarantees `data` hashes to `cid`
    /// (it hashed it itself, or called [`verify`]).
    fn put(&self, cid: &Cid, data: &[u8]) -> Result<(), BlockError>;
    /// Makes every block put so far durable.
    fn flush(&self) -> Result<(), BlockError>;
}

impl<T: BlockGet + ?Sized> BlockGet for &T {
    fn get(&self, cid: &Cid) -> Result<Vec<u8>, BlockError> {
        (**self).get(cid)
    }
    fn get_range(&self, cid: &Cid, start: u64, len: u64) -> Result<Vec<u8>, BlockError> {
        (**self).get_range(cid, start, len)
    }
    fn has(&self, cid: &Cid) -> Result<bool, BlockError> {
        (**self).has(cid)
    }
    fn prefetch(&self, cids: &mut dyn Iterator<Item = Cid>) {
        (**self).prefetch(cids)
    }
}

impl<T: BlockGet + ?Sized> BlockGet for std::sync::Arc<T> {
    fn get(&self, cid: &Cid) -> Result<Vec<u8>, BlockError> {
        (**self).get(cid)
    }
    fn get_range(&self, cid: &Cid, start: u64, len: u64) -> Result<Vec<u8>, BlockError> {
        (**self).get_range(cid, start, len)
    }
    fn has(&self, cid: &Cid) -> Result<bool, BlockError> {
        (**self).has(cid)
    }
    fn prefetch(&self, cids: &mut dyn Iterator<Item = Cid>) {
        (**self).prefetch(cids)
    }
}

impl<T: BlockPut + ?Sized> BlockPut for &T {
    fn put(&self, cid: &Cid, data: &[u8]) -> Result<(), BlockError> {
        (**self).put(cid, data)
    }
    fn flush(&self) -> Result<(), BlockError> {
        (**self).flush()
    }
}

impl<T: BlockPut + ?Sized> BlockPut for std::sync::Arc<T> {
    fn put(&self, cid: &Cid, data: &[u8]) -> Result<(), BlockError> {
        (**self).put(cid, data)
    }
    fn flush(&self) -> Result<(), BlockError> {
        (**self).flush()
    }
}

/// sha2-256 multihash of `data`.
pub fn sha256_multihash(data: &[u8]) -> Multihash<64> {
    let digest = Sha256::digest(data);
    // A 32-byte digest always fits a 64-byte multihash.
    Multihash::wrap(SHA2_256, &digest).expect("32-byte digest fits")
}

/// CIDv1 of `data` with the given codec, sha2-256.
pub fn cid_v1(codec: u64, data: &[u8]) -> Cid {
    Cid::new_v1(codec, sha256_multihash(data))
}

/// CIDv0 (dag-pb, sha2-256) of `data`.
pub fn cid_v0(data: &[u8]) -> Cid {
    Cid::new_v0(sha256_multihash(data)).expect("sha2-256 multihash is valid for v0")
}

/// If `cid` is an identity CID its bytes are inline: return them.
pub fn identity_bytes(cid: &Cid) -> Option<&[u8]> {
    (cid.hash().code() == IDENTITY).then(|| cid.hash().digest())
}

/// Checks that `data` is what `cid` names. Every block that enters the store
/// from outside (a CAR file, a peer) goes through here.
pub fn verify(cid: &Cid, data: &[u8]) -> Result<(), BlockError> {
    if data.len() > MAX_BLOCK_SIZE {
        return Err(BlockError::TooLarge {
            cid: *cid,
            size: data.len(),
            max: MAX_BLOCK_SIZE,
        });
    }
    match cid.hash().code() {
        SHA2_256 => {
            if Sha256::digest(data).as_slice() == cid.hash().digest() {
                Ok(())
            } else {
                Err(BlockError::Corrupt { cid: *cid })
            }
        }
        IDENTITY => {
            if cid.hash().digest() == data {
                Ok(())
            } else {
                Err(BlockError::Corrupt { cid: *cid })
            }
        }
        code => Err(BlockError::UnsupportedHash { cid: *cid, code }),
    }
}

/// Formats a CID the way users see it: CIDv1 in base32, CIDv0 as `Qm…`.
pub fn display(cid: &Cid) -> String {
    cid.to_string()
}

/// Parses a CID from user input with a message that says what is wrong.
pub fn parse_cid(s: &str) -> Result<Cid, ParseCidError> {
    let s = s.trim();
    Cid::try_from(s).map_err(|e| ParseCidError {
        input: s.to_string(),
        reason: e.to_string(),
    })
}

#[derive(Debug, thiserror::Error)]
#[error("'{input}' is not a valid CID ({reason}); expected e.g. bafy… (CIDv1) or Qm… (CIDv0)")]
pub struct ParseCidError {
    pub input: String,
    pub reason: String,
}

/// A sink that stores nothing: CIDs without blocks (`add --only-hash`,
/// an empty directory's CID).
pub struct NullStore;

impl BlockPut for NullStore {
    fn put(&self, _: &Cid, _: &[u8]) -> Result<(), BlockError> {
        Ok(())
    }
    fn flush(&self) -> Result<(), BlockError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_raw_cid() {
        // `echo -n hello | ipfs add --cid-version=1 --raw-leaves` (see crates.md).
        assert_eq!(
            cid_v1(RAW, b"hello").to_string(),
            "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"
        );
    }

    #[test]
    fn verify_detects_corruption() {
        let cid = cid_v1(RAW, b"hello");
        assert!(verify(&cid, b"hello").is_ok());
        assert!(matches!(verify(&cid, b"hellO"), Err(BlockError::Corrupt { .. })));
    }

    #[test]
    fn identity_cid_roundtrip() {
        let mh = Multihash::<64>::wrap(IDENTITY, b"inline").unwrap();
        let cid = Cid::new_v1(RAW, mh);
        assert_eq!(identity_bytes(&cid), Some(&b"inline"[..]));
        assert!(verify(&cid, b"inline").is_ok());
    }

    #[test]
    fn bad_cid_message() {
        let e = parse_cid("notacid").unwrap_err();
        assert!(e.to_string().contains("not a valid CID"));
    }
}
