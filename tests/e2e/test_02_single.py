"""Issue 2: the single-host command API end to end, as the seed shows it."""
import json
import re
import socket
import subprocess
import time

import pytest

import harness
from harness import wait_until

SEED_POST = """curl -s -u admin:foobaz http://localhost:3000/api/v1/clients/$CLIENTID/commands \\
-H "Content-Type: application/json" -X POST \\
--data-raw '{
  "command": "date",
  "timeout_sec": 10
}'|jq"""

SEED_GET = "curl -s -u admin:foobaz http://localhost:3000/api/v1/clients/$CLIENTID/commands/$JOBID|jq"

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


@pytest.fixture
def fleet(tmp_path, request):
    yield from harness.fleet_fixture(tmp_path, request)


@pytest.fixture
def one(fleet):
    s = fleet.server().start()
    # the demo's policy: 'date' must be allowed as the seed sends it
    fleet.agent(s, "my-client", policy="allow = ['^/usr/bin/.*', '^/bin/.*', '^date$']\n"
                                      "deny = ['(\\||<|>|;|,|\\n|&)']")
    return s


def shell(cmd, port, **env):
    e = " ".join("%s=%s" % kv for kv in env.items())
    full = "%s\n%s" % (e and "export " + e or "", cmd.replace("3000", str(port)))
    return subprocess.run(["bash", "-c", full], capture_output=True, text=True, timeout=30).stdout


def test_seed_example_verbatim(one):
    out = json.loads(shell(SEED_POST, one.api_port, CLIENTID="my-client"))
    jid = out["data"]["jid"]
    assert re.match(r"^[0-9a-f-]{36}$", jid)

    def final():
        d = json.loads(shell(SEED_GET, one.api_port, CLIENTID="my-client", JOBID=jid))["data"]
        return d if d["status"] != "running" else None
    d = wait_until(final, 15, "the job to finish")
    assert d["status"] == "successful"
    assert d["jid"] == jid and d["client_id"] == "my-client" and d["command"] == "date"
    assert d["interpreter"] == "/bin/sh" and d["created_by"] == "admin" and d["timeout_sec"] == 10
    assert d["is_sudo"] is False and d["pid"] > 0 and d["exit_code"] == 0
    assert RFC3339.match(d["started_at"]) and RFC3339.match(d["finished_at"])
    assert d["result"]["stderr"] == ""
    assert d["result"]["stdout"].endswith("\n") and time.strftime("%Y") in d["result"]["stdout"]


def test_failed_exit_code_and_streams(one, fleet):
    # a permissive agent for shell syntax
    s = one
    fleet.agent(s, "any")
    j = s.wait_job("any", s.run("any", {"command": "echo out; echo err >&2; exit 3"}))
    assert j["status"] == "failed" and j["exit_code"] == 3 and j["error"] == "exit status 3"
    assert j["result"] == {"stdout": "out\n", "stderr": "err\n"}


def test_timeout_is_unknown_and_keeps_output(one, fleet):
    fleet.agent(one, "any")
    j = one.wait_job("any", one.run("any", {"command": "echo before; sleep 30.21", "timeout_sec": 1}))
    assert j["status"] == "unknown" and j["result"]["stdout"] == "before\n"
    assert j["exit_code"] is None and "keeps running" in j["error"]
    subprocess.run(["pkill", "-f", "sleep 30.21"])  # this test's own: tests run side by side


def test_errors(one):
    api = one.api
    cases = [
        ("POST", "/api/v1/clients/my-client/commands", {"command": ""}, 400, "Command cannot be empty."),
        ("POST", "/api/v1/clients/my-client/commands", {"timeout_sec": 5}, 400, "Command cannot be empty."),
        ("POST", "/api/v1/clients/my-client/commands", {"command": "date", "timeout": 5}, 400, "Invalid JSON data."),
        ("POST", "/api/v1/clients/my-client/commands", {"command": "date", "interpreter": "tacoscript"}, 400, "Invalid interpreter."),
        ("POST", "/api/v1/clients/nobody/commands", {"command": "date"}, 404, 'Active client with id="nobody" not found.'),
        ("GET", "/api/v1/clients/my-client/commands/5d1e1d3c-0000-4000-8000-000000000000", None, 404,
         'Job[id="5d1e1d3c-0000-4000-8000-000000000000"] not found.'),
    ]
    for m, p, body, st, title in cases:
        got, j = api(m, p, body)
        assert (got, j["errors"][0]["title"]) == (st, title), (p, body, j)
    got, j = api("POST", "/api/v1/clients/my-client/commands", raw=b'{"command": "date",')
    assert got == 400 and j["errors"][0]["title"] == "Invalid JSON data."
    got, j = api("POST", "/api/v1/clients/my-client/commands", raw=b"")
    assert got == 400 and j["errors"][0]["title"] == "Missing body with json data."
    for auth in (None, ("admin", "wrong"), ("ghost", "foobaz")):
        got, j = api("GET", "/api/v1/clients", auth=auth)
        assert got == 401 and j["errors"][0]["title"] == "unauthorized"
    got, j = api("POST", "/api/v1/clients/my-client/commands", {"command": "ls /"})
    assert got == 409 and j["errors"][0]["title"] == "client error: command is not allowed: ls /"


def test_disconnected_client_is_listed_but_not_active(one, fleet):
    agent = [p for p in fleet.procs if getattr(p, "cid", "") == "my-client"][0]
    st, j = one.api("GET", "/api/v1/clients")
    c = [x for x in j["data"] if x["id"] == "my-client"][0]
    assert c["connection_state"] == "connected" and c["hostname"] == socket.gethostname()
    assert c["tags"] == ["linux"] and c["labels"] == {} and c["disconnected_at"] is None
    agent.stop()
    c = one.wait_disconnected("my-client")
    assert c["disconnected_at"]
    st, j = one.api("POST", "/api/v1/clients/my-client/commands", {"command": "date"})
    assert st == 404 and j["errors"][0]["title"] == 'Active client with id="my-client" not found.'


def test_restart_keeps_jobs_and_agent_reconnects(one):
    jid = one.run("my-client", {"command": "date"})
    before = one.wait_job("my-client", jid)
    assert one.stop() == 0
    one.start()
    assert one.job("my-client", jid) == before
    one.wait_connected("my-client", timeout=15)
    j = one.wait_job("my-client", one.run("my-client", {"command": "/bin/echo again"}))
    assert j["result"]["stdout"] == "again\n"


def test_list_paging_newest_first(one):
    jids = [one.run("my-client", {"command": "/bin/echo %d" % i}) for i in range(3)]
    for j in jids:
        one.wait_job("my-client", j)
    st, j = one.api("GET", "/api/v1/clients/my-client/commands?page[limit]=2")
    assert [x["jid"] for x in j["data"]] == jids[::-1][:2] and j["meta"]["count"] == 3
    st, j = one.api("GET", "/api/v1/clients/my-client/commands?page[limit]=2&page[offset]=2")
    assert [x["jid"] for x in j["data"]] == [jids[0]]
