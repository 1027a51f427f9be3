#!/usr/bin/env bash
# The HTTP gateway with a real trustless client, @helia/verified-fetch, on
# 127.0.0.1. Its Helia has no libp2p and no routers: its only block source
# is the p2pfs gateway's /ipfs/CID?format=raw, and it hash-checks each block.
#  1. a 5 MiB file (21 blocks) and a file deep in a directory come back with
#     the sha256 of the originals;
#  2. through a proxy gateway that flips one byte of one block (not the
#     root), verified-fetch refuses; the same proxy without the flip works.
# IPNS is not tested: verified-fetch resolves names only through routing
# (libp2p or delegated /routing/v1), never by a gateway's /ipns/ paths, and
# p2pfs serves neither /routing/v1 nor ?format=ipns-record.
# Needs: P2PFS_BIN, node, python3, curl, and `npm ci` done in integration/helia.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${P2PFS_BIN:?set P2PFS_BIN to the p2pfs binary}
work=$(mktemp -d /tmp/p2pfs-helia-gateway.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
jget() { node -e 'const v = JSON.parse(process.argv[1])[process.argv[2]]; process.stdout.write(typeof v === "string" ? v : JSON.stringify(v ?? null))' "$1" "$2"; }
vfetch() { # GATEWAY RESOURCE OUT: one JSON line; non-zero if verified-fetch failed
    node "$here/helia/gateway-fetch.mjs" fetch "$@" 20000 2> "$work/vfetch.log"
}
sha() { sha256sum < "$1" | cut -d' ' -f1; }

export P2PFS_PATH="$work/repo"
"$bin" init > /dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" config --json gateway.listen "[\"127.0.0.1:$port\"]" > /dev/null
"$bin" daemon --listen /ip4/127.0.0.1/tcp/0 2> "$work/daemon.log" &
pids+=($!)
gw="http://127.0.0.1:$port"
for _ in $(seq 200); do curl -s -o /dev/null "$gw/" && break; sleep 0.05; done
curl -s -o /dev/null "$gw/" || { cat "$work/daemon.log" >&2; fail "the gateway did not come up on $gw"; }

# 5 MiB: with 256 KiB chunks, 20 leaves under one root.
head -c $((5 << 20)) /dev/urandom > "$work/big.bin"
big=$("$bin" add -Q --progress=false "$work/big.bin")
mkdir -p "$work/site/docs/deep"
echo '<h1>hi</h1>' > "$work/site/index.html"
head -c 700000 /dev/urandom > "$work/site/docs/deep/data.bin"
echo notes > "$work/site/docs/notes.txt"
site=$("$bin" add -r -Q --progress=false "$work/site")

# 1. verified-fetch through the p2pfs gateway.
r=$(vfetch "$gw" "ipfs://$big" "$work/big.out") || fail "verified-fetch ipfs://$big: $r $(cat "$work/vfetch.log")"
[ "$(jget "$r" sha256)" = "$(sha "$work/big.bin")" ] || fail "ipfs://$big: sha256 $(jget "$r" sha256) differs from the file's"
[ "$(sha "$work/big.out")" = "$(sha "$work/big.bin")" ] || fail "ipfs://$big: the bytes written differ"
[ "$(jget "$r" blocks)" -ge 21 ] || fail "ipfs://$big came in $(jget "$r" blocks) blocks, expected 21 (root + 20 leaves)"
echo "ok: verified-fetch read ipfs://$big ($(jget "$r" bytes) bytes, $(jget "$r" blocks) blocks, $(jget "$r" requests) requests) through the gateway"
r=$(vfetch "$gw" "ipfs://$site/docs/deep/data.bin" "$work/data.out") || fail "verified-fetch ipfs://$site/docs/deep/data.bin: $r $(cat "$work/vfetch.log")"
[ "$(sha "$work/data.out")" = "$(sha "$work/site/docs/deep/data.bin")" ] || fail "ipfs://$site/docs/deep/data.bin: the bytes differ"
echo "ok: verified-fetch read ipfs://$site/docs/deep/data.bin ($(jget "$r" blocks) blocks)"

# 2. A proxy in front of the gateway; NTH=0 flips nothing, NTH=5 flips byte 0
#    of the 5th distinct block asked (the root is the 1st).
liar() { # NTH: starts the proxy, its URL in $liar_url
    coproc LIAR { exec node "$here/helia/gateway-fetch.mjs" liar "$gw" "$1" 2> "$work/liar.log"; }
    pids+=("$LIAR_PID")
    local line
    IFS= read -r -t 20 line <&"${LIAR[0]}" || fail "the proxy gateway did not start: $(cat "$work/liar.log")"
    liar_url=$(jget "$line" url)
}
stop_liar() { kill "$LIAR_PID"; wait "$LIAR_PID" 2>/dev/null || true; }
liar 0
r=$(vfetch "$liar_url" "ipfs://$big" "$work/big2.out") || fail "through the honest proxy: $r $(cat "$work/vfetch.log")"
[ "$(jget "$r" sha256)" = "$(sha "$work/big.bin")" ] || fail "through the honest proxy: sha256 differs"
stop_liar
liar 5
if r=$(vfetch "$liar_url" "ipfs://$big" "$work/big3.out"); then
    fail "verified-fetch accepted a corrupted block: $r"
fi
stats=$(curl -s "$liar_url/_stats")
bad=$(jget "$stats" corrupted)
[ "$bad" != "[]" ] || fail "the lying proxy corrupted nothing ($stats); the refusal proves nothing"
err=$(jget "$r" error)
case $err in
    *"$(jget "$stats" corrupted | tr -d '[]"')"*) ;;
    *) fail "verified-fetch failed, but not on the corrupted block $bad: $err" ;;
esac
[ ! -e "$work/big3.out" ] || [ "$(sha "$work/big3.out")" != "$(sha "$work/big.bin")" ] \
    || fail "the whole file was written despite the bad block"
echo "ok: verified-fetch refused the block the proxy corrupted, $bad: ${err:0:120}…"
stop_liar
echo "PASS helia-gateway"
