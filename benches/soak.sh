#!/usr/bin/env bash
# Soak (issue 11): many paced players and many idle keep-alive connections for minutes, to see
# plexgate's memory, descriptors, CPU and /health latency under a family-evening load, and
# whether memory comes back after it.
#
#   players  PLAYERS curl processes, each reading one part through the facade at RATE
#            (--limit-rate) and, every RESUME seconds, closing and resuming with a Range from
#            where it stopped (as a player does after a seek or a pause)
#   idle     IDLE keep-alive connections (wrk) each polling /health every POLL_MS
#
# Reports idle RSS before the load, peak RSS and descriptors during it, RSS and descriptors
# SETTLE seconds after it, plexgate's CPU (% of one core), bytes delivered, player errors
# (any status but 206, any curl failure but the RESUME timeout) and /health latency.
#
# Usage: bash benches/soak.sh                                   (8 min + 30 s, the issue's shape)
#        PLAYERS=20 IDLE=100 DURATION=60 bash benches/soak.sh   (a smoke)
#        BIN=target/release/plexgate …                          (skip the release build)
# Needs nginx, wrk, curl: refuses to run, naming each missing one. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

PLAYERS=${PLAYERS:-200}
RATE=${RATE:-1M}
RESUME=${RESUME:-60}
IDLE=${IDLE:-800}
POLL_MS=${POLL_MS:-5000}
DURATION=${DURATION:-480}
SETTLE=${SETTLE:-30}

# shellcheck source=benches/tools.sh
source benches/tools.sh
need_tools nginx wrk curl
release_bin
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# shellcheck source=benches/media.sh
source benches/media.sh # WORK, free_port, PIDS, wait_http, media_file, start_origin, start_plexgate, cpu_ticks, rss_kib

# Enough bytes that no player reaches the end: RATE × DURATION, sparse on disk.
media_file /library/parts/9/1/file.mkv $((DURATION * 2 + 64)) sparse
start_origin
start_plexgate
PART="$FACADE/library/parts/9/1/file.mkv"
curl -fsS -r 0-0 -o /dev/null "$PART" || { echo "soak.sh: the part does not play through plexgate" >&2; exit 1; }

fds() { find "/proc/$PID_PG/fd" -mindepth 1 -maxdepth 1 | wc -l; }
sleep 2
IDLE_RSS=$(rss_kib "$PID_PG")
IDLE_FDS=$(fds)

# One player: resume from the last byte it got until the deadline; one result line per fetch.
player() { # id deadline
    local off=0 out rc code size
    while (($(date +%s) < $2)); do
        rc=0
        out=$(curl -s -o /dev/null --limit-rate "$RATE" --max-time "$RESUME" -r "$off-" \
            -w '%{http_code} %{size_download}' "$PART") || rc=$?
        read -r code size <<<"$out"
        off=$((off + ${size:-0}))
        if [[ $code != 206 ]] || { ((rc != 0)) && ((rc != 28)); }; then
            echo "error $1 rc=$rc status=$code at=$off"
        fi
        echo "bytes ${size:-0}"
    done
}

cat >"$WORK/poll.lua" <<EOF
function delay() return $POLL_MS end
EOF
deadline=$(($(date +%s) + DURATION))
echo "soak: $PLAYERS players at $RATE/s resuming every ${RESUME}s, $IDLE idle connections polling /health every ${POLL_MS} ms, ${DURATION}s" >&2
wrk -t1 -c"$IDLE" -d"${DURATION}s" --timeout 10s --latency -s "$WORK/poll.lua" \
    "http://127.0.0.1:$P_PG/health" >"$WORK/wrk.out" 2>&1 &
PIDS+=($!)
WRK=$!
for i in $(seq "$PLAYERS"); do
    player "$i" "$deadline" >"$WORK/player.$i" &
    PIDS+=($!)
done

# Sample plexgate every second while the load runs.
ticks0=$(cpu_ticks "$PID_PG")
t0=$(date +%s)
: >"$WORK/samples"
while (($(date +%s) < deadline)); do
    echo "$(rss_kib "$PID_PG") $(fds)" >>"$WORK/samples"
    sleep 1
done
wait "$WRK" || true
for p in "${PIDS[@]}"; do [[ $p == "$PID_PG" ]] || wait "$p" 2>/dev/null || true; done
ticks1=$(cpu_ticks "$PID_PG")
t1=$(date +%s)
sleep "$SETTLE"
AFTER_RSS=$(rss_kib "$PID_PG")
AFTER_FDS=$(fds)

PEAK_RSS=$(awk '{print $1}' "$WORK/samples" | sort -n | tail -1)
PEAK_FDS=$(awk '{print $2}' "$WORK/samples" | sort -n | tail -1)
BYTES=$(cat "$WORK"/player.* | awk '$1 == "bytes" {s += $2} END {printf "%.0f", s}')
ERRORS=$(cat "$WORK"/player.* | grep -c '^error' || true)
CPU=$(awk -v d="$((ticks1 - ticks0))" -v hz="$(getconf CLK_TCK)" -v s="$((t1 - t0))" 'BEGIN {printf "%.0f", 100 * d / hz / s}')
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

echo
echo "| | value |"
echo "|---|---:|"
echo "| idle RSS before the load | $(mib "$IDLE_RSS") MiB |"
echo "| peak RSS during the load | $(mib "$PEAK_RSS") MiB |"
echo "| RSS ${SETTLE} s after the load | $(mib "$AFTER_RSS") MiB |"
echo "| descriptors: idle / peak / after | $IDLE_FDS / $PEAK_FDS / $AFTER_FDS |"
echo "| plexgate CPU during the load | $CPU % of one core |"
echo "| delivered | $(awk -v b="$BYTES" 'BEGIN {printf "%.1f", b / 1e9}') GB |"
echo "| player errors | $ERRORS |"
awk '/^ +(50|90|99)%/ {printf "| /health latency p%s | %s |\n", substr($1, 1, length($1) - 1), $2}' "$WORK/wrk.out"
grep -E 'Socket errors|Non-2xx' "$WORK/wrk.out" | sed 's/^/| \/health: /; s/$/ | |/' || true
if ((ERRORS > 0)); then
    echo
    cat "$WORK"/player.* | grep '^error' | head -5
fi
