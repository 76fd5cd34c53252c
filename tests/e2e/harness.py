"""Test harness: real tetherd / tether-agent / tether processes on random
loopback ports with throwaway data dirs. Polls for conditions; never sleeps
as a way to synchronise."""
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("TETHER_BUILD", os.path.join(ROOT, "build"))
VALGRIND = os.environ.get("TETHER_VALGRIND") == "1"


def binary(name):
    path = os.path.join(BUILD, name)
    if not os.path.exists(path):
        raise RuntimeError("%s is not built (expected %s)" % (name, path))
    return path


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


def agent_hello(cid):
    """The hello frame of an agent with the test server's client credential."""
    return json.dumps({"type": "hello", "auth_id": "clientAuth1", "password": "1234",
                       "id": cid, "name": cid, "protocol": 1, "running": []})


def rss_kb(pid):
    """Resident memory of a process, in KB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, timeout=10.0, what="condition", interval=0.02):
    """Polls cond() until it returns a true value; returns it."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = cond()
        except Exception as e:  # a server still starting, say
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))


class Proc:
    def __init__(self, argv, name, env=None, nofile=None):
        self.name = name
        self.log = tempfile.NamedTemporaryFile(prefix=name + "-", suffix=".log", delete=False)
        if VALGRIND:
            argv = ["valgrind", "-q", "--error-exitcode=99"] + argv
        e = dict(os.environ)
        if env:
            e.update(env)
        preexec = None
        if nofile:
            import resource

            def preexec():
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=e, preexec_fn=preexec)

    def output(self):
        with open(self.log.name, "r", errors="replace") as f:
            return f.read()

    def alive(self):
        return self.p.poll() is None

    def signal(self, sig):
        if self.alive():
            self.p.send_signal(sig)

    def stop(self, timeout=10):
        if self.alive():
            self.p.terminate()
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode

    def kill9(self):
        if self.alive():
            self.p.kill()
            self.p.wait()


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


def merge_toml(base, extra):
    """Merges two TOML texts section by section (simple [section] blocks)."""
    def sections(text):
        out, cur = {}, ""
        for line in text.splitlines():
            s = line.strip()
            if s.startswith("[") and not s.startswith("[["):
                cur = s
                out.setdefault(cur, [])
            elif s:
                out.setdefault(cur, []).append(line)
        return out
    a, b = sections(base), sections(extra)
    for k, lines in b.items():
        keys = {l.split("=")[0].strip() for l in lines if "=" in l}
        a[k] = [l for l in a.get(k, []) if l.split("=")[0].strip() not in keys] + lines
    text = []
    for k, lines in a.items():
        if k:
            text.append(k)
        text.extend(lines)
        text.append("")
    return "\n".join(text)


class Server:
    def __init__(self, tmp, extra="", relaxed=True, api_port=None, agent_port=None):
        self.dir = os.path.join(str(tmp), "server-%d" % free_port())
        os.makedirs(self.dir, exist_ok=True)
        self.api_port = api_port or free_port()
        self.agent_port = agent_port or free_port()
        base = """
[server]
address = "127.0.0.1:%d"
auth = "clientAuth1:1234"
shared_client_auth = ["clientAuth1"]
data_dir = "%s"
[api]
address = "127.0.0.1:%d"
user = "admin"
password = "foobaz"
""" % (self.agent_port, os.path.join(self.dir, "data"), self.api_port)
        text = merge_toml(base, RELAXED) if relaxed else base
        self.config = os.path.join(self.dir, "tetherd.conf")
        with open(self.config, "w") as f:
            f.write(merge_toml(text, extra) if extra else text)
        self.proc = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.api_port

    def start(self, wait=True, nofile=None):
        """nofile: the descriptor limit (soft and hard) to start tetherd with."""
        self.proc = Proc([binary("tetherd"), "-c", self.config], "tetherd", nofile=nofile)
        if wait:
            wait_until(lambda: self.api("GET", "/api/v1/status")[0] == 200, 15,
                       "tetherd to answer:\n" + self.proc.output())
        return self

    def stop(self):
        return self.proc.stop() if self.proc else None

    def kill9(self):
        self.proc.kill9()

    def api(self, method, path, body=None, raw=None, auth=("admin", "foobaz"), headers=None,
            timeout=30):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if auth:
            tok = base64.b64encode(("%s:%s" % auth).encode()).decode()
            req.add_header("Authorization", "Basic " + tok)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, text = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text.decode(errors="replace")

    def client(self, cid):
        st, j = self.api("GET", "/api/v1/clients/" + cid)
        return j["data"] if st == 200 else None

    def wait_connected(self, cid, timeout=15):
        return wait_until(lambda: (lambda c: c if c and c.get("connection_state") == "connected" else None)(self.client(cid)),
                          timeout, "client %s to connect" % cid)

    def wait_disconnected(self, cid, timeout=15):
        return wait_until(lambda: (lambda c: c if c and c.get("connection_state") == "disconnected" else None)(self.client(cid)),
                          timeout, "client %s to disconnect" % cid)

    def run(self, cid, body):
        st, j = self.api("POST", "/api/v1/clients/%s/commands" % cid, body)
        assert st == 200, (st, j)
        return j["data"]["jid"]

    def job(self, cid, jid):
        st, j = self.api("GET", "/api/v1/clients/%s/commands/%s" % (cid, jid))
        assert st == 200, (st, j)
        return j["data"]

    def wait_job(self, cid, jid, timeout=20):
        return wait_until(lambda: (lambda d: d if d["status"] != "running" else None)(self.job(cid, jid)),
                          timeout, "job %s to finish" % jid)

    def multi(self, body):
        st, j = self.api("POST", "/api/v1/commands", body)
        assert st == 200, (st, j)
        return j["data"]["jid"]

    def wait_multi(self, jid, timeout=30):
        def done():
            st, j = self.api("GET", "/api/v1/commands/" + jid)
            return j["data"] if st == 200 and j["data"]["finished_at"] else None
        return wait_until(done, timeout, "multi job %s to finish" % jid)


class Agent:
    def __init__(self, tmp, server, cid, tags=("linux",), labels=None, extra="", policy=None,
                 auth="clientAuth1:1234", services=(), server_addr=None, env=None):
        self.cid = cid
        self.dir = os.path.join(str(tmp), "agent-%s-%d" % (cid, free_port()))
        os.makedirs(self.dir, exist_ok=True)
        tags_s = ", ".join("'%s'" % t for t in tags)
        svc_s = ", ".join("'%s'" % s for s in services)
        labels_s = "\n".join('%s = "%s"' % kv for kv in (labels or {}).items())
        if policy is None:
            policy = "allow = ['.*']\ndeny = []"
        text = """
[client]
server = "%s"
auth = "%s"
id = "%s"
name = "%s"
tags = [%s]
services = [%s]
data_dir = "%s"
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
""" % (server_addr or "127.0.0.1:%d" % server.agent_port, auth, cid, cid, tags_s, svc_s,
       os.path.join(self.dir, "data"), labels_s, policy)
        self.config = os.path.join(self.dir, "agent.conf")
        with open(self.config, "w") as f:
            f.write(merge_toml(text, extra) if extra else text)
        self.env = env
        self.proc = None

    def start(self, nofile=None):
        """nofile: the descriptor limit (soft and hard) to start the agent with."""
        self.proc = Proc([binary("tether-agent"), "-c", self.config], "agent-" + self.cid,
                         env=self.env, nofile=nofile)
        return self

    def stop(self):
        return self.proc.stop() if self.proc else None

    def kill9(self):
        self.proc.kill9()


class Fleet:
    """Owns every process of a test; stops them all at the end and prints
    their logs when the test failed."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []

    def server(self, **kw):
        s = Server(self.tmp, **kw)
        self.procs.append(s)
        return s

    def agent(self, server, cid, start=True, wait=True, **kw):
        a = Agent(self.tmp, server, cid, **kw)
        self.procs.append(a)
        if start:
            a.start()
            if wait:
                server.wait_connected(cid)
        return a

    def dump(self):
        for p in self.procs:
            if p.proc:
                sys.stderr.write("---- %s ----\n%s\n" % (p.proc.name, p.proc.output()[-4000:]))

    def close(self):
        for p in reversed(self.procs):
            try:
                p.stop()
            except Exception:
                pass


def cli(server, *args, stdin=None, env=None, timeout=60, user="admin", password="foobaz"):
    e = dict(os.environ)
    e.update({"TETHER_ADDR": server.url, "TETHER_USER": user, "TETHER_PASSWORD": password,
              "HOME": os.path.join(server.dir, "home")})
    e.pop("TETHER_TOKEN", None)
    if env:
        e.update(env)
    return subprocess.run([binary("tether")] + list(args), input=stdin, capture_output=True,
                          text=True, env=e, timeout=timeout)


def fleet_fixture(tmp_path, request):
    """Generator for a pytest fixture: yields a Fleet, dumps the process
    logs if the test failed, stops everything."""
    before = request.session.testsfailed
    f = Fleet(tmp_path)
    yield f
    if request.session.testsfailed > before:
        f.dump()
    f.close()
