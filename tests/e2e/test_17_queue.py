"""Issue 15, offline targets: jobs queued for a client that is not connected
(opt-in "queue_offline"), dispatched exactly once when its agent says hello,
expired at their deadline, surviving kill -9 of the server, cancellable, and
counted against max_concurrency only once dispatched. Real agents, a real
tetherd."""
import os
import sqlite3

from harness import cli, wait_until


def title(j):
    return j["errors"][0]["title"]


def lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [l.strip() for l in f if l.strip()]


def offline_client(fleet, s, cid):
    """An agent that has connected once and is now stopped."""
    a = fleet.agent(s, cid)
    a.stop()
    s.wait_disconnected(cid)
    return a


def queue(s, cid, command, **fields):
    body = {"command": command, "queue_offline": True}
    body.update(fields)
    st, j = s.api("POST", "/api/v1/clients/%s/commands" % cid, body)
    assert st == 200, (st, j)
    assert j["data"]["status"] == "queued", j
    return j["data"]["jid"]


def settle(s, a):
    """Runs a plain job after the agent is back: once it is done, whatever
    the hello dispatched has been sent before it."""
    s.wait_connected(a.cid, procs=[a.proc])
    jid = s.run(a.cid, "true")
    s.wait_job(a.cid, jid)


def test_queued_job_runs_once_when_the_agent_connects(fleet, tmp_path):
    s = fleet.server().start()
    a = offline_client(fleet, s, "q1")
    marker = str(tmp_path / "ran")
    jid = queue(s, "q1", "echo $TETHER_JOB_ID >> %s; echo hi" % marker)
    job = s.job("q1", jid)
    assert job["status"] == "queued" and job["expires_at"], job
    assert job["pid"] is None and job["finished_at"] is None
    a.start()
    done = s.wait_job("q1", jid, until=lambda d: d["status"] not in ("queued", "running"))
    assert done["status"] == "successful", done
    assert done["result"]["stdout"] == "hi\n"
    # reconnecting again sends nothing twice
    a.stop()
    s.wait_disconnected("q1")
    a.start()
    settle(s, a)
    assert lines(marker) == [jid]


def test_rport_default_still_fails_at_once(fleet):
    s = fleet.server().start()
    offline_client(fleet, s, "q2")
    st, j = s.api("POST", "/api/v1/clients/q2/commands", {"command": "true"})
    assert st == 404, (st, j)
    assert title(j) == 'Active client with id="q2" not found.'
    st, j = s.api("POST", "/api/v1/commands", {"command": "true", "client_ids": ["q2"]})
    assert st == 200, (st, j)
    m = s.wait_multi(j["data"]["jid"])
    assert m["jobs"][0]["status"] == "failed"
    assert m["jobs"][0]["error"] == "client is not connected"


def test_queued_job_expires_and_never_runs(fleet, tmp_path):
    s = fleet.server().start()
    a = offline_client(fleet, s, "q3")
    marker = str(tmp_path / "ran")
    jid = queue(s, "q3", "echo x >> %s" % marker, expires_in_sec=2)
    done = s.wait_job("q3", jid, timeout=15, until=lambda d: d["status"] != "queued")
    assert done["status"] == "expired", done
    assert "expired" in done["error"] and "never ran" in done["error"], done
    assert done["finished_at"]
    a.start()
    settle(s, a)
    assert lines(marker) == []
    assert s.job("q3", jid)["status"] == "expired"


def test_queued_job_survives_kill9_of_the_server(fleet, tmp_path):
    s = fleet.server().start()
    a = offline_client(fleet, s, "q4")
    marker = str(tmp_path / "ran")
    jid = queue(s, "q4", "echo $TETHER_JOB_ID >> %s" % marker)
    mjid = s.multi({"command": "echo $TETHER_JOB_ID >> %s" % marker, "client_ids": ["q4"],
                    "queue_offline": True})
    s.kill9()
    s.start()
    assert s.job("q4", jid)["status"] == "queued"
    a.start()
    done = s.wait_job("q4", jid, until=lambda d: d["status"] not in ("queued", "running"))
    assert done["status"] == "successful", done
    m = s.wait_multi(mjid, timeout=40)
    assert [j["status"] for j in m["jobs"]] == ["successful"], m
    settle(s, a)
    assert sorted(lines(marker)) == sorted([jid, m["jobs"][0]["jid"]])


def test_cancel_a_queued_job(fleet, tmp_path):
    s = fleet.server().start()
    a = offline_client(fleet, s, "q5")
    marker = str(tmp_path / "ran")
    jid = queue(s, "q5", "echo x >> %s" % marker)
    st, j = s.api("DELETE", "/api/v1/clients/q5/commands/" + jid)
    assert st == 202, (st, j)
    done = s.wait_job("q5", jid, until=lambda d: d["status"] != "queued")
    assert done["status"] == "failed"
    assert done["error"] == "cancelled by admin before it was dispatched", done
    st, j = s.api("DELETE", "/api/v1/clients/q5/commands/" + jid)
    assert st == 409, (st, j)
    a.start()
    settle(s, a)
    assert lines(marker) == []


def test_deleting_the_client_cancels_its_queued_jobs(fleet, tmp_path):
    s = fleet.server().start()
    a = offline_client(fleet, s, "q11")
    fleet.agent(s, "q12")
    marker = str(tmp_path / "ran")
    jid = queue(s, "q11", "echo x >> %s" % marker, expires_in_sec=3600)
    st, j = s.api("POST", "/api/v1/commands", {"client_ids": ["q11", "q12"], "command": "true",
                                               "queue_offline": True})
    assert st == 200, (st, j)
    multi = j["data"]["jid"]
    st, _ = s.api("DELETE", "/api/v1/clients/q11")
    assert st == 204
    # the queued jobs end at once, cancelled, not an hour later
    def ended():
        st, j = s.api("GET", "/api/v1/commands/" + multi)
        assert st == 200, (st, j)
        return j["data"]["finished_at"] and j["data"]
    m = wait_until(ended, 15, "the multi-client job to end")
    by = {c["client_id"]: c for c in m["jobs"]}
    assert by["q11"]["status"] == "failed" and "client was deleted" in by["q11"]["error"], by
    assert by["q12"]["status"] == "successful", by
    db = sqlite3.connect(os.path.join(s.data_dir, "tether.db"))
    assert db.execute("SELECT status, error FROM jobs WHERE jid = ?", (jid,)).fetchone() == \
        ("cancelled", "cancelled: the client was deleted")
    assert db.execute("SELECT count(*) FROM jobs WHERE status = 'queued'").fetchone() == (0,)
    # the same id connecting again gets nothing of what was queued
    a.start()
    settle(s, a)
    assert lines(marker) == []


def test_cancel_a_queued_invocation(fleet, tmp_path):
    s = fleet.server().start()
    offs = [offline_client(fleet, s, "q6-%d" % i) for i in range(2)]
    marker = str(tmp_path / "ran")
    mjid = s.multi({"command": "echo x >> %s" % marker, "client_ids": [a.cid for a in offs],
                    "execute_concurrently": True, "queue_offline": True})
    wait_until(lambda: [j["status"] for j in s.api("GET", "/api/v1/commands/" + mjid)[1]["data"]["jobs"]]
               == ["queued", "queued"], 10, "both children queued")
    st, j = s.api("DELETE", "/api/v1/commands/" + mjid)
    assert st == 202, (st, j)
    m = s.wait_multi(mjid)
    for job in m["jobs"]:
        assert job["status"] == "failed", job
        assert job["error"].startswith("cancelled before it was dispatched: cancelled by admin"), job
    for a in offs:
        a.start()
    for a in offs:
        settle(s, a)
    assert lines(marker) == []


def test_queued_children_take_a_slot_only_once_dispatched(fleet, tmp_path):
    """max_concurrency 1: the connected target runs at once although two
    queued targets come before it; once their agents are back they run
    one at a time, never beside another child."""
    s = fleet.server().start()
    offs = [offline_client(fleet, s, "q7-%d" % i) for i in range(2)]
    on = fleet.agent(s, "q7-on")
    marker = str(tmp_path / "ran")
    cmd = "echo start $(date +%%s.%%N) >> %s; sleep 1; echo end $(date +%%s.%%N) >> %s" % (marker, marker)
    mjid = s.multi({"command": cmd, "client_ids": [a.cid for a in offs] + [on.cid],
                    "execute_concurrently": True, "max_concurrency": 1, "queue_offline": True,
                    "timeout_sec": 30})

    def statuses():
        return {j["client_id"]: j["status"] for j in s.api("GET", "/api/v1/commands/" + mjid)[1]["data"]["jobs"]}
    wait_until(lambda: statuses().get("q7-on") == "running", 10, "the connected target to run")
    assert statuses()["q7-0"] == "queued" and statuses()["q7-1"] == "queued"
    for a in offs:
        a.start()
    m = s.wait_multi(mjid, timeout=60)
    assert sorted(j["status"] for j in m["jobs"]) == ["successful"] * 3, m
    events = [l.split() for l in lines(marker)]
    assert len(events) == 6
    # start, end, start, end...: never two children at once
    assert [e[0] for e in events] == ["start", "end"] * 3, events


def test_abort_on_error_cancels_the_queued_targets(fleet, tmp_path):
    s = fleet.server().start()
    off = offline_client(fleet, s, "q8-off")
    fleet.agent(s, "q8-on")
    marker = str(tmp_path / "ran")
    mjid = s.multi({"command": "echo $(hostname) >> %s; exit 3" % marker,
                    "client_ids": ["q8-off", "q8-on"], "abort_on_error": True,
                    "queue_offline": True})
    m = s.wait_multi(mjid)
    by = {j["client_id"]: j for j in m["jobs"]}
    assert by["q8-on"]["status"] == "failed" and by["q8-on"]["exit_code"] == 3
    assert by["q8-off"]["status"] == "failed"
    assert by["q8-off"]["error"].startswith("cancelled before it was dispatched: aborted"), by
    off.start()
    settle(s, off)
    assert len(lines(marker)) == 1


def test_bad_input(fleet):
    s = fleet.server(extra="[server]\nqueue_expiry_max_sec = 100\nqueue_expiry_default_sec = 50\n").start()
    offline_client(fleet, s, "q9")
    cases = [
        ({"queue_offline": True, "expires_in_sec": 101}, "Invalid expires_in_sec.", "actual: 101"),
        ({"queue_offline": True, "expires_in_sec": -1}, "Invalid expires_in_sec.", "actual: -1"),
        ({"expires_in_sec": 10}, "Invalid expires_in_sec.", "queue_offline"),
    ]
    for extra, want, detail in cases:
        for path, body in (("/api/v1/clients/q9/commands", {"command": "true"}),
                           ("/api/v1/commands", {"command": "true", "client_ids": ["q9"]})):
            body = dict(body, **extra)
            st, j = s.api("POST", path, body)
            assert st == 400, (path, body, st, j)
            assert title(j) == want, (path, body, j)
            assert detail in j["errors"][0]["detail"], (path, body, j)
            assert "expires_in_sec" in j["errors"][0]["detail"], j
    for field, value in (("queue_offline", "yes"), ("expires_in_sec", "1h")):
        st, j = s.api("POST", "/api/v1/clients/q9/commands",
                      {"command": "true", "queue_offline": True, field: value})
        assert st == 400, (field, st, j)
        assert field in str(j["errors"][0]), j
    # a client id that never existed is an error, queue or not
    st, j = s.api("POST", "/api/v1/clients/never-was/commands",
                  {"command": "true", "queue_offline": True})
    assert st == 404, (st, j)
    assert "never-was" in title(j)
    st, j = s.api("POST", "/api/v1/commands",
                  {"command": "true", "client_ids": ["q9", "never-was"], "queue_offline": True})
    assert st == 404, (st, j)
    assert "never-was" in title(j)
    # nothing was queued by any of these
    st, j = s.api("GET", "/api/v1/clients/q9/commands")
    assert st == 200 and j["data"] == [], j


def test_cli_exec_queue_and_jobs_show_queued(fleet, tmp_path):
    s = fleet.server().start()
    a = offline_client(fleet, s, "q10")
    marker = str(tmp_path / "ran")
    r = cli(s, "exec", "-queue", "1h", "-client", "q10", "-wait", "1s", "echo x >> %s" % marker)
    st, j = s.api("GET", "/api/v1/commands")
    mjid = j["data"][0]["jid"]
    m = s.api("GET", "/api/v1/commands/" + mjid)[1]["data"]
    assert m["queue_offline"] is True and m["expires_in_sec"] == 3600, m
    assert m["summary"]["queued"] == 1, m
    assert m["jobs"][0]["status"] == "queued" and m["jobs"][0]["expires_at"], m
    r = cli(s, "jobs")
    assert r.returncode == 0, r.stderr
    row = [l for l in r.stdout.splitlines() if l.startswith(mjid)]
    assert row and "1 queued" in row[0], r.stdout
    jid = queue(s, "q10", "true", expires_in_sec=600)
    r = cli(s, "jobs")
    row = [l for l in r.stdout.splitlines() if l.startswith(jid)]
    assert row and "queued, expires " in row[0], r.stdout
    r = cli(s, "exec", "-queue", "soon", "-client", "q10", "true")
    assert r.returncode == 2 and "-queue 'soon'" in r.stderr, (r.returncode, r.stderr)
    a.start()
    s.wait_multi(mjid)
    assert lines(marker) == ["x"]
