//! `p2pfs key` and `p2pfs name` (like `ipfs key`, `ipfs name`).

use super::*;
use crate::ipns::Name;
use crate::ipns::time::parse_duration;
use crate::namesys::Names;
use std::io::Read;

pub(super) fn key(repo: &Repo, cmd: KeyCommand, io: &mut Io) -> anyhow::Result<ExitCode> {
    let keys = repo.keys();
    match cmd {
        KeyCommand::Gen { name, .. } => {
            let peer = keys.generate(&name)?;
            out!(io, "{}", Name(peer));
        }
        KeyCommand::List { enc: Enc::Json, .. } => {
            // Kubo's KeyOutput field order.
            #[derive(serde::Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Key {
                name: String,
                id: String,
            }
            #[derive(serde::Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Keys {
                keys: Vec<Key>,
            }
            let keys = keys.list()?.into_iter().map(|(n, p)| Key {
                name: n,
                id: Name(p).to_string(),
            });
            out!(io, "{}", serde_json::to_string(&Keys { keys: keys.collect() })?);
        }
        KeyCommand::List { long, enc: Enc::Text } => {
            for (n, peer) in keys.list()? {
                if long {
                    out!(io, "{} {n}", Name(peer));
                } else {
                    out!(io, "{n}");
                }
            }
        }
        KeyCommand::Rm { names } => {
            for n in names {
                let peer = keys.remove(&n)?;
                out!(io, "{} {n}", Name(peer));
            }
        }
        KeyCommand::Rename { old, new, force } => {
            let peer = keys.rename(&old, &new, force)?;
            out!(io, "Key {} renamed to {new}", Name(peer));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn duration(s: &str, what: &str) -> anyhow::Result<std::time::Duration> {
    parse_duration(s).with_context(|| format!("--{what} {s:?} is not a duration: write e.g. 48h, 90m, 30s"))
}

/// `/files/PATH` is published as the CID the path has now.
fn value_of(mfs: &Mfs, path: &str) -> anyhow::Result<String> {
    if is_files(path) {
        Ok(crate::namesys::files_value(mfs, path)?)
    } else {
        Ok(path.to_string())
    }
}

fn is_files(path: &str) -> bool {
    path == "/files" || path.starts_with("/files/")
}

pub(super) fn name(
    mfs: &Mfs,
    names: Option<&Names>,
    cmd: NameCommand,
    io: &mut Io,
) -> anyhow::Result<ExitCode> {
    let names =
        names.context("no node is running on this repo; start `p2pfs daemon` or `p2pfs mount` first")?;
    match cmd {
        NameCommand::Publish {
            path,
            key,
            lifetime,
            ttl,
            follow,
        } => {
            if follow && !is_files(&path) {
                bail!("--follow needs a /files/ path (the folder to follow), not {path:?}");
            }
            let lifetime = duration(&lifetime, "lifetime")?;
            if lifetime.is_zero() {
                bail!("--lifetime must be more than 0");
            }
            let ttl = duration(&ttl, "ttl")?;
            let value = value_of(mfs, &path)?;
            let p = names.publish(&key, &value, lifetime, ttl, follow.then_some(path.as_str()))?;
            out!(io, "Published to {}: {value}", p.name);
        }
        NameCommand::Resolve { name, nocache } => {
            let path = if name.starts_with("/ipns/") {
                name
            } else {
                format!("/ipns/{name}")
            };
            out!(io, "{}", names.resolve_path(&path, nocache)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `/ipns/<name>[/path]` arguments (of cat, get, ls) become the `/ipfs/`
/// paths they resolve to now.
pub(super) fn deref_ipns(names: Option<&Names>, path: &mut String) -> anyhow::Result<()> {
    if path.starts_with("/ipns/") {
        let names = names
            .context("resolving /ipns/ paths needs a running node: start `p2pfs daemon` or `p2pfs mount`")?;
        *path = names.resolve_path(path, false)?;
    }
    Ok(())
}

/// `routing get/put` of IPNS records (like `ipfs routing get/put /ipns/…`).
pub(super) fn routing_value(
    names: Option<&Names>,
    cmd: RoutingCommand,
    io: &mut Io,
) -> anyhow::Result<ExitCode> {
    let names =
        names.context("no node is running on this repo; start `p2pfs daemon` or `p2pfs mount` first")?;
    match cmd {
        RoutingCommand::Get { key } => {
            let record = names.get_record(&Name::parse(&key)?)?;
            io.out.write_all(record.to_bytes())?;
        }
        RoutingCommand::Put { key, file } => {
            let path = io.path(&file);
            let mut bytes = Vec::new();
            // One byte past the limit is enough to refuse it as too big.
            std::fs::File::open(&path)
                .and_then(|f| {
                    std::io::Read::take(f, crate::ipns::MAX_RECORD_SIZE as u64 + 1).read_to_end(&mut bytes)
                })
                .with_context(|| format!("reading {}", path.display()))?;
            let peers = names.put_record(&Name::parse(&key)?, &bytes)?;
            out!(io, "stored at {peers} peer(s)");
        }
        _ => bail!("not a value command"),
    }
    Ok(ExitCode::SUCCESS)
}
