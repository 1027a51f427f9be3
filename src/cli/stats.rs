//! `p2pfs stats`: what the running node did, and the repo (`stats repo`,
//! which works without a node too).

use super::commands::Io;
use super::output::si_bytes;
use super::{Enc, StatsCommand};
use crate::repo::Repo;
use anyhow::Context;
use std::io::Write;
use std::process::ExitCode;

pub fn run(
    repo: &Repo,
    net: Option<&crate::net::NetHandle>,
    cmd: StatsCommand,
    io: &mut Io,
) -> anyhow::Result<ExitCode> {
    let node = || net.context("no node is running on this repo; start `p2pfs daemon` or `p2pfs mount` first");
    match cmd {
        StatsCommand::Repo {
            human,
            size_only,
            enc,
        } => return repo_stat(repo, human, size_only, enc, io),
        StatsCommand::Bw { enc } => {
            let b = node()?.bandwidth();
            if enc == Enc::Json {
                writeln!(io.out, "{}", serde_json::to_string(&b)?)?;
                return Ok(ExitCode::SUCCESS);
            }
            // The layout of Kubo's `ipfs stats bw`.
            let o = &mut io.out;
            writeln!(o, "Bandwidth")?;
            writeln!(o, "TotalIn: {}", si_bytes(b.total_in))?;
            writeln!(o, "TotalOut: {}", si_bytes(b.total_out))?;
            writeln!(o, "RateIn: {}/s", si_bytes(b.rate_in as u64))?;
            writeln!(o, "RateOut: {}/s", si_bytes(b.rate_out as u64))?;
        }
        StatsCommand::Swarm { enc } => {
            let net = node()?;
            let c = net.block_on(net.conns())?;
            if enc == Enc::Json {
                writeln!(io.out, "{}", serde_json::to_string(&c)?)?;
                return Ok(ExitCode::SUCCESS);
            }
            let o = &mut io.out;
            writeln!(
                o,
                "connections:    {} (low water {}, high water {})",
                c.connected, c.low, c.high
            )?;
            writeln!(o, "protected:      {}", c.protected)?;
            writeln!(o, "routing table:  {} peers", c.routing_table)?;
            writeln!(o, "redialed:       {} bootstrap and saved peers", c.known.len())?;
        }
        StatsCommand::Bitswap { verbose, enc } => bitswap(node()?, verbose, enc, io)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Kubo's `ipfs stats bitswap`.
fn bitswap(net: &crate::net::NetHandle, verbose: bool, enc: Enc, io: &mut Io) -> anyhow::Result<()> {
    let s = net.bitswap_stats(verbose);
    if enc == Enc::Json {
        writeln!(io.out, "{}", serde_json::to_string(&s)?)?;
        return Ok(());
    }
    // The layout of Kubo's `ipfs stats bitswap`.
    let o = &mut io.out;
    writeln!(o, "bitswap status")?;
    writeln!(o, "\tblocks received: {}", s.blocks_received)?;
    writeln!(o, "\tblocks sent: {}", s.blocks_sent)?;
    writeln!(o, "\tdata received: {}", s.data_received)?;
    writeln!(o, "\tdata sent: {}", s.data_sent)?;
    writeln!(o, "\tdup blocks received: {}", s.dup_blocks_received)?;
    writeln!(o, "\tdup data received: {}", s.dup_data_received)?;
    writeln!(o, "\twantlist [{} keys]", s.wantlist.len())?;
    for c in &s.wantlist {
        writeln!(o, "\t\t{}", c.cid)?;
    }
    writeln!(o, "\tpartners [{}]", s.peers.len())?;
    if verbose {
        for f in &s.flows {
            let rtt = f.flow.min_rtt_ms.map_or("-".into(), |m| format!("{m:.1} ms"));
            writeln!(
                o,
                "\t\t{}  received {} blocks / {} B, owed {} blocks, window {} B, rate {:.0} B/s, min rtt {rtt}, their wants {}",
                f.peer,
                f.flow.blocks_received,
                f.flow.bytes_received,
                f.flow.owed_blocks,
                f.flow.window_bytes,
                f.flow.rate,
                f.their_wants
            )?;
        }
    } else {
        for p in &s.peers {
            writeln!(o, "\t\t{p}")?;
        }
    }
    Ok(())
}

/// Kubo's `ipfs stats repo` / `repo stat`: objects, bytes, the limit
/// (our cache limit: the size past which unpinned blocks are evicted).
fn repo_stat(repo: &Repo, human: bool, size_only: bool, enc: Enc, io: &mut Io) -> anyhow::Result<ExitCode> {
    let usage = repo.store.usage()?;
    let limit = repo.config.cache_bytes();
    let version = format!(
        "p2pfs-repo@{}",
        String::from_utf8_lossy(crate::store::FORMAT_VERSION)
    );
    if enc == Enc::Json {
        let v = if size_only {
            serde_json::json!({"RepoSize": usage.bytes, "StorageMax": limit})
        } else {
            serde_json::json!({
                "RepoSize": usage.bytes, "StorageMax": limit, "NumObjects": usage.blocks,
                "RepoPath": repo.path, "Version": version,
            })
        };
        writeln!(io.out, "{v}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let size = |n: u64| if human { si_bytes(n) } else { n.to_string() };
    // Kubo aligns the values in a column after the longest label.
    let o = &mut io.out;
    if !size_only {
        writeln!(o, "NumObjects: {}", usage.blocks)?;
    }
    writeln!(o, "RepoSize:   {}", size(usage.bytes))?;
    writeln!(o, "StorageMax: {}", size(limit))?;
    if !size_only {
        writeln!(o, "RepoPath:   {}", repo.path.display())?;
        writeln!(o, "Version:    {version}")?;
    }
    Ok(ExitCode::SUCCESS)
}
