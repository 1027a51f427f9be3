//! Pack/WAL records as re-indexed after a crash (`scan`) and by `repo
//! rebuild-index` (`scan_all`, which resyncs after damage): scanning
//! arbitrary bytes never panics and never reads past the file; every record
//! found is where it says (and for `scan_all` hashes to its multihash, in
//! order, without overlap); records appended again scan back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p2pfs::block::verify;
use p2pfs::fuzzing::{PackAppender, pack_scan, pack_scan_all};
use std::path::PathBuf;

fn scratch(name: &str) -> PathBuf {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("p2pfs-fuzz-{}-{name}", std::process::id()))
}

fuzz_target!(|data: &[u8]| {
    let path = scratch("in");
    std::fs::write(&path, data).expect("scratch file");
    let (records, end) = pack_scan(&path, 0).expect("scan of a readable file");
    assert!(end <= data.len() as u64);
    for r in &records {
        let at = r.offset as usize;
        assert_eq!(&data[at..at + r.data.len()], &r.data[..]);
    }
    let (all, skipped, len) = pack_scan_all(&path).expect("scan_all of a readable file");
    assert_eq!(len, data.len() as u64);
    assert!(skipped <= data.len() as u64);
    let mut next = 0;
    for r in &all {
        let at = r.offset as usize;
        assert!(
            at >= next + 6 + r.multihash.len(),
            "records in order, not overlapping"
        );
        assert_eq!(&data[at..at + r.data.len()], &r.data[..]);
        assert_eq!(&data[at - r.multihash.len()..at], &r.multihash[..]);
        let mh = cid::multihash::Multihash::<64>::from_bytes(&r.multihash).expect("a multihash");
        verify(&cid::Cid::new_v1(0x55, mh), &r.data).expect("a record found hashes to its multihash");
        next = at + r.data.len();
    }
    let out = scratch("out");
    let _ = std::fs::remove_file(&out);
    let mut app = PackAppender::open_file(&out, 0).expect("scratch log");
    for r in &records {
        app.append(&r.multihash, &r.data).expect("append");
    }
    let (again, end2) = pack_scan(&out, 0).expect("scan again");
    assert_eq!(end2, app.len);
    assert_eq!(again.len(), records.len());
    for (a, b) in again.iter().zip(&records) {
        assert_eq!((&a.multihash, &a.data), (&b.multihash, &b.data));
    }
    // Only sha2-256 records are stored; of those scan_all misses none.
    if records
        .iter()
        .all(|r| r.multihash.len() == 34 && r.multihash.starts_with(&[0x12, 0x20]))
    {
        let (all2, skipped2, _) = pack_scan_all(&out).expect("scan_all again");
        assert_eq!(skipped2, 0);
        assert_eq!(all2.len(), records.len());
        for (a, b) in all2.iter().zip(&records) {
            assert_eq!(
                (&a.multihash, &a.data, a.offset),
                (&b.multihash, &b.data, b.offset)
            );
        }
    }
    // The tail of a good prefix scans from where the prefix ended.
    let (_, end3) = pack_scan(&path, end).expect("scan from the end");
    assert_eq!(end3, end);
});
