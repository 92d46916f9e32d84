#!/usr/bin/env bash
# The figures of issue #20 (a big community on a small NAS), in one run: databases of
# 100, 10,000 and 100,000 users (each with a Jellyfin identity, a sealed token and a live
# session) and a million audit events each, made through the library's own functions
# (`cargo bench --bench scale -- populate`), and per size:
#
#   forward-auth     wrk on /auth/verify with a valid session, and its ratio to nginx
#                    `return 200` measured right after it
#   cold start       spawn -> /readyz 200 on the populated data dir (best of 3)
#   backup, restore  `authportal backup create` / `authportal restore FILE` (server
#                    stopped): seconds and peak RSS (GNU time), and the peak above the
#                    server's idle RSS on the same data
#   re-validation    the selection of accounts to ask (ms), and the requests a second a
#                    pass sends to a stand-in Jellyfin without an API key
#   admin lists      /admin/users and /api/admin/events?user=NAME (median of 31, ms)
#
# Targets, as the largest size's figure over the smallest's, in the same run:
# forward-auth (as its ratio to nginx) >= 0.9, cold start <= 3, users page and filtered events <= 3; backup and
# restore peak RSS < 64 MB above idle at every size; the selection < 1 s at 100,000.
#
# usage: bash benches/scale.sh [-s "100 10000 100000"] [-e EVENTS] [-d SECONDS]
#   (BIN=path/to/authportal to use another build; the default is a release build)
# Needs wrk, nginx, curl and GNU time: apt-get install -y wrk nginx-light curl time
set -euo pipefail

SIZES="100 10000 100000"
EVENTS=1000000
SECS=5
while [ $# -gt 0 ]; do
    case "$1" in
        -s) SIZES=$2; shift 2 ;;
        -e) EVENTS=$2; shift 2 ;;
        -d) SECS=$2; shift 2 ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

. "$(dirname "$0")/lib.sh"
need_wrk_and_nginx
for tool in curl /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "missing: $tool (apt-get install -y curl time)" >&2; exit 1; }
done

cd "$(dirname "$0")/.."
if [ -z "${BIN:-}" ]; then
    echo "building the release binary and the bench tools..." >&2
    cargo build --release --quiet
    BIN=target/release/authportal
fi
build_loadgen
SCALE=$(cargo bench --bench scale --no-run --message-format=json 2>/dev/null \
    | grep -o '"executable":"[^"]*/deps/scale-[^"]*"' | tail -1 | cut -d'"' -f4)
[ -x "$SCALE" ] || { echo "build failed; see: cargo bench --bench scale --no-run" >&2; exit 1; }

TMP=$(mktemp -d)
PORTAL_PID=""
NGINX_PID=""
cleanup() {
    [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null || true
    [ -n "$PORTAL_PID" ] && kill "$PORTAL_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
NGINX_PORT=$(free_port)
start_nginx "$NGINX_PORT" "$TMP/nginx"

export LOG_LEVEL=error
export MEDIA_SERVER=jellyfin

rps() { # URL [wrk args]: requests a second over SECS with 64 connections
    local url=$1; shift
    wrk -t2 -c64 -d"${SECS}s" "$@" "$url" | awk '/^Requests\/sec:/ {printf "%.0f", $2}'
}
median_ms() { # URL COOKIE: median of 31 requests after 10 to warm up, ms
    local url=$1 cookie=$2 i
    for i in $(seq 1 10); do curl -s -o /dev/null -H "Cookie: $cookie" "$url"; done
    for i in $(seq 1 31); do
        curl -s -o /dev/null -H "Cookie: $cookie" -w '%{time_total}\n' "$url"
    done | sort -n | awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR + 1) / 2)] * 1000 }'
}
timed() { # COMMAND...: "seconds peak_kb" of the command (GNU time), its output to $TMP/out
    /usr/bin/time -f '%e %M' -o "$TMP/time" "$@" >"$TMP/out" 2>"$TMP/err" \
        || { cat "$TMP/err" >&2; exit 1; }
    cat "$TMP/time"
}

declare -A FA NG FA_R START BK_S BK_MB RS_S RS_MB IDLE SEL RATE USERS_MS EVENTS_MS DB_MB
for size in $SIZES; do
    echo "== $size users, $EVENTS events"
    PORT=$(free_port)
    STUB_PORT=$(free_port)
    export AUTHPORTAL_DATA_DIR="$TMP/data-$size"
    export LISTEN_ADDR="127.0.0.1:$PORT"
    export APP_BASE_URL="http://127.0.0.1:$PORT"
    export JELLYFIN_SERVER_URL="http://127.0.0.1:$STUB_PORT"
    POP=$("$SCALE" populate "$size" "$EVENTS")
    ADMIN=$(sed -n 's/^admin_cookie=//p' <<<"$POP")
    USER=$(sed -n 's/^user_cookie=//p' <<<"$POP")
    WHO=$(sed -n 's/^filter_user=//p' <<<"$POP")
    DB_MB[$size]=$(du -m "$AUTHPORTAL_DATA_DIR/authportal.db" | cut -f1)

    best=""
    for _ in 1 2 3; do
        ms=$("$LOADGEN" start-time "$BIN")
        best=$(awk -v a="$ms" -v b="${best:-$ms}" 'BEGIN { print (a < b) ? a : b }')
    done
    START[$size]=$best

    "$BIN" serve &
    PORTAL_PID=$!
    for _ in $(seq 1 400); do
        "$LOADGEN" probe "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
        sleep 0.05
    done
    sleep 1
    IDLE[$size]=$(awk '$1 == "VmRSS:" {printf "%.1f", $2 / 1024}' "/proc/$PORTAL_PID/status")
    FA[$size]=$(rps "http://127.0.0.1:$PORT/auth/verify" -H "Cookie: $USER" \
        -H "X-Forwarded-Method: GET" -H "X-Forwarded-Proto: https" \
        -H "X-Forwarded-Host: app.example" -H "X-Forwarded-Uri: /")
    NG[$size]=$(rps "http://127.0.0.1:$NGINX_PORT/")
    FA_R[$size]=$(awk -v a="${FA[$size]}" -v b="${NG[$size]}" 'BEGIN { printf "%.2f", a / b }')
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $ADMIN" "http://127.0.0.1:$PORT/admin/users")
    [ "$code" = 200 ] || { echo "/admin/users answered $code" >&2; exit 1; }
    USERS_MS[$size]=$(median_ms "http://127.0.0.1:$PORT/admin/users" "$ADMIN")
    EVENTS_MS[$size]=$(median_ms "http://127.0.0.1:$PORT/api/admin/events?user=$WHO&limit=50" "$ADMIN")
    kill -TERM "$PORTAL_PID"; wait "$PORTAL_PID" 2>/dev/null || true; PORTAL_PID=""

    SEL[$size]=$("$SCALE" select | sed -n 's/^select_ms=\([0-9.]*\).*/\1/p')
    RATE[$size]=$("$SCALE" revalidate-rate "$STUB_PORT" 3 | sed -n 's/^requests_per_second=//p')

    read -r s kb < <(timed "$BIN" backup create)
    FILE=$(tail -1 "$TMP/out")
    BK_S[$size]=$s; BK_MB[$size]=$(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }')
    read -r s kb < <(timed "$BIN" restore "$FILE")
    RS_S[$size]=$s; RS_MB[$size]=$(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }')
    echo "  db ${DB_MB[$size]} MB (backup $(du -m "$FILE" | cut -f1) MB); forward-auth ${FA[$size]} req/s (nginx ${NG[$size]}); start ${START[$size]} ms"
    echo "  backup ${BK_S[$size]} s, ${BK_MB[$size]} MB peak; restore ${RS_S[$size]} s, ${RS_MB[$size]} MB peak; idle ${IDLE[$size]} MB"
    echo "  selection ${SEL[$size]} ms; ${RATE[$size]} requests/s to Jellyfin; users page ${USERS_MS[$size]} ms; events by user ${EVENTS_MS[$size]} ms"
    rm -rf "$AUTHPORTAL_DATA_DIR"
done

SMALL=$(awk '{print $1}' <<<"$SIZES")
BIG=$(awk '{print $NF}' <<<"$SIZES")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
check() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = (op == ">=") ? v >= t : v < t; print ok ? "ok" : "MISSED" }'; }

echo
echo "== summary ($("$BIN" version); $(nproc) CPUs; $EVENTS events per size)"
printf '%-28s' "figure"; for size in $SIZES; do printf '%-18s' "$size users"; done; echo
line() { local name=$1; shift; printf '%-28s' "$name"; for v in "$@"; do printf '%-18s' "$v"; done; echo; }
col() { local -n arr=$1; local out=(); for size in $SIZES; do out+=("${arr[$size]}$2"); done; line "$3" "${out[@]}"; }
col DB_MB " MB" "database"
col FA " req/s" "forward-auth"
col FA_R "" "  / nginx return 200"
col START " ms" "cold start"
col BK_S " s" "backup"
col BK_MB " MB" "  peak RSS"
col RS_S " s" "restore"
col RS_MB " MB" "  peak RSS"
col IDLE " MB" "idle RSS (server)"
col SEL " ms" "re-validation selection"
col RATE " /s" "  requests to Jellyfin"
col USERS_MS " ms" "users page"
col EVENTS_MS " ms" "events filtered by user"

echo
echo "targets ($BIG users over $SMALL users, same run):"
row() { printf '  %-40s %-10s %-8s %s\n' "$1" "$2" "$3" "$4"; }
# Forward-auth as its ratio to nginx measured right after it: a shared machine's load
# changes between sizes, and nginx shows by how much (the raw ratio is printed too).
r=$(ratio "${FA_R[$BIG]}" "${FA_R[$SMALL]}")
row "forward-auth (/ nginx)" "$r" ">= 0.9" "$(check "$r" 0.9 '>=') (raw req/s: $(ratio "${FA[$BIG]}" "${FA[$SMALL]}"))"
r=$(ratio "${START[$BIG]}" "${START[$SMALL]}"); row "cold start" "$r" "<= 3" "$(check "$r" 3.0001 '<')"
r=$(ratio "${USERS_MS[$BIG]}" "${USERS_MS[$SMALL]}"); row "users page" "$r" "<= 3" "$(check "$r" 3.0001 '<')"
r=$(ratio "${EVENTS_MS[$BIG]}" "${EVENTS_MS[$SMALL]}"); row "filtered events" "$r" "<= 3" "$(check "$r" 3.0001 '<')"
for size in $SIZES; do
    b=$(awk -v p="${BK_MB[$size]}" -v i="${IDLE[$size]}" 'BEGIN { printf "%.1f", p - i }')
    r=$(awk -v p="${RS_MB[$size]}" -v i="${IDLE[$size]}" 'BEGIN { printf "%.1f", p - i }')
    row "backup / restore peak above idle, $size" "$b / $r MB" "< 64 MB" "$(check "$(awk -v a="$b" -v b="$r" 'BEGIN { print (a > b) ? a : b }')" 64 '<')"
done
row "re-validation selection, $BIG users" "${SEL[$BIG]} ms" "< 1000" "$(check "${SEL[$BIG]}" 1000 '<')"
