//! The pages in man/ are generated from the clap definitions; this fails when
//! they drift. Regenerate with: P2PFS_UPDATE_MAN=1 cargo test --test man

use std::collections::BTreeSet;
use std::path::Path;

#[test]
fn man_pages_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let pages = p2pfs::man::pages().unwrap();
    let update = std::env::var_os("P2PFS_UPDATE_MAN").is_some();
    if update {
        std::fs::create_dir_all(&dir).unwrap();
    }
    let wanted: BTreeSet<String> = pages.iter().map(|(n, _)| n.clone()).collect();
    let mut stale = Vec::new();
    for (name, text) in &pages {
        let path = dir.join(name);
        if std::fs::read(&path).ok().as_deref() != Some(text.as_slice()) {
            if update {
                std::fs::write(&path, text).unwrap();
            } else {
                stale.push(name.clone());
            }
        }
    }
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.ends_with(".1") && !wanted.contains(&name) {
            if update {
                std::fs::remove_file(e.path()).unwrap();
            } else {
                stale.push(format!("{name} (no such command)"));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "man pages out of date: {stale:?}\nregenerate with: P2PFS_UPDATE_MAN=1 cargo test --test man"
    );
}

/// Completion scripts come from the same clap definitions; printing one needs
/// no repo and must not create one.
#[test]
fn completions_are_printed_without_a_repo() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let run = |shell: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_p2pfs"))
            .args(["completions", shell])
            .env("P2PFS_PATH", &repo)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let bash = run("bash");
    assert!(bash.contains("_p2pfs()") && bash.contains("complete -F _p2pfs"));
    // Subcommands and their flags are in it.
    assert!(bash.contains("unmount") && bash.contains("--cid-version"));
    assert!(run("zsh").starts_with("#compdef p2pfs"));
    assert!(run("fish").contains("complete -c p2pfs"));
    assert!(!repo.exists(), "completions created a repo");
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_p2pfs"))
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}
