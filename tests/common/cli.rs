//! The offline CLI as a real process against a temp repo (tests/cli.rs,
//! tests/cli_messages.rs).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Env {
    _tmp: tempfile::TempDir,
    pub repo: PathBuf,
    pub work: PathBuf,
}

impl Env {
    /// A new repo (made with `p2pfs init`) and a work directory.
    pub fn new() -> Env {
        let e = Env::bare();
        e.ok(&["init"]);
        e
    }

    /// A work directory and the path of a repo that does not exist yet.
    pub fn bare() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        let work = tmp.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        Env {
            _tmp: tmp,
            repo,
            work,
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_p2pfs"))
            .args(args)
            .env("P2PFS_PATH", &self.repo)
            .env_remove("RUST_LOG")
            .current_dir(&self.work)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "p2pfs {args:?} panicked: {stderr}");
        out
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "p2pfs {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and expects failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "p2pfs {args:?} should have failed");
        String::from_utf8(out.stderr).unwrap()
    }

    pub fn write(&self, rel: &str, data: &[u8]) -> PathBuf {
        let p = self.work.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        p
    }
}

/// `n` bytes of the (i % 251) pattern (Helia's vectors use it too).
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

pub fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}
