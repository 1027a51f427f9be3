#!/usr/bin/env bash
# A peer that answers Bitswap wants with corrupted blocks is dropped, and the
# read still finishes from an honest peer. On 127.0.0.1:
#  - H: Helia started with --corrupt (every block it sends has one byte
#    flipped, so it hashes to no CID that was asked for); A: an honest p2pfs
#    daemon. Both hold the same file (same CID).
#  - B: a p2pfs mount. It connects to H only and starts reading the file
#    through B/net/ipfs/CID, so H is the only peer asked at first and answers
#    with a bad block; A is connected 2 s later. The read must give the right
#    bytes, B's log must have a WARN "dropping peer" line with H's peer ID, H
#    must be gone from B's `swarm peers`, and A must still be there.
#  - The same with `p2pfs cat` on B, another file, a second corrupt Helia H2
#    and a second honest daemon A2. B stays connected to A, which does not have
#    this file, so again only the corrupt peer has it when the read starts.
# Needs: P2PFS_BIN, node, and `npm ci` done in integration/helia. The drop is
# logged at WARN, which the default log filter shows (don't set RUST_LOG lower).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${P2PFS_BIN:?set P2PFS_BIN to the p2pfs binary}
work=$(mktemp -d /tmp/p2pfs-corrupt.XXXXXX)
export HELIA_TMP="$work/helia"
mkdir -p "$HELIA_TMP"
source "$here/helia/lib.sh"
declare -A pid
cleanup() {
    helia_stop_all || true
    for n in "${!pid[@]}"; do kill "${pid[$n]}" 2>/dev/null || true; wait "${pid[$n]}" 2>/dev/null || true; done
    mountpoint -q "$work/b/net" 2>/dev/null && fusermount3 -u -z "$work/b/net"
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    echo "--- B's log (last 20 lines):" >&2
    tail -n 20 "$work/b/log" >&2 || true
    exit 1
}
t0=$SECONDS
source "$(dirname "$0")/../nodes.sh"
peer_id() { p "$1" id | python3 -c "import json,sys; print(json.load(sys.stdin)['ID'])"; }
# helia_add NAME FILE: prints the CID
helia_add() { helia_cmd "$1" "{\"cmd\":\"add\",\"path\":\"$2\"}" || fail "helia $1 add: $HELIA_REPLY"; jget "$HELIA_REPLY" cid; }
# corrupt_sent NAME: Helia NAME has sent B at least one corrupted block
corrupt_sent() { grep -q "corrupt: sending .* to $b_id" "$HELIA_TMP/$1.log"; }
# expect_dropped NAME ID: B logged the drop of ID, and ID left B's swarm peers
# (a few seconds' grace: Helia may still redial B to deliver queued answers)
expect_dropped() {
    local name=$1 id=$2
    for _ in $(seq 100); do
        grep "dropping peer" "$work/b/log" | grep -q "$id" && break
        sleep 0.1
    done
    grep "dropping peer" "$work/b/log" | grep -q "$id" \
        || fail "B's log has no 'dropping peer' line for the corrupt peer $name ($id)"
    for _ in $(seq 100); do
        p b swarm peers | grep -q "$id" || break
        sleep 0.1
    done
    ! p b swarm peers | grep -q "$id" || fail "B is still connected to the corrupt peer $name ($id)"
    p b swarm peers | grep -q "$a_id" || fail "B is no longer connected to the honest peer A"
}
# read_case HELIA HONEST CID OUT CMD...: B connects to the corrupt Helia node
# HELIA only (of the peers that have CID) and runs CMD (stdout to OUT) in the
# background; once HELIA has answered with a corrupted block, and 2 s later,
# B connects to the honest p2pfs node HONEST. The read must then succeed.
read_case() {
    local helia=$1 honest=$2 cid=$3 out=$4 reader; shift 4
    p b swarm connect "$(helia_addr "$helia")" > /dev/null
    ( timeout 45 "$@" > "$out" ) &
    reader=$!
    for _ in $(seq 50); do corrupt_sent "$helia" && break; sleep 0.1; done
    corrupt_sent "$helia" || fail "$helia was not asked for a block (or did not answer) before ${honest^^} joined"
    sleep 2
    p b swarm connect "${honest_addr[$honest]}" > /dev/null
    wait "$reader" || fail "reading $cid on B failed: $*"
}

start a daemon; start a2 daemon; start b mount
declare -A honest_addr
for n in a a2; do honest_addr[$n]=$(addr $n) || fail "p2pfs $n has no TCP listen address"; done
a_id=$(peer_id a); b_id=$(peer_id b)
helia_start H --listen /ip4/127.0.0.1/tcp/0 --dht off --corrupt
helia_start H2 --listen /ip4/127.0.0.1/tcp/0 --dht off --corrupt
h_id=$(helia_id H); h2_id=$(helia_id H2)
for n in H H2; do
    [ "$(jget "${HELIA_READY[$n]}" corrupt)" = true ] || fail "Helia $n is not in corrupt mode: ${HELIA_READY[$n]}"
done
head -c 4000000 /dev/urandom > "$work/one.bin"
head -c 3000000 /dev/urandom > "$work/two.bin"
one=$(p a add -Q --progress=false "$work/one.bin")
[ "$(helia_add H "$work/one.bin")" = "$one" ] || fail "A and H disagree on the CID of one.bin"
two=$(p a2 add -Q --progress=false "$work/two.bin")
[ "$(helia_add H2 "$work/two.bin")" = "$two" ] || fail "A2 and H2 disagree on the CID of two.bin"
echo "ok: corrupt Helia nodes and honest p2pfs daemons hold the same files ($one, $two)"

# 1. Through the mount: H, then A.
read_case H a "$one" "$work/one.out" cat "$work/b/net/ipfs/$one"
cmp -s "$work/one.bin" "$work/one.out" || fail "the read through B's mount has different bytes"
echo "ok: cat B/net/ipfs/$one gave the right bytes (H sent corrupted blocks, A joined 2 s later)"
expect_dropped H "$h_id"
echo "ok: B dropped the corrupt peer H ($h_id) and kept A"

# 2. With the CLI: H2, then A2 (A, still connected, does not have two.bin).
read_case H2 a2 "$two" "$work/two.out" env P2PFS_PATH="$work/b/repo" "$bin" cat "$two"
cmp -s "$work/two.bin" "$work/two.out" || fail "p2pfs cat on B gave different bytes"
echo "ok: p2pfs cat $two on B gave the right bytes (H2 sent corrupted blocks, A2 joined 2 s later)"
expect_dropped H2 "$h2_id"
p b swarm peers | grep -q "$(peer_id a2)" || fail "B is no longer connected to the honest peer A2"
echo "ok: B dropped the corrupt peer H2 ($h2_id) and kept A and A2"
echo "ok: took $((SECONDS - t0)) s"
echo "PASS corrupt-peer"
