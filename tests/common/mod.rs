//! Helpers shared by the process tests: daemons and mounts on temp repos.
#![allow(dead_code)]

pub mod cli;
pub mod mount;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    pub tmp: tempfile::TempDir,
    pub repo: PathBuf,
    child: Child,
    mount: Option<PathBuf>,
}

pub fn p2pfs(repo: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_p2pfs"))
        .args(args)
        .env("P2PFS_PATH", repo)
        .output()
        .unwrap()
}

impl Daemon {
    pub fn start(listen: &[&str]) -> Daemon {
        Self::start_with(listen, |c| c)
    }

    /// Starts a daemon on a new repo whose config.toml is first changed by `edit`.
    pub fn start_with(listen: &[&str], edit: impl FnOnce(String) -> String) -> Daemon {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        assert!(p2pfs(&repo, &["init"]).status.success());
        let cfg = repo.join("config.toml");
        // No gateway unless a test asks for one (see tests/gateway.rs):
        // parallel daemons must not all reach for 127.0.0.1:8080.
        let text = std::fs::read_to_string(&cfg)
            .unwrap()
            .replace(r#"listen = ["127.0.0.1:8080"]"#, "listen = []");
        std::fs::write(&cfg, edit(text)).unwrap();
        Self::run_in(tmp, listen, false)
    }

    /// Starts `p2pfs mount` (at `net/` beside the repo) or a daemon on an
    /// existing repo (a restart keeps the repo).
    pub fn run_in(tmp: tempfile::TempDir, listen: &[&str], mount: bool) -> Daemon {
        Self::run_in_with(tmp, listen, mount, &[])
    }

    /// `run_in` with more arguments for `daemon`/`mount`.
    pub fn run_in_with(tmp: tempfile::TempDir, listen: &[&str], mount: bool, more: &[&str]) -> Daemon {
        let repo = tmp.path().join("repo");
        let mnt = tmp.path().join("net");
        let mut args: Vec<&str> = vec!["daemon"];
        if mount {
            std::fs::create_dir_all(&mnt).unwrap();
            args = vec!["mount", mnt.to_str().unwrap()];
        }
        for l in listen {
            args.extend(["--listen", l]);
        }
        args.extend(more);
        let child = Command::new(env!("CARGO_BIN_EXE_p2pfs"))
            .args(&args)
            .env("P2PFS_PATH", &repo)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let d = Daemon {
            tmp,
            repo,
            child,
            mount: mount.then_some(mnt),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while d.addrs().is_empty() {
            assert!(Instant::now() < deadline, "daemon did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    pub fn run(&self, args: &[&str]) -> Output {
        p2pfs(&self.repo, args)
    }

    pub fn id(&self) -> serde_json::Value {
        let out = self.run(&["id"]);
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    pub fn addrs(&self) -> Vec<String> {
        if !self.repo.join("api.sock").exists() {
            return Vec::new();
        }
        self.id()["Addresses"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
            .unwrap_or_default()
    }

    pub fn peers(&self) -> String {
        String::from_utf8(self.run(&["swarm", "peers"]).stdout).unwrap()
    }
}

impl Daemon {
    /// Sends a signal to the node (SIGSTOP: a peer that stops answering).
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig);
    }

    /// The mountpoint, when started with `mount`.
    pub fn mnt(&self) -> &Path {
        self.mount.as_deref().expect("started with mount")
    }

    /// Stops the node (SIGTERM: it saves and exits) and gives back its dir.
    pub fn stop(mut self) -> tempfile::TempDir {
        self.terminate();
        let tmp = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.tmp, tmp)
    }

    /// Waits until the node has exited (after `p2pfs shutdown`).
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }

    fn terminate(&mut self) {
        // Exited already (and reaped): its pid may be someone else's now.
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // A stopped node must run again to take SIGTERM.
        self.signal(nix::sys::signal::Signal::SIGCONT);
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
        if let Some(m) = &self.mount {
            let _ = Command::new("fusermount3")
                .arg("-uz")
                .arg(m)
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Bytes from xorshift: no two 256 KiB chunks alike, within or across seeds.
pub fn noise(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Polls `f` for up to 15 s.
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
