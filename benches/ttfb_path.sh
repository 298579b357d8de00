#!/usr/bin/env bash
# Where the time to first byte goes, from the proxies' own system calls: fresh-connection
# fetches of a part, one at a time as compare.sh's TTFB takes them, alternating between
# plexgate and the nginx peer (compare.sh's, 64 KiB buffers), with `perf` recording both
# processes' syscall entries and exits at once. For each fetch, three stretches, side by side
# (p10 / p50 / p90, µs):
#
#   request → Plex     the player's request read (recvfrom) → the request sent to Plex (sendto,
#                      nginx: writev): the proxy's own work (parsing, routing; plexgate's ticket,
#                      scope and the upstream request)
#   Plex → head        sent → Plex's response head read: the origin's work, its wake-ups and
#                      the proxy's own wake-up
#   head → player      head read → the answer's first write to the player: the proxy's own work
#                      (plexgate: the head and the relay set-up; nginx: it reads on until its
#                      buffer is full before writing the head)
#
# Why: compare.sh's TTFB Δ is a median over the whole chain and moves by more between runs than
# either proxy's part of it; this separates the part a proxy can change from the part it waits
# for, and says which stretch plexgate wins or loses against nginx (benches/README.md, twelfth
# and thirteenth sessions). Each stretch starts at a syscall's exit and ends at the next one's
# entry, so perf's own cost per event stays out of it.
#
# Usage: bash benches/ttfb_path.sh                       (≈ 30 s)
#        MIB=8 FETCHES=400 BIN=target/release/plexgate bash benches/ttfb_path.sh
#        GAP=0 …      (seconds between fetches; 0.002 by default, idle as between a player's
#                      segments; 0 takes them back to back as compare.sh's rounds do)
# Needs nginx (origin and peer), wrk, perf, curl, python3: refuses to run, naming each missing
# one. Run it as root (perf reads a tracepoint of other processes). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

MIB=${MIB:-2}
FETCHES=${FETCHES:-200}
GAP=${GAP:-0.002}

# shellcheck source=benches/tools.sh
source benches/tools.sh
need_tools nginx wrk perf curl python3
# The trace is read by system call number.
[[ $(uname -m) == x86_64 ]] || { echo "ttfb_path.sh: reads x86-64 system call numbers; this is $(uname -m)" >&2; exit 1; }
release_bin

# shellcheck source=benches/media.sh
source benches/media.sh # WORK, serve_part, base_of, pids_of
serve_part "$MIB"
part=$PART
PID_NGINX=$(pids_of nginx | awk '{print $1}') # one worker

perf record -q -e raw_syscalls:sys_enter,raw_syscalls:sys_exit -p "$PID_PG,$PID_NGINX" -o "$WORK/perf.data" &
rec=$!
sleep 0.5 # perf attached
python3 - "$FETCHES" "$GAP" "$(base_of plexgate)$part" "$(base_of nginx)$part" <<'PY'
import random, socket, sys, time
from urllib.parse import urlsplit
n, gap = int(sys.argv[1]), float(sys.argv[2])
urls = [urlsplit(u) for u in sys.argv[3:]]
BLOCK = 10  # fetches in a row per proxy, as in compare.sh's rounds: a fetch through one proxy
# right after one through the other met the other's connection teardown on the CPUs.
for _ in range(max(1, n // BLOCK)):
    random.shuffle(urls)
    for u in urls:
        for _ in range(BLOCK):
            s = socket.create_connection((u.hostname, u.port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(f"GET {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nConnection: close\r\n\r\n".encode())
            while s.recv(1 << 20):
                pass
            s.close()
            time.sleep(gap)
PY
kill -INT "$rec"
wait "$rec" || true
perf script -i "$WORK/perf.data" -F pid,tid,time,event,trace >"$WORK/trace" 2>/dev/null
python3 - "$WORK/trace" "$PID_PG" "$PID_NGINX" <<'PY'
import re, statistics, sys
# x86-64 syscall numbers: how each proxy reads and sends (nginx sends with writev).
RECVFROM, SENDTO, WRITEV, WRITE = 45, 44, 20, 1
names = {sys.argv[2]: "plexgate", sys.argv[3]: "nginx"}
stretches = ("request → Plex", "Plex → head", "head → player")
spans = {who: {s: [] for s in stretches} for who in names.values()}
state = {}  # thread → (stage, time)
for line in open(sys.argv[1]):
    m = re.match(r"\s*(\d+)/(\d+)\s+([\d.]+):\s+raw_syscalls:sys_(enter|exit):\s+NR (\d+)(?:.*= (-?\d+))?", line)
    if not m or m.group(1) not in names:
        continue
    who, tid, t, kind, nr = names[m.group(1)], m.group(2), float(m.group(3)), m.group(4), int(m.group(5))
    ret = int(m.group(6)) if m.group(6) is not None else None
    stage = state.get(tid, (None, 0))[0]
    if kind == "exit" and nr == RECVFROM and ret is not None and 50 < ret < 4096 and stage in (None, "request"):
        state[tid] = ("request", t)  # a player's GET: a few hundred bytes
    elif stage == "request" and kind == "enter" and nr in (SENDTO, WRITEV):
        spans[who]["request → Plex"].append(t - state[tid][1])
        state[tid] = ("sent", t)
    elif stage == "sent" and kind == "exit" and nr == RECVFROM and ret is not None and ret > 0:
        spans[who]["Plex → head"].append(t - state[tid][1])
        state[tid] = ("head", t)
    elif stage == "head" and kind == "enter" and nr in (WRITEV, WRITE, SENDTO):
        spans[who]["head → player"].append(t - state[tid][1])
        state.pop(tid)
for who, s in spans.items():
    if not s["head → player"]:
        sys.exit(f"ttfb_path.sh: no complete request of {who} in the trace (did perf record it?)")
done = {who: len(s["head → player"]) for who, s in spans.items()}
print(f"fresh-connection fetches ({done['plexgate']} through plexgate, {done['nginx']} through nginx), µs per stretch, p10 / p50 / p90")
print("| stretch | plexgate | nginx | plexgate − nginx, p50 |")
print("|---|---:|---:|---:|")
def pct(v):
    v = sorted(x * 1e6 for x in v)
    return v[len(v) // 10], statistics.median(v), v[9 * len(v) // 10]
for name in stretches:
    pg, ng = pct(spans["plexgate"][name]), pct(spans["nginx"][name])
    print(f"| {name} | {pg[0]:.0f} / {pg[1]:.0f} / {pg[2]:.0f} | {ng[0]:.0f} / {ng[1]:.0f} / {ng[2]:.0f} | {pg[1] - ng[1]:+.0f} |")
PY
