/* core_fixture: see core_fixture.h. */
#include "core_fixture.h"

#include <stdarg.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "core/fanout.h"
#include "core/groups.h"
#include "util.h"

/* What connected clients point at: the router never reads it. */
static int fake_session;

static void copy(char *dst, size_t len, const char *src)
{
	util_strlcpy(dst, src ? src : "", len);
}

static int router_run(void *impl, struct client *c, const struct job_spec *j,
		      registry_run_cb cb, void *ud)
{
	struct fixture *fx = impl;
	struct fx_run *r;

	assert_true(fx->nruns < FX_MAX_RECORDS);
	if (fx->run_rc)
		return fx->run_rc;
	r = &fx->runs[fx->nruns++];
	copy(r->jid, sizeof r->jid, j->jid);
	copy(r->client_id, sizeof r->client_id, registry_client_id(c));
	assert_string_equal(r->client_id, j->client_id);
	copy(r->multi_job_id, sizeof r->multi_job_id, j->multi_job_id);
	copy(r->command, sizeof r->command, j->command);
	r->timeout_sec = j->timeout_sec;
	r->cb = cb;
	r->ud = ud;
	return 0;
}

static int router_cancel(void *impl, struct client *c, const char *jid, const char *by)
{
	struct fixture *fx = impl;
	struct fx_cancel *x;

	assert_true(fx->ncancels < FX_MAX_RECORDS);
	if (fx->cancel_rc)
		return fx->cancel_rc;
	x = &fx->cancels[fx->ncancels++];
	copy(x->jid, sizeof x->jid, jid);
	copy(x->client_id, sizeof x->client_id, registry_client_id(c));
	copy(x->by, sizeof x->by, by);
	return 0;
}

static const struct registry_router test_router = { router_run, router_cancel };

static void record(void *ud, const struct event *e)
{
	struct fixture *fx = ud;
	struct fx_event *r;

	assert_true(fx->nevents < FX_MAX_RECORDS);
	r = &fx->events[fx->nevents++];
	r->kind = e->kind;
	copy(r->jid, sizeof r->jid, e->jid);
	copy(r->invocation_id, sizeof r->invocation_id, e->invocation_id);
	copy(r->client_id, sizeof r->client_id, e->client_id);
	r->status = e->status;
}

void fx_init(struct fixture *fx, bool with_groups, bool with_fanout)
{
	memset(fx, 0, sizeof *fx);
	assert_int_equal(uv_loop_init(&fx->loop), 0);
	fx->srv.loop = &fx->loop;
	server_config_defaults(&fx->srv.cfg);
	fx->srv.version = TETHER_VERSION;
	fx->st = stub_store_create();
	assert_non_null(fx->st);
	fx->srv.store = fx->st;
	assert_int_equal(events_create(&fx->srv.events), 0);
	assert_int_equal(registry_create(&fx->srv.registry), 0);
	registry_set_router(fx->srv.registry, &test_router, fx);
	/* The recorder subscribes first: it sees each event before fan-out
	 * reacts to it. */
	assert_int_equal(events_subscribe(fx->srv.events, ~0u, record, fx), 0);
	if (with_groups)
		assert_int_equal(groups_create(&fx->srv, &fx->srv.groups), 0);
	if (with_fanout)
		assert_int_equal(fanout_create(&fx->srv, &fx->srv.fanout), 0);
}

void fx_free(struct fixture *fx)
{
	if (fx->srv.fanout) {
		fanout_stop(fx->srv.fanout);
		uv_run(&fx->loop, UV_RUN_DEFAULT);
		fanout_destroy(fx->srv.fanout);
	}
	groups_destroy(fx->srv.groups);
	events_unsubscribe(fx->srv.events, record, fx);
	registry_destroy(fx->srv.registry);
	events_destroy(fx->srv.events);
	stub_store_destroy(fx->st);
	assert_int_equal(uv_loop_close(&fx->loop), 0);
}

struct client *fx_client(struct fixture *fx, const char *id, bool connected, const char *tags,
			 const char *labels)
{
	struct client *c = registry_get_or_add(fx->srv.registry, id);
	char buf[512], *save = NULL, *tok;

	assert_non_null(c);
	registry_client_attach(fx->srv.registry, c, connected ? (struct session *)&fake_session : NULL);
	if (tags) {
		util_strlcpy(buf, tags, sizeof buf);
		for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			json_array_append_new(c->tags, json_string(tok));
	}
	if (labels) {
		util_strlcpy(buf, labels, sizeof buf);
		for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			char *eq = strchr(tok, '=');

			assert_non_null(eq);
			*eq = '\0';
			json_object_set_new(c->labels, tok, json_string(eq + 1));
		}
	}
	return c;
}

void fx_job_done(struct fixture *fx, const char *jid, enum job_status status)
{
	struct job_result r = { 0 };
	struct event e = { .kind = EV_JOB_DONE, .jid = jid, .status = status };

	r.status = status;
	r.error = "";
	assert_int_equal(store_job_finish(fx->st, jid, NULL, &r), 0);
	e.client_id = stub_store_job_field(fx->st, jid, "client_id");
	e.invocation_id = stub_store_job_field(fx->st, jid, "multi_job_id");
	events_publish(fx->srv.events, &e);
}

size_t fx_count(const struct fixture *fx, enum event_kind kind)
{
	size_t n = 0;

	for (size_t i = 0; i < fx->nevents; i++)
		if (fx->events[i].kind == kind)
			n++;
	return n;
}

int fx_run_of(const struct fixture *fx, const char *client_id)
{
	for (size_t i = 0; i < fx->nruns; i++)
		if (!strcmp(fx->runs[i].client_id, client_id))
			return (int)i;
	return -1;
}
