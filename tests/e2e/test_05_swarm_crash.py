"""Issue 5, test 1 at scale: kill -9 tetherd in the middle of a fan-out to
1,000 swarm agents and a few real agents, at several points; every result
is stored exactly once, nothing runs twice, the store is intact."""
import os
import signal
import sqlite3
import subprocess

import pytest

import harness
from harness import wait_until


@pytest.fixture
def fleet(tmp_path, request):
    yield from harness.fleet_fixture(tmp_path, request)


def swarm(server, n, *extra):
    p = subprocess.Popen([harness.binary("tether-swarm"), "--server", "127.0.0.1:%d" % server.agent_port,
                          "--auth", "clientAuth1:1234", "--count", str(n)] + list(extra),
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    assert line.strip() == "swarm: all %d connected" % n, line
    return p


def swarm_stats(p):
    p.send_signal(signal.SIGUSR1)
    while True:
        line = p.stdout.readline()
        if not line or line.startswith("swarm: stats"):
            return dict(kv.split("=", 1) for kv in line.split()[2:])


@pytest.mark.parametrize("point", ["after_dispatch", "while_results_arrive"])
def test_kill9_under_1000_swarm_and_real_agents(fleet, tmp_path, point):
    s = fleet.server().start()
    sw = swarm(s, 1000, "--delay-ms", "1500" if point == "after_dispatch" else "300",
               "--jitter-ms", "1000")
    try:
        real = [fleet.agent(s, "real-%d" % i) for i in range(3)]
        marker = str(tmp_path / "ran.txt")
        targets = ["swarm-%05d" % i for i in range(1000)] + [a.cid for a in real]
        jid = s.multi({"command": "echo $TETHER_JOB_ID >> %s; sleep 1" % marker,
                       "execute_concurrently": True, "client_ids": targets, "timeout_sec": 60})
        if point == "after_dispatch":
            wait_until(lambda: s.api("GET", "/api/v1/commands/%s/jobs?page[limit]=1" % jid)[1]["meta"]["count"] == 1003,
                       30, "all children dispatched")
        else:
            wait_until(lambda: s.api("GET", "/api/v1/commands/%s/jobs?filter[status]=successful&page[limit]=1" % jid)[1]["meta"]["count"] > 100,
                       30, "results to arrive")
        s.kill9()
        s.start()
        m = s.wait_multi(jid, timeout=120)
        assert m["summary"]["total"] == 1003
        assert m["summary"]["successful"] == 1003, m["summary"]
        db = sqlite3.connect(os.path.join(s.dir, "data", "tether.db"))
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM jobs WHERE multi_job_id = ?", (jid,)).fetchone()[0] == 1003
        with open(marker) as f:
            ran = [l.strip() for l in f]
        real_jids = {j["jid"] for j in m["jobs"] if j["client_id"].startswith("real-")} if len(m["jobs"]) == 1003 else None
        assert len(ran) == 3 and len(set(ran)) == 3, "a real command ran twice or not at all"
        if real_jids is not None:
            assert set(ran) == real_jids
        st = swarm_stats(sw)
        assert st["duplicates"] == "0", st
    finally:
        sw.terminate()
        sw.wait(10)
