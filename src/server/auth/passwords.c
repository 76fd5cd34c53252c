/* passwords: argon2id hashing and verification of API users' passwords,
 * on a worker thread, with a cache of recent verifications. */
#include "auth/auth.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <uthash.h>

#include "auth/auth_priv.h"
#include "log.h"
#include "util.h"

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

/* ---- the cache of verifications ---------------------------------------- */

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

void auth_cache_flush(struct auth *a)
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

void auth_cache_free(struct auth *a)
{
	struct cache_entry *e, *etmp;

	HASH_ITER(hh, a->cache, e, etmp) {
		HASH_DEL(a->cache, e);
		/* Pending entries are owned by their worker job. */
		if (!e->pending)
			free(e);
	}
}

void auth_cache_drop_verified(struct auth *a)
{
	struct cache_entry *e, *etmp;

	HASH_ITER(hh, a->cache, e, etmp) {
		if (e->pending)
			continue;
		HASH_DEL(a->cache, e);
		a->ncache--;
		free(e);
	}
}

/* ---- verification on a worker ------------------------------------------ */

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
		const struct api_user *u = auth_user_find(a, j->user);

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

/* A live cached verification of these credentials answers at once: true
 * if cb was called. A stale one is dropped. *pending is set to the entry
 * of a verification in flight, or NULL. */
static bool cache_answer(struct auth *a, const unsigned char key[DIGEST_LEN], auth_cb cb,
			 void *ud, struct cache_entry **pending)
{
	struct cache_entry *e;

	HASH_FIND(hh, a->cache, key, DIGEST_LEN, e);
	*pending = e && e->pending ? e : NULL;
	if (!e || e->pending)
		return false;
	{
		const struct api_user *cu = auth_user_find(a, e->user);

		if (e->expires >= util_mono_ms() && cu && !cu->locked) {
			struct auth_identity id;

			memset(&id, 0, sizeof id);
			util_strlcpy(id.user, e->user, sizeof id.user);
			cb(ud, &id);
			return true;
		}
	}
	HASH_DEL(a->cache, e);
	free(e);
	a->ncache--;
	return false;
}

void auth_password_check(struct auth *a, const char *user, const char *password,
			 auth_cb cb, void *ud)
{
	unsigned char key[DIGEST_LEN];
	struct cache_entry *e;
	struct waiter *wt;
	struct verify_job *j;
	const struct api_user *u;

	digest_of(a, user, password, key);
	if (cache_answer(a, key, cb, ud, &e))
		return;
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
	u = auth_user_find(a, user);
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

/* ---- hashing on a worker ------------------------------------------------ */

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
