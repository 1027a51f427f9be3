//! `config.toml`: read with every field defaulted, so an old or partial file
//! still works; unknown keys are an error so typos do not pass silently.

use crate::unixfs::importer::ImportOptions;
use crate::unixfs::profile::{Profile, SizeEstimation};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
pub struct Config {
    pub store: StoreConfig,
    pub import: ImportConfig,
    pub network: NetworkConfig,
    pub swarm: SwarmConfig,
    pub mount: MountConfig,
    pub gateway: GatewayConfig,
    pub snapshots: SnapshotsConfig,
}

/// Which snapshots of files/ are kept (`store/retention.rs`); "0s"-like
/// values are refused, an empty string turns a tier off.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SnapshotsConfig {
    /// Every snapshot younger than this.
    pub keep_all: String,
    /// One per hour for this long.
    pub hourly: String,
    /// One per day for this long.
    pub daily: String,
    /// One per week for this long.
    pub weekly: String,
}

impl Default for SnapshotsConfig {
    fn default() -> Self {
        SnapshotsConfig {
            keep_all: "1h".into(),
            hourly: "2d".into(),
            daily: "30d".into(),
            weekly: "52w".into(),
        }
    }
}

/// The HTTP gateway (`p2pfs mount` / `p2pfs daemon`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Addresses (`IP:port`) to serve HTTP on; empty: no gateway.
    pub listen: Vec<String>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            listen: vec!["127.0.0.1:8080".into()],
        }
    }
}

/// FUSE mount options (`p2pfs mount`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct MountConfig {
    /// Let users other than the one who mounted use the mount (FUSE's
    /// `allow_other`; `p2pfs mount --allow-other` sets it for one run).
    pub allow_other: bool,
    /// New and truncated files in files/ are written by the kernel into
    /// staging files (FUSE passthrough) when it can: as root, Linux 6.9+.
    pub passthrough: bool,
}

impl Default for MountConfig {
    fn default() -> Self {
        MountConfig {
            allow_other: false,
            passthrough: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SwarmConfig {
    pub conns: ConnsConfig,
}

/// The connection manager's marks (Kubo's `Swarm.ConnMgr`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ConnsConfig {
    /// Trimming stops at this many connections.
    pub low: usize,
    /// Above this many, idle unprotected connections are closed.
    pub high: usize,
    /// New connections are never trimmed within this time.
    pub grace: String,
}

impl Default for ConnsConfig {
    fn default() -> Self {
        ConnsConfig {
            low: 32,
            high: 96,
            grace: "20s".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Multiaddrs to listen on (the daemon's `--listen` replaces them).
    pub listen: Vec<String>,
    /// When not empty, the only addresses the node tells peers (Identify,
    /// provider records, `p2pfs id`) instead of its listen addresses: a
    /// port-forward or proxy in front of it (Kubo's `Addresses.Announce`;
    /// the daemon's `--announce` replaces them).
    pub announce: Vec<String>,
    /// Peers dialed at start. Empty by default: p2pfs dials nothing it is not told to.
    pub bootstrap: Vec<String>,
    /// What is announced in the DHT: "all", "pinned" or "roots".
    pub provide: String,
    /// How long one block may take to arrive from peers before a read fails.
    pub fetch_timeout: String,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            listen: vec![
                "/ip4/0.0.0.0/tcp/4001".into(),
                "/ip4/0.0.0.0/udp/4001/quic-v1".into(),
            ],
            announce: Vec::new(),
            bootstrap: Vec::new(),
            provide: "all".into(),
            fetch_timeout: "30s".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Upper bound for unpinned (cached) block bytes, e.g. "10GiB".
    pub cache_size: String,
}

/// How `p2pfs add` and the files/ tree build DAGs. `profile` names a set
/// of values (IPIP-499); a key set here overrides the profile's (or, with
/// no profile, p2pfs's default) for that one value.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ImportConfig {
    /// "unixfs-v0-2015", "unixfs-v1-2025", or "" for p2pfs's defaults.
    pub profile: String,
    /// Chunk size for imports and for files written under files/.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_size: Option<usize>,
    /// CID version of new dag-pb nodes (0 or 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cid_version: Option<u8>,
    /// Leaves as raw blocks (Kubo's --raw-leaves).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_leaves: Option<bool>,
    /// Links per file node (Kubo's `Import.UnixFSFileMaxLinks`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_links: Option<usize>,
    /// Estimated bytes above which a directory becomes a HAMT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hamt_threshold: Option<usize>,
    /// "links" (name + CID bytes) or "block" (the encoded node).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hamt_estimation: Option<String>,
    /// Buckets per HAMT node: a power of two in 8..=1024.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hamt_fanout: Option<u64>,
}

/// The `[import]` keys a profile sets; `p2pfs config import.profile NAME`
/// removes them from config.toml so the profile's values apply.
pub const IMPORT_PROFILE_KEYS: [&str; 7] = [
    "chunk_size",
    "cid_version",
    "raw_leaves",
    "max_links",
    "hamt_threshold",
    "hamt_estimation",
    "hamt_fanout",
];

impl ImportConfig {
    /// The options these settings give: the profile's (or the default),
    /// each key set here replacing its value, all within bounds.
    pub fn options(&self) -> Result<ImportOptions, String> {
        let mut o = match self.profile.as_str() {
            "" => ImportOptions::default(),
            name => Profile::parse(name)
                .map_err(|e| format!("import.profile: {e}"))?
                .options(),
        };
        o.chunk_size = self.chunk_size.unwrap_or(o.chunk_size);
        o.cid_version = self.cid_version.unwrap_or(o.cid_version);
        o.raw_leaves = self.raw_leaves.unwrap_or(o.raw_leaves);
        o.max_links = self.max_links.unwrap_or(o.max_links);
        o.hamt.threshold = self.hamt_threshold.unwrap_or(o.hamt.threshold);
        o.hamt.fanout = self.hamt_fanout.unwrap_or(o.hamt.fanout);
        if let Some(e) = &self.hamt_estimation {
            o.hamt.estimation =
                SizeEstimation::parse(e).map_err(|e| format!("import.hamt_estimation: {e}"))?;
        }
        o.validate().map_err(|e| format!("import: {e}"))?;
        Ok(o)
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            cache_size: "10GiB".into(),
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
# How `p2pfs add` and files/ in the mount build DAGs. With no profile and no
# key below, the values equal `ipfs add --cid-version=1`: CIDv1, raw leaves,
# 256 KiB chunks, 174 links per node, HAMT above 256 KiB of link names and
# CIDs. A profile (IPIP-499, as Kubo and Helia name them) sets all of them:
#   "unixfs-v0-2015"  Kubo's legacy default: CIDv0 (Qm...), dag-pb leaves,
#                     256 KiB chunks, 174 links, HAMT by "links" estimate
#   "unixfs-v1-2025"  CIDv1, raw leaves, 1 MiB chunks, 1024 links, HAMT by
#                     "block" estimate (the encoded node's bytes)
# Each key set below overrides that one value of the profile (or default);
# `p2pfs config import.profile NAME` removes them so the profile applies.
profile = ""
# chunk_size = 262144       # 1..=1048576 bytes
# cid_version = 1           # 0 or 1
# raw_leaves = true
# max_links = 174           # links per file node, 2..=4096
# hamt_threshold = 262144   # a directory estimated above it is a HAMT, 1..=1048576
# hamt_estimation = "links" # "links" or "block"
# hamt_fanout = 256         # power of two, 8..=1024

[network]
# Where the node listens for peers (`p2pfs daemon --listen` / `mount --listen`
# replace this list for one run).
listen = ["/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"]
# The addresses peers are told to dial, when they are not the listen
# addresses: a port forwarded to this node, a proxy or relay in front of it,
# e.g. ["/ip4/203.0.113.7/tcp/4001"]. When set, these are the only addresses
# the node gives out (Identify, DHT provider records, `p2pfs id`); its listen
# addresses are not told to anyone. Empty: the listen addresses are told.
# (`daemon --announce` / `mount --announce` replace this list for one run.)
announce = []
# Peers to dial at start. Empty: the node dials nothing it is not told to.
# `p2pfs bootstrap add|rm|list` edit it; `p2pfs config profile apply
# public-ipfs` puts the public IPFS bootstrap peers here.
bootstrap = []
# What the node announces in the DHT (provider records, republished every
# 12 h; they expire after 48 h):
#   "all"    every block it adds, writes under files/ or pins (fetched blocks
#            are cache: not announced)
#   "pinned" the blocks of pinned DAGs and of the files/ tree
#   "roots"  only the root CIDs of pins and of the files/ tree
provide = "all"
# A read fails (with an error naming the block and the peers asked, never
# a hang) when no block has arrived from any peer for this long; a slow link
# that keeps delivering is slow, never broken.
fetch_timeout = "30s"

[swarm.conns]
# Connections are never closed for being idle. Above `high`, the least
# useful (not bootstrap peers, peers connected by hand, peers serving or
# asking blocks, or within `grace` of connecting) are closed down to `low`.
# Below 4 connections the bootstrap peers (and, when none answers, peers
# saved from earlier runs in peers.json) are dialed again.
low = 32
high = 96
grace = "20s"

[mount]
# Let other users use the mount (FUSE's allow_other); permissions are still
# checked by the kernel against each file's mode and owner
# (default_permissions). Users other than root also need the line
# `user_allow_other` in /etc/fuse.conf.
allow_other = false

[gateway]
# The HTTP gateway: GET/HEAD /ipfs/<CID>[/path] (files, directories, raw
# blocks with ?format=raw, CARs with ?format=car). Empty list: no gateway.
# It serves whatever this node has or can fetch from peers, to anyone who
# can connect, and fetches on their behalf: the default listens on loopback
# only. A public address such as "0.0.0.0:8080" makes this a public
# gateway; choose that on purpose.
listen = ["127.0.0.1:8080"]

[snapshots]
# Every checkpoint that changes files/ (every 30 s while it changes) is a
# snapshot, browsable under snapshots/ in the mount; `p2pfs files snapshot
# --name NAME` takes one that is kept until `files snapshot rm`. Kept: every
# snapshot younger than keep_all, then the first of each hour for `hourly`,
# of each day for `daily`, of each week for `weekly` (units s, m, h, d, w;
# "" keeps none of that tier). Expired snapshots stop keeping their blocks,
# which become cache (evicted, or deleted by `p2pfs gc`).
keep_all = "1h"
hourly = "2d"
daily = "30d"
weekly = "52w"
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
            a.parse::<crate::peer::Multiaddr>()
                .map_err(|e| format!("network: '{a}' is not a multiaddr: {e}"))?;
        }
        for a in &self.gateway.listen {
            a.parse::<std::net::SocketAddr>()
                .map_err(|e| format!("gateway.listen: '{a}' is not IP:port: {e}"))?;
        }
        for a in &self.network.announce {
            parse_announce(a).map_err(|e| format!("network.announce: {e}"))?;
        }
        parse_size(&self.store.cache_size).map_err(|e| format!("store.cache_size: {e}"))?;
        ProvideStrategy::parse(&self.network.provide).map_err(|e| format!("network.provide: {e}"))?;
        parse_duration(&self.network.fetch_timeout).map_err(|e| format!("network.fetch_timeout: {e}"))?;
        parse_duration(&self.swarm.conns.grace).map_err(|e| format!("swarm.conns.grace: {e}"))?;
        self.try_retention()?;
        if self.swarm.conns.low > self.swarm.conns.high {
            return Err("swarm.conns.low must not be above swarm.conns.high".into());
        }
        self.import.options()?;
        Ok(())
    }

    /// The import options of `[import]` (the defaults if invalid, which a
    /// loaded config never is).
    pub fn import_options(&self) -> ImportOptions {
        self.import.options().unwrap_or_default()
    }

    pub fn cache_bytes(&self) -> u64 {
        parse_size(&self.store.cache_size).unwrap_or(u64::MAX)
    }

    pub fn gateway_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.gateway
            .listen
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect()
    }

    fn try_retention(&self) -> Result<crate::store::Retention, String> {
        let s = &self.snapshots;
        let secs = |key: &str, v: &str| -> Result<u64, String> {
            if v.trim().is_empty() {
                return Ok(0);
            }
            parse_duration(v)
                .map(|d| d.as_secs())
                .map_err(|e| format!("snapshots.{key}: {e} (or \"\" to keep none)"))
        };
        Ok(crate::store::Retention {
            all: secs("keep_all", &s.keep_all)?,
            hourly: secs("hourly", &s.hourly)?,
            daily: secs("daily", &s.daily)?,
            weekly: secs("weekly", &s.weekly)?,
        })
    }

    /// The snapshot retention policy (the default one if invalid).
    pub fn retention(&self) -> crate::store::Retention {
        self.try_retention().unwrap_or_default()
    }

    pub fn conn_grace(&self) -> std::time::Duration {
        parse_duration(&self.swarm.conns.grace).unwrap_or(std::time::Duration::from_secs(20))
    }

    pub fn fetch_timeout(&self) -> std::time::Duration {
        parse_duration(&self.network.fetch_timeout).unwrap_or(std::time::Duration::from_secs(30))
    }

    pub fn provide_strategy(&self) -> ProvideStrategy {
        ProvideStrategy::parse(&self.network.provide).unwrap_or(ProvideStrategy::All)
    }
}

/// Checks an address to announce: a multiaddr a peer can dial, i.e. a
/// host (an IP that is not 0.0.0.0 or ::, or a DNS name), a transport with
/// a port other than 0, and no /p2p/ part (the node adds its own peer ID).
pub fn parse_announce(s: &str) -> Result<crate::peer::Multiaddr, String> {
    use crate::peer::Protocol;
    let a: crate::peer::Multiaddr = s.parse().map_err(|e| format!("'{s}' is not a multiaddr: {e}"))?;
    let bad = |why: &str| Err(format!("'{s}' cannot be announced: {why}"));
    match a.iter().next() {
        Some(Protocol::Ip4(ip)) if ip.is_unspecified() => {
            return bad("0.0.0.0 is not an address peers can dial");
        }
        Some(Protocol::Ip6(ip)) if ip.is_unspecified() => return bad(":: is not an address peers can dial"),
        Some(
            Protocol::Ip4(_) | Protocol::Ip6(_) | Protocol::Dns(_) | Protocol::Dns4(_) | Protocol::Dns6(_),
        ) => {}
        _ => return bad("it must start with /ip4, /ip6, /dns, /dns4 or /dns6"),
    }
    if a.iter().any(|p| matches!(p, Protocol::P2p(_))) {
        return bad("leave out /p2p/ (the node adds its own peer ID)");
    }
    match a.iter().find_map(|p| match p {
        Protocol::Tcp(port) | Protocol::Udp(port) => Some(port),
        _ => None,
    }) {
        None => bad("it has no /tcp/ or /udp/ port"),
        Some(0) => bad("port 0 is not a port peers can dial"),
        Some(_) => Ok(a),
    }
}

/// What the node announces in the DHT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvideStrategy {
    All,
    Pinned,
    Roots,
}

impl ProvideStrategy {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "all" => Ok(ProvideStrategy::All),
            "pinned" => Ok(ProvideStrategy::Pinned),
            "roots" => Ok(ProvideStrategy::Roots),
            _ => Err(format!(
                "'{s}' is not a strategy: use \"all\", \"pinned\" or \"roots\""
            )),
        }
    }
}

/// Parses "30s", "500ms", "2m", "1h".
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration like 30s"))?;
    let ms = match unit.trim() {
        "ms" => 1,
        "s" | "" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        u => return Err(format!("unknown unit '{u}' in '{s}' (use ms, s, m, h, d, w)")),
    };
    match n.checked_mul(ms) {
        Some(0) => Err("must be more than zero".into()),
        Some(ms) => Ok(std::time::Duration::from_millis(ms)),
        None => Err(format!("'{s}' is too large")),
    }
}

/// The public IPFS network's bootstrap peers (Kubo's and Helia's list).
pub const PUBLIC_BOOTSTRAP: [&str; 7] = [
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt",
    "/dnsaddr/va1.bootstrap.libp2p.io/p2p/12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8",
    "/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
    "/ip4/104.131.131.82/udp/4001/quic-v1/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
];

/// Changes config.toml in place, keeping its comments: `f` edits the
/// document, the result must still be a valid config, and it replaces the
/// file atomically (a failed edit leaves the file as it was).
pub fn edit(path: &Path, f: impl FnOnce(&mut toml_edit::DocumentMut)) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.display().to_string(),
        source: e,
    })?;
    let parse_err = |reason: String| ConfigError::Parse {
        path: path.display().to_string(),
        reason,
    };
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| parse_err(e.to_string()))?;
    f(&mut doc);
    let new = doc.to_string();
    let cfg: Config = toml::from_str(&new).map_err(|e| parse_err(e.to_string()))?;
    cfg.validate().map_err(parse_err)?;
    let tmp = path.with_extension("toml.tmp");
    let write = |e| ConfigError::Read {
        path: tmp.display().to_string(),
        source: e,
    };
    std::fs::write(&tmp, &new).map_err(write)?;
    std::fs::rename(&tmp, path).map_err(write)?;
    Ok(cfg)
}

/// Sets `[network] key` to a list of strings.
pub fn set_list(doc: &mut toml_edit::DocumentMut, key: &str, items: &[String]) {
    let mut arr = toml_edit::Array::new();
    for i in items {
        arr.push(i.as_str());
    }
    doc["network"][key] = toml_edit::value(arr);
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
        assert_eq!(parse_duration("30s").unwrap().as_secs(), 30);
        assert_eq!(parse_duration("250ms").unwrap().as_millis(), 250);
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn announce_addresses_are_checked() {
        for ok in [
            "/ip4/203.0.113.7/tcp/4001",
            "/ip6/2001:db8::7/udp/4001/quic-v1",
            "/dns4/node.example.com/tcp/443/wss",
        ] {
            assert_eq!(parse_announce(ok).unwrap().to_string(), ok);
        }
        for (bad, why) in [
            ("203.0.113.7:4001", "is not a multiaddr"),
            ("/ip4/203.0.113.7/tcp/x", "is not a multiaddr"),
            ("/ip4/0.0.0.0/tcp/4001", "0.0.0.0"),
            ("/ip6/::/tcp/4001", "::"),
            ("/ip4/203.0.113.7/tcp/0", "port 0"),
            ("/ip4/203.0.113.7", "no /tcp/ or /udp/"),
            ("/tcp/4001", "must start with"),
            (
                "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
                "leave out /p2p/",
            ),
        ] {
            let e = parse_announce(bad).unwrap_err();
            assert!(e.contains(why) && e.contains(bad), "{bad}: {e}");
        }
        let cfg = "[network]\nannounce = [\"/ip4/0.0.0.0/tcp/4001\"]\n";
        let c: Config = toml::from_str(cfg).unwrap();
        let e = c.validate().unwrap_err();
        assert!(
            e.starts_with("network.announce: ") && e.contains("0.0.0.0"),
            "{e}"
        );
        let c: Config = toml::from_str("[network]\nannounce = [\"/ip4/203.0.113.7/tcp/4001\"]\n").unwrap();
        assert!(c.validate().is_ok());
    }

    #[test]
    fn import_options_layer_profile_then_keys() {
        use crate::unixfs::profile::Profile;
        let c = |t: &str| toml::from_str::<Config>(t).unwrap();
        assert_eq!(Config::default().import_options(), ImportOptions::default());
        // Configs written before profiles name the defaults explicitly.
        let old = c("[import]\nchunk_size = 262144\ncid_version = 1\nraw_leaves = true\n");
        assert_eq!(old.import_options(), ImportOptions::default());
        let v0 = c("[import]\nprofile = \"unixfs-v0-2015\"\n");
        assert_eq!(v0.import_options(), Profile::UnixfsV0_2015.options());
        let mixed =
            c("[import]\nprofile = \"unixfs-v1-2025\"\nmax_links = 174\nhamt_estimation = \"links\"\n");
        let o = mixed.import_options();
        assert_eq!((o.chunk_size, o.max_links), (1 << 20, 174));
        assert_eq!(o.hamt.estimation, SizeEstimation::Links);
        for bad in [
            "profile = \"unixfs-v2\"",
            "chunk_size = 0",
            "cid_version = 2",
            "max_links = 100000",
            "hamt_threshold = 0",
            "hamt_fanout = 12",
            "hamt_estimation = \"count\"",
        ] {
            let e = c(&format!("[import]\n{bad}\n")).validate().unwrap_err();
            assert!(e.starts_with("import"), "{bad}: {e}");
        }
    }

    #[test]
    fn typo_is_rejected() {
        assert!(toml::from_str::<Config>("[store]\ncache_sise = \"1GiB\"").is_err());
    }
}
