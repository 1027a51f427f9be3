//! dag-pb: arbitrary bytes decode to a node or an error, never a panic; a
//! decoded node re-encodes canonically and decodes to the same node.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p2pfs::block::{DAG_PB, cid_v1};
use p2pfs::unixfs::pb::{PbNode, links_of};
use p2pfs::wire::varint_len;

fuzz_target!(|data: &[u8]| {
    let _ = links_of(&cid_v1(DAG_PB, data), data);
    let Ok(node) = PbNode::decode(data) else {
        return;
    };
    let enc = node.encode();
    let again = PbNode::decode(&enc).expect("a re-encoded node decodes");
    assert_eq!(again, node);
    assert_eq!(again.encode(), enc, "the canonical encoding is a fixed point");
    let data_len = node
        .data
        .as_ref()
        .map_or(0, |d| 1 + varint_len(d.len() as u64) + d.len());
    let links_len: usize = node.links.iter().map(|l| l.encoded_len()).sum();
    assert_eq!(links_len + data_len, enc.len(), "encoded_len adds up");
});
