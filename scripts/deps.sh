#!/usr/bin/env bash
# Installs what tether needs to build, run and test, from Debian 12's packages.
# Installs only what is missing; uses sudo when not root.
set -euo pipefail

pkgs=(
	build-essential cmake pkg-config
	libwebsockets-dev libwebsockets-evlib-uv libuv1-dev libssl-dev
	libjansson-dev libsqlite3-dev libsodium-dev libpcre2-dev uthash-dev
	libcmocka-dev libcurl4-openssl-dev libhttp-parser-dev
	python3 python3-pytest python3-websockets python3-requests python3-websocket chromium
	curl jq sqlite3 sudo procps scdoc
	libarchive-dev unzip prometheus
	python3-jsonschema
)
# Node.js and npm: the TAT test drives Tencent Cloud's official SDK (tests/e2e/tat).
pkgs+=(nodejs)
if ! command -v npm >/dev/null 2>&1; then
	pkgs+=(npm)
fi
if [ "${TETHER_FUZZ_DEPS:-0}" = 1 ]; then
	pkgs+=(clang libclang-rt-14-dev)
fi
if [ "${TETHER_PACKAGE_DEPS:-0}" = 1 ]; then
	pkgs+=(debhelper lintian fakeroot dpkg-dev systemd)
fi
if [ "${TETHER_VALGRIND_DEPS:-0}" = 1 ]; then
	pkgs+=(valgrind)
fi
# bench/ (regress.py, pdsh_compare.py): load generator, syscall counts, and
# the ssh tools tether is compared with. Not for CI.
if [ "${TETHER_BENCH_DEPS:-0}" = 1 ]; then
	pkgs+=(wrk linux-perf strace pdsh openssh-server openssh-client ansible-core clustershell)
fi

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
