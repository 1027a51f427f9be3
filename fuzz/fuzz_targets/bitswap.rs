//! Bitswap messages: decode never panics; every block a decoded message
//! carries hashes to its CID; decode → encode → decode gives the same value.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use p2pfs::block::verify;
use p2pfs::net::bitswap::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Message::decode(&Bytes::copy_from_slice(data)) else {
        return;
    };
    for (cid, bytes) in &m.blocks {
        verify(cid, bytes).expect("a decoded block hashes to its CID");
    }
    let enc = Bytes::from(m.encode());
    let again = Message::decode(&enc).expect("a re-encoded message decodes");
    assert_eq!(again, m);
    assert_eq!(again.encode(), enc, "the encoding is a fixed point");
});
