/* config: tether-agent's TOML file, shaped like rport's rport.conf, read
 * by a table of keys (agent_keys[], walked by toml_keys as tetherd's). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent.h"
#include "toml.h"
#include "toml_keys.h"
#include "util.h"

void agent_config_defaults(struct agent_config *c)
{
	memset(c, 0, sizeof *c);
	util_strlcpy(c->data_dir, "/var/lib/tether-agent", sizeof c->data_dir);
	util_strlcpy(c->log_level, "info", sizeof c->log_level);
	util_strlcpy(c->log_format, "auto", sizeof c->log_format);
	c->tags = json_array();
	c->labels = json_object();
	c->services = json_array();
	c->aliases = json_object();
	c->min_retry_ms = 1000;
	c->max_retry_ms = 30000;
	c->keep_alive_ms = 20000;
	c->keep_alive_timeout_ms = 60000;
	c->commands_enabled = true;
	c->order = POLICY_ALLOW_DENY;
	c->send_back_limit = 4 * 1024 * 1024;
	c->max_output_cap = 50 * 1024 * 1024;
	c->max_result_output = 60 * 1024 * 1024;
	c->scripts_enabled = false;
	c->scripts_check_policy = false;
}

static void free_list(char **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

void agent_config_free(struct agent_config *c)
{
	json_decref(c->tags);
	json_decref(c->labels);
	json_decref(c->services);
	json_decref(c->aliases);
	free_list(c->allow, c->nallow);
	free_list(c->deny, c->ndeny);
	free_list(c->run_as, c->nrun_as);
	c->run_as = NULL;
	c->nrun_as = 0;
	c->tags = c->labels = c->services = c->aliases = NULL;
	c->allow = c->deny = NULL;
	c->nallow = c->ndeny = 0;
}

/* An array of strings into a json array (tags, services). */
static int set_json_strings(void *base, const struct toml_key *k, const toml_value *v,
			    const struct toml_key_at *at)
{
	json_t **dst = (json_t **)((char *)base + k->offset);
	json_t *a;

	if (toml_type_of(v) != TOML_ARRAY) {
		snprintf(at->err, at->errlen, "%s: line %d: %s must be an array of strings",
			 at->path, toml_line(v), at->what);
		return -1;
	}
	a = json_array();
	for (size_t i = 0; i < toml_len(v); i++) {
		const char *s = toml_string(toml_at(v, i));

		if (!s) {
			json_decref(a);
			snprintf(at->err, at->errlen, "%s: line %d: %s must be an array of strings",
				 at->path, toml_line(v), at->what);
			return -1;
		}
		json_array_append_new(a, json_string(s));
	}
	json_decref(*dst);
	*dst = a;
	return 0;
}

static int get_str_list(const toml_value *v, const struct toml_key_at *at, char ***dst,
			size_t *n)
{
	char **l;
	size_t cnt = toml_len(v);

	if (toml_type_of(v) != TOML_ARRAY) {
		snprintf(at->err, at->errlen, "%s: line %d: %s must be an array of strings",
			 at->path, toml_line(v), at->what);
		return -1;
	}
	l = calloc(cnt + 1, sizeof *l);
	if (!l)
		return -1;
	for (size_t i = 0; i < cnt; i++) {
		const char *s = toml_string(toml_at(v, i));

		if (!s || !(l[i] = strdup(s))) {
			free_list(l, i);
			snprintf(at->err, at->errlen, "%s: line %d: %s must be an array of strings",
				 at->path, toml_line(v), at->what);
			return -1;
		}
	}
	free_list(*dst, *n);
	*dst = l;
	*n = cnt;
	return 0;
}

static int set_allow(void *base, const struct toml_key *k, const toml_value *v,
		     const struct toml_key_at *at)
{
	struct agent_config *c = base;

	(void)k;
	return get_str_list(v, at, &c->allow, &c->nallow);
}

static int set_deny(void *base, const struct toml_key *k, const toml_value *v,
		    const struct toml_key_at *at)
{
	struct agent_config *c = base;

	(void)k;
	return get_str_list(v, at, &c->deny, &c->ndeny);
}

static int set_run_as(void *base, const struct toml_key *k, const toml_value *v,
		      const struct toml_key_at *at)
{
	struct agent_config *c = base;

	(void)k;
	return get_str_list(v, at, &c->run_as, &c->nrun_as);
}

/* [client.labels]: a table of strings. */
static int set_labels(void *base, const struct toml_key *k, const toml_value *v,
		      const struct toml_key_at *at)
{
	struct agent_config *c = base;

	(void)k;
	if (toml_type_of(v) != TOML_TABLE) {
		snprintf(at->err, at->errlen, "%s: line %d: client.labels must be a table", at->path,
			 toml_line(v));
		return -1;
	}
	for (size_t j = 0; j < toml_len(v); j++) {
		const char *s = toml_string(toml_at(v, j));

		if (!s) {
			snprintf(at->err, at->errlen, "%s: line %d: label '%s' must be a string",
				 at->path, toml_line(toml_at(v, j)), toml_key_at(v, j));
			return -1;
		}
		json_object_set_new(c->labels, toml_key_at(v, j), json_string(s));
	}
	return 0;
}

/* Whole seconds, or a string like "30s", into milliseconds. */
static int set_duration(void *base, const struct toml_key *k, const toml_value *v,
			const struct toml_key_at *at)
{
	int64_t *ms = (int64_t *)((char *)base + k->offset);
	int64_t iv;
	long long d;

	if (!toml_int(v, &iv)) {
		/* Whole seconds, at most a year: no overflow in the ms. */
		if (iv < 0 || iv > 365LL * 86400) {
			snprintf(at->err, at->errlen, "%s: line %d: %s must be a duration from 0 to 31536000 seconds (or a string like '30s')",
				 at->path, toml_line(v), at->what);
			return -1;
		}
		*ms = iv * 1000;
		return 0;
	}
	d = toml_string(v) ? util_parse_duration_ms(toml_string(v)) : -1;
	if (d < 0) {
		snprintf(at->err, at->errlen, "%s: line %d: %s must be a duration like '30s' or '5m'",
			 at->path, toml_line(v), at->what);
		return -1;
	}
	*ms = d;
	return 0;
}

static int set_order(void *base, const struct toml_key *k, const toml_value *v,
		     const struct toml_key_at *at)
{
	struct agent_config *c = base;

	(void)k;
	if (toml_type_of(v) != TOML_ARRAY || toml_len(v) != 2 || !toml_string(toml_at(v, 0)) ||
	    !toml_string(toml_at(v, 1)) ||
	    policy_order_parse(toml_string(toml_at(v, 0)), toml_string(toml_at(v, 1)), &c->order)) {
		snprintf(at->err, at->errlen, "%s: line %d: remote-commands.order must be ['allow','deny'] or ['deny','allow']",
			 at->path, toml_line(v));
		return -1;
	}
	return 0;
}

/* [interpreter-aliases] name = "/path/to/interpreter": any name. */
static int set_alias(void *base, const struct toml_key *k, const toml_value *v,
		     const struct toml_key_at *at)
{
	struct agent_config *c = base;

	(void)k;
	if (!toml_string(v)) {
		snprintf(at->err, at->errlen, "%s: line %d: interpreter alias '%s' must be a string",
			 at->path, toml_line(v), at->name);
		return -1;
	}
	json_object_set_new(c->aliases, at->name, json_string(toml_string(v)));
	return 0;
}

#define STR(sec, key, field) TOML_KEY_STR_OF(struct agent_config, sec, key, field)
#define BOOL(sec, key, field) TOML_KEY_BOOL_OF(struct agent_config, sec, key, field)
#define INT(sec, key, field, lo, hi) TOML_KEY_INT_OF(struct agent_config, sec, key, field, lo, hi)
#define SET(sec, key, field, fn) TOML_KEY_SET_OF(struct agent_config, sec, key, field, fn)

static const struct toml_key agent_keys[] = {
	STR("client", "server", server),
	STR("client", "auth", auth),
	STR("client", "id", id),
	STR("client", "name", name),
	STR("client", "data_dir", data_dir),
	STR("client", "log_level", log_level),
	STR("client", "log_format", log_format),
	SET("client", "tags", tags, set_json_strings),
	SET("client", "services", services, set_json_strings),
	STR("client", "tls_ca", tls_ca),
	STR("client", "fingerprint", fingerprint),
	BOOL("client", "allow_root", allow_root),
	SET("client", "labels", labels, set_labels),
	SET("connection", "max_retry_interval", max_retry_ms, set_duration),
	SET("connection", "min_retry_interval", min_retry_ms, set_duration),
	SET("connection", "keep_alive", keep_alive_ms, set_duration),
	SET("connection", "keep_alive_timeout", keep_alive_timeout_ms, set_duration),
	BOOL("remote-commands", "enabled", commands_enabled),
	SET("remote-commands", "allow", allow, set_allow),
	SET("remote-commands", "deny", deny, set_deny),
	SET("remote-commands", "order", order, set_order),
	INT("remote-commands", "send_back_limit", send_back_limit, 0, 64LL * 1024 * 1024),
	SET("remote-commands", "run_as", run_as, set_run_as),
	INT("remote-commands", "max_output_cap", max_output_cap, 0, 64LL * 1024 * 1024),
	BOOL("remote-scripts", "enabled", scripts_enabled),
	BOOL("remote-scripts", "check_command_policy", scripts_check_policy),
	SET("interpreter-aliases", NULL, aliases, set_alias),
};

static const struct toml_keys agent_spec = {
	agent_keys, sizeof agent_keys / sizeof agent_keys[0], "client", false,
};

int agent_config_load(struct agent_config *c, const char *path, char *err, size_t errlen)
{
	toml_value *root = NULL;
	int rc;

	if (toml_parse_file(path, &root, err, errlen))
		return -1;
	rc = toml_keys_load(&agent_spec, root, c, path, err, errlen);
	toml_destroy(root);
	return rc;
}

int agent_config_check(const struct agent_config *c, char *err, size_t errlen)
{
	if (!c->server[0]) {
		snprintf(err, errlen, "client.server is not set (e.g. \"127.0.0.1:8080\")");
		return -1;
	}
	if (!c->auth[0] || !strchr(c->auth, ':')) {
		snprintf(err, errlen, "client.auth must be \"id:password\"");
		return -1;
	}
	if (!c->id[0]) {
		snprintf(err, errlen, "client.id is not set");
		return -1;
	}
	if ((c->tls_ca[0] || c->fingerprint[0]) && strncasecmp(c->server, "wss://", 6)) {
		/* Never plain text when TLS is configured. */
		snprintf(err, errlen, "client.tls_ca and client.fingerprint need a wss:// server address");
		return -1;
	}
	if (c->keep_alive_ms < 100 || c->keep_alive_timeout_ms <= c->keep_alive_ms) {
		snprintf(err, errlen, "connection.keep_alive_timeout must be longer than connection.keep_alive (at least 100ms)");
		return -1;
	}
	if (c->min_retry_ms <= 0 || c->max_retry_ms < c->min_retry_ms) {
		snprintf(err, errlen, "connection.max_retry_interval must be at least min_retry_interval");
		return -1;
	}
	return 0;
}
