/* guard: brute-force limits for password logins, as rport's: a delay per
 * name after a failure (429), and a ban after max_failed_login consecutive
 * failures, per address and per name, for ban_time (423). Used for API
 * logins (names are user names) and agent logins (names are client auth
 * ids; bans by address only there, see guard_set_scope).
 *
 * The limits are for password guesses. A request that tries no password
 * (a login token or an API token: 256 random bits, nothing to guess) is
 * checked with name NULL and is never refused here, so a ban on a shared
 * address or on a user name does not lock out the holders of valid tokens.
 *
 * Bans live in memory, as in rport; they end by themselves at ban_time and
 * an administrator can lift them earlier (GET/DELETE /api/v1/bans). */
#ifndef TETHER_GUARD_H
#define TETHER_GUARD_H

#include <stdbool.h>
#include <stdint.h>

struct guard;

enum guard_verdict { GUARD_OK = 0, GUARD_WAIT = 429, GUARD_BANNED = 423 };

enum guard_kind { GUARD_ADDRESS = 0, GUARD_NAME = 1 };

/* max_failed: consecutive failures that ban an address or a name (0: no
 * bans); ban_ms: how long; user_wait_ms: the delay per name after each
 * failure. Returns NULL when out of memory. */
struct guard *guard_create(int max_failed, int64_t ban_ms, int64_t user_wait_ms);
/* Frees the guard; NULL is a no-op. */
void guard_destroy(struct guard *g);
/* label names the listener in log lines (default "api"; borrowed, must
 * outlive the guard). ban_names false: names only get the delay, never a
 * ban (the agent listener: a ban per client auth id would let anyone who
 * knows an id keep its agents from reconnecting). */
void guard_set_scope(struct guard *g, const char *label, bool ban_names);
/* May a password for name be tried from ip now? name NULL: no password is
 * tried (a token), never refused. GUARD_BANNED if the address or the name
 * is banned, GUARD_WAIT if the name failed less than user_wait ago. */
enum guard_verdict guard_check(struct guard *g, const char *ip, const char *name);
/* guard_check with the decision every login path makes on it: GUARD_OK,
 * or the refusal, whose value is also the HTTP status to answer (423 or
 * 429); then *why (if why is not NULL) is set to its words, as rport's
 * (static strings), for a dialect's error or an agent's close reason. */
enum guard_verdict guard_admit(struct guard *g, const char *ip, const char *name,
			       const char **why);
/* A password for name (NULL: a bad token) from ip was wrong. */
void guard_failed(struct guard *g, const char *ip, const char *name);
/* A login as name from ip succeeded: the consecutive failures of both are
 * forgotten. An active ban stays (a success through a token proves nothing
 * about the guesses). */
void guard_succeeded(struct guard *g, const char *ip, const char *name);

/* Calls cb for each active ban: its kind, key (address or name), the
 * failures counted, and the wall-clock time it ends (ns since the epoch). */
typedef void (*guard_ban_cb)(void *ud, enum guard_kind kind, const char *key, int failures,
			     int64_t until_ns);
void guard_each_ban(struct guard *g, guard_ban_cb cb, void *ud);
/* The number of active bans (metrics' gauge: the double is the type a
 * metrics_gauge_fn returns; g is the struct guard). */
double guard_ban_count(void *g);
/* Lifts an active ban and forgets its failures. Returns 0 or TE_NOTFOUND
 * (no active ban of that kind and key). */
int guard_lift(struct guard *g, enum guard_kind kind, const char *key);

/* Tests only: with TETHER_TEST_CLOCK_FILE set when the guard is created,
 * the guard's clock runs ahead by the number of seconds written in that
 * file (read at each use), so that a test sees a ban end without waiting
 * for it. Unset, the guard reads the monotonic clock only. */
#define GUARD_TEST_CLOCK_ENV "TETHER_TEST_CLOCK_FILE"

#endif
