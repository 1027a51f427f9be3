//! Messages for the mistakes people make (issue 15): a typo in the repo
//! path, a lost identity, an incomplete DAG exported, a directory where a
//! file is meant, a provide that reached nobody. Real processes, temp repos.

mod common;

use common::cli::{Env, path};
use common::{Daemon, eventually};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `p2pfs ARGS` with `--repo DIR` rather than P2PFS_PATH.
fn with_repo_flag(e: &Env, dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_p2pfs"))
        .arg("--repo")
        .arg(dir)
        .args(args)
        .env_remove("P2PFS_PATH")
        .current_dir(&e.work)
        .output()
        .unwrap()
}

#[test]
fn a_missing_repo_is_an_error_never_a_new_repo() {
    let e = Env::bare();
    let f = e.write("f.txt", b"f\n");
    let cid = "bafkreiey5jxe6ilpf62lnh77tm5ejbbmhbugzjuf6p2v3remlu73ced34q";
    let commands: &[&[&str]] = &[
        &["add", path(&f)],
        &["cat", cid],
        &["ls", cid],
        &["id"],
        &["pin", "ls"],
        &["gc"],
        &["repo", "stat"],
        &["repo", "verify"],
        &["repo", "rebuild-index"],
        &["files", "ls", "/"],
        &["files", "mkdir", "/d"],
        &["config", "show"],
        &["bootstrap", "list"],
        &["key", "list"],
        &["block", "stat", cid],
        &["dag", "export", cid],
        &["swarm", "peers"],
    ];
    let where_ = e.repo.display().to_string();
    for args in commands {
        let err = e.fails(args);
        assert!(
            err.contains(&format!("no p2pfs repo at {where_}")) && err.contains("p2pfs init"),
            "{args:?}: {err}"
        );
        assert!(!e.repo.exists(), "{args:?} created the repo");
    }
    // The same through --repo, with a typo in an existing repo's name.
    let good = Env::new();
    let typo = good.repo.with_file_name("rpeo");
    let out = with_repo_flag(&e, &typo, &["files", "ls", "/"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("rpeo") && err.contains("p2pfs init"),
        "{err}"
    );
    assert!(!typo.exists());
    // A directory that is no repo stays untouched.
    let out = with_repo_flag(&e, &e.work, &["pin", "ls"]);
    assert!(!out.status.success());
    assert_eq!(std::fs::read_dir(&e.work).unwrap().count(), 1, "only f.txt");
    // Commands that need no repo run without one and make none.
    assert!(e.ok(&["version"]).starts_with("p2pfs version"));
    assert!(e.ok(&["version", "--all"]).contains("Repo store format"));
    assert_eq!(
        e.ok(&["cid", "base32", "QmPZ9gcCEpqKTo6aq61g2nXGUhM4iCL3ewB6LDXZCtioEB"])
            .trim(),
        "bafybeiasb5vpmaounyilfuxbd3lryvosl4yefqrfahsb2esg46q6tu6y5q"
    );
    assert!(!e.repo.exists(), "version or cid created the repo");
    // `init` creates it, then the commands work.
    assert!(e.ok(&["init"]).contains("initialized repo at"));
    let added = e.ok(&["add", "-Q", path(&f)]);
    assert_eq!(e.ok(&["cat", added.trim()]), "f\n");
}

#[test]
fn daemon_creates_a_repo_where_there_is_none() {
    let e = Env::bare();
    let mut d = Command::new(env!("CARGO_BIN_EXE_p2pfs"))
        .args(["daemon", "--listen", "/ip4/127.0.0.1/tcp/0"])
        .env("P2PFS_PATH", &e.repo)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(d.stderr.take().unwrap()));
    let first = lines.next().unwrap().unwrap();
    let _ = d.kill();
    let _ = d.wait();
    assert!(first.starts_with("initialized a new repo at"), "{first}");
    assert!(e.repo.join("config.toml").exists() && e.repo.join("identity.key").exists());
}

#[test]
fn a_lost_identity_is_an_error_and_replaced_only_when_asked() {
    let e = Env::new();
    let id = |e: &Env| {
        let v: serde_json::Value = serde_json::from_str(&e.ok(&["id"])).unwrap();
        v["ID"].as_str().unwrap().to_string()
    };
    let old = id(&e);
    let key = e.repo.join("identity.key");
    std::fs::remove_file(&key).unwrap();
    // Every way in refuses, the daemon too, and none writes a key.
    let daemon = Command::new(env!("CARGO_BIN_EXE_p2pfs"))
        .args(["daemon", "--listen", "/ip4/127.0.0.1/tcp/0"])
        .env("P2PFS_PATH", &e.repo)
        .output()
        .unwrap();
    let outs = [
        e.fails(&["id"]),
        e.fails(&["init"]),
        e.fails(&["pin", "ls"]),
        String::from_utf8(daemon.stderr).unwrap(),
    ];
    assert!(!daemon.status.success());
    for err in outs {
        assert!(
            err.contains(&format!("{} is missing", key.display()))
                && err.contains("restore the file from a backup")
                && err.contains("p2pfs init --new-identity"),
            "{err}"
        );
    }
    assert!(!key.exists(), "a new identity was written unasked");
    // Asked: a new identity, private, and only while the old one is gone.
    let out = e.run(&["init", "--new-identity"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrote a new identity"));
    let new = id(&e);
    assert_ne!(new, old);
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let err = e.fails(&["init", "--new-identity"]);
    assert!(
        err.contains(&format!("peer ID {new}")) && err.contains("only replaces a missing"),
        "{err}"
    );
    assert_eq!(id(&e), new);
    // A lost config.toml is said as such; `init` writes a default one and
    // keeps the identity.
    std::fs::remove_file(e.repo.join("config.toml")).unwrap();
    assert!(e.fails(&["id"]).contains("has no config.toml"));
    e.ok(&["init"]);
    assert_eq!(id(&e), new);
}

/// Adds `len` bytes of noise unpinned and removes its second leaf: the
/// root of a DAG with a block missing, and that block.
fn dag_missing_a_leaf(run: &dyn Fn(&[&str]) -> Output, file: &Path) -> (String, String) {
    std::fs::write(file, common::noise(3, 1_000_000)).unwrap();
    let out = run(&["add", "-Q", "--pin=false", path(file)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let root = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let refs = String::from_utf8(run(&["refs", &root]).stdout).unwrap();
    let leaf = refs.lines().nth(1).expect("a file of 4 chunks").to_string();
    assert!(run(&["block", "rm", &leaf]).status.success());
    (root, leaf)
}

/// `dag export` of that DAG fails, names the block, writes nothing; with
/// the block back it exports.
fn export_fails_whole(run: &dyn Fn(&[&str]) -> Output, file: &Path, why: &str) {
    let (root, leaf) = dag_missing_a_leaf(run, file);
    let out = run(&["dag", "export", &root]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "exit 0 for an incomplete DAG");
    assert!(
        out.stdout.is_empty(),
        "{} bytes of a partial CAR written",
        out.stdout.len()
    );
    assert!(err.contains(&leaf) && err.contains(why), "{err}");
    assert!(run(&["add", "-Q", "--pin=false", path(file)]).status.success());
    let out = run(&["dag", "export", &root]);
    assert!(out.status.success() && out.stdout.len() > 1_000_000);
}

#[test]
fn dag_export_of_an_incomplete_dag_writes_nothing() {
    let e = Env::new();
    let f = e.work.join("f.bin");
    export_fails_whole(&|a| e.run(a), &f, "not in the local store");
    // Through a daemon (no peers: the fetch fails at once).
    let d = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    export_fails_whole(&|a| d.run(a), &f, "no peer is connected");
}

#[test]
fn files_write_to_a_directory_names_it() {
    let e = Env::new();
    let src = e.write("src.txt", b"x\n");
    e.ok(&["files", "mkdir", "/d"]);
    for (target, named) in [("/d", "/files/d"), ("/files/d/", "/files/d"), ("/", "/files")] {
        for create in [false, true] {
            let mut args = vec!["files", "write", target, path(&src)];
            if create {
                args.insert(2, "--create");
            }
            let err = e.fails(&args);
            assert!(
                err.contains(&format!("{named} is a directory")),
                "{args:?}: {err}"
            );
            assert!(!err.contains("inode"), "{err}");
        }
    }
    assert_eq!(e.ok(&["files", "ls", "/d"]), "");
}

#[test]
fn repo_verify_counts_blocks_in_its_bar() {
    let e = Env::new();
    let f = e.write("f.bin", &common::noise(5, 3_000_000));
    e.ok(&["add", "-Q", path(&f)]);
    let stat: serde_json::Value = serde_json::from_str(&e.ok(&["repo", "stat", "--json"])).unwrap();
    let blocks = stat["NumObjects"].as_u64().unwrap();
    // The bar is drawn only on a terminal: script(1) gives it one.
    let cmd = format!("{} repo verify", env!("CARGO_BIN_EXE_p2pfs"));
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("P2PFS_PATH", &e.repo)
        .output()
        .expect("script(1) from util-linux runs the command on a terminal");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("/{blocks} blocks [")), "{text:?}");
    assert!(!text.contains("B/s") && !text.contains("KiB/"), "{text:?}");
}

#[test]
fn routing_provide_says_when_no_peer_took_it() {
    let a = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let b = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let src = tempfile::tempdir().unwrap();
    let f = src.path().join("f");
    std::fs::write(&f, b"provided once a peer listens\n").unwrap();
    let out = a.run(&["add", "-Q", path(&f)]);
    let cid = String::from_utf8(out.stdout).unwrap().trim().to_string();
    // Alone: no one took the record, and it says so.
    let out = a.run(&["routing", "provide", &cid]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && out.stdout.is_empty(), "{err}");
    assert!(
        err.contains(&format!("could not provide {cid}")) && err.contains("no DHT peer took"),
        "{err}"
    );
    // With B in its DHT, it provides, and B finds A as the provider.
    let b_addr = b.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap();
    assert!(a.run(&["swarm", "connect", &b_addr]).status.success());
    eventually("A's provide reaches B", || {
        let out = a.run(&["routing", "provide", &cid]);
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains(&format!("providing {cid}"))
    });
    let a_id = a.id()["ID"].as_str().unwrap().to_string();
    let provs = String::from_utf8(b.run(&["routing", "findprovs", &cid]).stdout).unwrap();
    assert!(provs.contains(&a_id), "{provs}");
}
