/* events: a small subscriber list per process; see events.h. */
#include "core/events.h"

#include <stdlib.h>

#include "util.h"

struct sub {
	unsigned mask;
	event_fn fn;
	void *ud;
	bool gone;
};

struct events {
	struct sub *subs;
	size_t n, cap;
	unsigned wanted;        /* union of the live masks */
	int depth;              /* publishes in progress */
	bool dirty;             /* gone entries wait for depth 0 */
};

int events_create(struct events **out)
{
	struct events *ev = calloc(1, sizeof *ev);

	if (!ev)
		return TE_NOMEM;
	*out = ev;
	return 0;
}

void events_destroy(struct events *ev)
{
	if (!ev)
		return;
	free(ev->subs);
	free(ev);
}

static void recompute(struct events *ev)
{
	size_t i, k = 0;

	ev->wanted = 0;
	for (i = 0; i < ev->n; i++) {
		if (ev->subs[i].gone && ev->depth == 0)
			continue;
		if (!ev->subs[i].gone)
			ev->wanted |= ev->subs[i].mask;
		ev->subs[k++] = ev->subs[i];
	}
	ev->n = k;
	ev->dirty = ev->depth > 0;
}

int events_subscribe(struct events *ev, unsigned mask, event_fn fn, void *ud)
{
	if (ev->n == ev->cap) {
		size_t cap = ev->cap ? ev->cap * 2 : 8;
		struct sub *s = realloc(ev->subs, cap * sizeof *s);

		if (!s)
			return TE_NOMEM;
		ev->subs = s;
		ev->cap = cap;
	}
	ev->subs[ev->n++] = (struct sub){ .mask = mask, .fn = fn, .ud = ud };
	ev->wanted |= mask;
	return 0;
}

void events_unsubscribe(struct events *ev, event_fn fn, void *ud)
{
	size_t i;

	for (i = 0; i < ev->n; i++)
		if (ev->subs[i].fn == fn && ev->subs[i].ud == ud)
			ev->subs[i].gone = true;
	recompute(ev);
}

bool events_wanted(const struct events *ev, enum event_kind kind)
{
	return ev && (ev->wanted & EV_MASK(kind));
}

void events_publish(struct events *ev, const struct event *e)
{
	size_t i, n;

	if (!ev || !(ev->wanted & EV_MASK(e->kind)))
		return;
	ev->depth++;
	/* Subscribers added during the call see the next event, not this one. */
	n = ev->n;
	for (i = 0; i < n; i++) {
		struct sub s = ev->subs[i];

		if (!s.gone && (s.mask & EV_MASK(e->kind)))
			s.fn(s.ud, e);
	}
	ev->depth--;
	if (ev->depth == 0 && ev->dirty)
		recompute(ev);
}
