//! `p2pfs repo`: stat (p2pfs's view, or Kubo's fields as JSON), verify,
//! gc, version.

use super::*;

pub(super) fn repo_cmd(
    repo: &Arc<Repo>,
    mfs: &Mfs,
    net: Option<&crate::net::NetHandle>,
    cmd: RepoCommand,
    io: &mut Io,
) -> anyhow::Result<ExitCode> {
    match cmd {
        RepoCommand::Stat { json, enc } => stat(repo, mfs, json || enc == Enc::Json, io),
        RepoCommand::Verify { repair } => super::super::verify::run(repo, net, repair, io),
        RepoCommand::RebuildIndex => {
            anyhow::bail!("stop the node first: the index cannot be rebuilt while it is open")
        }
        RepoCommand::Gc => gc(repo, mfs, io),
        RepoCommand::Version => {
            out!(
                io,
                "p2pfs-repo@{}",
                String::from_utf8_lossy(crate::store::FORMAT_VERSION)
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `repo stat`: blocks, bytes, what pins keep, the cache and its limit.
fn stat(repo: &Repo, mfs: &Mfs, json: bool, io: &mut Io) -> anyhow::Result<ExitCode> {
    let usage = repo.store.usage()?;
    // Cache: what neither a pin nor files/ keeps.
    let kept = crate::dag::live_set(&repo.store, &mfs.gc_roots()?)?;
    let mut kept_bytes = 0;
    for h in &kept {
        kept_bytes += repo.store.block_size(h)?.unwrap_or(0);
    }
    let cache = usage.bytes.saturating_sub(kept_bytes);
    let live = crate::dag::live_set(&repo.store, &[])?;
    let mut pinned = 0;
    for h in &live {
        pinned += repo.store.block_size(h)?.unwrap_or(0);
    }
    let limit = repo.config.cache_bytes();
    if json {
        // Kubo's fields in its order, then what only p2pfs has.
        #[derive(serde::Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct RepoStat<'a> {
            repo_size: u64,
            storage_max: u64,
            num_objects: u64,
            repo_path: &'a Path,
            version: String,
            pinned_size: u64,
            pins: u64,
            cache_size: u64,
        }
        let v = RepoStat {
            repo_size: usage.bytes,
            storage_max: limit,
            num_objects: usage.blocks,
            repo_path: &repo.path,
            version: format!(
                "p2pfs-repo@{}",
                String::from_utf8_lossy(crate::store::FORMAT_VERSION)
            ),
            pinned_size: pinned,
            pins: repo.store.pin_count()?,
            cache_size: cache,
        };
        out!(io, "{}", serde_json::to_string(&v)?);
    } else {
        out!(io, "repo path:    {}", repo.path.display());
        out!(io, "blocks:       {}", usage.blocks);
        out!(
            io,
            "size:         {} ({} bytes)",
            human_bytes(usage.bytes),
            usage.bytes
        );
        out!(io, "pinned size:  {} ({} bytes)", human_bytes(pinned), pinned);
        out!(io, "pins:         {}", repo.store.pin_count()?);
        out!(io, "cache size:   {} ({} bytes)", human_bytes(cache), cache);
        out!(
            io,
            "cache limit:  {} ({})",
            human_bytes(limit),
            repo.config.store.cache_size
        );
    }
    Ok(ExitCode::SUCCESS)
}
