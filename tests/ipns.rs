//! IPNS between p2pfs daemons on 127.0.0.1: keys, `name publish` into the
//! DHT, `name resolve` from another node, updates, republishing.

mod common;
use common::{Daemon, p2pfs};
use std::os::unix::fs::PermissionsExt;
use std::process::Output;
use std::time::Duration;

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn fails(o: &Output, says: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains(says),
        "expected an error with {says:?}, got: {err}"
    );
}

#[test]
fn keys_are_kept_in_the_repo() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    ok(&p2pfs(&repo, &["init"]));
    let name = ok(&p2pfs(&repo, &["key", "gen", "blog"])).trim().to_string();
    assert!(name.starts_with("k51"), "{name}");
    let mode = std::fs::metadata(repo.join("keystore/blog"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    fails(&p2pfs(&repo, &["key", "gen", "blog"]), "already exists");
    fails(&p2pfs(&repo, &["key", "gen", "a/b"]), "invalid key name");
    fails(
        &p2pfs(&repo, &["key", "gen", "--type", "rsa", "x"]),
        "invalid value",
    );
    assert_eq!(ok(&p2pfs(&repo, &["key", "list"])), "self\nblog\n");
    let long = ok(&p2pfs(&repo, &["key", "list", "-l"]));
    assert!(long.contains(&format!("{name} blog")), "{long}");
    assert!(ok(&p2pfs(&repo, &["key", "rename", "blog", "site"])).contains(&name));
    assert_eq!(ok(&p2pfs(&repo, &["key", "list"])), "self\nsite\n");
    fails(&p2pfs(&repo, &["key", "rm", "self"]), "identity");
    fails(&p2pfs(&repo, &["key", "rm", "nope"]), "no key named");
    ok(&p2pfs(&repo, &["key", "rm", "site"]));
    assert_eq!(ok(&p2pfs(&repo, &["key", "list"])), "self\n");
    // Names need the network.
    fails(&p2pfs(&repo, &["name", "resolve", &name]), "no node is running");
}

fn add(d: &Daemon, data: &[u8]) -> String {
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("f"), data).unwrap();
    ok(&d.run(&["add", "-Q", src.path().join("f").to_str().unwrap()]))
        .trim()
        .to_string()
}

/// A publishes, B (which knows only C) resolves through the DHT.
#[test]
fn names_publish_and_resolve_across_the_dht() {
    let a = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let c = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let b = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let c_addr = c.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap();
    ok(&a.run(&["swarm", "connect", &c_addr]));
    ok(&b.run(&["swarm", "connect", &c_addr]));
    std::thread::sleep(Duration::from_millis(500)); // identify fills the routing tables

    let name = ok(&a.run(&["key", "gen", "site"])).trim().to_string();
    let v1 = add(&a, b"first version");
    let out = ok(&a.run(&["name", "publish", "--key", "site", &format!("/ipfs/{v1}")]));
    assert_eq!(out, format!("Published to {name}: /ipfs/{v1}\n"));
    assert_eq!(ok(&b.run(&["name", "resolve", &name])), format!("/ipfs/{v1}\n"));
    assert_eq!(
        ok(&b.run(&["cat", &format!("/ipns/{name}")])).as_bytes(),
        b"first version"
    );

    // An update: a higher sequence wins over the copy cached and stored.
    let v2 = add(&a, b"second version");
    ok(&a.run(&["name", "publish", "--key", "site", &format!("/ipfs/{v2}")]));
    assert_eq!(
        ok(&b.run(&["name", "resolve", "--nocache", &name])),
        format!("/ipfs/{v2}\n")
    );
    assert_eq!(
        ok(&c.run(&["name", "resolve", &format!("/ipns/{name}")])),
        format!("/ipfs/{v2}\n")
    );

    // The node's own name, a path inside, and a name pointing at a name.
    let self_name = ok(&a.run(&["name", "publish", &format!("/ipns/{name}")]));
    let self_name = self_name
        .split_whitespace()
        .nth(2)
        .unwrap()
        .trim_end_matches(':')
        .to_string();
    assert_eq!(
        ok(&b.run(&["name", "resolve", &self_name])),
        format!("/ipfs/{v2}\n")
    );

    // Bad input, clearly.
    fails(&a.run(&["name", "publish", "bafkqaaa"]), "cannot publish");
    fails(
        &a.run(&["name", "publish", "--key", "nope", &format!("/ipfs/{v1}")]),
        "no key named",
    );
    fails(
        &a.run(&["name", "publish", "--lifetime", "2d", &format!("/ipfs/{v1}")]),
        "not a duration",
    );
    let unknown = ok(&a.run(&["key", "gen", "unused"])).trim().to_string();
    fails(&b.run(&["name", "resolve", &unknown]), "no IPNS record found");
    fails(&b.run(&["name", "resolve", "notaname"]), "not an IPNS name");
}

/// A record living 4 s is still resolvable long after: the node re-signs
/// and puts it again while it runs.
#[test]
fn records_are_republished_before_they_expire() {
    let a = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let b = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let b_addr = b.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap();
    ok(&a.run(&["swarm", "connect", &b_addr]));
    std::thread::sleep(Duration::from_millis(500));
    let v = add(&a, b"short-lived");
    let out = ok(&a.run(&[
        "name",
        "publish",
        "--lifetime",
        "4s",
        "--ttl",
        "0s",
        &format!("/ipfs/{v}"),
    ]));
    let name = out
        .split_whitespace()
        .nth(2)
        .unwrap()
        .trim_end_matches(':')
        .to_string();
    std::thread::sleep(Duration::from_secs(9));
    assert_eq!(
        ok(&b.run(&["name", "resolve", "--nocache", &name])),
        format!("/ipfs/{v}\n")
    );
    // Stopped, the record expires everywhere: an expired record is refused by name.
    drop(a);
    std::thread::sleep(Duration::from_secs(5));
    let o = b.run(&["name", "resolve", "--nocache", &name]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && (err.contains("expired") || err.contains("no IPNS record found")),
        "{err}"
    );
}

/// A mounted node on a new repo (no gateway).
fn mounted() -> Daemon {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    ok(&p2pfs(&repo, &["init"]));
    let cfg = repo.join("config.toml");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(r#"listen = ["127.0.0.1:8080"]"#, "listen = []");
    std::fs::write(&cfg, text).unwrap();
    Daemon::run_in(tmp, &["/ip4/127.0.0.1/tcp/0"], true)
}

fn xattr_cid(p: &std::path::Path) -> String {
    let o = std::process::Command::new("getfattr")
        .args(["--only-values", "-n", "user.p2pfs.cid"])
        .arg(p)
        .output()
        .unwrap();
    ok(&o)
}

/// `ipns/` in the mount: our own names by key name, a peer's by its name,
/// re-resolved when the TTL runs out; read-only; the CID as an xattr.
#[test]
fn ipns_names_in_the_mount() {
    if !common::mount::fuse_available() {
        return;
    }
    let a = mounted();
    let b = mounted();
    let b_addr = b.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap();
    ok(&a.run(&["swarm", "connect", &b_addr]));
    std::thread::sleep(Duration::from_millis(500));
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("v1")).unwrap();
    std::fs::write(src.path().join("v1/page.txt"), b"one\n").unwrap();
    let v1 = ok(&a.run(&["add", "-r", "-Q", src.path().join("v1").to_str().unwrap()]))
        .trim()
        .to_string();
    let name = ok(&a.run(&["key", "gen", "blog"])).trim().to_string();
    ok(&a.run(&[
        "name",
        "publish",
        "--key",
        "blog",
        "--ttl",
        "1s",
        &format!("/ipfs/{v1}"),
    ]));

    // Ours, by key name; listed.
    let a_ipns = a.mnt().join("ipns");
    assert_eq!(std::fs::read(a_ipns.join("blog/page.txt")).unwrap(), b"one\n");
    let listed: Vec<String> = std::fs::read_dir(&a_ipns)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(listed, vec!["blog".to_string()]);
    assert_eq!(xattr_cid(&a_ipns.join("blog")), v1);
    // Read-only.
    assert!(std::fs::write(a_ipns.join("blog/new.txt"), b"x").is_err());

    // B reads A's name through the DHT; an update shows after the TTL.
    let b_dir = b.mnt().join("ipns").join(&name);
    assert_eq!(std::fs::read(b_dir.join("page.txt")).unwrap(), b"one\n");
    std::fs::create_dir_all(src.path().join("v2")).unwrap();
    std::fs::write(src.path().join("v2/page.txt"), b"two\n").unwrap();
    let v2 = ok(&a.run(&["add", "-r", "-Q", src.path().join("v2").to_str().unwrap()]))
        .trim()
        .to_string();
    ok(&a.run(&[
        "name",
        "publish",
        "--key",
        "blog",
        "--ttl",
        "1s",
        &format!("/ipfs/{v2}"),
    ]));
    common::eventually("B's mount shows the new version", || {
        std::fs::read(b_dir.join("page.txt")).is_ok_and(|d| d == b"two\n")
    });
    assert_eq!(xattr_cid(&b_dir), v2);
    assert!(std::fs::metadata(b.mnt().join("ipns/notaname")).is_err());
}

/// A live folder: a name that follows files/site is republished when a
/// checkpoint changes the folder, and a friend's mount sees the new version.
#[test]
fn a_followed_folder_is_republished_when_it_changes() {
    if !common::mount::fuse_available() {
        return;
    }
    let a = mounted();
    let b = mounted();
    let b_addr = b.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap();
    ok(&a.run(&["swarm", "connect", &b_addr]));
    std::thread::sleep(Duration::from_millis(500));
    let site = a.mnt().join("files/site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("page.txt"), b"one\n").unwrap();
    let name = ok(&a.run(&["key", "gen", "live"])).trim().to_string();
    fails(
        &a.run(&["name", "publish", "--follow", "--key", "live", "/ipfs/bafkqaaa"]),
        "--follow needs",
    );
    ok(&a.run(&[
        "name",
        "publish",
        "--follow",
        "--key",
        "live",
        "--ttl",
        "1s",
        "/files/site",
    ]));
    let b_page = b.mnt().join("ipns").join(&name).join("page.txt");
    assert_eq!(std::fs::read(&b_page).unwrap(), b"one\n");

    std::fs::write(site.join("page.txt"), b"two\n").unwrap();
    ok(&a.run(&["files", "flush"]));
    // Republished within the 10 s gap after the first publish, then seen
    // after the 1 s TTL.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::fs::read(&b_page).ok().as_deref() != Some(&b"two\n"[..]) {
        assert!(
            std::time::Instant::now() < deadline,
            "B never saw the folder's new version"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let resolved = ok(&b.run(&["name", "resolve", "--nocache", &name]));
    assert_eq!(resolved, ok(&a.run(&["name", "resolve", &name])));
}

/// `routing get/put` of IPNS records: a bad signature, an expired record, a
/// lower sequence, one over 10 KiB or another name's are refused by name.
#[test]
fn bad_records_are_rejected_with_clear_errors() {
    let a = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let b = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let b_addr = b.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap();
    ok(&a.run(&["swarm", "connect", &b_addr]));
    std::thread::sleep(Duration::from_millis(500));
    let name = ok(&a.run(&["key", "gen", "site"])).trim().to_string();
    let key = format!("/ipns/{name}");
    ok(&a.run(&[
        "name",
        "publish",
        "--key",
        "site",
        &format!("/ipfs/{}", add(&a, b"v1")),
    ]));
    let old = b.run(&["routing", "get", &key]);
    ok_bytes(&old);
    let dir = tempfile::tempdir().unwrap();
    let file = |n: &str, bytes: &[u8]| {
        let p = dir.path().join(n);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_string()
    };
    let old_file = file("old", &old.stdout);
    // The same record again is accepted.
    assert!(ok(&b.run(&["routing", "put", &key, &old_file])).contains("stored at"));

    ok(&a.run(&[
        "name",
        "publish",
        "--key",
        "site",
        &format!("/ipfs/{}", add(&a, b"v2")),
    ]));
    fails(
        &b.run(&["routing", "put", &key, &old_file]),
        "lower than the 1 already known",
    );

    let mut bad = old.stdout.clone();
    let sig = bad.windows(2).position(|w| w == [0x42, 0x40]).unwrap() + 2;
    bad[sig] ^= 1;
    fails(
        &b.run(&["routing", "put", &key, &file("badsig", &bad)]),
        "signature is invalid",
    );
    fails(
        &b.run(&["routing", "put", &key, &file("big", &vec![0u8; 10 * 1024 + 1])]),
        "over the limit of 10 KiB",
    );
    let other = ok(&a.run(&["key", "gen", "other"])).trim().to_string();
    fails(
        &b.run(&["routing", "put", &format!("/ipns/{other}"), &old_file]),
        "signature is invalid",
    );

    let short = ok(&a.run(&["key", "gen", "short"])).trim().to_string();
    ok(&a.run(&[
        "name",
        "publish",
        "--key",
        "short",
        "--lifetime",
        "2s",
        &format!("/ipfs/{}", add(&a, b"v3")),
    ]));
    let rec = b.run(&["routing", "get", &format!("/ipns/{short}")]);
    let rec_file = file("short", &ok_bytes(&rec));
    std::thread::sleep(Duration::from_secs(3));
    fails(
        &b.run(&["routing", "put", &format!("/ipns/{short}"), &rec_file]),
        "expired",
    );
}

fn ok_bytes(o: &Output) -> Vec<u8> {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout.clone()
}
