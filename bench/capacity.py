#!/usr/bin/env python3
"""bench/capacity: tetherd memory per idle agent over plain WebSocket and over
TLS (wss) in the same run, and the largest swarm one tetherd holds on this
machine (the ceiling, with what stops it). Bounded in time; prints a table.

Usage: bench/capacity.py [--agents 5000] [--ceiling 19800]"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
import harness  # noqa: E402


def make_ca_and_cert(d):
    def run(*a):
        subprocess.run(a, check=True, capture_output=True, cwd=d)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
        "ca.pem", "-days", "2", "-subj", "/CN=tether bench CA")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr",
        "-subj", "/CN=localhost")
    with open(os.path.join(d, "ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", "ext")


def per_agent(tmp, n, tls_dir=None):
    """tetherd RSS growth per connected idle agent (KB), and connect time."""
    extra = "[server]\nmax_concurrent_handshakes = 5000\n"
    args = []
    if tls_dir:
        extra += 'tls_cert = "%s/srv.pem"\ntls_key = "%s/srv.key"\n' % (tls_dir, tls_dir)
        args = ["--tls-ca", os.path.join(tls_dir, "ca.pem")]
    s = harness.Server(tmp, extra=extra).start()
    time.sleep(0.5)
    base = harness.rss_kb(s.proc.p.pid)
    t0 = time.monotonic()
    sw = subprocess.Popen([harness.binary("tether-swarm"), "--server", "localhost:%d" % s.agent_port,
                           "--auth", "clientAuth1:1234", "--count", str(n)] + args,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = sw.stdout.readline()
        connect = time.monotonic() - t0
        assert "all %d connected" % n in line, line
        time.sleep(2)  # the connection storm's writes settle
        kb = (harness.rss_kb(s.proc.p.pid) - base) / n
    finally:
        sw.terminate()
        sw.wait()
        s.stop()
    return kb, connect


def ceiling(tmp, n):
    """Connects n swarm agents (split over two swarm processes, each under
    the per-process descriptor limit); returns (connected, seconds, RSS MB)."""
    s = harness.Server(tmp, extra="[server]\nmax_concurrent_handshakes = 5000\n").start()
    half = n // 2
    procs = []
    t0 = time.monotonic()
    for i, cnt in enumerate((half, n - half)):
        procs.append(subprocess.Popen(
            [harness.binary("tether-swarm"), "--server", "127.0.0.1:%d" % s.agent_port,
             "--auth", "clientAuth1:1234", "--count", str(cnt), "--prefix", "c%d-" % i],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
    try:
        for p in procs:
            p.stdout.readline()
        secs = time.monotonic() - t0
        connected = s.api("GET", "/api/v1/clients?page[limit]=1")[1]["meta"]["count"]
        rss = harness.rss_kb(s.proc.p.pid) // 1024
        # the API still answers with the fleet connected
        st, _ = s.api("GET", "/api/v1/status")
        assert st == 200
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        s.stop()
    return connected, secs, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=5000)
    ap.add_argument("--ceiling", type=int, default=0,
                    help="agents for the ceiling run (default: what the descriptor limit allows)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="tether-capacity-")
    tls_dir = os.path.join(tmp, "pki")
    os.makedirs(tls_dir)
    make_ca_and_cert(tls_dir)
    plain_kb, plain_s = per_agent(tmp, args.agents)
    tls_kb, tls_s = per_agent(tmp, args.agents, tls_dir)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    n = args.ceiling or (hard - 200)
    connected, secs, rss = ceiling(tmp, n)
    print("| figure | measured |")
    print("| --- | --- |")
    print("| tetherd RSS per idle agent, plain WebSocket (%d agents) | %.1f KB (connect %.2f s) |"
          % (args.agents, plain_kb, plain_s))
    print("| tetherd RSS per idle agent, TLS (%d agents) | %.1f KB (connect %.2f s) |"
          % (args.agents, tls_kb, tls_s))
    print("| ceiling: agents connected to one tetherd (descriptor limit %d/%d) | %d of %d in %.2f s, RSS %d MB |"
          % (soft, hard, connected, n, secs, rss))


if __name__ == "__main__":
    main()
