//! `p2pfs stats`: what the running node did.

use super::commands::Io;
use super::{Enc, StatsCommand};
use anyhow::Context;
use std::io::Write;
use std::process::ExitCode;

pub fn run(net: Option<&crate::net::NetHandle>, cmd: StatsCommand, io: &mut Io) -> anyhow::Result<ExitCode> {
    let net = net.context("no node is running on this repo; start `p2pfs daemon` or `p2pfs mount` first")?;
    match cmd {
        StatsCommand::Swarm { enc } => {
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
        StatsCommand::Bitswap { verbose, enc } => {
            let s = net.bitswap_stats(verbose);
            if enc == Enc::Json {
                writeln!(io.out, "{}", serde_json::to_string(&s)?)?;
                return Ok(ExitCode::SUCCESS);
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
        }
    }
    Ok(ExitCode::SUCCESS)
}
