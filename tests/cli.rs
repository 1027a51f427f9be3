//! The offline CLI, run as a real process against temp repos.

mod common;

use common::cli::{Env, path, pattern};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

// Helia's CID for 262145 bytes of the (i % 251) pattern (tests/vectors/vectors.json).
const TWO_CHUNKS: &str = "bafybeiexg2oqkfnj56l7fcmawswqbijt5shq4b5rg6a546uwpkqqzwjioi";

#[test]
fn init_creates_repo_with_private_identity() {
    let e = Env::bare();
    let out = e.ok(&["init"]);
    assert!(out.contains("peer identity: 12D3KooW"), "{out}");
    let mode = std::fs::metadata(e.repo.join("identity.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        std::fs::read_to_string(e.repo.join("config.toml"))
            .unwrap()
            .contains("cache_size")
    );
    // Idempotent, same identity.
    let again = e.ok(&["init"]);
    assert_eq!(out.lines().last(), again.lines().last());
}

#[test]
fn add_cat_get_ls_roundtrip() {
    let e = Env::new();
    let data = pattern(262_145);
    let f = e.write("two.bin", &data);
    let out = e.ok(&["add", path(&f)]);
    assert_eq!(out.trim(), format!("added {TWO_CHUNKS} two.bin"));
    assert_eq!(e.ok(&["add", "-Q", path(&f)]).trim(), TWO_CHUNKS);
    // cat: whole, ranges, /ipfs/ prefix.
    let out = e.run(&["cat", TWO_CHUNKS]);
    assert_eq!(out.stdout, data);
    let out = e.run(&[
        "cat",
        "--offset",
        "262140",
        "--length",
        "4",
        &format!("/ipfs/{TWO_CHUNKS}"),
    ]);
    assert_eq!(out.stdout, &data[262_140..262_144]);
    // get a file.
    e.ok(&["get", TWO_CHUNKS, "-o", "copy.bin"]);
    assert_eq!(std::fs::read(e.work.join("copy.bin")).unwrap(), data);
    // Refuses to overwrite.
    assert!(
        e.fails(&["get", TWO_CHUNKS, "-o", "copy.bin"])
            .contains("already exists")
    );
}

#[test]
fn directories_hidden_files_symlinks_and_wrapping() {
    let e = Env::new();
    e.write("tree/a.txt", b"hello\n");
    e.write("tree/sub/b.txt", b"b\n");
    e.write("tree/.secret", b"hidden\n");
    std::os::unix::fs::symlink("a.txt", e.work.join("tree/link")).unwrap();
    let tree = e.work.join("tree");
    assert!(e.fails(&["add", path(&tree)]).contains("use -r"));
    let out = e.ok(&["add", "-r", path(&tree)]);
    let root = out.lines().last().unwrap().split(' ').nth(1).unwrap().to_string();
    assert!(out.lines().last().unwrap().ends_with(" tree"));
    assert!(!out.contains(".secret"));
    assert!(out.contains(" tree/sub/b.txt"));
    // As `ipfs ls`: HASH SIZE NAME, a directory with `-` and a slash.
    let ls = e.ok(&["ls", &root]);
    let names: Vec<&str> = ls.lines().map(|l| l.split_whitespace().last().unwrap()).collect();
    assert_eq!(names, ["a.txt", "link", "sub/"]);
    assert!(
        ls.lines()
            .any(|l| l.split_whitespace().nth(1) == Some("-") && l.ends_with(" sub/"))
    );
    assert!(
        ls.lines()
            .any(|l| l.split_whitespace().nth(1) == Some("6") && l.ends_with(" a.txt")),
        "{ls}"
    );
    assert_eq!(e.run(&["cat", &format!("{root}/sub/b.txt")]).stdout, b"b\n");
    // --hidden changes the root.
    let with_hidden = e.ok(&["add", "-r", "-Q", "--hidden", path(&tree)]);
    assert_ne!(with_hidden.trim(), root);
    // get the tree back and compare.
    e.ok(&["get", &root, "-o", "back"]);
    assert_eq!(std::fs::read(e.work.join("back/sub/b.txt")).unwrap(), b"b\n");
    assert_eq!(
        std::fs::read_link(e.work.join("back/link")).unwrap(),
        Path::new("a.txt")
    );
    assert!(!e.work.join("back/.secret").exists());
    // -w wraps.
    let out = e.ok(&["add", "-w", path(&e.work.join("tree/a.txt"))]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    let wrapper = lines[1].split(' ').nth(1).unwrap();
    assert_eq!(e.run(&["cat", &format!("{wrapper}/a.txt")]).stdout, b"hello\n");
}

#[test]
fn cidv0_and_chunker_flags() {
    let e = Env::new();
    let f = e.write("hello.txt", b"hello\n");
    // Kubo's well-known CID for `ipfs add` (CIDv0) of "hello\n".
    assert_eq!(
        e.ok(&["add", "-Q", "--cid-version", "0", path(&f)]).trim(),
        "QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN"
    );
    assert_eq!(
        e.run(&["cat", "QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN"])
            .stdout,
        b"hello\n"
    );
    let big = e.write("big.bin", &pattern(10_000));
    let small_chunks = e.ok(&["add", "-Q", "--chunker", "size-1000", path(&big)]);
    assert_eq!(e.run(&["cat", small_chunks.trim()]).stdout, pattern(10_000));
    assert!(
        e.fails(&["add", "--chunker", "rabin", path(&big)])
            .contains("not supported")
    );
    assert!(
        e.fails(&["add", "--cid-version", "2", path(&big)])
            .contains("cid-version")
    );
}

#[test]
fn only_hash_stores_nothing() {
    let e = Env::new();
    let f = e.write("x.bin", &pattern(262_145));
    assert_eq!(e.ok(&["add", "-n", "-Q", path(&f)]).trim(), TWO_CHUNKS);
    let err = e.fails(&["cat", TWO_CHUNKS]);
    assert!(
        err.contains("not in the local store; mount or start the daemon"),
        "{err}"
    );
    assert!(e.ok(&["pin", "ls"]).is_empty());
    // A flag with an optional value never swallows the path after it.
    assert_eq!(
        e.ok(&["add", "-n", "-Q", "--raw-leaves", path(&f)]).trim(),
        TWO_CHUNKS
    );
    assert_eq!(
        e.ok(&["add", "-n", "-Q", "--raw-leaves=true", path(&f)]).trim(),
        TWO_CHUNKS
    );
}

#[test]
fn pins_and_gc() {
    let e = Env::new();
    let keep = e.write("keep.bin", &pattern(300_000));
    let drop = e.write("drop.bin", &pattern(500_000)[200_000..]);
    let keep_cid = e.ok(&["add", "-Q", path(&keep)]).trim().to_string();
    let drop_cid = e
        .ok(&["add", "-Q", "--pin=false", path(&drop)])
        .trim()
        .to_string();
    let pins = e.ok(&["pin", "ls"]);
    assert_eq!(pins.trim(), format!("{keep_cid} recursive"));
    let gc = e.ok(&["gc"]);
    assert!(gc.starts_with("removed 3 blocks"), "{gc}");
    assert!(e.fails(&["cat", &drop_cid]).contains("not in the local store"));
    assert_eq!(e.run(&["cat", &keep_cid]).stdout, pattern(300_000));
    assert!(e.ok(&["pin", "verify"]).contains("ok"));
    // Pinning something not local fails and pins nothing.
    assert!(
        e.fails(&["pin", "add", &drop_cid])
            .contains("not in the local store")
    );
    e.ok(&["pin", "rm", &keep_cid]);
    assert!(e.fails(&["pin", "rm", &keep_cid]).contains("not pinned"));
    e.ok(&["gc"]);
    let stat = e.ok(&["repo", "stat", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stat).unwrap();
    assert_eq!(v["NumObjects"], 0);
    // Direct pins keep exactly one block.
    let keep_cid = e
        .ok(&["add", "-Q", "--pin=false", path(&keep)])
        .trim()
        .to_string();
    e.ok(&["pin", "add", "--direct", &keep_cid]);
    assert!(e.ok(&["pin", "ls", "--type", "direct"]).contains(&keep_cid));
    assert!(e.ok(&["pin", "ls", "--type", "recursive"]).is_empty());
    assert!(e.ok(&["gc"]).starts_with("removed 2 blocks"));
}

#[test]
fn repo_stat_and_verify_find_damage() {
    let e = Env::new();
    let f = e.write("x.bin", &pattern(1_000_000));
    let cid = e.ok(&["add", "-Q", path(&f)]).trim().to_string();
    let stat = e.ok(&["repo", "stat"]);
    assert!(stat.contains("blocks:       5"), "{stat}");
    assert!(stat.contains("cache limit:  10.0 GiB"), "{stat}");
    assert!(e.ok(&["repo", "verify"]).contains("0 damaged"));
    // Flip a byte in the middle of the pack: one leaf is now damaged.
    let pack = e.repo.join("store/packs/pack-000000.dat");
    let mut bytes = std::fs::read(&pack).unwrap();
    bytes[400_000] ^= 1;
    std::fs::write(&pack, bytes).unwrap();
    let out = e.run(&["repo", "verify"]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("damaged: bafkrei") && text.contains("1 damaged"),
        "{text}"
    );
    let pv = e.run(&["pin", "verify"]);
    assert!(!pv.status.success());
    assert!(String::from_utf8_lossy(&pv.stdout).contains(&format!("{cid} broken")));
    // No damaged byte leaves the store: every reader fails, naming a block.
    let out_dir = e.work.join("got");
    for args in [
        vec!["cat", cid.as_str()],
        vec!["get", cid.as_str(), "-o", out_dir.to_str().unwrap()],
        vec!["dag", "export", cid.as_str()],
    ] {
        let out = e.run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded on a damaged repo");
        assert!(
            err.contains("damaged") && err.contains("bafkrei"),
            "{args:?}: {err}"
        );
    }
    // Writing the same bytes again (a verified copy) heals the store.
    e.ok(&["add", "-Q", path(&f)]);
    assert_eq!(e.run(&["cat", &cid]).stdout, pattern(1_000_000));
    assert!(e.ok(&["repo", "verify"]).contains("0 damaged"));
    assert!(e.ok(&["pin", "verify"]).contains(&format!("{cid} ok")));
}

#[test]
fn a_missing_pack_is_damage_never_zeros() {
    let e = Env::new();
    let f = e.write("x.bin", &pattern(800_000));
    let cid = e.ok(&["add", "-Q", path(&f)]).trim().to_string();
    std::fs::remove_file(e.repo.join("store/packs/pack-000000.dat")).unwrap();
    let out = e.run(&["cat", &cid]);
    assert!(
        !out.status.success(),
        "cat gave {} bytes from a deleted pack",
        out.stdout.len()
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("damaged"));
    assert!(
        !e.repo.join("store/packs/pack-000000.dat").exists(),
        "the missing pack was recreated"
    );
    let out = e.run(&["repo", "verify"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("3 damaged"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // New writes go to a new pack; the same file added again heals it all.
    e.ok(&["add", "-Q", path(&f)]);
    assert_eq!(e.run(&["cat", &cid]).stdout, pattern(800_000));
    assert!(e.ok(&["repo", "verify"]).contains("0 damaged"));
}

/// A CARv1 (varint-length-prefixed header, then sections) minus its last section.
fn without_last_section(car: &[u8]) -> Vec<u8> {
    let varint = |at: &mut usize| {
        let (mut v, mut shift) = (0usize, 0);
        loop {
            let b = car[*at];
            *at += 1;
            v |= ((b & 0x7f) as usize) << shift;
            if b < 0x80 {
                return v;
            }
            shift += 7;
        }
    };
    let mut at = 0;
    let mut starts = Vec::new();
    while at < car.len() {
        starts.push(at);
        let len = varint(&mut at);
        at += len;
    }
    assert!(starts.len() > 2, "a header and at least two blocks");
    car[..*starts.last().unwrap()].to_vec()
}

#[test]
fn dag_export_import_between_repos() {
    let a = Env::new();
    a.write("t/one", b"1\n");
    a.write("t/two/three", &pattern(700_000));
    let root = a
        .ok(&["add", "-r", "-Q", path(&a.work.join("t"))])
        .trim()
        .to_string();
    let car = a.run(&["dag", "export", &root]);
    assert!(car.status.success());
    let b = Env::new();
    let file = b.write("x.car", &car.stdout);
    let out = b.ok(&["dag", "import", path(&file)]);
    assert!(out.contains(&format!("pinned root {root}")), "{out}");
    assert_eq!(
        b.run(&["cat", &format!("{root}/two/three")]).stdout,
        pattern(700_000)
    );
    assert!(b.ok(&["pin", "ls"]).contains(&format!("{root} recursive")));
    // A CAR without its last block: imported, the root not pinned, failure.
    let c = Env::new();
    let short = c.write("short.car", &without_last_section(&car.stdout));
    let out = c.run(&["dag", "import", path(&short)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("root {root} not pinned")));
    assert!(!c.ok(&["pin", "ls"]).contains(&root));
    // A CAR made by Helia.
    let helia = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/nested.car");
    let out = b.ok(&["dag", "import", path(&helia)]);
    assert!(out.contains("pinned root bafybeid5zndfvcekkuucbedmdkszixorxr7dfywll3on7wlh4xxmjuzokq"));
    // Garbage is refused with a message.
    let junk = b.write("junk.car", b"\x05hello world");
    assert!(b.fails(&["dag", "import", path(&junk)]).contains("CAR"));
}

#[test]
fn identity_cids_are_read_inline() {
    let e = Env::new();
    // An identity CID carries its bytes: nothing needs to be stored.
    let mh = multihash::Multihash::<64>::wrap(0x00, b"inline bytes").unwrap();
    let cid = cid::Cid::new_v1(0x55, mh).to_string();
    assert_eq!(e.run(&["cat", &cid]).stdout, b"inline bytes");
    assert_eq!(e.run(&["cat", "--offset", "7", &cid]).stdout, b"bytes");
}

#[test]
fn bad_input_is_a_clear_error() {
    let e = Env::new();
    let f = e.write("a.txt", b"hello\n");
    let cid = e.ok(&["add", "-Q", path(&f)]).trim().to_string();
    let dir_cid = e.ok(&["add", "-Q", "-w", path(&f)]).trim().to_string();
    assert!(e.fails(&["cat", "notacid"]).contains("not a valid CID"));
    assert!(
        e.fails(&["cat", &format!("{dir_cid}/nope.txt")])
            .contains("no link named 'nope.txt'")
    );
    assert!(e.fails(&["cat", &format!("{cid}/x")]).contains("not a directory"));
    assert!(e.fails(&["cat", &dir_cid]).contains("is a directory"));
    assert!(
        e.fails(&["add", "/nonexistent/file"])
            .contains("/nonexistent/file")
    );
    assert!(e.fails(&["pin", "add", "bafyfoo"]).contains("not a valid CID"));
    assert!(e.fails(&["cat", "--offset=-5", &cid]).contains("--offset"));
}

#[test]
fn damaged_repo_is_reported_and_left_alone() {
    let e = Env::new();
    let index = e.repo.join("store/index.redb");
    std::fs::write(&index, b"not a database").unwrap();
    let err = e.fails(&["repo", "stat"]);
    assert!(err.contains("damaged"), "{err}");
    assert_eq!(std::fs::read(&index).unwrap(), b"not a database");
    std::fs::write(e.repo.join("config.toml"), "[store]\ncache_sise = 1\n").unwrap();
    let err = e.fails(&["repo", "stat"]);
    assert!(err.contains("config.toml") && err.contains("cache_sise"), "{err}");
}

#[test]
fn second_process_gets_the_lock_holder_pid() {
    let e = Env::new();
    let mut lock = std::fs::OpenOptions::new()
        .write(true)
        .open(e.repo.join("repo.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    lock.set_len(0).unwrap();
    write!(lock, "4242").unwrap();
    let err = e.fails(&["repo", "stat"]);
    assert!(err.contains("in use by process 4242"), "{err}");
}

#[test]
fn files_commands_offline() {
    let e = Env::new();
    let src = e.write("src.bin", &pattern(300_000));
    e.ok(&["files", "mkdir", "-p", "/files/a/b"]);
    assert!(e.fails(&["files", "mkdir", "/a/b"]).contains("already exists"));
    e.ok(&["files", "write", "--create", "/a/b/f.bin", path(&src)]);
    assert_eq!(
        e.run(&["files", "read", "/files/a/b/f.bin"]).stdout,
        pattern(300_000)
    );
    assert_eq!(
        e.run(&["files", "read", "-o", "10", "-n", "5", "/a/b/f.bin"])
            .stdout,
        &pattern(300_000)[10..15]
    );
    // Same bytes, same CID as add.
    let added = e.ok(&["add", "-Q", "--pin=false", path(&src)]);
    let stat = e.ok(&["files", "stat", "/a/b/f.bin"]);
    assert_eq!(stat.lines().next(), Some(added.trim()));
    assert!(
        stat.contains("Size: 300000") && stat.contains("Type: file"),
        "{stat}"
    );
    e.ok(&["files", "mv", "/a/b/f.bin", "/a/g.bin"]);
    assert_eq!(e.ok(&["files", "ls", "/a"]), "b\ng.bin\n");
    e.ok(&["files", "cp", "/a/g.bin", "/copy.bin"]);
    assert!(e.fails(&["files", "rm", "/a"]).contains("-r"));
    e.ok(&["files", "rm", "-r", "/a"]);
    assert_eq!(e.ok(&["files", "ls", "/"]), "copy.bin\n");
    assert!(e.fails(&["files", "read", "/nope"]).contains("/files/nope"));
    // The tree is a GC root: gc keeps it.
    e.ok(&["gc"]);
    assert_eq!(e.run(&["files", "read", "/copy.bin"]).stdout, pattern(300_000));
    let root = e.ok(&["files", "flush"]);
    assert!(root.starts_with("bafybei"), "{root}");
}

#[test]
fn bootstrap_list_and_profiles_edit_config_keeping_comments() {
    let e = Env::new();
    // Defaults dial nothing.
    assert_eq!(e.ok(&["bootstrap", "list"]), "");
    let peer = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8";
    assert!(e.ok(&["bootstrap", "add", peer]).contains("added"));
    e.ok(&["bootstrap", "add", peer]); // twice is once
    assert_eq!(e.ok(&["bootstrap", "list"]).trim(), peer);
    let bad = e.run(&["bootstrap", "add", "not-an-addr"]);
    assert!(!bad.status.success());
    let missing = e.run(&["bootstrap", "rm", "/ip4/10.0.0.1/tcp/1"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("not a bootstrap peer"));
    e.ok(&["bootstrap", "rm", peer]);
    assert_eq!(e.ok(&["bootstrap", "list"]), "");
    // The public network is one explicit step (nothing is dialed here: no
    // daemon runs), and `local` undoes it.
    e.ok(&["config", "profile", "apply", "public-ipfs"]);
    let list = e.ok(&["bootstrap", "list"]);
    assert!(list.contains("/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN"));
    assert_eq!(list.lines().count(), 7);
    let cfg = std::fs::read_to_string(e.repo.join("config.toml")).unwrap();
    assert!(cfg.contains("# Peers to dial at start"), "comments are kept");
    assert!(cfg.contains("/ip4/0.0.0.0/tcp/4001"));
    e.ok(&["config", "profile", "apply", "local"]);
    assert_eq!(e.ok(&["bootstrap", "list"]), "");
    assert!(
        e.ok(&["repo", "stat"]).contains("cache limit"),
        "the edited config loads"
    );
}

#[test]
fn the_index_can_be_lost_without_losing_anything() {
    let e = Env::new();
    let big = e.write("big.bin", &pattern(1_300_000));
    let small = e.write("small.txt", b"small\n");
    let big_cid = e.ok(&["add", "-Q", path(&big)]).trim().to_string();
    let small_cid = e
        .ok(&["add", "-Q", "--pin=false", path(&small)])
        .trim()
        .to_string();
    e.ok(&["pin", "add", "--direct", &small_cid]);
    e.ok(&["files", "mkdir", "/docs"]);
    e.ok(&["files", "write", "-e", "/docs/b.bin", path(&big)]);
    let pins = e.ok(&["pin", "ls"]);
    let files = e.ok(&["files", "stat", "/"]);
    let index = e.repo.join("store/index.redb");
    let check = |what: &str| {
        assert_eq!(e.ok(&["pin", "ls"]), pins, "{what}: pins");
        assert_eq!(e.ok(&["files", "stat", "/"]), files, "{what}: files/");
        assert_eq!(e.run(&["cat", &big_cid]).stdout, pattern(1_300_000), "{what}");
        assert_eq!(
            e.run(&["files", "read", "/docs/b.bin"]).stdout,
            pattern(1_300_000),
            "{what}"
        );
        assert!(e.ok(&["repo", "verify"]).contains("0 damaged"), "{what}");
    };
    // Damage at many places: never a panic (exit 101), never wrong bytes,
    // and the error names the cure.
    let good = std::fs::read(&index).unwrap();
    for at in (0..good.len()).step_by(good.len() / 16 + 1).chain([4096, 4097]) {
        let mut bad = good.clone();
        for b in bad.iter_mut().skip(at).take(64) {
            *b ^= 0x5a;
        }
        std::fs::write(&index, &bad).unwrap();
        let out = e.run(&["cat", &big_cid]);
        assert_ne!(
            out.status.code(),
            Some(101),
            "panic with damage at {at}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            assert_eq!(out.stdout, pattern(1_300_000), "damage at {at}: wrong bytes");
        }
        std::fs::write(&index, &good).unwrap();
    }
    // Lost entirely: rebuilt from the packs and meta.log.
    std::fs::remove_file(&index).unwrap();
    let out = e.ok(&["repo", "rebuild-index"]);
    assert!(
        out.contains("rebuilt the index") && out.contains("2 pins"),
        "{out}"
    );
    check("after losing the index");
    // Garbage: the command that fails says what to run; rebuilding cures it.
    std::fs::write(&index, vec![0x42; good.len()]).unwrap();
    let err = e.fails(&["pin", "ls"]);
    assert!(err.contains("rebuild-index"), "{err}");
    let out = e.ok(&["repo", "rebuild-index"]);
    assert!(out.contains("the old index was moved to"), "{out}");
    check("after a garbage index");
}

#[test]
fn block_put_get_stat_rm_and_refs() {
    let e = Env::new();
    // Raw by default, CIDv1: the CID `ipfs block put` gives ("hello\n").
    let f = e.write("h", b"hello\n");
    let cid = e.ok(&["block", "put", path(&f)]).trim().to_string();
    assert_eq!(cid, "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am");
    assert_eq!(e.ok(&["block", "get", &cid]).as_bytes(), b"hello\n");
    assert_eq!(e.ok(&["block", "stat", &cid]), format!("Key: {cid}\nSize: 6\n"));
    // Not dag-pb bytes: refused under that codec.
    assert!(
        e.fails(&["block", "put", "--cid-codec", "dag-pb", path(&f)])
            .contains("not a dag-pb node")
    );
    // Over 1 MiB only when asked; over 2 MiB never.
    let big = e.write("big", &pattern((1 << 20) + 1));
    assert!(e.fails(&["block", "put", path(&big)]).contains("over 1 MiB"));
    e.ok(&["block", "put", "--allow-big-block", path(&big)]);
    let huge = e.write("huge", &pattern((2 << 20) + 1));
    assert!(
        e.fails(&["block", "put", "--allow-big-block", path(&huge)])
            .contains("at most 2 MiB")
    );

    // refs: a directory's children, and recursively every link.
    e.write("t/a", &pattern(600_000));
    e.write("t/b", b"b\n");
    let root = e
        .ok(&["add", "-r", "-Q", path(&e.work.join("t"))])
        .trim()
        .to_string();
    let children: Vec<String> = e.ok(&["refs", &root]).lines().map(String::from).collect();
    assert_eq!(children.len(), 2, "{children:?}");
    let all: Vec<String> = e.ok(&["refs", "-r", &root]).lines().map(String::from).collect();
    assert_eq!(
        all.len(),
        2 + 3,
        "a 600000-byte file is three leaves under its node: {all:?}"
    );
    assert_eq!(
        all,
        e.ok(&["refs", "-r", "--unique", &root])
            .lines()
            .map(String::from)
            .collect::<Vec<_>>()
    );

    // rm: a pinned DAG's blocks are kept; an unpinned block goes.
    let kept = &all[0];
    assert!(e.fails(&["block", "rm", kept]).contains("keeps it"));
    assert_eq!(e.ok(&["block", "rm", &cid]), format!("removed {cid}\n"));
    assert!(e.fails(&["block", "rm", &cid]).contains("not in the store"));
    assert!(e.fails(&["block", "stat", &cid]).contains(&cid));
    // --pin keeps a put block from rm and gc.
    let p = e.ok(&["block", "put", "--pin", path(&f)]).trim().to_string();
    assert!(e.fails(&["block", "rm", &p]).contains("keeps it"));
}

#[test]
fn version_prints_the_package_version() {
    let e = Env::new();
    assert_eq!(
        e.ok(&["version"]),
        format!("p2pfs version {}\n", env!("CARGO_PKG_VERSION"))
    );
    assert!(e.ok(&["version", "--all"]).contains("Repo store format: 2"));
}

#[test]
fn pin_ls_forms_and_recursive_false() {
    let e = Env::new();
    e.write("t/a", &pattern(600_000));
    let root = e
        .ok(&["add", "-r", "-Q", path(&e.work.join("t"))])
        .trim()
        .to_string();
    let inner: Vec<String> = e
        .ok(&["refs", "-r", "-u", &root])
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(e.ok(&["pin", "ls", "-q"]), format!("{root}\n"));
    // How given CIDs are pinned; exit 1 for one that is not.
    assert_eq!(e.ok(&["pin", "ls", &root]), format!("{root} recursive\n"));
    assert_eq!(
        e.ok(&["pin", "ls", &inner[0]]),
        format!("{} indirect through {root}\n", inner[0])
    );
    let f = e.write("loose", b"loose\n");
    let loose = e.ok(&["add", "-Q", "--pin=false", path(&f)]).trim().to_string();
    assert!(e.fails(&["pin", "ls", &loose]).contains("is not pinned"));
    // Every block inside recursive pins, each once.
    let indirect: Vec<String> = e
        .ok(&["pin", "ls", "--type=indirect", "-q"])
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(indirect, inner);
    // `--recursive=false` is a direct pin.
    e.ok(&["pin", "add", "--recursive=false", &loose]);
    assert_eq!(e.ok(&["pin", "ls", &loose]), format!("{loose} direct\n"));
    // `repo gc` is `gc`; `repo version` names the store format.
    e.ok(&["pin", "rm", &root]);
    assert!(e.ok(&["repo", "gc"]).starts_with("removed "));
    assert_eq!(e.ok(&["repo", "version"]), "p2pfs-repo@2\n");
}

#[test]
fn cat_of_several_paths_with_offset_and_length() {
    let e = Env::new();
    let a = e
        .ok(&["add", "-Q", path(&e.write("a", b"0123456789"))])
        .trim()
        .to_string();
    let b = e
        .ok(&["add", "-Q", path(&e.write("b", b"abcdefghij"))])
        .trim()
        .to_string();
    assert_eq!(e.ok(&["cat", &a, &b]), "0123456789abcdefghij");
    assert_eq!(e.ok(&["cat", "--offset", "8", "--length", "4", &a, &b]), "89ab");
    assert_eq!(e.ok(&["cat", "--offset", "12", &a, &b]), "cdefghij");
    // A bad path anywhere: nothing is written.
    let out = e.run(&["cat", &a, "bafkqaaa/x"]);
    assert!(!out.status.success() && out.stdout.is_empty());
}

#[test]
fn config_keys_and_cid_conversion() {
    let e = Env::new();
    assert_eq!(e.ok(&["config", "network.provide"]), "all\n");
    e.ok(&["config", "network.provide", "roots"]);
    assert_eq!(e.ok(&["config", "network.provide"]), "roots\n");
    e.ok(&["config", "--json", "mount.allow_other", "true"]);
    assert_eq!(e.ok(&["config", "mount.allow_other"]), "true\n");
    assert!(e.ok(&["config", "show"]).contains("provide = \"roots\""));
    // Refused, the file unchanged.
    let before = e.ok(&["config", "show"]);
    assert!(e.fails(&["config", "network.provde", "all"]).contains("provde"));
    assert!(
        e.fails(&["config", "mount.allow_other", "yes"])
            .contains("allow_other")
    );
    assert!(e.fails(&["config", "no.such"]).contains("no setting no.such"));
    assert!(e.fails(&["config"]).contains("config KEY"));
    assert_eq!(e.ok(&["config", "show"]), before);

    // The docs' example pair, both ways.
    let v0 = "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n";
    let v1 = "bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
    assert_eq!(e.ok(&["cid", "base32", v0]), format!("{v1}\n"));
    assert_eq!(e.ok(&["cid", "format", "-v", "0", v1]), format!("{v0}\n"));
    let b58 = e.ok(&["cid", "format", "-v", "1", "-b", "base58btc", v0]);
    assert!(b58.starts_with('z'), "{b58}");
    assert_eq!(b58, e.ok(&["cid", "format", "-b", "base58btc", v1]));
    let raw = "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am";
    assert!(
        e.fails(&["cid", "format", "-v", "0", raw])
            .contains("no CIDv0 form")
    );
    assert!(e.fails(&["cid", "base32", "nonsense"]).contains("nonsense"));
}

#[test]
fn messages_for_mistakes_kubo_users_make() {
    let e = Env::new();
    // `files read` of a directory, `files write` from a missing source.
    e.ok(&["files", "mkdir", "/d"]);
    assert!(e.fails(&["files", "read", "/d"]).contains("is a directory"));
    assert!(
        e.fails(&["files", "write", "--create", "/d/x", "no-such-file"])
            .contains("no-such-file")
    );
    assert_eq!(e.ok(&["files", "ls", "/d"]), "", "nothing created");
    // `pin add --direct` of a recursively pinned CID says so.
    let cid = e
        .ok(&["add", "-Q", path(&e.write("f", b"f\n"))])
        .trim()
        .to_string();
    assert!(
        e.fails(&["pin", "add", "--direct", &cid])
            .contains("already pinned recursively")
    );
    // `unmount` of a directory that is no p2pfs mount.
    assert!(
        e.fails(&["unmount", path(&e.work)])
            .contains("is not a p2pfs mount")
    );
    // Logs to a pipe carry no colour codes (a daemon logs where it listens).
    let mut d = Command::new(env!("CARGO_BIN_EXE_p2pfs"))
        .args(["daemon", "--listen", "/ip4/127.0.0.1/tcp/0"])
        .env("P2PFS_PATH", &e.repo)
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(d.stderr.take().unwrap()));
    let line = lines
        .find(|l| l.as_ref().is_ok_and(|l| l.contains("listening")))
        .expect("the daemon logs where it listens")
        .unwrap();
    let _ = d.kill();
    let _ = d.wait();
    assert!(!line.contains('\x1b'), "{line:?}");
}
