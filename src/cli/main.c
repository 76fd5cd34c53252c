/* tether: the command-line client. Thin main: global flags, then a command. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "cli.h"
#include "util.h"

#define CLI_VERSION "0.1.0"
#define MAX_RESPONSE (64 * 1024 * 1024)

static const struct {
	const char *name;
	int (*fn)(struct cli *, int, char **);
	const char *about;
} commands[] = {
	{ "exec", cmd_exec, "run a command or a script on clients, with live output" },
	{ "clients", cmd_clients, "list clients" },
	{ "jobs", cmd_jobs, "list multi-client jobs" },
	{ "job", cmd_job, "show a job (multi-client or single) with its output" },
	{ "groups", cmd_groups, "list, create or delete client groups" },
	{ "login", cmd_login, "get a token and store it for later commands" },
	{ "bans", cmd_bans, "list or lift brute-force bans (administrators)" },
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tether [global flags] COMMAND [flags] [args]\n\n"
		"Commands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].about);
	fprintf(f,
		"\nGlobal flags (before the command) and their environment variables:\n"
		"  -addr URL         server API address (TETHER_ADDR, default http://127.0.0.1:3000)\n"
		"  -user NAME        user for basic auth (TETHER_USER)\n"
		"  -password PW      password or API token (TETHER_PASSWORD)\n"
		"  -token TOKEN      bearer token from 'tether login' (TETHER_TOKEN)\n"
		"  -version          print the version\n\n"
		"'tether COMMAND -help' describes a command. Exit status: 0 success, 1 the command\n"
		"failed on a client, 2 usage error, 3 no client matched, 4 authentication or\n"
		"permission error, 5 server unreachable or server error.\n");
}

int cli_token_path(char *out, size_t outlen)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");

	if (xdg && *xdg)
		return snprintf(out, outlen, "%s/tether/token", xdg) >= (int)outlen ? -1 : 0;
	if (home && *home)
		return snprintf(out, outlen, "%s/.config/tether/token", home) >= (int)outlen ? -1 : 0;
	return -1;
}

/* The stored login: a JSON file {"addr", "user", "token"}, mode 0600. */
static void load_stored_login(struct cli *c)
{
	char path[1024];
	json_t *j;

	if (cli_token_path(path, sizeof path))
		return;
	j = json_load_file(path, 0, NULL);
	if (!j)
		return;
	if (!c->token[0] && !c->password[0]) {
		const char *addr = json_string_value(json_object_get(j, "addr"));
		const char *tok = json_string_value(json_object_get(j, "token"));

		/* Only for the server it was issued by. */
		if (tok && addr && !strcmp(addr, c->addr))
			util_strlcpy(c->token, tok, sizeof c->token);
	}
	json_decref(j);
}

void cli_config_env(struct cli *c)
{
	const char *v;

	if (!c->addr[0]) {
		v = getenv("TETHER_ADDR");
		util_strlcpy(c->addr, v && *v ? v : "http://127.0.0.1:3000", sizeof c->addr);
	}
	if (!strstr(c->addr, "://")) {
		char tmp[512];

		snprintf(tmp, sizeof tmp, "http://%.490s", c->addr);
		util_strlcpy(c->addr, tmp, sizeof c->addr);
	}
	while (strlen(c->addr) > 8 && c->addr[strlen(c->addr) - 1] == '/')
		c->addr[strlen(c->addr) - 1] = '\0';
	if (!c->user[0] && (v = getenv("TETHER_USER")))
		util_strlcpy(c->user, v, sizeof c->user);
	if (!c->password[0] && (v = getenv("TETHER_PASSWORD")))
		util_strlcpy(c->password, v, sizeof c->password);
	if (!c->token[0] && (v = getenv("TETHER_TOKEN")))
		util_strlcpy(c->token, v, sizeof c->token);
	load_stored_login(c);
}

int cli_auth_header(const struct cli *c, char *out, size_t outlen)
{
	if (c->token[0] && !c->password[0])
		return snprintf(out, outlen, "Bearer %s", c->token) >= (int)outlen ? -1 : 0;
	if (c->user[0]) {
		char pair[512], b64[800];

		snprintf(pair, sizeof pair, "%s:%s", c->user, c->password);
		sodium_bin2base64(b64, sizeof b64, (const unsigned char *)pair, strlen(pair),
				  sodium_base64_VARIANT_ORIGINAL);
		sodium_memzero(pair, sizeof pair);
		return snprintf(out, outlen, "Basic %s", b64) >= (int)outlen ? -1 : 0;
	}
	out[0] = '\0';
	return 0;
}

static size_t collect(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct buf *b = ud;

	if (buf_append(b, ptr, size * nmemb))
		return 0;
	return size * nmemb;
}

int cli_http(const struct cli *c, const char *method, const char *path, const char *body,
	     long *status, json_t **resp)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	char url[1200], auth[1200], hdr[1300];
	struct buf b;
	CURLcode rc;

	*resp = NULL;
	if (!h)
		return -1;
	buf_init(&b, MAX_RESPONSE);
	snprintf(url, sizeof url, "%s%s", c->addr, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	if (!cli_auth_header(c, auth, sizeof auth) && auth[0]) {
		snprintf(hdr, sizeof hdr, "Authorization: %s", auth);
		hdrs = curl_slist_append(hdrs, hdr);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	if (body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	rc = curl_easy_perform(h);
	curl_slist_free_all(hdrs);
	if (rc != CURLE_OK) {
		fprintf(stderr, "tether: cannot reach %s: %s (set -addr or TETHER_ADDR)\n", c->addr,
			curl_easy_strerror(rc));
		curl_easy_cleanup(h);
		buf_free(&b);
		return -1;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(h);
	if (b.len)
		*resp = json_loadb(b.data, b.len, 0, NULL);
	buf_free(&b);
	return 0;
}

int cli_http_fail(long status, json_t *resp, const char *what)
{
	json_t *e = json_array_get(json_object_get(resp, "errors"), 0);
	const char *title = json_string_value(json_object_get(e, "title"));
	const char *detail = json_string_value(json_object_get(e, "detail"));

	fprintf(stderr, "tether: %s: HTTP %ld: %s%s%s\n", what, status, title ? title : "error",
		detail && *detail ? ": " : "", detail ? detail : "");
	if (status == 401)
		fprintf(stderr, "tether: give credentials with -user/-password, TETHER_USER and "
				"TETHER_PASSWORD, or run 'tether login'\n");
	if (status == 401 || status == 403 || status == 423 || status == 429)
		return CLI_AUTH;
	if (status >= 500)
		return CLI_TRANSPORT;
	return CLI_USAGE;
}

int main(int argc, char **argv)
{
	struct cli c;
	char *addr = NULL, *user = NULL, *password = NULL, *token = NULL;
	bool version = false;
	const struct cli_flag global[] = {
		{ "addr", CF_STR, &addr, "server API address", "URL" },
		{ "user", CF_STR, &user, "user name", "NAME" },
		{ "password", CF_STR, &password, "password or API token", "PW" },
		{ "token", CF_STR, &token, "bearer token", "TOKEN" },
		{ "version", CF_BOOL, &version, "print the version", NULL },
	};
	int rest = 0, rc;

	memset(&c, 0, sizeof c);
	if (sodium_init() < 0)
		return CLI_TRANSPORT;
	rc = cli_flags_parse(global, sizeof global / sizeof global[0], argc - 1, argv + 1, &rest,
			     "tether");
	if (rc < 0) {
		usage(stdout);
		return 0;
	}
	if (rc)
		return rc;
	if (version) {
		printf("tether %s\n", CLI_VERSION);
		return 0;
	}
	rest += 1;
	if (rest >= argc) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (addr)
		util_strlcpy(c.addr, addr, sizeof c.addr);
	if (user)
		util_strlcpy(c.user, user, sizeof c.user);
	if (password)
		util_strlcpy(c.password, password, sizeof c.password);
	if (token)
		util_strlcpy(c.token, token, sizeof c.token);
	cli_config_env(&c);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (!strcmp(argv[rest], commands[i].name)) {
			rc = commands[i].fn(&c, argc - rest - 1, argv + rest + 1);
			curl_global_cleanup();
			return rc;
		}
	}
	if (!strcmp(argv[rest], "help") || !strcmp(argv[rest], "-help")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "tether: unknown command '%s'\n\n", argv[rest]);
	usage(stderr);
	return CLI_USAGE;
}
