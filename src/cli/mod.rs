//! The command line: clap definitions (also the source of the man pages) and
//! dispatch to the handlers in `commands`. No business logic lives here.

mod commands;
pub use commands::{Io, execute};
mod files;
mod files_cmd;
pub use files_cmd::FilesCommand;
pub mod output;
pub mod serve;
mod snapshots;
mod stats;
mod verify;

use clap::{ArgAction, Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "p2pfs",
    version,
    about = "A content-addressed, peer-to-peer filesystem speaking IPFS protocols",
    long_about = "p2pfs stores files as IPFS UnixFS DAGs (the same CIDs as Kubo and Helia) in a local repo, \
                  and serves them through a FUSE mount.\n\nThe repo is $P2PFS_PATH, else \
                  $XDG_DATA_HOME/p2pfs (~/.local/share/p2pfs). `p2pfs init` creates it (so do `mount` and \
                  `daemon`); other commands on a path with no repo fail and say so."
)]
pub struct Cli {
    /// Repo directory (default: $P2PFS_PATH, else $XDG_DATA_HOME/p2pfs)
    #[arg(long, global = true, value_name = "DIR")]
    pub repo: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create the repo (config, identity, store) and print the peer ID
    Init {
        /// Give a repo whose identity.key was lost a new identity (a new
        /// peer ID); an existing identity is never replaced
        #[arg(long)]
        new_identity: bool,
    },
    /// Import files or directories and print their CIDs
    Add(AddArgs),
    /// Write a file's bytes to stdout
    Cat(CatArgs),
    /// Write a file or directory tree to the local disk
    Get(GetArgs),
    /// List a directory: CID, size, type and name of each entry
    Ls(LsArgs),
    /// Keep content: pinned DAGs are never garbage-collected
    #[command(subcommand)]
    Pin(PinCommand),
    /// Delete every block not reachable from a pin or the files/ tree
    Gc,
    /// Inspect and check the repo
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Export and import DAGs as CAR v1 files
    #[command(subcommand)]
    Dag(DagCommand),
    /// Mount the filesystem (ipfs/ by CID, files/ writable) and run the node until Ctrl-C
    Mount(MountArgs),
    /// Run the node without a mount until Ctrl-C (CLI commands go through it)
    Daemon(DaemonArgs),
    /// Print a node's identity: ID, public key, addresses, agent, protocols (JSON, like `ipfs id`)
    Id {
        /// Another peer's ID: it is found through the DHT if not connected, dialed, and asked (needs a running node)
        #[arg(value_name = "PEER")]
        peer: Option<String>,
    },
    /// Connections to other peers (needs a running daemon or mount)
    #[command(subcommand)]
    Swarm(SwarmCommand),
    /// Provider records in the DHT (needs a running daemon or mount)
    #[command(subcommand)]
    Routing(RoutingCommand),
    /// IPNS keys: the node's own (`self`) and named Ed25519 keys (like `ipfs key`)
    #[command(subcommand)]
    Key(KeyCommand),
    /// IPNS names: publish signed, updatable pointers to content and resolve them (needs a running daemon or mount)
    #[command(subcommand)]
    Name(NameCommand),
    /// What the running node did (needs a running daemon or mount)
    #[command(subcommand)]
    Stats(StatsCommand),
    /// Stop the running daemon or mount: it saves everything (a mount unmounts) and exits; waits until it has
    Shutdown,
    /// Unmount a p2pfs mount (the daemon saves everything and exits)
    Unmount {
        #[arg(value_name = "MOUNTPOINT")]
        mountpoint: PathBuf,
    },
    /// The writable tree (files/ under the mount), like `ipfs files`
    #[command(subcommand)]
    Files(FilesCommand),
    /// Peers dialed at start ([network] bootstrap in config.toml)
    #[command(subcommand)]
    Bootstrap(BootstrapCommand),
    /// Show or change config.toml: `config KEY` prints a setting, `config KEY VALUE` sets it
    Config(ConfigArgs),
    /// Convert CIDs (like `ipfs cid`)
    #[command(subcommand)]
    Cid(CidCommand),
    /// Single blocks: get, put, stat, rm (like `ipfs block`)
    #[command(subcommand)]
    Block(BlockCommand),
    /// List the links under a DAG node, one CID per line (like `ipfs refs`)
    Refs(RefsArgs),
    /// Print the version (like `ipfs version`)
    Version {
        /// Also the store format, the platform and the Rust version
        #[arg(long)]
        all: bool,
        /// Output format (json: Kubo's Version, Commit, Repo, System)
        #[arg(long, value_enum, default_value = "text")]
        enc: Enc,
    },
    /// Print a shell completion script, e.g.
    /// `p2pfs completions bash > ~/.local/share/bash-completion/completions/p2pfs`
    Completions {
        /// bash, zsh, fish, elvish or powershell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand, Debug)]
pub enum BlockCommand {
    /// Write a block's raw bytes to stdout (fetched from peers if a node runs)
    Get {
        #[arg(value_name = "CID")]
        cid: String,
    },
    /// Store a file's bytes as one block (CIDv1, sha2-256) and print its CID
    Put {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Codec of the new CID: raw or dag-pb (checked to decode)
        #[arg(long, default_value = "raw", value_name = "CODEC")]
        cid_codec: String,
        /// Store blocks over 1 MiB (up to 2 MiB); peers refuse to exchange them
        #[arg(long)]
        allow_big_block: bool,
        /// Pin the block
        #[arg(long)]
        pin: bool,
    },
    /// Print a block's CID and size
    Stat {
        #[arg(value_name = "CID")]
        cid: String,
    },
    /// Delete blocks; refused for blocks a pin or the files/ tree keeps
    Rm {
        #[arg(required = true, value_name = "CID")]
        cids: Vec<String>,
    },
}

#[derive(Args, Debug)]
pub struct RefsArgs {
    /// CID of the node
    #[arg(value_name = "CID")]
    pub cid: String,
    /// Every link below it, depth-first, not just its children
    #[arg(short, long)]
    pub recursive: bool,
    /// Each CID once
    #[arg(short, long)]
    pub unique: bool,
}

#[derive(Subcommand, Debug)]
pub enum BootstrapCommand {
    /// Print the bootstrap peers
    List,
    /// Add bootstrap peers (dialed now if a node runs, and at every start)
    Add {
        #[arg(required = true, value_name = "MULTIADDR")]
        addrs: Vec<crate::peer::Multiaddr>,
    },
    /// Remove bootstrap peers
    Rm {
        #[arg(value_name = "MULTIADDR", required_unless_present = "all")]
        addrs: Vec<crate::peer::Multiaddr>,
        /// Remove every bootstrap peer
        #[arg(long, conflicts_with = "addrs")]
        all: bool,
    },
    /// Peers saved from earlier runs (peers.json), dialed when no bootstrap peer answers
    Saved {
        /// Forget them
        #[arg(long)]
        clear: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Apply a preset to config.toml
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Print config.toml
    Show,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: Option<ConfigCommand>,
    /// A setting's dotted name, e.g. network.provide
    #[arg(value_name = "KEY")]
    pub key: Option<String>,
    /// Its new value: a string, or any JSON value with --json (takes effect at the next start)
    #[arg(value_name = "VALUE")]
    pub value: Option<String>,
    /// VALUE is JSON: a number, true or false, a list
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug, Clone)]
pub enum CidCommand {
    /// Print each CID as CIDv1 in base32 (CIDv0 becomes its CIDv1)
    Base32 {
        #[arg(required = true, value_name = "CID")]
        cids: Vec<String>,
    },
    /// Print each CID in another version or multibase
    Format {
        #[arg(required = true, value_name = "CID")]
        cids: Vec<String>,
        /// CID version: 0 (dag-pb sha2-256 only) or 1
        #[arg(short = 'v', value_name = "VERSION")]
        version: Option<u8>,
        /// Multibase of a CIDv1: base32, base58btc, base36, base16, base64
        #[arg(short = 'b', value_name = "MULTIBASE")]
        base: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProfileCommand {
    /// Apply a profile (takes effect at the next start)
    Apply {
        #[arg(value_enum, value_name = "PROFILE")]
        profile: Profile,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Profile {
    /// Join the public IPFS network: its bootstrap peers, listening on all interfaces, port 4001
    PublicIpfs,
    /// Stay private: no bootstrap peers, listen on 127.0.0.1 only
    Local,
    /// Import as Kubo's legacy default (IPIP-499): CIDv0, dag-pb leaves, 256 KiB chunks, 174 links (sets import.profile)
    #[value(name = "unixfs-v0-2015")]
    UnixfsV0_2015,
    /// Import as IPIP-499's modern profile: CIDv1, raw leaves, 1 MiB chunks, 1024 links, block-bytes HAMT estimate (sets import.profile)
    #[value(name = "unixfs-v1-2025")]
    UnixfsV1_2025,
}

#[derive(Args, Debug)]
pub struct MountArgs {
    /// Where to mount (an empty directory; created if missing)
    #[arg(value_name = "MOUNTPOINT")]
    pub mountpoint: PathBuf,
    /// FUSE threads dispatching requests
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: u16,
    /// Let other users use the mount (FUSE's allow_other, also the config key
    /// mount.allow_other); needs `user_allow_other` in /etc/fuse.conf unless root
    #[arg(long)]
    pub allow_other: bool,
    #[command(flatten)]
    pub net: NetArgs,
}

#[derive(Args, Debug)]
pub struct DaemonArgs {
    #[command(flatten)]
    pub net: NetArgs,
}

#[derive(Args, Debug, Clone)]
pub struct NetArgs {
    /// Listen on this multiaddr instead of network.listen (repeatable; port 0 picks a free port)
    #[arg(long, value_name = "MULTIADDR")]
    pub listen: Vec<crate::peer::Multiaddr>,
    /// Tell peers only this address (repeatable), not the listen addresses: a
    /// port-forward or proxy in front of the node; replaces network.announce
    #[arg(long, value_name = "MULTIADDR", value_parser = crate::repo::config::parse_announce)]
    pub announce: Vec<crate::peer::Multiaddr>,
}

#[derive(Subcommand, Debug)]
pub enum RoutingCommand {
    /// Print a peer's addresses, one per line, as found through the DHTs (WAN and LAN)
    Findpeer {
        #[arg(value_name = "PEER")]
        peer: String,
    },
    /// Print the peers that provide a CID
    Findprovs {
        #[arg(value_name = "CID")]
        cid: String,
    },
    /// Announce that this node provides a CID (it must be local)
    Provide {
        #[arg(value_name = "CID")]
        cid: String,
    },
    /// Write the best valid IPNS record of /ipns/<name> in the DHT to stdout (raw protobuf)
    Get {
        #[arg(value_name = "KEY")]
        key: String,
    },
    /// Put an IPNS record (a file, raw protobuf) under /ipns/<name> into the DHT; it is validated first
    Put {
        #[arg(value_name = "KEY")]
        key: String,
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Create a new Ed25519 key and print its IPNS name
    Gen {
        #[arg(value_name = "NAME")]
        name: String,
        /// Key type (only ed25519)
        #[arg(short = 't', long = "type", default_value = "ed25519", value_parser = ["ed25519"])]
        key_type: String,
    },
    /// List the keys' names (with -l their IPNS names too)
    List {
        /// Also print each key's IPNS name
        #[arg(short, long)]
        long: bool,
        /// Output format (json: Kubo's `{"Keys":[{"Name","Id"}]}`)
        #[arg(long, value_enum, default_value = "text")]
        enc: Enc,
    },
    /// Remove keys (their names can no longer be published)
    Rm {
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
    },
    /// Rename a key
    Rename {
        #[arg(value_name = "OLD")]
        old: String,
        #[arg(value_name = "NEW")]
        new: String,
        /// Replace a key that already has the new name
        #[arg(short, long)]
        force: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum NameCommand {
    /// Point a key's IPNS name at /ipfs/<CID>[/path], /ipns/<name> or /files/<path> (signed record, put into the DHT, republished while the node runs)
    Publish {
        /// What the name points at
        #[arg(value_name = "PATH")]
        path: String,
        /// The key to publish with (see `p2pfs key list`)
        #[arg(short, long, default_value = "self", value_name = "NAME")]
        key: String,
        /// How long the record is valid (Go duration: 48h, 90m, …)
        #[arg(long, default_value = "48h", value_name = "DURATION")]
        lifetime: String,
        /// How long resolvers may cache it
        #[arg(long, default_value = "5m", value_name = "DURATION")]
        ttl: String,
        /// Keep the name pointing at this /files/ folder: republished (at most every 10 s) whenever a checkpoint changes it
        #[arg(long)]
        follow: bool,
    },
    /// Print the /ipfs/ path an IPNS name points at (k51…, a peer ID, or /ipns/<name>[/path])
    Resolve {
        #[arg(value_name = "NAME")]
        name: String,
        /// Ask the DHT even if a cached record is still fresh
        #[arg(long)]
        nocache: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum StatsCommand {
    /// Blocks and bytes received and sent, duplicates, wantlist, partners (as `ipfs stats bitswap`)
    Bitswap {
        /// Also each peer's flow: blocks owed, window, rate, round trip
        #[arg(short, long)]
        verbose: bool,
        /// Output format
        #[arg(long, value_enum, default_value = "text")]
        enc: Enc,
    },
    /// Bytes received and sent by the node's connections, in total and per second (as `ipfs stats bw`)
    Bw {
        /// Output format
        #[arg(long, value_enum, default_value = "text")]
        enc: Enc,
    },
    /// Blocks, bytes and the size limit of the repo (as `ipfs stats repo`; works without a node too)
    Repo {
        /// Sizes as 1.2 MB rather than bytes
        #[arg(short = 'H', long)]
        human: bool,
        /// Only RepoSize and StorageMax
        #[arg(short, long)]
        size_only: bool,
        /// Output format
        #[arg(long, value_enum, default_value = "text")]
        enc: Enc,
    },
    /// Connections against the connection manager's marks, protected peers, routing table size
    Swarm {
        /// Output format
        #[arg(long, value_enum, default_value = "text")]
        enc: Enc,
    },
}

/// Output encodings, as Kubo's `--enc`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enc {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum SwarmCommand {
    /// List connected peers and their addresses
    Peers {
        /// Output format (json: Kubo's `{"Peers":[{"Addr","Peer"}]}`)
        #[arg(long, value_enum, default_value = "text")]
        enc: Enc,
    },
    /// Dial a peer: MULTIADDR ending in /p2p/<peer ID>
    Connect {
        #[arg(value_name = "MULTIADDR")]
        addr: crate::peer::Multiaddr,
    },
    /// List every peer with a known address, and those addresses (`swarm addrs local`: our own)
    Addrs {
        #[command(subcommand)]
        local: Option<AddrsCommand>,
    },
    /// Close the connections to a peer: /p2p/<peer ID>, or MULTIADDR/p2p/<peer ID> for that one connection
    Disconnect {
        #[arg(required = true, value_name = "MULTIADDR")]
        addrs: Vec<crate::peer::Multiaddr>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AddrsCommand {
    /// The addresses this node tells peers
    Local {
        /// End each with /p2p/<our peer ID>
        #[arg(long)]
        id: bool,
    },
}

/// `files snapshot [--name NAME]`, or one of its subcommands.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SnapshotArgs {
    #[command(subcommand)]
    pub cmd: Option<SnapshotCommand>,
    /// Keep the snapshot under this name until `files snapshot rm NAME`
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum SnapshotCommand {
    /// List snapshots, oldest first: directory name under snapshots/, root CID, name if any
    Ls,
    /// Remove snapshots (by name or time, as under snapshots/); their blocks become cache
    Rm {
        #[arg(required = true, value_name = "SNAPSHOT")]
        snapshots: Vec<String>,
    },
}

/// Parses `true`/`false` for Kubo-style `--flag[=BOOL]` options.
#[derive(Args, Debug)]
pub struct AddArgs {
    /// Files or directories to add; none (or `-`) reads standard input
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The name of what is read from stdin (default: its CID, as Kubo names it)
    #[arg(long, value_name = "NAME")]
    pub stdin_name: Option<String>,
    /// Add directories recursively
    #[arg(short, long)]
    pub recursive: bool,
    /// Print only CIDs, one per added entry
    #[arg(short, long)]
    pub quiet: bool,
    /// Print only the final CID
    #[arg(short = 'Q', long)]
    pub quieter: bool,
    /// Only compute CIDs; store nothing
    #[arg(short = 'n', long)]
    pub only_hash: bool,
    /// Pin what was added (recursively)
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub pin: bool,
    /// Wrap the added paths in a directory
    #[arg(short, long)]
    pub wrap_with_directory: bool,
    /// Include files and directories whose names start with a dot
    #[arg(short = 'H', long)]
    pub hidden: bool,
    /// Import settings by IPIP-499 name (instead of config.toml's [import]); flags below override single values
    #[arg(long, value_name = "NAME", value_parser = ["unixfs-v0-2015", "unixfs-v1-2025", "legacy-cid-v0"])]
    pub profile: Option<String>,
    /// Chunking algorithm: size-N (fixed N-byte chunks)
    #[arg(short = 's', long, value_name = "size-N")]
    pub chunker: Option<String>,
    /// CID version of dag-pb nodes (0 gives Qm… CIDs, as plain `ipfs add`)
    #[arg(long, value_name = "0|1", value_parser = clap::value_parser!(u8).range(0..=1))]
    pub cid_version: Option<u8>,
    /// Store file chunks as raw blocks (default: true for CIDv1, false for CIDv0)
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub raw_leaves: Option<bool>,
    /// Show a progress bar (default: when stderr is a terminal)
    #[arg(short, long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub progress: Option<bool>,
}

#[derive(Args, Debug)]
pub struct CatArgs {
    /// CID[/path…] or /ipfs/CID[/path…]; several are written one after another
    #[arg(value_name = "IPFS-PATH", required = true)]
    pub paths: Vec<String>,
    /// Byte offset to start at
    #[arg(short, long, default_value_t = 0)]
    pub offset: u64,
    /// Maximum number of bytes to write
    #[arg(short, long)]
    pub length: Option<u64>,
    /// Show bytes written and peers sending on stderr (default: when it is a terminal)
    #[arg(short, long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub progress: Option<bool>,
}

#[derive(Args, Debug)]
pub struct GetArgs {
    /// CID[/path…] or /ipfs/CID[/path…]
    #[arg(value_name = "IPFS-PATH")]
    pub path: String,
    /// Where to write (default: the last path component, or the CID)
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Show a progress bar (default: when stderr is a terminal)
    #[arg(short, long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub progress: Option<bool>,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// CID[/path…] or /ipfs/CID[/path…]: a directory's entries, or the links of any other node
    #[arg(required = true, value_name = "IPFS-PATH")]
    pub paths: Vec<String>,
    /// Print a header line (Hash, Size, Name)
    #[arg(short = 'v', long)]
    pub headers: bool,
    /// Print each entry's size (a file's bytes; `-` for a directory)
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub size: bool,
    /// Output format (json: Kubo's `{"Objects":[{"Hash","Links":[…]}]}`)
    #[arg(long, value_enum, default_value = "text")]
    pub enc: Enc,
    /// Same as --enc=json
    #[arg(long, hide = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum PinCommand {
    /// Pin CIDs (recursively by default); every block must be local
    Add {
        #[arg(required = true, value_name = "CID")]
        cids: Vec<String>,
        /// Pin the whole DAG (default); `--recursive=false` is `--direct`
        #[arg(long, value_name = "BOOL", conflicts_with = "direct", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
        recursive: Option<bool>,
        /// Pin only the named block
        #[arg(long)]
        direct: bool,
        /// Show blocks and bytes while the DAG is gathered (default: when stderr is a terminal)
        #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
        progress: Option<bool>,
    },
    /// Remove pins
    Rm {
        #[arg(required = true, value_name = "CID")]
        cids: Vec<String>,
    },
    /// List pins, or tell how the CIDs given are pinned (exit 1 if one is not)
    Ls {
        /// CIDs to look up (default: list the pins)
        #[arg(value_name = "CID")]
        cids: Vec<String>,
        /// Which pins to list (all: recursive and direct; indirect: every
        /// block inside a recursive pin's DAG)
        #[arg(short, long, value_enum, default_value_t = PinType::All)]
        r#type: PinType,
        /// Print only the CIDs
        #[arg(short, long)]
        quiet: bool,
        /// Output format (json: Kubo's `{"Keys":{"CID":{"Type":"recursive"}}}`)
        #[arg(long, value_enum, default_value = "text")]
        enc: Enc,
    },
    /// Check that every pinned DAG is complete and undamaged
    Verify,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinType {
    All,
    Recursive,
    Direct,
    Indirect,
}

#[derive(Subcommand, Debug)]
pub enum RepoCommand {
    /// Blocks, bytes, pinned bytes and the cache limit
    Stat {
        /// Same as --enc=json
        #[arg(long)]
        json: bool,
        /// Output format (json: Kubo's RepoSize, StorageMax, NumObjects,
        /// RepoPath, Version, then PinnedSize, Pins, CacheSize)
        #[arg(long, value_enum, default_value = "text")]
        enc: Enc,
    },
    /// Rehash every block; list damaged ones and exit 1 if any
    Verify {
        /// Fetch a good copy of each damaged block from peers (needs the running node)
        #[arg(long)]
        repair: bool,
    },
    /// Rebuild store/index.redb from the pack files, the WAL and meta.log (pins, files/); the old index is kept beside it
    RebuildIndex,
    /// Delete every block not reachable from a pin or the files/ tree (as `p2pfs gc`)
    Gc,
    /// Print the repo's store format (as `ipfs repo version`)
    Version,
}

#[derive(Subcommand, Debug)]
pub enum DagCommand {
    /// Print a node as DAG-JSON, as `ipfs dag get` (no trailing newline); path
    /// segments are UnixFS names under dag-pb, map keys and list indexes under
    /// dag-cbor and dag-json
    Get {
        #[arg(value_name = "CID[/PATH]")]
        path: String,
    },
    /// Blocks and bytes of each DAG, then the total with shared blocks counted
    /// once, as `ipfs dag stat`
    Stat {
        #[arg(required = true, value_name = "CID")]
        cids: Vec<String>,
        /// Output format
        #[arg(long, value_enum, default_value = "text")]
        enc: Enc,
        /// Show blocks and bytes counted so far (default: when stderr is a terminal)
        #[arg(short, long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
        progress: Option<bool>,
    },
    /// Write the DAG under a CID to stdout as a CAR v1 file
    Export {
        #[arg(value_name = "CID")]
        cid: String,
    },
    /// Import CAR v1 files (every block verified) and pin their roots
    Import {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Pin the roots named in the CAR headers
        #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
        pin_roots: bool,
    },
}

/// The clap command tree (for man pages and completions).
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

pub fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    commands::run(cli)
}
