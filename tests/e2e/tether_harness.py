"""Shared end-to-end harness for tether: real `tetherd` / `tether-agent`
processes on random loopback ports, with throwaway data dirs.

Synchronisation is always done by polling a condition with a deadline
(`poll`), never by sleeping a fixed time.

Environment:
  TETHER_BUILD     directory holding tetherd and tether-agent (default <repo>/build)
  TETHER_VALGRIND  "1" wraps every binary in `valgrind --error-exitcode=99 -q`
                   (deadlines are then stretched by VALGRIND_SLOWDOWN)
  TETHER_VALGRIND_ARGS  extra valgrind options, e.g. --suppressions=FILE
  TETHER_TIMEOUT_SCALE  multiplies every deadline (default 1) on slow machines

Typical use (see conftest.py for the fixtures):

    srv = tether.server()                        # started, API answering
    tether.agent("my-client", tags=["linux"])    # started, connected
    jid = tether.run("my-client", "echo hi")
    job = tether.wait_job("my-client", jid)
"""
import base64
import calendar
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.abspath(os.environ.get("TETHER_BUILD") or os.path.join(ROOT, "build"))
VALGRIND = os.environ.get("TETHER_VALGRIND") == "1"
VALGRIND_SLOWDOWN = 8.0 if VALGRIND else 1.0
# every deadline is multiplied by this (for slow or heavily loaded machines)
TIMEOUT_SCALE = float(os.environ.get("TETHER_TIMEOUT_SCALE") or 1.0) * VALGRIND_SLOWDOWN

ADMIN = ("admin", "foobaz")
AGENT_AUTH = "clientAuth1:1234"

# RFC 3339, UTC, with fractional seconds: 2020-10-15T15:30:12.937267522Z
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{1,9}Z$")
UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

# Brute-force limits loosened, for test files that send many bad logins.
RELAXED_LOGIN = """
[server]
max_failed_login = 100000
client_login_wait = 0
[api]
max_failed_login = 100000
user_login_wait = 0
"""


class HarnessError(AssertionError):
    """A process or condition did not behave; the message carries the logs."""


def deadline(seconds):
    """A timeout scaled for valgrind runs and TETHER_TIMEOUT_SCALE."""
    return seconds * TIMEOUT_SCALE


def binary(name):
    path = os.path.join(BUILD, name)
    if not os.access(path, os.X_OK):
        raise HarnessError("%s is not built: expected an executable at %s "
                           "(set TETHER_BUILD or run cmake --build build)" % (name, path))
    return path


def free_port():
    """A loopback port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_rfc3339(ts):
    """Seconds since the epoch of an RFC 3339 UTC timestamp (nanoseconds kept
    as a float fraction); raises ValueError when the form is wrong."""
    if not isinstance(ts, str) or not RFC3339_UTC.match(ts):
        raise ValueError("not an RFC 3339 UTC timestamp with fractional seconds: %r" % (ts,))
    whole, frac = ts[:-1].split(".")
    t = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return t + float("0." + frac)


def poll(cond, timeout=10.0, what="condition", procs=(), interval=0.05):
    """Calls cond() until it returns a truthy value, which is returned.

    Exceptions raised by cond() count as "not yet" (a server still starting,
    say). On timeout raises HarnessError naming `what`, the last value or
    exception, and the stderr of `procs`. Fails early if one of `procs` died.
    """
    end = time.monotonic() + deadline(timeout)
    last = None
    while True:
        try:
            last = cond()
            if last:
                return last
        except HarnessError:
            raise
        except Exception as e:  # noqa: BLE001 - anything means "not yet"
            last = e
        for p in procs:
            if p is not None and not p.alive():
                raise HarnessError("%s exited with %r while waiting for %s (last: %r)\n%s"
                                   % (p.name, p.returncode(), what, last, p.logs()))
        if time.monotonic() >= end:
            raise HarnessError("timed out after %.1fs waiting for %s (last: %r)\n%s"
                               % (deadline(timeout), what, last,
                                  "".join(p.logs() for p in procs if p is not None)))
        time.sleep(interval)


def merge_toml(base, extra):
    """Merges TOML text `extra` into `base`, table by table: a key set in
    `extra` replaces the same key of the same table in `base`, new keys and
    tables are appended. Handles the flat subset the configs use (one
    key per line, multi-line arrays as continuation lines)."""
    def tables(text):
        order, out, cur, key = [""], {"": []}, "", None
        for line in text.splitlines():
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            if s.startswith("[") and not s.startswith("[[") and "=" not in s.split("]")[0]:
                cur, key = s, None
                if cur not in out:
                    out[cur] = []
                    order.append(cur)
                continue
            m = re.match(r"""^\s*([A-Za-z0-9_\-."']+)\s*=""", line)
            if m:
                key = m.group(1).strip("\"'")
                out[cur].append([key, [line]])
            elif out[cur]:
                out[cur][-1][1].append(line)  # continuation of a multi-line value
            else:
                out[cur].append([None, [line]])
        return order, out

    order, a = tables(base)
    order_b, b = tables(extra or "")
    for t in order_b:
        if t not in a:
            a[t] = []
            order.append(t)
        for key, lines in b[t]:
            a[t] = [kv for kv in a[t] if kv[0] is None or kv[0] != key]
            a[t].append([key, lines])
    text = []
    for t in order:
        if not t and not a[t]:
            continue
        if t:
            text.append(t)
        for _, lines in a[t]:
            text.extend(lines)
        text.append("")
    return "\n".join(text)


def toml_str(s):
    """A TOML basic string (JSON escaping is a valid subset)."""
    return json.dumps(str(s))


def toml_array(items):
    return "[" + ", ".join(toml_str(i) for i in items) + "]"


class Proc:
    """One child process; stdout and stderr each go to a file in its dir."""

    def __init__(self, name, argv, workdir, env=None):
        self.name = name
        self.argv = list(argv)
        if VALGRIND:
            self.argv = (["valgrind", "--error-exitcode=99", "-q"]
                         + os.environ.get("TETHER_VALGRIND_ARGS", "").split() + self.argv)
        os.makedirs(workdir, exist_ok=True)
        n = 0
        while os.path.exists(os.path.join(workdir, "%s.%d.stderr" % (name, n))):
            n += 1
        self.err_path = os.path.join(workdir, "%s.%d.stderr" % (name, n))
        self.out_path = os.path.join(workdir, "%s.%d.stdout" % (name, n))
        e = dict(os.environ)
        if env:
            e.update(env)
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.p = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                      stderr=err, env=e)
        self.pid = self.p.pid
        self.killed = False      # SIGKILL was needed at stop()

    def alive(self):
        return self.p.poll() is None

    def returncode(self):
        return self.p.poll()

    def _read(self, path):
        try:
            with open(path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stderr(self):
        return self._read(self.err_path)

    def stdout(self):
        return self._read(self.out_path)

    def logs(self, tail=6000):
        err = self.stderr()
        if len(err) > tail:
            err = "...\n" + err[-tail:]
        out = self.stdout()
        if len(out) > tail // 4:
            out = "...\n" + out[-(tail // 4):]
        state = "running" if self.alive() else "exit %r" % self.returncode()
        s = "---- %s (pid %d, %s) stderr ----\n%s\n" % (self.name, self.pid, state, err)
        if out.strip():
            s += "---- %s stdout ----\n%s\n" % (self.name, out)
        return s

    def signal(self, sig):
        if self.alive():
            self.p.send_signal(sig)

    def wait(self, timeout):
        """The exit code, or None if still running after `timeout` s."""
        try:
            return self.p.wait(deadline(timeout))
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=10.0, sig=None):
        """Signal (SIGTERM), wait, then SIGKILL. Returns the exit code
        (negative = killed by a signal)."""
        if self.alive():
            self.p.send_signal(sig or signal.SIGTERM)
            if self.wait(timeout) is None:
                self.killed = True
                self.p.kill()
                self.p.wait()
        return self.p.returncode

    def kill(self):
        if self.alive():
            self.killed = True
            self.p.kill()
            self.p.wait()
        return self.p.returncode


class HTTPResult(tuple):
    """(status, body) where body is parsed JSON, text, or None when empty;
    `.headers` (lower-case names) and `.raw` (bytes) are also kept."""

    def __new__(cls, status, body, headers, raw):
        r = super().__new__(cls, (status, body))
        r.headers = headers
        r.raw = raw
        return r

    @property
    def status(self):
        return self[0]

    @property
    def body(self):
        return self[1]


def http_request(port, method, path, body=None, raw=None, auth=ADMIN, headers=None,
                 timeout=30.0, host="127.0.0.1"):
    """One HTTP request. `body` is JSON-encoded; `raw` (bytes or str) is sent
    as is and wins over `body`. `auth` is (user, password) for basic auth or
    None. Returns HTTPResult (status, parsed JSON or text). If the server
    answers and closes before the whole body is sent (413, say) the answer is
    still read."""
    if raw is not None:
        data = raw.encode() if isinstance(raw, str) else raw
    elif body is not None:
        data = json.dumps(body).encode()
    else:
        data = None
    h = {}
    if data is not None:
        h["Content-Type"] = "application/json"
    if method in ("POST", "PUT", "PATCH"):
        h["Content-Length"] = str(len(data or b""))
    if auth:
        h["Authorization"] = "Basic " + base64.b64encode(
            ("%s:%s" % tuple(auth)).encode()).decode()
    h.update(headers or {})
    conn = http.client.HTTPConnection(host, port, timeout=deadline(timeout))
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in h.items():
            conn.putheader(k, v)
        conn.endheaders()
        if data:
            try:
                view = memoryview(data)
                for i in range(0, len(view), 65536):
                    conn.sock.sendall(view[i:i + 65536])
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered early; read what it said
        resp = conn.getresponse()
        payload = resp.read()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        status = resp.status
    finally:
        conn.close()
    parsed = None
    if payload:
        try:
            parsed = json.loads(payload)
        except ValueError:
            parsed = payload.decode(errors="replace")
    return HTTPResult(status, parsed, hdrs, payload)


def error_title(result):
    """errors[0].title of an error envelope (asserting its shape)."""
    status, body = result
    assert isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"], \
        "HTTP %s: not an error envelope: %r" % (status, body)
    e = body["errors"][0]
    assert isinstance(e, dict) and isinstance(e.get("title"), str), \
        "HTTP %s: malformed error item: %r" % (status, body)
    return e["title"]


class Server:
    """A tetherd with its own config file and data dir."""

    def __init__(self, tether, name="tetherd", extra="", api_port=None, agent_port=None,
                 user="admin", password="foobaz", auth=AGENT_AUTH):
        self.tether = tether
        self.name = name
        self.dir = tether.mkdir(name)
        self.data_dir = os.path.join(self.dir, "server")
        self.api_port = api_port or free_port()
        self.agent_port = agent_port or free_port()
        self.user, self.password = user, password
        base = """
[server]
address = "127.0.0.1:%d"
auth = %s
shared_client_auth = [%s]
data_dir = %s
[api]
address = "127.0.0.1:%d"
user = %s
password = %s
""" % (self.agent_port, toml_str(auth), toml_str(auth.split(":")[0]),
            toml_str(self.data_dir), self.api_port, toml_str(user), toml_str(password))
        self.config_text = merge_toml(base, extra)
        self.config = os.path.join(self.dir, "tetherd.toml")
        with open(self.config, "w") as f:
            f.write(self.config_text)
        self.proc = None
        self.history = []   # every Proc this server ran (restarts included)

    @property
    def agent_address(self):
        return "127.0.0.1:%d" % self.agent_port

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.api_port

    def start(self, wait=True, args=()):
        assert self.proc is None or not self.proc.alive(), "%s is already running" % self.name
        self.proc = Proc(self.name, [binary("tetherd"), "-c", self.config] + list(args),
                         self.dir)
        self.history.append(self.proc)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=10.0):
        poll(lambda: self.api("GET", "/api/v1/clients", timeout=5)[0] == 200, timeout,
             "%s to answer GET /api/v1/clients with 200" % self.name, procs=[self.proc])
        return self

    def stop(self, timeout=10.0):
        return self.proc.stop(timeout) if self.proc else None

    def restart(self, timeout=10.0):
        rc = self.stop(timeout)
        self.start()
        return rc

    def api(self, method, path, body=None, raw=None, auth=ADMIN, headers=None, timeout=30.0):
        return http_request(self.api_port, method, path, body=body, raw=raw, auth=auth,
                            headers=headers, timeout=timeout)

    # -- clients -------------------------------------------------------
    def client(self, cid):
        """The client object, or None if the API does not know it."""
        st, j = self.api("GET", "/api/v1/clients/" + cid)
        if st == 404:
            return None
        assert st == 200, "GET /api/v1/clients/%s -> %s %r" % (cid, st, j)
        return j["data"]

    def clients(self):
        st, j = self.api("GET", "/api/v1/clients")
        assert st == 200, "GET /api/v1/clients -> %s %r" % (st, j)
        return j

    def wait_state(self, cid, state, timeout=10.0, procs=()):
        def ok():
            c = self.client(cid)
            return c if c and c.get("connection_state") == state else None
        return poll(ok, timeout, "client %r to be %s" % (cid, state),
                    procs=[self.proc] + list(procs))

    def wait_connected(self, cid, timeout=10.0, procs=()):
        return self.wait_state(cid, "connected", timeout, procs)

    def wait_disconnected(self, cid, timeout=10.0):
        return self.wait_state(cid, "disconnected", timeout)

    # -- commands ------------------------------------------------------
    def run(self, cid, command, **fields):
        """POSTs a command; returns the jid (asserting 200)."""
        body = {"command": command}
        body.update(fields)
        st, j = self.api("POST", "/api/v1/clients/%s/commands" % cid, body)
        assert st == 200, "POST /api/v1/clients/%s/commands %r -> %s %r" % (cid, body, st, j)
        return j["data"]["jid"]

    def job(self, cid, jid):
        st, j = self.api("GET", "/api/v1/clients/%s/commands/%s" % (cid, jid))
        assert st == 200, "GET job %s -> %s %r" % (jid, st, j)
        return j["data"]

    def wait_job(self, cid, jid, timeout=10.0, until=lambda d: d["status"] != "running"):
        """Polls the job until `until(job)` (default: status != running)."""
        def done():
            d = self.job(cid, jid)
            return d if until(d) else None
        return poll(done, timeout, "job %s on %s to finish" % (jid, cid), procs=[self.proc])


class Agent:
    """A tether-agent with its own config file and data dir."""

    def __init__(self, tether, server, cid, name=None, tags=("linux", "demo"),
                 labels=None, extra="", allow=(".*",), deny=(), auth=AGENT_AUTH,
                 server_address=None, env=None):
        self.tether = tether
        self.server = server
        self.cid = cid
        self.dir = tether.mkdir("agent-" + cid)
        self.data_dir = os.path.join(self.dir, "data")
        labels = {"zone": "EU"} if labels is None else labels
        base = """
[client]
server = %s
auth = %s
id = %s
name = %s
tags = %s
data_dir = %s
allow_root = true
[client.labels]
%s
[connection]
max_retry_interval = '1s'
[remote-commands]
allow = %s
deny = %s
""" % (toml_str(server_address or server.agent_address), toml_str(auth), toml_str(cid),
            toml_str(name or cid), toml_array(tags), toml_str(self.data_dir),
            "\n".join("%s = %s" % (toml_str(k), toml_str(v)) for k, v in labels.items()),
            "[" + ", ".join("'%s'" % a for a in allow) + "]",
            "[" + ", ".join("'%s'" % d for d in deny) + "]")
        self.config_text = merge_toml(base, extra)
        self.config = os.path.join(self.dir, "agent.toml")
        with open(self.config, "w") as f:
            f.write(self.config_text)
        self.env = env
        self.proc = None
        self.history = []

    def start(self, wait=True, timeout=10.0):
        assert self.proc is None or not self.proc.alive(), "agent %s already running" % self.cid
        self.proc = Proc("agent-" + self.cid, [binary("tether-agent"), "-c", self.config],
                         self.dir, env=self.env)
        self.history.append(self.proc)
        if wait:
            self.server.wait_connected(self.cid, timeout, procs=[self.proc])
        return self

    def stop(self, timeout=10.0):
        return self.proc.stop(timeout) if self.proc else None


class Tether:
    """Owns every process of one test. `server()` and `agent()` start them;
    `close()` stops them all (SIGTERM, wait, SIGKILL). The first server is
    the default target of the shortcut methods (api, run, job, wait_job...)."""

    def __init__(self, tmp_path):
        self.tmp = str(tmp_path)
        self.servers = []
        self.agents = []
        self.extra_pids = []   # processes left running on purpose (timeouts)

    def mkdir(self, name):
        n, path = 0, os.path.join(self.tmp, name)
        while os.path.exists(path):
            n += 1
            path = os.path.join(self.tmp, "%s-%d" % (name, n))
        os.makedirs(path)
        return path

    def server(self, extra="", start=True, **kw):
        s = Server(self, name="tetherd" if not self.servers else "tetherd-%d" % len(self.servers),
                   extra=extra, **kw)
        self.servers.append(s)
        if start:
            s.start()
        return s

    def agent(self, cid="my-client", server=None, start=True, wait=True, **kw):
        a = Agent(self, server or self.servers[0], cid, **kw)
        self.agents.append(a)
        if start:
            a.start(wait=wait)
        return a

    def start_agents(self, n, prefix="client", **kw):
        """Starts n agents client-0..n-1 at once, then waits for them all."""
        out = [self.agent("%s-%d" % (prefix, i), wait=False, **kw) for i in range(n)]
        for a in out:
            a.server.wait_connected(a.cid, procs=[a.proc])
        return out

    # shortcuts to the first server
    @property
    def srv(self):
        return self.servers[0]

    def api(self, method, path, body=None, raw=None, auth=ADMIN, headers=None, timeout=30.0):
        return self.srv.api(method, path, body=body, raw=raw, auth=auth, headers=headers,
                            timeout=timeout)

    def run(self, cid, command, **fields):
        return self.srv.run(cid, command, **fields)

    def job(self, cid, jid):
        return self.srv.job(cid, jid)

    def wait_job(self, cid, jid, timeout=10.0, **kw):
        return self.srv.wait_job(cid, jid, timeout, **kw)

    def procs(self):
        out = []
        for x in self.servers + self.agents:
            out.extend(x.history)
        return out

    def logs(self):
        return "".join(p.logs() for p in self.procs())

    def leave_running(self, pid):
        """Registers a pid (a command left running by a timeout) to be killed
        with its process group at close()."""
        self.extra_pids.append(pid)

    def close(self):
        """Stops everything; returns [(name, exit code)] of the processes that
        were still running, agents first."""
        codes = []
        for x in list(reversed(self.agents)) + list(reversed(self.servers)):
            if x.proc is not None and x.proc.alive():
                codes.append((x.proc.name, x.stop()))
        for pid in self.extra_pids:
            try:
                pgid = os.getpgid(pid)
                if pgid == pid and pgid != os.getpgrp():
                    os.killpg(pgid, signal.SIGKILL)
                else:
                    os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        return codes

    def valgrind_failures(self):
        return [p for p in self.procs() if VALGRIND and p.returncode() == 99]
