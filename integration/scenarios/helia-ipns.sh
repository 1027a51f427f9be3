#!/usr/bin/env bash
# IPNS interop with Helia (@helia/ipns over the DHT) on 127.0.0.1:
#  1. the JS ipns validator accepts the record p2pfs made (the one it saved);
#  2. p2pfs publishes, Helia resolves (through M, a p2pfs DHT server both know);
#  3. Helia publishes, p2pfs resolves and reads the content by its /ipns/ path;
#     Helia publishes again, p2pfs sees the new value (higher sequence).
# Needs: P2PFS_BIN, node, and `npm ci` done in integration/helia.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${P2PFS_BIN:?set P2PFS_BIN to the p2pfs binary}
source "$here/helia/lib.sh"
work=$(mktemp -d /tmp/p2pfs-helia-ipns.XXXXXX)
pids=()
cleanup() {
    helia_stop_all || true
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

start_daemon() { # NAME: a daemon with repo $work/NAME
    P2PFS_PATH="$work/$1" "$bin" daemon --listen /ip4/127.0.0.1/tcp/0 2> "$work/$1.log" &
    pids+=($!)
    for _ in $(seq 200); do [ -S "$work/$1/api.sock" ] && break; sleep 0.05; done
}
tcp_addr() { P2PFS_PATH="$work/$1" "$bin" id | python3 -c "import json,sys; print([a for a in json.load(sys.stdin)['Addresses'] if '/tcp/' in a][0])"; }
p2p() { local n=$1; shift; P2PFS_PATH="$work/$n" "$bin" "$@"; }

start_daemon m
m_addr=$(tcp_addr m)
start_daemon p
p2p p swarm connect "$m_addr" > /dev/null
helia_start H --listen /ip4/127.0.0.1/tcp/0 --dht server
helia_cmd H "{\"cmd\":\"dial\",\"addr\":\"$m_addr\"}" || fail "helia dial M: $HELIA_REPLY"
sleep 0.5

# 1 + 2. p2pfs publishes; the JS validator accepts the record; Helia resolves.
head -c 100000 /dev/urandom > "$work/ours.bin"
ours=$(p2p p add -Q --progress=false "$work/ours.bin")
name=$(p2p p key gen site)
p2p p name publish --key site "/ipfs/$ours" | grep -q "Published to $name" || fail "p2pfs publish"
peer=$(p2p p key list -l | awk '$2 == "site" {print $1}')
[ "$peer" = "$name" ] || fail "key list -l: $peer"
rec=$(ls "$work/p/ipns/"*.json | head -1)
record_hex=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['record'])" "$rec")
(cd "$here/helia" && node ipns-vector.mjs check "$name" "$record_hex") | grep -qx valid \
    || fail "the JS ipns validator refused p2pfs's record"
echo "ok: the JS ipns validator accepts p2pfs's record"
helia_cmd H "{\"cmd\":\"ipnsresolve\",\"name\":\"$name\"}" 60 || fail "helia resolve: $HELIA_REPLY"
[ "$(jget "$HELIA_REPLY" value)" = "/ipfs/$ours" ] || fail "Helia resolved $name to $(jget "$HELIA_REPLY" value)"
echo "ok: Helia resolved p2pfs's $name to /ipfs/$ours"

# 3. Helia publishes; p2pfs (R, which knows only M) resolves and reads.
helia_cmd H "{\"cmd\":\"add\",\"path\":\"$work/ours.bin\"}" || fail "helia add: $HELIA_REPLY"
head -c 200000 /dev/urandom > "$work/theirs.bin"
helia_cmd H "{\"cmd\":\"add\",\"path\":\"$work/theirs.bin\"}" || fail "helia add: $HELIA_REPLY"
theirs=$(jget "$HELIA_REPLY" cid)
helia_cmd H "{\"cmd\":\"ipnspublish\",\"key\":\"interop\",\"value\":\"/ipfs/$theirs\"}" 60 || fail "helia publish: $HELIA_REPLY"
hname=$(jget "$HELIA_REPLY" name)
start_daemon r
p2p r swarm connect "$m_addr" > /dev/null
sleep 0.5
[ "$(p2p r name resolve "$hname")" = "/ipfs/$theirs" ] || fail "p2pfs did not resolve Helia's $hname"
p2p r cat "/ipns/$hname" > "$work/theirs.out"
cmp -s "$work/theirs.bin" "$work/theirs.out" || fail "p2pfs read different bytes through /ipns/$hname"
echo "ok: p2pfs resolved Helia's $hname and read it"
helia_cmd H "{\"cmd\":\"ipnspublish\",\"key\":\"interop\",\"value\":\"/ipfs/$ours\"}" 60 || fail "helia publish: $HELIA_REPLY"
seq=$(jget "$HELIA_REPLY" sequence)
[ "$(p2p r name resolve --nocache "$hname")" = "/ipfs/$ours" ] || fail "p2pfs did not see Helia's update"
echo "ok: p2pfs saw Helia's update (sequence $seq)"
echo "PASS helia-ipns"
