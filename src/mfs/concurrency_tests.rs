//! The tree under concurrent use: a busy file blocks only itself, and
//! checkpoints committing while the tree changes lose nothing (a dropped
//! `Mfs` is a killed daemon).

use super::*;
use std::sync::mpsc;
use std::thread;

const WHO: Owner = Owner { uid: 1000, gid: 100 };

fn open(dir: &std::path::Path) -> Mfs {
    let (repo, _) = Repo::open_or_init(dir).unwrap();
    Mfs::open(Arc::new(repo)).unwrap()
}

fn write_file(m: &Mfs, parent: Ino, name: &str, data: &[u8]) -> Ino {
    let a = m.create(parent, name, 0o640, WHO, false, true).unwrap();
    m.write(a.ino, 0, data, false).unwrap();
    m.release(a.ino).unwrap();
    a.ino
}

fn read(m: &Mfs, ino: Ino) -> Vec<u8> {
    m.run_read(m.plan_read(ino, 0, u32::MAX).unwrap()).unwrap()
}

/// Runs `f` on another thread; None if it did not finish within a minute
/// (it is blocked: the test fails rather than hangs).
fn finishes<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60)).ok()
}

#[test]
fn a_busy_file_blocks_only_itself() {
    let dir = tempfile::tempdir().unwrap();
    let m = Arc::new(open(dir.path()));
    let a = m.create(ROOT, "a", 0o644, WHO, true, false).unwrap();
    m.write(a.ino, 0, &[1u8; 300_000], false).unwrap();
    write_file(&m, ROOT, "b", b"bee");
    // Someone is writing `a` (hashing, storing): hold its lock.
    let content = m.content(a.ino).unwrap();
    let held = content.lock().unwrap();
    let m2 = m.clone();
    let others = finishes(move || {
        let b = m2.lookup(ROOT, "b").unwrap();
        let f = m2.create(ROOT, "c", 0o644, WHO, true, false).unwrap();
        m2.write(f.ino, 0, &[7u8; 600_000], false).unwrap();
        m2.release(f.ino).unwrap();
        m2.write(b.ino, 3, b"s", false).unwrap();
        m2.flush(b.ino).unwrap();
        let names: Vec<String> = m2.readdir(ROOT).unwrap().into_iter().map(|e| e.0).collect();
        (read(&m2, b.ino), m2.getattr(a.ino).unwrap().size, names)
    });
    let (b, a_size, names) = others.expect("other files and the tree wait for a busy file");
    assert_eq!(b, b"bees");
    assert_eq!(a_size, 300_000, "a stat does not wait for the writer either");
    assert_eq!(names, ["a", "b", "c"]);
    // The busy file itself waits, and goes on once its writer is done.
    let m3 = m.clone();
    let waiting = thread::spawn(move || m3.write(a.ino, 0, b"x", false).unwrap());
    drop(held);
    waiting.join().unwrap();
    m.release(a.ino).unwrap();
    assert_eq!(read(&m, a.ino)[..2], [b'x', 1]);
}

#[test]
fn checkpoints_racing_changes_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let m = Arc::new(open(dir.path()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (m2, stop2) = (m.clone(), stop.clone());
    let checkpoints = thread::spawn(move || {
        let mut n = 0;
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            m2.checkpoint().unwrap();
            n += 1;
        }
        n
    });
    // Three writers, each in its own directory, with a model of it.
    let writers: Vec<_> = (0..3u8)
        .map(|w| {
            let m = m.clone();
            thread::spawn(move || {
                let d = m.mkdir(ROOT, &format!("w{w}"), 0o750, WHO).unwrap().ino;
                let mut model = BTreeMap::new();
                for i in 0..60u32 {
                    let name = format!("f{}", i % 7);
                    let data = vec![w ^ i as u8; 1 + (i as usize * 7919) % 70_000];
                    write_file(&m, d, &name, &data);
                    model.insert(name.clone(), data);
                    if i % 5 == 4 {
                        let to = format!("r{i}");
                        m.rename(d, &name, d, &to, false).unwrap();
                        let v = model.remove(&name).unwrap();
                        model.insert(to, v);
                    }
                    if i % 11 == 10 {
                        let gone = model.keys().next().unwrap().clone();
                        m.unlink(d, &gone, false).unwrap();
                        model.remove(&gone);
                    }
                }
                model
            })
        })
        .collect();
    let models: Vec<BTreeMap<String, Vec<u8>>> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(checkpoints.join().unwrap() > 0);
    drop(m);
    // Killed: what the last checkpoints saved plus the journal after them.
    let m = open(dir.path());
    for (w, model) in models.iter().enumerate() {
        let d = m.lookup(ROOT, &format!("w{w}")).unwrap();
        assert_eq!(d.mode, 0o750);
        let names: Vec<String> = m.readdir(d.ino).unwrap().into_iter().map(|e| e.0).collect();
        assert_eq!(names, model.keys().cloned().collect::<Vec<_>>(), "w{w}");
        for (name, data) in model {
            let f = m.lookup(d.ino, name).unwrap();
            assert_eq!((f.size, f.mode), (data.len() as u64, 0o640), "w{w}/{name}");
            assert_eq!(&read(&m, f.ino), data, "w{w}/{name}");
        }
    }
}

/// Directories loaded while a checkpoint commits find their children's
/// saved metadata under the right paths: those of the commit when it has
/// landed, those before it when not.
#[test]
fn directories_loaded_during_checkpoints_keep_their_metadata() {
    let dir = tempfile::tempdir().unwrap();
    {
        let m = open(dir.path());
        for i in 0..40 {
            let d = m.mkdir(ROOT, &format!("d{i}"), 0o755, WHO).unwrap();
            let f = write_file(&m, d.ino, "f", b"data");
            let mode = SetAttr {
                mode: Some(0o600 + i),
                ..Default::default()
            };
            m.setattr(f, &mode).unwrap();
        }
        m.checkpoint().unwrap();
    }
    // Reopened: every d{i} is known by its link only, loaded on first use.
    let m = Arc::new(open(dir.path()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (m2, stop2) = (m.clone(), stop.clone());
    let checkpoints = thread::spawn(move || {
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            m2.checkpoint().unwrap();
        }
    });
    for i in 0..40u32 {
        let (from, to) = (format!("d{i}"), format!("e{i}"));
        m.rename(ROOT, &from, ROOT, &to, false).unwrap();
        // A change in the journal, so each checkpoint has something to save.
        write_file(&m, ROOT, "tick", &i.to_le_bytes());
        let e = m.lookup(ROOT, &to).unwrap();
        let f = m.lookup(e.ino, "f").unwrap();
        assert_eq!(f.mode, 0o600 + i, "e{i}/f");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    checkpoints.join().unwrap();
    drop(m);
    let m = open(dir.path());
    for i in 0..40u32 {
        let e = m.lookup(ROOT, &format!("e{i}")).unwrap();
        assert_eq!(
            m.lookup(e.ino, "f").unwrap().mode,
            0o600 + i,
            "e{i}/f after a crash"
        );
    }
}
