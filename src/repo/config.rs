//! `config.toml`: read with every field defaulted, so an old or partial file
//! still works; unknown keys are an error so typos do not pass silently.

use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
pub struct Config {
    pub store: StoreConfig,
    pub import: ImportConfig,
    pub network: NetworkConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Multiaddrs to listen on (the daemon's `--listen` replaces them).
    pub listen: Vec<String>,
    /// Peers dialed at start. Empty by default: p2pfs dials nothing it is not told to.
    pub bootstrap: Vec<String>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            listen: vec![
                "/ip4/0.0.0.0/tcp/4001".into(),
                "/ip4/0.0.0.0/udp/4001/quic-v1".into(),
            ],
            bootstrap: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Upper bound for unpinned (cached) block bytes, e.g. "10GiB".
    pub cache_size: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ImportConfig {
    /// Chunk size for imports and for files written under files/.
    pub chunk_size: usize,
    /// CID version of new dag-pb nodes (0 or 1).
    pub cid_version: u8,
    /// Leaves as raw blocks (Kubo's --raw-leaves).
    pub raw_leaves: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            cache_size: "10GiB".into(),
        }
    }
}

impl Default for ImportConfig {
    fn default() -> Self {
        ImportConfig {
            chunk_size: 262_144,
            cid_version: 1,
            raw_leaves: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is not valid: {reason}\nFix the file, or delete it to get the defaults back.")]
    Parse { path: String, reason: String },
}

/// The file written on `init`: the defaults, each explained.
pub const DEFAULT_FILE: &str = r#"# p2pfs configuration. Every key is optional; these are the defaults.

[store]
# Unpinned blocks (the cache) are evicted, least recently used first, once
# they pass this size. Pinned content and the files/ tree never count.
cache_size = "10GiB"

[import]
# Defaults equal `ipfs add --cid-version=1`: the same bytes give the same CID
# as Kubo and Helia. Change them only if you know why.
chunk_size = 262144
cid_version = 1
raw_leaves = true

[network]
# Where the node listens for peers (`p2pfs daemon --listen` / `mount --listen`
# replace this list for one run).
listen = ["/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"]
# Peers to dial at start. Empty: the node dials nothing it is not told to.
bootstrap = []
"#;

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            source: e,
        })?;
        let cfg: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        cfg.validate().map_err(|reason| ConfigError::Parse {
            path: path.display().to_string(),
            reason,
        })?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), String> {
        for a in self.network.listen.iter().chain(&self.network.bootstrap) {
            a.parse::<libp2p::Multiaddr>()
                .map_err(|e| format!("network: '{a}' is not a multiaddr: {e}"))?;
        }
        parse_size(&self.store.cache_size).map_err(|e| format!("store.cache_size: {e}"))?;
        if self.import.cid_version > 1 {
            return Err("import.cid_version must be 0 or 1".into());
        }
        if self.import.chunk_size == 0 || self.import.chunk_size > crate::unixfs::importer::MAX_CHUNK_SIZE {
            return Err(format!(
                "import.chunk_size must be in 1..={}",
                crate::unixfs::importer::MAX_CHUNK_SIZE
            ));
        }
        Ok(())
    }

    pub fn cache_bytes(&self) -> u64 {
        parse_size(&self.store.cache_size).unwrap_or(u64::MAX)
    }
}

/// Parses "10GiB", "512MB", "1000" (bytes).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size like 10GiB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1000 * 1000,
        "mib" => 1 << 20,
        "g" | "gb" => 1000 * 1000 * 1000,
        "gib" => 1 << 30,
        "t" | "tb" => 1000u64.pow(4),
        "tib" => 1 << 40,
        u => {
            return Err(format!(
                "unknown unit '{u}' in '{s}' (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"
            ));
        }
    };
    n.checked_mul(mult).ok_or_else(|| format!("'{s}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_file_parses_to_defaults() {
        assert_eq!(toml::from_str::<Config>(DEFAULT_FILE).unwrap(), Config::default());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10GiB").unwrap(), 10 << 30);
        assert_eq!(parse_size("5 MB").unwrap(), 5_000_000);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }

    #[test]
    fn typo_is_rejected() {
        assert!(toml::from_str::<Config>("[store]\ncache_sise = \"1GiB\"").is_err());
    }
}
