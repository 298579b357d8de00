#!/usr/bin/env bash
# What one request costs a proxy, with the body taken out: a one-byte Range of a part
# (`Range: bytes=0-0`, a 206 carrying one byte) fetched over one keep-alive connection, straight
# from the origin, through nginx (64 KiB buffers) and through plexgate's facade (ticket checks
# included). For each target, in rounds, per request:
#
#   µs/req    wall time, from wrk's count (a one-connection client waits for every answer, so
#             this is the latency the proxy adds in front of every part, segment and TTFB)
#   CPU µs    the proxy's CPU per request (perf stat task-clock, user + kernel)
#   user µs   the part of it spent in the proxy's own code, not in the kernel (utime from
#             /proc, 10 ms ticks: ~1 µs resolution over a few seconds of requests)
#   sys, cs   its system calls and context switches per request
#
# Why: in compare.sh the one-connection cells and TTFB differ between plexgate and nginx by
# less than a run's noise, but what makes them differ is this fixed part, and it is measured
# here to a microsecond. A change to the request path (routing, ticket checks, the upstream
# request, the response head) shows up in this table first.
#
# Usage: bash benches/fixed_cost.sh                 (≈ 1 min)
#        ROUNDS=5 DURATION=5s BIN=target/release/plexgate bash benches/fixed_cost.sh
#        BIN_B=/tmp/plexgate-other ROUNDS=10 bash benches/fixed_cost.sh
#            (a second build as target `plexgate-b`, the two taking turns to go first, and a
#            last table of B against A round by round: a change to the request path is judged
#            by this, since which of two instances runs first moved CPU by ~3 µs here)
#        FRESH=1 bash benches/fixed_cost.sh
#            (a new connection for every request, `Connection: close`: what a TTFB fetch, a
#            player that does not reuse connections, or a front proxy without upstream
#            keep-alive (nginx's default) costs, accept and teardown included)
# Needs nginx, wrk, perf, curl: refuses to run, naming each missing one. Loopback only. Run it as
# root: perf attaches to other processes and counts a tracepoint (the system calls).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3s}

# shellcheck source=benches/tools.sh
source benches/tools.sh
need_tools nginx wrk perf curl ${BIN_B:+python3}
release_bin

# shellcheck source=benches/media.sh
source benches/media.sh # WORK, free_port, PIDS, media_file, start_origin, start_proxy_nginx, start_plexgate, user_ticks
part=/library/parts/2/1/file.mp4
media_file "$part" 2
start_origin
start_proxy_nginx
start_plexgate
TARGETS=(direct nginx plexgate)
if [[ -n ${BIN_B:-} ]]; then
    FACADE_A=$FACADE PID_A=$PID_PG
    BIN=$BIN_B start_plexgate
    FACADE_B=$FACADE PID_B=$PID_PG FACADE=$FACADE_A PID_PG=$PID_A
    TARGETS+=(plexgate-b)
fi
wait_http "http://127.0.0.1:$P_NGINX$part" "the nginx proxy"

url_of() {
    case $1 in
        direct) echo "http://127.0.0.1:$P_ORIGIN$part" ;;
        nginx) echo "http://127.0.0.1:$P_NGINX$part" ;;
        plexgate) echo "$FACADE$part" ;;
        plexgate-b) echo "$FACADE_B$part" ;;
    esac
}
pid_of() { # the process that does the work: the origin's or the proxy's nginx worker, plexgate
    case $1 in
        direct) pgrep -P "$(cat "$WORK/nginx-origin.pid")" | head -1 ;;
        nginx) pgrep -P "$(cat "$WORK/nginx-proxy.pid")" | head -1 ;;
        plexgate) echo "$PID_PG" ;;
        plexgate-b) echo "$PID_B" ;;
    esac
}
[[ $(curl -fsS -H 'Range: bytes=0-0' "$(url_of plexgate)" | wc -c) -eq 1 ]] || {
    echo "fixed_cost.sh: plexgate did not answer a one-byte range" >&2
    exit 1
}

secs=${DURATION%s}
conn=() # wrk keeps its connection alive unless told otherwise
how="over one keep-alive connection"
if [[ ${FRESH:-0} == 1 ]]; then conn=(-H 'Connection: close') how="on a new connection each"; fi
echo "one-byte ranges $how, $ROUNDS rounds of $DURATION per target"
echo "| round | target | µs/req | CPU µs/req | user µs/req | sys/req | cs/req |"
echo "|---:|---|---:|---:|---:|---:|---:|"
hz=$(getconf CLK_TCK)
declare -A US CPU USR
for round in $(seq "$ROUNDS"); do
    order=("${TARGETS[@]}")
    if ((round % 2 == 0)) && [[ -n ${BIN_B:-} ]]; then order=(direct nginx plexgate-b plexgate); fi
    for t in "${order[@]}"; do
        pid=$(pid_of "$t")
        perf stat -x, -e task-clock,context-switches,raw_syscalls:sys_enter -p "$pid" \
            -- sleep "$secs" 2>"$WORK/stat" &
        stat=$!
        utime=$(user_ticks "$pid")
        n=$(wrk -t1 -c1 -d"$DURATION" "${conn[@]}" -H 'Range: bytes=0-0' "$(url_of "$t")" | awk '/requests in/ {print $1}')
        wait "$stat" || {
            # Usually perf refusing a non-root user (kernel.perf_event_paranoid, tracefs).
            echo "fixed_cost.sh: perf stat failed on $t:" >&2
            cat "$WORK/stat" >&2
            exit 1
        }
        utime=$(($(user_ticks "$pid") - utime))
        # -x, lines: value,unit,event,…
        row=$(awk -F, -v n="$n" -v s="$secs" -v r="$round" -v t="$t" -v u="$utime" -v hz="$hz" '
            $3 ~ /task-clock/ {cpu = $1}
            $3 ~ /context-switches/ {cs = $1}
            $3 ~ /sys_enter/ {sys = $1}
            END {printf "| %d | %s | %.1f | %.1f | %.1f | %.1f | %.2f |\n", r, t, 1e6 * s / n, 1000 * cpu / n, 1e6 * u / hz / n, sys / n, cs / n}
        ' "$WORK/stat")
        echo "$row"
        US[$t]="${US[$t]:-} $(cut -d'|' -f4 <<<"$row")"
        CPU[$t]="${CPU[$t]:-} $(cut -d'|' -f5 <<<"$row")"
        USR[$t]="${USR[$t]:-} $(cut -d'|' -f6 <<<"$row")"
    done
done
if [[ -n ${BIN_B:-} ]]; then
    echo
    echo "plexgate-b ($BIN_B) against plexgate ($BIN), paired by round (benches/paired.py):"
    echo "median difference, rounds lower, and the sign test's verdict (needs ROUNDS >= 6)"
    echo "| | µs/req | CPU µs/req | user µs/req |"
    echo "|---|---:|---:|---:|"
    echo "| B − A | $(python3 benches/paired.py lower "${US[plexgate-b]}" "${US[plexgate]}" µs) | $(python3 benches/paired.py lower "${CPU[plexgate-b]}" "${CPU[plexgate]}" µs) | $(python3 benches/paired.py lower "${USR[plexgate-b]}" "${USR[plexgate]}" µs) |"
fi
