"""Agent enrollment: an admin creates a code; `tether-agent enroll` proves
it once over the agent listener, gets a credential of its own and writes
its configuration; from then on the agent connects as that client.

Codes expire, get used up, can be revoked, may fix the id pattern, tags
and labels; each use is audited; a code pins the server's certificate
when the agent listener has TLS."""
import os
import sqlite3
import stat
import subprocess

import harness
from harness import wait_until
from test_07_security import make_certs


def create(s, **body):
    st, j = s.api("POST", "/api/v1/enrollment-codes", body)
    assert st == 201, (st, j)
    return j["data"]


def enroll(s, code, cid, tmp_path, server=None, extra=()):
    conf = tmp_path / ("%s.conf" % cid)
    r = subprocess.run([harness.binary("tether-agent"), "enroll", "--server",
                        server or "ws://127.0.0.1:%d" % s.agent_port, "--code", code, "--id", cid,
                        "--config", str(conf), "--data-dir", str(tmp_path / ("data-" + cid))]
                       + list(extra), capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    return r, conf


def start_agent(conf, cid):
    text = conf.read_text()
    if os.geteuid() == 0:
        conf.write_text(text.replace("[client]\n", "[client]\nallow_root = true\n", 1))
    return harness.Proc([harness.binary("tether-agent"), "-c", str(conf)], "agent-" + cid)


def test_enroll_then_connect_as_that_client(fleet, tmp_path):
    s = fleet.server().start()
    d = create(s, max_uses=2, id_pattern="web-[0-9]+", tags=["web", "eu"],
               labels={"zone": "EU"})
    code = d["code"]
    assert "digest" not in d and d["uses"] == 0 and d["max_uses"] == 2
    assert "." in code and "fingerprint" not in d          # no TLS: nothing to pin
    r, conf = enroll(s, code, "web-1", tmp_path)
    assert r.returncode == 0, r.stderr
    assert "enrolled as 'web-1'" in r.stdout
    assert stat.S_IMODE(os.stat(conf).st_mode) == 0o600
    text = conf.read_text()
    assert 'id = "web-1"' in text and 'auth = "web-1:' in text
    password = text.split('auth = "web-1:')[1].split('"')[0]
    assert len(password) >= 40
    # the agent now connects as web-1 with the code's tags and labels
    p = start_agent(conf, "web-1")
    c = s.wait_connected("web-1", procs=[p])
    assert sorted(c["tags"]) == ["eu", "web"] and c["labels"] == {"zone": "EU"}
    jid = s.run("web-1", "/usr/bin/echo enrolled")
    assert s.wait_job("web-1", jid)["result"]["stdout"] == "enrolled\n"
    # its own credential, bound to its id (not shared), stored only as a digest
    st, j = s.api("GET", "/api/v1/clients-auth/web-1")
    assert st == 200
    db = sqlite3.connect(os.path.join(s.data_dir, "tether.db"))
    dump = "\n".join(db.iterdump())
    assert password not in dump and code.split(".")[1] not in dump
    # the code's record counts the use and names the client
    st, j = s.api("GET", "/api/v1/enrollment-codes")
    rec = [x for x in j["data"] if x["id"] == d["id"]][0]
    assert rec["uses"] == 1 and rec["enrolled"] == ["web-1"] and "digest" not in rec


def test_code_rules_and_audit(fleet, tmp_path):
    s = fleet.server().start()
    code = create(s, max_uses=2, id_pattern="web-[0-9]+")["code"]
    r, conf = enroll(s, code, "db-1", tmp_path)
    assert r.returncode == 1 and "does not allow this client id" in r.stderr
    assert not conf.exists()
    assert enroll(s, code, "web-1", tmp_path)[0].returncode == 0
    r, _ = enroll(s, code, "web-1", tmp_path, extra=["--force"])
    assert r.returncode == 1 and "exists already" in r.stderr
    assert enroll(s, code, "web-2", tmp_path)[0].returncode == 0
    r, _ = enroll(s, code, "web-3", tmp_path)
    assert r.returncode == 1 and "used up" in r.stderr
    # a wrong secret, a revoked code, an expired one
    cid, secret = code.split(".")
    wrong = ("y" if secret[0] == "x" else "x") + secret[1:]
    assert wrong != secret
    r, _ = enroll(s, cid + "." + wrong, "web-4", tmp_path)
    assert r.returncode == 1 and "not valid" in r.stderr
    other = create(s)
    st, _ = s.api("DELETE", "/api/v1/enrollment-codes/" + other["id"])
    assert st == 204
    r, _ = enroll(s, other["code"], "web-5", tmp_path)
    assert r.returncode == 1 and "revoked" in r.stderr
    # (the pattern refuses every id until the code expires: the expiry is
    # checked first, so the answer changes when it passes)
    short = create(s, expires_in_sec=1, id_pattern="never")
    wait_until(lambda: "expired" in enroll(s, short["code"], "web-6", tmp_path)[0].stderr, 10,
               "the code to expire")
    # an existing configuration is not replaced without --force
    r, _ = enroll(s, create(s)["code"], "web-1", tmp_path)
    assert r.returncode == 2 and "--force" in r.stderr
    # the audit log has each step
    st, j = s.api("GET", "/api/v1/auditlog?filter[application]=enrollment&page[limit]=100")
    assert st == 200
    actions = [(e["action"], e.get("client_id")) for e in j["data"]]
    assert ("create", None) in actions or any(a == "create" for a, _ in actions)
    assert ("enroll", "web-1") in actions and ("enroll", "web-2") in actions
    assert ("failed_enroll", "db-1") in actions and ("revoke", None) in [(a, None) for a, _ in actions]


def test_bad_requests(fleet):
    s = fleet.server().start()
    for body, field in (({"expires_in_sec": 0}, "expires_in_sec"),
                        ({"expires_in_sec": 31 * 86400}, "expires_in_sec"),
                        ({"max_uses": -1}, "max_uses"), ({"id_pattern": "(("}, "id_pattern"),
                        ({"tags": [1]}, "tags"), ({"labels": {"a": 1}}, "labels"),
                        ({"bogus": 1}, "bogus"), ({"max_uses": "x"}, "max_uses")):
        st, j = s.api("POST", "/api/v1/enrollment-codes", body)
        assert st == 400, (body, st, j)
        e = j["errors"][0]
        assert field in e["title"] + e["detail"], (body, e)
    st, j = s.api("DELETE", "/api/v1/enrollment-codes/ecnothere")
    assert st == 404
    # admins only
    st, _ = s.api("POST", "/api/v1/users", {"username": "op", "password": "op-password-1",
                                              "groups": ["ops"]})
    assert st in (200, 201, 204)
    st, _ = s.api("GET", "/api/v1/enrollment-codes", auth=("op", "op-password-1"))
    assert st == 403


def test_code_pins_the_tls_certificate(fleet, tmp_path):
    d = str(tmp_path / "pki")
    os.makedirs(d)
    fp, _ = make_certs(d)
    tls = '[server]\ntls_cert = "%s/srv.pem"\ntls_key = "%s/srv.key"\n' % (d, d)
    s = fleet.server(extra=tls).start()
    rec = create(s, max_uses=0)
    assert rec["fingerprint"] == fp and rec["code"].endswith("." + fp)
    # over wss:// with the pin and no CA: enrolled
    r, conf = enroll(s, rec["code"], "tls-1", tmp_path, server="wss://127.0.0.1:%d" % s.agent_port)
    assert r.returncode == 0, r.stderr
    assert ('fingerprint = "%s"' % fp) in conf.read_text()
    p = start_agent(conf, "tls-1")
    s.wait_connected("tls-1", procs=[p])
    # a server showing another certificate is refused before the code is sent
    s2 = fleet.server(extra='[server]\ntls_cert = "%s/old.pem"\ntls_key = "%s/old.key"\n' % (d, d))
    s2.start()
    r, conf2 = enroll(s2, rec["code"], "tls-2", tmp_path, server="wss://127.0.0.1:%d" % s2.agent_port)
    assert r.returncode == 1 and not conf2.exists()
    # a pinning code over plain ws:// is refused
    r, _ = enroll(s, rec["code"], "tls-3", tmp_path)
    assert r.returncode == 2 and "wss://" in r.stderr
