#!/usr/bin/env bash
# Load on the cheapest route, and the footprint of the release binary (design §10).
#
# Builds the release binary (timed; incremental unless target/release is empty), starts
# `plexgate demo` on a free loopback port, waits for /health, and runs wrk against /health
# with 1 and 64 connections, once with the default access log (log.level=info, written to a
# file) and once with log.level=warn, so the cost of one access line per request is visible.
# Prints requests/s and latency percentiles, idle RSS (after start-up settles) and RSS after
# load, then stops plexgate with SIGTERM and checks it exits 0. Also prints the binary size.
#
# Usage: bash benches/load.sh            (about 1 minute after the build)
#        DURATION=30s bash benches/load.sh
# Needs wrk (apt-get install -y wrk) and curl. wrk, plexgate and the demo Plex share the
# machine's CPUs, so numbers are relative to this box.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
BIN=target/release/plexgate

command -v wrk >/dev/null || { echo "load.sh: wrk is missing; install it (apt-get install -y wrk)" >&2; exit 1; }
command -v curl >/dev/null || { echo "load.sh: curl is missing" >&2; exit 1; }

echo "== cargo build --release"
build_start=$(date +%s.%N)
cargo build --release
build_end=$(date +%s.%N)
printf 'build: %.1f s (incremental from whatever target/release held)\n' "$(echo "$build_end - $build_start" | bc)"
printf 'binary: %s bytes (%.1f MiB, not stripped)\n' "$(stat -c %s "$BIN")" "$(echo "$(stat -c %s "$BIN") / 1048576" | bc -l)"

. benches/common.sh

rss_kib() { ps -o rss= -p "$1" | tr -d ' '; }

# start LEVEL: starts plexgate demo with log.level LEVEL; sets PID and URL.
start() {
    local port
    port=$(free_port)
    URL="http://127.0.0.1:$port"
    "$BIN" --listen "127.0.0.1:$port" --log-level "$1" demo >"$WORK/plexgate-$1.log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do
        if curl -fsS "$URL/health" >/dev/null 2>&1; then return; fi
        kill -0 "$PID" 2>/dev/null || { cat "$WORK/plexgate-$1.log" >&2; echo "load.sh: plexgate exited" >&2; exit 1; }
        sleep 0.1
    done
    echo "load.sh: plexgate did not answer /health within 10 s" >&2; exit 1
}

stop() {
    kill -TERM "$PID"
    local status=0
    wait "$PID" || status=$?
    PID=
    echo "SIGTERM: exit status $status"
    [[ $status -eq 0 ]] || { echo "load.sh: plexgate did not exit cleanly" >&2; exit 1; }
}

# load CONNECTIONS THREADS: one wrk run against /health, summarised on one line.
load() {
    local out rps p50 p90 p99
    out=$(wrk -t"$2" -c"$1" -d"$DURATION" --latency "$URL/health")
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p90=$(awk '$1 == "90%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    if grep -q 'Non-2xx' <<<"$out"; then echo "$out" >&2; echo "load.sh: non-2xx answers" >&2; exit 1; fi
    printf '  %-3s conn: %10s req/s   latency p50 %-8s p90 %-8s p99 %s\n' "$1" "$rps" "$p50" "$p90" "$p99"
}

for level in info warn; do
    echo "== plexgate demo, log.level=$level, wrk $DURATION per run"
    start "$level"
    sleep 3
    echo "  idle RSS: $(rss_kib "$PID") KiB"
    load 1 1
    load 64 2
    echo "  RSS after load: $(rss_kib "$PID") KiB; log file $(stat -c %s "$WORK/plexgate-$level.log") bytes"
    stop
done
