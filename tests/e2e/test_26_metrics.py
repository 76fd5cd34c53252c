"""GET /metrics: Prometheus' text format, for admins' API tokens and
tokens of scope "metrics"; scraped by a real Prometheus from Debian and
checked through its query API; `promtool check metrics` passes."""
import re
import shutil
import subprocess
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
    assert value(text, 'tether_jobs_finished_total{status="successful"}') >= 3
    assert value(text, 'tether_jobs_finished_total{status="failed"}') >= 1
    assert value(text, 'tether_invocations_total{dialect="rport"}') >= 3
    assert value(text, "tether_job_dispatch_to_result_seconds_count") >= 4
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


@pytest.mark.skipif(not shutil.which("prometheus"), reason="Debian's prometheus is not installed")
def test_prometheus_scrapes_tetherd(fleet, tmp_path):
    s = fleet.server().start()
    fleet.agent(s, "p1")
    jid = s.run("p1", "echo scraped")
    s.wait_job("p1", jid)
    mt = token(s, "metrics")
    port = harness.free_port()
    conf = tmp_path / "prometheus.yml"
    conf.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: tetherd\n    static_configs:\n"
        "      - targets: ['127.0.0.1:%d']\n    basic_auth:\n      username: admin\n"
        "      password: '%s'\n" % (s.api_port, mt))
    p = harness.Proc(["prometheus", "--config.file", str(conf), "--storage.tsdb.path",
                      str(tmp_path / "tsdb"), "--web.listen-address", "127.0.0.1:%d" % port],
                     "prometheus", valgrind=False)

    def query(q):
        url = "/api/v1/query?query=" + urllib.parse.quote(q)
        try:
            st, j = harness.http_request(port, "GET", url, auth=None)
        except OSError:
            return None
        if st != 200 or j.get("status") != "success" or not j["data"]["result"]:
            return None
        return j["data"]["result"]

    r = wait_until(lambda: query('up{job="tetherd"} == 1'), 60, "prometheus to scrape tetherd",
                   procs=[p])
    assert r
    r = wait_until(lambda: query("tether_agents_connected"), 30, "the series", procs=[p])
    assert float(r[0]["value"][1]) == 1
    r = wait_until(lambda: query('tether_jobs_finished_total{status="successful"}'), 30,
                   "the jobs counter", procs=[p])
    assert float(r[0]["value"][1]) >= 1
