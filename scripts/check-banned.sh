#!/usr/bin/env bash
# Fails if a banned (unbounded or unchecked) C function is used in src/ or tools/.
set -euo pipefail
cd "$(dirname "$0")/.."
if grep -rnE '\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atoll|system)\s*\(' src tools 2>/dev/null; then
	echo "banned function used (see STYLE: bounded, checked forms only)" >&2
	exit 1
fi
echo "banned-function check: ok"
