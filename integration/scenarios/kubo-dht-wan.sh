#!/usr/bin/env bash
# DHT discovery between p2pfs and a real Kubo (v0.22.0) through Kubo's WAN DHT
# (/ipfs/kad/1.0.0), both ways: p2pfs adds, a Kubo that knows only a third
# node (Kubo D, a DHT server) finds p2pfs as provider and downloads; Kubo
# adds, a p2pfs that knows only D lists Kubo with `routing findprovs` and
# reads the file with `p2pfs cat`. integration/kubo/dht.sh with KUBO_FAMILY=6:
# every node listens only on an address in 2001:db8::/32 (the IPv6
# documentation prefix: never routed, and the namespaces have no route out),
# which Kubo counts as public, hence its WAN DHT. On private addresses Kubo
# uses its LAN DHT (/ipfs/lan/kad/1.0.0) instead: kubo-dht-lan.sh.
# Needs: P2PFS_BIN, root, ip, nsenter, integration/kubo/setup.sh done.
set -euo pipefail
KUBO_FAMILY=6 exec bash "$(cd "$(dirname "$0")/.." && pwd)/kubo/dht.sh"
