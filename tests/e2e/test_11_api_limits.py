"""Issue 12 (items 7, 16, 17): what the API's answers cost and say.

- A job's stored output comes back without blowing up: output that JSON
  escapes would more than double is given in base64, so 20 GETs at once of
  a 4 MiB worst case keep tetherd's memory bounded.
- The streaming WebSocket API says what it drops for a slow reader (a
  "dropped" frame per job and stream), and the final job stays whole.
- Every sort and filter field that rport accepts works (order and selection
  checked), unknown ones give rport's 400; multi-client submissions refuse
  what single ones refuse, in the same words.
"""
import asyncio
import base64
import json
import os
import socket
import time

import pytest
import websockets

from harness import wait_until

MiB = 1024 * 1024
AUTH = "Basic " + base64.b64encode(b"admin:foobaz").decode()


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (key, pid))


def output_bytes(result, stream="stdout"):
    """The bytes of a job's output, whichever encoding the server chose."""
    v = result[stream]
    if result.get(stream + "_encoding") == "base64":
        return base64.b64decode(v)
    return v.encode()


# ---- item 7: output rendering and memory ----------------------------------

def test_20_gets_of_4mib_control_bytes_keep_memory_bounded(fleet, monkeypatch):
    # Under ASan, freed memory is kept in a quarantine (256 MiB) and would
    # count as held: keep it small so that the peak measures what is held.
    opts = [o for o in os.environ.get("ASAN_OPTIONS", "").split(":") if o]
    monkeypatch.setenv("ASAN_OPTIONS", ":".join(opts + ["quarantine_size_mb=1"]))
    s = fleet.server().start()
    fleet.agent(s, "c1")
    # 4 MiB (the agent's default send_back_limit) of \x01: 6 bytes each as a
    # JSON escape (\u0001), so 24 MiB a response if rendered as text.
    jid = s.run("c1", {"command": "head -c %d /dev/zero | tr '\\0' '\\1'" % (4 * MiB)})
    job = s.wait_job("c1", jid, timeout=60)
    assert job["status"] == "successful", job
    assert output_bytes(job["result"]) == b"\x01" * (4 * MiB)
    assert not job["result"].get("stdout_truncated")
    pid = s.proc.p.pid
    before = status_kb(pid, "VmHWM")

    # 20 clients ask at once and read slowly: every answer is rendered and
    # waits in tetherd until its reader takes it.
    req = ("GET /api/v1/clients/c1/commands/%s HTTP/1.1\r\nHost: x\r\n"
           "Authorization: %s\r\nConnection: close\r\n\r\n" % (jid, AUTH)).encode()
    socks = []
    for _ in range(20):
        k = socket.socket()
        k.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        k.settimeout(60)
        k.connect(("127.0.0.1", s.api_port))
        k.sendall(req)
        socks.append(k)
    firsts = [k.recv(1) for k in socks]  # each answer has been rendered
    assert all(firsts)
    peak = status_kb(pid, "VmHWM")
    bodies = []
    for k, first in zip(socks, firsts):
        data = [first]
        while True:
            b = k.recv(1 << 20)
            if not b:
                break
            data.append(b)
        k.close()
        head, body = b"".join(data).split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200"), head[:200]
        bodies.append(body)
    peak = max(peak, status_kb(pid, "VmHWM"))
    # 20 answers of 5.6 MiB, each held once, plus one being rendered; as
    # text they took 20 x 24 MiB (and more while being rendered).
    assert peak - before < 200 * 1024, "tetherd's peak grew by %d KiB" % (peak - before)
    for body in bodies:
        r = json.loads(body)["data"]["result"]
        assert r["stdout_encoding"] == "base64"
        assert output_bytes(r) == b"\x01" * (4 * MiB)
        # base64, not 24 MiB of escapes
        assert len(body) < 6 * MiB


def test_text_output_stays_text(fleet):
    s = fleet.server().start()
    fleet.agent(s, "c1")
    # tabs and newlines: escaped, but not past twice the size: still text
    jid = s.run("c1", {"command": "printf 'a\\tb\\tc\\n%.0s' $(seq 1 20000)"})
    r = s.wait_job("c1", jid)["result"]
    assert "stdout_encoding" not in r and r["stdout"] == "a\tb\tc\n" * 20000
    # a few control bytes in a small output: still text
    jid = s.run("c1", {"command": "printf '\\033[1mbold\\033[0m\\n'"})
    r = s.wait_job("c1", jid)["result"]
    assert "stdout_encoding" not in r and r["stdout"] == "\x1b[1mbold\x1b[0m\n"
    # mostly control bytes: base64, in lists too
    jid = s.run("c1", {"command": "printf '\\001\\002\\003\\004'"})
    r = s.wait_job("c1", jid)["result"]
    assert r["stdout_encoding"] == "base64" and output_bytes(r) == b"\x01\x02\x03\x04"
    st, j = s.api("GET", "/api/v1/clients/c1/commands?filter[jid]=" + jid)
    r = j["data"][0]["result"]
    assert r["stdout_encoding"] == "base64" and output_bytes(r) == b"\x01\x02\x03\x04"


def test_lists_carry_a_bounded_amount_of_output(fleet):
    s = fleet.server().start()
    fleet.agent(s, "c1")
    jids = [s.run("c1", {"command": "head -c %d /dev/zero | tr '\\0' %s" % (4 * MiB, "abcde"[i])})
            for i in range(5)]
    for jid in jids:
        assert s.wait_job("c1", jid, timeout=60)["status"] == "successful"
    st, j = s.api("GET", "/api/v1/clients/c1/commands?sort=jid")
    assert st == 200 and [x["jid"] for x in j["data"]] == jids and j["meta"]["count"] == 5
    # 16 MiB of output per list: the first four jobs whole, the fifth without
    for i, x in enumerate(j["data"][:4]):
        assert x["result"]["stdout"] == "abcde"[i] * (4 * MiB)
        assert "stdout_omitted" not in x["result"]
    last = j["data"][4]["result"]
    assert last["stdout"] == "" and last["stdout_omitted"] is True
    assert "stderr_omitted" not in last  # nothing to leave out
    # the job itself still has it
    assert s.job("c1", jids[4])["result"]["stdout"] == "e" * (4 * MiB)


# ---- item 16: the stream says what it dropped -----------------------------

class RawWS:
    """A WebSocket reader that reads only when told to, with a tiny receive
    buffer, so that tetherd really has to queue (and drop) for it."""

    def __init__(self, port, path="/api/v1/ws/commands"):
        self.s = socket.socket()
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.s.settimeout(60)
        self.s.connect(("127.0.0.1", port))
        key = base64.b64encode(b"0123456789abcdef").decode()
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                        "Sec-WebSocket-Version: 13\r\nAuthorization: %s\r\n\r\n"
                        % (path, key, AUTH)).encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self._recv()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def _recv(self):
        b = self.s.recv(65536)
        if not b:
            raise EOFError("connection closed")
        return b

    def send(self, obj):
        payload = json.dumps(obj).encode()
        mask = b"\x11\x22\x33\x44"
        assert len(payload) < 65536
        hdr = bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big") + mask
        self.s.sendall(hdr + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _take(self, n):
        while len(self.buf) < n:
            self.buf += self._recv()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def frame(self):
        """The next whole message as JSON, or None at the close frame."""
        parts = []
        while True:
            b0, b1 = self._take(2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(self._take(2), "big")
            elif n == 127:
                n = int.from_bytes(self._take(8), "big")
            data = self._take(n)
            op = b0 & 0x0F
            if op == 8:
                return None
            if op in (9, 10):
                continue
            parts.append(data)
            if b0 & 0x80:
                return json.loads(b"".join(parts))

    def close(self):
        self.s.close()


def lines_cmd(n):
    # n lines of exactly 1 KiB: the line number, zero-padded to 1023 digits
    return "seq -f '%%01023g' 1 %d" % n


def paced_lines_cmd(n):
    # the same in batches of 100 KiB every 20 ms: slow enough that the
    # agent's own link never drops, so any drop is tetherd's, for the reader
    return ("for i in $(seq 0 %d); do seq -f '%%01023g' $((i*100+1)) $((i*100+100)); "
            "sleep 0.02; done" % (n // 100 - 1))


def expected_lines(n):
    return "".join("%01023d\n" % i for i in range(1, n + 1))


def latest_multi(s):
    st, j = s.api("GET", "/api/v1/commands?page[limit]=1")
    return j["data"][0]["jid"] if st == 200 and j["data"] else None


def check_accounting(frames, jid, text):
    """Partials plus dropped frames account for every byte and line."""
    got = "".join(f["result"].get("stdout", "") for f in frames
                  if f.get("jid") == jid and "result" in f and "status" not in f)
    drops = [f for f in frames if f.get("type") == "dropped" and f["jid"] == jid]
    assert drops, "no dropped frame"
    for d in drops:
        assert d["stream"] == "stdout" and d["client_id"] == "c1" and d["multi_job_id"]
    dropped = sum(d["bytes"] for d in drops)
    assert len(got) + dropped == len(text)
    # what came is the output with holes where the drops were
    assert sum(d["lines"] for d in drops) == text.count("\n") - got.count("\n")
    assert set(got.splitlines()) <= set(text.splitlines())
    return drops, got


def test_stream_reports_what_a_paused_reader_missed(fleet):
    s = fleet.server().start()
    fleet.agent(s, "c1")
    ws = RawWS(s.api_port)
    ws.send({"command": lines_cmd(4000), "client_ids": ["c1"]})
    # the reader reads nothing until the job is over (bounded by the poll)
    mjid = wait_until(lambda: latest_multi(s), 20, "the multi job to start")
    s.wait_multi(mjid, timeout=60)
    frames = []
    while True:
        f = ws.frame()
        if f is None:
            break
        frames.append(f)
    ws.close()
    final = [i for i, f in enumerate(frames) if "status" in f]
    assert len(final) == 1
    job = frames[final[0]]
    text = expected_lines(4000)
    # the final job is whole, and so is the stored one
    assert job["status"] == "successful" and job["result"]["stdout"] == text
    assert s.job("c1", job["jid"])["result"]["stdout"] == text
    drops, got = check_accounting(frames, job["jid"], text)
    # the reader really missed output (how much depends on the socket
    # buffers: the agent no longer drops any of it, tetherd alone does)
    assert len(got) < len(text)
    # reported before the final
    assert max(frames.index(d) for d in drops) < final[0]


def test_stream_reports_drops_once_the_reader_catches_up(fleet, tmp_path):
    s = fleet.server().start()
    fleet.agent(s, "c1")
    printed, go = tmp_path / "printed", tmp_path / "go"
    ws = RawWS(s.api_port)
    ws.send({"command": "%s; touch %s; while [ ! -e %s ]; do sleep 0.05; done; echo after"
                        % (paced_lines_cmd(4000), printed, go),
             "client_ids": ["c1"]})
    # paused while the job prints 4000 lines
    wait_until(printed.exists, 30, "the job to print its lines")
    # reading again; the job is still running and silent, so the dropped
    # frame must come from the queue draining, not from more output
    frames = []
    while True:
        f = ws.frame()
        assert f is not None, "closed before a dropped frame"
        frames.append(f)
        if f.get("type") == "dropped":
            break
    go.touch()
    while True:
        f = ws.frame()
        if f is None:
            break
        frames.append(f)
    ws.close()
    job = [f for f in frames if "status" in f][0]
    text = expected_lines(4000) + "after\n"
    assert job["status"] == "successful" and job["result"]["stdout"] == text
    drops, got = check_accounting(frames, job["jid"], text)
    assert got.endswith("after\n")
    after = [i for i, f in enumerate(frames)
             if "status" not in f and f.get("result", {}).get("stdout", "").endswith("after\n")]
    assert max(frames.index(d) for d in drops) < after[0]


# ---- item 17: list parameters and shared validation -----------------------

BOB = ("bob", "bob-password")


def ids(s, path):
    st, j = s.api("GET", path)
    assert st == 200, (path, st, j)
    return [x["jid"] for x in j["data"]], j["meta"]["count"]


@pytest.fixture
def jobs(fleet):
    """Four jobs on c1 (and one on c2), told apart by every field:
    A admin 'sleep 4' (created first, finishes third), B admin 'exit 3'
    (failed), C bob 'true', D a multi job's child on c1 (c2 has the other)."""
    s = fleet.server().start()
    fleet.agent(s, "c1")
    fleet.agent(s, "c2")
    assert s.api("POST", "/api/v1/users", {"username": "bob", "password": "bob-password",
                                           "groups": ["ops"]})[0] == 201
    assert s.api("PUT", "/api/v1/user-groups/ops", {"permissions": {"commands": True}})[0] == 200  # rport: 200 with the group (issue 13)
    assert s.api("POST", "/api/v1/client-groups", {"id": "all", "params": {"client_id": ["c*"]},
                                                   "allowed_user_groups": ["ops"]})[0] == 201
    a = s.run("c1", {"command": "sleep 4"})
    b = s.run("c1", {"command": "exit 3"})
    s.wait_job("c1", b)
    st, j = s.api("POST", "/api/v1/clients/c1/commands", {"command": "true"}, auth=BOB)
    assert st == 200, j
    c = j["data"]["jid"]
    s.wait_job("c1", c)
    s.wait_job("c1", a)
    m = s.multi({"command": "true", "client_ids": ["c1", "c2"]})
    s.wait_multi(m)
    st, j = s.api("GET", "/api/v1/commands/%s/jobs?filter[client_id]=c1" % m)
    d = j["data"][0]["jid"]
    st, j = s.api("GET", "/api/v1/commands/%s/jobs?filter[client_id]=c2" % m)
    d2 = j["data"][0]["jid"]
    byjid = {x: s.job("c1", x) for x in (a, b, c, d)}
    return s, dict(A=a, B=b, C=c, D=d, D2=d2, M=m), byjid


def test_every_sort_field_orders(jobs):
    s, J, full = jobs
    A, B, C, D = J["A"], J["B"], J["C"], J["D"]
    assert [full[x]["status"] for x in (A, B, C, D)] == ["successful", "failed", "successful",
                                                          "successful"]
    assert full[D]["multi_job_id"] == J["M"] and full[A]["multi_job_id"] is None
    assert full[A]["schedule_id"] is None
    fin = sorted((A, B, C, D), key=lambda x: harness_time(full[x]["finished_at"]))
    assert fin == [B, C, A, D]
    base = "/api/v1/clients/c1/commands?sort="
    # ties keep the creation order (jid)
    cases = {
        "jid": [A, B, C, D], "-jid": [D, C, B, A],
        "started_at": [A, B, C, D], "-started_at": [D, C, B, A],
        "finished_at": [B, C, A, D], "-finished_at": [D, A, C, B],
        "status": [B, A, C, D], "-status": [A, C, D, B],
        "multi_job_id": [A, B, C, D], "-multi_job_id": [D, A, B, C],
        "schedule_id": [A, B, C, D], "-schedule_id": [A, B, C, D],
        "created_by": [A, B, D, C], "-created_by": [C, A, B, D],
        "client_id": [A, B, C, D],
        "created_by,-jid": [D, B, A, C], "-status,-finished_at": [D, A, C, B],
    }
    for q, want in cases.items():
        assert ids(s, base + q) == (want, 4), q
    # paging follows the order
    assert ids(s, base + "-finished_at&page[limit]=2&page[offset]=1") == ([A, C], 4)
    assert ids(s, "/api/v1/commands/%s/jobs?sort=-client_id" % J["M"]) == ([J["D2"], D], 2)


def harness_time(ts):
    # RFC 3339 with nanoseconds; the digits sort as numbers
    date, frac = ts.rstrip("Z").split(".") if "." in ts else (ts.rstrip("Z"), "0")
    return (date, int(frac.ljust(9, "0")))


def test_every_filter_field_selects(jobs):
    s, J, full = jobs
    A, B, C, D = J["A"], J["B"], J["C"], J["D"]
    base = "/api/v1/clients/c1/commands?sort=jid&"
    t = {x: (full[x]["started_at"], full[x]["finished_at"]) for x in (A, B, C, D)}
    cases = {
        "filter[jid]=" + A: [A],
        "filter[jid]=%s,%s" % (A, C): [A, C],
        "filter[jid]=%s*" % D[:-4]: [D],
        "filter[jid]=*%s" % B[-12:]: [B],
        "filter[status]=failed": [B],
        "filter[status]=failed,successful": [A, B, C, D],
        "filter[status]=succ*": [A, C, D],
        "filter[status]=running": [],
        "filter[created_by]=bob": [C],
        "filter[created_by]=ad*": [A, B, D],
        "filter[created_by]=bob,admin": [A, B, C, D],
        "filter[multi_job_id]=" + J["M"]: [D],
        "filter[multi_job_id]=*": [D],
        "filter[schedule_id]=*": [],
        "filter[client_id]=c1": [A, B, C, D],
        "filter[client_id]=c*": [A, B, C, D],
        "filter[client_id]=c2": [],
        "filter[started_at][gt]=" + t[A][0]: [B, C, D],
        "filter[started_at][since]=" + t[A][0]: [A, B, C, D],
        "filter[started_at][lt]=" + t[C][0]: [A, B],
        "filter[started_at][until]=" + t[C][0]: [A, B, C],
        "filter[finished_at][gt]=" + t[C][1]: [A, D],
        "filter[finished_at][since]=" + t[C][1]: [A, C, D],
        "filter[finished_at][lt]=" + t[A][1]: [B, C],
        "filter[finished_at][until]=" + t[A][1]: [A, B, C],
        "filter[finished_at][since]=%s&filter[finished_at][until]=%s" % (t[C][1], t[A][1]): [A, C],
        "filter[status]=successful&filter[created_by]=admin": [A, D],
    }
    for q, want in cases.items():
        assert ids(s, base + q) == (want, len(want)), q
    # the multi job's children, by client
    assert ids(s, "/api/v1/commands/%s/jobs?filter[client_id]=c2" % J["M"]) == ([J["D2"]], 1)


@pytest.mark.parametrize("q,title", [
    ("sort=colour", "unsupported sort field 'colour'"),
    ("sort=-colour", "unsupported sort field 'colour'"),
    ("sort=jid,colour", "unsupported sort field 'colour'"),
    ("filter[colour]=x", "unsupported filter field 'colour'"),
    ("filter[command]=x", "unsupported filter field 'command'"),
    ("page[limit]=5000", "pagination limit too big (5000) maximum is 1000"),
])
def test_unknown_list_fields_are_400_in_rports_words(fleet, q, title):
    s = fleet.server().start()
    fleet.agent(s, "c1")
    for path in ("/api/v1/clients/c1/commands?", "/api/v1/commands/%s/jobs?"
                 % s.multi({"command": "true", "client_ids": ["c1"]})):
        st, j = s.api("GET", path + q)
        assert (st, j["errors"][0]["title"]) == (400, title), (path, st, j)


def error(st_j):
    st, j = st_j
    return st, j["errors"][0]["title"], j["errors"][0]["detail"]


def test_multi_and_ws_refuse_what_single_refuses(fleet):
    s = fleet.server().start()
    fleet.agent(s, "c1")
    fleet.agent(s, "c2")
    offered = s.client("c1")["interpreters"]
    assert "nonesuch" not in offered
    script = base64.b64encode(b"echo hi\n").decode()
    bad = [
        ({"command": "true", "interpreter": "nonesuch"}, False),
        ({"command": "true", "interpreter": "tacoscript"}, False),
        ({"command": "true", "interpreter": "sh -x"}, False),
        ({"command": "true", "cwd": "/" + "d" * 5000}, False),
        ({"command": "   "}, False),
        ({"command": "x" * 70000}, False),
        ({"script": script, "interpreter": "nonesuch"}, True),
        ({"script": script, "cwd": "/" + "d" * 5000}, True),
        ({"script": "!!notbase64"}, True),
    ]
    for body, is_script in bad:
        kind = "scripts" if is_script else "commands"
        single = error(s.api("POST", "/api/v1/clients/c1/" + kind, body))
        assert single[0] == 400, (body, single)
        multi = error(s.api("POST", "/api/v1/" + kind, dict(body, client_ids=["c1", "c2"])))
        assert multi == single, (body, multi, single)
        frames = ws_frames(s, "/api/v1/ws/" + kind, dict(body, client_ids=["c1", "c2"]))
        assert len(frames) == 1, frames
        e = frames[0]["errors"][0]
        assert (e["title"], e["detail"]) == single[1:], (body, e, single)
    # the interpreter words name what the agent offers
    st, title, detail = error(s.api("POST", "/api/v1/commands",
                                    {"command": "true", "interpreter": "nonesuch",
                                     "client_ids": ["c1"]}))
    assert detail.startswith("expected interpreter to be one of: [") and "nonesuch" in detail
    # nothing ran for any of them
    assert ids(s, "/api/v1/clients/c1/commands")[1] == 0
    st, j = s.api("GET", "/api/v1/commands")
    assert j["meta"]["count"] == 0
    # and what is fine still runs on every path
    jid = s.multi({"command": "echo ok", "interpreter": "sh", "client_ids": ["c1", "c2"]})
    m = s.wait_multi(jid)
    assert [x["status"] for x in m["jobs"]] == ["successful", "successful"]


def ws_frames(s, path, body):
    async def go():
        frames = []
        async with websockets.connect("ws://127.0.0.1:%d%s" % (s.api_port, path),
                                      extra_headers={"Authorization": AUTH},
                                      max_size=2 ** 26) as ws:
            await ws.send(json.dumps(body))
            try:
                async for m in ws:
                    frames.append(json.loads(m))
            except websockets.ConnectionClosed:
                pass
        return frames
    return asyncio.run(asyncio.wait_for(go(), 30))
