/* auth: API users (argon2id hashes, verified off the loop) and agent
 * credentials (keyed BLAKE2b digests, compared in constant time). */
#ifndef TETHER_AUTH_H
#define TETHER_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "config.h"

struct auth;

/* Builds the user and credential tables from the configuration. A plain
 * password in the configuration is hashed here and the plain copy wiped.
 * Returns 0 or -1 with err. */
int auth_create(uv_loop_t *loop, struct server_config *cfg, struct auth **out,
		char *err, size_t errlen);
void auth_destroy(struct auth *a);

/* Result of an API credential check: user is the authenticated name, or
 * NULL when refused. The string is valid during the callback only. */
typedef void (*auth_cb)(void *ud, const char *user);

/* Checks an HTTP Authorization header value (Basic). Calls cb exactly once,
 * at once on a cache hit or a malformed header, otherwise from the loop
 * after the hash was verified on a worker thread. */
void auth_api_check(struct auth *a, const char *authorization, auth_cb cb, void *ud);

/* Checks an agent's client auth id and password. Fast; constant time in the
 * password. */
bool auth_agent_check(const struct auth *a, const char *id, const char *password);

/* Hashes a password as argon2id (for api.auth_file). Returns a malloc'd
 * "$argon2id$..." string or NULL. Slow: not for the loop. */
char *auth_hash_password(const char *password);

#endif
