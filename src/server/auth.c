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
	unsigned char digest[DIGEST_LEN];
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
	digest_of(a, id, password, c->digest);
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
	sodium_memzero(a->key, sizeof a->key);
	free(a);
}

bool auth_agent_check(const struct auth *a, const char *id, const char *password)
{
	struct agent_cred *c;
	unsigned char d[DIGEST_LEN];

	HASH_FIND_STR(a->creds, id, c);
	digest_of(a, id, password, d);
	if (!c)
		return false;
	return sodium_memcmp(d, c->digest, DIGEST_LEN) == 0;
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

	if (j->user >= 0)
		j->ok = crypto_pwhash_str_verify(j->a->users[j->user].hash, j->password,
						 strlen(j->password)) == 0;
	else
		j->ok = false;
}

static void verify_done(uv_work_t *w, int status)
{
	struct verify_job *j = w->data;
	struct cache_entry *e = j->entry;
	struct auth *a = j->a;
	struct waiter *wt, *next;
	const char *user = NULL;

	(void)status;
	e->pending = false;
	if (j->ok) {
		e->user = j->user;
		e->expires = util_mono_ms() + AUTH_CACHE_TTL_MS;
		user = a->users[j->user].name;
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

void auth_api_check(struct auth *a, const char *authorization, auth_cb cb, void *ud)
{
	unsigned char raw[AUTH_MAX_HEADER];
	unsigned char key[DIGEST_LEN];
	size_t rawlen = 0;
	const char *b64;
	char *colon;
	struct cache_entry *e;
	struct waiter *wt;
	struct verify_job *j;
	int user = -1;

	if (!authorization || strncasecmp(authorization, "Basic ", 6)) {
		cb(ud, NULL);
		return;
	}
	b64 = authorization + 6;
	while (*b64 == ' ')
		b64++;
	if (sodium_base642bin(raw, sizeof raw - 1, b64, strlen(b64), NULL, &rawlen,
			      NULL, sodium_base64_VARIANT_ORIGINAL)) {
		cb(ud, NULL);
		return;
	}
	raw[rawlen] = '\0';
	if (memchr(raw, '\0', rawlen) || !(colon = strchr((char *)raw, ':'))) {
		cb(ud, NULL);
		return;
	}
	*colon = '\0';
	digest_of(a, (char *)raw, colon + 1, key);
	HASH_FIND(hh, a->cache, key, DIGEST_LEN, e);
	if (e && !e->pending) {
		if (e->expires >= util_mono_ms()) {
			sodium_memzero(raw, rawlen);
			cb(ud, a->users[e->user].name);
			return;
		}
		HASH_DEL(a->cache, e);
		free(e);
		a->ncache--;
		e = NULL;
	}
	wt = calloc(1, sizeof *wt);
	if (!wt) {
		sodium_memzero(raw, rawlen);
		cb(ud, NULL);
		return;
	}
	wt->cb = cb;
	wt->ud = ud;
	if (e) {
		/* Same credentials already being verified: wait for that. */
		wt->next = e->waiters;
		e->waiters = wt;
		sodium_memzero(raw, rawlen);
		return;
	}
	for (size_t i = 0; i < a->nusers; i++)
		if (!strcmp(a->users[i].name, (char *)raw))
			user = (int)i;
	if (a->ncache >= AUTH_CACHE_MAX)
		cache_evict(a);
	e = calloc(1, sizeof *e);
	j = calloc(1, sizeof *j);
	if (!e || !j || !(j->password = strdup(colon + 1))) {
		free(e);
		free(j);
		free(wt);
		sodium_memzero(raw, rawlen);
		cb(ud, NULL);
		return;
	}
	sodium_memzero(raw, rawlen);
	memcpy(e->key, key, DIGEST_LEN);
	e->pending = true;
	e->user = -1;
	e->waiters = wt;
	HASH_ADD(hh, a->cache, key, DIGEST_LEN, e);
	a->ncache++;
	j->a = a;
	j->entry = e;
	j->user = user;
	j->work.data = j;
	/* An unknown user still costs a hash-sized delay? No: verify_work skips
	 * it; the timing difference is hidden by the brute-force delay. */
	if (uv_queue_work(a->loop, &j->work, verify_work, verify_done)) {
		log_error("auth: cannot queue password verification");
		j->ok = false;
		verify_done(&j->work, 0);
	}
}
