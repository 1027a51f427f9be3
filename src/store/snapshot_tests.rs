//! Snapshots in the store: metadata as it was at each, through renames,
//! removals, rebuild-index, log compaction and history pruning.

use super::*;
use crate::block::{RAW, cid_v1};

fn m(mode: u32) -> FileMeta {
    FileMeta::new(mode, 100, 0)
}

/// A sequence of checkpoints; returns each one's snapshot seq.
fn history(s: &Store) -> Vec<u64> {
    let root = |i: u8| cid_v1(RAW, &[i]);
    let steps: Vec<Vec<MetaChange>> = vec![
        vec![MetaChange::Set("d", m(0o755)), MetaChange::Set("d/a", m(0o644))],
        vec![
            MetaChange::Set("d/a", m(0o600)),
            MetaChange::Xattr("d/a", "user.a", Some(b"1")),
        ],
        vec![MetaChange::MoveTree("d", "e"), MetaChange::Set("e/b", m(0o640))],
        vec![MetaChange::RemoveTree("e/a"), MetaChange::Xattrs("e/b", &XB)],
        vec![MetaChange::Set("e/b", m(0o444)), MetaChange::Set("e/b", m(0o400))],
    ];
    let mut seqs = Vec::new();
    for (i, changes) in steps.iter().enumerate() {
        s.checkpoint_files(&root(i as u8), i as u64 + 1, changes, &Vec::new())
            .unwrap();
        seqs.push(s.snapshots().unwrap().last().unwrap().seq);
    }
    seqs
}

static XB: std::sync::LazyLock<Xattrs> =
    std::sync::LazyLock::new(|| Xattrs::from([("user.b".to_string(), b"2".to_vec())]));

/// What each snapshot must show: (snapshot index, path, mode or None).
const EXPECT: &[(usize, &str, Option<u32>)] = &[
    (0, "d", Some(0o755)),
    (0, "d/a", Some(0o644)),
    (0, "e/b", None),
    (1, "d/a", Some(0o600)),
    (2, "d/a", None),
    (2, "e/a", Some(0o600)),
    (2, "e/b", Some(0o640)),
    (2, "e", Some(0o755)),
    (3, "e/a", None),
    (3, "e/b", Some(0o640)),
    (4, "e/b", Some(0o400)),
];

fn check(s: &Store, seqs: &[u64], only: Option<&[usize]>) {
    for &(i, path, mode) in EXPECT {
        if only.is_some_and(|o| !o.contains(&i)) {
            continue;
        }
        let got = s.snapshot_meta(seqs[i], path).unwrap().map(|m| m.mode);
        assert_eq!(got, mode, "snapshot {i}, {path}");
    }
    let xa = |i: usize, p: &str| s.snapshot_xattrs(seqs[i], p).unwrap();
    if only.is_none_or(|o| o.contains(&0)) {
        assert!(xa(0, "d/a").is_empty());
    }
    if only.is_none_or(|o| o.contains(&2)) {
        assert_eq!(xa(2, "e/a")["user.a"], b"1");
        assert!(xa(2, "e/b").is_empty());
    }
    if only.is_none_or(|o| o.contains(&4)) {
        assert_eq!(xa(4, "e/b"), *XB);
    }
}

fn keep_all() -> Retention {
    Retention {
        all: 1 << 40,
        ..Retention::default()
    }
}

#[test]
fn each_snapshot_shows_the_metadata_it_saw() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.set_retention(keep_all());
    let seqs = history(&s);
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    assert_eq!(s.snapshots().unwrap().len(), 5);
    check(&s, &seqs, None);
    // Live metadata is unchanged by all this.
    assert_eq!(s.files_meta("e/b").unwrap().unwrap().mode, 0o400);
    assert!(s.files_meta("d/a").unwrap().is_none());
}

#[test]
fn snapshots_survive_rebuild_index_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let seqs = {
        let s = Store::open(dir.path()).unwrap();
        s.set_retention(keep_all());
        let seqs = history(&s);
        s.take_snapshot(Some("keep")).unwrap();
        seqs
    };
    let want = Store::open(dir.path()).unwrap().snapshots().unwrap();
    let r = rebuild_index(dir.path()).unwrap();
    assert_eq!(r.snapshots, 6);
    {
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.snapshots().unwrap(), want);
        check(&s, &seqs, None);
        // Compacted from this index, the log still rebuilds the same.
        s.log.compact(&s.log_state().unwrap()).unwrap();
    }
    rebuild_index(dir.path()).unwrap();
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.snapshots().unwrap(), want);
    check(&s, &seqs, None);
    // And a checkpoint after the compaction still records history.
    s.set_retention(keep_all());
    s.checkpoint_files(
        &cid_v1(RAW, b"z"),
        9,
        &[MetaChange::Set("e/b", m(0o777))],
        &Vec::new(),
    )
    .unwrap();
    drop(s);
    rebuild_index(dir.path()).unwrap();
    let s = Store::open(dir.path()).unwrap();
    check(&s, &seqs, None);
    assert_eq!(s.files_meta("e/b").unwrap().unwrap().mode, 0o777);
}

#[test]
fn pruning_drops_only_what_no_kept_snapshot_reads() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.set_retention(keep_all());
    let seqs = history(&s);
    let before = s.history_count().unwrap();
    let snaps = s.snapshots().unwrap();
    s.remove_snapshots(&[snaps[0].id, snaps[1].id]).unwrap();
    let dropped = s.prune_history().unwrap();
    assert!(dropped > 0 && dropped < before, "{dropped} of {before}");
    check(&s, &seqs, Some(&[2, 3, 4]));
    // Removing every snapshot leaves no history.
    let ids: Vec<u64> = s.snapshots().unwrap().iter().map(|x| x.id).collect();
    s.remove_snapshots(&ids).unwrap();
    s.prune_history().unwrap();
    assert_eq!(s.history_count().unwrap(), 0);
}

#[test]
fn retention_expires_at_checkpoints_and_names_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.set_retention(Retention {
        all: 0,
        hourly: 0,
        daily: 0,
        weekly: 0,
    });
    let root = |i: u8| cid_v1(RAW, &[i]);
    s.checkpoint_files(&root(1), 1, &[], &Vec::new()).unwrap();
    let named = s.take_snapshot(Some("release-1")).unwrap();
    assert!(s.take_snapshot(Some("release-1")).is_err(), "names are unique");
    assert!(
        s.take_snapshot(Some("2026-01-01")).is_err(),
        "times are not names"
    );
    assert!(s.take_snapshot(Some("a/b")).is_err());
    // Unnamed, of the state just snapshotted: the same one.
    assert_eq!(s.take_snapshot(None).unwrap().seq, 1);
    for i in 2..6 {
        s.checkpoint_files(&root(i), i as u64, &[], &Vec::new()).unwrap();
    }
    let left = s.snapshots().unwrap();
    assert_eq!(left.len(), 2, "{left:?}");
    assert_eq!(left[0], named);
    assert_eq!(left[1].root, root(5));
}

#[test]
fn utc_names_sort_and_have_no_colons() {
    assert_eq!(utc_name(0), "1970-01-01T00-00-00Z");
    assert_eq!(utc_name(1_796_124_600), "2026-12-01T11-30-00Z");
    assert_eq!(utc_name(951_782_400), "2000-02-29T00-00-00Z");
    assert_eq!(utc_name(-1), "1969-12-31T23-59-59Z");
}
