//! `p2pfs stats bitswap`: what Bitswap moved, as Kubo reports it.

use super::NetHandle;
use super::flow::FlowStats;
use std::sync::atomic::Ordering;

/// Field names as Kubo's `ipfs stats bitswap --enc=json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BitswapStats {
    #[serde(rename = "BlocksReceived")]
    pub blocks_received: u64,
    #[serde(rename = "DataReceived")]
    pub data_received: u64,
    #[serde(rename = "DupBlksReceived")]
    pub dup_blocks_received: u64,
    #[serde(rename = "DupDataReceived")]
    pub dup_data_received: u64,
    #[serde(rename = "MessagesReceived")]
    pub messages_received: u64,
    #[serde(rename = "BlocksSent")]
    pub blocks_sent: u64,
    #[serde(rename = "DataSent")]
    pub data_sent: u64,
    #[serde(rename = "Wantlist")]
    pub wantlist: Vec<CidLink>,
    #[serde(rename = "Peers")]
    pub peers: Vec<String>,
    /// Per peer (with `--verbose`): what the client's flow control sees.
    #[serde(rename = "PeerFlows", skip_serializing_if = "Vec::is_empty")]
    pub flows: Vec<PeerFlowStats>,
}

/// A CID as Kubo's JSON writes one: `{"/": "bafy…"}`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CidLink {
    #[serde(rename = "/")]
    pub cid: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PeerFlowStats {
    #[serde(rename = "Peer")]
    pub peer: String,
    #[serde(flatten)]
    pub flow: FlowStats,
    /// Wants the peer has standing with us (our server's ledger).
    #[serde(rename = "TheirWants")]
    pub their_wants: usize,
}

/// Most wantlist entries listed.
const MAX_LISTED: usize = 10_000;

impl NetHandle {
    pub fn bitswap_stats(&self, verbose: bool) -> BitswapStats {
        let b = &self.bitswap;
        let c = &b.stats;
        let s = &b.server.stats;
        let mut peers: Vec<String> = self.connected().iter().map(|p| p.to_string()).collect();
        peers.sort();
        let mut wantlist: Vec<CidLink> = b
            .wants
            .list(MAX_LISTED)
            .iter()
            .map(|c| CidLink { cid: c.to_string() })
            .collect();
        wantlist.sort_by(|a, b| a.cid.cmp(&b.cid));
        let flows = if verbose {
            b.flows
                .snapshot()
                .into_iter()
                .map(|(p, flow)| PeerFlowStats {
                    peer: p.to_string(),
                    their_wants: b.server.wantlist_len(&p),
                    flow,
                })
                .collect()
        } else {
            Vec::new()
        };
        BitswapStats {
            blocks_received: c.blocks_received.load(Ordering::Relaxed),
            data_received: c.data_received.load(Ordering::Relaxed),
            dup_blocks_received: c.dup_blocks_received.load(Ordering::Relaxed),
            dup_data_received: c.dup_data_received.load(Ordering::Relaxed),
            messages_received: c.messages_received.load(Ordering::Relaxed),
            blocks_sent: s.blocks_sent.load(Ordering::Relaxed),
            data_sent: s.data_sent.load(Ordering::Relaxed),
            wantlist,
            peers,
            flows,
        }
    }
}
