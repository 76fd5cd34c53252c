/* auth: the tables' life (creation from the configuration, loading from
 * the store, destruction) and the one path by which a change to them is
 * written to the store. Passwords, tokens, users and client credentials
 * have a file each (auth_priv.h). */
#include "auth/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>
#include <uthash.h>

#include "auth/auth_priv.h"
#include "log.h"
#include "store/store.h"
#include "util.h"

/* ---- writes to the store ---------------------------------------------- */

struct auth_write {
	enum auth_record kind;
	char id[160];
	json_t *rec;   /* NULL: delete */
};

/* Per record kind: the words of the log line when its write failed, and
 * the key-value table it lives in (NULL: a table of its own). */
static const struct {
	const char *what;
	const char *kv_table;
} records[] = {
	[AUTH_REC_TOKEN] = { "a token change", NULL },
	[AUTH_REC_CRED] = { "a client credential change", NULL },
	[AUTH_REC_USER] = { "a change to users", "users" },
	[AUTH_REC_USER_GROUP] = { "a change to user_groups", "user_groups" },
	[AUTH_REC_ENROLL] = { "a change to enrollment codes", "enroll_codes" },
};

static int write_apply(struct store *st, void *arg)
{
	struct auth_write *w = arg;

	switch (w->kind) {
	case AUTH_REC_TOKEN:
		return w->rec ? store_token_put(st, w->id, w->rec) : store_token_delete(st, w->id);
	case AUTH_REC_CRED:
		return w->rec ? store_cred_put(st, w->id, w->rec) : store_cred_delete(st, w->id);
	case AUTH_REC_USER:
	case AUTH_REC_USER_GROUP:
	case AUTH_REC_ENROLL:
		break;
	}
	return w->rec ? store_kv_put(st, records[w->kind].kv_table, w->id, w->rec) :
			store_kv_delete(st, records[w->kind].kv_table, w->id);
}

static void write_after(void *arg, int rc)
{
	struct auth_write *w = arg;

	if (rc)
		log_error("auth: %s could not be stored (%d)", records[w->kind].what, rc);
	json_decref(w->rec);
	free(w);
}

int auth_store_write(struct auth *a, enum auth_record kind, const char *id, json_t *rec)
{
	struct auth_write *w;

	if (!a->store) {
		json_decref(rec);
		return 0;
	}
	w = calloc(1, sizeof *w);
	if (!w) {
		json_decref(rec);
		return TE_NOMEM;
	}
	w->kind = kind;
	util_strlcpy(w->id, id, sizeof w->id);
	w->rec = rec;
	store_queue(a->store, write_apply, write_after, w);
	return 0;
}

/* ---- life ---------------------------------------------------------------- */

/* The configuration's API user ([api] user and password): a plain
 * password is hashed here and the plain copy wiped. */
static int config_user_add(struct auth *a, struct server_config *cfg, char *err, size_t errlen)
{
	char *h;

	if (!strncmp(cfg->api_password, "$argon2", 7))
		h = strdup(cfg->api_password);
	else
		h = auth_hash_password(cfg->api_password);
	sodium_memzero(cfg->api_password, sizeof cfg->api_password);
	if (!h || auth_user_add_config(a, cfg->api_user, h, err, errlen)) {
		free(h);
		return -1;
	}
	free(h);
	return 0;
}

/* The configuration's client credential ([server] auth "id:password"):
 * the password is wiped once its digest is made. */
static int config_cred_add(struct auth *a, struct server_config *cfg, char *err, size_t errlen)
{
	char *colon = strchr(cfg->agent_auth, ':');

	*colon = '\0';
	if (auth_cred_add_config(a, cfg->agent_auth, colon + 1, err, errlen))
		return -1;
	sodium_memzero(colon + 1, strlen(colon + 1));
	*colon = ':';
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
	a->enroll_codes = json_object();
	crypto_generichash_keygen(a->key);
	{
		char *d = auth_hash_password("not a password: timing equaliser");

		if (d) {
			util_strlcpy(a->dummy_hash, d, sizeof a->dummy_hash);
			free(d);
		}
	}
	if (cfg->api_user[0] && cfg->api_password[0] && config_user_add(a, cfg, err, errlen))
		goto fail;
	if (cfg->api_auth_file[0] && auth_user_file_load(a, cfg->api_auth_file, err, errlen))
		goto fail;
	if (cfg->agent_auth[0] && config_cred_add(a, cfg, err, errlen))
		goto fail;
	if (cfg->agent_auth_file[0] && auth_cred_file_load(a, cfg->agent_auth_file, err, errlen))
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
	if (!a)
		return;
	auth_users_free(a);
	json_decref(a->user_groups);
	json_decref(a->enroll_codes);
	auth_creds_free(a);
	auth_cache_free(a);
	auth_tokens_free(a);
	sodium_memzero(a->key, sizeof a->key);
	free(a->shared_creds);
	free(a);
}

void auth_attach_store(struct auth *a, struct store *st)
{
	a->store = st;
	auth_tokens_load(a);
	auth_creds_load(a);
	auth_users_load(a);
	auth_enroll_load(a);
}

/* ---- reload (SIGHUP) ------------------------------------------------------ */

static bool user_named(const struct auth *a, const char *name, bool from_config)
{
	for (size_t i = 0; i < a->nusers; i++)
		if (a->users[i].from_config == from_config && !strcmp(a->users[i].name, name))
			return true;
	return false;
}

/* Checks that nothing of fresh clashes with what the API made in a. */
static int reload_clashes(const struct auth *a, const struct auth *fresh, char *err,
			  size_t errlen)
{
	struct agent_cred *c, *tmp;

	for (size_t i = 0; i < fresh->nusers; i++)
		if (user_named(a, fresh->users[i].name, false)) {
			snprintf(err, errlen, "user '%.64s' exists through the API already",
				 fresh->users[i].name);
			return -1;
		}
	HASH_ITER(hh, fresh->creds, c, tmp) {
		struct agent_cred *old;

		HASH_FIND_STR(a->creds, c->id, old);
		if (old && !old->from_config) {
			snprintf(err, errlen, "client credential '%.64s' exists through the API already",
				 c->id);
			return -1;
		}
	}
	return 0;
}

int auth_reload(struct auth *a, struct server_config *cfg, json_t *removed, char *err,
		size_t errlen)
{
	struct auth *fresh = NULL;
	struct api_user *nu;
	struct agent_cred *c, *tmp;
	size_t n = 0;
	char *shared;

	if (auth_create(a->loop, cfg, &fresh, err, errlen))
		return -1;
	if (reload_clashes(a, fresh, err, errlen)) {
		auth_destroy(fresh);
		return -1;
	}
	nu = calloc(a->nusers + fresh->nusers + 1, sizeof *nu);
	shared = strdup(fresh->shared_creds);
	if (!nu || !shared) {
		free(nu);
		free(shared);
		auth_destroy(fresh);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* Users: the file's, then the API's as they were. */
	for (size_t i = 0; i < fresh->nusers; i++)
		nu[n++] = fresh->users[i];
	for (size_t i = 0; i < a->nusers; i++) {
		if (a->users[i].from_config) {
			free(a->users[i].name);
			json_decref(a->users[i].groups);
		} else {
			nu[n++] = a->users[i];
		}
	}
	free(a->users);
	a->users = nu;
	a->nusers = n;
	free(fresh->users);
	fresh->users = NULL;
	fresh->nusers = 0;
	/* Credentials: the configuration's are replaced; ids no longer there
	 * are reported, for their agents to be cut off. */
	HASH_ITER(hh, a->creds, c, tmp) {
		struct agent_cred *keep;

		if (!c->from_config)
			continue;
		HASH_FIND_STR(fresh->creds, c->id, keep);
		if (!keep && removed)
			json_array_append_new(removed, json_string(c->id));
		HASH_DEL(a->creds, c);
		free(c->id);
		free(c);
	}
	HASH_ITER(hh, fresh->creds, c, tmp) {
		HASH_DEL(fresh->creds, c);
		HASH_ADD_KEYPTR(hh, a->creds, c->id, strlen(c->id), c);
	}
	free(a->shared_creds);
	a->shared_creds = shared;
	auth_cache_drop_verified(a);
	auth_destroy(fresh);
	return 0;
}
