"""Issue 18 item 9: the OpenAPI document (api/openapi.json, served at GET
/api/v1/openapi.json) against a real tetherd with real agents.

For every path and method of the document the test makes real requests for
each documented response (successes and errors) and validates the status
and the body against the document's schemas (Draft 2020-12, $refs into
components). It fails when a route answers a status or a body the document
does not have, when a documented response is never produced (unless the
document says why with x-untested), and when the server has a route the
document lacks: the server's routes come from its own tables (`tetherd
routes`, the Elastic face's route table, the TAT action table), so a new
route without a document entry fails here. TAT answers are validated too,
per action (x-tat-actions), signed with scripts/tat-call's signer."""
import base64
import importlib.machinery
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse

import pytest

import harness
from harness import ROOT, wait_until

jsonschema = pytest.importorskip("jsonschema")

DOC_PATH = os.path.join(ROOT, "api", "openapi.json")
with open(DOC_PATH) as _f:
    DOC = json.load(_f)
tat_call = importlib.machinery.SourceFileLoader(
    "tat_call", os.path.join(ROOT, "scripts", "tat-call")).load_module()

SID = "AKIDtestTetherOpenApi0000000000000"
SKEY = "testTetherOpenApiSecretKey000000"
OP = ("op", "op-password-1")          # a user who is no admin and has no permission
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def resolver():
    return jsonschema.RefResolver("", DOC)


def validate(schema, instance, what):
    v = jsonschema.Draft202012Validator(schema, resolver=resolver())
    errs = sorted(v.iter_errors(instance), key=lambda e: list(e.path))
    assert not errs, "%s: %s\nbody: %s" % (what, "; ".join(
        "%s at %s" % (e.message, list(e.absolute_path)) for e in errs[:5]),
        json.dumps(instance)[:1500])


def operations():
    for path, item in DOC["paths"].items():
        for m, o in item.items():
            if m in METHODS:
                yield path, m.upper(), o


def deref(node):
    while isinstance(node, dict) and "$ref" in node:
        node = resolver().resolve(node["$ref"])[1]
    return node


# ---------------------------------------------------------------- the document itself

def test_document_itself():
    assert re.match(r"^3\.1\.\d+$", DOC["openapi"]), DOC["openapi"]
    assert DOC["info"]["title"] and DOC["info"]["version"]
    ids = set()
    for path, method, o in operations():
        assert o.get("operationId"), (method, path)
        assert o["operationId"] not in ids, o["operationId"]
        ids.add(o["operationId"])
        assert o.get("responses"), (method, path)
        for name in re.findall(r"{([^}]+)}", path):
            assert any(p.get("in") == "path" and p["name"] == name
                       for p in o.get("parameters", [])), (method, path, name)
        for sec in o.get("security", DOC["security"]):
            for k in sec:
                assert k in DOC["components"]["securitySchemes"], k
    schemes = DOC["components"]["securitySchemes"]
    assert schemes["basic"]["scheme"] == "basic" and schemes["bearer"]["scheme"] == "bearer"
    assert "ApiKey" in schemes["apiKey"]["description"]
    assert "TC3-HMAC-SHA256" in schemes["tc3"]["description"]
    # every $ref resolves, and every schema is a valid 2020-12 schema
    refs = []

    def walk(n):
        if isinstance(n, dict):
            if "$ref" in n:
                refs.append(n["$ref"])
            for v in n.values():
                walk(v)
        elif isinstance(n, list):
            for v in n:
                walk(v)
    walk(DOC)
    assert refs
    r = resolver()
    for x in set(refs):
        assert x.startswith("#/"), x
        r.resolve(x)
    for name, s in DOC["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(s)
    # the committed document is what its source makes
    r = subprocess.run([sys.executable, os.path.join(ROOT, "api", "openapi.py"), "--check"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------- the server's routes

def server_routes():
    """(METHOD, /path/{}) of every route the server has, from its tables."""
    out = subprocess.run([harness.binary("tetherd"), "routes"], capture_output=True,
                         text=True, timeout=30).stdout
    routes = set()
    for line in out.splitlines():
        m, p = line.split()[:2]
        routes.add(("GET" if m == "WS" else m, p))
    with open(os.path.join(ROOT, "src", "server", "dialects", "elastic", "face.c")) as f:
        for m, p in re.findall(r'\{ \{ "([A-Z]+)", "(/[^"]*)" \}', f.read()):
            routes.add((m, p))
    routes.add(("POST", "/"))   # the TAT face
    return routes


def tat_server_actions():
    with open(os.path.join(ROOT, "src", "server", "dialects", "tat", "tat.c")) as f:
        text = f.read()
    table = text[text.index("static const struct action actions[]"):]
    table = table[:table.index("};")]
    later = text[text.index("static const char *const later[]"):]
    later = later[:later.index("};")]
    return re.findall(r'\{ "([A-Za-z]+)",', table), re.findall(r'"([A-Za-z]+)"', later)


def test_the_json_is_what_its_source_makes():
    """api/openapi.json is generated from api/openapi.py: a hand edit of the
    JSON, or a source change without regenerating, fails here."""
    r = subprocess.run([sys.executable, os.path.join(ROOT, "api", "openapi.py"), "--check"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_every_server_route_is_documented():
    # the faces of the API listener: server_routes() knows each one's routes
    with open(os.path.join(ROOT, "src", "server", "front", "front.c")) as f:
        front = f.read()
    faces = front[front.index("faces[] = {"):]
    faces = re.findall(r"&(\w+),", faces[:faces.index("};")])
    assert sorted(faces) == ["elastic_face", "health_face", "metrics_face", "tat_face"], (
        "the API listener has another face: describe its routes in api/openapi.py and "
        "list them in server_routes() here: %s" % faces)
    doc = {(m, re.sub(r"{[^}]+}", "{}", p)) for p, m, _ in operations()}
    srv = server_routes()
    assert len(srv) > 80, srv
    missing = sorted(srv - doc)
    assert not missing, "routes the document lacks: %s" % missing
    extra = sorted(doc - srv)
    assert not extra, "documented routes the server does not have: %s" % extra
    served, later = tat_server_actions()
    tat = DOC["paths"]["/"]["post"]
    assert sorted(tat["x-tat-actions"]) == sorted(served), "TAT actions differ"
    assert sorted(tat["x-tat-unsupported"]) == sorted(later)
    assert sorted(tat["parameters"][0]["schema"]["enum"]) == sorted(served)


# ---------------------------------------------------------------- real requests

class Checker:
    """Makes requests, validates their answers against the document, and
    keeps which (path, method, status) were seen."""

    def __init__(self, srv):
        self.s = srv
        self.seen = set()
        self.tat_seen = set()
        self.problems = []    # every mismatch, reported together at the end

    def response_of(self, path, method, status):
        o = DOC["paths"][path][method.lower()]
        r = o["responses"].get(str(status))
        assert r is not None, "%s %s answered %d, which the document does not have " \
                              "(it has %s)" % (method, path, status, sorted(o["responses"]))
        return r

    def check(self, path, method, res):
        status, body = res.status, res.body
        r = self.response_of(path, method, status)
        self.seen.add((path, method, str(status)))
        content = r.get("content")
        if not content:
            assert not res.raw, "%s %s %d: the document has no body, got %r" % (
                method, path, status, res.raw[:200])
            return
        media, spec = next(iter(content.items()))
        ctype = res.headers.get("content-type", "")
        assert ctype.split(";")[0].strip() == media.split(";")[0].strip(), (
            method, path, status, ctype, media)
        if media.startswith("application/json"):
            assert isinstance(body, (dict, list)), (method, path, status, res.raw[:300])
            validate(spec["schema"], body, "%s %s %d" % (method, path, status))

    def __call__(self, method, path, status, fill=None, body=None, raw=None, auth=harness.ADMIN,
                 headers=None, query=""):
        url = path
        for k, v in (fill or {}).items():
            url = url.replace("{%s}" % k, urllib.parse.quote(v, safe=""))
        assert "{" not in url, url
        o = DOC["paths"][path][method.lower()]
        if body is not None and "requestBody" in o and status < 300:
            validate(o["requestBody"]["content"]["application/json"]["schema"], body,
                     "request of %s %s" % (method, path))
        res = harness.http_request(self.s.api_port, method, url + query, body=body, raw=raw,
                                   auth=auth, headers=headers)
        if res.status != status:
            self.problems.append("%s %s%s: %d, not %d: %s" % (
                method, url, query, res.status, status, res.raw[:300]))
        try:
            self.check(path, method, res)
        except AssertionError as e:
            self.problems.append(str(e)[:1500])
        return res.body

    def tat(self, action, params, want=None, sid=SID, skey=SKEY, ts=None, headers=None):
        """A signed TAT call; want None: success, else the error code."""
        data = json.dumps(params).encode()
        host = "127.0.0.1:%d" % self.s.api_port
        ts = int(time.time()) if ts is None else ts
        ct, authz = tat_call.sign(skey, sid, host, action, data, ts)
        # (http.client sends Host: 127.0.0.1:port itself, as signed)
        h = {"Content-Type": ct, "Authorization": authz, "X-TC-Action": action,
             "X-TC-Version": "2020-10-28", "X-TC-Timestamp": str(ts)}
        h.update(headers or {})
        tat = DOC["paths"]["/"]["post"]
        spec = tat["x-tat-actions"].get(action)
        if spec and want is None:
            validate(spec["request"], params, "TAT %s request" % action)
        res = harness.http_request(self.s.api_port, "POST", "/", raw=data, auth=None,
                                   headers=h)
        try:
            self.check("/", "POST", res)
            resp = res.body["Response"]
            if want is None:
                assert "Error" not in resp, (action, resp)
                validate(spec["response"], res.body, "TAT %s response" % action)
                self.tat_seen.add(action)
            else:
                assert resp.get("Error", {}).get("Code") == want, (action, want, resp)
                validate({"$ref": "#/components/schemas/TatError"}, res.body, "TAT error")
                assert want in tat["x-tat-errors"], want
                self.tat_seen.add("error:" + want)
        except AssertionError as e:
            self.problems.append(str(e)[:1500])
        return res.body.get("Response", {}) if isinstance(res.body, dict) else {}

    def ws(self, path, status, auth=harness.ADMIN, query="", origin=None):
        """A WebSocket upgrade: its status (101 or the refusal)."""
        s = socket.create_connection(("127.0.0.1", self.s.api_port), timeout=30)
        lines = ["GET %s%s HTTP/1.1" % (path, query), "Host: 127.0.0.1",
                 "Upgrade: websocket", "Connection: Upgrade",
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]
        if auth:
            lines.append("Authorization: Basic " +
                         base64.b64encode(("%s:%s" % auth).encode()).decode())
        if origin:
            lines.append("Origin: " + origin)
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        s.close()
        got = int(buf.split(b" ", 2)[1])
        assert got == status, (path, status, buf[:300])
        self.response_of(path, "GET", got)
        self.seen.add((path, "GET", str(got)))


def token(s, scope, auth=harness.ADMIN, name=None):
    st, j = s.api("POST", "/api/v1/me/tokens", {"name": name or "oa-" + scope, "scope": scope},
                  auth=auth)
    assert st == 200, (st, j)
    return j["data"]["token"]


@pytest.fixture(scope="module")
def env(module_fleet):
    s = module_fleet.server(extra='[tat]\nsecret_id = "%s"\nsecret_key = "%s"\nuser = "admin"\n'
                                  'rate_limit = 1000\n' % (SID, SKEY)).start()
    module_fleet.agent(s, "c1", tags=("linux", "web"))
    module_fleet.agent(s, "c2", policy="allow = ['.*']\ndeny = ['^forbidden']")
    off = module_fleet.agent(s, "off1")
    off.stop()
    s.wait_disconnected("off1")
    st, _ = s.api("POST", "/api/v1/users", {"username": OP[0], "password": OP[1],
                                             "groups": ["nobody"]})
    assert st == 201, st
    return s


def run_rport(c, env):
    s = env
    ro = ("admin", token(s, "read"))
    A = "/api/v1"
    # ---- the generic answers: no credentials (401), a read-scoped token on a
    # route that writes, and a user without the route's permission (403)
    for path, method, o in list(operations()):
        if not path.startswith(A) or "/ws/" in path:
            continue
        fill = {n: "x" for n in re.findall(r"{([^}]+)}", path)}
        if "401" in o["responses"]:
            # login takes its credentials from a body: wrong ones, then
            c(method, path, 401, fill=fill,
              auth=("admin", "wrong-password") if path.endswith("/login") else None)
        if "403" in o["responses"]:
            if method != "GET":
                c(method, path, 403, fill=fill, auth=ro, body={})
            else:
                c(method, path, 403, fill=fill, auth=OP)
        if "413" in o["responses"]:
            c(method, path, 413, fill=fill, raw=b"x" * (1024 * 1024 + 1))
        if fill:
            # ".." is no valid value of a segment
            c(method, path, 400, fill={n: ".." for n in fill},
              body={} if method in ("POST", "PUT") else None)

    # ---- auth and the caller
    tok = c("POST", A + "/login", 200, body={"username": "admin", "password": "foobaz"},
            auth=None)["data"]["token"]
    c("POST", A + "/login", 400, query="?token-lifetime=999999999")
    c("GET", A + "/login", 200)
    c("GET", A + "/login", 400, query="?token-lifetime=x")
    bearer = {"Authorization": "Bearer " + tok}
    c("DELETE", A + "/logout", 400)            # basic auth: no bearer token to revoke
    c("DELETE", A + "/logout", 204, auth=None, headers=bearer)
    c("GET", A + "/me", 200)
    c("PUT", A + "/me", 204, body={})
    c("PUT", A + "/me", 400, body={"password": "new-password-1", "old_password": "wrong"})
    c("GET", A + "/me/ip", 200)
    c("GET", A + "/me/tokens", 200)
    t = c("POST", A + "/me/tokens", 200, body={"name": "oa-tmp", "scope": "read"})["data"]
    c("POST", A + "/me/tokens", 409, body={"name": "oa-tmp", "scope": "read"})
    c("POST", A + "/me/tokens", 400, raw="{")
    c("DELETE", A + "/me/tokens/{prefix}", 204, fill={"prefix": t["prefix"]})
    c("DELETE", A + "/me/tokens/{prefix}", 404, fill={"prefix": "nope"})
    k = c("POST", A + "/me/tat-keys", 201)["data"]
    c("GET", A + "/me/tat-keys", 200)
    c("DELETE", A + "/me/tat-keys/{secret_id}", 204, fill={"secret_id": k["secret_id"]})
    c("DELETE", A + "/me/tat-keys/{secret_id}", 404, fill={"secret_id": k["secret_id"]})
    c("GET", A + "/status", 200)
    doc = c("GET", A + "/openapi.json", 200)
    assert doc == DOC, "the served document is not api/openapi.json"

    # ---- clients
    c("GET", A + "/clients", 200)
    c("GET", A + "/clients", 400, query="?sort=nope")
    c("GET", A + "/clients/{client_id}", 200, fill={"client_id": "c1"})
    c("GET", A + "/clients/{client_id}", 404, fill={"client_id": "nope"})
    c("GET", A + "/client-tags", 200)
    c("GET", A + "/clients-auth", 200)
    c("POST", A + "/clients-auth", 201, body={"id": "oa-cred", "password": "oa-cred-pass"})
    c("POST", A + "/clients-auth", 409, body={"id": "oa-cred", "password": "oa-cred-pass"})
    c("POST", A + "/clients-auth", 400, raw="{")
    c("GET", A + "/clients-auth/{id}", 200, fill={"id": "oa-cred"})
    c("GET", A + "/clients-auth/{id}", 404, fill={"id": "nope"})
    c("DELETE", A + "/clients-auth/{id}", 204, fill={"id": "oa-cred"})
    c("DELETE", A + "/clients-auth/{id}", 404, fill={"id": "oa-cred"})

    # ---- enrollment codes
    e = c("POST", A + "/enrollment-codes", 201, body={"max_uses": 2})["data"]
    c("POST", A + "/enrollment-codes", 400, body={"max_uses": -1})
    c("GET", A + "/enrollment-codes", 200)
    c("DELETE", A + "/enrollment-codes/{id}", 204, fill={"id": e["id"]})
    c("DELETE", A + "/enrollment-codes/{id}", 404, fill={"id": "nope"})

    # ---- commands on one client
    P = A + "/clients/{client_id}/commands"
    jid = c("POST", P, 200, fill={"client_id": "c1"}, body={"command": "echo oa"})["data"]["jid"]
    s.wait_job("c1", jid)
    c("POST", P, 400, fill={"client_id": "c1"}, body={"command": ""})
    c("POST", P, 404, fill={"client_id": "nope"}, body={"command": "echo x"})
    c("POST", P, 409, fill={"client_id": "c2"}, body={"command": "forbidden thing"})
    c("POST", P, 200, fill={"client_id": "c1"}, body={"command": "echo k",
                                                      "idempotency_key": "oa-k1"})
    c("POST", P, 422, fill={"client_id": "c1"}, body={"command": "echo other",
                                                      "idempotency_key": "oa-k1"})
    c("GET", P, 200, fill={"client_id": "c1"})
    c("GET", P, 400, fill={"client_id": "c1"}, query="?sort=nope")
    c("GET", P + "/{jid}", 200, fill={"client_id": "c1", "jid": jid})
    c("GET", P + "/{jid}", 404, fill={"client_id": "c1", "jid": "nope"})
    long = c("POST", P, 200, fill={"client_id": "c1"},
             body={"command": "sleep 30", "timeout_sec": 60})["data"]["jid"]
    c("DELETE", P + "/{jid}", 202, fill={"client_id": "c1", "jid": long})
    s.wait_job("c1", long)
    c("DELETE", P + "/{jid}", 409, fill={"client_id": "c1", "jid": jid})
    c("DELETE", P + "/{jid}", 404, fill={"client_id": "c1", "jid": "nope"})
    # other shapes of the same answers: binary output (base64), argv, a job
    # queued for an offline client, and a cancelled queued job
    b = c("POST", P, 200, fill={"client_id": "c1"},
          body={"argv": ["/usr/bin/printf", "\\001\\377"]})["data"]["jid"]
    s.wait_job("c1", b)
    j = c("GET", P + "/{jid}", 200, fill={"client_id": "c1", "jid": b})["data"]
    assert j["result"].get("stdout_encoding") == "base64" and j["argv"], j
    q = c("POST", P, 200, fill={"client_id": "off1"},
          body={"command": "echo later", "queue_offline": True})["data"]
    assert q["status"] == "queued", q
    j = c("GET", P + "/{jid}", 200, fill={"client_id": "off1", "jid": q["jid"]})["data"]
    assert j["status"] == "queued" and j["expires_at"], j
    c("DELETE", P + "/{jid}", 202, fill={"client_id": "off1", "jid": q["jid"]})
    c("GET", A + "/clients", 200, query="?fields[clients]=id,connection_state")
    c("GET", P, 200, fill={"client_id": "c1"}, query="?fields[jobs]=jid,status")
    SP = A + "/clients/{client_id}/scripts"
    sj = c("POST", SP, 200, fill={"client_id": "c1"},
           body={"script": base64.b64encode(b"echo s").decode()})["data"]["jid"]
    s.wait_job("c1", sj)
    c("POST", SP, 400, fill={"client_id": "c1"}, body={"script": "!!"})
    c("POST", SP, 404, fill={"client_id": "nope"},
      body={"script": base64.b64encode(b"echo s").decode()})

    # ---- multi-client commands
    mj = c("POST", A + "/commands", 200, body={"client_ids": ["c1", "c2"],
                                                "command": "echo m"})["data"]["jid"]
    s.wait_multi(mj)
    c("POST", A + "/commands", 400, body={"command": "echo m"})
    c("POST", A + "/commands", 404, body={"client_ids": ["nope"], "command": "echo m"})
    c("GET", A + "/commands", 200)
    c("GET", A + "/commands", 400, query="?sort=nope")
    c("GET", A + "/commands/{jid}", 200, fill={"jid": mj})
    c("GET", A + "/commands/{jid}", 404, fill={"jid": "nope"})
    c("GET", A + "/commands/{jid}/jobs", 200, fill={"jid": mj})
    c("GET", A + "/commands/{jid}/jobs", 400, fill={"jid": mj}, query="?sort=nope")
    lm = c("POST", A + "/commands", 200, body={"client_ids": ["c1"], "command": "sleep 30",
                                                "timeout_sec": 60})["data"]["jid"]
    c("DELETE", A + "/commands/{jid}", 202, fill={"jid": lm})
    s.wait_multi(lm)
    c("DELETE", A + "/commands/{jid}", 409, fill={"jid": lm})
    c("DELETE", A + "/commands/{jid}", 404, fill={"jid": "nope"})
    ms = c("POST", A + "/scripts", 200, body={"client_ids": ["c1"], "script":
                                               base64.b64encode(b"echo s").decode()})
    s.wait_multi(ms["data"]["jid"])
    c("POST", A + "/scripts", 400, body={"client_ids": ["c1"], "script": "!!"})
    c("POST", A + "/scripts", 404, body={"client_ids": ["nope"], "script":
                                          base64.b64encode(b"echo s").decode()})

    # ---- client groups
    G = A + "/client-groups"
    grp = {"id": "oa-g", "description": "d", "params": {"client_id": ["c*"]}}
    c("POST", G, 201, body=grp)
    c("POST", G, 409, body=grp)
    c("POST", G, 400, raw="{")
    c("GET", G, 200)
    c("GET", G + "/{id}", 200, fill={"id": "oa-g"})
    c("GET", G + "/{id}", 404, fill={"id": "nope"})
    c("PUT", G + "/{id}", 204, fill={"id": "oa-g"}, body=grp)
    c("PUT", G + "/{id}", 400, fill={"id": "oa-g"}, raw="{")
    c("DELETE", G + "/{id}", 204, fill={"id": "oa-g"})
    c("DELETE", G + "/{id}", 404, fill={"id": "oa-g"})

    # ---- users and user groups
    U = A + "/users"
    c("GET", U, 200)
    c("POST", U, 201, body={"username": "oa-u", "password": "oa-password-1", "groups": ["g"]})
    c("POST", U, 409, body={"username": "oa-u", "password": "oa-password-1", "groups": ["g"]})
    c("POST", U, 400, body={"username": "oa-u2", "password": "short"})
    c("PUT", U + "/{username}", 204, fill={"username": "oa-u"}, body={"locked": True})
    c("PUT", U + "/{username}", 400, fill={"username": "oa-u"}, body={"password": "short"})
    c("PUT", U + "/{username}", 404, fill={"username": "nope"}, body={"locked": True})
    c("DELETE", U + "/{username}", 204, fill={"username": "oa-u"})
    c("DELETE", U + "/{username}", 404, fill={"username": "oa-u"})
    UG = A + "/user-groups"
    c("PUT", UG + "/{name}", 200, fill={"name": "oa-ug"},
      body={"permissions": {"commands": True}})
    c("PUT", UG + "/{name}", 400, fill={"name": "oa-ug"}, raw="{")
    c("GET", UG, 200)
    c("GET", UG + "/{name}", 200, fill={"name": "oa-ug"})
    c("GET", UG + "/{name}", 404, fill={"name": "nope"})
    c("DELETE", UG + "/{name}", 204, fill={"name": "oa-ug"})
    c("DELETE", UG + "/{name}", 404, fill={"name": "oa-ug"})

    # ---- bans (a ban made by failed logins of a throwaway name)
    c("GET", A + "/bans", 200)
    c("DELETE", A + "/bans/{kind}/{key}", 400, fill={"kind": "x", "key": "y"})
    c("DELETE", A + "/bans/{kind}/{key}", 404, fill={"kind": "user", "key": "nobody"})

    # ---- the library
    for kind, text_field in (("commands", "cmd"), ("scripts", "script")):
        L = A + "/library/" + kind
        ent = c("POST", L, 201, body={"name": "oa-" + kind, text_field: "echo lib"})["data"]
        c("POST", L, 409, body={"name": "oa-" + kind, text_field: "echo lib"})
        c("POST", L, 400, body={"name": "", text_field: "echo lib"})
        c("GET", L, 200)
        c("GET", L, 400, query="?sort=nope")
        c("GET", L + "/{id}", 200, fill={"id": ent["id"]})
        c("GET", L + "/{id}", 404, fill={"id": "nope"})
        c("PUT", L + "/{id}", 200, fill={"id": ent["id"]},
          body={"name": "oa-" + kind, text_field: "echo lib2"})
        c("PUT", L + "/{id}", 400, fill={"id": ent["id"]}, body={"name": ""})
        c("PUT", L + "/{id}", 404, fill={"id": "nope"},
          body={"name": "oa-x", text_field: "echo lib2"})
        r = c("POST", L + "/{id}/run", 200, fill={"id": ent["id"]},
              body={"client_ids": ["c1"]})["data"]["jid"]
        s.wait_multi(r)
        c("POST", L + "/{id}/run", 400, fill={"id": ent["id"]}, body={"command": "x"})
        c("POST", L + "/{id}/run", 404, fill={"id": "nope"}, body={"client_ids": ["c1"]})
        c("DELETE", L + "/{id}", 204, fill={"id": ent["id"]})
        c("DELETE", L + "/{id}", 404, fill={"id": ent["id"]})

    # ---- schedules
    S = A + "/schedules"
    sch = {"name": "oa-s", "schedule": "0 0 1 1 *", "type": "command", "command": "echo s",
           "client_ids": ["c1"]}
    sd = c("POST", S, 201, body=sch)["data"]
    c("POST", S, 400, body=dict(sch, schedule="61 * * * *"))
    c("POST", S, 404, body=dict(sch, client_ids=["nope"]))
    c("GET", S, 200)
    c("GET", S, 400, query="?sort=nope")
    c("GET", S + "/{id}", 200, fill={"id": sd["id"]})
    c("GET", S + "/{id}", 404, fill={"id": "nope"})
    c("PUT", S + "/{id}", 200, fill={"id": sd["id"]}, body=dict(sch, name="oa-s2"))
    c("PUT", S + "/{id}", 400, fill={"id": sd["id"]}, body=dict(sch, schedule="x"))
    c("PUT", S + "/{id}", 404, fill={"id": "nope"}, body=sch)
    c("DELETE", S + "/{id}", 204, fill={"id": sd["id"]})
    c("DELETE", S + "/{id}", 404, fill={"id": sd["id"]})

    # ---- the audit log, and a disconnected client forgotten
    c("GET", A + "/auditlog", 200)
    c("GET", A + "/auditlog", 400, query="?filter[nope]=x")
    c("DELETE", A + "/clients/{client_id}", 400, fill={"client_id": "c1"})
    c("DELETE", A + "/clients/{client_id}", 204, fill={"client_id": "off1"})
    c("DELETE", A + "/clients/{client_id}", 404, fill={"client_id": "off1"})

    # ---- the streaming API
    for kind in ("commands", "scripts"):
        W = A + "/ws/" + kind
        c.ws(W, 101)
        c.ws(W, 401, auth=None)
        c.ws(W, 403, origin="http://evil.example")


def run_elastic(c, env):
    s = env
    X = {"kbn-xsrf": "1"}
    for path, method, o in list(operations()):
        if path.startswith("/api/endpoint") or path.startswith("/api/security"):
            fill = {n: "x" for n in re.findall(r"{([^}]+)}", path)}
            c(method, path, 401, fill=fill, auth=None, headers=X)
            c(method, path, 400, fill=fill, headers=dict(X, **{"elastic-api-version": "1"}))
            if method != "GET":
                c(method, path, 403, fill=fill, headers=X, body={},
                  auth=("admin", token(s, "read", name="oa-es-" + o["operationId"])))
            if "413" in o["responses"]:
                c(method, path, 413, fill=fill, headers=X, raw=b"x" * (1024 * 1024 + 1))
    E = "/api/endpoint/action"
    act = c("POST", E + "/execute", 200, headers=X,
            body={"endpoint_ids": ["c1"], "parameters": {"command": "echo es"}})["data"]
    c("POST", E + "/execute", 400, headers=X, body={"endpoint_ids": ["c1"]})
    c("POST", E + "/execute", 403, headers=X, auth=OP,
      body={"endpoint_ids": ["c1"], "parameters": {"command": "echo es"}})

    def done():
        st, j = s.api("GET", E + "/" + act["id"])
        return j["data"]["isCompleted"] and j
    wait_until(done, 30, "the Elastic action to complete")
    c("GET", E + "/{action_id}", 200, fill={"action_id": act["id"]})
    c("GET", E + "/{action_id}", 404, fill={"action_id": "nope"})
    c("GET", E, 200)
    c("GET", E, 400, query="?pageSize=0")
    c("GET", "/api/endpoint/action_status", 200, query="?agent_ids=c1")
    c("GET", "/api/endpoint/action_status", 400,
      headers={"elastic-api-version": "1999-01-01"})
    fid = "%s.c1" % act["id"]
    F = E + "/{action_id}/file/{file_id}"
    c("GET", F, 200, fill={"action_id": act["id"], "file_id": fid})
    c("GET", F, 404, fill={"action_id": act["id"], "file_id": "nope"})
    c("GET", F + "/download", 200, fill={"action_id": act["id"], "file_id": fid})
    c("GET", F + "/download", 404, fill={"action_id": "nope", "file_id": "nope"})
    c("GET", F + "/download", 400, fill={"action_id": act["id"], "file_id": fid},
      query="?elastic-api-version=1999-01-01")
    long = c("POST", E + "/execute", 200, headers=X,
             body={"endpoint_ids": ["c1"], "parameters": {"command": "sleep 30"}})["data"]
    c("POST", E + "/cancel", 200, headers=X, body={"parameters": {"id": long["id"]}})
    c("POST", E + "/cancel", 404, headers=X, body={"parameters": {"id": "nope"}})
    c("POST", E + "/cancel", 400, headers=X, body={})
    c("POST", E + "/cancel", 403, headers=X, auth=OP, body={"parameters": {"id": long["id"]}})
    K = "/api/security/api_key"
    key = c("POST", K, 200, headers=X, body={"name": "oa-key"})
    c("POST", K, 400, headers=X, body={})
    c("GET", K, 200)
    c("GET", K, 200, auth=None, headers={"Authorization": "ApiKey " + key["encoded"]})
    c("DELETE", K + "/{id}", 200, fill={"id": key["id"]}, headers=X)
    c("DELETE", K + "/{id}", 404, fill={"id": key["id"]}, headers=X)
    c("DELETE", K + "/{id}", 400, fill={"id": "x"})


def run_tat(c, env):
    def b64(t):
        return base64.b64encode(t.encode()).decode()
    r = c.tat("RunCommand", {"Content": b64("echo tat"), "InstanceIds": ["c1"]})
    inv = r["InvocationId"]

    def finished():
        j = c.tat("DescribeInvocations", {"InvocationIds": [inv]})
        return j["InvocationSet"][0]["InvocationStatus"] not in ("PENDING", "RUNNING")
    wait_until(finished, 30, "the TAT invocation to finish", interval=0.3)
    c.tat("DescribeInvocationTasks", {"Filters": [{"Name": "invocation-id", "Values": [inv]}]})
    c.tat("DescribeAutomationAgentStatus", {"InstanceIds": ["c1"]})
    cmd = c.tat("CreateCommand", {"CommandName": "oa-tat", "Content": b64("echo {{x}}"),
                                  "EnableParameter": True,
                                  "DefaultParameters": '{"x": "y"}'})["CommandId"]
    c.tat("DescribeCommands", {"CommandIds": [cmd]})
    c.tat("ModifyCommand", {"CommandId": cmd, "Description": "d"})
    c.tat("PreviewReplacedCommandContent", {"CommandId": cmd, "Parameters": '{"x": "z"}'})
    inv2 = c.tat("InvokeCommand", {"CommandId": cmd, "InstanceIds": ["c1"]})["InvocationId"]
    long = c.tat("RunCommand", {"Content": b64("sleep 30"), "InstanceIds": ["c1"]})
    c.tat("CancelInvocation", {"InvocationId": long["InvocationId"]})
    ss = {"Policy": "RECURRENCE", "Recurrence": "0 3 * * *"}
    ivk = c.tat("CreateInvoker", {"Name": "oa-ivk", "Type": "SCHEDULE", "CommandId": cmd,
                                  "InstanceIds": ["c1"], "ScheduleSettings": ss})["InvokerId"]
    c.tat("DescribeInvokers", {"InvokerIds": [ivk]})
    c.tat("DisableInvoker", {"InvokerId": ivk})
    c.tat("EnableInvoker", {"InvokerId": ivk})
    c.tat("ModifyInvoker", {"InvokerId": ivk, "Name": "oa-ivk2"})
    # rport's API shows the invoker's schedule, and refuses to change it
    S = "/api/v1/schedules"
    sid = [x["id"] for x in c("GET", S, 200)["data"] if x["name"] == "oa-ivk2"][0]
    c("PUT", S + "/{id}", 409, fill={"id": sid},
      body={"name": "oa-x", "schedule": "0 0 1 1 *", "type": "command", "command": "echo s",
            "client_ids": ["c1"]})
    c("DELETE", S + "/{id}", 409, fill={"id": sid})
    c.tat("DescribeInvokerRecords", {"InvokerIds": [ivk]})
    c.tat("DescribeInvokers", {"InvokerIds": ["bad"]},
          want="InvalidParameterValue.InvalidInvokerId")
    c.tat("DeleteInvoker", {"InvokerId": ivk})
    c.tat("DeleteCommand", {"CommandId": cmd})
    assert inv2
    # errors, in the dialect's envelope (HTTP 200)
    c.tat("RunCommand", {"Content": b64("x"), "InstanceIds": ["c1"], "Nope": 1},
          want="UnknownParameter")
    c.tat("RunCommand", {"Content": 1, "InstanceIds": ["c1"]}, want="InvalidParameter")
    c.tat("NoSuchAction", {}, want="InvalidAction")
    c.tat("DescribeRegions", {}, want="UnsupportedOperation")
    c.tat("DescribeCommands", {}, want="AuthFailure.SecretIdNotFound",
          sid="AKIDnone0000000000000000000000000")
    c.tat("DescribeCommands", {}, want="AuthFailure.SignatureFailure", skey="wrong")
    c.tat("DescribeCommands", {}, want="AuthFailure.SignatureExpire",
          ts=int(time.time()) - 3600)
    c.tat("DescribeCommands", {}, want="NoSuchVersion", headers={"X-TC-Version": "1999-01-01"})


def run_probes(c, env):
    mt = token(env, "metrics", name="oa-metrics")
    c("GET", "/healthz", 200, auth=None)
    c("GET", "/readyz", 200, auth=None)
    c("GET", "/metrics", 200, auth=("admin", mt))
    c("GET", "/metrics", 401, auth=None)
    c("GET", "/metrics", 403, auth=("op", token(env, "read", auth=OP, name="oa-op-read")))


def run_ban_lift(c, fleet):
    """A ban to lift: a server of its own with a low limit, so that the
    failed logins here lock out nothing else."""
    s = fleet.server(relaxed=False, extra="[api]\nmax_failed_login = 2\n"
                                          "user_login_wait = 0\n").start()
    admin = ("admin", token(s, "read+write", name="oa-ban"))
    for _ in range(3):
        s.api("GET", "/api/v1/me", auth=("victim", "wrong-password"))
    bans = s.api("GET", "/api/v1/bans", auth=admin)[1]["data"]
    ban = next(b for b in bans if b["key"] == "victim")
    c2 = Checker(s)
    c2("DELETE", "/api/v1/bans/{kind}/{key}", 204, fill={"kind": ban["kind"], "key": "victim"},
       auth=admin)
    c.seen |= c2.seen
    c.problems += c2.problems
    s.stop()


def test_every_route_answers_as_documented(env, module_fleet):
    c = Checker(env)
    run_rport(c, env)
    run_ban_lift(c, module_fleet)
    run_elastic(c, env)
    run_tat(c, env)
    run_probes(c, env)
    assert not c.problems, "answers that differ from the document:\n" + "\n".join(c.problems)
    # every documented response was produced (or says why it cannot be)
    missing = []
    for path, method, o in operations():
        for st, r in o["responses"].items():
            if (path, method, st) not in c.seen and "x-untested" not in r:
                missing.append("%s %s %s" % (method, path, st))
    assert not missing, "documented responses never produced: %s" % missing
    tat = DOC["paths"]["/"]["post"]
    not_run = sorted(set(tat["x-tat-actions"]) - c.tat_seen)
    assert not not_run, "TAT actions never run: %s" % not_run
