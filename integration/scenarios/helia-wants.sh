#!/usr/bin/env bash
# p2pfs's Bitswap wants, CANCELs and fetch timeout, seen from a real Helia
# node (its Bitswap server's wantlist for our peer, `peerwants` in node.mjs).
# On 127.0.0.1:
#  - H: Helia (no DHT). B: a p2pfs mount (node + FUSE) whose config.toml has
#    network.fetch_timeout = "5s". B connects to H. Every CID below is of
#    random bytes hashed with `p2pfs add -n`, so no one has the block.
#  1. CANCEL when the reader goes away: `p2pfs cat CID` runs on B; H's
#     wantlist for B must show CID (B's wants reach Helia). The `p2pfs cat`
#     client is then killed, and H's wantlist for B must be empty within
#     CANCEL_WITHIN_MS (2 s) while B stays connected. A CANCEL that comes only
#     when the daemon's fetch times out (5 s after the cat started) fails.
#  2. Timeout, CLI: `p2pfs cat` of another such CID must exit non-zero with
#     an error that says it timed out, after 4.5-8 s (fetch_timeout 5 s: not
#     30 s, not a hang); then H's wantlist for B is empty again (CANCEL).
#  3. Timeout, mount: `cat B/net/ipfs/CID` must fail with "Input/output
#     error" after 4.5-8 s; then H's wantlist for B is empty again.
# Each check is strict; a failed one prints FAIL with timings and H's
# wantlist, the other parts still run, and the scenario ends with
# "FAIL helia-wants". Needs: P2PFS_BIN, node, `npm ci` done in
# integration/helia, FUSE (fusermount3). About 25 s.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${P2PFS_BIN:?set P2PFS_BIN to the p2pfs binary}
work=$(mktemp -d /tmp/p2pfs-wants.XXXXXX)
export HELIA_TMP="$work/helia"
mkdir -p "$HELIA_TMP" "$work/b"
source "$here/helia/lib.sh"
export P2PFS_PATH="$work/b/repo"
CANCEL_WITHIN_MS=2000     # kill (or end of a read) -> H's wantlist for B empty
TIMEOUT_MIN_MS=4500       # a read nobody can serve fails after fetch_timeout = 5 s ...
TIMEOUT_MAX_MS=8000       # ... not 30 s, not a hang
b_pid=''
readers=()
cleanup() {
    local p
    for p in "${readers[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    helia_stop_all || true
    if [ -n "$b_pid" ]; then kill "$b_pid" 2>/dev/null || true; wait "$b_pid" 2>/dev/null || true; fi
    mountpoint -q "$work/b/net" 2>/dev/null && fusermount3 -u -z "$work/b/net"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
t0=$SECONDS
fail() { # setup went wrong: stop here
    echo "FAIL: $*" >&2
    echo "--- B's log (last 20 lines):" >&2
    tail -n 20 "$work/b/log" >&2 || true
    exit 1
}
failed=()
bad() { # bad PART MESSAGE: a check failed; report it, carry on with the other parts
    echo "FAIL ($1): $2" >&2
    failed+=("$1")
}
now_ms() { date +%s%3N; }
secs() { printf '%d.%02d' $(($1 / 1000)) $((($1 % 1000) / 10)); }
# new_cid NAME: the CID of 1000 random bytes, hashed on B; nothing is stored
new_cid() {
    head -c 1000 /dev/urandom > "$work/$1.bin"
    "$bin" add -Q -n --progress=false "$work/$1.bin"
}
# h_wants: H's wantlist for B into $HELIA_REPLY ({"cids","wants","known"})
h_wants() {
    helia_cmd H "{\"cmd\":\"peerwants\",\"peer\":\"$b_id\"}" 10 || fail "helia peerwants: $HELIA_REPLY"
}
h_wants_has() { [[ $HELIA_REPLY == *"\"$1\""* ]]; }
h_wants_empty() { [[ $HELIA_REPLY == *'"cids":[]'* && $HELIA_REPLY == *'"known":true'* ]]; }
# wait_want CID DEADLINE_MS: polls until H's wantlist for B has CID; sets
# seen_ms (0 if not by the deadline)
wait_want() {
    seen_ms=0
    while :; do
        h_wants
        if h_wants_has "$1"; then seen_ms=$(now_ms); return 0; fi
        [ "$(now_ms)" -lt "$2" ] || return 1
        sleep 0.05
    done
}
# wait_empty DEADLINE_MS: polls until H's wantlist for B is empty (and H still
# has a ledger for B, i.e. it was not just forgotten on a disconnect); sets
# empty_ms (0 if not by the deadline)
wait_empty() {
    empty_ms=0
    while :; do
        h_wants
        if h_wants_empty; then empty_ms=$(now_ms); return 0; fi
        [ "$(now_ms)" -lt "$1" ] || return 1
        sleep 0.05
    done
}
h_has_peer_b() { helia_cmd H '{"cmd":"peers"}' 10 && [[ $HELIA_REPLY == *"$b_id"* ]]; }
# timed_read NAME CMD...: runs CMD in the background (stdout dropped, stderr
# to $work/NAME.err, 40 s guard against a hang); its exit code and duration
# in ms go to $work/NAME.res. Sets read_pid.
timed_read() {
    local name=$1; shift
    (
        s=$(now_ms)
        rc=0
        timeout 40 "$@" > /dev/null 2> "$work/$name.err" || rc=$?
        echo "$rc $(($(now_ms) - s))" > "$work/$name.res"
    ) &
    read_pid=$!
    readers+=("$read_pid")
}

# --- setup -------------------------------------------------------------------
"$bin" init > /dev/null
grep -q '^fetch_timeout = "30s"$' "$P2PFS_PATH/config.toml" || fail "config.toml from p2pfs init has no fetch_timeout = \"30s\" line"
sed -i 's/^fetch_timeout = "30s"$/fetch_timeout = "5s"/' "$P2PFS_PATH/config.toml"
grep -q '^fetch_timeout = "5s"$' "$P2PFS_PATH/config.toml" || fail "could not set fetch_timeout in config.toml"
"$bin" mount "$work/b/net" --listen /ip4/127.0.0.1/tcp/0 2> "$work/b/log" &
b_pid=$!
for _ in $(seq 200); do [ -S "$P2PFS_PATH/api.sock" ] && mountpoint -q "$work/b/net" && break; sleep 0.05; done
kill -0 "$b_pid" 2>/dev/null && [ -S "$P2PFS_PATH/api.sock" ] && mountpoint -q "$work/b/net" \
    || fail "p2pfs mount B did not start"
b_id=$("$bin" id | python3 -c "import json,sys; print(json.load(sys.stdin)['ID'])")
helia_start H --listen /ip4/127.0.0.1/tcp/0 --dht off
"$bin" swarm connect "$(helia_addr H)" > /dev/null || fail "B could not connect to H"
for _ in $(seq 50); do h_has_peer_b && break; sleep 0.1; done
h_has_peer_b || fail "H does not list B as a peer"
echo "ok: B (p2pfs mount, fetch_timeout 5s) connected to Helia H"

# --- 1. CANCEL when the `p2pfs cat` client is killed --------------------------
cid1=$(new_cid one)
h_wants
h_wants_has "$cid1" && fail "H's wantlist for B has $cid1 before anyone asked: $HELIA_REPLY"
"$bin" cat "$cid1" > /dev/null 2> "$work/cat1.err" &
cat_pid=$!
readers+=("$cat_pid")
start_ms=$(now_ms)
if ! wait_want "$cid1" $((start_ms + 4000)); then
    bad cancel "B's want for $cid1 did not reach H within 4 s of starting p2pfs cat (H's wantlist for B: $HELIA_REPLY; cat: $(cat "$work/cat1.err"))"
elif ! kill -0 "$cat_pid" 2>/dev/null; then
    bad cancel "p2pfs cat $cid1 ended before it was killed: $(cat "$work/cat1.err")"
else
    echo "ok: H sees B's want for $cid1 $(secs $((seen_ms - start_ms))) s after p2pfs cat started: $(jget "$HELIA_REPLY" wants.0)"
    kill "$cat_pid"
    wait "$cat_pid" 2>/dev/null || true
    kill_ms=$(now_ms)
    if wait_empty $((kill_ms + CANCEL_WITHIN_MS)); then
        if h_has_peer_b; then
            echo "ok: H's wantlist for B is empty $(secs $((empty_ms - kill_ms))) s after p2pfs cat was killed (CANCEL; B still connected)"
        else
            bad cancel "H's wantlist for B emptied after the kill, but B is no longer connected to H (a disconnect, not a CANCEL)"
        fi
    else
        still=$HELIA_REPLY
        # Keep watching (up to fetch_timeout + 5 s after the start) to tell
        # when, if ever, the want went away.
        if wait_empty $((start_ms + 10000)); then
            when="it went away only $(secs $((empty_ms - kill_ms))) s after the kill, $(secs $((empty_ms - start_ms))) s after p2pfs cat started (fetch_timeout is 5 s)"
        else
            when="it was still there $(secs $(($(now_ms) - start_ms))) s after p2pfs cat started: $HELIA_REPLY"
        fi
        bad cancel "H still wanted $cid1 from B $(secs $CANCEL_WITHIN_MS) s after p2pfs cat (the CLI client) was killed, $(secs $((kill_ms - start_ms))) s after it started: $still; $when. The daemon kept fetching for the gone client instead of dropping the read"
    fi
fi

# --- 2. A read nobody can serve, with the CLI ---------------------------------
# (wait for part 1's fetch to be over, so it cannot blur this one's CANCEL)
wait_empty $((start_ms + 10000)) || fail "H's wantlist for B did not empty after part 1: $HELIA_REPLY"
cid2=$(new_cid two)
timed_read cat2 "$bin" cat "$cid2"
wait_want "$cid2" $(($(now_ms) + 4000)) \
    || bad cli-timeout "B's want for $cid2 did not reach H during p2pfs cat (H's wantlist for B: $HELIA_REPLY)"
wait "$read_pid" || true
end_ms=$(now_ms)
read -r rc ms < "$work/cat2.res"
err=$(cat "$work/cat2.err")
if [ "$rc" = 124 ]; then
    bad cli-timeout "p2pfs cat $cid2 did not end within 40 s (a hang; fetch_timeout is 5 s)"
elif [ "$rc" = 0 ]; then
    bad cli-timeout "p2pfs cat $cid2 succeeded (exit 0) after $(secs "$ms") s, but no one has the block"
elif ! grep -qiE 'timed out|timeout' <<< "$err"; then
    bad cli-timeout "p2pfs cat $cid2 failed (exit $rc) after $(secs "$ms") s without saying it timed out: $err"
elif [ "$ms" -lt $TIMEOUT_MIN_MS ] || [ "$ms" -gt $TIMEOUT_MAX_MS ]; then
    bad cli-timeout "p2pfs cat $cid2 timed out after $(secs "$ms") s, expected $(secs $TIMEOUT_MIN_MS)-$(secs $TIMEOUT_MAX_MS) s (fetch_timeout 5 s): $err"
else
    echo "ok: p2pfs cat of a CID no one has failed after $(secs "$ms") s (exit $rc): $err"
fi
if wait_empty $((end_ms + CANCEL_WITHIN_MS)); then
    echo "ok: H's wantlist for B is empty $(secs $((empty_ms - end_ms))) s after that read ended (CANCEL)"
else
    bad cli-timeout "H still wants $cid2 from B $(secs $CANCEL_WITHIN_MS) s after p2pfs cat ended: $HELIA_REPLY"
fi

# --- 3. A read nobody can serve, through the mount ----------------------------
cid3=$(new_cid three)
timed_read cat3 cat "$work/b/net/ipfs/$cid3"
wait_want "$cid3" $(($(now_ms) + 4000)) \
    || bad mount-timeout "B's want for $cid3 did not reach H during cat B/net/ipfs/$cid3 (H's wantlist for B: $HELIA_REPLY)"
wait "$read_pid" || true
end_ms=$(now_ms)
read -r rc ms < "$work/cat3.res"
err=$(cat "$work/cat3.err")
if [ "$rc" = 124 ]; then
    bad mount-timeout "cat B/net/ipfs/$cid3 did not end within 40 s (a hang; fetch_timeout is 5 s)"
elif [ "$rc" = 0 ]; then
    bad mount-timeout "cat B/net/ipfs/$cid3 succeeded after $(secs "$ms") s, but no one has the block"
elif ! grep -q 'Input/output error' <<< "$err"; then
    bad mount-timeout "cat B/net/ipfs/$cid3 failed (exit $rc) after $(secs "$ms") s, but not with an I/O error: $err"
elif [ "$ms" -lt $TIMEOUT_MIN_MS ] || [ "$ms" -gt $TIMEOUT_MAX_MS ]; then
    bad mount-timeout "cat B/net/ipfs/$cid3 failed after $(secs "$ms") s, expected $(secs $TIMEOUT_MIN_MS)-$(secs $TIMEOUT_MAX_MS) s (fetch_timeout 5 s): $err"
else
    echo "ok: cat B/net/ipfs/<CID no one has> failed after $(secs "$ms") s (exit $rc): ${err##*: }"
fi
if wait_empty $((end_ms + CANCEL_WITHIN_MS)); then
    echo "ok: H's wantlist for B is empty $(secs $((empty_ms - end_ms))) s after that read ended (CANCEL)"
else
    bad mount-timeout "H still wants $cid3 from B $(secs $CANCEL_WITHIN_MS) s after cat B/net/ipfs/$cid3 ended: $HELIA_REPLY"
fi

echo "ok: took $((SECONDS - t0)) s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "--- B's log (last 20 lines):" >&2
    tail -n 20 "$work/b/log" >&2 || true
    echo "FAIL helia-wants (${failed[*]})"
    exit 1
fi
echo "PASS helia-wants"
