//! Unit tests of the store: deletion under readers, recovery, damage.

use super::*;
use crate::block::{DAG_PB, RAW, cid_v1};

#[test]
fn deleted_space_is_freed_later_not_under_a_reader() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let cid = cid_v1(RAW, &big);
    let s = Store::open(dir.path()).unwrap();
    s.put(&cid, &big).unwrap();
    s.flush().unwrap();
    let allocated = || std::fs::metadata(s.packs.path(0)).unwrap().blocks();
    let before = allocated();
    assert_eq!(s.delete(&[cid.hash().to_bytes()]).unwrap().0, 1);
    assert!(!s.has(&cid).unwrap());
    // Still allocated: a read that looked the block up a moment ago
    // reads real bytes, not a hole.
    assert_eq!(allocated(), before);
    s.punch_holes(true);
    assert!(allocated() + 1500 < before, "{} -> {}", before, allocated());
}

#[test]
fn put_get_commit_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let small = b"small".to_vec();
    let big: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    let (cs, cb) = (cid_v1(RAW, &small), cid_v1(RAW, &big));
    {
        let s = Store::open(dir.path()).unwrap();
        s.put(&cs, &small).unwrap();
        s.put(&cb, &big).unwrap();
        assert_eq!(s.get(&cb).unwrap(), big, "readable before commit");
        s.flush().unwrap();
    }
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.get(&cs).unwrap(), small);
    assert_eq!(s.get(&cb).unwrap(), big);
    // Same multihash under another codec is the same block.
    let as_pb = Cid::new_v1(DAG_PB, *cb.hash());
    assert!(s.has(&as_pb).unwrap());
    assert_eq!(s.usage().unwrap().blocks, 2);
}

/// Simulates a killed process: blocks put but never committed.
fn kill(s: Store) {
    let mut p = s.lock();
    p.appender = None;
    p.wal = None;
    p.entries.clear();
    p.touched.clear();
    drop(p);
    s.touches.lock().unwrap().clear();
    drop(s); // pending is empty: Drop commits nothing
}

#[test]
fn uncommitted_puts_survive_a_killed_process() {
    let dir = tempfile::tempdir().unwrap();
    let (big, small) = (vec![7u8; 50_000], b"small block".to_vec());
    let (cb, cs) = (cid_v1(RAW, &big), cid_v1(RAW, &small));
    {
        let s = Store::open(dir.path()).unwrap();
        s.put(&cb, &big).unwrap();
        s.put(&cs, &small).unwrap();
        kill(s);
    }
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.get(&cb).unwrap(), big);
    assert_eq!(s.get(&cs).unwrap(), small);
}

#[test]
fn torn_append_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let big = vec![7u8; 50_000];
    let cid = cid_v1(RAW, &big);
    let committed_len;
    {
        let s = Store::open(dir.path()).unwrap();
        s.put(&cid, &big).unwrap();
        s.flush().unwrap();
        committed_len = std::fs::metadata(s.packs.path(0)).unwrap().len();
        // A record whose bytes do not match its hash, then garbage.
        let other = cid_v1(RAW, b"other");
        let mut p = s.lock();
        p.appender
            .as_mut()
            .unwrap()
            .append(&other.hash().to_bytes(), &[1u8; 1000])
            .unwrap();
        drop(p);
        kill(s);
    }
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(std::fs::metadata(s.packs.path(0)).unwrap().len(), committed_len);
    assert_eq!(s.get(&cid).unwrap(), big);
    assert_eq!(s.usage().unwrap().blocks, 1);
}

#[test]
fn delete_frees_and_forgets() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let big = vec![9u8; 300_000];
    let cid = cid_v1(RAW, &big);
    s.put(&cid, &big).unwrap();
    let (n, bytes) = s.delete(&[cid.hash().to_bytes()]).unwrap();
    assert_eq!((n, bytes), (1, 300_000));
    assert!(matches!(s.get(&cid), Err(BlockError::NotFound(_))));
}

#[test]
fn pins_roundtrip_and_never_downgrade() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let c = cid_v1(RAW, b"x");
    s.pin(&c, PinKind::Recursive).unwrap();
    s.pin(&c, PinKind::Direct).unwrap();
    assert_eq!(s.pins().unwrap(), vec![(c, PinKind::Recursive)]);
    assert_eq!(s.unpin(&c).unwrap(), Some(PinKind::Recursive));
    assert!(s.pins().unwrap().is_empty());
}

#[test]
fn garbage_index_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("index.redb"),
        b"this is not a redb file at all, not even close",
    )
    .unwrap();
    let err = Store::open(dir.path()).err().unwrap().to_string();
    assert!(err.contains("damaged"), "{err}");
}
