#!/usr/bin/env bash
# A well-behaved client's latency while slow clients hold the server, against the same
# client's latency without them, measured in one run on this machine (by hand, not CI):
#
#   baseline    benches/loadgen.rs `run` on the portal's /healthz: C keep-alive
#               connections for D seconds, then the same with `Connection: close` (a new
#               connection per request, so it has to get through accept)
#   heads       the same two while `loadgen slowloris` holds N connections that each sent
#               half a head and then a byte a second (from ADDRS source addresses
#               127.0.0.2..., so the per-address cap alone does not stop them and the
#               server must close the slowest partial requests to make room)
#   bodies      the same with full heads and bodies sent a byte a second
#   one address the slow heads again, all from 127.0.0.2 (the per-address cap's case)
#   readers     N connections that each pipeline 100 requests for /static/admin.js (8 MB
#               of answers, more than the kernel buffers) and then read 64 bytes a second
#               through a 4 KiB receive buffer: their writes fall behind the least write
#               rate, so they are closed to make room (and after 30 s in all)
#
# Prints p50 / p99 / worst per-connection latency for each, and the ratio of each
# figure under attack to the baseline (target: p99 within a few times the baseline and
# every connection answered; before the fix requests waited 9 to 30 s).
#
# usage: bash benches/slowloris.sh [-n SLOW_CONNS] [--addrs N] [-c CONNS] [-d SECONDS]
# (LOADGEN=path runs an already built loadgen instead of building the release one.)
set -euo pipefail

N=1100
ADDRS=50
CONNS=4
SECS=5
while [ $# -gt 0 ]; do
    case "$1" in
        -n) N=$2; shift 2 ;;
        --addrs) ADDRS=$2; shift 2 ;;
        -c) CONNS=$2; shift 2 ;;
        -d) SECS=$2; shift 2 ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

# Both the server and the slow clients hold over a thousand sockets.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((N + 512)) ]; then
    echo "ulimit -n is $(ulimit -n): too few file descriptors for $N slow connections" >&2
    exit 1
fi

. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
if [ -z "${LOADGEN:-}" ]; then
    echo "building (release)..." >&2
    build_loadgen
fi

TMP=$(mktemp -d)
SERVE_PID=""
SLOW_PID=""
cleanup() {
    exec 3>&- 2>/dev/null || true
    [ -n "$SLOW_PID" ] && kill "$SLOW_PID" 2>/dev/null || true
    [ -n "$SERVE_PID" ] && { sleep 0.3; kill "$SERVE_PID" 2>/dev/null || true; }
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

# The portal (default limits) runs until its stdin (fd 3 here) closes.
exec 3> >(exec "$LOADGEN" serve >"$TMP/serve.out" 2>"$TMP/serve.err")
SERVE_PID=$!
await_ready "$TMP/serve.out" "$TMP/serve.err" "the bench server"
PORTAL=$(awk '/^PORTAL/ {print $2}' "$TMP/serve.out")

# One measurement: prints "p50 p99 worst zero".
measure() {
    local label=$1
    shift
    "$LOADGEN" run "$PORTAL/healthz" -c "$CONNS" -d "$SECS" --label "$label" "$@" >"$TMP/$label.out"
    awk '/^RESULT/ {
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        print v["p50_ms"], v["p99_ms"], v["worst_ms"], v["zero"], v["rps"] }' "$TMP/$label.out"
}

# Runs both measurements while `loadgen slowloris` holds N connections on PATH (extra
# args to it).
under_attack() {
    local name=$1 path=$2
    shift 2
    "$LOADGEN" slowloris "$PORTAL$path" -n "$N" --addrs "$ADDRS" -d $((2 * SECS + 12)) "$@" \
        >"$TMP/slow-$name.out" &
    SLOW_PID=$!
    # Time to open them all and fill the server.
    sleep 8
    HELD=$(awk '/^HELD/ {h = $2} END {print h + 0}' "$TMP/slow-$name.out")
    KA=$(measure "$name-keepalive")
    NEW=$(measure "$name-new" -H "Connection: close")
    CLOSED=$(awk '/^HELD/ {c = $3} END {sub("closed_by_server=", "", c); print c + 0}' "$TMP/slow-$name.out")
    wait "$SLOW_PID" 2>/dev/null || true
    SLOW_PID=""
    # Let the server drop what is left before the next round.
    sleep 6
}

BASE_KA=$(measure base-keepalive)
BASE_NEW=$(measure base-new -H "Connection: close")
under_attack heads /
HEADS_KA=$KA HEADS_NEW=$NEW HEADS_HELD=$HELD HEADS_CLOSED=$CLOSED
under_attack bodies / --body
BODIES_KA=$KA BODIES_NEW=$NEW BODIES_HELD=$HELD BODIES_CLOSED=$CLOSED
under_attack one-address / --addrs 1
ONE_KA=$KA ONE_NEW=$NEW ONE_HELD=$HELD ONE_CLOSED=$CLOSED
under_attack readers /static/admin.js --read
READ_KA=$KA READ_NEW=$NEW READ_HELD=$HELD READ_CLOSED=$CLOSED

row() {
    # label, figures under attack, baseline figures
    awk -v label="$1" -v a="$2" -v b="$3" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        printf "| %s | %.2f (x%.1f) | %.2f (x%.1f) | %.1f (x%.1f) | %d |\n", label,
            x[1], (y[1] > 0 ? x[1] / y[1] : 0), x[2], (y[2] > 0 ? x[2] / y[2] : 0),
            x[3], (y[3] > 0 ? x[3] / y[3] : 0), x[4] }'
}

echo
echo "A well-behaved client ($CONNS connections, $SECS s each) on /healthz; ratios against"
echo "the baseline of the same run. Slow clients: $N from $ADDRS addresses."
echo
echo "| run | p50 ms | p99 ms | worst ms | connections unanswered |"
echo "| --- | --- | --- | --- | --- |"
row "baseline, keep-alive" "$BASE_KA" "$BASE_KA"
row "baseline, new connection each" "$BASE_NEW" "$BASE_NEW"
row "slow heads ($HEADS_HELD held, $HEADS_CLOSED closed by the server), keep-alive" "$HEADS_KA" "$BASE_KA"
row "slow heads, new connection each" "$HEADS_NEW" "$BASE_NEW"
row "slow bodies ($BODIES_HELD held, $BODIES_CLOSED closed by the server), keep-alive" "$BODIES_KA" "$BASE_KA"
row "slow bodies, new connection each" "$BODIES_NEW" "$BASE_NEW"
row "slow heads from one address ($ONE_HELD held, $ONE_CLOSED closed), keep-alive" "$ONE_KA" "$BASE_KA"
row "slow heads from one address, new connection each" "$ONE_NEW" "$BASE_NEW"
# (A reader closed by the server sees the close only once it has read what the kernel
# still holds for it, at 64 bytes a second: its count of closes stays near 0.)
row "slow readers ($READ_HELD held as the clients see it), keep-alive" "$READ_KA" "$BASE_KA"
row "slow readers, new connection each" "$READ_NEW" "$BASE_NEW"
