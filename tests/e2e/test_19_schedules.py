"""rport's schedules (/api/v1/schedules): rport's fields, cron runs on real
agents as the schedule's creator, schedule_id on the jobs and the job list
filters, a missed run after a restart (once, within the grace period), and
bad input in rport's envelope naming the field (issue 15, items 6 and 7).

Time is injected, never waited for: tetherd's scheduler adds the seconds
written in the file that TETHER_TEST_SCHEDULE_CLOCK_FILE names to its wall
clock, and each schedule here matches one minute of the day half an hour
from now, so nothing runs until a test moves the clock there."""
import time

import pytest

from harness import wait_until


def _title(j):
    return j["errors"][0]["title"]


def _detail(j):
    return j["errors"][0]["detail"]


@pytest.fixture
def clock(tmp_path, monkeypatch):
    path = tmp_path / "schedule-clock"
    path.write_text("0")
    monkeypatch.setenv("TETHER_TEST_SCHEDULE_CLOCK_FILE", str(path))

    class Clock:
        def at(self, t):
            """Makes the scheduler's now t (UTC seconds), from now on."""
            path.write_text(str(max(0, int(t - time.time()))))
    return Clock()


def slot(minutes_ahead=30, span=1):
    """A daily cron expression for `span` minutes starting that far ahead,
    and the time of its first minute."""
    s = (int(time.time()) // 60) * 60 + minutes_ahead * 60
    tm = time.gmtime(s)
    if tm.tm_min + span - 1 > 59:
        # a span that would cross the hour starts at the next hour instead
        s += (60 - tm.tm_min) * 60
        tm = time.gmtime(s)
    end = tm.tm_min + span - 1
    assert end < 60
    minute = "%d" % tm.tm_min if span == 1 else "%d-%d" % (tm.tm_min, min(end, 59))
    return "%s %d * * *" % (minute, tm.tm_hour), s


def sched_jobs(s, cid, sid):
    st, j = s.api("GET", "/api/v1/clients/%s/commands?filter[schedule_id]=%s" % (cid, sid))
    assert st == 200, j
    return j["data"]


def make(s, auth=None, **fields):
    body = {"name": "nightly", "schedule": slot()[0], "type": "command", "command": "echo tick",
            "client_ids": ["sch-1"]}
    body.update(fields)
    kw = {"auth": auth} if auth else {}
    return s.api("POST", "/api/v1/schedules", body, **kw)


def test_crud_with_rports_fields(fleet, clock):
    s = fleet.server().start()
    fleet.agent(s, "sch-1")
    cron, _ = slot()
    st, j = make(s, schedule=cron, tags=None, execute_concurrently=True, abort_on_error=False,
                 overlaps=True, timeout_sec=30, cwd="/tmp")
    assert st == 201, j
    d = j["data"]
    for k in ("id", "created_at", "created_by", "name", "schedule", "type", "client_ids",
              "group_ids", "tags", "command", "script", "interpreter", "cwd", "is_sudo",
              "timeout_sec", "execute_concurrently", "abort_on_error", "overlaps",
              "last_execution"):
        assert k in d, k
    assert (d["schedule"], d["type"], d["command"], d["client_ids"], d["created_by"]) == \
        (cron, "command", "echo tick", ["sch-1"], "admin")
    assert (d["execute_concurrently"], d["abort_on_error"], d["overlaps"], d["timeout_sec"]) == \
        (True, False, True, 30)
    assert d["last_execution"] is None
    sid = d["id"]
    assert s.api("GET", "/api/v1/schedules/" + sid)[1]["data"] == d
    st, j = s.api("PUT", "/api/v1/schedules/" + sid,
                  {"name": "renamed", "schedule": "@daily", "type": "script",
                   "script": "ZWNobyBoaQ==", "client_ids": ["sch-1"]})
    assert st == 200, j
    assert (j["data"]["name"], j["data"]["type"], j["data"]["script"], j["data"]["id"],
            j["data"]["created_at"]) == ("renamed", "script", "ZWNobyBoaQ==", sid, d["created_at"])
    assert make(s, name="other")[0] == 201
    st, j = s.api("GET", "/api/v1/schedules?sort=-name")
    assert st == 200 and [x["name"] for x in j["data"]] == ["renamed", "other"]
    assert j["meta"]["count"] == 2
    st, j = s.api("GET", "/api/v1/schedules?filter[type]=script")
    assert [x["id"] for x in j["data"]] == [sid]
    st, j = s.api("GET", "/api/v1/schedules?filter[client_ids]=sch-*&page[limit]=1")
    assert len(j["data"]) == 1 and j["meta"]["count"] == 2
    st, j = s.api("GET", "/api/v1/schedules?sort=schedule")
    assert st == 400 and _title(j) == "unsupported sort field 'schedule'"
    s.restart()
    st, j = s.api("GET", "/api/v1/schedules/" + sid)
    assert st == 200 and j["data"]["name"] == "renamed"
    assert s.api("DELETE", "/api/v1/schedules/" + sid)[0] == 204
    st, j = s.api("GET", "/api/v1/schedules/" + sid)
    assert st == 404 and _title(j) == 'Schedule with id="%s" not found.' % sid


def test_bad_input(fleet, clock):
    s = fleet.server().start()
    fleet.agent(s, "sch-1")
    cases = [
        ({"schedule": "60 * * * *"}, 400, "Invalid cron expression.",
         "schedule: minute: 60 is out of range 0-59"),
        ({"schedule": "* 25 * * *"}, 400, "Invalid cron expression.",
         "schedule: hour: 25 is out of range 0-23"),
        ({"schedule": "* * * 13 *"}, 400, "Invalid cron expression.",
         "schedule: month: 13 is out of range 1-12"),
        ({"schedule": "* * * * mon-foo"}, 400, "Invalid cron expression.", "day of week"),
        ({"schedule": "* * *"}, 400, "Invalid cron expression.", "expected 5 fields"),
        ({"schedule": "0 0 31 2 *"}, 400, "Invalid cron expression.", "never matches"),
        ({"schedule": ""}, 400, "Invalid schedule.", "schedule:"),
        ({"name": ""}, 400, "Invalid schedule.", "name:"),
        ({"type": "shell"}, 400, "Invalid schedule.", "type:"),
        ({"command": ""}, 400, "Command cannot be empty.", "command:"),
        ({"client_ids": None}, 400, "Missing targeting parameters.", None),
        ({"client_ids": []}, 400, "Missing targeting parameters.", None),
        ({"client_ids": ["ghost"]}, 404, 'Client with id="ghost" not found.', None),
        ({"client_ids": None, "group_ids": ["nogroup"]}, 400, 'Unknown group with id="nogroup".',
         None),
        ({"client_ids": None, "tags": {"tags": []}}, 400, "No tags specified.", "tags"),
        ({"library_id": "nope"}, 400, "Invalid schedule.", "library_id"),
        ({"command": None, "library_id": "nope"}, 404,
         'Library command with id="nope" not found.', "library_id"),
        ({"timeout_sec": -5}, 400, "Invalid schedule.", "timeout_sec"),
        ({"bogus": 1}, 400, "Invalid JSON data.", "bogus"),
    ]
    for fields, status, title, detail in cases:
        st, j = make(s, **fields)
        assert st == status and _title(j) == title, (fields, st, j)
        if detail:
            assert detail in _detail(j), (fields, j)
    st, j = s.api("PUT", "/api/v1/schedules/nope", {"name": "x", "schedule": "@daily",
                                                    "type": "command", "command": "true",
                                                    "client_ids": ["sch-1"]})
    assert st == 404 and _title(j) == 'Schedule with id="nope" not found.'
    assert s.api("DELETE", "/api/v1/schedules/nope")[0] == 404
    # nothing was saved
    assert s.api("GET", "/api/v1/schedules")[1]["meta"]["count"] == 0


def test_runs_on_the_injected_clock_with_schedule_id(fleet, clock):
    s = fleet.server().start()
    fleet.agent(s, "sch-1")
    fleet.agent(s, "sch-2")
    cron, at = slot()
    st, j = make(s, schedule=cron, client_ids=["sch-1", "sch-2"], execute_concurrently=True,
                 command="echo scheduled-$((6*7))")
    assert st == 201, j
    sid = j["data"]["id"]
    # a plain job on the same client has no schedule_id
    plain = s.run("sch-1", "echo plain")
    s.wait_job("sch-1", plain)
    assert sched_jobs(s, "sch-1", sid) == []
    clock.at(at + 5)
    wait_until(lambda: len(sched_jobs(s, "sch-1", sid)) == 1, 20, "the first scheduled run")
    st, j = s.api("GET", "/api/v1/commands?filter[schedule_id]=" + sid)
    assert st == 200 and len(j["data"]) == 1 and j["data"][0]["schedule_id"] == sid
    multi = j["data"][0]["jid"]
    m = s.wait_multi(multi)
    for x in m["jobs"]:
        job = s.job(x["client_id"], x["jid"])
        assert job["schedule_id"] == sid and job["created_by"] == "admin"
        assert job["status"] == "successful" and job["result"]["stdout"] == "scheduled-42\n"
    st, j = s.api("GET", "/api/v1/commands/%s/jobs?filter[schedule_id]=%s" % (multi, sid))
    assert st == 200 and len(j["data"]) == 2
    st, j = s.api("GET", "/api/v1/clients/sch-1/commands?sort=-schedule_id")
    assert st == 200 and j["data"][0]["schedule_id"] == sid
    def finished():
        le = s.api("GET", "/api/v1/schedules/" + sid)[1]["data"]["last_execution"]
        return le if le and le["status"] == "successful" else None
    le = wait_until(finished, 20, "last_execution to be final")
    assert (le["client_count"], le["success_count"], le["multi_job_id"]) == (2, 2, multi)
    # one run per slot: a day later, the second
    clock.at(at + 86400 + 5)
    wait_until(lambda: len(sched_jobs(s, "sch-2", sid)) == 2, 20, "the second scheduled run")
    assert len(sched_jobs(s, "sch-1", sid)) == 2


def test_runs_as_its_creator_at_run_time(fleet, clock):
    s = fleet.server().start()
    fleet.agent(s, "sch-1")
    assert s.api("POST", "/api/v1/users", {"username": "bob", "password": "bob-password",
                                           "groups": ["ops"]})[0] == 201
    assert s.api("PUT", "/api/v1/user-groups/ops", {"permissions": {"commands": True}})[0] == 200
    assert s.api("POST", "/api/v1/client-groups", {"id": "sch", "params": {"client_id": ["sch-*"]},
                                                   "allowed_user_groups": ["ops"]})[0] == 201
    bob = ("bob", "bob-password")
    # without "scheduler", bob may not use schedules
    st, j = make(s, auth=bob)
    assert st == 403 and "scheduler" in _detail(j)
    assert s.api("PUT", "/api/v1/user-groups/ops",
                 {"permissions": {"commands": True, "scheduler": True}})[0] == 200
    cron, at = slot()
    st, j = make(s, auth=bob, schedule=cron)
    assert st == 201 and j["data"]["created_by"] == "bob", j
    sid = j["data"]["id"]
    # admin's schedules are not bob's to see
    st, j = make(s, name="admins")
    assert st == 201
    st, j = s.api("GET", "/api/v1/schedules", auth=bob)
    assert [x["id"] for x in j["data"]] == [sid]
    assert s.api("GET", "/api/v1/schedules/" + j["data"][0]["id"], auth=bob)[0] == 200
    clock.at(at + 5)
    jobs = wait_until(lambda: sched_jobs(s, "sch-1", sid), 20, "bob's scheduled run")
    assert jobs[0]["created_by"] == "bob"
    # the right is taken away: the next run is refused and recorded
    assert s.api("PUT", "/api/v1/user-groups/ops", {"permissions": {"scheduler": True}})[0] == 200
    clock.at(at + 86400 + 5)
    def refused():
        le = s.api("GET", "/api/v1/schedules/" + sid)[1]["data"]["last_execution"]
        return le if le and le["status"] == "refused" else None
    le = wait_until(refused, 20, "the refused run to be recorded")
    assert "commands" in le["summary"] and le["client_count"] == 0
    assert len(sched_jobs(s, "sch-1", sid)) == 1


def test_library_entry_schedule(fleet, clock):
    s = fleet.server().start()
    fleet.agent(s, "sch-1")
    st, j = s.api("POST", "/api/v1/library/commands", {"name": "hello", "cmd": "echo v1"})
    lib = j["data"]["id"]
    cron, at = slot()
    st, j = make(s, schedule=cron, command=None, library_id=lib)
    assert st == 201 and j["data"]["library_id"] == lib, j
    sid = j["data"]["id"]
    # the entry's text at run time runs
    assert s.api("PUT", "/api/v1/library/commands/" + lib, {"name": "hello", "cmd": "echo v2"})[0] == 200
    clock.at(at + 5)
    jobs = wait_until(lambda: sched_jobs(s, "sch-1", sid), 20, "the scheduled run")
    job = s.wait_job("sch-1", jobs[0]["jid"])
    assert job["result"]["stdout"] == "v2\n"


def test_missed_run_once_within_grace(fleet, clock):
    s = fleet.server(extra="[server]\nschedule_missed_grace_sec = 600\n"
                           "schedule_missed_delay_sec = 3\n").start()
    agent = fleet.agent(s, "sch-1")
    cron, at = slot(span=5)     # five slots in a row
    st, j = make(s, schedule=cron)
    sid = j["data"]["id"]
    s.stop()
    agent.stop()
    # down through all five: the last one missed 90 s ago
    clock.at(at + 4 * 60 + 90)
    t0 = time.monotonic()
    s.start()
    agent.start()
    s.wait_connected("sch-1")
    jobs = wait_until(lambda: sched_jobs(s, "sch-1", sid), 20, "the missed run")
    # after the delay for the agents to come back, so it ran on the agent
    assert time.monotonic() - t0 >= 3
    assert s.wait_job("sch-1", jobs[0]["jid"])["status"] == "successful"
    # once, not once per missed slot (the next slot is a day away)
    for _ in range(30):
        assert len(sched_jobs(s, "sch-1", sid)) == 1
        time.sleep(0.1)
    st, j = s.api("GET", "/api/v1/schedules/" + sid)
    assert j["data"]["last_execution"]["status"] in ("running", "successful")
    assert j["data"]["last_execution"]["client_count"] == 1


def test_missed_run_past_grace_is_skipped(fleet, clock):
    s = fleet.server(extra="[server]\nschedule_missed_grace_sec = 60\n"
                           "schedule_missed_delay_sec = 0\n").start()
    fleet.agent(s, "sch-1")
    cron, at = slot()
    st, j = make(s, schedule=cron)
    sid = j["data"]["id"]
    s.stop()
    clock.at(at + 300)          # missed 5 minutes ago, grace 1 minute
    s.start()
    s.wait_connected("sch-1")
    for _ in range(30):         # three ticks of the scheduler
        assert sched_jobs(s, "sch-1", sid) == []
        time.sleep(0.1)
    assert s.api("GET", "/api/v1/schedules/" + sid)[1]["data"]["last_execution"] is None
    # the next day's slot runs as usual
    clock.at(at + 86400 + 5)
    wait_until(lambda: sched_jobs(s, "sch-1", sid), 20, "the next day's run")
