//! files/ as a disk: owners, times, other users, persistence of metadata
//! across unmounts and kill -9. Real mounts; the tests that act as other
//! users need root (CI runs as root) and are skipped otherwise.

mod common;

use common::mount::Mount;
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

/// stat -c of paths under files/.
fn stat(m: &Mount, fmt: &str, names: &[&str]) -> String {
    let paths: Vec<String> = names
        .iter()
        .map(|n| format!("'{}'", m.files().join(n).display()))
        .collect();
    m.sh(&format!("stat -c '{fmt}' {}", paths.join(" ")))
}

#[test]
fn owners_and_times_survive_kill_and_unmount() {
    let Some(mut m) = open_mount(&["--allow-other"]) else {
        return;
    };
    let f = m.files();
    // Times set on an open file (cp -p, tar -x do it before close).
    m.sh(&format!(
        "cd '{}' && mkdir d && python3 -c \"
import os
fd = os.open('d/f', os.O_WRONLY | os.O_CREAT, 0o640)
os.write(fd, b'x' * 100)
os.utime(fd, ns=(1_000_000_000_123, 2_000_000_000_456))
os.close(fd)\" && ln -s f d/l && mkdir d/sub",
        f.display()
    ));
    if root() {
        m.sh(&format!(
            "cd '{}' && chown 12:34 d/f && chown -h 56:78 d/l",
            f.display()
        ));
    }
    let dir_times = stat(&m, "%Y %Z %h", &["d"]);
    let want = stat(&m, "%u:%g %a %X.%x %Y %y", &["d/f", "d/l"]);
    assert!(
        want.starts_with(if root() { "12:34 640 1000" } else { "0:0 640 1000" }) || !root(),
        "{want}"
    );
    assert!(want.contains("2000 "), "{want}");
    assert!(
        dir_times.trim().ends_with(" 3"),
        "d has a subdirectory: {dir_times}"
    );
    // After a restart a directory's link count is 1 (unknown) until its
    // entries are listed (and the kernel's 1 s attribute cache expired).
    let listed = |m: &Mount| {
        m.sh(&format!("ls '{}/d' > /dev/null", m.files().display()));
        std::thread::sleep(std::time::Duration::from_millis(1100));
        stat(m, "%Y %Z %h", &["d"])
    };
    m.kill_and_remount();
    assert_eq!(stat(&m, "%u:%g %a %X.%x %Y %y", &["d/f", "d/l"]), want);
    assert_eq!(listed(&m), dir_times);
    m.stop(nix::sys::signal::Signal::SIGTERM);
    m.start();
    assert_eq!(stat(&m, "%u:%g %a %X.%x %Y %y", &["d/f", "d/l"]), want);
    assert_eq!(listed(&m), dir_times);
    // Metadata stays out of the DAG: the tree's CID is add's.
    let out = m.p2pfs(&["add", "-r", "-Q", "-n", f.join("d").to_str().unwrap()]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), m.cid(&f.join("d")));
}

#[test]
fn names_longer_than_255_bytes_are_refused() {
    let Some(m) = Mount::new() else { return };
    let long = "n".repeat(256);
    let err = std::fs::write(m.files().join(&long), b"x").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENAMETOOLONG));
    std::fs::write(m.files().join("n".repeat(255)), b"x").unwrap();
}

#[test]
fn fifos_sockets_and_devices_are_kept_out_of_the_dag() {
    let Some(mut m) = Mount::new() else { return };
    let f = m.files();
    m.sh(&format!("mkdir '{0}/d' && echo hi > '{0}/d/f'", f.display()));
    let before = m.cid(&f.join("d"));
    m.sh(&format!(
        "cd '{}/d' && mkfifo -m 640 p && python3 -c \"import socket; socket.socket(socket.AF_UNIX).bind('s')\" && \
         {{ [ $(id -u) -ne 0 ] || mknod c c 1 2; }}",
        f.display()
    ));
    // A FIFO works as one.
    m.sh(&format!(
        "cd '{}/d' && (echo through > p &) && read x < p && [ \"$x\" = through ]",
        f.display()
    ));
    let types = |m: &Mount| {
        m.sh(&format!(
            "cd '{}/d' && stat -c '%n %F %a %t:%T' *",
            m.files().display()
        ))
    };
    let want = types(&m);
    assert!(want.contains("p fifo 640"), "{want}");
    assert!(want.contains("s socket"), "{want}");
    if root() {
        assert!(want.contains("c character special file 644 1:2"), "{want}");
    }
    assert_eq!(m.cid(&f.join("d")), before, "special files are not in the DAG");
    m.kill_and_remount();
    assert_eq!(types(&m), want);
    m.stop(nix::sys::signal::Signal::SIGTERM);
    m.start();
    assert_eq!(types(&m), want);
    assert_eq!(m.cid(&m.files().join("d")), before);
}

#[test]
fn fallocate_grows_or_keeps_the_size() {
    let Some(m) = Mount::new() else { return };
    let f = m.files().join("f");
    std::fs::write(&f, b"abc").unwrap();
    let p = f.display();
    m.sh(&format!(
        "fallocate -l 1048576 '{p}' && fallocate -n -o 0 -l 8388608 '{p}'"
    ));
    assert_eq!(std::fs::metadata(&f).unwrap().len(), 1 << 20);
    let data = std::fs::read(&f).unwrap();
    assert_eq!(&data[..3], b"abc");
    assert!(data[3..].iter().all(|b| *b == 0));
    // Punching holes is not offered.
    let out = Command::new("fallocate")
        .args(["-p", "-o", "0", "-l", "4096"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn a_write_by_another_user_clears_set_user_id() {
    if !root() {
        eprintln!("skipping: needs root");
        return;
    }
    let Some(m) = open_mount(&["--allow-other"]) else {
        return;
    };
    let f = m.files().join("s");
    std::fs::write(&f, b"").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o6777)).unwrap();
    let out = sh_as(NOBODY, NOBODY, &format!("echo x >> '{}'", f.display()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o777);
}

#[test]
fn rename_exchange_survives_kill() {
    let Some(mut m) = Mount::new() else { return };
    let f = m.files();
    m.sh(&format!(
        "cd '{}' && mkdir d && echo in > d/x && echo file > f && python3 -c \"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
if libc.renameat2(AT_FDCWD, b'd', AT_FDCWD, b'f', RENAME_EXCHANGE) != 0:
    raise OSError(ctypes.get_errno(), 'renameat2')\"",
        f.display()
    ));
    let check = |m: &Mount| {
        let f = m.files();
        assert_eq!(std::fs::read(f.join("d")).unwrap(), b"file\n");
        assert_eq!(std::fs::read(f.join("f/x")).unwrap(), b"in\n");
    };
    check(&m);
    m.kill_and_remount();
    check(&m);
}

#[test]
fn df_shows_the_repo_usage() {
    let Some(m) = Mount::new() else { return };
    let df = |m: &Mount| -> u64 {
        let out = m.sh(&format!(
            "df -B1 --output=used '{}' | tail -1",
            m.files().display()
        ));
        out.trim().parse().unwrap()
    };
    let before = df(&m);
    let data = common::noise(3, 8 << 20);
    std::fs::write(m.files().join("big"), &data).unwrap();
    // 8 MiB more, give or take a block; not the host disk's usage. While
    // the file's bytes move from its staging file into the store (after
    // the close, in the background) both may count for a moment.
    let within = |after: u64| after >= before + (8 << 20) - (1 << 20) && after < before + (10 << 20);
    let mut after = df(&m);
    for _ in 0..50 {
        if within(after) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        after = df(&m);
    }
    assert!(within(after), "{before} -> {after}");
}

#[test]
fn du_of_a_sparse_file_counts_what_was_written() {
    let Some(mut m) = Mount::new() else { return };
    let f = m.files();
    m.sh(&format!(
        "cd '{}' && truncate -s 1G sparse && printf data | dd of=sparse bs=1 seek=536870912 conv=notrunc status=none \
         && head -c 3145728 /dev/urandom > dense",
        f.display()
    ));
    // du reads st_blocks; the kernel keeps attributes for 1 s.
    let du = |m: &Mount| {
        std::thread::sleep(std::time::Duration::from_millis(1100));
        m.sh(&format!(
            "cd '{}' && du -k sparse dense && du -k --apparent-size sparse",
            m.files().display()
        ))
    };
    // One 256 KiB leaf holds the 4 bytes; the rest is holes.
    let want = "256\tsparse\n3072\tdense\n1048576\tsparse\n";
    assert_eq!(du(&m), want);
    m.kill_and_remount();
    assert_eq!(du(&m), want);
}

/// O_TMPFILE (through the vendored fuser's FUSE_TMPFILE): an unnamed file,
/// nlink 0, that linkat names (and then keeps across kill -9); one made
/// with O_EXCL cannot be named, and one never named leaves nothing.
#[test]
fn o_tmpfile_makes_a_file_linkat_can_name() {
    let Some(mut m) = Mount::new() else { return };
    let out = m.sh(&format!(
        "cd '{}' && python3 -c \"
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
def name(fd, to):
    # linkat(fd, '', AT_FDCWD, to, AT_EMPTY_PATH)
    if libc.linkat(fd, b'', -100, to.encode(), 0x1000) != 0:
        raise OSError(ctypes.get_errno(), 'linkat')
fd = os.open('.', os.O_TMPFILE | os.O_RDWR, 0o640)
os.write(fd, b'tmp data\\n' * 1000)
print(os.fstat(fd).st_nlink, sorted(os.listdir('.')))
name(fd, 'named')
os.write(fd, b'more\\n')
os.close(fd)
st = os.stat('named')
print(st.st_nlink, oct(st.st_mode & 0o777), st.st_size)
fd = os.open('.', os.O_TMPFILE | os.O_EXCL | os.O_WRONLY, 0o600)
try:
    name(fd, 'never')
except OSError as e:
    print(errno.errorcode[e.errno])
os.close(fd)
fd = os.open('.', os.O_TMPFILE | os.O_WRONLY, 0o600)
os.write(fd, b'gone')
os.close(fd)
print(sorted(os.listdir('.')))\"",
        m.files().display()
    ));
    assert_eq!(out, "0 []\n1 0o640 9005\nENOENT\n['named']\n");
    let want = [b"tmp data\n".repeat(1000), b"more\n".to_vec()].concat();
    assert_eq!(std::fs::read(m.files().join("named")).unwrap(), want);
    m.kill_and_remount();
    assert_eq!(std::fs::read(m.files().join("named")).unwrap(), want);
    let names: Vec<_> = std::fs::read_dir(m.files())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["named"]);
}
