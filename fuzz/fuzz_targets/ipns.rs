//! IPNS records: parsing never panics; a parsed record keeps its bytes;
//! validating it against its signer's name (or another) never panics, and
//! a record that validates still parses from its own bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p2pfs::ipns::{Name, Record};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fuzz_target!(|data: &[u8]| {
    let Ok(r) = Record::parse(data) else {
        return;
    };
    assert_eq!(r.to_bytes(), data);
    let _ = r.value_str();
    // The name of the JS vectors' key and a fixed time: most inputs fail
    // here, but every path of `validate` runs without panicking.
    let name = Name::parse("bafzaajaiaejcaresyouivydg55tng3zw5yv6ib4745ai3i6voknu7feyelqe6ouv").expect("a valid name");
    let now: SystemTime = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    if r.validate(&name, now).is_ok() {
        assert_eq!(Record::parse(r.to_bytes()).as_ref(), Ok(&r));
    }
});
