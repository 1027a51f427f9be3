//! The repo directory: config, identity, the store, and the lock that makes
//! one process its owner.
//!
//! ```text
//! $P2PFS_PATH (default $XDG_DATA_HOME/p2pfs, ~/.local/share/p2pfs)
//! ├── config.toml      settings (documented defaults written on init)
//! ├── identity.key     ed25519 keypair, protobuf-encoded, mode 0600
//! ├── keystore/        named IPNS keys (`p2pfs key`), mode 0600
//! ├── ipns/            the last record published per name, for republishing
//! ├── repo.lock        held (flock) by the owning process; holds its pid
//! └── store/
//!     ├── index.redb   block index, small blocks, pins, files/ root
//!     └── packs/       pack-NNNNNN.dat: bytes of blocks > 16 KiB
//! ```

pub mod config;
pub mod identity;
pub mod keys;
pub mod settings;

use crate::store::{Store, StoreError};
use config::{Config, ConfigError};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error(
        "the repo {path} is in use by process {pid}{cmd}; stop it first, or use that process (e.g. through its mount)"
    )]
    Locked { path: PathBuf, pid: String, cmd: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no repo location: set P2PFS_PATH, XDG_DATA_HOME or HOME")]
    NoHome,
    #[error("identity {path} is damaged: {reason}")]
    Identity { path: PathBuf, reason: String },
    #[error(
        "no p2pfs repo at {}: create one with `p2pfs init`, or point P2PFS_PATH or --repo at an existing repo",
        path.display()
    )]
    NotARepo { path: PathBuf },
    #[error(
        "the repo at {} has no config.toml; `p2pfs init` writes a default one (the identity and the store are kept)",
        path.display()
    )]
    NoConfig { path: PathBuf },
    #[error(
        "{} is missing, so this repo has lost its peer ID: restore the file from a backup to keep it, or run `p2pfs init --new-identity` to continue with a new peer ID (IPNS names of the old one can then no longer be updated)",
        path.display()
    )]
    IdentityMissing { path: PathBuf },
    #[error(
        "the repo at {} has an identity (peer ID {peer}); --new-identity only replaces a missing identity.key",
        path.display()
    )]
    IdentityPresent { path: PathBuf, peer: String },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RepoError {
    let context = context.into();
    move |source| RepoError::Io { context, source }
}

/// Where the repo lives when no path is given.
pub fn default_path() -> Result<PathBuf, RepoError> {
    if let Some(p) = std::env::var_os("P2PFS_PATH").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    if let Some(p) = std::env::var_os("XDG_DATA_HOME").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p).join("p2pfs"));
    }
    let home = std::env::var_os("HOME")
        .filter(|p| !p.is_empty())
        .ok_or(RepoError::NoHome)?;
    Ok(PathBuf::from(home).join(".local/share/p2pfs"))
}

/// What the node announces in the DHT, told as content becomes kept.
pub trait Announce: Send + Sync {
    /// `root` was pinned (by `pin add` or `add`).
    fn pinned(&self, root: cid::Cid);
    /// The files/ tree was saved with this root.
    fn files_root(&self, root: cid::Cid);
}

impl Repo {
    /// The named IPNS keys (`self` is the identity).
    pub fn keys(&self) -> keys::Keystore {
        keys::Keystore::new(&self.path, self.keypair.clone())
    }

    /// Tells the announcer (if a node runs) that `root` was pinned.
    pub fn announce_pinned(&self, root: cid::Cid) {
        if let Some(a) = self.announce.get() {
            a.pinned(root);
        }
    }
}

/// An open repo. Holding it holds the lock.
pub struct Repo {
    pub path: PathBuf,
    pub config: Config,
    pub peer_id: crate::peer::PeerId,
    pub keypair: crate::peer::Keypair,
    pub store: Store,
    /// The cache size limit's state (see `cache.rs`).
    pub cache: crate::cache::CacheLimit,
    /// Told of new pins and files/ roots, to announce them (set by the daemon).
    pub announce: std::sync::OnceLock<std::sync::Arc<dyn Announce>>,
    /// Told of each new files/ root (set by the daemon: names that follow
    /// a folder are republished). Called after the tree's lock is released.
    pub on_files_root: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>,
    _lock: File,
}

impl Repo {
    /// Opens the existing repo at `path`; creates nothing (every command but
    /// `init`, `mount` and `daemon`: a typo in the path is an error, not a
    /// new empty repo).
    pub fn open(path: &Path) -> Result<Repo, RepoError> {
        if !path.join("config.toml").exists() {
            return Err(
                if path.join("identity.key").exists() || path.join("store").exists() {
                    RepoError::NoConfig {
                        path: path.to_path_buf(),
                    }
                } else {
                    RepoError::NotARepo {
                        path: path.to_path_buf(),
                    }
                },
            );
        }
        let lock = take_lock(path)?;
        let keypair = identity::load(&path.join("identity.key"))?;
        Repo::load(path, keypair, lock)
    }

    /// Opens the repo at `path`, creating it first if it does not exist.
    /// Returns the repo and whether it was just created. Only a new repo
    /// gets a new identity: one whose identity.key is gone is an error.
    pub fn open_or_init(path: &Path) -> Result<(Repo, bool), RepoError> {
        std::fs::create_dir_all(path).map_err(io(format!("creating repo directory {}", path.display())))?;
        let lock = take_lock(path)?;
        let key = path.join("identity.key");
        // The identity is written before store/: a store without it means
        // the repo lost its key. (A config.toml alone may be one written
        // ahead of init, to start with chosen settings.)
        let created = !key.exists() && !path.join("store").exists();
        let keypair = if created {
            identity::create(&key)?
        } else {
            identity::load(&key)?
        };
        if !path.join("config.toml").exists() {
            write_new(&path.join("config.toml"), config::DEFAULT_FILE.as_bytes(), 0o644)?;
        }
        Ok((Repo::load(path, keypair, lock)?, created))
    }

    fn load(path: &Path, keypair: crate::peer::Keypair, lock: File) -> Result<Repo, RepoError> {
        let config = Config::load(&path.join("config.toml"))?;
        let store = Store::open(&path.join("store"))?;
        store.set_retention(config.retention());
        Ok(Repo {
            path: path.to_path_buf(),
            config,
            peer_id: keypair.public().to_peer_id(),
            keypair,
            store,
            cache: Default::default(),
            announce: Default::default(),
            on_files_root: Default::default(),
            _lock: lock,
        })
    }
}

impl crate::cache::Host for Repo {
    fn store(&self) -> &Store {
        &self.store
    }
    fn limit(&self) -> u64 {
        self.config.cache_bytes()
    }
    fn state(&self) -> &crate::cache::CacheLimit {
        &self.cache
    }
}

/// `p2pfs init --new-identity`: gives the existing repo at `path` whose
/// identity.key is lost a new one, and returns its peer ID (None when there
/// is no repo there yet: `init` then makes one with a new identity anyway).
/// An identity that exists is never replaced.
pub fn replace_lost_identity(path: &Path) -> Result<Option<crate::peer::PeerId>, RepoError> {
    if !path.join("config.toml").exists() && !path.join("store").exists() {
        return Ok(None);
    }
    let _lock = take_lock(path)?;
    let key = path.join("identity.key");
    match identity::load(&key) {
        Err(RepoError::IdentityMissing { .. }) => Ok(Some(identity::create(&key)?.public().to_peer_id())),
        Ok(k) => Err(RepoError::IdentityPresent {
            path: path.to_path_buf(),
            peer: k.public().to_peer_id().to_string(),
        }),
        Err(e) => Err(e),
    }
}

/// Rebuilds the block index of the repo at `path` (nothing may have it
/// open: the repo lock is taken).
pub fn rebuild_index(path: &Path) -> Result<crate::store::RebuildReport, RepoError> {
    // Only the store is needed: a repo that lost its config or identity
    // can still have its index rebuilt.
    if !path.join("store").is_dir() {
        return Err(RepoError::NotARepo {
            path: path.to_path_buf(),
        });
    }
    let _lock = take_lock(path)?;
    Ok(crate::store::rebuild_index(&path.join("store"))?)
}

/// Waits until no process holds the repo lock: a daemon or mount asked to
/// stop has saved everything and exited (`p2pfs shutdown`).
pub fn wait_unlocked(path: &Path) -> Result<(), RepoError> {
    let lock_path = path.join("repo.lock");
    let f = match File::open(&lock_path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        r => r.map_err(io(format!("opening {}", lock_path.display())))?,
    };
    // A shared lock is granted once the owner's exclusive one is gone.
    f.lock_shared()
        .map_err(io(format!("waiting for the lock on {}", lock_path.display())))?;
    Ok(())
}

/// Takes the repo lock (an exclusive flock) and writes our pid into it.
fn take_lock(path: &Path) -> Result<File, RepoError> {
    let lock_path = path.join("repo.lock");
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(io(format!("opening {}", lock_path.display())))?;
    match f.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = f.read_to_string(&mut pid);
            let pid = pid.trim().to_string();
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| format!(" ({})", String::from_utf8_lossy(&c).replace('\0', " ").trim()))
                .unwrap_or_default();
            return Err(RepoError::Locked {
                path: path.to_path_buf(),
                pid,
                cmd,
            });
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(RepoError::Io {
                context: format!("locking {}", lock_path.display()),
                source: e,
            });
        }
    }
    f.set_len(0).map_err(io("writing the lock file"))?;
    f.rewind().map_err(io("writing the lock file"))?;
    write!(f, "{}", std::process::id()).map_err(io("writing the lock file"))?;
    f.flush().map_err(io("writing the lock file"))?;
    Ok(f)
}

/// Writes a new file with `mode`, atomically (temp file + rename).
pub fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<(), RepoError> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io(format!("creating {}", tmp.display())))?;
    f.write_all(data)
        .map_err(io(format!("writing {}", tmp.display())))?;
    f.sync_all().map_err(io(format!("syncing {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io(format!("creating {}", path.display())))?;
    Ok(())
}
