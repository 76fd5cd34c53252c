#!/usr/bin/env python3
"""bench/frames: what one fan-out to N tether-swarm agents costs tetherd
(issue 19): CPU time per fanned-out agent (utime + stime from /proc, from the
POST to the multi job's finished_at), the fan-out on the server's clock, and
the syscalls tetherd makes per fan-out (perf stat on its syscall
tracepoints: epoll_ctl, the writes and the reads). Median and range of
--runs fan-outs. --perf-record FILE records one more fan-out with call
stacks. --swarm-args passes options to the swarm (e.g. "--protocol 1").
Bounded in time; prints a table.

Usage: bench/frames.py [--count 10000] [--runs 5] [--perf-record FILE]"""
import argparse
import datetime
import os
import shlex
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
import harness  # noqa: E402

SYSCALLS = ["epoll_ctl", "epoll_wait", "sendto", "sendmsg", "write", "writev", "recvfrom",
            "read", "readv"]


def ts(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")[:26] + "+00:00")


def perf_stat(pid, out):
    events = ",".join("syscalls:sys_enter_" + s for s in SYSCALLS)
    return subprocess.Popen(["perf", "stat", "-x", ",", "-o", out, "-e", events, "-p", str(pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def perf_stat_read(out):
    counts = {}
    with open(out) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) > 2 and parts[2].startswith("syscalls:sys_enter_"):
                try:
                    counts[parts[2][len("syscalls:sys_enter_"):]] = int(parts[0])
                except ValueError:
                    pass
    return counts


SETTLE = 1.5  # deferred work after the last result: acks held up to 1 s, start records


def fan_out(s, n, idle_rate):
    """One fan-out; returns (server clock s, client view s, CPU s to the
    end, CPU s with the deferred work, GET polls, jid)."""
    pid = s.proc.p.pid
    polls = [0]
    cpu0 = harness.cpu_seconds(pid)
    w0 = time.monotonic()
    st, j = s.api("POST", "/api/v1/commands", {"command": "x", "tags": {"tags": ["bench"]},
                                               "execute_concurrently": True})
    assert st == 200, (st, j)
    jid = j["data"]["jid"]

    def finished():
        polls[0] += 1
        d = s.api("GET", "/api/v1/commands/" + jid)[1]["data"]
        return d if d["finished_at"] else None
    m = harness.wait_until(finished, 120, "finished_at", interval=0.1)
    wall = time.monotonic() - w0
    cpu = harness.cpu_seconds(pid) - cpu0
    time.sleep(SETTLE)
    settled = harness.cpu_seconds(pid) - cpu0 - idle_rate * (time.monotonic() - w0)
    assert m["summary"]["successful"] == n, m["summary"]
    return ((ts(m["finished_at"]) - ts(m["started_at"])).total_seconds(), wall, cpu, settled,
            polls[0], jid)


def idle_cpu_rate(pid, seconds=3.0):
    c0, t0 = harness.cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (harness.cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def poll_cost(s, jid, k=10):
    pid = s.proc.p.pid
    c0 = harness.cpu_seconds(pid)
    for _ in range(k):
        s.api("GET", "/api/v1/commands/" + jid)
    return (harness.cpu_seconds(pid) - c0) / k


def med(xs, fmt):
    return (fmt % statistics.median(xs)) + " (" + (fmt % min(xs)) + "–" + (fmt % max(xs)) + ")"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--perf-record", default="")
    ap.add_argument("--perf-args", default="-g", help="perf record options (default -g)")
    ap.add_argument("--swarm-args", default="")
    ap.add_argument("--no-syscalls", action="store_true")
    ap.add_argument("--syscall-runs", type=int, default=2)
    args = ap.parse_args()
    n = args.count
    tmp = "/tmp/tether-bench-frames-%d" % os.getpid()
    os.makedirs(tmp)
    s = harness.Server(tmp, extra="[server]\nmax_concurrent_handshakes = 5000\n").start()
    sw = subprocess.Popen([harness.binary("tether-swarm"), "--server", "127.0.0.1:%d" % s.agent_port,
                           "--auth", "clientAuth1:1234", "--count", str(n), "--tags", "bench",
                           "--connect-rate", "3000"] + shlex.split(args.swarm_args),
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = sw.stdout.readline()
        assert "all %d connected" % n in line, line
        harness.wait_until(lambda: s.api("GET", "/api/v1/clients?page[limit]=1")[1]["meta"]["count"] == n,
                           60, "all clients listed")
        time.sleep(1)
        idle = idle_cpu_rate(s.proc.p.pid)
        fan_out(s, n, idle)  # warm-up: first-touch allocations, the store's pages
        server, wall, cpu, settled, polls, calls = [], [], [], [], [], []
        for _ in range(args.runs):
            a, b, c, d, k, jid = fan_out(s, n, idle)
            server.append(a)
            wall.append(b)
            cpu.append(c)
            settled.append(d)
            polls.append(k)
        per_poll = poll_cost(s, jid)
        # Syscalls counted in fan-outs of their own: the tracepoints slow
        # every syscall down, which would show in the CPU figure.
        for _ in range(0 if args.no_syscalls else args.syscall_runs):
            out = os.path.join(tmp, "perfstat.txt")
            ps = perf_stat(s.proc.p.pid, out)
            time.sleep(0.3)
            fan_out(s, n, idle)
            ps.send_signal(signal.SIGINT)
            ps.wait(30)
            calls.append(perf_stat_read(out))
        if args.perf_record:
            pr = subprocess.Popen(["perf", "record"] + shlex.split(args.perf_args) + ["-o", args.perf_record, "-p",
                                   str(s.proc.p.pid)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            fan_out(s, n, idle)
            pr.send_signal(signal.SIGINT)
            pr.wait(60)
    finally:
        sw.terminate()
        sw.wait()
        s.stop()
    print("| %d agents, %d fan-outs | median (range) |" % (n, args.runs))
    print("| --- | --- |")
    print("| fan-out, server clock (s) | %s |" % med(server, "%.3f"))
    print("| fan-out, client view (s) | %s |" % med(wall, "%.3f"))
    print("| tetherd CPU per fanned-out agent, POST to finished (µs) | %s |" % med([c * 1e6 / n for c in cpu], "%.1f"))
    print("| the same with the deferred work (acks, start records; %.1f s more, idle CPU %.1f %% subtracted) (µs) | %s |"
          % (SETTLE, idle * 100, med([c * 1e6 / n for c in settled], "%.1f")))
    print("| of which polling the job (GET, %s per fan-out, %.1f ms CPU each) (µs) | %s |"
          % (med(polls, "%d"), per_poll * 1e3, med([k * per_poll * 1e6 / n for k in polls], "%.1f")))
    for sc in SYSCALLS:
        if calls and any(sc in c for c in calls):
            print("| `%s` per agent | %s |" % (sc, med([c.get(sc, 0) / n for c in calls], "%.2f")))


if __name__ == "__main__":
    main()
