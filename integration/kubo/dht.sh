#!/usr/bin/env bash
# DHT discovery between p2pfs and a real Kubo (v0.22.0), both ways, where the
# two only share a third node: Kubo D, a DHT server (Internal.
# Libp2pForceReachability = "public"). The other Kubo nodes are WAN DHT
# clients ("private"), so no routing-table walk connects them to anyone: only
# a provider lookup can. One network namespace per host:
#  1. p2pfs P (connected to D only) adds a file, which announces it. Kubo K
#     (connected to D only) downloads it: Kubo's Bitswap asks its content
#     routing (the lib has no FindProviders), finds P through D, dials it.
#  2. Kubo K2 (connected to D only) adds a file, which provides it. p2pfs R
#     (connected to D only) lists K2 with `routing findprovs` and reads the
#     file with `p2pfs cat`.
# Both parts always run; the script fails if either did.
#
# KUBO_FAMILY=4 (default): every node listens on a private IPv4 address
# (10.78.0.N). Kubo then uses only its LAN DHT (/ipfs/lan/kad/1.0.0), which
# p2pfs serves and queries beside the WAN one (src/net/dht.rs);
# scenarios/kubo-dht-lan.sh runs this mode in CI. README.md ("The DHT")
# explains what Kubo does with records in each DHT.
# KUBO_FAMILY=6: every node listens only on an address in 2001:db8::/32 (the
# IPv6 documentation prefix: not routed anywhere, but "public" to
# go-multiaddr), so Kubo uses its WAN DHT (/ipfs/kad/1.0.0), the one p2pfs
# speaks. scenarios/kubo-dht-wan.sh runs this mode in CI.
#
# KUBO_DHT_P_SIZE=BYTES sets the size of P's file (default 2000000); with
# more than 256 blocks (> 64 MiB) and KUBO_DHT_WAIT=15 (seconds between
# P's add and K's lookup, default 2) part 1 passes on private addresses too;
# README.md says why.
# KUBO_DEBUG=1 turns on Kubo's dht/bitswap logs and p2pfs's kad/identify logs
# ($KUBO_WORK/NAME/log; KUBO_KEEP=1 keeps the work dir).
# Needs: P2PFS_BIN, root, ip, nsenter, integration/kubo/setup.sh done.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${P2PFS_BIN:?set P2PFS_BIN to the p2pfs binary}"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"
fam=${KUBO_FAMILY:-4}
name=kubo-dht
[ "$fam" = 6 ] && name=kubo-dht-wan
kubo_init "$name"
w=$KUBO_WORK
kubo_net_up d p k k2 r
if [ -n "${KUBO_DEBUG:-}" ]; then
    export GOLOG_LOG_LEVEL="error,dht=debug,providers=debug,bitswap=debug"
    export RUST_LOG="warn,libp2p_kad=debug,libp2p_identify=debug"
fi
if [ "$fam" = 6 ]; then
    echo "note: every node listens on 2001:db8:78::/64 only (Kubo's WAN DHT)"
else
    echo "note: every node listens on 10.78.0.0/24 only (Kubo's LAN DHT, which p2pfs serves and queries too)"
fi

kubo_has_peer() { kubo_cmd "$1" '{"cmd":"peers"}' > /dev/null && [[ $KUBO_REPLY == *"$2"* ]]; }
failed=()
bad() { echo "FAIL $name: $*" >&2; failed+=("$1"); }

kubo_start D d --reachability public --routing dhtserver
d_addr=$(kubo_addr D)
echo "ok: Kubo D ($(kubo_id D), DHT server) at $d_addr"

# 1. p2pfs provides, Kubo finds.
part1() {
    p2pfs_start P p daemon
    local p_id pc
    p_id=$(p2pfs_id P)
    pp P swarm connect "$d_addr" > /dev/null || { bad part1 "P could not connect to D"; return; }
    sleep 1
    head -c "${KUBO_DHT_P_SIZE:-2000000}" /dev/urandom > "$w/p.bin"
    pc=$(pp P add -Q --progress=false --cid-version=0 "$w/p.bin")
    echo "ok: p2pfs P ($p_id) added $pc (add announces it; P knows only D)"
    sleep "${KUBO_DHT_WAIT:-2}" # let P's announcements reach D
    kubo_start K k --reachability private
    kubo_cmd K "{\"cmd\":\"connect\",\"addr\":\"$d_addr\"}" || { bad part1 "K could not connect to D: $KUBO_REPLY"; return; }
    sleep 1
    if kubo_has_peer K "$p_id"; then bad part1 "K is connected to P before any lookup: $KUBO_REPLY"; return; fi
    echo "ok: Kubo K connected to D only"
    if ! kubo_cmd K "{\"cmd\":\"download\",\"cid\":\"$pc\",\"out\":\"$w/k.out\",\"timeoutMs\":30000}" 60; then
        bad part1 "Kubo K (connected to D only) could not download $pc from p2pfs P through the DHT: $KUBO_REPLY"
        return
    fi
    local ms
    ms=$(kjget "$KUBO_REPLY" ms)
    [ "$(sha "$w/k.out")" = "$(sha "$w/p.bin")" ] || { bad part1 "K got different bytes"; return; }
    kubo_has_peer K "$p_id" || { bad part1 "K got the file but is not connected to P: $KUBO_REPLY"; return; }
    echo "ok: Kubo K found p2pfs P through Kubo D and downloaded $pc ($ms ms)"
}

# 2. Kubo provides, p2pfs finds.
part2() {
    kubo_start K2 k2 --reachability private
    local k2_id kc provs
    k2_id=$(kubo_id K2)
    kubo_cmd K2 "{\"cmd\":\"connect\",\"addr\":\"$d_addr\"}" || { bad part2 "K2 could not connect to D: $KUBO_REPLY"; return; }
    sleep 1
    head -c 2000000 /dev/urandom > "$w/k2.bin"
    kubo_cmd K2 "{\"cmd\":\"add\",\"path\":\"$w/k2.bin\"}" || { bad part2 "K2 could not add: $KUBO_REPLY"; return; }
    kc=$(kjget "$KUBO_REPLY" cid)
    echo "ok: Kubo K2 ($k2_id) added $kc (Kubo provides what it adds)"
    p2pfs_start R r daemon
    pp R swarm connect "$d_addr" > /dev/null || { bad part2 "R could not connect to D"; return; }
    sleep 1
    # R's DHT bootstrap (a walk towards its own ID through D) may already
    # have met K2; the provider record found below is what shows discovery.
    echo "ok: p2pfs R connected to D"
    for _ in $(seq 5); do # Kubo's provider queue may take a moment
        provs=$(ppt 20 R routing findprovs "$kc" 2>&1) || true
        [[ $provs == *"$k2_id"* ]] && break
        sleep 2
    done
    if [[ $provs != *"$k2_id"* ]]; then
        bad part2 "\`p2pfs routing findprovs $kc\` on R does not list Kubo K2 ($k2_id); it printed: ${provs:-nothing}"
        return
    fi
    echo "ok: p2pfs R finds Kubo K2 as the provider of $kc through D"
    if ! ppt 60 R cat "$kc" > "$w/r.out" 2> "$w/r.err"; then
        bad part2 "p2pfs cat $kc on R failed: $(cat "$w/r.err")"
        return
    fi
    [ "$(sha "$w/r.out")" = "$(sha "$w/k2.bin")" ] || { bad part2 "R got different bytes"; return; }
    echo "ok: p2pfs R read $kc from Kubo K2 (found through the DHT)"
}

part1
part2
[ ${#failed[@]} = 0 ] || kubo_fail "${failed[*]} failed"
echo "PASS $name"
