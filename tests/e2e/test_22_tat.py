"""Issue 17: the Tencent TAT dialect. Tencent Cloud's official Node.js SDK
(tencentcloud-sdk-nodejs from npm, tests/e2e/tat/) and raw signed requests
(scripts/tat-call's signer) against a real tetherd and real agents with the
seed's instance ids: RunCommand (the seed's example verbatim), the Describe
actions, CancelInvocation, Preview, custom parameters, timeouts, output
limits, offline and unknown instances, signatures, key pairs of users and
what they may see, the rate limit, and the same invocation through rport's
API."""
import base64
import importlib.machinery
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
import urllib.request

import pytest

import harness
from harness import ROOT, cli, wait_until

TAT_DIR = os.path.join(ROOT, "tests", "e2e", "tat")
SDK_JS = os.path.join(TAT_DIR, "sdk.js")
SID = "AKIDtestTetherTat000000000000000000"
SKEY = "testTetherTatSecretKey0000000000"
SEED = ["ins-zj0f57ew", "ins-zj0f57ex", "ins-zj0f57ev"]
# The seed's example request, verbatim.
SEED_BODY = """{
    "CommandName": "run-command",
    "SaveCommand": false,
    "Description": "whoami",
    "Content": "d2hvYW1p",
    "CommandType": "SHELL",
    "WorkingDirectory": "/root/",
    "Timeout": 60,
    "InstanceIds": [
        "ins-zj0f57ew",
        "ins-zj0f57ex",
        "ins-zj0f57ev"
    ]
}"""
tat_call = importlib.machinery.SourceFileLoader(
    "tat_call", os.path.join(ROOT, "scripts", "tat-call")).load_module()


def b64(s):
    return base64.b64encode(s.encode()).decode()


@pytest.fixture(scope="module")
def sdk_ready():
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node and npm are needed (scripts/deps.sh installs them)")
    if not os.path.isdir(os.path.join(TAT_DIR, "node_modules", "tencentcloud-sdk-nodejs")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=TAT_DIR, check=True,
                       timeout=600)
    return True


def tat_conf(rate=1000):
    return '[tat]\nsecret_id = "%s"\nsecret_key = "%s"\nuser = "admin"\nrate_limit = %d\n' % (
        SID, SKEY, rate)


@pytest.fixture(scope="module")
def tat(module_fleet, sdk_ready):
    s = module_fleet.server(extra=tat_conf()).start()
    for cid in SEED:
        module_fleet.agent(s, cid)
    off = module_fleet.agent(s, "ins-offline1")
    off.stop()
    s.wait_disconnected("ins-offline1")
    return s


def sdk(srv, action, params=None, sid=SID, skey=SKEY, protocol="http://", env=None):
    """One call through the official SDK: ("ok", answer) or ("error", {code, message}).
    protocol "https://" with env {"NODE_EXTRA_CA_CERTS": ca} for a TLS listener."""
    spec = {"endpoint": "127.0.0.1:%d" % srv.api_port, "protocol": protocol,
            "secretId": sid, "secretKey": skey, "action": action, "params": params or {}}
    p = subprocess.run(["node", SDK_JS, "-"], input=json.dumps(spec), cwd=TAT_DIR,
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, **(env or {})))
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    return ("ok", out["ok"]) if "ok" in out else ("error", out["error"])


def ok(srv, action, params=None, **kw):
    kind, r = sdk(srv, action, params, **kw)
    assert kind == "ok", (action, r)
    return r


def code(srv, action, params=None, **kw):
    kind, r = sdk(srv, action, params, **kw)
    assert kind == "error", (action, r)
    assert r["requestId"], r
    return r["code"]


def raw(srv, action, body, headers=None, sid=SID, skey=SKEY, ts=None, tamper=None,
        drop=()):
    """A signed POST / as tat-call sends it, with changes; (HTTP status, JSON)."""
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    host = "127.0.0.1:%d" % srv.api_port
    ts = int(time.time()) if ts is None else ts
    ct, authz = tat_call.sign(skey, sid, host, action or "", data, ts)
    h = {"Content-Type": ct, "Host": host, "Authorization": authz, "X-TC-Action": action,
         "X-TC-Version": "2020-10-28", "X-TC-Timestamp": str(ts)}
    h.update(headers or {})
    for k in drop:
        h.pop(k, None)
    h = {k: v for k, v in h.items() if v is not None}
    req = urllib.request.Request("http://%s/" % host, data=tamper or data, headers=h,
                                 method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def raw_code(srv, action, body, **kw):
    st, j = raw(srv, action, body, **kw)
    assert st == 200, (st, j)
    assert j["Response"]["RequestId"], j
    return j["Response"]["Error"]["Code"]


def run(srv, content, ids=None, **fields):
    p = {"Content": b64(content), "InstanceIds": ids or SEED[:1]}
    p.update(fields)
    return ok(srv, "RunCommand", p)


def tasks(srv, inv, hide=False, **kw):
    r = ok(srv, "DescribeInvocationTasks", {
        "Filters": [{"Name": "invocation-id", "Values": [inv]}], "HideOutput": hide}, **kw)
    return r["InvocationTaskSet"]


def invocation(srv, inv, **kw):
    r = ok(srv, "DescribeInvocations", {"InvocationIds": [inv]}, **kw)
    assert r["TotalCount"] == 1, r
    return r["InvocationSet"][0]


def wait_invocation(srv, inv, timeout=30, **kw):
    def done():
        i = invocation(srv, inv, **kw)
        return i if i["InvocationStatus"] not in ("PENDING", "RUNNING") else None
    return wait_until(done, timeout, "invocation %s to finish" % inv, interval=0.3)


def output(task):
    return base64.b64decode(task["TaskResult"]["Output"]).decode()


# ---- RunCommand and results ----------------------------------------------


def test_seed_example_verbatim_through_the_sdk_and_raw(tat):
    r = ok(tat, "RunCommand", json.loads(SEED_BODY))
    assert r["CommandId"].startswith("cmd-") and len(r["CommandId"]) == 12
    assert r["InvocationId"].startswith("inv-") and len(r["InvocationId"]) == 12
    i = wait_invocation(tat, r["InvocationId"])
    assert i["InvocationStatus"] == "SUCCESS"
    assert i["CommandId"] == r["CommandId"] and i["Description"] == "whoami"
    assert i["CommandContent"] == "d2hvYW1p" and i["Timeout"] == 60
    assert i["WorkingDirectory"] == "/root/" and i["CommandType"] == "SHELL"
    assert sorted(t["InstanceId"] for t in i["InvocationTaskBasicInfoSet"]) == sorted(SEED)
    ts = tasks(tat, r["InvocationId"])
    assert len(ts) == 3
    me = subprocess.run(["whoami"], capture_output=True, text=True).stdout
    for t in ts:
        assert t["InvocationTaskId"].startswith("invt-") and len(t["InvocationTaskId"]) == 13
        assert t["TaskStatus"] == "SUCCESS" and t["TaskResult"]["ExitCode"] == 0
        assert output(t) == me and t["TaskResult"]["Dropped"] == 0
        assert t["TaskResult"]["ExecStartTime"].endswith("Z")
        assert t["CommandDocument"]["Content"] == "d2hvYW1p"
    # HideOutput defaults to true
    hidden = ok(tat, "DescribeInvocationTasks",
                {"InvocationTaskIds": [ts[0]["InvocationTaskId"]]})["InvocationTaskSet"]
    assert len(hidden) == 1 and hidden[0]["TaskResult"]["Output"] == ""
    # the seed's request as its bytes, signed by scripts/tat-call's signer
    st, j = raw(tat, "RunCommand", SEED_BODY)
    assert st == 200 and j["Response"]["InvocationId"].startswith("inv-"), j


def test_failed_and_start_failed(tat):
    r = run(tat, "exit 3")
    i = wait_invocation(tat, r["InvocationId"])
    assert i["InvocationStatus"] == "FAILED"
    t = tasks(tat, r["InvocationId"])[0]
    assert t["TaskStatus"] == "FAILED" and t["TaskResult"]["ExitCode"] == 3
    # a working directory that does not exist: the command never starts
    r = run(tat, "true", SEED[:2], WorkingDirectory="/nonexistent-dir-%d" % os.getpid())
    i = wait_invocation(tat, r["InvocationId"])
    assert i["InvocationStatus"] == "FAILED"
    for t in tasks(tat, r["InvocationId"]):
        assert t["TaskStatus"] in ("START_FAILED", "FAILED"), t
        assert t["ErrorInfo"], t


def test_partial_failed(module_fleet, tat):
    a = module_fleet.agent(tat, "ins-partial1", env={"TAT_TEST_FAIL": "1"})
    try:
        r = run(tat, 'test -z "$TAT_TEST_FAIL"', [SEED[0], "ins-partial1"])
        i = wait_invocation(tat, r["InvocationId"])
        assert i["InvocationStatus"] == "PARTIAL_FAILED"
        st = {t["InstanceId"]: t["TaskStatus"] for t in i["InvocationTaskBasicInfoSet"]}
        assert st == {SEED[0]: "SUCCESS", "ins-partial1": "FAILED"}
    finally:
        a.stop()


def test_timeout_kills_the_command(tat):
    t0 = time.time()
    r = run(tat, "sleep 30; echo never", Timeout=1)
    i = wait_invocation(tat, r["InvocationId"], timeout=25)
    assert time.time() - t0 < 20
    assert i["InvocationStatus"] == "TIMEOUT"
    t = tasks(tat, r["InvocationId"])[0]
    assert t["TaskStatus"] == "TIMEOUT" and t["TaskResult"]["ExitCode"] == -1
    assert "never" not in output(t)


def test_output_keeps_the_first_24k(tat):
    r = run(tat, "head -c 30000 /dev/zero | tr '\\0' x; printf END")
    wait_invocation(tat, r["InvocationId"])
    t = tasks(tat, r["InvocationId"])[0]
    out = output(t)
    assert len(out) == 24 * 1024 and set(out) == {"x"}
    assert t["TaskResult"]["Dropped"] == 30003 - 24 * 1024


def test_visible_and_cancellable_through_rport(tat):
    r = run(tat, "sleep 60 # tat-rport-%d" % os.getpid(), SEED[:2])
    st, j = tat.api("GET", "/api/v1/commands?sort=-started_at")
    assert st == 200, j
    mine = [m for m in j["data"] if "tat-rport-%d" % os.getpid() in
            json.dumps(tat.api("GET", "/api/v1/commands/" + m["jid"])[1])]
    assert len(mine) == 1, j
    jid = mine[0]["jid"]
    wait_until(lambda: all(t["TaskStatus"] == "RUNNING" for t in tasks(tat, r["InvocationId"])),
               20, "tasks to run", interval=0.3)
    st, j = tat.api("DELETE", "/api/v1/commands/" + jid)
    assert st in (200, 202), j
    i = wait_invocation(tat, r["InvocationId"])
    assert i["InvocationStatus"] == "CANCELLED"
    assert {t["TaskStatus"] for t in i["InvocationTaskBasicInfoSet"]} == {"TERMINATED"}
    t = tasks(tat, r["InvocationId"])[0]
    assert t["TaskResult"]["ExitCode"] == -1
    # and the other way: TAT's CancelInvocation, seen by rport
    r = run(tat, "sleep 60", SEED[:1])
    wait_until(lambda: tasks(tat, r["InvocationId"])[0]["TaskStatus"] == "RUNNING", 20,
               "task to run", interval=0.3)
    ok(tat, "CancelInvocation", {"InvocationId": r["InvocationId"]})
    i = wait_invocation(tat, r["InvocationId"])
    assert i["InvocationStatus"] == "CANCELLED"
    st, j = tat.api("GET", "/api/v1/commands?sort=-started_at")
    newest = tat.api("GET", "/api/v1/commands/" + j["data"][0]["jid"])[1]["data"]
    assert newest["jobs"][0]["status"] != "running" and newest["jobs"][0]["client_id"] == SEED[0]
    # nothing left to cancel; unknown ids
    assert code(tat, "CancelInvocation", {"InvocationId": r["InvocationId"]}) == \
        "UnsupportedOperation"
    assert code(tat, "CancelInvocation", {"InvocationId": "inv-00000000"}) == \
        "ResourceNotFound.InvocationNotFound"
    assert code(tat, "CancelInvocation", {}) == "MissingParameter"


def test_audited_before_dispatch(tat):
    r = run(tat, "echo audited-%d" % os.getpid())
    wait_invocation(tat, r["InvocationId"])
    st, j = tat.api("GET", "/api/v1/auditlog?sort=-timestamp&page[limit]=20")
    assert st == 200, j
    recs = [a for a in j["data"] if b64("echo audited-%d" % os.getpid()) in json.dumps(a)]
    assert recs and recs[0]["username"] == "admin", j
    assert recs[0]["application"] == "client.command" and recs[0]["action"] == "execute.start"


def test_username_runs_as_that_user(module_fleet, tat):
    if os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("setpriv"):
        pytest.skip("needs root, useradd and setpriv to make a throwaway user")
    user = "tatu%d" % (os.getpid() % 100000)
    subprocess.run(["useradd", "-M", "-s", "/bin/sh", user], check=True, capture_output=True)
    try:
        a = module_fleet.agent(tat, "ins-runas01",
                               extra="[remote-commands]\nrun_as = ['%s']\n" % user)
        r = run(tat, "id -un; id -u", ["ins-runas01"], Username=user, WorkingDirectory="/tmp")
        i = wait_invocation(tat, r["InvocationId"])
        assert i["InvocationStatus"] == "SUCCESS" and i["Username"] == user, i
        t = tasks(tat, r["InvocationId"])[0]
        assert output(t).split("\n")[0] == user and output(t).split("\n")[1] != "0"
        assert t["CommandDocument"]["Username"] == user
        # root, the default, is the agent's own user
        r = run(tat, "id -u", ["ins-runas01"], Username="root", WorkingDirectory="/tmp")
        wait_invocation(tat, r["InvocationId"])
        assert output(tasks(tat, r["InvocationId"])[0]) == "%d\n" % os.geteuid()
        # an agent whose allow-list lacks the user: refused before anything runs
        assert code(tat, "RunCommand", {"Content": b64("id"), "InstanceIds": [
            "ins-runas01", SEED[0]], "Username": user}) == "InvalidParameterValue.InvalidUsername"
        assert code(tat, "RunCommand", {"Content": b64("id"), "InstanceIds": ["ins-runas01"],
                                        "Username": "Not A User"}) == \
            "InvalidParameterValue.InvalidUsername"
        a.stop()
    finally:
        subprocess.run(["userdel", user], capture_output=True)


def test_username_through_sudo_for_an_unprivileged_agent(tat, tmp_path):
    """An agent that is not root runs a TAT Username through `sudo -n -u`:
    a throwaway agent user, a throwaway target user and a sudoers rule that
    lets the one run as the other, made and removed by the test. A user the
    rule does not cover fails with sudo's own refusal, nothing run."""
    if os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("setpriv") \
            or not shutil.which("sudo") or not os.path.isdir("/etc/sudoers.d"):
        pytest.skip("needs root, useradd, setpriv and sudo to make throwaway users")
    n = os.getpid() % 100000
    agent_user, target, other = "tata%d" % n, "tatt%d" % n, "tato%d" % n
    rule = "/etc/sudoers.d/tether-test-%d" % n
    d = tempfile.mkdtemp(prefix="tether-sudo-")
    a = None
    try:
        for u in (agent_user, target, other):
            subprocess.run(["useradd", "-M", "-s", "/bin/sh", u], check=True, capture_output=True)
        with open(rule, "w") as f:
            f.write("%s ALL=(%s) NOPASSWD: ALL\n" % (agent_user, target))
        os.chmod(rule, 0o440)
        os.chmod(d, 0o755)
        a = harness.Agent(d, tat, "ins-sudo0001",
                          extra="[remote-commands]\nrun_as = ['%s', '%s']\n" % (target, other))
        subprocess.run(["chown", "-R", "%s:%s" % (agent_user, agent_user), a.dir], check=True)
        a.start(argv=["setpriv", "--reuid", agent_user, "--regid", agent_user, "--init-groups",
                      harness.binary("tether-agent"), "-c", a.config])
        tat.wait_connected("ins-sudo0001")
        r = run(tat, "id -un; id -u", ["ins-sudo0001"], Username=target, WorkingDirectory="/tmp")
        i = wait_invocation(tat, r["InvocationId"])
        t = tasks(tat, r["InvocationId"])[0]
        assert i["InvocationStatus"] == "SUCCESS", (i, t)
        assert output(t).split("\n")[0] == target
        # the agent's own user, without Username: not the target
        r = run(tat, "id -un", ["ins-sudo0001"], WorkingDirectory="/tmp")
        wait_invocation(tat, r["InvocationId"])
        assert output(tasks(tat, r["InvocationId"])[0]) == agent_user + "\n"
        # allowed by the agent, not by sudoers: sudo -n refuses, the command never runs
        r = run(tat, "touch /tmp/tether-sudo-ran-%d" % n, ["ins-sudo0001"], Username=other,
                WorkingDirectory="/tmp")
        i = wait_invocation(tat, r["InvocationId"])
        assert i["InvocationStatus"] == "FAILED", i
        assert not os.path.exists("/tmp/tether-sudo-ran-%d" % n)
    finally:
        if a:
            a.stop()
        if os.path.exists(rule):
            os.remove(rule)
        for u in (agent_user, target, other):
            subprocess.run(["userdel", u], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


# ---- parameters --------------------------------------------------------------


def test_custom_parameters(tat):
    r = run(tat, "echo {{greeting}} {{who}}", EnableParameter=True,
            DefaultParameters=json.dumps({"greeting": "hello", "who": "nobody"}),
            Parameters=json.dumps({"who": "world"}))
    wait_invocation(tat, r["InvocationId"])
    assert output(tasks(tat, r["InvocationId"])[0]) == "hello world\n"
    i = invocation(tat, r["InvocationId"])
    assert json.loads(i["Parameters"]) == {"who": "world"}
    p = ok(tat, "PreviewReplacedCommandContent", {
        "Content": "bHMge3thfX0KZWNobyB7e2J9fQ==", "Parameters": '{"a": "/tmp", "b": "x"}'})
    assert base64.b64decode(p["ReplacedContent"]).decode() == "ls /tmp\necho x"
    assert code(tat, "PreviewReplacedCommandContent",
                {"Content": "bHMge3thfX0KZWNobyB7e2J9fQ==", "Parameters": '{"a": "1"}'}) == \
        "InvalidParameterValue.LackOfParameterInfo"


@pytest.mark.parametrize("fields,want", [
    ({"EnableParameter": True, "Parameters": "{nope"},
     "InvalidParameterValue.ParameterInvalidJsonFormat"),
    ({"EnableParameter": True, "Parameters": '{"a": "1", "a": "2"}'},
     "InvalidParameterValue.ParameterKeyDuplicated"),
    ({"EnableParameter": True, "Parameters": '{"a": 1}'},
     "InvalidParameterValue.ParameterValueNotString"),
    ({"EnableParameter": True, "Parameters": '{"a b": "1"}'},
     "InvalidParameterValue.ParameterKeyContainsInvalidChar"),
    ({"EnableParameter": True, "Parameters": json.dumps({"k" * 65: "1"})},
     "InvalidParameterValue.ParameterKeyLenExceeded"),
    ({"EnableParameter": True,
      "Parameters": json.dumps({"k%d" % i: "v" for i in range(21)})},
     "InvalidParameterValue.ParameterNumberExceeded"),
    ({"EnableParameter": True, "Parameters": "{}"},
     "InvalidParameterValue.LackOfParameterInfo"),
    ({"DefaultParameters": '{"a": "1"}'},
     "InvalidParameterValue.SupportParametersOnlyIfEnableParameter"),
    ({"Parameters": '{"a": "1"}'}, "InvalidParameterValue.ParameterDisabled"),
])
def test_parameter_errors(tat, fields, want):
    p = {"Content": b64("echo {{a}}"), "InstanceIds": SEED[:1]}
    p.update(fields)
    assert code(tat, "RunCommand", p) == want


# ---- field, instance and action errors ---------------------------------------


@pytest.mark.parametrize("fields,want", [
    ({"Content": None}, "MissingParameter"),
    ({"InstanceIds": None}, "MissingParameter"),
    ({"Content": "%%%not-base64"}, "InvalidParameterValue.InvalidContent"),
    ({"Content": "A" * 65540}, "InvalidParameterValue.TooLong"),
    ({"Timeout": 0}, "InvalidParameterValue.Range"),
    ({"Timeout": 86401}, "InvalidParameterValue.Range"),
    ({"CommandName": "bad name!"}, "InvalidParameterValue.InvalidCommandName"),
    ({"CommandName": "x" * 61}, "InvalidParameterValue.InvalidCommandName"),
    ({"Description": "d" * 121}, "InvalidParameterValue.TooLong"),
    ({"CommandType": "POWERSHELL"}, "InvalidParameterValue.AgentUnsupportedCommandType"),
    ({"CommandType": "BASH"}, "InvalidParameterValue"),
    ({"WorkingDirectory": "relative/dir"}, "InvalidParameterValue.InvalidWorkingDirectory"),
    ({"Tags": [{"Key": "k", "Value": "v"}]}, "InvalidParameter"),
    ({"SaveCommand": True, "Tags": [{"Key": "", "Value": "v"}]},
     "InvalidParameterValue.InvalidTag"),
    ({"Username": "nobody"}, "InvalidParameterValue.InvalidUsername"),
    ({"InstanceIds": ["ins-nosuch01"]}, "ResourceNotFound.InstanceNotFound"),
    ({"InstanceIds": [SEED[0], "ins-offline1"]}, "ResourceUnavailable.AgentStatusNotOnline"),
    ({"InstanceIds": ["ins-%08d" % i for i in range(101)]},
     "InvalidParameterValue.LimitExceeded"),
    ({"OutputCOSBucketUrl": "https://b-1.cos.ap-beijing.myqcloud.com"},
     "InvalidParameterValue.InvalidOutputCOSBucketUrl"),
])
def test_run_command_errors(tat, fields, want):
    p = {"Content": b64("true"), "InstanceIds": SEED[:1]}
    p.update(fields)
    p = {k: v for k, v in p.items() if v is not None}
    assert code(tat, "RunCommand", p) == want


def test_unknown_and_unsupported_actions(tat):
    # invokers are served now (test_27_tat_invokers.py); these are not
    assert code(tat, "CreateInvoker", {"Name": "x", "Type": "SCHEDULE"}) == "MissingParameter"
    assert raw_code(tat, "DescribeRegions", {}) == "UnsupportedOperation"
    assert raw_code(tat, "DescribeScenes", {}) == "UnsupportedOperation"
    assert raw_code(tat, "NoSuchAction", {}) == "InvalidAction"
    assert raw_code(tat, "RunCommand", {"Content": b64("true"), "InstanceIds": SEED[:1],
                                        "Bogus": 1}) == "UnknownParameter"
    assert raw_code(tat, "RunCommand", {"Content": 5, "InstanceIds": SEED[:1]}) == \
        "InvalidParameter"
    assert raw_code(tat, "DescribeInvocations", "[1]") == "InvalidParameter"
    assert raw_code(tat, "DescribeInvocations", {"InvocationIds": ["inv-1"], "Filters": []}) == \
        "InvalidParameter"
    assert raw_code(tat, "DescribeInvocations", {"Limit": 101}) == "InvalidParameterValue.Range"
    assert raw_code(tat, "DescribeInvocations",
                    {"Filters": [{"Name": "colour", "Values": ["x"]}]}) == "InvalidFilter"


def test_transport_and_signature_errors(tat):
    body = {"Limit": 1}
    assert raw_code(tat, "DescribeInvocations", body, drop=("X-TC-Action",)) == \
        "MissingParameter"
    assert raw_code(tat, "DescribeInvocations", body,
                    headers={"X-TC-Version": "2017-03-12"}) == "NoSuchVersion"
    assert raw_code(tat, "DescribeInvocations", body, ts=int(time.time()) - 400) == \
        "AuthFailure.SignatureExpire"
    assert raw_code(tat, "DescribeInvocations", body, ts=int(time.time()) + 400) == \
        "AuthFailure.SignatureExpire"
    assert raw_code(tat, "DescribeInvocations", body, skey="wrong-key") == \
        "AuthFailure.SignatureFailure"
    assert raw_code(tat, "DescribeInvocations", body, tamper=b'{"Limit": 2}') == \
        "AuthFailure.SignatureFailure"
    assert raw_code(tat, "DescribeInvocations", body, headers={"Host": "tat.example"}) == \
        "AuthFailure.SignatureFailure"
    assert raw_code(tat, "DescribeInvocations", body, sid="AKIDnobody") == \
        "AuthFailure.SecretIdNotFound"
    assert raw_code(tat, "DescribeInvocations", body, drop=("Authorization",)) == \
        "AuthFailure.InvalidAuthorization"
    assert raw_code(tat, "DescribeInvocations", body,
                    headers={"Authorization": "TC3-HMAC-SHA256 garbage"}) == \
        "AuthFailure.InvalidAuthorization"
    assert raw_code(tat, "DescribeInvocations", body, drop=("X-TC-Timestamp",)) == \
        "MissingParameter"
    # X-TC-Region is accepted
    st, j = raw(tat, "DescribeInvocations", body, headers={"X-TC-Region": "ap-guangzhou"})
    assert "Error" not in j["Response"], j
    # the SDK with a wrong secret
    assert code(tat, "DescribeInvocations", skey="wrong-key") == "AuthFailure.SignatureFailure"
    # a POST / without TAT's headers is rport's (its 404 envelope)
    st, j = tat.api("POST", "/", {})
    assert st == 404 and "errors" in j, (st, j)


def test_body_over_the_limit_in_tats_envelope(tat):
    # [api] max_request_bytes (1 MiB) is enforced by the network layer before
    # the body is read; a TAT request still gets TAT's answer: HTTP 200 and
    # RequestSizeLimitExceeded, through the official SDK and signed by hand
    big = "x" * (1024 * 1024 + 1)
    assert code(tat, "RunCommand", {"Content": big, "InstanceIds": SEED[:1]}) == \
        "RequestSizeLimitExceeded"
    st, j = raw(tat, "RunCommand", {"Content": big, "InstanceIds": SEED[:1]})
    assert st == 200 and j["Response"]["Error"]["Code"] == "RequestSizeLimitExceeded", (st, j)
    assert "1048576 bytes" in j["Response"]["Error"]["Message"] and j["Response"]["RequestId"]
    # rport's routes keep rport's envelope for the same limit
    st, j = tat.api("POST", "/api/v1/clients/%s/commands" % SEED[0], raw=big.encode())
    assert st == 413 and j["errors"][0]["title"] == "Request Entity Too Large", (st, j)


def test_agent_status(tat):
    r = ok(tat, "DescribeAutomationAgentStatus", {"InstanceIds": SEED + ["ins-offline1"]})
    st = {a["InstanceId"]: a["AgentStatus"] for a in r["AutomationAgentSet"]}
    assert st == {SEED[0]: "Online", SEED[1]: "Online", SEED[2]: "Online",
                  "ins-offline1": "Offline"}
    r = ok(tat, "DescribeAutomationAgentStatus",
           {"Filters": [{"Name": "agent-status", "Values": ["Offline"]}]})
    assert "ins-offline1" in [a["InstanceId"] for a in r["AutomationAgentSet"]]
    assert {a["AgentStatus"] for a in r["AutomationAgentSet"]} == {"Offline"}
    assert r["AutomationAgentSet"][0]["Environment"] == "Linux"
    r = ok(tat, "DescribeAutomationAgentStatus", {"Limit": 2, "Offset": 1})
    assert r["TotalCount"] >= 4 and len(r["AutomationAgentSet"]) == 2


def test_describe_filters_and_paging(tat):
    a = run(tat, "true")
    b = run(tat, "true", SEED[1:3])
    wait_invocation(tat, b["InvocationId"])
    r = ok(tat, "DescribeInvocations",
           {"Filters": [{"Name": "command-id", "Values": [a["CommandId"], b["CommandId"]]}]})
    assert {i["InvocationId"] for i in r["InvocationSet"]} == {a["InvocationId"],
                                                              b["InvocationId"]}
    r = ok(tat, "DescribeInvocations", {"Limit": 1, "Offset": 0})
    assert len(r["InvocationSet"]) == 1 and r["TotalCount"] >= 2
    assert r["InvocationSet"][0]["InvocationId"] == b["InvocationId"]   # newest first
    r = ok(tat, "DescribeInvocationTasks", {"Filters": [
        {"Name": "command-id", "Values": [b["CommandId"]]},
        {"Name": "instance-id", "Values": [SEED[2]]}]})
    assert r["TotalCount"] == 1 and r["InvocationTaskSet"][0]["InstanceId"] == SEED[2]
    r = ok(tat, "DescribeInvocations",
           {"Filters": [{"Name": "command-created-by", "Values": ["TAT"]}]})
    assert r["TotalCount"] == 0


# ---- key pairs of users, visibility, rate limit --------------------------------


def test_user_key_pairs_and_visibility(module_fleet, tat):
    api = tat.api
    assert api("POST", "/api/v1/users", {"username": "tatbob", "password": "bob-password",
                                         "groups": ["tatops"]})[0] == 201
    assert api("PUT", "/api/v1/user-groups/tatops", {"permissions": {"commands": True}})[0] == 200
    assert api("POST", "/api/v1/client-groups", {"id": "tatweb", "params": {
        "client_id": [SEED[0]]}, "allowed_user_groups": ["tatops"]})[0] == 201
    bob = ("tatbob", "bob-password")
    st, j = api("POST", "/api/v1/me/tat-keys", {}, auth=bob)
    assert st == 201, j
    bid, bkey = j["data"]["secret_id"], j["data"]["secret_key"]
    assert bid.startswith("AKID") and len(bkey) == 32
    st, j = api("GET", "/api/v1/me/tat-keys", auth=bob)
    assert [k["secret_id"] for k in j["data"]] == [bid] and "secret_key" not in j["data"][0]
    # the secret is not stored in the clear
    with open(os.path.join(tat.data_dir, "tether.db"), "rb") as f:
        assert bkey.encode() not in f.read()
    admin_inv = run(tat, "true")["InvocationId"]
    r = ok(tat, "RunCommand", {"Content": b64("echo bob"), "InstanceIds": [SEED[0]]},
           sid=bid, skey=bkey)
    wait_invocation(tat, r["InvocationId"], sid=bid, skey=bkey)
    seen = ok(tat, "DescribeInvocations", {"Limit": 100}, sid=bid, skey=bkey)
    assert [i["InvocationId"] for i in seen["InvocationSet"]] == [r["InvocationId"]]
    assert ok(tat, "DescribeInvocations", {"InvocationIds": [admin_inv]}, sid=bid,
              skey=bkey)["TotalCount"] == 0
    assert code(tat, "CancelInvocation", {"InvocationId": admin_inv}, sid=bid, skey=bkey) == \
        "ResourceNotFound.InvocationNotFound"
    # the admin sees bob's; bob may not use the other instances
    assert invocation(tat, r["InvocationId"])["InvocationStatus"] == "SUCCESS"
    assert code(tat, "RunCommand", {"Content": b64("true"), "InstanceIds": [SEED[1]]},
                sid=bid, skey=bkey) == "ResourceNotFound.InstanceNotFound"
    ag = ok(tat, "DescribeAutomationAgentStatus", {}, sid=bid, skey=bkey)
    assert [a["InstanceId"] for a in ag["AutomationAgentSet"]] == [SEED[0]]
    # without the commands permission
    assert api("PUT", "/api/v1/user-groups/tatops", {"permissions": {"commands": False}})[0] == 200
    assert code(tat, "RunCommand", {"Content": b64("true"), "InstanceIds": [SEED[0]]},
                sid=bid, skey=bkey) == "UnauthorizedOperation.CamAuthFailed"
    # deleted: the pair no longer signs
    assert api("DELETE", "/api/v1/me/tat-keys/" + bid, auth=bob)[0] == 204
    assert api("DELETE", "/api/v1/me/tat-keys/" + bid, auth=bob)[0] == 404
    assert code(tat, "DescribeInvocations", sid=bid, skey=bkey) == "AuthFailure.SecretIdNotFound"
    # the same through the CLI
    p = cli(tat, "tat-keys", "create", user="tatbob", password="bob-password")
    assert p.returncode == 0, p.stderr
    fields = dict(line.split(":", 1) for line in p.stdout.splitlines()[:2])
    cid, ckey = fields["SecretId"].strip(), fields["SecretKey"].strip()
    assert ok(tat, "DescribeInvocations", {}, sid=cid, skey=ckey)["TotalCount"] == 1
    p = cli(tat, "tat-keys", user="tatbob", password="bob-password")
    assert p.returncode == 0 and cid in p.stdout and ckey not in p.stdout, p.stdout
    p = cli(tat, "tat-keys", "delete", cid, user="tatbob", password="bob-password")
    assert p.returncode == 0, p.stderr
    assert code(tat, "DescribeInvocations", sid=cid, skey=ckey) == "AuthFailure.SecretIdNotFound"


def test_rate_limit_per_action(fleet, sdk_ready):
    s = fleet.server(extra=tat_conf(rate=3)).start()
    codes = []
    t0 = time.time()
    for _ in range(10):
        st, j = raw(s, "DescribeInvocations", {})
        codes.append(j["Response"].get("Error", {}).get("Code", "ok"))
    assert time.time() - t0 < 2, "the calls were too slow to test a limit of 3 a second"
    # 10 calls within at most two seconds: at most 6 pass
    assert codes.count("ok") <= 6 and codes[:3] == ["ok"] * 3, codes
    assert set(codes) == {"ok", "RequestLimitExceeded"}, codes
    # the limit is per action
    st, j = raw(s, "DescribeAutomationAgentStatus", {})
    assert "Error" not in j["Response"], j
    wait_until(lambda: "Error" not in raw(s, "DescribeInvocations", {})[1]["Response"], 5,
               "the next second's budget")


# ---- saved commands (the core's library) ---------------------------------------


def tat_id_kinds(srv, tat_id):
    """The kinds of the tat_ids rows of an id, read from the server's database."""
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(srv.data_dir, "tether.db"), uri=True)
    try:
        return [r[0] for r in db.execute("SELECT kind FROM tat_ids WHERE id = ?", (tat_id,))]
    finally:
        db.close()


def commands(srv, **params):
    return ok(srv, "DescribeCommands", params)


def test_saved_command_lifecycle(tat):
    c = ok(tat, "CreateCommand", {
        "CommandName": "greet-1", "Content": b64("echo {{greeting}} {{who}} $(pwd)"),
        "Description": "says hello", "WorkingDirectory": "/tmp", "Timeout": 30,
        "EnableParameter": True,
        "DefaultParameters": json.dumps({"greeting": "hello", "who": "nobody"}),
        "Tags": [{"Key": "team", "Value": "ops"}]})
    cid = c["CommandId"]
    assert cid.startswith("cmd-") and len(cid) == 12
    assert tat_id_kinds(tat, cid) == ["cmd"]
    r = commands(tat, CommandIds=[cid])
    assert r["TotalCount"] == 1, r
    cmd = r["CommandSet"][0]
    assert cmd["CommandName"] == "greet-1" and cmd["Description"] == "says hello"
    assert base64.b64decode(cmd["Content"]).decode() == "echo {{greeting}} {{who}} $(pwd)"
    assert (cmd["WorkingDirectory"], cmd["Timeout"], cmd["CommandType"]) == ("/tmp", 30, "SHELL")
    assert cmd["EnableParameter"] is True and cmd["CreatedBy"] == "USER"
    assert json.loads(cmd["DefaultParameters"]) == {"greeting": "hello", "who": "nobody"}
    assert cmd["Tags"] == [{"Key": "team", "Value": "ops"}] and cmd["Username"] == "root"
    assert cmd["CreatedTime"].endswith("Z") and cmd["UpdatedTime"].endswith("Z")
    # filters
    for f in ({"Name": "command-name", "Values": ["greet-1"]},
              {"Name": "command-id", "Values": [cid]},
              {"Name": "command-type", "Values": ["SHELL"]},
              {"Name": "created-by", "Values": ["USER"]}):
        got = commands(tat, Filters=[f])
        assert cid in [x["CommandId"] for x in got["CommandSet"]], (f, got)
    assert commands(tat, Filters=[{"Name": "created-by", "Values": ["TAT"]}])["TotalCount"] == 0
    assert commands(tat, Filters=[{"Name": "command-name", "Values": ["nope"]}])["TotalCount"] == 0
    # preview with the saved command's defaults under the given parameters
    p = ok(tat, "PreviewReplacedCommandContent",
           {"CommandId": cid, "Parameters": json.dumps({"who": "world"})})
    assert base64.b64decode(p["ReplacedContent"]).decode() == "echo hello world $(pwd)"
    # invoke: Parameters over DefaultParameters, the command's directory
    inv = ok(tat, "InvokeCommand", {"CommandId": cid, "InstanceIds": SEED[:2],
                                    "Parameters": json.dumps({"who": "world"})})
    done = wait_invocation(tat, inv["InvocationId"])
    assert done["InvocationStatus"] == "SUCCESS" and done["CommandId"] == cid, done
    assert [output(t) for t in tasks(tat, inv["InvocationId"])] == ["hello world /tmp\n"] * 2
    got = ok(tat, "DescribeInvocations", {"Filters": [{"Name": "command-id", "Values": [cid]}]})
    assert [i["InvocationId"] for i in got["InvocationSet"]] == [inv["InvocationId"]]
    # modify: the fields given change, the others stay
    ok(tat, "ModifyCommand", {"CommandId": cid, "Description": "says bye",
                              "Content": b64("echo bye {{who}}"), "Timeout": 40,
                              "DefaultParameters": json.dumps({"who": "all"})})
    cmd = commands(tat, CommandIds=[cid])["CommandSet"][0]
    assert (cmd["Description"], cmd["Timeout"], cmd["WorkingDirectory"]) == ("says bye", 40, "/tmp")
    assert base64.b64decode(cmd["Content"]).decode() == "echo bye {{who}}"
    inv = ok(tat, "InvokeCommand", {"CommandId": cid, "InstanceIds": SEED[:1],
                                    "WorkingDirectory": "/"})
    wait_invocation(tat, inv["InvocationId"])
    assert output(tasks(tat, inv["InvocationId"])[0]) == "bye all\n"
    # the same entry in rport's library
    st, j = tat.api("GET", "/api/v1/library/commands")
    assert st == 200, j
    lib = [e for e in j["data"] if e["name"] == "greet-1"]
    assert len(lib) == 1 and lib[0]["cmd"] == "echo bye {{who}}", j
    assert lib[0]["timeout_sec"] == 40 and lib[0]["tags"] == ["team=ops"], lib
    assert lib[0]["created_by"] == "admin"
    # a change through rport's API is what TAT shows and runs (its TAT fields stay)
    st, j = tat.api("PUT", "/api/v1/library/commands/" + lib[0]["id"],
                    {"name": "greet-1", "cmd": "echo rport {{who}}", "timeout_sec": 50})
    assert st == 200, j
    cmd = commands(tat, CommandIds=[cid])["CommandSet"][0]
    assert base64.b64decode(cmd["Content"]).decode() == "echo rport {{who}}"
    assert (cmd["Timeout"], cmd["Description"], cmd["EnableParameter"]) == (50, "says bye", True)
    # delete
    ok(tat, "DeleteCommand", {"CommandId": cid})
    assert tat_id_kinds(tat, cid) == []
    assert commands(tat, CommandIds=[cid])["TotalCount"] == 0
    assert code(tat, "DeleteCommand", {"CommandId": cid}) == "ResourceNotFound.CommandNotFound"
    assert code(tat, "InvokeCommand", {"CommandId": cid, "InstanceIds": SEED[:1]}) == \
        "ResourceNotFound.CommandNotFound"
    st, j = tat.api("GET", "/api/v1/library/commands")
    assert "greet-1" not in [e["name"] for e in j["data"]]


def test_run_command_save_command(tat):
    r = run(tat, "echo saved", SaveCommand=True, CommandName="saved-1",
            Tags=[{"Key": "a", "Value": "b"}])
    wait_invocation(tat, r["InvocationId"])
    cmd = commands(tat, CommandIds=[r["CommandId"]])
    assert cmd["TotalCount"] == 1 and cmd["CommandSet"][0]["CommandName"] == "saved-1", cmd
    assert cmd["CommandSet"][0]["Tags"] == [{"Key": "a", "Value": "b"}]
    inv = ok(tat, "InvokeCommand", {"CommandId": r["CommandId"], "InstanceIds": SEED[1:2]})
    wait_invocation(tat, inv["InvocationId"])
    assert output(tasks(tat, inv["InvocationId"])[0]) == "saved\n"
    # without SaveCommand nothing is saved
    r = run(tat, "true", CommandName="unsaved-1")
    assert commands(tat, CommandIds=[r["CommandId"]])["TotalCount"] == 0
    # a name taken: nothing runs
    assert code(tat, "RunCommand", {"Content": b64("true"), "InstanceIds": SEED[:1],
                                    "SaveCommand": True, "CommandName": "saved-1"}) == \
        "InvalidParameterValue.CommandNameDuplicated"


def test_describe_commands_paging(tat):
    ids = [ok(tat, "CreateCommand", {"CommandName": "page-%d" % i,
                                     "Content": b64("true")})["CommandId"] for i in range(3)]
    r = commands(tat, Filters=[{"Name": "command-id", "Values": ids}], Limit=2)
    assert r["TotalCount"] == 3 and len(r["CommandSet"]) == 2
    assert [x["CommandId"] for x in r["CommandSet"]] == [ids[2], ids[1]]   # newest first
    r = commands(tat, Filters=[{"Name": "command-id", "Values": ids}], Limit=2, Offset=2)
    assert [x["CommandId"] for x in r["CommandSet"]] == [ids[0]]
    r = commands(tat, CommandIds=ids[:2])
    assert {x["CommandId"] for x in r["CommandSet"]} == set(ids[:2])
    cmd = r["CommandSet"][0]
    assert (cmd["Timeout"], cmd["WorkingDirectory"], cmd["EnableParameter"]) == (60, "/root", False)
    assert cmd["DefaultParameters"] == "{}"


@pytest.mark.parametrize("fields,want", [
    ({"CommandName": None}, "MissingParameter"),
    ({"Content": None}, "MissingParameter"),
    ({"CommandName": "bad name!"}, "InvalidParameterValue.InvalidCommandName"),
    ({"CommandName": "x" * 61}, "InvalidParameterValue.InvalidCommandName"),
    ({"Content": "%%%not-base64"}, "InvalidParameterValue.InvalidContent"),
    ({"Content": "A" * 65540}, "InvalidParameterValue.TooLong"),
    ({"Description": "d" * 121}, "InvalidParameterValue.TooLong"),
    ({"Timeout": 0}, "InvalidParameterValue.Range"),
    ({"Timeout": 86401}, "InvalidParameterValue.Range"),
    ({"CommandType": "POWERSHELL"}, "InvalidParameterValue.AgentUnsupportedCommandType"),
    ({"WorkingDirectory": "rel"}, "InvalidParameterValue.InvalidWorkingDirectory"),
    ({"Username": "Bad User"}, "InvalidParameterValue.InvalidUsername"),
    ({"Tags": [{"Key": "k%d" % i, "Value": "v"} for i in range(11)]},
     "InvalidParameterValue.LimitExceeded"),
    ({"Tags": [{"Key": "k"}]}, "InvalidParameterValue.InvalidTag"),
    ({"DefaultParameters": '{"a": "1"}'},
     "InvalidParameterValue.SupportParametersOnlyIfEnableParameter"),
    ({"EnableParameter": True, "DefaultParameters": "{nope"},
     "InvalidParameterValue.ParameterInvalidJsonFormat"),
    ({"EnableParameter": True, "DefaultParameters": '{"a": 1}'},
     "InvalidParameterValue.ParameterValueNotString"),
    ({"EnableParameter": True, "DefaultParameters": '{"a b": "1"}'},
     "InvalidParameterValue.ParameterKeyContainsInvalidChar"),
    ({"EnableParameter": True,
      "DefaultParameters": json.dumps({"k%d" % i: "v" for i in range(21)})},
     "InvalidParameterValue.ParameterNumberExceeded"),
])
def test_create_command_errors(tat, fields, want):
    p = {"CommandName": "err-cmd", "Content": b64("echo {{a}}")}
    p.update(fields)
    p = {k: v for k, v in p.items() if v is not None}
    assert code(tat, "CreateCommand", p) == want


def test_saved_command_errors(tat):
    plain = ok(tat, "CreateCommand", {"CommandName": "plain-1", "Content": b64("true")})
    pid = plain["CommandId"]
    assert code(tat, "CreateCommand", {"CommandName": "plain-1", "Content": b64("true")}) == \
        "InvalidParameterValue.CommandNameDuplicated"
    for action, extra in (("DeleteCommand", {}), ("ModifyCommand", {}),
                          ("InvokeCommand", {"InstanceIds": SEED[:1]}),
                          ("PreviewReplacedCommandContent", {})):
        p = dict(extra, CommandId="cmd-1")
        assert code(tat, action, p) == "InvalidCommandId.Malformed", action
        p = dict(extra, CommandId="cmd-zzzzzzzz")
        assert code(tat, action, p) == "ResourceNotFound.CommandNotFound", action
    assert code(tat, "DeleteCommand", {}) == "MissingParameter"
    assert code(tat, "DescribeCommands", {"CommandIds": ["nope"]}) == "InvalidCommandId.Malformed"
    assert code(tat, "DescribeCommands", {"CommandIds": [pid], "Filters": []}) == \
        "InvalidParameter"
    assert code(tat, "DescribeCommands", {"Filters": [{"Name": "colour", "Values": ["x"]}]}) == \
        "InvalidFilter"
    assert code(tat, "DescribeCommands", {"Limit": 101}) == "InvalidParameterValue.Range"
    # EnableParameter is fixed at creation
    assert raw_code(tat, "ModifyCommand", {"CommandId": pid, "EnableParameter": True}) == \
        "UnknownParameter"
    assert code(tat, "ModifyCommand", {"CommandId": pid, "DefaultParameters": '{"a": "1"}'}) == \
        "InvalidParameterValue.SupportParametersOnlyIfEnableParameter"
    assert code(tat, "InvokeCommand", {"CommandId": pid, "InstanceIds": SEED[:1],
                                       "Parameters": '{"a": "1"}'}) == \
        "InvalidParameterValue.ParameterDisabled"
    assert code(tat, "ModifyCommand", {"CommandId": pid, "Timeout": 0}) == \
        "InvalidParameterValue.Range"
    assert code(tat, "ModifyCommand", {"CommandId": pid, "CommandName": "bad name"}) == \
        "InvalidParameterValue.InvalidCommandName"
    ok(tat, "CreateCommand", {"CommandName": "plain-2", "Content": b64("true")})
    assert code(tat, "ModifyCommand", {"CommandId": pid, "CommandName": "plain-2"}) == \
        "InvalidParameterValue.CommandNameDuplicated"
    # invoking checks the instances as RunCommand does
    assert code(tat, "InvokeCommand", {"CommandId": pid}) == "MissingParameter"
    assert code(tat, "InvokeCommand", {"CommandId": pid, "InstanceIds": ["ins-nosuch01"]}) == \
        "ResourceNotFound.InstanceNotFound"
    assert code(tat, "InvokeCommand", {"CommandId": pid, "InstanceIds": ["ins-offline1"]}) == \
        "ResourceUnavailable.AgentStatusNotOnline"
    enabled = ok(tat, "CreateCommand", {"CommandName": "param-1", "Content": b64("echo {{a}}"),
                                        "EnableParameter": True})["CommandId"]
    assert code(tat, "InvokeCommand", {"CommandId": enabled, "InstanceIds": SEED[:1]}) == \
        "InvalidParameterValue.LackOfParameterInfo"
    assert code(tat, "InvokeCommand", {"CommandId": enabled, "InstanceIds": SEED[:1],
                                       "Parameters": "{bad"}) == \
        "InvalidParameterValue.ParameterInvalidJsonFormat"


def test_saved_commands_visibility(tat):
    api = tat.api
    assert api("POST", "/api/v1/users", {"username": "tatcarol", "password": "carol-password",
                                         "groups": ["tatcmd"]})[0] == 201
    assert api("PUT", "/api/v1/user-groups/tatcmd", {"permissions": {"commands": True}})[0] == 200
    st, j = api("POST", "/api/v1/me/tat-keys", {}, auth=("tatcarol", "carol-password"))
    assert st == 201, j
    kw = {"sid": j["data"]["secret_id"], "skey": j["data"]["secret_key"]}
    admins = ok(tat, "CreateCommand", {"CommandName": "admins-1", "Content": b64("true")})
    carols = ok(tat, "CreateCommand", {"CommandName": "carols-1", "Content": b64("true")}, **kw)
    seen = ok(tat, "DescribeCommands", {"Limit": 100}, **kw)
    assert [c["CommandId"] for c in seen["CommandSet"]] == [carols["CommandId"]]
    for action in ("DeleteCommand", "ModifyCommand", "PreviewReplacedCommandContent"):
        assert code(tat, action, {"CommandId": admins["CommandId"]}, **kw) == \
            "ResourceNotFound.CommandNotFound", action
    assert commands(tat, CommandIds=[carols["CommandId"]])["TotalCount"] == 1   # the admin's view
    assert api("PUT", "/api/v1/user-groups/tatcmd", {"permissions": {"commands": False}})[0] == 200
    for action in ("CreateCommand", "ModifyCommand", "DeleteCommand", "InvokeCommand"):
        assert code(tat, action, {"CommandName": "x", "Content": b64("true")}
                    if action == "CreateCommand" else
                    {"CommandId": carols["CommandId"]}, **kw) == \
            "UnauthorizedOperation.CamAuthFailed", action
    assert ok(tat, "DescribeCommands", {}, **kw)["TotalCount"] == 1


def test_sdk_over_https(fleet, sdk_ready, tmp_path):
    """The SDK with protocol https:// against a TLS API listener: the seed's
    RunCommand runs and its task is read back. Node checks the certificate
    (the test's CA through NODE_EXTRA_CA_CERTS); without that CA the same
    call fails, so the TLS path is the one taken."""
    from test_08_http import make_ca_and_cert
    d = str(tmp_path / "pki")
    os.makedirs(d)
    make_ca_and_cert(d)
    s = fleet.server(extra=tat_conf() + '[api]\ntls_cert = "%s/srv.pem"\ntls_key = "%s/srv.key"\n'
                     % (d, d)).start(wait=False)
    fleet.agent(s, "ins-tls00001", wait=False)
    tls = {"protocol": "https://", "env": {"NODE_EXTRA_CA_CERTS": d + "/ca.pem"}}

    def online():
        kind, r = sdk(s, "DescribeAutomationAgentStatus", {"InstanceIds": ["ins-tls00001"]},
                      **tls)
        return kind == "ok" and r["AutomationAgentSet"] and \
            r["AutomationAgentSet"][0]["AgentStatus"] == "Online"
    wait_until(online, 30, "the agent online over https")
    inv = ok(s, "RunCommand", {"Content": b64("echo over-tls"), "InstanceIds": ["ins-tls00001"],
                               "WorkingDirectory": "/tmp"}, **tls)["InvocationId"]
    assert wait_invocation(s, inv, **tls)["InvocationStatus"] == "SUCCESS"
    t = tasks(s, inv, hide=False, **tls)[0]
    assert base64.b64decode(t["TaskResult"]["Output"]) == b"over-tls\n"
    kind, r = sdk(s, "DescribeCommands", {}, protocol="https://")
    assert kind == "error", r
    kind, r = sdk(s, "DescribeCommands", {}, **tls)
    assert kind == "ok", r
