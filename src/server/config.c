/* config: table-driven reader for tetherd's TOML file (the walker is
 * toml_keys, shared with the agent). */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "toml.h"
#include "toml_keys.h"
#include "util.h"

/* LIST: a TOML array of strings, kept comma-separated (set_list). */
static int set_list(void *base, const struct toml_key *k, const toml_value *v,
		    const struct toml_key_at *at);
/* DUR: whole seconds, or a string like "90s", "30m", "1h", "7d", as ms. */
static int set_duration(void *base, const struct toml_key *k, const toml_value *v,
			const struct toml_key_at *at);

#define STR(sec, key, field) TOML_KEY_STR_OF(struct server_config, sec, key, field)
#define LIST(sec, key, field) TOML_KEY_SET_OF(struct server_config, sec, key, field, set_list)
#define FLT(sec, key, field, lo, hi) TOML_KEY_FLOAT_OF(struct server_config, sec, key, field, lo, hi)
#define INT(sec, key, field, lo, hi) TOML_KEY_INT_OF(struct server_config, sec, key, field, lo, hi)
#define SET(sec, key, field, fn) TOML_KEY_SET_OF(struct server_config, sec, key, field, fn)
#define BOOL(sec, key, field) TOML_KEY_BOOL_OF(struct server_config, sec, key, field)

static const struct toml_key server_keys[] = {
	STR("server", "address", agent_address),
	STR("server", "auth", agent_auth),
	STR("server", "auth_file", agent_auth_file),
	STR("server", "data_dir", data_dir),
	STR("server", "tls_cert", tls_cert),
	STR("server", "tls_key", tls_key),
	STR("api", "tls_cert", api_tls_cert),
	STR("api", "tls_key", api_tls_key),
	STR("server", "log_level", log_level),
	STR("server", "log_format", log_format),
	INT("server", "max_request_bytes_client", max_agent_message, 1024,
	    1024LL * 1024 * 1024),
	INT("server", "run_remote_cmd_timeout_sec", run_remote_cmd_timeout_sec, 1,
	    86400 * 30),
	INT("server", "heartbeat_timeout_sec", heartbeat_timeout_sec, 2, 86400),
	INT("server", "result_grace_sec", result_grace_sec, 1, 86400),
	INT("server", "delivery_timeout_sec", delivery_timeout_sec, 1, 86400 * 30),
	INT("server", "queue_expiry_default_sec", queue_expiry_default_sec, 1, 86400 * 365),
	INT("server", "queue_expiry_max_sec", queue_expiry_max_sec, 1, 86400 * 365),
	INT("elastic", "action_expiry_sec", elastic_action_expiry_sec, 1, 86400 * 365),
	INT("server", "schedule_missed_grace_sec", schedule_missed_grace_sec, 0, 86400 * 30),
	INT("server", "schedule_missed_delay_sec", schedule_missed_delay_sec, 0, 3600),
	INT("server", "max_concurrent_handshakes", max_concurrent_handshakes, 1, 1000000),
	LIST("server", "shared_client_auth", shared_client_auth),
	INT("server", "jobs_max_results", jobs_max_results, 0, 1000000000),
	SET("server", "jobs_max_age", jobs_max_age_ms, set_duration),
	SET("server", "purge_jobs_interval", purge_jobs_interval_ms, set_duration),
	BOOL("server", "purge_disconnected_clients", purge_disconnected_clients),
	BOOL("server", "store_sync_thread", store_sync_thread),
	SET("server", "keep_disconnected_clients", keep_disconnected_clients_ms, set_duration),
	SET("server", "purge_disconnected_clients_interval",
	    purge_disconnected_clients_interval_ms, set_duration),
	STR("api", "address", api_address),
	STR("api", "user", api_user),
	STR("api", "password", api_password),
	STR("api", "auth_file", api_auth_file),
	INT("api", "max_request_bytes", max_request_bytes, 1024,
	    256LL * 1024 * 1024),
	INT("api", "token_lifetime", token_lifetime, 1, 90LL * 86400),
	INT("api", "max_failed_login", max_failed_login, 0, 1000000),
	INT("api", "ban_time", ban_time, 0, 86400 * 365),
	FLT("api", "user_login_wait", user_login_wait, 0, 3600),
	STR("api", "allowed_origins", allowed_origins),
	INT("server", "max_failed_login", client_max_failed_login, 0, 1000000),
	INT("server", "ban_time", client_ban_time, 0, 86400 * 365),
	FLT("server", "client_login_wait", client_login_wait, 0, 3600),
	INT("api", "max_token_lifetime", max_token_lifetime, 1, 3650LL * 86400),
	INT("api", "max_header_bytes", max_header_bytes, 1024, 1024 * 1024),
	INT("api", "max_url_bytes", max_url_bytes, 256, 1024 * 1024),
	INT("api", "max_bodies_bytes", max_bodies_bytes, 1024, 64LL * 1024 * 1024 * 1024),
	INT("api", "body_timeout_sec", body_timeout_sec, 1, 3600),
	STR("tat", "secret_id", tat_secret_id),
	STR("tat", "secret_key", tat_secret_key),
	STR("tat", "user", tat_user),
	INT("tat", "rate_limit", tat_rate_limit, 1, 1000000),
	INT("elastic", "output_cap_bytes", elastic_output_cap, 1, 64LL * 1024 * 1024),
	STR("metrics", "address", metrics_address),
};

void server_config_defaults(struct server_config *c)
{
	memset(c, 0, sizeof *c);
	util_strlcpy(c->agent_address, "0.0.0.0:8080", sizeof c->agent_address);
	util_strlcpy(c->api_address, "0.0.0.0:3000", sizeof c->api_address);
	util_strlcpy(c->data_dir, "/var/lib/tether", sizeof c->data_dir);
	util_strlcpy(c->log_level, "info", sizeof c->log_level);
	util_strlcpy(c->log_format, "auto", sizeof c->log_format);
	/* 4 MiB per stream, JSON-escaped, plus room: see docs/configuration.md. */
	c->max_agent_message = 64LL * 1024 * 1024;
	c->run_remote_cmd_timeout_sec = 60;
	c->heartbeat_timeout_sec = 60;
	c->result_grace_sec = 30;
	c->delivery_timeout_sec = 300;
	c->queue_expiry_default_sec = 14 * 86400;
	c->queue_expiry_max_sec = 30 * 86400;
	c->elastic_action_expiry_sec = 14 * 86400;
	c->schedule_missed_grace_sec = 600;
	c->schedule_missed_delay_sec = 30;
	c->max_concurrent_handshakes = 1000;
	/* rport's: jobs_max_results 10000 (rport counts all jobs, tether
	 * each client's), its hourly cleanup, keep_disconnected_clients 1h,
	 * purge_disconnected_clients_interval 1m, purging clients off. */
	c->jobs_max_results = 10000;
	c->purge_jobs_interval_ms = 3600LL * 1000;
	c->keep_disconnected_clients_ms = 3600LL * 1000;
	c->purge_disconnected_clients_interval_ms = 60LL * 1000;
	c->max_request_bytes = 1024 * 1024;
	c->token_lifetime = 3600;
	c->max_failed_login = 5;
	c->ban_time = 3600;
	c->user_login_wait = 2.0;
	c->client_max_failed_login = 5;
	c->client_ban_time = 3600;
	c->client_login_wait = 2.0;
	c->max_token_lifetime = 90LL * 86400;
	c->max_header_bytes = 16384;
	c->max_url_bytes = 8192;
	c->max_bodies_bytes = 64LL * 1024 * 1024;
	c->body_timeout_sec = 30;
	c->tat_rate_limit = 20;
	c->elastic_output_cap = 50LL * 1024 * 1024;
	/* The commits' fsync on a thread (store/walsync.c): docs/internals/store.md. */
	c->store_sync_thread = true;
}

/* An array of non-empty strings without ',' into out as "a,b,c". On error
 * err says what is wrong (without the key's name). */
static int load_list(const toml_value *v, char *out, size_t outlen, char *err, size_t errlen)
{
	struct buf b;

	if (toml_type_of(v) != TOML_ARRAY) {
		snprintf(err, errlen, "must be an array of strings, e.g. [\"clientAuth1\"]");
		return -1;
	}
	buf_init(&b, outlen - 1);
	for (size_t i = 0; i < toml_len(v); i++) {
		const char *sv = toml_string(toml_at(v, i));

		if (!sv || !*sv || strchr(sv, ',')) {
			snprintf(err, errlen, "entry %zu must be a non-empty string without ','",
				 i + 1);
			buf_free(&b);
			return -1;
		}
		if ((i && buf_append(&b, ",", 1)) || buf_append(&b, sv, strlen(sv))) {
			snprintf(err, errlen, "is too long (max %zu characters in all)", outlen - 1);
			buf_free(&b);
			return -1;
		}
	}
	util_strlcpy(out, b.data ? b.data : "", outlen);
	buf_free(&b);
	return 0;
}

static int set_list(void *base, const struct toml_key *k, const toml_value *v,
		    const struct toml_key_at *at)
{
	if (load_list(v, (char *)base + k->offset, k->size, at->err, at->errlen)) {
		char why[200];

		util_strlcpy(why, at->err, sizeof why);
		snprintf(at->err, at->errlen, "%s: line %d: %s %s", at->path, toml_line(v), at->what,
			 why);
		return -1;
	}
	return 0;
}

/* The longest duration taken: ten years. */
#define DURATION_MAX_MS (3650LL * 86400 * 1000)

static int set_duration(void *base, const struct toml_key *k, const toml_value *v,
			const struct toml_key_at *at)
{
	int64_t *ms = (int64_t *)((char *)base + k->offset);
	const char *sv = toml_string(v);
	long long d = -1;
	int64_t iv;

	if (!toml_int(v, &iv)) {
		if (iv >= 0 && iv <= DURATION_MAX_MS / 1000)
			d = iv * 1000;
	} else if (sv) {
		size_t n = strlen(sv);
		char num[32];
		long long days;

		/* util_parse_duration_ms has no days. */
		if (n > 1 && n < sizeof num && sv[n - 1] == 'd') {
			memcpy(num, sv, n - 1);
			num[n - 1] = '\0';
			if (!util_parse_int(num, 0, DURATION_MAX_MS / 86400000, &days))
				d = days * 86400000;
		} else {
			d = util_parse_duration_ms(sv);
		}
	}
	if (d < 0 || d > DURATION_MAX_MS) {
		snprintf(at->err, at->errlen,
			 "%s: line %d: %s must be a duration: whole seconds, or a string like '90s', '30m', '1h' or '7d'",
			 at->path, toml_line(v), at->what);
		return -1;
	}
	*ms = d;
	return 0;
}

static const struct toml_keys server_spec = {
	server_keys, sizeof server_keys / sizeof server_keys[0], NULL, true,
};

int server_config_load(struct server_config *c, const char *path, char *err,
		       size_t errlen)
{
	toml_value *root = NULL;
	int rc;

	if (toml_parse_file(path, &root, err, errlen))
		return -1;
	rc = toml_keys_load(&server_spec, root, c, path, err, errlen);
	toml_destroy(root);
	return rc;
}

int server_config_check(const struct server_config *c, char *err, size_t errlen)
{
	char host[256];
	int port;

	if (util_parse_hostport(c->agent_address, host, sizeof host, &port)) {
		snprintf(err, errlen, "server.address '%s' is not HOST:PORT", c->agent_address);
		return -1;
	}
	if (util_parse_hostport(c->api_address, host, sizeof host, &port)) {
		snprintf(err, errlen, "api.address '%s' is not HOST:PORT", c->api_address);
		return -1;
	}
	if (c->metrics_address[0] &&
	    util_parse_hostport(c->metrics_address, host, sizeof host, &port)) {
		snprintf(err, errlen, "metrics.address '%s' is not HOST:PORT", c->metrics_address);
		return -1;
	}
	if (!c->agent_auth[0] && !c->agent_auth_file[0]) {
		snprintf(err, errlen, "no agent credentials: set server.auth (\"id:password\") or server.auth_file");
		return -1;
	}
	if (c->agent_auth[0] && !strchr(c->agent_auth, ':')) {
		snprintf(err, errlen, "server.auth must be \"id:password\"");
		return -1;
	}
	if (!c->api_auth_file[0] && (!c->api_user[0] || !c->api_password[0])) {
		snprintf(err, errlen, "no API users: set api.user and api.password, or api.auth_file");
		return -1;
	}
	if (!c->tls_cert[0] != !c->tls_key[0] || !c->api_tls_cert[0] != !c->api_tls_key[0]) {
		snprintf(err, errlen, "tls_cert and tls_key go together");
		return -1;
	}
	if (c->queue_expiry_default_sec > c->queue_expiry_max_sec) {
		snprintf(err, errlen, "server.queue_expiry_default_sec (%lld) is above "
			 "server.queue_expiry_max_sec (%lld)", (long long)c->queue_expiry_default_sec,
			 (long long)c->queue_expiry_max_sec);
		return -1;
	}
	if (c->purge_jobs_interval_ms < 1000 || c->purge_disconnected_clients_interval_ms < 1000) {
		snprintf(err, errlen, "server.purge_jobs_interval and server.purge_disconnected_clients_interval must be at least 1s");
		return -1;
	}
	if (!c->data_dir[0]) {
		snprintf(err, errlen, "server.data_dir is empty");
		return -1;
	}
	return 0;
}
