#!/usr/bin/env bash
# Benchmark: `p2pfs add` vs `sha256sum`, `p2pfs cat` vs `cat` (page cache
# warm for every contender, best of 3), and a cold `p2pfs cat` (caches
# dropped; needs root) vs a cold `cat`, on one file (default 1 GiB).
# With BASELINE_BIN, the same runs of that binary beside it, and the ratios
# of this one to it (e.g. the commit before a change). Asserts nothing.
#   integration/bench-add-cat.sh [SIZE_MIB]
#   P2PFS_BIN=path (default: build target/release/p2pfs), BASELINE_BIN=path
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
[ -n "${P2PFS_BIN:-}" ] || cargo build --release --quiet
bin="${P2PFS_BIN:-$PWD/target/release/p2pfs}"
work=$(mktemp -d /var/tmp/p2pfs-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

head -c "$((size_mib << 20))" /dev/urandom > "$work/input"
cat "$work/input" > /dev/null   # warm the page cache

# Wall seconds of "$@" (stdout to /dev/null); its CPU seconds (user + sys)
# go to $work/cpu, as wall time on a busy machine says little.
t() {
    python3 - "$@" <<'PY'
import subprocess, sys, time
s = time.monotonic()
subprocess.run(["bash", "-c", '"$@"', "t", *sys.argv[1:]], stdout=subprocess.DEVNULL, check=True)
print(time.monotonic() - s)
PY
}
cpu() { # like t, prints CPU seconds instead
    python3 - "$@" <<'PY'
import resource, subprocess, sys
subprocess.run(["bash", "-c", '"$@"', "t", *sys.argv[1:]], stdout=subprocess.DEVNULL, check=True)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(r.ru_utime + r.ru_stime)
PY
}
best() { local a b c; a=$(t "$@"); b=$(t "$@"); c=$(t "$@"); python3 -c "print(min($a, $b, $c))"; }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
fresh_add() { rm -rf "$P2PFS_PATH"; "$1" init > /dev/null; "$1" add -Q --progress=false "$work/input"; }
export -f fresh_add
export work

# Times of one binary: add, warm cat, cold cat (each in its own repo).
measure() { # BIN NAME -> "add warm cold warm-cpu"
    export P2PFS_PATH="$work/repo-$2"
    local add cid warm cold
    add=$(best fresh_add "$1")
    cid=$("$1" add -Q --progress=false "$work/input")
    [ "$("$1" cat "$cid" | sha256sum)" = "$(sha256sum < "$work/input")" ] || { echo "$2: cat output differs!" >&2; exit 1; }
    warm=$(best "$1" cat "$cid")
    drop; cold=$(t "$1" cat "$cid")
    cat "$work/input" > /dev/null
    echo "$add $warm $cold $(cpu "$1" cat "$cid")"
}

t_sha=$(best sha256sum "$work/input")
t_cat=$(best cat "$work/input")
drop; t_cold=$(t cat "$work/input"); cat "$work/input" > /dev/null
ours=$(measure "$bin" this)
base=""
[ -n "${BASELINE_BIN:-}" ] && base=$(measure "$BASELINE_BIN" base)
repo_bytes=$(du -sb "$work/repo-this" | cut -f1)

python3 - "$size_mib" "$t_sha" "$t_cat" "$t_cold" "$repo_bytes" "$ours" "$base" <<'PY'
import sys
mib, sha, cat, cold = int(sys.argv[1]), *map(float, sys.argv[2:5])
repo = int(sys.argv[5])
ours = list(map(float, sys.argv[6].split()))
base = list(map(float, sys.argv[7].split())) if sys.argv[7] else None
rate = lambda t: f"{mib / t:8.0f} MiB/s"
print(f"file: {mib} MiB of random bytes (add includes `p2pfs init`, a few ms)")
print(f"sha256sum           {sha:7.3f} s  {rate(sha)}")
print(f"cat (warm)          {cat:7.3f} s  {rate(cat)}")
print(f"cat (cold)          {cold:7.3f} s  {rate(cold)}")
rows = [("p2pfs add", 0, sha, "add/sha256sum", "aim <= 1.3"),
        ("p2pfs cat (warm)", 1, cat, "p2pfs-cat/cat", "aim <= 2"),
        ("p2pfs cat (cold)", 2, cold, "p2pfs-cat/cat", "")]
for name, i, ref, what, aim in rows:
    line = f"{name:<19} {ours[i]:7.3f} s  {rate(ours[i])}   {what} = {ours[i] / ref:.2f}x {aim}"
    if base:
        line += f"   baseline {base[i]:7.3f} s, speed vs baseline {base[i] / ours[i]:.2f}x"
    print(line)
line = f"p2pfs cat CPU       {ours[3]:7.3f} s per {mib} MiB (user + sys, warm)"
if base:
    line += f"   baseline {base[3]:7.3f} s, {base[3] / ours[3]:.2f}x less"
print(line)
print(f"repo size           {repo / (mib << 20):.3f}x the file ({repo} bytes)")
PY
