"""Issue 17 item 10: TAT's scheduled invokers over the core's schedules,
driven by Tencent Cloud's official Node.js SDK (test_22_tat.py's helpers)
against a real tetherd and real agents. The scheduler's clock is moved
through TETHER_TEST_SCHEDULE_CLOCK_FILE; each RECURRENCE here is a daily
minute half an hour (or more) from now in Beijing time, as TAT reads
crontab, so nothing runs until a test moves the clock there."""
import base64
import time

import pytest

from harness import wait_until
from test_22_tat import SEED, b64, code, ok, sdk_ready, tasks, tat_conf  # noqa: F401

BEIJING = 8 * 3600


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


@pytest.fixture
def srv(fleet, clock, sdk_ready):  # noqa: F811
    s = fleet.server(extra=tat_conf()).start()
    for cid in SEED:
        fleet.agent(s, cid)
    off = fleet.agent(s, "ins-offline1")
    off.stop()
    s.wait_disconnected("ins-offline1")
    return s


def daily(minutes_ahead):
    """A daily crontab (Beijing time) for one minute that far ahead, and the
    UTC time of that minute."""
    s = (int(time.time()) // 60) * 60 + minutes_ahead * 60
    tm = time.gmtime(s + BEIJING)
    return "%d %d * * *" % (tm.tm_min, tm.tm_hour), s


def tat_time(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def command(s, content="echo hello-{{who}}", **fields):
    p = {"CommandName": "ivk-cmd-%d" % int(time.monotonic() * 1e6), "Content": b64(content),
         "EnableParameter": True, "DefaultParameters": '{"who": "default"}'}
    p.update(fields)
    return ok(s, "CreateCommand", p)["CommandId"]


def invoker(s, cmd, settings, **fields):
    p = {"Name": "nightly", "Type": "SCHEDULE", "CommandId": cmd, "InstanceIds": SEED[:1],
         "ScheduleSettings": settings}
    p.update(fields)
    return ok(s, "CreateInvoker", p)["InvokerId"]


def recurrence(cron):
    return {"Policy": "RECURRENCE", "Recurrence": cron}


def describe(s, ivk):
    r = ok(s, "DescribeInvokers", {"InvokerIds": [ivk]})
    assert r["TotalCount"] == 1, r
    return r["InvokerSet"][0]


def records(s, ivk, **params):
    p = {"InvokerIds": [ivk]}
    p.update(params)
    return ok(s, "DescribeInvokerRecords", p)


def wait_records(s, ivk, n, final=True):
    """The invoker's n records, once there are n (and the newest is final)."""
    def got():
        r = records(s, ivk)["InvokerRecordSet"]
        if len(r) < n:
            return None
        assert len(r) == n, r
        if final and (not r[0]["InvocationId"] or r[0]["Result"] == "RUNNING"):
            return None
        return r
    return wait_until(got, 60, "%d record(s) of %s" % (n, ivk), interval=0.5)


def output(task):
    return base64.b64decode(task["TaskResult"]["Output"]).decode()


def core_schedule(s, name):
    st, j = s.api("GET", "/api/v1/schedules")
    assert st == 200, j
    ids = [x["id"] for x in j["data"] if x["name"] == name]
    assert len(ids) == 1, j
    return ids[0]


def test_runs_on_schedule_with_the_command_read_at_each_run(srv, clock):
    s = srv
    cmd = command(s)
    cron, at = daily(30)
    ivk = invoker(s, cmd, recurrence(cron), Name="ivk-runs", Parameters='{"who": "ivk"}',
                  InstanceIds=SEED[:2], Username="root", Tags=[{"Key": "k", "Value": "v"}])
    assert ivk.startswith("ivk-") and len(ivk) == 12
    d = describe(s, ivk)
    assert (d["Name"], d["Type"], d["CommandId"], d["InstanceIds"], d["Enable"]) == \
        ("ivk-runs", "SCHEDULE", cmd, SEED[:2], True)
    assert (d["Parameters"], d["Username"], d["Tags"]) == \
        ('{"who": "ivk"}', "root", [{"Key": "k", "Value": "v"}])
    assert d["ScheduleSettings"] == {"Policy": "RECURRENCE", "Recurrence": cron,
                                     "InvokeTime": tat_time(at)}
    assert d["CreatedTime"].endswith("Z") and d["UpdatedTime"].endswith("Z")
    r = records(s, ivk)
    assert (r["TotalCount"], r["InvokerRecordSet"]) == (0, [])

    clock.at(at + 5)
    rec = wait_records(s, ivk, 1)[0]
    assert (rec["InvokerId"], rec["Result"], rec["Reason"]) == (ivk, "SUCCESS", "")
    assert rec["InvokeTime"][:16] == tat_time(at)[:16]
    inv = rec["InvocationId"]
    assert inv.startswith("inv-")
    i = ok(s, "DescribeInvocations", {"InvocationIds": [inv]})["InvocationSet"][0]
    assert (i["InvocationSource"], i["CommandId"], i["InvocationStatus"]) == \
        ("INVOKER", cmd, "SUCCESS")
    assert i["Parameters"] == '{"who": "ivk"}'
    ts = tasks(s, inv)
    assert sorted(t["InstanceId"] for t in ts) == sorted(SEED[:2])
    for t in ts:
        assert t["InvocationSource"] == "INVOKER" and t["TaskStatus"] == "SUCCESS"
        assert output(t) == "hello-ivk\n"
    # the same run in tether's own API, with the schedule's id
    sid = core_schedule(s, "ivk-runs")
    st, j = s.api("GET", "/api/v1/commands?filter[schedule_id]=" + sid)
    assert st == 200 and len(j["data"]) == 1 and j["data"][0]["schedule_id"] == sid, j
    # rport's API shows the invoker's schedule but neither replaces nor
    # deletes it: that would lose what TAT keeps in it
    st2, j2 = s.api("PUT", "/api/v1/schedules/" + sid,
                    {"name": "taken", "schedule": cron, "type": "command", "command": "echo no",
                     "client_ids": SEED[:1]})
    assert st2 == 409 and "belongs to the tat API" in j2["errors"][0]["title"], (st2, j2)
    st2, j2 = s.api("DELETE", "/api/v1/schedules/" + sid)
    assert st2 == 409 and j2["errors"][0]["detail"] == "source: tat", (st2, j2)
    assert describe(s, ivk)["Name"] == "ivk-runs"
    multi = j["data"][0]["jid"]
    for x in s.wait_multi(multi)["jobs"]:
        job = s.job(x["client_id"], x["jid"])
        assert job["schedule_id"] == sid and job["created_by"] == "admin"

    # the next run reads the command as it is then
    ok(s, "ModifyCommand", {"CommandId": cmd, "Content": b64("echo changed-{{who}}")})
    clock.at(at + 86400 + 5)
    recs = wait_records(s, ivk, 2)
    assert recs[1]["InvocationId"] == inv and recs[0]["InvocationId"] != inv
    for t in tasks(s, recs[0]["InvocationId"]):
        assert output(t) == "changed-ivk\n"
    # records page newest first
    page = records(s, ivk, Limit=1, Offset=1)
    assert page["TotalCount"] == 2 and page["InvokerRecordSet"][0]["InvocationId"] == inv
    # an invoker's command stays while the invoker does
    assert code(s, "DeleteCommand", {"CommandId": cmd}) == "ResourceUnavailable.CommandInInvoker"
    ok(s, "DeleteInvoker", {"InvokerId": ivk})
    assert ok(s, "DescribeInvokers", {"InvokerIds": [ivk]})["TotalCount"] == 0
    assert records(s, ivk)["TotalCount"] == 0
    ok(s, "DeleteCommand", {"CommandId": cmd})


def test_disabled_does_not_run_and_once_runs_once(srv, clock):
    s = srv
    cmd = command(s, "echo once")
    cron, at = daily(30)
    on = invoker(s, cmd, recurrence(cron), Name="ivk-on")
    off = invoker(s, cmd, recurrence(cron), Name="ivk-off")
    once = invoker(s, cmd, {"Policy": "ONCE",
                            "InvokeTime": time.strftime("%Y-%m-%dT%H:%M:%S+08:00",
                                                        time.gmtime(at + 2 + BEIJING))},
                   Name="ivk-once")
    assert describe(s, once)["ScheduleSettings"] == {"Policy": "ONCE",
                                                     "InvokeTime": tat_time(at + 2)}
    ok(s, "DisableInvoker", {"InvokerId": off})
    assert describe(s, off)["Enable"] is False
    clock.at(at + 5)
    wait_records(s, on, 1)
    wait_records(s, once, 1)
    # all three were due in the same tick: the disabled one did not run
    assert records(s, off)["TotalCount"] == 0
    # a one-shot invoker stays, disabled, once it ran
    assert describe(s, once)["Enable"] is False
    ok(s, "EnableInvoker", {"InvokerId": off})
    assert describe(s, off)["Enable"] is True
    clock.at(at + 86400 + 5)
    wait_records(s, on, 2)
    wait_records(s, off, 1)
    assert records(s, once)["TotalCount"] == 1
    # all of it is kept across a restart
    s.restart()
    assert describe(s, once)["Enable"] is False and describe(s, off)["Enable"] is True
    assert [records(s, i)["TotalCount"] for i in (on, off, once)] == [2, 1, 1]


def test_modify_invoker_changes_what_and_when(srv, clock):
    s = srv
    cmd = command(s)
    other = command(s, "echo other-{{who}}")
    cron, at = daily(40)
    ivk = invoker(s, cmd, recurrence(cron), Name="ivk-mod")
    sooner, at2 = daily(20)
    ok(s, "ModifyInvoker", {"InvokerId": ivk, "Name": "ivk-mod2", "CommandId": other,
                            "InstanceIds": [SEED[2]], "Parameters": '{"who": "mod"}',
                            "ScheduleSettings": recurrence(sooner)})
    d = describe(s, ivk)
    assert (d["Name"], d["CommandId"], d["InstanceIds"], d["Parameters"]) == \
        ("ivk-mod2", other, [SEED[2]], '{"who": "mod"}')
    assert d["ScheduleSettings"]["Recurrence"] == sooner
    # the new, sooner slot runs it (the old one has not come)
    clock.at(at2 + 5)
    rec = wait_records(s, ivk, 1)[0]
    t = tasks(s, rec["InvocationId"])
    assert [x["InstanceId"] for x in t] == [SEED[2]] and output(t[0]) == "other-mod\n"
    # to ONCE, later
    ok(s, "ModifyInvoker", {"InvokerId": ivk, "ScheduleSettings": {
        "Policy": "ONCE", "InvokeTime": tat_time(at2 + 600)}})
    assert describe(s, ivk)["ScheduleSettings"] == {"Policy": "ONCE",
                                                    "InvokeTime": tat_time(at2 + 600)}
    clock.at(at2 + 605)
    wait_records(s, ivk, 2)
    assert describe(s, ivk)["Enable"] is False


def test_describe_invokers_filters_and_paging(srv, clock):
    s = srv
    a, b = command(s), command(s)
    cron = daily(30)[0]
    i1 = invoker(s, a, recurrence(cron), Name="one")
    i2 = invoker(s, a, recurrence(cron), Name="two")
    i3 = invoker(s, b, recurrence(cron), Name="three")
    r = ok(s, "DescribeInvokers", {"Limit": 2})
    assert r["TotalCount"] == 3 and [x["InvokerId"] for x in r["InvokerSet"]] == [i3, i2]
    r = ok(s, "DescribeInvokers", {"Limit": 2, "Offset": 2})
    assert [x["InvokerId"] for x in r["InvokerSet"]] == [i1]
    r = ok(s, "DescribeInvokers", {"Filters": [{"Name": "command-id", "Values": [a]}]})
    assert sorted(x["InvokerId"] for x in r["InvokerSet"]) == sorted([i1, i2])
    r = ok(s, "DescribeInvokers", {"Filters": [{"Name": "invoker-id", "Values": [i3]},
                                               {"Name": "invoker-type", "Values": ["SCHEDULE"]}]})
    assert [x["InvokerId"] for x in r["InvokerSet"]] == [i3]
    assert ok(s, "DescribeInvokers", {"InvokerIds": ["ivk-00000000"]})["TotalCount"] == 0
    ok(s, "DeleteInvoker", {"InvokerId": i2})
    assert ok(s, "DescribeInvokers", {})["TotalCount"] == 2


def test_invoker_errors(srv, clock):
    s = srv
    cmd = command(s)
    plain = ok(s, "CreateCommand", {"CommandName": "plain-cmd",
                                    "Content": b64("echo plain")})["CommandId"]
    cron, at = daily(30)
    good = {"Name": "x", "Type": "SCHEDULE", "CommandId": cmd, "InstanceIds": SEED[:1],
            "ScheduleSettings": recurrence(cron)}

    def create(**changes):
        p = dict(good)
        for k, v in changes.items():
            if v is None:
                p.pop(k)
            else:
                p[k] = v
        return code(s, "CreateInvoker", p)

    cases = [
        ({"Name": None}, "MissingParameter"),
        ({"CommandId": None}, "MissingParameter"),
        ({"InstanceIds": None}, "MissingParameter"),
        ({"ScheduleSettings": None}, "MissingParameter"),
        ({"Type": "EVENT"}, "InvalidParameterValue"),
        ({"Name": "n" * 121}, "InvalidParameterValue.TooLong"),
        ({"ScheduleSettings": recurrence("61 * * * *")},
         "InvalidParameterValue.InvalidCronExpression"),
        ({"ScheduleSettings": {"Policy": "RECURRENCE"}}, "MissingParameter"),
        ({"ScheduleSettings": {"Policy": "WEEKLY"}}, "InvalidParameterValue"),
        ({"ScheduleSettings": {"Policy": "ONCE"}}, "MissingParameter"),
        ({"ScheduleSettings": {"Policy": "ONCE", "InvokeTime": "tomorrow"}},
         "InvalidParameterValue.InvalidTimeFormat"),
        ({"ScheduleSettings": {"Policy": "ONCE", "InvokeTime": "2001-01-01T00:00:00Z"}},
         "InvalidParameterValue.InvokeTimeExpired"),
        ({"ScheduleSettings": {"Policy": "ONCE", "InvokeTime": tat_time(at), "Extra": "1"}},
         "UnknownParameter"),
        ({"CommandId": "cmd-00000000"}, "ResourceNotFound.CommandNotFound"),
        ({"CommandId": "cmd-x"}, "InvalidCommandId.Malformed"),
        ({"InstanceIds": ["ins-nosuch"]}, "ResourceNotFound.InstanceNotFound"),
        ({"InstanceIds": ["ins-offline1"]}, "ResourceUnavailable.AgentStatusNotOnline"),
        ({"Username": "Bad User"}, "InvalidParameterValue.InvalidUsername"),
        ({"Parameters": "not json"}, "InvalidParameterValue.ParameterInvalidJsonFormat"),
        ({"Parameters": '{"bad key": "x"}'},
         "InvalidParameterValue.ParameterKeyContainsInvalidChar"),
        ({"Parameters": '{"who": 1}'}, "InvalidParameterValue.ParameterValueNotString"),
        ({"CommandId": plain, "Parameters": '{"who": "x"}'},
         "InvalidParameterValue.ParameterDisabled"),
        ({"Extra": 1}, "UnknownParameter"),
    ]
    for changes, want in cases:
        assert create(**changes) == want, changes
    missing = command(s, "echo {{nodefault}}", DefaultParameters="{}")
    assert create(CommandId=missing) == "InvalidParameterValue.LackOfParameterInfo"
    # nothing was made
    assert ok(s, "DescribeInvokers", {})["TotalCount"] == 0

    ivk = invoker(s, cmd, recurrence(cron))
    for action in ("EnableInvoker", "DisableInvoker", "DeleteInvoker", "ModifyInvoker"):
        assert code(s, action, {"InvokerId": "ivk-00000000"}) == "ResourceNotFound", action
        assert code(s, action, {"InvokerId": "ivk-1"}) == \
            "InvalidParameterValue.InvalidInvokerId", action
        assert code(s, action, {}) == "MissingParameter", action
    assert code(s, "ModifyInvoker", {"InvokerId": ivk, "ScheduleSettings": recurrence("x")}) \
        == "InvalidParameterValue.InvalidCronExpression"
    assert code(s, "ModifyInvoker", {"InvokerId": ivk, "CommandId": "cmd-00000000"}) == \
        "ResourceNotFound.CommandNotFound"
    assert code(s, "ModifyInvoker", {"InvokerId": ivk, "Parameters": "[1]"}) == \
        "InvalidParameterValue.ParameterInvalidJsonFormat"
    assert code(s, "ModifyInvoker", {"InvokerId": ivk, "InstanceIds": ["ins-nosuch"]}) == \
        "ResourceNotFound.InstanceNotFound"
    # a refused change left it as it was
    d = describe(s, ivk)
    assert (d["CommandId"], d["InstanceIds"], d["ScheduleSettings"]["Recurrence"]) == \
        (cmd, SEED[:1], cron)
    assert code(s, "DescribeInvokers", {"InvokerIds": [ivk], "Filters": [
        {"Name": "invoker-id", "Values": [ivk]}]}) == "InvalidParameter"
    assert code(s, "DescribeInvokers", {"InvokerIds": ["nope"]}) == \
        "InvalidParameterValue.InvalidInvokerId"
    assert code(s, "DescribeInvokers", {"Limit": 101}).startswith("InvalidParameterValue")
    assert code(s, "DescribeInvokerRecords", {"InvokerIds": ["nope"]}) == \
        "InvalidParameterValue.InvalidInvokerId"
    assert code(s, "DescribeInvokerRecords", {"Offset": -1}).startswith("InvalidParameterValue")


def test_runs_with_the_creators_rights_at_run_time(srv, clock):
    s = srv
    api = s.api
    assert api("POST", "/api/v1/users", {"username": "ivkbob", "password": "bob-password",
                                         "groups": ["ivkops"]})[0] == 201
    assert api("PUT", "/api/v1/user-groups/ivkops", {"permissions": {
        "commands": True, "scheduler": True}})[0] == 200
    assert api("POST", "/api/v1/client-groups", {"id": "ivkweb", "params": {
        "client_id": [SEED[0]]}, "allowed_user_groups": ["ivkops"]})[0] == 201
    st, j = api("POST", "/api/v1/me/tat-keys", {}, auth=("ivkbob", "bob-password"))
    assert st == 201, j
    bob = {"sid": j["data"]["secret_id"], "skey": j["data"]["secret_key"]}
    cmd = ok(s, "CreateCommand", {"CommandName": "bob-cmd", "Content": b64("whoami")}, **bob)
    cmd = cmd["CommandId"]
    cron, at = daily(30)
    assert code(s, "CreateInvoker", {
        "Name": "b", "Type": "SCHEDULE", "CommandId": cmd, "InstanceIds": [SEED[1]],
        "ScheduleSettings": recurrence(cron)}, **bob) == "ResourceNotFound.InstanceNotFound"
    ivk = ok(s, "CreateInvoker", {
        "Name": "bob-ivk", "Type": "SCHEDULE", "CommandId": cmd, "InstanceIds": [SEED[0]],
        "ScheduleSettings": recurrence(cron)}, **bob)["InvokerId"]
    # the admin's own invoker is not bob's to see
    mine = invoker(s, command(s), recurrence(cron), Name="admin-ivk")
    seen = ok(s, "DescribeInvokers", {}, **bob)
    assert [x["InvokerId"] for x in seen["InvokerSet"]] == [ivk]
    assert code(s, "DisableInvoker", {"InvokerId": mine}, **bob) == "ResourceNotFound"
    # without the scheduler permission, the next run is refused and recorded
    assert api("PUT", "/api/v1/user-groups/ivkops", {"permissions": {
        "commands": True, "scheduler": False}})[0] == 200
    assert code(s, "DisableInvoker", {"InvokerId": ivk}, **bob) == \
        "UnauthorizedOperation.CamAuthFailed"
    clock.at(at + 5)
    wait_records(s, mine, 1)
    rec = wait_records(s, ivk, 1, final=False)[0]
    assert (rec["Result"], rec["InvocationId"]) == ("FAILED", "")
    assert "scheduler" in rec["Reason"]
    assert ok(s, "DescribeInvokerRecords", {}, **bob)["TotalCount"] == 1
