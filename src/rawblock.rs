//! Single blocks by hand, as `ipfs block` and `ipfs refs` offer them: put a
//! file's bytes as one block, remove blocks nothing keeps, list links.

use crate::block::{BlockError, BlockGet, DAG_PB, MAX_BLOCK_SIZE, RAW, cid_v1};
use crate::dag::DagError;
use crate::repo::Repo;
use crate::unixfs::pb::{PbNode, links_of};
use cid::Cid;
use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

/// Peers refuse blocks over 1 MiB (Kubo's limit): bigger ones are only put
/// when asked for (up to the store's 2 MiB).
pub const SHAREABLE_BLOCK_SIZE: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum RawBlockError {
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error(
        "{path} is {size} bytes: a block over 1 MiB cannot be exchanged with other peers (--allow-big-block stores it anyway, up to 2 MiB)"
    )]
    TooBigToShare { path: String, size: u64 },
    #[error("{path} is {size} bytes: a block is at most 2 MiB")]
    TooBig { path: String, size: u64 },
    #[error("{path} is not a dag-pb node: {source}")]
    NotDagPb {
        path: String,
        source: crate::unixfs::Error,
    },
    #[error("codec {0:?} is not supported here (raw or dag-pb)")]
    Codec(String),
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error(transparent)]
    Dag(#[from] DagError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// The multicodec of a codec name `block put` accepts.
pub fn codec(name: &str) -> Result<u64, RawBlockError> {
    match name {
        "raw" => Ok(RAW),
        "dag-pb" | "protobuf" => Ok(DAG_PB),
        other => Err(RawBlockError::Codec(other.to_string())),
    }
}

/// Stores the bytes of `path` as one block (sha2-256, CIDv1) and returns
/// its CID. The size is checked before anything is read into memory; a
/// dag-pb block must decode as one, so that DAG walks (GC, pins) can read it.
pub fn put_file(repo: &Repo, path: &Path, codec: u64, allow_big: bool) -> Result<Cid, RawBlockError> {
    let shown = path.display().to_string();
    let read_err = |source| RawBlockError::Read {
        path: shown.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    // One byte past the limit tells "too big" from "exactly the limit"
    // whatever the file claims (a pipe or /proc file has no size).
    let mut data = Vec::new();
    file.take(MAX_BLOCK_SIZE as u64 + 1)
        .read_to_end(&mut data)
        .map_err(read_err)?;
    let size = data.len() as u64;
    if data.len() > MAX_BLOCK_SIZE {
        return Err(RawBlockError::TooBig { path: shown, size });
    }
    if data.len() > SHAREABLE_BLOCK_SIZE && !allow_big {
        return Err(RawBlockError::TooBigToShare { path: shown, size });
    }
    if codec == DAG_PB {
        PbNode::decode(&data).map_err(|source| RawBlockError::NotDagPb { path: shown, source })?;
    }
    let cid = cid_v1(codec, &data);
    repo.store.put_block(&cid, &data)?;
    repo.store.commit()?;
    Ok(cid)
}

/// Why a block was not removed.
#[derive(Debug, PartialEq, Eq)]
pub enum NotRemoved {
    /// A pin or the files/ tree reaches it.
    Kept,
    Missing,
}

/// What `remove` did with each block asked for.
pub type Removed = Vec<(Cid, Result<(), NotRemoved>)>;

/// Removes the blocks among `cids` that no pin and no files/ root
/// (`roots`) reaches; says for each whether it was removed.
pub fn remove(repo: &Repo, roots: &[Cid], cids: &[Cid]) -> Result<Removed, RawBlockError> {
    let live = crate::dag::live_set(&repo.store, roots)?;
    let mut out = Vec::with_capacity(cids.len());
    for cid in cids {
        let key = cid.hash().to_bytes();
        let r = if live.contains(&key) {
            Err(NotRemoved::Kept)
        } else if !repo.store.has(cid)? {
            Err(NotRemoved::Missing)
        } else {
            repo.store.delete(&[key])?;
            Ok(())
        };
        out.push((*cid, r));
    }
    Ok(out)
}

/// The links under `root`, as `ipfs refs` lists them: its children, or
/// with `recursive` every link below it depth-first (each edge, or each
/// block once with `unique`).
pub fn refs<B: BlockGet + ?Sized>(
    blocks: &B,
    root: &Cid,
    recursive: bool,
    unique: bool,
    out: &mut dyn FnMut(&Cid) -> std::io::Result<()>,
) -> Result<(), RawBlockError> {
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    // Each node's links are listed once, however many paths reach it: Kubo
    // lists every path, which is exponential in a DAG someone else made.
    let mut expanded: HashSet<Vec<u8>> = HashSet::new();
    let mut stack = vec![*root];
    while let Some(cid) = stack.pop() {
        if !expanded.insert(cid.hash().to_bytes()) {
            continue;
        }
        let data = blocks.get(&cid)?;
        let links = links_of(&cid, &data).map_err(|source| DagError::Decode { cid, source })?;
        blocks.prefetch(&mut links.iter().copied());
        for l in &links {
            if !unique || seen.insert(l.hash().to_bytes()) {
                out(l).map_err(|e| RawBlockError::Read {
                    path: "stdout".into(),
                    source: e,
                })?;
            }
        }
        if recursive {
            stack.extend(links.into_iter().rev());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_names() {
        assert_eq!(codec("raw").unwrap(), RAW);
        assert_eq!(codec("dag-pb").unwrap(), DAG_PB);
        assert!(codec("dag-cbor").is_err());
    }
}
