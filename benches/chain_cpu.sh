#!/usr/bin/env bash
# Where the CPU of one request goes along the whole chain — the origin's worker, the proxy and
# the client (wrk) — for straight from the origin, through nginx (64 KiB buffers), plexgate
# (splicing) and pg-copy (`stream.zero_copy = false`), at one file size and connection count.
# Per request, in rounds with the targets in a new random order each time:
#
#   req/s     wrk's rate
#   proxy     the proxy's CPU (utime + stime from /proc), µs
#   origin    the origin worker's CPU, µs
#   client    wrk's CPU (GNU time), µs, and its voluntary context switches
#
# Why: on this bench box client, proxy and origin share two cores, so a proxy that costs the
# client more per request loses throughput even when it costs less itself. compare.sh shows
# only the proxy's CPU; this shows who pays for the rest (benches/README.md, eleventh session).
# Every target gets a burst of 64 connections first, so nginx's heap is grown as in compare.sh.
#
# Usage: bash benches/chain_cpu.sh                               (≈ 1 min)
#        MIB=8 ROUNDS=5 BIN=target/release/plexgate bash benches/chain_cpu.sh
#        C=16 TARGETS="nginx plexgate" bash benches/chain_cpu.sh
# Needs nginx, wrk, curl and GNU time (/usr/bin/time): refuses to run, naming each missing one.
# Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
MIB=${MIB:-2}
C=${C:-1}
TARGETS=${TARGETS:-"direct nginx plexgate pg-copy"}

# shellcheck source=benches/tools.sh
source benches/tools.sh
need_tools nginx wrk curl
[[ -x /usr/bin/time ]] || { echo "chain_cpu.sh: missing GNU time (Debian: apt-get install -y time)" >&2; exit 1; }
release_bin

# shellcheck source=benches/media.sh
source benches/media.sh # WORK, PIDS, media_file, start_origin, start_proxy_nginx, start_plexgate_pair, base_of, pids_of, warm_up, cpu_ticks
part=/library/parts/$MIB/1/file.mp4
media_file "$part" "$MIB"
start_origin
start_proxy_nginx
start_plexgate_pair
ORIGIN_WORKER=$(pgrep -P "$(cat "$WORK/nginx-origin.pid")" | head -1)

# shellcheck disable=SC2086 # $TARGETS is a list of words
warm_up "$part" $TARGETS
HZ=$(getconf CLK_TCK)
printf '%-9s %8s %10s %10s %10s %8s   (%d MiB, c=%d, µs per request)\n' target req/s proxy origin client 'cs/req' "$MIB" "$C"
for r in $(seq "$ROUNDS"); do
    for t in $(printf '%s\n' $TARGETS | shuf); do
        pids=$(pids_of "$t")
        # shellcheck disable=SC2086 # one or more pids
        p0=$([[ -n $pids ]] && cpu_ticks $pids || echo 0)
        o0=$(cpu_ticks "$ORIGIN_WORKER")
        out=$(/usr/bin/time -f "GNUTIME %U %S %w" wrk -t1 -c"$C" -d"$DURATION" "$(base_of "$t")$part" 2>&1)
        # shellcheck disable=SC2086
        p1=$([[ -n $pids ]] && cpu_ticks $pids || echo 0)
        o1=$(cpu_ticks "$ORIGIN_WORKER")
        awk -v t="$t" -v r="$r" -v d="${DURATION%s}" -v hz="$HZ" -v p=$((p1 - p0)) -v o=$((o1 - o0)) '
            /requests in/ { n = $1 }
            /^GNUTIME/ { cu = $2; cs = $3; vol = $4 }
            END {
                us = 1e6 / hz / n
                printf "%-9s %8.0f %10s %10.0f %10.0f %8.1f   round %d\n", t, n / d,
                    (t == "direct" ? "-" : sprintf("%.0f", p * us)), o * us, (cu + cs) * 1e6 / n, vol / n, r
            }' <<<"$out"
    done
done
