//! `p2pfs mount`: the long-running process. It owns the repo, serves the
//! control socket, mounts the FUSE filesystem, checkpoints the writable tree
//! periodically, and on Ctrl-C / SIGTERM / `p2pfs shutdown` / an external
//! unmount flushes everything and exits cleanly. Under systemd it tells
//! the service manager when it is ready and when it stops (`notify.rs`).

mod notify;

use crate::api;
use crate::fs::P2pFs;
use crate::fs::mount::{self, Mounted};
// What `p2pfs mount` and `p2pfs unmount` need, without naming `fs`.
pub use crate::fs::mount::{MountOpts, unmount};
use crate::mfs::Mfs;
use crate::repo::Repo;
use anyhow::Context;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const CHECKPOINT_EVERY: Duration = Duration::from_secs(30);

/// Builds the control socket's handler over the running node (the CLI
/// gives it: the daemon does not name the CLI).
pub type MakeHandler =
    fn(Arc<Repo>, Arc<Mfs>, crate::net::NetHandle, Arc<crate::namesys::Names>) -> Arc<dyn api::Handler>;

/// Runs the node (and the mount, when given one) until a signal or an
/// external unmount; then saves everything.
pub fn run(
    repo_path: &Path,
    mount: Option<(&Path, MountOpts)>,
    listen: &[crate::peer::Multiaddr],
    announce: &[crate::peer::Multiaddr],
    serve: MakeHandler,
) -> anyhow::Result<()> {
    let repo = open_repo(repo_path)?;
    let mp = match mount {
        Some((mp, _)) => Some(mount::check_mountpoint(mp, &repo.path)?),
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
    let handler = serve(repo.clone(), mfs.clone(), net.clone(), names.clone());
    let _api =
        api::Server::start(&repo.path, handler, stop.clone()).context("starting the control socket")?;
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
                crate::blockservice::BlockService::new(repo.clone(), Some(net.clone())),
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
        match external {
            true => eprintln!(
                "p2pfs: {} was unmounted; saving and exiting",
                m.mountpoint().display()
            ),
            false => eprintln!("p2pfs: unmounting {}", m.mountpoint().display()),
        }
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
        Some(m) => m.gc_roots().map_err(|e| e.into()),
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
        Arc::new(move || Ok(saved.store.files_root()?.map(|(c, _)| c).into_iter().collect())),
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
    let m = mount::mount(fs, mp, opts)?;
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
