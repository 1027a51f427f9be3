//! Where a block's bytes are: inline in the index, or a range of a pack file
//! with the BLAKE3 sum taken when it was written (see `check.rs` for why
//! that sum is as good as the block's own multihash, and three times faster).
//!
//! Encoding of the index value: `[0] + bytes` inline; `[1] + pack u32 +
//! offset u64 + len u32` (written before sums existed, verified by the
//! multihash); `[2] + pack + offset + len + sum[32]`; then a seal
//! (`sealed.rs`): a damaged length would otherwise be read as valid by
//! what sums sizes without reading blocks (`repo stat`, the cache limit).

/// BLAKE3 over the block's multihash and bytes.
pub(super) type Sum = [u8; 32];

#[derive(Debug, Clone)]
pub(super) enum Loc {
    Inline(Vec<u8>),
    Packed {
        pack: u32,
        offset: u64,
        len: u32,
        sum: Option<Sum>,
    },
}

/// The write-time sum of a block: BLAKE3 of the key's length, the key and
/// the bytes, so a location that points at another block's record fails too.
pub(super) fn sum(key: &[u8], data: &[u8]) -> Sum {
    let mut h = blake3::Hasher::new();
    h.update(&(key.len() as u32).to_le_bytes());
    h.update(key);
    h.update(data);
    *h.finalize().as_bytes()
}

impl Loc {
    /// A packed block's location with its sum.
    pub(super) fn packed(key: &[u8], pack: u32, offset: u64, data: &[u8]) -> Loc {
        Loc::Packed {
            pack,
            offset,
            len: data.len() as u32,
            sum: Some(sum(key, data)),
        }
    }

    /// The sealed index value for block `key`.
    pub(super) fn encode(&self, key: &[u8]) -> Vec<u8> {
        super::sealed::seal("blocks", key, &self.encode_bare())
    }

    /// The location in a sealed index value; None if damaged.
    pub(super) fn decode(key: &[u8], b: &[u8]) -> Option<Loc> {
        Loc::decode_bare(super::sealed::unseal("blocks", key, b).ok()?)
    }

    pub(super) fn encode_bare(&self) -> Vec<u8> {
        match self {
            Loc::Inline(d) => {
                let mut v = Vec::with_capacity(d.len() + 1);
                v.push(0);
                v.extend_from_slice(d);
                v
            }
            Loc::Packed {
                pack,
                offset,
                len,
                sum,
            } => {
                let mut v = Vec::with_capacity(49);
                v.push(if sum.is_some() { 2 } else { 1 });
                v.extend_from_slice(&pack.to_le_bytes());
                v.extend_from_slice(&offset.to_le_bytes());
                v.extend_from_slice(&len.to_le_bytes());
                if let Some(s) = sum {
                    v.extend_from_slice(s);
                }
                v
            }
        }
    }

    pub(super) fn decode_bare(b: &[u8]) -> Option<Loc> {
        let packed = |r: &[u8], sum| {
            Some(Loc::Packed {
                pack: u32::from_le_bytes(r[0..4].try_into().ok()?),
                offset: u64::from_le_bytes(r[4..12].try_into().ok()?),
                len: u32::from_le_bytes(r[12..16].try_into().ok()?),
                sum,
            })
        };
        match b.split_first()? {
            (0, d) => Some(Loc::Inline(d.to_vec())),
            (1, r) if r.len() == 16 => packed(r, None),
            (2, r) if r.len() == 48 => packed(r, Some(r[16..48].try_into().ok()?)),
            _ => None,
        }
    }

    pub(super) fn len(&self) -> u64 {
        match self {
            Loc::Inline(d) => d.len() as u64,
            Loc::Packed { len, .. } => *len as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn encode_decode_round_trips(pack: u32, offset: u64, data in proptest::collection::vec(any::<u8>(), 0..64), with_sum: bool) {
            let mut loc = Loc::packed(b"key", pack, offset, &data);
            if !with_sum && let Loc::Packed { sum, .. } = &mut loc {
                *sum = None;
            }
            let back = Loc::decode(b"key", &loc.encode(b"key")).unwrap();
            prop_assert_eq!(format!("{back:?}"), format!("{loc:?}"));
            prop_assert!(Loc::decode(b"other", &loc.encode(b"key")).is_none());
            let inline = Loc::Inline(data.clone());
            prop_assert_eq!(format!("{:?}", Loc::decode(b"k", &inline.encode(b"k")).unwrap()), format!("{inline:?}"));
        }

        #[test]
        fn any_bytes_decode_or_fail_cleanly(b in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = Loc::decode_bare(&b);
            let _ = Loc::decode(b"k", &b);
        }
    }

    #[test]
    fn the_sum_binds_key_and_bytes() {
        assert_ne!(sum(b"a", b"bc"), sum(b"ab", b"c"));
        assert_ne!(sum(b"k", b"x"), sum(b"k", b"y"));
        assert_eq!(sum(b"k", b"x"), sum(b"k", b"x"));
    }
}
