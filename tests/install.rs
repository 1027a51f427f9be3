//! `contrib/install.sh PREFIX`: the binary, every man page, completions for
//! bash, zsh and fish, and the systemd user units (pointed at PREFIX) land
//! where those tools look; `contrib/deb.sh` packages the same; and the
//! units in the repo are `Type=notify`.

use std::path::Path;
use std::process::Command;

fn install(prefix: &str, destdir: Option<&Path>) -> std::process::Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new("sh");
    cmd.arg(root.join("contrib/install.sh"))
        .arg(prefix)
        .env("P2PFS_BIN", env!("CARGO_BIN_EXE_p2pfs"))
        .env_remove("DESTDIR");
    if let Some(d) = destdir {
        cmd.env("DESTDIR", d);
    }
    cmd.output().unwrap()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn installs_binary_man_pages_completions_and_units() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("prefix");
    let out = install(prefix.to_str().unwrap(), None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let bin = prefix.join("bin/p2pfs");
    let v = Command::new(&bin).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&v.stdout).trim(),
        format!("p2pfs {}", env!("CARGO_PKG_VERSION"))
    );

    let man = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let pages: Vec<_> = std::fs::read_dir(&man)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(pages.len() > 50, "{} man pages in the repo", pages.len());
    for p in &pages {
        let installed = prefix.join("share/man/man1").join(p);
        assert_eq!(read(&installed), read(&man.join(p)));
    }

    for (path, marker) in [
        ("share/bash-completion/completions/p2pfs", "complete -F _p2pfs"),
        ("share/zsh/site-functions/_p2pfs", "#compdef p2pfs"),
        ("share/fish/vendor_completions.d/p2pfs.fish", "complete -c p2pfs"),
    ] {
        let text = read(&prefix.join(path));
        assert!(text.contains(marker), "{path} lacks {marker:?}");
        assert!(
            text.contains("shutdown"),
            "{path} does not complete the subcommands"
        );
    }

    for (unit, run) in [
        ("p2pfs-daemon.service", "daemon"),
        ("p2pfs-mount.service", "mount"),
    ] {
        let text = read(&prefix.join("share/systemd/user").join(unit));
        let exec = format!("ExecStart={}/bin/p2pfs {run}", prefix.display());
        assert!(text.lines().any(|l| l.starts_with(&exec)), "{unit}: no {exec}");
        assert!(!text.contains(".cargo/bin"), "{unit} still names ~/.cargo/bin");
    }
}

#[test]
fn destdir_stages_and_bad_prefixes_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = install("/usr/local", Some(tmp.path()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(tmp.path().join("usr/local/bin/p2pfs").is_file());
    // The unit names where the binary will be, not the staging area.
    let unit = read(
        &tmp.path()
            .join("usr/local/share/systemd/user/p2pfs-mount.service"),
    );
    assert!(
        unit.contains("ExecStart=/usr/local/bin/p2pfs mount %h/p2pfs"),
        "{unit}"
    );

    let out = install("relative/prefix", None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("absolute path"));
}

/// The units as shipped: readiness by notification, stopped by SIGTERM
/// (which the node takes as Ctrl-C), the binary where `cargo install` puts it.
#[test]
fn repo_units_are_notify_services() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd");
    for (unit, exec) in [
        ("p2pfs-daemon.service", "ExecStart=%h/.cargo/bin/p2pfs daemon"),
        (
            "p2pfs-mount.service",
            "ExecStart=%h/.cargo/bin/p2pfs mount %h/p2pfs",
        ),
    ] {
        let text = read(&dir.join(unit));
        let lines: Vec<&str> = text.lines().collect();
        for want in [
            "Type=notify",
            "NotifyAccess=main",
            exec,
            "WantedBy=default.target",
        ] {
            assert!(lines.contains(&want), "{unit}: no line {want}");
        }
        assert!(
            !lines.iter().any(|l| l.starts_with("KillSignal=")),
            "{unit}: SIGTERM is the stop"
        );
    }
}

/// `contrib/deb.sh`: a package dpkg accepts, holding what install.sh puts
/// under /usr, its root not narrowed (a 0700 root would be applied to /).
#[test]
fn deb_package_holds_the_same_files() {
    let out_dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("sh")
        .arg(root.join("contrib/deb.sh"))
        .arg(out_dir.path())
        .env("P2PFS_BIN", env!("CARGO_BIN_EXE_p2pfs"))
        .env("P2PFS_DEB_COMPRESSION", "none")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let deb = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(
        deb.ends_with(&format!("p2pfs_{}_{}.deb", env!("CARGO_PKG_VERSION"), arch())),
        "{deb}"
    );
    let field = |f: &str| {
        let o = Command::new("dpkg-deb").args(["-f", &deb, f]).output().unwrap();
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    };
    assert_eq!(field("Package"), "p2pfs");
    assert_eq!(field("Version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(field("Recommends"), "fuse3");
    let list = Command::new("dpkg-deb").args(["-c", &deb]).output().unwrap();
    let list = String::from_utf8(list.stdout).unwrap();
    let root_line = list.lines().find(|l| l.ends_with(" ./")).unwrap();
    assert!(root_line.starts_with("drwxr-xr-x root/root"), "{root_line}");
    let man_pages = list
        .lines()
        .filter(|l| l.contains("./usr/share/man/man1/"))
        .count();
    assert!(man_pages > 50, "{man_pages} man pages");
    let bin = list.lines().find(|l| l.ends_with(" ./usr/bin/p2pfs")).unwrap();
    assert!(bin.starts_with("-rwxr-xr-x root/root"), "{bin}");
    for path in [
        "./usr/share/bash-completion/completions/p2pfs",
        "./usr/share/zsh/site-functions/_p2pfs",
        "./usr/share/fish/vendor_completions.d/p2pfs.fish",
        "./usr/share/systemd/user/p2pfs-mount.service",
        "./usr/share/systemd/user/p2pfs-daemon.service",
    ] {
        assert!(list.contains(path), "the package lacks {path}:\n{list}");
    }
}

fn arch() -> String {
    let o = Command::new("dpkg").arg("--print-architecture").output().unwrap();
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}
