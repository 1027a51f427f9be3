#!/usr/bin/env bash
# CID parity with a real Kubo (v0.22.0, integration/kubo) at its defaults:
# Kubo's AddFile (= `ipfs add --pin`, CIDv0, 256 KiB chunks, balanced DAG,
# 174 links per node, dag-pb leaves) must give the CID that
# `p2pfs add --cid-version=0` gives, and the one `p2pfs add --profile
# unixfs-v0-2015` gives (IPIP-499 names these defaults so), for
#  - files of 0 B, 1 B, 256 KiB, 256 KiB + 1, ~3 MiB, 174 chunks exactly (the
#    last one-level tree), 174 chunks + 1 B and 50 MiB (two-level trees);
#  - a directory tree: nested and empty directories, an empty file, a hidden
#    file (AddFile includes hidden files, so p2pfs gets -H), a symlink,
#    unicode and space in names, a multi-chunk file, and a directory of 6000
#    entries (past the 256 KiB estimate where Kubo makes a HAMT).
# The Kubo node runs in a network namespace of its own (it needs no peer).
# Needs: P2PFS_BIN, root, ip, nsenter, integration/kubo/setup.sh done.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
: "${P2PFS_BIN:?set P2PFS_BIN to the p2pfs binary}"
# shellcheck source-path=SCRIPTDIR source=../kubo/lib.sh
source "$here/kubo/lib.sh"
kubo_init kubo-cids
w=$KUBO_WORK
kubo_net_up k
kubo_start K k
export P2PFS_PATH="$w/p2pfs-repo"
"$P2PFS_BIN" init > /dev/null 2>&1

# same NAME PATH [p2pfs add flags]: Kubo's AddFile CID == p2pfs's. With
# HASH_ONLY=1 both only hash (Kubo's onlyHash, p2pfs add -n): the same
# importer, without writing the blocks (faster for the big files).
fails=0
same() {
    local name=$1 path=$2; shift 2
    local only=false n=()
    [ "${HASH_ONLY:-}" = 1 ] && { only=true; n=(-n); }
    kubo_cmd K "{\"cmd\":\"add\",\"path\":\"$path\",\"onlyHash\":$only}" 300 || kubo_fail "Kubo could not add $name: $KUBO_REPLY"
    local theirs ours how
    theirs=$(kjget "$KUBO_REPLY" cid)
    for how in --cid-version=0 --profile=unixfs-v0-2015; do
        ours=$("$P2PFS_BIN" add -Q --progress=false "$how" "${n[@]}" "$@" "$path") || kubo_fail "p2pfs add $how $name failed"
        if [ "$theirs" = "$ours" ]; then
            echo "ok: $name ($how): $ours"
        else
            echo "MISMATCH: $name: Kubo $theirs, p2pfs add $how $* gives $ours" >&2
            fails=$((fails + 1))
        fi
    done
}

chunk=262144
for spec in empty:0 one:1 chunk:$chunk chunk+1:$((chunk + 1)) 3MiB:$((3 * 1048576 + 12345)) \
    174chunks:$((174 * chunk)) 174chunks+1:$((174 * chunk + 1)) 50MiB:$((50 * 1048576)); do
    name=${spec%%:*} size=${spec#*:}
    head -c "$size" /dev/urandom > "$w/$name.bin"
    if [ "$size" -gt 4000000 ]; then
        HASH_ONLY=1 same "file $name ($size B, hashed only)" "$w/$name.bin"
    else
        same "file $name ($size B)" "$w/$name.bin"
    fi
    rm -f "$w/$name.bin"
done

# The directory tree.
t=$w/tree
mkdir -p "$t/sub/deeper" "$t/empty dir" "$t/big"
printf 'hello\n' > "$t/hello.txt"
: > "$t/empty.txt"
printf 'hidden\n' > "$t/.hidden"
printf 'ünïcødé\n' > "$t/sub/ünïcødé name.txt"
head -c 700000 /dev/urandom > "$t/sub/deeper/multi-chunk.bin"
ln -s ../hello.txt "$t/sub/link-to-hello"
for i in $(seq -w 0 5999); do printf '%s\n' "$i" > "$t/big/entry-$i.txt"; done
same "directory big/ (6000 entries: HAMT)" "$t/big" -r
same "directory sub/ (a symlink, unicode names)" "$t/sub" -r
same "the whole tree (hidden file, empty dir, empty file, symlink, HAMT)" "$t" -r -H

# The HAMT threshold's edge (IPIP-499's fixture shape): 4033 names of 31
# bytes + 34-byte CIDv0s are 262145 link bytes, a HAMT for everyone.
# 4096 names of 30 bytes are exactly 262144: Kubo 0.22 (boxo before
# 0.40 compared with >=) shards, unixfs-v0-2015 says > and keeps it flat.
# So Kubo 0.22 equals p2pfs with import.hamt_threshold = 262143 there.
mkdir "$t/over" "$t/at"
for i in $(seq 1 4033); do printf x > "$t/over/$(printf '%031d' "$i")"; done
for i in $(seq 1 4096); do printf x > "$t/at/$(printf '%030d' "$i")"; done
same "directory over/ (links-bytes 262145: HAMT)" "$t/over" -r
kubo_cmd K "{\"cmd\":\"add\",\"path\":\"$t/at\",\"onlyHash\":true}" 300 || kubo_fail "Kubo could not add at/: $KUBO_REPLY"
kubo_at=$(kjget "$KUBO_REPLY" cid)
flat=$("$P2PFS_BIN" add -Q -n -r --profile=unixfs-v0-2015 "$t/at")
"$P2PFS_BIN" config --json import.hamt_threshold 262143 2> /dev/null
ge=$("$P2PFS_BIN" add -Q -n -r --cid-version=0 "$t/at")
if [ "$kubo_at" = "$ge" ] && [ "$flat" != "$ge" ]; then
    echo "ok: directory at/ (links-bytes 262144): Kubo 0.22 shards (>=): $ge; unixfs-v0-2015 keeps it flat: $flat"
else
    echo "MISMATCH: directory at/: Kubo 0.22 $kubo_at, p2pfs threshold 262143 $ge, unixfs-v0-2015 $flat" >&2
    fails=$((fails + 1))
fi
[ "$fails" = 0 ] || kubo_fail "$fails CID(s) differ from Kubo's"
echo "PASS kubo-cids"
