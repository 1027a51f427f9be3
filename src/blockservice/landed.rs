//! Blocks fetched ahead for one session's reader, handed over once.
//!
//! A block fetched ahead is stored (cache) and, without this, read back from
//! the store when the reader reaches it: an index lookup, a `pread` and a
//! BLAKE3 check of bytes that were verified (SHA-256 against their CID) a
//! moment before — 4 % of a 1 GiB loopback transfer's CPU. The reader takes
//! them from here instead.
//!
//! Bounded by bytes: when full, new arrivals are only stored (the reader
//! then reads them back, as without this). Entries leave when the reader
//! takes them; a block the reader fetched on demand while its fetch ahead
//! was under way is never kept (`demanded`), so nothing stale fills it.

use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// At most this many bytes wait for the reader (a 1 MiB-block file fetched
/// 32 blocks ahead; a 256 KiB-block one 128).
pub const LANDED_BYTES: usize = 32 << 20;

#[derive(Default)]
pub struct Landed {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    blocks: HashMap<Vec<u8>, Bytes>,
    bytes: usize,
    /// Keys the reader fetched itself while their fetch ahead ran.
    demanded: HashSet<Vec<u8>>,
}

impl Landed {
    /// A fetch ahead of `key` has landed: keep it for the reader if there is
    /// room and the reader has not got it already.
    pub fn offer(&self, key: Vec<u8>, data: Bytes) {
        let mut i = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if i.demanded.remove(&key) || i.bytes + data.len() > LANDED_BYTES {
            return;
        }
        i.bytes += data.len();
        if let Some(old) = i.blocks.insert(key, data) {
            i.bytes -= old.len();
        }
    }

    /// The reader's block, if it landed here.
    pub fn take(&self, key: &[u8]) -> Option<Bytes> {
        let mut i = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let b = i.blocks.remove(key)?;
        i.bytes -= b.len();
        Some(b)
    }

    /// The reader fetched `key` itself: a fetch ahead of it that lands later
    /// is not kept.
    pub fn demanded(&self, key: &[u8]) {
        let mut i = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = i.blocks.remove(key) {
            i.bytes -= b.len();
            return;
        }
        // Bounded: a long read forgets old marks (at worst one stale entry
        // stays until the session ends).
        if i.demanded.len() >= 4096 {
            i.demanded.clear();
        }
        i.demanded.insert(key.to_vec());
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.inner.lock().unwrap().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taken_once() {
        let l = Landed::default();
        l.offer(b"a".to_vec(), Bytes::from_static(b"xyz"));
        assert_eq!(l.bytes(), 3);
        assert_eq!(l.take(b"a").as_deref(), Some(&b"xyz"[..]));
        assert_eq!(l.take(b"a"), None);
        assert_eq!(l.bytes(), 0);
    }

    #[test]
    fn full_refuses_new_arrivals() {
        let l = Landed::default();
        let big = Bytes::from(vec![1u8; LANDED_BYTES]);
        l.offer(b"a".to_vec(), big);
        l.offer(b"b".to_vec(), Bytes::from_static(b"1"));
        assert_eq!(l.take(b"b"), None, "over the bound: not kept");
        assert!(l.take(b"a").is_some());
        l.offer(b"b".to_vec(), Bytes::from_static(b"1"));
        assert!(l.take(b"b").is_some(), "room again once taken");
    }

    #[test]
    fn demanded_block_is_not_kept() {
        let l = Landed::default();
        // The reader's own fetch finished first: the late fetch ahead is dropped.
        l.demanded(b"a");
        l.offer(b"a".to_vec(), Bytes::from_static(b"x"));
        assert_eq!(l.take(b"a"), None);
        assert_eq!(l.bytes(), 0);
        // The fetch ahead landed first: the demand removes it.
        l.offer(b"b".to_vec(), Bytes::from_static(b"y"));
        l.demanded(b"b");
        assert_eq!(l.bytes(), 0);
        // Marks are used once.
        l.offer(b"a".to_vec(), Bytes::from_static(b"x"));
        assert!(l.take(b"a").is_some());
    }
}
