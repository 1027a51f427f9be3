//! Unit tests of the tree: journal, replay, checkpoints, POSIX errors.

use super::*;

const WHO: Owner = Owner { uid: 1000, gid: 100 };
use crate::unixfs::importer::import_file;

fn open(dir: &std::path::Path) -> Mfs {
    let (repo, _) = Repo::open_or_init(dir).unwrap();
    Mfs::open(Arc::new(repo)).unwrap()
}

fn write_file(m: &Mfs, parent: Ino, name: &str, data: &[u8]) -> Ino {
    let a = m.create(parent, name, 0o640, WHO, true, false).unwrap();
    m.write(a.ino, 0, data, false).unwrap();
    m.release(a.ino).unwrap();
    a.ino
}

fn read(m: &Mfs, ino: Ino) -> Vec<u8> {
    m.run_read(m.plan_read(ino, 0, u32::MAX).unwrap()).unwrap()
}

#[test]
fn journal_survives_without_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
    {
        let m = open(dir.path());
        let d = m.mkdir(ROOT, "docs", 0o700, WHO).unwrap();
        write_file(&m, d.ino, "a.bin", &data);
        write_file(&m, ROOT, "gone", b"x");
        m.unlink(ROOT, "gone", false).unwrap();
        m.rename(d.ino, "a.bin", ROOT, "b.bin", false).unwrap();
        // Dropped without a checkpoint: as if the daemon were killed.
    }
    let m = open(dir.path());
    let b = m.lookup(ROOT, "b.bin").unwrap();
    assert_eq!(b.size, 600_000);
    assert_eq!(b.mode, 0o640);
    assert_eq!(read(&m, b.ino), data);
    assert!(m.lookup(ROOT, "gone").is_err());
    assert_eq!(m.lookup(ROOT, "docs").unwrap().mode, 0o700);
    // Same bytes, same CID as an import.
    let want = import_file(
        &crate::block::NullStore,
        &ImportOptions::default(),
        &data[..],
        |_| {},
    )
    .unwrap();
    assert_eq!(m.cid_of(b.ino).unwrap().cid, want.cid);
    let root = m.checkpoint().unwrap();
    drop(m);
    let m = open(dir.path());
    assert_eq!(m.checkpoint().unwrap(), root);
    assert_eq!(
        m.lookup(ROOT, "b.bin").unwrap().mode,
        0o640,
        "metadata persisted at checkpoint"
    );
}

#[test]
fn posix_errors() {
    let dir = tempfile::tempdir().unwrap();
    let m = open(dir.path());
    let d = m.mkdir(ROOT, "d", 0o755, WHO).unwrap();
    write_file(&m, d.ino, "f", b"1");
    assert_eq!(m.unlink(ROOT, "d", true).unwrap_err().errno(), libc::ENOTEMPTY);
    assert_eq!(m.unlink(ROOT, "d", false).unwrap_err().errno(), libc::EISDIR);
    assert_eq!(m.mkdir(ROOT, "d", 0o755, WHO).unwrap_err().errno(), libc::EEXIST);
    assert_eq!(m.lookup(ROOT, "nope").unwrap_err().errno(), libc::ENOENT);
    write_file(&m, ROOT, "g", b"2");
    assert_eq!(
        m.rename(ROOT, "g", d.ino, "f", true).unwrap_err().errno(),
        libc::EEXIST
    );
    m.rename(ROOT, "g", d.ino, "f", false).unwrap();
    let f = m.lookup(d.ino, "f").unwrap();
    assert_eq!(read(&m, f.ino), b"2");
    assert_eq!(
        m.rename(ROOT, "d", d.ino, "x", false).unwrap_err().errno(),
        libc::EINVAL
    );
    // Growing past the size limit is EFBIG; up to it costs nothing.
    let max = file::MAX_FILE_SIZE;
    let setsize = |size| {
        m.setattr(
            f.ino,
            &SetAttr {
                size: Some(size),
                ..Default::default()
            },
        )
    };
    assert_eq!(setsize(max + 1).unwrap_err().errno(), libc::EFBIG);
    assert_eq!(m.write(f.ino, max, b"x", false).unwrap_err().errno(), libc::EFBIG);
    assert_eq!(setsize(max).unwrap().size, max);
    m.open_file(f.ino, true, false).unwrap();
    m.write(f.ino, max - 1, b"z", false).unwrap();
    m.release(f.ino).unwrap();
    let end = m.run_read(m.plan_read(f.ino, max - 3, 10).unwrap()).unwrap();
    assert_eq!(end, b"\0\0z");
    assert_eq!(setsize(1).unwrap().size, 1);
    assert_eq!(read(&m, f.ino), b"2");
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::new(secs, 7)
}

#[test]
fn metadata_is_kept_journaled_and_checkpointed() {
    let dir = tempfile::tempdir().unwrap();
    let (f, d);
    {
        let m = open(dir.path());
        assert_eq!(m.getattr(ROOT).unwrap().nlink, 2);
        d = m.mkdir(ROOT, "d", 0o2775, WHO).unwrap();
        assert_eq!(m.getattr(ROOT).unwrap().nlink, 3);
        let before = m.getattr(d.ino).unwrap();
        std::thread::sleep(Duration::from_millis(10));
        let a = m
            .create(d.ino, "f", 0o4755, Owner { uid: 7, gid: 8 }, true, false)
            .unwrap();
        f = a.ino;
        // The set-group-ID directory gives its group.
        assert_eq!((a.uid, a.gid, a.mode), (7, 100, 0o4755));
        let after = m.getattr(d.ino).unwrap();
        assert!(after.mtime > before.mtime && after.ctime > before.ctime);
        m.write(f, 0, b"data", false).unwrap();
        // cp -p: times set while the file is open survive the close.
        let set = SetAttr {
            atime: Some(at(1000)),
            mtime: Some(at(2000)),
            ..Default::default()
        };
        m.setattr(f, &set).unwrap();
        m.release(f).unwrap();
        // chown clears set-user-ID and moves ctime.
        let chown = SetAttr {
            uid: Some(9),
            gid: Some(10),
            ..Default::default()
        };
        let c = m.setattr(f, &chown).unwrap();
        assert_eq!((c.uid, c.gid, c.mode), (9, 10, 0o755));
        assert!(c.ctime > at(2000));
        assert_eq!(
            m.create(d.ino, &"x".repeat(256), 0o644, WHO, true, false)
                .unwrap_err()
                .errno(),
            libc::ENAMETOOLONG
        );
        assert_eq!(
            m.lookup(d.ino, &"x".repeat(256)).unwrap_err().errno(),
            libc::ENAMETOOLONG
        );
        // An open file unlinked has no names.
        let g = m.create(ROOT, "g", 0o644, WHO, true, false).unwrap();
        m.unlink(ROOT, "g", false).unwrap();
        assert_eq!(m.getattr(g.ino).unwrap().nlink, 0);
        m.release(g.ino).unwrap();
        // Dropped without a checkpoint: the journal has it all.
    }
    let check = |m: &Mfs| {
        let d2 = m.lookup(ROOT, "d").unwrap();
        let f2 = m.lookup(d2.ino, "f").unwrap();
        // Every child now known: 2 links (1, unknown, before).
        let d2 = m.getattr(d2.ino).unwrap();
        assert_eq!((d2.mode, d2.uid, d2.gid, d2.nlink), (0o2775, 1000, 100, 2));
        assert_eq!((f2.uid, f2.gid, f2.mode, f2.size), (9, 10, 0o755, 4));
        assert_eq!((f2.atime, f2.mtime), (at(1000), at(2000)));
        assert!(f2.ctime > at(2000));
        assert_eq!(d2.mtime, d2.ctime);
    };
    let m = open(dir.path());
    check(&m);
    let _ = (f, d);
    m.checkpoint().unwrap();
    drop(m);
    check(&open(dir.path()));
}

#[test]
fn special_files_are_metadata_only_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let m = open(dir.path());
    let d = m.mkdir(ROOT, "d", 0o755, WHO).unwrap();
    write_file(&m, d.ino, "f", b"x");
    let before = m.cid_of(d.ino).unwrap().cid;
    let fifo = m.mknod(d.ino, "p", libc::S_IFIFO | 0o640, 0, WHO).unwrap();
    assert_eq!((fifo.ftype, fifo.mode), (libc::S_IFIFO, 0o640));
    let dev = m.mknod(d.ino, "c", libc::S_IFCHR | 0o600, 0x0102, WHO).unwrap();
    assert_eq!((dev.ftype, dev.rdev), (libc::S_IFCHR, 0x0102));
    let reg = m.mknod(d.ino, "r", libc::S_IFREG | 0o600, 0, WHO).unwrap();
    assert_eq!((reg.ftype, reg.size), (libc::S_IFREG, 0));
    m.rename(d.ino, "c", d.ino, "c2", false).unwrap();
    // Left out of the DAG: the directory's CID is what it was plus "r".
    write_file(&m, ROOT, "tmp", b"");
    let with_r = m.cid_of(d.ino).unwrap().cid;
    assert_ne!(with_r, before);
    assert_eq!(m.cid_of(fifo.ino).unwrap_err().errno(), libc::ENODATA);
    let check = |m: &Mfs| {
        let d = m.lookup(ROOT, "d").unwrap();
        let names: Vec<(String, u32)> = m
            .readdir(d.ino)
            .unwrap()
            .into_iter()
            .map(|(n, _, _, t)| (n, t))
            .collect();
        assert_eq!(
            names,
            [
                ("c2".to_string(), libc::S_IFCHR),
                ("f".to_string(), libc::S_IFREG),
                ("p".to_string(), libc::S_IFIFO),
                ("r".to_string(), libc::S_IFREG)
            ]
        );
        assert_eq!(m.lookup(d.ino, "c2").unwrap().rdev, 0x0102);
        assert_eq!(m.cid_of(d.ino).unwrap().cid, with_r);
    };
    check(&m);
    drop(m);
    let m = open(dir.path());
    check(&m);
    m.checkpoint().unwrap();
    drop(m);
    let m = open(dir.path());
    check(&m);
    m.unlink(m.lookup(ROOT, "d").unwrap().ino, "p", false).unwrap();
    m.checkpoint().unwrap();
    drop(m);
    let m = open(dir.path());
    let d = m.lookup(ROOT, "d").unwrap();
    assert_eq!(m.lookup(d.ino, "p").unwrap_err().errno(), libc::ENOENT);
}

#[test]
fn rename_exchange_swaps_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    {
        let m = open(dir.path());
        let d = m.mkdir(ROOT, "d", 0o700, WHO).unwrap();
        write_file(&m, d.ino, "inner", b"in d");
        write_file(&m, ROOT, "f", b"file");
        m.exchange(ROOT, "d", ROOT, "f").unwrap();
        assert_eq!(m.lookup(ROOT, "f").unwrap().kind, Kind::Directory);
        let e = m.mkdir(ROOT, "e", 0o755, WHO).unwrap();
        // A directory cannot swap with something inside it.
        let f = m.lookup(ROOT, "f").unwrap();
        assert_eq!(
            m.exchange(ROOT, "f", f.ino, "inner").unwrap_err().errno(),
            libc::EINVAL
        );
        m.exchange(ROOT, "d", e.ino, "x").unwrap_err();
        write_file(&m, e.ino, "x", b"x");
        m.exchange(ROOT, "d", e.ino, "x").unwrap();
    }
    let check = |m: &Mfs| {
        let f = m.lookup(ROOT, "f").unwrap();
        assert_eq!((f.kind, f.mode), (Kind::Directory, 0o700));
        assert_eq!(read(m, m.lookup(f.ino, "inner").unwrap().ino), b"in d");
        assert_eq!(read(m, m.lookup(ROOT, "d").unwrap().ino), b"x");
        let e = m.lookup(ROOT, "e").unwrap();
        assert_eq!(read(m, m.lookup(e.ino, "x").unwrap().ino), b"file");
        let names: Vec<String> = m.readdir(ROOT).unwrap().into_iter().map(|x| x.0).collect();
        assert_eq!(names, ["d", "e", "f"]);
    };
    let m = open(dir.path());
    check(&m);
    m.checkpoint().unwrap();
    drop(m);
    check(&open(dir.path()));
}

#[path = "links_tests.rs"]
mod links_tests;

#[path = "xattr_tests.rs"]
mod xattr_tests;

/// Opens a repo whose config.toml has `settings` (JSON values) set.
fn open_with(dir: &std::path::Path, settings: &[(&str, &str)]) -> Mfs {
    drop(Repo::open_or_init(dir).unwrap());
    for (k, v) in settings {
        crate::repo::settings::set(&dir.join("config.toml"), k, v, true).unwrap();
    }
    open(dir)
}

/// The tree builds files and directories with every [import] setting:
/// the profile's CID version, leaves, links per node and HAMT estimate.
#[test]
fn files_tree_uses_the_import_profile() {
    use crate::unixfs::dir::DirBuilder;
    use crate::unixfs::profile::Profile;
    let leaf_of = |o: &ImportOptions, b: &[u8]| import_file(&crate::block::NullStore, o, b, |_| {}).unwrap();
    for (profile, links) in [(Profile::UnixfsV0_2015, 174), (Profile::UnixfsV1_2025, 1024)] {
        let dir = tempfile::tempdir().unwrap();
        // Small chunks, so that links + 1 of them are a small file.
        let name = format!("{:?}", profile.name());
        let m = open_with(
            dir.path(),
            &[("import.profile", &name), ("import.chunk_size", "1024")],
        );
        let opts = ImportOptions {
            chunk_size: 1024,
            ..profile.options()
        };
        assert_eq!(m.opts, opts);
        let data: Vec<u8> = (0..links * 1024 + 1).map(|i| (i % 251) as u8).collect();
        let f = write_file(&m, ROOT, "f", &data);
        let want = leaf_of(&opts, &data);
        assert_eq!(m.cid_of(f).unwrap().cid, want.cid, "{profile:?}");
        assert_eq!(
            want.cid.version() == cid::Version::V0,
            profile == Profile::UnixfsV0_2015
        );
        // 4765 names of 11 bytes and one of 22: above 256 KiB only by the
        // block-bytes estimate of unixfs-v1-2025 (~224 KiB of names + CIDs).
        let d = m.mkdir(ROOT, "d", 0o755, WHO).unwrap();
        let mut expect = DirBuilder::default();
        let x = leaf_of(&opts, b"x");
        for i in 0..4766 {
            let name = if i == 4765 {
                "z".repeat(22)
            } else {
                format!("{i:011}")
            };
            write_file(&m, d.ino, &name, b"x");
            expect.add(name, &x);
        }
        let got = m.cid_of(d.ino).unwrap();
        assert_eq!(
            got.cid,
            expect.build(&crate::block::NullStore, &opts).unwrap().cid
        );
        use crate::block::BlockGet;
        use crate::unixfs::data::{DataType, UnixFsData};
        let node = crate::unixfs::pb::PbNode::decode(&m.store().get(&got.cid).unwrap()).unwrap();
        let kind = UnixFsData::decode(node.data.as_deref().unwrap()).unwrap().kind;
        let sharded = profile == Profile::UnixfsV1_2025;
        assert_eq!(kind == DataType::HamtShard, sharded, "{profile:?}");
    }
}
