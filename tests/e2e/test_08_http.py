"""Issue 12: the HTTP server. Listeners bind exactly what is configured;
authentication comes before any body is read and bodies in flight are
capped; HTTPS and WSS work with curl's defaults, python3-requests,
python3-websocket, the tether CLI and Chromium; a same-origin WebSocket is
accepted, a cross-origin one only when listed."""
import base64
import http.server
import json
import os
import socket
import ssl
import subprocess
import threading
import time

import pytest

import harness
from harness import wait_until

AUTH = "Basic " + base64.b64encode(b"admin:foobaz").decode()


def answers(host, port, timeout=3):
    """True if something accepts a TCP connection there."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def get_status(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect((host, port))
    s.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: " + AUTH.encode() +
              b"\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        data += c
    s.close()
    return data


def agent_hello_over(host, port):
    """A WebSocket agent hello on the agent listener: the welcome's type."""
    import asyncio
    import websockets

    async def go():
        url = "ws://%s:%d/" % ("[%s]" % host if ":" in host else host, port)
        async with websockets.connect(url, subprotocols=["tether.v1"]) as ws:
            await ws.send(harness.agent_hello("v6-agent"))
            return json.loads(await ws.recv())["type"]
    return asyncio.run(asyncio.wait_for(go(), 15))


def test_listeners_bind_only_the_configured_address(fleet):
    s = fleet.server().start()  # both listeners on 127.0.0.1
    for port in (s.api_port, s.agent_port):
        assert answers("127.0.0.1", port)
        assert not answers("127.0.0.2", port), "127.0.0.2:%d answers" % port
        assert not answers("::1", port), "[::1]:%d answers" % port
    out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
    for port in (s.api_port, s.agent_port):
        lines = [l for l in out.splitlines() if l.split()[3].endswith(":%d" % port)]
        assert lines and all(l.split()[3] == "127.0.0.1:%d" % port for l in lines), lines


def hold_ipv4_ports():
    """Two ports, each bound (not listening) on 127.0.0.1 by this test: no
    other process of a parallel run can listen there meanwhile, so a
    connection to them answers only if tetherd bound more than [::1] (and
    a tetherd binding every address could not start at all)."""
    while True:
        held = []
        try:
            for _ in range(2):
                k = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                held.append(k)
                k.bind(("127.0.0.1", harness.free_port()))
            return held
        except OSError:
            for k in held:
                k.close()


def test_ipv6_loopback_listeners(fleet):
    held = hold_ipv4_ports()
    ap, gp = (k.getsockname()[1] for k in held)
    try:
        s = fleet.server(api_port=ap, agent_port=gp,
                         extra='[api]\naddress = "[::1]:%d"\n[server]\naddress = "[::1]:%d"\n'
                         % (ap, gp))
        s.start(wait=False)
        wait_until(lambda: answers("::1", s.api_port, 1), 15, "the API on [::1]")
        assert get_status("::1", s.api_port).startswith(b"HTTP/1.1 200")
        assert not answers("127.0.0.1", s.api_port) and not answers("127.0.0.1", s.agent_port)
        assert agent_hello_over("::1", s.agent_port) == "welcome"
    finally:
        for k in held:
            k.close()


def test_host_name_binds_each_of_its_addresses(fleet):
    names = socket.getaddrinfo("localhost", 1, type=socket.SOCK_STREAM)
    fams = {n[0] for n in names}
    ap = harness.free_port()
    s = fleet.server(api_port=ap, extra='[api]\naddress = "localhost:%d"\n' % ap)
    s.start(wait=False)
    wait_until(lambda: answers("127.0.0.1", s.api_port, 1), 15, "the API on localhost")
    assert get_status("127.0.0.1", s.api_port).startswith(b"HTTP/1.1 200")
    if socket.AF_INET6 in fams:
        assert get_status("::1", s.api_port).startswith(b"HTTP/1.1 200")
    assert not answers("127.0.0.2", s.api_port)


def rss_mb(pid):
    return harness.rss_kb(pid) / 1024


def test_anonymous_bodies_are_refused_before_they_are_read(fleet):
    """200 connections announce a 1 MB body without credentials and send it
    a byte at a time: each gets 401 at once, and tetherd's memory does not
    grow by the announced bodies."""
    s = fleet.server().start()
    pid = s.proc.p.pid
    base = rss_mb(pid)
    socks = []
    for _ in range(200):
        c = socket.create_connection(("127.0.0.1", s.api_port), timeout=10)
        c.sendall(b"POST /api/v1/commands HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1048576\r\n\r\n{")
        socks.append(c)
    refused = 0
    for c in socks:
        try:
            c.sendall(b"x")
        except OSError:
            pass
        try:
            refused += c.recv(64).startswith(b"HTTP/1.1 401")
        except OSError:
            pass
    grown = rss_mb(pid) - base
    for c in socks:
        c.close()
    assert refused == 200, refused
    assert grown < 40, "tetherd grew by %.0f MB" % grown
    assert s.api("GET", "/api/v1/status")[0] == 200


def test_bodies_in_flight_are_capped(fleet):
    """With max_bodies_bytes = 1 MiB, a second 600 kB body while the first
    is still coming is refused at once with 503 in the JSON envelope; once
    the first is done, bodies are taken again."""
    s = fleet.server(extra="[api]\nmax_bodies_bytes = 1048576\n").start()
    fleet.agent(s, "a1")
    body = json.dumps({"command": "true", "client_ids": ["a1"], "x": "y" * 600000}).encode()
    head = (b"POST /api/v1/commands HTTP/1.1\r\nHost: x\r\nAuthorization: " + AUTH.encode() +
            b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
    first = socket.create_connection(("127.0.0.1", s.api_port), timeout=10)
    first.sendall(head + body[:1000])
    time.sleep(0.3)  # the first body is being read: the state under test
    second = socket.create_connection(("127.0.0.1", s.api_port), timeout=10)
    second.sendall(head + body[:1000])
    got = second.recv(4096)
    assert got.startswith(b"HTTP/1.1 503"), got
    err = json.loads(got.split(b"\r\n\r\n", 1)[1])
    assert "in flight" in err["errors"][0]["detail"]
    second.close()
    first.sendall(body[1000:])
    got = first.recv(4096)
    assert got.startswith(b"HTTP/1.1 400"), got  # unknown field "x": the body was read whole
    first.close()
    st, j = s.api("POST", "/api/v1/commands", {"command": "true", "client_ids": ["a1"]})
    assert st == 200, j


def test_pipelined_requests_are_answered_in_order(fleet):
    s = fleet.server().start()
    reqs = b""
    for i in range(20):
        reqs += (b"GET /api/v1/clients/c%d HTTP/1.1\r\nHost: x\r\nAuthorization: " % i +
                 AUTH.encode() + b"\r\n\r\n")
    c = socket.create_connection(("127.0.0.1", s.api_port), timeout=10)
    c.sendall(reqs)
    data = b""
    while data.count(b"HTTP/1.1 404") < 20:
        chunk = c.recv(65536)
        assert chunk, data
        data += chunk
    c.close()
    order = [int(x.split(b'\\"')[0]) for x in data.split(b'id=\\"c')[1:]]
    assert order == list(range(20)), order


# ---- TLS ---------------------------------------------------------------

def make_ca_and_cert(d):
    def run(*a):
        subprocess.run(a, check=True, capture_output=True, cwd=d)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
        "ca.pem", "-days", "30", "-subj", "/CN=tether test CA")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr",
        "-subj", "/CN=localhost")
    with open(os.path.join(d, "ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "srv.pem", "-days", "30", "-extfile", "ext")


@pytest.fixture
def tls_server(fleet, tmp_path):
    d = str(tmp_path / "pki")
    os.makedirs(d)
    make_ca_and_cert(d)
    page_port = harness.free_port()
    s = fleet.server(extra='[api]\ntls_cert = "%s/srv.pem"\ntls_key = "%s/srv.key"\n'
                     'allowed_origins = "http://127.0.0.1:%d"\n' % (d, d, page_port))
    s.start(wait=False)
    url = "https://localhost:%d" % s.api_port

    def up():
        r = subprocess.run(["curl", "-s", "--cacert", d + "/ca.pem", "-o", "/dev/null", "-w",
                            "%{http_code}", url + "/api/v1/status"], capture_output=True, text=True)
        return r.stdout == "401"
    wait_until(up, 15, "tetherd over TLS")
    fleet.agent(s, "good", wait=False)

    def connected():
        r = subprocess.run(["curl", "-s", "--cacert", d + "/ca.pem", "-u", "admin:foobaz",
                            url + "/api/v1/clients/good"], capture_output=True, text=True)
        return '"connection_state":"connected"' in r.stdout
    wait_until(connected, 15, "the agent to connect")
    return s, d, url, page_port


def test_https_with_curl_defaults_and_requests(tls_server):
    s, d, url, _ = tls_server
    # curl's defaults offer h2 by ALPN: the server picks http/1.1
    r = subprocess.run(["curl", "-sv", "--cacert", d + "/ca.pem", "-u", "admin:foobaz",
                        url + "/api/v1/status"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["data"]["version"]
    assert "ALPN: server accepted http/1.1" in r.stderr, r.stderr
    # curl with a body (Expect: 100-continue past 1 kB)
    r = subprocess.run(["curl", "-s", "--cacert", d + "/ca.pem", "-u", "admin:foobaz", "-H",
                        "Content-Type: application/json", "-d",
                        json.dumps({"command": "echo " + "x" * 2000, "client_ids": ["good"]}),
                        url + "/api/v1/commands"], capture_output=True, text=True)
    assert json.loads(r.stdout)["data"]["jid"], r.stdout
    import requests
    j = requests.get(url + "/api/v1/status", auth=("admin", "foobaz"), verify=d + "/ca.pem",
                     timeout=10).json()
    assert j["data"]["version"]
    with requests.Session() as sess:  # keep-alive over TLS
        for _ in range(5):
            assert sess.get(url + "/api/v1/clients", auth=("admin", "foobaz"),
                            verify=d + "/ca.pem", timeout=10).status_code == 200


def test_wss_with_python_websocket_same_origin(tls_server):
    """python3-websocket sends an Origin (http://localhost:PORT, even for
    wss://): the server's own origin, accepted."""
    import websocket
    s, d, url, _ = tls_server
    ws = websocket.create_connection("wss://localhost:%d/api/v1/ws/commands" % s.api_port,
                                     sslopt={"ca_certs": d + "/ca.pem"},
                                     header=["Authorization: " + AUTH], timeout=15)
    ws.send(json.dumps({"command": "echo over wss", "client_ids": ["good"]}))
    seen = ""
    while "over wss" not in seen:
        seen += ws.recv()
    ws.close()


def test_tether_cli_over_https(tls_server):
    """The CLI (libcurl) trusts the system's CA bundle; a private mount
    namespace puts the test CA there for this one process."""
    s, d, url, _ = tls_server
    env = dict(os.environ, TETHER_ADDR=url, TETHER_USER="admin", TETHER_PASSWORD="foobaz",
               HOME=os.path.join(s.dir, "home"))
    r = subprocess.run(["unshare", "-m", "sh", "-c",
                        'mount --bind "$0" /etc/ssl/certs/ca-certificates.crt && exec "$@"',
                        d + "/ca.pem", harness.binary("tether"), "clients"],
                       capture_output=True, text=True, env=env, timeout=60)
    if "unshare" in r.stderr and r.returncode != 0:
        pytest.skip("no mount namespace here: " + r.stderr)
    assert r.returncode == 0, r.stderr
    assert "good" in r.stdout


def chromium():
    for name in ("chromium", "chromium-browser"):
        path = subprocess.run(["sh", "-c", "command -v " + name], capture_output=True,
                              text=True).stdout.strip()
        if path:
            return path
    pytest.skip("chromium is not installed (scripts/deps.sh installs it)")


def test_chromium_https_and_wss(tls_server, tmp_path):
    s, d, url, page_port = tls_server
    browser = chromium()
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors",
              "--user-data-dir=" + str(tmp_path / "chrome")]
    r = subprocess.run(common + ["--dump-dom", "https://127.0.0.1:%d/api/v1/status" % s.api_port],
                       capture_output=True, text=True, timeout=120)
    assert "unauthorized" in r.stdout, (r.stdout[-500:], r.stderr[-1500:])
    # A page from an allowed origin opens a wss:// socket and runs a command.
    tok = json.loads(subprocess.run(
        ["curl", "-s", "--cacert", d + "/ca.pem", "-u", "admin:foobaz", "-X", "POST",
         url + "/api/v1/login"], capture_output=True, text=True).stdout)["data"]["token"]
    page = ("<html><body><pre id=out>waiting</pre><script>"
            "var ws = new WebSocket('wss://127.0.0.1:%d/api/v1/ws/commands?access_token=%s');"
            "var out = document.getElementById('out'); out.textContent = '';"
            "ws.onopen = function() { ws.send(JSON.stringify({command: 'echo from chromium',"
            " client_ids: ['good']})); };"
            "ws.onmessage = function(e) { out.textContent += e.data; };"
            "ws.onerror = function() { out.textContent += 'ERROR'; };"
            "</script></body></html>") % (s.api_port, tok)
    root = tmp_path / "www"
    root.mkdir()
    (root / "page.html").write_text(page)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):
            pass
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", page_port), Quiet)
    th = threading.Thread(target=httpd.serve_forever, daemon=True)
    th.start()
    try:
        r = subprocess.run(common + ["--virtual-time-budget=15000", "--dump-dom",
                                     "http://127.0.0.1:%d/page.html" % page_port],
                           capture_output=True, text=True, timeout=120)
    finally:
        httpd.shutdown()
    assert "from chromium" in r.stdout, (r.stdout[-1000:], r.stderr[-1500:])


# ---- Origin on the plain listener ----------------------------------------

def test_websocket_origins(fleet):
    import websocket
    s = fleet.server(extra='[api]\nallowed_origins = "http://app.example"\n').start()
    fleet.agent(s, "good")
    base = "ws://localhost:%d/api/v1/ws/commands" % s.api_port

    def run(origin=None):
        kw = {"origin": origin} if origin else {}
        ws = websocket.create_connection(base, header=["Authorization: " + AUTH], timeout=15, **kw)
        ws.send(json.dumps({"command": "echo origin ok", "client_ids": ["good"]}))
        seen = ""
        while "origin ok" not in seen:
            seen += ws.recv()
        ws.close()
    run()                           # python3-websocket's own Origin: http://localhost:PORT
    run("http://app.example")       # listed in allowed_origins
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        run("http://evil.example")  # another site
    assert e.value.status_code == 403
    with pytest.raises(websocket.WebSocketBadStatusException):
        run("https://localhost:%d" % s.api_port)  # not this listener's scheme
