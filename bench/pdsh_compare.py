#!/usr/bin/env python3
"""bench/pdsh_compare: /bin/true on 100 targets on loopback, tether (100 real
tether-agent processes, one concurrent multi job) vs pdsh over ssh (sshd on
127.0.0.1-127.0.0.100 with a throwaway key, fanout 100). Median of 5, same run.
Installs pdsh and openssh-server from Debian if missing (root needed for sshd)."""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
import harness  # noqa: E402

N = int(os.environ.get("TARGETS", "100"))
RUNS = int(os.environ.get("RUNS", "5"))


def ensure_tools():
    if shutil.which("pdsh") and os.path.exists("/usr/sbin/sshd"):
        return
    subprocess.run(["apt-get", "install", "-y", "-q", "pdsh", "openssh-server", "openssh-client"],
                   check=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
                   stdout=subprocess.DEVNULL)


USER = "tetherbench"


def make_user(d):
    # A throwaway login with /bin/sh and an empty home: the ssh side pays for
    # a login shell, not for whatever root's ~/.bashrc happens to run here.
    home = d + "/home"
    os.makedirs(home + "/.ssh")
    subprocess.run(["userdel", USER], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["useradd", "-M", "-d", home, "-s", "/bin/sh", "-p", "*", USER], check=True)
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
                "MaxStartups 1000:30:1000\nMaxSessions 1000\nPermitRootLogin no\n"
                "LogLevel ERROR\nUseDNS no\n" % (d, d, d))
    os.makedirs("/run/sshd", exist_ok=True)
    p = subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", d + "/sshd_config"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import socket

    def up():
        with socket.socket() as c:
            return c.connect_ex(("127.0.0.1", port)) == 0
    harness.wait_until(up, 10, "sshd")
    return p, port


def pdsh_once(d, port):
    # sshd listens on at most 16 sockets: the 100 targets are names that an
    # ssh config maps to it (each still a connection and a login of its own).
    with open(d + "/ssh_config", "w") as f:
        f.write("Host h*\n  HostName 127.0.0.1\n  Port %d\n  User %s\n  IdentityFile %s/user\n"
                "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n"
                "  BatchMode yes\n" % (port, USER, d))
    env = dict(os.environ, PDSH_RCMD_TYPE="ssh", PDSH_SSH_ARGS_APPEND="-F %s/ssh_config" % d)
    t0 = time.monotonic()
    r = subprocess.run(["pdsh", "-t", "30", "-u", "60", "-f", str(N), "-w", "h[001-%03d]" % N, "/bin/true"],
                       env=env, capture_output=True, text=True, timeout=180)
    t = time.monotonic() - t0
    assert r.returncode == 0, r.stderr[-500:]
    return t


def main():
    ensure_tools()
    d = tempfile.mkdtemp(prefix="tether-pdsh-")
    make_user(d)
    sshd, port = start_sshd(d)
    s = harness.Server(d).start()
    agents = []
    try:
        for i in range(N):
            a = harness.Agent(d, s, "t%03d" % i, policy="allow = ['^/bin/true$']\ndeny = []").start()
            agents.append(a)
        harness.wait_until(lambda: s.api("GET", "/api/v1/clients?page[limit]=1000")[1]["meta"]["count"] == N
                           and all(c["connection_state"] == "connected"
                                   for c in s.api("GET", "/api/v1/clients?page[limit]=1000")[1]["data"]),
                           60, "all agents")
        pdsh_times, tether_times = [], []
        for _ in range(RUNS):
            pdsh_times.append(pdsh_once(d, port))
            t0 = time.monotonic()
            jid = s.multi({"command": "/bin/true", "execute_concurrently": True,
                           "client_ids": ["t%03d" % i for i in range(N)]})
            m = harness.wait_until(lambda: (lambda x: x if x["finished_at"] else None)(
                s.api("GET", "/api/v1/commands/" + jid)[1]["data"]), 60, "the job", interval=0.005)
            tether_times.append(time.monotonic() - t0)
            assert m["summary"]["successful"] == N, m["summary"]
        pm, tm = statistics.median(pdsh_times), statistics.median(tether_times)
        print("| %d targets, /bin/true, loopback | median of %d |" % (N, RUNS))
        print("| --- | --- |")
        print("| pdsh -R ssh -f %d | %.3f s (%.3f-%.3f) |" % (N, pm, min(pdsh_times), max(pdsh_times)))
        print("| tether (%d real agents, concurrent multi job, POST to all results stored) | %.3f s (%.3f-%.3f) |"
              % (N, tm, min(tether_times), max(tether_times)))
        print("| speed-up | %.1fx |" % (pm / tm))
    finally:
        for a in agents:
            a.stop()
        s.stop()
        sshd.terminate()
        drop_user()


if __name__ == "__main__":
    main()
