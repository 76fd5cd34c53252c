#!/bin/sh
# bench/queue_storm.sh: a reconnect storm of offline clients with queued jobs.
#
# 10,000 tether-swarm agents connect once (so the server knows them), go
# away, and get one queued job each (one multi-client invocation with
# "queue_offline": true). Then all of them reconnect at once. Measured: the
# time from the reconnect to every job dispatched (none queued any more) and
# to every result stored, and the latency of a GET /api/v1/status (sampled
# every 20 ms) during the storm. Three runs, each on a fresh tetherd; prints
# the median and range of each figure (docs/benchmarks.md).
#
# Usage: bench/queue_storm.sh [BUILD_DIR] (default: build). Needs about 3 GB
# of free memory and a descriptor limit above 20,500 (it raises its own soft
# limit when the hard limit allows). Bounded: each wait gives up after 120 s.
set -eu
BUILD=${1:-build}
export TETHER_BUILD=$(cd "$BUILD" && pwd)
N=${QUEUE_STORM_AGENTS:-10000}
RUNS=${QUEUE_STORM_RUNS:-3}
ulimit -n 30000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
BASELINE=${QUEUE_STORM_BASELINE:-0}
exec /usr/bin/python3 - "$N" "$RUNS" "$BASELINE" <<'EOF'
import os, statistics, subprocess, sys, threading, time
sys.path.insert(0, os.path.join(os.getcwd(), "tests", "e2e"))
import harness

n, runs = int(sys.argv[1]), int(sys.argv[2])
# QUEUE_STORM_BASELINE=1: the same reconnect storm without queued jobs (the
# time until every agent is listed connected), for comparison.
baseline = sys.argv[3] == "1"
tmp = "/tmp/tether-queue-storm-%d" % os.getpid()
os.makedirs(tmp)


def swarm(s):
    return subprocess.Popen([harness.binary("tether-swarm"), "--server", s.agent_address,
                             "--auth", harness.AGENT_AUTH, "--count", str(n), "--max-pending", "1000"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def count(s, jid, status):
    st, m = s.api("GET", "/api/v1/commands/%s/jobs?filter[status]=%s&page[limit]=1" % (jid, status))
    return m["meta"]["count"] if st == 200 else -1


def one_run():
    s = harness.Server(tmp, extra="[server]\nmax_concurrent_handshakes = 20000\n").start()
    sw = swarm(s)
    assert "all %d connected" % n in sw.stdout.readline()
    sw.terminate()
    sw.wait(30)
    harness.wait_until(lambda: s.api("GET", "/api/v1/clients?filter[connection_state]=connected&page[limit]=1")[1]["meta"]["count"] == 0,
                       120, "every swarm agent disconnected")
    ids = ["swarm-%05d" % i for i in range(n)]
    jid = None if baseline else s.multi({"command": "x", "client_ids": ids, "execute_concurrently": True,
                   "queue_offline": True, "expires_in_sec": 3600})
    if jid:
        harness.wait_until(lambda: count(s, jid, "queued") == n, 120, "every job queued", interval=0.2)
    lat, stop = [], threading.Event()

    def sample():
        while not stop.is_set():
            t = time.monotonic()
            st, _ = s.api("GET", "/api/v1/status")
            assert st == 200
            lat.append((time.monotonic() - t) * 1000)
            time.sleep(0.02)
    th = threading.Thread(target=sample)
    t0 = time.monotonic()
    sw = swarm(s)
    th.start()
    if baseline:
        harness.wait_until(lambda: s.api("GET", "/api/v1/clients?filter[connection_state]=connected&page[limit]=1")[1]["meta"]["count"] == n,
                           120, "every agent connected", interval=0.1)
    else:
        harness.wait_until(lambda: count(s, jid, "queued") == 0, 120, "every job dispatched", interval=0.1)
    dispatched = time.monotonic() - t0
    if not baseline:
        harness.wait_until(lambda: count(s, jid, "successful") == n, 120, "every result", interval=0.1)
    done = time.monotonic() - t0
    stop.set()
    th.join()
    sw.terminate()
    sw.wait(30)
    s.stop()
    lat.sort()
    return dispatched, done, statistics.median(lat), lat[int(len(lat) * 0.99) - 1], lat[-1]


res = [one_run() for _ in range(runs)]
names = ["all dispatched (s)", "all results stored (s)", "GET latency median (ms)",
         "GET latency p99 (ms)", "GET latency max (ms)"]
print("queue storm: %d agents reconnecting %s, %d runs" % (
    n, "without queued jobs (baseline)" if baseline else "with one queued job each", runs))
for i, name in enumerate(names):
    v = [r[i] for r in res]
    print("  %-26s median %8.2f   range %.2f - %.2f" % (name, statistics.median(v), min(v), max(v)))
EOF
