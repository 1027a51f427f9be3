#!/usr/bin/env bash
# DHT at scale: N p2pfs daemons (default 40), each bootstrapped to 2-3
# earlier ones, and optionally K real Kubo (v0.22) nodes in the same DHT.
# Rounds: a random node adds a fresh file (announced in the DHT), up to 3
# random other nodes `p2pfs cat` it; the time of each cat (lookup + dial +
# fetch) is recorded. Then a third of the p2pfs nodes are killed and the
# rounds repeat; then everything idles past IDLE seconds and the rounds
# repeat (nodes must still be in the network). Prints success rate and
# read time (median, p95) per phase (and per direction with Kubo). Not a
# test: it asserts nothing.
#
#   integration/dht-scale.sh [N] [ROUNDS]     (P2PFS_BIN, default target/release/p2pfs)
#   IDLE=150 (seconds of silence before the last phase)
#   MARKS="LOW HIGH": the connection manager's marks (default "4 8": few
#   connections, so most reads must find their provider through the DHT)
#
# KUBO=K (default 0): also run K Kubo nodes (integration/kubo/node.py; needs
# root, ip, nsenter and the venv of integration/kubo/setup.sh). Kubo's LAN
# DHT (/ipfs/lan/kad/1.0.0) only keeps peers with private, non-loopback
# addresses (integration/kubo/README.md, "The DHT"), and a Kubo must never
# reach the internet, so the whole scenario then runs inside ONE network
# namespace made here (p2pfs-dht-PID: lo and a dummy interface d0, or a
# veth pair where the kernel has no dummy driver, with one 10.79.0.0/16
# address per node; no route anywhere else; deleted on exit). p2pfs node i
# listens on 10.79.(i/250).(i%250+1), Kubo k on 10.79.200.(k+1). The CLI
# calls run outside the namespace: they reach their daemon through its unix
# socket (a file).
# Each Kubo connects to 3 random p2pfs nodes (its bootstrap) and is a WAN
# DHT client (--reachability private, as in kubo/dht.sh), so only its LAN
# DHT serves. Each round then also measures, besides p2pfs -> p2pfs:
#   Kubo -> p2pfs: a random Kubo adds a file (Kubo provides what it adds),
#     a random p2pfs node not connected to that Kubo `p2pfs cat`s it;
#   p2pfs -> Kubo: a random p2pfs node not connected to a random Kubo adds
#     a file, that Kubo downloads it (its Bitswap asks its DHT);
#   p2pfs -> newKubo: the same, read by a Kubo started after the add and
#     connected to 3 other p2pfs nodes (the add's announcement connects its
#     source to most of a small network, Kubo nodes included).
# Readers are chosen among the nodes that have no connection to the
# provider after its add (p2pfs -> p2pfs too, in this mode); when there is
# none (announcing dials the ~20 closest peers, so in a small network the
# provider is connected to nearly everyone) the read is made anyway and
# counted in a separate "+" row (reader already connected: no DHT lookup).
# Kubo nodes are never killed. Logs: /tmp/p2pfs-dht.*/{nI,Kk}/log (KEEP=1
# keeps that work dir).
#
# DELAY=MS: every link has MS ms of latency each way (needs root, ip,
# bridge, nsenter, flock; the delay line example, built if missing). The
# run then uses the WAN test bed of integration/wan/lib.sh (namespaces
# p2pfs-d-*, work dir /tmp/p2pfs-dht-wan.*, its own lock) instead of the
# one namespace above: every node, p2pfs or Kubo (and each new Kubo), is a
# host of its own (10.78.0.IDX, listening on port 4001) on a bridge whose
# ports are isolated, and gets its own delay line in the router,
# 10.78.0.254:10000+IDX -> its listen port, holding each chunk MS ms each
# way. Each node announces only its delay line's address (p2pfs
# --announce, Kubo Addresses.Announce), and hosts can reach nothing but the
# router: every connection to a node goes through its delay line (checked:
# a dial from one host to another's real address fails, and the share of
# connections whose remote address is the router is printed per phase).
# The RTT of a plain TCP ping-pong through one delay line is printed first.
# A killed node's delay line is stopped with it (dials are refused).
#   sudo P2PFS_BIN=$PWD/target/release/p2pfs DELAY=20 KUBO=3 integration/dht-scale.sh 40 4
# (~9 min); its figures, and the same without DELAY: integration/wan/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-40}
rounds=${2:-8}
idle=${IDLE:-150}
kubo=${KUBO:-0}
read -r low high <<< "${MARKS:-4 8}"
delay=${DELAY:-}
bin=${P2PFS_BIN:-$PWD/target/release/p2pfs}
[ -x "$bin" ] || { echo "no p2pfs binary at $bin (cargo build --release, or set P2PFS_BIN)" >&2; exit 1; }
bin=$(cd "$(dirname "$bin")" && echo "$PWD/$(basename "$bin")")
declare -A pid=()
# shellcheck source=integration/nodes.sh
source integration/nodes.sh
ns=
if [ -n "$delay" ]; then
    [ "$(id -u)" = 0 ] || { echo "DELAY=$delay needs root (network namespaces)" >&2; exit 1; }
    for c in ip bridge nsenter flock; do command -v "$c" > /dev/null || { echo "DELAY=$delay needs $c" >&2; exit 1; }; done
    WAN_PREFIX=p2pfs-d-
    WAN_TAG=p2pfs-dht-wan
    # shellcheck source=integration/wan/lib.sh
    source integration/wan/lib.sh
    delayline=$(wan_delayline)
    wan_init || { echo "could not create network namespaces" >&2; exit 1; }
    work=$wan_work
else
    work=$(mktemp -d /tmp/p2pfs-dht.XXXXXX)
fi
if ((kubo > 0)); then
    [ -z "$delay" ] && ns=p2pfs-dht-$$
    # shellcheck source=integration/kubo/lib.sh
    source integration/kubo/lib.sh
    # lib.sh's node helpers only: its kubo_init (lock, teardown of the
    # p2pfs-k-* namespaces) is for the kubo scenarios, not for this one.
    KUBO_WORK=$work
    # kubo_start NAME HOST runs in namespace $KUBO_NS$HOST: HOST is $$, or
    # with DELAY the bed's host named NAME.
    KUBO_NS=p2pfs-dht-
    [ -n "$delay" ] && KUBO_NS=$wan_pre
    [ "$(id -u)" = 0 ] || { echo "KUBO=$kubo needs root (network namespaces)" >&2; exit 1; }
    for c in ip nsenter; do command -v "$c" > /dev/null || { echo "KUBO=$kubo needs $c" >&2; exit 1; }; done
    [ -x "$KUBO_PY" ] || { echo "no Kubo venv at $KUBO_VENV (run integration/kubo/setup.sh)" >&2; exit 1; }
fi
cleanup() {
    set +e
    ((kubo > 0)) && kubo_stop_all
    if [ -n "$delay" ]; then
        # The bed's teardown stops every node and delay line (WAN_PID).
        if [ -n "${KEEP:-}" ]; then echo "kept $work (until the next DELAY run)" >&2; wan_work=; fi
        wan_cleanup
        return
    fi
    for k in "${!pid[@]}"; do kill "${pid[$k]}" 2> /dev/null || true; done
    wait 2> /dev/null || true
    if [ -n "$ns" ] && [ -e "/run/netns/$ns" ]; then
        # Anything still in the namespace is ours (it was made by this run).
        for k in $(ip netns pids "$ns" 2> /dev/null); do kill -9 "$k" 2> /dev/null; done
        ip netns del "$ns"
    fi
    if [ -n "${KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# node_ip I: p2pfs node I's address in the namespace (KUBO>0).
node_ip() { echo "10.79.$(($1 / 250)).$(($1 % 250 + 1))"; }
kubo_ip() { echo "10.79.200.$(($1 + 1))"; }

# net_up: the namespace, lo, and d0 carrying every node's address. A dummy
# interface is enough: all nodes share the namespace, so the kernel routes
# between its local addresses; there is no default route (a fresh
# namespace has none, checked below). Kernels without the dummy driver
# (some containers) get a veth pair instead, both ends in the namespace.
net_up() {
    local i
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    if ! ip -n "$ns" link add d0 type dummy 2> /dev/null; then
        ip -n "$ns" link add d0 type veth peer name d1
        ip -n "$ns" link set d1 up
    fi
    {
        for ((i = 0; i < n; i++)); do echo "addr add $(node_ip "$i")/16 dev d0"; done
        for ((i = 0; i < kubo; i++)); do echo "addr add $(kubo_ip "$i")/16 dev d0"; done
        # one address for each fresh_kubo_read (3 phases x ROUNDS)
        for ((i = 1; i <= 3 * rounds; i++)); do echo "addr add 10.79.201.$i/16 dev d0"; done
        echo "link set d0 up"
    } | ip -n "$ns" -batch -
    if ip -n "$ns" route show default | grep -q . || ip -n "$ns" -6 route show default 2> /dev/null | grep -q .; then
        echo "namespace $ns has a default route" >&2
        exit 1
    fi
}

# bed_host NAME (DELAY): a host on the bed, 10.78.0.IDX (IDX = 1, 2, ...
# in order), and its delay line, router port 10000+IDX -> host:4001;
# told[NAME] is the address it announces (the delay line's).
declare -A told=() lport=()
next_idx=1
bed_host() {
    local h=$1 idx=$next_idx
    next_idx=$((next_idx + 1))
    ((idx <= 250)) || { echo "DELAY: more than 250 hosts" >&2; exit 1; }
    wan_host "$h" "$idx" 0
    lport[$h]=$((10000 + idx))
    wan_delay "$h" "${lport[$h]}" "$delay"
    told[$h]=/ip4/$wan_rip/tcp/${lport[$h]}
}

# start_kubo NAME IP: a Kubo node (a WAN DHT client); IP is its address in
# the one namespace, unused with DELAY (a host of its own, announcing its
# delay line).
start_kubo() {
    if [ -n "$delay" ]; then
        bed_host "$1"
        kubo_start "$1" "$1" --reachability private --listen "/ip4/${WAN_IP[$1]}/tcp/4001" --announce "${told[$1]}"
    else
        # host "$$" = namespace "$KUBO_NS$$" = $ns; the explicit --listen
        # overrides lib.sh's per-host address.
        kubo_start "$1" "$$" --reachability private --listen "/ip4/$2/tcp/0"
    fi
}

# start_p2pfs I: starts p2pfs node nI: on 127.0.0.1 (nodes.sh), inside the
# namespace on its own private address, or (DELAY) on its own host behind
# its delay line. Its CLI (`p`) needs no nsenter: it talks to the daemon
# over the repo's unix socket, which is a file, not bound to a network
# namespace.
start_p2pfs() {
    local name=n$1
    if [ -n "$delay" ]; then
        bed_host "$name"
        wan_start "$name" daemon --announce "${told[$name]}"
        pid[$name]=${WAN_PID[$name]}
        # `id` shows the announce address at once: wait for the listener.
        for _ in $(seq 100); do
            nsenter --net="/run/netns/$wan_pre$name" bash -c "exec 3<> /dev/tcp/${WAN_IP[$name]}/4001" 2> /dev/null && break
            sleep 0.1
        done
        return
    fi
    if [ -z "$ns" ]; then
        start "$name" daemon
        return
    fi
    mkdir -p "$work/$name"
    P2PFS_PATH="$work/$name/repo" nsenter --net="/run/netns/$ns" "$bin" daemon --listen "/ip4/$(node_ip "$1")/tcp/0" 2> "$work/$name/log" &
    pid[$name]=$!
    for _ in $(seq 400); do [ -S "$work/$name/repo/api.sock" ] && break; kill -0 "${pid[$name]}" 2> /dev/null || break; sleep 0.05; done
    [ -S "$work/$name/repo/api.sock" ] || { echo "p2pfs $name did not start; its log:" >&2; cat "$work/$name/log" >&2; exit 1; }
}

# link_check (DELAY): the RTT of a plain TCP ping-pong (tcpcheck.py, median
# of 10 one-byte round trips) from host n1 through a delay line like the
# nodes' to a probe server on host n0; then a dial from n1 to n0's real
# listen address, which must fail (hosts reach nothing but the router).
link_check() {
    local r rmin rmed
    wan_tcp_serve n0 5001
    wan_delay n0 9000 "$delay" 0 5001
    r=$(wan_tcp_probe n1 9000 1000000) || wan_fail "the TCP probe through a delay line failed"
    read -r rmin rmed _ <<< "$r"
    wan_undelay 9000
    wan_tcp_unserve n0
    echo "link check: TCP through one delay line ($delay ms each way): RTT min $rmin ms, median $rmed ms"
    if nsenter --net="/run/netns/${wan_pre}n1" timeout 5 bash -c "exec 3<> /dev/tcp/${WAN_IP[n0]}/4001" 2> /dev/null; then
        wan_fail "host n1 reached n0's real address ${WAN_IP[n0]}:4001: hosts must be isolated"
    fi
    echo "link check: n1 cannot reach n0's real listen address ${WAN_IP[n0]}:4001 (hosts reach only the router)"
}

# via_delay (DELAY): "V of T connections ...": of all connections of the
# alive p2pfs nodes and the Kubo nodes, those whose remote address is the
# router's (dialed through a delay line, or accepted from one).
via_delay() {
    local v=0 t=0 a k
    for k in "${alive[@]}"; do
        while read -r a; do
            [ -n "$a" ] || continue
            t=$((t + 1))
            [[ $a == "/ip4/$wan_rip/"* ]] && v=$((v + 1))
        done < <(p "n$k" swarm peers 2> /dev/null)
    done
    for ((k = 0; k < kubo; k++)); do
        kubo_cmd "K$k" '{"cmd":"peers"}' > /dev/null || continue
        while read -r a; do
            [ -n "$a" ] || continue
            t=$((t + 1))
            [[ $a == "/ip4/$wan_rip/"* ]] && v=$((v + 1))
        done < <(kjget "$KUBO_REPLY" conns | python3 -c 'import json, sys; print("\n".join(json.load(sys.stdin) or []))')
    done
    echo "$v of $t connections through delay lines"
}

declare -a addrs=() ids=()
alive=()
((kubo > 0)) && [ -z "$delay" ] && net_up
echo "starting $n nodes${ns:+ in namespace $ns}${delay:+ on the bed, each behind a delay line of $delay ms each way}..."
for ((i = 0; i < n; i++)); do
    P2PFS_PATH="$work/n$i/repo" "$bin" init > /dev/null
    sed -i "s/^low = 32/low = $low/; s/^high = 96/high = $high/; s/^grace = \"20s\"/grace = \"5s\"/" "$work/n$i/repo/config.toml"
    if ((i > 0)); then
        # 2-3 bootstrap peers among the earlier nodes.
        for _ in 1 2 3; do
            j=$((RANDOM % i))
            P2PFS_PATH="$work/n$i/repo" "$bin" bootstrap add "${addrs[$j]}" > /dev/null
        done
    fi
    start_p2pfs "$i"
    addrs[i]=$(addr "n$i")
    ids[i]=${addrs[i]##*/p2p/}
    alive+=("$i")
done
if ((kubo > 0)); then
    echo "starting $kubo Kubo nodes..."
    for ((k = 0; k < kubo; k++)); do
        start_kubo "K$k" "$(kubo_ip "$k")"
        for _ in 1 2 3; do
            j=$((RANDOM % n))
            kubo_cmd "K$k" "{\"cmd\":\"connect\",\"addr\":\"${addrs[$j]}\"}" 30 || echo "  K$k could not connect to n$j: $KUBO_REPLY"
        done
        echo "  K$k $(kubo_id "K$k") at $(kubo_addr "K$k")"
    done
fi
[ -n "$delay" ] && link_check
echo "all up; letting the DHT settle (20 s)"
sleep 20

# Per-phase results of each direction: "ok tries t1 t2 ..." in $work/res.<dir>.
record() { echo "$2" >> "$work/res.$1"; }

# stats LABEL DIR [WHAT]: the success rate and WHAT (default "time") median
# and p95 of DIR's results.
stats() {
    local ok=0 tries=0 times=() l
    if [ -f "$work/res.$2" ]; then
        while read -r l; do
            tries=$((tries + 1))
            [ "$l" = fail ] || { ok=$((ok + 1)); times+=("$l"); }
        done < "$work/res.$2"
    fi
    python3 - "$1" "${3:-time}" "$ok" "$tries" "${times[@]}" <<'PY'
import statistics, sys
label, what, ok, tries = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ts = sorted(map(float, sys.argv[5:]))
p95 = ts[min(len(ts) - 1, int(0.95 * len(ts)))] if ts else float("nan")
med = statistics.median(ts) if ts else float("nan")
print(f"{label} {ok}/{tries} reads ok ({100 * ok / max(tries, 1):.0f} %), {what} median {med:.2f} s, p95 {p95:.2f} s", end="")
PY
}

# p2pfs_connected I PEER_ID: whether p2pfs node nI has a connection to PEER_ID.
p2pfs_connected() { p "n$1" swarm peers 2> /dev/null | grep -q "$2"; }

# pick_reader SRC_ID [EXCEPT]: prints an alive p2pfs node (not EXCEPT) that
# has no connection to SRC_ID now, i.e. after SRC's add has announced the
# file: announcing dials the ~20 peers closest to the CID, so in a small
# network the provider is connected to almost everyone by then. Returns 1
# (and prints a connected node) when every node is connected to SRC_ID.
pick_reader() {
    local i last=
    for i in $(shuf -e "${alive[@]}"); do
        [ "$i" = "${2:-}" ] && continue
        last=$i
        p2pfs_connected "$i" "$1" || { echo "$i"; return 0; }
    done
    echo "$last"
    return 1
}

# dir_of DIR CONNECTED: the result bucket: DIR for a read that had to find
# its provider (no connection to it before the read), DIR+ for one whose
# reader was already connected (Bitswap's want broadcast finds it, no DHT).
dir_of() { if [ "$2" = 0 ]; then echo "$1"; else echo "$1+"; fi; }

# p2pfs_cat PHASE DIR I CID FILE: node nI cats CID, compared with FILE.
p2pfs_cat() {
    local t0 t1
    t0=$(date +%s.%N)
    if timeout 60 env P2PFS_PATH="$work/n$3/repo" "$bin" cat "$4" 2> "$work/err" | cmp -s - "$5"; then
        t1=$(date +%s.%N)
        record "$1.$2" "$(python3 -c "print($t1 - $t0)")"
    else
        record "$1.$2" fail
        return 1
    fi
}

# p2pfs_to_p2pfs PHASE: a random node adds a file, up to 3 random others
# cat it. With Kubo, the readers are chosen among nodes not connected to
# the source (as for the Kubo directions); without, as always: any node.
p2pfs_to_p2pfs() {
    local name=$1 src dst c k conn
    src=${alive[$((RANDOM % ${#alive[@]}))]}
    head -c 300000 /dev/urandom > "$work/f"
    c=$(p "n$src" add -Q --progress=false "$work/f")
    sleep 1 # the root's provider record goes out at once; give it a moment
    for k in 1 2 3; do
        conn=0
        if ((kubo > 0)); then
            dst=$(pick_reader "${ids[$src]}" "$src") || conn=1
        else
            dst=${alive[$((RANDOM % ${#alive[@]}))]}
            [ "$dst" = "$src" ] && continue
        fi
        p2pfs_cat "$name" "$(dir_of p2p "$conn")" "$dst" "$c" "$work/f" \
            || echo "  $name: n$dst could not read $c from n$src: $(tail -n 1 "$work/err")"
    done
}

# kubo_to_p2pfs PHASE: a random Kubo adds a file (Kubo provides every block
# it adds, into its LAN DHT here); a p2pfs node not connected to it reads it.
kubo_to_p2pfs() {
    local name=$1 k c dst conn=0
    k=$((RANDOM % kubo))
    head -c 300000 /dev/urandom > "$work/kf"
    if ! kubo_cmd "K$k" "{\"cmd\":\"add\",\"path\":\"$work/kf\"}" 60; then
        echo "  $name: K$k could not add: $KUBO_REPLY"
        return
    fi
    c=$(kjget "$KUBO_REPLY" cid)
    sleep 1 # Kubo provides from a queue, after AddFile returns
    dst=$(pick_reader "$(kubo_id "K$k")") || conn=1
    p2pfs_cat "$name" "$(dir_of k2p "$conn")" "$dst" "$c" "$work/kf" \
        || {
            # Why: does the reader's DHT know the Kubo as a provider at all?
            echo "  $name: n$dst could not read $c from Kubo K$k ($(kubo_id "K$k")): $(tail -n 1 "$work/err")"
            echo "    n$dst routing findprovs: $(timeout 30 env P2PFS_PATH="$work/n$dst/repo" "$bin" routing findprovs "$c" 2>&1 | tr '\n' ' ')"
        }
}

# p2pfs_to_kubo PHASE: a p2pfs node not connected to a random Kubo adds a
# file; the Kubo downloads it (Kubo's Bitswap sends its wants to connected
# peers, then asks its DHT for providers). Kubo never trims connections and
# its DHT walks dial many peers, so it is connected to much of the network:
# the source is picked among the others, and the read counts as "+" if the
# add's announcement connected them (the Kubo is one of the ~20 closest).
kubo_has_peer() { kubo_cmd "$1" '{"cmd":"peers"}' > /dev/null && [[ $KUBO_REPLY == *"$2"* ]]; }
p2pfs_to_kubo() {
    local name=$1 k c src i ms conn=0
    k=$((RANDOM % kubo))
    src=${alive[$((RANDOM % ${#alive[@]}))]}
    for i in $(shuf -e "${alive[@]}"); do
        kubo_has_peer "K$k" "${ids[$i]}" || { src=$i; break; }
    done
    head -c 300000 /dev/urandom > "$work/pf"
    c=$(p "n$src" add -Q --progress=false "$work/pf")
    sleep 1 # as for p2pfs -> p2pfs
    kubo_has_peer "K$k" "${ids[$src]}" && conn=1
    rm -f "$work/kout"
    if kubo_cmd "K$k" "{\"cmd\":\"download\",\"cid\":\"$c\",\"out\":\"$work/kout\",\"timeoutMs\":60000}" 75 \
        && cmp -s "$work/kout" "$work/pf"; then
        ms=$(kjget "$KUBO_REPLY" ms)
        record "$name.$(dir_of p2k "$conn")" "$(python3 -c "print($ms / 1000)")"
    else
        record "$name.$(dir_of p2k "$conn")" fail
        echo "  $name: Kubo K$k could not download $c from n$src: $KUBO_REPLY"
    fi
}

# fresh_kubo_read PHASE: p2pfs -> Kubo where the Kubo cannot already be
# connected to the source: a random p2pfs node adds a file, then a new Kubo
# starts, connects to 3 other p2pfs nodes and downloads it; Bitswap's wants
# to those 3 fail, so it must find the source through its DHT (as in
# kubo/dht.sh part 1). Its own start-up DHT walk may reach the source
# first: if it is connected to it before the download, the read counts as
# "+". The Kubo is stopped afterwards.
fresh=0
fresh_kubo_read() {
    local name=$1 f=F$fresh src c i j=0 ms conn=0
    fresh=$((fresh + 1))
    src=${alive[$((RANDOM % ${#alive[@]}))]}
    head -c 300000 /dev/urandom > "$work/ff"
    c=$(p "n$src" add -Q --progress=false "$work/ff")
    sleep 1
    start_kubo "$f" "10.79.201.$fresh"
    for i in $(shuf -e "${alive[@]}"); do
        [ "$i" = "$src" ] && continue
        kubo_cmd "$f" "{\"cmd\":\"connect\",\"addr\":\"${addrs[$i]}\"}" 30 > /dev/null && j=$((j + 1))
        ((j < 3)) || break
    done
    # Its start-up DHT walk may already have dialed src: then "+".
    kubo_has_peer "$f" "${ids[$src]}" && conn=1
    rm -f "$work/fout"
    if kubo_cmd "$f" "{\"cmd\":\"download\",\"cid\":\"$c\",\"out\":\"$work/fout\",\"timeoutMs\":60000}" 75 \
        && cmp -s "$work/fout" "$work/ff"; then
        ms=$(kjget "$KUBO_REPLY" ms)
        record "$name.$(dir_of p2kf "$conn")" "$(python3 -c "print($ms / 1000)")"
    else
        record "$name.$(dir_of p2kf "$conn")" fail
        echo "  $name: new Kubo $f could not download $c from n$src: $KUBO_REPLY"
    fi
    kubo_stop "$f"
    [ -n "$delay" ] && wan_undelay "${lport[$f]}"
    return 0
}

# phase NAME: ROUNDS rounds of add on one node, cat on up to 3 others (and,
# with Kubo, one read each way between Kubo and p2pfs).
phase() {
    local name=$1 r
    for ((r = 0; r < rounds; r++)); do
        p2pfs_to_p2pfs "$name"
        if ((kubo > 0)); then
            kubo_to_p2pfs "$name"
            p2pfs_to_kubo "$name"
            fresh_kubo_read "$name"
        fi
    done
    local conns=0 k2 kconns=0 d
    for k2 in "${alive[@]}"; do
        conns=$((conns + $(p "n$k2" stats swarm --enc json | python3 -c 'import json,sys; print(json.load(sys.stdin)["Connected"])')))
    done
    local via=
    [ -n "$delay" ] && via="; $(via_delay)"
    if ((kubo == 0)); then
        echo "$(stats "$(printf '%-28s' "$name")" "$name.p2p" "cat time"); $((conns / ${#alive[@]})) connections per node$via" \
            | tee -a "$work/summary"
        return
    fi
    for ((k2 = 0; k2 < kubo; k2++)); do
        kubo_cmd "K$k2" '{"cmd":"peers"}' > /dev/null && kconns=$((kconns + $(kjget "$KUBO_REPLY" peers | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')))
    done
    # A "+" row: reads whose reader was already connected to the provider
    # (no node was left unconnected to it); printed only when there are any.
    {
        for d in p2p:p2pfs-\>p2pfs k2p:Kubo-\>p2pfs p2k:p2pfs-\>Kubo p2kf:p2pfs-\>newKubo; do
            stats "$(printf '%-24s %-16s' "$name" "${d#*:}")" "$name.${d%%:*}"; echo
            [ -f "$work/res.$name.${d%%:*}+" ] || continue
            stats "$(printf '%-24s %-16s' "$name" "${d#*:}+")" "$name.${d%%:*}+"; echo
        done
        echo "$(printf '%-24s' "$name") connections per p2pfs node $((conns / ${#alive[@]})), per Kubo node $((kconns / kubo))$via"
    } | tee -a "$work/summary"
}

phase "all $n nodes"
# Kill a third (never all of one node's bootstrap peers on purpose: random).
killed=0
while ((killed < n / 3)); do
    k=$((RANDOM % ${#alive[@]}))
    i=${alive[$k]}
    kill "${pid[n$i]}" 2> /dev/null || true
    unset "pid[n$i]"
    [ -n "$delay" ] && wan_undelay "${lport[n$i]}"
    alive=("${alive[@]:0:$k}" "${alive[@]:$((k + 1))}")
    killed=$((killed + 1))
done
sleep 5
phase "after killing $killed"
echo "idling ${idle} s (no traffic)..."
sleep "$idle"
phase "after ${idle} s idle"
echo "=== summary (N=$n p2pfs, K=$kubo Kubo, $rounds rounds per phase${delay:+, $delay ms each way}) ==="
cat "$work/summary"
