//! `p2pfs mount`: the long-running process. It owns the repo, serves the
//! control socket, mounts the FUSE filesystem, checkpoints the writable tree
//! periodically, and on Ctrl-C / SIGTERM / `p2pfs shutdown` / an external
//! unmount flushes everything and exits cleanly. Under systemd it tells
//! the service manager when it is ready and when it stops (`notify.rs`).

mod notify;

use crate::api;
use crate::fs::P2pFs;
use crate::mfs::Mfs;
use crate::repo::Repo;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const CHECKPOINT_EVERY: Duration = Duration::from_secs(30);

/// How `p2pfs mount` mounts.
#[derive(Debug, Clone, Copy)]
pub struct MountOpts {
    /// FUSE threads.
    pub threads: usize,
    /// FUSE's allow_other (or the config's `mount.allow_other`).
    pub allow_other: bool,
}

/// Checks that `mp` can be mounted on: an empty directory (created when
/// missing), not a mount already, not a stale mount, not above the repo.
pub fn check_mountpoint(mp: &Path, repo: &Path) -> anyhow::Result<PathBuf> {
    match std::fs::metadata(mp) {
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => bail!(
            "{} is a stale mount left by a p2pfs that did not exit cleanly; clear it with: fusermount3 -u {}",
            mp.display(),
            mp.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(mp).with_context(|| format!("creating mountpoint {}", mp.display()))?;
        }
        Err(e) => return Err(e).with_context(|| format!("mountpoint {}", mp.display())),
        Ok(m) if !m.is_dir() => bail!("mountpoint {} is not a directory", mp.display()),
        Ok(_) => {}
    }
    let mp = mp
        .canonicalize()
        .with_context(|| format!("mountpoint {}", mp.display()))?;
    if is_mounted(&mp) {
        bail!(
            "{} is already a mount point; unmount it first (p2pfs unmount {})",
            mp.display(),
            mp.display()
        );
    }
    if std::fs::read_dir(&mp)?.next().is_some() {
        bail!("mountpoint {} is not empty; use an empty directory", mp.display());
    }
    let repo = repo.canonicalize().unwrap_or_else(|_| repo.to_path_buf());
    if repo.starts_with(&mp) {
        bail!(
            "the repo {} is inside the mountpoint {}; choose another mountpoint",
            repo.display(),
            mp.display()
        );
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
pub fn unmount(mp: &Path, lazy: bool) -> anyhow::Result<()> {
    if !lazy && !is_p2pfs_mount(mp) {
        bail!(
            "{} is not a p2pfs mount (`mount | grep p2pfs` lists them)",
            mp.display()
        );
    }
    if nix::unistd::geteuid().is_root() {
        let flags = if lazy {
            nix::mount::MntFlags::MNT_DETACH
        } else {
            nix::mount::MntFlags::empty()
        };
        nix::mount::umount2(mp, flags).with_context(|| format!("unmounting {}", mp.display()))?;
        return Ok(());
    }
    let mut cmd = std::process::Command::new("fusermount3");
    cmd.arg("-u");
    if lazy {
        cmd.arg("-z");
    }
    let status = cmd
        .arg(mp)
        .status()
        .context("running fusermount3 (install the fuse3 package)")?;
    if !status.success() {
        bail!("fusermount3 -u {} failed", mp.display());
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
fn fusermount_fd(mp: &Path, options: &str) -> anyhow::Result<std::os::fd::OwnedFd> {
    use nix::sys::socket::{
        AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg, socketpair,
    };
    use std::os::fd::{AsRawFd, FromRawFd};
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context("creating a socket pair for fusermount3")?;
    // fusermount3 must inherit its end.
    nix::fcntl::fcntl(
        &theirs,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )?;
    let mut child = std::process::Command::new("fusermount3")
        .args(["-o", options, "--"])
        .arg(mp)
        .env("_FUSE_COMMFD", theirs.as_raw_fd().to_string())
        .spawn()
        .context("running fusermount3 (install the fuse3 package)")?;
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
    let status = child.wait().context("waiting for fusermount3")?;
    match fd {
        // SAFETY: the descriptor was just received through SCM_RIGHTS; nothing
        // else owns it.
        Some(fd) if status.success() => Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }),
        _ => bail!("fusermount3 could not mount {} ({status})", mp.display()),
    }
}

/// A mounted FUSE session and how to end it.
struct Mounted {
    mp: PathBuf,
    session: fuser::BackgroundSession,
    via_helper: bool,
}

fn mount_fs(fs: P2pFs, mp: &Path, opts: MountOpts) -> anyhow::Result<Mounted> {
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
    // Root mounts directly; everyone else goes through fusermount3.
    let via_helper = !nix::unistd::geteuid().is_root();
    let session = if via_helper {
        let mut options = "fsname=p2pfs,subtype=p2pfs,default_permissions,noatime,nodev,nosuid".to_string();
        if opts.allow_other {
            options.push_str(",allow_other");
        }
        let fd = fusermount_fd(mp, &options).map_err(|e| {
            if opts.allow_other {
                e.context("allow_other for a user other than root needs the line user_allow_other in /etc/fuse.conf")
            } else {
                e
            }
        })?;
        fuser::Session::from_fd(fs, fd, cfg.acl, cfg.clone())
            .and_then(fuser::Session::spawn)
            .with_context(|| format!("starting the FUSE session on {}", mp.display()))?
    } else {
        fuser::spawn_mount(fs, mp, &cfg).with_context(|| {
            format!(
                "mounting {} (is /dev/fuse present and fusermount3 installed? apt-get install fuse3)",
                mp.display()
            )
        })?
    };
    Ok(Mounted {
        mp: mp.to_path_buf(),
        session,
        via_helper,
    })
}

impl Mounted {
    fn finished(&self) -> bool {
        self.session.guard.is_finished()
    }

    fn stop(self, external: bool) -> anyhow::Result<()> {
        let mp = &self.mp;
        if external {
            eprintln!("p2pfs: {} was unmounted; saving and exiting", mp.display());
            let _ = self.session.join();
            return Ok(());
        }
        eprintln!("p2pfs: unmounting {}", mp.display());
        if self.via_helper {
            if let Err(e) = unmount(mp, false) {
                tracing::warn!("unmount: {e:#}; detaching instead");
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

/// Runs the node (and the mount, when given one) until a signal or an
/// external unmount; then saves everything.
pub fn run(
    repo_path: &Path,
    mount: Option<(&Path, MountOpts)>,
    listen: &[crate::peer::Multiaddr],
    announce: &[crate::peer::Multiaddr],
) -> anyhow::Result<()> {
    let repo = open_repo(repo_path)?;
    let mp = match mount {
        Some((mp, _)) => Some(check_mountpoint(mp, &repo.path)?),
        None => None,
    };
    let net_cfg = net_config(&repo, listen, announce);
    let repo = Arc::new(repo);
    let mfs = open_tree(&repo)?;
    let rt = runtime()?;
    let net = rt
        .block_on(crate::net::start(
            repo.keypair.clone(),
            net_cfg,
            Arc::new(crate::blockservice::LocalBlocks(repo.clone())),
        ))
        .context("starting the network")?;
    let _provider = start_provider(&repo, &net);
    let names = crate::namesys::Names::start(repo.clone(), net.clone());
    crate::namesys::start_following(names.clone(), mfs.clone());
    let stop = Arc::new(tokio::sync::Notify::new());
    let _api = api::Server::start(
        repo.clone(),
        mfs.clone(),
        Some(net.clone()),
        Some(names.clone()),
        stop.clone(),
    )
    .context("starting the control socket")?;
    let gateway = rt.block_on(crate::gateway::Gateway::start(
        repo.clone(),
        Some(net.clone()),
        Some(names.clone()),
        &repo.config.gateway_addrs(),
    ));
    let mounted = match (&mp, mount) {
        (Some(mp), Some((_, mut opts))) => {
            opts.allow_other |= repo.config.mount.allow_other;
            let fs = P2pFs::new(
                repo.clone(),
                mfs.clone(),
                Some(net.clone()),
                Some(names.clone()),
                rt.handle().clone(),
            );
            Some(mount_and_say(fs, mp, opts, &repo)?)
        }
        _ => {
            eprintln!(
                "p2pfs: node {} running (repo {}); Ctrl-C to stop",
                repo.peer_id,
                repo.path.display()
            );
            None
        }
    };
    notify::ready(&repo.peer_id.to_string(), mp.as_deref());
    let external = rt.block_on(wait_for_stop(mounted.as_ref(), &mfs, &stop))?;
    notify::stopping();
    // The gateway first: its reads need the network until they are cut.
    rt.block_on(gateway.shutdown());
    rt.block_on(net.shutdown());
    if let Some(m) = mounted {
        m.stop(external)?;
    }
    let root = mfs.checkpoint().context("saving files/")?;
    repo.store.commit()?;
    eprintln!("p2pfs: files/ saved as {root}");
    Ok(())
}

/// The repo, created (and said so) if missing.
fn open_repo(path: &Path) -> anyhow::Result<Repo> {
    let (repo, created) = Repo::open_or_init(path)?;
    if created {
        eprintln!(
            "initialized a new repo at {} (peer ID {})",
            repo.path.display(),
            repo.peer_id
        );
    }
    Ok(repo)
}

/// The node's tokio runtime.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(64)
        .enable_all()
        .thread_name("p2pfs-worker")
        .build()
        .context("starting the runtime")
}

/// The writable tree, which the cache limit must never evict.
fn open_tree(repo: &Arc<Repo>) -> anyhow::Result<Arc<Mfs>> {
    let mfs = Arc::new(Mfs::open(repo.clone())?);
    let m = Arc::downgrade(&mfs);
    repo.cache.set_roots(Arc::new(move || match m.upgrade() {
        Some(m) => m.gc_roots().map_err(|e| e.to_string()),
        None => Err("the files/ tree is closed".into()),
    }));
    crate::cache::check(repo);
    Ok(mfs)
}

/// Announcements per `network.provide`; the saved files/ root is a root.
fn start_provider(repo: &Arc<Repo>, net: &crate::net::NetHandle) -> Arc<crate::provider::Provider> {
    let saved = repo.clone();
    crate::provider::start(
        repo.clone(),
        net.clone(),
        Arc::new(move || {
            Ok(saved
                .store
                .files_root()
                .map_err(|e| e.to_string())?
                .map(|(c, _)| c)
                .into_iter()
                .collect())
        }),
    )
}

/// The network's settings: the command line's addresses replace the
/// config's (checked when it was read).
fn net_config(
    repo: &Repo,
    listen: &[crate::peer::Multiaddr],
    announce: &[crate::peer::Multiaddr],
) -> crate::net::NetConfig {
    let or_config = |given: &[crate::peer::Multiaddr], config: &[String]| -> Vec<crate::peer::Multiaddr> {
        if given.is_empty() {
            config.iter().filter_map(|a| a.parse().ok()).collect()
        } else {
            given.to_vec()
        }
    };
    crate::net::NetConfig {
        listen: or_config(listen, &repo.config.network.listen),
        announce: or_config(announce, &repo.config.network.announce),
        bootstrap: repo
            .config
            .network
            .bootstrap
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect(),
        conns: crate::net::connmgr::ConnConfig {
            low: repo.config.swarm.conns.low,
            high: repo.config.swarm.conns.high,
            grace: repo.config.conn_grace(),
        },
        saved_peers: Some(repo.path.join(crate::net::connmgr::SAVED_FILE)),
    }
}

/// Mounts and tells the user where and how to stop.
fn mount_and_say(fs: P2pFs, mp: &Path, opts: MountOpts, repo: &Repo) -> anyhow::Result<Mounted> {
    let m = mount_fs(fs, mp, opts)?;
    eprintln!(
        "p2pfs: mounted at {} (repo {}, peer ID {})",
        mp.display(),
        repo.path.display(),
        repo.peer_id
    );
    eprintln!(
        "p2pfs: ipfs/<CID> reads content by CID, files/ is writable; Ctrl-C or `p2pfs unmount {}` to stop",
        mp.display()
    );
    Ok(m)
}

/// Runs until a signal or `p2pfs shutdown` (false) or an unmount from outside (true),
/// checkpointing files/ every `CHECKPOINT_EVERY` meanwhile.
async fn wait_for_stop(
    mounted: Option<&Mounted>,
    mfs: &Arc<Mfs>,
    stop: &tokio::sync::Notify,
) -> anyhow::Result<bool> {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut int, mut term) = match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(i), Ok(t)) => (i, t),
        _ => return Err(anyhow::anyhow!("cannot install signal handlers")),
    };
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut since_checkpoint = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = int.recv() => return Ok(false),
            _ = term.recv() => return Ok(false),
            _ = stop.notified() => return Ok(false),
            _ = tick.tick() => {
                if mounted.is_some_and(Mounted::finished) {
                    return Ok(true); // fusermount3 -u / umount from outside
                }
                if since_checkpoint.elapsed() >= CHECKPOINT_EVERY {
                    since_checkpoint = tokio::time::Instant::now();
                    let m = mfs.clone();
                    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || m.checkpoint()).await {
                        tracing::error!("checkpoint of files/ failed: {e}");
                    }
                }
            }
        }
    }
}
