#!/usr/bin/env bash
# The Debian packages, end to end, on this machine (needs root; run by
# ctest as the `packages` test when CI=true or TETHER_PACKAGE_TEST=1, else
# skipped with status 77, because it installs and purges system packages):
#   1. builds them with dpkg-buildpackage from a copy of the tracked tree,
#   2. lintian: no errors,
#   3. apt-get install ./*.deb; the users, files and modes the packages promise,
#   4. systemd-analyze verify on the installed units,
#   5. runs the server and the agent as their units' User= and ExecStart=
#      say; the agent connects with the generated credential and runs a
#      command through the API as the generated admin,
#   6. builds a newer version and upgrades over it: configuration, secrets
#      and jobs are kept,
#   7. removes and purges: nothing of ours is left but the system users.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
if [ "${CI:-}" != true ] && [ "${TETHER_PACKAGE_TEST:-0}" != 1 ]; then
	echo "packages: skipped (installs system packages: set TETHER_PACKAGE_TEST=1, or CI=true)"
	exit 77
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "packages: needs root (apt-get install, system users)" >&2
	exit 1
fi
for t in dpkg-buildpackage lintian systemd-analyze scdoc curl; do
	command -v "$t" >/dev/null || { echo "packages: $t is missing (TETHER_PACKAGE_DEPS=1 ./scripts/deps.sh)" >&2; exit 1; }
done
work=$(mktemp -d /tmp/tether-pkg.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	dpkg --purge tetherd tether-agent tether >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "packages: FAIL: $*" >&2; exit 1; }
step() { echo "packages: $*"; }

# A copy of the tracked files (the working tree's content of them).
build_version() { # $1 version, $2 output dir
	local dir=$work/src-$1
	mkdir -p "$dir" "$2"
	(cd "$src" && git ls-files -z | xargs -0 cp --parents -d -t "$dir")
	if [ "$1" != "$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)" ]; then
		{ printf 'tether (%s) unstable; urgency=medium\n\n  * Test build.\n\n -- tether developers <maintainers@users.noreply.h-seed-ae7e9240.example>  %s\n\n' \
			"$1" "$(date -R)"; cat "$src/debian/changelog"; } > "$dir/debian/changelog"
	fi
	(cd "$dir" && dpkg-buildpackage -us -uc -b >"$work/build-$1.log" 2>&1) ||
		{ tail -30 "$work/build-$1.log"; fail "dpkg-buildpackage $1"; }
	mv "$work"/*_"$1"_*.deb "$2"/
	rm -f "$2"/*-dbgsym_*.deb
}

v1=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
step "building $v1"
build_version "$v1" "$work/v1"
step "lintian"
lintian --tag-display-limit 0 "$work/v1"/*.deb > "$work/lintian.txt" 2>&1 || true
cat "$work/lintian.txt"
if grep -q '^E: ' "$work/lintian.txt"; then fail "lintian reports errors"; fi

step "installing"
dpkg --purge tetherd tether-agent tether >/dev/null 2>&1 || true
apt-get install -y -q "$work/v1"/tetherd_*.deb "$work/v1"/tether-agent_*.deb "$work/v1"/tether_*.deb \
	> "$work/install.log" 2>&1 || { cat "$work/install.log"; fail "apt-get install"; }
getent passwd _tether >/dev/null || fail "no _tether user"
getent passwd _tether-agent >/dev/null || fail "no _tether-agent user"
for f in /usr/sbin/tetherd /usr/sbin/tether-agent /usr/bin/tether /etc/tether/tetherd.conf \
	/etc/tether/tether-agent.conf /etc/tether/admin-password /lib/systemd/system/tetherd.service \
	/lib/systemd/system/tether-agent.service /usr/share/man/man8/tetherd.8.gz \
	/usr/share/man/man5/tetherd.conf.5.gz /usr/share/man/man1/tether.1.gz \
	/usr/share/bash-completion/completions/tether; do
	[ -e "$f" ] || fail "$f is not installed"
done
[ "$(stat -c %a:%U:%G /etc/tether/tetherd.conf)" = 640:root:_tether ] || fail "tetherd.conf mode"
[ "$(stat -c %a:%U /etc/tether/admin-password)" = 600:root ] || fail "admin-password mode"
[ "$(stat -c %a:%U /var/lib/tether)" = 700:_tether ] || fail "/var/lib/tether mode"
man -l /usr/share/man/man8/tetherd.8.gz 2>/dev/null | grep -q "check-config" ||
	zcat /usr/share/man/man8/tetherd.8.gz | grep -q "check-config" || fail "tetherd(8) lacks check-config"

step "systemd-analyze verify"
systemd-analyze verify --man=no /lib/systemd/system/tetherd.service /lib/systemd/system/tether-agent.service \
	> "$work/verify.txt" 2>&1 || { cat "$work/verify.txt"; fail "systemd-analyze verify"; }

# Runs a unit's ExecStartPre and ExecStart as its User=, in the background.
run_unit() { # $1 unit, $2 log
	local unit=/lib/systemd/system/$1.service user pre start
	user=$(sed -n 's/^User=//p' "$unit")
	pre=$(sed -n 's/^ExecStartPre=//p' "$unit")
	start=$(sed -n 's/^ExecStart=//p' "$unit")
	# shellcheck disable=SC2086
	(cd / && runuser -u "$user" -- $pre) || fail "$1: ExecStartPre failed"
	# shellcheck disable=SC2086
	(cd / && exec runuser -u "$user" -- $start) > "$2" 2>&1 &
	pids+=($!)
}
api() { # $1 method, $2 path, [$3 body]
	curl -sS -u "admin:$(cat /etc/tether/admin-password)" -X "$1" ${3:+-H 'Content-Type: application/json' -d "$3"} \
		"http://127.0.0.1:3000$2"
}
wait_for() { # $1 what, $2... command
	local what=$1 i
	shift
	for ((i = 0; i < 300; i++)); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	fail "timed out waiting for $what"
}
host_id=$(sed -n 's/^id = "\(.*\)"/\1/p' /etc/tether/tether-agent.conf)
connected() { api GET "/api/v1/clients/$host_id" | grep -q '"connection_state":"connected"'; }
run_and_check() { # $1 text to echo
	local jid out
	jid=$(api POST "/api/v1/clients/$host_id/commands" "{\"command\":\"/usr/bin/echo $1\"}" |
		sed -n 's/.*"jid":"\([^"]*\)".*/\1/p')
	[ -n "$jid" ] || fail "no job id"
	for ((i = 0; i < 300; i++)); do
		out=$(api GET "/api/v1/clients/$host_id/commands/$jid")
		if echo "$out" | grep -q '"status":"successful"'; then break; fi
		sleep 0.1
	done
	echo "$out" | grep -q "\"stdout\":\"$1\\\\n\"" || fail "job output: $out"
	echo "$jid"
}

step "starting the server and the agent as their units say"
run_unit tetherd "$work/tetherd.log"
wait_for "tetherd /readyz" curl -sf http://127.0.0.1:3000/readyz
run_unit tether-agent "$work/agent.log"
wait_for "the agent to connect" connected
jid=$(run_and_check installed-ok)
[ "$(stat -c %U /var/lib/tether/tether.db)" = _tether ] || fail "store not owned by _tether"
for p in "${pids[@]}"; do kill "$p"; done
wait || true
pids=()
conf_sum=$(sha256sum /etc/tether/tetherd.conf /etc/tether/tether-agent.conf /etc/tether/admin-password)

v2="$v1+test1"
step "building $v2 and upgrading"
build_version "$v2" "$work/v2"
apt-get install -y -q "$work/v2"/tetherd_*.deb "$work/v2"/tether-agent_*.deb "$work/v2"/tether_*.deb \
	> "$work/upgrade.log" 2>&1 || { cat "$work/upgrade.log"; fail "upgrade"; }
[ "$(dpkg-query -W -f='${Version}' tetherd)" = "$v2" ] || fail "not upgraded"
[ "$conf_sum" = "$(sha256sum /etc/tether/tetherd.conf /etc/tether/tether-agent.conf /etc/tether/admin-password)" ] ||
	fail "the upgrade changed the configuration"
run_unit tetherd "$work/tetherd2.log"
wait_for "tetherd /readyz after the upgrade" curl -sf http://127.0.0.1:3000/readyz
api GET "/api/v1/clients/$host_id/commands/$jid" | grep -q 'installed-ok' || fail "the job is gone after the upgrade"
run_unit tether-agent "$work/agent2.log"
wait_for "the agent to connect after the upgrade" connected
run_and_check upgraded-ok >/dev/null
for p in "${pids[@]}"; do kill "$p"; done
wait || true
pids=()

step "removing and purging"
apt-get remove -y -q tetherd tether-agent tether > "$work/remove.log" 2>&1 || fail "remove"
[ ! -e /usr/sbin/tetherd ] || fail "remove left /usr/sbin/tetherd"
[ -e /etc/tether/tetherd.conf ] || fail "remove (not purge) should keep the configuration"
dpkg --purge tetherd tether-agent tether > "$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "purge"; }
for f in /etc/tether /var/lib/tether /var/lib/tether-agent /lib/systemd/system/tetherd.service; do
	[ ! -e "$f" ] || fail "purge left $f"
done
step "all checks passed"
