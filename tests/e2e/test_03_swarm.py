"""tether-swarm against a real tetherd: connect, fan out, restart recovery,
disconnect-and-deliver, and kill -9 of the server under 1,000 agents."""
import os
import signal
import sqlite3
import subprocess
import time

import pytest

import harness
from harness import wait_until


@pytest.fixture
def fleet(tmp_path, request):
    yield from harness.fleet_fixture(tmp_path, request)


class Swarm:
    def __init__(self, server, n, *extra):
        self.p = subprocess.Popen([harness.binary("tether-swarm"), "--server",
                                   "127.0.0.1:%d" % server.agent_port, "--auth", "clientAuth1:1234",
                                   "--count", str(n)] + list(extra),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.n = n

    def wait_all(self, timeout=60):
        line = self.p.stdout.readline()
        assert line.strip() == "swarm: all %d connected" % self.n, line
        return line

    def stop(self):
        self.p.terminate()
        self.p.wait(10)


@pytest.fixture
def swarms():
    started = []
    yield started
    for s in started:
        if s.p.poll() is None:
            s.stop()


def count_connected(s):
    st, j = s.api("GET", "/api/v1/clients?page[limit]=100000")
    return sum(1 for c in j["data"] if c["connection_state"] == "connected")


def test_swarm_connects_with_tags_and_labels(fleet, swarms):
    s = fleet.server().start()
    sw = Swarm(s, 200, "--tags", "a,b", "--labels", "zone:EU,env:test", "--prefix", "sw-")
    swarms.append(sw)
    sw.wait_all()
    wait_until(lambda: count_connected(s) == 200, 20, "200 connected")
    c = s.client("sw-00007")
    assert c["tags"] == ["a", "b"] and c["labels"] == {"zone": "EU", "env": "test"}


def test_swarm_results_and_exit_codes(fleet, swarms):
    s = fleet.server().start()
    ok = Swarm(s, 10, "--prefix", "ok-", "--output-bytes", "100")
    bad = Swarm(s, 10, "--prefix", "bad-", "--exit-code", "3")
    swarms += [ok, bad]
    ok.wait_all()
    bad.wait_all()
    j = s.wait_job("ok-00001", s.run("ok-00001", {"command": "x"}))
    assert j["status"] == "successful" and len(j["result"]["stdout"]) == 100
    j = s.wait_job("bad-00002", s.run("bad-00002", {"command": "x"}))
    assert j["status"] == "failed" and j["exit_code"] == 3


def test_swarm_recovers_after_server_restart(fleet, swarms):
    s = fleet.server().start()
    sw = Swarm(s, 500)
    swarms.append(sw)
    sw.wait_all()
    s.stop()
    s.start()
    t0 = time.monotonic()
    sw.wait_all()  # printed again after a full recovery
    wait_until(lambda: count_connected(s) == 500, 30, "500 reconnected")
    assert time.monotonic() - t0 < 30


def test_disconnecting_agent_delivers_once(fleet, swarms):
    s = fleet.server().start()
    sw = Swarm(s, 4, "--disconnect-every", "1", "--delay-ms", "300")
    swarms.append(sw)
    sw.wait_all()
    jid = s.multi({"command": "x", "execute_concurrently": True,
                   "client_ids": ["swarm-%05d" % i for i in range(4)]})
    m = s.wait_multi(jid)
    assert m["summary"]["successful"] == 4
    db = sqlite3.connect(os.path.join(s.dir, "data", "tether.db"))
    assert db.execute("SELECT count(*) FROM jobs WHERE multi_job_id = ?", (jid,)).fetchone()[0] == 4


def test_kill9_server_under_1000_agents(fleet, swarms, tmp_path):
    s = fleet.server().start()
    sw = Swarm(s, 1000, "--delay-ms", "1500", "--jitter-ms", "500")
    swarms.append(sw)
    sw.wait_all()
    jid = s.multi({"command": "x", "execute_concurrently": True,
                   "client_ids": ["swarm-%05d" % i for i in range(1000)]})
    wait_until(lambda: s.api("GET", "/api/v1/commands/%s/jobs?page[limit]=1" % jid)[1]["meta"]["count"] == 1000,
               20, "all children dispatched")
    s.kill9()
    s.start()
    m = s.wait_multi(jid, timeout=90)
    # every target has one final result, reported once by its agent
    assert m["summary"]["total"] == 1000
    assert m["summary"]["successful"] == 1000, m["summary"]
    db = sqlite3.connect(os.path.join(s.dir, "data", "tether.db"))
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT count(*) FROM jobs WHERE multi_job_id = ?", (jid,)).fetchone()[0] == 1000
    sw.p.send_signal(signal.SIGUSR1)
    sw.stop()
    err = sw.p.stderr.read()
    assert "duplicates 0" in err, err
