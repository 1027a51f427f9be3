//! A node stays in the network: the connection manager keeps quiet
//! connections, trims above its marks, redials bootstrap peers, and falls
//! back on peers saved from earlier runs. Real daemons on 127.0.0.1.

mod common;
use common::{Daemon, eventually, noise};
use std::time::Duration;

const L: &str = "/ip4/127.0.0.1/tcp/0";

/// A TCP port free right now on 127.0.0.1 (for a node that must come back
/// on the same address).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tcp_addr(d: &Daemon) -> String {
    d.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap()
}

fn add(d: &Daemon, seed: u32, len: usize) -> (String, Vec<u8>) {
    let data = noise(seed, len);
    let f = d.tmp.path().join(format!("f{seed}"));
    std::fs::write(&f, &data).unwrap();
    let out = d.run(&["add", "-Q", f.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (String::from_utf8(out.stdout).unwrap().trim().to_string(), data)
}

fn conns(d: &Daemon) -> serde_json::Value {
    let out = d.run(&["stats", "swarm", "--enc", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Marks so low that every connection not protected is trimmed after 1 s.
fn strict(c: String) -> String {
    c.replace("low = 32", "low = 0")
        .replace("high = 96", "high = 0")
        .replace("grace = \"20s\"", "grace = \"1s\"")
}

#[test]
fn a_quiet_node_keeps_its_bootstrap_peer_and_finds_it_again_after_a_restart() {
    let port = free_port();
    let a_listen = format!("/ip4/127.0.0.1/tcp/{port}");
    let a = Daemon::start(&[&a_listen]);
    let (cid, data) = add(&a, 3, 3_000_000);
    let a_addr = tcp_addr(&a);
    let a_id = a.id()["ID"].as_str().unwrap().to_string();
    let b_tmp = tempfile::tempdir().unwrap();
    let repo = b_tmp.path().join("repo");
    assert!(common::p2pfs(&repo, &["init"]).status.success());
    let cfg = repo.join("config.toml");
    let text = strict(std::fs::read_to_string(&cfg).unwrap())
        .replace("bootstrap = []", &format!("bootstrap = [\"{a_addr}\"]"));
    std::fs::write(&cfg, text).unwrap();
    let b = Daemon::run_in(b_tmp, &[L], true);
    eventually("B dials its bootstrap peer A", || b.peers().contains(&a_id));
    // A third node that B did not ask for: above B's marks, trimmed.
    let c = Daemon::start(&[L]);
    let c_id = c.id()["ID"].as_str().unwrap().to_string();
    assert!(c.run(&["swarm", "connect", &tcp_addr(&b)]).status.success());
    eventually("B trims C (above its high water mark, not protected)", || {
        !b.peers().contains(&c_id)
    });
    // Quiet for longer than the old idle timeout would allow at these
    // marks: A, a bootstrap peer, stays.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        b.peers().contains(&a_id),
        "B dropped its bootstrap peer: {}",
        b.peers()
    );
    let s = conns(&b);
    assert_eq!(s["Connected"], 1, "{s}");
    assert_eq!(s["Protected"], 1, "{s}");
    let out = b.run(&["cat", &cid]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, data);
    // A restarts on the same address: B's next read finds it again at once
    // (a read with no peer dials the bootstrap peers first).
    let a_tmp = a.stop();
    eventually("B notices A is gone", || !b.peers().contains(&a_id));
    let a = Daemon::run_in(a_tmp, &[&a_listen], false);
    let (cid2, data2) = add(&a, 4, 700_000);
    let out = b.run(&["cat", &cid2]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, data2);
    // And through the mount, after A restarted once more.
    let a_tmp = a.stop();
    eventually("B notices A is gone again", || !b.peers().contains(&a_id));
    let a = Daemon::run_in(a_tmp, &[&a_listen], false);
    let (cid3, data3) = add(&a, 5, 900_000);
    let read = std::fs::read(b.mnt().join("ipfs").join(&cid3)).unwrap();
    assert!(read == data3, "mount read gave {} bytes", read.len());
}

#[test]
fn saved_peers_bring_a_node_back_when_its_bootstrap_peer_is_gone() {
    let x = Daemon::start(&[L]);
    let x_addr = tcp_addr(&x);
    let a = Daemon::start(&[L]);
    let a_id = a.id()["ID"].as_str().unwrap().to_string();
    let (cid, data) = add(&a, 9, 600_000);
    let b = Daemon::start_with(&[L], |c| {
        c.replace("bootstrap = []", &format!("bootstrap = [\"{x_addr}\"]"))
    });
    assert!(b.run(&["swarm", "connect", &tcp_addr(&a)]).status.success());
    // A clean stop saves the peers B was connected to.
    let b_tmp = b.stop();
    let b_repo = b_tmp.path().join("repo");
    let saved = String::from_utf8(common::p2pfs(&b_repo, &["bootstrap", "saved"]).stdout).unwrap();
    assert!(saved.contains(&a_id), "saved: {saved}");
    // The only bootstrap peer is gone for good: B reaches A through its
    // saved peers.
    drop(x);
    let b = Daemon::run_in(b_tmp, &[L], false);
    eventually("B dials its saved peer A", || b.peers().contains(&a_id));
    let out = b.run(&["cat", &cid]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, data);
    // Cleared, nothing is left to fall back on.
    let out = b.run(&["bootstrap", "saved", "--clear"]);
    assert!(out.status.success());
    assert!(b.run(&["bootstrap", "saved"]).stdout.is_empty());
}

#[test]
fn a_node_offered_many_peers_stays_between_its_marks() {
    let b = Daemon::start_with(&[L], |c| {
        c.replace("low = 32", "low = 4")
            .replace("high = 96", "high = 8")
            .replace("grace = \"20s\"", "grace = \"1s\"")
    });
    let b_addr = tcp_addr(&b);
    let many: Vec<Daemon> = (0..16).map(|_| Daemon::start(&[L])).collect();
    for d in &many {
        assert!(d.run(&["swarm", "connect", &b_addr]).status.success());
    }
    let n = |b: &Daemon| conns(b)["Connected"].as_u64().unwrap();
    assert!(n(&b) > 8, "all 16 connected first: {}", conns(&b));
    eventually("B trims down to its marks", || (4..=8).contains(&n(&b)));
    std::thread::sleep(Duration::from_secs(2));
    let s = conns(&b);
    assert!((4..=8).contains(&s["Connected"].as_u64().unwrap()), "{s}");
}
