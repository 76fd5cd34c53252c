"""Issue 5: nothing lost, nothing run twice, across crashes and disconnects."""
import asyncio
import json
import os
import signal
import sqlite3
import threading
import time
import uuid

import pytest

import harness
from harness import wait_until


def count_lines(path):
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return sum(1 for _ in f)


def db_check(server):
    db = sqlite3.connect(os.path.join(server.dir, "data", "tether.db"))
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return db.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall()
    finally:
        db.close()


@pytest.mark.parametrize("when", ["before_send", "during_run", "during_result"])
def test_kill9_server_mid_fanout(fleet, tmp_path, when):
    s = fleet.server().start()
    agents = [fleet.agent(s, "a%d" % i) for i in range(4)]
    marker = str(tmp_path / "ran.txt")
    delay = {"before_send": 0.0, "during_run": 0.5, "during_result": 0.0}[when]
    cmd = "echo $TETHER_JOB_ID >> %s; sleep %s; echo done" % (marker, 1.0 if when == "during_run" else 0)
    jid = s.multi({"command": cmd, "execute_concurrently": True,
                   "client_ids": [a.cid for a in agents], "timeout_sec": 20})
    if when == "during_run":
        wait_until(lambda: count_lines(marker) == 4, 10, "all four to start")
    elif when == "during_result":
        wait_until(lambda: count_lines(marker) == 4, 10, "all four to run")
    time.sleep(delay)
    s.kill9()
    s.start()
    m = s.wait_multi(jid, timeout=40)
    # every target has exactly one final result, and ran exactly once
    assert sorted(j["client_id"] for j in m["jobs"]) == ["a0", "a1", "a2", "a3"]
    for j in m["jobs"]:
        assert j["status"] == "successful", j
        assert j["result"]["stdout"] == "done\n"
    with open(marker) as f:
        ran = [l.strip() for l in f]
    assert sorted(ran) == sorted(j["jid"] for j in m["jobs"]), "a command ran twice or not at all"
    stats = dict(db_check(s))
    assert stats.get("running", 0) == 0


def swarm(fleet, server, n, *extra):
    sw = fleet.swarm(server, n, *extra)
    said = lambda: [l for l in sw.lines() if l.startswith("swarm: ")]  # noqa: E731
    wait_until(said, 30, "the swarm's first line", procs=[sw.proc])
    line = said()[0]
    assert line.strip() == "swarm: all %d connected" % n, line
    return sw


def syncs_made(s):
    """tether_store_syncs_total: fsyncs made by the store's sync thread."""
    st, j = s.api("POST", "/api/v1/me/tokens", {"name": "m-%d" % time.monotonic_ns(), "scope": "metrics"})
    assert st in (200, 201), (st, j)
    st, text = s.api("GET", "/metrics", auth=(harness.ADMIN[0], j["data"]["token"]))[:2]
    assert st == 200, st
    line = [l for l in text.splitlines() if l.startswith("tether_store_syncs_total ")]
    return float(line[0].split()[1])


@pytest.mark.parametrize("point,sync_thread", [("after_dispatch", False), ("while_results_arrive", False),
                                               ("while_results_arrive", True)])
def test_kill9_under_1000_swarm_and_real_agents(fleet, tmp_path, point, sync_thread):
    """Test 1 at scale: kill -9 tetherd in the middle of a fan-out to 1,000
    swarm agents and a few real agents, at several points; every result is
    stored exactly once, nothing runs twice, the store is intact. Also with
    server.store_sync_thread (the commits' fsync on a thread): the results
    it showed and acked before the kill are still there."""
    s = fleet.server(extra="[server]\nstore_sync_thread = %s" % ("true" if sync_thread else "false")).start()
    sw = swarm(fleet, s, 1000, "--delay-ms", "1500" if point == "after_dispatch" else "300",
               "--jitter-ms", "1000")
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
    if sync_thread:
        assert syncs_made(s) > 0
        seen = {j["jid"] for j in s.api("GET", "/api/v1/commands/%s/jobs?filter[status]=successful"
                                        "&page[limit]=1000" % jid)[1]["data"]}
    elif point == "while_results_arrive":
        assert syncs_made(s) == 0  # (each COMMIT syncs itself)
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
    st = sw.stats()
    assert st["duplicates"] == "0", st
    if sync_thread:
        after = set()
        for off in range(0, 1003, 500):
            after |= {j["jid"] for j in s.api("GET", "/api/v1/commands/%s/jobs?filter[status]=successful"
                                              "&page[limit]=500&page[offset]=%d" % (jid, off))[1]["data"]}
        assert len(after) == 1003 and seen <= after, "a result seen before the kill is gone"


def test_result_survives_server_outage(fleet, tmp_path):
    s = fleet.server().start()
    fleet.agent(s, "a1")
    marker = str(tmp_path / "m")
    jid = s.run("a1", {"command": "sleep 1; echo once >> %s; echo out" % marker, "timeout_sec": 30})
    s.stop()
    # the command finishes while the server is down
    wait_until(lambda: count_lines(marker) == 1, 10, "the command to finish")
    s.start()
    j = s.wait_job("a1", jid)
    assert j["status"] == "successful" and j["result"]["stdout"] == "out\n"
    assert count_lines(marker) == 1


def test_result_held_across_an_agent_crash_is_delivered_and_the_journal_emptied(fleet, tmp_path):
    """A finished job's run record stays until the server acks its result
    (it is removed at the ack, off the way to the server): an agent killed
    while it holds the result still delivers it as it was at its next start,
    not as an unknown outcome, and once acked nothing of the job is left in
    the journal. (Protocol v2 holds an ack until the next frame to the
    agent, at the latest its keep-alive's pong: a 1 s keep-alive here.)"""
    s = fleet.server().start()
    a = fleet.agent(s, "a1", extra="[connection]\nkeep_alive = '1s'\n")
    marker = str(tmp_path / "m")
    jid = s.run("a1", {"command": "sleep 1; echo once >> %s; echo out" % marker, "timeout_sec": 30})
    s.stop()
    journal = os.path.join(a.dir, "data", "journal")
    wait_until(lambda: os.path.exists(os.path.join(journal, "result", jid)), 10,
               "the result to be journaled while the server is down")
    a.kill9()
    a.start()
    s.start()
    j = s.wait_job("a1", jid)
    assert j["status"] == "successful" and j["result"]["stdout"] == "out\n", j
    assert count_lines(marker) == 1
    wait_until(lambda: not os.listdir(os.path.join(journal, "result"))
               and not os.listdir(os.path.join(journal, "run")), 10,
               "the acked job to leave the journal")
    ok = s.wait_job("a1", s.run("a1", {"command": "echo again"}))
    assert ok["status"] == "successful" and ok["result"]["stdout"] == "again\n", ok
    wait_until(lambda: not os.listdir(os.path.join(journal, "result"))
               and not os.listdir(os.path.join(journal, "run")), 10,
               "a job acked on a live connection to leave the journal")


def test_kill9_agent_reports_lost_job(fleet, tmp_path):
    s = fleet.server().start()
    a = fleet.agent(s, "a1")
    marker = str(tmp_path / "m")
    jid = s.run("a1", {"command": "echo x >> %s; sleep 30.51" % marker, "timeout_sec": 60})
    wait_until(lambda: count_lines(marker) == 1, 10, "the command to start")
    a.kill9()
    a.start()
    j = s.wait_job("a1", jid)
    assert j["status"] == "unknown"
    assert "agent restarted" in j["error"]
    time.sleep(0.5)  # give a wrongful re-run the chance to show
    assert count_lines(marker) == 1
    os.system("pkill -f 'sleep 30.51' >/dev/null 2>&1")


@pytest.mark.parametrize("content", [b"", b'{"type":"result","jid":"'])
def test_torn_journaled_result_is_reported_unknown(fleet, tmp_path, content):
    """A system crash can leave a result file empty or torn (it is sent
    before its fdatasync ends): the agent reports the job unknown at its
    next start, not garbage, and keeps working."""
    s = fleet.server().start()
    a = fleet.agent(s, "a1")
    marker = str(tmp_path / "m")
    jid = s.run("a1", {"command": "echo x >> %s; sleep 30.52" % marker, "timeout_sec": 60})
    wait_until(lambda: count_lines(marker) == 1, 10, "the command to start")
    a.kill9()
    os.system("pkill -f 'sleep 30.52' >/dev/null 2>&1")
    journal = os.path.join(a.dir, "data", "journal")
    os.unlink(os.path.join(journal, "run", jid))
    with open(os.path.join(journal, "result", jid), "wb") as f:
        f.write(content)
    a.start()
    j = s.wait_job("a1", jid)
    assert j["status"] == "unknown" and "outcome is unknown" in j["error"], j
    assert count_lines(marker) == 1
    ok = s.wait_job("a1", s.run("a1", {"command": "echo still-fine"}))
    assert ok["status"] == "successful" and ok["result"]["stdout"] == "still-fine\n", ok
    wait_until(lambda: not os.path.exists(os.path.join(journal, "result", jid)), 10,
               "the acked result to leave the journal")


def test_start_of_a_running_job_is_shown_at_once_and_stored_soon(fleet):
    """A start record waits a moment before it is written (a short job's
    start goes with its result): the API shows the pid meanwhile, and the
    record reaches the database while the job still runs."""
    s = fleet.server().start()
    fleet.agent(s, "a1")
    jid = s.run("a1", {"command": "sleep 3.54", "timeout_sec": 30})
    st, j = s.api("GET", "/api/v1/clients/a1/commands/" + jid)
    d = j["data"]
    assert d["status"] == "running" and d["pid"] > 0 and d["started_at"], d
    st, lst = s.api("GET", "/api/v1/clients/a1/commands")
    row = [x for x in lst["data"] if x["jid"] == jid][0]
    assert row["pid"] == d["pid"], row

    def stored_pid():
        db = sqlite3.connect(os.path.join(s.dir, "data", "tether.db"))
        try:
            return db.execute("SELECT pid, status FROM jobs WHERE jid = ?", (jid,)).fetchone()
        finally:
            db.close()
    wait_until(lambda: stored_pid()[0] == d["pid"], 3, "the start record to be stored")
    assert stored_pid()[1] == "running"
    done = s.wait_job("a1", jid)
    assert done["status"] == "successful" and done["pid"] == d["pid"], done


def test_job_committed_but_never_delivered_before_a_crash_runs_after_restart(fleet, tmp_path):
    """tetherd crashes after a job is committed but before its agent got it
    (here: a protocol-speaking stand-in swallows the run frame). When the
    real agent with that id connects to the restarted server, the job is
    sent again and runs once; it does not wait for its deadline."""
    s = fleet.server().start()
    marker = str(tmp_path / "ran")
    got_run, t = swallowing_stand_in(s, "a1", hold=30)
    jid = s.multi({"command": "echo once >> %s" % marker, "client_ids": ["a1"], "timeout_sec": 120})
    assert got_run.wait(10)
    s.kill9()
    s.start()
    fleet.agent(s, "a1")
    m = s.wait_multi(jid, timeout=30)
    assert m["jobs"][0]["status"] == "successful", m
    assert count_lines(marker) == 1


def swallowing_stand_in(s, cid, hold):
    """A stand-in agent speaking the real protocol: says hello as cid,
    takes the first run frame without a word, keeps the connection for
    hold seconds, then drops it. Returns (event set on the run, thread)."""
    import websockets
    got_run = threading.Event()

    async def swallow():
        async with websockets.connect("ws://127.0.0.1:%d/" % s.agent_port,
                                      subprotocols=["tether.v1"]) as ws:
            await ws.send(harness.agent_hello(cid))
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if m["type"] == "run":
                    got_run.set()
                    await asyncio.sleep(hold)
                    return

    t = threading.Thread(target=lambda: asyncio.run(asyncio.wait_for(swallow(), hold + 20)),
                         daemon=True)
    t.start()
    wait_until(lambda: s.api("GET", "/api/v1/clients/" + cid)[0] == 200 and
               s.api("GET", "/api/v1/clients/" + cid)[1]["data"]["connection_state"] == "connected",
               10, "the stand-in to connect")
    return got_run, t


def test_run_frame_lost_with_a_connection_is_sent_again_at_reconnect(fleet, tmp_path):
    """No crash: the connection drops with the run frame unread (the stand-in
    takes it and goes away). When the agent connects again the job is sent
    again and runs once, long before its 120 s deadline."""
    s = fleet.server().start()
    marker = str(tmp_path / "ran")
    got_run, t = swallowing_stand_in(s, "a1", hold=0.2)
    jid = s.multi({"command": "echo once >> %s" % marker, "client_ids": ["a1"], "timeout_sec": 120})
    assert got_run.wait(10)
    t.join(10)
    wait_until(lambda: s.api("GET", "/api/v1/clients/a1")[1]["data"]["connection_state"] == "disconnected",
               10, "the stand-in to be gone")
    fleet.agent(s, "a1")
    m = s.wait_multi(jid, timeout=15)
    assert m["jobs"][0]["status"] == "successful", m
    assert count_lines(marker) == 1


def test_replayed_run_frame_does_not_run(fleet, tmp_path):
    """A fake server (speaking the real protocol) replays a run frame for a
    jid the agent already ran, on a new connection: nothing runs."""
    import websockets

    port = harness.free_port()
    marker = str(tmp_path / "m")
    jid = str(uuid.uuid4())
    run = {"type": "run", "jid": jid, "command": "echo x >> %s" % marker, "timeout_sec": 10,
           "interpreter": "", "cwd": "", "is_sudo": False}
    seen = {"results": 0, "connections": 0}
    done = threading.Event()

    async def handler(ws, path=None):
        seen["connections"] += 1
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello"
        await ws.send(json.dumps({"type": "welcome"}))
        await ws.send(json.dumps(run))
        try:
            async for msg in ws:
                m = json.loads(msg)
                if m["type"] == "result" and m["jid"] == jid:
                    seen["results"] += 1
                    await ws.send(json.dumps({"type": "ack", "jid": jid}))
                    if seen["connections"] == 1:
                        await ws.close()
                        return
                if seen["connections"] >= 2:
                    done.set()
        except websockets.ConnectionClosed:
            pass

    loop = asyncio.new_event_loop()

    async def serve():
        async with websockets.serve(handler, "127.0.0.1", port, subprotocols=["tether.v1"]):
            while not done.is_set():
                await asyncio.sleep(0.05)

    t = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    t.start()
    fake = harness.Server(tmp_path)
    fake.agent_port = port
    a = harness.Agent(tmp_path, fake, "replay")
    fleet.procs.append(a)
    a.start()
    wait_until(lambda: seen["connections"] >= 2, 15, "the agent to reconnect")
    # the replay on the second connection must not run
    time.sleep(1.0)
    assert count_lines(marker) == 1
    assert "not run twice" in a.proc.output()
    done.set()


def test_half_open_agent_marked_disconnected(fleet):
    s = fleet.server(extra="[server]\nheartbeat_timeout_sec = 3\n").start()
    a = fleet.agent(s, "a1")
    t0 = time.monotonic()
    a.proc.signal(signal.SIGSTOP)
    try:
        s.wait_disconnected("a1", timeout=10)
        assert time.monotonic() - t0 < 8
    finally:
        a.proc.signal(signal.SIGCONT)
    s.wait_connected("a1", timeout=15)


def test_duplicate_connection_is_refused_while_the_first_lives(fleet, tmp_path):
    # issue 12, item 11: the live connection keeps its id (it was: the
    # newest replaced it, and two agents with one id took turns)
    s = fleet.server().start()
    a1 = fleet.agent(s, "dup")
    a2 = fleet.agent(s, "dup", wait=False)
    wait_until(lambda: "refused a second connection" in s.proc.output(), 10,
               "the refusal to be logged")
    assert "replaces the one" not in s.proc.output()
    # jobs go to the live connection
    jid = s.run("dup", {"command": "echo hi"})
    assert s.wait_job("dup", jid)["status"] == "successful"
    a1.stop()
    a2.stop()


def test_server_side_deadline_for_silent_agent(fleet):
    """An agent that never answers (stopped) cannot leave a job running for ever."""
    s = fleet.server(extra="[server]\nresult_grace_sec = 1\nheartbeat_timeout_sec = 600\n").start()
    a = fleet.agent(s, "a1")
    jid = s.run("a1", {"command": "sleep 3", "timeout_sec": 1})
    a.proc.signal(signal.SIGSTOP)
    try:
        # the agent is frozen before its own timeout fires: the server
        # finishes the job at timeout_sec + result_grace_sec
        j = s.wait_job("a1", jid, timeout=15)
    finally:
        a.proc.signal(signal.SIGCONT)
    assert j["status"] == "unknown"
    assert "no result" in j["error"]


def test_descriptor_exhaustion_neither_spins_nor_stops_service(fleet):
    """tetherd at its descriptor limit (here 96): a flood of idle
    connections uses it up. The server does not spin on accept() (EMFILE is
    level-triggered), its connected agent and an open API connection keep
    working, connections past the limit are closed at once rather than left
    hanging, and once the flood is gone new connections are served again."""
    import base64
    import http.client
    import socket
    s = fleet.server().start(nofile=96)
    fleet.agent(s, "fd1")
    pid = s.proc.p.pid
    auth = {"Authorization": "Basic " + base64.b64encode(b"admin:foobaz").decode(),
            "Content-Type": "application/json"}
    kept = http.client.HTTPConnection("127.0.0.1", s.api_port, timeout=20)
    kept.request("GET", "/api/v1/status", headers=auth)
    r = kept.getresponse()
    r.read()
    assert r.status == 200
    flood = []
    try:
        for _ in range(150):
            flood.append(socket.create_connection(("127.0.0.1", s.api_port), timeout=5))
        # (tetherd lets libwebsockets number its sockets below half of 96,
        # or below the limit less 64 when that is larger.)
        wait_until(lambda: len(os.listdir("/proc/%d/fd" % pid)) >= 40, 10, "the flood to land")
        c0, t0 = harness.cpu_seconds(pid), time.monotonic()
        # A job through the kept connection, on the connected agent, while the
        # limit lasts; it also measures the CPU tetherd burns meanwhile.
        kept.request("POST", "/api/v1/clients/fd1/commands", headers=auth,
                     body=json.dumps({"command": "echo at the limit", "timeout_sec": 30}))
        r = kept.getresponse()
        body = json.loads(r.read())
        assert r.status == 200, body
        jid = body["data"]["jid"]

        def finished():
            kept.request("GET", "/api/v1/clients/fd1/commands/" + jid, headers=auth)
            resp = kept.getresponse()
            d = json.loads(resp.read())["data"]
            return d if d["status"] != "running" else None
        job = wait_until(finished, 20, "the job at the limit")
        assert job["status"] == "successful" and job["result"]["stdout"] == "at the limit\n", job
        # Wait at least a second at the limit, to measure CPU over it.
        wait_until(lambda: time.monotonic() - t0 >= 1.0, 5, "a second at the limit")
        busy = (harness.cpu_seconds(pid) - c0) / (time.monotonic() - t0)
        assert busy < 0.3, "tetherd used %.0f%% CPU at its descriptor limit" % (busy * 100)
        assert s.proc.p.poll() is None
        # The last of the flood came after the limit: it is closed at once,
        # it does not hang.
        last = flood[-1]
        last.settimeout(10)
        try:
            last.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
            data = last.recv(64)
        except (BrokenPipeError, ConnectionResetError):
            data = b""
        assert data == b"" or data.startswith(b"HTTP/1.1 "), data
        # A line per refused connection from libwebsockets, but rate-limited:
        # the flood of connections is not a flood of log lines.
        log = s.proc.output()
        assert "Socket fd" in log and "the rest of this second is not logged" in log, log[-2000:]
        assert log.count("lws: ") < 100, log.count("lws: ")
    finally:
        for c in flood:
            c.close()
    st, _ = s.api("GET", "/api/v1/status")
    assert st == 200
    jid = s.multi({"command": "echo after", "client_ids": ["fd1"]})
    assert s.wait_multi(jid, timeout=15)["jobs"][0]["status"] == "successful"


def test_agent_at_its_descriptor_limit_refuses_clearly_and_recovers(fleet):
    """An agent limited to 40 descriptors gets 30 jobs at once: each job
    takes two pipes, so some cannot start. Those are refused with an error
    that names the cause (not the command), the agent does not spin, the
    ones that started finish, and later jobs run."""
    s = fleet.server().start()
    a = fleet.agent(s, "lim", start=False)
    a.start(nofile=40)
    s.wait_connected("lim")
    started, refused = [], []
    for _ in range(30):
        st, j = s.api("POST", "/api/v1/clients/lim/commands",
                      {"command": "sleep 2", "timeout_sec": 30})
        if st == 200:
            started.append(j["data"]["jid"])
        else:
            assert st == 409, (st, j)
            refused.append(j["errors"][0]["title"])
    assert started and refused, (len(started), len(refused))
    assert all("the agent is out of file descriptors" in t for t in refused), refused[:3]
    pid = a.proc.p.pid
    t0, c0 = time.monotonic(), harness.cpu_seconds(pid)
    for jid in started:
        assert s.wait_job("lim", jid, 20)["status"] == "successful"
    busy = (harness.cpu_seconds(pid) - c0) / max(time.monotonic() - t0, 0.5)
    assert busy < 0.3, "the agent used %.0f%% CPU at its limit" % (busy * 100)
    st, j = s.api("POST", "/api/v1/clients/lim/commands", {"command": "echo after", "timeout_sec": 30})
    assert st == 200, j
    job = s.wait_job("lim", j["data"]["jid"], 20)
    assert job["status"] == "successful" and job["result"]["stdout"] == "after\n", job


# ---- issue 12: delivery deadlines, no 500 for a job that runs, bounds ----

def job_state(server, jid):
    db = sqlite3.connect(os.path.join(server.dir, "data", "tether.db"))
    try:
        return db.execute("SELECT status, state FROM jobs WHERE jid = ?", (jid,)).fetchone()
    finally:
        db.close()


def test_job_sent_before_an_outage_longer_than_its_timeout_runs_when_its_agent_returns(fleet, tmp_path):
    """Item 13: the timeout counts from the start on the agent, not from the
    job's creation. A job with timeout_sec 5 was committed and sent, tetherd
    was killed, and came back (with its agent) 7 s later: the job runs then,
    once, instead of ending unknown without ever running."""
    s = fleet.server(extra="[server]\nresult_grace_sec = 2\n").start()
    marker = str(tmp_path / "ran")
    got_run, t = swallowing_stand_in(s, "a1", hold=30)
    jid = s.multi({"command": "echo once >> %s; echo out" % marker, "client_ids": ["a1"],
                   "timeout_sec": 5})
    assert got_run.wait(10)
    s.kill9()
    t0 = time.monotonic()
    wait_until(lambda: time.monotonic() - t0 > 7, 10, "an outage longer than timeout_sec")
    s.start()
    fleet.agent(s, "a1")
    m = s.wait_multi(jid, timeout=40)
    j = m["jobs"][0]
    assert j["status"] == "successful" and j["result"]["stdout"] == "out\n", j
    assert count_lines(marker) == 1


def test_job_not_delivered_by_its_delivery_deadline_never_runs(fleet, tmp_path):
    """Item 13: a job whose agent is gone is not left to end 'unknown' as if it
    had run. Past delivery_timeout_sec the server cannot know (the frame
    left on a connection that died): the job shows 'unknown' with an error
    that says the start was never confirmed. When the agent comes back and
    says it never had the job, the job ends 'failed' with an error that says
    it never ran, and it is not run."""
    s = fleet.server().start()
    marker = str(tmp_path / "ran")
    got_run, t = swallowing_stand_in(s, "a1", hold=0.2)
    jid = s.multi({"command": "echo ran >> %s" % marker, "client_ids": ["a1"],
                   "timeout_sec": 5, "delivery_timeout_sec": 3})
    assert got_run.wait(10)
    t.join(10)
    m = s.wait_multi(jid, timeout=20)
    j = m["jobs"][0]
    assert j["status"] == "unknown", j
    assert j["error"].startswith('not confirmed: client "a1" did not confirm the start within 3 s'), j
    assert "whether the command ran is not known" in j["error"], j
    assert job_state(s, j["jid"]) == ("unknown", "unconfirmed")
    fleet.agent(s, "a1")

    def expired():
        d = s.job("a1", j["jid"])
        return d if d["status"] == "failed" else None
    d = wait_until(expired, 15, "the agent's hello to settle the job")
    assert d["error"] == 'not delivered: client "a1" did not connect within 3 s; the command never ran', d
    assert job_state(s, j["jid"]) == ("failed", "expired")
    time.sleep(0.5)  # give a wrongful run the chance to show
    assert count_lines(marker) == 0
    # the agent itself works
    ok = s.wait_job("a1", s.run("a1", {"command": "echo fine"}))
    assert ok["status"] == "successful", ok


def test_job_past_its_delivery_deadline_at_restart_expires_when_its_agent_returns(fleet, tmp_path):
    """Item 13 after a crash: the job was committed and sent (swallowed), tetherd
    was killed, and restarted after the job's delivery deadline; its agent
    connects: the job never ran and never runs, and says so."""
    s = fleet.server(extra="[server]\nresult_grace_sec = 30\n").start()
    marker = str(tmp_path / "ran")
    got_run, t = swallowing_stand_in(s, "a1", hold=30)
    mjid = s.multi({"command": "echo ran >> %s" % marker, "client_ids": ["a1"],
                    "timeout_sec": 5, "delivery_timeout_sec": 2})
    assert got_run.wait(10)
    s.kill9()
    t0 = time.monotonic()
    wait_until(lambda: time.monotonic() - t0 > 3, 10, "the delivery deadline to pass")
    s.start()
    fleet.agent(s, "a1")
    m = s.wait_multi(mjid, timeout=30)
    j = m["jobs"][0]
    assert j["status"] == "failed", j
    assert j["error"] == 'not delivered: client "a1" did not connect within 2 s; the command never ran', j
    time.sleep(0.5)
    assert count_lines(marker) == 0


def test_run_lost_with_its_connection_answers_200_and_runs_once(fleet, tmp_path):
    """Item 14: the agent's connection dies right after the run frame left
    (here a stand-in takes it and goes away). The job is committed and may
    run: the API answers 200 with its jid, not 500 (a client would retry a
    500 and run it twice). When the agent connects, it runs once."""
    s = fleet.server().start()
    marker = str(tmp_path / "ran")
    got_run, t = swallowing_stand_in(s, "a1", hold=0.3)
    st, j = s.api("POST", "/api/v1/clients/a1/commands",
                  {"command": "echo once >> %s; echo out" % marker, "timeout_sec": 30})
    assert st == 200, (st, j)
    jid = j["data"]["jid"]
    t.join(10)
    fleet.agent(s, "a1")
    d = s.wait_job("a1", jid)
    assert d["status"] == "successful" and d["result"]["stdout"] == "out\n", d
    assert count_lines(marker) == 1


def test_idempotency_key_survives_kill9(fleet, tmp_path):
    """Item 14: a submission with an idempotency_key, repeated by the same user
    after a kill -9 of tetherd, returns the first jid and creates nothing
    (single and multi jobs); the command ran once. The same key for another
    request is a 422; another user's same key is their own."""
    s = fleet.server().start()
    fleet.agent(s, "a1")
    marker = str(tmp_path / "ran")
    single = {"command": "echo single >> %s" % marker, "idempotency_key": "k-single-1"}
    multi = {"command": "echo multi >> %s" % marker, "client_ids": ["a1"],
             "idempotency_key": "k-multi-1"}
    jid = s.run("a1", single)
    mjid = s.multi(multi)
    s.wait_job("a1", jid)
    s.wait_multi(mjid)
    s.kill9()
    s.start()
    s.wait_connected("a1")
    assert s.run("a1", single) == jid
    assert s.multi(multi) == mjid
    st, j = s.api("POST", "/api/v1/clients/a1/commands", dict(single, command="echo other"))
    assert st == 422 and "k-single-1" in j["errors"][0]["detail"], (st, j)
    st, j = s.api("POST", "/api/v1/commands", dict(multi, command="echo other"))
    assert st == 422, (st, j)
    time.sleep(0.5)  # give a wrongful run the chance to show
    assert count_lines(marker) == 2
    st, lst = s.api("GET", "/api/v1/clients/a1/commands")
    assert lst["meta"]["count"] == 2, lst
    st, lst = s.api("GET", "/api/v1/commands")
    assert lst["meta"]["count"] == 1, lst
    # another user's key is theirs
    assert s.api("POST", "/api/v1/users", {"username": "bob", "password": "bob-password",
                                           "groups": ["Administrators"]})[0] == 201
    st, j = s.api("POST", "/api/v1/clients/a1/commands", single, auth=("bob", "bob-password"))
    assert st == 200 and j["data"]["jid"] != jid, (st, j)
    # a bad key is refused
    st, j = s.api("POST", "/api/v1/clients/a1/commands", dict(single, idempotency_key=""))
    assert st == 400 and j["errors"][0]["title"] == "Invalid idempotency_key.", (st, j)


def test_refused_submission_releases_its_idempotency_key(fleet, tmp_path):
    """An error answer (here 409: the agent's policy refuses) gives the caller
    no job, so a retry with the same key is a new attempt, not a 200 for the
    refused job."""
    s = fleet.server().start()
    fleet.agent(s, "a1", policy="allow = ['^echo']\ndeny = []")
    body = {"command": "touch /tmp/nope", "idempotency_key": "k-refused"}
    for _ in range(2):
        st, j = s.api("POST", "/api/v1/clients/a1/commands", body)
        assert st == 409 and "not allowed" in j["errors"][0]["title"], (st, j)
    st, lst = s.api("GET", "/api/v1/clients/a1/commands")
    assert lst["meta"]["count"] == 2 and {x["status"] for x in lst["data"]} == {"failed"}, lst


def ws_submit(server, path, request):
    import base64 as b64
    import websockets

    async def go():
        h = {"Authorization": "Basic " + b64.b64encode(b"admin:foobaz").decode()}
        async with websockets.connect("ws://127.0.0.1:%d%s" % (server.api_port, path),
                                      extra_headers=h) as ws:
            await ws.send(json.dumps(request))
            frames = []
            try:
                async for m in ws:
                    frames.append(json.loads(m))
            except websockets.ConnectionClosed:
                pass
            return frames
    return asyncio.run(asyncio.wait_for(go(), 30))


def test_timeout_bounds_on_every_submission_path(fleet):
    """Item 15: timeout_sec past 30 days (7,500,000,000 used to wrap the
    server's deadline) and a bad delivery_timeout_sec are a 400 in rport's
    envelope on every path (single, multi, scripts, WebSocket); nothing is
    created. 30 days itself is accepted."""
    import base64 as b64
    s = fleet.server().start()
    fleet.agent(s, "a1")
    script = b64.b64encode(b"echo hi").decode()
    paths = [("/api/v1/clients/a1/commands", {"command": "echo hi"}),
             ("/api/v1/clients/a1/scripts", {"script": script}),
             ("/api/v1/commands", {"command": "echo hi", "client_ids": ["a1"]}),
             ("/api/v1/scripts", {"script": script, "client_ids": ["a1"]})]
    bad = [("timeout_sec", 7500000000), ("timeout_sec", 18446744073709552),
           ("timeout_sec", 2592001), ("delivery_timeout_sec", 2592001),
           ("delivery_timeout_sec", -1)]
    for path, body in paths:
        for field, value in bad:
            st, j = s.api("POST", path, dict(body, **{field: value}))
            assert st == 400, (path, field, value, st, j)
            e = j["errors"][0]
            assert e["title"] == "Invalid %s." % field, (path, e)
            assert e["detail"] == "%s must be between 1 and 2592000 seconds (30 days), actual: %d" % (
                field, value), (path, e)
    for path in ("/api/v1/ws/commands", "/api/v1/ws/scripts"):
        body = {"client_ids": ["a1"], "timeout_sec": 7500000000}
        body.update({"command": "echo hi"} if "commands" in path else {"script": script})
        frames = ws_submit(s, path, body)
        assert frames and frames[0]["errors"][0]["title"] == "Invalid timeout_sec.", frames
    st, lst = s.api("GET", "/api/v1/clients/a1/commands")
    assert lst["meta"]["count"] == 0, lst
    st, lst = s.api("GET", "/api/v1/commands")
    assert lst["meta"]["count"] == 0, lst
    # the maximum itself is fine, and so is the delivery field
    jid = s.run("a1", {"command": "echo max", "timeout_sec": 2592000, "delivery_timeout_sec": 2592000})
    d = s.wait_job("a1", jid)
    assert d["status"] == "successful" and d["timeout_sec"] == 2592000, d
    frames = ws_submit(s, "/api/v1/ws/commands", {"command": "echo ws", "client_ids": ["a1"],
                                                   "delivery_timeout_sec": 60})
    assert [f["status"] for f in frames if "status" in f] == ["successful"], frames


def test_agent_refuses_a_run_frame_with_an_absurd_timeout(fleet, tmp_path):
    """Item 15 on the agent: a run frame asking for 18,446,744,073,709,552 s
    with kill_on_timeout (its milliseconds wrap to 384) is refused with a
    clear error; nothing runs and nothing is killed at once."""
    import websockets

    port = harness.free_port()
    marker = str(tmp_path / "m")
    jid = str(uuid.uuid4())
    run = {"type": "run", "jid": jid, "command": "echo x >> %s" % marker,
           "timeout_sec": 18446744073709552, "kill_on_timeout": True,
           "interpreter": "", "cwd": "", "is_sudo": False}
    got = {}
    done = threading.Event()

    async def handler(ws, path=None):
        await ws.recv()
        await ws.send(json.dumps({"type": "welcome"}))
        await ws.send(json.dumps(run))
        try:
            async for msg in ws:
                m = json.loads(msg)
                if m.get("jid") == jid and m["type"] in ("reject", "result", "started"):
                    got.setdefault(m["type"], m)
                    if m["type"] in ("reject", "result"):
                        await ws.send(json.dumps({"type": "ack", "jid": jid}))
                        done.set()
        except websockets.ConnectionClosed:
            pass

    async def serve():
        async with websockets.serve(handler, "127.0.0.1", port, subprotocols=["tether.v1"]):
            while not done.is_set():
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)

    t = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    t.start()
    fake = harness.Server(tmp_path)
    fake.agent_port = port
    a = harness.Agent(tmp_path, fake, "absurd")
    fleet.procs.append(a)
    a.start()
    assert done.wait(15), got
    assert "reject" in got and "started" not in got, got
    assert got["reject"]["error"] == ("failed to start a command: timeout_sec 18446744073709552 is "
                                      "out of range (at most 2592000 s, 30 days)"), got
    assert count_lines(marker) == 0
