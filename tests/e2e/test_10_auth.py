"""Issue 12, items 11 and 12: a client credential is bound to its client id,
two agents with one id do not flap, and brute-force bans are per user and per
address, let valid tokens through, end by themselves and can be listed and
lifted (GET/DELETE /api/v1/bans, tether bans)."""
import asyncio
import base64
import calendar
import http.client
import json
import os
import re
import signal
import sqlite3
import time


import harness
from harness import wait_until


def api_from(server, source, method, path, auth=None, bearer=None, body=None):
    """A request to the API from another loopback source address."""
    c = http.client.HTTPConnection("127.0.0.1", server.api_port, timeout=30,
                                   source_address=(source, 0))
    h = {"Content-Type": "application/json"}
    if auth:
        h["Authorization"] = "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode()
    if bearer:
        h["Authorization"] = "Bearer " + bearer
    try:
        c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
        r = c.getresponse()
        text = r.read()
        return r.status, json.loads(text) if text else None
    finally:
        c.close()


def bans(server, auth=("admin", "foobaz")):
    st, j = server.api("GET", "/api/v1/bans", auth=auth)
    assert st == 200, (st, j)
    assert j["meta"]["count"] == len(j["data"])
    return j["data"]


def ws_status(server, token):
    """Status line of a WebSocket upgrade to /api/v1/ws/commands with a token."""
    import socket
    sock = socket.create_connection(("127.0.0.1", server.api_port))
    try:
        sock.sendall(("GET /api/v1/ws/commands?access_token=%s HTTP/1.1\r\nHost: x\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n" % token).encode())
        return sock.recv(100).split(b"\r\n")[0].decode()
    finally:
        sock.close()


def hello_close(server, cid, auth_id="clientAuth1", password="1234"):
    """Says hello as client cid; returns (error frame message, close code, reason)."""
    import websockets

    async def go():
        async with websockets.connect("ws://127.0.0.1:%d/" % server.agent_port,
                                      subprotocols=["tether.v1"]) as ws:
            await ws.send(json.dumps({"type": "hello", "auth_id": auth_id, "password": password,
                                      "id": cid, "name": cid, "protocol": 1, "running": []}))
            msg = None
            try:
                while True:
                    m = json.loads(await ws.recv())
                    if m["type"] == "error":
                        msg = m["message"]
                    if m["type"] == "welcome":
                        return ("welcome", None, None)
            except websockets.ConnectionClosed as e:
                return (msg, e.code, e.reason)
    return asyncio.run(asyncio.wait_for(go(), 30))


# ---- item 11: credentials and client ids -----------------------------------

def test_credential_is_bound_to_its_client_id(fleet):
    # clientAuth1 is not shared here (the harness shares it for its fleets)
    s = fleet.server(extra="[server]\nshared_client_auth = []\n").start()
    assert s.api("POST", "/api/v1/clients-auth", {"id": "web-1", "password": "web-1-secret"})[0] == 201
    fleet.agent(s, "web-1", auth="web-1:web-1-secret")
    # the same valid credential cannot claim another id
    other = fleet.agent(s, "web-2", auth="web-1:web-1-secret", wait=False)
    wait_until(lambda: "may only connect as client 'web-1', not 'web-2'" in other.proc.output(), 15,
               "the agent to be told why")
    assert "client auth id 'web-1' may not connect as client 'web-2'" in s.proc.output()
    assert s.api("GET", "/api/v1/clients/web-2")[0] == 404
    msg, code, reason = hello_close(s, "db-1", "web-1", "web-1-secret")
    assert code == 4001 and reason == "credential bound to another client id", (msg, code, reason)
    # the configuration's credential likewise: only client "clientAuth1"
    assert hello_close(s, "my-client")[1] == 4001
    assert hello_close(s, "clientAuth1")[0] == "welcome"
    # every refusal is in the audit log
    db = sqlite3.connect(os.path.join(s.dir, "data", "tether.db"))
    rows = db.execute("SELECT username, client_id FROM auditlog WHERE action = 'id_refused'").fetchall()
    assert ("web-1", "db-1") in rows and ("clientAuth1", "my-client") in rows
    st, j = s.api("GET", "/api/v1/clients-auth")
    assert {c["id"]: c["shared"] for c in j["data"]} == {"clientAuth1": False, "web-1": False}


def test_shared_credential_only_where_configured(fleet):
    s = fleet.server(extra='[server]\nshared_client_auth = ["clientAuth1", "team"]\n').start()
    s.api("POST", "/api/v1/clients-auth", {"id": "team", "password": "team-secret"})
    s.api("POST", "/api/v1/clients-auth", {"id": "solo", "password": "solo-secret"})
    fleet.agent(s, "node-1", auth="team:team-secret")
    fleet.agent(s, "node-2", auth="team:team-secret")
    fleet.agent(s, "node-3")                       # clientAuth1, shared
    assert hello_close(s, "node-4", "solo", "solo-secret")[1] == 4001
    st, j = s.api("GET", "/api/v1/clients-auth")
    assert {c["id"]: c["shared"] for c in j["data"]} == {"clientAuth1": True, "team": True,
                                                          "solo": False}
    # a bad list is refused at start, with the key and the line
    bad = fleet.server(extra='[server]\nshared_client_auth = "clientAuth1"\n')
    bad.proc = harness.Proc([harness.binary("tetherd"), "-c", bad.config], "tetherd-bad")
    wait_until(lambda: not bad.proc.alive(), 10, "tetherd to refuse the configuration")
    assert "server.shared_client_auth must be an array of strings" in bad.proc.output()


def refusals(server):
    return server.proc.output().count("refused a second connection")


def test_two_agents_with_one_id_do_not_flap(fleet):
    s = fleet.server().start()
    first = fleet.agent(s, "dup", tags=("first",))
    # the second backs off as an agent does by default (from 1 s, doubling)
    second = fleet.agent(s, "dup", tags=("second",), wait=False,
                         extra="[connection]\nmin_retry_interval = '1s'\nmax_retry_interval = '30s'\n")
    wait_until(lambda: refusals(s) >= 1, 15, "the second connection to be refused")
    t0 = time.monotonic()
    # for 8 s the first keeps the id: never replaced, never disconnected
    while time.monotonic() - t0 < 8:
        c = s.client("dup")
        assert c["connection_state"] == "connected" and c["tags"] == ["first"], c
        time.sleep(0.2)
    out = s.proc.output()
    assert "replaces the one" not in out
    assert "disconnected from" not in first.proc.output()
    # one server line and one agent line per refused attempt, with backoff:
    # 1 s, 2 s, 4 s (halved at random) leave at most 5 attempts in 8 s
    n = refusals(s)
    told = second.proc.output().count("client id 'dup' is in use by a live connection")
    assert 2 <= n <= 5, out
    assert abs(told - n) <= 1, (told, n)
    jid = s.run("dup", {"command": "echo from-first"})
    assert s.wait_job("dup", jid)["result"]["stdout"] == "from-first\n"
    # a raw client sees the close code and the reason
    msg, code, reason = hello_close(s, "dup")
    assert (code, reason) == (4005, "client id in use"), (msg, code, reason)
    assert "client id 'dup' is in use by a live connection" in msg
    # when the first leaves, the second gets the id at its next attempt
    first.stop()
    wait_until(lambda: (s.client("dup") or {}).get("tags") == ["second"]
               and s.client("dup")["connection_state"] == "connected", 40, "the second to connect")


def test_dead_connection_is_replaced_and_does_not_come_back(fleet):
    # the sweep would drop a silent agent after 600 s: the newcomer's probe
    # finds it dead much sooner
    s = fleet.server(extra="[server]\nheartbeat_timeout_sec = 600\n").start()
    first = fleet.agent(s, "dup", tags=("first",))
    first.proc.signal(signal.SIGSTOP)
    try:
        fleet.agent(s, "dup", tags=("second",), wait=False)
        t0 = time.monotonic()
        wait_until(lambda: (s.client("dup") or {}).get("tags") == ["second"], 20,
                   "the newcomer to replace the dead connection")
        assert time.monotonic() - t0 < 15
        assert "deaf to a heartbeat" in s.proc.output()
    finally:
        first.proc.signal(signal.SIGCONT)
    # the first wakes up to a dropped connection; now it is the newcomer
    wait_until(lambda: "client id 'dup' is in use" in first.proc.output(), 20,
               "the first to be refused")
    for _ in range(10):
        assert s.client("dup")["tags"] == ["second"]
        time.sleep(0.2)


# ---- item 12: bans -----------------------------------------------------------

LIMITS = "[api]\nmax_failed_login = 3\nban_time = 3600\nuser_login_wait = 0\n"


def test_address_ban_lets_valid_tokens_through(fleet):
    s = fleet.server(relaxed=False, extra=LIMITS).start()
    st, j = s.api("POST", "/api/v1/me/tokens", {"name": "ops", "scope": "read+write"})
    api_token = j["data"]["token"]
    st, j = s.api("POST", "/api/v1/login")
    bearer = j["data"]["token"]
    for u in ("u1", "u2", "u3"):   # three names, one address: a shared bastion
        assert s.api("GET", "/api/v1/clients", auth=(u, "guess"))[0] == 401
    st, j = s.api("GET", "/api/v1/clients")
    assert st == 423 and j["errors"][0]["title"] == "Too many bad attempts. Please try later."
    assert s.api("POST", "/api/v1/login", body={"username": "admin", "password": "foobaz"},
                 auth=None)[0] == 423
    # valid tokens are no guesses: they pass the address ban
    assert s.api("GET", "/api/v1/clients", auth=("admin", api_token))[0] == 200
    assert s.api("GET", "/api/v1/clients", auth=None,
                 headers={"Authorization": "Bearer " + bearer})[0] == 200
    assert ws_status(s, bearer) == "HTTP/1.1 101 Switching Protocols"
    # a forged token gets 401 and no password check
    forged = api_token[:9] + ("A" if api_token[9] != "A" else "B") + api_token[10:]
    assert s.api("GET", "/api/v1/clients", auth=("admin", forged))[0] == 401
    # another address is not affected
    assert api_from(s, "127.0.0.2", "GET", "/api/v1/clients", auth=("admin", "foobaz"))[0] == 200
    b = bans(s, auth=("admin", api_token))
    assert [(x["kind"], x["key"], x["listener"]) for x in b] == [("address", "127.0.0.1", "api")], b
    assert b[0]["failures"] >= 3
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", b[0]["banned_until"]), b
    until = calendar.timegm(time.strptime(b[0]["banned_until"], "%Y-%m-%dT%H:%M:%SZ"))
    assert 3500 < until - time.time() <= 3601


def test_guesses_on_the_elastic_face_count_with_rports(fleet):
    """One guard for the API listener: a guess on Kibana's face counts as one
    on rport's (an attacker does not get max_failed_login on each face), and
    /api/v1/bans shows and lifts the ban."""
    s = fleet.server(relaxed=False, extra=LIMITS).start()
    src = "127.0.0.6"
    assert api_from(s, src, "GET", "/api/v1/clients", auth=("u1", "guess"))[0] == 401
    assert api_from(s, src, "GET", "/api/endpoint/action", auth=("u2", "guess"))[0] == 401
    assert api_from(s, src, "GET", "/api/endpoint/action", auth=("u3", "guess"))[0] == 401
    st, j = api_from(s, src, "GET", "/api/v1/clients", auth=("admin", "foobaz"))
    assert st == 423 and j["errors"][0]["title"] == "Too many bad attempts. Please try later.", j
    st, j = api_from(s, src, "GET", "/api/endpoint/action", auth=("admin", "foobaz"))
    assert st == 423 and j["statusCode"] == 423, (st, j)   # Kibana's envelope
    b = bans(s)
    assert [(x["kind"], x["key"], x["failures"]) for x in b] == [("address", src, 3)], b
    assert s.api("DELETE", "/api/v1/bans/address/" + src)[0] == 204
    assert api_from(s, src, "GET", "/api/endpoint/action", auth=("admin", "foobaz"))[0] == 200


def test_user_ban_from_many_addresses(fleet):
    s = fleet.server(relaxed=False, extra=LIMITS).start()
    assert s.api("POST", "/api/v1/users", {"username": "alice", "password": "alice-password"})[0] \
        in (200, 201)
    st, j = api_from(s, "127.0.0.9", "POST", "/api/v1/me/tokens", auth=("alice", "alice-password"),
                     body={"name": "alice-cli", "scope": "read"})
    assert st == 200, (st, j)
    alice_token = j["data"]["token"]
    # one guess each from three addresses: no address is banned, alice is
    for src in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
        assert api_from(s, src, "GET", "/api/v1/clients", auth=("alice", "guess"))[0] == 401
    st, j = api_from(s, "127.0.0.5", "GET", "/api/v1/clients", auth=("alice", "alice-password"))
    assert st == 423 and j["errors"][0]["title"] == "Too many bad attempts. Please try later."
    # her token still works, and so does everyone else at those addresses
    assert api_from(s, "127.0.0.5", "GET", "/api/v1/clients", auth=("alice", alice_token))[0] == 200
    assert api_from(s, "127.0.0.2", "GET", "/api/v1/clients", auth=("admin", "foobaz"))[0] == 200
    b = bans(s)
    assert [(x["kind"], x["key"], x["failures"]) for x in b] == [("user", "alice", 3)], b


def test_bans_list_lift_audit_and_expiry(fleet, tmp_path, monkeypatch):
    clock = tmp_path / "clock"
    clock.write_text("0")
    monkeypatch.setenv("TETHER_TEST_CLOCK_FILE", str(clock))
    s = fleet.server(relaxed=False, extra=LIMITS).start()
    assert s.api("POST", "/api/v1/users", {"username": "bob", "password": "bob-password"})[0] in (200, 201)
    for src in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
        api_from(s, src, "GET", "/api/v1/clients", auth=("alice", "guess"))
    for u in ("x1", "x2", "x3"):
        api_from(s, "127.0.0.6", "GET", "/api/v1/clients", auth=(u, "guess"))
    r = harness.cli(s, "bans")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["KIND", "KEY", "FAILURES", "BANNED", "UNTIL", "LISTENER"]
    assert [l.split()[:3] for l in lines[1:]] == [["address", "127.0.0.6", "3"],
                                                   ["user", "alice", "3"]], r.stdout
    r = harness.cli(s, "bans", "-json")
    assert r.returncode == 0 and {(b["kind"], b["key"]) for b in json.loads(r.stdout)} == \
        {("address", "127.0.0.6"), ("user", "alice")}
    # only administrators see or lift bans
    assert s.api("GET", "/api/v1/bans", auth=("bob", "bob-password"))[0] == 403
    assert s.api("DELETE", "/api/v1/bans/user/alice", auth=("bob", "bob-password"))[0] == 403
    # lifting
    r = harness.cli(s, "bans", "lift", "address", "127.0.0.6")
    assert r.returncode == 0 and "lifted" in r.stdout, r.stderr
    assert api_from(s, "127.0.0.6", "GET", "/api/v1/clients", auth=("admin", "foobaz"))[0] == 200
    assert [b["kind"] for b in bans(s)] == ["user"]
    st, j = s.api("DELETE", "/api/v1/bans/address/127.0.0.6")
    assert st == 404 and j["errors"][0]["title"] == 'Ban of address "127.0.0.6" not found.', j
    st, j = s.api("DELETE", "/api/v1/bans/group/x")
    assert st == 400 and "user" in j["errors"][0]["detail"], j
    r = harness.cli(s, "bans", "lift", "user", "nobody")
    assert r.returncode == 2 and "not found" in r.stderr
    db = sqlite3.connect(os.path.join(s.dir, "data", "tether.db"))
    rows = db.execute("SELECT username, application, action, affected_id, success FROM auditlog "
                      "WHERE application = 'bans'").fetchall()
    assert rows == [("admin", "bans", "delete", "address/127.0.0.6", 1)], rows
    # bans end by themselves at ban_time (the test clock moves, nobody waits)
    clock.write_text("3000")
    assert [b["key"] for b in bans(s)] == ["alice"]
    clock.write_text("3601")
    assert bans(s) == []
    assert api_from(s, "127.0.0.7", "GET", "/api/v1/clients", auth=("admin", "foobaz"))[0] == 200
    # and a new failure starts a fresh count
    api_from(s, "127.0.0.7", "GET", "/api/v1/clients", auth=("alice", "guess"))
    assert bans(s) == []


def test_agent_address_ban_listed_and_lifted(fleet):
    s = fleet.server(relaxed=False,
                     extra="[server]\nmax_failed_login = 2\nban_time = 3600\nclient_login_wait = 0\n").start()
    bad = fleet.agent(s, "intruder", auth="clientAuth1:wrong", wait=False)
    wait_until(lambda: [b for b in bans(s) if b["listener"] == "agents"], 15, "the agent ban")
    bad.stop()
    b = bans(s)
    assert [(x["kind"], x["key"], x["listener"]) for x in b] == [("address", "127.0.0.1", "agents")]
    good = fleet.agent(s, "legit", wait=False)
    wait_until(lambda: "Too many bad attempts" in good.proc.output(), 15, "the ban to apply")
    # the API at the same address is not banned by agents' failures
    assert s.api("GET", "/api/v1/clients")[0] == 200
    assert s.api("DELETE", "/api/v1/bans/address/127.0.0.1")[0] == 204
    s.wait_connected("legit", timeout=20)
    assert bans(s) == []


def ws_basic_status(server, user, password):
    """Status line of a WebSocket upgrade to /api/v1/ws/commands with Basic
    credentials; for a refusal that comes after the upgrade (a password is
    checked off the loop), the close that follows counts as the answer."""
    import socket
    cred = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    sock = socket.create_connection(("127.0.0.1", server.api_port), timeout=15)
    try:
        sock.sendall(("GET /api/v1/ws/commands HTTP/1.1\r\nHost: x\r\n"
                      "Authorization: Basic %s\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n" % cred).encode())
        data = b""
        while True:   # read until the server closes: the check is over
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.split(b"\r\n")[0].decode()
    finally:
        sock.close()


def test_websocket_password_guesses_count_toward_bans(fleet):
    s = fleet.server(relaxed=False, extra=LIMITS).start()
    for _ in range(3):
        ws_basic_status(s, "mallory", "guess")
    # the address is banned now, for REST too
    st, j = s.api("GET", "/api/v1/clients")
    assert st == 423, (st, j)
    st, j = api_from(s, "127.0.0.2", "GET", "/api/v1/bans", auth=("admin", "foobaz"))
    assert st == 200, (st, j)
    assert ("address", "127.0.0.1") in [(x["kind"], x["key"]) for x in j["data"]], j
    st, j = api_from(s, "127.0.0.2", "GET", "/api/v1/auditlog?filter[action]=failed_login",
                     auth=("admin", "foobaz"))
    assert st == 200 and j["meta"]["count"] >= 3, j


def test_token_logins_do_not_reset_a_users_failures(fleet):
    s = fleet.server(relaxed=False, extra=LIMITS).start()
    assert s.api("POST", "/api/v1/users", {"username": "alice", "password": "alice-password"})[0] \
        in (200, 201)
    st, j = api_from(s, "127.0.0.9", "POST", "/api/v1/me/tokens", auth=("alice", "alice-password"),
                     body={"name": "alice-cli", "scope": "read"})
    assert st == 200, (st, j)
    token = j["data"]["token"]
    # guesses from two addresses, each followed by alice's own token script
    for src in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
        assert api_from(s, src, "GET", "/api/v1/clients", auth=("alice", "guess"))[0] == 401
        assert api_from(s, "127.0.0.9", "GET", "/api/v1/clients", auth=("alice", token))[0] == 200
    # the third guess banned the name: the token uses in between forgot nothing
    st, _ = api_from(s, "127.0.0.5", "GET", "/api/v1/clients", auth=("alice", "alice-password"))
    assert st == 423
