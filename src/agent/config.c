/* config: tether-agent's TOML file, shaped like rport's rport.conf. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent.h"
#include "toml.h"
#include "util.h"

void agent_config_defaults(struct agent_config *c)
{
	memset(c, 0, sizeof *c);
	util_strlcpy(c->data_dir, "/var/lib/tether-agent", sizeof c->data_dir);
	util_strlcpy(c->log_level, "info", sizeof c->log_level);
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
	c->tags = c->labels = c->services = c->aliases = NULL;
	c->allow = c->deny = NULL;
	c->nallow = c->ndeny = 0;
}

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); goto out; } while (0)

static int get_str(const toml_value *v, const char *path, const char *key, char *dst,
		   size_t size, char *err, size_t errlen)
{
	const char *s = toml_string(v);

	if (!s) {
		snprintf(err, errlen, "%s: line %d: %s must be a string", path, toml_line(v), key);
		return -1;
	}
	if (util_strlcpy(dst, s, size)) {
		snprintf(err, errlen, "%s: line %d: %s is too long", path, toml_line(v), key);
		return -1;
	}
	return 0;
}

static int get_bool(const toml_value *v, const char *path, const char *key, bool *dst,
		    char *err, size_t errlen)
{
	if (toml_bool(v, dst)) {
		snprintf(err, errlen, "%s: line %d: %s must be true or false", path,
			 toml_line(v), key);
		return -1;
	}
	return 0;
}

/* An array of strings into a json array (tags, services). */
static int get_str_array_json(const toml_value *v, const char *path, const char *key,
			      json_t **dst, char *err, size_t errlen)
{
	json_t *a;

	if (toml_type_of(v) != TOML_ARRAY) {
		snprintf(err, errlen, "%s: line %d: %s must be an array of strings", path,
			 toml_line(v), key);
		return -1;
	}
	a = json_array();
	for (size_t i = 0; i < toml_len(v); i++) {
		const char *s = toml_string(toml_at(v, i));

		if (!s) {
			json_decref(a);
			snprintf(err, errlen, "%s: line %d: %s must be an array of strings", path,
				 toml_line(v), key);
			return -1;
		}
		json_array_append_new(a, json_string(s));
	}
	json_decref(*dst);
	*dst = a;
	return 0;
}

static int get_str_list(const toml_value *v, const char *path, const char *key,
			char ***dst, size_t *n, char *err, size_t errlen)
{
	char **l;
	size_t cnt = toml_len(v);

	if (toml_type_of(v) != TOML_ARRAY) {
		snprintf(err, errlen, "%s: line %d: %s must be an array of strings", path,
			 toml_line(v), key);
		return -1;
	}
	l = calloc(cnt + 1, sizeof *l);
	if (!l)
		return -1;
	for (size_t i = 0; i < cnt; i++) {
		const char *s = toml_string(toml_at(v, i));

		if (!s || !(l[i] = strdup(s))) {
			free_list(l, i);
			snprintf(err, errlen, "%s: line %d: %s must be an array of strings", path,
				 toml_line(v), key);
			return -1;
		}
	}
	free_list(*dst, *n);
	*dst = l;
	*n = cnt;
	return 0;
}

static int load_client(struct agent_config *c, const toml_value *t, const char *path,
		       char *err, size_t errlen)
{
	for (size_t i = 0; i < toml_len(t); i++) {
		const char *k = toml_key_at(t, i);
		const toml_value *v = toml_at(t, i);
		int rc = 0;

		if (!strcmp(k, "server"))
			rc = get_str(v, path, "client.server", c->server, sizeof c->server, err, errlen);
		else if (!strcmp(k, "auth"))
			rc = get_str(v, path, "client.auth", c->auth, sizeof c->auth, err, errlen);
		else if (!strcmp(k, "id"))
			rc = get_str(v, path, "client.id", c->id, sizeof c->id, err, errlen);
		else if (!strcmp(k, "name"))
			rc = get_str(v, path, "client.name", c->name, sizeof c->name, err, errlen);
		else if (!strcmp(k, "data_dir"))
			rc = get_str(v, path, "client.data_dir", c->data_dir, sizeof c->data_dir,
				     err, errlen);
		else if (!strcmp(k, "log_level"))
			rc = get_str(v, path, "client.log_level", c->log_level,
				     sizeof c->log_level, err, errlen);
		else if (!strcmp(k, "tags"))
			rc = get_str_array_json(v, path, "client.tags", &c->tags, err, errlen);
		else if (!strcmp(k, "services"))
			rc = get_str_array_json(v, path, "client.services", &c->services, err, errlen);
		else if (!strcmp(k, "tls_ca"))
			rc = get_str(v, path, "client.tls_ca", c->tls_ca, sizeof c->tls_ca, err, errlen);
		else if (!strcmp(k, "fingerprint"))
			rc = get_str(v, path, "client.fingerprint", c->fingerprint,
				     sizeof c->fingerprint, err, errlen);
		else if (!strcmp(k, "allow_root"))
			rc = get_bool(v, path, "client.allow_root", &c->allow_root, err, errlen);
		else if (!strcmp(k, "labels")) {
			if (toml_type_of(v) != TOML_TABLE) {
				snprintf(err, errlen, "%s: line %d: client.labels must be a table",
					 path, toml_line(v));
				return -1;
			}
			for (size_t j = 0; j < toml_len(v); j++) {
				const char *s = toml_string(toml_at(v, j));

				if (!s) {
					snprintf(err, errlen,
						 "%s: line %d: label '%s' must be a string",
						 path, toml_line(toml_at(v, j)), toml_key_at(v, j));
					return -1;
				}
				json_object_set_new(c->labels, toml_key_at(v, j), json_string(s));
			}
		} else {
			snprintf(err, errlen, "%s: line %d: unknown key '%s' in [client]", path,
				 toml_line(v), k);
			return -1;
		}
		if (rc)
			return -1;
	}
	return 0;
}

static int load_duration(const toml_value *v, const char *path, const char *key,
			 int64_t *ms, char *err, size_t errlen)
{
	int64_t iv;
	long long d;

	if (!toml_int(v, &iv)) {
		/* Whole seconds, at most a year: no overflow in the ms. */
		if (iv < 0 || iv > 365LL * 86400) {
			snprintf(err, errlen, "%s: line %d: %s must be a duration from 0 to 31536000 seconds (or a string like '30s')",
				 path, toml_line(v), key);
			return -1;
		}
		*ms = iv * 1000;
		return 0;
	}
	d = toml_string(v) ? util_parse_duration_ms(toml_string(v)) : -1;
	if (d < 0) {
		snprintf(err, errlen, "%s: line %d: %s must be a duration like '30s' or '5m'",
			 path, toml_line(v), key);
		return -1;
	}
	*ms = d;
	return 0;
}

int agent_config_load(struct agent_config *c, const char *path, char *err, size_t errlen)
{
	toml_value *root = NULL;
	int rc = -1;

	if (toml_parse_file(path, &root, err, errlen))
		return -1;
	for (size_t s = 0; s < toml_len(root); s++) {
		const char *sec = toml_key_at(root, s);
		const toml_value *t = toml_at(root, s);

		if (toml_type_of(t) != TOML_TABLE)
			FAIL("%s: line %d: key '%s' must be inside a section such as [client]",
			     path, toml_line(t), sec);
		if (!strcmp(sec, "client")) {
			if (load_client(c, t, path, err, errlen))
				goto out;
			continue;
		}
		if (strcmp(sec, "connection") && strcmp(sec, "remote-commands") &&
		    strcmp(sec, "remote-scripts") && strcmp(sec, "interpreter-aliases"))
			FAIL("%s: line %d: unknown section [%s]", path, toml_line(t), sec);
		for (size_t i = 0; i < toml_len(t); i++) {
			const char *k = toml_key_at(t, i);
			const toml_value *v = toml_at(t, i);

			if (!strcmp(sec, "connection")) {
				if (!strcmp(k, "max_retry_interval")) {
					if (load_duration(v, path, "connection.max_retry_interval",
							  &c->max_retry_ms, err, errlen))
						goto out;
				} else if (!strcmp(k, "min_retry_interval")) {
					if (load_duration(v, path, "connection.min_retry_interval",
							  &c->min_retry_ms, err, errlen))
						goto out;
				} else if (!strcmp(k, "keep_alive")) {
					if (load_duration(v, path, "connection.keep_alive",
							  &c->keep_alive_ms, err, errlen))
						goto out;
				} else if (!strcmp(k, "keep_alive_timeout")) {
					if (load_duration(v, path, "connection.keep_alive_timeout",
							  &c->keep_alive_timeout_ms, err, errlen))
						goto out;
				} else {
					FAIL("%s: line %d: unknown key '%s' in [connection]", path,
					     toml_line(v), k);
				}
			} else if (!strcmp(sec, "remote-commands")) {
				if (!strcmp(k, "enabled")) {
					if (get_bool(v, path, "remote-commands.enabled",
						     &c->commands_enabled, err, errlen))
						goto out;
				} else if (!strcmp(k, "allow")) {
					if (get_str_list(v, path, "remote-commands.allow", &c->allow,
							 &c->nallow, err, errlen))
						goto out;
				} else if (!strcmp(k, "deny")) {
					if (get_str_list(v, path, "remote-commands.deny", &c->deny,
							 &c->ndeny, err, errlen))
						goto out;
				} else if (!strcmp(k, "order")) {
					if (toml_type_of(v) != TOML_ARRAY || toml_len(v) != 2 ||
					    !toml_string(toml_at(v, 0)) || !toml_string(toml_at(v, 1)) ||
					    policy_order_parse(toml_string(toml_at(v, 0)),
							       toml_string(toml_at(v, 1)), &c->order))
						FAIL("%s: line %d: remote-commands.order must be ['allow','deny'] or ['deny','allow']",
						     path, toml_line(v));
				} else if (!strcmp(k, "send_back_limit")) {
					if (toml_int(v, &c->send_back_limit) || c->send_back_limit < 0 ||
					    c->send_back_limit > 64LL * 1024 * 1024)
						FAIL("%s: line %d: remote-commands.send_back_limit must be an integer from 0 to 67108864",
						     path, toml_line(v));
				} else {
					FAIL("%s: line %d: unknown key '%s' in [remote-commands]", path,
					     toml_line(v), k);
				}
			} else if (!strcmp(sec, "remote-scripts")) {
				if (!strcmp(k, "enabled")) {
					if (get_bool(v, path, "remote-scripts.enabled",
						     &c->scripts_enabled, err, errlen))
						goto out;
				} else if (!strcmp(k, "check_command_policy")) {
					if (get_bool(v, path, "remote-scripts.check_command_policy",
						     &c->scripts_check_policy, err, errlen))
						goto out;
				} else {
					FAIL("%s: line %d: unknown key '%s' in [remote-scripts]", path,
					     toml_line(v), k);
				}
			} else if (!strcmp(sec, "interpreter-aliases")) {
				if (!toml_string(v))
					FAIL("%s: line %d: interpreter alias '%s' must be a string",
					     path, toml_line(v), k);
				json_object_set_new(c->aliases, k, json_string(toml_string(v)));
			} else {
				FAIL("%s: line %d: unknown section [%s]", path, toml_line(t), sec);
			}
		}
	}
	rc = 0;
out:
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
