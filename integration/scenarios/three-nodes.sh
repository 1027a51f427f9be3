#!/usr/bin/env bash
# Three p2pfs nodes on 127.0.0.1, each with its own repo:
#  - a file written with cp into A's files/ is read with cat through C's mount;
#  - churn: A and B both hold a file, C reads it through its mount, A is
#    killed mid-read, and the read finishes from B with the right bytes.
# Needs: P2PFS_BIN. Peers are connected explicitly (no DHT discovery yet).
set -euo pipefail
bin=${P2PFS_BIN:?set P2PFS_BIN to the p2pfs binary}
work=$(mktemp -d /tmp/p2pfs-3nodes.XXXXXX)
declare -A pid
cleanup() {
    for n in "${!pid[@]}"; do kill "${pid[$n]}" 2>/dev/null || true; wait "${pid[$n]}" 2>/dev/null || true; done
    for n in a b c; do mountpoint -q "$work/$n/net" 2>/dev/null && fusermount3 -u -z "$work/$n/net"; done
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
source "$(dirname "$0")/../nodes.sh"

start a mount; start b daemon; start c mount
head -c 5000000 /dev/urandom > "$work/src.bin"
cp "$work/src.bin" "$work/a/net/files/shared.bin"
cid=$(getfattr --only-values -n user.p2pfs.cid "$work/a/net/files/shared.bin")
p c swarm connect "$(addr a)" > /dev/null
cmp -s "$work/src.bin" "$work/c/net/ipfs/$cid" || fail "C read different bytes through its mount"
echo "ok: written with cp on A, read with cat on C ($cid)"

# Churn: a 64 MB file on A and B; C starts reading; A dies mid-read.
head -c 64000000 /dev/urandom > "$work/big.bin"
big=$(p a add -Q --progress=false "$work/big.bin")
[ "$(p b add -Q --progress=false "$work/big.bin")" = "$big" ] || fail "A and B disagree on the CID"
p c swarm connect "$(addr b)" > /dev/null
( cat "$work/c/net/ipfs/$big" > "$work/c.out" ) &
reader=$!
sleep 0.2
kill -9 "${pid[a]}"; wait "${pid[a]}" 2>/dev/null || true; unset 'pid[a]'
fusermount3 -u -z "$work/a/net" 2>/dev/null || true
wait "$reader" || fail "the read failed after A died"
cmp -s "$work/big.bin" "$work/c.out" || fail "the read after churn has different bytes"
echo "ok: read finished from B after A was killed"
echo "PASS three-nodes"
