/* Unit tests for src/server/core/offline.c: jobs queued for offline
 * clients. Expiry by an injected clock (offline_sweep with the test's
 * time, no sleeping), dispatch exactly once at the client's hello, cancel,
 * and a queued multi-client child that takes a slot only once dispatched.
 * The store is the in-memory stub, the agents layer a test router
 * (core_fixture.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/fanout.h"
#include "core/offline.h"
#include "core_fixture.h"

#define NS 1000000000LL

struct ofx {
	struct fixture fx;
	struct offline *q;
};

static int setup(void **state)
{
	static struct ofx o;

	memset(&o, 0, sizeof o);
	fx_init(&o.fx, false, false);
	assert_int_equal(offline_create(&o.fx.srv, &o.q), 0);
	o.fx.srv.offline = o.q;
	assert_int_equal(fanout_create(&o.fx.srv, &o.fx.srv.fanout), 0);
	*state = &o;
	return 0;
}

static int teardown(void **state)
{
	struct ofx *o = *state;

	fanout_stop(o->fx.srv.fanout);
	fanout_destroy(o->fx.srv.fanout);
	o->fx.srv.fanout = NULL;
	offline_stop(o->q);
	uv_run(&o->fx.loop, UV_RUN_DEFAULT);
	offline_destroy(o->q);
	o->fx.srv.offline = NULL;
	fx_free(&o->fx);
	return 0;
}

/* A queued single-client job for client_id, stored and followed. */
static void queue_job(struct ofx *o, const char *client_id, int64_t created, int64_t expires,
		      char jid[UUID_STR_LEN])
{
	struct job_spec j;

	memset(&j, 0, sizeof j);
	util_uuid7(j.jid);
	j.client_id = client_id;
	j.client_name = client_id;
	j.command = "uptime";
	j.created_by = "admin";
	j.timeout_sec = 60;
	j.created_at = created;
	j.queued = true;
	j.expires_at = expires;
	assert_int_equal(store_job_insert(o->fx.st, &j), 0);
	assert_int_equal(offline_add(o->q, j.jid, client_id, NULL, created, expires), 0);
	util_strlcpy(jid, j.jid, UUID_STR_LEN);
}

static void test_expires_at_its_deadline(void **state)
{
	struct ofx *o = *state;
	char jid[UUID_STR_LEN];
	int64_t t0 = 1000 * NS;

	fx_client(&o->fx, "off", false, NULL, NULL);
	queue_job(o, "off", t0, t0 + 60 * NS, jid);
	assert_int_equal(offline_sweep(o->q, t0 + 59 * NS), 0);
	store_flush(o->fx.st);
	assert_string_equal(stub_store_job_status(o->fx.st, jid), "queued");
	assert_int_equal(offline_sweep(o->q, t0 + 60 * NS), 1);
	store_flush(o->fx.st);
	assert_string_equal(stub_store_job_status(o->fx.st, jid), "expired");
	assert_non_null(strstr(stub_store_job_field(o->fx.st, jid, "error"), "within 60 s"));
	assert_int_equal(fx_count(&o->fx, EV_JOB_DONE), 1);
	assert_int_equal(o->fx.events[o->fx.nevents - 1].status, JOB_EXPIRED);
	assert_false(offline_has(o->q, jid));
	/* the client comes back: nothing is sent */
	fx_client(&o->fx, "off", true, NULL, NULL);
	offline_client_up(o->q, "off");
	store_flush(o->fx.st);
	assert_int_equal(o->fx.nruns, 0);
}

static void test_dispatched_once_at_hello(void **state)
{
	struct ofx *o = *state;
	char jid[UUID_STR_LEN];
	int64_t now = util_now_ns();

	fx_client(&o->fx, "back", false, NULL, NULL);
	queue_job(o, "back", now, now + 3600 * NS, jid);
	offline_client_up(o->q, "back");           /* not connected: stays */
	store_flush(o->fx.st);
	assert_int_equal(o->fx.nruns, 0);
	fx_client(&o->fx, "back", true, NULL, NULL);
	offline_client_up(o->q, "back");
	offline_client_up(o->q, "back");           /* a second hello at once */
	store_flush(o->fx.st);
	offline_client_up(o->q, "back");
	store_flush(o->fx.st);
	assert_int_equal(o->fx.nruns, 1);
	assert_string_equal(o->fx.runs[0].jid, jid);
	assert_string_equal(stub_store_job_status(o->fx.st, jid), "running");
	assert_int_equal(offline_count(o->q), 0);
	/* expiry does not touch a dispatched job */
	assert_int_equal(offline_sweep(o->q, now + 7200 * NS), 0);
}

static void test_cancel_a_queued_job(void **state)
{
	struct ofx *o = *state;
	char jid[UUID_STR_LEN];
	int64_t now = util_now_ns();

	fx_client(&o->fx, "gone", false, NULL, NULL);
	queue_job(o, "gone", now, now + 3600 * NS, jid);
	o->fx.st->manual = true;             /* the cancel's write waits */
	assert_int_equal(offline_cancel(o->q, jid, "cancelled by admin"), 0);
	assert_int_equal(offline_cancel(o->q, jid, "again"), TE_STATE);
	store_flush(o->fx.st);
	assert_string_equal(stub_store_job_status(o->fx.st, jid), "cancelled");
	assert_int_equal(offline_cancel(o->q, jid, "again"), TE_NOTFOUND);
	fx_client(&o->fx, "gone", true, NULL, NULL);
	offline_client_up(o->q, "gone");
	store_flush(o->fx.st);
	assert_int_equal(o->fx.nruns, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_expires_at_its_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dispatched_once_at_hello, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_a_queued_job, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
