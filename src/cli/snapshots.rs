//! `p2pfs files snapshot|log|diff|restore`: snapshots of the writable tree.
//! Snapshots are named on the command line as under snapshots/ in the
//! mount: by name, or by UTC time (`2026-12-01T11-30-00Z`).

use super::files::{display, tree_path};
use super::{FilesCommand, Io, SnapshotArgs, SnapshotCommand};
use crate::mfs::Mfs;
use crate::repo::Repo;
use crate::store::{Snapshot, snapshot_dir_names};
use crate::unixfs::diff::{Change, path_cid};
use anyhow::{Context, bail};
use cid::Cid;
use std::process::ExitCode;

/// `files snapshot|log|diff|restore`.
pub fn run(repo: &Repo, mfs: &Mfs, cmd: FilesCommand, io: &mut Io) -> anyhow::Result<ExitCode> {
    match cmd {
        FilesCommand::Snapshot(a) => snapshot(repo, mfs, a, io),
        FilesCommand::Log { path } => log(repo, &tree_path(&path)?, io),
        FilesCommand::Diff { a, b, path } => diff(repo, mfs, [&a, &b], &tree_path(&path)?, io),
        FilesCommand::Restore { snapshot, path, dest } => {
            let p = tree_path(&path)?;
            let d = match dest {
                Some(d) => tree_path(&d)?,
                None => p.clone(),
            };
            restore(repo, mfs, &snapshot, &p, &d, io)
        }
        _ => bail!("not a snapshot command"),
    }
}

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

/// `files log PATH`: snapshots, newest first, whose PATH differs (content
/// or metadata) from the snapshot before.
pub fn log(repo: &Repo, path: &str, io: &mut Io) -> anyhow::Result<ExitCode> {
    let snaps = named(repo)?;
    let mut states = Vec::with_capacity(snaps.len());
    for (_, s) in &snaps {
        let cid = path_cid(&repo.store, &s.root, path)?;
        let meta = match cid {
            Some(_) => repo.store.snapshot_meta(s.seq, path)?,
            None => None,
        };
        states.push((cid, meta));
    }
    if snaps.is_empty() {
        bail!("there are no snapshots yet (`p2pfs files snapshot` takes one)");
    }
    if states.iter().all(|(cid, _)| cid.is_none()) {
        bail!(
            "/files/{path} is in none of the {} snapshots (`p2pfs files snapshot ls` lists them)",
            snaps.len()
        );
    }
    for i in (0..snaps.len()).rev() {
        let before = i.checked_sub(1).map(|j| &states[j]);
        if before == Some(&states[i]) || (before.is_none() && states[i].0.is_none()) {
            continue;
        }
        let what = states[i]
            .0
            .map_or_else(|| "(removed)".to_string(), |c| c.to_string());
        writeln!(io.out, "{}  {what}", snaps[i].0)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The root CID of a snapshot, or of the live tree for "now".
fn root_of(repo: &Repo, mfs: &Mfs, name: &str) -> anyhow::Result<Cid> {
    if name == "now" {
        return Ok(mfs.cid_of(crate::mfs::ROOT)?.cid);
    }
    Ok(find(repo, name)?.root)
}

/// `files diff A B [PATH]`.
pub fn diff(repo: &Repo, mfs: &Mfs, [a, b]: [&str; 2], path: &str, io: &mut Io) -> anyhow::Result<ExitCode> {
    let (ra, rb) = (root_of(repo, mfs, a)?, root_of(repo, mfs, b)?);
    let mut at = |root: &Cid, which: &str| -> anyhow::Result<Option<Cid>> {
        let c = path_cid(&repo.store, root, path)?;
        if c.is_none() {
            writeln!(io.err, "note: {} is not in {which}", display(path))?;
        }
        Ok(c)
    };
    let (ca, cb) = (at(&ra, a)?, at(&rb, b)?);
    let changes = match (ca, cb) {
        (Some(x), Some(y)) => crate::unixfs::diff::diff(&repo.store, &x, &y)?,
        (None, None) => Vec::new(),
        (x, _) => vec![crate::unixfs::diff::Diff {
            path: String::new(),
            change: if x.is_some() {
                Change::Removed
            } else {
                Change::Added
            },
            dir: false,
        }],
    };
    for d in changes {
        let full = match (path.is_empty(), d.path.is_empty()) {
            (_, true) => path.to_string(),
            (true, false) => d.path,
            (false, false) => format!("{path}/{}", d.path),
        };
        let slash = if d.dir { "/" } else { "" };
        writeln!(io.out, "{}  {}{slash}", d.change.mark(), display(&full))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `files restore SNAPSHOT PATH [DEST]`: the old version linked back, with
/// its metadata; what DEST held stays in the snapshot taken first.
pub fn restore(
    repo: &Repo,
    mfs: &Mfs,
    snapshot: &str,
    path: &str,
    dest: &str,
    io: &mut Io,
) -> anyhow::Result<ExitCode> {
    if dest.is_empty() {
        bail!("cannot replace /files itself: restore the entries under it one by one");
    }
    let s = find(repo, snapshot)?;
    let Some(cid) = path_cid(&repo.store, &s.root, path)? else {
        bail!("{} is not in snapshot {snapshot}", display(path));
    };
    // The version being replaced is kept by the snapshot of this checkpoint.
    mfs.checkpoint()?;
    let meta = |rel: &str| {
        let p = match (path.is_empty(), rel.is_empty()) {
            (_, true) => path.to_string(),
            (true, false) => rel.to_string(),
            (false, false) => format!("{path}/{rel}"),
        };
        let m = repo.store.snapshot_meta(s.seq, &p).ok().flatten();
        (m, repo.store.snapshot_xattrs(s.seq, &p).unwrap_or_default())
    };
    mfs.restore(dest, &cid, &meta)
        .with_context(|| format!("restoring {}", display(dest)))?;
    writeln!(io.out, "{}  {cid}", display(dest))?;
    Ok(ExitCode::SUCCESS)
}
