#!/usr/bin/env bash
# Benchmark of the mount against the local disk, one run, ratios printed
# (higher is better: p2pfs throughput / baseline throughput):
#  - sequential read of a file through ipfs/<CID>, cold (caches dropped) and
#    warm, vs reading it from local disk under the same conditions
#  - cp of the file into files/ vs cp to a local directory (best of 3)
#  - tar -x of N small files into files/ vs into a local directory (best of 3)
#  - stat of every file of that tree (find -exec stat … +)
#  - 4 writers + 4 readers at once (files/ and ipfs/) vs the same on disk,
#    and vs 1 writer alone on the mount (does the mount scale?)
#  - FUSE requests per file of a tar -x (counted from fuser's debug log of
#    a second daemon, on 200 files)
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

"$bin" init > /dev/null
cid=$("$bin" add -Q --progress=false "$work/input")
"$bin" mount "$mnt" 2> "$work/daemon.log" &
pid=$!
for _ in $(seq 100); do [ -S "$P2PFS_PATH/api.sock" ] && mountpoint -q "$mnt" && break; sleep 0.1; done

drop; disk_cold=$(t cat "$work/input")
disk_warm=$(best3 cat "$work/input")
drop; fuse_cold=$(t cat "$mnt/ipfs/$cid")
fuse_warm=$(best3 cat "$mnt/ipfs/$cid")
# cp and tar -x: best of 3 (each into a new place), as noisy as they are;
# each cp of new bytes (the same bytes again would be deduplicated).
mkdir -p "$work/local"
ln -s "$work/input" "$work/in1"
head -c "$((size_mib << 20))" /dev/urandom > "$work/in2"
head -c "$((size_mib << 20))" /dev/urandom > "$work/in3"
cp_disk=9e9; cp_fuse=9e9; tar_disk=9e9; tar_fuse=9e9
min() { python3 -c "print(min($1, $2))"; }
for i in 1 2 3; do
    drop; cp_disk=$(min "$cp_disk" "$(t cp "$work/in$i" "$work/local/copy$i")")
    drop; cp_fuse=$(min "$cp_fuse" "$(t cp "$work/in$i" "$mnt/files/copy$i")")
    rm -f "$work/local/copy$i"
    mkdir -p "$work/local/x$i" "$mnt/files/x$i"
    tar_disk=$(min "$tar_disk" "$(t tar -C "$work/local/x$i" -xf "$work/small.tar")")
    tar_fuse=$(min "$tar_fuse" "$(t tar -C "$mnt/files/x$i" -xf "$work/small.tar")")
done
mv "$mnt/files/copy1" "$mnt/files/copy"
cmp "$work/input" "$mnt/files/copy"
mv "$work/local/x1" "$work/local/x"; mv "$mnt/files/x1" "$mnt/files/x"
stat_disk=$(best3 find "$work/local/x" -type f -exec stat -c %s {} +)
stat_fuse=$(best3 find "$mnt/files/x" -type f -exec stat -c %s {} +)

# 4 writers (each a quarter of SIZE) and 4 readers (the whole input,
# cached) at once; the same into a local directory; 1 writer alone.
quarter=$((size_mib / 4))
par() { # par DIR [SRC]: 4 dd writers into DIR (and 4 readers of SRC), waited for
    for i in 1 2 3 4; do
        dd if="$work/input" of="$1/w$i" bs=1M count="$quarter" skip=$(((i - 1) * quarter)) conv=fsync status=none &
        [ -z "${2:-}" ] || cat "$2" > /dev/null &
    done
    wait
}
mkdir -p "$work/local/par" "$mnt/files/par"
cat "$mnt/ipfs/$cid" > /dev/null
par_disk=$(t par "$work/local/par" "$work/input")
par_fuse=$(t par "$mnt/files/par" "$mnt/ipfs/$cid")
one_fuse=$(t dd if="$work/input" of="$mnt/files/par/one" bs=1M count="$quarter" conv=fsync status=none)
four_fuse=$(t par "$mnt/files/par")
rss=$(grep VmHWM "/proc/$pid/status" | awk '{print $2}')
same_cid=$( [ "$(getfattr --only-values -n user.p2pfs.cid "$mnt/files/copy")" = "$cid" ] && echo yes || echo NO)

# FUSE requests per created file: a second daemon logs each request.
mkdir -p "$work/few/d"
for i in $(seq 200); do head -c $((100 + i * 13)) /dev/urandom > "$work/few/d/f$i"; done
tar -C "$work/few" -cf "$work/few.tar" .
mnt2="$work/net2"
P2PFS_PATH="$work/repo2" "$bin" init > /dev/null 2>&1
P2PFS_PATH="$work/repo2" "$bin" config --json gateway.listen '[]'
P2PFS_PATH="$work/repo2" RUST_LOG=fuser::request=debug "$bin" mount --listen /ip4/127.0.0.1/tcp/0 "$mnt2" \
    2> "$work/requests.log" &
pid2=$!
for _ in $(seq 100); do [ -S "$work/repo2/api.sock" ] && mountpoint -q "$mnt2" && break; sleep 0.1; done
mkdir "$mnt2/files/x"
before=$(grep -c ' FUSE(' "$work/requests.log" || true)
tar -C "$mnt2/files/x" -xf "$work/few.tar"
sleep 0.5
per_file=$(tail -n +"$((before + 1))" "$work/requests.log" | grep -o ' FUSE([ 0-9]*) ino 0x[0-9a-f]* [A-Z_]*' \
    | awk '{n[$NF]++; t++} END {printf "%.1f (", t / 200; for (k in n) printf " %s %.1f", k, n[k] / 200; printf " )"}')
kill "$pid2"; wait "$pid2" 2>/dev/null || true

python3 - "$size_mib" "$nsmall" "$disk_cold" "$disk_warm" "$fuse_cold" "$fuse_warm" "$cp_disk" "$cp_fuse" \
    "$tar_disk" "$tar_fuse" "$stat_disk" "$stat_fuse" "$rss" "$same_cid" "$par_disk" "$par_fuse" "$one_fuse" \
    "$per_file" "$four_fuse" <<'PY'
import sys
a = sys.argv
mib, n = int(a[1]), int(a[2])
dc, dw, fc, fw, cd, cf, td, tf, sd, sf = map(float, a[3:13])
rss, same = int(a[13]), a[14]
pd, pf, one = map(float, a[15:18])
per_file, four = a[18], float(a[19])
def row(name, base, ours, unit_amount, unit, aim):
    print(f"{name:<34} disk {unit_amount / base:9.0f} {unit}  p2pfs {unit_amount / ours:9.0f} {unit}  ratio {base / ours:5.2f}x  (aim >= {aim})")
row(f"read {mib} MiB via ipfs/, cold", dc, fc, mib, "MiB/s", 0.5)
row(f"read {mib} MiB via ipfs/, warm", dw, fw, mib, "MiB/s", 0.8)
row(f"cp {mib} MiB into files/", cd, cf, mib, "MiB/s", 0.8)
row(f"tar -x {n} small files", td, tf, n, "files/s", 0.25)
row(f"stat {n} files", sd, sf, n, "files/s", "-")
q = mib // 4 * 4
row("4 writers + 4 readers at once", pd, pf, q + 4 * mib, "MiB/s", "-")
print(f"{'4 writers vs 1 writer, files/':<34} 1 writer {q // 4 / one:6.0f} MiB/s  4 writers {q / four:6.0f} MiB/s  scaling {q / four / (q // 4 / one):5.2f}x")
print(f"FUSE requests per file of tar -x: {per_file}")
print(f"daemon peak RSS {rss / 1024:.0f} MiB; copy has the CID of `p2pfs add`: {same}")
PY
