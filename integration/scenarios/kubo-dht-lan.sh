#!/usr/bin/env bash
# DHT discovery between p2pfs and a real Kubo (v0.22.0) on private addresses
# (10.78.0.N), through Kubo's LAN DHT (/ipfs/lan/kad/1.0.0), both ways:
# p2pfs adds, a Kubo that knows only a third node (Kubo D, a DHT server)
# finds p2pfs as provider and downloads; Kubo adds, a p2pfs that knows only
# D lists Kubo with `routing findprovs` and reads the file with `p2pfs cat`.
# integration/kubo/dht.sh with KUBO_FAMILY=4 (its default). On a home
# network, an office LAN or a test bed this is the DHT Kubo uses.
# Needs: P2PFS_BIN, root, ip, nsenter, integration/kubo/setup.sh done.
set -euo pipefail
KUBO_FAMILY=4 exec bash "$(cd "$(dirname "$0")/.." && pwd)/kubo/dht.sh"
