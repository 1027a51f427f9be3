#!/usr/bin/env bash
# Small files over a 40 ms link, read one by one: the time a read waits per
# file, against the link's round trip measured in the same run.
#
#   integration/wan/bench-small.sh [FILES]   (default 40 files of 10 kB)
#
# One provider p and one downloader d, each on its own host of the WAN bed
# (integration/wan/lib.sh), p's uplink 100 Mbit/s, 20 ms each way. p adds
# FILES files of 10,000 bytes (one block each, more than 1 KiB, so a
# want-have is answered with a HAVE, not the block); d connects and reads
# them one after another with `p2pfs cat` (a new Bitswap session each).
# Printed: milliseconds per file (median, mean, first), the round trip
# (d's minimum want-to-block time to p) and their ratio: one round trip per
# file is the floor for a read that must cross the link.
# P2PFS_BIN (default target/release/p2pfs), DELAYLINE_BIN (default
# target/release/examples/delayline). Needs root, iproute2, nsenter, flock.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${P2PFS_BIN:-$here/target/release/p2pfs}
delayline=${DELAYLINE_BIN:-$here/target/release/examples/delayline}
[ -x "$bin" ] || { echo "no p2pfs binary at $bin (cargo build --release, or set P2PFS_BIN)" >&2; exit 1; }
[ -x "$delayline" ] || { echo "no delayline at $delayline (cargo build --release --examples)" >&2; exit 1; }
n=${1:-40}
# shellcheck source=lib.sh
source "$here/integration/wan/lib.sh"
wan_init
trap wan_cleanup EXIT
wan_host p 1 100
wan_host d 100 100
wan_delay p 10001 20
wan_start p daemon
wan_start d daemon
mkdir -p "$wan_work/src"
cids=()
for i in $(seq "$n"); do
    head -c 10000 /dev/urandom > "$wan_work/src/$i"
    cids+=("$(wan_p p add -Q "$wan_work/src/$i")")
done
wan_connect d p 10001
times=()
for c in "${cids[@]}"; do
    s=$(date +%s%N)
    wan_p d cat "$c" > "$wan_work/out"
    e=$(date +%s%N)
    times+=($(((e - s) / 1000)))
done
rtt=$(wan_stats d | python3 -c 'import json,sys; print(min(f["MinRttMs"] for f in json.load(sys.stdin)["PeerFlows"] if f["MinRttMs"]))')
python3 - "$rtt" "${times[@]}" << 'PY'
import statistics, sys
rtt = float(sys.argv[1])
ms = [int(t) / 1000 for t in sys.argv[2:]]
med, mean = statistics.median(ms), statistics.mean(ms)
print(f"{len(ms)} files of 10 kB read one by one over a {rtt:.1f} ms round trip")
print(f"ms per file: median {med:.1f}, mean {mean:.1f}, first {ms[0]:.1f}")
print(f"per file / round trip: median {med / rtt:.2f}x, mean {mean / rtt:.2f}x (1.00x is the floor)")
PY
