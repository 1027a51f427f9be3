//! The files/ journal: arbitrary bytes replay to some ops or none, never a
//! panic. The input is also read with every line given a valid checksum
//! (so the JSON parser behind the checksum is exercised), and the ops found
//! are written again and must read back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p2pfs::mfs::journal::{line, read_ops};

const GENERATION: u64 = 7;

fn header() -> String {
    line(&format!("{{\"generation\":{GENERATION}}}"))
}

fuzz_target!(|data: &[u8]| {
    let _ = read_ops(data, GENERATION);
    let text = String::from_utf8_lossy(data);
    let mut framed = header();
    for l in text.lines() {
        framed.push_str(&line(l));
    }
    let ops = read_ops(framed.as_bytes(), GENERATION).expect("a valid header is accepted");
    let mut again = header();
    for op in &ops {
        again.push_str(&line(&serde_json::to_string(op).expect("an op serializes")));
    }
    assert_eq!(read_ops(again.as_bytes(), GENERATION), Some(ops));
});
