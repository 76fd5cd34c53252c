/* guard: failure counters per address and per name, bounded in size. */
#include "guard.h"

#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "util.h"

#define GUARD_MAX_ENTRIES 100000

struct entry {
	char *key;
	int failures;
	uint64_t last_failure_ms;
	uint64_t banned_until_ms;
	UT_hash_handle hh;
};

struct guard {
	int max_failed;
	int64_t ban_ms;
	int64_t user_wait_ms;
	struct entry *ips;
	struct entry *names;
	size_t n;
};

struct guard *guard_create(int max_failed, int64_t ban_ms, int64_t user_wait_ms)
{
	struct guard *g = calloc(1, sizeof *g);

	if (!g)
		return NULL;
	g->max_failed = max_failed;
	g->ban_ms = ban_ms;
	g->user_wait_ms = user_wait_ms;
	return g;
}

static void drop_all(struct entry **h)
{
	struct entry *e, *t;

	HASH_ITER(hh, *h, e, t) {
		HASH_DEL(*h, e);
		free(e->key);
		free(e);
	}
}

void guard_destroy(struct guard *g)
{
	if (!g)
		return;
	drop_all(&g->ips);
	drop_all(&g->names);
	free(g);
}

/* Forgets entries that no longer matter, oldest tables first. */
static void prune(struct guard *g)
{
	uint64_t now = util_mono_ms();
	struct entry **tables[2] = { &g->ips, &g->names };

	for (int i = 0; i < 2; i++) {
		struct entry *e, *t;

		HASH_ITER(hh, *tables[i], e, t) {
			if (e->banned_until_ms < now &&
			    now - e->last_failure_ms > (uint64_t)(g->ban_ms + g->user_wait_ms)) {
				HASH_DEL(*tables[i], e);
				free(e->key);
				free(e);
				g->n--;
			}
		}
	}
}

static struct entry *get(struct guard *g, struct entry **h, const char *key, bool create)
{
	struct entry *e;

	HASH_FIND_STR(*h, key, e);
	if (e || !create)
		return e;
	if (g->n >= GUARD_MAX_ENTRIES)
		prune(g);
	e = calloc(1, sizeof *e);
	if (!e || !(e->key = strdup(key))) {
		free(e);
		return NULL;
	}
	HASH_ADD_KEYPTR(hh, *h, e->key, strlen(e->key), e);
	g->n++;
	return e;
}

enum guard_verdict guard_check(struct guard *g, const char *ip, const char *name)
{
	uint64_t now = util_mono_ms();
	struct entry *e = ip ? get(g, &g->ips, ip, false) : NULL;

	if (e && e->banned_until_ms > now)
		return GUARD_BANNED;
	e = name ? get(g, &g->names, name, false) : NULL;
	if (e && e->failures && now - e->last_failure_ms < (uint64_t)g->user_wait_ms)
		return GUARD_WAIT;
	return GUARD_OK;
}

void guard_failed(struct guard *g, const char *ip, const char *name)
{
	uint64_t now = util_mono_ms();
	struct entry *e;

	if (ip && (e = get(g, &g->ips, ip, true))) {
		e->failures++;
		e->last_failure_ms = now;
		if (g->max_failed > 0 && e->failures >= g->max_failed) {
			e->banned_until_ms = now + (uint64_t)g->ban_ms;
			e->failures = 0;
		}
	}
	if (name && (e = get(g, &g->names, name, true))) {
		e->failures++;
		e->last_failure_ms = now;
	}
}

void guard_succeeded(struct guard *g, const char *ip, const char *name)
{
	struct entry *e;

	if (ip && (e = get(g, &g->ips, ip, false)) && e->banned_until_ms <= util_mono_ms())
		e->failures = 0;
	if (name && (e = get(g, &g->names, name, false)))
		e->failures = 0;
}
