//! `p2pfs id [PEER]`, `p2pfs swarm …` and `p2pfs routing findpeer`: this
//! node and the peers it knows, in the shapes of Kubo's commands.

use super::*;
use crate::peer::PeerId;

const NO_NODE: &str = "no node is running on this repo; start `p2pfs daemon` or `p2pfs mount` first";

fn parse_peer(s: &str) -> anyhow::Result<PeerId> {
    s.parse()
        .with_context(|| format!("{s:?} is not a peer ID (12D3KooW…, Qm…)"))
}

/// Prints JSON indented with tabs, as Kubo's `ipfs id`.
fn print_tabbed(info: &crate::net::IdInfo, io: &mut Io) -> anyhow::Result<()> {
    use serde::Serialize;
    let mut buf = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut buf,
        serde_json::ser::PrettyFormatter::with_indent(b"\t"),
    );
    info.serialize(&mut ser)?;
    io.out.write_all(&buf)?;
    out!(io, "");
    Ok(())
}

pub(super) fn id(
    repo: &Repo,
    net: Option<&crate::net::NetHandle>,
    peer: Option<&str>,
    io: &mut Io,
) -> anyhow::Result<ExitCode> {
    let other = peer.map(parse_peer).transpose()?.filter(|p| *p != repo.peer_id);
    let info = match (net, other) {
        (Some(n), Some(p)) => n.block_on(n.peer_info(p))?,
        (None, Some(p)) => bail!("asking {p} who it is needs the running node: {NO_NODE}"),
        (Some(n), None) => n.block_on(n.id())?,
        // No daemon: not listening anywhere.
        (None, None) => crate::net::IdInfo {
            id: repo.peer_id.to_string(),
            public_key: crate::net::public_key_string(&repo.keypair.public()),
            addresses: Vec::new(),
            agent_version: crate::net::AGENT.into(),
            protocols: crate::net::protocols(),
        },
    };
    print_tabbed(&info, io)?;
    Ok(ExitCode::SUCCESS)
}

pub(super) fn swarm(
    net: Option<&crate::net::NetHandle>,
    cmd: SwarmCommand,
    io: &mut Io,
) -> anyhow::Result<ExitCode> {
    let net = net.context(NO_NODE)?;
    match cmd {
        SwarmCommand::Peers { enc: Enc::Text } => {
            // Addresses already end in /p2p/<peer>.
            for (_, addr) in net.block_on(net.peers())? {
                out!(io, "{addr}");
            }
        }
        SwarmCommand::Peers { enc: Enc::Json } => peers_json(net, io)?,
        SwarmCommand::Connect { addr } => {
            let peer = net.block_on(net.connect(addr.clone()))?;
            out!(io, "connected to {peer}");
        }
        SwarmCommand::Addrs { local: None } => {
            // Kubo's layout: "<peer> (<count>)", then each address after a tab.
            for (peer, addrs) in net.block_on(net.known_addrs())? {
                out!(io, "{peer} ({})", addrs.len());
                for a in addrs {
                    out!(io, "\t{a}");
                }
            }
        }
        SwarmCommand::Addrs {
            local: Some(AddrsCommand::Local { id }),
        } => {
            let me = net.block_on(net.id())?;
            let suffix = format!("/p2p/{}", me.id);
            let mut addrs: Vec<String> = me
                .addresses
                .iter()
                .map(|a| {
                    let bare = a.strip_suffix(&suffix).unwrap_or(a);
                    if id {
                        format!("{bare}{suffix}")
                    } else {
                        bare.to_string()
                    }
                })
                .collect();
            addrs.sort();
            addrs.dedup();
            for a in addrs {
                out!(io, "{a}");
            }
        }
        SwarmCommand::Disconnect { addrs } => {
            for addr in addrs {
                match net.block_on(net.disconnect(addr)) {
                    Ok(peer) => out!(io, "disconnect {peer} success"),
                    Err(e) => bail!("disconnect failure: {e}"),
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `routing findpeer PEER`: its addresses, one per line (as Kubo).
pub(super) fn findpeer(
    repo: &Repo,
    net: Option<&crate::net::NetHandle>,
    peer: &str,
    io: &mut Io,
) -> anyhow::Result<ExitCode> {
    let peer = parse_peer(peer)?;
    let net = net.context(NO_NODE)?;
    if peer == repo.peer_id {
        bail!("finding your own node in the DHT is not supported (`p2pfs id` prints its addresses)");
    }
    for a in net.block_on(net.find_peer(peer))? {
        out!(io, "{a}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `swarm peers --enc=json`: Kubo's `{"Peers":[{"Addr","Peer"}]}`.
fn peers_json(net: &crate::net::NetHandle, io: &mut Io) -> anyhow::Result<()> {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Peer {
        addr: String,
        peer: String,
    }
    let peers: Vec<Peer> = net
        .block_on(net.peers())?
        .into_iter()
        .map(|(peer, mut addr)| {
            // Kubo's Addr is the transport address, without /p2p.
            if matches!(addr.iter().last(), Some(crate::peer::Protocol::P2p(_))) {
                addr.pop();
            }
            Peer {
                addr: addr.to_string(),
                peer: peer.to_string(),
            }
        })
        .collect();
    out!(
        io,
        "{}",
        serde_json::json!({ "Peers": serde_json::to_value(peers)? })
    );
    Ok(())
}
