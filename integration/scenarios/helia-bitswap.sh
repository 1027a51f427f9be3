#!/usr/bin/env bash
# Interop with Helia over Bitswap 1.2.0 and Kademlia on 127.0.0.1:
#  1. Helia fetches a file that a p2pfs daemon serves: same CID, same bytes.
#  2. p2pfs fetches a file that Helia serves, with `p2pfs cat` and through
#     the mount's ipfs/ view: same bytes.
#  3. Discovery through the DHT, both ways: a p2pfs node M in the middle; the
#     provider and the reader each know only M.
# Needs: P2PFS_BIN, node, and `npm ci` done in integration/helia.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${P2PFS_BIN:?set P2PFS_BIN to the p2pfs binary}
source "$here/helia/lib.sh"
work=$(mktemp -d /tmp/p2pfs-helia.XXXXXX)
pids=()
cleanup() {
    helia_stop_all || true
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    mountpoint -q "$work/net" 2>/dev/null && fusermount3 -u -z "$work/net"
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

export P2PFS_PATH="$work/repo"
head -c 3000000 /dev/urandom > "$work/ours.bin"
"$bin" init > /dev/null
ours=$("$bin" add -Q --progress=false "$work/ours.bin")
"$bin" mount "$work/net" --listen /ip4/127.0.0.1/tcp/0 2> "$work/daemon.log" &
pids+=($!)
for _ in $(seq 100); do [ -S "$P2PFS_PATH/api.sock" ] && mountpoint -q "$work/net" && break; sleep 0.1; done
addr=$("$bin" id | python3 -c "import json,sys; print([a for a in json.load(sys.stdin)['Addresses'] if '/tcp/' in a][0])")

helia_start H --listen /ip4/127.0.0.1/tcp/0 --dht off
# Same bytes, same CID in Helia's importer.
helia_cmd H "{\"cmd\":\"add\",\"path\":\"$work/ours.bin\"}" || fail "helia add: $HELIA_REPLY"
[ "$(jget "$HELIA_REPLY" cid)" = "$ours" ] || fail "CIDs differ: helia $(jget "$HELIA_REPLY" cid), p2pfs $ours"

# 1. Helia fetches from p2pfs (in a fresh Helia without the block).
helia_start H2 --listen /ip4/127.0.0.1/tcp/0 --dht off
helia_cmd H2 "{\"cmd\":\"dial\",\"addr\":\"$addr\"}" || fail "helia dial: $HELIA_REPLY"
jget "$HELIA_REPLY" protocols | grep -q '/ipfs/bitswap/1.2.0' || fail "p2pfs does not announce bitswap: $HELIA_REPLY"
helia_cmd H2 "{\"cmd\":\"cat\",\"cid\":\"$ours\",\"out\":\"$work/fetched-by-helia.bin\",\"timeoutMs\":30000}" 60 \
    || fail "helia cat: $HELIA_REPLY"
cmp -s "$work/ours.bin" "$work/fetched-by-helia.bin" || fail "Helia got different bytes"
echo "ok: Helia fetched $ours from p2pfs"

# 2. p2pfs fetches from Helia.
head -c 2500000 /dev/urandom > "$work/theirs.bin"
helia_cmd H "{\"cmd\":\"add\",\"path\":\"$work/theirs.bin\"}" || fail "helia add: $HELIA_REPLY"
theirs=$(jget "$HELIA_REPLY" cid)
[ "$("$bin" add -Q -n --progress=false "$work/theirs.bin")" = "$theirs" ] || fail "CIDs differ for Helia's file"
"$bin" swarm connect "$(helia_addr H)" > /dev/null
"$bin" cat "$theirs" > "$work/fetched-by-p2pfs.bin"
cmp -s "$work/theirs.bin" "$work/fetched-by-p2pfs.bin" || fail "p2pfs cat got different bytes"
# Through the mount: a third file only Helia has.
head -c 1500000 /dev/urandom > "$work/third.bin"
helia_cmd H "{\"cmd\":\"add\",\"path\":\"$work/third.bin\"}" || fail "helia add: $HELIA_REPLY"
third=$(jget "$HELIA_REPLY" cid)
cmp -s "$work/third.bin" "$work/net/ipfs/$third" || fail "read through the mount differs"
echo "ok: p2pfs fetched $theirs (cat) and $third (mount) from Helia"

# 3. DHT. M: a p2pfs daemon every node knows; nobody else knows anybody.
start_daemon() { # NAME -> starts a daemon with repo $work/NAME, prints its tcp addr
    P2PFS_PATH="$work/$1" "$bin" daemon --listen /ip4/127.0.0.1/tcp/0 2> "$work/$1.log" &
    pids+=($!)
    for _ in $(seq 200); do [ -S "$work/$1/api.sock" ] && break; sleep 0.05; done
}
tcp_addr() { P2PFS_PATH="$work/$1" "$bin" id | python3 -c "import json,sys; print([a for a in json.load(sys.stdin)['Addresses'] if '/tcp/' in a][0])"; }
start_daemon m
m_addr=$(tcp_addr m)
# Helia provides, p2pfs (R1) finds it through M.
helia_start HP --listen /ip4/127.0.0.1/tcp/0 --dht server
helia_cmd HP "{\"cmd\":\"dial\",\"addr\":\"$m_addr\"}" || fail "helia dial M: $HELIA_REPLY"
head -c 2000000 /dev/urandom > "$work/dht1.bin"
helia_cmd HP "{\"cmd\":\"add\",\"path\":\"$work/dht1.bin\"}" || fail "helia add: $HELIA_REPLY"
dht1=$(jget "$HELIA_REPLY" cid)
helia_cmd HP "{\"cmd\":\"provide\",\"cid\":\"$dht1\"}" 60 || fail "helia provide: $HELIA_REPLY"
start_daemon r1
P2PFS_PATH="$work/r1" "$bin" swarm connect "$m_addr" > /dev/null
P2PFS_PATH="$work/r1" "$bin" routing findprovs "$dht1" | grep -q "$(helia_id HP)" || fail "p2pfs did not find Helia as provider"
P2PFS_PATH="$work/r1" "$bin" cat "$dht1" > "$work/dht1.out"
cmp -s "$work/dht1.bin" "$work/dht1.out" || fail "p2pfs got different bytes via the DHT"
echo "ok: p2pfs found Helia through the DHT and fetched $dht1"
# p2pfs (P) provides, Helia (HR) finds it through M.
start_daemon p
P2PFS_PATH="$work/p" "$bin" swarm connect "$m_addr" > /dev/null
sleep 0.5
head -c 2000000 /dev/urandom > "$work/dht2.bin"
dht2=$(P2PFS_PATH="$work/p" "$bin" add -Q --progress=false "$work/dht2.bin")   # add provides
helia_start HR --listen /ip4/127.0.0.1/tcp/0 --dht server
helia_cmd HR "{\"cmd\":\"dial\",\"addr\":\"$m_addr\"}" || fail "helia dial M: $HELIA_REPLY"
helia_cmd HR "{\"cmd\":\"findprovs\",\"cid\":\"$dht2\"}" 60 || fail "helia findprovs: $HELIA_REPLY"
p_id=$(P2PFS_PATH="$work/p" "$bin" id | python3 -c "import json,sys; print(json.load(sys.stdin)['ID'])")
echo "$HELIA_REPLY" | grep -q "$p_id" || fail "Helia did not find p2pfs as provider: $HELIA_REPLY"
helia_cmd HR "{\"cmd\":\"cat\",\"cid\":\"$dht2\",\"out\":\"$work/dht2.out\",\"timeoutMs\":30000}" 60 || fail "helia cat: $HELIA_REPLY"
cmp -s "$work/dht2.bin" "$work/dht2.out" || fail "Helia got different bytes via the DHT"
echo "ok: Helia found p2pfs through the DHT and fetched $dht2"
echo "PASS helia-bitswap"
