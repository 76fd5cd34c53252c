/* auth: API users and agent credentials. */
#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <sodium.h>
#include <uthash.h>

#include "log.h"
#include "store.h"
#include "util.h"

#define AUTH_CACHE_TTL_MS (5 * 60 * 1000)
#define AUTH_CACHE_MAX 4096
#define AUTH_MAX_HEADER 4096
#define DIGEST_LEN 32

struct api_user {
	char *name;
	char hash[crypto_pwhash_STRBYTES];
};

struct agent_cred {
	char *id;
	unsigned char salt[16];
	unsigned char digest[DIGEST_LEN];   /* BLAKE2b(salt, id, password) */
	bool from_config;                   /* read-only through the API */
	UT_hash_handle hh;
};

struct token {
	unsigned char hash[DIGEST_LEN];
	char *user;
	char kind[8];          /* "session" or "api" */
	enum auth_scope scope;
	char *name;
	char prefix[16];
	int64_t created_at;
	int64_t expires_at;    /* 0: never */
	UT_hash_handle hh;
};

struct waiter {
	auth_cb cb;
	void *ud;
	struct waiter *next;
};

/* A verified (user, password) pair, keyed by a keyed digest of both so
 * that no password is kept in memory. In-flight checks share one entry. */
struct cache_entry {
	unsigned char key[DIGEST_LEN];
	int user;            /* index into users, -1 while pending */
	uint64_t expires;
	bool pending;
	struct waiter *waiters;
	UT_hash_handle hh;
};

struct auth {
	uv_loop_t *loop;
	struct store *store;
	struct token *tokens;
	char dummy_hash[crypto_pwhash_STRBYTES];
	struct api_user *users;
	size_t nusers;
	struct agent_cred *creds;
	struct cache_entry *cache;
	size_t ncache;
	unsigned char key[crypto_generichash_KEYBYTES];
};

struct verify_job {
	uv_work_t work;
	struct auth *a;
	struct cache_entry *entry;
	char *password;
	int user;            /* candidate user index, -1 unknown */
	bool ok;
};

static void token_free(struct token *t);

static void digest_of(const struct auth *a, const char *s1, const char *s2,
		      unsigned char out[DIGEST_LEN])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, a->key, sizeof a->key, DIGEST_LEN);
	crypto_generichash_update(&st, (const unsigned char *)s1, strlen(s1) + 1);
	crypto_generichash_update(&st, (const unsigned char *)s2, strlen(s2));
	crypto_generichash_final(&st, out, DIGEST_LEN);
}

char *auth_hash_password(const char *password)
{
	char *out = malloc(crypto_pwhash_STRBYTES);

	if (!out)
		return NULL;
	if (crypto_pwhash_str(out, password, strlen(password),
			      crypto_pwhash_OPSLIMIT_INTERACTIVE,
			      crypto_pwhash_MEMLIMIT_INTERACTIVE)) {
		free(out);
		return NULL;
	}
	return out;
}

static int user_add(struct auth *a, const char *name, const char *hash,
		    char *err, size_t errlen)
{
	struct api_user *nu;

	if (strncmp(hash, "$argon2id$", 10) && strncmp(hash, "$argon2i$", 9)) {
		snprintf(err, errlen, "password of API user '%s' is not an argon2 hash", name);
		return -1;
	}
	nu = realloc(a->users, (a->nusers + 1) * sizeof *nu);
	if (!nu)
		return -1;
	a->users = nu;
	nu[a->nusers].name = strdup(name);
	if (!nu[a->nusers].name ||
	    util_strlcpy(nu[a->nusers].hash, hash, sizeof nu[a->nusers].hash)) {
		free(nu[a->nusers].name);
		snprintf(err, errlen, "bad hash for API user '%s'", name);
		return -1;
	}
	a->nusers++;
	return 0;
}

/* Salted, so that it can be stored; fast, so that a reconnect storm of
 * thousands of agents costs microseconds each (see docs/security.md). */
static void cred_digest(const unsigned char salt[16], const char *id, const char *password,
			unsigned char out[DIGEST_LEN])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, DIGEST_LEN);
	crypto_generichash_update(&st, salt, 16);
	crypto_generichash_update(&st, (const unsigned char *)id, strlen(id) + 1);
	crypto_generichash_update(&st, (const unsigned char *)password, strlen(password));
	crypto_generichash_final(&st, out, DIGEST_LEN);
}

static int cred_add(struct auth *a, const char *id, const char *password,
		    char *err, size_t errlen)
{
	struct agent_cred *c;

	if (!*id || !*password) {
		snprintf(err, errlen, "agent credential needs an id and a password");
		return -1;
	}
	HASH_FIND_STR(a->creds, id, c);
	if (c) {
		snprintf(err, errlen, "agent credential '%s' given twice", id);
		return -1;
	}
	c = calloc(1, sizeof *c);
	if (!c || !(c->id = strdup(id))) {
		free(c);
		return -1;
	}
	randombytes_buf(c->salt, sizeof c->salt);
	cred_digest(c->salt, id, password, c->digest);
	c->from_config = true;
	HASH_ADD_KEYPTR(hh, a->creds, c->id, strlen(c->id), c);
	return 0;
}

/* api.auth_file: one "user:hash" per line, '#' comments. */
static int load_user_file(struct auth *a, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int lineno = 0;

	if (!f) {
		snprintf(err, errlen, "api.auth_file %s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		char *colon, *end;

		lineno++;
		end = line + strcspn(line, "\r\n");
		*end = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		colon = strchr(line, ':');
		if (!colon) {
			snprintf(err, errlen, "api.auth_file %s: line %d: expected user:hash",
				 path, lineno);
			fclose(f);
			return -1;
		}
		*colon = '\0';
		if (user_add(a, line, colon + 1, err, errlen)) {
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	return 0;
}

/* server.auth_file: a JSON object {"id": "password", ...} as rport's. */
static int load_cred_file(struct auth *a, const char *path, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	const char *k;
	json_t *v;

	if (!root || !json_is_object(root)) {
		snprintf(err, errlen, "server.auth_file %s: %s", path,
			 root ? "expected a JSON object {\"id\": \"password\"}" : jerr.text);
		json_decref(root);
		return -1;
	}
	json_object_foreach(root, k, v) {
		if (!json_is_string(v) || cred_add(a, k, json_string_value(v), err, errlen)) {
			if (!err[0])
				snprintf(err, errlen, "server.auth_file %s: bad entry '%s'", path, k);
			json_decref(root);
			return -1;
		}
	}
	json_decref(root);
	return 0;
}

int auth_create(uv_loop_t *loop, struct server_config *cfg, struct auth **out,
		char *err, size_t errlen)
{
	struct auth *a = calloc(1, sizeof *a);

	err[0] = '\0';
	if (!a)
		return -1;
	a->loop = loop;
	crypto_generichash_keygen(a->key);
	{
		char *d = auth_hash_password("not a password: timing equaliser");

		if (d) {
			util_strlcpy(a->dummy_hash, d, sizeof a->dummy_hash);
			free(d);
		}
	}
	if (cfg->api_user[0] && cfg->api_password[0]) {
		char *h;

		if (!strncmp(cfg->api_password, "$argon2", 7))
			h = strdup(cfg->api_password);
		else
			h = auth_hash_password(cfg->api_password);
		sodium_memzero(cfg->api_password, sizeof cfg->api_password);
		if (!h || user_add(a, cfg->api_user, h, err, errlen)) {
			free(h);
			goto fail;
		}
		free(h);
	}
	if (cfg->api_auth_file[0] && load_user_file(a, cfg->api_auth_file, err, errlen))
		goto fail;
	if (cfg->agent_auth[0]) {
		char *colon = strchr(cfg->agent_auth, ':');

		*colon = '\0';
		if (cred_add(a, cfg->agent_auth, colon + 1, err, errlen))
			goto fail;
		sodium_memzero(colon + 1, strlen(colon + 1));
		*colon = ':';
	}
	if (cfg->agent_auth_file[0] && load_cred_file(a, cfg->agent_auth_file, err, errlen))
		goto fail;
	*out = a;
	return 0;
fail:
	if (!err[0])
		snprintf(err, errlen, "out of memory while loading credentials");
	auth_destroy(a);
	return -1;
}

void auth_destroy(struct auth *a)
{
	struct agent_cred *c, *ctmp;
	struct cache_entry *e, *etmp;

	if (!a)
		return;
	for (size_t i = 0; i < a->nusers; i++)
		free(a->users[i].name);
	free(a->users);
	HASH_ITER(hh, a->creds, c, ctmp) {
		HASH_DEL(a->creds, c);
		free(c->id);
		free(c);
	}
	HASH_ITER(hh, a->cache, e, etmp) {
		HASH_DEL(a->cache, e);
		/* Pending entries are owned by their worker job. */
		if (!e->pending)
			free(e);
	}
	{
		struct token *t, *ttmp;

		HASH_ITER(hh, a->tokens, t, ttmp) {
			HASH_DEL(a->tokens, t);
			token_free(t);
		}
	}
	sodium_memzero(a->key, sizeof a->key);
	free(a);
}

bool auth_agent_check(const struct auth *a, const char *id, const char *password)
{
	struct agent_cred *c;
	unsigned char d[DIGEST_LEN];

	static const unsigned char nosalt[16];

	HASH_FIND_STR(a->creds, id, c);
	/* The same work whether the id exists or not. */
	cred_digest(c ? c->salt : nosalt, id, password, d);
	if (!c)
		return false;
	return sodium_memcmp(d, c->digest, DIGEST_LEN) == 0;
}

/* ---- client credentials through the API ------------------------------ */

struct cred_write {
	char id[160];
	json_t *rec;   /* NULL: delete */
};

static int cred_apply(struct store *st, void *arg)
{
	struct cred_write *w = arg;

	return w->rec ? store_cred_put(st, w->id, w->rec) : store_cred_delete(st, w->id);
}

static void cred_after(void *arg, int rc)
{
	struct cred_write *w = arg;

	if (rc)
		log_error("auth: a client credential change could not be stored (%d)", rc);
	json_decref(w->rec);
	free(w);
}

static void cred_load_cb(void *ud, const char *id, json_t *rec)
{
	struct auth *a = ud;
	struct agent_cred *c;
	size_t bl = 0, dl = 0;
	const char *salt = json_string_value(json_object_get(rec, "salt"));
	const char *dig = json_string_value(json_object_get(rec, "digest"));

	HASH_FIND_STR(a->creds, id, c);
	if (c || !salt || !dig)
		return; /* the configuration wins */
	c = calloc(1, sizeof *c);
	if (!c || !(c->id = strdup(id)) ||
	    sodium_hex2bin(c->salt, sizeof c->salt, salt, strlen(salt), NULL, &bl, NULL) ||
	    sodium_hex2bin(c->digest, DIGEST_LEN, dig, strlen(dig), NULL, &dl, NULL) ||
	    bl != sizeof c->salt || dl != DIGEST_LEN) {
		if (c)
			free(c->id);
		free(c);
		return;
	}
	HASH_ADD_KEYPTR(hh, a->creds, c->id, strlen(c->id), c);
}

int auth_cred_add(struct auth *a, const char *id, const char *password)
{
	struct agent_cred *c;
	struct cred_write *w;
	char salt_hex[33], dig_hex[2 * DIGEST_LEN + 1];

	HASH_FIND_STR(a->creds, id, c);
	if (c)
		return TE_EXISTS;
	c = calloc(1, sizeof *c);
	w = calloc(1, sizeof *w);
	if (!c || !w || !(c->id = strdup(id))) {
		free(c);
		free(w);
		return TE_NOMEM;
	}
	randombytes_buf(c->salt, sizeof c->salt);
	cred_digest(c->salt, id, password, c->digest);
	HASH_ADD_KEYPTR(hh, a->creds, c->id, strlen(c->id), c);
	sodium_bin2hex(salt_hex, sizeof salt_hex, c->salt, sizeof c->salt);
	sodium_bin2hex(dig_hex, sizeof dig_hex, c->digest, DIGEST_LEN);
	util_strlcpy(w->id, id, sizeof w->id);
	w->rec = json_pack("{s:s, s:s}", "salt", salt_hex, "digest", dig_hex);
	if (a->store)
		store_queue(a->store, cred_apply, cred_after, w);
	else
		cred_after(w, 0);
	return 0;
}

int auth_cred_delete(struct auth *a, const char *id)
{
	struct agent_cred *c;
	struct cred_write *w;

	HASH_FIND_STR(a->creds, id, c);
	if (!c)
		return TE_NOTFOUND;
	if (c->from_config)
		return TE_STATE;
	HASH_DEL(a->creds, c);
	free(c->id);
	free(c);
	w = calloc(1, sizeof *w);
	if (!w)
		return TE_NOMEM;
	util_strlcpy(w->id, id, sizeof w->id);
	if (a->store)
		store_queue(a->store, cred_apply, cred_after, w);
	else
		free(w);
	return 0;
}

json_t *auth_creds_list(struct auth *a)
{
	json_t *arr = json_array();
	struct agent_cred *c, *tmp;

	HASH_ITER(hh, a->creds, c, tmp)
		json_array_append_new(arr, json_pack("{s:s, s:s}", "id", c->id, "source",
						     c->from_config ? "config" : "api"));
	return arr;
}

static void cache_evict(struct auth *a)
{
	struct cache_entry *e, *tmp;
	uint64_t now = util_mono_ms();

	HASH_ITER(hh, a->cache, e, tmp) {
		if (!e->pending && (e->expires < now || a->ncache > AUTH_CACHE_MAX / 2)) {
			HASH_DEL(a->cache, e);
			free(e);
			a->ncache--;
		}
	}
}

static void verify_work(uv_work_t *w)
{
	struct verify_job *j = w->data;

	if (j->user >= 0) {
		j->ok = crypto_pwhash_str_verify(j->a->users[j->user].hash, j->password,
						 strlen(j->password)) == 0;
	} else {
		/* An unknown user costs the same time as a wrong password. */
		if (crypto_pwhash_str_verify(j->a->dummy_hash, j->password,
					     strlen(j->password)) == 0)
			log_debug("auth: the timing equaliser matched a password");
		j->ok = false;
	}
}

static void verify_done(uv_work_t *w, int status)
{
	struct verify_job *j = w->data;
	struct cache_entry *e = j->entry;
	struct auth *a = j->a;
	struct waiter *wt, *next;
	struct auth_identity id;
	const struct auth_identity *user = NULL;

	(void)status;
	e->pending = false;
	if (j->ok) {
		e->user = j->user;
		e->expires = util_mono_ms() + AUTH_CACHE_TTL_MS;
		memset(&id, 0, sizeof id);
		util_strlcpy(id.user, a->users[j->user].name, sizeof id.user);
		user = &id;
	}
	wt = e->waiters;
	e->waiters = NULL;
	if (!j->ok) {
		HASH_DEL(a->cache, e);
		a->ncache--;
	}
	for (; wt; wt = next) {
		next = wt->next;
		wt->cb(wt->ud, user);
		free(wt);
	}
	if (!j->ok)
		free(e);
	sodium_memzero(j->password, strlen(j->password));
	free(j->password);
	free(j);
}

/* ---- tokens ---------------------------------------------------------- */

static void hex_of(const unsigned char *h, char out[2 * DIGEST_LEN + 1])
{
	sodium_bin2hex(out, 2 * DIGEST_LEN + 1, h, DIGEST_LEN);
}

static void token_hash(const char *text, unsigned char out[DIGEST_LEN])
{
	/* 256 random bits: a plain hash is enough (no dictionary to fear). */
	crypto_generichash(out, DIGEST_LEN, (const unsigned char *)text, strlen(text), NULL, 0);
}

static void token_free(struct token *t)
{
	free(t->user);
	free(t->name);
	free(t);
}

static json_t *token_record(const struct token *t)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "user", t->user, "kind", t->kind,
			 "scope", t->scope == AUTH_SCOPE_READ ? "read" : "read+write", "name",
			 t->name ? t->name : "", "prefix", t->prefix, "created_at",
			 (json_int_t)t->created_at, "expires_at", (json_int_t)t->expires_at);
}

struct token_write {
	char hex[2 * DIGEST_LEN + 1];
	json_t *rec;   /* NULL: delete */
};

static int token_apply(struct store *st, void *arg)
{
	struct token_write *w = arg;

	return w->rec ? store_token_put(st, w->hex, w->rec) : store_token_delete(st, w->hex);
}

static void token_after(void *arg, int rc)
{
	struct token_write *w = arg;

	if (rc)
		log_error("auth: a token change could not be stored (%d)", rc);
	json_decref(w->rec);
	free(w);
}

static void token_persist(struct auth *a, const struct token *t, bool remove)
{
	struct token_write *w;

	if (!a->store)
		return;
	w = calloc(1, sizeof *w);
	if (!w)
		return;
	hex_of(t->hash, w->hex);
	w->rec = remove ? NULL : token_record(t);
	store_queue(a->store, token_apply, token_after, w);
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
	t->user = strdup(json_string_value(json_object_get(rec, "user")) ?
				 json_string_value(json_object_get(rec, "user")) : "");
	t->name = strdup(json_string_value(json_object_get(rec, "name")) ?
				 json_string_value(json_object_get(rec, "name")) : "");
	util_strlcpy(t->kind, json_string_value(json_object_get(rec, "kind")) ?
				      json_string_value(json_object_get(rec, "kind")) : "api",
		     sizeof t->kind);
	util_strlcpy(t->prefix, json_string_value(json_object_get(rec, "prefix")) ?
					json_string_value(json_object_get(rec, "prefix")) : "",
		     sizeof t->prefix);
	t->scope = scope && !strcmp(scope, "read") ? AUTH_SCOPE_READ : AUTH_SCOPE_READ_WRITE;
	t->created_at = json_integer_value(json_object_get(rec, "created_at"));
	t->expires_at = json_integer_value(json_object_get(rec, "expires_at"));
	HASH_ADD(hh, a->tokens, hash, DIGEST_LEN, t);
}

void auth_attach_store(struct auth *a, struct store *st)
{
	a->store = st;
	store_token_each(st, token_load_cb, a);
	store_cred_each(st, cred_load_cb, a);
}

static void random_alnum(char *out, size_t n)
{
	static const char set[] =
		"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

	for (size_t i = 0; i < n; i++)
		out[i] = set[randombytes_uniform(sizeof set - 1)];
	out[n] = '\0';
}

char *auth_token_issue(struct auth *a, const char *user, const char *kind,
		       enum auth_scope scope, const char *name, int64_t lifetime_sec,
		       json_t **info)
{
	unsigned char secret[32];
	char b64[64], *text;
	struct token *t = calloc(1, sizeof *t);
	char ts[TIME_STR_LEN], te[TIME_STR_LEN];

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
	util_time_format(t->created_at, ts);
	if (t->expires_at)
		util_time_format(t->expires_at, te);
	*info = json_pack("{s:s, s:s, s:s, s:s, s:o}", "prefix", t->prefix, "name", t->name,
			  "scope", scope == AUTH_SCOPE_READ ? "read" : "read+write", "created_at",
			  ts, "expires_at", t->expires_at ? json_string(te) : json_null());
	return text;
}

static void token_drop(struct auth *a, struct token *t)
{
	HASH_DEL(a->tokens, t);
	token_persist(a, t, true);
	token_free(t);
}

int auth_token_revoke_hash(struct auth *a, const unsigned char hash[32])
{
	struct token *t;

	HASH_FIND(hh, a->tokens, hash, DIGEST_LEN, t);
	if (!t)
		return TE_NOTFOUND;
	token_drop(a, t);
	return 0;
}

int auth_token_revoke_prefix(struct auth *a, const char *user, const char *prefix)
{
	struct token *t, *tmp;

	HASH_ITER(hh, a->tokens, t, tmp) {
		if (!strcmp(t->kind, "api") && !strcmp(t->user, user) &&
		    !strcmp(t->prefix, prefix)) {
			token_drop(a, t);
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
		char ts[TIME_STR_LEN], te[TIME_STR_LEN];

		if (strcmp(t->kind, "api") || strcmp(t->user, user))
			continue;
		util_time_format(t->created_at, ts);
		if (t->expires_at)
			util_time_format(t->expires_at, te);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:o}", "prefix",
						     t->prefix, "name", t->name, "scope",
						     t->scope == AUTH_SCOPE_READ ? "read" : "read+write",
						     "created_at", ts, "expires_at",
						     t->expires_at ? json_string(te) : json_null()));
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
		token_drop(a, t);
		return NULL;
	}
	return t;
}

static bool user_exists(const struct auth *a, const char *name)
{
	for (size_t i = 0; i < a->nusers; i++)
		if (!strcmp(a->users[i].name, name))
			return true;
	return false;
}

static void token_identity(const struct token *t, struct auth_identity *id)
{
	memset(id, 0, sizeof *id);
	util_strlcpy(id->user, t->user, sizeof id->user);
	id->scope = t->scope;
	id->session_token = !strcmp(t->kind, "session");
	id->api_token = !id->session_token;
	memcpy(id->token_hash, t->hash, DIGEST_LEN);
}

/* ---- passwords ------------------------------------------------------- */

void auth_password_check(struct auth *a, const char *user, const char *password,
			 auth_cb cb, void *ud)
{
	unsigned char key[DIGEST_LEN];
	struct cache_entry *e;
	struct waiter *wt;
	struct verify_job *j;
	int uidx = -1;

	digest_of(a, user, password, key);
	HASH_FIND(hh, a->cache, key, DIGEST_LEN, e);
	if (e && !e->pending) {
		if (e->expires >= util_mono_ms()) {
			struct auth_identity id;

			memset(&id, 0, sizeof id);
			util_strlcpy(id.user, a->users[e->user].name, sizeof id.user);
			cb(ud, &id);
			return;
		}
		HASH_DEL(a->cache, e);
		free(e);
		a->ncache--;
		e = NULL;
	}
	wt = calloc(1, sizeof *wt);
	if (!wt) {
		cb(ud, NULL);
		return;
	}
	wt->cb = cb;
	wt->ud = ud;
	if (e) {
		/* Same credentials already being verified: wait for that. */
		wt->next = e->waiters;
		e->waiters = wt;
		return;
	}
	for (size_t i = 0; i < a->nusers; i++)
		if (!strcmp(a->users[i].name, user))
			uidx = (int)i;
	if (a->ncache >= AUTH_CACHE_MAX)
		cache_evict(a);
	e = calloc(1, sizeof *e);
	j = calloc(1, sizeof *j);
	if (!e || !j || !(j->password = strdup(password))) {
		free(e);
		free(j);
		free(wt);
		cb(ud, NULL);
		return;
	}
	memcpy(e->key, key, DIGEST_LEN);
	e->pending = true;
	e->user = -1;
	e->waiters = wt;
	HASH_ADD(hh, a->cache, key, DIGEST_LEN, e);
	a->ncache++;
	j->a = a;
	j->entry = e;
	j->user = uidx;
	j->work.data = j;
	if (uv_queue_work(a->loop, &j->work, verify_work, verify_done)) {
		log_error("auth: cannot queue password verification");
		j->ok = false;
		verify_done(&j->work, 0);
	}
}

void auth_api_check(struct auth *a, const char *authorization, const char *access_token,
		    auth_cb cb, void *ud)
{
	unsigned char raw[AUTH_MAX_HEADER];
	size_t rawlen = 0;
	struct auth_identity id;
	struct token *t;
	const char *b64;
	char *colon;

	if (!authorization && access_token) {
		t = token_find(a, access_token, "session");
		if (!t || !user_exists(a, t->user)) {
			cb(ud, NULL);
			return;
		}
		token_identity(t, &id);
		cb(ud, &id);
		return;
	}
	if (authorization && !strncasecmp(authorization, "Bearer ", 7)) {
		const char *tok = authorization + 7;

		while (*tok == ' ')
			tok++;
		t = token_find(a, tok, "session");
		if (!t || !user_exists(a, t->user)) {
			cb(ud, NULL);
			return;
		}
		token_identity(t, &id);
		cb(ud, &id);
		return;
	}
	if (!authorization || strncasecmp(authorization, "Basic ", 6)) {
		cb(ud, NULL);
		return;
	}
	b64 = authorization + 6;
	while (*b64 == ' ')
		b64++;
	if (strlen(b64) >= sizeof raw ||
	    sodium_base642bin(raw, sizeof raw - 1, b64, strlen(b64), NULL, &rawlen, NULL,
			      sodium_base64_VARIANT_ORIGINAL)) {
		cb(ud, NULL);
		return;
	}
	raw[rawlen] = '\0';
	if (memchr(raw, '\0', rawlen) || !(colon = strchr((char *)raw, ':'))) {
		sodium_memzero(raw, rawlen);
		cb(ud, NULL);
		return;
	}
	*colon = '\0';
	/* An API token in place of the password, as rport allows. */
	t = token_find(a, colon + 1, "api");
	if (t) {
		bool ok = !strcmp(t->user, (char *)raw) && user_exists(a, t->user);

		sodium_memzero(raw, rawlen);
		if (!ok) {
			cb(ud, NULL);
			return;
		}
		token_identity(t, &id);
		cb(ud, &id);
		return;
	}
	auth_password_check(a, (char *)raw, colon + 1, cb, ud);
	sodium_memzero(raw, rawlen);
}

void auth_basic_user(const char *authorization, char *out, size_t outlen)
{
	unsigned char raw[AUTH_MAX_HEADER];
	size_t rawlen = 0;
	const char *b64;
	char *colon;

	out[0] = '\0';
	if (!authorization || strncasecmp(authorization, "Basic ", 6))
		return;
	b64 = authorization + 6;
	while (*b64 == ' ')
		b64++;
	if (strlen(b64) >= sizeof raw ||
	    sodium_base642bin(raw, sizeof raw - 1, b64, strlen(b64), NULL, &rawlen, NULL,
			      sodium_base64_VARIANT_ORIGINAL))
		return;
	raw[rawlen] = '\0';
	colon = strchr((char *)raw, ':');
	if (colon) {
		*colon = '\0';
		util_strlcpy(out, (char *)raw, outlen);
	}
	sodium_memzero(raw, rawlen);
}
