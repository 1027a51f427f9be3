//! A real FUSE mount in a temp dir, with the daemon as a child process.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn fuse_available() -> bool {
    let ok = Path::new("/dev/fuse").exists()
        && Command::new("fusermount3")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
    if !ok && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but /dev/fuse or fusermount3 is missing: install fuse3");
    }
    if !ok {
        eprintln!("skipping: /dev/fuse or fusermount3 missing (install fuse3)");
    }
    ok
}

pub struct Mount {
    _tmp: tempfile::TempDir,
    pub repo: PathBuf,
    pub mnt: PathBuf,
    pub work: PathBuf,
    pub child: Option<Child>,
    /// Extra arguments of `p2pfs mount` (`--allow-other`).
    pub args: Vec<String>,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_p2pfs")
}

pub fn is_mounted(p: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .any(|l| l.split(' ').nth(4) == Some(p.to_str().unwrap()))
}

impl Mount {
    pub fn new() -> Option<Mount> {
        Self::with_args(&[])
    }

    /// A mount made with extra `p2pfs mount` arguments.
    pub fn with_args(args: &[&str]) -> Option<Mount> {
        if !fuse_available() {
            return None;
        }
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let (repo, mnt, work) = (root.join("repo"), root.join("net"), root.join("work"));
        std::fs::create_dir_all(&work).unwrap();
        let mut m = Mount {
            _tmp: tmp,
            repo,
            mnt,
            work,
            child: None,
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        m.start();
        Some(m)
    }

    pub fn start(&mut self) {
        let child = Command::new(bin())
            .args([
                "mount",
                self.mnt.to_str().unwrap(),
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
            ])
            .args(&self.args)
            .env("P2PFS_PATH", &self.repo)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !(is_mounted(&self.mnt) && self.repo.join("api.sock").exists()) {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let out = self.child.take().unwrap().wait_with_output().unwrap();
                panic!(
                    "p2pfs mount exited with {status}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            assert!(Instant::now() < deadline, "mount did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the daemon with a signal; returns its stderr.
    pub fn stop(&mut self, signal: nix::sys::signal::Signal) -> String {
        let child = self.child.take().expect("running");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "daemon exited with {}: {err}", out.status);
        assert!(!is_mounted(&self.mnt), "still mounted after the daemon exited");
        err
    }

    /// kill -9 the daemon, clear the stale mount, mount again.
    pub fn kill_and_remount(&mut self) {
        self.kill_and_remount_after(|| {});
    }

    /// As [`Mount::kill_and_remount`], running `between` once the daemon
    /// is dead and before the mount is cleared (e.g. closing a file still
    /// open on it, which keeps the mount busy).
    pub fn kill_and_remount_after(&mut self, between: impl FnOnce()) {
        let mut child = self.child.take().expect("running");
        child.kill().unwrap();
        child.wait().unwrap();
        between();
        Command::new("fusermount3")
            .arg("-u")
            .arg(&self.mnt)
            .status()
            .unwrap();
        assert!(!is_mounted(&self.mnt));
        self.start();
    }

    pub fn files(&self) -> PathBuf {
        self.mnt.join("files")
    }

    pub fn p2pfs(&self, args: &[&str]) -> Output {
        Command::new(bin())
            .args(args)
            .env("P2PFS_PATH", &self.repo)
            .current_dir(&self.work)
            .output()
            .unwrap()
    }

    pub fn sh(&self, script: &str) -> String {
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c", script])
            .current_dir(&self.work)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "script failed: {script}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn cid(&self, p: &Path) -> String {
        self.sh(&format!(
            "getfattr --only-values -n user.p2pfs.cid '{}'",
            p.display()
        ))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = c.wait();
        }
        if is_mounted(&self.mnt) {
            let _ = Command::new("fusermount3")
                .args(["-u", "-z"])
                .arg(&self.mnt)
                .status();
        }
    }
}
