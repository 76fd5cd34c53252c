"""The operator's kit: checking configurations without starting.

`tetherd check-config` and `tether-agent check-config` read and check a
configuration (and the files it names: user and credential files, the
agent's policy) with the same line-numbered errors as a start, and open
nothing: no store, no listener, no connection.
"""
import os
import socket
import subprocess

import harness


def run(*args):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def server_conf(tmp_path, extra=""):
    api_port, agent_port = harness.free_port(), harness.free_port()
    data = tmp_path / "data"
    p = tmp_path / "tetherd.conf"
    p.write_text('[server]\naddress = "127.0.0.1:%d"\nauth = "a:b"\ndata_dir = "%s"\n'
                 '[api]\naddress = "127.0.0.1:%d"\nuser = "admin"\npassword = "foobaz"\n%s'
                 % (agent_port, data, api_port, extra))
    return p, data, (api_port, agent_port)


def test_tetherd_check_config_valid_opens_nothing(tmp_path):
    p, data, ports = server_conf(tmp_path)
    r = run(harness.binary("tetherd"), "check-config", "-c", str(p))
    assert r.returncode == 0, r.stderr
    assert "is valid" in r.stdout
    assert not data.exists()            # no store was created
    for port in ports:                  # and nothing was bound
        s = socket.socket()
        s.bind(("127.0.0.1", port))
        s.close()


def test_tetherd_check_config_errors_name_file_and_line(tmp_path):
    p, data, _ = server_conf(tmp_path, "bogus = 3\n")
    r = run(harness.binary("tetherd"), "check-config", "-c", str(p))
    assert r.returncode == 2
    assert "%s: line 9: unknown key 'bogus' in [api]" % p in r.stderr
    # a bad value in a checked field
    p.write_text(p.read_text().replace("bogus = 3\n", "").replace("127.0.0.1:", "nohostport", 1))
    r = run(harness.binary("tetherd"), "check-config", "-c", str(p))
    assert r.returncode == 2 and "is not HOST:PORT" in r.stderr
    # the user file it names is read too
    users = tmp_path / "users.json"
    users.write_text("{not json")
    p2, _, _ = server_conf(tmp_path)
    p2.write_text(p2.read_text().replace('user = "admin"\npassword = "foobaz"\n',
                                         'auth_file = "%s"\n' % users))
    r = run(harness.binary("tetherd"), "check-config", "-c", str(p2))
    assert r.returncode == 2 and str(users) in r.stderr, r.stderr
    assert not data.exists()


def agent_conf(tmp_path, policy):
    p = tmp_path / "agent.conf"
    p.write_text('[client]\nserver = "ws://127.0.0.1:%d"\nid = "c1"\nauth = "c1:pw"\n'
                 'data_dir = "%s"\nallow_root = true\n[remote-commands]\n%s'
                 % (harness.free_port(), tmp_path / "adata", policy))
    return p


def test_agent_check_config(tmp_path):
    p = agent_conf(tmp_path, 'allow = ["^echo"]\n')
    r = run(harness.binary("tether-agent"), "check-config", "-c", str(p))
    assert r.returncode == 0, r.stderr
    assert "is valid" in r.stdout
    assert not (tmp_path / "adata").exists()
    p = agent_conf(tmp_path, 'allow = ["(("]\n')
    r = run(harness.binary("tether-agent"), "check-config", "-c", str(p))
    assert r.returncode == 2 and "invalid allow regex '(('" in r.stderr
    p = agent_conf(tmp_path, 'allow = ["^echo"]\nnope = 1\n')
    r = run(harness.binary("tether-agent"), "check-config", "-c", str(p))
    assert r.returncode == 2 and "line 9: unknown key 'nope'" in r.stderr, r.stderr
    p = agent_conf(tmp_path, "")
    p.write_text(p.read_text().replace("[client]\n", '[client]\nlog_format = "xml"\n'))
    r = run(harness.binary("tether-agent"), "check-config", "-c", str(p))
    assert r.returncode == 2 and "client.log_format 'xml'" in r.stderr, r.stderr


def test_backup_while_running_and_restore(fleet, tmp_path):
    """`tetherd backup` copies a running server's store consistently (jobs
    keep finishing meanwhile); a server started on the copy has the jobs."""
    s = fleet.server().start()
    fleet.agent(s, "c1")
    jids = [s.run("c1", "echo before-%d" % i) for i in range(5)]
    for jid in jids:
        s.wait_job("c1", jid)
    # writes go on while the copy is taken
    more = [s.run("c1", "echo during-%d" % i) for i in range(20)]
    dest = tmp_path / "backup.db"
    r = run(harness.binary("tetherd"), "backup", "--data-dir", s.data_dir, str(dest))
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "backup.db.partial").exists()
    for jid in more:
        s.wait_job("c1", jid)
    ok = subprocess.run(["sqlite3", str(dest), "PRAGMA integrity_check"], capture_output=True,
                        text=True).stdout.strip()
    assert ok == "ok"
    s.stop()
    # restore: the copy as the store of a new server
    s2 = fleet.server()
    os.makedirs(s2.data_dir, exist_ok=True)
    with open(dest, "rb") as f, open(os.path.join(s2.data_dir, "tether.db"), "wb") as g:
        g.write(f.read())
    s2.start()
    for i, jid in enumerate(jids):
        d = s2.job("c1", jid)
        assert d["result"]["stdout"] == "before-%d\n" % i
        assert d["status"] == "successful"


def test_backup_errors(tmp_path):
    r = run(harness.binary("tetherd"), "backup", "--data-dir", str(tmp_path / "none"),
            str(tmp_path / "x.db"))
    assert r.returncode == 1 and "no store at" in r.stderr
    assert not (tmp_path / "x.db").exists()
    r = run(harness.binary("tetherd"), "backup")
    assert r.returncode == 2 and "needs a destination" in r.stderr


def start_logging(tmp_path, extra, env_extra=None, name="log"):
    """Starts tetherd with stderr in a file; returns (proc, path, api_port)."""
    p, _, (api_port, _) = server_conf(tmp_path, "")
    text = p.read_text().replace("[server]\n", "[server]\n" + extra, 1)
    p.write_text(text)
    path = tmp_path / name
    f = open(path, "wb")
    env = dict(os.environ)
    if env_extra:
        st = os.fstat(f.fileno())
        env["JOURNAL_STREAM"] = env_extra(st)
    proc = subprocess.Popen([harness.binary("tetherd"), "-c", str(p)], stderr=f,
                            stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env)
    f.close()
    harness.wait_until(lambda: harness.http_request(api_port, "GET", "/healthz", auth=None)[0]
                       == 200 if proc.poll() is None else True, 20, "tetherd to answer")
    assert proc.poll() is None
    return proc, path


def stop_and_read(proc, path):
    proc.terminate()
    proc.wait(timeout=20)
    return [l for l in path.read_text().splitlines() if l]


def test_log_format_json(tmp_path):
    import json
    proc, path = start_logging(tmp_path, 'log_format = "json"\n')
    lines = stop_and_read(proc, path)
    assert lines
    recs = [json.loads(l) for l in lines]          # every line is one JSON object
    assert all(r["program"] == "tetherd" and r["level"] in ("error", "warn", "info", "debug")
               and r["time"].endswith("Z") for r in recs)
    assert any("shutting down" in r["msg"] for r in recs)


def test_log_format_auto_under_the_journal(tmp_path):
    """Under systemd (JOURNAL_STREAM names stderr): no timestamps of our own,
    the priority as a <N> prefix; a JOURNAL_STREAM naming another file
    changes nothing."""
    proc, path = start_logging(tmp_path, "", lambda st: "%d:%d" % (st.st_dev, st.st_ino))
    lines = stop_and_read(proc, path)
    assert lines and all(l.startswith(("<3>", "<4>", "<6>", "<7>")) for l in lines), lines
    assert any(l.startswith("<6>info: ") for l in lines)
    proc, path = start_logging(tmp_path, "", lambda st: "1:1", name="log2")
    lines = stop_and_read(proc, path)
    assert lines and all(l[:4].isdigit() and " tetherd " in l for l in lines), lines


def test_log_format_bad_value(tmp_path):
    p, _, _ = server_conf(tmp_path)
    p.write_text(p.read_text().replace("[server]\n", '[server]\nlog_format = "xml"\n', 1))
    r = run(harness.binary("tetherd"), "check-config", "-c", str(p))
    assert r.returncode == 2 and "server.log_format 'xml'" in r.stderr


def complete(words, env):
    """COMPREPLY of the tether completion for the command line `words`
    (the last word is the one being completed)."""
    script = os.path.join(harness.ROOT, "packaging", "tether.bash-completion")
    line = " ".join(words)
    cmd = ('source %s; COMP_WORDS=(%s); COMP_CWORD=%d; COMP_LINE=%s; _tether; '
           'printf "%%s\\n" "${COMPREPLY[@]}"'
           % (script, " ".join("'%s'" % w for w in words), len(words) - 1, "'%s'" % line))
    r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    return [l for l in r.stdout.splitlines() if l]


def test_bash_completion_commands_flags_and_client_ids(fleet):
    s = fleet.server().start()
    fleet.agent(s, "web-1")
    fleet.agent(s, "web-2")
    fleet.agent(s, "db-1")
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(harness.binary("tether")) + ":" + env["PATH"]
    env.update(TETHER_ADDR="http://127.0.0.1:%d" % s.api_port, TETHER_USER="admin",
               TETHER_PASSWORD="foobaz")
    assert complete(["tether", "ex"], env) == ["exec"]
    assert {"clients", "jobs", "cancel", "groups"} <= set(complete(["tether", ""], env))
    assert "-concurrent" in complete(["tether", "exec", "-con"], env)
    assert complete(["tether", "-addr", "http://x", "exec", "-abort"], env) == ["-abort-on-error"]
    assert sorted(complete(["tether", "exec", "-client", "web"], env)) == ["web-1", "web-2"]
    assert complete(["tether", "exec", "-client", ""], env) != []
    # without credentials the server tells nothing: no ids, no error
    env2 = dict(env, TETHER_PASSWORD="wrong")
    assert complete(["tether", "exec", "-client", "web"], env2) == []


def test_agent_sighup_reloads_the_policy(fleet):
    """SIGHUP: the agent applies the file's [remote-commands] again; a file
    that no longer parses changes nothing."""
    import signal
    s = fleet.server().start()
    a = fleet.agent(s, "hup", policy="allow = ['^/usr/bin/echo ']\ndeny = []")
    st, j = s.api("POST", "/api/v1/clients/hup/commands", {"command": "/usr/bin/true"})
    assert st == 409 and "not allowed" in j["errors"][0]["title"], j
    text = open(a.config).read()
    with open(a.config, "w") as f:
        f.write(text.replace("allow = ['^/usr/bin/echo ']", "allow = ['^/usr/bin/echo ', '^/usr/bin/true$']"))
    os.kill(a.proc.pid, signal.SIGHUP)
    wait_until = harness.wait_until
    wait_until(lambda: "policy of" in a.proc.output() and "reloaded" in a.proc.output(), 10,
               "the reload", procs=[a.proc])
    jid = s.run("hup", "/usr/bin/true")
    assert s.wait_job("hup", jid)["status"] == "successful"
    # a broken file: logged, and the rules in force stay
    with open(a.config, "w") as f:
        f.write(text.replace("[remote-commands]", "[remote-commands]\nnot valid toml ="))
    os.kill(a.proc.pid, signal.SIGHUP)
    wait_until(lambda: "not reloaded" in a.proc.output(), 10, "the refused reload", procs=[a.proc])
    jid = s.run("hup", "/usr/bin/true")
    assert s.wait_job("hup", jid)["status"] == "successful"
    assert a.proc.alive() and s.client("hup")["connection_state"] == "connected"


def test_tetherd_sighup_reloads_users_and_credentials(fleet, tmp_path):
    """SIGHUP: api.auth_file and server.auth_file again; a credential that
    is gone cuts its agents off; a broken file changes nothing."""
    import json
    import signal
    h = subprocess.run([harness.binary("tetherd"), "hash-password"], input="alice-pass-1\n",
                       capture_output=True, text=True).stdout.strip()
    users = tmp_path / "users"
    users.write_text("alice:%s\n" % h)
    agents = tmp_path / "agents.json"
    agents.write_text(json.dumps({"ag-1": "secret-one", "ag-2": "secret-two"}))
    s = fleet.server(extra='[api]\nauth_file = "%s"\n[server]\nauth_file = "%s"\n' % (users, agents))
    s.start()
    fleet.agent(s, "ag-1", auth="ag-1:secret-one")
    fleet.agent(s, "ag-2", auth="ag-2:secret-two")
    assert s.api("GET", "/api/v1/me", auth=("alice", "alice-pass-1"))[0] == 200
    assert s.api("GET", "/api/v1/me", auth=("bob", "bob-pass-1"))[0] == 401
    h2 = subprocess.run([harness.binary("tetherd"), "hash-password"], input="bob-pass-1\n",
                        capture_output=True, text=True).stdout.strip()
    users.write_text("bob:%s\n" % h2)
    agents.write_text(json.dumps({"ag-1": "secret-one"}))
    os.kill(s.proc.pid, signal.SIGHUP)
    wait_until = harness.wait_until
    wait_until(lambda: "credentials of" in s.proc.output(), 20, "the reload", procs=[s.proc])
    assert s.api("GET", "/api/v1/me", auth=("bob", "bob-pass-1"))[0] == 200
    assert s.api("GET", "/api/v1/me", auth=("alice", "alice-pass-1"))[0] == 401
    s.wait_disconnected("ag-2")
    assert s.client("ag-1")["connection_state"] == "connected"
    # a broken file: nothing changes
    users.write_text("no colon here\n")
    os.kill(s.proc.pid, signal.SIGHUP)
    wait_until(lambda: "not reloaded" in s.proc.output(), 20, "the refused reload", procs=[s.proc])
    assert s.api("GET", "/api/v1/me", auth=("bob", "bob-pass-1"))[0] == 200
