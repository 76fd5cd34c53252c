/* auth: API users and agent credentials. */
#include "auth/auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <sodium.h>
#include <uthash.h>

#include "log.h"
#include "store/store.h"
#include "util.h"

#define AUTH_CACHE_TTL_MS (5 * 60 * 1000)
#define AUTH_CACHE_MAX 4096
#define AUTH_MAX_HEADER 4096
#define DIGEST_LEN 32
#define TOKEN_B64_LEN 43     /* 32 random bytes, base64url without padding */

struct api_user {
	char *name;
	char hash[crypto_pwhash_STRBYTES];
	json_t *groups;        /* user group names */
	bool locked;
	bool from_config;      /* from the configuration: not changed by the API */
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
	char user[128];      /* verified user name ("" while pending) */
	uint64_t expires;
	bool pending;
	struct waiter *waiters;
	UT_hash_handle hh;
};

struct auth {
	uv_loop_t *loop;
	json_t *user_groups;   /* name -> {"permissions": {...}} */
	struct store *store;
	struct token *tokens;
	char dummy_hash[crypto_pwhash_STRBYTES];
	struct api_user *users;
	size_t nusers;
	struct agent_cred *creds;
	char *shared_creds;    /* [server] shared_client_auth: "id,id,..." */
	struct cache_entry *cache;
	size_t ncache;
	unsigned char key[crypto_generichash_KEYBYTES];
};

struct verify_job {
	uv_work_t work;
	struct auth *a;
	struct cache_entry *entry;
	char *password;
	char user[128];
	char hash[crypto_pwhash_STRBYTES];   /* a copy: the worker never reads a->users */
	bool known;
	bool ok;
};

static void token_free(struct token *t);
static bool user_exists(const struct auth *a, const char *name);

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
	memset(&nu[a->nusers], 0, sizeof nu[a->nusers]);
	nu[a->nusers].name = strdup(name);
	if (!nu[a->nusers].name ||
	    util_strlcpy(nu[a->nusers].hash, hash, sizeof nu[a->nusers].hash)) {
		free(nu[a->nusers].name);
		snprintf(err, errlen, "bad hash for API user '%s'", name);
		return -1;
	}
	/* Users from the configuration are administrators. */
	nu[a->nusers].groups = json_pack("[s]", AUTH_ADMIN_GROUP);
	nu[a->nusers].from_config = true;
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
	a->user_groups = json_object();
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
	if (!(a->shared_creds = strdup(cfg->shared_client_auth)))
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
	for (size_t i = 0; i < a->nusers; i++) {
		free(a->users[i].name);
		json_decref(a->users[i].groups);
	}
	free(a->users);
	json_decref(a->user_groups);
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
	free(a->shared_creds);
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

bool auth_cred_shared(const struct auth *a, const char *id)
{
	size_t n = strlen(id);
	const char *p = a->shared_creds;

	while (p && *p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == n && !memcmp(p, id, n))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

bool auth_agent_id_allowed(const struct auth *a, const char *auth_id, const char *client_id)
{
	return !strcmp(auth_id, client_id) || auth_cred_shared(a, auth_id);
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
		json_array_append_new(arr, json_pack("{s:s, s:s, s:b}", "id", c->id, "source",
						     c->from_config ? "config" : "api", "shared",
						     auth_cred_shared(a, c->id)));
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

static struct api_user *user_find(const struct auth *a, const char *name)
{
	for (size_t i = 0; i < a->nusers; i++)
		if (!strcmp(a->users[i].name, name))
			return &a->users[i];
	return NULL;
}

static void verify_work(uv_work_t *w)
{
	struct verify_job *j = w->data;

	if (j->known) {
		j->ok = crypto_pwhash_str_verify(j->hash, j->password, strlen(j->password)) == 0;
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
	/* The user may have been deleted, locked or given a new password
	 * while the hash was being checked. */
	if (j->ok) {
		const struct api_user *u = user_find(a, j->user);

		if (!u || u->locked || strcmp(u->hash, j->hash))
			j->ok = false;
	}
	if (j->ok) {
		util_strlcpy(e->user, j->user, sizeof e->user);
		e->expires = util_mono_ms() + AUTH_CACHE_TTL_MS;
		memset(&id, 0, sizeof id);
		util_strlcpy(id.user, j->user, sizeof id.user);
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

static void user_load_cb(void *ud, const char *id, json_t *rec);
static void user_group_load_cb(void *ud, const char *id, json_t *rec);

void auth_attach_store(struct auth *a, struct store *st)
{
	a->store = st;
	store_token_each(st, token_load_cb, a);
	store_cred_each(st, cred_load_cb, a);
	store_kv_each(st, "users", user_load_cb, a);
	store_kv_each(st, "user_groups", user_group_load_cb, a);
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

bool auth_token_valid(struct auth *a, const unsigned char hash[32])
{
	struct token *t;

	HASH_FIND(hh, a->tokens, hash, DIGEST_LEN, t);
	return t && (!t->expires_at || t->expires_at >= util_now_ns()) && user_exists(a, t->user);
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
	const struct api_user *u = user_find(a, name);

	return u && !u->locked;
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

/* ---- passwords ------------------------------------------------------- */

void auth_password_check(struct auth *a, const char *user, const char *password,
			 auth_cb cb, void *ud)
{
	unsigned char key[DIGEST_LEN];
	struct cache_entry *e;
	struct waiter *wt;
	struct verify_job *j;
	const struct api_user *u;

	digest_of(a, user, password, key);
	HASH_FIND(hh, a->cache, key, DIGEST_LEN, e);
	if (e && !e->pending) {
		const struct api_user *cu = user_find(a, e->user);

		if (e->expires >= util_mono_ms() && cu && !cu->locked) {
			struct auth_identity id;

			memset(&id, 0, sizeof id);
			util_strlcpy(id.user, e->user, sizeof id.user);
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
	e->waiters = wt;
	HASH_ADD(hh, a->cache, key, DIGEST_LEN, e);
	a->ncache++;
	j->a = a;
	j->entry = e;
	util_strlcpy(j->user, user, sizeof j->user);
	u = user_find(a, user);
	/* A locked user is checked like an unknown one: refused. */
	if (u && !u->locked) {
		j->known = true;
		util_strlcpy(j->hash, u->hash, sizeof j->hash);
	}
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
	/* An API token in place of the password, as rport allows. A value of
	 * a token's form is checked as a token only: it reaches no password
	 * check, so it may pass the guard's bans (auth_basic_user). */
	t = token_find(a, colon + 1, "api");
	if (t || api_token_form(colon + 1)) {
		if (!t) {
			sodium_memzero(raw, rawlen);
			cb(ud, NULL);
			return;
		}
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
	/* An API token is no password guess: no name to limit. */
	if (colon && !api_token_form(colon + 1)) {
		*colon = '\0';
		util_strlcpy(out, (char *)raw, outlen);
	}
	sodium_memzero(raw, rawlen);
}

/* ---- users and user groups -------------------------------------------- */

static void cache_flush(struct auth *a)
{
	struct cache_entry *e, *tmp;

	/* Any change to users: every cached verification is forgotten. */
	HASH_ITER(hh, a->cache, e, tmp) {
		if (!e->pending) {
			HASH_DEL(a->cache, e);
			free(e);
			a->ncache--;
		}
	}
}

struct kv_write {
	const char *table;
	char id[160];
	json_t *rec;   /* NULL: delete */
};

static int kv_apply(struct store *st, void *arg)
{
	struct kv_write *w = arg;

	return w->rec ? store_kv_put(st, w->table, w->id, w->rec) :
			store_kv_delete(st, w->table, w->id);
}

static void kv_after(void *arg, int rc)
{
	struct kv_write *w = arg;

	if (rc)
		log_error("auth: a change to %s could not be stored (%d)", w->table, rc);
	json_decref(w->rec);
	free(w);
}

static void kv_persist(struct auth *a, const char *table, const char *id, json_t *rec)
{
	struct kv_write *w = calloc(1, sizeof *w);

	if (!w || !a->store) {
		json_decref(rec);
		free(w);
		return;
	}
	w->table = table;
	util_strlcpy(w->id, id, sizeof w->id);
	w->rec = rec;
	store_queue(a->store, kv_apply, kv_after, w);
}

static json_t *user_record(const struct api_user *u)
{
	return json_pack("{s:s, s:O, s:b}", "hash", u->hash, "groups", u->groups, "locked",
			 u->locked);
}

json_t *auth_users_json(struct auth *a)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < a->nusers; i++)
		json_array_append_new(arr, json_pack("{s:s, s:O, s:b, s:s}", "username",
						     a->users[i].name, "groups", a->users[i].groups,
						     "locked", a->users[i].locked, "source",
						     a->users[i].from_config ? "config" : "api"));
	return arr;
}

bool auth_user_exists(struct auth *a, const char *name)
{
	return user_find(a, name) != NULL;
}

int auth_user_set(struct auth *a, const char *name, const char *hash, const json_t *groups,
		  int locked, bool create)
{
	struct api_user *u = user_find(a, name);

	if (create && u)
		return TE_EXISTS;
	if (!create && !u)
		return TE_NOTFOUND;
	if (u && u->from_config)
		return TE_STATE;
	if (!u) {
		struct api_user *nu = realloc(a->users, (a->nusers + 1) * sizeof *nu);

		if (!nu)
			return TE_NOMEM;
		a->users = nu;
		u = &a->users[a->nusers];
		memset(u, 0, sizeof *u);
		u->name = strdup(name);
		u->groups = json_array();
		if (!u->name)
			return TE_NOMEM;
		a->nusers++;
	}
	if (hash)
		util_strlcpy(u->hash, hash, sizeof u->hash);
	if (groups) {
		json_decref(u->groups);
		u->groups = json_deep_copy(groups);
	}
	if (locked >= 0)
		u->locked = locked;
	cache_flush(a);
	kv_persist(a, "users", name, user_record(u));
	return 0;
}

int auth_user_delete(struct auth *a, const char *name)
{
	struct api_user *u = user_find(a, name);
	struct token *t, *tmp;
	size_t i;

	if (!u)
		return TE_NOTFOUND;
	if (u->from_config)
		return TE_STATE;
	/* Its tokens go with it. */
	HASH_ITER(hh, a->tokens, t, tmp)
		if (!strcmp(t->user, name))
			token_drop(a, t);
	kv_persist(a, "users", name, NULL);
	i = (size_t)(u - a->users);
	free(u->name);
	json_decref(u->groups);
	memmove(&a->users[i], &a->users[i + 1], (a->nusers - i - 1) * sizeof *a->users);
	a->nusers--;
	cache_flush(a);
	return 0;
}

static bool in_group(const struct api_user *u, const char *group)
{
	size_t i;
	json_t *v;

	json_array_foreach(u->groups, i, v)
		if (json_string_value(v) && !strcmp(json_string_value(v), group))
			return true;
	return false;
}

bool auth_user_is_admin(struct auth *a, const char *name)
{
	const struct api_user *u = user_find(a, name);

	return u && in_group(u, AUTH_ADMIN_GROUP);
}

bool auth_user_may(struct auth *a, const char *name, const char *permission)
{
	const struct api_user *u = user_find(a, name);
	size_t i;
	json_t *v;

	if (!u)
		return false;
	if (in_group(u, AUTH_ADMIN_GROUP))
		return true;
	json_array_foreach(u->groups, i, v) {
		json_t *g = json_object_get(a->user_groups, json_string_value(v));

		if (json_is_true(json_object_get(json_object_get(g, "permissions"), permission)))
			return true;
	}
	return false;
}

const json_t *auth_user_groups(struct auth *a, const char *name)
{
	const struct api_user *u = user_find(a, name);

	return u ? u->groups : NULL;
}

json_t *auth_user_groups_json(struct auth *a)
{
	json_t *arr = json_array();
	const char *k;
	json_t *v;

	json_object_foreach(a->user_groups, k, v)
		json_array_append_new(arr, json_pack("{s:s, s:O}", "name", k, "permissions",
						     json_object_get(v, "permissions")));
	return arr;
}

int auth_user_group_put(struct auth *a, const char *name, const json_t *permissions)
{
	json_t *rec = json_pack("{s:O}", "permissions", permissions);

	json_object_set(a->user_groups, name, rec);
	kv_persist(a, "user_groups", name, rec);
	return 0;
}

int auth_user_group_delete(struct auth *a, const char *name)
{
	if (!json_object_get(a->user_groups, name))
		return TE_NOTFOUND;
	json_object_del(a->user_groups, name);
	kv_persist(a, "user_groups", name, NULL);
	return 0;
}

static void user_load_cb(void *ud, const char *id, json_t *rec)
{
	struct auth *a = ud;
	const char *hash = json_string_value(json_object_get(rec, "hash"));
	struct api_user *nu;

	if (!hash || user_find(a, id))
		return; /* the configuration wins */
	nu = realloc(a->users, (a->nusers + 1) * sizeof *nu);
	if (!nu)
		return;
	a->users = nu;
	nu = &a->users[a->nusers];
	memset(nu, 0, sizeof *nu);
	nu->name = strdup(id);
	util_strlcpy(nu->hash, hash, sizeof nu->hash);
	nu->groups = json_is_array(json_object_get(rec, "groups")) ?
			     json_deep_copy(json_object_get(rec, "groups")) : json_array();
	nu->locked = json_is_true(json_object_get(rec, "locked"));
	if (nu->name)
		a->nusers++;
}

static void user_group_load_cb(void *ud, const char *id, json_t *rec)
{
	struct auth *a = ud;

	json_object_set(a->user_groups, id, rec);
}

struct hash_job {
	uv_work_t work;
	char *password;
	char *hash;
	void (*cb)(void *ud, const char *hash);
	void *ud;
};

static void hash_work(uv_work_t *w)
{
	struct hash_job *j = w->data;

	j->hash = auth_hash_password(j->password);
}

static void hash_done(uv_work_t *w, int status)
{
	struct hash_job *j = w->data;

	(void)status;
	j->cb(j->ud, j->hash);
	sodium_memzero(j->password, strlen(j->password));
	free(j->password);
	free(j->hash);
	free(j);
}

void auth_hash_async(struct auth *a, const char *password,
		     void (*cb)(void *ud, const char *hash), void *ud)
{
	struct hash_job *j = calloc(1, sizeof *j);

	if (!j || !(j->password = strdup(password))) {
		free(j);
		cb(ud, NULL);
		return;
	}
	j->cb = cb;
	j->ud = ud;
	j->work.data = j;
	if (uv_queue_work(a->loop, &j->work, hash_work, hash_done)) {
		j->hash = NULL;
		hash_done(&j->work, 0);
	}
}
