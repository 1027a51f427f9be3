//! `get`: a UnixFS DAG → files on the local disk. Names come from the DAG,
//! which anyone could have written, so each is checked to be one plain path
//! component before it touches the filesystem.

use crate::block::BlockGet;
use crate::unixfs::reader::read_range;
use crate::unixfs::resolve::{Kind, Node, for_each_entry};
use cid::Cid;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum GetError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0} already exists; remove it or choose another output with -o")]
    Exists(PathBuf),
    #[error("refusing entry name {0:?}: not a single path component")]
    BadName(String),
    #[error(transparent)]
    Unixfs(#[from] crate::unixfs::Error),
}

/// Writes `cid` to `out`; calls `progress` with file bytes written.
pub fn get<B: BlockGet + ?Sized>(
    blocks: &B,
    cid: &Cid,
    out: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<(), GetError> {
    if out.symlink_metadata().is_ok() {
        return Err(GetError::Exists(out.to_path_buf()));
    }
    write_node(blocks, cid, out, progress)
}

fn write_node<B: BlockGet + ?Sized>(
    blocks: &B,
    cid: &Cid,
    out: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<(), GetError> {
    let io = |e| GetError::Io {
        path: out.to_path_buf(),
        source: e,
    };
    let node = Node::load(blocks, cid)?;
    match node.kind() {
        Kind::Directory => {
            std::fs::create_dir(out).map_err(io)?;
            let mut children = Vec::new();
            for_each_entry(blocks, cid, &node, &mut |name, c, _| {
                children.push((name.to_string(), c));
                Ok(())
            })?;
            for (name, c) in children {
                if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0')
                {
                    return Err(GetError::BadName(name));
                }
                write_node(blocks, &c, &out.join(&name), progress)?;
            }
        }
        Kind::Symlink => {
            let target = node.symlink_target().unwrap_or_default();
            std::os::unix::fs::symlink(
                <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(target),
                out,
            )
            .map_err(io)?;
        }
        Kind::File => {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(out)
                .map_err(io)?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
            read_range(blocks, cid, 0, node.size(), &mut |b| {
                w.write_all(b)
                    .map_err(|e| crate::unixfs::Error::io(out.display().to_string(), e))?;
                progress(b.len() as u64);
                Ok(())
            })?;
            w.flush().map_err(io)?;
            if let Some(mode) = node.mode() {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(out, std::fs::Permissions::from_mode(mode & 0o7777));
            }
        }
    }
    Ok(())
}
