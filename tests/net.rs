//! The libp2p node, with real sockets on 127.0.0.1: daemons started as
//! processes, driven through the CLI.

mod common;
use common::{Daemon, eventually, noise, p2pfs};
use std::process::Output;
use std::time::{Duration, Instant};

#[test]
fn id_is_kubo_shaped_offline_and_live() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(p2pfs(tmp.path(), &["init"]).status.success());
    let offline: serde_json::Value = serde_json::from_slice(&p2pfs(tmp.path(), &["id"]).stdout).unwrap();
    assert!(offline["ID"].as_str().unwrap().starts_with("12D3KooW"));
    assert_eq!(offline["Addresses"].as_array().unwrap().len(), 0);
    let d = Daemon::start(&["/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"]);
    let id = d.id();
    assert_eq!(id["AgentVersion"], format!("p2pfs/{}", env!("CARGO_PKG_VERSION")));
    let protocols: Vec<&str> = id["Protocols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for p in [
        "/ipfs/id/1.0.0",
        "/ipfs/ping/1.0.0",
        "/ipfs/kad/1.0.0",
        "/ipfs/bitswap/1.2.0",
        "/ipfs/bitswap/1.1.0",
        "/ipfs/bitswap/1.0.0",
    ] {
        assert!(protocols.contains(&p), "{protocols:?}");
    }
    let addrs = d.addrs();
    let me = id["ID"].as_str().unwrap();
    assert!(
        addrs
            .iter()
            .any(|a| a.starts_with("/ip4/127.0.0.1/tcp/") && a.ends_with(me)),
        "{addrs:?}"
    );
    assert!(addrs.iter().any(|a| a.contains("/quic-v1/")), "{addrs:?}");
}

#[test]
fn two_nodes_connect_over_tcp_and_quic() {
    let a = Daemon::start(&["/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"]);
    let b = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let c = Daemon::start(&["/ip4/127.0.0.1/udp/0/quic-v1"]);
    let a_id = a.id()["ID"].as_str().unwrap().to_string();
    let tcp = a.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap();
    let quic = a.addrs().into_iter().find(|x| x.contains("/quic-v1/")).unwrap();
    let out = b.run(&["swarm", "connect", &tcp]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("connected to {a_id}")
    );
    let out = c.run(&["swarm", "connect", &quic]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(b.peers().contains(&a_id));
    assert!(c.peers().contains(&a_id));
    let b_id = b.id()["ID"].as_str().unwrap().to_string();
    let a_peers = a.peers();
    assert!(a_peers.contains(&b_id), "{a_peers}");
}

#[test]
fn bad_dials_fail_clearly() {
    let d = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let me = d.id()["ID"].as_str().unwrap().to_string();
    // Port 1 on loopback: nothing listens.
    let out = d.run(&["swarm", "connect", &format!("/ip4/127.0.0.1/tcp/1/p2p/{me}")]);
    assert!(!out.status.success());
    let out = d.run(&["swarm", "connect", "/ip4/127.0.0.1/tcp/1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("/p2p/<peer ID>"));
    let out = d.run(&["swarm", "connect", "not-a-multiaddr"]);
    assert!(!out.status.success());
    // Without a daemon, swarm commands say what to do.
    let tmp = tempfile::tempdir().unwrap();
    assert!(p2pfs(tmp.path(), &["init"]).status.success());
    let out = p2pfs(tmp.path(), &["swarm", "peers"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("p2pfs daemon"));
}

#[test]
fn blocks_move_between_nodes_with_bitswap() {
    let a = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let b = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    // A tree with a multi-block file (leaves and a root node) and a small file.
    let src = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i * 13 % 256) as u8).collect();
    std::fs::create_dir_all(src.path().join("t/sub")).unwrap();
    std::fs::write(src.path().join("t/sub/big.bin"), &big).unwrap();
    std::fs::write(src.path().join("t/hello.txt"), b"hello\n").unwrap();
    let out = a.run(&["add", "-r", "-Q", src.path().join("t").to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let root = String::from_utf8(out.stdout).unwrap().trim().to_string();
    // B knows nothing of it yet, then connects to A and reads through Bitswap.
    let tcp = a.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap();
    assert!(b.run(&["swarm", "connect", &tcp]).status.success());
    let out = b.run(&["cat", &format!("{root}/sub/big.bin")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, big);
    // pin add fetches the whole DAG (reporting it); afterwards B has every block.
    let out = b.run(&["pin", "add", "--progress", &root]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(
        progress.contains(&format!("pinning {root}"))
            && progress.contains("fetched")
            && progress.contains("done"),
        "{progress}"
    );
    let v = b.run(&["pin", "verify"]);
    assert!(v.status.success() && String::from_utf8_lossy(&v.stdout).contains(&format!("{root} ok")));
    assert_eq!(b.run(&["cat", &format!("{root}/hello.txt")]).stdout, b"hello\n");
    // dag export of a DAG that is not local fetches it, like any read: a
    // third node exports it (from B or A) and the CAR is the one A writes.
    let c = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    assert!(c.run(&["swarm", "connect", &tcp]).status.success());
    let out = c.run(&["dag", "export", &root]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, a.run(&["dag", "export", &root]).stdout);
}

/// One provider serving more peers at once than it has answer slots for
/// at eight replies each (64 slots, src/net/server.rs): every fetcher gets
/// its bytes. (The hang this once risked, a worker waiting for a slot
/// while its finished writes held theirs, needs every worker at eight
/// writes at the same moment; loopback rarely lines that up, so the unit
/// test `a_worker_waiting_for_a_slot_settles_its_finished_writes` pins it.)
#[test]
fn one_provider_serves_ten_fetchers_at_once() {
    let a = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let data = common::noise(7, 8 << 20);
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("f"), &data).unwrap();
    let out = a.run(&["add", "-Q", src.path().join("f").to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let root = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let tcp = a.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap();
    let fetchers: Vec<Daemon> = (0..10)
        .map(|_| Daemon::start(&["/ip4/127.0.0.1/tcp/0"]))
        .collect();
    for f in &fetchers {
        assert!(f.run(&["swarm", "connect", &tcp]).status.success());
    }
    std::thread::scope(|s| {
        let cats: Vec<_> = fetchers
            .iter()
            .map(|f| s.spawn(|| f.run(&["cat", &root])))
            .collect();
        for c in cats {
            let out = c.join().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            assert!(out.stdout == data, "a fetcher got other bytes");
        }
    });
}

/// A new session asks its only peer, or among several a peer that
/// delivered blocks lately, for its first block straight away: one message
/// back (the block), not two (a HAVE for a want-have, then the block).
/// Counted by the fetcher's Bitswap stats (per peer: `--verbose`);
/// the file is one block of more than 1 KiB (smaller ones come back in
/// place of the HAVE anyway).
#[test]
fn a_new_read_asks_a_recent_provider_for_the_block_at_once() {
    let a = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let b = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let src = tempfile::tempdir().unwrap();
    let mut cids = Vec::new();
    for (i, name) in ["x", "y"].iter().enumerate() {
        std::fs::write(src.path().join(name), common::noise(i as u32 + 11, 10_000)).unwrap();
        let out = a.run(&["add", "-Q", src.path().join(name).to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        cids.push(String::from_utf8(out.stdout).unwrap().trim().to_string());
    }
    let tcp = a.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap();
    assert!(b.run(&["swarm", "connect", &tcp]).status.success());
    let messages = || -> u64 {
        let out = b.run(&["stats", "bitswap", "--enc=json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["MessagesReceived"].as_u64().unwrap()
    };
    // A is B's only peer: even the first read asks it for the block.
    let out = b.run(&["cat", &cids[0]]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        messages(),
        1,
        "the only peer should have been asked for the block"
    );
    // A third node joins B: now A is asked first because it delivered lately.
    let c = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let c_tcp = c.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap();
    assert!(b.run(&["swarm", "connect", &c_tcp]).status.success());
    let a_id = a.id()["ID"].as_str().unwrap().to_string();
    // Messages B received from A (its flow's count).
    let from_a = || -> u64 {
        let out = b.run(&["stats", "bitswap", "--verbose", "--enc=json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let flows = v["PeerFlows"].as_array().cloned().unwrap_or_default();
        flows
            .iter()
            .find(|f| f["Peer"] == a_id.as_str())
            .map_or(0, |f| f["MessagesReceived"].as_u64().unwrap())
    };
    let before = from_a();
    let out = b.run(&["cat", &cids[1]]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, common::noise(12, 10_000));
    // A late HAVE would land after the block: give it time to.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        from_a() - before,
        1,
        "A should have sent the block, without a HAVE first"
    );
}

#[test]
fn providers_are_found_through_the_dht() {
    let a = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let c = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let b = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let c_addr = c.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap();
    assert!(a.run(&["swarm", "connect", &c_addr]).status.success());
    assert!(b.run(&["swarm", "connect", &c_addr]).status.success());
    std::thread::sleep(Duration::from_millis(500)); // identify puts peers in the routing tables
    // A adds (and so provides) a file; B only knows C.
    let src = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..600_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(src.path().join("f.bin"), &data).unwrap();
    let out = a.run(&["add", "-Q", src.path().join("f.bin").to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cid = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let a_id = a.id()["ID"].as_str().unwrap().to_string();
    let provs = b.run(&["routing", "findprovs", &cid]);
    assert!(
        String::from_utf8_lossy(&provs.stdout).contains(&a_id),
        "{}",
        String::from_utf8_lossy(&provs.stderr)
    );
    let out = b.run(&["cat", &cid]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, data);
}

fn stat(d: &Daemon) -> serde_json::Value {
    serde_json::from_slice(&d.run(&["repo", "stat", "--json"]).stdout).unwrap()
}

#[test]
fn fetched_blocks_are_a_cache_with_a_size_limit() {
    let a = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    // B's cache holds 1 MiB; what it pins is kept whatever the limit.
    let b = Daemon::start_with(&["/ip4/127.0.0.1/tcp/0"], |c| {
        c.replace("cache_size = \"10GiB\"", "cache_size = \"1MiB\"")
    });
    assert_eq!(stat(&b)["StorageMax"], 1 << 20, "the config edit took");
    let src = tempfile::tempdir().unwrap();
    let add = |name: &str, len: u32, seed: u32| {
        let data = noise(seed, len as usize);
        std::fs::write(src.path().join(name), &data).unwrap();
        let out = a.run(&["add", "-Q", src.path().join(name).to_str().unwrap()]);
        assert!(out.status.success());
        (String::from_utf8(out.stdout).unwrap().trim().to_string(), data)
    };
    let (kept, kept_data) = add("kept.bin", 1_500_000, 7);
    // A file written into B's files/ counts as kept too.
    let (_, mine) = add("mine.bin", 1_200_000, 17);
    let w = b.run(&[
        "files",
        "write",
        "-e",
        "/mine.bin",
        src.path().join("mine.bin").to_str().unwrap(),
    ]);
    assert!(w.status.success(), "{}", String::from_utf8_lossy(&w.stderr));
    let (c1, d1) = add("c1.bin", 2_000_000, 11);
    let (c2, d2) = add("c2.bin", 2_000_000, 13);
    let tcp = a.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap();
    assert!(b.run(&["swarm", "connect", &tcp]).status.success());
    assert!(b.run(&["pin", "add", &kept]).status.success());
    assert_eq!(b.run(&["cat", &c1]).stdout, d1);
    assert_eq!(b.run(&["cat", &c2]).stdout, d2);
    // Eviction runs in the background: wait until the cache is back under
    // its limit (90% of it).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = stat(&b);
        let cache = s["CacheSize"].as_u64().unwrap();
        if cache <= 1 << 20 {
            break;
        }
        assert!(Instant::now() < deadline, "cache still {cache} bytes: {s}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The pinned file is whole without A; the least recently read (c1) went
    // first, so c2's last leaves are still here.
    drop(a);
    let v = b.run(&["pin", "verify"]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    assert_eq!(b.run(&["cat", &kept]).stdout, kept_data);
    assert_eq!(b.run(&["files", "read", "/mine.bin"]).stdout, mine);
    let out = b.run(&["cat", &c1]);
    assert!(
        !out.status.success(),
        "c1 was evicted and A is gone, yet cat gave {} bytes: {}; {}",
        out.stdout.len(),
        String::from_utf8_lossy(&out.stderr),
        stat(&b)
    );
}

#[test]
fn provide_strategies_decide_what_is_announced() {
    const L: &str = "/ip4/127.0.0.1/tcp/0";
    let strategy =
        |s: &'static str| move |c: String| c.replace("provide = \"all\"", &format!("provide = \"{s}\""));
    let c = Daemon::start(&[L]);
    let a = Daemon::start_with(&[L], strategy("roots"));
    let b = Daemon::start_with(&[L], strategy("pinned"));
    let d = Daemon::start(&[L]); // "all", the default
    let c_addr = c.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap();
    for n in [&a, &b, &d] {
        assert!(n.run(&["swarm", "connect", &c_addr]).status.success());
    }
    std::thread::sleep(Duration::from_millis(500));
    // One file of two chunks on every node; its first chunk is a raw leaf.
    let src = tempfile::tempdir().unwrap();
    let data = noise(99, 300_000);
    let (file, chunk) = (src.path().join("x.bin"), src.path().join("chunk.bin"));
    std::fs::write(&file, &data).unwrap();
    std::fs::write(&chunk, &data[..262_144]).unwrap();
    let cid_of = |out: Output| String::from_utf8(out.stdout).unwrap().trim().to_string();
    let leaf = cid_of(c.run(&["add", "-Q", "-n", chunk.to_str().unwrap()]));
    let root = cid_of(a.run(&["add", "-Q", file.to_str().unwrap()]));
    for n in [&b, &d] {
        let w = n.run(&["files", "write", "-e", "/x.bin", file.to_str().unwrap()]);
        assert!(w.status.success(), "{}", String::from_utf8_lossy(&w.stderr));
        assert!(n.run(&["files", "flush"]).status.success());
    }
    let id = |n: &Daemon| n.id()["ID"].as_str().unwrap().to_string();
    let provs = |cid: &str| String::from_utf8(c.run(&["routing", "findprovs", cid]).stdout).unwrap();
    eventually(
        "A (roots), B (pinned: files/) and D (all) provide the root",
        || {
            let p = provs(&root);
            [&a, &b, &d].iter().all(|n| p.contains(&id(n)))
        },
    );
    eventually("B and D provide the leaf", || {
        let p = provs(&leaf);
        p.contains(&id(&b)) && p.contains(&id(&d))
    });
    assert!(!provs(&leaf).contains(&id(&a)), "A announces roots only");
}

#[test]
fn bootstrap_peers_are_dialed_at_start_and_when_added() {
    const L: &str = "/ip4/127.0.0.1/tcp/0";
    let a = Daemon::start(&[L]);
    let a_addr = a.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap();
    let a_id = a.id()["ID"].as_str().unwrap().to_string();
    let b = Daemon::start_with(&[L], |c| {
        c.replace("bootstrap = []", &format!("bootstrap = [\"{a_addr}\"]"))
    });
    eventually("B dials its bootstrap peer A", || b.peers().contains(&a_id));
    // Added to a running node: dialed at once, and kept in config.toml.
    let c = Daemon::start(&[L]);
    let out = c.run(&["bootstrap", "add", &a_addr]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(c.peers().contains(&a_id));
    assert!(String::from_utf8_lossy(&c.run(&["bootstrap", "list"]).stdout).contains(&a_addr));
}

#[test]
fn a_block_nobody_has_is_an_error_after_the_timeout_not_a_hang() {
    const L: &str = "/ip4/127.0.0.1/tcp/0";
    let a = Daemon::start(&[L]);
    let b = Daemon::start_with(&[L], |c| {
        c.replace("fetch_timeout = \"30s\"", "fetch_timeout = \"2s\"")
    });
    let a_addr = a.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap();
    assert!(b.run(&["swarm", "connect", &a_addr]).status.success());
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("nowhere"), b"bytes that nobody stores").unwrap();
    let out = b.run(&["add", "-Q", "-n", src.path().join("nowhere").to_str().unwrap()]);
    let cid = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let t = Instant::now();
    let out = b.run(&["cat", &cid]);
    let took = t.elapsed();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("timed out") && err.contains(&cid), "{err}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "took {took:?}"
    );
}

/// A `p2pfs cat` run by the daemon for a client that goes away (killed,
/// or `| head` closed the pipe) stops fetching: its want is cancelled,
/// not kept for the 30 s fetch timeout.
#[test]
fn a_cat_whose_client_leaves_cancels_its_fetch() {
    const L: &str = "/ip4/127.0.0.1/tcp/0";
    let (a, b) = (Daemon::start(&[L]), Daemon::start(&[L]));
    let a_addr = a.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap();
    assert!(b.run(&["swarm", "connect", &a_addr]).status.success());
    let src = tempfile::tempdir().unwrap();
    std::fs::write(
        src.path().join("nowhere"),
        b"bytes that nobody has, wanted for 30 s",
    )
    .unwrap();
    let out = b.run(&["add", "-Q", "-n", src.path().join("nowhere").to_str().unwrap()]);
    let cid = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let wants = || {
        let out = b.run(&["stats", "bitswap", "--enc=json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["Wantlist"].as_array().map_or(usize::MAX, Vec::len)
    };
    let mut client = std::process::Command::new(env!("CARGO_BIN_EXE_p2pfs"))
        .args(["cat", &cid])
        .env("P2PFS_PATH", &b.repo)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    eventually("the daemon asks peers for the block", || wants() == 1);
    client.kill().unwrap();
    client.wait().unwrap();
    let t = Instant::now();
    eventually("the want is cancelled", || wants() == 0);
    assert!(t.elapsed() < Duration::from_secs(10), "took {:?}", t.elapsed());
}

#[test]
fn a_damaged_block_heals_from_a_peer_and_is_never_served() {
    const L: &str = "/ip4/127.0.0.1/tcp/0";
    let data = noise(21, 900_000);
    let a = Daemon::start(&[L]);
    let b = Daemon::start_with(&[L], |c| {
        c.replace("fetch_timeout = \"30s\"", "fetch_timeout = \"2s\"")
    });
    let mut cid = String::new();
    for d in [&a, &b] {
        let f = d.tmp.path().join("f.bin");
        std::fs::write(&f, &data).unwrap();
        let out = d.run(&["add", "-Q", f.to_str().unwrap()]);
        assert!(out.status.success());
        cid = String::from_utf8(out.stdout).unwrap().trim().to_string();
    }
    // B's copy is damaged on disk while B is down.
    let tmp = b.stop();
    let pack = tmp.path().join("repo/store/packs/pack-000000.dat");
    let mut bytes = std::fs::read(&pack).unwrap();
    bytes[100_000] ^= 0x40;
    std::fs::write(&pack, bytes).unwrap();
    let b = Daemon::run_in(tmp, &[L], false);
    // A peer of B alone never gets the damaged bytes (B says DONT_HAVE).
    let c = Daemon::start_with(&[L], |c| {
        c.replace("fetch_timeout = \"30s\"", "fetch_timeout = \"2s\"")
    });
    let b_addr = b.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap();
    assert!(c.run(&["swarm", "connect", &b_addr]).status.success());
    let out = c.run(&["cat", &cid]);
    assert!(
        !out.status.success(),
        "C got {} bytes from B's damaged copy",
        out.stdout.len()
    );
    // B reads it: the damaged leaf is fetched from A, verified, written back.
    let a_addr = a.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap();
    assert!(b.run(&["swarm", "connect", &a_addr]).status.success());
    let out = b.run(&["cat", &cid]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, data);
    let v = b.run(&["repo", "verify"]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    // And C, asking again, now gets it from B.
    assert_eq!(c.run(&["cat", &cid]).stdout, data);
}

#[test]
fn repo_verify_repair_fetches_good_copies() {
    const L: &str = "/ip4/127.0.0.1/tcp/0";
    let data = noise(22, 1_100_000);
    let a = Daemon::start(&[L]);
    let b = Daemon::start(&[L]);
    let mut cid = String::new();
    for d in [&a, &b] {
        let f = d.tmp.path().join("f.bin");
        std::fs::write(&f, &data).unwrap();
        cid = String::from_utf8(d.run(&["add", "-Q", f.to_str().unwrap()]).stdout)
            .unwrap()
            .trim()
            .to_string();
    }
    let tmp = b.stop();
    std::fs::remove_file(tmp.path().join("repo/store/packs/pack-000000.dat")).unwrap();
    let b = Daemon::run_in(tmp, &[L], false);
    let a_addr = a.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap();
    assert!(b.run(&["swarm", "connect", &a_addr]).status.success());
    let out = b.run(&["repo", "verify", "--repair"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("5 damaged, 5 repaired, 0 not"), "{text}");
    assert!(b.run(&["repo", "verify"]).status.success());
    drop(a);
    assert_eq!(b.run(&["cat", &cid]).stdout, data);
}

#[test]
fn a_provider_that_stops_sending_fails_the_read_within_the_timeout() {
    const L: &str = "/ip4/127.0.0.1/tcp/0";
    let a = Daemon::start(&[L]);
    let b = Daemon::start_with(&[L], |c| {
        c.replace("fetch_timeout = \"30s\"", "fetch_timeout = \"3s\"")
    });
    let f = a.tmp.path().join("f.bin");
    std::fs::write(&f, noise(31, 4_000_000)).unwrap();
    let cid = String::from_utf8(a.run(&["add", "-Q", f.to_str().unwrap()]).stdout)
        .unwrap()
        .trim()
        .to_string();
    let a_addr = a.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap();
    let a_id = a.id()["ID"].as_str().unwrap().to_string();
    assert!(b.run(&["swarm", "connect", &a_addr]).status.success());
    // A stops (its connection stays open: no error, just silence).
    a.signal(nix::sys::signal::Signal::SIGSTOP);
    let t = Instant::now();
    let out = b.run(&["cat", &cid]);
    let took = t.elapsed();
    a.signal(nix::sys::signal::Signal::SIGCONT);
    assert!(!out.status.success(), "read from a silent peer succeeded");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("timed out") && err.contains(&a_id),
        "the error names the peer asked: {err}"
    );
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(12),
        "took {took:?}"
    );
}

/// A TCP forwarder on 127.0.0.1 (a port-forward in front of a node): its
/// port, and how many connections it has passed on to `to`.
fn forwarder(to: u16) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::net::{TcpListener, TcpStream};
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let n = count.clone();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let Ok(s) = TcpStream::connect(("127.0.0.1", to)) else {
                continue;
            };
            n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            for (mut r, mut w) in [(c.try_clone().unwrap(), s.try_clone().unwrap()), (s, c)] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut r, &mut w);
                    let _ = w.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
    (port, count)
}

#[test]
fn announce_addresses_are_the_only_ones_told() {
    // A listens on port P and announces a forwarder's port F (config key).
    let p = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (f, through) = forwarder(p);
    let told = format!("/ip4/127.0.0.1/tcp/{f}");
    let a = Daemon::start_with(&[&format!("/ip4/127.0.0.1/tcp/{p}")], |c| {
        c.replace("announce = []", &format!("announce = [\"{told}\"]"))
    });
    let a_id = a.id()["ID"].as_str().unwrap().to_string();
    assert_eq!(a.addrs(), [format!("{told}/p2p/{a_id}")]);
    // A joins C and provides a file (its record at C); then B joins C and
    // reads the file: it learns A only through C (Identify, then the DHT),
    // so it dials what A told C.
    let c = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let c_addr = c.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap();
    assert!(a.run(&["swarm", "connect", &c_addr]).status.success());
    let src = tempfile::tempdir().unwrap();
    let data = noise(11, 300_000);
    std::fs::write(src.path().join("f"), &data).unwrap();
    let out = a.run(&["add", "-Q", src.path().join("f").to_str().unwrap()]);
    let cid = String::from_utf8(out.stdout).unwrap().trim().to_string();
    std::thread::sleep(Duration::from_millis(500)); // the record reaches C
    let b = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    assert!(b.run(&["swarm", "connect", &c_addr]).status.success());
    let out = b.run(&["cat", &cid]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, data);
    let peers = b.peers();
    assert!(
        peers.contains(&format!("{told}/p2p/{a_id}")),
        "B reached A not through {told}: {peers}"
    );
    assert!(through.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    // What A told C by Identify: C saves it at shutdown (peers.json).
    let c = c.stop();
    let saved: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(c.path().join("repo/peers.json")).unwrap()).unwrap();
    let of_a = saved
        .iter()
        .find(|x| x["id"] == a_id.as_str())
        .expect("C saved A");
    assert_eq!(of_a["addrs"], serde_json::json!([told]), "{saved:?}");
}

#[test]
fn announce_flag_replaces_the_config_and_bad_addresses_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::run_in_with(
        tmp,
        &["/ip4/127.0.0.1/tcp/0"],
        false,
        &[
            "--announce",
            "/ip4/203.0.113.7/tcp/4001",
            "--announce",
            "/dns4/p2pfs.example/tcp/443",
        ],
    );
    let me = d.id()["ID"].as_str().unwrap().to_string();
    assert_eq!(
        d.addrs(),
        [
            format!("/dns4/p2pfs.example/tcp/443/p2p/{me}"),
            format!("/ip4/203.0.113.7/tcp/4001/p2p/{me}")
        ]
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = p2pfs(tmp.path(), &["daemon", "--announce", "/ip4/0.0.0.0/tcp/4001"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("0.0.0.0 is not an address peers can dial"),
        "{err}"
    );
    assert!(p2pfs(tmp.path(), &["init"]).status.success());
    let cfg = tmp.path().join("config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("announce = []", "announce = [\"203.0.113.7:4001\"]"),
    )
    .unwrap();
    let out = p2pfs(tmp.path(), &["daemon", "--listen", "/ip4/127.0.0.1/tcp/0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("network.announce: '203.0.113.7:4001' is not a multiaddr"),
        "{err}"
    );
}

/// A listen port someone else holds (a running Kubo, say) is named as
/// such, with what to do; the daemon exits instead of running deaf.
#[test]
fn a_port_in_use_is_said_plainly() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    assert!(p2pfs(&repo, &["init"]).status.success());
    assert!(
        p2pfs(&repo, &["config", "--json", "gateway.listen", "[]"])
            .status
            .success()
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_p2pfs"))
        .args(["daemon", "--listen", &format!("/ip4/127.0.0.1/tcp/{port}")])
        .env("P2PFS_PATH", &repo)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the daemon kept running on a port in use");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success());
    assert!(
        err.contains(&format!(
            "cannot listen on /ip4/127.0.0.1/tcp/{port}: the port is in use"
        )),
        "{err}"
    );
    assert!(err.contains("--listen"), "{err}");
    drop(taken);
}
