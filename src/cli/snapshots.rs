//! `p2pfs files snapshot|log|diff|restore`: snapshots of the writable tree.
//! Snapshots are named on the command line as under snapshots/ in the
//! mount: by name, or by UTC time (`2026-12-01T11-30-00Z`).

use super::{Io, SnapshotArgs, SnapshotCommand};
use crate::mfs::Mfs;
use crate::repo::Repo;
use crate::store::{Snapshot, snapshot_dir_names};
use anyhow::bail;
use std::process::ExitCode;

/// Every snapshot with its directory name, oldest first.
pub(super) fn named(repo: &Repo) -> anyhow::Result<Vec<(String, Snapshot)>> {
    let snaps = repo.store.snapshots()?;
    Ok(snapshot_dir_names(&snaps).into_iter().zip(snaps).collect())
}

/// The snapshot called `name` (its name or time, as under snapshots/).
pub(super) fn find(repo: &Repo, name: &str) -> anyhow::Result<Snapshot> {
    let name = name.trim_end_matches('/');
    let name = name.rsplit('/').next().unwrap_or(name);
    match named(repo)?.into_iter().find(|(n, _)| n == name) {
        Some((_, s)) => Ok(s),
        None => bail!("no snapshot '{name}' (`p2pfs files snapshot ls` lists them)"),
    }
}

pub fn snapshot(repo: &Repo, mfs: &Mfs, a: SnapshotArgs, io: &mut Io) -> anyhow::Result<ExitCode> {
    match a.cmd {
        None => {
            mfs.checkpoint()?;
            let s = repo.store.take_snapshot(a.name.as_deref())?;
            let names = named(repo)?;
            let dir = names
                .iter()
                .find(|(_, x)| x.id == s.id)
                .map_or_else(|| s.dir_name(), |(n, _)| n.clone());
            writeln!(io.out, "{dir}  {}", s.root)?;
        }
        Some(SnapshotCommand::Ls) => {
            for (dir, s) in named(repo)? {
                writeln!(io.out, "{dir}  {}", s.root)?;
            }
        }
        Some(SnapshotCommand::Rm { snapshots }) => {
            // Every name checked before anything is removed.
            let found = snapshots
                .iter()
                .map(|n| find(repo, n))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let ids: Vec<u64> = found.iter().map(|s| s.id).collect();
            repo.store.remove_snapshots(&ids)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
