"""GET /metrics: Prometheus' text format, for admins' API tokens and
tokens of scope "metrics"; scraped by a real Prometheus from Debian and
checked through its query API; `promtool check metrics` passes."""
import base64
import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse

import pytest

import harness
from harness import wait_until


def token(s, scope, auth=harness.ADMIN, name=None):
    st, j = s.api("POST", "/api/v1/me/tokens", {"name": name or "t-" + scope, "scope": scope},
                  auth=auth)
    assert st in (200, 201), (st, j)
    return j["data"]["token"]


def get_metrics(s, auth):
    import base64
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", s.api_port, timeout=30)
    h = {}
    if auth:
        h["Authorization"] = "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode()
    c.request("GET", "/metrics", headers=h)
    r = c.getresponse()
    body = r.read().decode()
    ctype = r.getheader("Content-Type")
    c.close()
    return r.status, ctype, body


def value(text, series):
    m = re.search(r"^%s (\S+)$" % re.escape(series), text, re.M)
    return float(m.group(1)) if m else None


def test_metrics_content_and_access(fleet):
    s = fleet.server().start()
    fleet.agent(s, "m1")
    m2 = fleet.agent(s, "m2")
    for cmd in ("echo ok", "exit 3"):
        jid = s.run("m1", cmd)
        s.wait_job("m1", jid)
    mj = s.multi({"client_ids": ["m1", "m2"], "command": "echo multi"})
    wait_until(lambda: s.api("GET", "/api/v1/commands/" + mj)[1]["data"]["finished_at"], 20,
               "the multi job to finish")
    mt = token(s, "metrics")
    st, ctype, text = get_metrics(s, ("admin", mt))
    assert st == 200 and ctype.startswith("text/plain; version=0.0.4"), (st, ctype)
    assert value(text, "tether_agents_connected") == 2
    assert value(text, 'tether_agent_handshakes_total{result="ok"}') >= 2
    # by dialect and status (issue 18: the jobs of rport's API are rport's)
    assert value(text, 'tether_jobs_finished_total{dialect="rport",status="successful"}') >= 3
    assert value(text, 'tether_jobs_finished_total{dialect="rport",status="failed"}') >= 1
    assert value(text, 'tether_invocations_finished_total{dialect="rport"}') >= 1
    assert value(text, "tether_live_streams") == 0
    assert value(text, 'tether_invocations_total{dialect="rport"}') >= 3
    assert value(text, "tether_job_dispatch_to_result_seconds_count") >= 4
    assert value(text, "tether_jobs_in_flight") == 0  # every run sent has ended
    assert value(text, "tether_fanout_duration_seconds_count") >= 1
    assert value(text, "tether_store_commit_seconds_count") >= 1
    assert value(text, 'tether_bans_active{listener="api"}') == 0
    assert value(text, 'tether_agent_frames_total{direction="in"}') > 0
    assert value(text, "tether_jobs_queued") == 0
    m2.stop()
    s.wait_disconnected("m2")
    st, j = s.api("POST", "/api/v1/clients/m2/commands", {"command": "echo later",
                                                          "queue_offline": True})
    assert st == 200 and j["data"]["status"] == "queued", j
    assert value(get_metrics(s, ("admin", mt))[2], "tether_jobs_queued") == 1
    if shutil.which("promtool"):
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
    # an admin's read token works too; passwords are not tried here
    assert get_metrics(s, ("admin", token(s, "read")))[0] == 200
    assert get_metrics(s, ("admin", "foobaz"))[0] == 401
    assert get_metrics(s, None)[0] == 401
    # a metrics token opens nothing else
    for method, path in (("GET", "/api/v1/clients"), ("GET", "/api/v1/me"),
                         ("POST", "/api/v1/commands")):
        st, _ = s.api(method, path, body={} if method == "POST" else None, auth=("admin", mt))
        assert st == 401, (method, path, st)
    # a user who is no admin: only a metrics token
    st, _ = s.api("POST", "/api/v1/users", {"username": "op", "password": "op-password-1",
                                              "groups": ["ops"]})
    assert st in (200, 201, 204)
    op_read = token(s, "read", auth=("op", "op-password-1"), name="r")
    assert get_metrics(s, ("op", op_read))[0] == 403
    op_m = token(s, "metrics", auth=("op", "op-password-1"), name="m")
    assert get_metrics(s, ("op", op_m))[0] == 200
    assert harness.http_request(s.api_port, "POST", "/metrics", body={}, auth=("admin", mt))[0] == 405


def start_prometheus(tmp_path, job, target_port, password, name):
    """Debian's prometheus on a random loopback port, scraping tetherd's
    /metrics at target_port every second as admin with password (a metrics
    token); returns the process and a query function (the result list of an
    instant query, or None while it has none)."""
    port = harness.free_port()
    conf = tmp_path / (name + ".yml")
    conf.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: %s\n    static_configs:\n"
        "      - targets: ['127.0.0.1:%d']\n    basic_auth:\n      username: admin\n"
        "      password: '%s'\n" % (job, target_port, password))
    p = harness.Proc(["prometheus", "--config.file", str(conf), "--storage.tsdb.path",
                      str(tmp_path / (name + "-tsdb")), "--web.listen-address",
                      "127.0.0.1:%d" % port], "prometheus", valgrind=False)

    def query(q):
        url = "/api/v1/query?query=" + urllib.parse.quote(q)
        try:
            st, j = harness.http_request(port, "GET", url, auth=None)
        except OSError:
            return None
        if st != 200 or j.get("status") != "success" or not j["data"]["result"]:
            return None
        return j["data"]["result"]
    return p, query


@pytest.mark.skipif(not shutil.which("prometheus"), reason="Debian's prometheus is not installed")
def test_prometheus_scrapes_tetherd(fleet, tmp_path):
    s = fleet.server().start()
    fleet.agent(s, "p1")
    jid = s.run("p1", "echo scraped")
    s.wait_job("p1", jid)
    mt = token(s, "metrics")
    p, query = start_prometheus(tmp_path, "tetherd", s.api_port, mt, "prometheus")

    r = wait_until(lambda: query('up{job="tetherd"} == 1'), 60, "prometheus to scrape tetherd",
                   procs=[p])
    assert r
    r = wait_until(lambda: query("tether_agents_connected"), 30, "the series", procs=[p])
    assert float(r[0]["value"][1]) == 1
    r = wait_until(lambda: query('sum(tether_jobs_finished_total{status="successful"})'), 30,
                   "the jobs counter", procs=[p])
    assert float(r[0]["value"][1]) >= 1


def listening_sockets(pid):
    """The TCP ports process pid listens on (from /proc)."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if t.startswith("socket:["):
            inodes.add(t[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:
                    ports.add(int(cols[1].split(":")[1], 16))
    return ports


def scrape(port, auth, path="/metrics"):
    return harness.http_request(port, "GET", path, auth=auth)


def test_live_streams_and_dialects(fleet):
    """tether_live_streams counts the WebSocket streams open now; jobs and
    invocations are counted by the dialect that submitted them."""
    import importlib.machinery
    import websocket
    sid, skey = "AKIDtestTetherMetrics000000000000", "testTetherMetricsSecretKey000000"
    s = fleet.server(extra='[tat]\nsecret_id = "%s"\nsecret_key = "%s"\nuser = "admin"\n'
                           % (sid, skey)).start()
    fleet.agent(s, "d1")
    mt = token(s, "metrics")
    text = scrape(s.api_port, ("admin", mt))[1]
    for d in ("rport", "elastic", "tat", "schedule"):
        assert value(text, 'tether_invocations_total{dialect="%s"}' % d) == 0, d
        assert value(text, 'tether_jobs_finished_total{dialect="%s",status="successful"}'
                     % d) == 0, d
    assert value(text, "tether_live_streams") == 0
    # two streams open: the gauge says 2, then 0 once they are closed
    url = "ws://127.0.0.1:%d/api/v1/ws/commands" % s.api_port
    hdr = ["Authorization: Basic " + base64.b64encode(b"admin:foobaz").decode()]
    socks = [websocket.create_connection(url, header=hdr, timeout=30) for _ in range(2)]
    socks[0].send(json.dumps({"client_ids": ["d1"], "command": "sleep 20"}))
    wait_until(lambda: value(scrape(s.api_port, ("admin", mt))[1], "tether_live_streams") == 2,
               20, "the gauge to count both streams")
    for w in socks:
        w.close()
    wait_until(lambda: value(scrape(s.api_port, ("admin", mt))[1], "tether_live_streams") == 0,
               20, "the gauge to drop to 0")
    # an Elastic action and a TAT RunCommand, each counted under its dialect
    st, j = s.api("POST", "/api/endpoint/action/execute",
                  {"endpoint_ids": ["d1"], "parameters": {"command": "echo es"}},
                  headers={"kbn-xsrf": "1"})
    assert st == 200, (st, j)
    tat_call = importlib.machinery.SourceFileLoader(
        "tat_call", os.path.join(harness.ROOT, "scripts", "tat-call")).load_module()
    body = json.dumps({"Content": base64.b64encode(b"echo tat").decode(),
                       "InstanceIds": ["d1"]}).encode()
    ts = int(time.time())
    ct, authz = tat_call.sign(skey, sid, "127.0.0.1:%d" % s.api_port, "RunCommand", body, ts)
    st, j = harness.http_request(s.api_port, "POST", "/", raw=body, auth=None, headers={
        "Content-Type": ct, "Authorization": authz, "X-TC-Action": "RunCommand",
        "X-TC-Version": "2020-10-28", "X-TC-Timestamp": str(ts)})
    assert st == 200 and "Error" not in j["Response"], j

    def counted():
        t = scrape(s.api_port, ("admin", mt))[1]
        return all(value(t, 'tether_jobs_finished_total{dialect="%s",status="successful"}'
                         % d) == 1 for d in ("elastic", "tat")) and t
    text = wait_until(counted, 30, "the elastic and tat jobs to be counted")
    assert value(text, 'tether_invocations_total{dialect="elastic"}') == 1
    assert value(text, 'tether_invocations_total{dialect="tat"}') == 1
    assert value(text, 'tether_invocations_finished_total{dialect="elastic"}') == 1
    assert value(text, 'tether_invocations_finished_total{dialect="tat"}') == 1
    # the stream's job was cancelled by its close or ran on: rport's, not another's
    assert value(text, 'tether_invocations_total{dialect="rport"}') == 1
    if shutil.which("promtool"):
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr


def test_metrics_address_of_its_own(fleet, tmp_path):
    """[metrics] address: a listener of its own serving /metrics alone, with
    the same credentials; without the key nothing more is bound."""
    plain = fleet.server().start()
    assert listening_sockets(plain.proc.pid) == {plain.api_port, plain.agent_port}
    mport = harness.free_port()
    s = fleet.server(extra='[metrics]\naddress = "127.0.0.1:%d"\n' % mport).start()
    assert listening_sockets(s.proc.pid) == {s.api_port, s.agent_port, mport}
    fleet.agent(s, "a1")
    jid = s.run("a1", "echo x")
    s.wait_job("a1", jid)
    mt = token(s, "metrics")
    st, text = scrape(mport, ("admin", mt))
    assert st == 200 and value(text, "tether_agents_connected") == 1, (st, text)
    assert scrape(mport, None)[0] == 401
    assert scrape(mport, ("admin", "foobaz"))[0] == 401
    assert scrape(mport, ("admin", token(s, "read")))[0] == 200
    st, j = s.api("POST", "/api/v1/users", {"username": "op", "password": "op-password-1",
                                              "groups": ["ops"]})
    assert st == 201
    assert scrape(mport, ("op", token(s, "read", auth=("op", "op-password-1"))))[0] == 403
    # nothing else is served there
    for path in ("/api/v1/clients", "/api/v1/status", "/healthz", "/"):
        assert scrape(mport, harness.ADMIN, path)[0] == 404, path
    # and the API listener still serves /metrics too
    assert scrape(s.api_port, ("admin", mt))[0] == 200
    if shutil.which("promtool"):
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
    # a bad address is refused by check-config and at start
    bad = fleet.server(extra='[metrics]\naddress = "nonsense"\n')
    r = subprocess.run([harness.binary("tetherd"), "check-config", "-c", bad.config],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "metrics.address" in r.stdout + r.stderr, r
    if not shutil.which("prometheus"):
        return
    p, query = start_prometheus(tmp_path, "tetherd-metrics", mport, mt, "prometheus-own")
    try:
        assert wait_until(lambda: query('up{job="tetherd-metrics"} == 1'), 60,
                          "prometheus to scrape the metrics address", procs=[p])
        r = wait_until(lambda: query('tether_jobs_finished_total{dialect="rport",'
                                     'status="successful"}'), 30, "the series", procs=[p])
        assert float(r[0]["value"][1]) == 1
        r = wait_until(lambda: query("tether_live_streams"), 30, "the gauge", procs=[p])
        assert float(r[0]["value"][1]) == 0
    finally:
        p.stop()
