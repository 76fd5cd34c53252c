"""The user docs name every configuration key of both programs and every API
route, read from the code's own tables (tetherd's key table and route table,
the agent's key table), so the docs cannot drift from the code again.

Parsing is over the C sources, which hold the tables; a key or a route
added to the code without a line in docs/configuration.md or docs/api.md
fails here with its name."""
import os
import re

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


def source_with(marker, under):
    """The source file under a folder that holds marker (the table), so
    that the test follows a file moved to a subfolder."""
    found = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, under)):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(".c"):
                rel = os.path.relpath(os.path.join(dirpath, name), ROOT)
                if marker in read(rel):
                    found.append(rel)
    assert len(found) == 1, "%r in %s: %s" % (marker, under, found)
    return read(found[0])


# One row of a key table (toml_keys.h): MACRO("section", "key", ...). A
# catch-all row (NULL for the key, [interpreter-aliases]) names no key.
KEY_ROW = re.compile(r'\b(?:STR|INT|FLT|LIST|BOOL|SET)\("([\w-]+)", "(\w+)"')


def table_keys(src, table):
    body = src[src.index(table + "[] = {"):]
    body = body[:body.index("};")]
    return ["%s.%s" % k for k in KEY_ROW.findall(body)]


def server_keys():
    keys = table_keys(source_with("server_keys[] = {", "src/server"), "server_keys")
    assert len(keys) > 20, keys
    return keys


def agent_keys():
    keys = table_keys(read("src/agent/config.c"), "agent_keys")
    assert len(keys) > 15, keys
    return sorted(set(keys))


def agent_doc_keys(doc):
    """section.key for every `key =` line (commented or not) of the agent's
    TOML example, and every `section.key` named in backticks."""
    part = doc[doc.index("## tether-agent"):]
    block = part[part.index("```toml"):]
    block = block[:block.index("```", 7)]
    out = set()
    sec = None
    for ln in block.splitlines():
        m = re.match(r"^\[([\w.-]+)\]", ln)
        if m:
            sec = m.group(1)
            if sec == "client.labels":
                out.add("client.labels")
            continue
        m = re.match(r"^#?(\w+) *=", ln)
        if m and sec:
            out.add("%s.%s" % (sec, m.group(1)))
    out.update(re.findall(r"`([\w-]+\.\w+)`", part))
    return out


def routes():
    src = source_with("api_route routes[] = {", "src/server")
    rows = re.findall(r'\{ "(GET|POST|PUT|DELETE|PATCH)", "(/api/v1/[^"]*)"', src)
    assert len(rows) > 30, rows
    return ["%s %s" % (m, p[len("/api/v1"):]) for m, p in rows]


def doc_routes(doc):
    found = set()
    for m, p in re.findall(r"`(GET|POST|PUT|DELETE|PATCH) (/[^`\s?]*)", doc):
        found.add("%s %s" % (m, re.sub(r"\{[^}]*\}", "{}", p)))
    return found


def test_every_tetherd_key_is_documented():
    doc = read("docs/configuration.md")
    named = set(re.findall(r"`([\w-]+\.\w+)`", doc))
    missing = [k for k in server_keys() if k not in named]
    assert not missing, "keys of tetherd not in docs/configuration.md: %s" % missing


def test_every_agent_key_is_documented():
    doc = read("docs/configuration.md")
    have = agent_doc_keys(doc)
    missing = [k for k in agent_keys() if k not in have]
    assert not missing, "keys of tether-agent not in docs/configuration.md: %s" % missing


def test_every_route_is_documented():
    have = doc_routes(read("docs/api.md"))
    missing = [r for r in routes() if r not in have]
    assert not missing, "routes not in docs/api.md: %s" % missing


def test_documented_keys_exist():
    """The other way round: a documented `server.x` or `api.x` is a real key."""
    doc = read("docs/configuration.md")
    real = set(server_keys())
    named = {k for k in re.findall(r"`((?:server|api)\.\w+)`", doc)}
    unknown = sorted(named - real)
    assert not unknown, "docs/configuration.md names keys tetherd does not have: %s" % unknown


# One key's entry in a man page: "*key* (type, default ...)" under "# [section]".
MAN_ENTRY = re.compile(r"^\*([\w-]+)\* \((string|integer|float|boolean|duration|"
                       r"array of strings|table of strings), default [^)]+(?:\([^)]*\))?[^)]*\)$")


def man_keys(page):
    """section.key of every entry of a man page (man/*.scd), each with its
    type and default on its line and its meaning on the next."""
    lines = read("man/" + page).splitlines()
    out = set()
    sec = None
    for i, ln in enumerate(lines):
        m = re.match(r"^# \[([\w-]+)\]$", ln)
        if m:
            sec = m.group(1)
            continue
        if ln.startswith("# "):
            sec = None
            continue
        if sec and ln.startswith("*"):
            m = MAN_ENTRY.match(ln)
            assert m, "%s: an entry without its type and default: %r" % (page, ln)
            assert i + 1 < len(lines) and lines[i + 1].startswith("\t") and \
                lines[i + 1].strip(), "%s: %s has no meaning" % (page, ln)
            out.add("%s.%s" % (sec, m.group(1)))
    return out


def test_man_pages_list_every_key():
    """Issue 18 item 10: tetherd.conf(5) and tether-agent.conf(5) list every
    key the parsers accept, with its type, default and meaning."""
    for page, keys in (("tetherd.conf.5.scd", server_keys()),
                       ("tether-agent.conf.5.scd", agent_keys())):
        have = man_keys(page)
        missing = sorted(set(keys) - have)
        assert not missing, "keys not in man/%s: %s" % (page, missing)
        unknown = sorted(have - set(keys) - {"interpreter-aliases.NAME"})
        assert not unknown, "man/%s lists keys the parser does not have: %s" % (page, unknown)


def test_bash_completion_offers_client_ids_when_logged_in(fleet, tmp_path):
    """Issue 18 item 10: after `tether login`, completing -client offers the
    server's client ids with no password in the environment, also when the
    line names the server with -addr (the token stored for that address)."""
    import subprocess
    import harness
    from test_24_operator import complete
    s = fleet.server().start()
    fleet.agent(s, "web-1")
    fleet.agent(s, "web-2")
    fleet.agent(s, "db-1")
    addr = "http://127.0.0.1:%d" % s.api_port
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env["PATH"] = os.path.dirname(harness.binary("tether")) + ":" + env["PATH"]
    env["HOME"] = str(tmp_path / "home")
    assert complete(["tether", "-addr", addr, "exec", "-client", "web"], env) == []
    r = subprocess.run([harness.binary("tether"), "-addr", addr, "-user", "admin", "-password",
                        "foobaz", "login"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert sorted(complete(["tether", "-addr", addr, "exec", "-client", "web"], env)) == \
        ["web-1", "web-2"]
    assert complete(["tether", "-addr", addr, "jobs", "-client", "d"], env) == ["db-1"]
    assert sorted(complete(["tether", "exec", "-client", "web"],
                           dict(env, TETHER_ADDR=addr))) == ["web-1", "web-2"]
    # a server it is not logged in to tells nothing
    other = fleet.server().start()
    assert complete(["tether", "-addr", "http://127.0.0.1:%d" % other.api_port, "exec",
                     "-client", "web"], env) == []
