//! The clap definitions of `p2pfs files` (handlers in `files.rs`).

use super::*;

/// Paths are `/files/a/b` (as under the mount) or `/a/b` (as in `ipfs files`).
#[derive(Subcommand, Debug)]
pub enum FilesCommand {
    /// List a directory: names, as `ipfs files ls`
    Ls {
        #[arg(value_name = "PATH", default_value = "/")]
        path: String,
        /// Each entry as NAME[/] CID SIZE (tab-separated, as Kubo)
        #[arg(short, long)]
        long: bool,
        /// Output format (json: Kubo's `{"Entries":[{"Name","Type","Size","Hash"}]}`)
        #[arg(long, value_enum, default_value = "text")]
        enc: Enc,
    },
    /// Print CID, size and type
    Stat {
        #[arg(value_name = "PATH")]
        path: String,
    },
    /// Create a directory
    Mkdir {
        #[arg(value_name = "PATH")]
        path: String,
        /// Create parents as needed; no error if it exists
        #[arg(short, long)]
        parents: bool,
    },
    /// Remove a file or (with -r) a directory
    Rm {
        #[arg(value_name = "PATH")]
        path: String,
        #[arg(short, long)]
        recursive: bool,
    },
    /// Move or rename
    Mv {
        #[arg(value_name = "SRC")]
        src: String,
        #[arg(value_name = "DST")]
        dst: String,
    },
    /// Link existing content (/ipfs/CID[/path] or a files path) without copying bytes
    Cp {
        #[arg(value_name = "SRC")]
        src: String,
        #[arg(value_name = "DST")]
        dst: String,
    },
    /// Write a file's bytes to stdout
    Read {
        #[arg(value_name = "PATH")]
        path: String,
        #[arg(short, long, default_value_t = 0)]
        offset: u64,
        /// Maximum number of bytes to read
        #[arg(short = 'n', long)]
        count: Option<u64>,
    },
    /// Write the contents of a local file into a files path
    Write {
        #[arg(value_name = "PATH")]
        path: String,
        /// Where the bytes come from; none (or `-`) reads standard input
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
        /// Create the file if it does not exist
        #[arg(short = 'e', long)]
        create: bool,
        /// Truncate the file first
        #[arg(short, long)]
        truncate: bool,
        #[arg(short, long, default_value_t = 0)]
        offset: u64,
    },
    /// Save the tree and print its root CID
    Flush,
    /// Take a snapshot of files/ now (kept until removed with --name); `snapshot ls`, `snapshot rm`
    Snapshot(SnapshotArgs),
    /// List the snapshots in which PATH changed (content or metadata), newest first, with its CID
    Log {
        #[arg(value_name = "PATH", default_value = "/")]
        path: String,
    },
    /// List paths added (+), removed (-) and changed (M) from snapshot A to snapshot B ("now": the live tree)
    Diff {
        #[arg(value_name = "A")]
        a: String,
        #[arg(value_name = "B", default_value = "now")]
        b: String,
        /// Only under this path
        #[arg(value_name = "PATH", default_value = "/")]
        path: String,
    },
    /// Link PATH as it was in SNAPSHOT back into files/ (at DEST, default PATH, replacing it) without copying bytes
    Restore {
        #[arg(value_name = "SNAPSHOT")]
        snapshot: String,
        #[arg(value_name = "PATH")]
        path: String,
        #[arg(value_name = "DEST")]
        dest: Option<String>,
    },
}
