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
# Then a fresh Kubo node on d (integration/kubo/node.py, if its venv is set
# up; WAN_KUBO=0 skips it) reads the same files from p the same way.
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
# d's p2pfs holds the files now: gone before Kubo on the same host reads.
wan_stop d wipe
ktimes=()
w=$wan_work root=$here
# shellcheck source=kubo.sh
source "$here/integration/wan/kubo.sh"
if [ "${WAN_KUBO:-1}" != 0 ] && [ -x "$kubo_py" ]; then
    kubo_start d
    kubo_cmd d "{\"cmd\":\"connect\",\"addr\":\"/ip4/$wan_rip/tcp/10001/p2p/$(wan_id p)\"}" 60 \
        || wan_fail "kubo on d could not connect to p: $KREPLY"
    for c in "${cids[@]}"; do
        kubo_cmd d "{\"cmd\":\"download\",\"cid\":\"$c\",\"out\":\"$wan_work/kout\",\"timeoutMs\":30000}" 60 \
            || wan_fail "kubo on d could not read $c: $KREPLY"
        ktimes+=("$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ms"] * 1000)' "$KREPLY")")
    done
    kubo_stop d
else
    echo "kubo: skipped (WAN_KUBO=0, or no venv at $kubo_py: integration/kubo/setup.sh)"
fi
python3 - "$rtt" "${times[*]}" "${ktimes[*]}" << 'PY'
import statistics, sys
rtt = float(sys.argv[1])
print(f"files of 10 kB read one by one over a {rtt:.1f} ms round trip (1.00x is the floor)")
for who, arg in (("p2pfs cat", sys.argv[2]), ("Kubo", sys.argv[3])):
    ms = [int(t) / 1000 for t in arg.split()]
    if not ms:
        continue
    med, mean = statistics.median(ms), statistics.mean(ms)
    print(f"{who:>9}: {len(ms)} files, ms per file: median {med:.1f} ({med / rtt:.2f}x), mean {mean:.1f} ({mean / rtt:.2f}x), first {ms[0]:.1f}")
PY
