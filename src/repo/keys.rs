//! Named keys for IPNS (`p2pfs key`, like `ipfs key`): Ed25519 keypairs in
//! `keystore/<name>` (protobuf-encoded, mode 0600, the directory 0700).
//! `self` is the node's own identity and is not in the keystore.

use super::RepoError;
use crate::peer::{Keypair, PeerId};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The name of the node's own key.
pub const SELF: &str = "self";
/// Longest key name, in bytes.
const MAX_NAME: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("invalid key name {0:?}: use 1 to 100 letters, digits, '.', '_' or '-', not starting with '.'")]
    BadName(String),
    #[error("the key 'self' is the node's identity: it cannot be created, removed or renamed")]
    IsSelf,
    #[error("no key named {0:?} (see `p2pfs key list`)")]
    NotFound(String),
    #[error("a key named {0:?} already exists (remove it first, or rename with --force)")]
    Exists(String),
    #[error("key {path} is damaged: {reason}")]
    Damaged { path: PathBuf, reason: String },
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// The keystore of one repo.
pub struct Keystore {
    dir: PathBuf,
    own: Keypair,
}

fn check_name(name: &str) -> Result<(), KeyError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !ok {
        return Err(KeyError::BadName(name.to_string()));
    }
    if name == SELF {
        return Err(KeyError::IsSelf);
    }
    Ok(())
}

fn io_err(context: String) -> impl FnOnce(std::io::Error) -> KeyError {
    move |source| KeyError::Repo(RepoError::Io { context, source })
}

impl Keystore {
    pub fn new(repo: &Path, own: Keypair) -> Keystore {
        Keystore {
            dir: repo.join("keystore"),
            own,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Creates an Ed25519 key; fails if the name is taken.
    pub fn generate(&self, name: &str) -> Result<PeerId, KeyError> {
        check_name(name)?;
        std::fs::create_dir_all(&self.dir).map_err(io_err(format!("creating {}", self.dir.display())))?;
        let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700));
        let kp = Keypair::generate_ed25519();
        let bytes = kp.to_protobuf_encoding().map_err(|e| KeyError::Damaged {
            path: self.path(name),
            reason: e.to_string(),
        })?;
        // Written beside, synced, then linked in: never a half-written key,
        // and `link` fails if the name was taken meanwhile.
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()
        };
        write().map_err(io_err(format!("writing {}", tmp.display())))?;
        let linked = std::fs::hard_link(&tmp, self.path(name));
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(kp.public().to_peer_id()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(KeyError::Exists(name.into())),
            Err(e) => Err(io_err(format!("creating {}", self.path(name).display()))(e)),
        }
    }

    /// The keypair called `name` (`self`: the node's identity).
    pub fn get(&self, name: &str) -> Result<Keypair, KeyError> {
        if name == SELF {
            return Ok(self.own.clone());
        }
        check_name(name)?;
        let path = self.path(name);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeyError::NotFound(name.into()));
            }
            Err(e) => return Err(io_err(format!("reading {}", path.display()))(e)),
        };
        Keypair::from_protobuf_encoding(&bytes).map_err(|e| KeyError::Damaged {
            path,
            reason: e.to_string(),
        })
    }

    /// Every key: `self` first, then the keystore's by name.
    pub fn list(&self) -> Result<Vec<(String, PeerId)>, KeyError> {
        let mut out = vec![(SELF.to_string(), self.own.public().to_peer_id())];
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io_err(format!("reading {}", self.dir.display()))(e)),
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| check_name(n).is_ok())
            .collect();
        names.sort();
        for n in names {
            let kp = self.get(&n)?;
            out.push((n, kp.public().to_peer_id()));
        }
        Ok(out)
    }

    /// Removes a key; returns whose it was.
    pub fn remove(&self, name: &str) -> Result<PeerId, KeyError> {
        let peer = self.get(name)?.public().to_peer_id();
        if name == SELF {
            return Err(KeyError::IsSelf);
        }
        std::fs::remove_file(self.path(name))
            .map_err(io_err(format!("removing {}", self.path(name).display())))?;
        Ok(peer)
    }

    /// Renames a key (replacing `to` only with `force`).
    pub fn rename(&self, from: &str, to: &str, force: bool) -> Result<PeerId, KeyError> {
        if from == SELF || to == SELF {
            return Err(KeyError::IsSelf);
        }
        check_name(to)?;
        let peer = self.get(from)?.public().to_peer_id();
        let (a, b) = (self.path(from), self.path(to));
        if force {
            std::fs::rename(&a, &b).map_err(io_err(format!("renaming {}", a.display())))?;
        } else {
            match std::fs::hard_link(&a, &b) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(KeyError::Exists(to.into()));
                }
                r => r.map_err(io_err(format!("creating {}", b.display())))?,
            }
            std::fs::remove_file(&a).map_err(io_err(format!("removing {}", a.display())))?;
        }
        Ok(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_made_listed_renamed_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let own = Keypair::generate_ed25519();
        let ks = Keystore::new(dir.path(), own.clone());
        let a = ks.generate("alpha").unwrap();
        let mode = std::fs::metadata(dir.path().join("keystore/alpha"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(matches!(ks.generate("alpha"), Err(KeyError::Exists(_))));
        let b = ks.generate("beta").unwrap();
        assert_ne!(a, b);
        let list = ks.list().unwrap();
        let own_id = own.public().to_peer_id();
        assert_eq!(
            list,
            vec![("self".into(), own_id), ("alpha".into(), a), ("beta".into(), b)]
        );
        assert_eq!(ks.get("alpha").unwrap().public().to_peer_id(), a);
        assert!(matches!(
            ks.rename("alpha", "beta", false),
            Err(KeyError::Exists(_))
        ));
        assert_eq!(ks.rename("alpha", "gamma", false).unwrap(), a);
        assert!(matches!(ks.get("alpha"), Err(KeyError::NotFound(_))));
        assert_eq!(ks.rename("gamma", "beta", true).unwrap(), a);
        assert_eq!(ks.get("beta").unwrap().public().to_peer_id(), a);
        assert_eq!(ks.remove("beta").unwrap(), a);
        assert_eq!(ks.list().unwrap().len(), 1);
        for bad in ["", ".x", "a/b", "..", "é", &"x".repeat(101)] {
            assert!(matches!(ks.generate(bad), Err(KeyError::BadName(_))), "{bad}");
        }
        assert!(matches!(ks.generate("self"), Err(KeyError::IsSelf)));
        assert!(matches!(ks.remove("self"), Err(KeyError::IsSelf)));
        assert!(matches!(ks.rename("self", "x", true), Err(KeyError::IsSelf)));
        std::fs::write(dir.path().join("keystore/junk"), b"nope").unwrap();
        assert!(matches!(ks.get("junk"), Err(KeyError::Damaged { .. })));
    }
}
