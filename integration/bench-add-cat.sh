#!/usr/bin/env bash
# Benchmark: `p2pfs add` vs `sha256sum`, `p2pfs cat` vs `cat`, on one file
# (default 1 GiB), all in one run, page cache warm for every contender.
# Prints times and the two ratios. Not a test: it asserts nothing.
#   integration/bench-add-cat.sh [SIZE_MIB]   (builds target/release/p2pfs)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
cargo build --release --quiet
bin="$PWD/target/release/p2pfs"
work=$(mktemp -d /var/tmp/p2pfs-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
export P2PFS_PATH="$work/repo"

head -c "$((size_mib << 20))" /dev/urandom > "$work/input"
cat "$work/input" > /dev/null   # warm the page cache

best() { # best of 3 wall-clock seconds for "$@"
    local b=""
    for _ in 1 2 3; do
        local s e
        s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N)
        b=$(python3 -c "print(min(float('${b:-1e9}'), $e - $s))")
    done
    echo "$b"
}
fresh_add() { rm -rf "$P2PFS_PATH"; "$bin" init > /dev/null; "$bin" add -Q --progress=false "$work/input"; }

t_sha=$(best sha256sum "$work/input")
t_add=$(best fresh_add)
cid=$("$bin" add -Q --progress=false "$work/input")
t_cat=$(best cat "$work/input")
t_pcat=$(best "$bin" cat "$cid")
[ "$("$bin" cat "$cid" | sha256sum)" = "$(sha256sum < "$work/input")" ] || { echo "cat output differs!"; exit 1; }
repo_bytes=$(du -sb "$P2PFS_PATH" | cut -f1)

python3 - "$size_mib" "$t_sha" "$t_add" "$t_cat" "$t_pcat" "$repo_bytes" <<'PY'
import sys
mib, sha, add, cat, pcat, repo = int(sys.argv[1]), *map(float, sys.argv[2:6]), int(sys.argv[6])
rate = lambda t: f"{mib / t:8.0f} MiB/s"
print(f"file: {mib} MiB of random bytes (init includes `p2pfs init` ~ few ms)")
print(f"sha256sum      {sha:7.3f} s  {rate(sha)}")
print(f"p2pfs add      {add:7.3f} s  {rate(add)}   ratio add/sha256sum = {add / sha:.2f}x (aim <= 1.3)")
print(f"cat            {cat:7.3f} s  {rate(cat)}")
print(f"p2pfs cat      {pcat:7.3f} s  {rate(pcat)}   ratio p2pfs-cat/cat = {pcat / cat:.2f}x (aim <= 2)")
print(f"repo size      {repo / (mib << 20):.3f}x the file ({repo} bytes)")
PY
