//! The node's ed25519 identity: its PeerId on the network. A repo gets one
//! when it is created, never again by accident: a lost `identity.key` is an
//! error, replaced only when asked (`p2pfs init --new-identity`).

use super::{RepoError, write_new};
use crate::peer::Keypair;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Reads the identity at `path`; a missing file is [`RepoError::IdentityMissing`].
pub fn load(path: &Path) -> Result<Keypair, RepoError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(RepoError::IdentityMissing {
                path: path.to_path_buf(),
            });
        }
        Err(e) => {
            return Err(RepoError::Io {
                context: format!("reading {}", path.display()),
                source: e,
            });
        }
    };
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0);
    if mode & 0o077 != 0 {
        tracing::warn!(
            "{} is readable by others (mode {mode:o}); run chmod 600 on it",
            path.display()
        );
    }
    Keypair::from_protobuf_encoding(&bytes).map_err(|e| RepoError::Identity {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Writes a new identity to `path` (mode 0600) and returns it.
pub fn create(path: &Path) -> Result<Keypair, RepoError> {
    let kp = Keypair::generate_ed25519();
    let bytes = kp.to_protobuf_encoding().map_err(|e| RepoError::Identity {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    write_new(path, &bytes, 0o600)?;
    Ok(kp)
}
