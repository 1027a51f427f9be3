//! The node's ed25519 identity: its PeerId on the network.

use super::{RepoError, write_new};
use libp2p::identity::Keypair;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

pub fn load_or_create(path: &Path) -> Result<Keypair, RepoError> {
    match std::fs::read(path) {
        Ok(bytes) => {
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
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let kp = Keypair::generate_ed25519();
            let bytes = kp.to_protobuf_encoding().map_err(|e| RepoError::Identity {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
            write_new(path, &bytes, 0o600)?;
            Ok(kp)
        }
        Err(e) => Err(RepoError::Io {
            context: format!("reading {}", path.display()),
            source: e,
        }),
    }
}
