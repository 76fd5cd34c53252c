/* api_wait: the long-poll of GET /commands/{jid} and GET
 * /clients/{id}/commands/{jid} (?wait=<sec>, docs/api.md).
 *
 * A request whose job (or multi-client job) is still running is held, not
 * answered: the core's done event for that id, or the end of the wait, or
 * the server stopping, runs the handler again, which then answers with
 * what the store holds. Held requests are found by id in a hash, so a
 * fan-out's 20,000 done events cost a lookup each. */
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "dialects/rport/api.h"
#include "dialects/rport/api_wait.h"
#include "core/events.h"
#include "util.h"

#define WAIT_MAX_HELD 4096

struct waiter {
	struct api_call *call;
	api_handler again;
	uv_timer_t timer;
	struct wait_key *key;
	struct waiter *next;
};

/* The held requests of one job or invocation id. */
struct wait_key {
	char id[UUID_STR_LEN];
	struct waiter *first;
	UT_hash_handle hh;
};

struct api_wait {
	struct server *srv;
	struct wait_key *keys;
	size_t held;
	bool subscribed;
	bool stopping;
};

static struct api_wait the_wait; /* one API per process */

int api_wait_param(struct api_call *call, int *sec)
{
	const char *v = call->waited ? NULL : net_http_query(call->req, "wait");
	char *end;
	long n;

	*sec = 0;
	if (!v)
		return 0;
	n = strtol(v, &end, 10);
	if (!*v || *end || n < 0 || n > API_WAIT_MAX_SEC) {
		api_reply_error(call, 400, "Invalid wait.",
				"wait is a whole number of seconds from 0 to 60");
		return -1;
	}
	*sec = (int)n;
	return 0;
}

static void timer_closed(uv_handle_t *h)
{
	free(h->data);
}

/* Takes w out of its key and runs its handler again (which answers). */
static void waiter_release(struct waiter *w)
{
	struct wait_key *k = w->key;
	struct waiter **p;
	struct api_call *call = w->call;
	api_handler again = w->again;

	for (p = &k->first; *p && *p != w; p = &(*p)->next)
		;
	if (*p)
		*p = w->next;
	if (!k->first) {
		HASH_DEL(the_wait.keys, k);
		free(k);
	}
	the_wait.held--;
	uv_timer_stop(&w->timer);
	uv_close((uv_handle_t *)&w->timer, timer_closed);
	call->waited = true;
	again(call);
}

static void on_timeout(uv_timer_t *t)
{
	waiter_release(t->data);
}

static void on_done(void *ud, const struct event *e)
{
	const char *id = e->kind == EV_INVOCATION_DONE ? e->invocation_id : e->jid;
	struct wait_key *k;

	(void)ud;
	if (!the_wait.keys || !id)
		return;
	HASH_FIND_STR(the_wait.keys, id, k);
	/* Each release may free k: take the first until none is left. */
	while (k) {
		struct waiter *w = k->first;
		bool last = !w->next;

		waiter_release(w);
		if (last)
			break;
	}
}

void api_wait_hold(struct api_call *call, const char *id, int sec, api_handler again)
{
	struct wait_key *k;
	struct waiter *w;

	if (!the_wait.subscribed && !the_wait.stopping) {
		the_wait.srv = call->srv;
		if (!events_subscribe(call->srv->events,
				      EV_MASK(EV_JOB_DONE) | EV_MASK(EV_INVOCATION_DONE), on_done,
				      &the_wait))
			the_wait.subscribed = true;
	}
	if (sec <= 0 || !the_wait.subscribed || the_wait.stopping ||
	    the_wait.held >= WAIT_MAX_HELD || !(w = calloc(1, sizeof *w))) {
		/* No wait (or no room for one): answered with what is stored now. */
		call->waited = true;
		again(call);
		return;
	}
	HASH_FIND_STR(the_wait.keys, id, k);
	if (!k) {
		if (!(k = calloc(1, sizeof *k))) {
			free(w);
			call->waited = true;
			again(call);
			return;
		}
		util_strlcpy(k->id, id, sizeof k->id);
		HASH_ADD_STR(the_wait.keys, id, k);
	}
	w->call = call;
	w->again = again;
	w->key = k;
	w->next = k->first;
	k->first = w;
	the_wait.held++;
	uv_timer_init(call->srv->loop, &w->timer);
	w->timer.data = w;
	uv_timer_start(&w->timer, on_timeout, (uint64_t)sec * 1000, 0);
}

void api_wait_stop(void)
{
	struct wait_key *k, *tmp;

	the_wait.stopping = true;
	HASH_ITER(hh, the_wait.keys, k, tmp)
		while (k) {
			bool last = !k->first->next;

			waiter_release(k->first);
			if (last)
				break;
		}
	if (the_wait.subscribed)
		events_unsubscribe(the_wait.srv->events, on_done, &the_wait);
	the_wait.subscribed = false;
}

/* api.h's stop: the held requests are all the REST API keeps open. */
void api_stop(struct api *a)
{
	(void)a;
	api_wait_stop();
}

size_t api_wait_held(void)
{
	return the_wait.held;
}
