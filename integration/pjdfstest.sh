#!/usr/bin/env bash
# pjdfstest (vendored in integration/pjdfstest, see its UPSTREAM and COPYING)
# run inside files/ of a fresh mount, as its README says: as root, with
# `prove -r`, the mount made with allow_other (its `-u 65534` steps act as
# another user). Prints a table of assertions passed per test directory and
# the total; exits non-zero when the total is under $PJDFSTEST_MIN percent.
#
#   integration/pjdfstest.sh [DIR...]      (DIRs of tests/: chmod link ...; default all)
#
# Environment: PJDFSTEST_MIN (floor in %, default 0), P2PFS_BIN (default:
# target/debug/p2pfs, built here), PJDFSTEST_TIMEOUT (seconds per .t file,
# default 300), PJDFSTEST_KEEP=1 keeps the work directory (TAP logs, daemon log).
# Needs: root, cc (build-essential), perl's prove (perl), fusermount3 (fuse3).
# "not ok … # TODO" counts as passed (TAP semantics: pjdfstest marks known
# failures of the host OS that way).
set -euo pipefail
cd "$(dirname "$0")/.."
src="$PWD/integration/pjdfstest"

missing=()
command -v cc >/dev/null || missing+=("cc (apt-get install build-essential)")
command -v prove >/dev/null || missing+=("prove (apt-get install perl)")
command -v fusermount3 >/dev/null || missing+=("fusermount3 (apt-get install fuse3)")
[ -c /dev/fuse ] || missing+=("/dev/fuse")
[ "$(id -u)" -eq 0 ] || missing+=("root (pjdfstest changes owners and acts as other users)")
if [ ${#missing[@]} -gt 0 ]; then
    printf 'error: missing: %s\n' "${missing[@]}" >&2
    exit 2
fi

if [ -z "${P2PFS_BIN:-}" ]; then
    cargo build --quiet
    P2PFS_BIN="$PWD/target/debug/p2pfs"
fi

dirs=("$@")
if [ ${#dirs[@]} -eq 0 ]; then
    for d in "$src"/tests/*/; do dirs+=("$(basename "$d")"); done
fi
for d in "${dirs[@]}"; do
    [ -d "$src/tests/$d" ] || { echo "error: no test directory $d in $src/tests" >&2; exit 2; }
done

work=$(mktemp -d /var/tmp/p2pfs-pjdfstest.XXXXXX)
chmod 755 "$work"
export P2PFS_PATH="$work/repo"
mnt="$work/net"
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    mountpoint -q "$mnt" 2>/dev/null && fusermount3 -u -z "$mnt"
    if [ "${PJDFSTEST_KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# Build: a hand-written config.h for Linux/glibc replaces autoconf (the
# functions configure.ac looks for are all in glibc).
cp -r "$src" "$work/pjdfstest"
cat > "$work/pjdfstest/config.h" <<'EOF'
#define _GNU_SOURCE 1
#define HAVE_SYS_SYSMACROS_H 1
#define HAVE_FACCESSAT 1
#define HAVE_FCHMODAT 1
#define HAVE_FCHOWNAT 1
#define HAVE_FSTATAT 1
#define HAVE_LINKAT 1
#define HAVE_MKDIRAT 1
#define HAVE_MKFIFOAT 1
#define HAVE_MKNODAT 1
#define HAVE_OPENAT 1
#define HAVE_POSIX_FALLOCATE 1
#define HAVE_READLINKAT 1
#define HAVE_RENAMEAT 1
#define HAVE_SYMLINKAT 1
#define HAVE_UNLINKAT 1
#define HAVE_UTIMENSAT 1
#define HAVE_STRUCT_STAT_ST_ATIM 1
#define HAVE_STRUCT_STAT_ST_CTIM 1
#define HAVE_STRUCT_STAT_ST_MTIM 1
EOF
cc -Wall -O2 -o "$work/pjdfstest/pjdfstest" "$work/pjdfstest/pjdfstest.c"

mkdir -p "$mnt"
mount_args=(mount "$mnt" --listen /ip4/127.0.0.1/tcp/0)
if "$P2PFS_BIN" mount --help | grep -q -- --allow-other; then
    mount_args+=(--allow-other)
else
    echo "warning: this p2pfs has no --allow-other: other users are refused" >&2
fi
"$P2PFS_BIN" init >/dev/null 2>&1 || true
"$P2PFS_BIN" "${mount_args[@]}" 2> "$work/daemon.log" &
pid=$!
for _ in $(seq 200); do mountpoint -q "$mnt" && [ -d "$mnt/files" ] && break; sleep 0.1; done
mountpoint -q "$mnt" || { cat "$work/daemon.log" >&2; echo "error: the mount did not come up" >&2; exit 1; }

# One prove per directory, each .t under a timeout (a hung syscall must not
# hang the run); the verbose TAP is kept and counted.
cd "$mnt/files"
total_ok=0
total_all=0
printf '%-16s %8s %8s %7s\n' directory passed total '%'
for d in "${dirs[@]}"; do
    log="$work/$d.tap"
    prove -r -v --exec "timeout ${PJDFSTEST_TIMEOUT:-300} sh" "$work/pjdfstest/tests/$d" > "$log" 2>&1 || true
    read -r ok all < <(awk '
        function done() { if (file != "") { n = (plan > seen ? plan : seen); all += n; ok += pass } }
        /^\/.*\.t \.\./ { done(); file = $1; plan = 0; seen = 0; pass = 0; next }
        /^1\.\.[0-9]+/ { sub(/^1\.\./, ""); plan = $1 + 0; next }
        /^ok [0-9]/ { seen++; pass++; next }
        /^not ok [0-9]/ { seen++; if ($0 ~ /# *TODO/) pass++; next }
        END { done(); print ok + 0, all + 0 }' "$log")
    total_ok=$((total_ok + ok))
    total_all=$((total_all + all))
    printf '%-16s %8d %8d %6.1f%%\n' "$d" "$ok" "$all" "$(awk -v a="$ok" -v b="$all" 'BEGIN { print b ? 100 * a / b : 0 }')"
done
pct=$(awk -v a="$total_ok" -v b="$total_all" 'BEGIN { printf "%.1f", b ? 100 * a / b : 0 }')
printf '%-16s %8d %8d %6s%%\n' total "$total_ok" "$total_all" "$pct"
cd /
if ! kill -0 "$pid" 2>/dev/null; then
    echo "error: the daemon died during the run (log: $work/daemon.log)" >&2
    PJDFSTEST_KEEP=1
    exit 1
fi
if awk -v p="$pct" -v m="${PJDFSTEST_MIN:-0}" 'BEGIN { exit !(p < m) }'; then
    echo "error: $pct % of pjdfstest's assertions passed, under the floor PJDFSTEST_MIN=$PJDFSTEST_MIN %" >&2
    exit 1
fi
