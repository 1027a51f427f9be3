#!/usr/bin/env bash
# Benchmark: what snapshots of files/ cost (issue 14), on a real mount.
#  1. A tree of TREE_MIB MiB (4 MiB files in 16 directories) is written
#     under files/ and snapshotted; one byte of one file is changed and it
#     is snapshotted again: the bytes the second snapshot added to the repo
#     (expected: one 256 KiB leaf, the file's root node, two directory
#     nodes) against the bytes changed.
#  2. SNAPSHOTS named snapshots are taken; `ls snapshots/` is timed (cold,
#     then warm) and `ls -l` of one snapshot's files/.
#  3. Retention that keeps only the newest, every name removed: `gc` must
#     free exactly the blocks no kept snapshot, pin or the live tree
#     reaches (computed beforehand with `refs -r -u`). A first `gc` before
#     clears blocks that were cache already.
# Asserts only 3 (the freed blocks are exactly the expected ones).
#   integration/bench-snapshots.sh [TREE_MIB] [SNAPSHOTS]   (default 256, 1000)
#   P2PFS_BIN=path (default: build target/release/p2pfs)
set -euo pipefail
cd "$(dirname "$0")/.."
tree_mib=${1:-256}
nsnap=${2:-1000}
[ -n "${P2PFS_BIN:-}" ] || cargo build --release --quiet
bin="${P2PFS_BIN:-$PWD/target/release/p2pfs}"
work=$(mktemp -d /var/tmp/p2pfs-bench-snap.XXXXXX)
export P2PFS_PATH="$work/repo"
mnt="$work/net"
mkdir -p "$mnt"
"$bin" init > /dev/null
"$bin" config gateway.listen --json '[]' 2> /dev/null
"$bin" mount "$mnt" --listen /ip4/127.0.0.1/tcp/0 2> "$work/mount.log" &
pid=$!
cleanup() {
    kill "$pid" 2> /dev/null && wait "$pid" 2> /dev/null
    fusermount3 -u "$mnt" 2> /dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 200); do
    [ -S "$P2PFS_PATH/api.sock" ] && mountpoint -q "$mnt" && break
    sleep 0.1
done
mountpoint -q "$mnt" || { cat "$work/mount.log"; exit 1; }
p() { "$bin" "$@"; }
repo_bytes() { p repo stat --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["RepoSize"])'; }
secs() { python3 -c 'import sys,time,subprocess; s=time.monotonic(); subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True); print(f"{time.monotonic()-s:.3f}")' "$@"; }

# 1. Bytes added by a snapshot after a one-byte change.
files=$(( (tree_mib + 3) / 4 ))
for i in $(seq 0 15); do mkdir -p "$mnt/files/d$i"; done
for j in $(seq 0 $((files - 1))); do
    head -c 4M /dev/urandom > "$mnt/files/d$((j % 16))/f$j"
done
p files snapshot --name base > /dev/null
before=$(repo_bytes)
printf X | dd of="$mnt/files/d0/f0" bs=1 seek=1000000 conv=notrunc status=none
p files snapshot --name changed > /dev/null
after=$(repo_bytes)
echo "tree: $files files, $((files * 4)) MiB; one byte changed in one file"
echo "snapshot after the change added $((after - before)) bytes to the repo (one 256 KiB leaf = 262144, plus the file's root node and 2 directory nodes)"

# 2. Listing snapshots/ with many snapshots.
t0=$(date +%s.%N)
for i in $(seq 1 "$nsnap"); do p files snapshot --name "s$i" > /dev/null; done
t1=$(date +%s.%N)
n=$(ls "$mnt/snapshots" | wc -l)
echo "$nsnap named snapshots taken in $(python3 -c "print(f'{$t1 - $t0:.1f}')") s (one CLI process each); snapshots/ has $n entries"
echo "ls snapshots/: $(secs ls "$mnt/snapshots") s cold, $(secs ls "$mnt/snapshots") s warm; ls -l snapshots/: $(secs ls -l "$mnt/snapshots") s"
echo "ls -lR snapshots/s1/files: $(secs ls -lR "$mnt/snapshots/s1/files") s ($files files)"

# 3. GC after retention frees exactly what only expired snapshots kept.
p gc > /dev/null
roots=$(p files snapshot ls | awk '{print $2}' | sort -u)
live=$(p files flush)
for r in $roots $live; do p refs -r -u "$r"; echo "$r"; done | sort -u > "$work/old"
for k in keep_all hourly daily weekly; do p config "snapshots.$k" "" 2> /dev/null; done
p files snapshot rm base changed $(seq -f 's%g' 1 "$nsnap")
# A change, so that a checkpoint applies the retention.
touch "$mnt/files/trigger"
final=$(p files flush)
{ p refs -r -u "$final"; echo "$final"; } | sort -u > "$work/live"
comm -23 "$work/old" "$work/live" > "$work/expected"
left=$(p files snapshot ls | wc -l)
expected_blocks=$(wc -l < "$work/expected")
expected_bytes=0
while read -r c; do
    s=$(p block stat "$c" | awk '/Size/ {print $2}')
    expected_bytes=$((expected_bytes + s))
done < "$work/expected"
b0=$(repo_bytes)
gc=$(p gc)
b1=$(repo_bytes)
echo "retention keeps $left snapshot(s); gc: $gc; repo $b0 -> $b1 bytes (freed $((b0 - b1)))"
echo "expected: $expected_blocks blocks, $expected_bytes bytes reachable only from expired snapshots"
removed=$(echo "$gc" | awk '{print $2}')
[ "$removed" = "$expected_blocks" ] && [ $((b0 - b1)) = "$expected_bytes" ] \
    || { echo "GC freed something else than expected" >&2; exit 1; }
echo "ok: GC freed exactly the expected blocks"
