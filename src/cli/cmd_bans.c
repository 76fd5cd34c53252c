/* cmd_bans: tether bans — lists and lifts brute-force bans (GET /bans,
 * DELETE /bans/{kind}/{key}; administrators only). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

/* Percent-encodes everything but RFC 3986's unreserved characters, so a
 * key with '@', ' ' or ':' reaches the route as one path segment. */
static int path_escape(const char *s, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
			     ch == '~';

		if (o + (plain ? 1 : 3) >= outlen)
			return -1;
		if (plain) {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

static const char *str(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "";
}

static int bans_list(struct cli *c, bool json)
{
	json_t *resp = NULL, *b;
	long status = 0;
	size_t i;
	int rc = CLI_OK;

	if (cli_http(c, "GET", "/api/v1/bans", NULL, &status, &resp))
		return CLI_TRANSPORT;
	if (status != 200) {
		rc = cli_http_fail(status, resp, "listing bans");
		goto out;
	}
	if (json) {
		char *text = json_dumps(json_object_get(resp, "data"), JSON_INDENT(2));

		if (text)
			printf("%s\n", text);
		free(text);
		goto out;
	}
	if (!json_array_size(json_object_get(resp, "data"))) {
		printf("no active bans\n");
		goto out;
	}
	printf("%-8s %-40s %8s  %-21s %s\n", "KIND", "KEY", "FAILURES", "BANNED UNTIL",
	       "LISTENER");
	json_array_foreach(json_object_get(resp, "data"), i, b)
		printf("%-8s %-40s %8lld  %-21s %s\n", str(b, "kind"), str(b, "key"),
		       (long long)json_integer_value(json_object_get(b, "failures")),
		       str(b, "banned_until"), str(b, "listener"));
out:
	json_decref(resp);
	return rc;
}

static int bans_lift(struct cli *c, const char *kind, const char *key)
{
	char path[1100], ekey[1000];
	json_t *resp = NULL;
	long status = 0;
	int rc = CLI_OK;

	if (strcmp(kind, "user") && strcmp(kind, "address")) {
		fprintf(stderr, "tether bans lift: the kind is 'user' or 'address', not '%s'\n", kind);
		return CLI_USAGE;
	}
	if (!*key || path_escape(key, ekey, sizeof ekey)) {
		fprintf(stderr, "tether bans lift: give a user name or an address (at most 300 characters)\n");
		return CLI_USAGE;
	}
	snprintf(path, sizeof path, "/api/v1/bans/%s/%s", kind, ekey);
	if (cli_http(c, "DELETE", path, NULL, &status, &resp))
		return CLI_TRANSPORT;
	if (status != 204)
		rc = cli_http_fail(status, resp, "lifting the ban");
	else
		printf("ban on %s %s lifted\n", kind, key);
	json_decref(resp);
	return rc;
}

int cmd_bans(struct cli *c, int argc, char **argv)
{
	bool json = false;
	const struct cli_flag flags[] = {
		{ "json", CF_BOOL, &json, "print the API's JSON", NULL },
	};
	const size_t nflags = sizeof flags / sizeof flags[0];
	int skip = 0, rest = 0, rc;

	/* tether bans [list] [-json] | tether bans lift KIND KEY: the
	 * subcommand and its arguments first, flags after them. */
	if (argc > 0 && !strcmp(argv[0], "lift"))
		skip = argc < 3 ? argc : 3;
	else if (argc > 0 && !strcmp(argv[0], "list"))
		skip = 1;
	rc = cli_flags_parse(flags, nflags, argc - skip, argv + skip, &rest, "bans");
	if (rc < 0) {
		cli_flags_help(flags, nflags,
			       "tether bans [list] [-json] | tether bans lift user NAME | "
			       "tether bans lift address ADDRESS",
			       "Lists the brute-force bans in force (user names and addresses that\n"
			       "failed max_failed_login times) or lifts one before its ban_time ends.\n"
			       "Administrators only; lifting is recorded in the audit log.");
		return 0;
	}
	if (rc)
		return rc;
	if (rest < argc - skip) {
		fprintf(stderr, "tether bans: unexpected argument '%s' (list, lift)\n",
			argv[skip + rest]);
		return CLI_USAGE;
	}
	if (skip && !strcmp(argv[0], "lift")) {
		if (skip < 3) {
			fprintf(stderr, "tether bans lift: give a kind and a key, e.g. "
					"'tether bans lift user alice'\n");
			return CLI_USAGE;
		}
		return bans_lift(c, argv[1], argv[2]);
	}
	return bans_list(c, json);
}
