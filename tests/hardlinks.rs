//! Hard links in files/ on a real mount: one inode under two names
//! (st_ino and st_nlink through FUSE), content shared, through unlink and
//! rename, across a clean remount and kill -9; directories and links
//! between ipfs/ and files/ refused as Linux does.

mod common;

use common::mount::Mount;

/// "inode links" of each name under files/.
fn inodes(m: &Mount, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .map(|n| m.sh(&format!("stat -c '%i %h' '{}'", m.files().join(n).display())))
        .map(|s| s.trim().to_string())
        .collect()
}

/// One inode, `n` links, under every name.
fn assert_one_inode(m: &Mount, names: &[&str], n: u32) {
    let got = inodes(m, names);
    assert!(got.iter().all(|g| *g == got[0]), "{names:?}: {got:?}");
    assert!(got[0].ends_with(&format!(" {n}")), "{names:?}: {got:?}");
}

#[test]
fn hard_links_share_an_inode_and_survive_remounts() {
    let Some(mut m) = Mount::new() else { return };
    let f = m.files();
    m.sh(&format!(
        "cd '{}' && mkdir d e && echo one > a && ln a d/b && echo two >> d/b && ln -s a s && ln s e/s2",
        f.display()
    ));
    assert_one_inode(&m, &["a", "d/b"], 2);
    assert_one_inode(&m, &["s", "e/s2"], 2);
    assert_eq!(std::fs::read(f.join("a")).unwrap(), b"one\ntwo\n");
    // Rename of one name keeps the link; unlink of one keeps the other.
    m.sh(&format!("cd '{}' && mv d/b e/b && ln a c && rm c", f.display()));
    assert_one_inode(&m, &["a", "e/b"], 2);
    // In the DAG the same CID sits under both names, as a re-add gives.
    assert_eq!(m.cid(&f.join("a")), m.cid(&f.join("e/b")));
    let tree = m.cid(&f);
    let check = |m: &Mount| {
        let f = m.files();
        assert_one_inode(m, &["a", "e/b"], 2);
        assert_one_inode(m, &["s", "e/s2"], 2);
        assert_eq!(std::fs::read(f.join("e/b")).unwrap(), b"one\ntwo\n");
        assert_eq!(std::fs::read_link(f.join("e/s2")).unwrap().to_str(), Some("a"));
    };
    m.kill_and_remount();
    check(&m);
    assert_eq!(m.cid(&m.files()), tree);
    m.stop(nix::sys::signal::Signal::SIGTERM);
    m.start();
    check(&m);
    // Still one inode after the remount: a write through one name shows
    // through the other, and survives kill -9 too.
    let f = m.files();
    m.sh(&format!("cd '{}' && echo three >> e/b && ln a d/z", f.display()));
    assert_eq!(std::fs::read(f.join("a")).unwrap(), b"one\ntwo\nthree\n");
    m.kill_and_remount();
    assert_one_inode(&m, &["a", "e/b", "d/z"], 3);
    assert_eq!(
        std::fs::read(m.files().join("d/z")).unwrap(),
        b"one\ntwo\nthree\n"
    );
    let out = m.p2pfs(&["add", "-r", "-Q", "-n", m.files().to_str().unwrap()]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), m.cid(&m.files()));
}

#[test]
fn directories_and_links_across_views_are_refused() {
    let Some(m) = Mount::new() else { return };
    let f = m.files();
    std::fs::create_dir(f.join("d")).unwrap();
    std::fs::write(f.join("x"), b"x").unwrap();
    let err = std::fs::hard_link(f.join("d"), f.join("d2")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EPERM));
    let cid = m.cid(&f.join("x"));
    let ipfs = m.mnt.join("ipfs").join(cid.trim());
    assert_eq!(std::fs::read(&ipfs).unwrap(), b"x");
    let err = std::fs::hard_link(&ipfs, f.join("y")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EXDEV));
    let err = std::fs::hard_link(f.join("x"), m.mnt.join("ipfs").join("y")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EXDEV));
    let err = std::fs::hard_link(f.join("x"), f.join("d")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EEXIST));
}
