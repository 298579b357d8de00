#!/usr/bin/env bash
# What logging costs: `/health` requests/s with the access log on (log.level=info, one line per
# request, stderr to a file as journald or a container runtime would take it) against logging
# off (log.level=off), three interleaved runs of each on the same release binary, and the
# median of the three on/off ratios.
#
# Usage: bash benches/log_cost.sh            (about 1 minute after the build)
#        DURATION=20s CONNECTIONS=64 bash benches/log_cost.sh
# Needs wrk and curl. Do not run it under `nice`: the ratio is what matters, and wrk, plexgate
# and the demo Plex share the machine's CPUs.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
TARGET=${CARGO_TARGET_DIR:-target}
BIN=$TARGET/release/plexgate

command -v wrk >/dev/null || { echo "log_cost.sh: wrk is missing (apt-get install -y wrk)" >&2; exit 1; }
cargo build --release
. benches/common.sh

# rps LEVEL: starts plexgate demo at LEVEL, loads /health, prints requests/s, stops it.
rps() {
    local port url out
    port=$(free_port)
    url="http://127.0.0.1:$port"
    "$BIN" --listen "127.0.0.1:$port" --log-level "$1" demo >"$WORK/plexgate.log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do
        curl -fsS "$url/health" >/dev/null 2>&1 && break
        kill -0 "$PID" 2>/dev/null || { cat "$WORK/plexgate.log" >&2; exit 1; }
        sleep 0.1
    done
    out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" "$url/health")
    if grep -q 'Non-2xx' <<<"$out"; then echo "$out" >&2; exit 1; fi
    kill -TERM "$PID"; wait "$PID" || true; PID=
    echo "$(awk '/^Requests\/sec/ {print $2}' <<<"$out") $(stat -c %s "$WORK/plexgate.log")"
}

ratios=()
for run in 1 2 3; do
    read -r on on_bytes < <(rps info)
    read -r off _ < <(rps off)
    ratio=$(echo "$on / $off" | bc -l)
    ratios+=("$ratio")
    printf 'run %d: logs on %10s req/s (%s log bytes)   logs off %10s req/s   on/off %.3f\n' \
        "$run" "$on" "$on_bytes" "$off" "$ratio"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -g | sed -n 2p)
printf 'median on/off ratio: %.3f (logging costs %.1f %% of /health throughput)\n' \
    "$median" "$(echo "(1 - $median) * 100" | bc -l)"
