//! files/ as a disk: owners, times, other users, persistence of metadata
//! across unmounts and kill -9. Real mounts; the tests that act as other
//! users need root (CI runs as root) and are skipped otherwise.

mod common;

use common::mount::{Mount, is_mounted};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

const NOBODY: u32 = 65534;

fn root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A mount whose temp dir other users can traverse.
fn open_mount(args: &[&str]) -> Option<Mount> {
    let m = Mount::with_args(args)?;
    let mut p = m.mnt.parent().map(Path::to_path_buf);
    while let Some(d) = p {
        if d == Path::new("/") {
            break;
        }
        let mode = std::fs::metadata(&d).unwrap().permissions().mode();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode | 0o055)).unwrap();
        p = d.parent().map(Path::to_path_buf);
    }
    Some(m)
}

/// Runs a shell script as `uid`/`gid`; its exit status.
fn sh_as(uid: u32, gid: u32, script: &str) -> std::process::Output {
    Command::new("sh")
        .args(["-c", script])
        .uid(uid)
        .gid(gid)
        .current_dir("/")
        .output()
        .unwrap()
}

#[allow(dead_code)]
/// kill -9 the daemon, clear the stale mount, mount again.
fn kill_and_remount(m: &mut Mount) {
    let mut child = m.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    Command::new("fusermount3")
        .arg("-u")
        .arg(&m.mnt)
        .status()
        .unwrap();
    assert!(!is_mounted(&m.mnt));
    m.start();
}

#[test]
fn allow_other_lets_other_users_in_with_permissions_checked() {
    if !root() {
        eprintln!("skipping: needs root");
        return;
    }
    let Some(m) = open_mount(&["--allow-other"]) else {
        return;
    };
    let f = m.files();
    std::fs::write(f.join("public"), b"hi").unwrap();
    std::fs::write(f.join("secret"), b"no").unwrap();
    std::fs::set_permissions(f.join("secret"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = sh_as(NOBODY, NOBODY, &format!("cat '{}/public'", f.display()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, b"hi");
    let out = sh_as(NOBODY, NOBODY, &format!("cat '{}/secret'", f.display()));
    assert!(
        !out.status.success(),
        "a 0600 file of root was readable by nobody"
    );
    // Without the option, the kernel refuses every other user.
    let Some(m2) = open_mount(&[]) else { return };
    let out = sh_as(NOBODY, NOBODY, &format!("ls '{}'", m2.files().display()));
    assert!(!out.status.success());
}

#[test]
fn allow_other_from_the_config() {
    if !root() {
        eprintln!("skipping: needs root");
        return;
    }
    let Some(mut m) = open_mount(&[]) else { return };
    m.stop(nix::sys::signal::Signal::SIGTERM);
    let cfg = m.repo.join("config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("allow_other = false", "allow_other = true")).unwrap();
    m.start();
    let out = sh_as(NOBODY, NOBODY, &format!("ls '{}'", m.files().display()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
