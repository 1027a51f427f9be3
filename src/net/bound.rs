//! A Bitswap message checked before it is decoded, so that what a peer
//! sends never decodes into more than we chose to hold: the 4 MiB frame
//! limit alone would let two-byte entries become two million decoded wants
//! or blocks (with a hash each). Wants past `MAX_WANTS_PER_MESSAGE` are cut
//! off (the server ignored them anyway); a message with more blocks and
//! presences than any real peer sends is refused.

use super::bitswap::MAX_WANTS_PER_MESSAGE;
use crate::wire::{Reader, Value, put_bytes_field, put_varint_field};
use bytes::Bytes;

/// Blocks and presences in one message at most. boxo fills a message with
/// about 16 KiB of small blocks and presences (or one big block), and
/// p2pfs's server puts at most 1024 presences in one.
pub const MAX_ITEMS_PER_MESSAGE: usize = 16384;

const WANTLIST: u32 = 1;
const ENTRY: u32 = 1;
const FULL: u32 = 2;

/// `buf`, or a copy with the wantlist cut to its first
/// `MAX_WANTS_PER_MESSAGE` entries; an error when it holds too many blocks
/// and presences or is malformed at the top level.
pub fn bounded(buf: &Bytes) -> Result<Bytes, &'static str> {
    let (mut items, mut wants) = (0usize, 0usize);
    let mut r = Reader::new(buf);
    while let Some((field, v)) = r.field().map_err(|_| "malformed message")? {
        match (field, v) {
            (WANTLIST, Value::Bytes(wl)) => wants += count_entries(wl)?,
            (2..=4, _) => items += 1,
            _ => {}
        }
        if items > MAX_ITEMS_PER_MESSAGE {
            return Err("too many blocks and presences in one message");
        }
    }
    if wants <= MAX_WANTS_PER_MESSAGE {
        return Ok(buf.clone());
    }
    trimmed(buf).map(Bytes::from)
}

fn count_entries(wl: &[u8]) -> Result<usize, &'static str> {
    let mut r = Reader::new(wl);
    let mut n = 0;
    while let Some((field, _)) = r.field().map_err(|_| "malformed wantlist")? {
        n += usize::from(field == ENTRY);
    }
    Ok(n)
}

/// The message with one wantlist of the first entries (and the last `full`
/// flag, as protobuf merges repeated message fields); other fields as sent.
fn trimmed(buf: &[u8]) -> Result<Vec<u8>, &'static str> {
    let (mut out, mut entries, mut full) = (Vec::with_capacity(buf.len()), Vec::new(), None);
    let mut kept = 0;
    let mut r = Reader::new(buf);
    let mut start = 0;
    while let Some((field, v)) = r.field().map_err(|_| "malformed message")? {
        let end = buf.len() - r.remaining();
        match (field, v) {
            (WANTLIST, Value::Bytes(wl)) => {
                let mut w = Reader::new(wl);
                while let Some((f, v)) = w.field().map_err(|_| "malformed wantlist")? {
                    match (f, v) {
                        (ENTRY, Value::Bytes(e)) if kept < MAX_WANTS_PER_MESSAGE => {
                            put_bytes_field(&mut entries, ENTRY, e);
                            kept += 1;
                        }
                        (FULL, Value::Varint(x)) => full = Some(x),
                        _ => {}
                    }
                }
            }
            _ => out.extend_from_slice(&buf[start..end]),
        }
        start = end;
    }
    if let Some(x) = full {
        put_varint_field(&mut entries, FULL, x);
    }
    put_bytes_field(&mut out, WANTLIST, &entries);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::bitswap::{Message, Want};

    fn want(i: u32) -> Want {
        Want {
            cid: i.to_be_bytes().to_vec(),
            cancel: false,
            want_have: i.is_multiple_of(2),
            send_dont_have: true,
        }
    }

    fn encoded(m: &Message) -> Bytes {
        Bytes::from(m.encode())
    }

    #[test]
    fn a_long_wantlist_is_cut_to_its_first_entries() {
        let mut m = Message {
            full: true,
            wants: (0..5000).map(want).collect(),
            ..Default::default()
        };
        m.presences.push((vec![7; 34], true));
        let got = Message::decode(&encoded(&m)).unwrap();
        assert_eq!(got.wants.len(), MAX_WANTS_PER_MESSAGE);
        assert!(got.wants.iter().zip(&m.wants).all(|(a, b)| a == b));
        assert!(got.full);
        assert_eq!(got.presences, m.presences);
        // Within the limit, nothing is copied or changed.
        m.wants.truncate(10);
        let b = encoded(&m);
        assert_eq!(bounded(&b).unwrap().as_ptr(), b.as_ptr());
    }

    #[test]
    fn millions_of_empty_entries_are_refused_before_decoding() {
        // Field 4 (a presence), empty: two bytes each.
        let buf: Vec<u8> = std::iter::repeat_n([0x22u8, 0x00], 2 << 20).flatten().collect();
        let e = Message::decode(&Bytes::from(buf)).unwrap_err();
        assert!(e.contains("too many"), "{e}");
        // Two million empty wants decode as the first 1024 only.
        let wl: Vec<u8> = std::iter::repeat_n([0x0au8, 0x00], 2 << 20).flatten().collect();
        let mut buf = Vec::new();
        put_bytes_field(&mut buf, WANTLIST, &wl);
        let got = Message::decode(&Bytes::from(buf)).unwrap();
        assert_eq!(got.wants.len(), MAX_WANTS_PER_MESSAGE);
    }
}
