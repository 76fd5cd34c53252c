/* cmd_misc: tether clients, groups, login, logout, audit. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "cli.h"
#include "util.h"

static void print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2));

	if (s)
		printf("%s\n", s);
	free(s);
}

int cli_get(struct cli *c, const char *path, const char *what, json_t **resp)
{
	long status = 0;

	if (cli_http(c, "GET", path, NULL, &status, resp))
		return CLI_TRANSPORT;
	if (status != 200) {
		int rc = cli_http_fail(status, *resp, what);

		json_decref(*resp);
		*resp = NULL;
		return rc == CLI_USAGE && status == 404 ? CLI_NO_TARGET : rc;
	}
	return 0;
}

const char *cli_str(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "";
}

static void join(json_t *arr, char *out, size_t outlen)
{
	size_t i;
	json_t *v;

	out[0] = '\0';
	json_array_foreach(arr, i, v) {
		size_t l = strlen(out);

		snprintf(out + l, outlen - l, "%s%s", i ? "," : "", json_string_value(v));
	}
}

int cmd_clients(struct cli *c, int argc, char **argv)
{
	bool json = false;
	const struct cli_flag flags[] = {
		{ "json", CF_BOOL, &json, "print the API's JSON", NULL },
	};
	json_t *resp, *cl;
	int rest, rc;
	size_t i;

	rc = cli_flags_parse(flags, 1, argc, argv, &rest, "clients");
	if (rc < 0) {
		cli_flags_help(flags, 1, "tether clients [-json]",
			       "Lists the clients the server knows, connected or not.");
		return 0;
	}
	if (rc)
		return rc;
	if ((rc = cli_get(c, "/api/v1/clients?page[limit]=1000", "listing clients", &resp)))
		return rc;
	if (json) {
		print_json(json_object_get(resp, "data"));
		json_decref(resp);
		return 0;
	}
	printf("%-24s %-24s %-13s %-20s %-24s %s\n", "ID", "NAME", "STATE", "HOSTNAME", "TAGS",
	       "LABELS");
	json_array_foreach(json_object_get(resp, "data"), i, cl) {
		char tags[256], labels[256] = "";
		const char *k;
		json_t *v;

		join(json_object_get(cl, "tags"), tags, sizeof tags);
		json_object_foreach(json_object_get(cl, "labels"), k, v) {
			size_t l = strlen(labels);

			snprintf(labels + l, sizeof labels - l, "%s%s:%s", l ? "," : "", k,
				 json_string_value(v));
		}
		printf("%-24s %-24s %-13s %-20s %-24s %s\n", cli_str(cl, "id"), cli_str(cl, "name"),
		       cli_str(cl, "connection_state"), cli_str(cl, "hostname"), tags, labels);
	}
	json_decref(resp);
	return 0;
}

/* tether groups [list]: the groups and their clients. */
static int groups_list(struct cli *c, bool json)
{
	json_t *resp = NULL, *g;
	size_t i;
	int rc;

	if ((rc = cli_get(c, "/api/v1/client-groups", "listing groups", &resp)))
		goto out;
	if (json) {
		print_json(json_object_get(resp, "data"));
	} else {
		printf("%-24s %-40s %s\n", "ID", "DESCRIPTION", "CLIENTS");
		json_array_foreach(json_object_get(resp, "data"), i, g) {
			char members[512];

			join(json_object_get(g, "client_ids"), members, sizeof members);
			printf("%-24s %-40s %s\n", cli_str(g, "id"), cli_str(g, "description"), members);
		}
	}
out:
	json_decref(resp);
	return rc;
}

/* tether groups create ID: a group of the clients the patterns match. */
static int groups_create(struct cli *c, const char *id, const char *desc, json_t *tags,
			 json_t *ids, json_t *names)
{
	json_t *params = json_object(), *body, *resp = NULL;
	long status = 0;
	char *text;
	int rc = 0;

	if (tags)
		json_object_set(params, "tag", tags);
	if (ids)
		json_object_set(params, "client_id", ids);
	if (names)
		json_object_set(params, "name", names);
	if (!json_object_size(params)) {
		fprintf(stderr, "tether groups create: give at least one of -tag, -client, -name\n");
		json_decref(params);
		return CLI_USAGE;
	}
	body = json_pack("{s:s, s:s, s:o}", "id", id, "description", desc ? desc : "", "params",
			 params);
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (cli_http(c, "POST", "/api/v1/client-groups", text, &status, &resp)) {
		free(text);
		rc = CLI_TRANSPORT;
		goto out;
	}
	free(text);
	if (status != 201) {
		rc = cli_http_fail(status, resp, "creating the group");
		goto out;
	}
	printf("group %s created\n", id);
out:
	json_decref(resp);
	return rc;
}

int cmd_groups(struct cli *c, int argc, char **argv)
{
	bool json = false;
	char *desc = NULL;
	json_t *tags = NULL, *ids = NULL, *names = NULL;
	const struct cli_flag flags[] = {
		{ "json", CF_BOOL, &json, "print the API's JSON", NULL },
		{ "description", CF_STR, &desc, "create: description", "TEXT" },
		{ "tag", CF_LIST, &tags, "create: clients with a tag matching this pattern", "PATTERN" },
		{ "client", CF_LIST, &ids, "create: clients whose id matches this pattern", "PATTERN" },
		{ "name", CF_LIST, &names, "create: clients whose name matches this pattern", "PATTERN" },
	};
	const size_t nflags = sizeof flags / sizeof flags[0];
	json_t *resp = NULL;
	long status = 0;
	int rest, rc;

	/* tether groups [create|delete|list] ID [flags]: the subcommand and id
	 * come first, flags after them. */
	{
		int skip = 0;

		if (argc > 0 && (!strcmp(argv[0], "create") || !strcmp(argv[0], "delete")))
			skip = argc > 1 ? 2 : 1;
		else if (argc > 0 && !strcmp(argv[0], "list"))
			skip = 1;
		rc = cli_flags_parse(flags, nflags, argc - skip, argv + skip, &rest, "groups");
		if (rc == 0 && rest < argc - skip) {
			fprintf(stderr, "tether groups: unexpected argument '%s'\n", argv[skip + rest]);
			rc = CLI_USAGE;
		}
		rest = 0;
		if (skip == 0)
			argc = 0;
		else
			argc = skip;
	}
	if (rc < 0) {
		cli_flags_help(flags, nflags,
			       "tether groups [-json] | tether groups create ID [flags] | tether groups delete ID",
			       "Lists, creates or deletes client groups. Patterns take '*' wildcards\n"
			       "and match case-insensitively, as rport's client group params.");
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;
	if (rest >= argc || !strcmp(argv[rest], "list")) {
		rc = groups_list(c, json);
		goto out;
	}
	if (rest + 1 >= argc) {
		fprintf(stderr, "tether groups %s: give a group id\n", argv[rest]);
		rc = CLI_USAGE;
		goto out;
	}
	if (!strcmp(argv[rest], "create")) {
		rc = groups_create(c, argv[rest + 1], desc, tags, ids, names);
	} else if (!strcmp(argv[rest], "delete")) {
		char path[300];

		snprintf(path, sizeof path, "/api/v1/client-groups/%s", argv[rest + 1]);
		if (cli_http(c, "DELETE", path, NULL, &status, &resp)) {
			rc = CLI_TRANSPORT;
			goto out;
		}
		if (status != 204) {
			rc = cli_http_fail(status, resp, "deleting the group");
			goto out;
		}
		printf("group %s deleted\n", argv[rest + 1]);
	} else {
		fprintf(stderr, "tether groups: unknown subcommand '%s' (list, create, delete)\n",
			argv[rest]);
		rc = CLI_USAGE;
	}
out:
	json_decref(resp);
	json_decref(tags);
	json_decref(ids);
	json_decref(names);
	return rc;
}

int cmd_login(struct cli *c, int argc, char **argv)
{
	long lifetime = 0;
	const struct cli_flag flags[] = {
		{ "lifetime", CF_INT, &lifetime, "token lifetime in seconds (server default if 0)", "SEC" },
	};
	char path[128], file[1024], dir[1024];
	json_t *resp = NULL, *rec;
	long status = 0;
	const char *token;
	int rest, rc, fd;
	char *text;

	rc = cli_flags_parse(flags, 1, argc, argv, &rest, "login");
	if (rc < 0) {
		cli_flags_help(flags, 1, "tether [-user U -password P] login [-lifetime SEC]",
			       "Logs in with the user and password (flags, TETHER_USER and\n"
			       "TETHER_PASSWORD) and stores the token in ~/.config/tether/token\n"
			       "(mode 0600) for later commands against the same server.");
		return 0;
	}
	if (rc)
		return rc;
	if (!c->user[0] || !c->password[0]) {
		fprintf(stderr, "tether login: give -user and -password (or TETHER_USER and TETHER_PASSWORD)\n");
		return CLI_USAGE;
	}
	c->token[0] = '\0';
	if (lifetime)
		snprintf(path, sizeof path, "/api/v1/login?token-lifetime=%ld", lifetime);
	else
		snprintf(path, sizeof path, "/api/v1/login");
	if (cli_http(c, "POST", path, NULL, &status, &resp))
		return CLI_TRANSPORT;
	if (status != 200) {
		rc = cli_http_fail(status, resp, "login");
		json_decref(resp);
		return rc;
	}
	token = json_string_value(json_object_get(json_object_get(resp, "data"), "token"));
	if (!token || cli_token_path(file, sizeof file)) {
		fprintf(stderr, "tether login: no token, or no HOME to keep it in\n");
		json_decref(resp);
		return CLI_TRANSPORT;
	}
	util_strlcpy(dir, file, sizeof dir);
	*strrchr(dir, '/') = '\0';
	/* mkdir -p, private. */
	for (char *p = dir + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(dir, 0700);
			*p = '/';
		}
	}
	if (mkdir(dir, 0700) && errno != EEXIST) {
		fprintf(stderr, "tether login: cannot create %s: %s\n", dir, strerror(errno));
		json_decref(resp);
		return CLI_TRANSPORT;
	}
	rec = json_pack("{s:s, s:s, s:s, s:O}", "addr", c->addr, "user", c->user, "token", token,
			"expires_at", json_object_get(json_object_get(resp, "data"), "expires_at"));
	text = json_dumps(rec, JSON_COMPACT);
	json_decref(rec);
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || fchmod(fd, 0600) || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		fprintf(stderr, "tether login: cannot write %s: %s\n", file, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(text);
		json_decref(resp);
		return CLI_TRANSPORT;
	}
	close(fd);
	free(text);
	printf("logged in to %s as %s; token stored in %s\n", c->addr, c->user, file);
	json_decref(resp);
	return 0;
}

/* The stored login's token if it is for this server, else NULL (caller
 * frees). */
static char *stored_token(const struct cli *c, char *file, size_t filelen)
{
	json_t *j;
	const char *addr, *tok;
	char *out = NULL;

	if (cli_token_path(file, filelen))
		return NULL;
	j = json_load_file(file, 0, NULL);
	addr = json_string_value(json_object_get(j, "addr"));
	tok = json_string_value(json_object_get(j, "token"));
	if (addr && tok && !strcmp(addr, c->addr))
		out = strdup(tok);
	json_decref(j);
	return out;
}

int cmd_logout(struct cli *c, int argc, char **argv)
{
	char file[1024];
	char *tok;
	struct cli bearer;
	json_t *resp = NULL;
	long status = 0;
	int rest, rc;

	rc = cli_flags_parse(NULL, 0, argc, argv, &rest, "logout");
	if (rc < 0) {
		cli_flags_help(NULL, 0, "tether logout",
			       "Revokes the token 'tether login' stored for this server (DELETE\n"
			       "/api/v1/logout) and removes it from ~/.config/tether/token.");
		return 0;
	}
	if (rc)
		return rc;
	tok = stored_token(c, file, sizeof file);
	if (!tok && !c->token[0]) {
		printf("not logged in to %s (no stored token for it)\n", c->addr);
		return 0;
	}
	/* The bearer token alone: a password in the environment would turn
	 * the call into basic auth, which logout cannot revoke. */
	bearer = *c;
	bearer.password[0] = '\0';
	if (tok)
		util_strlcpy(bearer.token, tok, sizeof bearer.token);
	rc = 0;
	if (cli_http(&bearer, "DELETE", "/api/v1/logout", NULL, &status, &resp)) {
		rc = CLI_TRANSPORT;
	} else if (status == 401) {
		printf("the token had already expired or been revoked\n");
	} else if (status != 204 && status != 200) {
		rc = cli_http_fail(status, resp, "logout");
	}
	json_decref(resp);
	if (tok && (rc == 0 || rc == CLI_AUTH)) {
		if (unlink(file) && errno != ENOENT) {
			fprintf(stderr, "tether logout: cannot remove %s: %s\n", file, strerror(errno));
			rc = CLI_TRANSPORT;
		} else {
			printf("logged out of %s; removed %s\n", c->addr, file);
			rc = 0;
		}
	} else if (!rc) {
		printf("logged out of %s (the token given is revoked)\n", c->addr);
	}
	sodium_memzero(&bearer, sizeof bearer);
	if (tok)
		sodium_memzero(tok, strlen(tok));
	free(tok);
	return rc;
}

int cmd_audit(struct cli *c, int argc, char **argv)
{
	bool json = false;
	long limit = 50;
	char *user = NULL, *action = NULL, *app = NULL, *client = NULL, *since = NULL;
	const struct cli_flag flags[] = {
		{ "json", CF_BOOL, &json, "print the API's JSON", NULL },
		{ "limit", CF_INT, &limit, "how many entries, newest first (default 50)", "N" },
		{ "user", CF_STR, &user, "only this user's actions ('*' wildcards)", "NAME" },
		{ "action", CF_STR, &action, "only this action, e.g. execute.start", "ACTION" },
		{ "application", CF_STR, &app, "only this application, e.g. client.command", "APP" },
		{ "client", CF_STR, &client, "only actions on this client", "ID" },
		{ "since", CF_STR, &since, "only entries at or after this time (RFC 3339)", "TIME" },
	};
	const size_t nflags = sizeof flags / sizeof flags[0];
	const char *keys[] = { "username", "action", "application", "client_id",
			       "timestamp][since" };
	const char *vals[] = { user, action, app, client, since };
	struct buf path;
	json_t *resp = NULL, *e;
	int rest, rc;
	size_t i;

	rc = cli_flags_parse(flags, nflags, argc, argv, &rest, "audit");
	if (rc < 0) {
		cli_flags_help(flags, nflags, "tether audit [-json] [-limit N] [filters]",
			       "Shows the server's audit log (GET /api/v1/auditlog): who did what,\n"
			       "from where, on which client. Admins only.");
		return 0;
	}
	if (rc)
		return rc;
	buf_init(&path, 8192);
	buf_appendf(&path, "/api/v1/auditlog?page[limit]=%ld", limit ? limit : 50);
	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		char *esc;

		if (!vals[i])
			continue;
		esc = curl_escape(vals[i], 0);
		if (!esc || buf_appendf(&path, "&filter[%s]=%s", keys[i], esc)) {
			curl_free(esc);
			buf_free(&path);
			fprintf(stderr, "tether audit: filters too long\n");
			return CLI_USAGE;
		}
		curl_free(esc);
	}
	rc = cli_get(c, path.data, "reading the audit log", &resp);
	buf_free(&path);
	if (rc)
		return rc;
	if (json) {
		print_json(json_object_get(resp, "data"));
		json_decref(resp);
		return 0;
	}
	printf("%-30s  %-12s  %-16s  %-20s  %-15s  %-36s  %s\n", "TIME", "USER", "APPLICATION",
	       "ACTION", "CLIENT", "AFFECTED", "OK");
	json_array_foreach(json_object_get(resp, "data"), i, e)
		printf("%-30s  %-12s  %-16s  %-20s  %-15s  %-36s  %s\n", cli_str(e, "timestamp"),
		       cli_str(e, "username"), cli_str(e, "application"), cli_str(e, "action"),
		       cli_str(e, "client_id"), cli_str(e, "affected_id"),
		       json_is_true(json_object_get(e, "success")) ? "yes" : "no");
	json_decref(resp);
	return 0;
}
