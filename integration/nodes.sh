# Helpers for scripts that run p2pfs nodes on 127.0.0.1 (sourced). The caller
# sets $bin (the p2pfs binary) and $work (a scratch dir) and declares
# `declare -A pid`; node NAME lives in $work/NAME (repo, mount at net/, log).

# p NAME ARGS...: runs the CLI against node NAME's repo (through its daemon).
p() { local n=$1; shift; P2PFS_PATH="$work/$n/repo" "$bin" "$@"; }

# start NAME mount|daemon: starts the node listening on 127.0.0.1 (a free TCP
# port) and waits until its control socket (and mount) are up; exits with
# its log if it does not come up.
start() {
    mkdir -p "$work/$1"
    if [ "$2" = mount ]; then
        P2PFS_PATH="$work/$1/repo" "$bin" mount "$work/$1/net" --listen /ip4/127.0.0.1/tcp/0 2> "$work/$1/log" &
    else
        P2PFS_PATH="$work/$1/repo" "$bin" daemon --listen /ip4/127.0.0.1/tcp/0 2> "$work/$1/log" &
    fi
    pid[$1]=$!
    for _ in $(seq 400); do [ -S "$work/$1/repo/api.sock" ] && break; kill -0 "${pid[$1]}" 2>/dev/null || break; sleep 0.05; done
    [ -S "$work/$1/repo/api.sock" ] || { echo "p2pfs $1 did not start; its log:" >&2; cat "$work/$1/log" >&2; exit 1; }
    if [ "$2" = mount ]; then
        for _ in $(seq 200); do mountpoint -q "$work/$1/net" && break; kill -0 "${pid[$1]}" 2>/dev/null || break; sleep 0.05; done
        mountpoint -q "$work/$1/net" || { echo "p2pfs $1 did not mount; its log:" >&2; cat "$work/$1/log" >&2; exit 1; }
    fi
}

# addr NAME: the node's TCP multiaddr (`id` shows none until it listens).
addr() {
    local a
    for _ in $(seq 50); do
        a=$(p "$1" id | python3 -c "import json,sys; print(next((a for a in json.load(sys.stdin)['Addresses'] if '/tcp/' in a), ''))")
        [ -n "$a" ] && { echo "$a"; return 0; }
        sleep 0.1
    done
    return 1
}
