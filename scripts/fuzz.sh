#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, ASan+UBSan) and runs each on its
# corpus in fuzz/corpus/<name>. Usage: scripts/fuzz.sh [RUNS] [HARNESS...]
# RUNS defaults to 20000 (a smoke run, as CI does); use 10000000 for a real run.
set -euo pipefail
cd "$(dirname "$0")/.."
TETHER_FUZZ_DEPS=1 ./scripts/deps.sh
runs=${1:-20000}
shift || true
CC=clang cmake -S . -B build-fuzz -DTETHER_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$(nproc)" >/dev/null
harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
	for f in fuzz/fuzz_*.c; do harnesses+=("$(basename "$f" .c)"); done
fi
for h in "${harnesses[@]}"; do
	name=${h#fuzz_}
	work=$(mktemp -d)
	echo "fuzz: $h, $runs runs"
	# New inputs go to a scratch dir; the committed corpus is only read.
	if ! ./build-fuzz/"$h" -runs="$runs" -max_len=4096 -print_final_stats=1 \
		"$work" "fuzz/corpus/$name" >"$work.log" 2>&1; then
		grep -E "ERROR|SUMMARY|runtime error" "$work.log" | head -5 >&2
		echo "fuzz: $h found a problem (inputs: crash-*, log: $work.log)" >&2
		exit 1
	fi
	grep -E "stat::number_of_executed_units|stat::average_exec_per_sec" "$work.log" || true
	if grep -q "runtime error" "$work.log" || ls crash-* leak-* timeout-* >/dev/null 2>&1; then
		echo "fuzz: $h found a problem: $(ls crash-* leak-* timeout-* 2>/dev/null)" >&2
		exit 1
	fi
	rm -rf "$work"
done
echo "fuzz: no findings"
