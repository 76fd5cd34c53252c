#!/usr/bin/env python3
"""bench/api_fleet: fleet-sized API lists at N swarm agents (issue 19).

Connects N swarm agents (two swarm processes, each under the descriptor
limit), then times GET /api/v1/clients with page[limit]=10 (plain, sorted,
filtered), a group's clients and GET /api/v1/status: median and p99 of
--runs requests each, tetherd's CPU time per request (from /proc) and its
RSS growth over the whole series. Bounded in time; prints a table.
Usage: bench/api_fleet.py [--agents 19800] [--runs 50]"""
import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
import harness  # noqa: E402

QUERIES = [
    ("/api/v1/clients?page[limit]=10", "clients, default order"),
    ("/api/v1/clients?page[limit]=10&sort=-name", "clients, sort=-name"),
    ("/api/v1/clients?page[limit]=10&sort=hostname&page[offset]=9000", "clients, sort=hostname, offset 9000"),
    ("/api/v1/clients?page[limit]=10&filter[name]=*-0001*", "clients, filter[name]=*-0001*"),
    ("/api/v1/clients?page[limit]=10&filter[connection_state]=connected", "clients, filter[connection_state]"),
    ("/api/v1/clients?page[limit]=10&filter[*]=*1234*", "clients, filter[*]"),
    ("/api/v1/clients?page[limit]=10&filter[groups]=all", "clients, filter[groups]=all"),
    ("/api/v1/client-groups/all", "a group (all) with its client_ids"),
    ("/api/v1/status", "status"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=19800)
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="tether-apifleet-")
    s = harness.Server(tmp, extra="[server]\nmax_concurrent_handshakes = 5000\n").start(nofile=20000)
    half = args.agents // 2
    sws = [harness.Swarm(s, cnt, prefix="c%d-" % i) for i, cnt in enumerate((half, args.agents - half))]
    try:
        for sw in sws:
            sw.wait_connected_lines(1, timeout=120)
        harness.wait_until(lambda: s.api("GET", "/api/v1/clients?page[limit]=1")[1]["meta"]["count"]
                           == args.agents, 60, "every agent listed")
        st, _ = s.api("POST", "/api/v1/client-groups", {"id": "all", "params": {"client_id": ["*"]}})
        pid = s.proc.p.pid
        rss0 = harness.rss_kb(pid)
        print("| request (%d agents, %d runs) | median ms | p99 ms | tetherd CPU ms/request |" % (args.agents, args.runs))
        print("| --- | --- | --- | --- |")
        for path, name in QUERIES:
            lat = []
            c0 = harness.cpu_seconds(pid)
            for _ in range(args.runs):
                t = time.perf_counter()
                st, body = s.api("GET", path)
                lat.append((time.perf_counter() - t) * 1000)
                assert st == 200, (path, st, body)
            cpu = (harness.cpu_seconds(pid) - c0) * 1000 / args.runs
            lat.sort()
            print("| %s | %.2f | %.2f | %.2f |" % (name, statistics.median(lat),
                                                  lat[max(0, int(len(lat) * 0.99) - 1)], cpu))
        rss1 = harness.rss_kb(pid)
        # a multi-client job to the whole fleet, then its GET and its jobs
        jid = s.multi({"command": "x", "group_ids": ["all"], "execute_concurrently": True})
        harness.wait_until(lambda: s.api("GET", "/api/v1/commands/" + jid)[1]["data"]["finished_at"],
                           120, "the fan-out to finish", interval=0.5)
        for path, name in (("/api/v1/commands/" + jid, "GET of a %d-target multi job" % args.agents),
                           ("/api/v1/commands/%s/jobs?page[limit]=10" % jid, "its jobs, page[limit]=10")):
            lat = []
            c0 = harness.cpu_seconds(pid)
            for _ in range(args.runs):
                t = time.perf_counter()
                st, body = s.api("GET", path)
                lat.append((time.perf_counter() - t) * 1000)
                assert st == 200, (path, st, body)
            cpu = (harness.cpu_seconds(pid) - c0) * 1000 / args.runs
            lat.sort()
            print("| %s | %.2f | %.2f | %.2f |" % (name, statistics.median(lat),
                                                  lat[max(0, int(len(lat) * 0.99) - 1)], cpu))
        print("tetherd RSS %d MB before the list series, %d MB after" % (rss0 // 1024, rss1 // 1024))
    finally:
        for sw in sws:
            sw.stop()
        s.stop()


if __name__ == "__main__":
    main()
