/* auth_priv: what the files of auth/ share (auth.c: the tables' life and
 * their writes to the store; passwords.c; tokens.c; users.c;
 * credentials.c). Not for use outside auth/. */
#ifndef TETHER_AUTH_PRIV_H
#define TETHER_AUTH_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <sodium.h>
#include <uthash.h>
#include <uv.h>

#include "auth/auth.h"

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
	json_t *enroll_codes;  /* id -> record (enroll.c) */
};

/* ---- auth.c: writes to the store ---- */

/* What a stored record is; each kind has its own store table. */
enum auth_record {
	AUTH_REC_TOKEN = 0,    /* id: the token's hash in hex */
	AUTH_REC_CRED,         /* id: the client auth id */
	AUTH_REC_USER,         /* id: the user name */
	AUTH_REC_USER_GROUP,   /* id: the user group name */
	AUTH_REC_ENROLL,       /* id: the enrollment code's id */
};

/* Queues the write of record rec (NULL: the deletion) of the given kind
 * on the store's group commit; a failed commit is logged. Takes ownership
 * of rec in every case. Without a store (tests) nothing is written.
 * Returns 0, or TE_NOMEM (nothing queued). */
int auth_store_write(struct auth *a, enum auth_record kind, const char *id, json_t *rec);

/* ---- passwords.c: forgets every finished verification (a reload may
 * have changed passwords); checks in flight stay. ---- */
void auth_cache_drop_verified(struct auth *a);

/* ---- enroll.c ---- */
void auth_enroll_load(struct auth *a);

/* ---- passwords.c ---- */

/* Forgets every finished cached verification (a user changed). */
void auth_cache_flush(struct auth *a);
/* Frees the verification cache (auth_destroy); pending entries belong to
 * their worker job. */
void auth_cache_free(struct auth *a);

/* ---- tokens.c ---- */

/* Loads the stored tokens (auth_attach_store). */
void auth_tokens_load(struct auth *a);
/* Removes the token from the table and the store, and frees it. */
void auth_token_drop(struct auth *a, struct token *t);
/* Frees every token, storing nothing (auth_destroy). */
void auth_tokens_free(struct auth *a);

/* ---- users.c ---- */

/* The user of this name, or NULL. */
struct api_user *auth_user_find(const struct auth *a, const char *name);
/* True if the user exists and is not locked. */
bool auth_user_active(const struct auth *a, const char *name);
/* Adds a user from the configuration (an administrator). hash must be an
 * argon2 hash. Returns 0 or -1 with err (err empty: out of memory). */
int auth_user_add_config(struct auth *a, const char *name, const char *hash,
			 char *err, size_t errlen);
/* Reads api.auth_file ("user:hash" lines). Returns 0 or -1 with err. */
int auth_user_file_load(struct auth *a, const char *path, char *err, size_t errlen);
/* Loads the stored users and user groups (auth_attach_store). */
void auth_users_load(struct auth *a);
/* Frees the users (auth_destroy). */
void auth_users_free(struct auth *a);

/* ---- credentials.c ---- */

/* Adds a client credential from the configuration. Returns 0 or -1 with
 * err (err empty: out of memory). */
int auth_cred_add_config(struct auth *a, const char *id, const char *password,
			 char *err, size_t errlen);
/* Reads server.auth_file ({"id": "password", ...}). Returns 0 or -1 with
 * err. */
int auth_cred_file_load(struct auth *a, const char *path, char *err, size_t errlen);
/* Loads the stored client credentials (auth_attach_store). */
void auth_creds_load(struct auth *a);
/* Frees the credentials (auth_destroy). */
void auth_creds_free(struct auth *a);

#endif
