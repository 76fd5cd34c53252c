"""pytest fixtures for tether's end-to-end tests (the harness is harness.py).

Fixtures:
  fleet         a harness.Fleet owning every process the test starts
  module_fleet  the same for processes a whole test file shares
  server        a started tetherd (API answering), default config, in `fleet`
  my_client     an agent "my-client" (tags linux, demo; label zone=EU),
                started and connected to `server`

At the end of the test the fleet stops everything; a process that exited 99
under valgrind (TETHER_VALGRIND=1), died of a signal nobody sent it, or had to
be killed under valgrind fails the test with its log. When a test fails, the
log of every process it ran is added to the report ("tether processes").
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and rep.when in ("setup", "call"):
        logs = "".join(f.logs() for f in harness._open_fleets)
        if logs:
            rep.sections.append(("tether processes (%s)" % rep.when, logs))


def _own(fleet):
    yield fleet
    bad = fleet.close()
    if bad:
        pytest.fail("tether processes misbehaved:\n" + bad, pytrace=False)


@pytest.fixture
def fleet(tmp_path):
    yield from _own(harness.Fleet(tmp_path))


@pytest.fixture(scope="module")
def module_fleet(tmp_path_factory):
    yield from _own(harness.Fleet(tmp_path_factory.mktemp("fleet")))


@pytest.fixture
def server(fleet):
    return fleet.server().start()


@pytest.fixture
def my_client(fleet, server):
    return fleet.agent(server, "my-client", tags=("linux", "demo"), labels={"zone": "EU"})
