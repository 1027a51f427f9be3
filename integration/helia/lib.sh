# Bash helpers to drive node.mjs processes over FIFOs (source this file).
#
#   source integration/helia/lib.sh
#   helia_start A --dht server          # starts node A, fills HELIA_READY[A]
#   helia_cmd A '{"cmd":"peers"}'       # sends one command, answer in $HELIA_REPLY
#   jget "$HELIA_REPLY" peers.0         # extract a field (dot path) with node
#   helia_stop_all                      # stop every node started here
#
# Everything runs on 127.0.0.1. Needs bash >= 4.1 and node (npm ci done).

HELIA_DIR=${HELIA_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
HELIA_NODE=${HELIA_NODE:-node}
HELIA_TMP=${HELIA_TMP:-$(mktemp -d -t helia-harness.XXXXXX)}
declare -gA HELIA_PID=() HELIA_IN=() HELIA_OUT=() HELIA_READY=()
HELIA_REPLY=''

# jget JSON PATH: prints the value at PATH (dot-separated, numbers index
# arrays); strings raw, everything else as JSON; missing -> null
jget() {
  "$HELIA_NODE" -e '
    let v = JSON.parse(process.argv[1])
    for (const k of process.argv[2].split(".").filter(Boolean)) v = v == null ? undefined : v[k]
    process.stdout.write(typeof v === "string" ? v : JSON.stringify(v ?? null))
  ' "$1" "$2"
}

# helia_start NAME [node.mjs args...]; waits for the ready line (30 s)
helia_start() {
  local name=$1; shift
  local fin="$HELIA_TMP/$name.in" fout="$HELIA_TMP/$name.out" fd line
  rm -f "$fin" "$fout"
  mkfifo "$fin" "$fout"
  "$HELIA_NODE" "$HELIA_DIR/node.mjs" "$@" <"$fin" >"$fout" 2>"$HELIA_TMP/$name.log" &
  HELIA_PID[$name]=$!
  exec {fd}>"$fin"; HELIA_IN[$name]=$fd
  exec {fd}<"$fout"; HELIA_OUT[$name]=$fd
  if ! IFS= read -r -t 30 line <&"${HELIA_OUT[$name]}"; then
    echo "helia node $name did not become ready; log:" >&2
    cat "$HELIA_TMP/$name.log" >&2
    return 1
  fi
  HELIA_READY[$name]=$line
  if [[ $(jget "$line" event) != ready ]]; then
    echo "helia node $name failed to start: $line" >&2
    return 1
  fi
}

# helia_cmd NAME JSON [TIMEOUT_S=120]; answer in $HELIA_REPLY; returns 1 if
# the node did not answer in time or answered {"error":...}
helia_cmd() {
  local name=$1 json=$2 to=${3:-120}
  HELIA_REPLY=''
  printf '%s\n' "$json" >&"${HELIA_IN[$name]}" || return 1
  if ! IFS= read -r -t "$to" HELIA_REPLY <&"${HELIA_OUT[$name]}"; then
    echo "helia node $name: no answer to $json within ${to}s" >&2
    return 1
  fi
  [[ $(jget "$HELIA_REPLY" error) == null ]]
}

# helia_addr NAME: first listen multiaddr (with /p2p/) from the ready line
helia_addr() { jget "${HELIA_READY[$1]}" addrs.0; }
# helia_id NAME: peer id from the ready line
helia_id() { jget "${HELIA_READY[$1]}" peerId; }

# helia_stop NAME: polite stop (answer + exit), then SIGTERM if needed
helia_stop() {
  local name=$1 pid=${HELIA_PID[$1]:-}
  [[ -n $pid ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    printf '%s\n' '{"cmd":"stop"}' >&"${HELIA_IN[$name]}" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null || true
  local fdi=${HELIA_IN[$name]} fdo=${HELIA_OUT[$name]}
  exec {fdi}>&- {fdo}<&-
  unset "HELIA_PID[$name]"
}

helia_stop_all() {
  local name
  for name in "${!HELIA_PID[@]}"; do helia_stop "$name"; done
}
