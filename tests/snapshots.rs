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

#[test]
fn snapshots_are_browsable_read_only_and_restorable_with_cp() {
    let Some(mut m) = common::mount::Mount::new() else {
        return;
    };
    let (net, work) = (m.mnt.display().to_string(), m.work.display().to_string());
    m.sh(&format!(
        "cd '{net}/files' && mkdir d && echo one > d/a && chmod 600 d/a && \
         touch -d '2020-01-01 00:00:00 UTC' d/a && setfattr -n user.k -v v d/a && ln -s a d/l && \
         mkdir -p d/sub && head -c 700000 /dev/urandom > d/sub/big"
    ));
    let out = m.p2pfs(&["files", "snapshot", "--name", "one"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A copy made at that time, to compare the snapshot with later.
    m.sh(&format!("cp -a '{net}/files/d' '{work}/copy1'"));
    let cid_one = m.cid(&m.files().join("d"));
    m.sh(&format!(
        "cd '{net}/files' && echo two > d/a && chmod 644 d/a && rm d/l && echo new > d/b && \
         setfattr -x user.k d/a && rm -r d/sub"
    ));
    assert!(m.p2pfs(&["files", "snapshot", "--name", "two"]).status.success());
    let snaps = format!("{net}/snapshots");
    let ls = m.sh(&format!("ls '{snaps}'"));
    assert!(
        ls.lines().any(|l| l == "one") && ls.lines().any(|l| l == "two"),
        "{ls}"
    );
    assert!(ls.lines().any(|l| l.len() == 20 && l.ends_with('Z')), "{ls}");
    // files/ as it was: bytes, names, links (diff -r), modes and times.
    m.sh(&format!("diff -r '{snaps}/one/files/d' '{work}/copy1'"));
    m.sh(&format!("diff -r '{snaps}/two/files/d' '{net}/files/d'"));
    let st = m.sh(&format!(
        "stat -c '%a %Y %F' '{snaps}/one/files/d/a' '{snaps}/one/files/d/l'"
    ));
    let lines: Vec<&str> = st.lines().collect();
    assert_eq!(lines[0], "600 1577836800 regular file", "{st}");
    assert!(lines[1].ends_with("symbolic link"), "{st}");
    assert_eq!(
        m.sh(&format!(
            "getfattr --only-values -n user.k '{snaps}/one/files/d/a'"
        )),
        "v"
    );
    assert!(
        !m.sh(&format!("getfattr -d '{snaps}/two/files/d/a'"))
            .contains("user.k")
    );
    assert_eq!(
        m.cid(std::path::Path::new(&format!("{snaps}/one/files/d"))),
        cid_one
    );
    // Read-only.
    let err = m.sh(&format!(
        "touch '{snaps}/one/files/d/x' 2>&1 || true; rm '{snaps}/one/files/d/a' 2>&1 || true"
    ));
    assert_eq!(err.matches("Read-only file system").count(), 2, "{err}");
    // Restore is cp -a: the old version, its mode and times.
    m.sh(&format!("cp -a '{snaps}/one/files/d' '{net}/files/restored'"));
    m.sh(&format!("diff -r '{net}/files/restored' '{work}/copy1'"));
    assert_eq!(
        m.sh(&format!("stat -c '%a %Y' '{net}/files/restored/a'")),
        "600 1577836800\n"
    );
    // `files restore` links it back (no bytes copied), metadata included.
    let out = m.p2pfs(&["files", "restore", "one", "/d", "/d-back"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    m.sh(&format!("diff -r '{net}/files/d-back' '{work}/copy1'"));
    assert_eq!(
        m.sh(&format!("stat -c '%a %Y' '{net}/files/d-back/a'")),
        "600 1577836800\n"
    );
    assert_eq!(m.cid(&m.files().join("d-back")), cid_one);
    assert_eq!(
        m.sh(&format!(
            "getfattr --only-values -n user.k '{net}/files/d-back/a'"
        )),
        "v"
    );
    // Inodes live while the kernel knows them (needs root: drop_caches).
    let p = format!("{snaps}/one/files/d/sub/big");
    let ino = || m.sh(&format!("stat -c %i '{p}'")).trim().to_string();
    let first = ino();
    m.sh(&format!("ls -lR '{snaps}' > /dev/null"));
    assert_eq!(ino(), first);
    m.sh("sync; echo 2 > /proc/sys/vm/drop_caches");
    assert_ne!(ino(), first, "forgotten by the kernel, then by the view");
    // kill -9 loses no snapshot already recorded.
    let before = m.sh(&format!("ls '{snaps}'"));
    m.kill_and_remount();
    assert_eq!(m.sh(&format!("ls '{snaps}'")), before);
    m.sh(&format!("diff -r '{snaps}/one/files/d' '{work}/copy1'"));
}

#[test]
fn log_diff_and_restore_offline() {
    let r = Repo::new();
    let e = r.fails(&["files", "log", "/d"]);
    assert!(e.contains("no snapshots yet"), "{e}");
    r.ok(&["files", "mkdir", "/d"]);
    r.put("/d/a", b"1");
    r.put("/d/b", b"2");
    r.put("/d/a", b"3");
    r.ok(&["files", "rm", "/d/b"]);
    let s = r.names(); // mkdir, a=1, b=2, a=3, rm b
    assert_eq!(s.len(), 5, "{s:?}");
    let log = r.ok(&["files", "log", "/d/a"]);
    let lines: Vec<&str> = log.lines().map(|l| l.split("  ").next().unwrap()).collect();
    assert_eq!(lines, [s[3].as_str(), s[1].as_str()], "{log}");
    let log = r.ok(&["files", "log", "/files/d/b"]);
    assert!(log.lines().next().unwrap().ends_with("(removed)"), "{log}");
    assert_eq!(log.lines().count(), 2, "{log}");
    // A path no snapshot holds is an error, not an empty answer.
    let e = r.fails(&["files", "log", "/nope"]);
    assert!(e.contains("/files/nope is in none of the 5 snapshots"), "{e}");
    assert_eq!(
        r.ok(&["files", "diff", &s[1], &s[3]]),
        "M  /files/d/\nM  /files/d/a\n+  /files/d/b\n"
    );
    assert_eq!(r.ok(&["files", "diff", &s[1], "now", "/d"]), "M  /files/d/a\n");
    assert_eq!(r.ok(&["files", "diff", &s[4], "now"]), "");
    assert!(
        r.fails(&["files", "diff", "nope", "now"])
            .contains("no snapshot 'nope'")
    );
    // Restore: in place, and beside under another name.
    r.ok(&["files", "restore", &s[1], "/d/a"]);
    assert_eq!(r.run(&["files", "read", "/d/a"]).stdout, b"1");
    r.ok(&["files", "restore", &s[2], "/d/b", "/d/b2"]);
    assert_eq!(r.run(&["files", "read", "/d/b2"]).stdout, b"2");
    assert!(
        r.fails(&["files", "restore", &s[1], "/d/b"])
            .contains("not in snapshot")
    );
    // The replaced version is in a snapshot still.
    let log = r.ok(&["files", "log", "/d/a"]);
    assert_eq!(log.lines().count(), 3, "{log}");
}
