"""tether-swarm against a real tetherd: hundreds of simulated agents on one
loop connect with their tags and labels, answer runs with the configured
output and exit code, survive a server restart, deliver a result across a
dropped connection exactly once, and finish a cancelled run as failed.

Every wait polls a condition with a deadline; nothing sleeps to synchronise."""
import pytest

from harness import wait_until


def clients_of(server, prefix):
    st, j = server.api("GET", "/api/v1/clients?page%5Blimit%5D=100000")
    assert st == 200, (st, j)
    return [c for c in j["data"] if c["id"].startswith(prefix)]


def connected(server, prefix):
    return sum(1 for c in clients_of(server, prefix) if c["connection_state"] == "connected")


def run(server, cid, command="true", timeout_sec=20):
    return server.run(cid, command, timeout_sec=timeout_sec)


def wait_final(server, cid, jid, timeout=15):
    return server.wait_job(cid, jid, timeout,
                           until=lambda j: j["status"] not in ("running", "cancelling"))


@pytest.fixture(scope="module")
def server(module_fleet):
    """One tetherd for the module (overrides conftest's per-test one)."""
    return module_fleet.server().start()


@pytest.fixture
def swarms(fleet):
    """Starts swarms on demand; stops them all and checks they exit 0."""
    started = []

    def start(server, count, prefix, *extra):
        sw = fleet.swarm(server, count, *extra, prefix=prefix)
        started.append(sw)
        return sw
    yield start
    codes = [(sw.proc.name, sw.stop()) for sw in started]
    assert all(rc == 0 for _, rc in codes), codes


def test_200_agents_connect_with_tags_and_labels(server, swarms):
    sw = swarms(server, 200, "sw1-", "--tags", "swarm,bench", "--labels", "env:test,dc:x1",
                "--services", "web,db")
    sw.wait_connected_lines(1, 30)
    assert sw.connected_lines() == 1
    clients = clients_of(server, "sw1-")
    assert len(clients) == 200
    assert sorted(c["id"] for c in clients) == ["sw1-%05d" % i for i in range(200)]
    for c in clients:
        assert c["connection_state"] == "connected", c
        assert c["name"] == c["id"]
        assert c["hostname"] == c["id"]
        assert c["tags"] == ["swarm", "bench"]
        assert c["labels"] == {"env": "test", "dc": "x1"}
        assert c["services"] == ["web", "db"]
    st = sw.stats()
    assert st["connected"] == "200/200"
    assert st["errors"] == "0"


def test_command_result_output_size_and_exit_code(server, swarms):
    # Pings every half second: protocol v2's acks ride on the pongs.
    ok = swarms(server, 20, "sw2-", "--output-bytes", "5000", "--start", "100",
                "--keep-alive-ms", "500")
    bad = swarms(server, 3, "sw2x-", "--exit-code", "3", "--output-bytes", "10")
    ok.wait_connected_lines(1, 20)
    bad.wait_connected_lines(1, 20)

    jid = run(server, "sw2-00107", "uname -a")
    job = wait_final(server, "sw2-00107", jid)
    assert job["status"] == "successful", job
    assert job["exit_code"] == 0
    assert job["error"] == ""
    assert len(job["result"]["stdout"]) == 5000
    assert job["result"]["stderr"] == ""

    jid = run(server, "sw2x-00001")
    job = wait_final(server, "sw2x-00001", jid)
    assert job["status"] == "failed", job
    assert job["exit_code"] == 3
    assert job["error"] == "exit status 3"
    assert len(job["result"]["stdout"]) == 10

    # The agents' side: one run each, each result acked, nothing left held
    # (protocol v2 holds an ack for a frame to ride on: here, a pong).
    st = wait_until(lambda: (lambda s: s if s["held"] == "0" else None)(ok.stats()), 10,
                    "the result to be acked")
    assert (st["runs"], st["acks"], st["held"], st["duplicates"]) == ("1", "1", "0", "0"), st


def test_restart_tetherd_under_500_agents(fleet, swarms):
    srv = fleet.server().start()
    sw = swarms(srv, 500, "sw3-", "--min-retry-ms", "200", "--max-retry-ms", "2000")
    sw.wait_connected_lines(1, 30)
    wait_until(lambda: connected(srv, "sw3-") == 500, 15, "500 connected in the API")

    srv.stop()
    wait_until(lambda: sw.stats()["connected"] == "0/500", 15, "the swarm to see the outage")
    srv.start()
    wait_until(lambda: connected(srv, "sw3-") == 500, 30,
               "500 reconnected in the API (swarm: %s)" % sw.output()[-500:])
    sw.wait_connected_lines(2, 15)
    st = sw.stats()
    assert st["connected"] == "500/500"
    assert int(st["disconnects"]) >= 500


def test_result_across_a_dropped_connection_arrives_once(server, swarms):
    # Agent 0 drops its connection halfway through every run and delivers
    # the result after reconnecting; agent 1 behaves.
    sw = swarms(server, 2, "sw4-", "--disconnect-every", "2", "--delay-ms", "1500",
                "--output-bytes", "777", "--min-retry-ms", "100", "--max-retry-ms", "500",
                "--keep-alive-ms", "500")
    sw.wait_connected_lines(1, 20)

    jid = run(server, "sw4-00000", "sleep 1")
    job = wait_final(server, "sw4-00000", jid, 20)
    assert job["status"] == "successful", job
    assert job["exit_code"] == 0
    assert len(job["result"]["stdout"]) == 777

    # Once: one job in the client's list, acked once by the swarm, and
    # the swarm holds nothing; the drop really happened.
    st, lst = server.api("GET", "/api/v1/clients/sw4-00000/commands")
    assert st == 200, lst
    assert [j["jid"] for j in lst["data"]].count(jid) == 1
    stats = wait_until(lambda: (lambda s: s if s["held"] == "0" else None)(sw.stats()), 10,
                       "the result to be acked")
    assert stats["drops"] == "1", stats
    assert stats["runs"] == "1" and stats["duplicates"] == "0", stats
    assert stats["acks"] == "1", stats
    # Reconnected afterwards (a full recovery prints the line again).
    sw.wait_connected_lines(2, 10)
    assert server.job("sw4-00000", jid) == job

    # The well-behaved agent is not affected.
    jid1 = run(server, "sw4-00001")
    assert wait_final(server, "sw4-00001", jid1)["status"] == "successful"
    assert sw.stats()["drops"] == "1"


def test_cancel_finishes_a_simulated_run_as_failed(server, swarms):
    sw = swarms(server, 2, "sw5-", "--delay-ms", "60000", "--keep-alive-ms", "500")
    sw.wait_connected_lines(1, 20)
    jid = run(server, "sw5-00001", "sleep 60", timeout_sec=120)
    st, j = server.api("DELETE", "/api/v1/clients/sw5-00001/commands/%s" % jid)
    assert st == 202 and j["data"]["status"] == "cancelling", (st, j)
    job = wait_final(server, "sw5-00001", jid)
    assert job["status"] == "failed", job
    assert job["error"] == "cancelled by admin"
    assert job["exit_code"] == 143
    st = wait_until(lambda: (lambda s: s if s["held"] == "0" else None)(sw.stats()), 10,
                    "the result to be acked")
    assert (st["cancels"], st["acks"], st["held"]) == ("1", "1", "0"), st


def metric(srv, name):
    st, j = srv.api("POST", "/api/v1/me/tokens", {"name": "m-%s" % name, "scope": "metrics"})
    assert st in (200, 201), (st, j)
    st, text = srv.api("GET", "/metrics", auth=("admin", j["data"]["token"]))[:2]
    assert st == 200, st
    return [float(l.split()[1]) for l in text.splitlines() if l.startswith(name + " ")][0]


def test_a_storm_of_hellos_is_spread_over_loop_turns(fleet, swarms):
    # 1,500 agents connecting at once hand the loop more hellos in one turn
    # than its budget (64): the rest wait, in order, for the next turns.
    # All of them connect, and each then runs what it is sent.
    srv = fleet.server(extra="[server]\nmax_concurrent_handshakes = 5000\n").start()
    sw = swarms(srv, 1500, "hs-", "--tags", "storm")
    sw.wait_connected_lines(1, 60)
    wait_until(lambda: connected(srv, "hs-") == 1500, 30, "1500 connected in the API")
    assert metric(srv, "tether_agent_hellos_deferred_total") > 0
    st, j = srv.api("POST", "/api/v1/commands", {"command": "x", "tags": {"tags": ["storm"]},
                                                 "execute_concurrently": True})
    assert st == 200, (st, j)
    st, m = srv.api("GET", "/api/v1/commands/%s?wait=60" % j["data"]["jid"], timeout=90)
    assert st == 200 and m["data"]["finished_at"], m
    assert m["data"]["summary"]["successful"] == 1500, m["data"]["summary"]
