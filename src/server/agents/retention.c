/* retention: the timers of the job purge and of the disconnected clients'
 * purge (retention.h). */
#include "agents/retention.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "agents/hub.h"
#include "auth/guard.h"
#include "core/registry.h"
#include "log.h"
#include "store/store.h"
#include "util.h"

/* The first job purge after a start: one interval, at most this. */
#define RETENTION_FIRST_PURGE_MS (60 * 1000)

struct retention {
	struct server *srv;
	uv_timer_t jobs;
	uv_timer_t clients;
	char *clock_file;            /* tests: seconds to add to the clock */
	int closed;                  /* timers closed so far (retention_stop) */
};

/* The test clock file's seconds, as ns. */
static int64_t test_offset_ns(const char *path)
{
	return util_test_clock_offset_sec(path) * 1000000000LL;
}

static int64_t retention_now_ns(const struct retention *r)
{
	int64_t now = util_now_ns();

	return r->clock_file ? now + test_offset_ns(r->clock_file) : now;
}

static void purge_done(void *ud, int rc, const struct store_purge_result *res)
{
	(void)ud;
	if (rc)
		return;                  /* the store logged why */
	if (res->jobs || res->multi || res->pages)
		log_info("retention: purged %lld jobs, %lld multi jobs, %lld free pages in %lld ms"
			 " (%lld write transactions, the longest %.1f ms)", (long long)res->jobs,
			 (long long)res->multi, (long long)res->pages, (long long)res->ms,
			 (long long)res->batches, (double)res->longest_us / 1000.0);
	else
		log_debug("retention: nothing to purge (%lld ms)", (long long)res->ms);
}

static void jobs_tick(uv_timer_t *t)
{
	struct retention *r = t->data;
	const struct server_config *c = &r->srv->cfg;
	struct store_purge_policy p = { 0, 0 };

	p.max_per_client = c->jobs_max_results;
	if (c->jobs_max_age_ms)
		p.before_ns = retention_now_ns(r) - c->jobs_max_age_ms * 1000000LL;
	switch (store_purge_start(r->srv->store, &p, purge_done, r)) {
	case 0:
		log_debug("retention: job purge started");
		break;
	case TE_STATE:
		log_debug("retention: the last purge still runs; this one is skipped");
		break;
	default:
		log_error("retention: cannot start a job purge (no memory)");
	}
}

struct stale {
	int64_t before_ns;
	json_t *ids;
};

static void stale_one(void *ud, struct client *c)
{
	struct stale *s = ud;

	if (!registry_client_connected(c) && c->disconnected_at &&
	    c->disconnected_at < s->before_ns)
		json_array_append_new(s->ids, json_string(c->id));
}

/* The ids first, then the deletes: registry_each must not see a client
 * go. Once a minute, over the clients known: no work per message. */
static void clients_tick(uv_timer_t *t)
{
	struct retention *r = t->data;
	struct stale s;
	size_t i;
	json_t *v;

	s.before_ns = retention_now_ns(r) - r->srv->cfg.keep_disconnected_clients_ms * 1000000LL;
	s.ids = json_array();
	if (!s.ids)
		return;
	registry_each(r->srv->registry, stale_one, &s);
	json_array_foreach(s.ids, i, v) {
		if (!hub_client_delete(r->srv->hub, json_string_value(v)))
			log_info("retention: client '%s' was disconnected longer than"
				 " keep_disconnected_clients: purged", json_string_value(v));
	}
	log_debug("retention: disconnected clients checked, %zu purged", json_array_size(s.ids));
	json_decref(s.ids);
}

int retention_create(struct server *srv, struct retention **out)
{
	const struct server_config *c = &srv->cfg;
	struct retention *r = calloc(1, sizeof *r);
	const char *cf = getenv(GUARD_TEST_CLOCK_ENV);

	if (!r)
		return TE_NOMEM;
	r->srv = srv;
	if (cf && *cf && !(r->clock_file = strdup(cf))) {
		free(r);
		return TE_NOMEM;
	}
	uv_timer_init(srv->loop, &r->jobs);
	uv_timer_init(srv->loop, &r->clients);
	r->jobs.data = r;
	r->clients.data = r;
	if (c->jobs_max_results > 0 || c->jobs_max_age_ms > 0) {
		uint64_t every = (uint64_t)c->purge_jobs_interval_ms;

		uv_timer_start(&r->jobs, jobs_tick,
			       every < RETENTION_FIRST_PURGE_MS ? every : RETENTION_FIRST_PURGE_MS,
			       every);
	}
	if (c->purge_disconnected_clients) {
		uv_timer_start(&r->clients, clients_tick,
			       (uint64_t)c->purge_disconnected_clients_interval_ms,
			       (uint64_t)c->purge_disconnected_clients_interval_ms);
	}
	*out = r;
	return 0;
}

/* Both timers are inside r: it goes once the second one is closed
 * (libuv finishes closes in no order we rely on). */
static void retention_closed(uv_handle_t *h)
{
	struct retention *r = h->data;

	if (++r->closed < 2)
		return;
	free(r->clock_file);
	free(r);
}

void retention_stop(struct retention *r)
{
	if (!r)
		return;
	uv_timer_stop(&r->jobs);
	uv_timer_stop(&r->clients);
	uv_close((uv_handle_t *)&r->jobs, retention_closed);
	uv_close((uv_handle_t *)&r->clients, retention_closed);
	store_purge_stop(r->srv->store);
}
