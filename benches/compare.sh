#!/usr/bin/env bash
# Side-by-side proxy comparison (issue 11): the same media files fetched straight from an origin
# and through three proxies, in one interleaved run, so the figures are ratios measured together.
#
#   direct    origin nginx serving the files with sendfile (the ceiling)
#   nginx     nginx reverse proxy with 64 KiB proxy buffers, keep-alive to the origin
#   caddy     Caddy `reverse_proxy`
#   plexgate  `plexgate demo --plex-url <origin>`: through its facade, ticket checks included;
#             parts relayed with splice(2) (`stream.zero_copy`, the default)
#   pg-copy   the same with `stream.zero_copy = false`: every body copied through user space
#
# Per cell (file size × connections) each target gets one wrk run of $DURATION, targets in a
# new random order for every round and cell (from $SEED, printed, so a run can be repeated),
# $RUNS rounds; the table shows the median over rounds of req/s as a ratio to
# direct, the proxy's CPU (% of one core, from /proc utime+stime) and its peak RSS (the kernel's
# exact high-water mark, VmHWM, reset before each run; nginx sums its workers). Nothing samples
# while wrk runs: a sampler forking every 100 ms moved the one-connection cells. TTFB (request sent → first response byte, fresh
# connections) is taken for each file size in the cells, $TTFB_N fetches per target in rounds of 10,
# shown as the median over rounds of the difference to direct's round.
#
# A last table pits plexgate against each peer round by round (benches/paired.py): median ratio,
# rounds won, and whether a sign test can tell the split from chance. At one connection the
# medians move by ±0.05 between runs, so "ahead" is only called there, never read off a median.
#
# Usage: bash benches/compare.sh                    (≈ 10 min with the defaults)
#        RUNS=9 DURATION=4s bash benches/compare.sh (≈ 16 min; enough rounds for a verdict)
#        RUNS=1 DURATION=3s bash benches/compare.sh (a smoke)
#        WARMUP=2s …                                (each target's warm-up burst per file size)
#        BIN=target/release/plexgate …             (skip the release build)
#        SEGMENTS=1 CELLS="2:1 2:16" …   (the files at a transcoder segment's path instead of a
#                                    part's: the HLS case, relayed by plexgate the same way)
#        PERF=/tmp/pg.data CELLS=2:1 bash benches/compare.sh
#                                   (also records plexgate's CPU profile with `perf record -g`
#                                    during its runs; read it with `perf report -i /tmp/pg.data`)
# Needs nginx, caddy, wrk, curl, python3: refuses to run, naming each missing one. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
DURATION=${DURATION:-8s}
TTFB_N=${TTFB_N:-200}
CELLS=${CELLS:-"2:1 2:16 2:64 8:1 8:16"} # MiB:connections
TARGETS=(direct nginx caddy plexgate pg-copy)

# shellcheck source=benches/tools.sh
source benches/tools.sh
need_tools nginx caddy wrk curl python3 ${PERF:+perf}
release_bin

# shellcheck source=benches/media.sh
source benches/media.sh # WORK, free_port, PIDS, wait_http, media_file, start_origin, start_proxy_nginx, start_plexgate_pair, base_of, pids_of, warm_up, cpu_ticks, reset_peak_rss, peak_rss_kib

media_path() { # mib → where the file of that size is served and fetched
    if [[ ${SEGMENTS:-0} == 1 ]]; then
        echo "/video/:/transcode/universal/session/bench/$1/0.ts"
    else
        echo "/library/parts/$1/1/file.mp4"
    fi
}
for cell in $CELLS; do
    mib=${cell%%:*}
    [[ -f $WORK/root$(media_path "$mib") ]] || media_file "$(media_path "$mib")" "$mib"
done
start_origin

# --- nginx as a reverse proxy with 64 KiB buffers
start_proxy_nginx

# --- Caddy
P_CADDY=$(free_port)
cat >"$WORK/Caddyfile" <<EOF
{
    admin off
    auto_https off
}
http://127.0.0.1:$P_CADDY {
    reverse_proxy 127.0.0.1:$P_ORIGIN
}
EOF
XDG_DATA_HOME=$WORK/caddy XDG_CONFIG_HOME=$WORK/caddy caddy run --config "$WORK/Caddyfile" --adapter caddyfile >"$WORK/caddy.log" 2>&1 &
PIDS+=($!)
PID_CADDY=$!

# --- plexgate, through the facade the demo banner prints: copying, then splicing
start_plexgate_pair
wait_http "http://127.0.0.1:$P_CADDY/" "caddy"

first=$(for cell in $CELLS; do echo "${cell%%:*}"; done | head -1)
for t in "${TARGETS[@]}"; do
    url="$(base_of "$t")$(media_path "$first")"
    [[ $(curl -fsS "$url" | wc -c) -eq $((first * 1048576)) ]] || { echo "compare.sh: $t did not return the $first MiB file from $url" >&2; exit 1; }
done

# Every target warmed up before any round (warm_up in media.sh says why): without it a cell's
# figures depended on which cells ran before it.
SIZES=$(for cell in $CELLS; do echo "${cell%%:*}"; done | sort -nu | tr '\n' ' ') # MiB, each once
for mib in $SIZES; do warm_up "$(media_path "$mib")" "${TARGETS[@]}"; done

HZ=$(getconf CLK_TCK)
secs=${DURATION%s}
declare -A RPS CPU RSS
# Shuffled, not rotated: a rotation keeps every target behind the same neighbour, and with as
# many cells as targets it gives each cell the same order in every round (plexgate always ran
# right after Caddy at 2 MiB c=1, nginx right after direct).
SEED=${SEED:-$RANDOM}
echo "compare.sh: target order shuffled from SEED=$SEED" >&2
shuffled() { # n → TARGETS in an order fixed by SEED and n
    printf '%s\n' "${TARGETS[@]}" | awk -v seed="$((SEED * 7919 + $1))" 'BEGIN {srand(seed)} {print rand() "\t" $0}' |
        sort -g | cut -f2
}
n=0
for round in $(seq "$RUNS"); do
    for cell in $CELLS; do
        n=$((n + 1))
        mapfile -t order < <(shuffled "$n")
        mib=${cell%%:*}
        conns=${cell##*:}
        threads=$((conns < 2 ? 1 : 2))
        for t in "${order[@]}"; do
            url="$(base_of "$t")$(media_path "$mib")"
            read -r -a pids <<<"$(pids_of "$t")"
            before=$(cpu_ticks "${pids[@]}")
            reset_peak_rss "${pids[@]}"
            recorder=
            if [[ -n ${PERF:-} && $t == plexgate ]]; then
                perf record -q -g -F 999 -p "$PID_PG" -o "$PERF.$cell.$round" -- sleep "$secs" 2>/dev/null &
                recorder=$!
            fi
            out=$(wrk -t"$threads" -c"$conns" -d"$DURATION" "$url")
            [[ -n $recorder ]] && wait "$recorder"
            after=$(cpu_ticks "${pids[@]}")
            peak=$(peak_rss_kib "${pids[@]}")
            rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
            errs=$(grep -oE 'Non-2xx or 3xx responses: [0-9]+|Socket errors:.*' <<<"$out" || true)
            [[ -n $errs ]] && echo "  ! $t $cell: $errs" >&2
            key="$cell/$t"
            RPS[$key]="${RPS[$key]:-} $rps"
            CPU[$key]="${CPU[$key]:-} $(awk -v d="$((after - before))" -v hz="$HZ" -v s="$secs" 'BEGIN {printf "%.0f", 100 * d / hz / s}')"
            RSS[$key]="${RSS[$key]:-} $(( ${peak:-0} / 1024 ))"
        done
    done
    echo "round $round of $RUNS done" >&2
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
ratios() { # cell target → median over rounds of rps(target)/rps(direct), paired by round
    paste <(tr ' ' '\n' <<<"${RPS[$1/$2]}" | grep -v '^$') <(tr ' ' '\n' <<<"${RPS[$1/direct]}" | grep -v '^$') |
        awk '{printf "%s ", $1 / $2}' | median
}

ttfb_deltas() { # mib → "target Δms" lines: median over rounds of ttfb(target) − ttfb(direct)
    # From the request's last byte sent to the response's first byte received, on a fresh
    # connection each time (connect not counted). curl's %{time_starttransfer} is not used: it
    # is taken inside curl's read loop, after whole reads (it put nginx, whose first byte comes
    # ~1 ms after direct's here, at +0.3 ms), so it measures curl as much as the proxy.
    # Rounds of 10 back-to-back fetches per target, targets in a new random order each round;
    # each target's round median is compared with direct's of the same round, so the host's
    # slow spells hit every target alike. (Alternating single fetches measured wake-up
    # latency of idle processes instead: every target's first byte came ~1 ms later.)
    local args=()
    for t in "${TARGETS[@]}"; do args+=("$t=$(base_of "$t")$(media_path "$1")"); done
    python3 - "$TTFB_N" "$((SEED * 31 + $1))" "${args[@]}" <<'PY'
import random, socket, statistics, sys, time
from urllib.parse import urlsplit
n = int(sys.argv[1])
shuffle = random.Random(int(sys.argv[2])).shuffle
targets = [a.split("=", 1) for a in sys.argv[3:]]

def ttfb(url):
    s = socket.create_connection((url.hostname, url.port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    head = f"GET {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    started = time.perf_counter()
    s.sendall(head.encode())
    s.recv(1)
    took = time.perf_counter() - started
    while s.recv(1 << 20):  # the whole answer, as a player reads it
        pass
    s.close()
    return took

BLOCK = 10  # back-to-back fetches, as a player fetches segments
deltas = {name: [] for name, _ in targets}
for i in range(max(1, n // BLOCK)):
    order = list(targets)
    shuffle(order)
    got = {name: statistics.median(ttfb(urlsplit(url)) for _ in range(BLOCK)) for name, url in order}
    for name in got:
        deltas[name].append(got[name] - (got["direct"] if name != "direct" else 0))
for name, d in deltas.items():  # the median, then each round's delta for the head to head
    print(name, f"{1000 * statistics.median(d):.3f}", " ".join(f"{1000 * x:.4f}" for x in d))
PY
}
declare -A TTFB TTFB_ROUNDS
for mib in $SIZES; do
    while read -r t ms rounds; do
        TTFB[$mib/$t]=$ms
        TTFB_ROUNDS[$mib/$t]=$rounds
    done < <(ttfb_deltas "$mib")
done

table_head() { # first column's title, the TTFB columns' title → a markdown table head
    printf '| %-8s |' "$1"
    for cell in $CELLS; do printf ' %s MiB c=%s |' "${cell%%:*}" "${cell##*:}"; done
    for mib in $SIZES; do printf ' %s %s MiB |' "$2" "$mib"; done
    printf '\n|---|'
    for _ in $CELLS $SIZES; do printf -- '---:|'; done
    echo
}
echo
echo "req/s as a ratio to direct (median of $RUNS interleaved rounds of $DURATION each); TTFB Δ: median over rounds of 10 fetches, $TTFB_N per target"
table_head target "TTFB Δ"
for t in "${TARGETS[@]}"; do
    printf '| %-8s |' "$t"
    for cell in $CELLS; do
        if [[ $t == direct ]]; then
            printf ' %.0f req/s |' "$(median <<<"${RPS[$cell/direct]}")"
        else
            printf ' %.2f |' "$(ratios "$cell" "$t")"
        fi
    done
    for mib in $SIZES; do
        if [[ $t == direct ]]; then
            printf ' %s ms |' "${TTFB[$mib/direct]}"
        else
            printf ' %+.2f ms |' "${TTFB[$mib/$t]}"
        fi
    done
    echo
done
echo
echo "proxy CPU (% of one core, median) / peak RSS (MiB, max over rounds) per cell"
printf '| %-8s |' target
for cell in $CELLS; do printf ' %s MiB c=%s |' "${cell%%:*}" "${cell##*:}"; done
printf '\n|---|'
for _ in $CELLS; do printf -- '---:|'; done
echo
for t in "${TARGETS[@]:1}"; do
    printf '| %-8s |' "$t"
    for cell in $CELLS; do
        rss_max=$(tr ' ' '\n' <<<"${RSS[$cell/$t]}" | grep -v '^$' | sort -n | tail -1)
        printf ' %s%% / %s |' "$(median <<<"${CPU[$cell/$t]}")" "$rss_max"
    done
    echo
done

echo
echo "plexgate head to head, paired by round (benches/paired.py): median ratio of req/s or TTFB"
echo "difference, rounds won, and the verdict of a sign test at 5 % (needs RUNS >= 6 to call one)"
table_head against TTFB
for peer in nginx caddy; do
    printf '| %-8s |' "$peer"
    for cell in $CELLS; do
        printf ' %s |' "$(python3 benches/paired.py higher "${RPS[$cell/plexgate]}" "${RPS[$cell/$peer]}")"
    done
    for mib in $SIZES; do
        printf ' %s |' "$(python3 benches/paired.py lower "${TTFB_ROUNDS[$mib/plexgate]}" "${TTFB_ROUNDS[$mib/$peer]}")"
    done
    echo
done
