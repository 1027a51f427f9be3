//! UnixFS on dag-pb: the codec, the importer (bytes → DAG, Kubo-identical),
//! the exporter (random-access reads, listings, HAMT shards) and path
//! resolution. It does no I/O of its own: blocks come and go through
//! [`crate::block::BlockGet`] / [`crate::block::BlockPut`].

pub mod data;
pub mod diff;
pub mod dir;
pub mod hamt;
mod hamt_diff;
pub mod importer;
pub mod pb;
pub mod profile;
pub mod reader;
pub mod resolve;

use crate::block::BlockError;
use cid::Cid;

/// Called with (name, CID, Tsize) of each directory entry.
pub type EntryVisitor<'a> = dyn FnMut(&str, Cid, Option<u64>) -> Result<(), Error> + 'a;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("malformed block: {0}")]
    Malformed(&'static str),
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error("no link named '{name}' under {parent}")]
    NoSuchEntry { parent: String, name: String },
    #[error("'{0}' is not a directory")]
    NotADirectory(String),
    #[error("'{0}' is a directory")]
    IsADirectory(String),
    #[error("{cid} has codec 0x{codec:x}, which is not UnixFS (dag-pb or raw)")]
    UnsupportedCodec { cid: Cid, codec: u64 },
    #[error("{0}")]
    Unsupported(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The errno a filesystem answers this with (the one mapping: the
    /// writable tree's errors defer to it for what they wrap).
    pub fn errno(&self) -> i32 {
        match self {
            Error::NoSuchEntry { .. } => libc::ENOENT,
            Error::NotADirectory(_) => libc::ENOTDIR,
            Error::IsADirectory(_) => libc::EISDIR,
            _ => libc::EIO,
        }
    }
}

impl From<crate::wire::Error> for Error {
    fn from(e: crate::wire::Error) -> Self {
        match e {
            crate::wire::Error::Malformed(m) => Error::Malformed(m),
        }
    }
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
