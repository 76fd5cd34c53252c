#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit + end-to-end) with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
./scripts/build.sh
cd build
ctest --output-on-failure -j"${TEST_JOBS:-2}" "$@"
