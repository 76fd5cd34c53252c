"""Issue 12, item 16 (its root cause): live output is paced, not dropped.

The agent stops reading a live job's pipes while its link to tetherd is
behind, and goes on when the link has drained (backpressure from the child's
pipe to the socket), so a reader of GET /api/v1/ws/commands that keeps up
gets every byte live, in order. Frames carry their stream offset; output the
agent could not send (it had no connection) shows as a gap, and tetherd
says so at once with a "dropped" frame. Real tetherd, real tether-agent, a
real WebSocket reader; slow links are a real TCP relay that paces the
agent's uplink.
"""
import base64
import datetime
import json
import socket
import threading
import time

import pytest

from harness import wait_until

MiB = 1024 * 1024
AUTH = "Basic " + base64.b64encode(b"admin:foobaz").decode()


def limit(n):
    return "[remote-commands]\nsend_back_limit = %d\n" % n


class Reader:
    """A streaming API client. A thread reads the socket as fast as it can
    (parsing only the WebSocket framing) and stamps each message with the
    wall-clock time it arrived; gate, an Event, holds it back (a paused
    reader), rcvbuf shrinks its socket buffer."""

    def __init__(self, port, body, rcvbuf=None, gate=None, announce=False):
        self.s = socket.socket()
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(120)
        self.s.connect(("127.0.0.1", port))
        path = "/api/v1/ws/commands" + ("?announce=1" if announce else "")
        key = base64.b64encode(b"0123456789abcdef").decode()
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                        "Sec-WebSocket-Version: 13\r\nAuthorization: %s\r\n\r\n"
                        % (path, key, AUTH)).encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            b = self.s.recv(65536)
            assert b, "closed during the upgrade"
            buf += b
        head, rest = buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.buf = bytearray(rest)
        self.msgs = []       # (arrival time, payload bytes)
        self.closed = False
        self.error = None
        self._send(0x1, json.dumps(body).encode())
        self.gate = gate
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _send(self, op, payload):
        mask = b"\x11\x22\x33\x44"
        n = len(payload)
        hdr = bytes([0x80 | op]) + (bytes([0x80 | n]) if n < 126 else
                                    bytes([0x80 | 126]) + n.to_bytes(2, "big"))
        self.s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _parse(self, now, parts):
        buf, pos = self.buf, 0
        while True:
            if len(buf) - pos < 2:
                break
            b0, b1 = buf[pos], buf[pos + 1]
            n, h = b1 & 0x7F, 2
            if n == 126:
                if len(buf) - pos < 4:
                    break
                n, h = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
            elif n == 127:
                if len(buf) - pos < 10:
                    break
                n, h = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
            if len(buf) - pos < h + n:
                break
            data = bytes(buf[pos + h:pos + h + n])
            pos += h + n
            op = b0 & 0x0F
            if op == 8:
                self._send(0x8, data[:2])
                self.closed = True
                break
            if op in (9, 10):
                continue
            parts.append(data)
            if b0 & 0x80:
                self.msgs.append((now, b"".join(parts)))
                parts.clear()
        del buf[:pos]

    def _run(self):
        parts = []
        try:
            if self.gate is not None:
                self.gate.wait(120)
            while not self.closed:
                b = self.s.recv(1 << 20)
                if not b:
                    break
                self.buf += b
                self._parse(time.time(), parts)
        except Exception as e:  # noqa: BLE001
            self.error = e
        finally:
            self.s.close()

    def frames(self):
        return [(t, json.loads(m)) for t, m in list(self.msgs)]

    def finish(self, timeout=90):
        self.t.join(timeout)
        assert not self.t.is_alive(), "the stream did not end within %d s" % timeout
        assert self.error is None, self.error
        assert self.closed, "no close frame"
        return [f for _, f in self.frames()]


class SlowLink:
    """A TCP relay in front of tetherd's agent port: what the agent sends
    goes on at most rate bytes a second (None: unpaced), through small
    socket buffers, so that the agent's own queue is what fills. cut()
    breaks the connections it carries; the agent reconnects through it."""

    def __init__(self, target_port, rate=None):
        self.target = target_port
        self.rate = rate
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(8)
        self.port = self.ls.getsockname()[1]
        self.socks = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                a, _ = self.ls.accept()
            except OSError:
                return
            b = socket.socket()
            b.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
            try:
                b.connect(("127.0.0.1", self.target))
            except OSError:
                a.close()
                b.close()
                continue
            with self.lock:
                self.socks += [a, b]
            threading.Thread(target=self._pipe, args=(a, b, self.rate), daemon=True).start()
            threading.Thread(target=self._pipe, args=(b, a, None), daemon=True).start()

    @staticmethod
    def _pipe(src, dst, rate):
        t0, sent = time.monotonic(), 0
        try:
            while True:
                b = src.recv(16384)
                if not b:
                    break
                dst.sendall(b)
                if rate:
                    sent += len(b)
                    ahead = sent / rate - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)
        except OSError:
            pass
        for k in (src, dst):
            try:
                k.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            socks, self.socks = self.socks, []
        for k in socks:
            try:
                k.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.cut()
        self.ls.close()


def decoded(result, stream):
    v = result[stream]
    if result.get(stream + "_encoding") == "base64":
        return base64.b64decode(v)
    return v.encode()


def finals(frames):
    return [f for f in frames if "status" in f]


def is_partial(f, jid, stream="stdout"):
    return (f.get("jid") == jid and "result" in f and "status" not in f
            and stream in f["result"])


def stream_of(frames, jid, stream="stdout"):
    """One job's stream as the reader saw it: the bytes of its partials and
    its dropped frames, in order, each placed by its offset (which must be
    where the previous one ended). Returns (live bytes, dropped frames,
    position reached)."""
    pos, got, drops = 0, [], []
    for f in frames:
        if f.get("type") == "dropped" and f["jid"] == jid and f["stream"] == stream:
            assert f["offset"] == pos, (f, pos)
            pos += f["bytes"]
            drops.append(f)
        elif is_partial(f, jid, stream):
            data = decoded(f["result"], stream)
            assert f["offset"] == pos, (f["offset"], pos)
            pos += len(data)
            got.append(data)
    return b"".join(got), drops, pos


def lines_cmd(n):
    # n lines of exactly 1 KiB: the line number, zero-padded to 1023 digits
    return "seq -f '%%01023g' 1 %d" % n


def expected_lines(n):
    return "".join("%01023d\n" % i for i in range(1, n + 1))


def latest_multi(s):
    st, j = s.api("GET", "/api/v1/commands?page[limit]=1")
    return j["data"][0]["jid"] if st == 200 and j["data"] else None


def wall(t):
    """A Job's time ("2020-10-15T15:30:12.937267522Z") as a Unix time."""
    return datetime.datetime.strptime(t[:26], "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def first_partial(r, timeout=30):
    def got():
        for _, f in r.frames():
            if "result" in f and "status" not in f:
                return f
        return None
    return wait_until(got, timeout, "a first partial")


# ---- a prompt reader gets everything live ---------------------------------

def test_prompt_reader_gets_4000_lines_of_1kib_live(fleet):
    s = fleet.server().start()
    fleet.agent(s, "c1")
    r = Reader(s.api_port, {"command": lines_cmd(4000), "client_ids": ["c1"]})
    frames = r.finish()
    text = expected_lines(4000)
    (job,) = finals(frames)
    assert job["status"] == "successful" and job["result"]["stdout"] == text
    got, drops, pos = stream_of(frames, job["jid"])
    assert not drops, drops
    assert got == text.encode() and pos == len(text)
    # all of it before the final
    assert all(i < frames.index(job) for i, f in enumerate(frames) if is_partial(f, job["jid"]))


def test_burst_faster_than_the_link_arrives_whole_and_live(fleet):
    """16 MiB printed at once, through a 4 MB/s uplink: the agent paces the
    job to the link instead of dropping what does not fit."""
    s = fleet.server().start()
    link = SlowLink(s.agent_port, 4 * 1000 * 1000)
    try:
        fleet.agent(s, "c1", extra=limit(64 * MiB), server_addr="127.0.0.1:%d" % link.port)
        size = 16 * MiB
        t0 = time.monotonic()
        r = Reader(s.api_port, {"command": "head -c %d /dev/zero | tr '\\0' x" % size,
                                "client_ids": ["c1"], "timeout_sec": 120})
        frames = r.finish(150)
        took = time.monotonic() - t0
    finally:
        link.close()
    (job,) = finals(frames)
    assert job["status"] == "successful", job
    assert job["result"]["stdout"] == "x" * size
    got, drops, pos = stream_of(frames, job["jid"])
    assert not drops, drops
    assert got == b"x" * size and pos == size
    print("16 MiB burst through a 4 MB/s link: %.2f s" % took)


# ---- a paused reader: tetherd's accounting stays exact --------------------

def test_paused_reader_accounting_is_exact_and_placed(fleet):
    s = fleet.server().start()
    fleet.agent(s, "c1")
    gate = threading.Event()
    r = Reader(s.api_port, {"command": lines_cmd(4000), "client_ids": ["c1"]},
               rcvbuf=4096, gate=gate)
    # paused (bounded: at most until the polls give up) until the job is
    # over and stored, then reading everything
    mjid = wait_until(lambda: latest_multi(s), 20, "the multi job to start")
    s.wait_multi(mjid, timeout=60)
    gate.set()
    frames = r.finish()
    (job,) = finals(frames)
    text = expected_lines(4000)
    assert job["status"] == "successful" and job["result"]["stdout"] == text
    got, drops, pos = stream_of(frames, job["jid"])
    # partials plus dropped frames are the output, each piece in its place
    assert pos == len(text) and len(got) + sum(d["bytes"] for d in drops) == len(text)
    assert drops and len(got) < len(text)  # it really missed output
    assert sum(d["lines"] for d in drops) == text.count("\n") - got.count(b"\n")
    assert max(frames.index(d) for d in drops) < frames.index(job)
    tb = text.encode()
    for f in frames:
        if is_partial(f, job["jid"]):
            data = decoded(f["result"], "stdout")
            assert tb[f["offset"]:f["offset"] + len(data)] == data


# ---- one link, two jobs: fairness and results -----------------------------

def test_quiet_job_keeps_streaming_while_a_noisy_job_is_backpressured(fleet):
    s = fleet.server().start()
    rate = 4 * 1000 * 1000
    link = SlowLink(s.agent_port, rate)
    try:
        fleet.agent(s, "c1", extra=limit(16 * MiB), server_addr="127.0.0.1:%d" % link.port)
        size = 12 * MiB
        noisy = Reader(s.api_port, {"command": "head -c %d /dev/zero | tr '\\0' n" % size,
                                    "client_ids": ["c1"]})
        first_partial(noisy)
        quiet = Reader(s.api_port,
                       {"command": "for i in $(seq 1 10); do echo q$i $(date +%s.%N); "
                                   "sleep 0.1; done", "client_ids": ["c1"]})
        qframes = quiet.finish()
        quiet_done = time.time()
        nframes = noisy.finish(120)
    finally:
        link.close()
    (qjob,) = finals(qframes)
    assert qjob["status"] == "successful"
    got, drops, _ = stream_of(qframes, qjob["jid"])
    assert not drops and got == qjob["result"]["stdout"].encode()
    assert got.count(b"\n") == 10
    # each quiet line arrived soon after it was printed, although the
    # noisy job kept the link full all along
    lags = []
    for t, f in quiet.frames():
        if is_partial(f, qjob["jid"]):
            for l in f["result"]["stdout"].splitlines():
                lags.append(t - float(l.split()[1]))
    assert max(lags) < 3.0, lags
    (njob,) = finals(nframes)
    ngot, ndrops, _ = stream_of(nframes, njob["jid"])
    assert not ndrops and ngot == b"n" * size
    # the noisy job was paced by the link (it would print 12 MiB in well
    # under a second), and was still going when the quiet one was done
    assert noisy.msgs[-1][0] > quiet_done
    assert noisy.msgs[-1][0] - noisy.msgs[0][0] > 1.0
    print("quiet line lags: max %.2f s" % max(lags))


# ---- a backpressured job that is killed ends promptly ---------------------

@pytest.mark.parametrize("how", ["cancel", "timeout"])
def test_backpressured_job_killed_ends_promptly(fleet, how):
    s = fleet.server().start()
    link = SlowLink(s.agent_port, 2 * 1000 * 1000)
    try:
        fleet.agent(s, "c1", extra=limit(16 * MiB), server_addr="127.0.0.1:%d" % link.port)
        body = {"command": "cat /dev/zero | tr '\\0' c", "client_ids": ["c1"]}
        if how == "timeout":
            body.update(timeout_sec=2, kill_on_timeout=True)
        r = Reader(s.api_port, body)
        jid = first_partial(r)["jid"]
        if how == "cancel":
            time.sleep(1.0)  # backpressured by now: 2 MB/s against an endless burst
            t0 = time.time()
            st, j = s.api("DELETE", "/api/v1/clients/c1/commands/" + jid)
            assert st == 202, (st, j)
        frames = r.finish(90)
    finally:
        link.close()
    (job,) = finals(frames)
    assert job["status"] == "failed", job
    # the agent ended it at once: SIGTERM reached a child blocked on its
    # pipe, no wait for the SIGKILL 5 s later (the result itself then takes
    # its size over the slow link to arrive)
    if how == "cancel":
        assert job["error"].startswith("cancelled by admin"), job
        assert wall(job["finished_at"]) - t0 < 3.0, job["finished_at"]
    else:
        assert job["error"].startswith("timeout: killed after 2 seconds (SIGTERM"), job
        assert wall(job["finished_at"]) - wall(job["started_at"]) < 2 + 3.0
    got, drops, _ = stream_of(frames, jid)
    assert not drops, drops
    assert got == decoded(job["result"], "stdout") and len(got) > 0


# ---- no link: the child goes on, the gap is reported at once ---------------

def test_output_while_disconnected_is_a_gap_reported_at_once(fleet):
    s = fleet.server().start()
    link = SlowLink(s.agent_port)
    try:
        fleet.agent(s, "c1", server_addr="127.0.0.1:%d" % link.port)
        r = Reader(s.api_port, {"command": "for i in $(seq 1 80); do echo line $i; "
                                           "sleep 0.05; done", "client_ids": ["c1"]})
        first_partial(r)
        link.cut()
        s.wait_disconnected("c1")
        s.wait_connected("c1")
        frames = r.finish(60)
    finally:
        link.close()
    (job,) = finals(frames)
    text = "".join("line %d\n" % i for i in range(1, 81))
    assert job["status"] == "successful" and job["result"]["stdout"] == text
    got, drops, pos = stream_of(frames, job["jid"])
    assert drops, "no dropped frame"
    assert pos == len(text)
    assert sum(d["lines"] for d in drops) == text.count("\n") - got.count(b"\n")
    # the gap was reported as soon as it was seen: before later partials
    first_drop = frames.index(drops[0])
    assert any(is_partial(f, job["jid"]) for f in frames[first_drop + 1:])
    # what came live is the output with the gap cut out
    tb = text.encode()
    for f in frames:
        if is_partial(f, job["jid"]):
            data = decoded(f["result"], "stdout")
            assert tb[f["offset"]:f["offset"] + len(data)] == data
