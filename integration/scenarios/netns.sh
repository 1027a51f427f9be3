#!/usr/bin/env bash
# Three p2pfs nodes on three hosts: each in its own Linux network namespace
# (p2pfs-t-a/b/c) with its own address on 10.77.0.0/24, joined by veth pairs
# to a bridge in a fourth namespace (p2pfs-t-br). Nothing is created in, or
# dialed from, the host's own network namespace.
#  - A runs `p2pfs mount` (TCP, and QUIC if it can listen), B a daemon, C a
#    mount that listens nowhere (a DHT client, like a reader behind NAT).
#    C is connected to B only, B to A only: C must find A through the DHT.
#  - a file written with cp into A's files/ is read with cat through C's
#    mount, and C ends up connected to A; if B has no provider record for
#    it, `routing provide` on A makes one (and the script says so);
#  - a file `p2pfs add`ed on A is announced (B finds A as its provider) and
#    read with `p2pfs cat` on C.
# The daemons and mounts are started with `nsenter --net` (not `ip netns
# exec`, whose private mount namespace would hide the FUSE mounts); the CLI
# reaches each daemon through the unix socket in its repo, from any netns.
# Setup and teardown are the script's own; a run killed with -9 is cleaned
# up by the next one (processes in our namespaces, our mounts, namespaces).
# Needs: P2PFS_BIN, root, ip (iproute2), nsenter and flock (util-linux),
# fusermount3 (fuse3), getfattr (attr), python3. Without root or ip: SKIP,
# or FAIL when CI=true.
set -euo pipefail
bin=${P2PFS_BIN:?set P2PFS_BIN to the p2pfs binary}
skip() {
    if [ "${CI:-}" = true ]; then
        echo "FAIL netns: $* (CI=true: this scenario must run in CI)" >&2
        exit 1
    fi
    echo "SKIP netns: $*"
    exit 0
}
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, veth, FUSE)"
command -v ip > /dev/null || skip "needs the ip command (apt-get install iproute2)"
for c in nsenter flock fusermount3 getfattr python3; do
    command -v "$c" > /dev/null || { echo "FAIL netns: $c not found" >&2; exit 1; }
done

pre=p2pfs-t-
nets=("${pre}br" "${pre}a" "${pre}b" "${pre}c")
declare -A ip4=([a]=10.77.0.1 [b]=10.77.0.2 [c]=10.77.0.3)
# One run at a time: the namespace names are fixed.
exec 9> /run/p2pfs-t-netns.lock
flock -w 60 9 || { echo "FAIL netns: another run holds /run/p2pfs-t-netns.lock" >&2; exit 1; }

# Everything this script may have left behind, by its names only: processes
# in our namespaces, FUSE mounts in our work dirs, the namespaces (their
# veths and bridge go with them), any link with our prefix in the host ns.
teardown() {
    local ns p m l
    for ns in "${nets[@]}"; do
        [ -e "/run/netns/$ns" ] || continue
        for p in $(ip netns pids "$ns" 2> /dev/null); do kill "$p" 2> /dev/null || true; done
    done
    for _ in $(seq 50); do
        p=
        for ns in "${nets[@]}"; do [ -e "/run/netns/$ns" ] && p+=$(ip netns pids "$ns" 2> /dev/null); done
        [ -z "$p" ] && break
        sleep 0.1
    done
    for ns in "${nets[@]}"; do
        [ -e "/run/netns/$ns" ] || continue
        for p in $(ip netns pids "$ns" 2> /dev/null); do kill -9 "$p" 2> /dev/null || true; done
    done
    while read -r m; do
        fusermount3 -u -z "$m" 2> /dev/null || umount -l "$m" 2> /dev/null || true
    done < <(awk '$3 ~ /^fuse/ && $2 ~ "^/tmp/p2pfs-netns\\." {print $2}' /proc/self/mounts)
    for ns in "${nets[@]}"; do
        [ -e "/run/netns/$ns" ] && { ip netns del "$ns" 2> /dev/null || true; }
    done
    for l in $(ip -o link show 2> /dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep "^$pre" || true); do
        ip link del "$l" 2> /dev/null || true
    done
}
work=
declare -A pid
cleanup() {
    set +e
    local n
    for n in "${!pid[@]}"; do kill "${pid[$n]}" 2> /dev/null; done
    for n in "${!pid[@]}"; do
        for _ in $(seq 50); do kill -0 "${pid[$n]}" 2> /dev/null || break; sleep 0.1; done
        kill -9 "${pid[$n]}" 2> /dev/null
        wait "${pid[$n]}" 2> /dev/null
    done
    for n in a b c; do mountpoint -q "$work/$n/net" 2> /dev/null && fusermount3 -u -z "$work/$n/net"; done
    teardown
    [ -n "$work" ] && rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    for n in a b c; do [ -s "$work/$n/log" ] && { echo "--- log of $n:" >&2; tail -n 30 "$work/$n/log" >&2; }; done
    exit 1
}

# Left by an earlier run that was killed: its daemons, mounts, namespaces, dirs.
teardown
for d in /tmp/p2pfs-netns.*; do
    if [ -d "$d" ] && ! grep -q " $d/" /proc/self/mounts; then rm -rf "$d"; fi
done
work=$(mktemp -d /tmp/p2pfs-netns.XXXXXX)

# The network: a bridge in p2pfs-t-br, one veth pair per host.
ip netns add "${pre}br" || skip "cannot create network namespaces (ip netns add failed)"
ip -n "${pre}br" link add br0 type bridge
ip -n "${pre}br" link set br0 up
for n in a b c; do
    ip netns add "$pre$n"
    ip link add eth0 netns "$pre$n" type veth peer name "$pre$n" netns "${pre}br"
    ip -n "${pre}br" link set "$pre$n" master br0 up
    ip -n "$pre$n" addr add "${ip4[$n]}/24" dev eth0
    ip -n "$pre$n" link set eth0 up
    ip -n "$pre$n" link set lo up
done
echo "ok: namespaces ${nets[*]} up, A ${ip4[a]} B ${ip4[b]} C ${ip4[c]}"

p() { local n=$1; shift; P2PFS_PATH="$work/$n/repo" "$bin" "$@"; }
pt() { local t=$1 n=$2; shift 2; P2PFS_PATH="$work/$n/repo" timeout "$t" "$bin" "$@"; } # p with a time limit
start() { # start NAME mount|daemon LISTEN...
    local n=$1 kind=$2; shift 2
    local args=() l
    for l in "$@"; do args+=(--listen "$l"); done
    mkdir -p "$work/$n"
    if [ "$kind" = mount ]; then
        P2PFS_PATH="$work/$n/repo" nsenter --net="/run/netns/$pre$n" "$bin" mount "$work/$n/net" "${args[@]}" 2> "$work/$n/log" 9>&- &
    else
        P2PFS_PATH="$work/$n/repo" nsenter --net="/run/netns/$pre$n" "$bin" daemon "${args[@]}" 2> "$work/$n/log" 9>&- &
    fi
    pid[$n]=$!
    for _ in $(seq 200); do
        [ -S "$work/$n/repo/api.sock" ] && break
        kill -0 "${pid[$n]}" 2> /dev/null || break
        sleep 0.05
    done
    if ! [ -S "$work/$n/repo/api.sock" ]; then # did not start: say so, let the caller decide
        kill "${pid[$n]}" 2> /dev/null; wait "${pid[$n]}" 2> /dev/null; unset "pid[$n]"
        return 1
    fi
    if [ "$kind" = mount ]; then
        for _ in $(seq 100); do mountpoint -q "$work/$n/net" && break; sleep 0.05; done
        # Made with nsenter --net only, so visible here, in our mount namespace.
        mountpoint -q "$work/$n/net" || fail "$n's mount is not visible from the host's mount namespace"
    fi
}
addrs() { p "$1" id | python3 -c "import json,sys; print('\n'.join(json.load(sys.stdin)['Addresses']))"; }
addr() { addrs "$1" | awk -v p="/$2/" 'index($0, p) && !f { print; f = 1 }'; }

# A listens on TCP and QUIC if the node can (else TCP only).
if ! start a mount "/ip4/${ip4[a]}/tcp/0" "/ip4/${ip4[a]}/udp/0/quic-v1" || [[ "$(addrs a)" != */quic-v1/* ]]; then
    echo "note: A cannot listen on QUIC here; TCP only" >&2
    sed 's/^/    /' "$work/a/log" >&2 || true
    if [ -n "${pid[a]:-}" ]; then kill "${pid[a]}"; wait "${pid[a]}" 2> /dev/null || true; unset 'pid[a]'; fi
    mountpoint -q "$work/a/net" && fusermount3 -u -z "$work/a/net"
    rm -rf "$work/a"
    start a mount "/ip4/${ip4[a]}/tcp/0" || fail "A did not start"
fi
start b daemon "/ip4/${ip4[b]}/tcp/0" || fail "B did not start"
# C listens nowhere: a Kademlia client (like a reader behind NAT) that B does
# not put in its routing table, so A's DHT bootstrap cannot dial C.
mkdir -p "$work/c"
p c init > /dev/null
sed -i 's|^listen = .*|listen = []|' "$work/c/repo/config.toml"
grep -qx 'listen = \[\]' "$work/c/repo/config.toml" || fail "could not empty network.listen in C's config"
start c mount || fail "C did not start"
for n in a b; do
    bad=$(addrs "$n" | grep -v "^/ip4/${ip4[$n]}/" || true)
    [ -z "$bad" ] || fail "$n has an address outside its namespace: $bad"
done
[ -z "$(addrs c)" ] || fail "C listens somewhere: $(addrs c)"

# C dials B first; once C's automatic DHT bootstrap (0.5 s after B enters its
# routing table) has asked B, who knows no one else yet, B dials A (over QUIC
# when A has it). Otherwise that bootstrap alone would connect C to A. A and
# C never meet until C's read asks the DHT.
p c swarm connect "$(addr b tcp)" > /dev/null || fail "C could not connect to B"
sleep 2
a_addr=$(addr a quic-v1); proto=quic-v1
[ -n "$a_addr" ] || { a_addr=$(addr a tcp); proto=tcp; }
p b swarm connect "$a_addr" > /dev/null || fail "B could not connect to A at $a_addr"
a_id=$(p a id | python3 -c "import json,sys; print(json.load(sys.stdin)['ID'])")
sleep 1
[[ "$(p c swarm peers)" != *"$a_id"* ]] || fail "C got connected to A before any provider lookup"
echo "ok: C connected to B, B to A over $proto ($a_addr); C not connected to A"

# 1. cp into A's files/, cat through C's mount. C's node asks the DHT
# (get_providers) for the missing block; the lookup goes through B, and the
# providers it finds are dialed (in a DHT this small the lookup also reaches
# A itself as B's closest peer, record or not).
head -c 3000000 /dev/urandom > "$work/src.bin"
cp "$work/src.bin" "$work/a/net/files/shared.bin"
cid=$(getfattr --absolute-names --only-values -n user.p2pfs.cid "$work/a/net/files/shared.bin")
timeout 45 cmp -s "$work/src.bin" "$work/c/net/ipfs/$cid" || fail "C read different bytes (or nothing) through its mount"
c_to_a=$(p c swarm peers | awk -v id="$a_id" 'index($0, id) && !f { print; f = 1 }')
[ -n "$c_to_a" ] || fail "C read the file but is not connected to A"
echo "ok: written with cp on A, read with cat on C's mount; C found A through the DHT ($cid)"
echo "ok: C dialed A by itself: $c_to_a"
# Is the cp'd file announced (a provider record on B)? If not, announce it by hand.
for _ in 1 2 3; do
    provs=$(pt 20 b routing findprovs "$cid") || true
    grep -q "$a_id" <<< "$provs" && break
    sleep 1
done
if grep -q "$a_id" <<< "$provs"; then
    echo "ok: A announced the cp'd file by itself (B finds A as its provider)"
else
    echo "note: files/ writes are not announced in the DHT (B finds no provider); running routing provide on A" >&2
    p a routing provide "$cid" > /dev/null || fail "routing provide on A failed"
    provs=$(pt 20 b routing findprovs "$cid") || true
    grep -q "$a_id" <<< "$provs" || fail "after routing provide on A, B still finds no provider of $cid: $provs"
    echo "ok: routing provide on A: B finds A as the provider of $cid"
fi

# 2. p2pfs add on A (which announces it), p2pfs cat on C (connected to A
# since step 1).
head -c 2000000 /dev/urandom > "$work/added.bin"
added=$(p a add -Q --progress=false "$work/added.bin")
provs=$(pt 20 b routing findprovs "$added") || true
grep -q "$a_id" <<< "$provs" || fail "p2pfs add on A did not announce $added (B finds: $provs)"
pt 45 c cat "$added" > "$work/c.out" || fail "p2pfs cat on C failed"
cmp "$work/added.bin" "$work/c.out" || fail "p2pfs cat on C gave different bytes"
echo "ok: added on A (announced: B finds A as its provider), p2pfs cat on C ($added)"
echo "PASS netns"
