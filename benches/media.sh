# Shared by the media load scripts (compare.sh, soak.sh; sourced, not run): an origin nginx that
# serves Plex-shaped part paths with sendfile and answers `/` like a Plex server's identity,
# plexgate's demo pointed at it (the facade URL from its banner), /proc samplers, and a cleanup
# that stops everything started here whatever happens. Loopback only.

# shellcheck source=benches/common.sh
source benches/common.sh # WORK, free_port
chmod 755 "$WORK" # nginx workers run as another user when started by root
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for f in "$WORK"/nginx-*.pid; do [[ -f $f ]] && kill "$(cat "$f")" 2>/dev/null; done
    sleep 0.2
    rm -rf "$WORK"
}
trap cleanup EXIT

wait_http() { # url what
    for _ in $(seq 200); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return
        sleep 0.05
    done
    echo "$(basename "$0"): $2 did not answer $1" >&2
    exit 1
}

# media_file PATH MIB [sparse]: a file under the origin's root (random bytes, or a sparse file).
media_file() {
    local f="$WORK/root$1"
    mkdir -p "$(dirname "$f")"
    if [[ ${3:-} == sparse ]]; then truncate -s "$(($2 * 1048576))" "$f"; else head -c $(($2 * 1048576)) /dev/urandom >"$f"; fi
    chmod -R a+rX "$WORK/root"
}

# nginx_conf NAME: how every bench nginx config starts (one worker; pid, error log and temp
# paths under $WORK; no access log), up to inside the `http` block the caller goes on with.
nginx_conf() {
    cat <<EOF
worker_processes 1;
pid $WORK/nginx-$1.pid;
error_log $WORK/$1-error.log;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $WORK/$1-b; proxy_temp_path $WORK/$1-p; fastcgi_temp_path $WORK/$1-f;
    uwsgi_temp_path $WORK/$1-u; scgi_temp_path $WORK/$1-s;
EOF
}

# start_origin: nginx serving $WORK/root; sets P_ORIGIN.
start_origin() {
    P_ORIGIN=$(free_port)
    nginx_conf origin >"$WORK/origin.conf"
    cat >>"$WORK/origin.conf" <<EOF
    sendfile on; tcp_nopush on;
    server {
        listen 127.0.0.1:$P_ORIGIN;
        root $WORK/root;
        default_type video/mp4;
        location = / {
            default_type application/json;
            return 200 '{"MediaContainer":{"friendlyName":"bench origin","machineIdentifier":"benchorigin0001","version":"1.40.0"}}';
        }
    }
}
EOF
    nginx -c "$WORK/origin.conf" -p "$WORK"
    wait_http "http://127.0.0.1:$P_ORIGIN/" "origin nginx"
}

# start_proxy_nginx: the nginx peer, a reverse proxy to the origin with 64 KiB proxy buffers and
# keep-alive upstream connections; sets P_NGINX. Its worker is `pgrep -P "$(cat
# "$WORK/nginx-proxy.pid")"`.
start_proxy_nginx() {
    P_NGINX=$(free_port)
    nginx_conf proxy >"$WORK/proxy.conf"
    cat >>"$WORK/proxy.conf" <<EOF
    upstream origin { server 127.0.0.1:$P_ORIGIN; keepalive 128; }
    server {
        listen 127.0.0.1:$P_NGINX;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffer_size 64k;
            proxy_buffers 8 64k;
            proxy_busy_buffers_size 128k;
        }
    }
}
EOF
    nginx -c "$WORK/proxy.conf" -p "$WORK"
}

# start_plexgate [ARGS…]: `$BIN demo` against the origin; sets P_PG, PID_PG and FACADE (the
# facade base URL from the banner, no trailing slash). ARGS go before `demo`.
start_plexgate() {
    P_PG=$(free_port)
    "$BIN" --listen "127.0.0.1:$P_PG" --log-level warn "$@" demo \
        --plex-url "http://127.0.0.1:$P_ORIGIN" --plex-token benchtokenvalue0001 >"$WORK/plexgate-$P_PG.log" 2>&1 &
    PIDS+=($!)
    PID_PG=$!
    FACADE=
    for _ in $(seq 200); do
        FACADE=$(grep -oE 'http://127\.0\.0\.1:[0-9]+/api/plex/proxy/[^ ]+' "$WORK/plexgate-$P_PG.log" | head -1 || true)
        [[ -n $FACADE ]] && break
        kill -0 "$PID_PG" 2>/dev/null || { cat "$WORK/plexgate-$P_PG.log" >&2; echo "$(basename "$0"): plexgate exited" >&2; exit 1; }
        sleep 0.05
    done
    [[ -n $FACADE ]] || { cat "$WORK/plexgate-$P_PG.log" >&2; echo "$(basename "$0"): no facade URL in the demo banner" >&2; exit 1; }
    FACADE=${FACADE%/}
}

# start_plexgate_pair: plexgate twice, copying every body (`stream.zero_copy = false`; sets
# FACADE_COPY, PID_COPY), then splicing (the default; sets FACADE, PID_PG as start_plexgate).
start_plexgate_pair() {
    PLEXGATE_STREAM_ZERO_COPY=false start_plexgate
    FACADE_COPY=$FACADE
    PID_COPY=$PID_PG
    start_plexgate
}

# base_of TARGET: the base URL of direct, nginx, caddy (P_CADDY, when the caller started it),
# plexgate or pg-copy.
base_of() {
    case $1 in
        direct) echo "http://127.0.0.1:$P_ORIGIN" ;;
        nginx) echo "http://127.0.0.1:$P_NGINX" ;;
        caddy) echo "http://127.0.0.1:$P_CADDY" ;;
        plexgate) echo "$FACADE" ;;
        pg-copy) echo "$FACADE_COPY" ;;
        *) echo "$(basename "$0"): unknown target $1" >&2; exit 1 ;;
    esac
}

# pids_of TARGET: the processes whose CPU and memory a target costs (the proxy only; the
# origin is shared, so direct has none).
pids_of() {
    case $1 in
        direct) echo "" ;;
        nginx) pgrep -P "$(cat "$WORK/nginx-proxy.pid")" | tr '\n' ' ' ;;
        caddy) echo "$PID_CADDY" ;;
        plexgate) echo "$PID_PG" ;;
        pg-copy) echo "$PID_COPY" ;;
    esac
}

# warm_up PATH TARGET…: a 2 s (WARMUP) burst of 64 connections on PATH through each target.
# nginx's worker gives its proxy buffers back to the kernel after each request until a burst
# has grown its heap (~60 page faults per 2 MiB request at c=1 before, none after). The burst
# does not pin that state: glibc may trim the heap again later (peak RSS shows which it was).
warm_up() {
    local path=$1 t
    shift
    for t in "$@"; do
        wrk -t2 -c64 -d"${WARMUP:-2s}" "$(base_of "$t")$path" >/dev/null
    done
}

# serve_part MIB: a part of MIB MiB behind the origin, the nginx peer and plexgate, both
# proxies answering it and warmed up (the set-up of ttfb_path.sh and ttfb_sched.sh); sets PART.
serve_part() {
    PART=/library/parts/$1/1/file.mp4
    media_file "$PART" "$1"
    start_origin
    start_proxy_nginx
    start_plexgate
    wait_http "$(base_of plexgate)$PART" plexgate
    wait_http "$(base_of nginx)$PART" nginx
    warm_up "$PART" plexgate nginx
}

cpu_ticks() { # pids… → utime+stime
    local t=0 p
    for p in "$@"; do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo "$t"
}
user_ticks() { # pid → utime alone: the process's own code, not the kernel's work for it
    awk '{print $14}' "/proc/$1/stat"
}
# reset_peak_rss pids…: the kernel's peak-RSS mark (VmHWM) restarts from the current RSS
# (`clear_refs` 5, Linux ≥ 4.0; the processes are ours, so no privilege is needed).
reset_peak_rss() {
    local p
    for p in "$@"; do echo 5 >"/proc/$p/clear_refs"; done
}
peak_rss_kib() { # pids… → summed VmHWM: each one's exact peak since reset_peak_rss
    local t=0 p
    for p in "$@"; do
        t=$((t + $(awk '/^VmHWM/ {print $2}' "/proc/$p/status")))
    done
    echo "$t"
}
rss_kib() { # pids… → summed VmRSS
    local t=0 p
    for p in "$@"; do
        t=$((t + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status")))
    done
    echo "$t"
}
