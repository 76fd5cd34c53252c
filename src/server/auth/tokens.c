/* tokens: login tokens (Bearer, access_token) and API tokens (the
 * password of HTTP basic auth), stored as hashes; and the check of a
 * request's credentials, which tries them before any password. */
#include "auth/auth.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <sodium.h>
#include <uthash.h>

#include "auth/auth_priv.h"
#include "store/store.h"
#include "util.h"

static void hex_of(const unsigned char *h, char out[2 * DIGEST_LEN + 1])
{
	sodium_bin2hex(out, 2 * DIGEST_LEN + 1, h, DIGEST_LEN);
}

static void token_hash(const char *text, unsigned char out[DIGEST_LEN])
{
	/* 256 random bits: a plain hash is enough (no dictionary to fear). */
	crypto_generichash(out, DIGEST_LEN, (const unsigned char *)text, strlen(text), NULL, 0);
}

/* The form auth_token_issue gives API tokens: 8 letters or digits, '_',
 * 43 base64url characters. */
static bool api_token_form(const char *s)
{
	size_t n = strlen(s);

	if (n != 9 + TOKEN_B64_LEN || s[8] != '_')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		bool alnum = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
			     (ch >= 'A' && ch <= 'Z');

		if (i == 8)
			continue;
		if (!alnum && (i < 8 || (ch != '-' && ch != '_')))
			return false;
	}
	return true;
}

static void token_free(struct token *t)
{
	free(t->user);
	free(t->name);
	free(t);
}

void auth_tokens_free(struct auth *a)
{
	struct token *t, *ttmp;

	HASH_ITER(hh, a->tokens, t, ttmp) {
		HASH_DEL(a->tokens, t);
		token_free(t);
	}
}

static json_t *token_record(const struct token *t)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "user", t->user, "kind", t->kind,
			 "scope", auth_scope_name(t->scope), "name",
			 t->name ? t->name : "", "prefix", t->prefix, "created_at",
			 (json_int_t)t->created_at, "expires_at", (json_int_t)t->expires_at);
}

static void token_persist(struct auth *a, const struct token *t, bool remove)
{
	char hex[2 * DIGEST_LEN + 1];

	if (!a->store)
		return;
	hex_of(t->hash, hex);
	auth_store_write(a, AUTH_REC_TOKEN, hex, remove ? NULL : token_record(t));
}

/* A string member of a stored record, or def. */
static const char *rec_str(const json_t *rec, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(rec, key));

	return s ? s : def;
}

static void token_load_cb(void *ud, const char *hash_hex, json_t *rec)
{
	struct auth *a = ud;
	struct token *t = calloc(1, sizeof *t);
	const char *scope = json_string_value(json_object_get(rec, "scope"));
	size_t bl = 0;

	if (!t)
		return;
	if (sodium_hex2bin(t->hash, DIGEST_LEN, hash_hex, strlen(hash_hex), NULL, &bl, NULL) ||
	    bl != DIGEST_LEN) {
		free(t);
		return;
	}
	t->user = strdup(rec_str(rec, "user", ""));
	t->name = strdup(rec_str(rec, "name", ""));
	util_strlcpy(t->kind, rec_str(rec, "kind", "api"), sizeof t->kind);
	util_strlcpy(t->prefix, rec_str(rec, "prefix", ""), sizeof t->prefix);
	t->scope = scope && !strcmp(scope, "read")      ? AUTH_SCOPE_READ
		   : scope && !strcmp(scope, "metrics") ? AUTH_SCOPE_METRICS
							: AUTH_SCOPE_READ_WRITE;
	t->created_at = json_integer_value(json_object_get(rec, "created_at"));
	t->expires_at = json_integer_value(json_object_get(rec, "expires_at"));
	HASH_ADD(hh, a->tokens, hash, DIGEST_LEN, t);
}

void auth_tokens_load(struct auth *a)
{
	store_token_each(a->store, token_load_cb, a);
}

static void random_alnum(char *out, size_t n)
{
	static const char set[] =
		"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

	for (size_t i = 0; i < n; i++)
		out[i] = set[randombytes_uniform(sizeof set - 1)];
	out[n] = '\0';
}

/* A token's public description: prefix, name, scope, created_at,
 * expires_at (new reference). */
static json_t *token_info(const struct token *t)
{
	char ts[TIME_STR_LEN], te[TIME_STR_LEN];

	util_time_format(t->created_at, ts);
	if (t->expires_at)
		util_time_format(t->expires_at, te);
	return json_pack("{s:s, s:s, s:s, s:s, s:o}", "prefix", t->prefix, "name", t->name,
			 "scope", auth_scope_name(t->scope),
			 "created_at", ts, "expires_at",
			 t->expires_at ? json_string(te) : json_null());
}

char *auth_token_issue(struct auth *a, const char *user, const char *kind,
		       enum auth_scope scope, const char *name, int64_t lifetime_sec,
		       json_t **info)
{
	unsigned char secret[32];
	char b64[64], *text;
	struct token *t = calloc(1, sizeof *t);

	if (!t)
		return NULL;
	randombytes_buf(secret, sizeof secret);
	sodium_bin2base64(b64, sizeof b64, secret, sizeof secret,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	random_alnum(t->prefix, 8);
	text = malloc(96);
	if (!text) {
		free(t);
		return NULL;
	}
	/* prefix (8) + '_' + 43 base64url characters */
	memcpy(text, t->prefix, 8);
	text[8] = '_';
	util_strlcpy(text + 9, b64, 96 - 9);
	sodium_memzero(secret, sizeof secret);
	token_hash(text, t->hash);
	t->user = strdup(user);
	t->name = strdup(name ? name : "");
	util_strlcpy(t->kind, kind, sizeof t->kind);
	t->scope = scope;
	t->created_at = util_now_ns();
	t->expires_at = lifetime_sec > 0 ? t->created_at + lifetime_sec * 1000000000LL : 0;
	HASH_ADD(hh, a->tokens, hash, DIGEST_LEN, t);
	token_persist(a, t, false);
	*info = token_info(t);
	return text;
}

void auth_token_drop(struct auth *a, struct token *t)
{
	HASH_DEL(a->tokens, t);
	token_persist(a, t, true);
	token_free(t);
}

bool auth_token_valid(struct auth *a, const unsigned char hash[32])
{
	struct token *t;

	HASH_FIND(hh, a->tokens, hash, DIGEST_LEN, t);
	return t && (!t->expires_at || t->expires_at >= util_now_ns()) &&
	       auth_user_active(a, t->user);
}

int auth_token_revoke_hash(struct auth *a, const unsigned char hash[32])
{
	struct token *t;

	HASH_FIND(hh, a->tokens, hash, DIGEST_LEN, t);
	if (!t)
		return TE_NOTFOUND;
	auth_token_drop(a, t);
	return 0;
}

int auth_token_revoke_prefix(struct auth *a, const char *user, const char *prefix)
{
	struct token *t, *tmp;

	HASH_ITER(hh, a->tokens, t, tmp) {
		if (!strcmp(t->kind, "api") && !strcmp(t->user, user) &&
		    !strcmp(t->prefix, prefix)) {
			auth_token_drop(a, t);
			return 0;
		}
	}
	return TE_NOTFOUND;
}

bool auth_token_name_taken(struct auth *a, const char *user, const char *name)
{
	struct token *t, *tmp;

	HASH_ITER(hh, a->tokens, t, tmp)
		if (!strcmp(t->kind, "api") && !strcmp(t->user, user) && t->name &&
		    !strcmp(t->name, name))
			return true;
	return false;
}

json_t *auth_tokens_of(struct auth *a, const char *user)
{
	json_t *arr = json_array();
	struct token *t, *tmp;

	HASH_ITER(hh, a->tokens, t, tmp) {
		if (strcmp(t->kind, "api") || strcmp(t->user, user))
			continue;
		json_array_append_new(arr, token_info(t));
	}
	return arr;
}

/* Finds a live token of the given kind; expired ones are dropped. */
static struct token *token_find(struct auth *a, const char *text, const char *kind)
{
	unsigned char h[DIGEST_LEN];
	struct token *t;

	if (!text || strlen(text) > 256)
		return NULL;
	token_hash(text, h);
	HASH_FIND(hh, a->tokens, h, DIGEST_LEN, t);
	if (!t || strcmp(t->kind, kind))
		return NULL;
	if (t->expires_at && t->expires_at < util_now_ns()) {
		auth_token_drop(a, t);
		return NULL;
	}
	return t;
}

static void token_identity(const struct token *t, struct auth_identity *id)
{
	memset(id, 0, sizeof *id);
	util_strlcpy(id->user, t->user, sizeof id->user);
	id->scope = t->scope;
	id->session_token = !strcmp(t->kind, "session");
	id->api_token = !id->session_token;
	memcpy(id->token_hash, t->hash, DIGEST_LEN);
	id->token_expires_at = t->expires_at;
}

/* ---- a request's credentials --------------------------------------------- */

/* A login token (Bearer or access_token): answered at once. */
static void session_check(struct auth *a, const char *text, auth_cb cb, void *ud)
{
	struct token *t = token_find(a, text, "session");
	struct auth_identity id;

	if (!t || !auth_user_active(a, t->user)) {
		cb(ud, NULL);
		return;
	}
	token_identity(t, &id);
	cb(ud, &id);
}

/* Decodes the user:password of a Basic value (after "Basic ") into raw
 * (AUTH_MAX_HEADER bytes), NUL-terminated. Returns the password (inside
 * raw, the user before it ends at the ':' replaced by NUL) or NULL.
 * *rawlen is set for wiping, also on failure. */
static char *basic_decode(const char *b64, unsigned char *raw, size_t *rawlen, bool strict)
{
	char *colon;

	*rawlen = 0;
	while (*b64 == ' ')
		b64++;
	if (strlen(b64) >= AUTH_MAX_HEADER ||
	    sodium_base642bin(raw, AUTH_MAX_HEADER - 1, b64, strlen(b64), NULL, rawlen, NULL,
			      sodium_base64_VARIANT_ORIGINAL))
		return NULL;
	raw[*rawlen] = '\0';
	if (strict && memchr(raw, '\0', *rawlen))
		return NULL;
	colon = strchr((char *)raw, ':');
	if (!colon)
		return NULL;
	*colon = '\0';
	return colon + 1;
}

/* An API key (Authorization: ApiKey base64(id:key), Elastic's form): the
 * key is a token of kind "apikey" whose prefix is the id. Answered at
 * once. */
static void apikey_check(struct auth *a, const char *b64, auth_cb cb, void *ud)
{
	unsigned char raw[AUTH_MAX_HEADER];
	size_t rawlen = 0;
	char *key = basic_decode(b64, raw, &rawlen, true);
	struct token *t = key ? token_find(a, key, "apikey") : NULL;
	struct auth_identity id;
	bool ok = t && !strcmp(t->prefix, (char *)raw) && auth_user_active(a, t->user);

	sodium_memzero(raw, rawlen);
	if (!ok) {
		cb(ud, NULL);
		return;
	}
	token_identity(t, &id);
	cb(ud, &id);
}

const char *auth_scope_name(enum auth_scope s)
{
	return s == AUTH_SCOPE_READ ? "read" : s == AUTH_SCOPE_METRICS ? "metrics" : "read+write";
}

/* A metrics token's answer passes only where metrics are asked for. */
struct scope_gate {
	auth_cb cb;
	void *ud;
};

static void no_metrics_scope(void *ud, const struct auth_identity *id)
{
	struct scope_gate *g = ud;
	auth_cb cb = g->cb;
	void *cud = g->ud;

	free(g);
	cb(cud, id && id->scope == AUTH_SCOPE_METRICS ? NULL : id);
}

static void api_check(struct auth *a, const char *authorization, const char *access_token,
		      bool tokens_only, auth_cb cb, void *ud);

void auth_api_check(struct auth *a, const char *authorization, const char *access_token,
		    auth_cb cb, void *ud)
{
	struct scope_gate *g = malloc(sizeof *g);

	if (!g) {
		cb(ud, NULL);
		return;
	}
	g->cb = cb;
	g->ud = ud;
	api_check(a, authorization, access_token, false, no_metrics_scope, g);
}

/* Tokens only: /metrics has no brute-force guard of its own, so it tries
 * no password. */
void auth_metrics_check(struct auth *a, const char *authorization, auth_cb cb, void *ud)
{
	api_check(a, authorization, NULL, true, cb, ud);
}

static void api_check(struct auth *a, const char *authorization, const char *access_token,
		      bool tokens_only, auth_cb cb, void *ud)
{
	unsigned char raw[AUTH_MAX_HEADER];
	size_t rawlen = 0;
	struct auth_identity id;
	struct token *t;
	char *password;
	bool ok;

	if (!authorization && access_token) {
		session_check(a, access_token, cb, ud);
		return;
	}
	if (authorization && !strncasecmp(authorization, "Bearer ", 7)) {
		const char *tok = authorization + 7;

		while (*tok == ' ')
			tok++;
		session_check(a, tok, cb, ud);
		return;
	}
	if (authorization && !strncasecmp(authorization, "ApiKey ", 7)) {
		apikey_check(a, authorization + 7, cb, ud);
		return;
	}
	if (!authorization || strncasecmp(authorization, "Basic ", 6)) {
		cb(ud, NULL);
		return;
	}
	password = basic_decode(authorization + 6, raw, &rawlen, true);
	if (!password) {
		sodium_memzero(raw, rawlen);
		cb(ud, NULL);
		return;
	}
	/* An API token in place of the password, as rport allows. A value of
	 * a token's form is checked as a token only: it reaches no password
	 * check, so it may pass the guard's bans (auth_basic_user). */
	t = token_find(a, password, "api");
	if (!t && !api_token_form(password) && tokens_only) {
		sodium_memzero(raw, rawlen);
		cb(ud, NULL);
		return;
	}
	if (!t && !api_token_form(password)) {
		auth_password_check(a, (char *)raw, password, cb, ud);
		sodium_memzero(raw, rawlen);
		return;
	}
	ok = t && !strcmp(t->user, (char *)raw) && auth_user_active(a, t->user);
	sodium_memzero(raw, rawlen);
	if (!ok) {
		cb(ud, NULL);
		return;
	}
	token_identity(t, &id);
	cb(ud, &id);
}

void auth_basic_user(const char *authorization, char *out, size_t outlen)
{
	unsigned char raw[AUTH_MAX_HEADER];
	size_t rawlen = 0;
	char *password;

	out[0] = '\0';
	if (!authorization || strncasecmp(authorization, "Basic ", 6))
		return;
	password = basic_decode(authorization + 6, raw, &rawlen, false);
	/* An API token is no password guess: no name to limit. */
	if (password && !api_token_form(password))
		util_strlcpy(out, (char *)raw, outlen);
	sodium_memzero(raw, rawlen);
}

/* ---- API keys (Elastic's ApiKey authorization) ------------------------ */

char *auth_apikey_issue(struct auth *a, const char *user, const char *name, json_t **info)
{
	return auth_token_issue(a, user, "apikey", AUTH_SCOPE_READ_WRITE, name, 0, info);
}

json_t *auth_apikeys_of(struct auth *a, const char *user)
{
	json_t *arr = json_array();
	struct token *t, *tmp;

	HASH_ITER(hh, a->tokens, t, tmp) {
		if (strcmp(t->kind, "apikey") || (user && strcmp(t->user, user)))
			continue;
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I}", "id", t->prefix,
						     "name", t->name ? t->name : "", "username",
						     t->user, "creation",
						     (json_int_t)(t->created_at / 1000000)));
	}
	return arr;
}

int auth_apikey_revoke(struct auth *a, const char *user, const char *id)
{
	struct token *t, *tmp;

	HASH_ITER(hh, a->tokens, t, tmp) {
		if (!strcmp(t->kind, "apikey") && (!user || !strcmp(t->user, user)) &&
		    !strcmp(t->prefix, id)) {
			auth_token_drop(a, t);
			return 0;
		}
	}
	return TE_NOTFOUND;
}
