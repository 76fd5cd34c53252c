"""rport's command and script library (/api/v1/library/commands and
/api/v1/library/scripts): CRUD with rport's fields, permissions, sorting,
filters and pages, running an entry by id on real agents, and bad input in
rport's envelope naming the field (issue 15, item 5)."""
import base64

from harness import wait_until


def _title(j):
    return j["errors"][0]["title"]


def _detail(j):
    return j["errors"][0]["detail"]


def test_command_crud_with_rports_fields(server):
    s = server
    st, j = s.api("POST", "/api/v1/library/commands",
                  {"name": "uptime", "cmd": "uptime", "tags": ["linux", "ops"], "timeout_sec": 30})
    assert st == 201, j
    c = j["data"]
    assert set(c) == {"id", "name", "cmd", "tags", "timeout_sec", "created_at", "created_by",
                      "updated_at", "updated_by"}
    assert (c["name"], c["cmd"], c["tags"], c["timeout_sec"]) == ("uptime", "uptime",
                                                                  ["linux", "ops"], 30)
    assert c["created_by"] == "admin" and c["updated_by"] == "admin"
    cid = c["id"]
    st, j = s.api("GET", "/api/v1/library/commands/" + cid)
    assert st == 200 and j["data"] == c
    # rport's spec names the text "script" in CommandInput: accepted too
    st, j = s.api("PUT", "/api/v1/library/commands/" + cid, {"name": "uptime2", "script": "uptime -p"})
    assert st == 200, j
    assert (j["data"]["name"], j["data"]["cmd"], j["data"]["created_at"]) == \
        ("uptime2", "uptime -p", c["created_at"])
    st, j = s.api("GET", "/api/v1/library/commands/%s?fields[commands]=id,name" % cid)
    assert st == 200 and j["data"] == {"id": cid, "name": "uptime2"}
    # the entries survive a restart
    s.restart()
    st, j = s.api("GET", "/api/v1/library/commands")
    assert st == 200 and j["meta"]["count"] == 1 and j["data"][0]["cmd"] == "uptime -p"
    assert s.api("DELETE", "/api/v1/library/commands/" + cid)[0] == 204
    st, j = s.api("GET", "/api/v1/library/commands/" + cid)
    assert st == 404 and _title(j) == 'Command with id="%s" not found.' % cid
    assert s.api("DELETE", "/api/v1/library/commands/" + cid)[0] == 404


def test_script_crud_and_names_unique_per_kind(server):
    s = server
    body = {"name": "disk", "script": "#!/bin/sh\ndf -h\n", "interpreter": "/bin/sh",
            "cwd": "/tmp", "is_sudo": False, "tags": ["storage"], "timeout_sec": 5}
    st, j = s.api("POST", "/api/v1/library/scripts", body)
    assert st == 201, j
    sc = j["data"]
    assert set(sc) == {"id", "name", "script", "interpreter", "cwd", "is_sudo", "tags",
                       "timeout_sec", "created_at", "created_by", "updated_at", "updated_by"}
    assert sc["script"] == body["script"] and sc["cwd"] == "/tmp"
    st, j = s.api("POST", "/api/v1/library/scripts", dict(body, cwd="/"))
    assert st == 409 and _title(j) == "another script with the same name exists"
    assert "name" in _detail(j)
    # a command may have the name of a script
    assert s.api("POST", "/api/v1/library/commands", {"name": "disk", "cmd": "df"})[0] == 201
    # a script's id is no command's
    st, j = s.api("GET", "/api/v1/library/commands/" + sc["id"])
    assert st == 404


def test_sort_filter_page(server):
    s = server
    for name, tags, t in (("b-one", ["x"], 3), ("a-two", ["y"], 1), ("c-three", ["x", "z"], 2)):
        assert s.api("POST", "/api/v1/library/commands",
                     {"name": name, "cmd": "echo " + name, "tags": tags, "timeout_sec": t})[0] == 201
    def names(q):
        st, j = s.api("GET", "/api/v1/library/commands" + q)
        assert st == 200, j
        return [c["name"] for c in j["data"]], j["meta"]["count"]
    assert names("") == (["b-one", "a-two", "c-three"], 3)
    assert names("?sort=name") == (["a-two", "b-one", "c-three"], 3)
    assert names("?sort=-timeout_sec") == (["b-one", "c-three", "a-two"], 3)
    assert names("?filter[tags]=x") == (["b-one", "c-three"], 2)
    assert names("?filter[name]=a-*,c-*&sort=-name") == (["c-three", "a-two"], 2)
    assert names("?filter[cmd]=*ONE") == (["b-one"], 1)
    assert names("?sort=name&page[limit]=1&page[offset]=1") == (["b-one"], 3)
    st, j = s.api("GET", "/api/v1/library/commands?sort=bogus")
    assert st == 400 and _title(j) == "unsupported sort field 'bogus'"
    st, j = s.api("GET", "/api/v1/library/commands?filter[bogus]=1")
    assert st == 400 and _title(j) == "unsupported filter field 'bogus'"
    st, j = s.api("GET", "/api/v1/library/commands?page[limit]=101")
    assert st == 400 and _title(j) == "pagination limit too big (101) maximum is 100"


def test_bad_input_names_the_field(server):
    s = server
    cases = [
        ({"cmd": "uptime"}, 400, "name"),
        ({"name": "x"}, 400, "cmd"),
        ({"name": "x", "cmd": "uptime", "timeout_sec": -1}, 400, "timeout_sec"),
        ({"name": "x", "cmd": "uptime", "tags": [1]}, 400, "tags"),
        ({"name": "x", "cmd": "uptime", "bogus": 1}, 400, "bogus"),
    ]
    for body, status, field in cases:
        st, j = s.api("POST", "/api/v1/library/commands", body)
        assert st == status and field in _detail(j), (body, st, j)
    st, j = s.api("POST", "/api/v1/library/scripts", {"name": "x"})
    assert st == 400 and "script" in _detail(j)
    st, j = s.api("PUT", "/api/v1/library/scripts/nope", {"name": "x", "script": "true"})
    assert st == 404 and _title(j) == 'Script with id="nope" not found.'
    st, j = s.api("POST", "/api/v1/library/commands/nope/run", {"client_ids": ["a"]})
    assert st == 404 and _title(j) == 'Command with id="nope" not found.'


def test_permissions_non_admin(fleet, server):
    s = server
    fleet.agent(s, "web-1")
    assert s.api("POST", "/api/v1/users", {"username": "bob", "password": "bob-password",
                                           "groups": ["ops"]})[0] == 201
    assert s.api("PUT", "/api/v1/user-groups/ops", {"permissions": {"commands": True}})[0] == 200
    assert s.api("POST", "/api/v1/client-groups", {"id": "web", "params": {"client_id": ["web-*"]},
                                                   "allowed_user_groups": ["ops"]})[0] == 201
    bob = ("bob", "bob-password")
    st, j = s.api("POST", "/api/v1/library/commands", {"name": "bobs", "cmd": "id"}, auth=bob)
    assert st == 201 and j["data"]["created_by"] == "bob"
    st, j = s.api("POST", "/api/v1/library/scripts", {"name": "s", "script": "id"}, auth=bob)
    assert st == 403 and "scripts" in _detail(j)
    # reading is open to every user
    assert s.api("GET", "/api/v1/library/scripts", auth=bob)[0] == 200
    # bob may run his entry on the clients he may use
    st, j = s.api("POST", "/api/v1/library/commands/%s/run" % j_id(s, "bobs"),
                  {"client_ids": ["web-1"]}, auth=bob)
    assert st == 200, j
    # without the permission any more, he may neither write nor run
    assert s.api("PUT", "/api/v1/user-groups/ops", {"permissions": {"commands": False}})[0] == 200
    st, j = s.api("POST", "/api/v1/library/commands/%s/run" % j_id(s, "bobs"),
                  {"client_ids": ["web-1"]}, auth=bob)
    assert st == 403 and "commands" in _detail(j)
    st, j = s.api("DELETE", "/api/v1/library/commands/" + j_id(s, "bobs"), auth=bob)
    assert st == 403


def j_id(s, name):
    st, j = s.api("GET", "/api/v1/library/commands?filter[name]=" + name)
    assert st == 200 and j["meta"]["count"] == 1, j
    return j["data"][0]["id"]


def test_run_by_id_on_real_agents(fleet, server):
    s = server
    fleet.agent(s, "lib-1", tags=("linux", "lib"))
    fleet.agent(s, "lib-2", tags=("linux", "lib"))
    st, j = s.api("POST", "/api/v1/library/commands", {"name": "hello", "cmd": "echo hello-$((40+2))",
                                                        "timeout_sec": 20})
    assert st == 201
    cmd_id = j["data"]["id"]
    st, j = s.api("POST", "/api/v1/library/commands/%s/run" % cmd_id,
                  {"tags": {"tags": ["lib"]}, "execute_concurrently": True})
    assert st == 200, j
    m = s.wait_multi(j["data"]["jid"])
    assert sorted(x["client_id"] for x in m["jobs"]) == ["lib-1", "lib-2"]
    for x in m["jobs"]:
        job = s.job(x["client_id"], x["jid"])
        assert job["status"] == "successful" and job["result"]["stdout"] == "hello-42\n"
        assert job["timeout_sec"] == 20 and job["is_script"] is False
    script = "#!/bin/sh\necho from-script in $(pwd)\n"
    st, j = s.api("POST", "/api/v1/library/scripts", {"name": "where", "script": script, "cwd": "/tmp"})
    assert st == 201
    st, j = s.api("POST", "/api/v1/library/scripts/%s/run" % j["data"]["id"], {"client_ids": ["lib-1"]})
    assert st == 200, j
    m = s.wait_multi(j["data"]["jid"])
    job = s.job("lib-1", m["jobs"][0]["jid"])
    assert job["is_script"] is True and job["result"]["stdout"] == "from-script in /tmp\n"
    # the targeting errors are those of POST /commands
    st, j = s.api("POST", "/api/v1/library/commands/%s/run" % cmd_id, {})
    assert st == 400 and _title(j) == "Missing targeting parameters."
    st, j = s.api("POST", "/api/v1/library/commands/%s/run" % cmd_id, {"client_ids": ["ghost"]})
    assert st == 404 and _title(j) == 'Client with id="ghost" not found.'
    # the job's fields come from the entry, not the request
    st, j = s.api("POST", "/api/v1/library/commands/%s/run" % cmd_id,
                  {"client_ids": ["lib-1"], "command": "rm -rf /"})
    assert st == 400 and "command" in _detail(j)
