/* api_auth: login tokens and API tokens (/login, /logout, /me, /me/tokens). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "dialects/rport/api.h"
#include "core/audit.h"
#include "auth/auth.h"
#include "auth/guard.h"
#include "agents/hub.h"
#include "store/store.h"
#include "util.h"
#include "dialects/rport/ws_api.h"

static const struct http_field login_fields[] = {
	{ "username", HF_STRING, 0 },
	{ "password", HF_STRING, 0 },
};

static const struct http_field token_fields[] = {
	{ "name", HF_STRING, 0 },
	{ "scope", HF_STRING, 0 },
};

/* token-lifetime (rport's name) or token_lifetime, in seconds. */
static int lifetime_of(struct api_call *call, int64_t *out)
{
	const char *v = net_http_query(call->req, "token-lifetime");
	long long n;
	char detail[200];

	if (!v)
		v = net_http_query(call->req, "token_lifetime");
	*out = call->srv->cfg.token_lifetime;
	if (!v)
		return 0;
	if (util_parse_int(v, 1, call->srv->cfg.max_token_lifetime, &n)) {
		snprintf(detail, sizeof detail,
			 "token-lifetime must be a number of seconds from 1 to %lld",
			 (long long)call->srv->cfg.max_token_lifetime);
		api_reply_error(call, 400, "Invalid token lifetime.", detail);
		return -1;
	}
	*out = n;
	return 0;
}

static void audit_simple(struct api_call *call, const char *app, const char *action,
			 const char *id, bool ok)
{
	api_audit(call, app, action, id, NULL, ok);
}

static void issue_login_token(struct api_call *call, int64_t lifetime)
{
	json_t *info;
	char *token = auth_token_issue(call->srv->auth, call->user, "session",
				       AUTH_SCOPE_READ_WRITE, "login", lifetime, &info);

	if (!token) {
		api_reply_error(call, 500, "Internal error.", "cannot issue a token");
		return;
	}
	audit_simple(call, "auth", "login", json_string_value(json_object_get(info, "prefix")), true);
	api_reply_data(call, 200,
		       json_pack("{s:s, s:n, s:O, s:I}", "token", token, "two_fa", "expires_at",
				 json_object_get(info, "expires_at"), "token_lifetime",
				 (json_int_t)lifetime));
	free(token);
	json_decref(info);
}

struct login_ctx {
	struct api_call *call;
	int64_t lifetime;
};

static void login_checked(void *ud, const struct auth_identity *id)
{
	struct login_ctx *lc = ud;
	struct api_call *call = lc->call;

	if (!id) {
		guard_failed(api_guard(call->srv->api), net_http_peer(call->req), call->user);
		audit_simple(call, "auth", "failed_login", "", false);
		api_reply_error(call, 401, "unauthorized", "wrong username or password");
	} else {
		guard_succeeded(api_guard(call->srv->api), net_http_peer(call->req), id->user);
		util_strlcpy(call->user, id->user, sizeof call->user);
		issue_login_token(call, lc->lifetime);
	}
	free(lc);
}

void api_login(struct api_call *call)
{
	int64_t lifetime;
	struct login_ctx *lc;
	const char *user, *password;
	json_t *body;

	if (lifetime_of(call, &lifetime))
		return;
	if (call->authenticated) {
		issue_login_token(call, lifetime);
		return;
	}
	/* GET /login (rportcli init) takes HTTP basic auth only. */
	if (!strcmp(net_http_method(call->req), "GET")) {
		api_reply_error(call, 401, "unauthorized",
				"GET /api/v1/login needs HTTP basic auth (or POST the credentials)");
		return;
	}
	/* No Authorization header: the credentials are in the body. */
	if (api_body(call, login_fields, sizeof login_fields / sizeof login_fields[0], &body))
		return;
	user = json_string_value(json_object_get(body, "username"));
	password = json_string_value(json_object_get(body, "password"));
	if (!user || !*user || !password || !*password) {
		json_decref(body);
		api_reply_error(call, 401, "unauthorized",
				"username and password are required (JSON body or HTTP basic auth)");
		return;
	}
	{
		const char *why;
		enum guard_verdict v = guard_admit(api_guard(call->srv->api), net_http_peer(call->req),
						   user, &why);

		if (v != GUARD_OK) {
			json_decref(body);
			api_reply_error(call, v, why, "");
			return;
		}
	}
	util_strlcpy(call->user, user, sizeof call->user);
	lc = calloc(1, sizeof *lc);
	if (!lc) {
		json_decref(body);
		api_reply_error(call, 500, "Internal error.", "out of memory");
		return;
	}
	lc->call = call;
	lc->lifetime = lifetime;
	auth_password_check(call->srv->auth, user, password, login_checked, lc);
	json_decref(body);
}

void api_logout(struct api_call *call)
{
	if (!call->session_token) {
		api_reply_error(call, 400, "Not logged in with a token.",
				"logout revokes the bearer token from POST /api/v1/login it is called with");
		return;
	}
	auth_token_revoke_hash(call->srv->auth, call->token_hash);
	ws_api_revoke_token(call->srv->ws, call->token_hash);
	audit_simple(call, "auth", "logout", "", true);
	api_reply(call, 204, NULL);
}

/* rport's UserGet: username, groups, effective_user_permissions. */
void api_me_get(struct api_call *call)
{
	static const char *const perms[] = { "commands", "scripts", "scheduler", "monitoring",
					     "tunnels", "uploads", "vault", "auditlog" };
	const json_t *groups = auth_user_groups(call->srv->auth, call->user);
	json_t *eff = json_object();

	for (size_t i = 0; i < sizeof perms / sizeof perms[0]; i++) {
		/* tether has commands and scripts; administrators have all. */
		bool may = call->admin || ((!strcmp(perms[i], "commands") ||
					    !strcmp(perms[i], "scripts")) &&
					   auth_user_may(call->srv->auth, call->user, perms[i]));

		json_object_set_new(eff, perms[i], json_boolean(may));
	}
	api_reply_data(call, 200,
		       json_pack("{s:s, s:s, s:o, s:s, s:b, s:o}", "username", call->user, "scope",
				 call->read_only ? "read" : "read+write", "groups",
				 groups ? json_deep_copy(groups) : json_array(), "two_fa_send_to",
				 "", "group_permissions_enabled", true,
				 "effective_user_permissions", eff));
}

/* GET /me/ip: the address the request came from. */
void api_me_ip_get(struct api_call *call)
{
	const char *ip = net_http_peer(call->req);

	/* An IPv4 client on a dual-stack socket: its IPv4 address. */
	if (!strncmp(ip, "::ffff:", 7) && strchr(ip + 7, '.'))
		ip += 7;
	api_reply_data(call, 200, json_pack("{s:s}", "ip", ip));
}

/* rport omits expires_at when a token never expires. */
static void omit_null_expiry(json_t *t)
{
	if (json_is_null(json_object_get(t, "expires_at")))
		json_object_del(t, "expires_at");
}

void api_me_tokens_list(struct api_call *call)
{
	json_t *list = auth_tokens_of(call->srv->auth, call->user), *t;
	size_t i;

	json_array_foreach(list, i, t)
		omit_null_expiry(t);
	api_reply_list(call, list, (int64_t)json_array_size(list));
}

void api_me_tokens_post(struct api_call *call)
{
	const char *name, *scope;
	enum auth_scope sc;
	json_t *body, *info;
	char *token;

	if (api_body(call, token_fields, sizeof token_fields / sizeof token_fields[0], &body))
		return;
	name = json_string_value(json_object_get(body, "name"));
	scope = json_string_value(json_object_get(body, "scope"));
	if (!name || !*name || strlen(name) > 250) {
		json_decref(body);
		api_reply_error(call, 400, "Invalid token name.", "a name of 1 to 250 characters is required");
		return;
	}
	if (!scope || (strcmp(scope, "read") && strcmp(scope, "read+write") &&
		       strcmp(scope, "metrics"))) {
		json_decref(body);
		api_reply_error(call, 400, "Invalid token scope.",
				"scope must be \"read\", \"read+write\" or \"metrics\"");
		return;
	}
	sc = !strcmp(scope, "read")	 ? AUTH_SCOPE_READ
	     : !strcmp(scope, "metrics") ? AUTH_SCOPE_METRICS
					 : AUTH_SCOPE_READ_WRITE;
	if (auth_token_name_taken(call->srv->auth, call->user, name)) {
		json_decref(body);
		api_reply_error(call, 409, "A token with this name exists.", "token names are unique per user");
		return;
	}
	token = auth_token_issue(call->srv->auth, call->user, "api", sc, name, 0, &info);
	json_decref(body);
	if (!token) {
		api_reply_error(call, 500, "Internal error.", "cannot issue a token");
		return;
	}
	json_object_set_new(info, "token", json_string(token));
	omit_null_expiry(info);
	free(token);
	audit_simple(call, "auth.user.me.token", "create", json_string_value(json_object_get(info, "prefix")),
		     true);
	api_reply_data(call, 200, info);
}

void api_me_tokens_delete(struct api_call *call)
{
	char title[200];

	if (auth_token_revoke_prefix(call->srv->auth, call->user, call->params[0])) {
		snprintf(title, sizeof title, "Token with prefix \"%.16s\" not found.", call->params[0]);
		api_reply_error(call, 404, title, "");
		return;
	}
	audit_simple(call, "auth.user.me.token", "delete", call->params[0], true);
	api_reply(call, 204, NULL);
}

/* ---- brute-force bans (administrators) ------------------------------- */

struct ban_list {
	json_t *rows;
	const char *listener;
};

/* RFC 3339 UTC to the second, as in GET /bans: 2026-12-01T10:00:00Z. */
static void time_format_sec(int64_t ns, char out[TIME_STR_LEN])
{
	time_t t = (time_t)(ns / 1000000000LL);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(out, TIME_STR_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm))
		util_strlcpy(out, "1970-01-01T00:00:00Z", TIME_STR_LEN);
}

static void ban_row(void *ud, enum guard_kind kind, const char *key, int failures,
		    int64_t until_ns)
{
	struct ban_list *l = ud;
	char until[TIME_STR_LEN];

	if (kind == GUARD_NAME && strcmp(l->listener, "api"))
		return; /* the agent listener bans addresses only */
	time_format_sec(until_ns, until);
	json_array_append_new(l->rows, json_pack("{s:s, s:s, s:i, s:s, s:s}", "kind",
						 kind == GUARD_NAME ? "user" : "address", "key",
						 key, "failures", failures, "banned_until", until,
						 "listener", l->listener));
}

static int ban_cmp(const void *pa, const void *pb)
{
	const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	static const char *const keys[] = { "kind", "key", "listener" };

	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		int c = strcmp(json_string_value(json_object_get(a, keys[i])),
			       json_string_value(json_object_get(b, keys[i])));

		if (c)
			return c;
	}
	return 0;
}

void api_bans_list(struct api_call *call)
{
	struct ban_list l = { json_array(), "api" };
	json_t **v, *sorted;
	size_t n, i;

	guard_each_ban(api_guard(call->srv->api), ban_row, &l);
	l.listener = "agents";
	guard_each_ban(hub_guard(call->srv->hub), ban_row, &l);
	n = json_array_size(l.rows);
	v = calloc(n ? n : 1, sizeof *v);
	sorted = json_array();
	if (!v || !sorted) {
		free(v);
		json_decref(sorted);
		json_decref(l.rows);
		api_reply_error(call, 500, "Internal error.", "out of memory");
		return;
	}
	for (i = 0; i < n; i++)
		v[i] = json_array_get(l.rows, i);
	qsort(v, n, sizeof *v, ban_cmp);
	for (i = 0; i < n; i++)
		json_array_append(sorted, v[i]);
	free(v);
	json_decref(l.rows);
	api_reply_list(call, sorted, (int64_t)n);
}

void api_bans_delete(struct api_call *call)
{
	const char *kind = call->params[0], *key = call->params[1];
	char title[300], affected[300];
	bool lifted;

	if (!strcmp(kind, "user")) {
		lifted = guard_lift(api_guard(call->srv->api), GUARD_NAME, key) == 0;
	} else if (!strcmp(kind, "address")) {
		/* Both listeners: one address, one decision. */
		bool api = guard_lift(api_guard(call->srv->api), GUARD_ADDRESS, key) == 0;
		bool agents = guard_lift(hub_guard(call->srv->hub), GUARD_ADDRESS, key) == 0;

		lifted = api || agents;
	} else {
		snprintf(title, sizeof title, "Invalid ban kind \"%.64s\".", kind);
		api_reply_error(call, 400, title, "the kind is \"user\" or \"address\"");
		return;
	}
	if (!lifted) {
		snprintf(title, sizeof title, "Ban of %s \"%.200s\" not found.", kind, key);
		api_reply_error(call, 404, title, "it may have ended by itself (ban_time)");
		return;
	}
	snprintf(affected, sizeof affected, "%s/%.200s", kind, key);
	api_audit(call, "bans", "delete", affected, NULL, true);
	api_reply(call, 204, NULL);
}

/* ---- GET /status ------------------------------------------------------- */

/* SHA-256 of the agent listener's certificate (the first PEM block), as
 * colon-separated hex: what an agent may pin. "" without TLS. */
static void cert_fingerprint(const char *path, char *out, size_t outlen)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----";
	unsigned char der[16384], hash[crypto_hash_sha256_BYTES];
	char pem[24576];
	size_t n = 0, dlen = 0;
	FILE *f;
	char *b, *e;

	out[0] = '\0';
	if (!path || !*path || !(f = fopen(path, "r")))
		return;
	n = fread(pem, 1, sizeof pem - 1, f);
	fclose(f);
	pem[n] = '\0';
	b = strstr(pem, begin);
	e = b ? strstr(b, "-----END") : NULL;
	if (!b || !e)
		return;
	b += sizeof begin - 1;
	if (sodium_base642bin(der, sizeof der, b, (size_t)(e - b), " \t\r\n", &dlen, NULL,
			      sodium_base64_VARIANT_ORIGINAL) || !dlen)
		return;
	crypto_hash_sha256(hash, der, dlen);
	if (outlen < 3 * sizeof hash)
		return;
	for (size_t i = 0; i < sizeof hash; i++)
		snprintf(out + i * 3, outlen - i * 3, "%02X%s", hash[i],
			 i + 1 < sizeof hash ? ":" : "");
}

void api_status_rport(struct api_call *call)
{
	const struct server_config *cfg = &call->srv->cfg;
	size_t counts[2] = { 0, 0 };
	uint64_t commits, writes;
	char fp[3 * crypto_hash_sha256_BYTES + 1], url[300];
	json_t *urls = json_array();

	/* Counted by the registry as clients come and go: no fleet scan. */
	counts[0] = registry_connected_count(call->srv->registry);
	counts[1] = registry_count(call->srv->registry) - counts[0];
	store_stats(call->srv->store, &commits, &writes);
	cert_fingerprint(cfg->tls_cert, fp, sizeof fp);
	snprintf(url, sizeof url, "%s://%s", cfg->tls_cert[0] ? "wss" : "ws", cfg->agent_address);
	json_array_append_new(urls, json_string(url));
	api_reply_data(call, 200,
		       json_pack("{s:s, s:I, s:I, s:s, s:s, s:s, s:o, s:s, s:b, s:b, s:[], s:[],"
				 " s:i, s:I, s:{s:I, s:I}}",
				 "version", call->srv->version,
				 "clients_connected", (json_int_t)counts[0],
				 "clients_disconnected", (json_int_t)counts[1],
				 "clients_auth_source",
				 cfg->agent_auth_file[0] ? "File" : cfg->agent_auth[0] ?
				 "Static Credentials" : "DB",
				 "clients_auth_mode", "Read Write",
				 "fingerprint", fp, "connect_url", urls,
				 "users_auth_source", cfg->api_auth_file[0] ? "File" :
				 "Static Credentials",
				 "two_fa_enabled", 0, "tunnel_proxy_enabled", 0,
				 "used_ports", "excluded_ports",
				 "password_min_length", 8,
				 "clients", (json_int_t)registry_count(call->srv->registry),
				 "store", "commits", (json_int_t)commits, "writes",
				 (json_int_t)writes));
}
