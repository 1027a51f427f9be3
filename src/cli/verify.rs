//! `p2pfs repo verify [--repair]`: every block reread from disk and hashed;
//! damaged ones are marked (never served again) and, with `--repair`,
//! fetched from peers through the running node, verified and written back.
//! `p2pfs repo rebuild-index`: a lost or damaged index made anew.

use super::commands::Io;
use super::output::count_bar;
use crate::block::BlockGet;
use crate::blockservice::BlockService;
use crate::repo::Repo;
use cid::Cid;
use std::process::ExitCode;
use std::sync::Arc;

/// A multihash as a CID peers can be asked for (they index by multihash).
fn cid_of(mh: &[u8]) -> String {
    multihash::Multihash::<64>::from_bytes(mh)
        .map(|m| Cid::new_v1(crate::block::RAW, m).to_string())
        .unwrap_or_else(|_| "(unreadable multihash)".into())
}

pub fn run(
    repo: &Arc<Repo>,
    net: Option<&crate::net::NetHandle>,
    repair: bool,
    io: &mut Io,
) -> anyhow::Result<ExitCode> {
    if repair && net.is_none() {
        anyhow::bail!(
            "--repair fetches good copies from peers: start the node (`p2pfs daemon` or `p2pfs mount`) and run it again"
        );
    }
    let mut keys = Vec::new();
    repo.store.for_each_block(&mut |k, _| {
        keys.push(k.to_vec());
        Ok(())
    })?;
    let pb = count_bar(keys.len() as u64, io.progress(None), "blocks");
    for k in &keys {
        pb.inc(1);
        repo.store.verify_block(k)?;
    }
    pb.finish_and_clear();
    // Also what reads found damaged before (a missing pack, say).
    let damaged = repo.store.bad_blocks();
    for k in &damaged {
        writeln!(io.out, "damaged: {}", cid_of(k))?;
    }
    let mut unhealed = damaged.len();
    if repair && !damaged.is_empty() {
        let blocks = BlockService::new(repo.clone(), net.cloned()).until(io.gone.clone());
        unhealed = 0;
        for k in &damaged {
            let Ok(mh) = multihash::Multihash::<64>::from_bytes(k) else {
                unhealed += 1;
                continue;
            };
            let cid = Cid::new_v1(crate::block::RAW, mh);
            match blocks.get(&cid) {
                Ok(_) if !repo.store.is_bad(k) => writeln!(io.out, "repaired: {cid}")?,
                Ok(_) => {
                    unhealed += 1;
                    writeln!(io.out, "not repaired: {cid}: the copy could not be written")?;
                }
                Err(e) => {
                    unhealed += 1;
                    writeln!(io.out, "not repaired: {cid}: {e}")?;
                }
            }
        }
        repo.store.commit()?;
    }
    writeln!(
        io.out,
        "verified {} blocks, {} damaged{}",
        keys.len(),
        damaged.len(),
        if repair {
            format!(", {} repaired, {unhealed} not", damaged.len() - unhealed)
        } else {
            String::new()
        }
    )?;
    Ok(if unhealed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `repo rebuild-index` (offline: it takes the repo lock).
pub fn rebuild(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let r = crate::repo::rebuild_index(path)?;
    if let Some(old) = &r.old_index {
        println!("the old index was moved to {}", old.display());
    }
    println!(
        "rebuilt the index: {} blocks ({}), {} pins, files/ {}{}",
        r.blocks,
        super::output::human_bytes(r.bytes),
        r.pins,
        r.files_root.map_or("empty".to_string(), |c| format!(
            "{c} ({} metadata entries)",
            r.files_meta
        )),
        if r.skipped > 0 {
            format!(
                "; {} damaged records skipped (`p2pfs repo verify --repair` with the node running fetches them)",
                r.skipped
            )
        } else {
            String::new()
        }
    );
    if r.bad_log_lines > 0 {
        eprintln!(
            "warning: {} lines of meta.log could not be read and were skipped",
            r.bad_log_lines
        );
    }
    Ok(ExitCode::SUCCESS)
}
