"""bench/common: measurements shared by the bench scripts (scale.py,
fanout.py, regress.py): the single-command latency loop, one fan-out to a
tagged swarm, latency probes of an API path, a syscall count of a process,
and the median (range) of a list."""
import base64
import datetime
import http.client
import json
import multiprocessing
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
import harness  # noqa: E402

AUTH = "Basic " + base64.b64encode(b"admin:foobaz").decode()


def ts(s):
    """An RFC 3339 time of the API as a datetime (microseconds kept)."""
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")[:26] + "+00:00")


def med_range(xs, fmt="%.2f"):
    """'median (min-max)' of xs, or the one value, or '-'."""
    if not xs:
        return "-"
    if len(xs) == 1:
        return fmt % xs[0]
    return (fmt + " (" + fmt + "-" + fmt + ")") % (statistics.median(xs), min(xs), max(xs))


def percentile(xs, p):
    """The p-th percentile (0..100) of xs, nearest rank."""
    s = sorted(xs)
    if not s:
        return 0.0
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def single_latency(s, cid, runs, wait=True):
    """POST /bin/true to one real agent, then GET the job until it is no
    longer running, on one keep-alive connection; runs times. Returns the
    list of milliseconds (request sent to stored result seen). With wait,
    the GET is the long-poll (?wait=60: answered when the job ends); without,
    the GET is repeated at once while the job runs (before 2026-12-02)."""
    conn = http.client.HTTPConnection("127.0.0.1", s.api_port)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        conn.request("POST", "/api/v1/clients/%s/commands" % cid, body='{"command":"/bin/true"}',
                     headers={"Authorization": AUTH, "Content-Type": "application/json"})
        r = json.loads(conn.getresponse().read())
        jid = r["data"]["jid"]
        while True:
            conn.request("GET", "/api/v1/clients/%s/commands/%s%s" % (cid, jid, "?wait=60" if wait else ""),
                         headers={"Authorization": AUTH})
            d = json.loads(conn.getresponse().read())["data"]
            if d["status"] != "running":
                break
        assert d["status"] == "successful", d
        times.append((time.perf_counter() - t0) * 1000)
    conn.close()
    return times


def metric(s, name):
    """One sample of tetherd's /metrics (a series without labels), as a float."""
    if not getattr(s, "bench_metrics_token", None):
        st, j = s.api("POST", "/api/v1/me/tokens", {"name": "bench-metrics", "scope": "metrics"})
        assert st in (200, 201), (st, j)
        s.bench_metrics_token = j["data"]["token"]
    st, text = s.api("GET", "/metrics", auth=(harness.ADMIN[0], s.bench_metrics_token))[:2]
    assert st == 200, st
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise KeyError(name)


def fanout_once(s, n, tag, timeout=120):
    """One concurrent job to every agent tagged tag (n of them), waited for
    with the long-poll (GET /commands/{jid}?wait=, pushed at the job's end:
    the client does not poll) until all n results are stored. Returns
    (server clock s, client view s, tetherd CPU s used meanwhile)."""
    pid = s.proc.p.pid
    c0 = harness.cpu_seconds(pid)
    w0 = time.monotonic()
    st, j = s.api("POST", "/api/v1/commands", {"command": "x", "tags": {"tags": [tag]},
                                               "execute_concurrently": True})
    assert st == 200, (st, j)
    jid = j["data"]["jid"]

    def done():
        st, m = s.api("GET", "/api/v1/commands/%s?wait=60" % jid, timeout=90)
        return st == 200 and m["data"]["finished_at"] and m["data"]
    m = harness.wait_until(done, timeout, "fan-out to finish", interval=0.05)
    wall = time.monotonic() - w0
    cpu = harness.cpu_seconds(pid) - c0
    assert m["summary"]["successful"] == n, m["summary"]
    return (ts(m["finished_at"]) - ts(m["started_at"])).total_seconds(), wall, cpu


def _probe_loop(port, path, interval, done, out):
    conn, times, errors = None, [], 0
    while not done.is_set():
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            t0 = time.perf_counter()
            conn.request("GET", path, headers={"Authorization": AUTH})
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                errors += 1
            else:
                times.append((time.perf_counter() - t0) * 1000)
        except (OSError, http.client.HTTPException):
            # a restarted tetherd: connect again
            errors += 1
            conn = None
        done.wait(interval)
    out.send((times, errors))


class Probe:
    """Times `GET path` on the API every interval seconds, in a process of
    its own (so that the bench's other threads do not delay it), until
    stop(), which returns the milliseconds; errors counts failures."""

    def __init__(self, s, path="/api/v1/status", interval=0.02):
        ctx = multiprocessing.get_context("fork")
        self.done = ctx.Event()
        self.rx, tx = ctx.Pipe(duplex=False)
        self.p = ctx.Process(target=_probe_loop, args=(s.api_port, path, interval, self.done, tx),
                             daemon=True)
        self.p.start()
        self.times, self.errors = [], 0

    def stop(self):
        self.done.set()
        if self.rx.poll(60):
            self.times, self.errors = self.rx.recv()
        self.p.join(10)
        return self.times


def time_get(s, path, n):
    """n requests of GET path on one keep-alive connection; milliseconds."""
    conn = http.client.HTTPConnection("127.0.0.1", s.api_port, timeout=30)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": AUTH})
        r = conn.getresponse()
        r.read()
        assert r.status == 200, r.status
        out.append((time.perf_counter() - t0) * 1000)
    conn.close()
    return out


class SyscallCount:
    """Counts one syscall of a running process from now until stop():
    perf stat on its tracepoint when perf works here, else strace -c (which
    slows the process down: use it on a run that is not timed). count() is
    None when neither tool is there."""

    def __init__(self, pid, name):
        self.name, self.tool, self.p = name, None, None
        self.out = os.path.join("/tmp", "tether-bench-sc-%d-%d" % (os.getpid(), pid))
        if shutil.which("perf") and subprocess.run(
                ["perf", "stat", "-e", "syscalls:sys_enter_" + name, "true"],
                capture_output=True).returncode == 0:
            self.tool = "perf"
            argv = ["perf", "stat", "-x,", "-o", self.out, "-e", "syscalls:sys_enter_" + name,
                    "-p", str(pid)]
        elif shutil.which("strace"):
            self.tool = "strace"
            argv = ["strace", "-f", "-c", "-o", self.out, "-e", "trace=" + name, "-p", str(pid)]
        else:
            return
        self.p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # attached (both tools need a moment)

    def stop(self):
        if not self.p:
            return None
        self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        try:
            with open(self.out) as f:
                text = f.read()
        except OSError:
            return None
        finally:
            try:
                os.unlink(self.out)
            except OSError:
                pass
        if self.tool == "perf":
            for line in text.splitlines():
                f = line.split(",")
                if len(f) > 2 and f[2].endswith(self.name):
                    return int(f[0]) if f[0].isdigit() else None
            return None
        m = re.search(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)(?:\s+\d+)?\s+%s\s*$" % self.name, text, re.M)
        return int(m.group(1)) if m else 0
