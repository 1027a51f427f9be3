//! Hard links: one inode under several names, through unlink, rename,
//! content changes, checkpoints and crashes (a dropped `Mfs` is a killed
//! daemon: only the journal and the last checkpoint remain).

use super::*;

/// Names of `ino`, its link count and its bytes.
fn state(m: &Mfs, names: &[(Ino, &str)]) -> (Ino, u32, Vec<u8>) {
    let attrs: Vec<Attr> = names.iter().map(|(d, n)| m.lookup(*d, n).unwrap()).collect();
    let ino = attrs[0].ino;
    assert!(attrs.iter().all(|a| a.ino == ino), "one inode: {attrs:?}");
    (ino, attrs[0].nlink, read(m, ino))
}

fn dir(m: &Mfs, name: &str) -> Ino {
    m.lookup(ROOT, name).unwrap().ino
}

#[test]
fn link_shares_the_inode_and_its_content() {
    let tmp = tempfile::tempdir().unwrap();
    let m = open(tmp.path());
    let d = m.mkdir(ROOT, "d", 0o755, WHO).unwrap().ino;
    let f = write_file(&m, ROOT, "a", b"one");
    let before = m.getattr(f).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let l = m.link(f, d, "b").unwrap();
    assert_eq!((l.ino, l.nlink), (f, 2));
    assert!(l.ctime > before.ctime, "a new name changes ctime");
    // A write through one name is seen through the other.
    m.open_file(f, true, false).unwrap();
    m.write(f, 3, b" two", false).unwrap();
    m.release(f).unwrap();
    assert_eq!(state(&m, &[(ROOT, "a"), (d, "b")]), (f, 2, b"one two".to_vec()));
    // In the DAG both names have the file's CID.
    let cid = m.cid_of(f).unwrap().cid;
    assert_eq!(m.cid_of(d).unwrap().cid, {
        let mut b = DirBuilder::default();
        b.add("b".to_string(), &m.cid_of(f).unwrap());
        b.build(&crate::block::NullStore, &m.opts).unwrap().cid
    });
    // Errors as Linux gives them.
    assert_eq!(m.link(d, ROOT, "d2").unwrap_err().errno(), libc::EPERM);
    assert_eq!(m.link(f, ROOT, "a").unwrap_err().errno(), libc::EEXIST);
    assert_eq!(m.link(f, f, "x").unwrap_err().errno(), libc::ENOTDIR);
    // Rename of one name keeps the link; renaming onto another name of
    // the same inode does nothing.
    m.rename(d, "b", ROOT, "c", false).unwrap();
    m.rename(ROOT, "a", ROOT, "c", false).unwrap();
    assert_eq!(state(&m, &[(ROOT, "a"), (ROOT, "c")]).1, 2);
    // Unlink of one keeps the other.
    m.unlink(ROOT, "a", false).unwrap();
    assert_eq!(state(&m, &[(ROOT, "c")]), (f, 1, b"one two".to_vec()));
    assert_eq!(m.cid_of(f).unwrap().cid, cid);
    // Symlinks and special files link too.
    let s = m.symlink(ROOT, "s", b"c", WHO).unwrap().ino;
    assert_eq!(m.link(s, d, "s2").unwrap().nlink, 2);
    let p = m.mknod(ROOT, "p", libc::S_IFIFO | 0o600, 0, WHO).unwrap().ino;
    assert_eq!(m.link(p, d, "p2").unwrap().ftype, libc::S_IFIFO);
    // An open file whose last name is gone cannot get a new one.
    let g = m.create(ROOT, "g", 0o644, WHO, true, false).unwrap().ino;
    m.unlink(ROOT, "g", false).unwrap();
    assert_eq!(m.link(g, ROOT, "g2").unwrap_err().errno(), libc::ENOENT);
    m.release(g).unwrap();
}

/// Everything one name at a time: what the journal alone must rebuild,
/// and what a checkpoint must keep.
fn make_links(m: &Mfs) {
    let d = m.mkdir(ROOT, "d", 0o755, WHO).unwrap().ino;
    let e = m.mkdir(ROOT, "e", 0o755, WHO).unwrap().ino;
    let f = write_file(m, ROOT, "a", b"first");
    m.link(f, d, "b").unwrap();
    m.link(f, e, "c").unwrap();
    m.unlink(e, "c", false).unwrap();
    m.rename(d, "b", e, "b", false).unwrap();
    // Linked while open and never closed before: saved by the link.
    let g = m.create(ROOT, "g", 0o600, WHO, true, false).unwrap().ino;
    m.write(g, 0, b"open", false).unwrap();
    m.link(g, d, "g2").unwrap();
    m.write(g, 4, b"ed", false).unwrap();
    m.release(g).unwrap();
    // Changed through the second name after linking.
    m.open_file(f, true, false).unwrap();
    m.write(f, 5, b"+", false).unwrap();
    m.release(f).unwrap();
    m.setattr(
        f,
        &SetAttr {
            mode: Some(0o600),
            ..Default::default()
        },
    )
    .unwrap();
}

fn check_links(m: &Mfs) {
    let (d, e) = (dir(m, "d"), dir(m, "e"));
    let (f, n, bytes) = state(m, &[(ROOT, "a"), (e, "b")]);
    assert_eq!((n, bytes.as_slice()), (2, &b"first+"[..]));
    assert_eq!(m.getattr(f).unwrap().mode, 0o600);
    assert_eq!(m.lookup(e, "c").unwrap_err().errno(), libc::ENOENT);
    let (g, n, bytes) = state(m, &[(ROOT, "g"), (d, "g2")]);
    assert_eq!((n, bytes.as_slice()), (2, &b"opened"[..]));
    // Still one inode: a write through one name shows through the other.
    m.open_file(g, true, false).unwrap();
    m.write(g, 0, b"O", false).unwrap();
    m.release(g).unwrap();
    assert_eq!(read(m, m.lookup(d, "g2").unwrap().ino), b"Opened");
    m.open_file(g, true, true).unwrap();
    m.write(g, 0, b"opened", false).unwrap();
    m.release(g).unwrap();
}

#[test]
fn links_survive_a_crash_and_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let m = open(tmp.path());
        make_links(&m);
        check_links(&m);
    }
    // Killed: the journal alone.
    let m = open(tmp.path());
    check_links(&m);
    let root = m.checkpoint().unwrap();
    drop(m);
    // The saved groups make the names one inode again.
    let m = open(tmp.path());
    check_links(&m);
    assert_eq!(m.checkpoint().unwrap(), root, "same tree, same CID");
    // A link made after a checkpoint, then a crash.
    let f = m.lookup(ROOT, "a").unwrap().ino;
    m.link(f, ROOT, "z").unwrap();
    drop(m);
    let m = open(tmp.path());
    assert_eq!(state(&m, &[(ROOT, "a"), (ROOT, "z"), (dir(&m, "e"), "b")]).1, 3);
    // Names removed until one is left: no group any more.
    m.unlink(ROOT, "z", false).unwrap();
    m.unlink(dir(&m, "e"), "b", false).unwrap();
    m.checkpoint().unwrap();
    drop(m);
    let m = open(tmp.path());
    assert_eq!(state(&m, &[(ROOT, "a")]).1, 1);
}

#[test]
fn removing_a_tree_keeps_names_outside_it() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let m = open(tmp.path());
        let d = m.mkdir(ROOT, "d", 0o755, WHO).unwrap().ino;
        let f = write_file(&m, d, "in", b"x");
        m.link(f, ROOT, "out").unwrap();
        m.link(f, d, "in2").unwrap();
        m.checkpoint().unwrap();
        m.remove_tree(ROOT, "d").unwrap();
        assert_eq!(m.lookup(ROOT, "out").unwrap().nlink, 1);
    }
    let m = open(tmp.path());
    assert_eq!(
        state(&m, &[(ROOT, "out")]),
        (m.lookup(ROOT, "out").unwrap().ino, 1, b"x".to_vec())
    );
    // A directory renamed over holds no names either.
    let f = m.lookup(ROOT, "out").unwrap().ino;
    let d = m.mkdir(ROOT, "d", 0o755, WHO).unwrap().ino;
    m.link(f, d, "again").unwrap();
    m.checkpoint().unwrap();
    m.rename(ROOT, "d", ROOT, "d2", false).unwrap();
    drop(m);
    let m = open(tmp.path());
    assert_eq!(state(&m, &[(ROOT, "out"), (dir(&m, "d2"), "again")]).1, 2);
    m.checkpoint().unwrap();
    drop(m);
    let m = open(tmp.path());
    assert_eq!(state(&m, &[(ROOT, "out"), (dir(&m, "d2"), "again")]).1, 2);
}

#[test]
fn rebuild_index_keeps_the_links() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let m = open(tmp.path());
        make_links(&m);
        m.checkpoint().unwrap();
    }
    crate::repo::rebuild_index(tmp.path()).unwrap();
    check_links(&open(tmp.path()));
}
