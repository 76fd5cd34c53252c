"""The Elastic Defend dialect (issue 16): Kibana's response actions API
(/api/endpoint/...) on tetherd's API listener, over the same core as
rport's API, with real agents."""
import base64
import io
import json
import os
import shutil
import subprocess
import time
import zipfile

import pytest

import harness

SEED_ID = "ed518850-681a-4d60-bb98-e22640cae2a8"
SEED_BODY = """{
  "endpoint_ids": ["ed518850-681a-4d60-bb98-e22640cae2a8"],
  "parameters": {
    "command": "ls -al",
    "timeout": 600
  },
  "comment": "Get list of all files"
}"""
XSRF = {"kbn-xsrf": "true"}


@pytest.fixture(scope="module")
def es(module_fleet):
    s = module_fleet.server().start()
    module_fleet.agent(s, SEED_ID, name="gke-endpoint-node-4c4r")
    module_fleet.agent(s, "es-2")
    return s


def execute(s, body, auth=harness.ADMIN, headers=XSRF):
    return s.api("POST", "/api/endpoint/action/execute", body=body, auth=auth, headers=headers)


def details(s, aid, auth=harness.ADMIN):
    return s.api("GET", "/api/endpoint/action/" + aid, auth=auth)


def wait_done(s, aid, timeout=30):
    def done():
        st, j = details(s, aid)
        assert st == 200, (st, j)
        return j["data"] if j["data"]["isCompleted"] else None
    return harness.wait_until(done, timeout, "action %s to complete" % aid, procs=[s.proc])


def run(s, command, agents=("es-2",), **extra):
    body = {"endpoint_ids": list(agents), "parameters": {"command": command}}
    body.update(extra)
    st, j = execute(s, body)
    assert st == 200, (st, j)
    return j["data"]["id"]


def test_seed_request_verbatim_with_curl(es):
    # curl with its defaults (-d sends application/x-www-form-urlencoded)
    out = subprocess.run(
        ["curl", "-s", "-u", "admin:foobaz", "-H", "kbn-xsrf: true", "-X", "POST",
         es.url + "/api/endpoint/action/execute", "-d", SEED_BODY, "-w", "\n%{http_code}"],
        capture_output=True, text=True, timeout=30)
    body, code = out.stdout.rsplit("\n", 1)
    assert code == "200", out.stdout
    d = json.loads(body)["data"]
    for k in ("id", "agents", "hosts", "agentType", "command", "startedAt", "isCompleted",
              "wasSuccessful", "isExpired", "status", "outputs", "agentState", "createdBy",
              "comment", "parameters"):
        assert k in d, k
    assert d["agents"] == [SEED_ID]
    assert d["hosts"] == {SEED_ID: {"name": "gke-endpoint-node-4c4r"}}
    assert d["agentType"] == "endpoint" and d["command"] == "execute"
    assert d["status"] == "pending" and d["isCompleted"] is False and d["outputs"] == {}
    assert d["wasSuccessful"] is False and d["isExpired"] is False
    assert d["agentState"][SEED_ID] == {"isCompleted": False, "wasSuccessful": False,
                                        "wasCanceled": False, "errors": None,
                                        "completedAt": None}
    assert d["createdBy"] == "admin" and d["comment"] == "Get list of all files"
    assert d["parameters"] == {"command": "ls -al", "timeout": 600}
    assert d["startedAt"].endswith("Z") and len(d["startedAt"]) == 24
    done = wait_done(es, d["id"])
    assert done["status"] == "successful" and done["wasSuccessful"] is True
    c = done["outputs"][SEED_ID]["content"]
    assert done["outputs"][SEED_ID]["type"] == "json"
    assert c["code"] == "ra_execute_success_done" and c["shell_code"] == 0
    assert c["shell"] == "bash" and "total" in c["stdout"] and c["stdout_truncated"] is False
    assert c["output_file_id"] == "%s.%s" % (d["id"], SEED_ID)
    assert c["downloadUri"] == "/api/endpoint/action/%s/file/%s.%s/download" % (
        d["id"], d["id"], SEED_ID)


def test_defaults_bash_alerts_cases(es):
    aid = run(es, "echo $BASH_VERSION; exit 3", alert_ids=["al-1"], case_ids=["c-1", "c-2"])
    d = wait_done(es, aid)
    assert d["parameters"] == {"command": "echo $BASH_VERSION; exit 3", "timeout": 14400}
    assert d["alertIds"] == ["al-1"] and d["caseIds"] == ["c-1", "c-2"]
    c = d["outputs"]["es-2"]["content"]
    assert c["shell_code"] == 3 and c["stdout"].strip()  # bash ran it
    assert "comment" not in d


def test_failure_and_timeout(es):
    aid = run(es, "sleep 30", parameters=None) if False else None
    st, j = execute(es, {"endpoint_ids": ["es-2"], "parameters": {"command": "sleep 30",
                                                                    "timeout": 1}})
    assert st == 200, j
    d = wait_done(es, j["data"]["id"], timeout=40)
    assert d["status"] == "failed" and d["wasSuccessful"] is False
    assert d["agentState"]["es-2"]["errors"] and "timeout" in d["agentState"]["es-2"]["errors"][0]
    assert "downloadUri" not in json.dumps(d)


def test_tail_and_zip(es):
    aid = run(es, "head -c 3000000 /dev/urandom | base64 -w 100; echo err-tail >&2")
    d = wait_done(es, aid, timeout=60)
    c = d["outputs"]["es-2"]["content"]
    assert c["stdout_truncated"] is True and c["stderr_truncated"] is False
    assert len(c["stdout"].encode()) <= 2048 and c["stderr"] == "err-tail\n"
    st, info = es.api("GET", "/api/endpoint/action/%s/file/%s" % (aid, c["output_file_id"]))
    assert st == 200 and info["data"]["status"] == "READY", info
    r = es.api("GET", c["downloadUri"])
    assert r.status == 200
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"].startswith("attachment; filename=")
    assert r.headers["x-content-type-options"] == "nosniff"
    z = zipfile.ZipFile(io.BytesIO(r.raw))
    out = z.read("stdout", pwd=b"elastic")
    assert out.endswith(c["stdout"].encode()) and len(out) > 4000000
    assert z.read("stderr", pwd=b"elastic") == b"err-tail\n"
    with pytest.raises(RuntimeError):
        z.read("stdout")  # encrypted: no password, no data
    if shutil.which("unzip"):
        p = subprocess.run(["unzip", "-p", "-P", "elastic", "/dev/stdin", "stdout"],
                           input=r.raw, capture_output=True, timeout=60)
        if p.returncode != 0:  # unzip wants a seekable file
            path = os.path.join(os.path.dirname(es.config), "out.zip")
            with open(path, "wb") as f:
                f.write(r.raw)
            p = subprocess.run(["unzip", "-p", "-P", "elastic", path, "stdout"],
                               capture_output=True, timeout=60)
        assert p.returncode == 0 and p.stdout == out


def test_transport_errors(es):
    st, j = execute(es, json.loads(SEED_BODY), headers={})
    assert (st, j) == (400, {"statusCode": 400, "error": "Bad Request",
                             "message": "Request must contain a kbn-xsrf header."})
    st, j = execute(es, json.loads(SEED_BODY), headers=dict(XSRF, **{"elastic-api-version": "2099-01-01"}))
    assert st == 400 and j["message"].startswith('No version "2099-01-01" available'), j
    st, j = execute(es, json.loads(SEED_BODY), headers=dict(XSRF, **{"elastic-api-version": "2023-10-31"}))
    assert st == 200, j
    st, j = details(es, "0190a0a0-0000-7000-8000-000000000000")
    assert (st, j) == (404, {"statusCode": 404, "error": "Not Found", "message":
                             "Action with id '0190a0a0-0000-7000-8000-000000000000' not found."})
    st, j = details(es, "nope")
    assert st == 404 and j["message"] == "Action with id 'nope' not found."
    st, j = es.api("GET", "/api/endpoint/action", auth=None)
    assert st == 401 and j["statusCode"] == 401
    st, j = es.api("GET", "/api/endpoint/action", auth=("admin", "wrong"))
    assert st == 401
    # rport's own routes are untouched
    assert es.api("GET", "/api/v1/status")[0] == 200


def test_body_over_the_limit_in_kibanas_envelope(es):
    # [api] max_request_bytes (1 MiB) is enforced by the network layer before
    # the body is read: Kibana's envelope, with curl's defaults
    body = json.dumps({"endpoint_ids": ["es-2"], "parameters": {"command": "x" * (1024 * 1024)}})
    r = subprocess.run(["curl", "-s", "-u", "admin:foobaz", "-H", "kbn-xsrf: true",
                        "-H", "Content-Type: application/json", "-X", "POST",
                        "-w", "\n%{http_code}", "--data-binary", "@-",
                        "http://127.0.0.1:%d/api/endpoint/action/execute" % es.api_port],
                       input=body, capture_output=True, text=True, timeout=30)
    text, status = r.stdout.rsplit("\n", 1)
    assert status == "413", r
    j = json.loads(text)
    assert j["statusCode"] == 413 and j["error"] == "Request Entity Too Large", j
    assert "larger than 1048576 bytes" in j["message"], j


@pytest.mark.parametrize("body,message", [
    ({"parameters": {"command": "ls"}},
     "[request body.endpoint_ids]: expected value of type [array] but got [undefined]"),
    ({"endpoint_ids": "es-2", "parameters": {"command": "ls"}},
     "[request body.endpoint_ids]: expected value of type [array] but got [string]"),
    ({"endpoint_ids": [], "parameters": {"command": "ls"}},
     "[request body.endpoint_ids]: array size is [0], but cannot be smaller than [1]"),
    ({"endpoint_ids": [" "], "parameters": {"command": "ls"}},
     "[request body.endpoint_ids.0]: endpoint_ids cannot contain empty strings"),
    ({"endpoint_ids": [1], "parameters": {"command": "ls"}},
     "[request body.endpoint_ids.0]: expected value of type [string] but got [number]"),
    ({"endpoint_ids": ["es-2"]},
     "[request body.parameters]: expected a plain object value, but found [undefined] instead."),
    ({"endpoint_ids": ["es-2"], "parameters": {}},
     "[request body.parameters.command]: expected value of type [string] but got [undefined]"),
    ({"endpoint_ids": ["es-2"], "parameters": {"command": "   "}},
     "[request body.parameters.command]: command cannot be an empty string"),
    ({"endpoint_ids": ["es-2"], "parameters": {"command": "x" * 8193}},
     "[request body.parameters.command]: value has length [8193] but it must have a maximum length of [8192]."),
    ({"endpoint_ids": ["es-2"], "parameters": {"command": "ls", "timeout": 0}},
     "[request body.parameters.timeout]: Value must be equal to or greater than [1]."),
    ({"endpoint_ids": ["es-2"], "parameters": {"command": "ls", "timeout": "5"}},
     "[request body.parameters.timeout]: expected value of type [number] but got [string]"),
    ({"endpoint_ids": ["es-2"], "parameters": {"command": "ls", "user": "x"}},
     "[request body.parameters.user]: definition for this key is missing"),
    ({"endpoint_ids": ["es-2"], "parameters": {"command": "ls"}, "extra": 1},
     "[request body.extra]: definition for this key is missing"),
    ({"endpoint_ids": ["es-2"], "parameters": {"command": "ls"}, "agent_type": "bogus"},
     "[request body.agent_type]: expected one of [endpoint, sentinel_one, crowdstrike, microsoft_defender_endpoint] but got [bogus]"),
    ({"endpoint_ids": ["es-2"], "parameters": {"command": "ls"}, "alert_ids": []},
     "[request body.alert_ids]: array size is [0], but cannot be smaller than [1]"),
    ({"endpoint_ids": ["es-2"], "parameters": {"command": "ls"}, "case_ids": [""]},
     "[request body.case_ids.0]: case_ids cannot contain empty strings"),
    ({"endpoint_ids": ["es-2"], "parameters": {"command": "ls"}, "comment": 5},
     "[request body.comment]: expected value of type [string] but got [number]"),
])
def test_schema_errors(es, body, message):
    st, j = execute(es, body)
    assert (st, j) == (400, {"statusCode": 400, "error": "Bad Request", "message": message})


def test_unknown_endpoint_and_bad_json(es):
    st, j = execute(es, {"endpoint_ids": ["no-such-host"], "parameters": {"command": "ls"}})
    assert st == 400 and j["message"].startswith(
        "The host does not have Elastic Defend integration installed"), j
    st, j = es.api("POST", "/api/endpoint/action/execute", raw="{nope", headers=XSRF)
    assert st == 400 and j["message"].startswith("[request body]"), j


def test_visible_through_rport_and_cancel_both_ways(es):
    aid = run(es, "sleep 60")
    st, j = es.api("GET", "/api/v1/commands/" + aid)
    assert st == 200 and j["data"]["command"] == "sleep 60" and j["data"]["client_ids"] == ["es-2"]
    harness.wait_until(lambda: es.api("GET", "/api/v1/commands/%s/jobs" % aid)[1]["data"],
                       20, "the job to exist")
    # cancel through rport's face, seen in Elastic's
    st, j = es.api("DELETE", "/api/v1/commands/" + aid)
    assert st == 202, j
    d = wait_done(es, aid)
    assert d["status"] == "canceled" and d["wasCanceled"] is True
    # cancel through Elastic's face, seen in rport's
    aid = run(es, "sleep 60")
    harness.wait_until(lambda: es.api("GET", "/api/v1/commands/%s/jobs" % aid)[1]["data"],
                       20, "the job to exist")
    st, j = es.api("POST", "/api/endpoint/action/cancel", headers=XSRF,
                   body={"endpoint_ids": ["es-2"], "parameters": {"id": aid}})
    assert st == 200, j
    m = es.wait_multi(aid)
    assert m["stop_reason"] is None or "cancel" in (m["stop_reason"] or "")
    assert m["jobs"][0]["status"] == "failed", m
    assert wait_done(es, aid)["status"] == "canceled"


def test_list_filters(es):
    a1 = run(es, "echo one")
    a2 = run(es, "exit 0", agents=[SEED_ID])
    wait_done(es, a1)
    wait_done(es, a2)
    st, j = es.api("GET", "/api/endpoint/action?pageSize=100")
    assert st == 200, j
    ids = [d["id"] for d in j["data"]]
    assert ids.index(a2) < ids.index(a1)  # newest first
    assert j["total"] >= 2 and j["page"] == 1 and j["pageSize"] == 100
    assert all(d["outputs"] == {} for d in j["data"])
    st, j = es.api("GET", "/api/endpoint/action?agentIds=%s&withOutputs=%s&pageSize=100" % (SEED_ID, a2))
    assert st == 200 and a2 in [d["id"] for d in j["data"]] and a1 not in [d["id"] for d in j["data"]]
    assert [d for d in j["data"] if d["id"] == a2][0]["outputs"][SEED_ID]["type"] == "json"
    assert j["elasticAgentIds"] == [SEED_ID]
    st, j = es.api("GET", "/api/endpoint/action?startDate=now-24h/h&endDate=now&pageSize=100")
    assert st == 200 and a1 in [d["id"] for d in j["data"]]
    st, j = es.api("GET", "/api/endpoint/action?startDate=now%2B1h")
    assert st == 200 and j["total"] == 0
    st, j = es.api("GET", "/api/endpoint/action?endDate=2000-01-01T00:00:00Z")
    assert st == 200 and j["total"] == 0
    st, j = es.api("GET", "/api/endpoint/action?statuses=successful&pageSize=100")
    assert st == 200 and all(d["status"] == "successful" for d in j["data"]) and a1 in [d["id"] for d in j["data"]]
    st, j = es.api("GET", "/api/endpoint/action?statuses=pending")
    assert st == 200 and a1 not in [d["id"] for d in j["data"]]
    st, j = es.api("GET", "/api/endpoint/action?pageSize=1&page=2")
    assert st == 200 and len(j["data"]) == 1 and j["total"] >= 2
    st, j = es.api("GET", "/api/endpoint/action?userIds=nobody")
    assert st == 200 and j["total"] == 0
    st, j = es.api("GET", "/api/endpoint/action?commands=isolate")
    assert st == 200 and j["total"] == 0
    st, j = es.api("GET", "/api/endpoint/action?types=automated")
    assert st == 200 and j["total"] == 0
    for bad in ("statuses=bogus", "pageSize=0", "pageSize=10001", "startDate=yesterday",
                "commands=bogus", "page=x"):
        st, j = es.api("GET", "/api/endpoint/action?" + bad)
        assert st == 400 and j["statusCode"] == 400 and j["message"].startswith("[request query."), (bad, j)


def test_action_status(es):
    aid = run(es, "sleep 30")
    st, j = es.api("GET", "/api/endpoint/action_status?agent_ids=es-2&agent_ids=" + SEED_ID)
    assert st == 200, j
    got = {x["agent_id"]: x["pending_actions"]["execute"] for x in j["data"]}
    assert got["es-2"] >= 1 and got[SEED_ID] == 0
    es.api("DELETE", "/api/v1/commands/" + aid)
    wait_done(es, aid)
    st, j = es.api("GET", "/api/endpoint/action_status?agent_ids=es-2")
    assert j["data"] == [{"agent_id": "es-2", "pending_actions": {"execute": 0}}]
    st, j = es.api("GET", "/api/endpoint/action_status")
    assert st == 400 and "agent_ids" in j["message"]


def test_apikey_auth(es):
    st, j = es.api("POST", "/api/security/api_key", body={"name": "ci"}, headers=XSRF)
    assert st == 200, j
    key = j["encoded"]
    assert base64.b64decode(key).decode() == "%s:%s" % (j["id"], j["api_key"])
    hdr = {"Authorization": "ApiKey " + key}
    st, j2 = es.api("GET", "/api/endpoint/action", auth=None, headers=hdr)
    assert st == 200, j2
    st, j2 = es.api("POST", "/api/endpoint/action/execute", auth=None, body={
        "endpoint_ids": ["es-2"], "parameters": {"command": "true"}}, headers=dict(XSRF, **hdr))
    assert st == 200 and j2["data"]["createdBy"] == "admin", j2
    # the key also works on rport's face
    assert es.api("GET", "/api/v1/clients", auth=None, headers=hdr)[0] == 200
    bad = "ApiKey " + base64.b64encode(("%s:%s" % (j["id"], "x" * 52)).encode()).decode()
    assert es.api("GET", "/api/endpoint/action", auth=None, headers={"Authorization": bad})[0] == 401
    st, lst = es.api("GET", "/api/security/api_key")
    assert j["id"] in [k["id"] for k in lst["apiKeys"]]
    assert es.api("DELETE", "/api/security/api_key/" + j["id"], headers=XSRF)[0] == 200
    assert es.api("GET", "/api/endpoint/action", auth=None, headers=hdr)[0] == 401


def test_bearer_token(es):
    st, j = es.api("POST", "/api/v1/login", body={"username": "admin", "password": "foobaz"})
    assert st == 200, j
    tok = j["data"]["token"]
    st, j = es.api("GET", "/api/endpoint/action", auth=None,
                   headers={"Authorization": "Bearer " + tok})
    assert st == 200, j


def test_permissions_and_visibility(es):
    es.api("PUT", "/api/v1/user-groups/runners", body={"permissions": {"commands": True}})
    for u, groups in (("reader", []), ("runner", ["runners"]), ("runner2", ["runners"])):
        st, j = es.api("POST", "/api/v1/users", body={"username": u, "password": u + "-password1",
                                                      "groups": groups})
        assert st in (200, 201, 204), j
    reader, runner, runner2 = (("reader", "reader-password1"), ("runner", "runner-password1"),
                               ("runner2", "runner2-password1"))
    body = {"endpoint_ids": ["es-2"], "parameters": {"command": "true"}}
    st, j = execute(es, body, auth=reader)
    assert (st, j) == (403, {"statusCode": 403, "error": "Forbidden",
                             "message": "Endpoint authorization failure"})
    # a client group lets the runners use es-2
    es.api("POST", "/api/v1/client-groups", body={"id": "es", "params": {"client_id": ["es-2"]},
                                                  "allowed_user_groups": ["runners"]})
    st, j = execute(es, body, auth=runner)
    assert st == 200, j
    aid = j["data"]["id"]
    st, j = execute(es, {"endpoint_ids": [SEED_ID], "parameters": {"command": "true"}}, auth=runner)
    assert (st, j["message"]) == (403, "Endpoint authorization failure"), j
    assert details(es, aid, auth=runner)[0] == 200
    assert details(es, aid, auth=runner2)[0] == 404
    assert details(es, aid)[0] == 200  # administrators see all
    st, j = es.api("GET", "/api/endpoint/action?pageSize=1000", auth=runner2)
    assert st == 200 and aid not in [d["id"] for d in j["data"]]
    st, j = es.api("GET", "/api/endpoint/action?pageSize=1000", auth=reader)
    assert st == 200 and j["total"] == 0
    # audited before it ran
    st, j = es.api("GET", "/api/v1/auditlog?filter[affected_id]=" + aid)
    assert st == 200 and j["data"] and j["data"][0]["username"] == "runner", j


def test_offline_pending_then_runs_and_expires(fleet):
    """An offline endpoint's action is pending (the core's queue) and runs
    when the host connects; one whose host never comes back expires
    ([elastic] action_expiry_sec, two weeks by default; 3 s here)."""
    s = fleet.server(extra="[elastic]\naction_expiry_sec = 3\n").start()
    late = fleet.agent(s, "late")
    gone = fleet.agent(s, "gone")
    late.stop()
    gone.stop()
    s.wait_disconnected("late")
    s.wait_disconnected("gone")
    st, j = execute(s, {"endpoint_ids": ["late"], "parameters": {"command": "echo hi"}})
    assert st == 200, j
    d = j["data"]
    assert d["status"] == "pending" and not d["isCompleted"] and not d["isExpired"], d
    aid = d["id"]
    st, j = s.api("GET", "/api/endpoint/action_status?agent_ids=late")
    assert st == 200 and j["data"][0]["pending_actions"]["execute"] == 1, j
    late.start()
    s.wait_connected("late")
    d = wait_done(s, aid)
    assert d["status"] == "successful" and d["wasSuccessful"] and not d["isExpired"], d
    assert d["outputs"]["late"]["content"]["stdout"] == "hi\n"
    # a host that does not come back within the expiry
    st, j = execute(s, {"endpoint_ids": ["gone"], "parameters": {"command": "echo never"}})
    assert st == 200 and j["data"]["status"] == "pending"
    gid = j["data"]["id"]
    d = harness.wait_until(lambda: (lambda d: d if d["isExpired"] else None)(details(s, gid)[1]["data"]),
                           30, "the action to expire", procs=[s.proc])
    # as Kibana: expired is not completed, and failed
    assert d["status"] == "failed" and not d["wasSuccessful"] and not d["isCompleted"], d
    # a host tether never knew is refused, as before
    st, j = execute(s, {"endpoint_ids": ["never-seen"], "parameters": {"command": "echo x"}})
    assert st == 400, j


def test_apikey_cli(es):
    r = harness.cli(es, "apikey", "create", "from-cli")
    assert r.returncode == 0, r.stderr
    lines = dict(l.split(": ", 1) for l in r.stdout.splitlines() if ": " in l)
    kid, enc = lines["id"], lines["encoded"]
    hdr = {"Authorization": "ApiKey " + enc}
    assert es.api("GET", "/api/endpoint/action", auth=None, headers=hdr)[0] == 200
    r = harness.cli(es, "apikey", "list")
    assert r.returncode == 0 and kid in r.stdout and "from-cli" in r.stdout, r.stdout
    r = harness.cli(es, "apikey", "delete", kid)
    assert r.returncode == 0, r.stderr
    assert es.api("GET", "/api/endpoint/action", auth=None, headers=hdr)[0] == 401
    assert harness.cli(es, "apikey", "delete", kid).returncode == 3


# ---- the full output: a per-action cap, kept outside the job row ----------

MiB = 1024 * 1024


def seq_bytes(n):
    """What `seq 1 n` prints."""
    return "".join("%d\n" % i for i in range(1, n + 1)).encode()


def download(s, uri):
    r = s.api("GET", uri, timeout=120)
    assert r.status == 200, r.status
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"].startswith("attachment; filename=")
    assert r.headers["cache-control"] == "max-age=31536000, immutable"
    return r.raw


def unzip_stdout(s, raw):
    path = os.path.join(os.path.dirname(s.config), "full-%d.zip" % len(raw))
    with open(path, "wb") as f:
        f.write(raw)
    p = subprocess.run(["unzip", "-p", "-P", "elastic", path, "stdout"], capture_output=True,
                       timeout=120)
    os.unlink(path)
    assert p.returncode == 0, p.stderr
    return p.stdout


def rport_job_of(s, aid, cid):
    st, j = s.api("GET", "/api/v1/commands/%s/jobs" % aid)
    assert st == 200, (st, j)
    jid = [x for x in j["data"] if x["client_id"] == cid][0]["jid"]
    return jid, s.job(cid, jid)


def test_full_output_20mb_tail_flags_zip(es):
    expected = seq_bytes(2700000)  # about 20.5 MB, deterministic
    assert len(expected) > 20000000
    aid = run(es, "seq 1 2700000; echo done >&2")
    d = wait_done(es, aid, timeout=180)
    assert d["status"] == "successful", d
    c = d["outputs"]["es-2"]["content"]
    # the tail is the end of the whole stream, not of the row's 4 MiB copy
    assert c["stdout"].encode() == expected[-2048:]
    assert c["stderr"] == "done\n"
    # stdout_truncated: the details show only a tail (Kibana's rule);
    # output_file_*_truncated: the cap cut nothing
    assert c["stdout_truncated"] is True and c["stderr_truncated"] is False
    assert c["output_file_stdout_truncated"] is False
    assert c["output_file_stderr_truncated"] is False
    st, info = es.api("GET", "/api/endpoint/action/%s/file/%s" % (aid, c["output_file_id"]))
    assert st == 200 and info["data"]["size"] == len(expected) + 5, info
    raw = download(es, c["downloadUri"])
    z = zipfile.ZipFile(io.BytesIO(raw))
    assert z.read("stdout", pwd=b"elastic") == expected
    assert z.read("stderr", pwd=b"elastic") == b"done\n"
    assert unzip_stdout(es, raw) == expected
    # the full output is in files of its own; the job row keeps its usual
    # 4 MiB copy, as every reader of rows (rport's API) always saw
    jid, job = rport_job_of(es, aid, "es-2")
    out_dir = os.path.join(es.data_dir, "outputs", jid)
    assert os.stat(os.path.join(out_dir, "stdout")).st_mode & 0o777 == 0o600
    assert os.path.getsize(os.path.join(out_dir, "stdout")) == len(expected)
    assert output_bytes(job["result"]) == expected[:4 * MiB]
    assert job["result"]["stdout_dropped_bytes"] == len(expected) - 4 * MiB


def output_bytes(result, stream="stdout"):
    v = result[stream]
    if result.get(stream + "_encoding") == "base64":
        return base64.b64decode(v)
    return v.encode()


def test_output_past_the_cap_is_truncated(fleet):
    s = fleet.server(extra="[elastic]\noutput_cap_bytes = 100000\n").start()
    fleet.agent(s, "cap-1")
    expected = seq_bytes(100000)  # 588,895 bytes
    aid = run(s, "seq 1 100000", agents=("cap-1",))
    d = wait_done(s, aid, timeout=60)
    c = d["outputs"]["cap-1"]["content"]
    assert c["stdout_truncated"] is True and c["output_file_stdout_truncated"] is True
    assert c["output_file_stderr_truncated"] is False
    assert c["stdout"].encode() == expected[100000 - 2048:100000]
    raw = download(s, c["downloadUri"])
    assert zipfile.ZipFile(io.BytesIO(raw)).read("stdout", pwd=b"elastic") == expected[:100000]
    # an agent keeps at most its own max_output_cap, whatever the action asks
    fleet.agent(s, "cap-2", extra="[remote-commands]\nmax_output_cap = 50000\n")
    aid = run(s, "seq 1 100000", agents=("cap-2",))
    c = wait_done(s, aid, timeout=60)["outputs"]["cap-2"]["content"]
    assert c["output_file_stdout_truncated"] is True
    raw = download(s, c["downloadUri"])
    assert zipfile.ZipFile(io.BytesIO(raw)).read("stdout", pwd=b"elastic") == expected[:50000]


def test_the_cap_holds_for_a_run_that_waited_in_the_queue(fleet):
    """A pending action's run leaves the queue when its host connects; it
    asks for the same output cap as one sent at once (the job row keeps
    the cap, as it does for a run sent again after a reconnect)."""
    s = fleet.server(extra="[elastic]\noutput_cap_bytes = 100000\n").start()
    a = fleet.agent(s, "cap-q")
    a.stop()
    s.wait_disconnected("cap-q")
    expected = seq_bytes(100000)
    aid = run(s, "seq 1 100000", agents=("cap-q",))
    assert details(s, aid)[1]["data"]["status"] == "pending"
    a.start()
    s.wait_connected("cap-q")
    c = wait_done(s, aid, timeout=60)["outputs"]["cap-q"]["content"]
    assert c["output_file_stdout_truncated"] is True, c
    raw = download(s, c["downloadUri"])
    assert zipfile.ZipFile(io.BytesIO(raw)).read("stdout", pwd=b"elastic") == expected[:100000]


def test_rport_job_still_capped_at_4mib(es):
    # the same agent, a job through rport's API: no output cap asked for,
    # so the agent's send_back_limit (4 MiB) applies as before
    expected = seq_bytes(800000)  # about 5.5 MB
    jid = es.run("es-2", "seq 1 800000")
    job = es.wait_job("es-2", jid, timeout=90)
    assert job["status"] == "successful", job
    assert output_bytes(job["result"]) == expected[:4 * MiB]
    assert job["result"]["stdout_truncated"] is True
    assert job["result"]["stdout_dropped_bytes"] == len(expected) - 4 * MiB
    assert not os.path.exists(os.path.join(es.data_dir, "outputs", jid))
