"""GET of a job or multi-client job with ?wait=<sec> (issue 19 item 3):
the answer comes when the job is final, not at the end of the wait; a
wait that ends first answers with the running job; bad values get rport's
error envelope. Real agents over real sockets."""
import threading
import time

import harness
import pytest


@pytest.fixture
def two(fleet):
    s = fleet.server().start()
    fleet.agent(s, "w-1")
    fleet.agent(s, "w-2")
    return s


def timed(server, path, timeout=90):
    t0 = time.monotonic()
    st, j = server.api("GET", path, timeout=timeout)
    return st, j, time.monotonic() - t0


def test_job_wait_answers_at_completion(two):
    jid = two.run("w-1", "sleep 1.5")
    st, j, secs = timed(two, "/api/v1/clients/w-1/commands/%s?wait=30" % jid)
    assert st == 200, j
    assert j["data"]["status"] == "successful", j
    assert j["data"]["finished_at"]
    # answered at the end of the job (1.5 s), long before the 30 s wait
    assert 1.0 <= secs < 15, secs


def test_multi_wait_answers_at_completion(two):
    jid = two.multi({"command": "sleep 1.5", "client_ids": ["w-1", "w-2"],
                     "execute_concurrently": True})
    st, j, secs = timed(two, "/api/v1/commands/%s?wait=30" % jid)
    assert st == 200, j
    m = j["data"]
    assert m["status"] == "finished", m
    assert m["finished_at"]
    assert sorted(x["status"] for x in m["jobs"]) == ["successful", "successful"], m
    assert 1.0 <= secs < 15, secs


def test_wait_ends_first_with_the_running_job(two):
    jid = two.run("w-1", "sleep 8")
    st, j, secs = timed(two, "/api/v1/clients/w-1/commands/%s?wait=1" % jid)
    assert st == 200 and j["data"]["status"] == "running", j
    assert 0.9 <= secs < 6, secs
    mjid = two.multi({"command": "sleep 8", "client_ids": ["w-2"]})
    st, j, secs = timed(two, "/api/v1/commands/%s?wait=1" % mjid)
    assert st == 200 and j["data"]["status"] == "running", j
    assert 0.9 <= secs < 6, secs


def test_wait_on_a_finished_job_and_wait_zero_answer_at_once(two):
    jid = two.run("w-1", "true")
    two.wait_job("w-1", jid)
    st, j, secs = timed(two, "/api/v1/clients/w-1/commands/%s?wait=60" % jid)
    assert st == 200 and j["data"]["status"] == "successful", j
    assert secs < 3, secs
    jid = two.run("w-1", "sleep 5")
    st, j, secs = timed(two, "/api/v1/clients/w-1/commands/%s?wait=0" % jid)
    assert st == 200 and j["data"]["status"] == "running", j
    assert secs < 3, secs


def test_many_waiters_on_one_job_all_answered(two):
    """Several held requests on one job, on their own connections, are all
    answered when it ends; other requests are served meanwhile."""
    jid = two.multi({"command": "sleep 2", "client_ids": ["w-1", "w-2"], "execute_concurrently": True})
    results = []

    def one():
        results.append(timed(two, "/api/v1/commands/%s?wait=40" % jid))
    ths = [threading.Thread(target=one) for _ in range(8)]
    for t in ths:
        t.start()
    # the loop is not blocked by the held requests
    st, _, secs = timed(two, "/api/v1/status")
    assert st == 200 and secs < 2
    for t in ths:
        t.join(60)
    assert len(results) == 8
    for st, j, secs in results:
        assert st == 200 and j["data"]["status"] == "finished", j
        assert secs < 20, secs


@pytest.mark.parametrize("value", ["-1", "61", "abc", "1.5", "", "10s", "99999999999999999999"])
def test_bad_wait_values(two, value):
    jid = two.run("w-1", "true")
    for path in ("/api/v1/clients/w-1/commands/%s?wait=%s" % (jid, value),
                 "/api/v1/commands/%s?wait=%s" % (jid, value)):
        st, j = two.api("GET", path)
        assert st == 400, (path, st, j)
        assert harness.error_title((st, j)) == "Invalid wait.", j
        assert "0 to 60" in j["errors"][0]["detail"], j


def test_unknown_job_with_wait_is_404(two):
    st, j, secs = timed(two, "/api/v1/clients/w-1/commands/nope?wait=5")
    assert st == 404 and secs < 3, (st, j)
    st, j, secs = timed(two, "/api/v1/commands/nope?wait=5")
    assert st == 404 and secs < 3, (st, j)


def test_stop_answers_held_requests(two):
    jid = two.run("w-1", "sleep 30")
    out = []
    th = threading.Thread(target=lambda: out.append(timed(two, "/api/v1/clients/w-1/commands/%s?wait=60" % jid)))
    th.start()
    time.sleep(0.5)  # let the request be held before the stop (not a poll: the stop is the event)
    t0 = time.monotonic()
    two.stop()
    assert time.monotonic() - t0 < 8
    th.join(30)
    assert out, "the held request got no answer"
