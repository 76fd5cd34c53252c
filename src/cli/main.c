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
	{ "jobs", cmd_jobs, "list jobs (multi-client and single) with command and status" },
	{ "job", cmd_job, "show a job (multi-client or single) with its output" },
	{ "cancel", cmd_cancel, "cancel a running job (multi-client or single)" },
	{ "groups", cmd_groups, "list, create or delete client groups" },
	{ "audit", cmd_audit, "show the audit log (admins)" },
	{ "login", cmd_login, "get a token and store it for later commands" },
	{ "bans", cmd_bans, "list or lift brute-force bans (administrators)" },
	{ "enrollment", cmd_enrollment, "create, list or revoke agent enrollment codes (administrators)" },
	{ "logout", cmd_logout, "revoke the stored token and forget it" },
	{ "apikey", cmd_apikey, "create, list or delete API keys (Authorization: ApiKey)" },
	{ "tat-keys", cmd_tat_keys, "list, create or delete your TAT key pairs (SecretId/SecretKey)" },
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
		"  -ca-file FILE     verify https:// servers against this CA, not the system's\n"
		"                    store (TETHER_CACERT)\n"
		"  -tls-server-name NAME  the name to verify in the server's certificate and\n"
		"                    send as SNI, when -addr names it otherwise\n"
		"                    (TETHER_TLS_SERVER_NAME)\n"
		"  -version          print the version\n\n"
		"'tether COMMAND -help' describes a command. Exit status: 0 success, 1 the command\n"
		"failed on a client, 2 usage error, 3 no client or job matched, 4 authentication\n"
		"or permission error, 5 server unreachable or server error, 6 the connection to\n"
		"the server was lost during a job (docs/cli.md).\n");
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
	if (!c->ca_file[0] && (v = getenv("TETHER_CACERT")))
		util_strlcpy(c->ca_file, v, sizeof c->ca_file);
	if (!c->tls_server_name[0] && (v = getenv("TETHER_TLS_SERVER_NAME")))
		util_strlcpy(c->tls_server_name, v, sizeof c->tls_server_name);
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

/* The address split into scheme, host (brackets kept for IPv6), port and
 * a path prefix. */
struct addr_parts {
	bool tls;
	char host[300];
	int port;
	const char *prefix;
};

static int addr_split(const char *addr, struct addr_parts *a)
{
	const char *p = addr, *slash;
	char hp[300], h[300];
	size_t n;

	memset(a, 0, sizeof *a);
	if (!strncmp(p, "https://", 8)) {
		a->tls = true;
		p += 8;
	} else if (!strncmp(p, "http://", 7)) {
		p += 7;
	} else {
		return -1;
	}
	slash = strchr(p, '/');
	n = slash ? (size_t)(slash - p) : strlen(p);
	if (!n || n >= sizeof hp)
		return -1;
	memcpy(hp, p, n);
	hp[n] = '\0';
	a->prefix = slash ? slash : "";
	if (util_parse_hostport(hp, h, sizeof h, &a->port)) {
		/* No port: the scheme's. */
		if (strchr(hp, ':') && hp[0] != '[')
			return -1;
		util_strlcpy(a->host, hp, sizeof a->host);
		a->port = a->tls ? 443 : 80;
		return 0;
	}
	if (strchr(h, ':'))
		snprintf(a->host, sizeof a->host, "[%.290s]", h);
	else
		util_strlcpy(a->host, h, sizeof a->host);
	return 0;
}

int cli_curl_setup(const struct cli *c, void *curl, const char *path)
{
	CURL *h = curl;
	struct addr_parts a;
	char url[2400];

	if (addr_split(c->addr, &a)) {
		fprintf(stderr, "tether: cannot use the address '%s' (http://HOST:PORT or "
				"https://HOST:PORT)\n", c->addr);
		return -1;
	}
	if (a.tls && c->tls_server_name[0]) {
		/* Connect to the address given, but ask for and verify the
		 * server name: the URL carries the name, CONNECT_TO the
		 * address (consul's -tls-server-name). Built once: every
		 * handle keeps a pointer to it, and it never changes. */
		static struct curl_slist *connect_to;
		char rule[700];

		if (!connect_to) {
			snprintf(rule, sizeof rule, "%s:%d:%s:%d", c->tls_server_name, a.port,
				 a.host, a.port);
			connect_to = curl_slist_append(NULL, rule);
		}
		curl_easy_setopt(h, CURLOPT_CONNECT_TO, connect_to);
		snprintf(url, sizeof url, "https://%s:%d%s%s", c->tls_server_name, a.port, a.prefix,
			 path);
	} else {
		snprintf(url, sizeof url, "%s%s", c->addr, path);
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	/* The API is plain request/response: HTTP/1.1, also over TLS (no h2
	 * by ALPN). */
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (c->ca_file[0])
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	return 0;
}

int cli_request_target(const struct cli *c, const char *path, char *host, size_t hostlen,
		       char *target, size_t targetlen)
{
	struct addr_parts a;

	if (addr_split(c->addr, &a))
		return -1;
	if (snprintf(host, hostlen, "%s:%d", a.tls && c->tls_server_name[0] ?
		     c->tls_server_name : a.host, a.port) >= (int)hostlen)
		return -1;
	return snprintf(target, targetlen, "%s%s", a.prefix, path) >= (int)targetlen ? -1 : 0;
}

/* One handle for the whole run, so REST calls reuse their connection. */
static CURL *shared_handle;

static void transport_error(const struct cli *c, CURLcode rc, const char *errbuf)
{
	fprintf(stderr, "tether: cannot reach %s: %s\n", c->addr, errbuf[0] ? errbuf :
		curl_easy_strerror(rc));
	if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
	    rc == CURLE_SSL_CONNECT_ERROR)
		fprintf(stderr, "tether: the server's certificate could not be verified: give its "
				"CA with -ca-file (TETHER_CACERT), and -tls-server-name if the "
				"address is not a name in the certificate\n");
	else if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
		 rc == CURLE_OPERATION_TIMEDOUT)
		fprintf(stderr, "tether: set the server with -addr or TETHER_ADDR\n");
}

int cli_http(const struct cli *c, const char *method, const char *path, const char *body,
	     long *status, json_t **resp)
{
	CURL *h;
	struct curl_slist *hdrs = NULL;
	char auth[1200], hdr[1300], errbuf[CURL_ERROR_SIZE];
	struct buf b;
	CURLcode rc;

	*resp = NULL;
	*status = 0;
	if (!shared_handle)
		shared_handle = curl_easy_init();
	h = shared_handle;
	if (!h)
		return -1;
	curl_easy_reset(h);
	if (cli_curl_setup(c, h, path))
		return -1;
	buf_init(&b, MAX_RESPONSE);
	errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	/* Kibana's rule for writes (the Elastic dialect's routes); others ignore it. */
	hdrs = curl_slist_append(hdrs, "kbn-xsrf: tether");
	if (!cli_auth_header(c, auth, sizeof auth) && auth[0]) {
		snprintf(hdr, sizeof hdr, "Authorization: %s", auth);
		hdrs = curl_slist_append(hdrs, hdr);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	if (body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	rc = curl_easy_perform(h);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	sodium_memzero(auth, sizeof auth);
	sodium_memzero(hdr, sizeof hdr);
	if (rc != CURLE_OK) {
		transport_error(c, rc, errbuf);
		buf_free(&b);
		return -1;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
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

	/* The server's own words (rport's error envelope), then the status. */
	if (title && *title)
		fprintf(stderr, "tether: %s: %s%s%s (HTTP %ld)\n", what, title,
			detail && *detail ? ": " : "", detail ? detail : "", status);
	else
		fprintf(stderr, "tether: %s: the server answered HTTP %ld without an error "
				"message\n", what, status);
	if (status == 401)
		fprintf(stderr, "tether: give credentials with -user/-password, TETHER_USER and "
				"TETHER_PASSWORD, or run 'tether login'\n");
	if (status == 401 || status == 403 || status == 423 || status == 429)
		return CLI_AUTH;
	if (status >= 500 || status < 400)
		return CLI_TRANSPORT;
	return CLI_USAGE;
}

int main(int argc, char **argv)
{
	struct cli c;
	char *addr = NULL, *user = NULL, *password = NULL, *token = NULL, *ca = NULL;
	char *sni = NULL;
	bool version = false;
	const struct cli_flag global[] = {
		{ "addr", CF_STR, &addr, "server API address", "URL" },
		{ "user", CF_STR, &user, "user name", "NAME" },
		{ "password", CF_STR, &password, "password or API token", "PW" },
		{ "token", CF_STR, &token, "bearer token", "TOKEN" },
		{ "ca-file", CF_STR, &ca, "CA certificate file for https:// servers", "FILE" },
		{ "tls-server-name", CF_STR, &sni, "server name to verify over TLS", "NAME" },
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
	if (ca)
		util_strlcpy(c.ca_file, ca, sizeof c.ca_file);
	if (sni)
		util_strlcpy(c.tls_server_name, sni, sizeof c.tls_server_name);
	cli_config_env(&c);
	if (c.ca_file[0] && access(c.ca_file, R_OK)) {
		fprintf(stderr, "tether: cannot read the CA file %s: %s\n", c.ca_file,
			strerror(errno));
		return CLI_USAGE;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (!strcmp(argv[rest], commands[i].name)) {
			rc = commands[i].fn(&c, argc - rest - 1, argv + rest + 1);
			if (shared_handle)
				curl_easy_cleanup(shared_handle);
			curl_global_cleanup();
			sodium_memzero(&c, sizeof c);
			return rc;
		}
	}
	if (!strcmp(argv[rest], "help") || !strcmp(argv[rest], "-help")) {
		usage(stdout);
		return 0;
	}
	{
		const char *names[sizeof commands / sizeof commands[0]];
		const char *near;

		for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
			names[i] = commands[i].name;
		near = cli_nearest(names, sizeof commands / sizeof commands[0], argv[rest],
				   strlen(argv[rest]));
		if (near)
			fprintf(stderr, "tether: unknown command '%s'; did you mean '%s'?\n\n",
				argv[rest], near);
		else
			fprintf(stderr, "tether: unknown command '%s'\n\n", argv[rest]);
	}
	usage(stderr);
	return CLI_USAGE;
}
