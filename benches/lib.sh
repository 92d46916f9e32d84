# Shared by the bench scripts in benches/ (sourced, not run).

# Finds wrk and nginx, or says how to install them and exits. Sets NGINX.
need_wrk_and_nginx() {
    local missing=()
    command -v wrk >/dev/null || missing+=(wrk)
    NGINX=$(command -v nginx || true)
    [ -z "$NGINX" ] && [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx
    [ -z "$NGINX" ] && missing+=(nginx-light)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "missing: ${missing[*]}. Install with: sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
}

# The reference: nginx answering `return 200` on 127.0.0.1:PORT (2 workers, no access
# log), its files under DIR. Sets NGINX_PID; waits until it answers (LOADGEN probes).
start_nginx() {
    local port=$1 dir=$2
    mkdir -p "$dir/logs"
    cat >"$dir/nginx.conf" <<CONF
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/logs/error.log error;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server {
        listen 127.0.0.1:$port;
        location / { return 200; }
    }
}
CONF
    "$NGINX" -p "$dir" -e "$dir/logs/error.log" -c "$dir/nginx.conf" -g 'daemon off;' &
    NGINX_PID=$!
    for _ in $(seq 1 50); do
        "$LOADGEN" probe "http://127.0.0.1:$port/" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
}

# wrk's latency figures (us, ms, s) in ms.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.2f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.2f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.2f", v * 1000 }
        else print "nan" }'
}

# The loadgen bench binary (release build), or exits saying how to see why.
build_loadgen() {
    LOADGEN=$(cargo bench --bench loadgen --no-run --message-format=json 2>/dev/null \
        | grep -o '"executable":"[^"]*loadgen[^"]*"' | tail -1 | cut -d'"' -f4)
    if [ -z "$LOADGEN" ] || [ ! -x "$LOADGEN" ]; then
        echo "build failed; see: cargo bench --bench loadgen --no-run" >&2
        exit 1
    fi
}

# Waits up to 30 s for `loadgen serve` to print READY into OUT; otherwise shows ERR and
# exits. WHAT names the server in the message.
await_ready() {
    local out=$1 err=$2 what=$3
    for _ in $(seq 1 300); do
        grep -q '^READY' "$out" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "$what did not start:" >&2
    cat "$err" >&2
    exit 1
}
