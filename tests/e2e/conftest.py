"""pytest fixtures for tether's end-to-end tests (see tether_harness.py).

Fixtures:
  tether         a Tether owning every process of the test; stopped at teardown
  tether_server  a started tetherd (API answering), default config
  my_client      an agent "my-client" (tags linux, demo; label zone=EU),
                 started and connected to tether_server

Later test files start their own variants, e.g.

    def test_fanout(tether):
        tether.server(extra=RELAXED_LOGIN + "[server]\\nrun_remote_cmd_timeout_sec = 5")
        tether.start_agents(4, tags=["linux"], labels={"zone": "EU"})

When a test fails, the stderr (and stdout) of every process it ran is added
to the failure report as a "tether processes" section.
With TETHER_VALGRIND=1 a process that exits 99 (valgrind errors) fails the
test at teardown.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tether_harness import Tether  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    t = getattr(item, "_tether", None)
    if t is not None and rep.failed:
        try:
            logs = t.logs()
        except Exception as e:  # noqa: BLE001
            logs = "(could not read the process logs: %r)" % (e,)
        if logs:
            rep.sections.append(("tether processes (%s)" % rep.when, logs))


@pytest.fixture
def tether(tmp_path, request):
    t = Tether(tmp_path)
    request.node._tether = t
    yield t
    t.close()
    bad = t.valgrind_failures()
    if bad:
        pytest.fail("valgrind reported errors in %s\n%s"
                    % (", ".join(p.name for p in bad), "".join(p.logs() for p in bad)))


@pytest.fixture
def tether_server(tether):
    return tether.server()


@pytest.fixture
def my_client(tether, tether_server):
    return tether.agent("my-client", tags=("linux", "demo"), labels={"zone": "EU"})

