//! Errors of the writable tree and their errno.

use super::file;

#[derive(Debug, thiserror::Error)]
pub enum MfsError {
    #[error("no such file or directory: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    Exists(String),
    #[error("not a directory: {0}")]
    NotDir(String),
    #[error("is a directory: {0}")]
    IsDir(String),
    #[error("directory not empty: {0}")]
    NotEmpty(String),
    /// A name longer than [`super::meta::NAME_MAX`] bytes.
    #[error("name too long: {0} bytes")]
    NameTooLong(usize),
    /// A special file (FIFO, socket, device) has no CID.
    #[error("not in the DAG (a special file): {0}")]
    NotInDag(String),
    /// A hard link to a directory (EPERM, as on Linux).
    #[error("hard link to a directory: {0}")]
    LinkDir(String),
    /// No such extended attribute (ENODATA).
    #[error("no such attribute: {0}")]
    NoAttr(String),
    /// An attribute name longer than 255 bytes, or empty (ERANGE).
    #[error("bad attribute name length: {0} bytes")]
    XattrName(usize),
    /// An attribute value over [`super::XATTR_SIZE_MAX`] (E2BIG).
    #[error("attribute value too large: {0} bytes")]
    XattrTooBig(usize),
    /// The attributes of one inode would pass their limits (ENOSPC).
    #[error("no room for more attributes on this inode")]
    NoSpace,
    /// Not supported here (EOPNOTSUPP).
    #[error("operation not supported")]
    NoSuchOp,
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// Growing a file past [`file::MAX_FILE_SIZE`] (`EFBIG`).
    #[error("file too large: {0} bytes (the limit is {max})", max = file::MAX_FILE_SIZE)]
    TooBig(u64),
    #[error(transparent)]
    Unixfs(#[from] crate::unixfs::Error),
    #[error("journal: {0}")]
    Journal(std::io::Error),
    /// A file written through passthrough (`staged.rs`): its staging file
    /// under the repo failed (the repo's disk: full, read-only, removed).
    #[error("{what} under the repo's staging/")]
    Staging {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Only under [`without_io`]: the operation needs the disk (or a busy
    /// lock); run it again where blocking is fine.
    #[error("operation would block")]
    WouldBlock,
}

impl MfsError {
    pub fn errno(&self) -> i32 {
        match self {
            MfsError::NotFound(_) => libc::ENOENT,
            MfsError::Exists(_) => libc::EEXIST,
            MfsError::NotDir(_) => libc::ENOTDIR,
            MfsError::IsDir(_) => libc::EISDIR,
            MfsError::NotEmpty(_) => libc::ENOTEMPTY,
            MfsError::Invalid(_) => libc::EINVAL,
            MfsError::NameTooLong(_) => libc::ENAMETOOLONG,
            MfsError::NotInDag(_) => libc::ENODATA,
            MfsError::LinkDir(_) => libc::EPERM,
            MfsError::NoAttr(_) => libc::ENODATA,
            MfsError::XattrName(_) => libc::ERANGE,
            MfsError::XattrTooBig(_) => libc::E2BIG,
            MfsError::NoSpace => libc::ENOSPC,
            MfsError::NoSuchOp => libc::EOPNOTSUPP,
            MfsError::TooBig(_) => libc::EFBIG,
            MfsError::WouldBlock => libc::EAGAIN,
            MfsError::Unixfs(e) => e.errno(),
            MfsError::Staging { source, .. } => source.raw_os_error().unwrap_or(libc::EIO),
            _ => libc::EIO,
        }
    }
}

pub(crate) type Result<T> = std::result::Result<T, MfsError>;
