//! `user.*` extended attributes: errors and limits as Linux gives them,
//! kept through content changes, renames, links, crashes (a dropped `Mfs`:
//! the journal alone), checkpoints and rebuild-index; CIDs unchanged.

use super::*;

fn get(m: &Mfs, d: Ino, name: &str, attr: &str) -> std::result::Result<Vec<u8>, i32> {
    let ino = m.lookup(d, name).map_err(|e| e.errno())?.ino;
    m.getxattr(ino, attr).map_err(|e| e.errno())
}

#[test]
fn errors_and_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let m = open(tmp.path());
    let f = write_file(&m, ROOT, "f", b"x");
    let errno = |r: Result<()>| r.unwrap_err().errno();
    assert_eq!(m.getxattr(f, "user.a").unwrap_err().errno(), libc::ENODATA);
    assert_eq!(errno(m.removexattr(f, "user.a")), libc::ENODATA);
    assert_eq!(
        errno(m.setxattr(f, "user.a", b"1", 2)),
        libc::ENODATA,
        "XATTR_REPLACE"
    );
    m.setxattr(f, "user.a", b"1", 1).unwrap();
    assert_eq!(
        errno(m.setxattr(f, "user.a", b"2", 1)),
        libc::EEXIST,
        "XATTR_CREATE"
    );
    m.setxattr(f, "user.a", b"2", 2).unwrap();
    assert_eq!(m.getxattr(f, "user.a").unwrap(), b"2");
    assert_eq!(errno(m.setxattr(f, "trusted.a", b"1", 0)), libc::EOPNOTSUPP);
    assert_eq!(errno(m.setxattr(f, "user.", b"1", 0)), libc::EOPNOTSUPP);
    let long = format!("user.{}", "n".repeat(251));
    assert_eq!(errno(m.setxattr(f, &long, b"1", 0)), libc::ERANGE);
    let big = vec![1u8; XATTR_SIZE_MAX + 1];
    assert_eq!(errno(m.setxattr(f, "user.big", &big, 0)), libc::E2BIG);
    m.setxattr(f, "user.big", &big[1..], 0).unwrap();
    // Per inode at most XATTR_TOTAL_MAX bytes: four such values fill it.
    for i in 1..3 {
        m.setxattr(f, &format!("user.big{i}"), &big[1..], 0).unwrap();
    }
    assert_eq!(errno(m.setxattr(f, "user.big3", &big[1..], 0)), libc::ENOSPC);
    // Replacing a value counts the new one only.
    m.setxattr(f, "user.big2", &big[1..], 0).unwrap();
    assert_eq!(
        m.listxattr(f).unwrap(),
        ["user.a", "user.big", "user.big1", "user.big2"]
    );
    m.removexattr(f, "user.big").unwrap();
    assert_eq!(m.listxattr(f).unwrap().len(), 3);
    // The DAG does not see them.
    let cid = m.cid_of(f).unwrap().cid;
    assert_eq!(cid, crate::block::cid_v1(crate::block::RAW, b"x"));
}

fn make(m: &Mfs) {
    let d = m.mkdir(ROOT, "d", 0o755, WHO).unwrap().ino;
    m.setxattr(d, "user.dir", b"on a dir", 0).unwrap();
    m.setxattr(ROOT, "user.root", b"top", 0).unwrap();
    let f = write_file(m, d, "f", b"content");
    m.setxattr(f, "user.bin", &[0, 1, 255, b'\n'], 0).unwrap();
    m.setxattr(f, "user.gone", b"x", 0).unwrap();
    m.removexattr(f, "user.gone").unwrap();
    // New content after the attribute: it stays.
    m.open_file(f, true, false).unwrap();
    m.write(f, 7, b"+", false).unwrap();
    m.release(f).unwrap();
    m.link(f, ROOT, "link").unwrap();
    m.setxattr(f, "user.late", b"after the link", 0).unwrap();
    // A file made again under a removed one's name has none.
    let g = write_file(m, ROOT, "g", b"g");
    m.setxattr(g, "user.g", b"g", 0).unwrap();
    m.unlink(ROOT, "g", false).unwrap();
    write_file(m, ROOT, "g", b"g2");
}

fn check(m: &Mfs) {
    let d = m.lookup(ROOT, "d").unwrap().ino;
    assert_eq!(m.getxattr(d, "user.dir").unwrap(), b"on a dir");
    assert_eq!(m.getxattr(ROOT, "user.root").unwrap(), b"top");
    for (dir, name) in [(d, "f"), (ROOT, "link")] {
        assert_eq!(get(m, dir, name, "user.bin").unwrap(), [0, 1, 255, b'\n']);
        assert_eq!(get(m, dir, name, "user.late").unwrap(), b"after the link");
        assert_eq!(get(m, dir, name, "user.gone"), Err(libc::ENODATA));
    }
    assert_eq!(get(m, ROOT, "g", "user.g"), Err(libc::ENODATA));
    let f = m.lookup(d, "f").unwrap().ino;
    assert_eq!(read(m, f), b"content+");
}

#[test]
fn attributes_survive_crashes_checkpoints_and_renames() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let m = open(tmp.path());
        make(&m);
        check(&m);
    }
    let m = open(tmp.path());
    check(&m);
    let root = m.checkpoint().unwrap();
    drop(m);
    let m = open(tmp.path());
    check(&m);
    assert_eq!(m.checkpoint().unwrap(), root);
    // Renamed after the checkpoint, then a crash: the saved attributes
    // are found where the entries were, and follow them at the next one.
    m.rename(ROOT, "d", ROOT, "e", false).unwrap();
    m.mkdir(ROOT, "d", 0o755, WHO).unwrap();
    let e = m.lookup(ROOT, "e").unwrap().ino;
    m.rename(e, "f", m.lookup(ROOT, "d").unwrap().ino, "f", false)
        .unwrap();
    m.rename(ROOT, "e", ROOT, "d2", false).unwrap();
    drop(m);
    let fix = |m: &Mfs| {
        let d2 = m.lookup(ROOT, "d2").unwrap().ino;
        assert_eq!(m.getxattr(d2, "user.dir").unwrap(), b"on a dir");
        let d = m.lookup(ROOT, "d").unwrap().ino;
        assert!(m.listxattr(d).unwrap().is_empty());
        assert_eq!(get(m, d, "f", "user.bin").unwrap(), [0, 1, 255, b'\n']);
    };
    let m = open(tmp.path());
    fix(&m);
    m.checkpoint().unwrap();
    drop(m);
    fix(&open(tmp.path()));
    crate::repo::rebuild_index(tmp.path()).unwrap();
    fix(&open(tmp.path()));
}
