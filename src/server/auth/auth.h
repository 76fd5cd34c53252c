/* auth: API users (argon2id hashes, verified off the loop) and agent
 * credentials (keyed BLAKE2b digests, compared in constant time). */
#ifndef TETHER_AUTH_H
#define TETHER_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#include "config.h"

struct auth;

/* Builds the user and credential tables from the configuration. A plain
 * password in the configuration is hashed here and the plain copy wiped.
 * Returns 0 or -1 with err. */
int auth_create(uv_loop_t *loop, struct server_config *cfg, struct auth **out,
		char *err, size_t errlen);
void auth_destroy(struct auth *a);
/* SIGHUP: the users and client credentials of cfg (api.user, api.auth_file,
 * server.auth, server.auth_file, shared_client_auth) replace those a had
 * from the configuration; what the API made stays. The ids of credentials
 * that are gone are appended to removed (may be NULL). Returns 0, or -1
 * with err (nothing changed: a file does not load, or a name is taken by
 * the API). */
int auth_reload(struct auth *a, struct server_config *cfg, json_t *removed, char *err,
		size_t errlen);

/* AUTH_SCOPE_METRICS: an API token for GET /metrics only; auth_api_check
 * refuses it everywhere else. */
enum auth_scope { AUTH_SCOPE_READ_WRITE = 0, AUTH_SCOPE_READ = 1, AUTH_SCOPE_METRICS = 2 };
const char *auth_scope_name(enum auth_scope s);   /* "read+write", "read", "metrics" */

/* Members of this user group may do everything. */
#define AUTH_ADMIN_GROUP "Administrators"


/* Who made a request, and with what. */
struct auth_identity {
	char user[128];
	enum auth_scope scope;
	bool session_token;              /* a bearer token from /login */
	bool api_token;                  /* an API token from /me/tokens */
	unsigned char token_hash[32];    /* of the token used, if any */
	int64_t token_expires_at;        /* ns, 0: never (or no token) */
};

/* Result of a credential check: id, or NULL when refused. Valid during the
 * callback only. */
typedef void (*auth_cb)(void *ud, const struct auth_identity *id);

struct store;
/* Loads the stored tokens; tokens are saved through the store's queue. */
void auth_attach_store(struct auth *a, struct store *st);

/* Checks a request's credentials: an Authorization header (Basic with a
 * password or an API token as the password, or Bearer with a login
 * token), or an access_token query value (WebSocket routes). Calls cb
 * exactly once: at once for tokens, cache hits and malformed input,
 * otherwise from the loop after the password hash was verified on a
 * worker thread. */
/* As auth_api_check, for /metrics: also accepts tokens of scope metrics. */
void auth_metrics_check(struct auth *a, const char *authorization, auth_cb cb, void *ud);
void auth_api_check(struct auth *a, const char *authorization, const char *access_token,
		    auth_cb cb, void *ud);
/* Checks a user name and password (POST /login with a JSON body). */
void auth_password_check(struct auth *a, const char *user, const char *password,
			 auth_cb cb, void *ud);

/* Issues a token. kind "session" (login, lifetime_sec > 0) or "api"
 * (lifetime_sec 0: no expiry). Returns the token text (malloc'd, shown
 * once) and sets *info (prefix, name, scope, created_at, expires_at). */
char *auth_token_issue(struct auth *a, const char *user, const char *kind,
		       enum auth_scope scope, const char *name, int64_t lifetime_sec,
		       json_t **info);
/* True while the token with this hash exists and has not expired. */
bool auth_token_valid(struct auth *a, const unsigned char hash[32]);
/* Revokes the token with this hash (logout). Returns 0 or TE_NOTFOUND. */
int auth_token_revoke_hash(struct auth *a, const unsigned char hash[32]);
/* Revokes a user's API token by prefix. Returns 0 or TE_NOTFOUND. */
int auth_token_revoke_prefix(struct auth *a, const char *user, const char *prefix);
/* The user's API tokens, without secrets (new reference). */
json_t *auth_tokens_of(struct auth *a, const char *user);
/* API keys (Authorization: ApiKey base64(id:key), as Elastic's): issue
 * returns the key (malloc'd, shown once; its hash is stored) and sets
 * *info (prefix = the key's id, name...). of lists a user's keys (all
 * users' when user is NULL) as [{id, name, username, creation (ms)}].
 * revoke: 0 or TE_NOTFOUND (user NULL: any user's key). */
char *auth_apikey_issue(struct auth *a, const char *user, const char *name, json_t **info);
json_t *auth_apikeys_of(struct auth *a, const char *user);
int auth_apikey_revoke(struct auth *a, const char *user, const char *id);
/* True if the user already has an API token with this name. */
bool auth_token_name_taken(struct auth *a, const char *user, const char *name);

/* Checks an agent's client auth id and password. Fast; constant time in the
 * password. */
bool auth_agent_check(const struct auth *a, const char *id, const char *password);
/* May an agent that logged in with client auth id auth_id be client
 * client_id? A credential is bound to the client of the same id, as in
 * rport; one listed in [server] shared_client_auth serves any id. */
bool auth_agent_id_allowed(const struct auth *a, const char *auth_id, const char *client_id);
/* True if the credential id is listed in [server] shared_client_auth. */
bool auth_cred_shared(const struct auth *a, const char *id);

/* The user name whose password a Basic Authorization value tries, or ""
 * (no Basic value, or its password has the form of an API token: that is
 * checked as a token only, no password guess). For the brute-force guard
 * and the audit log. */
void auth_basic_user(const char *authorization, char *out, size_t outlen);

/* Client credentials managed through /clients-auth (stored salted and
 * hashed). add: 0 or TE_EXISTS; delete: 0, TE_NOTFOUND, or TE_STATE for a
 * credential from the configuration file. */
int auth_cred_add(struct auth *a, const char *id, const char *password);
int auth_cred_delete(struct auth *a, const char *id);
json_t *auth_creds_list(struct auth *a);   /* [{id, source, shared}] */

/* ---- users and user groups (API-managed, stored) ---- */
json_t *auth_users_json(struct auth *a);          /* [{username, groups, locked, source}] */
bool auth_user_exists(struct auth *a, const char *name);
/* Creates or changes a user. hash: an argon2id hash or NULL to keep;
 * groups: NULL to keep; locked: -1 to keep. create: must not exist yet.
 * Returns 0, TE_EXISTS, TE_NOTFOUND, or TE_STATE for a configuration user. */
int auth_user_set(struct auth *a, const char *name, const char *hash, const json_t *groups,
		  int locked, bool create);
int auth_user_delete(struct auth *a, const char *name);
bool auth_user_is_admin(struct auth *a, const char *name);
/* permission: "commands" or "scripts". Administrators have all. */
bool auth_user_may(struct auth *a, const char *name, const char *permission);
/* The user's group names (borrowed), or NULL. */
const json_t *auth_user_groups(struct auth *a, const char *name);
json_t *auth_user_groups_json(struct auth *a);
int auth_user_group_put(struct auth *a, const char *name, const json_t *permissions);
int auth_user_group_delete(struct auth *a, const char *name);
/* Hashes a password on a worker thread; cb gets the hash or NULL. */
void auth_hash_async(struct auth *a, const char *password,
		     void (*cb)(void *ud, const char *hash), void *ud);

/* Hashes a password as argon2id (for api.auth_file). Returns a malloc'd
 * "$argon2id$..." string or NULL. Slow: not for the loop. */
char *auth_hash_password(const char *password);

/* ---- enrollment codes (enroll.c) ---- */
struct enroll_spec {
	const char *created_by;
	int64_t expires_in_sec;
	int64_t max_uses;          /* 0: no limit */
	const char *id_pattern;    /* NULL: any id; else matched whole (PCRE2) */
	const json_t *tags;        /* array of strings, or NULL */
	const json_t *labels;      /* object of strings, or NULL */
};
enum enroll_result {
	ENROLL_OK = 0,
	ENROLL_BAD_CODE,           /* unknown id or wrong secret */
	ENROLL_REVOKED,
	ENROLL_EXPIRED,
	ENROLL_USED_UP,
	ENROLL_BAD_ID,
	ENROLL_ID_NOT_ALLOWED,
	ENROLL_ID_TAKEN,
	ENROLL_FAILED,
};
/* 0, or -1 with err set: the pattern does not compile or is too long. */
int auth_enroll_check_pattern(const char *pattern, char *err, size_t errlen);
/* Creates a code: *code is "<id>.<secret>" (malloc'd; shown once), *shown
 * the record as the API shows it. Returns 0 or TE_NOMEM. */
int auth_enroll_create(struct auth *a, const struct enroll_spec *spec, char **code,
		       json_t **shown);
json_t *auth_enroll_list(struct auth *a);             /* records, without digests */
int auth_enroll_revoke(struct auth *a, const char *id); /* 0 or TE_NOTFOUND */
/* An agent proves code for client_id: on ENROLL_OK a credential
 * (client_id, password) exists and the use is counted. *rec is the code's
 * record (borrowed) when the code is known, else NULL. */
enum enroll_result auth_enroll_use(struct auth *a, const char *code, const char *client_id,
				   char *password, size_t pwlen, json_t **rec);
const char *auth_enroll_result_text(enum enroll_result r);
/* Has any credential this id? */
bool auth_agent_cred_exists(const struct auth *a, const char *id);

#endif
