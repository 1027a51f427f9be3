//! Snapshots of files/: taken at checkpoints and on demand, listed,
//! removed, kept by GC until retention lets them go, kept by
//! rebuild-index; and (with a mount) browsed under snapshots/.

mod common;

use std::path::PathBuf;
use std::process::Output;

struct Repo {
    _tmp: tempfile::TempDir,
    repo: PathBuf,
    work: PathBuf,
}

impl Repo {
    fn new() -> Repo {
        let tmp = tempfile::tempdir().unwrap();
        let (repo, work) = (tmp.path().join("repo"), tmp.path().join("work"));
        std::fs::create_dir_all(&work).unwrap();
        let r = Repo {
            _tmp: tmp,
            repo,
            work,
        };
        r.ok(&["init"]);
        r
    }
    fn run(&self, args: &[&str]) -> Output {
        let out = common::p2pfs(&self.repo, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "p2pfs {args:?} panicked: {err}");
        out
    }
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "p2pfs {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "p2pfs {args:?} should fail");
        String::from_utf8(out.stderr).unwrap()
    }
    /// Writes `data` to files/ path `to` (replacing it).
    fn put(&self, to: &str, data: &[u8]) {
        let src = self.work.join("src");
        std::fs::write(&src, data).unwrap();
        self.ok(&[
            "files",
            "write",
            "--create",
            "--truncate",
            to,
            src.to_str().unwrap(),
        ]);
    }
    fn names(&self) -> Vec<String> {
        self.ok(&["files", "snapshot", "ls"])
            .lines()
            .map(|l| l.split("  ").next().unwrap().to_string())
            .collect()
    }
}

fn removed(gc: &str) -> u64 {
    // "removed N blocks, freed …"
    gc.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn is_time_name(n: &str) -> bool {
    n.len() == 20 && n.ends_with('Z') && !n.contains(':') && n.as_bytes()[10] == b'T'
}

#[test]
fn snapshots_are_taken_listed_removed_and_kept_by_gc_until_expired() {
    let r = Repo::new();
    r.put("/a.bin", &common::noise(1, 600_000));
    let names = r.names();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(is_time_name(&names[0]), "{names:?}");
    let out = r.ok(&["files", "snapshot", "--name", "v1"]);
    assert!(out.starts_with("v1  bafy"), "{out}");
    assert!(
        r.fails(&["files", "snapshot", "--name", "v1"])
            .contains("exists already")
    );
    assert!(
        r.fails(&["files", "snapshot", "--name", "9lives"])
            .contains("digit")
    );
    // Replaced: the old bytes are still in two snapshots.
    r.put("/a.bin", &common::noise(2, 600_000));
    assert_eq!(r.names().len(), 3);
    assert_eq!(removed(&r.ok(&["gc"])), 0);
    // Kept by rebuild-index.
    let before = r.ok(&["files", "snapshot", "ls"]);
    r.ok(&["repo", "rebuild-index"]);
    assert_eq!(r.ok(&["files", "snapshot", "ls"]), before);
    // Removed by name or time; a missing one is an error and removes nothing.
    let err = r.fails(&["files", "snapshot", "rm", "v1", "nope"]);
    assert!(err.contains("no snapshot 'nope'"), "{err}");
    assert_eq!(r.names().len(), 3);
    r.ok(&["files", "snapshot", "rm", "v1"]);
    // Retention that keeps only the newest: the next checkpoint expires
    // the first snapshot, and GC frees what only it kept.
    for k in ["keep_all", "hourly", "daily", "weekly"] {
        r.ok(&["config", &format!("snapshots.{k}"), ""]);
    }
    r.ok(&["files", "mkdir", "/d"]);
    assert_eq!(r.names().len(), 1);
    let gc = r.ok(&["gc"]);
    assert!(removed(&gc) >= 3, "{gc}");
    assert!(r.ok(&["files", "stat", "/a.bin"]).contains("Size: 600000"));
}

#[test]
fn bad_retention_is_refused() {
    let r = Repo::new();
    let err = r.fails(&["config", "snapshots.hourly", "forever"]);
    assert!(err.contains("snapshots.hourly"), "{err}");
}
