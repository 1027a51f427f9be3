#!/usr/bin/env bash
# Benchmark of moving one file between two nodes on 127.0.0.1, one run,
# ratios printed against baselines measured in the same run (higher is better:
# throughput / TCP throughput). Not a test: it asserts nothing about speed.
#  - TCP:   the same bytes over one plain TCP connection on loopback (socat),
#           read from the (page-cached) file on one side, written to /dev/null
#           on the other
#  - p2pfs: A (daemon) adds the file; B (a mount) connects to A, then
#           (1) `p2pfs cat CID > /dev/null` on B, then B's cache is emptied with
#           `p2pfs gc` (checked with `repo stat`) and
#           (2) `cat B/net/ipfs/CID > /dev/null` through B's mount; the bytes
#           of (2) are compared with the input
#  - Helia: two integration/helia/node.mjs nodes (in-memory blockstores), one
#           adds the file, the other cats it to /dev/null (skipped if
#           integration/helia/node_modules is missing: `npm ci` there)
# Also prints A's and B's peak RSS while serving / fetching (VmHWM, reset with
# clear_refs after the add, read after the transfers), and the CPU seconds
# (user + sys, both daemons) the `p2pfs cat` transfer cost, per GiB.
# Needs root (FUSE mount, clear_refs), fusermount3, python3 and socat
# (apt-get install -y socat). Transport is TCP+Noise+Yamux (TCP listen only).
#   integration/bench-net.sh [SIZE_MIB]   (default 1024)
#   PERF_OUT=FILE [PERF_ARGS=-g] ...: also records a `perf` profile of both
#   daemons during the `p2pfs cat` (perf report -i FILE --sort dso,sym)
#   DROP_CACHES=0: keep the page cache (by default it is emptied before the
#   CPU baseline and the transfer, see below)
#   P2PFS_BIN defaults to target/release/p2pfs (cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
bin=${P2PFS_BIN:-$PWD/target/release/p2pfs}
[ -x "$bin" ] || { echo "no p2pfs binary at $bin: build it with cargo build --release (or set P2PFS_BIN)" >&2; exit 1; }
bin=$(cd "$(dirname "$bin")" && echo "$PWD/$(basename "$bin")")
"$bin" daemon --help > /dev/null 2>&1 || { echo "$bin has no \`daemon\` command (an old build?): build it with cargo build --release" >&2; exit 1; }
command -v socat > /dev/null || { echo "socat is missing: apt-get install -y socat" >&2; exit 1; }

work=$(mktemp -d /tmp/p2pfs-bench-net.XXXXXX)
export HELIA_TMP="$work/helia"
mkdir -p "$HELIA_TMP"
source integration/helia/lib.sh
declare -A pid=()
stop_node() { # stop_node NAME: SIGTERM, wait, lazy-unmount its mount if any
    if [ -n "${pid[$1]:-}" ]; then
        kill "${pid[$1]}" 2>/dev/null || true
        wait "${pid[$1]}" 2>/dev/null || true
        unset "pid[$1]"
    fi
    if mountpoint -q "$work/$1/net" 2>/dev/null; then fusermount3 -u -z "$work/$1/net" || true; fi
}
cleanup() {
    [ -n "${sockpid:-}" ] && { kill "$sockpid" 2>/dev/null || true; wait "$sockpid" 2>/dev/null || true; }
    for n in a b; do stop_node "$n"; done
    helia_stop_all 2>/dev/null || true
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { date +%s.%N; }
t() { local s e; s=$(now); "$@" > /dev/null || return 1; e=$(now); python3 -c "print($e - $s)"; }
fail() { # fail MESSAGE: print it with the tails of the nodes' logs, exit 1
    echo "FAILED: $*" >&2
    local n
    for n in a b; do
        [ -n "${pid[$n]:-}" ] && ! kill -0 "${pid[$n]}" 2>/dev/null && echo "node $n (pid ${pid[$n]}) is gone" >&2
        [ -s "$work/$n/log" ] && { echo "--- node $n log (last 20 lines)" >&2; tail -n 20 "$work/$n/log" >&2; }
    done
    exit 1
}
source integration/nodes.sh
blocks() { p "$1" repo stat --json | python3 -c "import json,sys; print(json.load(sys.stdin)['NumObjects'])"; }
kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }   # kib PID VmHWM|VmRSS
reset_hwm() { echo 5 > "/proc/$1/clear_refs" 2>/dev/null; }          # peak RSS := current RSS
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }              # user + sys, in clock ticks
# stat_of PID: "utime stime minflt" (clock ticks, ticks, faults)
stat_of() { awk '{print $14, $15, $10}' "/proc/$1/stat"; }
io_bytes() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/io"; }      # io_bytes PID rchar|wchar

input="$work/input"
bytes=$((size_mib << 20))
head -c "$bytes" /dev/urandom > "$input"
cat "$input" > /dev/null   # warm the page cache: every contender reads it from memory

# --- TCP baseline: socat listener -> /dev/null, socat sender from the file.
# Timed from the sender's start to the listener's exit (all bytes consumed).
# Both sides use 256 KiB reads/writes (-b): socat's default of 8 KiB is a
# syscall-bound ~0.4 GB/s here, far under what loopback TCP does.
# Runs in this shell (not $(...)) so that cleanup sees the listener's pid.
tcp_once() { # appends the seconds to tcp_runs
    local log="$work/socat.log" port=""
    : > "$log"
    socat -b 262144 -d -d -u TCP-LISTEN:0,bind=127.0.0.1 STDOUT > /dev/null 2> "$log" &
    sockpid=$!
    for _ in $(seq 200); do
        port=$(sed -n 's/.*listening on .*:\([0-9]\+\)$/\1/p' "$log")
        [ -n "$port" ] && break; sleep 0.02
    done
    [ -n "$port" ] || { echo "socat did not listen:" >&2; cat "$log" >&2; exit 1; }
    local s e
    s=$(now)
    socat -b 262144 -u "OPEN:$input,rdonly" "TCP:127.0.0.1:$port"
    wait "$sockpid"; sockpid=""
    e=$(now)
    tcp_runs+=("$(python3 -c "print($e - $s)")")
}
tcp_runs=()
tcp_once; tcp_once; tcp_once
t_tcp=$(python3 -c "print(min(${tcp_runs[*]/%/,}))")   # best of 3
echo "tcp: best of 3 = ${t_tcp}s" >&2

# --- p2pfs: A daemon adds, B mount fetches
start a daemon
start b mount
cid=$(p a add -Q --progress=false "$input") || fail "add on A"
p b swarm connect "$(addr a)" > /dev/null || fail "B: swarm connect to A"
reset_hwm "${pid[a]}" && reset_hwm "${pid[b]}" && hwm_note="reset after the add" || hwm_note="NOT reset (clear_refs failed): includes the add"
rss_a0=$(kib "${pid[a]}" VmRSS); rss_b0=$(kib "${pid[b]}" VmRSS)
n_before=$(blocks b) || fail "repo stat on B"   # B's own blocks (e.g. its empty files/ root)

# A baseline for the CPU row: what writing as many new bytes to a file on
# this filesystem costs (B stores what it fetches). The file stays until the
# end, so its freed pages cannot make B's writes look cheap. When memory is
# full of page cache, every new page is reclaimed from it first: measured
# here, 1 GiB written then cost 2.8-4.2 CPU-s instead of 0.25-0.3 s, which
# would swamp the figure. So the page cache is emptied first
# (DROP_CACHES=0 keeps it, to measure a node whose memory is full).
if [ "${DROP_CACHES:-1}" = 1 ]; then
    sync && echo 1 > /proc/sys/vm/drop_caches && cache_note="page cache emptied first" || cache_note="page cache NOT emptied (needs root)"
else
    cache_note="page cache kept (DROP_CACHES=0)"
fi
memfree=$(awk '/^MemFree:/ {print int($2 / 1024)}' /proc/meminfo)
# Feature bit 5 of a virtio balloon: free page reporting (see split_note).
for f in /sys/bus/virtio/drivers/virtio_balloon/virtio*/features; do
    [ -r "$f" ] && [ "$(cut -c6 "$f")" = 1 ] && cache_note="$cache_note; this VM reports freed pages to its host, so sys time varies between runs"
done
write_cpu=$(python3 - "$work/write-baseline" "$size_mib" <<'PY'
import resource, sys
path, mib = sys.argv[1], int(sys.argv[2])
buf = bytes(1 << 20)
r0 = resource.getrusage(resource.RUSAGE_SELF)
with open(path, "wb") as f:
    for _ in range(mib):
        f.write(buf)
r1 = resource.getrusage(resource.RUSAGE_SELF)
print(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
PY
)
cpu0=$(( $(cpu_ticks "${pid[a]}") + $(cpu_ticks "${pid[b]}") ))
rchar_a0=$(io_bytes "${pid[a]}" rchar); wchar_b0=$(io_bytes "${pid[b]}" wchar)
stat_a0=$(stat_of "${pid[a]}"); stat_b0=$(stat_of "${pid[b]}")
if [ -n "${PERF_OUT:-}" ]; then  # a CPU profile of both daemons during the cat
    perf record -q -F 999 ${PERF_ARGS:-} -o "$PERF_OUT" -p "${pid[a]},${pid[b]}" & perfpid=$!
    sleep 0.5
fi
t_pcat=$(t p b cat "$cid") || fail "\`p2pfs cat\` on B"
[ -n "${perfpid:-}" ] && { kill -INT "$perfpid"; wait "$perfpid" || true; }
cpu_secs=$(python3 -c "print(($(cpu_ticks "${pid[a]}") + $(cpu_ticks "${pid[b]}") - $cpu0) / $(getconf CLK_TCK))")
# Bytes A read (files and sockets: read(2)-like calls) and B wrote (files
# and sockets) during the cat, per byte of the file: the copies the data
# path makes, as the kernel counts them.
# User and sys apart: on a VM that hands freed memory back to its host
# (virtio-balloon free page reporting), the first touch of a page costs
# the host a fault; sys time then varies several-fold from run to run
# with which pages the kernel hands out, while user time stays put.
split_note=$(python3 - "$stat_a0" "$(stat_of "${pid[a]}")" "$stat_b0" "$(stat_of "${pid[b]}")" "$(getconf CLK_TCK)" <<'PY'
import sys
a0, a1, b0, b1 = (list(map(int, x.split())) for x in sys.argv[1:5])
hz = int(sys.argv[5])
def part(n, x0, x1):
    return f"{n} user {(x1[0] - x0[0]) / hz:.2f} s, sys {(x1[1] - x0[1]) / hz:.2f} s, {x1[2] - x0[2]} minor faults"
print(part("A", a0, a1) + "; " + part("B", b0, b1))
PY
)
io_note="A read $(( ($(io_bytes "${pid[a]}" rchar) - rchar_a0) >> 20 )) MiB, B wrote $(( ($(io_bytes "${pid[b]}" wchar) - wchar_b0) >> 20 )) MiB (rchar/wchar, files and sockets) for $size_mib MiB"
echo "p2pfs cat on B: ${t_pcat}s" >&2
n_blocks=$(blocks b) || fail "repo stat on B"
p b gc > /dev/null || fail "gc on B"
n_after_gc=$(blocks b) || fail "repo stat on B"
[ "$n_after_gc" -le "$n_before" ] || fail "B still holds $n_after_gc of $n_blocks blocks after gc: the mount read would not refetch"
t_mount=$(t cat "$work/b/net/ipfs/$cid") || fail "cat through B's mount"
echo "cat through B's mount: ${t_mount}s" >&2
n_refetched=$(blocks b) || fail "repo stat on B"
# The kernel keeps ipfs/ files in its page cache: this compares the bytes the timed read got.
cmp -s "$input" "$work/b/net/ipfs/$cid" || fail "the mount read has different bytes than the input"
verified=yes
hwm_a=$(kib "${pid[a]}" VmHWM) && hwm_b=$(kib "${pid[b]}" VmHWM) || fail "a node exited during the transfers"
stop_node a; stop_node b

# --- Helia to Helia
t_helia="" helia_note=""
if [ ! -d integration/helia/node_modules ] || ! command -v node > /dev/null; then
    helia_note="skipped: no integration/helia/node_modules (cd integration/helia && npm ci) or no node"
else
    # The node reports the transfer time itself (ms); the shell's clock would
    # add a node start-up per jget.
    to_ms=3600000
    if helia_start HA --listen /ip4/127.0.0.1/tcp/0 && helia_start HB --listen /ip4/127.0.0.1/tcp/0 \
        && helia_cmd HA "{\"cmd\":\"add\",\"path\":\"$input\"}" 3600 \
        && hcid=$(jget "$HELIA_REPLY" cid) \
        && helia_cmd HB "{\"cmd\":\"dial\",\"addr\":\"$(helia_addr HA)\"}" 60 \
        && reset_hwm "${HELIA_PID[HA]}" \
        && helia_cmd HB "{\"cmd\":\"cat\",\"cid\":\"$hcid\",\"out\":\"/dev/null\",\"timeoutMs\":$to_ms}" 3600; then
        [ "$(jget "$HELIA_REPLY" bytes)" = "$bytes" ] || helia_note="Helia cat returned $(jget "$HELIA_REPLY" bytes) bytes, not $bytes"
        t_helia=$(python3 -c "print($(jget "$HELIA_REPLY" ms) / 1000)")
        [ "$hcid" = "$cid" ] || helia_note="${helia_note:+$helia_note; }Helia's CID $hcid differs from p2pfs's"
        helia_note="${helia_note:+$helia_note; }serving node's peak RSS $(( $(kib "${HELIA_PID[HA]}" VmHWM) / 1024 )) MiB (in-memory blockstore holds the file)"
        echo "helia cat: ${t_helia}s" >&2
    else
        helia_note="failed: ${HELIA_REPLY:-no answer}"
    fi
    helia_stop_all
fi

python3 - "$size_mib" "$bytes" "$t_tcp" "$t_pcat" "$t_mount" "${t_helia:-nan}" "$helia_note" \
    "$hwm_a" "$hwm_b" "$rss_a0" "$rss_b0" "$hwm_note" "$n_blocks" "$n_after_gc" "$n_refetched" "$verified" "$cid" "$cpu_secs" "$write_cpu" \
    "$cache_note" "$memfree" "$io_note" "$split_note" <<'PY'
import math, sys
a = sys.argv
mib, nbytes = int(a[1]), int(a[2])
tcp, pcat, mount, helia = map(float, a[3:7])
helia_note = a[7]
hwm_a, hwm_b, rss_a0, rss_b0 = (int(x) / 1024 for x in a[8:12])
hwm_note, nb, ngc, nre, verified, cid = a[12], a[13], a[14], a[15], a[16], a[17]
cpu = float(a[18])
mb = nbytes / 1e6
print(f"file: {mib} MiB of random bytes ({nbytes} bytes, {nb} blocks), A -> B on 127.0.0.1, CID {cid}")
print("aim: p2pfs >= 0.5x TCP, and p2pfs faster than Helia-to-Helia")
print(f"{'method':<40} {'seconds':>9} {'MB/s':>9} {'vs TCP':>8}")
def row(name, secs, aim=""):
    if math.isnan(secs):
        print(f"{name:<40} {'-':>9} {'-':>9} {'-':>8}")
    else:
        print(f"{name:<40} {secs:9.3f} {mb / secs:9.1f} {tcp / secs:7.3f}x  {aim}")
row("TCP loopback (socat, best of 3)", tcp)
row("p2pfs: `p2pfs cat` on B", pcat, "(aim >= 0.5x TCP)")
row("p2pfs: cat B/net/ipfs/CID (after gc)", mount, "(aim >= 0.5x TCP)")
row("Helia -> Helia (node.mjs cat)", helia)
if math.isnan(helia):
    print(f"p2pfs vs Helia: n/a (Helia {helia_note})")
else:
    print(f"p2pfs vs Helia (throughput ratio, aim > 1): `p2pfs cat` {helia / pcat:.2f}x, mount {helia / mount:.2f}x")
    if helia_note:
        print(f"Helia: {helia_note}")
print(f"B's blocks: {nb} after `p2pfs cat`, {ngc} after gc, {nre} after the mount read (refetched)")
print(f"mount read bytes equal to the input: {verified}")
print(f"CPU of the `p2pfs cat` transfer (user + sys, A and B): {cpu:.2f} s, {cpu / (mib / 1024):.2f} s per GiB (aim <= 2.5)")
wcpu = float(a[19])
print(f"  ({a[20]}; free memory before the baseline: {a[21]} MiB)")
print(f"  baseline, same run: writing {mib} MiB to a new file here costs {wcpu:.2f} CPU-s ({wcpu / (mib / 1024):.2f} s per GiB); the transfer without it: {(cpu - wcpu) / (mib / 1024):.2f} s per GiB")
print(f"  {a[23]}")
print(f"  {a[22]}")
print(f"peak RSS ({hwm_note}): A (serving daemon) {hwm_a:.0f} MiB (was {rss_a0:.0f} MiB before), "
      f"B (fetching mount) {hwm_b:.0f} MiB (was {rss_b0:.0f} MiB before)")
PY
