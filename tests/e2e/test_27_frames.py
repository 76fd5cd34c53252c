"""Agent protocol v2 (issue 19): agreed at hello; acks held for a moment to
ride on the next frame or go batched in one "acks" frame; a result without a
started frame; and agents that speak v1 keep getting v1 frames."""
import asyncio
import json
import threading
import time
import uuid

import harness
from harness import wait_until

HELLO_FIELDS = {"type": "hello", "auth_id": "clientAuth1", "password": "1234"}


class StandIn:
    """A protocol-speaking agent in a thread: says hello with `protocol`,
    records every frame from the server, and answers each run with what
    `on_run(frame)` returns (a list of frames to send)."""

    def __init__(self, server, cid, protocol, on_run):
        self.frames = []
        self.welcome = None
        self.outbox = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.server, self.cid, self.protocol, self.on_run = server, cid, protocol, on_run
        self.t = threading.Thread(target=lambda: asyncio.run(asyncio.wait_for(self.main(), 60)),
                                  daemon=True)
        self.t.start()
        wait_until(lambda: self.welcome is not None, 10, "the welcome")

    def send(self, frame):
        with self.lock:
            self.outbox.append(frame)

    async def main(self):
        import websockets
        async with websockets.connect("ws://127.0.0.1:%d/" % self.server.agent_port,
                                      subprotocols=["tether.v1"]) as ws:
            hello = dict(HELLO_FIELDS, id=self.cid, name=self.cid, running=[])
            if self.protocol is not None:
                hello["protocol"] = self.protocol
            await ws.send(json.dumps(hello))
            while not self.stop.is_set():
                with self.lock:
                    out, self.outbox = self.outbox, []
                for f in out:
                    await ws.send(json.dumps(f))
                try:
                    m = json.loads(await asyncio.wait_for(ws.recv(), 0.02))
                except asyncio.TimeoutError:
                    continue
                with self.lock:
                    self.frames.append((time.monotonic(), m))
                if m["type"] == "welcome":
                    self.welcome = m
                elif m["type"] == "run":
                    for f in self.on_run(m):
                        await ws.send(json.dumps(f))

    def of_type(self, t):
        with self.lock:
            return [m for _, m in self.frames if m["type"] == t]

    def close(self):
        self.stop.set()
        self.t.join(10)


def result(jid, out="ok\n"):
    return {"type": "result", "jid": jid, "status": "successful", "exit_code": 0, "error": "",
            "stdout": out, "stderr": "", "pid": 4242}


def started(jid):
    return {"type": "started", "jid": jid, "pid": 4242}


def post(s, cid, command="echo"):
    st, j = s.api("POST", "/api/v1/clients/%s/commands" % cid, {"command": command})
    assert st == 200, (st, j)
    return j["data"]["jid"]


def test_v1_agent_gets_v1_frames(fleet):
    """An agent that offers protocol 1 (or none) is answered in v1: welcome
    protocol 1, run frames without acks, one ack frame per result, at once."""
    s = fleet.server().start()
    for cid, proto in (("v1", 1), ("v0", None)):
        a = StandIn(s, cid, proto, lambda m: [started(m["jid"]), result(m["jid"])])
        try:
            assert a.welcome["protocol"] == 1, a.welcome
            jids = [post(s, cid) for _ in range(3)]
            for jid in jids:
                assert s.wait_job(cid, jid)["status"] == "successful"
            acks = wait_until(lambda: (lambda x: x if len(x) == 3 else None)(a.of_type("ack")), 5,
                              "three v1 acks")
            assert sorted(x["jid"] for x in acks) == sorted(jids)
            assert all(set(x) == {"type", "jid"} for x in acks), acks
            assert not a.of_type("acks")
            assert all("acks" not in r for r in a.of_type("run")), a.of_type("run")
        finally:
            a.close()


def test_v2_result_without_started_and_acks_batched_or_piggybacked(fleet):
    """A v2 agent answers a run with its result alone: the API's call and
    the job finish as with a start. The ack is held: it rides on the next
    frame to the agent (a run, the pong to its ping), which names every
    result stored meanwhile; a result offered again is acked again."""
    s = fleet.server().start()
    a = StandIn(s, "v2", 2, lambda m: [result(m["jid"])])
    try:
        assert a.welcome["protocol"] == 2, a.welcome
        j1 = post(s, "v2")
        assert s.wait_job("v2", j1)["status"] == "successful"
        # Piggybacked on the next run (sent well within the hold).
        j2 = post(s, "v2")
        runs = a.of_type("run")
        assert runs[-1]["jid"] == j2 and runs[-1].get("acks") == [j1], runs
        assert s.wait_job("v2", j2)["status"] == "successful"
        # Nothing else goes to the agent: the ack rides on the pong to its
        # keep-alive ping.
        a.send({"type": "ping"})
        pong = wait_until(lambda: a.of_type("pong"), 5, "the pong")
        assert pong == [{"type": "pong", "acks": [j2]}], pong
        assert not a.of_type("ack") and not a.of_type("acks")

        # Batched: three results stored together, acked together.
        b = StandIn(s, "v2b", 2, lambda m: [])
        try:
            got = []
            threads = [threading.Thread(target=lambda: got.append(post(s, "v2b")))
                       for _ in range(3)]
            for t in threads:
                t.start()
            wait_until(lambda: len(b.of_type("run")) == 3, 10, "three runs")
            jids = [r["jid"] for r in b.of_type("run")]
            for jid in jids:
                b.send(result(jid))
            for t in threads:
                t.join(30)
            assert sorted(got) == sorted(jids)
            for jid in jids:
                assert s.wait_job("v2b", jid)["status"] == "successful"
            b.send({"type": "ping"})
            pong = wait_until(lambda: b.of_type("pong"), 5, "the pong")
            assert len(pong) == 1 and sorted(pong[0]["acks"]) == sorted(jids), pong
            # A result offered again (its ack lost) is acked again.
            b.send(result(jids[0]))
            time.sleep(0.3)
            b.send({"type": "ping"})
            wait_until(lambda: len(b.of_type("pong")) == 2, 5, "the second pong")
            assert b.of_type("pong")[1].get("acks") == [jids[0]], b.of_type("pong")
            for jid in jids:
                assert s.wait_job("v2b", jid)["status"] == "successful"
        finally:
            b.close()
    finally:
        a.close()


def test_v1_and_v2_swarms_fan_out_together(fleet):
    """One multi-client job to a v1 swarm and a v2 swarm: every agent runs
    it once, every result is stored and acked, nothing stays held."""
    s = fleet.server().start()
    v1 = fleet.swarm(s, 50, "--protocol", "1", "--tags", "mix", prefix="v1-")
    # Its acks ride on the pongs to its pings.
    v2 = fleet.swarm(s, 50, "--tags", "mix", "--keep-alive-ms", "500", prefix="v2-")
    v1.wait_connected_lines(1, 30)
    v2.wait_connected_lines(1, 30)
    wait_until(lambda: s.api("GET", "/api/v1/clients?page[limit]=1")[1]["meta"]["count"] == 100, 20,
               "100 clients listed")
    jid = s.multi({"command": "x", "tags": {"tags": ["mix"]}, "execute_concurrently": True})
    m = s.wait_multi(jid, 60)
    assert m["summary"]["successful"] == 100, m["summary"]
    for sw in (v1, v2):
        st = wait_until(lambda: (lambda x: x if x["held"] == "0" else None)(sw.stats()), 10,
                        "every result acked")
        assert (st["runs"], st["acks"], st["duplicates"]) == ("50", "50", "0"), st


def test_real_agent_speaks_v2_and_leaves_out_the_start_of_a_quick_job(fleet, tmp_path):
    """The real agent offers v2. Against a v2 stand-in server, a job that
    ends at once is reported by its result alone (no started frame), a long
    one gets its started frame first; both results are acked by an acks
    frame and leave the journal."""
    import os
    import websockets

    port = harness.free_port()
    seen = []
    jids = {"quick": [str(uuid.uuid4()) for _ in range(10)], "long": str(uuid.uuid4())}
    done = threading.Event()

    async def handler(ws, path=None):
        hello = json.loads(await ws.recv())
        seen.append(hello)
        await ws.send(json.dumps({"type": "welcome", "protocol": 2}))
        # One at a time, the long one first: the quick ones run on a warm agent.
        for jid in [jids["long"]] + jids["quick"]:
            cmd = "true" if jid != jids["long"] else "sleep 0.3"
            await ws.send(json.dumps({"type": "run", "jid": jid, "command": cmd, "timeout_sec": 10,
                                      "interpreter": "", "cwd": "", "is_sudo": False}))
            while True:
                m = json.loads(await ws.recv())
                seen.append(m)
                if m["type"] == "result" and m["jid"] == jid:
                    break
        await ws.send(json.dumps({"type": "acks", "jids": [jids["long"]] + jids["quick"]}))
        done.set()
        async for msg in ws:
            seen.append(json.loads(msg))

    loop = asyncio.new_event_loop()

    async def serve():
        async with websockets.serve(handler, "127.0.0.1", port, subprotocols=["tether.v1"]):
            await asyncio.sleep(30)

    threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True).start()
    fake = harness.Server(tmp_path)
    fake.agent_port = port
    a = harness.Agent(tmp_path, fake, "v2real")
    fleet.procs.append(a)
    a.start()
    assert done.wait(20), seen
    assert seen[0]["type"] == "hello" and seen[0]["protocol"] == 2
    starts = [m["jid"] for m in seen if m["type"] == "started"]
    order = [(m["type"], m["jid"]) for m in seen if m["type"] in ("started", "result")]
    # The long job's start went out, before its result.
    assert order.index(("started", jids["long"])) < order.index(("result", jids["long"])), order
    # At least one quick job sent its result alone (each takes about a
    # millisecond; its start waits 10 ms).
    assert any(j not in starts for j in jids["quick"]), order
    journal = os.path.join(a.dir, "data", "journal", "result")
    wait_until(lambda: not os.listdir(journal), 10, "the acked results to leave the journal")
