//! The UnixFS Data message: decode never panics; decode → encode → decode
//! gives the same value, and the encoding is a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p2pfs::unixfs::data::UnixFsData;

fuzz_target!(|data: &[u8]| {
    let Ok(d) = UnixFsData::decode(data) else {
        return;
    };
    let _ = d.file_size();
    let enc = d.encode();
    let again = UnixFsData::decode(&enc).expect("a re-encoded message decodes");
    assert_eq!(again, d);
    assert_eq!(again.encode(), enc, "the encoding is a fixed point");
});
