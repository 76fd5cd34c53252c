"""Issue 4: the agent's execution engine (docs/execution.md).

One tetherd and a few agents for the whole module (each with the
configuration a test needs); every check polls with a deadline."""
import base64
import hashlib
import os
import shutil
import signal
import stat
import tempfile
import time
import uuid

import pytest

import harness
from harness import wait_until

MiB = 1024 * 1024
ALIASES = '[interpreter-aliases]\npy3 = "/usr/bin/python3"\n'


class Env:
    pass


@pytest.fixture(scope="module")
def env(module_fleet):
    fleet = module_fleet
    e = Env()
    e.fleet = fleet
    e.s = fleet.server().start()
    specs = {
        "x": dict(extra=ALIASES),
        # A real policy: only /usr/bin programs, never touch.
        "pol": dict(policy="allow = ['^/usr/bin/.*']\ndeny = ['touch']"),
        # The same policy, applied to scripts too (an explicit option).
        "polscripts": dict(policy="allow = ['^/usr/bin/.*']\ndeny = ['touch']",
                           extra="[remote-scripts]\ncheck_command_policy = true\n"),
        "off": dict(extra="[remote-commands]\nenabled = false\n"),
        "noscripts": dict(extra="[remote-scripts]\nenabled = false\n"),
        # No sudo in the agent's PATH.
        "nosudo": dict(env={"PATH": "/nonexistent-bin"}),
        # A fresh agent whose peak memory only the flood test sees.
        "flood": dict(),
    }
    e.agents = {}
    for cid, kw in specs.items():
        e.agents[cid] = fleet.agent(e.s, cid, start=(cid != "x"), wait=False, **kw)
    # Agent x inherits one more descriptor without close-on-exec (as from a
    # careless parent): it must not reach jobs.
    fd = os.open("/dev/null", os.O_RDONLY)
    try:
        e.agents["x"].start(pass_fds=(fd,))
    finally:
        os.close(fd)
    for cid in specs:
        e.s.wait_connected(cid)
    return e


# ---- helpers ---------------------------------------------------------

def post(env, cid, body, script=False):
    kind = "scripts" if script else "commands"
    if script:
        body = dict(body)
        body["script"] = base64.b64encode(body["script"].encode()).decode()
    body.setdefault("timeout_sec", 30)
    return env.s.api("POST", "/api/v1/clients/%s/%s" % (cid, kind), body)


def run(env, cid, body, script=False):
    st, j = post(env, cid, body, script)
    assert st == 200, (st, j)
    return j["data"]["jid"]


def run_wait(env, cid, body, script=False, timeout=30):
    jid = run(env, cid, body, script)
    return jid, env.s.wait_job(cid, jid, timeout)


def rejected(env, cid, body, script=False):
    """A 409 from the agent's reject: returns its title."""
    st, j = post(env, cid, body, script)
    assert st == 409, (st, j)
    return j["errors"][0]["title"]


def proc_env_has(pid, needle):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return needle in f.read().split(b"\0")
    except OSError:
        return False


def procs_of(jid=None, marker=None):
    """Live processes carrying the job's TETHER_JOB_ID (every descendant
    inherits it) or a marker in their command line."""
    out = []
    env_needle = ("TETHER_JOB_ID=%s" % jid).encode() if jid else None
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        pid = int(d)
        try:
            if harness.proc_stat(pid)[0] == "Z":
                continue
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if (marker and marker.encode() in cmdline) or (env_needle and proc_env_has(pid, env_needle)):
            out.append(pid)
    return out


def zombies_of(ppid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            fields = harness.proc_stat(int(d))
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == ppid:
            out.append(int(d))
    return out


def session_leaders(pids):
    out = []
    for p in pids:
        try:
            if os.getsid(p) == p:
                out.append(p)
        except OSError:
            pass
    return out


def kill_all(pids):
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def data_dir(env, cid):
    return os.path.join(env.agents[cid].dir, "data")


def scripts_dir(env, cid):
    return os.path.join(data_dir(env, cid), "scripts")


# ---- interpreters ----------------------------------------------------

def test_default_interpreter_is_bin_sh(env):
    jid, job = run_wait(env, "x", {"command": 'echo "$0"'})
    assert job["status"] == "successful", job
    assert job["result"]["stdout"] == "/bin/sh\n"
    assert job["interpreter"] == "/bin/sh"
    assert job["exit_code"] == 0 and job["pid"] > 0


def test_plain_command_runs_without_the_shell(env):
    # One simple command of plain words: the program is the job's process,
    # a child of the agent itself (no /bin/sh in between).
    _, job = run_wait(env, "x", {"command": "/bin/cat /proc/self/stat"})
    assert job["status"] == "successful", job
    fields = job["result"]["stdout"].rsplit(")", 1)[1].split()
    ppid = int(fields[1])
    assert job["result"]["stdout"].startswith("%d (cat)" % job["pid"]), job
    assert ppid == env.agents["x"].proc.p.pid, (ppid, job)
    # Found in PATH, with arguments.
    _, job = run_wait(env, "x", {"command": "printenv  TETHER_JOB_ID"})
    assert job["result"]["stdout"] == job["jid"] + "\n", job


@pytest.mark.parametrize("command,stdout,code", [
    ("echo $TETHER_JOB_ID_X plain", "plain\n", 0),      # a variable: the shell expands it
    ("exit 3", "", 3),                                     # a builtin
    ("true", "", 0),                                       # a builtin that is also a program
    ("X=1 printenv X", "1\n", 0),                          # an assignment
    ("/bin/echo a*b 'q'", "a*b q\n", 0),                   # quoting, globs
    ("cd /tmp", "", 0),
    ("/bin/echo one; /bin/echo two", "one\ntwo\n", 0),
])
def test_shell_syntax_still_goes_to_the_shell(env, command, stdout, code):
    _, job = run_wait(env, "x", {"command": command})
    assert job["exit_code"] == code and job["result"]["stdout"] == stdout, job


def test_executable_without_shebang_runs_as_a_shell_script(env, tmp_path_factory):
    # execve gives ENOEXEC for it; a shell runs it. So must we.
    d = tmp_path_factory.mktemp("noshebang")
    path = d / "hello"
    path.write_text("echo from-a-plain-file\n")
    path.chmod(0o755)
    _, job = run_wait(env, "x", {"command": str(path)})
    assert job["status"] == "successful", job
    assert job["result"]["stdout"] == "from-a-plain-file\n", job


def test_named_interpreters_bash_alias_and_path(env):
    _, job = run_wait(env, "x", {"command": 'echo "bash=$BASH_VERSION"', "interpreter": "bash"})
    assert job["status"] == "successful", job
    assert job["result"]["stdout"].startswith("bash=") and len(job["result"]["stdout"]) > 7
    # An [interpreter-aliases] entry: py3 -c CMD.
    _, job = run_wait(env, "x", {"command": "import sys; print(6 * 7, sys.executable)",
                                 "interpreter": "py3"})
    assert job["status"] == "successful", job
    assert job["result"]["stdout"] == "42 /usr/bin/python3\n"
    # An absolute path.
    _, job = run_wait(env, "x", {"command": 'echo "$0"', "interpreter": "/bin/bash"})
    assert job["result"]["stdout"] == "/bin/bash\n", job
    # The interpreters the agent offers include the alias, never cmd.
    offered = env.s.client("x")["interpreters"]
    assert "sh" in offered and "bash" in offered and "py3" in offered, offered
    assert "cmd" not in offered


def test_shebang_script_runs_with_its_own_interpreter(env):
    script = "#!/usr/bin/python3\nimport sys\nprint('py', sys.version_info[0])\n"
    # The interpreter named in the request is not used for a shebang script.
    _, job = run_wait(env, "x", {"script": script, "interpreter": "bash"}, script=True)
    assert job["status"] == "successful", job
    assert job["result"]["stdout"] == "py 3\n"


def test_missing_interpreter_is_refused_clearly(env):
    # cmd and powershell pass the server, as in rport (issue 13 item 6): the
    # agent decides, and without them it refuses before spawning anything.
    has_pwsh = any(os.access(p, os.X_OK) for p in ("/usr/bin/pwsh", "/usr/local/bin/pwsh"))
    for name in ["cmd"] + ([] if has_pwsh else ["powershell"]):
        title = rejected(env, "x", {"command": "dir", "interpreter": name})
        assert title.startswith("client error: failed to start a command: "), title
    # A name that is neither rport's nor offered by the agent: the server refuses.
    st, j = post(env, "x", {"command": "dir", "interpreter": "bogus"})
    assert st == 400, (st, j)
    assert j["errors"][0]["detail"] == \
        "expected interpreter to be one of: [cmd powershell tacoscript], actual: bogus"
    # An absolute path is passed on: the agent refuses it without spawning.
    title = rejected(env, "x", {"command": "true", "interpreter": "/nonexistent/tclsh"})
    assert title == ("client error: failed to start a command: interpreter "
                     "/nonexistent/tclsh: No such file or directory"), title


# ---- cwd, sudo, environment, fds --------------------------------------

def test_cwd(env):
    d = tempfile.mkdtemp(prefix="tether-cwd-")
    try:
        _, job = run_wait(env, "x", {"command": "pwd", "cwd": d})
        assert job["result"]["stdout"] == d + "\n", job
    finally:
        os.rmdir(d)
    title = rejected(env, "x", {"command": "pwd", "cwd": "/nonexistent-dir-4"})
    assert title == ("client error: failed to start a command: cwd /nonexistent-dir-4: "
                     "No such file or directory"), title


def test_sudo_missing_is_reported_not_hung(env):
    t0 = time.monotonic()
    title = rejected(env, "nosudo", {"command": "id -u", "is_sudo": True})
    assert "sudo is not installed" in title, title
    assert time.monotonic() - t0 < 10


def test_sudo_needing_a_password_fails_at_once(env, tmp_path_factory):
    """sudo -n never prompts: an agent running as nobody (who may not use
    sudo) gets sudo's own error in the result, at once."""
    if os.geteuid() != 0 or not os.path.exists("/usr/bin/setpriv"):
        pytest.skip("needs root and setpriv to run an agent as nobody")
    if not os.path.exists("/usr/bin/sudo"):
        pytest.skip("sudo is not installed: the password case cannot happen")
    base = tempfile.mkdtemp(prefix="tether-nobody-")
    try:
        os.chmod(base, 0o755)
        a = harness.Agent(base, env.s, "nobody")
        for root, dirs, files in os.walk(base):
            for n in [root] + [os.path.join(root, f) for f in dirs + files]:
                os.chown(n, 65534, 65534)
        env.fleet.procs.append(a)
        a.start(argv=["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                      harness.binary("tether-agent"), "-c", a.config])
        env.s.wait_connected("nobody")
        t0 = time.monotonic()
        _, job = run_wait(env, "nobody", {"command": "id -u", "is_sudo": True, "timeout_sec": 20})
        assert time.monotonic() - t0 < 10, "sudo waited for a password"
        assert job["status"] == "failed", job
        assert job["exit_code"] == 1
        assert job["error"].startswith("sudo -n failed"), job["error"]
        assert "password" in job["error"] or "password" in job["result"]["stderr"], job
        a.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_environment_has_job_id(env):
    jid, job = run_wait(env, "x", {"command": 'echo "$TETHER_JOB_ID"; echo "${HOME+home}"'})
    assert job["result"]["stdout"] == jid + "\nhome\n", job


def test_no_descriptors_leak_into_children(env):
    # The shell's own descriptors: only stdin (/dev/null), stdout and
    # stderr (two separate pipes: libuv makes them socket pairs).
    _, job = run_wait(env, "x", {"command": "ls /proc/$$/fd; "
                                            "readlink /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2"})
    assert job["status"] == "successful", job
    lines = job["result"]["stdout"].split("\n")
    assert lines[:4] == ["0", "1", "2", "/dev/null"], job["result"]
    out, err = lines[4], lines[5]
    assert out != err and out.split(":")[0] in ("pipe", "socket"), job["result"]
    assert err.split(":")[0] == out.split(":")[0]


def test_own_session_and_process_group(env):
    _, job = run_wait(env, "x", {"command": "ps -o pid=,pgid=,sid= -p $$"})
    pid, pgid, sid = (int(x) for x in job["result"]["stdout"].split())
    assert pid == pgid == sid == job["pid"], job


# ---- timeouts, kills, cancel -----------------------------------------

def test_timeout_default_keeps_the_process_running(env):
    marker = "keep-%s" % uuid.uuid4().hex
    jid = run(env, "x", {"command": "echo before; sleep 60; echo %s" % marker, "timeout_sec": 1})
    try:
        job = env.s.wait_job("x", jid, 15)
        assert job["status"] == "unknown", job
        assert "timeout" in job["error"] and "keeps running" in job["error"], job
        assert job["result"]["stdout"] == "before\n"
        assert job["exit_code"] is None
        # Still alive after the job went unknown.
        assert os.path.exists("/proc/%d" % job["pid"])
        assert procs_of(marker=marker) == [job["pid"]]
    finally:
        kill_all(procs_of(jid=jid, marker=marker))
    wait_until(lambda: not procs_of(jid=jid, marker=marker), 10, "the processes to die")


def test_kill_on_timeout_leaves_no_process(env):
    marker = "kot-%s" % uuid.uuid4().hex
    # A background grandchild that also holds the pipes.
    cmd = "sleep 300 & echo started; sleep 300; echo %s" % marker
    jid = run(env, "x", {"command": cmd, "timeout_sec": 1, "kill_on_timeout": True})
    try:
        t0 = time.monotonic()
        job = env.s.wait_job("x", jid, 15)
        assert time.monotonic() - t0 < 5
        assert job["status"] == "failed", job
        assert job["error"].startswith("timeout: killed after 1 seconds"), job["error"]
        assert "SIGTERM" in job["error"]
        assert job["exit_code"] == 128 + signal.SIGTERM
        assert job["result"]["stdout"] == "started\n"
        wait_until(lambda: not procs_of(jid=jid, marker=marker), 5, "no process of the job")
    finally:
        kill_all(procs_of(jid=jid, marker=marker))


def test_kill_on_timeout_escalates_to_sigkill(env):
    marker = "esc-%s" % uuid.uuid4().hex
    # Ignores SIGTERM, and so does its grandchild.
    cmd = "trap '' TERM; sleep 300 & sleep 300; echo %s" % marker
    jid = run(env, "x", {"command": cmd, "timeout_sec": 1, "kill_on_timeout": True})
    try:
        job = env.s.wait_job("x", jid, 20)
        assert job["status"] == "failed", job
        assert "SIGKILL" in job["error"], job["error"]
        assert job["exit_code"] == 128 + signal.SIGKILL
        wait_until(lambda: not procs_of(jid=jid, marker=marker), 5, "no process of the job")
    finally:
        kill_all(procs_of(jid=jid, marker=marker))


def test_cancel_kills_the_process_group(env):
    marker = "cancel-%s" % uuid.uuid4().hex
    jid = run(env, "x", {"command": "sleep 300 & sleep 300; echo %s" % marker,
                         "timeout_sec": 120})
    try:
        wait_until(lambda: len(procs_of(jid=jid)) >= 3, 10, "the job's processes")
        st, j = env.s.api("DELETE", "/api/v1/clients/x/commands/%s" % jid)
        assert st == 202, (st, j)
        job = env.s.wait_job("x", jid, 15)
        assert job["status"] == "failed", job
        assert job["error"] == "cancelled by admin"
        wait_until(lambda: not procs_of(jid=jid, marker=marker), 5, "no process of the job")
    finally:
        kill_all(procs_of(jid=jid, marker=marker))


# Two ways out of the job's process group: a child that calls setsid()
# (still a descendant of the job), and one that does so in a subshell that
# exits at once (an orphan, adopted by the agent as child subreaper).
ESCAPES = "setsid sleep 300 & (setsid sleep 300 > /dev/null 2>&1 &); echo started; sleep 300"


@pytest.mark.parametrize("how", ["kill_on_timeout", "cancel"])
def test_kill_reaches_processes_that_left_the_group(env, how):
    marker = "esc-%s-%s" % (how, uuid.uuid4().hex)
    body = {"command": ESCAPES + "; echo " + marker, "timeout_sec": 120}
    if how == "kill_on_timeout":
        body.update(timeout_sec=2, kill_on_timeout=True)
    jid = run(env, "x", body)
    try:
        # The job's shell leads its own session; the two that left lead theirs.
        wait_until(lambda: len(session_leaders(procs_of(jid=jid))) >= 3, 10,
                   "the two setsid() processes")
        if how == "cancel":
            st, j = env.s.api("DELETE", "/api/v1/clients/x/commands/%s" % jid)
            assert st == 202, (st, j)
        job = env.s.wait_job("x", jid, 20)
        assert job["status"] == "failed", job
        wait_until(lambda: not procs_of(jid=jid, marker=marker), 5,
                   "no process of the job, even those that left its process group")
        # The adopted orphan was reaped, not left a zombie.
        wait_until(lambda: not zombies_of(env.agents["x"].proc.p.pid), 5, "no zombie child")
    finally:
        kill_all(procs_of(jid=jid, marker=marker))


def test_grandchild_holding_the_pipes_does_not_hang_the_job(env):
    marker = "gc-%s" % uuid.uuid4().hex
    jid = run(env, "x", {"command": "sh -c 'sleep 60; echo %s' & echo done" % marker})
    try:
        t0 = time.monotonic()
        job = env.s.wait_job("x", jid, 10)
        assert time.monotonic() - t0 < 4, "the job waited for the grandchild"
        assert job["status"] == "successful", job
        assert job["result"]["stdout"] == "done\n"
    finally:
        kill_all(procs_of(jid=jid, marker=marker))


# ---- output ------------------------------------------------------------

def test_4mib_output_arrives_whole(env):
    expected = "".join("%d\n" % i for i in range(1, 900001)).encode()[:4 * MiB]
    _, job = run_wait(env, "x", {"command": "seq 1 900000 | head -c %d" % (4 * MiB)}, timeout=60)
    assert job["status"] == "successful", job
    out = job["result"]["stdout"].encode()
    assert len(out) == 4 * MiB
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(expected).hexdigest()
    assert not job["result"].get("stdout_truncated")


def test_50mib_output_is_truncated_with_the_dropped_count(env):
    cmd = "head -c %d /dev/zero | tr '\\0' x; echo tail >&2; exit 3" % (50 * MiB)
    _, job = run_wait(env, "x", {"command": cmd}, timeout=60)
    assert job["status"] == "failed" and job["exit_code"] == 3, job["error"]
    r = job["result"]
    assert r["stdout"] == "x" * (4 * MiB)
    assert r["stdout_truncated"] is True
    assert r["stdout_dropped_bytes"] == 46 * MiB
    assert r["stderr"] == "tail\n"


def test_memory_stays_bounded_under_a_flood(env):
    agent_pid = env.agents["flood"].proc.p.pid
    _, job = run_wait(env, "flood", {"command": "head -c %d /dev/zero; head -c %d /dev/zero >&2"
                                                % (768 * MiB, 256 * MiB)}, timeout=90)
    assert job["status"] == "successful", job
    assert job["result"]["stdout_dropped_bytes"] == 764 * MiB
    assert job["result"]["stderr_dropped_bytes"] == 252 * MiB
    with open("/proc/%d/status" % agent_pid) as f:
        hwm = [int(l.split()[1]) for l in f if l.startswith("VmHWM:")][0]
    # 4 MiB kept per stream and its frame, never the 1 GiB (the margin is
    # for sanitizer builds, whose allocator keeps freed memory).
    assert hwm < 256 * 1024, "agent peak RSS %d KiB" % hwm


def test_binary_output_round_trip(env):
    _, job = run_wait(env, "x", {"command": r"printf '\377\376\000\001abc\n'; printf '\351' >&2"})
    r = job["result"]
    assert r["stdout_encoding"] == "base64", r
    assert base64.b64decode(r["stdout"]) == b"\xff\xfe\x00\x01abc\n"
    assert base64.b64decode(r["stderr"]) == b"\xe9"
    # Valid UTF-8 stays text.
    _, job = run_wait(env, "x", {"command": "printf 'h\\303\\251llo'"})
    assert job["result"]["stdout"] == "h\u00e9llo" and "stdout_encoding" not in job["result"]


# ---- policy and gates --------------------------------------------------

def test_denied_command_spawns_nothing(env):
    marker = "/tmp/tether-denied-%s" % uuid.uuid4().hex
    for cmd in ["/usr/bin/touch %s" % marker, "touch %s" % marker]:
        title = rejected(env, "pol", {"command": cmd})
        assert title == "client error: command is not allowed: %s" % cmd, title
    assert not os.path.exists(marker)
    assert procs_of(marker=marker) == []
    # The same policy lets an allowed command through.
    _, job = run_wait(env, "pol", {"command": "/usr/bin/id -u"})
    assert job["status"] == "successful", job


def test_commands_disabled(env):
    marker = "/tmp/tether-off-%s" % uuid.uuid4().hex
    title = rejected(env, "off", {"command": "/usr/bin/touch %s" % marker})
    assert title == "client error: remote commands execution is disabled", title
    assert not os.path.exists(marker)


def test_scripts_pass_the_command_policy_only_when_asked(env):
    # As in rport, [remote-scripts] enabled alone gates scripts: the
    # command allow/deny list does not apply to them (issue 13 item 5).
    for script in ["echo hi\n", "#!/bin/bash\necho hi\n"]:
        _, job = run_wait(env, "pol", {"script": script}, script=True)
        assert job["status"] == "successful" and job["result"]["stdout"] == "hi\n", job
    # With [remote-scripts] check_command_policy = true, and no shebang, the
    # policy sees the interpreter that runs it.
    title = rejected(env, "polscripts", {"script": "echo hi\n"}, script=True)
    assert title == "client error: script interpreter is not allowed: /bin/sh", title
    # With one, the shebang line.
    title = rejected(env, "polscripts", {"script": "#!/bin/bash\necho hi\n"}, script=True)
    assert title == "client error: script interpreter is not allowed: /bin/bash", title
    _, job = run_wait(env, "polscripts", {"script": "#!/usr/bin/python3\nprint('ok')\n"},
                      script=True)
    assert job["result"]["stdout"] == "ok\n", job


# ---- scripts -----------------------------------------------------------

def test_scripts_enabled_vs_disabled(env):
    title = rejected(env, "noscripts", {"script": "echo hi\n"}, script=True)
    assert title == "client error: remote scripts are disabled", title
    _, job = run_wait(env, "x", {"script": "echo hi\nexit 4\n"}, script=True)
    assert job["status"] == "failed" and job["exit_code"] == 4, job
    assert job["result"]["stdout"] == "hi\n"
    assert job["is_script"] is True


def test_script_file_lives_only_while_the_job_runs(env):
    d = scripts_dir(env, "x")
    jid, job = run_wait(env, "x", {"script": 'echo "$0"; stat -c %a "$0"\n'}, script=True)
    assert job["result"]["stdout"] == "%s\n700\n" % os.path.join(d, jid), job
    st = os.lstat(d)
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700
    assert st.st_uid == os.geteuid()
    assert not os.path.exists(os.path.join(d, jid))
    # Removed at the timeout too, while the process keeps running.
    marker = "scr-%s" % uuid.uuid4().hex
    jid = run(env, "x", {"script": "sleep 60\necho %s\n" % marker, "timeout_sec": 1},
              script=True)
    try:
        job = env.s.wait_job("x", jid, 15)
        assert job["status"] == "unknown", job
        assert not os.path.exists(os.path.join(d, jid))
        assert procs_of(jid=jid), "the script's process should still run"
    finally:
        kill_all(procs_of(jid=jid))
    # And when the spawn fails (a shebang to nothing).
    title = rejected(env, "x", {"script": "#!/nonexistent/interp\n"}, script=True)
    assert title == ("client error: failed to start a command: the script's interpreter "
                     "(#!/nonexistent/interp): no such file or directory"), title
    assert os.listdir(d) == []


def test_scripts_directory_with_wrong_mode_is_refused(env):
    d = scripts_dir(env, "x")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    try:
        title = rejected(env, "x", {"script": "echo hi\n"}, script=True)
        assert title == ("client error: failed to start a command: scripts directory %s "
                         "must have mode 0700, not 0755" % d), title
    finally:
        os.chmod(d, 0o700)
    _, job = run_wait(env, "x", {"script": "echo hi\n"}, script=True)
    assert job["status"] == "successful", job
