#!/usr/bin/env bash
# What the reader's first byte waits for, from the scheduler: fresh-connection fetches of a
# part, as compare.sh's TTFB takes them, straight from the origin, through the nginx peer and
# through plexgate, with `perf` recording every CPU's wake-ups and context switches and the
# reader's own send and receive. For each fetch (µs from the request sent, p10 / p50 / p90):
#
#   woken      the reader is woken: its first byte has arrived in its socket
#   running    the reader is switched in and can read it
#   waited     running − woken: time the woken reader spent waiting for a CPU
#
# and which task the reader took its CPU from (the `prev_comm` of the switch that ran it), and
# whether that task was preempted for the reader or had blocked and given the CPU up.
#
# Why: on a two-CPU machine the reader, the origin and a proxy share two CPUs. Straight from
# the origin only the origin is busy when the first bytes arrive; through a proxy, the proxy
# relays the body on one CPU and the origin sends it on the other, and the woken reader waits
# for one of them (benches/README.md, fifteenth session). This separates that wait from the
# proxy's own path (benches/ttfb_path.sh) when reading compare.sh's TTFB Δ.
#
# Usage: bash benches/ttfb_sched.sh                     (≈ 20 s)
#        MIB=2 FETCHES=100 BIN=target/release/plexgate bash benches/ttfb_sched.sh
# Needs nginx (origin and peer), wrk, perf, curl, python3: refuses to run, naming each missing one.
# Run it as root (perf records every CPU's scheduler tracepoints). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

MIB=${MIB:-8}
FETCHES=${FETCHES:-60}

# shellcheck source=benches/tools.sh
source benches/tools.sh
need_tools nginx wrk perf curl python3
release_bin

# shellcheck source=benches/media.sh
source benches/media.sh # WORK, serve_part, base_of
serve_part "$MIB"
part=$PART

perf record -q -a -o "$WORK/perf.data" \
    -e sched:sched_switch,sched:sched_wakeup,syscalls:sys_enter_sendto,syscalls:sys_exit_recvfrom &
rec=$!
sleep 0.5 # perf attached
# One reader process for all targets, in blocks of 10 fetches per target (as compare.sh's
# rounds), 2 ms apart; each fetch's first byte is read alone, then the rest as a player does.
python3 - "$FETCHES" "direct=$(base_of direct)$part" "nginx=$(base_of nginx)$part" \
    "plexgate=$(base_of plexgate)$part" >"$WORK/fetches" <<'PY'
import os, socket, sys, time
from urllib.parse import urlsplit
n = int(sys.argv[1])
targets = [a.split("=", 1) for a in sys.argv[2:]]
print("reader", os.getpid(), flush=True)
for _ in range(max(1, n // 10)):
    for name, url in targets:
        u = urlsplit(url)
        for _ in range(10):
            s = socket.create_connection((u.hostname, u.port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            print("fetch", name, flush=True)
            s.sendall(f"GET {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nConnection: close\r\n\r\n".encode())
            s.recv(1)
            while s.recv(1 << 20):
                pass
            s.close()
            time.sleep(0.002)
PY
kill -INT "$rec"
wait "$rec" || true
perf script -i "$WORK/perf.data" -F pid,tid,time,event,trace >"$WORK/trace" 2>/dev/null
python3 - "$WORK/trace" "$WORK/fetches" "$MIB" <<'PY'
import collections, re, statistics, sys
lines = open(sys.argv[2]).read().split("\n")
reader = lines[0].split()[1]
order = [l.split()[1] for l in lines[1:] if l.startswith("fetch ")]
fetches = []  # per fetch: sent, woken, running, prev (the task the reader's CPU came from), read
for line in open(sys.argv[1]):
    m = re.match(r"\s*(\d+)/(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)", line)
    if not m:
        continue
    pid, t, event, rest = m.group(1), float(m.group(3)), m.group(4), m.group(5) + " "
    if pid == reader and event == "syscalls:sys_enter_sendto":
        fetches.append({"sent": t})
        continue
    if not fetches or "read" in fetches[-1]:
        continue
    f = fetches[-1]
    if event == "sched:sched_wakeup" and f" pid={reader} " in f" {rest}":
        f["woken"] = t  # the last wake-up before the first byte is read is the one that counts
    elif event == "sched:sched_switch" and f"next_pid={reader} " in rest:
        f["running"] = t
        prev = re.sub(r"[/:-]\d+$", "", re.search(r"prev_comm=(.*?) prev_pid=", rest).group(1))
        prev = {"swapper": "idle", "tokio-rt-worker": "plexgate"}.get(prev, prev)
        # A task switched out still runnable (R) was preempted for the reader; any other state
        # means it had blocked (in epoll_wait, say) and the reader got the CPU it gave up.
        state = re.search(r"prev_state=(\S+)", rest).group(1)
        f["prev"] = prev if prev == "idle" else f"{prev} ({'preempted' if state.startswith('R') else 'blocked'})"
    elif pid == reader and event == "syscalls:sys_exit_recvfrom" and rest.strip() == "0x1":
        f["read"] = t
if len(fetches) != len(order):
    sys.exit(f"ttfb_sched.sh: {len(fetches)} requests in the trace for {len(order)} fetches (did perf record them?)")
rows = collections.defaultdict(list)
for name, f in zip(order, fetches):
    # A reader that never slept (its byte was there before it asked) has no wake-up to measure.
    if "read" in f and "woken" in f and f.get("running", 0) >= f["woken"]:
        rows[name].append(f)
def pct(v):
    v = sorted(x * 1e6 for x in v)
    return f"{v[len(v) // 10]:.0f} / {statistics.median(v):.0f} / {v[9 * len(v) // 10]:.0f}"
print(f"fresh-connection fetches of a {sys.argv[3]} MiB part, µs from the request sent, p10 / p50 / p90")
print("| target | fetches | woken | running | waited | the reader's CPU came from |")
print("|---|---:|---:|---:|---:|---|")
for name in dict.fromkeys(order):
    r = rows[name]
    if not r:
        sys.exit(f"ttfb_sched.sh: no complete fetch of {name} in the trace")
    prev = collections.Counter(f["prev"] for f in r).most_common(4)
    print(f"| {name} | {len(r)} | {pct(f['woken'] - f['sent'] for f in r)} | "
          f"{pct(f['running'] - f['sent'] for f in r)} | {pct(f['running'] - f['woken'] for f in r)} | "
          f"{', '.join(f'{k} {c}' for k, c in prev)} |")
PY
