//! Files the kernel writes itself (FUSE passthrough into staging files,
//! `mfs/staged.rs`): their bytes survive kill -9 while still open, they get
//! the CIDs the daemon's own write path gives, holes cost nothing, and the
//! staging files go once a checkpoint holds them. Real mounts; skipped
//! where the kernel or the process cannot do passthrough.

mod common;

use common::mount::Mount;
use std::io::Write;

/// Names under the repo's staging/ (None: staging never began, i.e. the
/// mount has no passthrough here).
fn staging(m: &Mount) -> Option<Vec<String>> {
    let dir = std::fs::read_dir(m.repo.join("staging")).ok()?;
    Some(
        dir.map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect(),
    )
}

#[test]
fn a_file_still_open_survives_kill_and_its_staging_file_goes_at_unmount() {
    let Some(mut m) = Mount::new() else { return };
    let data = common::noise(7, 3 << 20);
    let mut f = std::fs::File::create(m.files().join("open")).unwrap();
    f.write_all(&data).unwrap();
    let Some(staged) = staging(&m) else {
        eprintln!("no passthrough here (needs root and Linux 6.9+): skipped");
        return;
    };
    assert_eq!(staged.len(), 1, "{staged:?}");
    let on_disk = std::fs::metadata(m.repo.join("staging").join(&staged[0])).unwrap();
    assert_eq!(on_disk.len(), data.len() as u64);
    // The daemon dies with the file open: nothing was closed or imported.
    m.kill_and_remount_after(|| drop(f));
    assert_eq!(std::fs::read(m.files().join("open")).unwrap(), data);
    std::fs::write(m.work.join("open"), &data).unwrap();
    let out = m.p2pfs(&["add", "-Q", "--only-hash", "open"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let want = String::from_utf8(out.stdout).unwrap();
    assert_eq!(m.cid(&m.files().join("open")), want.trim());
    m.stop(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(staging(&m), Some(Vec::new()), "staging files left after unmount");
}

/// Writes, truncates, holes, appends, renames and links, the same on a
/// mount with passthrough and one without: the same tree CID.
#[test]
fn staged_and_daemon_writes_give_the_same_cids() {
    let script = |dir: &std::path::Path| {
        format!(
            "cd '{}' && head -c 5000000 /dev/zero | tr '\\0' 'x' > big && truncate -s 1T sparse \
             && printf data | dd of=sparse bs=1 seek=549755813888 conv=notrunc status=none \
             && printf abc > small && printf def >> small && truncate -s 300000 small \
             && printf one > r && mv r moved && ln moved linked && : > empty \
             && head -c 70000 /dev/zero | tr '\\0' 'y' > over && printf z > over",
            dir.display()
        )
    };
    let Some(mut a) = Mount::new() else { return };
    a.sh(&script(&a.files()));
    if staging(&a).is_none() {
        eprintln!("no passthrough here (needs root and Linux 6.9+): skipped");
        return;
    }
    let staged = a.cid(&a.files());
    let Some(mut b) = Mount::new() else { return };
    b.stop(nix::sys::signal::Signal::SIGTERM);
    let out = b.p2pfs(&["config", "--json", "mount.passthrough", "false"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    b.start();
    b.sh(&script(&b.files()));
    assert_eq!(
        staging(&b).unwrap_or_default(),
        Vec::<String>::new(),
        "passthrough was off: nothing staged"
    );
    assert_eq!(b.cid(&b.files()), staged);
    // And after both are saved and loaded again.
    a.stop(nix::sys::signal::Signal::SIGTERM);
    a.start();
    assert_eq!(a.cid(&a.files()), staged);
    assert_eq!(
        std::fs::metadata(a.files().join("sparse")).unwrap().len(),
        1 << 40
    );
}
