#!/usr/bin/env python3
"""bench/regress: every figure of issue 19 in one table, each the median
(range) of N runs, measured side by side in one run on the build in build/
(nothing is built here). Each part starts its own tetherd on random loopback
ports; every loop is bounded; the whole runs in under 5 minutes at N=3.

  lat     API request to stored result, one real agent, /bin/true (median of 200)
  subs    submissions per second (wrk, 32 keep-alive connections, one swarm agent)
  fan     10,000-agent fan-out: server clock, tetherd CPU per agent, epoll_ctl per agent
  big     19,800 agents (two swarm processes: the 20,000 descriptor limit):
          GET /clients?page[limit]=10 latency and tetherd RSS growth, GET /status
          p50/p99 during a fan-out to all and during a reconnect storm

Usage: bench/regress.py [--runs 3] [--only lat,subs,fan,big] [--agents 10000] [--big 19800]
                        [--vs OTHER_BUILD [--rounds 2]]

With --vs, each part runs on build/ (or TETHER_BUILD) and on OTHER_BUILD in
turn, A then B, for --rounds rounds, and the table has a column for each
build and round: on a noisy machine only a difference that holds in every
round says something."""
import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import scale  # noqa: E402
from common import harness, med_range, percentile  # noqa: E402

HANDSHAKES = "[server]\nmax_concurrent_handshakes = 5000\n"


def part_lat(tmp, runs, per_run):
    s = harness.Server(tmp).start()
    a = harness.Agent(tmp, s, "lat", policy="allow = ['.*']\ndeny = []").start()
    try:
        s.wait_connected("lat")
        common.single_latency(s, "lat", 20)  # warm-up: caches, the agent's journal dir
        meds, polled = [], []
        for _ in range(runs):
            meds.append(statistics.median(common.single_latency(s, "lat", per_run)))
            polled.append(statistics.median(common.single_latency(s, "lat", per_run, wait=False)))
    finally:
        a.stop()
        s.stop()
    return [("API request to stored result, one real agent, `/bin/true` (median of %d; the "
             "client waits with `?wait=60`)" % per_run, "< 1.3 ms", med_range(meds) + " ms"),
            ("the same, the client polling the job in a tight loop (the method before 2026-12-02)",
             "-", med_range(polled) + " ms")]


def part_subs(tmp, runs, seconds):
    scale.ensure_wrk()
    rates, errs = [], []
    for _ in range(runs):
        rps, non2xx = scale.submissions(tmp, seconds)
        rates.append(rps)
        errs += non2xx
    return [("submissions per second (wrk, 32 keep-alive connections, %d s, one agent)" % seconds,
             "> 20,000", med_range(rates, "%.0f") + "/s" + (" " + " ".join(errs) if errs else ""))]


def swarm(s, n, prefix, tag, *extra):
    return harness.Swarm(s, n, "--tags", tag, "--min-retry-ms", "200", "--max-retry-ms", "2000",
                         *extra, prefix=prefix)


def count_epoll(s, n, tag, runs):
    out = []
    for _ in range(runs):
        c = common.SyscallCount(s.proc.p.pid, "epoll_ctl")
        common.fanout_once(s, n, tag)
        k = c.stop()
        if k is None:
            return [], None
        out.append(k / n)
    return out, c.tool


def part_fan(tmp, runs, n):
    s = harness.Server(tmp, extra=HANDSHAKES).start()
    sw = swarm(s, n, "f-", "bench")
    try:
        sw.wait_connected_lines(1, 120)
        harness.wait_until(lambda: s.api("GET", "/api/v1/clients?page[limit]=1")[1]["meta"]["count"] == n,
                           60, "all clients listed")
        common.fanout_once(s, n, "bench")  # warm-up
        server, cpu, store = [], [], []
        for _ in range(runs):
            k0 = common.metric(s, "tether_store_commit_seconds_sum")
            st, wall, c = common.fanout_once(s, n, "bench")
            server.append(st)
            cpu.append(c / n * 1e6)
            store.append(100 * (common.metric(s, "tether_store_commit_seconds_sum") - k0) / st)
        epoll, tool = count_epoll(s, n, "bench", runs)
    finally:
        sw.stop()
        s.stop()
    return [("%d-agent fan-out, server clock" % n, "< 0.35 s", med_range(server, "%.3f") + " s"),
            ("tetherd CPU per fanned-out agent (%d, utime+stime over the fan-out)" % n, "<= 25 us",
             med_range(cpu, "%.1f") + " us"),
            ("time in store commits on the loop (statements, WAL writes and the fsync, which "
             "the sync thread, the default, moves off the loop) / the fan-out's server clock (%d)" % n, "-",
             med_range(store, "%.0f") + " %"),
            ("`epoll_ctl` per fan-out per agent (%d, %s, runs not timed)" % (n, tool or "no tool"),
             "< 1", med_range(epoll, "%.2f") if epoll else "not measured")]


def wait_storm(sws, lines, timeout):
    for w in sws:
        w.wait_connected_lines(lines, timeout)


def part_big(tmp, runs, n):
    s = harness.Server(tmp, extra=HANDSHAKES).start()
    half = n // 2
    sws = [swarm(s, half, "b0-", "big"), swarm(s, n - half, "b1-", "big")]
    rows = []
    try:
        wait_storm(sws, 1, 180)
        harness.wait_until(lambda: s.api("GET", "/api/v1/status")[0] == 200, 30, "status")
        time.sleep(1)  # the connection storm's writes settle
        pid = s.proc.p.pid
        rss0 = harness.rss_kb(pid)
        common.time_get(s, "/api/v1/clients?page[limit]=10", 1)
        rss1 = harness.rss_kb(pid)
        meds = [statistics.median(common.time_get(s, "/api/v1/clients?page[limit]=10", 20))
                for _ in range(runs)]
        rss2 = harness.rss_kb(pid)
        rows.append(("`GET /api/v1/clients?page[limit]=10` at %d agents (median of 20)" % n,
                     "< 2 ms", med_range(meds) + " ms"))
        rows.append(("tetherd RSS growth at %d agents: first `GET /clients` / %d more" % (n, 20 * runs),
                     "none", "%+.1f / %+.1f MB (RSS %d MB)" % ((rss1 - rss0) / 1024, (rss2 - rss1) / 1024,
                                                             rss2 // 1024)))
        fan50, fan99, fan_s = [], [], []
        common.fanout_once(s, n, "big")  # warm-up
        for _ in range(runs):
            p = common.Probe(s)
            st, wall, _ = common.fanout_once(s, n, "big")
            ms = p.stop()
            fan_s.append(st)
            fan50.append(percentile(ms, 50))
            fan99.append(percentile(ms, 99))
        rows.append(("%d-agent fan-out, server clock" % n, "-", med_range(fan_s, "%.3f") + " s"))
        rows.append(("`GET /status` during a %d-agent fan-out, p50 / p99" % n, "< 20 ms p99",
                     med_range(fan50, "%.1f") + " / " + med_range(fan99, "%.1f") + " ms"))
        st50, st99, st_s, errs = [], [], [], 0
        for i in range(runs):
            s.stop()
            t0 = time.monotonic()
            s.start()
            p = common.Probe(s)
            wait_storm(sws, i + 2, 180)
            st_s.append(time.monotonic() - t0)
            ms = p.stop()
            errs += p.errors
            st50.append(percentile(ms, 50))
            st99.append(percentile(ms, 99))
        rows.append(("reconnect storm: %d agents back after a tetherd restart" % n, "-",
                     med_range(st_s) + " s"))
        rows.append(("`GET /status` during that storm, p50 / p99" + (" (%d failed)" % errs if errs else ""),
                     "< 20 ms p99", med_range(st50, "%.1f") + " / " + med_range(st99, "%.1f") + " ms"))
    finally:
        for w in sws:
            w.stop()
        s.stop()
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="N: runs per figure (default 3)")
    ap.add_argument("--only", default="lat,subs,fan,big", help="parts to run (default all)")
    ap.add_argument("--lat-runs", type=int, default=200, help="requests per latency run (default 200)")
    ap.add_argument("--seconds", type=int, default=5, help="wrk duration per run (default 5)")
    ap.add_argument("--agents", type=int, default=10000, help="fan-out size (default 10000)")
    ap.add_argument("--big", type=int, default=19800, help="the large fleet (default 19800)")
    ap.add_argument("--store-sync-thread", choices=("true", "false"), default=None,
                    help="every tetherd with server.store_sync_thread set so (default: tetherd's "
                         "own default, true: the commits' fsync on a thread; false: inside each "
                         "COMMIT on the loop)")
    ap.add_argument("--vs", default=None, metavar="OTHER_BUILD",
                    help="a second build directory: every part runs on both, in turn")
    ap.add_argument("--rounds", type=int, default=2, help="with --vs: A/B rounds (default 2)")
    args = ap.parse_args()
    if args.store_sync_thread:
        os.environ["TETHER_SERVER_CONFIG"] = "[server]\nstore_sync_thread = %s\n" % args.store_sync_thread
    parts = set(args.only.split(","))
    tmp = tempfile.mkdtemp(prefix="tether-regress-")
    t0 = time.monotonic()
    rows = []
    todo = [("lat", lambda: part_lat(tmp, args.runs, args.lat_runs)),
            ("subs", lambda: part_subs(tmp, args.runs, args.seconds)),
            ("fan", lambda: part_fan(tmp, args.runs, args.agents)),
            ("big", lambda: part_big(tmp, args.runs, args.big))]
    builds = [harness.BUILD] + ([os.path.abspath(args.vs)] if args.vs else [])
    rounds = args.rounds if args.vs else 1
    cols = [(r, b) for r in range(rounds) for b in builds]
    for name, fn in todo:
        if name not in parts:
            continue
        got_cols = []
        for r, b in cols:
            harness.BUILD = b  # (harness.binary reads it at each call)
            p0 = time.monotonic()
            try:
                got = fn()
            except Exception as e:  # one part failing keeps the others' figures
                got = [("part `%s`" % name, "-", "**failed**: %s" % str(e).splitlines()[0][:200])]
            got_cols.append(got)
            print("regress: %s done in %.0f s%s" % (name, time.monotonic() - p0,
                                                  " (%s, round %d)" % (b, r + 1) if args.vs else ""),
                  file=sys.stderr, flush=True)
            for row in got:
                print("regress:   %s: %s" % (row[0], row[2]), file=sys.stderr, flush=True)
        # one row per figure; a part that failed on one build gives its rows as they are
        first = max(got_cols, key=len)
        for i, row in enumerate(first):
            rows.append((row[0], row[1]) + tuple(g[i][2] if i < len(g) else "-" for g in got_cols))
    harness.BUILD = builds[0]
    heads = ["measured"] if not args.vs else \
        ["%s, round %d" % ("A" if b == builds[0] else "B", r + 1) for r, b in cols]
    print("| figure (median (range) of %d runs) | target | %s |" % (args.runs, " | ".join(heads)))
    print("| --- | --- | %s |" % " | ".join("---" for _ in heads))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if args.vs:
        print("\nA: %s\nB: %s" % (builds[0], builds[1]))
    print("\n(%.0f s; logs in %s)" % (time.monotonic() - t0, tmp))


if __name__ == "__main__":
    main()
