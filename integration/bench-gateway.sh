#!/usr/bin/env bash
# Benchmark: reading one file (default 1 GiB) through the HTTP gateway with
# curl vs `p2pfs cat` through the same daemon (control socket), warm page
# cache, best of 3 each, in one run; prints both rates and the ratio.
# Asserts only that both give the file's bytes.
#   integration/bench-gateway.sh [SIZE_MIB]
#   P2PFS_BIN=path (default: build target/release/p2pfs)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
[ -n "${P2PFS_BIN:-}" ] || cargo build --release --quiet
bin="${P2PFS_BIN:-$PWD/target/release/p2pfs}"
command -v curl > /dev/null || { echo "needs curl (apt-get install -y curl)" >&2; exit 1; }
work=$(mktemp -d /var/tmp/p2pfs-bench-gw.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2> /dev/null && wait "$pid" 2> /dev/null; rm -rf "$work"; }
trap cleanup EXIT

export P2PFS_PATH="$work/repo"
"$bin" init > /dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -i "s|listen = \[\"127.0.0.1:8080\"\]|listen = [\"127.0.0.1:$port\"]|" "$P2PFS_PATH/config.toml"
head -c "$((size_mib << 20))" /dev/urandom > "$work/input"
cid=$("$bin" add -Q --progress=false "$work/input")
want=$(sha256sum < "$work/input")
rm "$work/input"
"$bin" daemon --listen /ip4/127.0.0.1/tcp/0 2> "$work/daemon.log" &
pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
url="http://127.0.0.1:$port/ipfs/$cid"

[ "$(curl -s "$url" | sha256sum)" = "$want" ] || { echo "gateway bytes differ!" >&2; exit 1; }
[ "$("$bin" cat "$cid" | sha256sum)" = "$want" ] || { echo "cat bytes differ!" >&2; exit 1; }

t() {
    python3 - "$@" <<'PY'
import subprocess, sys, time
s = time.monotonic()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
print(time.monotonic() - s)
PY
}
best() { local a b c; a=$(t "$@"); b=$(t "$@"); c=$(t "$@"); python3 -c "print(min($a, $b, $c))"; }
gw=$(best curl -s -o /dev/null "$url")
cat_=$(best "$bin" cat "$cid")
python3 - "$size_mib" "$gw" "$cat_" <<'PY'
import sys
mib, gw, cat = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print(f"file: {mib} MiB, local to the daemon, page cache warm; best of 3")
print(f"curl via gateway   {gw:7.3f} s  {mib / gw:8.0f} MiB/s")
print(f"p2pfs cat (daemon) {cat:7.3f} s  {mib / cat:8.0f} MiB/s")
print(f"gateway/cat time ratio = {gw / cat:.2f}x")
PY
