"""Fleet-sized lists (issue 19 item 3): GET /clients pages on the
registry's orders instead of sorting and rendering the fleet per request,
and what it keeps between requests follows the fleet and the groups."""
import time

import harness
import pytest


def ids(server, query):
    st, j = server.api("GET", "/api/v1/clients?" + query)
    assert st == 200, j
    return [c["id"] for c in j["data"]], j["meta"]["count"]


def test_lists_follow_connects_disconnects_and_group_changes(fleet):
    s = fleet.server().start()
    a = fleet.agent(s, "b-2", tags=("web",))
    fleet.agent(s, "a-1", tags=("db",))
    for _ in range(3):  # asked more than once: kept orders are used
        assert ids(s, "sort=-id&page[limit]=10") == (["b-2", "a-1"], 2)
        assert ids(s, "filter[connection_state]=connected&page[limit]=10") == (["a-1", "b-2"], 2)
        assert ids(s, "filter[tags]=web") == (["b-2"], 1)
    a.stop()
    s.wait_disconnected("b-2")
    assert ids(s, "filter[connection_state]=connected&page[limit]=10") == (["a-1"], 1)
    assert ids(s, "filter[connection_state]=disconnected") == (["b-2"], 1)
    assert ids(s, "sort=connection_state,id")[0] == ["a-1", "b-2"]
    # a new client takes its place in a kept order
    fleet.agent(s, "c-0", tags=("web",))
    for _ in range(2):
        assert ids(s, "sort=-id&page[limit]=10") == (["c-0", "b-2", "a-1"], 3)
        assert ids(s, "filter[tags]=web") == (["b-2", "c-0"], 2)
        assert ids(s, "sort=-id&page[limit]=1&page[offset]=1") == (["b-2"], 3)
    # group filters follow the groups
    for _ in range(2):
        assert ids(s, "filter[groups]=g1") == ([], 0)
    st, _ = s.api("POST", "/api/v1/client-groups", {"id": "g1", "params": {"tag": ["db"]}})
    assert st == 201
    assert ids(s, "filter[groups]=g1") == (["a-1"], 1)
    st, _ = s.api("PUT", "/api/v1/client-groups/g1", {"id": "g1", "params": {"tag": ["web"]}})
    assert st == 204
    assert ids(s, "filter[groups]=g1") == (["b-2", "c-0"], 2)
    assert ids(s, "filter[*]=g1") == (["b-2", "c-0"], 2)
    st, j = s.api("GET", "/api/v1/status")
    assert st == 200
    assert (j["data"]["clients_connected"], j["data"]["clients_disconnected"]) == (2, 1), j


def test_a_page_of_a_large_fleet_costs_no_fleet_sort(fleet):
    """5,000 swarm agents: 100 sorted or filtered pages of 10 cost tetherd
    less than 0.15 s of CPU in all (the whole-fleet sort and rendering per
    request cost about 3 ms each here)."""
    s = fleet.server(extra="[server]\nmax_concurrent_handshakes = 5000\n").start(nofile=8000)
    sw = fleet.swarm(s, 5000, prefix="f-")
    sw.wait_connected_lines(1, 120)
    harness.wait_until(lambda: ids(s, "page[limit]=1")[1] == 5000, 60, "5,000 clients listed")
    queries = ["sort=-name&page[limit]=10", "page[limit]=10&page[offset]=2500",
               "sort=hostname&page[limit]=10&page[offset]=4000",
               "filter[name]=f-0001*&page[limit]=10"]
    for q in queries:
        ids(s, q)
        ids(s, q)
    pid = s.proc.p.pid
    c0 = harness.cpu_seconds(pid)
    t0 = time.monotonic()
    for i in range(100):
        got, count = ids(s, queries[i % len(queries)])
        assert len(got) == 10 and count in (5000, 10), (got, count)
    cpu = harness.cpu_seconds(pid) - c0
    assert cpu < 0.15, "tetherd used %.3f s of CPU for 100 pages (%.1f s wall)" % (
        cpu, time.monotonic() - t0)
    assert ids(s, "sort=-name&page[limit]=2")[0] == ["f-04999", "f-04998"]
    assert ids(s, "filter[name]=f-0001*&page[limit]=2&page[offset]=1")[0] == ["f-00011", "f-00012"]
    assert sw.stop() == 0
