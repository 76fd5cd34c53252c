#!/usr/bin/env python3
"""bench/pdsh_compare: /bin/true on many targets on loopback, tether against
the ssh tools, all in the same run, alternating:

  - at TARGETS (default 1,000): tether (that many real tether-agent
    processes, one concurrent multi job) vs pdsh -R ssh with fanout TARGETS;
  - at SMALL (default 100): tether (the first SMALL agents), pdsh, clush
    (ClusterShell) and `ansible all -m command -a true` (ansible-core);
  - at both, the machine's floor: that many runs of /bin/true spawned and
    waited for by 2 processes at once, with no tool in between (what no
    tool can beat here; pdsh's time over it bounds any tool's speed-up).

The ssh side is one sshd on a random 127.0.0.1 port, in a temp dir, with its
own host and user keys and a throwaway login with /bin/sh; the target names
(h0001...) map to it through an ssh config, each still a connection and a
login of its own. sshd's MaxStartups and the tools' timeouts are raised so
that a thousand logins at once are queued, not refused. RUNS (default 3) runs
of each; median (range). Needs root (sshd, the login) and the tools
(TETHER_BENCH_DEPS=1 scripts/deps.sh)."""
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
import harness  # noqa: E402

N = int(os.environ.get("TARGETS", "1000"))
SMALL = min(N, int(os.environ.get("SMALL", "100")))
RUNS = int(os.environ.get("RUNS", "3"))
USER = "tetherbench"


def ensure_tools():
    need = [t for t in ("pdsh", "clush", "ansible") if not shutil.which(t)]
    if need or not os.path.exists("/usr/sbin/sshd"):
        subprocess.run([os.path.join(os.path.dirname(__file__), "..", "scripts", "deps.sh")],
                       check=True, env=dict(os.environ, TETHER_BENCH_DEPS="1"))


def make_user(d):
    # A throwaway login with /bin/sh and its own home: the ssh side pays for
    # a login shell, not for whatever root's ~/.bashrc happens to run here.
    home = d + "/home"
    os.makedirs(home + "/.ssh")
    subprocess.run(["userdel", USER], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["useradd", "-M", "-d", home, "-s", "/bin/sh", "-p", "*", USER], check=True)
    shutil.chown(home, USER)
    os.chmod(d, 0o755)


def drop_user():
    subprocess.run(["userdel", USER], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_sshd(d):
    port = harness.free_port()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", d + "/host"], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", d + "/user"], check=True)
    shutil.copy(d + "/user.pub", d + "/authorized_keys")
    os.chmod(d + "/authorized_keys", 0o644)
    with open(d + "/sshd_config", "w") as f:
        f.write("ListenAddress 127.0.0.1:%d\n" % port)
        f.write("HostKey %s/host\nAuthorizedKeysFile %s/authorized_keys\nPasswordAuthentication no\n"
                "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile %s/sshd.pid\n"
                "MaxStartups %d:30:%d\nMaxSessions 1000\nPermitRootLogin no\nLoginGraceTime 600\n"
                "LogLevel ERROR\nUseDNS no\n" % (d, d, d, N + 100, N + 200))
    os.makedirs("/run/sshd", exist_ok=True)
    p = subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", d + "/sshd_config"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up():
        with socket.socket() as c:
            return c.connect_ex(("127.0.0.1", port)) == 0
    harness.wait_until(up, 10, "sshd")
    with open(d + "/ssh_config", "w") as f:
        f.write("Host h*\n  HostName 127.0.0.1\n  Port %d\n  User %s\n  IdentityFile %s/user\n"
                "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n"
                "  BatchMode yes\n  ConnectTimeout 300\n" % (port, USER, d))
    return p


def hosts(n):
    return "h[0001-%04d]" % n


def timed(argv, env=None, timeout=900):
    t0 = time.monotonic()
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    t = time.monotonic() - t0
    assert r.returncode == 0, (argv[0], r.returncode, r.stderr[-800:], r.stdout[-400:])
    return t


def pdsh_once(d, n):
    env = dict(os.environ, PDSH_RCMD_TYPE="ssh", PDSH_SSH_ARGS_APPEND="-F %s/ssh_config" % d)
    return timed(["pdsh", "-t", "300", "-u", "600", "-f", str(n), "-w", hosts(n), "/bin/true"], env)


def clush_once(d, n):
    return timed(["clush", "-S", "-f", str(n), "-t", "300", "-u", "600", "-o", "-F %s/ssh_config" % d,
                  "-w", hosts(n), "/bin/true"])


def ansible_once(d, n):
    inv = os.path.join(d, "inventory")
    with open(inv, "w") as f:
        f.write("[bench]\nh[0001:%04d]\n" % n)
    env = dict(os.environ, LC_ALL="C.UTF-8", ANSIBLE_HOST_KEY_CHECKING="False",
               # a cold ad-hoc run, like pdsh's: no connection kept from the run before
               ANSIBLE_SSH_ARGS="-F %s/ssh_config -o ControlMaster=no" % d,
               ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3", ANSIBLE_TIMEOUT="300",
               ANSIBLE_LOCAL_TEMP=os.path.join(d, "ansible-local"),
               ANSIBLE_REMOTE_TEMP="/tmp/tetherbench-ansible", ANSIBLE_CONFIG=os.path.join(d, "none.cfg"),
               HOME=os.path.join(d, "ansible-home"))
    return timed(["ansible", "all", "-i", inv, "-u", USER, "-f", str(n), "-m", "command", "-a", "true"],
                 env)


def tether_once(s, n):
    t0 = time.monotonic()
    jid = s.multi({"command": "/bin/true", "execute_concurrently": True,
                   "client_ids": ["t%04d" % i for i in range(n)]})
    # The long-poll: the answer comes when the multi job ends (no polling
    # GETs of all its children competing with the agents for the cores).
    m = harness.wait_until(lambda: (lambda x: x if x["finished_at"] else None)(
        s.api("GET", "/api/v1/commands/%s?wait=60" % jid, timeout=90)[1]["data"]), 300, "the job",
        interval=0.005)
    t = time.monotonic() - t0
    assert m["summary"]["successful"] == n, m["summary"]
    return t


def spawn_worker(k, out):
    t0 = time.monotonic()
    for _ in range(k):
        os.waitpid(os.posix_spawn("/bin/true", ["/bin/true"], {}), 0)
    out.put(time.monotonic() - t0)


def spawn_floor(n, procs=2):
    """The machine's own floor for n runs of /bin/true: n spawns and waits,
    procs processes at once (one per core), no tether and no ssh."""
    import multiprocessing
    q = multiprocessing.Queue()
    t0 = time.monotonic()
    ws = [multiprocessing.Process(target=spawn_worker, args=(n // procs + (i < n % procs), q))
          for i in range(procs)]
    for w in ws:
        w.start()
    for w in ws:
        w.join()
    return time.monotonic() - t0


def fmt(xs):
    return "%.3f s (%.3f-%.3f)" % (statistics.median(xs), min(xs), max(xs))


def main():
    ensure_tools()
    d = tempfile.mkdtemp(prefix="tether-pdsh-")
    make_user(d)
    sshd = start_sshd(d)
    s = harness.Server(d, extra="[server]\nmax_concurrent_handshakes = 2000\n").start()
    agents = []
    try:
        for i in range(N):
            agents.append(harness.Agent(d, s, "t%04d" % i,
                                        policy="allow = ['^/bin/true$']\ndeny = []").start())

        def all_connected():
            st, j = s.api("GET", "/api/v1/clients?page[limit]=1000")  # the API's largest page
            return st == 200 and j["meta"]["count"] == N and \
                sum(c["connection_state"] == "connected" for c in j["data"]) == min(N, 1000)
        harness.wait_until(all_connected, 300, "all agents", interval=0.5)
        tether_once(s, N)  # warm-up: every agent's journal and first spawn
        t = {k: [] for k in ("tether_n", "pdsh_n", "tether_s", "pdsh_s", "clush_s", "ansible_s",
                             "floor_n", "floor_s")}
        for _ in range(RUNS):
            t["floor_n"].append(spawn_floor(N))
            t["floor_s"].append(spawn_floor(SMALL))
            t["tether_n"].append(tether_once(s, N))
            t["pdsh_n"].append(pdsh_once(d, N))
            t["tether_s"].append(tether_once(s, SMALL))
            t["pdsh_s"].append(pdsh_once(d, SMALL))
            t["clush_s"].append(clush_once(d, SMALL))
            t["ansible_s"].append(ansible_once(d, SMALL))
        med = {k: statistics.median(v) for k, v in t.items()}
        print("| `/bin/true`, loopback, same run (median of %d, range) | %d targets | %d targets |"
              % (RUNS, N, SMALL))
        print("| --- | --- | --- |")
        print("| tether (real agents, concurrent multi job, POST to all results stored) | %s | %s |"
              % (fmt(t["tether_n"]), fmt(t["tether_s"])))
        print("| pdsh -R ssh (fanout = targets) | %s | %s |" % (fmt(t["pdsh_n"]), fmt(t["pdsh_s"])))
        print("| clush (ClusterShell, fanout = targets) | - | %s |" % fmt(t["clush_s"]))
        print("| ansible all -m command -a true (forks = targets, no ControlPersist) | - | %s |"
              % fmt(t["ansible_s"]))
        print("| the machine's floor: /bin/true spawned and waited for that many times, "
              "2 processes at once, no tether, no ssh | %s | %s |" % (fmt(t["floor_n"]), fmt(t["floor_s"])))
        print("| speed-up of tether over pdsh | %.0fx | %.0fx |"
              % (med["pdsh_n"] / med["tether_n"], med["pdsh_s"] / med["tether_s"]))
        print("| speed-up of tether over clush / ansible | - | %.0fx / %.0fx |"
              % (med["clush_s"] / med["tether_s"], med["ansible_s"] / med["tether_s"]))
        print("| pdsh over the floor (the most any tool could gain over pdsh here) | %.0fx | %.0fx |"
              % (med["pdsh_n"] / med["floor_n"], med["pdsh_s"] / med["floor_s"]))
    finally:
        for a in agents:
            a.stop()
        s.stop()
        sshd.terminate()
        sshd.wait()
        drop_user()


if __name__ == "__main__":
    main()
