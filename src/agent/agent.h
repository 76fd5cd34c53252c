/* agent: tether-agent's configuration and shared state. */
#ifndef TETHER_AGENT_H
#define TETHER_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "net.h"
#include "policy.h"

#define AGENT_VERSION "0.1.0"

struct agent_config {
	/* [client] */
	char server[512];            /* "host:port", "ws://host:port/path", "wss://..." */
	char auth[512];              /* "id:password" */
	char id[128];
	char name[256];
	char data_dir[512];
	json_t *tags;                /* array of strings */
	json_t *labels;              /* object of strings ([client.labels]) */
	json_t *services;            /* array of strings (consul-style filters) */
	bool allow_root;
	char tls_ca[512];              /* verify the server with this CA file */
	char fingerprint[160];         /* or pin its certificate (SHA-256 hex) */
	char log_level[16];
	char log_format[16];         /* text, json, journal, auto */
	/* [connection] */
	int64_t min_retry_ms;
	int64_t max_retry_ms;
	int64_t keep_alive_ms;         /* ping the server this often */
	int64_t keep_alive_timeout_ms; /* silence after which it is dead */
	/* [remote-commands] */
	bool commands_enabled;
	char **allow;
	size_t nallow;
	char **deny;
	size_t ndeny;
	policy_order order;
	int64_t send_back_limit;
	/* run_as: the users a run may ask to run as (TAT's Username); none
	 * by default. */
	char **run_as;
	size_t nrun_as;
	int64_t max_output_cap;      /* the most a run's output_cap may keep */
	/* Not a key: what both streams may take in a result frame, encoded
	 * (60 MiB, under the server's 64 MiB frame; tests lower it). */
	int64_t max_result_output;
	/* [remote-scripts] */
	bool scripts_enabled;
	/* check_command_policy: scripts also pass the [remote-commands]
	 * allow/deny rules (their interpreter or shebang line). Off by
	 * default: rport gates scripts by enabled alone. */
	bool scripts_check_policy;
	/* [interpreter-aliases] name = "/path/to/interpreter" */
	json_t *aliases;
};

void agent_config_defaults(struct agent_config *c);
/* Reads a TOML file. Returns 0 or -1 with err ("FILE: line N: ..."). */
int agent_config_load(struct agent_config *c, const char *path, char *err, size_t errlen);
int agent_config_check(const struct agent_config *c, char *err, size_t errlen);
void agent_config_free(struct agent_config *c);

struct exec;
struct conn;

struct agent {
	uv_loop_t *loop;
	struct agent_config cfg;
	net_ctx *net;
	policy *policy;
	struct conn *conn;
	struct exec *exec;
	bool stopping;
};

#endif
