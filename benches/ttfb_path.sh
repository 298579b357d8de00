#!/usr/bin/env bash
# Where plexgate's time to first byte goes, from its own system calls: fresh-connection fetches
# of a part, one at a time as compare.sh's TTFB takes them, with `perf` recording plexgate's
# syscall entries and exits. For each fetch, three stretches (p10 / p50 / p90, µs):
#
#   request → Plex     the player's request read (recvfrom) → the request sent to Plex (sendto):
#                      plexgate's own work (routing, ticket, scope, the upstream request)
#   Plex → head        sent → Plex's response head read: the origin's work, its wake-ups and
#                      plexgate's own wake-up
#   head → player      head read → the answer's first write to the player (writev): plexgate's
#                      own work (the head, the relay set-up)
#
# Why: compare.sh's TTFB Δ is a median over the whole chain and moves by more between runs than
# plexgate's part of it; this separates the part plexgate can change from the part it waits for
# (benches/README.md, twelfth session). Each stretch starts at a syscall's exit and ends at the
# next one's entry, so perf's own cost per event stays out of it.
#
# Usage: bash benches/ttfb_path.sh                       (≈ 30 s)
#        MIB=8 FETCHES=400 BIN=target/release/plexgate bash benches/ttfb_path.sh
# Needs nginx (the origin), wrk, perf, curl, python3: refuses to run, naming each missing one.
# Run it as root (perf reads a tracepoint of another process). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

MIB=${MIB:-2}
FETCHES=${FETCHES:-200}

# shellcheck source=benches/tools.sh
source benches/tools.sh
need_tools nginx wrk perf curl python3
# The trace is read by system call number.
[[ $(uname -m) == x86_64 ]] || { echo "ttfb_path.sh: reads x86-64 system call numbers; this is $(uname -m)" >&2; exit 1; }
release_bin

# shellcheck source=benches/media.sh
source benches/media.sh # WORK, PIDS, media_file, start_origin, start_plexgate, warm_up
part=/library/parts/$MIB/1/file.mp4
media_file "$part" "$MIB"
start_origin
start_plexgate
url="$FACADE$part"
wait_http "$url" plexgate
warm_up "$part" plexgate

perf record -q -e raw_syscalls:sys_enter,raw_syscalls:sys_exit -p "$PID_PG" -o "$WORK/perf.data" &
rec=$!
sleep 0.5 # perf attached
python3 - "$url" "$FETCHES" <<'PY'
import socket, sys, time
from urllib.parse import urlsplit
u = urlsplit(sys.argv[1])
for _ in range(int(sys.argv[2])):
    s = socket.create_connection((u.hostname, u.port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(f"GET {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nConnection: close\r\n\r\n".encode())
    while s.recv(1 << 20):
        pass
    s.close()
    time.sleep(0.002)  # idle between fetches, as between a player's segments
PY
kill -INT "$rec"
wait "$rec" || true
perf script -i "$WORK/perf.data" -F tid,time,event,trace >"$WORK/trace" 2>/dev/null
python3 - "$WORK/trace" <<'PY'
import re, statistics, sys
RECVFROM, SENDTO, WRITEV = 45, 44, 20  # x86-64 syscall numbers
spans = {"request → Plex": [], "Plex → head": [], "head → player": []}
state = None  # (stage, time, thread)
for line in open(sys.argv[1]):
    m = re.match(r"\s*(\d+)\s+([\d.]+):\s+raw_syscalls:sys_(enter|exit):\s+NR (\d+)(?:.*= (-?\d+))?", line)
    if not m:
        continue
    tid, t, kind, nr = m.group(1), float(m.group(2)), m.group(3), int(m.group(4))
    ret = int(m.group(5)) if m.group(5) is not None else None
    if kind == "exit" and nr == RECVFROM and ret is not None and 100 < ret < 4096 and (state is None or state[0] == "request"):
        state = ("request", t, tid)  # a player's GET: a few hundred bytes
    elif state is None or state[2] != tid:
        continue
    elif state[0] == "request" and kind == "enter" and nr == SENDTO:
        spans["request → Plex"].append(t - state[1])
        state = ("sent", t, tid)
    elif state[0] == "sent" and kind == "exit" and nr == RECVFROM and ret is not None and ret > 0:
        spans["Plex → head"].append(t - state[1])
        state = ("head", t, tid)
    elif state[0] == "head" and kind == "enter" and nr == WRITEV:
        spans["head → player"].append(t - state[1])
        state = None
done = len(spans["head → player"])
if not done:
    sys.exit("ttfb_path.sh: no complete request in the trace (did perf record plexgate?)")
print(f"plexgate, {done} fresh-connection fetches, µs per stretch")
print("| stretch | p10 | p50 | p90 |")
print("|---|---:|---:|---:|")
for name, v in spans.items():
    v = sorted(x * 1e6 for x in v)
    print(f"| {name} | {v[len(v) // 10]:.0f} | {statistics.median(v):.0f} | {v[9 * len(v) // 10]:.0f} |")
PY
