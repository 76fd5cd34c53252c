#!/usr/bin/env bash
# The demo: installs what is missing, builds, then runs tetherd on :3000 (API,
# user admin / password foobaz) and :8080 (agents) with its SQLite store in
# ./demo-data, plus local agents: my-client, local-test-client-2..4, and the
# TAT seed's instances ins-zj0f57ew, ins-zj0f57ex, ins-zj0f57ev (their
# demo key pair is in [tat] below; scripts/tat-call signs with it).
# Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
./scripts/build.sh

DATA=${TETHER_DEMO_DIR:-$PWD/demo-data}
API=${TETHER_DEMO_API:-127.0.0.1:3000}
AGENTS=${TETHER_DEMO_AGENTS:-127.0.0.1:8080}
mkdir -p "$DATA"
chmod 700 "$DATA"

cat >"$DATA/tetherd.conf" <<CONF
[server]
address = "$AGENTS"
auth = "clientAuth1:1234"
# The demo's four agents share this one credential (each id is otherwise
# bound to the credential of the same id).
shared_client_auth = ["clientAuth1"]
data_dir = "$DATA/server"

[api]
address = "$API"
user = "admin"
password = "foobaz"

# The TAT dialect's demo key pair (docs/api-tat.md), bound to admin. A demo
# secret: never use it on a server others can reach.
[tat]
secret_id = "AKIDdemoTetherTat00000000000000000"
secret_key = "demoTetherTatSecretKey0000000000"
user = "admin"
CONF

# The agent refuses to run as root unless told so: the demo says so when
# it is started as root (CI machines, containers).
ALLOW_ROOT=false
if [ "$(id -u)" -eq 0 ]; then
	ALLOW_ROOT=true
	echo "demo: running the agents as root (allow_root = true); see README for an unprivileged setup" >&2
fi

agent_conf() { # id tags labels
	cat >"$DATA/$1.conf" <<CONF
[client]
server = "$AGENTS"
auth = "clientAuth1:1234"
id = "$1"
name = "$1"
tags = [$2]
data_dir = "$DATA/agent-$1"
allow_root = $ALLOW_ROOT

[client.labels]
$3

[remote-commands]
# The seed's examples run 'date' and '/bin/date'; everything else must be
# a full path under /usr/bin, /usr/local/bin or /bin, and a single command.
allow = ['^/usr/bin/.*', '^/usr/local/bin/.*', '^/bin/.*', '^date$']
deny = ['(\||<|>|;|,|\n|&)']
CONF
}
agent_conf my-client "'demo'" 'zone = "EU"'
agent_conf local-test-client-2 "'group-1'" $'zone = "EU"\nenv = "prod1"'
agent_conf local-test-client-3 "'group-1', 'group-2'" $'zone = "EU"\nenv = "prod1"'
agent_conf local-test-client-4 "'group-2'" 'zone = "US"'
# The Elastic docs' endpoint (README: the Elastic Defend API), named after
# this host; it runs what Kibana's execute sends (any bash command line).
ES_ID=ed518850-681a-4d60-bb98-e22640cae2a8
agent_conf $ES_ID "'elastic'" 'zone = "EU"'
sed -i -e "s/^name = .*/name = \"$(hostname)\"/" \
	-e "s/^allow = .*/allow = ['.*']/" -e "s/^deny = .*/deny = []/" "$DATA/$ES_ID.conf"
# TAT's instances run scripts as TAT does: any command (no allow list).
tat_agent_conf() { # id
	agent_conf "$1" "'tat'" 'zone = "ap-guangzhou"'
	sed -i "s/^allow = .*/allow = ['.*']/; s/^deny = .*/deny = []/" "$DATA/$1.conf"
}
for id in ins-zj0f57ew ins-zj0f57ex ins-zj0f57ev; do tat_agent_conf "$id"; done

# The seed's multi-client examples run in cwd /users/root (rport's docs
# machine). Create it so they work as written.
if [ ! -d /users/root ]; then
	if [ "$(id -u)" -eq 0 ]; then mkdir -p /users/root; else sudo mkdir -p /users/root || true; fi
fi

pids=()
cleanup() {
	trap - INT TERM EXIT
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

./build/tetherd -c "$DATA/tetherd.conf" &
pids+=($!)
for id in my-client local-test-client-2 local-test-client-3 local-test-client-4 $ES_ID \
	ins-zj0f57ew ins-zj0f57ex ins-zj0f57ev; do
	./build/tether-agent -c "$DATA/$id.conf" 2>>"$DATA/$id.log" &
	pids+=($!)
done

# Wait until the API answers and my-client is connected.
for _ in $(seq 1 100); do
	if curl -sf -u admin:foobaz "http://$API/api/v1/clients/my-client" 2>/dev/null |
		grep -q '"connection_state":"connected"'; then
		# The seed assumes a client group "group-1" exists.
		curl -s -o /dev/null -u admin:foobaz "http://$API/api/v1/client-groups" \
			-X POST -d '{"id":"group-1","description":"clients tagged group-1","params":{"tag":["group-1"]}}' || true
		echo "demo: ready. API http://$API (admin:foobaz); agent logs in $DATA/*.log" >&2
		break
	fi
	sleep 0.2
done
wait "${pids[0]}"
