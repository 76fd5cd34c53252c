"""Issue 13: what rport's own clients (rportcli, the frontend) send works.

- command and script together in one body, one of them empty, on every REST
  and WebSocket endpoint; both non-empty is a clear 400.
- GET /api/v1/login?token-lifetime=N with basic auth (rportcli init).
- filter[...], sort, fields[...], page[...] on GET /clients, /commands and
  /clients/{id}/commands, with rport's 400s for unknown fields.
- rport's interpreter rule: cmd and powershell pass the server (the agent
  decides); rport's words for an unknown one.
- rport's shapes and titles where tether answered differently.
"""
import asyncio
import base64
import json

import websockets

from harness import error_title, wait_until

AUTH = "Basic " + base64.b64encode(b"admin:foobaz").decode()


def b64(s):
    return base64.b64encode(s.encode()).decode()


def ws_exchange(srv, path, body, headers=None):
    """Sends one frame, returns every frame until the server closes."""
    async def go():
        frames = []
        async with websockets.connect("ws://127.0.0.1:%d%s" % (srv.api_port, path),
                                      extra_headers=headers or {"Authorization": AUTH},
                                      open_timeout=20) as ws:
            await ws.send(json.dumps(body))
            try:
                while True:
                    frames.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
            except websockets.ConnectionClosed:
                pass
        return frames
    return asyncio.run(go())


def finals(frames):
    return [f for f in frames if isinstance(f, dict) and "status" in f and "jid" in f]


# ---- item 1: command and script in one request ---------------------------

def test_command_and_script_fields_together(server, my_client):
    s = server
    # rportcli's shapes: both fields, the other one empty.
    jid = s.run("my-client", "echo from-command", script="")
    assert s.wait_job("my-client", jid)["result"]["stdout"] == "from-command\n"
    st, j = s.api("POST", "/api/v1/clients/my-client/scripts",
                  {"command": "", "script": b64("echo from-script\n")})
    assert st == 200, (st, j)
    job = s.wait_job("my-client", j["data"]["jid"])
    assert job["result"]["stdout"] == "from-script\n" and job["is_script"] is True
    for path, body in [("/api/v1/commands", {"command": "echo m", "script": ""}),
                       ("/api/v1/scripts", {"command": "", "script": b64("echo m\n")})]:
        st, j = s.api("POST", path, dict(body, client_ids=["my-client"]))
        assert st == 200, (path, st, j)
        mj = j["data"]["jid"]
        wait_until(lambda: s.api("GET", "/api/v1/commands/%s/jobs" % mj)[1]["meta"]["count"] == 1 and
             s.api("GET", "/api/v1/commands/%s/jobs" % mj)[1]["data"][0]["status"] != "running",
             20, "multi job %s" % mj)
        jobs = s.api("GET", "/api/v1/commands/%s/jobs?fields[jobs]=status,result" % mj)[1]
        assert jobs["data"][0]["status"] == "successful", jobs
        assert jobs["data"][0]["result"]["stdout"] == "m\n", jobs
    for path, body in [("/api/v1/ws/commands", {"command": "echo w", "script": ""}),
                       ("/api/v1/ws/scripts", {"command": "", "script": b64("echo w\n")})]:
        frames = ws_exchange(s, path, dict(body, client_ids=["my-client"]))
        f = finals(frames)
        assert len(f) == 1 and f[0]["status"] == "successful", frames
        assert f[0]["result"]["stdout"] == "w\n", frames
    # Both non-empty: one clear 400 everywhere, nothing runs.
    both = {"command": "echo a", "script": b64("echo b\n")}
    for path in ["/api/v1/clients/my-client/commands", "/api/v1/clients/my-client/scripts",
                 "/api/v1/commands", "/api/v1/scripts"]:
        body = dict(both, client_ids=["my-client"]) if "clients/" not in path else both
        r = s.api("POST", path, body)
        assert r[0] == 400 and error_title(r) == "Command and script cannot both be given.", r
    for path in ["/api/v1/ws/commands", "/api/v1/ws/scripts"]:
        frames = ws_exchange(s, path, dict(both, client_ids=["my-client"]))
        assert frames[0]["errors"][0]["title"] == "Command and script cannot both be given."


# ---- item 2: GET /login --------------------------------------------------

def test_get_login_with_basic_auth(server):
    s = server
    st, j = s.api("GET", "/api/v1/login?token-lifetime=120")
    assert st == 200, (st, j)
    assert set(j["data"]) >= {"token", "two_fa"} and j["data"]["two_fa"] is None
    assert j["data"]["token_lifetime"] == 120
    token = j["data"]["token"]
    st, j = s.api("GET", "/api/v1/me", auth=None, headers={"Authorization": "Bearer " + token})
    assert st == 200 and j["data"]["username"] == "admin", (st, j)
    # bounded: more than the maximum is refused; no credentials is a 401
    r = s.api("GET", "/api/v1/login?token-lifetime=99999999999")
    assert r[0] == 400, r
    r = s.api("GET", "/api/v1/login", auth=None)
    assert r[0] == 401, r
    r = s.api("GET", "/api/v1/login", auth=("admin", "wrong"))
    assert r[0] == 401, r


# ---- item 3: list parameters -----------------------------------------------

def ids(result):
    st, j = result
    assert st == 200, result
    return [c.get("id") or c.get("jid") for c in j["data"]], j["meta"]["count"]


def test_clients_list_parameters(fleet, server):
    s = server
    fleet.agent(s, "web-1", tags=("linux", "web"))
    fleet.agent(s, "web-2", tags=("linux", "web"))
    fleet.agent(s, "db-1", tags=("linux", "db"))
    fleet.agent(s, "Other", tags=("windows",))
    c = "/api/v1/clients?"
    assert ids(s.api("GET", c + "filter[name]=web-1")) == (["web-1"], 1)
    assert ids(s.api("GET", c + "filter[name]=web*")) == (["web-1", "web-2"], 2)
    assert ids(s.api("GET", c + "filter[name]=web-2,db*")) == (["db-1", "web-2"], 2)
    assert ids(s.api("GET", c + "filter[id]=other")) == (["Other"], 1)  # case-insensitive
    assert ids(s.api("GET", c + "filter[tags]=db")) == (["db-1"], 1)
    assert ids(s.api("GET", c + "filter[tags]=and(linux,web)")) == (["web-1", "web-2"], 2)
    assert ids(s.api("GET", c + "filter[name|tags]=windows")) == (["Other"], 1)
    assert ids(s.api("GET", c + "filter[*]=db*")) == (["db-1"], 1)
    assert ids(s.api("GET", c + "filter[connection_state]=connected&filter[tags]=web")) == \
        (["web-1", "web-2"], 2)
    assert ids(s.api("GET", c + "filter[name]=nothing*")) == ([], 0)
    # sorts are case-insensitive (ties broken by byte order)
    assert ids(s.api("GET", c + "sort=-id")) == (["web-2", "web-1", "Other", "db-1"], 4)
    assert ids(s.api("GET", c + "sort=name")) == (["db-1", "Other", "web-1", "web-2"], 4)
    assert ids(s.api("GET", c + "sort=-name&page[limit]=2&page[offset]=1")) == \
        (["web-1", "Other"], 4)
    st, j = s.api("GET", c + "fields[clients]=id,name&filter[name]=web-1")
    assert st == 200 and j["data"] == [{"id": "web-1", "name": "web-1"}], j
    # a client's groups show (and filter)
    st, _ = s.api("POST", "/api/v1/client-groups",
                  {"id": "webs", "params": {"tag": ["web"]}, "allowed_user_groups": ["ops"]})
    assert st in (200, 201), st
    assert ids(s.api("GET", c + "filter[groups]=webs")) == (["web-1", "web-2"], 2)
    st, j = s.api("GET", c + "fields[clients]=id,groups,allowed_user_groups&filter[id]=web-1")
    assert j["data"] == [{"id": "web-1", "groups": ["webs"], "allowed_user_groups": ["ops"]}], j
    # rport's words for what it does not support
    for q, title in [("filter[bogus]=x", "unsupported filter field 'bogus'"),
                     ("filter[name|bogus]=x", "unsupported filter field 'bogus'"),
                     ("sort=-bogus", "unsupported sort field 'bogus'"),
                     ("fields[clients]=id,bogus",
                      'unsupported field "bogus" for resource "clients"'),
                     ("fields[bogus]=id", 'unsupported resource in fields: "bogus"')]:
        r = s.api("GET", c + q)
        assert r[0] == 400 and error_title(r) == title, (q, r)


def test_job_lists_parameters(server, my_client):
    s = server
    jids = [s.run("my-client", "echo %d" % i) for i in range(3)]
    for j in jids:
        s.wait_job("my-client", j)
    fail = s.run("my-client", "exit 3")
    s.wait_job("my-client", fail)
    base = "/api/v1/clients/my-client/commands?"
    assert ids(s.api("GET", base + "filter[status]=failed")) == ([fail], 1)
    st, j = s.api("GET", base + "fields[jobs]=jid,status&sort=jid&page[limit]=2")
    assert st == 200 and j["data"] == [{"jid": x, "status": "successful"} for x in jids[:2]], j
    # multi-client jobs: GET /commands
    m = []
    for cmd in ["echo a", "echo b"]:
        st, j = s.api("POST", "/api/v1/commands", {"command": cmd, "client_ids": ["my-client"]})
        m.append(j["data"]["jid"])
    c = "/api/v1/commands?"
    assert ids(s.api("GET", c)) == (m[::-1], 2)
    assert ids(s.api("GET", c + "sort=started_at")) == (m, 2)
    assert ids(s.api("GET", c + "sort=jid&page[offset]=1")) == (m[1:], 2)
    assert ids(s.api("GET", c + "filter[jid]=%s" % m[0])) == ([m[0]], 1)
    assert ids(s.api("GET", c + "filter[created_by]=adm*")) == (m[::-1], 2)
    assert ids(s.api("GET", c + "filter[created_by]=nobody")) == ([], 0)
    assert ids(s.api("GET", c + "filter[started_at][gt]=2000-01-01T00:00:00Z")) == (m[::-1], 2)
    assert ids(s.api("GET", c + "filter[started_at][lt]=2000-01-01T00:00:00Z")) == ([], 0)
    st, j = s.api("GET", c + "fields[commands]=jid&sort=jid")
    assert j["data"] == [{"jid": x} for x in m], j
    for q, title in [("filter[bogus]=x", "unsupported filter field 'bogus'"),
                     ("filter[status]=x", "unsupported filter field 'status'"),
                     ("sort=bogus", "unsupported sort field 'bogus'")]:
        r = s.api("GET", c + q)
        assert r[0] == 400 and error_title(r) == title, (q, r)


# ---- item 6: interpreters --------------------------------------------------

def test_interpreter_rule_as_rport(server, my_client):
    s = server
    # cmd and powershell pass the server: the Linux agent decides (409).
    for name in ["cmd", "powershell"]:
        r = s.api("POST", "/api/v1/clients/my-client/commands",
                  {"command": "dir", "interpreter": name})
        assert r[0] == 409 and error_title(r).startswith("client error: "), (name, r)
    r = s.api("POST", "/api/v1/clients/my-client/commands",
              {"command": "true", "interpreter": "bogus"})
    assert r[0] == 400 and error_title(r) == "Invalid interpreter.", r
    assert r[1]["errors"][0]["detail"] == \
        "expected interpreter to be one of: [cmd powershell tacoscript], actual: bogus", r
    r = s.api("POST", "/api/v1/clients/my-client/commands",
              {"command": "true", "interpreter": "tacoscript"})
    assert r[1]["errors"][0]["detail"] == \
        "tacoscript interpreter can't be used for commands execution", r


# ---- item 4: shapes and titles ---------------------------------------------

def test_script_and_ws_titles_as_rport(server, my_client):
    s = server
    r = s.api("POST", "/api/v1/clients/my-client/scripts", {"script": ""})
    assert r[0] == 400 and error_title(r) == "Missing script body", r
    r = s.api("POST", "/api/v1/clients/my-client/scripts", {"script": "!!!!"})
    assert r[0] == 400 and error_title(r) == "illegal base64 data at input byte 0", r
    frames = ws_exchange(s, "/api/v1/ws/commands", {})
    assert frames[0]["errors"][0]["title"] == "Missing targeting parameters.", frames
    st, j = s.api("GET", "/api/v1/commands/nosuch/jobs")
    assert st == 200 and j["data"] == [] and j["meta"]["count"] == 0, (st, j)


def test_status_me_and_routes_as_rport(fleet, server, my_client):
    s = server
    fleet.agent(s, "gone", tags=("linux", "old")).stop()
    s.wait_disconnected("gone")
    st, j = s.api("GET", "/api/v1/status")
    d = j["data"]
    assert st == 200 and d["clients_connected"] == 1 and d["clients_disconnected"] == 1, j
    assert d["version"] and d["connect_url"] == ["ws://" + s.agent_address], d
    for k in ["clients_auth_source", "clients_auth_mode", "fingerprint", "users_auth_source",
              "two_fa_enabled", "tunnel_proxy_enabled", "used_ports", "excluded_ports",
              "password_min_length"]:
        assert k in d, (k, d)
    st, j = s.api("GET", "/api/v1/me")
    assert j["data"]["username"] == "admin" and "Administrators" in j["data"]["groups"], j
    assert j["data"]["effective_user_permissions"]["commands"] is True, j
    st, j = s.api("GET", "/api/v1/me/ip")
    assert st == 200 and j["data"]["ip"] == "127.0.0.1", (st, j)
    st, j = s.api("GET", "/api/v1/client-tags")
    assert st == 200 and {"tag": "old", "client_ids": ["gone"]} in j["data"], j
    assert {"tag": "linux", "client_ids": ["gone", "my-client"]} in j["data"], j
    # clients-auth: one by id, rport's titles
    assert s.api("POST", "/api/v1/clients-auth", {"id": "web", "password": "web-secret"})[0] == 201
    st, j = s.api("GET", "/api/v1/clients-auth/web")
    assert st == 200 and j["data"]["id"] == "web" and "password" not in j["data"], j
    r = s.api("GET", "/api/v1/clients-auth/nosuch")
    assert r[0] == 404 and error_title(r) == "Client Auth with ID=nosuch not found.", r
    r = s.api("POST", "/api/v1/clients-auth", {"id": "web", "password": "web-secret"})
    assert r[0] == 409 and error_title(r) == 'Client Auth with ID "web" already exist.', r
    # user groups: PUT answers 200 with the group, GET one
    st, j = s.api("PUT", "/api/v1/user-groups/ops", {"permissions": {"commands": True}})
    assert st == 200 and j["data"] == {"name": "ops", "permissions": {"commands": True}}, j
    st, j = s.api("GET", "/api/v1/user-groups/ops")
    assert st == 200 and j["data"]["name"] == "ops", j
    assert s.api("GET", "/api/v1/user-groups/nosuch")[0] == 404
    r = s.api("GET", "/api/v1/client-groups/nosuch")
    assert r[0] == 404 and error_title(r) == 'Client Group[id="nosuch"] not found.', r
    # an API token that never expires has no expires_at
    st, j = s.api("POST", "/api/v1/me/tokens", {"name": "ci", "scope": "read"})
    assert st == 200 and "expires_at" not in j["data"], j
    # client-group changes are audited; rport's application names; request a string
    assert s.api("POST", "/api/v1/client-groups", {"id": "g1", "params": {"tag": ["old"]}})[0] == 201
    assert s.api("DELETE", "/api/v1/client-groups/g1")[0] == 204
    s.run("my-client", "echo audited")

    def log():
        return s.api("GET", "/api/v1/auditlog?page[limit]=100")[1]["data"]
    wait_until(lambda: any(e["application"] == "client.command" for e in log()), 10, "audit")
    apps = {(e["application"], e["action"]) for e in log()}
    for want in [("client.group", "create"), ("client.group", "delete"),
                 ("client.auth", "create"), ("auth.user.group", "update"),
                 ("auth.user.me.token", "create"), ("client.command", "execute.start")]:
        assert want in apps, (want, apps)
    e = [e for e in log() if e["application"] == "client.command"][0]
    assert isinstance(e["request"], str) and json.loads(e["request"])["command"] == "echo audited"
    assert e["client_hostname"] and "response" in e, e
    # the response is what the submission answered, as JSON text
    assert json.loads(e["response"]) == {"jid": e["affected_id"]}, e
    failed = [x for x in log() if x["action"] == "failed_login"]
    assert all(x["response"] == "" for x in failed), failed


def test_put_me_changes_ones_own_password(server):
    s = server
    assert s.api("POST", "/api/v1/users", {"username": "carol", "password": "carol-pass-1"})[0] \
        in (200, 201)
    carol = ("carol", "carol-pass-1")
    st, j = s.api("POST", "/api/v1/me/tokens", {"name": "t", "scope": "read+write"}, auth=carol)
    assert st == 200, (st, j)
    token = j["data"]["token"]
    # the old password is required, and a token does not stand for it
    st, j = s.api("PUT", "/api/v1/me", {"password": "carol-pass-2"}, auth=carol)
    assert st == 400 and j["errors"][0]["title"] == "Missing old password.", j
    st, j = s.api("PUT", "/api/v1/me", {"password": "carol-pass-2", "old_password": "wrong-one"},
                  auth=carol)
    assert st == 400 and j["errors"][0]["title"] == "Incorrect old password.", j
    st, j = s.api("PUT", "/api/v1/me", {"password": "carol-pass-2", "old_password": token},
                  auth=("carol", token))
    assert st == 400 and j["errors"][0]["title"] == "Incorrect old password.", j
    st, j = s.api("PUT", "/api/v1/me", {"username": "mallory", "password": "carol-pass-2",
                                        "old_password": "carol-pass-1"}, auth=carol)
    assert st == 400 and j["errors"][0]["title"] == "Invalid user.", j
    st, j = s.api("PUT", "/api/v1/me", {"password": "short", "old_password": "carol-pass-1"},
                  auth=carol)
    assert st == 400 and j["errors"][0]["title"] == "Invalid password.", j
    # rportcli's shape: username kept, 2FA field ignored
    st, j = s.api("PUT", "/api/v1/me", {"username": "carol", "password": "carol-pass-2",
                                        "old_password": "carol-pass-1", "two_fa_send_to": ""},
                  auth=carol)
    assert st == 204, (st, j)
    assert s.api("GET", "/api/v1/me", auth=("carol", "carol-pass-2"))[0] == 200
    assert s.api("GET", "/api/v1/me", auth=carol)[0] == 401
    # the admin from the configuration file cannot be changed through the API
    st, j = s.api("PUT", "/api/v1/me", {"password": "new-admin-pw", "old_password": "foobaz"})
    assert st == 400 and j["errors"][0]["title"] == "User from the configuration file.", j


def test_websocket_without_credentials_is_401_token_required(server):
    import socket
    s = server
    sock = socket.create_connection(("127.0.0.1", s.api_port), timeout=15)
    try:
        sock.sendall(b"GET /api/v1/ws/commands HTTP/1.1\r\nHost: x\r\n"
                     b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     b"Sec-WebSocket-Version: 13\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].startswith(b"HTTP/1.1 401"), data
    assert json.loads(body)["errors"][0]["title"] == "token required", data
