/* guard: failure counters and bans per address and per name, bounded in
 * size, on the guard's own clock (monotonic, plus a test offset). */
#include "auth/guard.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uthash.h>

#include "log.h"
#include "util.h"

/* Per table (addresses, names). */
#define GUARD_MAX_ENTRIES 100000

struct entry {
	char *key;
	int failures;                /* consecutive, or counted during the ban */
	uint64_t last_failure_ms;
	uint64_t banned_until_ms;    /* 0: not banned */
	UT_hash_handle hh;
};

struct table {
	struct entry *h;
	size_t n;
};

struct guard {
	int max_failed;
	int64_t ban_ms;
	int64_t user_wait_ms;
	bool ban_names;
	const char *label;
	char *clock_file;            /* tests: offset in seconds, see guard.h */
	struct table t[2];           /* by enum guard_kind */
};

struct guard *guard_create(int max_failed, int64_t ban_ms, int64_t user_wait_ms)
{
	struct guard *g = calloc(1, sizeof *g);
	const char *cf = getenv(GUARD_TEST_CLOCK_ENV);

	if (!g)
		return NULL;
	g->max_failed = max_failed;
	g->ban_ms = ban_ms;
	g->user_wait_ms = user_wait_ms;
	g->ban_names = true;
	g->label = "api";
	if (cf && *cf && !(g->clock_file = strdup(cf))) {
		free(g);
		return NULL;
	}
	return g;
}

void guard_set_scope(struct guard *g, const char *label, bool ban_names)
{
	g->label = label;
	g->ban_names = ban_names;
}

static void entry_free(struct table *t, struct entry *e)
{
	HASH_DEL(t->h, e);
	t->n--;
	free(e->key);
	free(e);
}

void guard_destroy(struct guard *g)
{
	if (!g)
		return;
	for (int k = 0; k < 2; k++) {
		struct entry *e, *tmp;

		HASH_ITER(hh, g->t[k].h, e, tmp)
			entry_free(&g->t[k], e);
	}
	free(g->clock_file);
	free(g);
}

/* The test clock file's seconds, as milliseconds. */
static uint64_t test_offset_ms(const char *path)
{
	return (uint64_t)util_test_clock_offset_sec(path) * 1000;
}

static uint64_t guard_now(const struct guard *g)
{
	uint64_t now = util_mono_ms();

	return g->clock_file ? now + test_offset_ms(g->clock_file) : now;
}

static bool banned(const struct entry *e, uint64_t now)
{
	return e && e->banned_until_ms > now;
}

/* An IPv4 peer on a dual-stack socket is shown and banned as IPv4, so
 * that "10.1.2.3" lifts what "::ffff:10.1.2.3" earned. */
static const char *norm_ip(const char *ip)
{
	if (ip && !strncmp(ip, "::ffff:", 7) && strchr(ip, '.'))
		return ip + 7;
	return ip;
}

/* Makes room in a full table: first entries that no longer matter, then,
 * if still full, any entry not banned (its count is lost; bans stay).
 * Returns true if there is room. */
static bool make_room(struct guard *g, struct table *t, uint64_t now)
{
	uint64_t keep = (uint64_t)(g->ban_ms > g->user_wait_ms ? g->ban_ms : g->user_wait_ms);
	struct entry *e, *tmp;

	HASH_ITER(hh, t->h, e, tmp)
		if (!banned(e, now) && now - e->last_failure_ms > keep)
			entry_free(t, e);
	if (t->n < GUARD_MAX_ENTRIES)
		return true;
	HASH_ITER(hh, t->h, e, tmp)
		if (!banned(e, now))
			entry_free(t, e);
	return t->n < GUARD_MAX_ENTRIES;
}

static struct entry *get(struct guard *g, enum guard_kind kind, const char *key, bool create,
			 uint64_t now)
{
	struct table *t = &g->t[kind];
	struct entry *e;

	HASH_FIND_STR(t->h, key, e);
	if (e || !create)
		return e;
	if (t->n >= GUARD_MAX_ENTRIES && !make_room(g, t, now))
		return NULL;
	e = calloc(1, sizeof *e);
	if (!e || !(e->key = strdup(key))) {
		free(e);
		return NULL;
	}
	HASH_ADD_KEYPTR(hh, t->h, e->key, strlen(e->key), e);
	t->n++;
	return e;
}

enum guard_verdict guard_check(struct guard *g, const char *ip, const char *name)
{
	uint64_t now;
	struct entry *e;

	if (!name)
		return GUARD_OK;
	now = guard_now(g);
	ip = norm_ip(ip);
	if (ip && banned(get(g, GUARD_ADDRESS, ip, false, now), now))
		return GUARD_BANNED;
	e = get(g, GUARD_NAME, name, false, now);
	if (banned(e, now))
		return GUARD_BANNED;
	if (e && e->failures && now - e->last_failure_ms < (uint64_t)g->user_wait_ms)
		return GUARD_WAIT;
	return GUARD_OK;
}

enum guard_verdict guard_admit(struct guard *g, const char *ip, const char *name,
			       const char **why)
{
	enum guard_verdict v = guard_check(g, ip, name);

	if (v != GUARD_OK && why)
		*why = v == GUARD_BANNED ? "Too many bad attempts. Please try later." :
					   "too many requests, please try later";
	return v;
}

static void count_failure(struct guard *g, enum guard_kind kind, const char *key, uint64_t now)
{
	struct entry *e = get(g, kind, key, true, now);
	char until[TIME_STR_LEN];

	if (!e)
		return;
	if (e->banned_until_ms && !banned(e, now)) {
		/* The ban ended: counting starts again. */
		e->banned_until_ms = 0;
		e->failures = 0;
	}
	e->failures++;
	e->last_failure_ms = now;
	if (e->banned_until_ms || g->max_failed <= 0 || e->failures < g->max_failed ||
	    (kind == GUARD_NAME && !g->ban_names))
		return;
	e->banned_until_ms = now + (uint64_t)g->ban_ms;
	util_time_format(util_now_ns() + g->ban_ms * 1000000LL, until);
	log_at(LOG_WARN, "guard: %s: %d failed logins: %s '%.128s' banned until %s", g->label,
	       e->failures, kind == GUARD_ADDRESS ? "address" : "user", key, until);
}

void guard_failed(struct guard *g, const char *ip, const char *name)
{
	uint64_t now = guard_now(g);

	ip = norm_ip(ip);
	if (ip)
		count_failure(g, GUARD_ADDRESS, ip, now);
	if (name)
		count_failure(g, GUARD_NAME, name, now);
}

static void forget_failures(struct guard *g, enum guard_kind kind, const char *key, uint64_t now)
{
	struct entry *e = get(g, kind, key, false, now);

	if (!e || banned(e, now))
		return;
	e->failures = 0;
	e->banned_until_ms = 0;
}

void guard_succeeded(struct guard *g, const char *ip, const char *name)
{
	uint64_t now = guard_now(g);

	ip = norm_ip(ip);
	if (ip)
		forget_failures(g, GUARD_ADDRESS, ip, now);
	if (name)
		forget_failures(g, GUARD_NAME, name, now);
}

void guard_each_ban(struct guard *g, guard_ban_cb cb, void *ud)
{
	uint64_t now = guard_now(g);
	int64_t wall = util_now_ns();

	for (int k = 0; k < 2; k++) {
		struct entry *e, *tmp;

		HASH_ITER(hh, g->t[k].h, e, tmp)
			if (banned(e, now))
				cb(ud, (enum guard_kind)k, e->key, e->failures,
				   wall + (int64_t)(e->banned_until_ms - now) * 1000000LL);
	}
}

int guard_lift(struct guard *g, enum guard_kind kind, const char *key)
{
	uint64_t now = guard_now(g);
	struct entry *e;

	if (kind == GUARD_ADDRESS)
		key = norm_ip(key);
	e = get(g, kind, key, false, now);
	if (!banned(e, now))
		return TE_NOTFOUND;
	entry_free(&g->t[kind], e);
	return 0;
}

static void count_ban(void *ud, enum guard_kind kind, const char *key, int failures,
		      int64_t until_ns)
{
	double *n = ud;

	(void)kind;
	(void)key;
	(void)failures;
	(void)until_ns;
	(*n)++;
}

double guard_ban_count(void *g)
{
	double n = 0;

	guard_each_ban(g, count_ban, &n);
	return n;
}
