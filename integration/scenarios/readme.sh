#!/usr/bin/env bash
# README.md's ```console blocks, run as shown and compared with the output
# shown (issue 15): integration/readme-console.py parses, runs and compares;
# this script builds the test bed and cleans up.
#
# The test bed: machines A and B, each a network namespace of its own
# (p2pfs-rd-a, p2pfs-rd-b) with loopback and one veth to the other (A is
# 192.168.1.10, B 192.168.1.11: a home LAN with nothing else on it; no route
# anywhere else). Each machine's shell also has a private mount namespace in
# which /root is a fresh empty home (so ~/.local/share/p2pfs is a fresh repo
# and ~/net a fresh mountpoint, printed as /root/... as in README), /tmp is a
# fresh directory and ~/.cargo/bin/p2pfs is the binary under test. FUSE
# mounts made there live and die with that namespace; nothing is mounted or
# dialed in the host's namespaces.
#
# The conventions README follows (which machine runs a command, the `…`
# wildcard, peer IDs and IPNS names, skipped blocks) are at the top of
# integration/readme-console.py. Blocks that would reach the public IPFS
# network are marked skipped there and printed as SKIP here.
#
# Usage: P2PFS_BIN=... integration/scenarios/readme.sh [--record]
# (--record prints every block as it ran, to regenerate README's output;
# README=FILE runs another file's blocks, e.g. a damaged copy).
# Needs root, ip (iproute2), nsenter and unshare (util-linux), fusermount3,
# getfattr, curl, python3. Without root or ip: SKIP, or FAIL when CI=true.
set -euo pipefail

# Machine NAME's shell (readme-console.py starts one per machine): enters
# its network namespace, makes its mount namespace, then reads commands.
if [ "${1:-}" = --enter ]; then
    work=$2 bin=$3 name=$4
    home="$work/$name/root"
    exec nsenter --net="/run/netns/p2pfs-rd-${name,,}" unshare --mount --propagation private -- \
        bash -c '
        set -e
        mount --bind "$3" "$1/.cargo/bin/p2pfs"
        mount --rbind "$1" /root
        mount --rbind "$2" /tmp
        cd /root
        exec env -i HOME=/root USER=root LOGNAME=root LANG=C.UTF-8 SHELL=/bin/bash \
            PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            bash --norc --noprofile -s' _ "$home" "$work/$name/tmp" "$bin"
fi

bin=${P2PFS_BIN:?set P2PFS_BIN to the p2pfs binary}
bin=$(realpath "$bin")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
skip() {
    if [ "${CI:-}" = true ]; then
        echo "FAIL readme: $* (CI=true: this scenario must run in CI)" >&2
        exit 1
    fi
    echo "SKIP readme: $*"
    exit 0
}
[ "$(id -u)" = 0 ] || skip "needs root (network and mount namespaces, FUSE)"
command -v ip > /dev/null || skip "needs the ip command (apt-get install iproute2)"
for c in nsenter unshare flock fusermount3 getfattr curl python3; do
    command -v "$c" > /dev/null || { echo "FAIL readme: $c not found" >&2; exit 1; }
done

nets=(p2pfs-rd-a p2pfs-rd-b)
exec 9> /run/p2pfs-t-readme.lock
flock -w 60 9 || { echo "FAIL readme: another run holds /run/p2pfs-t-readme.lock" >&2; exit 1; }

# Everything a run may leave behind, by our names only: the processes in
# our namespaces (their mounts go with their mount namespaces), the
# namespaces (the veth goes with them), our work dirs.
teardown() {
    local ns p
    for ns in "${nets[@]}"; do
        [ -e "/run/netns/$ns" ] || continue
        for p in $(ip netns pids "$ns" 2> /dev/null); do kill "$p" 2> /dev/null || true; done
    done
    for _ in $(seq 100); do
        p=
        for ns in "${nets[@]}"; do [ -e "/run/netns/$ns" ] && p+=$(ip netns pids "$ns" 2> /dev/null); done
        [ -z "$p" ] && break
        sleep 0.1
    done
    for ns in "${nets[@]}"; do
        [ -e "/run/netns/$ns" ] || continue
        for p in $(ip netns pids "$ns" 2> /dev/null); do kill -9 "$p" 2> /dev/null || true; done
        ip netns del "$ns" 2> /dev/null || true
    done
}
work=
cleanup() {
    set +e
    teardown
    [ -n "$work" ] && rm -rf "$work"
}
trap cleanup EXIT
teardown
for d in /tmp/p2pfs-readme.*; do [ -d "$d" ] && rm -rf "$d"; done
work=$(mktemp -d /tmp/p2pfs-readme.XXXXXX)

ip netns add p2pfs-rd-a || skip "cannot create network namespaces (ip netns add failed)"
ip netns add p2pfs-rd-b
ip link add eth0 netns p2pfs-rd-a type veth peer name eth0 netns p2pfs-rd-b
declare -A addr=([a]=192.168.1.10 [b]=192.168.1.11)
for n in a b; do
    ip -n "p2pfs-rd-$n" addr add "${addr[$n]}/24" dev eth0
    ip -n "p2pfs-rd-$n" link set eth0 up
    ip -n "p2pfs-rd-$n" link set lo up
    mkdir -p "$work/${n^^}/root/.cargo/bin" "$work/${n^^}/tmp"
    touch "$work/${n^^}/root/.cargo/bin/p2pfs"
done

start=$(date +%s)
cd "$root"
python3 -u integration/readme-console.py "${README:-README.md}" \
    --shell "bash $(printf '%q %q %q' "$here/readme.sh" --enter "$work") $(printf '%q' "$bin")" "$@"
echo "PASS readme ($(($(date +%s) - start)) s)"
