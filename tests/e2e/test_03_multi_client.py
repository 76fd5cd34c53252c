"""Issue 3: multi-client jobs, targeting, fan-out controls, client groups."""
import subprocess
import time

import pytest

from harness import wait_until


@pytest.fixture
def four(fleet):
    """The seed's setup: my-client and local-test-client-2..4 with tags and labels."""
    s = fleet.server().start()
    fleet.agent(s, "my-client", tags=("demo",), labels={"zone": "EU"})
    fleet.agent(s, "local-test-client-2", tags=("group-1",), labels={"zone": "EU", "env": "prod1"})
    fleet.agent(s, "local-test-client-3", tags=("group-1", "group-2"), labels={"zone": "EU", "env": "prod1"})
    fleet.agent(s, "local-test-client-4", tags=("group-2",), labels={"zone": "US"})
    return s


def children(m):
    return {j["client_id"]: j for j in m["jobs"]}


def seed_curl(server, body):
    """Runs the seed's curl command line (only the port changed)."""
    cmd = ("curl -s -u admin:foobaz http://localhost:%d/api/v1/commands -H \"Content-Type: application/json\" "
           "-X POST --data-raw '%s'" % (server.api_port, body))
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=30).stdout
    import json
    return json.loads(out)


SEED_IDS = '''{
  "command": "/bin/date",
  "client_ids": ["local-test-client-2", "local-test-client-3", "local-test-client-4"],
  "timeout_sec": 30,
  "cwd": "/tmp",
  "is_sudo": false,
  "execute_concurrently": true
}
'''

SEED_TAGS = '''{
  "command": "/bin/date",
  "tags": { operator: "OR", tags: ["group-1", "group-2"] },
  "execute_concurrently": false,
  "abort_on_error": true,
  "cwd": "/tmp",
  "is_sudo": false
}
'''

SEED_LABELS = '''{
  "command": "/bin/date",
  "labels": { operator: "AND", labels: ["zone:EU", "env:prod1"] },
  "execute_concurrently": false,
  "abort_on_error": true,
  "cwd": "/tmp",
  "is_sudo": false
}
'''


def test_seed_client_ids_concurrent(four):
    jid = seed_curl(four, SEED_IDS)["data"]["jid"]
    m = four.wait_multi(jid)
    assert m["concurrent"] is True and m["abort_on_err"] is False
    assert m["client_ids"] == ["local-test-client-2", "local-test-client-3", "local-test-client-4"]
    assert m["group_ids"] is None
    assert m["command"] == "/bin/date" and m["timeout_sec"] == 30
    c = children(m)
    assert sorted(c) == ["local-test-client-2", "local-test-client-3", "local-test-client-4"]
    for j in c.values():
        assert j["status"] == "successful" and j["multi_job_id"] == jid
        assert j["result"]["stdout"].strip() and j["interpreter"] == "/bin/sh"
    assert m["summary"]["successful"] == 3 and m["summary"]["total"] == 3


def test_seed_tags_with_bare_keys(four):
    jid = seed_curl(four, SEED_TAGS)["data"]["jid"]
    m = four.wait_multi(jid)
    assert sorted(children(m)) == ["local-test-client-2", "local-test-client-3", "local-test-client-4"]
    assert m["tags"] == {"operator": "OR", "tags": ["group-1", "group-2"]}


def test_seed_labels_and(four):
    jid = seed_curl(four, SEED_LABELS)["data"]["jid"]
    m = four.wait_multi(jid)
    assert sorted(children(m)) == ["local-test-client-2", "local-test-client-3"]


def test_tags_and_operator_case_insensitive(four):
    m = four.wait_multi(four.multi({"command": "true", "tags": {"operator": "and", "tags": ["group-1", "group-2"]}}))
    assert list(children(m)) == ["local-test-client-3"]


def test_groups_and_ids_dedup_order(four):
    st, _ = four.api("POST", "/api/v1/client-groups",
                     {"id": "group-1", "description": "g", "params": {"tag": ["group-1"]}})
    assert st == 201
    m = four.wait_multi(four.multi({"command": "true", "client_ids": ["local-test-client-3", "my-client"],
                                    "group_ids": ["group-1"], "execute_concurrently": False}))
    # ids first in the given order, then group members by id, no duplicates
    assert [j["client_id"] for j in m["jobs"]] == ["local-test-client-3", "my-client", "local-test-client-2"]


def test_targeting_errors(four):
    cases = [
        ({"command": "true"}, 400, "Missing targeting parameters."),
        ({"command": "true", "client_ids": ["my-client"], "tags": {"tags": ["x"]}}, 400, "Multiple targeting parameters."),
        ({"command": "true", "labels": {"labels": ["zone:EU"]}, "group_ids": ["g"]}, 400, "Multiple targeting parameters."),
        ({"command": "true", "tags": {"operator": "OR", "tags": []}}, 400, "No tags specified."),
        ({"command": "true", "labels": {"labels": []}}, 400, "No labels specified."),
        ({"command": "true", "tags": {"operator": "XOR", "tags": ["a"]}}, 400, "Invalid operator."),
        ({"command": "true", "group_ids": ["nope"]}, 400, 'Unknown group with id="nope".'),
        ({"command": "true", "client_ids": ["ghost"]}, 404, 'Client with id="ghost" not found.'),
        ({"command": "true", "tags": {"tags": ["no-such-tag"]}}, 400, "at least 1 client should be specified"),
        ({"command": "", "client_ids": ["my-client"]}, 400, "Command cannot be empty."),
        ({"command": "true", "client_ids": ["my-client"], "max_concurrency": 2}, 400, "Invalid JSON data."),
        ({"command": "true", "client_ids": ["my-client"], "bogus": 1}, 400, "Invalid JSON data."),
    ]
    for body, status, title in cases:
        st, j = four.api("POST", "/api/v1/commands", body)
        assert (st, j["errors"][0]["title"]) == (status, title), body
    four.api("POST", "/api/v1/client-groups", {"id": "empty", "params": {"client_id": ["zzz*"]}})
    st, j = four.api("POST", "/api/v1/commands", {"command": "true", "group_ids": ["empty"]})
    assert (st, j["errors"][0]["title"]) == (400, "no active clients belong to the selected group(s)")
    # a bare-key body that is not JSON otherwise still fails clearly
    st, j = four.api("POST", "/api/v1/commands", raw=b'{command: "true", client_ids: [my-client]}')
    assert st == 400 and j["errors"][0]["title"] == "Invalid JSON data."


def test_sequential_abort_on_error_lists_not_run(four):
    # my-client fails first; the others are never run and are listed so
    m = four.wait_multi(four.multi({"command": "exit 4", "client_ids": ["my-client", "local-test-client-2", "local-test-client-3"]}))
    assert [j["client_id"] for j in m["jobs"]] == ["my-client"]
    assert m["jobs"][0]["status"] == "failed" and m["jobs"][0]["exit_code"] == 4
    assert m["not_run"] == ["local-test-client-2", "local-test-client-3"]
    assert m["summary"]["not_run"] == 2 and m["status"] == "stopped"
    assert "abort_on_error" in m["stop_reason"]


def test_sequential_without_abort_runs_all_in_order(four):
    m = four.wait_multi(four.multi({"command": "exit 1", "abort_on_error": False,
                                    "client_ids": ["local-test-client-4", "my-client", "local-test-client-2"]}))
    jobs = m["jobs"]
    assert [j["client_id"] for j in jobs] == ["local-test-client-4", "my-client", "local-test-client-2"]
    # one at a time: each started after the previous finished
    for a, b in zip(jobs, jobs[1:]):
        assert a["finished_at"] <= b["started_at"]
    assert m["summary"]["failed"] == 3 and m["not_run"] == []


def test_timeout_unknown_does_not_abort(four):
    m = four.wait_multi(four.multi({"command": "sleep 5", "timeout_sec": 1, "client_ids": ["my-client", "local-test-client-2"]}), timeout=40)
    assert [j["status"] for j in m["jobs"]] == ["unknown", "unknown"]


def test_concurrent_really_concurrent(four):
    t0 = time.monotonic()
    m = four.wait_multi(four.multi({"command": "sleep 1", "execute_concurrently": True,
                                    "client_ids": ["my-client", "local-test-client-2", "local-test-client-3", "local-test-client-4"]}))
    assert time.monotonic() - t0 < 3.5
    assert m["summary"]["successful"] == 4


def test_max_concurrency_limits_overlap(four):
    ids = ["my-client", "local-test-client-2", "local-test-client-3", "local-test-client-4"]
    m = four.wait_multi(four.multi({"command": "sleep 0.5", "execute_concurrently": True, "max_concurrency": 2,
                                    "client_ids": ids}))
    assert m["max_concurrency"] == 2
    spans = sorted((j["started_at"], j["finished_at"]) for j in m["jobs"])
    # never more than 2 running at once
    for s, _ in spans:
        running = sum(1 for a, b in spans if a <= s < b)
        assert running <= 2
    m = four.wait_multi(four.multi({"command": "true", "execute_concurrently": True, "max_concurrency": "50%",
                                    "client_ids": ids}))
    assert m["max_concurrency"] == 2


def test_max_errors_stops_dispatch(four):
    ids = ["my-client", "local-test-client-2", "local-test-client-3", "local-test-client-4"]
    m = four.wait_multi(four.multi({"command": "exit 1", "execute_concurrently": True, "max_concurrency": 1,
                                    "max_errors": 1, "client_ids": ids}))
    # SSM semantics: stop once failures exceed max_errors (here after 2)
    assert len(m["jobs"]) == 2 and m["summary"]["not_run"] == 2
    assert "max_errors" in m["stop_reason"]


def test_disconnected_target_fails_without_abort(four, fleet):
    a = [p for p in fleet.procs if getattr(p, "cid", "") == "local-test-client-2"][0]
    a.stop()
    four.wait_disconnected("local-test-client-2")
    m = four.wait_multi(four.multi({"command": "true", "client_ids": ["local-test-client-2", "my-client"]}))
    c = children(m)
    assert c["local-test-client-2"]["status"] == "failed"
    assert c["local-test-client-2"]["error"] == "client is not connected"
    assert c["my-client"]["status"] == "successful"


def test_client_groups_crud_and_matching(four):
    api = four.api
    st, j = api("POST", "/api/v1/client-groups", {"id": "eu", "description": "EU web",
                                                   "params": {"client_id": ["LOCAL-TEST-*"], "tag": ["group-*"]}})
    assert st == 201 and j["data"]["client_ids"] == ["local-test-client-2", "local-test-client-3", "local-test-client-4"]
    st, j = api("POST", "/api/v1/client-groups", {"id": "eu", "params": {}})
    assert st == 409
    # keys AND-ed, values OR-ed; tag {and: [...]}
    api("PUT", "/api/v1/client-groups/eu", {"id": "eu", "params": {"tag": {"and": ["group-1", "group-2"]}}})
    st, j = api("GET", "/api/v1/client-groups/eu")
    assert j["data"]["client_ids"] == ["local-test-client-3"]
    api("PUT", "/api/v1/client-groups/eu", {"params": {"os_kernel": ["linux"], "connection_state": ["connected"],
                                                       "name": ["my-*", "*-4"]}})
    st, j = api("GET", "/api/v1/client-groups/eu")
    assert j["data"]["client_ids"] == ["local-test-client-4", "my-client"]
    st, j = api("POST", "/api/v1/client-groups", {"id": "bad", "params": {"colour": ["red"]}})
    assert st == 400 and "unknown param" in j["errors"][0]["detail"]
    st, j = api("GET", "/api/v1/client-groups")
    assert [g["id"] for g in j["data"]] == ["eu"]
    assert api("DELETE", "/api/v1/client-groups/eu")[0] == 204
    assert api("GET", "/api/v1/client-groups/eu")[0] == 404


def test_group_membership_follows_connection_state(four, fleet):
    four.api("POST", "/api/v1/client-groups", {"id": "live", "params": {"connection_state": ["connected"]}})
    assert "local-test-client-4" in four.api("GET", "/api/v1/client-groups/live")[1]["data"]["client_ids"]
    a = [p for p in fleet.procs if getattr(p, "cid", "") == "local-test-client-4"][0]
    a.stop()
    four.wait_disconnected("local-test-client-4")
    assert "local-test-client-4" not in four.api("GET", "/api/v1/client-groups/live")[1]["data"]["client_ids"]


def test_multi_lists_and_job_queries(four):
    jid = four.multi({"command": "exit 2", "abort_on_error": False,
                      "client_ids": ["my-client", "local-test-client-2", "local-test-client-3"]})
    four.wait_multi(jid)
    st, j = four.api("GET", "/api/v1/commands")
    assert st == 200 and j["data"][0]["jid"] == jid and j["meta"]["count"] >= 1
    st, j = four.api("GET", "/api/v1/commands/%s/jobs?sort=-client_id&filter[client_id]=local-*" % jid)
    assert [x["client_id"] for x in j["data"]] == ["local-test-client-3", "local-test-client-2"]
    assert j["meta"]["count"] == 2
    st, j = four.api("GET", "/api/v1/commands/%s/jobs?page[limit]=1&page[offset]=1&sort=client_id" % jid)
    assert [x["client_id"] for x in j["data"]] == ["local-test-client-3"] and j["meta"]["count"] == 3
    st, j = four.api("GET", "/api/v1/commands/%s/jobs?filter[status]=failed&filter[finished_at][since]=2000-01-01T00:00:00Z" % jid)
    assert j["meta"]["count"] == 3
    for q, title in [("sort=colour", "unsupported sort field 'colour'"),
                     ("filter[colour]=x", "unsupported filter field 'colour'"),
                     ("page[limit]=5000", "pagination limit too big (5000) maximum is 1000")]:
        st, j = four.api("GET", "/api/v1/commands/%s/jobs?%s" % (jid, q))
        assert (st, j["errors"][0]["title"]) == (400, title)
    st, j = four.api("GET", "/api/v1/commands/00000000-0000-4000-8000-000000000000")
    assert st == 404 and j["errors"][0]["title"] == 'Multi-client Job[id="00000000-0000-4000-8000-000000000000"] not found.'


def test_cancel_multi_job(four):
    jid = four.multi({"command": "sleep 30", "execute_concurrently": True,
                      "client_ids": ["my-client", "local-test-client-2"]})
    wait_until(lambda: four.api("GET", "/api/v1/commands/" + jid)[1]["data"]["summary"]["running"] == 2
               and all(j["pid"] for j in four.api("GET", "/api/v1/commands/" + jid)[1]["data"]["jobs"]),
               10, "both children to start")
    st, j = four.api("DELETE", "/api/v1/commands/" + jid)
    assert st == 202 and j["data"]["cancelled_jobs"] == 2
    m = four.wait_multi(jid)
    for c in m["jobs"]:
        assert c["status"] == "failed" and c["error"] == "cancelled by admin"
