/* guard: brute-force limits for logins, as rport's: a delay per user name
 * after a failure (429) and a ban per IP address after max_failed_login
 * failures (423). Used for API logins and agent logins. */
#ifndef TETHER_GUARD_H
#define TETHER_GUARD_H

#include <stdint.h>

struct guard;

enum guard_verdict { GUARD_OK = 0, GUARD_WAIT = 429, GUARD_BANNED = 423 };

struct guard *guard_create(int max_failed, int64_t ban_ms, int64_t user_wait_ms);
void guard_destroy(struct guard *g);
/* May this address try these credentials now? name may be NULL. */
enum guard_verdict guard_check(struct guard *g, const char *ip, const char *name);
void guard_failed(struct guard *g, const char *ip, const char *name);
void guard_succeeded(struct guard *g, const char *ip, const char *name);

#endif
