//! Output that a Kubo user's scripts parse: `ls`, `dag get`, `dag stat` in
//! Kubo's shapes, and `add` reading standard input (with and without a
//! daemon, which gets the client's stdin over the control socket).

mod common;

use common::{Daemon, p2pfs};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn ok(repo: &Path, args: &[&str]) -> String {
    let out = p2pfs(repo, args);
    assert!(
        out.status.success(),
        "p2pfs {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs p2pfs with `input` on its stdin.
fn piped(repo: &Path, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_p2pfs"))
        .args(args)
        .env("P2PFS_PATH", repo)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// The README's photos/ tree: 2024/cat.txt ("meow\n") and big.bin (600000 zeros).
fn photos(repo: &Path, dir: &Path) -> String {
    std::fs::create_dir_all(dir.join("2024")).unwrap();
    std::fs::write(dir.join("2024/cat.txt"), "meow\n").unwrap();
    std::fs::write(dir.join("big.bin"), vec![0u8; 600_000]).unwrap();
    ok(repo, &["add", "-r", "-Q", dir.to_str().unwrap()])
        .trim()
        .to_string()
}

const PHOTOS: &str = "bafybeiadvp7oz5xta7dy7h7bp5wzwmnvuh3bj7qyfjvxiymtwhlphzb7ve";
const Y2024: &str = "bafybeif2bbh2qtbsx5vsx56qpoi7d3npljqhchsuwkv76cfpymlp76zz6q";
const BIG: &str = "bafybeib7pcuusxw7atqqc4apxvkezssdjbqkkhymjpo5x7bsj5sytn2ph4";
const CAT: &str = "bafkreifq6dmp7dgjmwt3ocyh4ddljqbi6ezfs4mwv2ohbrrazopecncbay";

#[test]
fn ls_prints_what_ipfs_ls_prints() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    ok(&repo, &["init"]);
    assert_eq!(photos(&repo, &tmp.path().join("photos")), PHOTOS);
    // Go's tabwriter: columns padded to the widest cell + 1.
    assert_eq!(
        ok(&repo, &["ls", PHOTOS]),
        format!("{Y2024} -      2024/\n{BIG} 600000 big.bin\n")
    );
    assert_eq!(
        ok(&repo, &["ls", "--size=false", PHOTOS]),
        format!("{Y2024} 2024/\n{BIG} big.bin\n")
    );
    let two = ok(&repo, &["ls", "-v", &format!("/ipfs/{PHOTOS}/2024"), PHOTOS]);
    assert_eq!(
        two,
        format!(
            "/ipfs/{PHOTOS}/2024:\nHash{0} Size Name\n{CAT} 5    cat.txt\n\n{PHOTOS}:\nHash{0} Size   Name\n{Y2024} -      2024/\n{BIG} 600000 big.bin\n",
            " ".repeat(CAT.len() - 4)
        )
    );
    let json = ok(&repo, &["ls", "--enc=json", PHOTOS]);
    assert_eq!(
        json,
        format!(
            r#"{{"Objects":[{{"Hash":"{PHOTOS}","Links":[{{"Name":"2024","Hash":"{Y2024}","Size":0,"Type":1,"Target":""}},{{"Name":"big.bin","Hash":"{BIG}","Size":600000,"Type":2,"Target":""}}]}}]}}"#
        ) + "\n"
    );
    // A file's links are its chunks, unnamed (as Kubo lists them).
    let chunks = ok(&repo, &["ls", &format!("{PHOTOS}/big.bin")]);
    let sizes: Vec<&str> = chunks
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(sizes, ["262144", "262144", "75712"]);
}

#[test]
fn dag_get_and_stat_print_what_kubo_prints() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    ok(&repo, &["init"]);
    photos(&repo, &tmp.path().join("photos"));
    assert_eq!(
        ok(&repo, &["dag", "get", &format!("{PHOTOS}/2024")]),
        format!(
            r#"{{"Data":{{"/":{{"bytes":"CAE"}}}},"Links":[{{"Hash":{{"/":"{CAT}"}},"Name":"cat.txt","Tsize":5}}]}}"#
        )
    );
    assert_eq!(
        ok(&repo, &["dag", "get", &format!("/ipfs/{PHOTOS}/2024/cat.txt")]),
        r#"{"/":{"bytes":"bWVvdwo"}}"#
    );
    let missing = p2pfs(&repo, &["dag", "get", &format!("{PHOTOS}/nope")]);
    assert!(!missing.status.success() && String::from_utf8_lossy(&missing.stderr).contains("nope"));

    let hello = piped(&repo, &["add", "-Q"], b"hello\n");
    let hello = String::from_utf8(hello.stdout).unwrap().trim().to_string();
    let text = ok(&repo, &["dag", "stat", "--progress=false", PHOTOS, &hello]);
    let pad = |s: &str| format!("{s:<15}");
    assert_eq!(
        text,
        format!(
            "\nCID{}\t{}\tSize\n{PHOTOS}\t{}\t338179\n{hello}\t{}\t6\n\nSummary\nTotal Size: 338185\nUnique Blocks: 7\nShared Size: 0\nRatio: 1.000000\n\n\n",
            " ".repeat(PHOTOS.len() - 3),
            pad("Blocks"),
            pad("6"),
            pad("1"),
        )
    );
    // Twice the same DAG: shared bytes; JSON leaves out zero fields, as Go's omitempty.
    let json: serde_json::Value =
        serde_json::from_str(&ok(&repo, &["dag", "stat", "--enc=json", &hello, &hello])).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"UniqueBlocks": 1, "TotalSize": 6, "SharedSize": 6, "Ratio": 2,
            "DagStats": [{"Cid": hello, "Size": 6, "NumBlocks": 1}, {"Cid": hello, "Size": 6, "NumBlocks": 1}]})
    );
}

#[test]
fn add_reads_stdin_here_and_through_a_daemon() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    ok(&repo, &["init"]);
    let hello = "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am";
    let out = piped(&repo, &["add"], b"hello\n");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("added {hello} {hello}\n")
    );
    let out = piped(&repo, &["add", "--stdin-name", "hello.txt", "-"], b"hello\n");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("added {hello} hello.txt\n")
    );
    assert!(ok(&repo, &["pin", "ls"]).contains(hello));
    // /dev/stdin is the data, not a symlink to /proc/self/fd/0.
    let out = piped(&repo, &["add", "-Q", "/dev/stdin"], b"hello\n");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{hello}\n"));
    // files write reads stdin too.
    let out = piped(&repo, &["files", "write", "--create", "/hi.txt"], b"hello\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(ok(&repo, &["files", "read", "/hi.txt"]), "hello\n");
    // files ls as Kubo: names; -l NAME[/] CID SIZE; JSON Entries.
    ok(&repo, &["files", "mkdir", "/d"]);
    assert_eq!(ok(&repo, &["files", "ls", "/"]), "d\nhi.txt\n");
    let d = ok(&repo, &["files", "stat", "/d"])
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        ok(&repo, &["files", "ls", "-l", "/"]),
        format!("d/\t{d}\t0\nhi.txt\t{hello}\t6\n")
    );
    assert_eq!(
        ok(&repo, &["files", "ls", "--enc=json", "/"]),
        r#"{"Entries":[{"Name":"d","Type":1,"Size":0,"Hash":""},{"Name":"hi.txt","Type":0,"Size":0,"Hash":""}]}"#.to_string() + "\n"
    );
    // pin ls --enc=json as Kubo's {"Keys":{CID:{"Type":…}}}, also when empty.
    let pins: serde_json::Value = serde_json::from_str(&ok(&repo, &["pin", "ls", "--enc=json"])).unwrap();
    assert_eq!(pins["Keys"][hello]["Type"], "recursive", "{pins}");
    let none: serde_json::Value =
        serde_json::from_str(&ok(&repo, &["pin", "ls", "--enc=json", "--type=direct"])).unwrap();
    assert_eq!(none, serde_json::json!({"Keys": {}}));
    let keys = ok(&repo, &["key", "list", "--enc=json"]);
    assert!(keys.starts_with(r#"{"Keys":[{"Name":"self","Id":"k51"#), "{keys}");
    let version: serde_json::Value = serde_json::from_str(&ok(&repo, &["version", "--enc=json"])).unwrap();
    assert_eq!(version["Version"], env!("CARGO_PKG_VERSION"));
    let stat: serde_json::Value = serde_json::from_str(&ok(&repo, &["repo", "stat", "--enc=json"])).unwrap();
    for k in ["RepoSize", "StorageMax", "NumObjects", "RepoPath", "Version"] {
        assert!(stat.get(k).is_some(), "repo stat has no {k}: {stat}");
    }

    // Through a daemon: the bytes are the client's pipe, not the daemon's stdin.
    let d = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let data = common::noise(7, 3 << 20);
    let out = piped(&d.repo, &["add", "-Q"], &data);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cid = String::from_utf8(out.stdout).unwrap().trim().to_string();
    std::fs::write(tmp.path().join("noise"), &data).unwrap();
    let direct = ok(
        &repo,
        &["add", "-Q", "-n", tmp.path().join("noise").to_str().unwrap()],
    );
    assert_eq!(cid, direct.trim());
    assert_eq!(d.run(&["cat", &cid]).stdout, data);
    drop(d);
}

/// `script` gives the command a terminal (util-linux, on every Debian).
fn in_terminal(repo: &Path, cmd: &str) -> String {
    let out = Command::new("script")
        .args([
            "-qfec",
            &format!("{} {cmd}", env!("CARGO_BIN_EXE_p2pfs")),
            "/dev/null",
        ])
        .env("P2PFS_PATH", repo)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn progress_is_drawn_on_the_clients_terminal_and_nowhere_else() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIP: no `script` (util-linux)");
        return;
    }
    // Through a daemon: the bar is drawn by the daemon on the client's stderr.
    let d = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let data = common::noise(3, 8 << 20);
    let cid = String::from_utf8(piped(&d.repo, &["add", "-Q"], &data).stdout).unwrap();
    let cid = cid.trim();
    let bar = in_terminal(&d.repo, &format!("cat {cid} > /dev/null"));
    assert!(
        bar.contains("MiB/8.00 MiB [") || bar.contains("KiB/8.00 MiB ["),
        "no bar: {bar:?}"
    );
    let car = in_terminal(&d.repo, &format!("dag export {cid} > /dev/null"));
    assert!(car.contains("of CAR written"), "{car:?}");
    let gc = in_terminal(&d.repo, "gc");
    assert!(
        gc.contains("collecting garbage") && gc.contains("removed 0 blocks"),
        "{gc:?}"
    );
    // Not a terminal: nothing but the data (cat) or the result (gc).
    let quiet = d.run(&["cat", cid]);
    assert!(quiet.stderr.is_empty() && quiet.stdout == data);
    assert!(d.run(&["gc"]).stderr.is_empty());
    assert!(d.run(&["dag", "export", cid]).stderr.is_empty());
    assert!(d.run(&["pin", "add", cid]).stderr.is_empty());
}

#[test]
fn swarm_peers_as_json_is_kubos_shape() {
    let a = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let b = Daemon::start(&["/ip4/127.0.0.1/tcp/0"]);
    let tcp = a.addrs().into_iter().find(|x| x.contains("/tcp/")).unwrap();
    assert!(b.run(&["swarm", "connect", &tcp]).status.success());
    let peers: serde_json::Value =
        serde_json::from_str(&ok(&b.repo, &["swarm", "peers", "--enc=json"])).unwrap();
    let a_id = a.id()["ID"].as_str().unwrap().to_string();
    let entry = peers["Peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["Peer"] == a_id.as_str())
        .cloned();
    let entry = entry.unwrap_or_else(|| panic!("A is not in {peers}"));
    // Addr is the transport address; the peer ID is its own field.
    let addr = entry["Addr"].as_str().unwrap();
    assert!(
        addr.starts_with("/ip4/127.0.0.1/tcp/") && !addr.contains("/p2p/"),
        "{entry}"
    );
}
