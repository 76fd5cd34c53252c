/* credentials: agents' client credentials (client auth id and password),
 * kept as salted keyed BLAKE2b digests and compared in constant time;
 * from the configuration, server.auth_file, or managed through the API
 * and stored. */
#include "auth/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>
#include <uthash.h>

#include "auth/auth_priv.h"
#include "store/store.h"
#include "util.h"

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

static void cred_free(struct agent_cred *c)
{
	if (!c)
		return;
	free(c->id);
	free(c);
}

void auth_creds_free(struct auth *a)
{
	struct agent_cred *c, *ctmp;

	HASH_ITER(hh, a->creds, c, ctmp) {
		HASH_DEL(a->creds, c);
		cred_free(c);
	}
}

/* A new credential with a fresh salt, not yet in the table; NULL when out
 * of memory. */
static struct agent_cred *cred_new(const char *id, const char *password)
{
	struct agent_cred *c = calloc(1, sizeof *c);

	if (!c || !(c->id = strdup(id))) {
		free(c);
		return NULL;
	}
	randombytes_buf(c->salt, sizeof c->salt);
	cred_digest(c->salt, id, password, c->digest);
	return c;
}

int auth_cred_add_config(struct auth *a, const char *id, const char *password,
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
	c = cred_new(id, password);
	if (!c)
		return -1;
	c->from_config = true;
	HASH_ADD_KEYPTR(hh, a->creds, c->id, strlen(c->id), c);
	return 0;
}

/* server.auth_file: a JSON object {"id": "password", ...} as rport's. */
int auth_cred_file_load(struct auth *a, const char *path, char *err, size_t errlen)
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
		if (!json_is_string(v) ||
		    auth_cred_add_config(a, k, json_string_value(v), err, errlen)) {
			if (!err[0])
				snprintf(err, errlen, "server.auth_file %s: bad entry '%s'", path, k);
			json_decref(root);
			return -1;
		}
	}
	json_decref(root);
	return 0;
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
		cred_free(c);
		return;
	}
	HASH_ADD_KEYPTR(hh, a->creds, c->id, strlen(c->id), c);
}

void auth_creds_load(struct auth *a)
{
	store_cred_each(a->store, cred_load_cb, a);
}

bool auth_agent_cred_exists(const struct auth *a, const char *id)
{
	struct agent_cred *c;

	HASH_FIND_STR(a->creds, id, c);
	return c != NULL;
}

int auth_cred_add(struct auth *a, const char *id, const char *password)
{
	struct agent_cred *c;
	char salt_hex[33], dig_hex[2 * DIGEST_LEN + 1];

	HASH_FIND_STR(a->creds, id, c);
	if (c)
		return TE_EXISTS;
	c = cred_new(id, password);
	if (!c)
		return TE_NOMEM;
	sodium_bin2hex(salt_hex, sizeof salt_hex, c->salt, sizeof c->salt);
	sodium_bin2hex(dig_hex, sizeof dig_hex, c->digest, DIGEST_LEN);
	if (auth_store_write(a, AUTH_REC_CRED, id,
			     json_pack("{s:s, s:s}", "salt", salt_hex, "digest", dig_hex))) {
		cred_free(c);
		return TE_NOMEM;
	}
	HASH_ADD_KEYPTR(hh, a->creds, c->id, strlen(c->id), c);
	return 0;
}

int auth_cred_delete(struct auth *a, const char *id)
{
	struct agent_cred *c;

	HASH_FIND_STR(a->creds, id, c);
	if (!c)
		return TE_NOTFOUND;
	if (c->from_config)
		return TE_STATE;
	HASH_DEL(a->creds, c);
	cred_free(c);
	return auth_store_write(a, AUTH_REC_CRED, id, NULL);
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
