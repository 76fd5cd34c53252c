#!/usr/bin/env python3
"""bench/scale: single-command latency on a real agent, REST submissions per
second (wrk, keep-alive, one simulated agent), agent idle RSS and CPU, and
the reconnect storm after a tetherd restart under N swarm agents.
Bounded in time; prints a table. Usage: bench/scale.py [--agents 10000]"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
import harness  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


rss_kb = harness.rss_kb


def latency(tmp, runs):
    s = harness.Server(tmp).start()
    a = harness.Agent(tmp, s, "lat", policy="allow = ['.*']\ndeny = []").start()
    s.wait_connected("lat")
    times = common.single_latency(s, "lat", runs)
    time.sleep(2)
    idle_rss = rss_kb(a.proc.p.pid)
    c0 = harness.cpu_seconds(a.proc.p.pid)
    time.sleep(5)  # an idle agent over 5 s: the figure being measured
    idle_cpu = (harness.cpu_seconds(a.proc.p.pid) - c0) / 5 * 100
    a.stop()
    s.stop()
    return statistics.median(times), idle_rss, idle_cpu


def ensure_wrk():
    if shutil.which("wrk"):
        return
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def submissions(tmp, seconds):
    s = harness.Server(tmp).start()
    sw = subprocess.Popen([harness.binary("tether-swarm"), "--server", "127.0.0.1:%d" % s.agent_port,
                           "--auth", "clientAuth1:1234", "--count", "1", "--prefix", "one-"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    sw.stdout.readline()
    lua = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    lua.write('wrk.method = "POST"\nwrk.body = \'{"command":"x"}\'\n'
              'wrk.headers["Content-Type"] = "application/json"\n'
              'wrk.headers["Authorization"] = "Basic YWRtaW46Zm9vYmF6"\n')
    lua.close()
    out = subprocess.run(["wrk", "-t1", "-c32", "-d%ds" % seconds, "-s", lua.name,
                          "http://127.0.0.1:%d/api/v1/clients/one-00000/commands" % s.api_port],
                         capture_output=True, text=True).stdout
    rps = float([l for l in out.splitlines() if "Requests/sec" in l][0].split()[1])
    non2xx = [l for l in out.splitlines() if "Non-2xx" in l]
    sw.terminate()
    sw.wait()
    s.stop()
    return rps, non2xx


def storm(tmp, n):
    s = harness.Server(tmp, extra="[server]\nmax_concurrent_handshakes = 5000\n").start()
    sw = subprocess.Popen([harness.binary("tether-swarm"), "--server", "127.0.0.1:%d" % s.agent_port,
                           "--auth", "clientAuth1:1234", "--count", str(n)],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    t0 = time.monotonic()
    sw.stdout.readline()
    first = time.monotonic() - t0
    s.stop()
    s.start()
    t0 = time.monotonic()
    # the API keeps answering during the storm
    api_ms = []
    import threading
    done = threading.Event()

    def probe():
        while not done.is_set():
            p0 = time.perf_counter()
            s.api("GET", "/api/v1/status")
            api_ms.append((time.perf_counter() - p0) * 1000)
            time.sleep(0.05)
    th = threading.Thread(target=probe)
    th.start()
    sw.stdout.readline()
    recover = time.monotonic() - t0
    done.set()
    th.join()
    rss = rss_kb(s.proc.p.pid)
    sw.terminate()
    sw.wait()
    s.stop()
    return first, recover, max(api_ms) if api_ms else 0, statistics.median(api_ms) if api_ms else 0, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--seconds", type=int, default=10)
    args = ap.parse_args()
    ensure_wrk()
    tmp = tempfile.mkdtemp(prefix="tether-scale-")
    lat, idle_rss, idle_cpu = latency(tmp, args.runs)
    rps, non2xx = submissions(tmp, args.seconds)
    first, recover, api_max, api_med, rss = storm(tmp, args.agents)
    print("| figure | measured |")
    print("| --- | --- |")
    print("| API request to stored result, one real agent, /bin/true (median of %d) | %.2f ms |" % (args.runs, lat))
    print("| job submissions accepted per second (wrk, 32 keep-alive connections, one agent) | %.0f/s %s |" % (rps, " ".join(non2xx)))
    print("| tether-agent idle RSS / CPU | %d KB / %.2f %% |" % (idle_rss, idle_cpu))
    print("| %d swarm agents: first connect (swarm unthrottled) | %.2f s |" % (args.agents, first))
    print("| %d agents: reconnect storm after a tetherd restart | %.2f s |" % (args.agents, recover))
    print("| API GET /status during the storm: median / max | %.1f / %.1f ms |" % (api_med, api_max))
    print("| tetherd RSS with %d agents | %d MB |" % (args.agents, rss // 1024))


if __name__ == "__main__":
    main()
