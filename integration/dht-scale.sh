#!/usr/bin/env bash
# DHT at scale, on 127.0.0.1 (no namespaces, no latency): N p2pfs daemons
# (default 40), each bootstrapped to 2-3 earlier ones. Rounds: a random node
# adds a fresh file (announced in the DHT), R random other nodes that are not
# connected to it `p2pfs cat` it; the time of each cat (lookup + dial +
# fetch) is recorded. Then a third of the nodes are killed and the rounds
# repeat; then everything idles past IDLE seconds and the rounds repeat
# (nodes must still be in the network). Prints success rate and cat time
# (median, p95) per phase. Not a test: it asserts nothing.
#
#   integration/dht-scale.sh [N] [ROUNDS]     (P2PFS_BIN, default target/release/p2pfs)
#   IDLE=150 (seconds of silence before the last phase)
#   MARKS="LOW HIGH": the connection manager's marks (default "4 8": few
#   connections, so most reads must find their provider through the DHT)
# Kubo nodes are not in this one: a Kubo must run in a network namespace
# (integration/kubo/); see integration/scenarios/kubo-dht-lan.sh for Kubo
# and p2pfs finding each other through the DHT.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-40}
rounds=${2:-8}
idle=${IDLE:-150}
read -r low high <<< "${MARKS:-4 8}"
bin=${P2PFS_BIN:-$PWD/target/release/p2pfs}
[ -x "$bin" ] || { echo "no p2pfs binary at $bin (cargo build --release, or set P2PFS_BIN)" >&2; exit 1; }
work=$(mktemp -d /tmp/p2pfs-dht.XXXXXX)
declare -A pid=()
# shellcheck source=integration/nodes.sh
source integration/nodes.sh
cleanup() {
    for k in "${!pid[@]}"; do kill "${pid[$k]}" 2> /dev/null || true; done
    wait 2> /dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

declare -a addrs=()
alive=()
echo "starting $n nodes..."
for ((i = 0; i < n; i++)); do
    P2PFS_PATH="$work/n$i/repo" "$bin" init > /dev/null
    sed -i "s/^low = 32/low = $low/; s/^high = 96/high = $high/; s/^grace = \"20s\"/grace = \"5s\"/" "$work/n$i/repo/config.toml"
    if ((i > 0)); then
        # 2-3 bootstrap peers among the earlier nodes.
        for _ in 1 2 3; do
            j=$((RANDOM % i))
            P2PFS_PATH="$work/n$i/repo" "$bin" bootstrap add "${addrs[$j]}" > /dev/null
        done
    fi
    start "n$i" daemon
    addrs[i]=$(addr "n$i")
    alive+=("$i")
done
echo "all $n up; letting the DHT settle (20 s)"
sleep 20

# phase NAME: ROUNDS rounds of add on one node, cat on up to 3 others.
phase() {
    local name=$1 ok=0 tries=0 times=() r src dst c t0 t1 k
    for ((r = 0; r < rounds; r++)); do
        src=${alive[$((RANDOM % ${#alive[@]}))]}
        head -c 300000 /dev/urandom > "$work/f"
        c=$(p "n$src" add -Q --progress=false "$work/f")
        sleep 1 # the root's provider record goes out at once; give it a moment
        for k in 1 2 3; do
            dst=${alive[$((RANDOM % ${#alive[@]}))]}
            [ "$dst" = "$src" ] && continue
            tries=$((tries + 1))
            t0=$(date +%s.%N)
            if timeout 60 env P2PFS_PATH="$work/n$dst/repo" "$bin" cat "$c" 2> "$work/err" | cmp -s - "$work/f"; then
                t1=$(date +%s.%N)
                ok=$((ok + 1))
                times+=("$(python3 -c "print($t1 - $t0)")")
            else
                echo "  $name: n$dst could not read $c from n$src: $(tail -n 1 "$work/err")"
            fi
        done
    done
    local conns=0 k2
    for k2 in "${alive[@]}"; do
        conns=$((conns + $(p "n$k2" stats swarm --enc json | python3 -c 'import json,sys; print(json.load(sys.stdin)["Connected"])')))
    done
    python3 - "$name" "$ok" "$tries" "$((conns / ${#alive[@]}))" "${times[@]}" <<'PY'
import statistics, sys
name, ok, tries, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ts = sorted(map(float, sys.argv[5:]))
p95 = ts[min(len(ts) - 1, int(0.95 * len(ts)))] if ts else float("nan")
med = statistics.median(ts) if ts else float("nan")
print(f"{name:<28} {ok}/{tries} reads ok ({100 * ok / max(tries, 1):.0f} %), cat time median {med:.2f} s, p95 {p95:.2f} s; {conns} connections per node")
PY
}

phase "all $n nodes"
# Kill a third (never all of one node's bootstrap peers on purpose: random).
killed=0
while ((killed < n / 3)); do
    k=$((RANDOM % ${#alive[@]}))
    i=${alive[$k]}
    kill "${pid[n$i]}" 2> /dev/null || true
    unset "pid[n$i]"
    alive=("${alive[@]:0:$k}" "${alive[@]:$((k + 1))}")
    killed=$((killed + 1))
done
sleep 5
phase "after killing $killed"
echo "idling ${idle} s (no traffic)..."
sleep "$idle"
phase "after ${idle} s idle"
