#!/usr/bin/env bash
# p2pfs over emulated WAN links (integration/wan/lib.sh: hosts in network
# namespaces, uplinks capped with tbf, a user-space delay line,
# examples/delayline.rs, adding 20 ms each way: RTT 40 ms). The short CI
# version of integration/wan/bench-wan.sh; asserts bytes, never timings.
#  1. provider p1 (100 Mbit/s) adds a 16 MiB random file; a downloader
#     connected to it through the delay line runs `p2pfs cat`: same sha256;
#  2. p1 and p2 (100 Mbit/s each) add a 24 MiB file (97 blocks: one late
#     block is 1 %); a fresh downloader
#     connected to both reads it: same sha256. If `p2pfs stats bitswap
#     --enc=json` exists, DupBlksReceived must be <= 5 % of BlocksReceived
#     (WAN_MAX_DUP_PCT);
#  3. provider s (4 Mbit/s) adds a 6 MiB file; a fresh downloader reads it,
#     then another reads it through the same link with 1 % loss (a slow
#     link is slow, never broken: a read fails only after fetch_timeout
#     without any block arriving).
# Prints the providers' wire bytes (eth0 tx_bytes) for each read.
# Needs root (else SKIP, or FAIL when CI=true), P2PFS_BIN, iproute2 (ip, tc,
# bridge), nsenter, flock, python3, and the delayline example next to
# P2PFS_BIN (target/debug/examples/delayline: `cargo test` builds it; built
# here with cargo if missing; DELAYLINE_BIN overrides).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${P2PFS_BIN:?set P2PFS_BIN to the p2pfs binary}
if [ "$(id -u)" != 0 ]; then
    if [ "${CI:-}" = true ]; then
        echo "FAIL wan-short: needs root (network namespaces, tc) and CI=true" >&2
        exit 1
    fi
    echo "SKIP wan-short: needs root (network namespaces, tc)"
    exit 0
fi
for c in ip tc bridge nsenter flock python3 sha256sum; do
    command -v "$c" > /dev/null || { echo "FAIL wan-short: $c not found" >&2; exit 1; }
done
bin=$(cd "$(dirname "$bin")" && echo "$PWD/$(basename "$bin")")

# shellcheck source=integration/wan/lib.sh
source integration/wan/lib.sh
delayline=$(wan_delayline)
wan_init || { echo "FAIL wan-short: cannot create network namespaces" >&2; exit 1; }
trap wan_cleanup EXIT
w=$wan_work

wan_host p1 1 100
wan_host p2 2 100
wan_host s 3 4
wan_host d 10 0
wan_delay p1 10001 20
wan_delay p2 10002 20
wan_delay s 10003 20
wan_delay s 11003 20 1 # the same link with 1 % loss
for h in p1 p2 s; do wan_start "$h" daemon; done
echo "ok: bed up: p1, p2 at 100 Mbit/s, s at 4 Mbit/s, 20 ms each way through delay lines; downloader d"

stats_cmd=unknown
max_dup=${WAN_MAX_DUP_PCT:-5} # the most duplicate blocks allowed, in % of the blocks received
# read_check NAME FILE HOST:PORT...: a fresh downloader d connected to each
# HOST through the delay line on PORT reads FILE's CID with `p2pfs cat`;
# the bytes must equal FILE's.
read_check() {
    local name=$1 f=$2 hp h tx0=0 tx1=0 hosts=() c want got t0 t1 st; shift 2
    c=$(cat "$w/$f.cid")
    want=$(sha256sum < "$w/$f" | cut -d' ' -f1)
    wan_stop d wipe
    wan_start d daemon
    for hp in "$@"; do
        h=${hp%%:*}; hosts+=("$h")
        wan_connect d "$h" "${hp#*:}" || wan_fail "$name: d could not connect to $h through the delay line"
    done
    for h in "${hosts[@]}"; do tx0=$((tx0 + $(wan_tx "$h"))); done
    t0=$(date +%s.%N)
    got=$(timeout 100 env P2PFS_PATH="$w/d/repo" "$bin" cat "$c" | sha256sum | cut -d' ' -f1)
    t1=$(date +%s.%N)
    for h in "${hosts[@]}"; do tx1=$((tx1 + $(wan_tx "$h"))); done
    [ "$got" = "$want" ] || wan_fail "$name: p2pfs cat on d gave different bytes (or failed / timed out)"
    python3 -c "import sys; s, t, f = int(sys.argv[1]), float(sys.argv[2]), $(stat -c %s "$w/$f")
print(f'ok: $name: right bytes; {f / t / 1e6:.2f} MB/s ({t:.2f} s); providers sent {s / 2**20:.1f} MiB on the wire = {s / f:.2f}x the file')" \
        "$((tx1 - tx0))" "$(python3 -c "print($t1 - $t0)")"
    if st=$(wan_stats d); then
        stats_cmd=yes
        echo "   stats bitswap of d: $st"
        python3 -c '
import json, sys
s = json.loads(sys.argv[1]); name = sys.argv[2]
b, d = int(s["BlocksReceived"]), int(s["DupBlksReceived"])
print(f"   {name}: {d} duplicate blocks of {b} received")
sys.exit(0 if d * 100 <= int(sys.argv[3]) * b else 1)' "$st" "$name" "$max_dup" \
            || wan_fail "$name: more than $max_dup % of the blocks d received were duplicates"
    else
        stats_cmd=no
    fi
}

head -c $((16 << 20)) /dev/urandom > "$w/a16"
wan_p p1 add -Q --progress=false "$w/a16" > "$w/a16.cid" || wan_fail "add on p1"
read_check "1 provider, 100 Mbit/s, 16 MiB" a16 p1:10001

head -c $((24 << 20)) /dev/urandom > "$w/b8"
wan_p p1 add -Q --progress=false "$w/b8" > "$w/b8.cid" || wan_fail "add on p1"
[ "$(wan_p p2 add -Q --progress=false "$w/b8")" = "$(cat "$w/b8.cid")" ] || wan_fail "p2 got another CID for the same file"
read_check "2 providers, 100 Mbit/s each, 24 MiB" b8 p1:10001 p2:10002
[ "$stats_cmd" = yes ] \
    || echo "note: \`p2pfs stats bitswap --enc=json\` does not exist (or failed): duplicate blocks not checked"

head -c $((6 << 20)) /dev/urandom > "$w/c6"
wan_p s add -Q --progress=false "$w/c6" > "$w/c6.cid" || wan_fail "add on s"
read_check "1 provider, 4 Mbit/s, 6 MiB" c6 s:10003
# A slow lossy link is slow, never broken.
read_check "1 provider, 4 Mbit/s, 1 % loss, 6 MiB" c6 s:11003
echo "PASS wan-short"
