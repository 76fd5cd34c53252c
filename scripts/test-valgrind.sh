#!/usr/bin/env bash
# Runs the walking-skeleton end-to-end tests with every tether binary under
# valgrind memcheck (a process with a memcheck error exits 99 and fails its
# test). ASan cannot see uninitialised reads; valgrind can, also inside
# libwebsockets when we hand it bad memory. Uses the normal build (build/).
set -euo pipefail
cd "$(dirname "$0")/.."
TETHER_VALGRIND_DEPS=1 ./scripts/deps.sh
./scripts/build.sh >/dev/null
cd build
TETHER_VALGRIND=1 /usr/bin/python3 -m pytest -q ../tests/e2e/test_02_single.py
