#!/bin/sh
# Fills fuzz/corpus/<target>/ with seeds taken from tests/vectors/*.car:
# whole and cut-down CAR files, the dag-pb blocks inside them, their UnixFS
# Data messages, HAMT shards with their sub-shards, Bitswap messages carrying
# those blocks, journals and pack records. Idempotent; needs python3.
set -eu
cd "$(dirname "$0")"
exec python3 - "$@" <<'PY'
import glob, hashlib, json, os, struct

VEC = "../tests/vectors"
OUT = "corpus"

def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)

def read_varint(b, i):
    v = shift = 0
    while True:
        c = b[i]; i += 1
        v |= (c & 0x7F) << shift; shift += 7
        if c < 0x80:
            return v, i

def fields(b):
    """Top-level protobuf fields: (number, wire type, value)."""
    i, out = 0, []
    while i < len(b):
        key, i = read_varint(b, i)
        f, w = key >> 3, key & 7
        if w == 0:
            v, i = read_varint(b, i)
        elif w == 2:
            n, i = read_varint(b, i)
            v = b[i:i + n]; i += n
        else:
            raise ValueError("wire type")
        out.append((f, w, v))
    return out

def read_cid(b, i):
    if b[i] == 0x12 and b[i + 1] == 0x20:
        return b[i:i + 34], i + 34
    start = i
    _, i = read_varint(b, i)   # version
    codec, i = read_varint(b, i)
    _, i = read_varint(b, i)   # hash code
    n, i = read_varint(b, i)
    return b[start:i + n], i + n

def car_blocks(raw):
    hlen, i = read_varint(raw, 0)
    header = raw[:i + hlen]
    i += hlen
    blocks = []
    while i < len(raw):
        n, j = read_varint(raw, i)
        frame = raw[i:j + n]
        cid, k = read_cid(raw, j)
        blocks.append((cid, raw[k:j + n], frame))
        i = j + n
    return header, blocks

def is_dagpb(cid):
    return len(cid) == 34 or cid[1] == 0x70

def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

blocks = {}   # cid bytes -> block bytes
for path in sorted(glob.glob(os.path.join(VEC, "*.car"))):
    base = os.path.basename(path)[:-4]
    raw = open(path, "rb").read()
    header, bl = car_blocks(raw)
    if len(raw) < 8192:
        put("car", base, raw)
    # Header and the first few frames: small seeds libFuzzer mutates quickly.
    put("car", base + "-head3", header + b"".join(f for _, _, f in bl[:3]))
    put("car", base + "-header", header)
    for cid, data, _ in bl:
        blocks[cid] = data

pb = sorted((d for c, d in blocks.items() if is_dagpb(c)), key=len)
# A spread of sizes, smallest first.
picked = pb[:12] + pb[len(pb) // 2:len(pb) // 2 + 4] + pb[-2:]
for n, d in enumerate(picked):
    put("dagpb", "%02d" % n, d)
    for f, w, v in fields(d):
        if f == 1 and w == 2:
            put("unixfs_data", "%02d" % n, v)

# HAMT shards: [len(name)][name] then [u16 len][block] ..., root first,
# followed by every sub-shard below it that is in the vectors.
def links(d):
    out = []
    for f, w, v in fields(d):
        if f == 2:
            cid = name = None
            for lf, lw, lv in fields(v):
                if lf == 1: cid = bytes(lv)
                if lf == 2: name = bytes(lv)
            out.append((cid, name))
    return out

def unixfs_type(d):
    for f, w, v in fields(d):
        if f == 1 and w == 2:
            for uf, uw, uv in fields(v):
                if uf == 1 and uw == 0:
                    return uv
    return None

shards = [d for d in pb if unixfs_type(d) == 5]
def subtree(d):
    out = [d]
    for cid, name in links(d):
        if name is not None and len(name) == 2 and cid in blocks:
            out += subtree(blocks[cid])
    return out
roots = [d for d in shards if not any(
    any(c in blocks and blocks[c] == d for c, _ in links(p)) for p in shards)]
for n, root in enumerate(roots[:4] + shards[:2]):
    entries = [nm for _, nm in links(root) if nm and len(nm) > 2]
    name = entries[0][2:] if entries else b"missing"
    body = b""
    for b in subtree(root):   # keep seeds small: libFuzzer's max_len follows them
        if len(body) + len(b) < 16384:
            body += struct.pack("<H", len(b)) + b
    put("hamt", "%02d" % n, bytes([len(name)]) + name + body)

# Bitswap: a wantlist, presences, and 1.1.0 blocks (prefix + data).
def pbf(f, v):
    return varint(f << 3 | 2) + varint(len(v)) + v
def pbv(f, v):
    return varint(f << 3) + varint(v)
cids = list(blocks)[:4]
wl = b"".join(pbf(1, pbf(1, c) + pbv(2, 1) + pbv(4, 1) + pbv(5, 1)) for c in cids) + pbv(2, 1)
put("bitswap", "wants", pbf(1, wl))
put("bitswap", "cancel", pbf(1, pbf(1, pbf(1, cids[0]) + pbv(3, 1))))
put("bitswap", "presences", b"".join(pbf(4, pbf(1, c) + pbv(2, n % 2)) for n, c in enumerate(cids)))
for n, (c, d) in enumerate(list(blocks.items())[:3]):
    if len(d) > 4096:
        continue
    if len(c) == 34:
        pre = varint(0) + varint(0x70) + varint(0x12) + varint(32)
    else:
        v, i = read_varint(c, 0); codec, i = read_varint(c, i)
        pre = varint(1) + varint(codec) + varint(0x12) + varint(32)
    put("bitswap", "block%d" % n, pbf(3, pbf(1, pre) + pbf(2, d)))
    put("bitswap", "block10-%d" % n, pbf(2, d))

# Journal: header for generation 7 (what the target replays), then ops.
def fnv(s):
    h = 0xcbf29ce484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h
def jline(obj):
    s = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return "%016x %s\n" % (fnv(s), s)
ops = [
    {"op": "put", "path": "a/b", "cid": "bafkqaaa", "tsize": 3, "meta": [420, 1700000000, 5]},
    {"op": "mkdir", "path": "d"},
    {"op": "remove", "path": "a/b"},
    {"op": "rename", "from": "d", "to": "e\u00e9"},
    {"op": "meta", "path": "e", "mode": 493, "secs": -1, "nanos": 0},
]
journal = jline({"generation": 7}) + "".join(jline(o) for o in ops)
put("journal", "all-ops", journal.encode())
put("journal", "torn", (journal + "0123 {\"op\":").encode())
put("journal", "bodies", "\n".join(json.dumps(o) for o in ops).encode())

# Pack records: [0xB1][mh len][data len u32 LE][multihash][data].
def record(data):
    mh = bytes([0x12, 0x20]) + hashlib.sha256(data).digest()
    return bytes([0xB1, len(mh)]) + struct.pack("<I", len(data)) + mh + data
small = [d for d in pb[:3]]
put("pack", "one", record(b"hello"))
put("pack", "three", b"".join(record(d) for d in small))
put("pack", "torn", b"".join(record(d) for d in small)[:-3])
put("pack", "empty-record", record(b""))

# IPNS: the records made by the JS ipns package (V2-only, V1+V2).
for n, v in enumerate(json.load(open(os.path.join(VEC, "ipns-js.json")))):
    put("ipns", "js%d" % n, bytes.fromhex(v["record"]))

for t in sorted(os.listdir(OUT)):
    print(t, len(os.listdir(os.path.join(OUT, t))), "seeds")
PY
