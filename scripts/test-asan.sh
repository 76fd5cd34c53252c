#!/usr/bin/env bash
# Runs the whole test suite against an ASan+UBSan build (build-asan/).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cmake -S . -B build-asan -DTETHER_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$(nproc)"
# Leak checking is off for the daemons: libwebsockets keeps some global
# allocations to exit. Memory errors and undefined behaviour abort.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd build-asan
ctest --output-on-failure -j"${TEST_JOBS:-2}" "$@"
