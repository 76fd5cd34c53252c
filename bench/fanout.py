#!/usr/bin/env python3
"""bench/fanout: time from POST /api/v1/commands to all results stored, for
1,000 and 10,000 tether-swarm agents (concurrent mode, median of 5), and
tetherd's memory per connected idle agent. Bounded in time; prints a table.

Usage: bench/fanout.py [--counts 1000,10000] [--runs 5]"""
import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
import harness  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


rss_kb = harness.rss_kb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--counts", default="1000,10000")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    tmp = "/tmp/tether-bench-%d" % os.getpid()
    os.makedirs(tmp)
    rows = []
    for n in [int(x) for x in args.counts.split(",")]:
        s = harness.Server(tmp, extra="[server]\nmax_concurrent_handshakes = 5000\n").start()
        base = rss_kb(s.proc.p.pid)
        t0 = time.monotonic()
        sw = subprocess.Popen([harness.binary("tether-swarm"), "--server", "127.0.0.1:%d" % s.agent_port,
                               "--auth", "clientAuth1:1234", "--count", str(n), "--tags", "bench",
                               "--connect-rate", "3000"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = sw.stdout.readline()
        connect = time.monotonic() - t0
        assert "all %d connected" % n in line, line
        harness.wait_until(lambda: s.api("GET", "/api/v1/clients?page[limit]=1")[1]["meta"]["count"] == n,
                           60, "all clients listed")
        time.sleep(1)  # let the connection storm's writes settle before measuring memory
        per_agent = (rss_kb(s.proc.p.pid) - base) * 1024 / n
        server_times, wall_times = [], []
        for _ in range(args.runs):
            st, wall, _ = common.fanout_once(s, n, "bench")
            wall_times.append(wall)
            server_times.append(st)
        sw.terminate()
        sw.wait()
        s.stop()
        rows.append((n, connect, statistics.median(server_times), statistics.median(wall_times),
                     per_agent))
    print("| agents | connect (s) | fan-out, server clock (s, median of %d) | fan-out, client view (s) | tetherd RSS per agent (KB) |" % args.runs)
    print("| --- | --- | --- | --- | --- |")
    for n, c, st, wt, pa in rows:
        print("| %d | %.2f | %.3f | %.3f | %.1f |" % (n, c, st, wt, pa / 1024))


if __name__ == "__main__":
    main()
