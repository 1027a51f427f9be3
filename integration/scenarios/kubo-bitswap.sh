#!/usr/bin/env bash
# Bitswap with a real Kubo (v0.22.0, integration/kubo), both ways, over direct
# connections, each node on its own host (network namespace, 10.78.0.0/24):
#  1. Kubo K (Ed25519) dials p2pfs P (ConnectToPeer) and downloads a CIDv0
#     file (`add --cid-version=0`) and a CIDv1 file (plain `add`) from P.
#  2. P fetches what K added (CIDv0, Kubo's defaults) with `p2pfs cat` and
#     through its mount (cat MOUNT/ipfs/CID).
#  3. RSA: Kubo R keeps the 2048-bit RSA identity Kubo makes. P dials R
#     (`swarm connect`), then blocks move both ways; Kubo R2 (RSA too) dials
#     P, then blocks move both ways.
# Bytes are compared by sha256. Needs: P2PFS_BIN, root, ip, nsenter,
# fusermount3, and integration/kubo/setup.sh done (SKIP without, FAIL when
# CI=true).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
: "${P2PFS_BIN:?set P2PFS_BIN to the p2pfs binary}"
# shellcheck source-path=SCRIPTDIR source=../kubo/lib.sh
source "$here/kubo/lib.sh"
kubo_init kubo-bitswap
command -v fusermount3 > /dev/null || kubo_fail "fusermount3 not found"
w=$KUBO_WORK
kubo_net_up p k r r2
p2pfs_start P p mount
p_addr=$(p2pfs_addr P) || kubo_fail "P has no TCP address"
p_id=$(p2pfs_id P)

# kubo_get NAME CID EXPECTED_FILE WHAT: Kubo NAME downloads CID, sha256 checked.
kubo_get() {
    local out="$w/$1.$2.out"
    kubo_cmd "$1" "{\"cmd\":\"download\",\"cid\":\"$2\",\"out\":\"$out\",\"timeoutMs\":60000}" 90 \
        || kubo_fail "$4: Kubo $1 could not download $2: $KUBO_REPLY"
    [ "$(sha "$out")" = "$(sha "$3")" ] || kubo_fail "$4: Kubo $1 got different bytes for $2"
    echo "ok: $4: Kubo $1 downloaded $2 from p2pfs ($(stat -c %s "$out") bytes, $(kjget "$KUBO_REPLY" ms) ms)"
}
# kubo_add NAME FILE: Kubo NAME adds FILE; prints the CID, which must be the
# CID `p2pfs add --cid-version=0 -n` computes.
kubo_add() {
    kubo_cmd "$1" "{\"cmd\":\"add\",\"path\":\"$2\"}" || kubo_fail "Kubo $1 could not add $2: $KUBO_REPLY"
    local cid ours
    cid=$(kjget "$KUBO_REPLY" cid)
    ours=$(pp P add -Q -n --progress=false --cid-version=0 "$2")
    [ "$cid" = "$ours" ] || kubo_fail "Kubo $1 added $2 as $cid, p2pfs computes $ours"
    echo "$cid"
}
# p_cat CID EXPECTED_FILE WHAT: `p2pfs cat` on P, sha256 checked.
p_cat() {
    ppt 60 P cat "$1" > "$w/p.$1.out" || kubo_fail "$3: p2pfs cat $1 failed (exit $?)"
    [ "$(sha "$w/p.$1.out")" = "$(sha "$2")" ] || kubo_fail "$3: p2pfs cat $1 gave different bytes"
    echo "ok: $3: p2pfs cat $1 fetched it from Kubo"
}

# 1. Kubo K (Ed25519) dials P and fetches from it.
kubo_start K k
k_id=$(kubo_id K)
head -c 3000000 /dev/urandom > "$w/v0.bin"
head -c 2500000 /dev/urandom > "$w/v1.bin"
v0=$(pp P add -Q --progress=false --cid-version=0 "$w/v0.bin")
v1=$(pp P add -Q --progress=false "$w/v1.bin")
[[ $v0 == Qm* && $v1 == bafy* ]] || kubo_fail "unexpected CIDs: v0 $v0, v1 $v1"
kubo_cmd K "{\"cmd\":\"connect\",\"addr\":\"$p_addr\"}" || kubo_fail "Kubo K could not connect to P at $p_addr: $KUBO_REPLY"
pp P swarm peers | grep -q "$k_id" || kubo_fail "P does not list K after K dialed it: $(pp P swarm peers)"
echo "ok: Kubo K ($k_id, Ed25519) dialed p2pfs P ($p_id at $p_addr)"
kubo_get K "$v0" "$w/v0.bin" "CIDv0"
kubo_get K "$v1" "$w/v1.bin" "CIDv1 (raw leaves)"

# 2. P fetches what K added: `p2pfs cat`, then the mount.
head -c 2000000 /dev/urandom > "$w/k1.bin"
head -c 1500000 /dev/urandom > "$w/k2.bin"
k1=$(kubo_add K "$w/k1.bin")
k2=$(kubo_add K "$w/k2.bin")
p_cat "$k1" "$w/k1.bin" "Kubo K -> p2pfs CLI"
timeout 60 cat "$w/P/net/ipfs/$k2" > "$w/P.mount.out" || kubo_fail "cat P/net/ipfs/$k2 failed"
[ "$(sha "$w/P.mount.out")" = "$(sha "$w/k2.bin")" ] || kubo_fail "the mount gave different bytes for $k2"
echo "ok: Kubo K -> p2pfs mount: cat MOUNT/ipfs/$k2 fetched it from Kubo"

# 3a. RSA, p2pfs dials: P -> R.
kubo_start R r --identity rsa
r_id=$(kubo_id R)
[[ $r_id == Qm* ]] || kubo_fail "Kubo R's peer ID $r_id is not an RSA (Qm…) one"
pp P swarm connect "$(kubo_addr R)" > "$w/connect-r.txt" 2>&1 \
    || kubo_fail "p2pfs swarm connect to RSA Kubo R ($(kubo_addr R)) failed: $(cat "$w/connect-r.txt")"
echo "ok: p2pfs P dialed Kubo R ($r_id, RSA-2048)"
head -c 1000000 /dev/urandom > "$w/r1.bin"
r1=$(kubo_add R "$w/r1.bin")
p_cat "$r1" "$w/r1.bin" "RSA, p2pfs dialed: Kubo R -> p2pfs"
head -c 1000000 /dev/urandom > "$w/pr.bin"
pr=$(pp P add -Q --progress=false --cid-version=0 "$w/pr.bin")
kubo_get R "$pr" "$w/pr.bin" "RSA, p2pfs dialed: p2pfs -> Kubo R"

# 3b. RSA, Kubo dials: R2 -> P.
kubo_start R2 r2 --identity rsa
r2_id=$(kubo_id R2)
kubo_cmd R2 "{\"cmd\":\"connect\",\"addr\":\"$p_addr\"}" || kubo_fail "RSA Kubo R2 could not connect to P: $KUBO_REPLY"
pp P swarm peers | grep -q "$r2_id" || kubo_fail "P does not list R2 after R2 dialed it: $(pp P swarm peers)"
echo "ok: Kubo R2 ($r2_id, RSA-2048) dialed p2pfs P"
head -c 1000000 /dev/urandom > "$w/pr2.bin"
pr2=$(pp P add -Q --progress=false "$w/pr2.bin")
kubo_get R2 "$pr2" "$w/pr2.bin" "RSA, Kubo dialed: p2pfs -> Kubo R2"
head -c 1000000 /dev/urandom > "$w/r2.bin"
r2=$(kubo_add R2 "$w/r2.bin")
p_cat "$r2" "$w/r2.bin" "RSA, Kubo dialed: Kubo R2 -> p2pfs"
echo "PASS kubo-bitswap"
