"""Issue 6: the streaming WebSocket API, tokens, and the tether CLI."""
import asyncio
import base64
import json
import os
import signal
import subprocess
import time

import pytest
import websockets

import harness
from harness import cli, wait_until


@pytest.fixture
def three(fleet):
    s = fleet.server().start()
    fleet.agent(s, "web-1", tags=("web",), services=("nginx",))
    fleet.agent(s, "web-2", tags=("web",), services=("nginx",))
    fleet.agent(s, "db-1", tags=("db",), services=("postgres",))
    return s


def ws_run(server, request, path="/api/v1/ws/commands", headers=None, query=""):
    """Sends one request frame; returns (frames, close code)."""
    async def go():
        h = headers if headers is not None else {
            "Authorization": "Basic " + base64.b64encode(b"admin:foobaz").decode()}
        frames = []
        async with websockets.connect("ws://127.0.0.1:%d%s%s" % (server.api_port, path, query),
                                      extra_headers=h, max_size=2 ** 26) as ws:
            await ws.send(request if isinstance(request, str) else json.dumps(request))
            try:
                async for m in ws:
                    frames.append(json.loads(m))
            except websockets.ConnectionClosed:
                pass
            return frames, ws.close_code
    return asyncio.run(asyncio.wait_for(go(), 60))


def test_stream_partials_before_finals(three):
    frames, code = ws_run(three, {"command": "echo one; sleep 0.5; echo two",
                                  "client_ids": ["web-1", "web-2", "db-1"],
                                  "execute_concurrently": True})
    assert code == 1000
    partial = [i for i, f in enumerate(frames) if "status" not in f]
    final = [i for i, f in enumerate(frames) if "status" in f]
    assert len(final) == 3
    assert {frames[i]["client_id"] for i in final} == {"web-1", "web-2", "db-1"}
    # each client's live output comes before its final job
    for cid in ("web-1", "web-2", "db-1"):
        p = [i for i in partial if frames[i]["client_id"] == cid]
        f = [i for i in final if frames[i]["client_id"] == cid][0]
        assert p and max(p) < f
        text = "".join(frames[i]["result"].get("stdout", "") for i in p)
        assert text == "one\ntwo\n"
        assert frames[p[0]]["client_name"] == cid and frames[p[0]]["jid"] == frames[f]["jid"]
    assert all(frames[i]["status"] == "successful" for i in final)


@pytest.mark.parametrize("req,title", [
    ("", "Inbound message should contain non empty json object with command data."),
    ("{bad", "Invalid JSON data."),
    ({"command": "", "client_ids": ["web-1"]}, "Command cannot be empty."),
    ({"command": "true"}, "Missing targeting parameters."),
    ({"command": "true", "client_ids": ["nope"]}, 'Client with id="nope" not found.'),
])
def test_stream_errors(three, req, title):
    frames, code = ws_run(three, req)
    assert frames[0]["errors"][0]["title"] == title
    assert len(frames) == 1


def test_stream_auth(three):
    with pytest.raises(websockets.InvalidStatusCode) as e:
        ws_run(three, {"command": "true", "client_ids": ["web-1"]}, headers={})
    assert e.value.status_code == 401
    st, j = three.api("POST", "/api/v1/login?token-lifetime=60")
    tok = j["data"]["token"]
    frames, code = ws_run(three, {"command": "true", "client_ids": ["web-1"]}, headers={},
                          query="?access_token=" + tok)
    assert frames[-1]["status"] == "successful"
    frames, code = ws_run(three, {"command": "true", "client_ids": ["web-1"]},
                          headers={"Authorization": "Bearer " + tok})
    assert frames[-1]["status"] == "successful"
    with pytest.raises(websockets.InvalidStatusCode) as e:
        ws_run(three, {"command": "true", "client_ids": ["web-1"]}, headers={},
               query="?access_token=wrong")
    assert e.value.status_code == 401
    # a browser from another site is refused
    with pytest.raises(websockets.InvalidStatusCode) as e:
        ws_run(three, {"command": "true", "client_ids": ["web-1"]},
               headers={"Authorization": "Bearer " + tok, "Origin": "https://evil.example"})
    assert e.value.status_code == 403


def test_tokens_and_scopes(three):
    st, j = three.api("POST", "/api/v1/login", raw=json.dumps({"username": "admin", "password": "foobaz"}).encode(), auth=None)
    assert st == 200 and j["data"]["token_lifetime"] == 3600
    tok = j["data"]["token"]
    st, _ = three.api("GET", "/api/v1/clients", auth=None, headers={"Authorization": "Bearer " + tok})
    assert st == 200
    st, _ = three.api("DELETE", "/api/v1/logout", auth=None, headers={"Authorization": "Bearer " + tok})
    assert st == 204
    st, _ = three.api("GET", "/api/v1/clients", auth=None, headers={"Authorization": "Bearer " + tok})
    assert st == 401
    st, j = three.api("POST", "/api/v1/me/tokens", {"name": "ro", "scope": "read"})
    assert st == 200
    ro = j["data"]["token"]
    assert three.api("GET", "/api/v1/clients", auth=("admin", ro))[0] == 200
    st, j = three.api("POST", "/api/v1/clients/web-1/commands", {"command": "true"}, auth=("admin", ro))
    assert st == 403 and j["errors"][0]["title"] == "the scope of the provided token is not authorized for this operation"
    with pytest.raises(websockets.InvalidStatusCode) as e:
        ws_run(three, {"command": "true", "client_ids": ["web-1"]},
               headers={"Authorization": "Basic " + base64.b64encode(("admin:" + ro).encode()).decode()})
    assert e.value.status_code == 403
    st, j = three.api("GET", "/api/v1/me/tokens")
    assert [t["name"] for t in j["data"]] == ["ro"] and "token" not in j["data"][0]
    assert three.api("DELETE", "/api/v1/me/tokens/" + j["data"][0]["prefix"])[0] == 204
    assert three.api("GET", "/api/v1/clients", auth=("admin", ro))[0] == 401


def test_cli_exec_all_ok(three):
    r = cli(three, "exec", "-tag", "web", "-concurrent", "echo hello; echo warn >&2")
    assert r.returncode == 0, r.stderr
    assert sorted(l for l in r.stdout.splitlines()) == ["web-1: hello", "web-2: hello"]
    assert "web-1 [stderr]: warn" in r.stderr
    assert "2 / 2 clients completed, 0 failed" in r.stderr


def test_cli_exec_one_failed(three):
    r = cli(three, "exec", "-node", "^web-", "-abort-on-error=false", 'test "$(hostname)" = nohost && true; [ "$TETHER_JOB_ID" ] && exit $(( ${#TETHER_JOB_ID} > 0 ? 0 : 1 ))')
    assert r.returncode == 0
    r = cli(three, "exec", "-client", "web-1", "-client", "db-1", "-concurrent", "exit 3")
    assert r.returncode == 1
    assert "2 / 2 clients completed, 2 failed" in r.stderr
    assert "exit code 3" in r.stderr


def test_cli_exec_services_and_stdin_script(three):
    script = "#!/bin/sh\necho from script\nexit 0\n"
    r = cli(three, "exec", "-service", "postgres", "-", stdin=script)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "db-1: from script"


def test_cli_exec_no_match_and_auth(three):
    r = cli(three, "exec", "-node", "^nothing$", "true")
    assert r.returncode == 3 and "no client matched" in r.stderr
    r = cli(three, "exec", "-client", "web-1", "true", password="wrong")
    assert r.returncode == 4 and "401" in r.stderr
    r = cli(three, "exec", "-bogus", "true")
    assert r.returncode == 2 and "unknown flag -bogus" in r.stderr
    r = subprocess.run([harness.binary("tether"), "-addr", "http://127.0.0.1:1", "clients"],
                       capture_output=True, text=True)
    assert r.returncode == 5


def test_cli_json_output_parses(three):
    r = cli(three, "exec", "-json", "-client", "web-1", "echo j")
    events = [json.loads(l) for l in r.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "summary" and "result" in kinds
    assert events[-1]["completed"] == 1 and events[-1]["failed"] == 0
    out = [e for e in events if e["event"] == "output"]
    assert out and out[0]["data"] == "j\n"


def test_cli_ctrl_c_cancels_remote(three, tmp_path):
    marker = str(tmp_path / "alive")
    e = dict(os.environ, TETHER_ADDR=three.url, TETHER_USER="admin", TETHER_PASSWORD="foobaz",
             HOME=str(tmp_path))
    p = subprocess.Popen([harness.binary("tether"), "exec", "-client", "web-1",
                          "echo started; sleep 60; touch %s" % marker],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)
    wait_until(lambda: any(j["status"] == "running" and j["pid"]
                           for j in three.api("GET", "/api/v1/clients/web-1/commands")[1]["data"]),
               10, "the command to run")
    pid = [j["pid"] for j in three.api("GET", "/api/v1/clients/web-1/commands")[1]["data"]
           if j["status"] == "running"][0]
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 1
    assert "cancelled by admin" in err
    wait_until(lambda: not os.path.exists("/proc/%d" % pid), 10, "the remote process to die")
    assert not os.path.exists(marker)


def test_cli_other_commands(three):
    r = cli(three, "clients")
    assert r.returncode == 0 and "web-1" in r.stdout and "connected" in r.stdout
    r = cli(three, "clients", "-json")
    assert {c["id"] for c in json.loads(r.stdout)} == {"web-1", "web-2", "db-1"}
    r = cli(three, "groups", "create", "webs", "-tag", "web")
    assert r.returncode == 0
    r = cli(three, "groups")
    assert "webs" in r.stdout and "web-1,web-2" in r.stdout
    jid = three.multi({"command": "echo x", "group_ids": ["webs"]})
    three.wait_multi(jid)
    r = cli(three, "jobs")
    assert jid in r.stdout
    r = cli(three, "job", jid)
    assert r.returncode == 0 and "web-1: x" in r.stdout
    r = cli(three, "groups", "delete", "webs")
    assert r.returncode == 0
    for c in ("exec", "clients", "jobs", "job", "groups", "login"):
        r = cli(three, c, "-help")
        assert r.returncode == 0 and "usage:" in r.stdout


def test_cli_login_stores_token(three, tmp_path):
    home = str(tmp_path / "h")
    r = cli(three, "login", env={"HOME": home})
    assert r.returncode == 0, r.stderr
    path = os.path.join(home, ".config", "tether", "token")
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    r = cli(three, "clients", env={"HOME": home}, user="", password="")
    assert r.returncode == 0 and "web-1" in r.stdout


def test_slow_reader_does_not_block(three):
    """A watcher that does not read: the job still finishes, the server
    drops that watcher's partial output (documented) and closes it."""
    import socket
    s = socket.create_connection(("127.0.0.1", three.api_port))
    key = base64.b64encode(os.urandom(16)).decode()
    auth = base64.b64encode(b"admin:foobaz").decode()
    s.sendall(("GET /api/v1/ws/commands?announce=1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
               "Authorization: Basic %s\r\n\r\n" % (key, auth)).encode())
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    payload = json.dumps({"command": "head -c 20000000 /dev/zero | tr '\\0' x",
                          "client_ids": ["web-1"]}).encode()
    mask = os.urandom(4)
    hdr = bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big") + mask
    s.sendall(hdr + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    # never read; the job must still finish on the server
    def finished():
        jobs = three.api("GET", "/api/v1/clients/web-1/commands")[1]["data"]
        return jobs and jobs[0]["status"] != "running"
    wait_until(finished, 30, "the job to finish despite the slow reader")
    j = three.api("GET", "/api/v1/clients/web-1/commands")[1]["data"][0]
    assert j["status"] == "successful"
    s.close()
