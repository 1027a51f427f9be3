//! Messages for the mistakes people make (issue 15): a typo in the repo
//! path, a lost identity, an incomplete DAG exported, a directory where a
//! file is meant, a provide that reached nobody. Real processes, temp repos.

mod common;

use common::cli::{Env, path};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

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
