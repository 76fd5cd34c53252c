"""tether-swarm against a real tetherd: hundreds of simulated agents on one
loop connect with their tags and labels, answer runs with the configured
output and exit code, survive a server restart, deliver a result across a
dropped connection exactly once, and finish a cancelled run as failed.

Self-contained (stdlib only, no shared harness): real binaries from
TETHER_BUILD on random loopback ports with throwaway data dirs. Every wait
polls a condition with a deadline; nothing sleeps to synchronise."""
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("TETHER_BUILD", os.path.join(ROOT, "build"))
AUTH = "clientAuth1:1234"


def binary(name):
    path = os.path.join(BUILD, name)
    if not os.path.exists(path):
        pytest.skip("%s is not built (expected %s)" % (name, path))
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, timeout, what, interval=0.05):
    """Polls cond() until it returns a true value, which it returns."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = cond()
        except (OSError, ValueError) as e:  # a server still starting
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.0f s waiting for %s (last: %r)" % (timeout, what, last))


class Tetherd:
    """A tetherd with its own data dir; restartable on the same ports."""

    def __init__(self, tmp):
        self.dir = tempfile.mkdtemp(prefix="swarm-tetherd-", dir=tmp)
        self.agent_port = free_port()
        self.api_port = free_port()
        self.config = os.path.join(self.dir, "tetherd.conf")
        with open(self.config, "w") as f:
            f.write("""[server]
address = "127.0.0.1:%d"
auth = "%s"
shared_client_auth = ["clientAuth1"]
data_dir = "%s"
[api]
address = "127.0.0.1:%d"
user = "admin"
password = "foobaz"
""" % (self.agent_port, AUTH, os.path.join(self.dir, "data"), self.api_port))
        self.proc = None
        self.log = None

    def start(self):
        self.log = open(os.path.join(self.dir, "tetherd.log"), "ab")
        self.proc = subprocess.Popen([binary("tetherd"), "-c", self.config], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_until(lambda: self.api("GET", "/api/v1/status")[0] == 200, 15, "tetherd to answer")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log:
            self.log.close()
            self.log = None

    def api(self, method, path, body=None, timeout=30):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.api_port, path), data=data,
                                     method=method)
        req.add_header("Content-Type", "application/json")
        req.add_header("Authorization", "Basic " + base64.b64encode(b"admin:foobaz").decode())
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, text = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        return status, (json.loads(text) if text else None)

    def clients(self, prefix):
        st, j = self.api("GET", "/api/v1/clients?page%5Blimit%5D=100000")
        assert st == 200, (st, j)
        return [c for c in j["data"] if c["id"].startswith(prefix)]

    def connected(self, prefix):
        return sum(1 for c in self.clients(prefix) if c["connection_state"] == "connected")

    def run(self, cid, command="true", timeout_sec=20):
        st, j = self.api("POST", "/api/v1/clients/%s/commands" % cid,
                         {"command": command, "timeout_sec": timeout_sec})
        assert st == 200, (st, j)
        return j["data"]["jid"]

    def job(self, cid, jid):
        st, j = self.api("GET", "/api/v1/clients/%s/commands/%s" % (cid, jid))
        assert st == 200, (st, j)
        return j["data"]

    def wait_final(self, cid, jid, timeout=15):
        return wait_until(lambda: (lambda j: j if j["status"] not in ("running", "cancelling")
                                   else None)(self.job(cid, jid)),
                          timeout, "job %s on %s to finish" % (jid, cid))


class Swarm:
    """A tether-swarm process; its stdout and stderr go to a file we poll."""

    def __init__(self, server, tmp, count, prefix, *extra):
        self.count = count
        self.path = os.path.join(tmp, "swarm-%s.log" % prefix.strip("-"))
        self.out = open(self.path, "wb")
        argv = [binary("tether-swarm"), "--server", "127.0.0.1:%d" % server.agent_port,
                "--auth", AUTH, "--count", str(count), "--prefix", prefix] + list(extra)
        self.proc = subprocess.Popen(argv, stdout=self.out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def output(self):
        with open(self.path, "r", errors="replace") as f:
            return f.read()

    def connected_lines(self):
        return self.output().count("swarm: all %d connected\n" % self.count)

    def wait_connected_lines(self, n, timeout=30):
        wait_until(lambda: self.proc.poll() is None and self.connected_lines() >= n, timeout,
                   "'swarm: all %d connected' x%d:\n%s" % (self.count, n, self.output()[-2000:]))

    def stats(self):
        """Asks for the counters (SIGUSR1) and returns the new stats line as a dict."""
        before = self.output().count("swarm: stats ")
        self.proc.send_signal(signal.SIGUSR1)
        wait_until(lambda: self.output().count("swarm: stats ") > before, 5, "a stats line")
        line = [l for l in self.output().splitlines() if l.startswith("swarm: stats ")][before]
        return {k: v for k, v in re.findall(r"(\w+)=(\S+)", line)}

    def stop(self):
        """SIGTERM; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
def tmp():
    d = tempfile.mkdtemp(prefix="tether-e2e-swarm-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def server(tmp):
    s = Tetherd(tmp).start()
    yield s
    s.stop()


@pytest.fixture
def swarms(tmp):
    """Starts swarms on demand; stops them all and checks they exit 0."""
    started = []

    def start(server, count, prefix, *extra):
        sw = Swarm(server, tmp, count, prefix, *extra)
        started.append(sw)
        return sw
    yield start
    codes = [(sw.path, sw.stop()) for sw in started]
    assert all(rc == 0 for _, rc in codes), codes


def test_200_agents_connect_with_tags_and_labels(server, swarms):
    sw = swarms(server, 200, "sw1-", "--tags", "swarm,bench", "--labels", "env:test,dc:x1",
                "--services", "web,db")
    sw.wait_connected_lines(1, 30)
    assert sw.connected_lines() == 1
    clients = server.clients("sw1-")
    assert len(clients) == 200
    assert sorted(c["id"] for c in clients) == ["sw1-%05d" % i for i in range(200)]
    for c in clients:
        assert c["connection_state"] == "connected", c
        assert c["name"] == c["id"]
        assert c["hostname"] == c["id"]
        assert c["tags"] == ["swarm", "bench"]
        assert c["labels"] == {"env": "test", "dc": "x1"}
        assert c["services"] == ["web", "db"]
    st = sw.stats()
    assert st["connected"] == "200/200"
    assert st["errors"] == "0"


def test_command_result_output_size_and_exit_code(server, swarms):
    ok = swarms(server, 20, "sw2-", "--output-bytes", "5000", "--start", "100")
    bad = swarms(server, 3, "sw2x-", "--exit-code", "3", "--output-bytes", "10")
    ok.wait_connected_lines(1, 20)
    bad.wait_connected_lines(1, 20)

    jid = server.run("sw2-00107", "uname -a")
    job = server.wait_final("sw2-00107", jid)
    assert job["status"] == "successful", job
    assert job["exit_code"] == 0
    assert job["error"] == ""
    assert len(job["result"]["stdout"]) == 5000
    assert job["result"]["stderr"] == ""

    jid = server.run("sw2x-00001")
    job = server.wait_final("sw2x-00001", jid)
    assert job["status"] == "failed", job
    assert job["exit_code"] == 3
    assert job["error"] == "exit status 3"
    assert len(job["result"]["stdout"]) == 10

    # The agents' side: one run each, each result acked, nothing left held.
    st = ok.stats()
    assert (st["runs"], st["acks"], st["held"], st["duplicates"]) == ("1", "1", "0", "0"), st


def test_restart_tetherd_under_500_agents(tmp, swarms):
    srv = Tetherd(tmp).start()
    try:
        sw = swarms(srv, 500, "sw3-", "--min-retry-ms", "200", "--max-retry-ms", "2000")
        sw.wait_connected_lines(1, 30)
        wait_until(lambda: srv.connected("sw3-") == 500, 15, "500 connected in the API")

        srv.stop()
        wait_until(lambda: sw.stats()["connected"] == "0/500", 15, "the swarm to see the outage")
        srv.start()
        wait_until(lambda: srv.connected("sw3-") == 500, 30,
                   "500 reconnected in the API (swarm: %s)" % sw.output()[-500:])
        sw.wait_connected_lines(2, 15)
        st = sw.stats()
        assert st["connected"] == "500/500"
        assert int(st["disconnects"]) >= 500
    finally:
        srv.stop()


def test_result_across_a_dropped_connection_arrives_once(server, swarms):
    # Agent 0 drops its connection halfway through every run and delivers
    # the result after reconnecting; agent 1 behaves.
    sw = swarms(server, 2, "sw4-", "--disconnect-every", "2", "--delay-ms", "1500",
                "--output-bytes", "777", "--min-retry-ms", "100", "--max-retry-ms", "500")
    sw.wait_connected_lines(1, 20)

    jid = server.run("sw4-00000", "sleep 1")
    job = server.wait_final("sw4-00000", jid, 20)
    assert job["status"] == "successful", job
    assert job["exit_code"] == 0
    assert len(job["result"]["stdout"]) == 777

    # Once: one job in the client's list, acked once by the swarm, and
    # the swarm holds nothing; the drop really happened.
    st, lst = server.api("GET", "/api/v1/clients/sw4-00000/commands")
    assert st == 200, lst
    assert [j["jid"] for j in lst["data"]].count(jid) == 1
    stats = wait_until(lambda: (lambda s: s if s["held"] == "0" else None)(sw.stats()), 10,
                       "the result to be acked")
    assert stats["drops"] == "1", stats
    assert stats["runs"] == "1" and stats["duplicates"] == "0", stats
    assert stats["acks"] == "1", stats
    # Reconnected afterwards (a full recovery prints the line again).
    sw.wait_connected_lines(2, 10)
    assert server.job("sw4-00000", jid) == job

    # The well-behaved agent is not affected.
    jid1 = server.run("sw4-00001")
    assert server.wait_final("sw4-00001", jid1)["status"] == "successful"
    assert sw.stats()["drops"] == "1"


def test_cancel_finishes_a_simulated_run_as_failed(server, swarms):
    sw = swarms(server, 2, "sw5-", "--delay-ms", "60000")
    sw.wait_connected_lines(1, 20)
    jid = server.run("sw5-00001", "sleep 60", timeout_sec=120)
    st, j = server.api("DELETE", "/api/v1/clients/sw5-00001/commands/%s" % jid)
    assert st == 202 and j["data"]["status"] == "cancelling", (st, j)
    job = server.wait_final("sw5-00001", jid)
    assert job["status"] == "failed", job
    assert job["error"] == "cancelled by admin"
    assert job["exit_code"] == 143
    st = sw.stats()
    assert (st["cancels"], st["acks"], st["held"]) == ("1", "1", "0"), st
