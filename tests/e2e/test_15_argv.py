"""Issue 13, item 8: a command sent as an argv runs without a shell, its
quoting intact (the API's "argv" field, the run frame's, `tether exec
-shell=false`). Real tetherd, real agents, build/tether."""
import asyncio
import base64
import json
import os
import threading

import pytest
import websockets

from harness import agent_hello, cli, error_title, wait_until

PRINTF = ["/usr/bin/printf", "%s|\n", "a b", "c"]
# what the shell-quoted rendering of PRINTF is (the job's command)
PRINTF_TEXT = "/usr/bin/printf '%s|\n' 'a b' c"
# every shell special the brief names, and a quote
NASTY = "$HOME; *\nx 'q' `id` \\n"


def post(srv, body, cid="my-client"):
    return srv.api("POST", "/api/v1/clients/%s/commands" % cid, body)


def run_argv(srv, argv, cid="my-client", **fields):
    body = {"argv": argv}
    body.update(fields)
    st, j = post(srv, body, cid)
    assert st == 200, (st, j)
    return srv.wait_job(cid, j["data"]["jid"], timeout=20)


def ws_run(srv, request, path="/api/v1/ws/commands"):
    """One request frame on the streaming API; returns the frames."""
    async def go():
        h = {"Authorization": "Basic " + base64.b64encode(b"admin:foobaz").decode()}
        frames = []
        async with websockets.connect("ws://127.0.0.1:%d%s" % (srv.api_port, path),
                                      extra_headers=h, max_size=2 ** 26) as ws:
            await ws.send(json.dumps(request))
            try:
                async for m in ws:
                    frames.append(json.loads(m))
            except websockets.ConnectionClosed:
                pass
        return frames
    return asyncio.run(asyncio.wait_for(go(), 60))


def multi_done(srv, jid):
    def done():
        st, j = srv.api("GET", "/api/v1/commands/" + jid)
        assert st == 200, (st, j)
        d = j["data"]
        return d if d["status"] != "running" and d["jobs"] and \
            all(x["status"] != "running" for x in d["jobs"]) else None
    return wait_until(done, 20, "multi job %s to finish" % jid)


# ---- the run keeps the argv as given --------------------------------------

def test_printf_keeps_its_quoting(my_client, server):
    job = run_argv(server, PRINTF)
    assert job["status"] == "successful", job
    assert job["result"]["stdout"] == "a b|\nc|\n"
    # the stored job: a readable rendering, and the argv itself
    assert job["command"] == PRINTF_TEXT
    assert job["argv"] == PRINTF
    # the same words as a command go through /bin/sh: the quoting is gone
    st, j = post(server, {"command": " ".join(PRINTF)})
    assert st == 200
    old = server.wait_job("my-client", j["data"]["jid"], timeout=20)
    assert old["result"]["stdout"] != "a b|\nc|\n"
    # a job without argv has none in its JSON (rport's shape)
    assert "argv" not in old
    # no shell in between: the program's parent is the agent itself
    job = run_argv(server, ["/bin/sh", "-c", "echo $PPID"])
    assert job["result"]["stdout"] == "%d\n" % my_client.proc.pid, job


def test_specials_reach_the_program_literally(my_client, server):
    job = run_argv(server, ["/usr/bin/printf", "[%s]", NASTY, ""])
    assert job["status"] == "successful", job
    assert job["result"]["stdout"] == "[%s][]" % NASTY
    # the rendering gives the shell the same words back
    job2 = run_argv(server, ["/bin/sh", "-c", job["command"]])
    assert job2["result"]["stdout"] == "[%s][]" % NASTY, job2
    # no shell reads them: no glob, no variable, no second command
    job = run_argv(server, ["/bin/echo", "*", "$HOME", "a;b"], cwd="/")
    assert job["result"]["stdout"] == "* $HOME a;b\n"


def test_program_found_in_path_cwd_and_failures(my_client, server, tmp_path):
    # argv[0] without a slash is looked up in the agent's PATH (execvp)
    job = run_argv(server, ["printf", "%s", "x y"])
    assert job["status"] == "successful" and job["result"]["stdout"] == "x y", job
    # in the job's cwd
    job = run_argv(server, ["pwd"], cwd=str(tmp_path))
    assert job["result"]["stdout"] == str(tmp_path) + "\n", job
    # a relative path with a slash is the cwd's
    script = tmp_path / "hello"
    script.write_text("#!/bin/sh\nprintf '%s|' \"$@\"\n")
    script.chmod(0o755)
    job = run_argv(server, ["./hello", "1 2", "3"], cwd=str(tmp_path))
    assert job["result"]["stdout"] == "1 2|3|", job
    # a program that is not there: refused before anything runs
    st, j = post(server, {"argv": ["no-such-program-xyz", "a"]})
    assert st == 409, (st, j)
    assert error_title((st, j)) == \
        "client error: failed to start a command: no-such-program-xyz: no such file or directory"
    # a shell builtin is no program: no shell runs it
    st, j = post(server, {"argv": ["exit", "3"]})
    assert st == 409 and error_title((st, j)) == \
        "client error: failed to start a command: exit: no such file or directory", (st, j)
    # a file that is no program is not handed to a shell
    plain = tmp_path / "plain"
    plain.write_text("echo hi\n")
    plain.chmod(0o755)
    st, j = post(server, {"argv": [str(plain)]})
    assert st == 409 and error_title((st, j)) == "client error: failed to start a command: " \
        "%s: exec format error (not a binary, and no #! line)" % plain, (st, j)
    # exit status and signals as for a command
    job = run_argv(server, ["/bin/sh", "-c", "exit 3"])
    assert job["status"] == "failed" and job["exit_code"] == 3, job


def test_sudo_runs_argv_through_sudo(my_client, server):
    if os.system("sudo -n true >/dev/null 2>&1") != 0:
        pytest.skip("sudo -n does not work here")
    env = run_argv(server, ["/usr/bin/env"])
    assert "TETHER_JOB_ID=" in env["result"]["stdout"]
    # sudo resets the environment: the job ran through it, argv intact
    job = run_argv(server, ["/usr/bin/env"], is_sudo=True)
    assert job["status"] == "successful", job
    assert "TETHER_JOB_ID=" not in job["result"]["stdout"]
    job = run_argv(server, ["/usr/bin/printf", "%s|", "-n", "a b"], is_sudo=True)
    assert job["result"]["stdout"] == "-n|a b|", job


# ---- the policy --------------------------------------------------------------

def test_policy_applies_to_argv(fleet, server):
    # rport's default rules
    fleet.agent(server, "strict", policy=r"allow = ['^/usr/bin/.*']" "\n" r"deny = ['(\||<|>|;|,|\n|&)']")
    st, j = post(server, {"argv": ["/usr/bin/printf", "a;b"]}, "strict")
    assert st == 409, (st, j)
    # the policy sees the rendering, as the job's command shows it
    assert error_title((st, j)) == "client error: command is not allowed: /usr/bin/printf 'a;b'"
    st, j = post(server, {"argv": ["/bin/echo", "x"]}, "strict")
    assert st == 409 and error_title((st, j)) == \
        "client error: command is not allowed: /bin/echo x"
    # a program name with a space cannot pass for an allowed path
    st, j = post(server, {"argv": ["/usr/bin/true /bin/rm"]}, "strict")
    assert st == 409 and error_title((st, j)) == \
        "client error: command is not allowed: '/usr/bin/true /bin/rm'"
    # an allowed one runs
    job = run_argv(server, ["/usr/bin/printf", "%s", "ok go"], "strict")
    assert job["status"] == "successful" and job["result"]["stdout"] == "ok go", job
    # refused jobs never ran: nothing is running, nothing was written
    jobs = server.api("GET", "/api/v1/clients/strict/commands")[1]["data"]
    assert all(x["status"] != "running" for x in jobs)


def test_remote_commands_disabled_refuses_argv(fleet, server):
    fleet.agent(server, "off", extra="[remote-commands]\nenabled = false\n")
    st, j = post(server, {"argv": ["/usr/bin/true"]}, "off")
    assert st == 409 and error_title((st, j)) == \
        "client error: remote commands execution is disabled"


# ---- bad requests --------------------------------------------------------------

BAD = [
    ({"command": "date", "argv": ["/usr/bin/date"]}, "Command and argv cannot both be given."),
    ({}, "Command cannot be empty."),
    ({"command": ""}, "Command cannot be empty."),
    ({"argv": ["/usr/bin/date"], "interpreter": "bash"}, "Invalid interpreter."),
    ({"argv": []}, "Invalid argv."),
    ({"argv": [""]}, "Invalid argv."),
    ({"argv": ["/usr/bin/printf", 1]}, "Invalid argv."),
    # JSON's \u0000 is refused where the body is read
    ({"argv": ["/usr/bin/printf", "a\u0000b"]}, "Invalid JSON data."),
    ({"argv": ["/usr/bin/true"] * 257}, "Invalid argv."),
    ({"argv": ["/usr/bin/true", "x" * (64 * 1024 + 1)]}, "Invalid argv."),
    ({"argv": ["/usr/bin/true"] + ["x" * 60000] * 5}, "Invalid argv."),
    ({"argv": "/usr/bin/date"}, "Invalid JSON data."),
]


@pytest.mark.parametrize("body,title", BAD)
def test_bad_argv_requests(my_client, server, body, title):
    for path, extra in (("/api/v1/clients/my-client/commands", {}),
                        ("/api/v1/commands", {"client_ids": ["my-client"]})):
        b = dict(body)
        b.update(extra)
        r = server.api("POST", path, b)
        assert r.status == 400, (path, r)
        assert error_title(r) == title, (path, r)
        detail = r.body["errors"][0]["detail"]
        if title != "Invalid JSON data.":
            assert detail, r
    frames = ws_run(server, dict(body, client_ids=["my-client"]))
    assert len(frames) == 1 and frames[0]["errors"][0]["title"] == title, frames
    # nothing was created
    jobs = server.api("GET", "/api/v1/clients/my-client/commands")[1]["data"]
    assert jobs == []


def test_bad_argv_words(my_client, server):
    r = post(server, {"command": "date", "argv": ["/usr/bin/date"]})
    assert "not both" in r.body["errors"][0]["detail"]
    r = post(server, {"argv": ["/usr/bin/printf", "a\u0000b"]})
    assert "\\u0000 is not allowed" in r.body["errors"][0]["detail"], r
    r = post(server, {"argv": ["/usr/bin/printf", "x" * (64 * 1024 + 1)]})
    assert r.body["errors"][0]["detail"] == "argv[1] is 65537 bytes; the limit is 65536"
    r = post(server, {"argv": ["/usr/bin/true"] * 257})
    assert r.body["errors"][0]["detail"] == "argv must have 1 to 256 entries, not 257"
    r = post(server, {})
    assert "argv" in r.body["errors"][0]["detail"]
    # scripts take no argv
    r = server.api("POST", "/api/v1/clients/my-client/scripts",
                          {"script": base64.b64encode(b"echo hi").decode(),
                           "argv": ["/bin/true"]})
    assert r.status == 400 and error_title(r) == "Invalid JSON data.", r
    # the largest argv passes: 256 entries, 256 KiB in all
    job = run_argv(server, ["/usr/bin/printf", "%.0s"] + ["y" * 1030] * 254)
    assert job["status"] == "successful" and job["result"]["stdout"] == "", job
    assert len(job["argv"]) == 256


# ---- multi-client jobs, the streaming API, the CLI --------------------------

def test_multi_client_argv(fleet, server):
    fleet.agents(server, 2, prefix="m")
    st, j = server.api("POST", "/api/v1/commands",
                              {"argv": PRINTF, "client_ids": ["m-0", "m-1"],
                               "execute_concurrently": True})
    assert st == 200, (st, j)
    d = multi_done(server, j["data"]["jid"])
    assert d["command"] == PRINTF_TEXT and d["argv"] == PRINTF
    assert sorted(x["client_id"] for x in d["jobs"]) == ["m-0", "m-1"]
    for x in d["jobs"]:
        assert x["status"] == "successful" and x["result"]["stdout"] == "a b|\nc|\n", x
        assert x["argv"] == PRINTF and x["command"] == PRINTF_TEXT


def test_ws_api_argv(my_client, server):
    frames = ws_run(server, {"argv": ["/usr/bin/printf", "[%s]", NASTY],
                                    "client_ids": ["my-client"]})
    final = [f for f in frames if "status" in f]
    assert len(final) == 1, frames
    assert final[0]["status"] == "successful", final
    assert final[0]["result"]["stdout"] == "[%s]" % NASTY
    # live output (best effort) is the same bytes
    live = "".join(f["result"].get("stdout", "") for f in frames
                   if "status" not in f and "result" in f)
    assert live in ("", "[%s]" % NASTY), frames
    jobs = server.api("GET", "/api/v1/clients/my-client/commands")[1]["data"]
    assert jobs[0]["argv"] == ["/usr/bin/printf", "[%s]", NASTY]


def test_cli_shell_false(my_client, server):
    p = cli(server, "exec", "-client", "my-client", "-shell=false",
            "/usr/bin/printf", "%s|\n", "a b", "c")
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert p.stdout.splitlines()[:2] == ["my-client: a b|", "my-client: c|"], p.stdout
    p = cli(server, "exec", "-client", "my-client", "-shell=false",
            "/usr/bin/printf", "%s", NASTY)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert p.stdout.startswith("my-client: " + NASTY.replace("\n", "\nmy-client: ")), p.stdout
    # the default (-shell=true) keeps the shell: $HOME is expanded
    p = cli(server, "exec", "-client", "my-client", "echo", "$HOME")
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "$HOME" not in p.stdout.splitlines()[0]
    p = cli(server, "exec", "-client", "my-client", "-shell=false", "/bin/echo", "$HOME")
    assert p.stdout.splitlines()[0] == "my-client: $HOME", p.stdout
    # what the shell needs cannot go with -shell=false
    p = cli(server, "exec", "-shell=false", "-interpreter", "bash", "/bin/true")
    assert p.returncode == 2 and "-interpreter cannot be used" in p.stderr, p.stderr
    p = cli(server, "exec", "-shell=false", "-", stdin="echo hi\n")
    assert p.returncode == 2 and "script" in p.stderr, p.stderr
    # JSON carries text: a word that is not UTF-8 is refused, never changed
    p = cli(server, "exec", "-client", "my-client", "-shell=false", "/bin/echo", b"\xff")
    assert p.returncode == 2 and "argument 2 is not UTF-8" in p.stderr, p.stderr
    # -sudo: sudo -n -- PROGRAM ARG...
    if os.system("sudo -n true >/dev/null 2>&1") == 0:
        p = cli(server, "exec", "-client", "my-client", "-shell=false", "-sudo",
                "/usr/bin/printf", "%s|", "-n", "a b")
        assert p.returncode == 0 and p.stdout.startswith("my-client: -n|a b|"), p.stdout
    # the server's limits come back as a usage error
    p = cli(server, "exec", "-client", "my-client", "-shell=false",
            *(["/bin/true"] * 300))
    assert p.returncode == 2 and "argv must have 1 to 256 entries" in p.stderr, p.stderr


def test_argv_kept_across_a_restart(my_client, server):
    job = run_argv(server, PRINTF)
    server.restart()
    server.wait_connected("my-client", timeout=20)
    again = server.job("my-client", job["jid"])
    assert again["argv"] == PRINTF and again["command"] == PRINTF_TEXT


def test_argv_sent_again_after_a_lost_run_frame(fleet):
    """The run frame is lost with its connection (a stand-in speaking the
    protocol takes it and goes away); the server restarts; when the real
    agent connects, the job is sent again from the store, argv intact."""
    srv = fleet.server().start()
    frames = []

    async def swallow():
        async with websockets.connect("ws://127.0.0.1:%d/" % srv.agent_port,
                                      subprotocols=["tether.v1"]) as ws:
            await ws.send(agent_hello("my-client"))
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if m["type"] == "run":
                    frames.append(m)
                    await asyncio.sleep(0.3)
                    return

    t = threading.Thread(target=lambda: asyncio.run(asyncio.wait_for(swallow(), 40)),
                         daemon=True)
    t.start()
    srv.wait_connected("my-client")
    argv = ["/bin/sh", "-c", 'printf "[%s]" "$0"; printf %s $PPID', NASTY]
    st, j = post(srv, {"argv": argv, "timeout_sec": 30})
    assert st == 200, (st, j)
    t.join(40)
    # the run frame carries the argv, and its rendering as the command
    assert frames and frames[0]["argv"] == argv, frames
    assert frames[0]["command"] == "/bin/sh -c 'printf \"[%s]\" \"$0\"; printf %s $PPID' " \
        "'$HOME; *\nx '\\''q'\\'' `id` \\n'", frames
    srv.restart()
    agent = fleet.agent(srv, "my-client")
    job = srv.wait_job("my-client", j["data"]["jid"], timeout=20)
    assert job["status"] == "successful", job
    # the agent ran the argv itself (no shell is the parent)
    assert job["result"]["stdout"] == "[%s]%d" % (NASTY, agent.proc.pid), job
