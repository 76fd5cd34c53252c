/* tat_keys: TAT key pairs (SecretId/SecretKey) bound to tether users.
 *
 * One pair may come from the configuration ([tat] secret_id, secret_key,
 * user); users create and delete their own through tether's API. A
 * TC3-HMAC-SHA256 signature is checked by recomputing it, so the server
 * needs the secret itself: a created secret is shown once and stored
 * sealed (libsodium's secretbox) with the server's key, 32 random bytes in
 * {data_dir}/tat.key (mode 0600, made at the first use). */
#ifndef TETHER_AUTH_TAT_KEYS_H
#define TETHER_AUTH_TAT_KEYS_H

#include <stddef.h>

struct server;

#define TAT_KEY_ID_LEN 37        /* "AKID" + 32 characters, and the NUL */
#define TAT_KEY_SECRET_LEN 33    /* 32 characters and the NUL */

/* The secret and user of secret_id, lent for the call (rc 0), or rc
 * TE_NOTFOUND / TE_IO with NULLs. */
typedef void (*tat_key_cb)(void *ud, int rc, const char *secret, const char *user);
void tat_key_lookup(struct server *srv, const char *secret_id, tat_key_cb cb, void *ud);

/* Creates a pair for user. cb gets the id and the secret (shown once) once
 * the pair is durable, or rc < 0 (TE_IO, TE_NOMEM) and NULLs. */
typedef void (*tat_key_made_cb)(void *ud, int rc, const char *secret_id, const char *secret);
void tat_key_create(struct server *srv, const char *user, tat_key_made_cb cb, void *ud);
/* Deletes user's pair (any user's when user is NULL); cb(ud, rc): 0 or
 * TE_NOTFOUND, once durable. */
void tat_key_delete(struct server *srv, const char *user, const char *secret_id,
		    void (*cb)(void *ud, int rc), void *ud);

#endif
