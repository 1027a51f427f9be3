# shellcheck shell=bash disable=SC2154 # bin and delayline: set by the caller
# The WAN test bed (sourced by integration/wan/bench-wan.sh and
# integration/scenarios/wan-short.sh): hosts in network namespaces whose
# links have a rate cap (tbf) and a one-way delay (examples/delayline.rs,
# because this kernel has no netem).
#
#   router  netns p2pfs-w-r: bridge br0 with the router's address 10.78.0.254/24
#           and one port per host. Every port is *isolated* (bridge link ...
#           isolated on): hosts cannot reach each other, only the router, and
#           the router does not forward IP. So the only way from one host to
#           another is a delay line, which runs in the router:
#           10.78.0.254:LPORT -> HOST:4001, holding each chunk DELAY ms in each
#           direction (RTT 2 x DELAY). A peer dialing a host's real address
#           (learnt from Identify or the DHT) gets no route.
#   host    netns p2pfs-w-NAME: eth0 = 10.78.0.IDX/24; its egress (the uplink)
#           capped with tbf: rate, a burst of 2 ms (at least 4 frames) and a
#           queue of 50 ms (at least 2 bursts), like a home router's
#           upstream queue, not an endless one. The router's port to the host
#           can be capped too (the downlink).
#   bytes   a host's wire bytes are eth0's tx_bytes (Ethernet, IP and TCP
#           headers included).
#
# Only 10.78.0.0/24 inside namespaces made here is used; nothing is dialed
# in, or from, the machine's own network namespace. Names are fixed (one run
# at a time: a flock on /run/p2pfs-wan.lock, fd 8); wan_init first removes
# whatever a killed run left behind (processes in p2pfs-w-* namespaces, FUSE
# mounts under /tmp/p2pfs-wan.*, the namespaces, p2pfs-w-* links).
# WAN_PREFIX (default p2pfs-w-) and WAN_TAG (default p2pfs-wan) rename all of
# that, so another kind of run (integration/dht-scale.sh: p2pfs-d-,
# p2pfs-dht-wan) has its own beds and lock and never waits for, or tears
# down, this one's.
#
# The caller sets bin (the p2pfs binary) and delayline (the delayline example
# binary, e.g. delayline=$(wan_delayline)), then: wan_init; trap wan_cleanup
# EXIT; wan_host ...; wan_delay ...; wan_start ...; wan_connect ...
# Needs root, ip/tc/bridge (iproute2), nsenter and flock (util-linux),
# python3, fusermount3 for mounts.

wan_pre=${WAN_PREFIX:-p2pfs-w-}
wan_tag=${WAN_TAG:-p2pfs-wan}
wan_router=${wan_pre}r
wan_rip=10.78.0.254
wan_work=
declare -gA WAN_IP=() WAN_PID=()
wan_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

wan_log() { echo "wan: $*" >&2; }

# wan_delayline: prints the delay line binary: DELAYLINE_BIN, else
# examples/delayline next to $bin (built with cargo, release or debug as
# $bin is, when missing); exits if there is none.
wan_delayline() {
    local d=${DELAYLINE_BIN:-$(dirname "$bin")/examples/delayline} prof=()
    if ! [ -x "$d" ]; then
        [[ "$d" == */release/* ]] && prof=(--release)
        echo "building the delay line: cargo build ${prof[*]} --example delayline" >&2
        cargo build "${prof[@]}" --example delayline >&2
    fi
    [ -x "$d" ] || { echo "no delay line binary at $d (set DELAYLINE_BIN)" >&2; exit 1; }
    echo "$d"
}

# wan_fail MESSAGE: prints it, the tails of the nodes' logs, exits 1.
wan_fail() {
    echo "FAIL: $*" >&2
    local f
    for f in "$wan_work"/*/log "$wan_work"/dl-*.log; do
        # A delay line's log is worth showing only past its "listening" line.
        [[ "$f" == */dl-*.log ]] && [ "$(wc -l < "$f")" -le 1 ] && continue
        [ -s "$f" ] && { echo "--- ${f#"$wan_work"/} (last 20 lines)" >&2; tail -n 20 "$f" >&2; }
    done
    exit 1
}

# wan_teardown: removes everything a run may leave, by our names only.
wan_teardown() {
    local ns p m l nets=()
    for ns in /run/netns/"$wan_pre"*; do [ -e "$ns" ] && nets+=("${ns#/run/netns/}"); done
    for ns in "${nets[@]}"; do
        for p in $(ip netns pids "$ns" 2> /dev/null); do kill "$p" 2> /dev/null || true; done
    done
    for _ in $(seq 50); do
        p=
        for ns in "${nets[@]}"; do p+=$(ip netns pids "$ns" 2> /dev/null); done
        [ -z "$p" ] && break
        sleep 0.1
    done
    for ns in "${nets[@]}"; do
        for p in $(ip netns pids "$ns" 2> /dev/null); do kill -9 "$p" 2> /dev/null || true; done
    done
    while read -r m; do
        fusermount3 -u -z "$m" 2> /dev/null || umount -l "$m" 2> /dev/null || true
    done < <(awk -v t="/tmp/$wan_tag." '$3 ~ /^fuse/ && index($2, t) == 1 {print $2}' /proc/self/mounts)
    for ns in "${nets[@]}"; do ip netns del "$ns" 2> /dev/null || true; done
    for l in $(ip -o link show 2> /dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep "^$wan_pre" || true); do
        ip link del "$l" 2> /dev/null || true
    done
}

# wan_init: takes the lock, cleans leftovers, makes $wan_work and the router.
wan_init() {
    exec 8> "/run/$wan_tag.lock"
    flock -w 300 8 || { echo "FAIL: another run holds /run/$wan_tag.lock" >&2; exit 1; }
    wan_teardown
    local d
    for d in /tmp/"$wan_tag".*; do
        if [ -d "$d" ] && ! grep -q " $d/" /proc/self/mounts; then rm -rf "$d"; fi
    done
    wan_work=$(mktemp -d "/tmp/$wan_tag.XXXXXX")
    ip netns add "$wan_router" || return 1
    ip -n "$wan_router" link set lo up
    ip -n "$wan_router" link add br0 type bridge
    ip -n "$wan_router" addr add "$wan_rip/24" dev br0
    ip -n "$wan_router" link set br0 up
    ip netns exec "$wan_router" sysctl -qw net.ipv4.ip_forward=0
}

# wan_cleanup: stops what we started and tears the bed down (for trap EXIT).
wan_cleanup() {
    set +e
    local n
    for n in "${!WAN_PID[@]}"; do kill "${WAN_PID[$n]}" 2> /dev/null; done
    for n in "${!WAN_PID[@]}"; do
        for _ in $(seq 50); do kill -0 "${WAN_PID[$n]}" 2> /dev/null || break; sleep 0.1; done
        kill -9 "${WAN_PID[$n]}" 2> /dev/null || true
        wait "${WAN_PID[$n]}" 2> /dev/null || true
    done
    wan_teardown
    # WAN_KEEP_LOGS=DIR keeps every node's and delay line's log (for traces
    # taken with RUST_LOG).
    if [ -n "${WAN_KEEP_LOGS:-}" ] && [ -n "$wan_work" ]; then
        mkdir -p "$WAN_KEEP_LOGS"
        (cd "$wan_work" && find . -name '*log' -type f -exec cp --parents {} "$WAN_KEEP_LOGS" \;)
    fi
    [ -n "$wan_work" ] && rm -rf --one-file-system "$wan_work"
}

# wan_tbf NETNS DEV MBIT: caps DEV's egress (0: no cap).
wan_tbf() {
    local ns=$1 dev=$2 mbit=$3
    [ "$mbit" = 0 ] && return 0
    local bps=$((mbit * 125000)) burst limit
    burst=$((bps / 500))
    ((burst >= 4 * 1514)) || burst=$((4 * 1514))
    limit=$((bps / 20))
    ((limit >= 2 * burst)) || limit=$((2 * burst))
    tc -n "$ns" qdisc replace dev "$dev" root tbf rate "${mbit}mbit" burst "$burst" limit "$limit"
}

# wan_host NAME IDX UP_MBIT [DOWN_MBIT]: a host at 10.78.0.IDX (IDX 1-253),
# uplink capped at UP_MBIT, downlink at DOWN_MBIT (0 or absent: no cap).
wan_host() {
    local n=$1 ns=$wan_pre$1
    WAN_IP[$n]=10.78.0.$2
    ip netns add "$ns"
    ip link add eth0 netns "$ns" type veth peer name "$ns" netns "$wan_router"
    ip -n "$wan_router" link set "$ns" master br0
    ip netns exec "$wan_router" bridge link set dev "$ns" isolated on
    ip -n "$wan_router" link set "$ns" up
    ip -n "$ns" addr add "${WAN_IP[$n]}/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    wan_tbf "$ns" eth0 "$3"
    wan_tbf "$wan_router" "$ns" "${4:-0}"
}

# wan_bg NAME NETNS-NAME LOG CMD...: runs CMD in the background in a host's
# netns (nsenter --net only: FUSE mounts stay visible here); WAN_PID[NAME].
wan_bg() {
    local n=$1 ns=$2 log=$3
    shift 3
    nsenter --net="/run/netns/$wan_pre$ns" "$@" 2> "$log" 8>&- &
    WAN_PID[$n]=$!
}

# wan_delay HOST LPORT DELAY_MS [LOSS_PCT] [TPORT] [udp]: a delay line in the
# router from 10.78.0.254:LPORT to HOST:TPORT (default 4001); with "udp" a
# second one for UDP (QUIC) on the same port numbers.
wan_delay() {
    local h=$1 lp=$2 d=$3 loss=${4:-0} tp=${5:-4001} u k
    for u in "" ${6:+--udp}; do
        k=dl-$lp${u:+-udp}
        wan_bg "$k" r "$wan_work/$k.log" "$delayline" --listen "$wan_rip:$lp" --to "${WAN_IP[$h]}:$tp" \
            --delay-ms "$d" --loss-pct "$loss" ${u:+"$u"}
        for _ in $(seq 100); do
            grep -q listening "$wan_work/$k.log" 2> /dev/null && break
            kill -0 "${WAN_PID[$k]}" 2> /dev/null || break
            sleep 0.05
        done
        grep -q listening "$wan_work/$k.log" || wan_fail "delay line $k did not start"
    done
}

# wan_undelay LPORT: stops that delay line (TCP and UDP).
wan_undelay() {
    local k
    for k in "dl-$1" "dl-$1-udp"; do
        [ -n "${WAN_PID[$k]:-}" ] || continue
        kill "${WAN_PID[$k]}" 2> /dev/null || true
        wait "${WAN_PID[$k]}" 2> /dev/null || true
        unset "WAN_PID[$k]"
    done
    return 0
}

# wan_p NAME ARGS...: the CLI on NAME's repo (through its daemon's socket).
wan_p() { local n=$1; shift; P2PFS_PATH="$wan_work/$n/repo" "$bin" "$@"; }

# wan_start NAME daemon|mount [ARGS...]: starts p2pfs on host NAME listening
# on WAN_IP[NAME]:4001 (TCP; QUIC too if WAN_QUIC=1), mount at
# $wan_work/NAME/net; ARGS go to the daemon (e.g. --announce ADDR).
wan_start() {
    local n=$1 kind=$2 args=(--listen "/ip4/${WAN_IP[$1]}/tcp/4001")
    shift 2
    [ "${WAN_QUIC:-0}" = 1 ] && args+=(--listen "/ip4/${WAN_IP[$n]}/udp/4001/quic-v1")
    args+=("$@")
    mkdir -p "$wan_work/$n"
    if [ "$kind" = mount ]; then
        mkdir -p "$wan_work/$n/net"
        P2PFS_PATH="$wan_work/$n/repo" wan_bg "$n" "$n" "$wan_work/$n/log" "$bin" mount "$wan_work/$n/net" "${args[@]}"
    else
        P2PFS_PATH="$wan_work/$n/repo" wan_bg "$n" "$n" "$wan_work/$n/log" "$bin" daemon "${args[@]}"
    fi
    for _ in $(seq 400); do
        [ -S "$wan_work/$n/repo/api.sock" ] && break
        kill -0 "${WAN_PID[$n]}" 2> /dev/null || break
        sleep 0.05
    done
    [ -S "$wan_work/$n/repo/api.sock" ] || wan_fail "p2pfs $n did not start"
    if [ "$kind" = mount ]; then
        for _ in $(seq 200); do mountpoint -q "$wan_work/$n/net" && break; sleep 0.05; done
        mountpoint -q "$wan_work/$n/net" || wan_fail "$n's mount is not visible here"
    fi
}

# wan_stop NAME [wipe]: stops NAME's p2pfs (and unmounts); wipe: deletes its repo.
wan_stop() {
    local n=$1
    if [ -n "${WAN_PID[$n]:-}" ]; then
        kill "${WAN_PID[$n]}" 2> /dev/null || true
        for _ in $(seq 100); do kill -0 "${WAN_PID[$n]}" 2> /dev/null || break; sleep 0.1; done
        kill -9 "${WAN_PID[$n]}" 2> /dev/null || true
        wait "${WAN_PID[$n]}" 2> /dev/null || true
        unset "WAN_PID[$n]"
    fi
    if mountpoint -q "$wan_work/$n/net" 2> /dev/null; then fusermount3 -u -z "$wan_work/$n/net" || true; fi
    if [ "${2:-}" = wipe ]; then
        # With WAN_KEEP_LOGS, a wiped node's log is kept (as NAME.N.log).
        if [ -n "${WAN_KEEP_LOGS:-}" ] && [ -f "$wan_work/$n/log" ]; then
            mkdir -p "$WAN_KEEP_LOGS"
            cp "$wan_work/$n/log" "$WAN_KEEP_LOGS/$n.$(date +%s%N).log"
        fi
        rm -rf "${wan_work:?}/$n"
    fi
    return 0
}

# wan_id NAME: the node's peer ID.
wan_id() { wan_p "$1" id | python3 -c "import json,sys; print(json.load(sys.stdin)['ID'])"; }

# wan_connect FROM TO LPORT [quic]: FROM dials TO through the delay line on LPORT.
wan_connect() {
    local a="/ip4/$wan_rip/tcp/$3"
    [ "${4:-}" = quic ] && a="/ip4/$wan_rip/udp/$3/quic-v1"
    wan_p "$1" swarm connect "$a/p2p/$(wan_id "$2")" > /dev/null
}

# wan_tx NAME: bytes NAME has sent on its link so far (eth0 tx_bytes).
wan_tx() { ip netns exec "$wan_pre$1" cat /sys/class/net/eth0/statistics/tx_bytes; }
# wan_retrans NAME: TCP segments NAME's host has retransmitted (they count
# in wan_tx too: a tbf queue that overflows makes the sender resend).
wan_retrans() { ip netns exec "$wan_pre$1" awk '$1 == "Tcp:" && !h {for (i = 1; i <= NF; i++) c[$i] = i; h = 1; next} $1 == "Tcp:" {print $c["RetransSegs"]}' /proc/net/snmp; }

# wan_quiet HOST...: waits (up to 60 s) until the hosts together send less
# than 32 KiB in a second (their background DHT traffic has settled).
wan_quiet() {
    local h a b
    for _ in $(seq 60); do
        a=0; for h in "$@"; do a=$((a + $(wan_tx "$h"))); done
        sleep 1
        b=0; for h in "$@"; do b=$((b + $(wan_tx "$h"))); done
        [ $((b - a)) -lt 32768 ] && return 0
    done
    echo "note: providers still busy after 60 s (their DHT traffic counts in 'sent')" >&2
}

# wan_stats NAME: `p2pfs stats bitswap --enc=json` of NAME, or nothing (and
# status 1) when the command does not exist or fails.
wan_stats() { wan_p "$1" stats bitswap --verbose --enc=json 2> /dev/null; }

# wan_tcp_serve HOST PORT / wan_tcp_unserve HOST: the plain-TCP probe server
# (tcpcheck.py serve) on HOST.
wan_tcp_serve() {
    wan_bg "tcp-$1" "$1" "$wan_work/tcp-$1.log" python3 -u "$wan_dir/tcpcheck.py" serve "${WAN_IP[$1]}" "$2"
    for _ in $(seq 100); do grep -q listening "$wan_work/tcp-$1.log" 2> /dev/null && return 0; sleep 0.05; done
    wan_fail "tcpcheck server on $1 did not start"
}
wan_tcp_unserve() {
    kill "${WAN_PID[tcp-$1]}" 2> /dev/null || true
    wait "${WAN_PID[tcp-$1]}" 2> /dev/null || true
    unset "WAN_PID[tcp-$1]"
    return 0
}

# wan_tcp_probe FROM LPORT BYTES: from host FROM, through the delay line on
# LPORT: prints "RTT_MIN_MS RTT_MEDIAN_MS MB/s SECONDS".
wan_tcp_probe() {
    local r t
    r=$(nsenter --net="/run/netns/$wan_pre$1" python3 "$wan_dir/tcpcheck.py" rtt "$wan_rip" "$2" 10 8>&-) || return 1
    t=$(nsenter --net="/run/netns/$wan_pre$1" python3 "$wan_dir/tcpcheck.py" rate "$wan_rip" "$2" "$3" 8>&-) || return 1
    echo "$r $t"
}
