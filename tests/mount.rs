//! Real FUSE mounts in temp dirs, exercised with ordinary tools. Under
//! CI=true a missing /dev/fuse or fusermount3 fails the tests instead of
//! skipping them.

mod common;

use common::mount::{Mount, bin};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn make_tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("sub/deeper")).unwrap();
    std::fs::write(dir.join("a.txt"), b"hello\n").unwrap();
    std::fs::write(dir.join("sub/ünï.txt"), "こんにちは\n").unwrap();
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("sub/deeper/big.bin"), big).unwrap();
    std::os::unix::fs::symlink("../a.txt", dir.join("sub/link")).unwrap();
}

#[test]
fn cp_tree_same_cid_as_add_and_diff_clean() {
    let Some(m) = Mount::new() else { return };
    make_tree(&m.work.join("tree"));
    m.sh(&format!(
        "cp -a tree '{}'/ && diff -r tree '{}/tree'",
        m.files().display(),
        m.files().display()
    ));
    let added = m.p2pfs(&["add", "-r", "-Q", "--pin=false", "tree"]);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let want = String::from_utf8(added.stdout).unwrap();
    assert_eq!(
        m.cid(&m.files().join("tree")),
        want.trim(),
        "cp -r gives the CID `p2pfs add -r` gives"
    );
    // The file is readable at ipfs/<its CID> at once, byte for byte.
    let fcid = m.cid(&m.files().join("tree/sub/deeper/big.bin"));
    let sums = m.sh(&format!(
        "sha256sum < tree/sub/deeper/big.bin; sha256sum < '{}/ipfs/{fcid}'",
        m.mnt.display()
    ));
    let lines: Vec<&str> = sums.lines().collect();
    assert_eq!(lines[0], lines[1]);
    // ls/find/stat through ipfs/ too.
    let tree_cid = want.trim();
    assert_eq!(
        m.cid(&m.mnt.join("ipfs").join(tree_cid)),
        tree_cid,
        "xattr in the ipfs/ view too"
    );
    assert_eq!(
        m.sh(&format!("find '{}/ipfs/{tree_cid}' | wc -l", m.mnt.display()))
            .trim(),
        "7"
    );
    assert_eq!(
        m.sh(&format!(
            "readlink '{}/ipfs/{tree_cid}/sub/link'",
            m.mnt.display()
        ))
        .trim(),
        "../a.txt"
    );
}

#[test]
fn posix_tools_work_in_files() {
    let Some(m) = Mount::new() else { return };
    let f = m.files();
    let out = m.sh(&format!(
        r#"cd '{f}'
        mkdir -p d/e && echo one > d/e/x && mv d/e/x d/y && cat d/y
        echo two > z && mv z d/y && cat d/y
        ln -s y d/l && readlink d/l && cat d/l
        if ln d/y d/hard 2>/dev/null; then stat -c %h d/hard; else echo hardlink-refused; fi
        if rmdir d 2>/dev/null; then echo rmdir-bad; else echo notempty; fi
        set -o noclobber; if echo x > d/y 2>/dev/null; then echo clobbered; else echo excl; fi; set +o noclobber
        dd if=/dev/zero of=img bs=1M count=2 status=none
        printf 'ABC' | dd of=img bs=1 seek=1048575 conv=notrunc status=none
        stat -c %s img; dd if=img bs=1 skip=1048575 count=3 status=none; echo
        truncate -s 10 img && stat -c %s img && truncate -s 3M img && stat -c %s img
        printf 'tail' >> img && stat -c %s img
        chmod 640 d/y && stat -c %a d/y
        touch -d '2001-02-03 04:05:06' d/y && stat -c %Y d/y
        if mv -n z2 d/y 2>/dev/null; then :; fi
        rm -rf d && ls
        if echo x > '{mnt}/ipfs/nope' 2>/dev/null; then echo wrote; else echo erofs; fi
        if ls '{mnt}/ipfs/not-a-cid' 2>/dev/null; then echo found; else echo enoent; fi
        "#,
        f = f.display(),
        mnt = m.mnt.display()
    ));
    let want = "one\ntwo\ny\ntwo\n2\nnotempty\nexcl\n2097152\nABC\n10\n3145728\n3145732\n640\n981173106\nimg\nerofs\nenoent\n";
    assert_eq!(out, want);
}

#[test]
fn tar_find_and_git() {
    let Some(m) = Mount::new() else { return };
    make_tree(&m.work.join("tree"));
    let f = m.files();
    let out = m.sh(&format!(
        r#"tar -C tree -cf t.tar . && mkdir '{f}/x' && tar -C '{f}/x' -xf t.tar && diff -r tree '{f}/x'
        tar -C '{f}/x' -cf back.tar . && mkdir y && tar -C y -xf back.tar && diff -r tree y
        find '{f}/x' | wc -l
        cd '{f}' && git init -q repo && cd repo && echo hi > README && mkdir src && echo 'fn main() {{}}' > src/main.rs
        git add . && git -c user.email=t@t -c user.name=t commit -qm first && git fsck --strict 2>&1 && git log --oneline | wc -l
        "#,
        f = f.display()
    ));
    assert!(out.starts_with("7\n"), "{out}");
    assert!(out.trim_end().ends_with('1'), "{out}");
}

#[test]
fn killed_daemon_loses_nothing_closed() {
    let Some(mut m) = Mount::new() else { return };
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(m.work.join("src.bin"), &data).unwrap();
    m.sh(&format!(
        "cp src.bin '{}/kept.bin' && mkdir '{}/dir'",
        m.files().display(),
        m.files().display()
    ));
    let cid = m.cid(&m.files().join("kept.bin"));
    // kill -9: no checkpoint, no unmount.
    let mut child = m.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    // The stale mount is reported with the command that clears it.
    let err = m.p2pfs(&["mount", m.mnt.to_str().unwrap()]);
    let msg = String::from_utf8_lossy(&err.stderr);
    assert!(!err.status.success() && msg.contains("fusermount3 -u"), "{msg}");
    Command::new("fusermount3")
        .arg("-u")
        .arg(&m.mnt)
        .status()
        .unwrap();
    m.start();
    assert_eq!(m.cid(&m.files().join("kept.bin")), cid);
    assert_eq!(std::fs::read(m.files().join("kept.bin")).unwrap(), data);
    assert!(m.files().join("dir").is_dir());
}

#[test]
fn metadata_and_tree_survive_clean_restarts() {
    let Some(mut m) = Mount::new() else { return };
    m.sh(&format!(
        "cd '{}' && echo hi > f && chmod 600 f && touch -d '2010-01-01 00:00:00 UTC' f && mkdir -m 700 d",
        m.files().display()
    ));
    let root = m.cid(&m.files());
    let err = m.stop(nix::sys::signal::Signal::SIGTERM);
    assert!(err.contains("saved as"), "{err}");
    m.start();
    assert_eq!(m.cid(&m.files()), root);
    let st = m.sh(&format!(
        "stat -c '%a %Y' '{}/f' '{}/d'",
        m.files().display(),
        m.files().display()
    ));
    let lines: Vec<&str> = st.lines().collect();
    assert_eq!(lines[0], "600 1262304000");
    assert!(lines[1].starts_with("700 "), "{st}");
    // Ctrl-C saves too.
    m.sh(&format!("echo more > '{}/g'", m.files().display()));
    m.stop(nix::sys::signal::Signal::SIGINT);
    m.start();
    // An unmount from outside (fusermount3 -u) ends the daemon cleanly.
    assert_eq!(std::fs::read(m.files().join("g")).unwrap(), b"more\n");
    Command::new("fusermount3")
        .arg("-u")
        .arg(&m.mnt)
        .status()
        .unwrap();
    let out = m.child.take().unwrap().wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("was unmounted"));
}

#[test]
fn cli_works_through_the_daemon() {
    let Some(mut m) = Mount::new() else { return };
    let mode = std::fs::metadata(m.repo.join("api.sock"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    std::fs::write(m.work.join("h.txt"), b"hello\n").unwrap();
    let out = m.p2pfs(&["add", "h.txt"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "added bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am h.txt\n"
    );
    let cat = m.p2pfs(&[
        "cat",
        "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am",
    ]);
    assert_eq!(cat.stdout, b"hello\n");
    // Pinned roots are listed under ipfs/.
    let ls = m.sh(&format!("ls '{}/ipfs'", m.mnt.display()));
    assert!(
        ls.contains("bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am"),
        "{ls}"
    );
    // files cp links content without copying; it shows up in the mount.
    let cp = m.p2pfs(&[
        "files",
        "cp",
        "/ipfs/bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am",
        "/files/linked.txt",
    ]);
    assert!(cp.status.success(), "{}", String::from_utf8_lossy(&cp.stderr));
    assert_eq!(std::fs::read(m.files().join("linked.txt")).unwrap(), b"hello\n");
    let stat = m.p2pfs(&["files", "stat", "/files/linked.txt"]);
    assert!(String::from_utf8_lossy(&stat.stdout).starts_with("bafkreicysg23"));
    let bad = m.p2pfs(&["cat", "nonsense"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("not a valid CID"));
    // `p2pfs unmount` stops the daemon cleanly.
    let out = m.p2pfs(&["unmount", m.mnt.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let child = m.child.take().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    // Offline, the CLI opens the repo itself with the same result.
    let offline = m.p2pfs(&["files", "ls", "/"]);
    assert_eq!(String::from_utf8_lossy(&offline.stdout), "linked.txt\n");
}

#[test]
fn refuses_bad_mountpoints() {
    let Some(m) = Mount::new() else { return };
    let other = m.work.join("full");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("x"), b"x").unwrap();
    let out = Command::new(bin())
        .args(["mount", other.to_str().unwrap()])
        .env("P2PFS_PATH", m.work.join("repo2"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
    let out = Command::new(bin())
        .args(["mount", m.mnt.to_str().unwrap()])
        .env("P2PFS_PATH", m.work.join("repo3"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already a mount point"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn concurrent_readers_and_writers() {
    let Some(m) = Mount::new() else { return };
    let data: Vec<u8> = (0..4_000_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(m.work.join("src.bin"), &data).unwrap();
    let cid = String::from_utf8(m.p2pfs(&["add", "-Q", "src.bin"]).stdout)
        .unwrap()
        .trim()
        .to_string();
    let (f, ipfs) = (
        m.files().display().to_string(),
        m.mnt.join("ipfs").display().to_string(),
    );
    // Four writers and four readers at once; every result must be exact.
    m.sh(&format!(
        r#"for i in 1 2 3 4; do cp src.bin "{f}/w$i.bin" & cmp src.bin "{ipfs}/{cid}" & done; wait
        for i in 1 2 3 4; do cmp src.bin "{f}/w$i.bin"; done"#
    ));
    let cids: Vec<String> = (1..=4)
        .map(|i| m.cid(&m.files().join(format!("w{i}.bin"))))
        .collect();
    assert!(cids.iter().all(|c| *c == cid), "{cids:?} vs {cid}");
}

/// ipfs/ inodes live while the kernel knows them: once it forgets them
/// (here: caches dropped), the view lets them go, and the same content
/// looked up again gets a new inode. Needs root (drop_caches).
#[test]
fn ipfs_inodes_are_forgotten_with_the_kernel() {
    let Some(m) = Mount::new() else { return };
    make_tree(&m.work.join("tree"));
    let added = m.p2pfs(&["add", "-r", "-Q", "tree"]);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let cid = String::from_utf8(added.stdout).unwrap().trim().to_string();
    let p = format!("{}/ipfs/{cid}/sub/deeper/big.bin", m.mnt.display());
    let ino = || m.sh(&format!("stat -c %i '{p}'")).trim().to_string();
    let first = ino();
    // Listings hold their entries only while open.
    m.sh(&format!("ls -lR '{}/ipfs/{cid}' > /dev/null", m.mnt.display()));
    assert_eq!(ino(), first, "known to the kernel: the same inode");
    m.sh("sync; echo 2 > /proc/sys/vm/drop_caches");
    assert_ne!(ino(), first, "forgotten by the kernel, then by the view");
    // Still the same bytes under the new number.
    let sums = m.sh(&format!("sha256sum < tree/sub/deeper/big.bin; sha256sum < '{p}'"));
    let lines: Vec<&str> = sums.lines().collect();
    assert_eq!(lines[0], lines[1]);
}

/// files/ builds with config.toml's `[import] profile`: a copied file and
/// a directory get the CIDs Helia's importer gives with unixfs-v1-2025
/// (tests/vectors/profiles.json), the directory a HAMT by its block-bytes
/// estimate (4520 entries; the default's links-bytes estimate keeps it flat).
#[test]
fn files_tree_builds_with_the_import_profile() {
    let Some(mut m) = Mount::new() else { return };
    m.stop(nix::sys::signal::Signal::SIGTERM);
    let set = m.p2pfs(&["config", "import.profile", "unixfs-v1-2025"]);
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
    m.start();
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/profiles.json"))
            .unwrap(),
    )
    .unwrap();
    let want = |kind: &str, name: &str| {
        v[kind]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["profile"] == "unixfs-v1-2025" && x["name"] == name)
            .unwrap()["cid"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let data: Vec<u8> = (0..1_048_577u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(m.work.join("f.bin"), data).unwrap();
    let dir = m.work.join("dir");
    std::fs::create_dir(&dir).unwrap();
    for k in 0..4520 {
        std::fs::write(dir.join(format!("file-{k:05}.txt")), format!("content {k}\n")).unwrap();
    }
    m.sh(&format!(
        "cp f.bin '{0}/' && cp -r dir '{0}/'",
        m.files().display()
    ));
    assert_eq!(m.cid(&m.files().join("f.bin")), want("files", "mod251-1048577"));
    assert_eq!(
        m.cid(&m.files().join("dir")),
        want("directories", "numbered-4520")
    );
}
