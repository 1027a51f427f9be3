//! `user.*` extended attributes in files/ on a real mount, with setfattr
//! and getfattr: on files and directories, kept across a clean remount and
//! kill -9, limits and errors as Linux gives them, `user.p2pfs.cid`
//! still computed (and read-only), CIDs unchanged.

mod common;

use common::mount::Mount;
use std::process::Command;

/// `getfattr -d` of a few paths (every user.* attribute but the CID,
/// which follows the content; hex values).
fn dump(m: &Mount) -> String {
    m.sh(&format!(
        "cd '{}' && getfattr -d -e hex -m '^user\\.' d d/f d/l | grep -v '^user.p2pfs.cid='",
        m.files().display()
    ))
}

/// stderr of a command that must fail.
fn fails(m: &Mount, script: &str) -> String {
    let out = Command::new("bash")
        .args(["-c", script])
        .current_dir(m.files())
        .output()
        .unwrap();
    assert!(!out.status.success(), "{script} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn user_xattrs_are_kept_beside_the_tree() {
    let Some(mut m) = Mount::new() else { return };
    let f = m.files();
    m.sh(&format!(
        "cd '{}' && mkdir d && echo hi > d/f && ln d/f d/l && \
         setfattr -n user.color -v blue d/f && setfattr -n user.bin -v 0x00ff0a d/f && \
         setfattr -n user.tag -v dir d && setfattr -n user.tmp -v x d && setfattr -x user.tmp d",
        f.display()
    ));
    let cid = m.cid(&f.join("d"));
    let want = dump(&m);
    assert!(want.contains("user.color=0x626c7565"), "{want}");
    assert!(want.contains("user.bin=0x00ff0a"), "{want}");
    assert!(want.contains("user.tag=0x646972"), "{want}");
    assert!(!want.contains("user.tmp"), "{want}");
    // The CID attribute is still listed and computed, and cannot be set.
    let all = m.sh(&format!("getfattr -d -m - '{}/d/f'", f.display()));
    assert!(all.contains("user.p2pfs.cid="), "{all}");
    let err = fails(&m, "setfattr -n user.p2pfs.cid -v x d/f");
    assert!(err.contains("not permitted"), "{err}");
    // Errors: a missing attribute, another namespace, a value too large.
    let err = fails(&m, "getfattr -n user.none d/f");
    assert!(err.contains("No such attribute"), "{err}");
    let err = fails(&m, "setfattr -n trusted.x -v 1 d/f");
    assert!(err.contains("not supported"), "{err}");
    let err = fails(
        &m,
        "python3 -c \"import os; os.setxattr('d/f', 'user.big', b'x' * 65537)\"",
    );
    assert!(err.contains("Argument list too long"), "{err}");
    m.sh(&format!(
        "cd '{}' && python3 -c \"import os; os.setxattr('d/f', 'user.big', b'x' * 65536); \
         assert os.getxattr('d/l', 'user.big') == b'x' * 65536\" && setfattr -x user.big d/f",
        f.display()
    ));
    // Outside the DAG: the CIDs are what they were.
    assert_eq!(m.cid(&f.join("d")), cid);
    m.kill_and_remount();
    assert_eq!(dump(&m), want);
    m.stop(nix::sys::signal::Signal::SIGTERM);
    m.start();
    assert_eq!(dump(&m), want);
    // A write keeps them; a rename carries them.
    m.sh(&format!(
        "cd '{}' && echo more >> d/f && mv d e && mkdir d && mv e/f d/f && mv e/l d/l && rmdir e && \
         setfattr -n user.tag -v dir d",
        m.files().display()
    ));
    m.kill_and_remount();
    assert_eq!(dump(&m), want);
    assert_eq!(std::fs::read(m.files().join("d/l")).unwrap(), b"hi\nmore\n");
}
