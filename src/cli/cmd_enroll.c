/* cmd_enroll: tether enrollment — creates, lists and revokes agent
 * enrollment codes (/api/v1/enrollment-codes; administrators only). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

static const char *str(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "";
}

static void print_json(json_t *v)
{
	char *text = json_dumps(v, JSON_INDENT(2));

	if (text)
		printf("%s\n", text);
	free(text);
}

static int call(struct cli *c, const char *method, const char *path, json_t *body, long want,
		const char *what, json_t **resp)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	long status = 0;
	int rc;

	rc = cli_http(c, method, path, text, &status, resp);
	free(text);
	if (rc)
		return CLI_TRANSPORT;
	if (status != want)
		return cli_http_fail(status, *resp, what);
	return CLI_OK;
}

static int enroll_list(struct cli *c, bool json)
{
	json_t *resp = NULL, *e;
	size_t i;
	int rc = call(c, "GET", "/api/v1/enrollment-codes", NULL, 200, "listing codes", &resp);

	if (rc)
		goto out;
	if (json) {
		print_json(json_object_get(resp, "data"));
		goto out;
	}
	printf("%-12s %-12s %-7s %-10s %-8s %s\n", "ID", "CREATED BY", "USES", "EXPIRES", "STATE",
	       "ID PATTERN");
	json_array_foreach(json_object_get(resp, "data"), i, e) {
		char uses[32];
		long long max = json_integer_value(json_object_get(e, "max_uses"));

		snprintf(uses, sizeof uses, "%lld/%s",
			 (long long)json_integer_value(json_object_get(e, "uses")),
			 max ? "" : "-");
		if (max)
			snprintf(uses + strlen(uses), sizeof uses - strlen(uses), "%lld", max);
		printf("%-12s %-12s %-7s %-10lld %-8s %s\n", str(e, "id"), str(e, "created_by"), uses,
		       (long long)json_integer_value(json_object_get(e, "expires_at")),
		       json_is_true(json_object_get(e, "revoked")) ? "revoked" : "active",
		       str(e, "id_pattern"));
	}
out:
	json_decref(resp);
	return rc;
}

static int enroll_create(struct cli *c, bool json, long uses, const char *expires,
			 const char *pattern, json_t *tags, json_t *labels)
{
	json_t *body = json_object(), *resp = NULL, *lab = json_object(), *v;
	long long ms = expires ? util_parse_duration_ms(expires) : 3600000;
	size_t i;
	int rc;

	if (ms < 0) {
		fprintf(stderr, "tether enrollment create: -expires '%s' is not a duration (1h, 30m...)\n",
			expires);
		json_decref(body);
		json_decref(lab);
		return CLI_USAGE;
	}
	json_array_foreach(labels, i, v) {
		const char *kv = json_string_value(v), *colon = kv ? strchr(kv, ':') : NULL;
		char key[256];

		if (!colon || colon == kv || (size_t)(colon - kv) >= sizeof key) {
			fprintf(stderr, "tether enrollment create: -label wants KEY:VALUE, not '%s'\n",
				kv ? kv : "");
			json_decref(body);
			json_decref(lab);
			return CLI_USAGE;
		}
		memcpy(key, kv, (size_t)(colon - kv));
		key[colon - kv] = '\0';
		json_object_set_new(lab, key, json_string(colon + 1));
	}
	json_object_set_new(body, "expires_in_sec", json_integer(ms / 1000));
	json_object_set_new(body, "max_uses", json_integer(uses));
	if (pattern)
		json_object_set_new(body, "id_pattern", json_string(pattern));
	if (tags)
		json_object_set(body, "tags", tags);
	json_object_set_new(body, "labels", lab);
	rc = call(c, "POST", "/api/v1/enrollment-codes", body, 201, "creating the code", &resp);
	json_decref(body);
	if (!rc) {
		json_t *d = json_object_get(resp, "data");

		if (json)
			print_json(d);
		else
			printf("%s\n# code %s: %lld use(s), expires at %lld (unix time); shown once.\n"
			       "# On the agent host: tether-agent enroll --server URL --code CODE\n",
			       str(d, "code"), str(d, "id"),
			       (long long)json_integer_value(json_object_get(d, "max_uses")),
			       (long long)json_integer_value(json_object_get(d, "expires_at")));
	}
	json_decref(resp);
	return rc;
}

int cmd_enrollment(struct cli *c, int argc, char **argv)
{
	bool json = false;
	long uses = 1;
	char *expires = NULL, *pattern = NULL;
	json_t *tags = NULL, *labels = NULL, *resp = NULL;
	const struct cli_flag flags[] = {
		{ "json", CF_BOOL, &json, "print the API's JSON", NULL },
		{ "uses", CF_INT, &uses, "create: how many agents may enroll (0: no limit; default 1)", "N" },
		{ "expires", CF_STR, &expires, "create: valid for this long (default 1h, at most 30 days)", "DURATION" },
		{ "id-pattern", CF_STR, &pattern, "create: client ids must match this regular expression", "REGEX" },
		{ "tag", CF_LIST, &tags, "create: a tag enrolled agents get (repeatable)", "TAG" },
		{ "label", CF_LIST, &labels, "create: a label enrolled agents get (repeatable)", "KEY:VALUE" },
	};
	const size_t nflags = sizeof flags / sizeof flags[0];
	const char *sub = argc > 0 && argv[0][0] != '-' ? argv[0] : "list";
	int skip = argc > 0 && argv[0][0] != '-' ? 1 : 0, rest, rc;
	const char *id = NULL;

	if (!strcmp(sub, "revoke") && argc > 1) {
		id = argv[1];
		skip = 2;
	}
	rc = cli_flags_parse(flags, nflags, argc - skip, argv + skip, &rest, "enrollment");
	if (rc < 0) {
		cli_flags_help(flags, nflags,
			       "tether enrollment [list] [-json] | tether enrollment create [flags] | "
			       "tether enrollment revoke ID",
			       "Enrollment codes let an agent get its own credential with one command:\n"
			       "tether-agent enroll --server URL --code CODE (docs/cli.md).");
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;
	if (rest < argc - skip) {
		fprintf(stderr, "tether enrollment: unexpected argument '%s'\n", argv[skip + rest]);
		rc = CLI_USAGE;
		goto out;
	}
	if (!strcmp(sub, "list")) {
		rc = enroll_list(c, json);
	} else if (!strcmp(sub, "create")) {
		rc = enroll_create(c, json, uses, expires, pattern, tags, labels);
	} else if (!strcmp(sub, "revoke")) {
		char path[300];

		if (!id) {
			fprintf(stderr, "tether enrollment revoke: give a code id\n");
			rc = CLI_USAGE;
			goto out;
		}
		snprintf(path, sizeof path, "/api/v1/enrollment-codes/%s", id);
		rc = call(c, "DELETE", path, NULL, 204, "revoking the code", &resp);
		if (!rc)
			printf("code %s revoked\n", id);
	} else {
		fprintf(stderr, "tether enrollment: unknown subcommand '%s' (list, create, revoke)\n",
			sub);
		rc = CLI_USAGE;
	}
out:
	json_decref(resp);
	json_decref(tags);
	json_decref(labels);
	return rc;
}
