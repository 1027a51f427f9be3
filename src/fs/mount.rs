//! Mounting and unmounting: the mountpoint's checks, the FUSE session
//! (directly as root, through the setuid `fusermount3` otherwise, as libfuse
//! does), and telling a p2pfs mount from any other in /proc/self/mountinfo.

use super::P2pFs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// How `p2pfs mount` mounts.
#[derive(Debug, Clone, Copy)]
pub struct MountOpts {
    /// FUSE threads.
    pub threads: usize,
    /// FUSE's allow_other (or the config's `mount.allow_other`).
    pub allow_other: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error(
        "{0} is a stale mount left by a p2pfs that did not exit cleanly; clear it with: fusermount3 -u {0}"
    )]
    Stale(String),
    #[error("mountpoint {0} is not a directory")]
    NotADirectory(String),
    #[error("{0} is already a mount point; unmount it first (p2pfs unmount {0})")]
    AlreadyMounted(String),
    #[error("mountpoint {0} is not empty; use an empty directory")]
    NotEmpty(String),
    #[error("the repo {repo} is inside the mountpoint {mp}; choose another mountpoint")]
    RepoInside { repo: String, mp: String },
    #[error("{0} is not a p2pfs mount (`mount | grep p2pfs` lists them)")]
    NotP2pfs(String),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("unmounting {mp}")]
    Unmount {
        mp: String,
        #[source]
        source: nix::Error,
    },
    #[error("{0}")]
    Helper(String),
    #[error("allow_other for a user other than root needs the line user_allow_other in /etc/fuse.conf")]
    AllowOther(#[source] Box<MountError>),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> MountError {
    let what = what.into();
    move |source| MountError::Io { what, source }
}

/// Checks that `mp` can be mounted on: an empty directory (created when
/// missing), not a mount already, not a stale mount, not above the repo.
pub fn check_mountpoint(mp: &Path, repo: &Path) -> Result<PathBuf, MountError> {
    let shown = mp.display().to_string();
    match std::fs::metadata(mp) {
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => return Err(MountError::Stale(shown)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(mp).map_err(io(format!("creating mountpoint {shown}")))?;
        }
        Err(e) => return Err(io(format!("mountpoint {shown}"))(e)),
        Ok(m) if !m.is_dir() => return Err(MountError::NotADirectory(shown)),
        Ok(_) => {}
    }
    let mp = mp.canonicalize().map_err(io(format!("mountpoint {shown}")))?;
    let shown = mp.display().to_string();
    if is_mounted(&mp) {
        return Err(MountError::AlreadyMounted(shown));
    }
    let mut entries = std::fs::read_dir(&mp).map_err(io(format!("mountpoint {shown}")))?;
    if entries.next().is_some() {
        return Err(MountError::NotEmpty(shown));
    }
    let repo = repo.canonicalize().unwrap_or_else(|_| repo.to_path_buf());
    if repo.starts_with(&mp) {
        return Err(MountError::RepoInside {
            repo: repo.display().to_string(),
            mp: shown,
        });
    }
    Ok(mp)
}

/// Whether `path` is a mount point (listed in /proc/self/mountinfo).
pub fn is_mounted(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines()
        .any(|l| l.split(' ').nth(4).is_some_and(|m| unescape(m) == want))
}

fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Unmounts `mp` (as `p2pfs unmount` and after a busy unmount).
pub fn unmount(mp: &Path, lazy: bool) -> Result<(), MountError> {
    let shown = mp.display().to_string();
    if !lazy && !is_p2pfs_mount(mp) {
        return Err(MountError::NotP2pfs(shown));
    }
    if nix::unistd::geteuid().is_root() {
        let flags = if lazy {
            nix::mount::MntFlags::MNT_DETACH
        } else {
            nix::mount::MntFlags::empty()
        };
        return nix::mount::umount2(mp, flags).map_err(|source| MountError::Unmount { mp: shown, source });
    }
    let mut cmd = std::process::Command::new("fusermount3");
    cmd.arg("-u");
    if lazy {
        cmd.arg("-z");
    }
    let status = cmd
        .arg(mp)
        .status()
        .map_err(io("running fusermount3 (install the fuse3 package)"))?;
    if !status.success() {
        return Err(MountError::Helper(format!("fusermount3 -u {shown} failed")));
    }
    Ok(())
}

/// Whether `mp` is where a p2pfs filesystem is mounted (per
/// /proc/self/mountinfo).
fn is_p2pfs_mount(mp: &Path) -> bool {
    let Ok(mp) = mp.canonicalize() else { return false };
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return true; // cannot tell: let the unmount itself answer
    };
    // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS... - FSTYPE SOURCE SUPEROPTS"
    info.lines().any(|l| {
        let Some((left, right)) = l.split_once(" - ") else {
            return false;
        };
        let point = unescape(left.split(' ').nth(4).unwrap_or_default());
        // fusermount3 shows the subtype (fuse.p2pfs), a root mount only
        // the source (fsname p2pfs).
        let mut r = right.split(' ');
        let (fstype, source) = (r.next().unwrap_or_default(), r.next().unwrap_or_default());
        fstype.starts_with("fuse") && (fstype == "fuse.p2pfs" || source == "p2pfs") && Path::new(&point) == mp
    })
}

/// Mounts through the setuid `fusermount3`, as libfuse does for ordinary
/// users: it opens /dev/fuse, mounts, and passes the descriptor back over a
/// socket (`_FUSE_COMMFD`). Works where /dev/fuse is not world-writable.
fn fusermount_fd(mp: &Path, options: &str) -> Result<OwnedFd, MountError> {
    use nix::sys::socket::{
        AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg, socketpair,
    };
    use std::os::fd::{AsRawFd, FromRawFd};
    let helper = "running fusermount3 (install the fuse3 package)";
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| io("creating a socket pair for fusermount3")(e.into()))?;
    // fusermount3 must inherit its end.
    nix::fcntl::fcntl(
        &theirs,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )
    .map_err(|e| io(helper)(e.into()))?;
    let mut child = std::process::Command::new("fusermount3")
        .args(["-o", options, "--"])
        .arg(mp)
        .env("_FUSE_COMMFD", theirs.as_raw_fd().to_string())
        .spawn()
        .map_err(io(helper))?;
    drop(theirs);
    let mut buf = [0u8; 8];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!(std::os::fd::RawFd);
    let fd = match recvmsg::<()>(ours.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::empty()) {
        Ok(msg) => msg.cmsgs().ok().and_then(|mut c| {
            c.find_map(|m| match m {
                ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
                _ => None,
            })
        }),
        Err(_) => None,
    };
    let status = child.wait().map_err(io("waiting for fusermount3"))?;
    match fd {
        // SAFETY: the descriptor was just received through SCM_RIGHTS; nothing
        // else owns it.
        Some(fd) if status.success() => Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
        _ => Err(MountError::Helper(format!(
            "fusermount3 could not mount {} ({status})",
            mp.display()
        ))),
    }
}

/// A mounted FUSE session and how to end it.
pub struct Mounted {
    mp: PathBuf,
    session: fuser::BackgroundSession,
    via_helper: bool,
}

/// Mounts `fs` on `mp` (checked by [`check_mountpoint`]) and serves it on
/// background threads until [`Mounted::stop`] or an unmount from outside.
pub fn mount(fs: P2pFs, mp: &Path, opts: MountOpts) -> Result<Mounted, MountError> {
    let mut cfg = fuser::Config::default();
    cfg.mount_options = vec![
        fuser::MountOption::FSName("p2pfs".into()),
        fuser::MountOption::Subtype("p2pfs".into()),
        // The kernel checks permissions against mode, owner and group.
        fuser::MountOption::DefaultPermissions,
        fuser::MountOption::NoAtime,
    ];
    cfg.n_threads = Some(opts.threads.max(1));
    cfg.clone_fd = true;
    // allow_other: the kernel lets every user in (the ACL maps to it).
    cfg.acl = if opts.allow_other {
        fuser::SessionACL::All
    } else {
        fuser::SessionACL::Owner
    };
    let shown = mp.display().to_string();
    // Root mounts directly; everyone else goes through fusermount3.
    let via_helper = !nix::unistd::geteuid().is_root();
    let session = if via_helper {
        let mut options = "fsname=p2pfs,subtype=p2pfs,default_permissions,noatime,nodev,nosuid".to_string();
        if opts.allow_other {
            options.push_str(",allow_other");
        }
        let fd = fusermount_fd(mp, &options).map_err(|e| match opts.allow_other {
            true => MountError::AllowOther(Box::new(e)),
            false => e,
        })?;
        fuser::Session::from_fd(fs, fd, cfg.acl, cfg.clone())
            .and_then(fuser::Session::spawn)
            .map_err(io(format!("starting the FUSE session on {shown}")))?
    } else {
        fuser::spawn_mount(fs, mp, &cfg).map_err(io(format!(
            "mounting {shown} (is /dev/fuse present and fusermount3 installed? apt-get install fuse3)"
        )))?
    };
    Ok(Mounted {
        mp: mp.to_path_buf(),
        session,
        via_helper,
    })
}

impl Mounted {
    pub fn mountpoint(&self) -> &Path {
        &self.mp
    }

    /// Whether the session ended (an unmount from outside).
    pub fn finished(&self) -> bool {
        self.session.guard.is_finished()
    }

    /// Ends the session: unmounts (detaching when busy) unless `external`,
    /// an unmount from outside that already happened.
    pub fn stop(self, external: bool) -> Result<(), MountError> {
        let mp = &self.mp;
        if external {
            let _ = self.session.join();
            return Ok(());
        }
        if self.via_helper {
            if let Err(e) = unmount(mp, false) {
                tracing::warn!("unmount: {e}; detaching instead");
                unmount(mp, true)?;
            }
            let _ = self.session.join();
        } else if let Err(e) = self.session.umount_and_join() {
            tracing::warn!("unmount: {e}; detaching instead");
            unmount(mp, true)?;
        }
        Ok(())
    }
}
