"""The end-to-end harness: real tetherd / tether-agent / tether-swarm / tether
processes on random loopback ports with throwaway data dirs. Synchronisation
polls a condition with a deadline (`wait_until`); nothing sleeps instead.

Environment:
  TETHER_BUILD          directory holding the binaries (default <repo>/build)
  TETHER_VALGRIND=1     runs every binary under `valgrind -q --error-exitcode=99`
                        (deadlines are then stretched 8x); see Fleet.close()
  TETHER_VALGRIND_ARGS  extra valgrind options, e.g. --suppressions=FILE
  TETHER_TIMEOUT_SCALE  multiplies every deadline (default 1) on slow machines
  TETHER_SERVER_CONFIG  TOML merged into every tetherd's config (the benchmarks'
                        --store-sync-thread; a whole test run in another mode)

Typical use, with the fixtures of conftest.py:

    def test_x(fleet):
        s = fleet.server(extra="[server]\\nrun_remote_cmd_timeout_sec = 5").start()
        fleet.agent(s, "web-1", tags=("linux", "web"))     # started, connected
        job = s.wait_job("web-1", s.run("web-1", "echo hi"))

A Fleet owns every process started while it is open. When it closes (at the
end of the test) it stops them all and reports each one that exited 99
(valgrind found errors), died of a signal nobody sent it (a crash), or, under
valgrind, had to be killed; the fixtures fail the test with their logs.
"""
import atexit
import base64
import calendar
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.abspath(os.environ.get("TETHER_BUILD") or os.path.join(ROOT, "build"))
VALGRIND = os.environ.get("TETHER_VALGRIND") == "1"
VALGRIND_ERROR = 99     # valgrind's --error-exitcode
# every deadline is multiplied by this (valgrind, slow or loaded machines)
TIMEOUT_SCALE = float(os.environ.get("TETHER_TIMEOUT_SCALE") or 1.0) * (8.0 if VALGRIND else 1.0)

ADMIN = ("admin", "foobaz")
AGENT_AUTH = "clientAuth1:1234"

# RFC 3339, UTC, with fractional seconds: 2020-10-15T15:30:12.937267522Z
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{1,9}Z$")
UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

# Relaxed brute-force limits so that tests that send wrong credentials on
# purpose do not lock out the others; the security tests set their own.
RELAXED = """
[server]
max_failed_login = 100000
client_login_wait = 0
[api]
max_failed_login = 100000
user_login_wait = 0
"""


def deadline(seconds):
    """A timeout scaled for valgrind runs and TETHER_TIMEOUT_SCALE."""
    return seconds * TIMEOUT_SCALE


def binary(name):
    path = os.path.join(BUILD, name)
    if not os.access(path, os.X_OK):
        raise RuntimeError("%s is not built: expected an executable at %s "
                           "(set TETHER_BUILD or run ./scripts/build.sh)" % (name, path))
    return path


_ports_given = set()


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_PORTS_DIR = os.path.join(tempfile.gettempdir(), "tether-test-ports")


def _release_ports():
    for port in _ports_given:
        try:
            os.unlink(os.path.join(_PORTS_DIR, str(port)))
        except OSError:
            pass


def _reserve(port):
    """Takes port for this process among all test processes on the machine
    (ctest runs several at once): a file per port, made exclusively, naming
    its pid; a dead process's reservation is taken over."""
    os.makedirs(_PORTS_DIR, exist_ok=True)
    path = os.path.join(_PORTS_DIR, str(port))
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                with open(path) as f:
                    pid = int(f.read() or "0")
                if pid > 0:
                    os.kill(pid, 0)
                    return False  # held by a live process
            except ProcessLookupError:
                pass
            except (OSError, ValueError):
                return False
            try:
                os.unlink(path)
            except OSError:
                return False
            continue
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        return True
    return False


def free_port():
    """A loopback port that was free a moment ago, not handed out before by
    any test process still running (_reserve). Picked at random below the
    kernel's ephemeral range: outgoing connections (a test's swarm makes
    thousands) take their local ports from that range, and one could take a
    port picked there before the server binds it ("address already in use");
    with the range too small below, the kernel's pick (bind to port 0)."""
    low = _ephemeral_low()
    rnd = random.SystemRandom()
    for _ in range(1000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", rnd.randrange(10000, low) if low - 10000 >= 2000 else 0))
            except OSError:
                continue
            port = s.getsockname()[1]
        if port not in _ports_given and _reserve(port):
            if not _ports_given:
                atexit.register(_release_ports)
            _ports_given.add(port)
            return port
    raise RuntimeError("no free loopback port")


def proc_stat(pid):
    """The fields of /proc/<pid>/stat after the command name (state, ppid,
    ...; the name may hold spaces and parentheses). Raises OSError when the
    process is gone."""
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid):
    """User plus system CPU time a process has used, in seconds."""
    fields = proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid):
    """Resident memory of a process, in KB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def agent_hello(cid):
    """The hello frame of an agent with the test server's client credential."""
    return json.dumps({"type": "hello", "auth_id": "clientAuth1", "password": "1234",
                       "id": cid, "name": cid, "protocol": 1, "running": []})


def parse_rfc3339(ts):
    """Seconds since the epoch of an RFC 3339 UTC timestamp (nanoseconds kept
    as a float fraction); raises ValueError when the form is wrong."""
    if not isinstance(ts, str) or not RFC3339_UTC.match(ts):
        raise ValueError("not an RFC 3339 UTC timestamp with fractional seconds: %r" % (ts,))
    whole, frac = ts[:-1].split(".")
    return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + float("0." + frac)


def error_title(result):
    """errors[0].title of an error envelope (asserting its shape)."""
    status, body = result
    assert isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"], \
        "HTTP %s: not an error envelope: %r" % (status, body)
    e = body["errors"][0]
    assert isinstance(e, dict) and isinstance(e.get("title"), str), \
        "HTTP %s: malformed error item: %r" % (status, body)
    return e["title"]


def wait_until(cond, timeout=10.0, what="condition", interval=0.02, procs=()):
    """Calls cond() until it returns a true value, which is returned.

    An exception from cond() counts as "not yet" (a server still starting,
    say). The timeout is scaled by deadline(). Fails at once when one of
    `procs` (Proc objects) exits; on failure the message carries their logs.
    """
    end = time.monotonic() + deadline(timeout)
    last = None
    while True:
        try:
            last = cond()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - anything means "not yet"
            last = e
        for p in procs:
            if p is not None and not p.alive():
                raise AssertionError("%s exited with %r while waiting for %s (last: %r)\n%s"
                                     % (p.name, p.returncode(), what, last, p.logs()))
        if time.monotonic() >= end:
            raise AssertionError("timed out after %.1fs waiting for %s (last: %r)\n%s"
                                 % (deadline(timeout), what, last,
                                    "".join(p.logs() for p in procs if p is not None)))
        time.sleep(interval)


def merge_toml(base, extra):
    """Merges TOML text `extra` into `base`, table by table: a key set in
    `extra` replaces the same key of the same table in `base`, new keys and
    tables are appended. Handles the flat subset the configs use (one key
    per line, multi-line arrays as continuation lines)."""
    def tables(text):
        order, out, cur = [""], {"": []}, ""
        for line in text.splitlines():
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            if s.startswith("[") and not s.startswith("[[") and "=" not in s.split("]")[0]:
                cur = s
                if cur not in out:
                    out[cur] = []
                    order.append(cur)
                continue
            m = re.match(r"""^\s*([A-Za-z0-9_\-."']+)\s*=""", line)
            if m:
                out[cur].append([m.group(1).strip("\"'"), [line]])
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


# ---------------------------------------------------------------- processes

_open_fleets = []   # Fleets not closed yet; a new Proc belongs to the last one


class Proc:
    """One child process; its stdout and stderr go to one log file (in
    `logdir`, else the open Fleet's directory). Every signal sent through
    it is remembered, so that a death by another signal is seen as a crash."""

    def __init__(self, argv, name, env=None, nofile=None, logdir=None, pass_fds=(),
                 valgrind=True):
        self.name = name
        self.argv = list(argv)
        if VALGRIND and valgrind:
            self.argv = (["valgrind", "-q", "--error-exitcode=%d" % VALGRIND_ERROR]
                         + os.environ.get("TETHER_VALGRIND_ARGS", "").split() + self.argv)
        owner = _open_fleets[-1] if _open_fleets else None
        if logdir is None:
            logdir = owner.tmp if owner else tempfile.gettempdir()
        os.makedirs(logdir, exist_ok=True)
        fd, self.log_path = tempfile.mkstemp(prefix=name + "-", suffix=".log", dir=logdir)
        e = dict(os.environ)
        if env:
            e.update(env)
        preexec = None
        if nofile:
            import resource

            def preexec():
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        try:
            self.p = subprocess.Popen(self.argv, stdout=fd, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, env=e, preexec_fn=preexec,
                                      pass_fds=tuple(pass_fds))
        finally:
            os.close(fd)
        self.pid = self.p.pid
        self.sent = set()       # signals sent through this object
        self.killed = False     # stop() needed SIGKILL
        if owner:
            owner.started.append(self)

    def output(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def logs(self, tail=6000):
        out = self.output()
        if len(out) > tail:
            out = "...\n" + out[-tail:]
        state = "running" if self.alive() else "exit %r" % self.returncode()
        return "---- %s (pid %d, %s) %s ----\n%s\n" % (self.name, self.pid, state,
                                                       self.log_path, out)

    def alive(self):
        return self.p.poll() is None

    def returncode(self):
        return self.p.poll()

    def signal(self, sig):
        if self.alive():
            self.sent.add(sig)
            self.p.send_signal(sig)

    def wait(self, timeout):
        """The exit code, or None if still running after `timeout` s (scaled)."""
        try:
            return self.p.wait(deadline(timeout))
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=10.0, sig=None):
        """Sends `sig` (SIGTERM), waits, then SIGKILL. Returns the exit code
        (negative: killed by that signal)."""
        if self.alive():
            self.signal(sig or signal.SIGTERM)
            if self.wait(timeout) is None:
                self.killed = True
                self.kill9()
        return self.p.returncode

    def kill9(self):
        if self.alive():
            self.sent.add(signal.SIGKILL)
            self.p.kill()
            self.p.wait()
        return self.p.returncode

    def problem(self):
        """Why this (exited) process should fail its test, or None."""
        rc = self.returncode()
        if rc is None:
            return None
        if VALGRIND and rc == VALGRIND_ERROR:
            return "valgrind found errors (exit %d)" % rc
        if rc < 0 and -rc not in self.sent:
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = "signal %d" % -rc
            return "killed by %s, which the test did not send (a crash)" % name
        if VALGRIND and self.killed:
            return "needed SIGKILL at stop, so valgrind could not report"
        return None


# ---------------------------------------------------------------- HTTP

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
    h = {"Content-Type": "application/json"}
    if data is not None or method in ("POST", "PUT", "PATCH"):
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


# ---------------------------------------------------------------- programs

class Server:
    """A tetherd with its own config file and data dir (<dir>/data);
    restartable on the same ports."""

    def __init__(self, tmp, extra="", relaxed=True, api_port=None, agent_port=None,
                 user="admin", password="foobaz", auth=AGENT_AUTH):
        self.dir = os.path.join(str(tmp), "server-%d" % free_port())
        os.makedirs(self.dir, exist_ok=True)
        self.data_dir = os.path.join(self.dir, "data")
        self.api_port = api_port or free_port()
        self.agent_port = agent_port or free_port()
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
""" % (self.agent_port, toml_str(auth), toml_str(auth.split(":")[0]), toml_str(self.data_dir),
            self.api_port, toml_str(user), toml_str(password))
        text = merge_toml(base, RELAXED) if relaxed else base
        if os.environ.get("TETHER_SERVER_CONFIG"):  # every server of a run (bench/regress.py)
            text = merge_toml(text, os.environ["TETHER_SERVER_CONFIG"])
        self.config = os.path.join(self.dir, "tetherd.conf")
        with open(self.config, "w") as f:
            f.write(merge_toml(text, extra) if extra else text)
        self.proc = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.api_port

    @property
    def agent_address(self):
        return "127.0.0.1:%d" % self.agent_port

    def start(self, wait=True, nofile=None, args=()):
        """nofile: the descriptor limit (soft and hard) to start tetherd with."""
        assert self.proc is None or not self.proc.alive(), "tetherd is already running"
        self.proc = Proc([binary("tetherd"), "-c", self.config] + list(args), "tetherd",
                         nofile=nofile, logdir=self.dir)
        if wait:
            wait_until(lambda: self.api("GET", "/api/v1/status", timeout=5)[0] == 200, 15,
                       "tetherd to answer GET /api/v1/status", procs=[self.proc])
        return self

    def stop(self, timeout=10.0):
        return self.proc.stop(timeout) if self.proc else None

    def restart(self):
        rc = self.stop()
        self.start()
        return rc

    def kill9(self):
        self.proc.kill9()

    def api(self, method, path, body=None, raw=None, auth=ADMIN, headers=None, timeout=30.0):
        return http_request(self.api_port, method, path, body=body, raw=raw, auth=auth,
                            headers=headers, timeout=timeout)

    def client(self, cid):
        """The client object, or None while the API does not know it."""
        st, j = self.api("GET", "/api/v1/clients/" + cid)
        return j["data"] if st == 200 else None

    def wait_state(self, cid, state, timeout=15, procs=()):
        def ok():
            c = self.client(cid)
            return c if c and c.get("connection_state") == state else None
        return wait_until(ok, timeout, "client %s to be %s" % (cid, state),
                          procs=[self.proc] + list(procs))

    def wait_connected(self, cid, timeout=15, procs=()):
        return self.wait_state(cid, "connected", timeout, procs)

    def wait_disconnected(self, cid, timeout=15):
        return self.wait_state(cid, "disconnected", timeout)

    def run(self, cid, command, **fields):
        """POSTs a command (a request body, or the command text plus other
        fields); returns the jid, asserting 200."""
        body = dict(command) if isinstance(command, dict) else {"command": command}
        body.update(fields)
        st, j = self.api("POST", "/api/v1/clients/%s/commands" % cid, body)
        assert st == 200, (st, j)
        return j["data"]["jid"]

    def job(self, cid, jid):
        st, j = self.api("GET", "/api/v1/clients/%s/commands/%s" % (cid, jid))
        assert st == 200, (st, j)
        return j["data"]

    def wait_job(self, cid, jid, timeout=20, until=lambda d: d["status"] != "running"):
        """Polls the job until `until(job)` (default: status != running)."""
        return wait_until(lambda: (lambda d: d if until(d) else None)(self.job(cid, jid)),
                          timeout, "job %s on %s to finish" % (jid, cid), procs=[self.proc])

    def multi(self, body):
        st, j = self.api("POST", "/api/v1/commands", body)
        assert st == 200, (st, j)
        return j["data"]["jid"]

    def wait_multi(self, jid, timeout=30):
        def done():
            st, j = self.api("GET", "/api/v1/commands/" + jid)
            return j["data"] if st == 200 and j["data"]["finished_at"] else None
        return wait_until(done, timeout, "multi job %s to finish" % jid, procs=[self.proc])


class Agent:
    """A tether-agent with its own config file and data dir. `policy` is the
    [remote-commands] allow/deny text (default: allow everything)."""

    def __init__(self, tmp, server, cid, tags=("linux",), labels=None, extra="", policy=None,
                 auth=AGENT_AUTH, services=(), server_addr=None, env=None, name=None):
        self.cid = cid
        self.server = server
        self.dir = os.path.join(str(tmp), "agent-%s-%d" % (cid, free_port()))
        os.makedirs(self.dir, exist_ok=True)
        self.data_dir = os.path.join(self.dir, "data")
        if policy is None:
            policy = "allow = ['.*']\ndeny = []"
        text = """
[client]
server = %s
auth = %s
id = %s
name = %s
tags = [%s]
services = [%s]
data_dir = %s
allow_root = true
[client.labels]
%s
[connection]
max_retry_interval = '1s'
min_retry_interval = '200ms'
[remote-commands]
%s
[remote-scripts]
enabled = true
""" % (toml_str(server_addr or "127.0.0.1:%d" % server.agent_port), toml_str(auth),
            toml_str(cid), toml_str(name or cid), ", ".join(toml_str(t) for t in tags),
            ", ".join(toml_str(s) for s in services), toml_str(self.data_dir),
            "\n".join("%s = %s" % (toml_str(k), toml_str(v)) for k, v in (labels or {}).items()),
            policy)
        self.config = os.path.join(self.dir, "agent.conf")
        with open(self.config, "w") as f:
            f.write(merge_toml(text, extra) if extra else text)
        self.env = env
        self.proc = None

    def start(self, nofile=None, argv=None, pass_fds=()):
        """nofile: the descriptor limit (soft and hard) to start the agent
        with; argv: the command line instead of `tether-agent -c <config>`."""
        assert self.proc is None or not self.proc.alive(), "agent %s is already running" % self.cid
        self.proc = Proc(argv or [binary("tether-agent"), "-c", self.config], "agent-" + self.cid,
                         env=self.env, nofile=nofile, logdir=self.dir, pass_fds=pass_fds)
        return self

    def stop(self, timeout=10.0):
        return self.proc.stop(timeout) if self.proc else None

    def kill9(self):
        self.proc.kill9()


class Swarm:
    """A tether-swarm process (`count` simulated agents); its output goes to
    a log file that the methods poll."""

    def __init__(self, server, count, *args, prefix=None):
        self.count = count
        argv = [binary("tether-swarm"), "--server", server.agent_address, "--auth", AGENT_AUTH,
                "--count", str(count)] + (["--prefix", prefix] if prefix else []) + list(args)
        self.proc = Proc(argv, "swarm-%s" % (prefix or "").strip("-"))

    def output(self):
        return self.proc.output()

    def lines(self):
        return self.output().splitlines()

    def connected_lines(self):
        return self.output().count("swarm: all %d connected\n" % self.count)

    def wait_connected_lines(self, n=1, timeout=30):
        wait_until(lambda: self.connected_lines() >= n, timeout,
                   "'swarm: all %d connected' x%d" % (self.count, n), procs=[self.proc])

    def stats(self):
        """Asks for the counters (SIGUSR1) and returns the new stats line as a dict."""
        before = self.output().count("swarm: stats ")
        self.proc.signal(signal.SIGUSR1)
        wait_until(lambda: self.output().count("swarm: stats ") > before, 5, "a stats line",
                   procs=[self.proc])
        line = [l for l in self.lines() if l.startswith("swarm: stats ")][before]
        return dict(re.findall(r"(\w+)=(\S+)", line))

    def stop(self, timeout=15.0):
        """SIGTERM; returns the exit status."""
        return self.proc.stop(timeout)


def cli(server, *args, stdin=None, env=None, timeout=60, user="admin", password="foobaz"):
    """Runs the tether CLI against `server`; returns the CompletedProcess.
    Under valgrind, a memcheck error fails the test here."""
    e = dict(os.environ)
    e.update({"TETHER_ADDR": server.url, "TETHER_USER": user, "TETHER_PASSWORD": password,
              "HOME": os.path.join(server.dir, "home")})
    e.pop("TETHER_TOKEN", None)
    if env:
        e.update(env)
    argv = [binary("tether")] + list(args)
    if VALGRIND:
        argv = ["valgrind", "-q", "--error-exitcode=%d" % VALGRIND_ERROR] + argv
    r = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=e,
                       timeout=deadline(timeout))
    assert not (VALGRIND and r.returncode == VALGRIND_ERROR), \
        "valgrind found errors in tether %s:\n%s" % (" ".join(args), r.stderr)
    assert r.returncode >= 0, "tether %s was killed by signal %d:\n%s" % (
        " ".join(args), -r.returncode, r.stderr)
    return r


# ---------------------------------------------------------------- the owner

class Fleet:
    """Owns every process started while it is open (servers, agents, swarms,
    and any Proc); close() stops them all, newest first."""

    def __init__(self, tmp):
        self.tmp = str(tmp)
        self.procs = []       # Servers and Agents (anything with .proc and .stop())
        self.started = []     # every Proc started while this fleet was open
        self.extra_pids = []  # commands left running on purpose (timeouts)
        self.closed = False
        _open_fleets.append(self)

    def server(self, **kw):
        """A Server (not started: call .start())."""
        s = Server(self.tmp, **kw)
        self.procs.append(s)
        return s

    def agent(self, server, cid, start=True, wait=True, **kw):
        """An Agent, started and connected unless told otherwise."""
        a = Agent(self.tmp, server, cid, **kw)
        self.procs.append(a)
        if start:
            a.start()
            if wait:
                server.wait_connected(cid, procs=[a.proc])
        return a

    def agents(self, server, n, prefix="client", **kw):
        """Starts n agents <prefix>-0..n-1 at once, then waits for them all."""
        out = [self.agent(server, "%s-%d" % (prefix, i), wait=False, **kw) for i in range(n)]
        for a in out:
            server.wait_connected(a.cid, procs=[a.proc])
        return out

    def swarm(self, server, count, *args, prefix=None):
        return Swarm(server, count, *args, prefix=prefix)

    def leave_running(self, pid):
        """A process (a command left running by a timeout) to kill with its
        process group at close()."""
        self.extra_pids.append(pid)

    def logs(self):
        return "".join(p.logs() for p in self.started)

    def close(self):
        """Stops everything; returns the problems (valgrind errors, crashes)
        as text with the logs of the processes concerned, or ""."""
        if self.closed:
            return ""
        self.closed = True
        if self in _open_fleets:
            _open_fleets.remove(self)
        for p in reversed(self.started):
            try:
                p.stop()
            except Exception as e:  # noqa: BLE001 - go on stopping the others
                sys.stderr.write("could not stop %s: %r\n" % (p.name, e))
        for pid in self.extra_pids:
            try:
                pgid = os.getpgid(pid)
                if pgid == pid and pgid != os.getpgrp():
                    os.killpg(pgid, signal.SIGKILL)
                else:
                    os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        bad = [(p, p.problem()) for p in self.started if p.problem()]
        return "".join("%s: %s\n%s" % (p.name, why, p.logs()) for p, why in bad)
