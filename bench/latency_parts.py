#!/usr/bin/env python3
"""bench/latency_parts: where the time of one request goes, from the API
request to the stored result seen by the client, for /bin/true on one real
agent (the loop of common.single_latency). perf trace records the syscalls of
tetherd and the agent that mark each step; the table gives the median of each
part over the requests. perf trace adds some microseconds to every syscall it
records, so the parts add up to more than the untraced latency: compare
builds with this same tool. Usage: bench/latency_parts.py [--runs 100]"""
import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import harness  # noqa: E402

SYSCALLS = "read,recvfrom,write,writev,sendto,fdatasync,rename,openat,clone3,clone,vfork,wait4"
LINE = re.compile(r"^\s*([\d.]+) \(\s*([\d.]+)? ?ms\): ([^/ ]+)/(\d+) (\w+)\((.*?)\)\s+= (-?\d+)")
CONT = re.compile(r"^\s*([\d.]+) \(\s*([\d.]+) ms\): ([^/ ]+)/(\d+)\s+\.\.\. \[continued\]: (\w+)\(\)\)?\s+= (-?\d+)")

PARTS = [
    ("HTTP request read to the job's commit (parse, insert, WAL writes)", "post", "jc_s"),
    ("the job's commit: fdatasync", "jc_s", "jc_e"),
    ("commit done to run frame written", "jc_e", "run_tx"),
    ("run frame: loopback and agent wake-up", "run_tx", "run_rx"),
    ("agent: run journal record (its file written)", "run_rx", "rj"),
    ("agent: checks and spawn set-up", "rj", "sp_s"),
    ("agent: spawn (clone to exec)", "sp_s", "sp_e"),
    ("the program runs; its exit is seen (wait4)", "sp_e", "exit"),
    ("agent: exit to result journal record", "exit", "resj"),
    ("agent: result journal to result frame sent", "resj", "res_tx"),
    ("result frame: loopback and tetherd wake-up", "res_tx", "res_rx"),
    ("tetherd: result read to its commit", "res_rx", "rc_s"),
    ("the result's commit: fdatasync", "rc_s", "rc_e"),
    ("result committed to the client's GET answered", "rc_e", "seen"),
]


def parse(path, srv_pid):
    """Events (start ms, end ms, side, syscall, args, ret) in time order."""
    ev, pending = [], {}
    with open(path) as f:
        for line in f:
            m = LINE.match(line)
            if m:
                t, dur, comm, tid, name, args, ret = m.groups()
                t = float(t)
                side = "srv" if comm.startswith("tetherd") else "agent"
                ev.append([t, t + float(dur or 0), side, name, args, int(ret)])
                continue
            if "..." in line and "[continued]" not in line:
                m = re.match(r"^\s*([\d.]+) \(\s*\): ([^/ ]+)/(\d+) (\w+)\((.*?)\)\s+\.\.\.", line)
                if m:
                    t, comm, tid, name, args = m.groups()
                    pending[(tid, name)] = (float(t), comm, args)
                continue
            m = CONT.match(line)
            if m:
                t, dur, comm, tid, name, ret = m.groups()
                st = pending.pop((tid, name), None)
                if st:
                    side = "srv" if st[1].startswith("tetherd") else "agent"
                    ev.append([st[0], float(t) + float(dur), side, name, st[2], int(ret)])
    ev.sort(key=lambda e: e[0])
    return ev


def fd_of(args):
    m = re.match(r"fd: (\d+)", args)
    return int(m.group(1)) if m else -1


def requests(ev):
    """The marks of each request (dicts of ms), found in order."""
    srv = [e for e in ev if e[2] == "srv"]
    # The POST is a read that a commit follows; so is, at times, a GET
    # that came in with a result: the POST's size is the commonest.
    # HTTP answers go out with write(), agent frames with writev().
    # (not the sync thread's 8-byte eventfd writes that wake the loop)
    writes = [fd_of(e[4]) for e in srv if e[3] == "write" and e[5] != 8]
    if not writes:
        return []
    hfd = statistics.mode(writes)
    sizes = [e[5] for i, e in enumerate(srv[:-1]) if e[3] == "read" and fd_of(e[4]) == hfd
             and e[5] > 0 and srv[i + 1][3] == "fdatasync"]
    if not sizes:
        return []
    size = statistics.mode(sizes)
    posts = [e[0] for e in srv if e[3] == "read" and fd_of(e[4]) == hfd and e[5] == size]
    out = []
    for k, t0 in enumerate(posts[:-1]):
        win = [e for e in ev if t0 <= e[0] < posts[k + 1]]
        marks = {"post": t0}

        def first(after, side, names, cond=lambda e: True):
            for e in win:
                if e[0] >= after and e[2] == side and e[3] in names and cond(e):
                    return e
            return None
        def last(after, before, names):
            found = None
            for e in win:
                if after <= e[0] < before and e[2] == "agent" and e[3] in names:
                    found = e
            return found
        try:
            jc = first(t0, "srv", ("fdatasync",))
            marks["jc_s"], marks["jc_e"] = jc[0], jc[1]
            run = first(jc[1], "srv", ("writev", "write", "sendto"), lambda e: e[5] > 8)
            afd = fd_of(run[4])
            marks["run_tx"] = run[0]
            marks["run_rx"] = first(run[0], "agent", ("recvfrom", "read"), lambda e: e[5] > 0)[1]
            sp = first(marks["run_rx"], "agent", ("clone3", "clone", "vfork"))
            marks["sp_s"], marks["sp_e"] = sp[0], sp[1]
            marks["rj"] = last(marks["run_rx"], sp[0], ("rename", "openat"))[1]
            marks["exit"] = first(sp[1], "agent", ("wait4",), lambda e: e[5] > 0)[1]
            marks["res_tx"] = first(marks["exit"], "agent", ("sendto", "writev"),
                                    lambda e: e[5] > 200)[0]
            marks["resj"] = last(marks["exit"], marks["res_tx"], ("rename", "openat"))[1]
            marks["res_rx"] = first(marks["res_tx"], "srv", ("read", "recvfrom"),
                                    lambda e: fd_of(e[4]) == afd and e[5] > 200)[1]
            rc = first(marks["res_rx"], "srv", ("fdatasync",))
            marks["rc_s"], marks["rc_e"] = rc[0], rc[1]
            marks["seen"] = first(rc[1], "srv", ("write", "writev", "sendto"),
                                  lambda e: fd_of(e[4]) != afd)[1]
        except (TypeError, IndexError):
            if os.environ.get("PARTS_DEBUG"):
                print("lost after", sorted(marks, key=marks.get)[-1], file=sys.stderr)
            continue  # an event was lost (perf trace drops some under load)
        out.append(marks)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="tether-parts-")
    s = harness.Server(tmp).start()
    a = harness.Agent(tmp, s, "lat").start()
    trace = os.path.join(tmp, "trace.txt")
    try:
        s.wait_connected("lat")
        common.single_latency(s, "lat", 50)
        untraced = statistics.median(common.single_latency(s, "lat", args.runs))
        p = subprocess.Popen(["perf", "trace", "-o", trace, "-e", SYSCALLS, "-p",
                              "%d,%d" % (s.proc.p.pid, a.proc.p.pid)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.5)  # attached
        traced = statistics.median(common.single_latency(s, "lat", args.runs))
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        p.wait(30)
    finally:
        a.stop()
        s.stop()
    reqs = requests(parse(trace, s.proc.p.pid))
    print("| part (median of %d requests, perf trace) | ms |" % len(reqs))
    print("| --- | --- |")
    total = 0.0
    for name, a0, a1 in PARTS:
        v = statistics.median([r[a1] - r[a0] for r in reqs]) if reqs else 0
        total += v
        print("| %s | %.3f |" % (name, v))
    print("| sum of the parts | %.3f |" % total)
    print("| whole request, traced / untraced (client's clock, median) | %.3f / %.3f |" % (traced, untraced))


if __name__ == "__main__":
    main()
