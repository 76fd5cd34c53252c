#!/usr/bin/env python3
"""bench/instructions: tetherd's user-space instructions per fanned-out
agent and per submission, counted by valgrind's callgrind (not timed: the count repeats for the
same binary whatever else the machine does, so two builds compare on a
noisy guest where CPU seconds move by a third between rounds).

tetherd runs under callgrind with a real tether-swarm (not under valgrind);
after two warm-up fan-outs the counters are zeroed, RUNS fan-outs to N
agents run (each waited for with the ?wait= long-poll, as bench/fanout.py
does), and the counts are dumped. The kernel's work (the socket writes) is
not counted. The submission part posts --subs single jobs one after the
other (POST /api/v1/clients/{id}/commands, one keep-alive connection, one
swarm agent answering each) after 200 warm-up ones; each is its own commit,
its audit record, its run and its result.

Usage: bench/instructions.py [--agents 1000] [--runs 3] [--subs 2000] [--vs OTHER_BUILD]
(TETHER_BUILD names this build's directory; --vs counts a second build in
the same run.)"""
import argparse
import base64
import glob
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def modules(build, out):
    os.environ["TETHER_BUILD"] = build
    os.environ["TETHER_VALGRIND"] = "1"
    os.environ["TETHER_VALGRIND_ARGS"] = "--tool=callgrind --callgrind-out-file=" + out
    import importlib
    import harness
    import common
    importlib.reload(harness)
    importlib.reload(common)
    return harness, common


def total_of(out):
    total = 0
    for f in glob.glob(out + ".*"):
        with open(f) as fh:
            for line in fh:
                if line.startswith("summary:"):
                    total = max(total, int(line.split()[1]))
    return total


def dump(harness, pid, out):
    subprocess.run(["callgrind_control", "-d", pid], stdout=subprocess.DEVNULL, check=True)
    # the dump is written when the tool has taken the request
    harness.wait_until(lambda: glob.glob(out + ".*"), 30, "callgrind's dump")
    time.sleep(0.5)


def count_subs(build, n):
    tmp = tempfile.mkdtemp(prefix="tether-instr-")
    out = os.path.join(tmp, "callgrind.out")
    harness, _ = modules(build, out)
    s = harness.Server(tmp).start()
    sw = subprocess.Popen([os.path.join(build, "tether-swarm"), "--server",
                           "127.0.0.1:%d" % s.agent_port, "--auth", "clientAuth1:1234",
                           "--count", "1", "--prefix", "one-"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = sw.stdout.readline()
        assert "all 1 connected" in line, line
        harness.wait_until(lambda: s.api("GET", "/api/v1/clients?page[limit]=1")[1]["meta"]["count"] == 1,
                           60, "the client listed")
        conn = http.client.HTTPConnection("127.0.0.1", s.api_port, timeout=60)
        hdr = {"Authorization": "Basic " + base64.b64encode(b"admin:foobaz").decode(),
               "Content-Type": "application/json"}

        def post():
            conn.request("POST", "/api/v1/clients/one-00000/commands", body='{"command":"x"}',
                         headers=hdr)
            r = conn.getresponse()
            body = r.read()
            assert r.status == 200, r.status
            return json.loads(body)["data"]["jid"]
        for _ in range(200):
            post()
        pid = str(s.proc.p.pid)
        subprocess.run(["callgrind_control", "-z", pid], stdout=subprocess.DEVNULL, check=True)
        for _ in range(n):
            jid = post()
        # the last result's commit (one GET of one job)
        harness.wait_until(lambda: s.api("GET", "/api/v1/clients/one-00000/commands/%s?wait=30" % jid,
                                         timeout=40)[1]["data"]["finished_at"],
                           40, "the last job's result")
        dump(harness, pid, out)
    finally:
        sw.terminate()
        sw.wait()
        s.stop()
    return total_of(out) / n


def count(build, n, runs):
    tmp = tempfile.mkdtemp(prefix="tether-instr-")
    out = os.path.join(tmp, "callgrind.out")
    harness, common = modules(build, out)
    s = harness.Server(tmp, extra="[server]\nmax_concurrent_handshakes = 5000\n").start()
    sw = subprocess.Popen([os.path.join(build, "tether-swarm"), "--server",
                           "127.0.0.1:%d" % s.agent_port, "--auth", "clientAuth1:1234",
                           "--count", str(n), "--tags", "bench", "--connect-rate", "3000"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = sw.stdout.readline()
        assert "all %d connected" % n in line, line
        harness.wait_until(lambda: s.api("GET", "/api/v1/clients?page[limit]=1")[1]["meta"]["count"] == n,
                           120, "all clients listed")
        for _ in range(2):
            common.fanout_once(s, n, "bench")
        pid = str(s.proc.p.pid)
        subprocess.run(["callgrind_control", "-z", pid], stdout=subprocess.DEVNULL, check=True)
        for _ in range(runs):
            common.fanout_once(s, n, "bench")
        dump(harness, pid, out)
    finally:
        sw.terminate()
        sw.wait()
        s.stop()
    return total_of(out) / (n * runs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--subs", type=int, default=2000)
    ap.add_argument("--vs")
    args = ap.parse_args()
    builds = [os.path.abspath(os.environ.get("TETHER_BUILD") or
                              os.path.join(os.path.dirname(__file__), "..", "build"))]
    if args.vs:
        builds.append(os.path.abspath(args.vs))
    rows = [(b, count(b, args.agents, args.runs), count_subs(b, args.subs)) for b in builds]
    print("| build | tetherd instructions per fanned-out agent (%d agents, %d fan-outs) "
          "| per submission (%d, one after the other) |" % (args.agents, args.runs, args.subs))
    print("| --- | --- | --- |")
    for b, v, w in rows:
        print("| %s | %.0f | %.0f |" % (b, v, w))


if __name__ == "__main__":
    main()
