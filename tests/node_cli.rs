//! Commands about the running node and its peers (`id PEER`, `swarm addrs`,
//! `swarm disconnect`, `routing findpeer`, `stats bw`, `stats repo`,
//! `shutdown`) and the systemd readiness notification, with daemons as
//! processes on 127.0.0.1 (real sockets).

mod common;
use common::{Daemon, noise, p2pfs};
use std::process::Output;

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn failed(out: &Output) -> String {
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn peer_id(d: &Daemon) -> String {
    d.id()["ID"].as_str().unwrap().to_string()
}

fn tcp_addr(d: &Daemon) -> String {
    d.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap()
}

/// A and B know only C; B finds A through the DHT, asks who it is, lists
/// what it knows, disconnects.
#[test]
fn peers_are_found_identified_listed_and_disconnected() {
    let (a, b, c) = (
        Daemon::start(&["/ip4/127.0.0.1/tcp/0"]),
        Daemon::start(&["/ip4/127.0.0.1/tcp/0"]),
        Daemon::start(&["/ip4/127.0.0.1/tcp/0"]),
    );
    let (a_id, c_id) = (peer_id(&a), peer_id(&c));
    ok(&a.run(&["swarm", "connect", &tcp_addr(&c)]));
    ok(&b.run(&["swarm", "connect", &tcp_addr(&c)]));
    // Our own PublicKey: base64 of the protobuf key (Ed25519: "CAESI…"), offline too.
    let a_key = a.id()["PublicKey"].as_str().unwrap().to_string();
    assert!(a_key.starts_with("CAESI"), "{a_key}");

    // findpeer: A's listen address, without /p2p, one per line.
    let a_tcp = tcp_addr(&a);
    let bare = a_tcp.strip_suffix(&format!("/p2p/{a_id}")).unwrap();
    let found = ok(&b.run(&["routing", "findpeer", &a_id]));
    assert!(found.lines().any(|l| l == bare), "{found}");
    let stranger = peer_id_of_new_repo();
    let err = failed(&b.run(&["routing", "findpeer", &stranger]));
    assert!(err.contains("not found"), "{err}");
    assert!(failed(&b.run(&["routing", "findpeer", "nonsense"])).contains("not a peer ID"));

    // id PEER of a connected peer, then of one only the DHT knows (dialed).
    let c_info = peer_info(&b, &c_id);
    assert_eq!(c_info["PublicKey"], c.id()["PublicKey"]);
    let a_info = peer_info(&b, &a_id);
    assert_eq!(a_info["PublicKey"].as_str(), Some(a_key.as_str()));
    let addrs: Vec<&str> = a_info["Addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(addrs.contains(&a_tcp.as_str()), "{addrs:?}");
    assert!(b.peers().contains(&a_id), "id PEER connected to it");
    let other = b.tmp.path().join("other");
    ok(&p2pfs(&other, &["init"]));
    assert!(failed(&p2pfs(&other, &["id", &a_id])).contains("needs the running node"));

    // swarm addrs: "<peer> (<n>)" then tab-indented addresses, sorted by peer.
    let listing = ok(&b.run(&["swarm", "addrs"]));
    let lines: Vec<&str> = listing.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with(&format!("{c_id} (")))
        .expect(&listing);
    let c_bare = tcp_addr(&c).replace(&format!("/p2p/{c_id}"), "");
    assert!(
        lines[at + 1..]
            .iter()
            .take_while(|l| l.starts_with('\t'))
            .any(|l| l[1..] == c_bare),
        "{listing}"
    );
    let local = ok(&b.run(&["swarm", "addrs", "local"]));
    let b_id = peer_id(&b);
    assert!(
        local
            .lines()
            .all(|l| l.starts_with("/ip4/127.0.0.1/") && !l.contains("/p2p/")),
        "{local}"
    );
    let with_id = ok(&b.run(&["swarm", "addrs", "local", "--id"]));
    assert!(
        with_id.lines().all(|l| l.ends_with(&format!("/p2p/{b_id}"))),
        "{with_id}"
    );

    // disconnect: a wrong address is no connection; /p2p/ID closes them all
    // and answers once they are closed (the DHT may dial the peer again
    // later, as in Kubo: "the disconnect is not permanent").
    let wrong = format!("/ip4/127.0.0.1/tcp/1/p2p/{a_id}");
    assert!(failed(&b.run(&["swarm", "disconnect", &wrong])).contains("no connection"));
    let out = ok(&b.run(&["swarm", "disconnect", &format!("/p2p/{a_id}")]));
    assert_eq!(out.trim(), format!("disconnect {a_id} success"));
    let err = failed(&b.run(&["swarm", "disconnect", &format!("/p2p/{stranger}")]));
    assert!(err.contains(&format!("not connected to {stranger}")), "{err}");
    // The full address of a connection closes that one.
    let out = ok(&b.run(&["swarm", "disconnect", &tcp_addr(&c)]));
    assert_eq!(out.trim(), format!("disconnect {c_id} success"));
}

fn peer_info(d: &Daemon, peer: &str) -> serde_json::Value {
    let out = ok(&d.run(&["id", peer]));
    // Kubo's layout: JSON indented with tabs.
    assert!(out.contains("\n\t\"ID\": "), "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ID"], peer);
    assert_eq!(v["AgentVersion"], format!("p2pfs/{}", env!("CARGO_PKG_VERSION")));
    let protocols = v["Protocols"].as_array().unwrap();
    assert!(protocols.iter().any(|p| p == "/ipfs/bitswap/1.2.0"), "{v}");
    v
}

fn peer_id_of_new_repo() -> String {
    let tmp = tempfile::tempdir().unwrap();
    ok(&p2pfs(tmp.path(), &["init"]));
    let v: serde_json::Value = serde_json::from_slice(&p2pfs(tmp.path(), &["id"]).stdout).unwrap();
    v["ID"].as_str().unwrap().to_string()
}

fn bw(d: &Daemon) -> serde_json::Value {
    serde_json::from_str(&ok(&d.run(&["stats", "bw", "--enc=json"]))).unwrap()
}

#[test]
fn bandwidth_counts_what_moved() {
    let a = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let b = Daemon::start(&["/ip4/127.0.0.1/udp/0/quic-v1"]);
    let src = tempfile::tempdir().unwrap();
    let data = noise(3, 1_500_000);
    std::fs::write(src.path().join("f"), &data).unwrap();
    let cid = ok(&a.run(&["add", "-Q", src.path().join("f").to_str().unwrap()]));
    let before = bw(&b);
    assert_eq!(before["TotalIn"], 0, "{before}");
    // TCP from B to A… and QUIC from A to B, both counted.
    ok(&b.run(&["swarm", "connect", &tcp_addr(&a)]));
    assert!(cat(&b, cid.trim()) == data);
    let after = bw(&b);
    let got = after["TotalIn"].as_u64().unwrap();
    assert!(got >= data.len() as u64, "{after}");
    assert!(after["TotalOut"].as_u64().unwrap() > 0, "{after}");
    assert!(bw(&a)["TotalOut"].as_u64().unwrap() >= data.len() as u64);
    let quic = b.addrs().into_iter().find(|x| x.contains("/quic-v1/")).unwrap();
    let c = Daemon::start(&["/ip4/127.0.0.1/udp/0/quic-v1"]);
    ok(&c.run(&["swarm", "connect", &quic]));
    assert!(cat(&c, cid.trim()) == data);
    assert!(bw(&c)["TotalIn"].as_u64().unwrap() >= data.len() as u64);
    // Kubo's text layout.
    let text = ok(&b.run(&["stats", "bw"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "Bandwidth", "{text}");
    assert!(
        lines[1].starts_with("TotalIn: ") && lines[1].ends_with("MB"),
        "{text}"
    );
    assert!(lines[2].starts_with("TotalOut: "), "{text}");
    assert!(
        lines[3].starts_with("RateIn: ") && lines[3].ends_with("/s"),
        "{text}"
    );
    assert!(
        lines[4].starts_with("RateOut: ") && lines[4].ends_with("/s"),
        "{text}"
    );
}

fn cat(d: &Daemon, cid: &str) -> Vec<u8> {
    let out = d.run(&["cat", cid]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn stats_repo_has_kubos_fields_offline_and_online() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    ok(&p2pfs(&repo, &["init"]));
    let f = tmp.path().join("f");
    std::fs::write(&f, noise(5, 600_000)).unwrap();
    ok(&p2pfs(&repo, &["add", "-Q", f.to_str().unwrap()]));
    let v: serde_json::Value =
        serde_json::from_str(&ok(&p2pfs(&repo, &["stats", "repo", "--enc=json"]))).unwrap();
    // 600,000 bytes: three 256 KiB leaves and a root.
    assert_eq!(v["NumObjects"], 4, "{v}");
    assert!(v["RepoSize"].as_u64().unwrap() >= 600_000, "{v}");
    assert_eq!(v["StorageMax"], 10u64 << 30, "{v}");
    assert_eq!(v["RepoPath"], repo.to_str().unwrap());
    assert!(v["Version"].as_str().unwrap().starts_with("p2pfs-repo@"), "{v}");
    let text = ok(&p2pfs(&repo, &["stats", "repo"]));
    let labels: Vec<&str> = text.lines().map(|l| &l[..12]).collect();
    assert_eq!(
        labels,
        [
            "NumObjects: ",
            "RepoSize:   ",
            "StorageMax: ",
            "RepoPath:   ",
            "Version:    "
        ],
        "{text}"
    );
    let human = ok(&p2pfs(&repo, &["stats", "repo", "-H", "--size-only"]));
    assert_eq!(human.lines().count(), 2, "{human}");
    assert!(
        human.starts_with("RepoSize:   ") && human.contains(" kB\n"),
        "{human}"
    );
    assert!(human.contains("StorageMax: 11 GB"), "{human}");
    // Through a running node: the same answer.
    let d = Daemon::run_in(tmp, &["/ip4/127.0.0.1/tcp/0"], false);
    let online: serde_json::Value =
        serde_json::from_str(&ok(&d.run(&["stats", "repo", "--enc=json"]))).unwrap();
    assert_eq!(online, v);
}

#[test]
fn shutdown_stops_a_daemon_and_a_mount_after_saving() {
    let tmp = tempfile::tempdir().unwrap();
    let out = p2pfs(&tmp.path().join("repo"), &["shutdown"]);
    assert!(failed(&out).contains("no daemon or mount is running"));
    let mut d = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    ok(&d.run(&["shutdown"]));
    // It returns once the node let go of the repo: the process is done.
    assert!(d.wait().success());
    assert!(!d.repo.join("api.sock").exists());
    assert!(failed(&d.run(&["shutdown"])).contains("nothing to stop"));

    // A mount: a file written through it is saved, the mount is gone.
    let tmp = d.stop();
    let mut m = Daemon::run_in(tmp, &["/ip4/127.0.0.1/tcp/0"], true);
    let file = m.mnt().join("files/kept.txt");
    std::fs::write(&file, b"saved at shutdown\n").unwrap();
    ok(&m.run(&["shutdown"]));
    assert!(m.wait().success());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(m.mnt().to_str().unwrap()), "still mounted");
    let read = ok(&m.run(&["files", "read", "/kept.txt"]));
    assert_eq!(read, "saved at shutdown\n");
}

/// Under systemd (`Type=notify`): READY=1 once listening and serving the
/// control socket, STOPPING=1 on SIGTERM, with the node saved and gone.
#[test]
fn readiness_is_told_to_notify_socket() {
    use std::os::unix::net::UnixDatagram;
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    ok(&p2pfs(&repo, &["init"]));
    let sock_path = tmp.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    // A bound on the wait, not a timing assertion: a node that never says
    // it is ready fails here instead of hanging the suite.
    sock.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let mut child = Reaped(
        std::process::Command::new(env!("CARGO_BIN_EXE_p2pfs"))
            .args(["daemon", "--listen", "/ip4/127.0.0.1/tcp/0"])
            .env("P2PFS_PATH", &repo)
            .env("NOTIFY_SOCKET", &sock_path)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).expect("no READY=1 from the daemon");
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(msg.lines().any(|l| l == "READY=1"), "{msg}");
    // Ready means ready: the control socket answers at once.
    let id: serde_json::Value = serde_json::from_str(&ok(&p2pfs(&repo, &["id"]))).unwrap();
    assert!(!id["Addresses"].as_array().unwrap().is_empty(), "{id}");
    let pid = nix::unistd::Pid::from_raw(child.0.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let n = sock.recv(&mut buf).expect("no STOPPING=1 from the daemon");
    assert!(
        String::from_utf8_lossy(&buf[..n])
            .lines()
            .any(|l| l == "STOPPING=1")
    );
    assert!(child.0.wait().unwrap().success(), "SIGTERM is a clean stop");
    assert!(!repo.join("api.sock").exists());
}

/// A daemon started by hand, killed if the test fails before it exits.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if !matches!(self.0.try_wait(), Ok(Some(_))) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
