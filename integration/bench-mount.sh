#!/usr/bin/env bash
# Benchmark of the mount against the local disk, one run, ratios printed
# (higher is better: p2pfs throughput / baseline throughput):
#  - sequential read of a file through ipfs/<CID>, cold (caches dropped) and
#    warm, vs reading it from local disk under the same conditions
#  - cp of the file into files/ vs cp to a local directory
#  - tar -x of N small files into files/ vs into a local directory
#  - stat of every file of that tree (find -exec stat … +)
# Also reports the daemon's peak RSS. Needs root for drop_caches.
#   integration/bench-mount.sh [SIZE_MIB] [SMALL_FILES]
#   P2PFS_BIN=path: measure that binary (default: build target/release/p2pfs)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
nsmall=${2:-10000}
[ -n "${P2PFS_BIN:-}" ] || cargo build --release --quiet
bin="${P2PFS_BIN:-$PWD/target/release/p2pfs}"
work=$(mktemp -d /var/tmp/p2pfs-bench.XXXXXX)
export P2PFS_PATH="$work/repo"
mnt="$work/net"
cleanup() {
    [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    mountpoint -q "$mnt" 2>/dev/null && fusermount3 -u -z "$mnt"
    rm -rf "$work"
}
trap cleanup EXIT

drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
t() { local s e; s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N); python3 -c "print($e - $s)"; }
best3() { local a b c; a=$(t "$@"); b=$(t "$@"); c=$(t "$@"); python3 -c "print(min($a, $b, $c))"; }

head -c "$((size_mib << 20))" /dev/urandom > "$work/input"
mkdir -p "$work/small"
python3 - "$work/small" "$nsmall" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"d{i // 100:03d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:05d}.txt"), "wb") as f:
        f.write(os.urandom(100 + i % 4000))
PY
tar -C "$work/small" -cf "$work/small.tar" .

cid=$("$bin" add -Q --progress=false "$work/input")
"$bin" mount "$mnt" 2> "$work/daemon.log" &
pid=$!
for _ in $(seq 100); do [ -S "$P2PFS_PATH/api.sock" ] && mountpoint -q "$mnt" && break; sleep 0.1; done

drop; disk_cold=$(t cat "$work/input")
disk_warm=$(best3 cat "$work/input")
drop; fuse_cold=$(t cat "$mnt/ipfs/$cid")
fuse_warm=$(best3 cat "$mnt/ipfs/$cid")
mkdir -p "$work/local"
drop; cp_disk=$(t cp "$work/input" "$work/local/copy")
drop; cp_fuse=$(t cp "$work/input" "$mnt/files/copy")
cmp "$work/input" "$mnt/files/copy"
mkdir -p "$work/local/x" "$mnt/files/x"
tar_disk=$(t tar -C "$work/local/x" -xf "$work/small.tar")
tar_fuse=$(t tar -C "$mnt/files/x" -xf "$work/small.tar")
stat_disk=$(best3 find "$work/local/x" -type f -exec stat -c %s {} +)
stat_fuse=$(best3 find "$mnt/files/x" -type f -exec stat -c %s {} +)
rss=$(grep VmHWM "/proc/$pid/status" | awk '{print $2}')
same_cid=$( [ "$(getfattr --only-values -n user.p2pfs.cid "$mnt/files/copy")" = "$cid" ] && echo yes || echo NO)

python3 - "$size_mib" "$nsmall" "$disk_cold" "$disk_warm" "$fuse_cold" "$fuse_warm" "$cp_disk" "$cp_fuse" \
    "$tar_disk" "$tar_fuse" "$stat_disk" "$stat_fuse" "$rss" "$same_cid" <<'PY'
import sys
a = sys.argv
mib, n = int(a[1]), int(a[2])
dc, dw, fc, fw, cd, cf, td, tf, sd, sf = map(float, a[3:13])
rss, same = int(a[13]), a[14]
def row(name, base, ours, unit_amount, unit, aim):
    print(f"{name:<34} disk {unit_amount / base:9.0f} {unit}  p2pfs {unit_amount / ours:9.0f} {unit}  ratio {base / ours:5.2f}x  (aim >= {aim})")
row(f"read {mib} MiB via ipfs/, cold", dc, fc, mib, "MiB/s", 0.5)
row(f"read {mib} MiB via ipfs/, warm", dw, fw, mib, "MiB/s", 0.8)
row(f"cp {mib} MiB into files/", cd, cf, mib, "MiB/s", 0.5)
row(f"tar -x {n} small files", td, tf, n, "files/s", 0.25)
row(f"stat {n} files", sd, sf, n, "files/s", "-")
print(f"daemon peak RSS {rss / 1024:.0f} MiB; copy has the CID of `p2pfs add`: {same}")
PY
