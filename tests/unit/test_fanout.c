/* Unit tests for src/server/core/fanout.c: dispatching a multi-client
 * invocation from its record (sequential one at a time, concurrent with
 * and without max_concurrency), abort_on_err, max_errors, targets that are
 * not connected (failed as "client is not connected", counted for
 * max_errors, never an abort), the events it publishes and their order,
 * fanout_cancel and fanout_multi_of. The store is the in-memory stub, the
 * agents layer a test router (core_fixture.h); a child ends when the test
 * publishes its EV_JOB_DONE, as agents/deliver.c does. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/fanout.h"
#include "core_fixture.h"

static int setup(void **state)
{
	static struct fixture fx;

	fx_init(&fx, false, true);
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	fx_free(*state);
	return 0;
}

/* Options of a record; limits < 0 are null (no limit). */
struct opts {
	bool concurrent, abort_on_err;
	int max_conc, max_errors;
};

static const struct opts SEQ = { false, false, -1, -1 };

/* Builds the record as core/invoke.c stores it, stores it, and begins.
 * targets: "a,b,c". The invocation's id goes to jid. */
static void begin(struct fixture *fx, const char *targets, struct opts o, char jid[UUID_STR_LEN])
{
	char ts[TIME_STR_LEN], buf[512], *save = NULL, *tok;
	json_t *list = json_array(), *rec;

	util_uuid7(jid);
	util_time_format(util_now_ns(), ts);
	util_strlcpy(buf, targets, sizeof buf);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		json_array_append_new(list, json_string(tok));
	rec = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:b, s:b, s:i, s:i, s:b, s:b, s:o, s:o}",
			"jid", jid, "started_at", ts, "created_by", "admin", "targets", list,
			"command", "uptime", "cwd", "", "interpreter", "", "is_sudo", 0,
			"is_script", 0, "timeout_sec", 60, "delivery_timeout_sec", 600,
			"concurrent", o.concurrent, "abort_on_err", o.abort_on_err,
			"max_concurrency", o.max_conc >= 0 ? json_integer(o.max_conc) : json_null(),
			"max_errors", o.max_errors >= 0 ? json_integer(o.max_errors) : json_null());
	assert_non_null(rec);
	assert_int_equal(store_multi_put(fx->st, jid, 0, "admin", rec), 0);
	assert_int_equal(fanout_begin(fx->srv.fanout, rec), 0);
	/* fan-out keeps its own reference. */
	json_decref(rec);
}

/* The clients the runs went to, in order: "a,b". */
static const char *run_clients(const struct fixture *fx)
{
	static char out[512];

	out[0] = '\0';
	for (size_t i = 0; i < fx->nruns; i++) {
		if (i)
			strncat(out, ",", sizeof out - strlen(out) - 1);
		strncat(out, fx->runs[i].client_id, sizeof out - strlen(out) - 1);
	}
	return out;
}

/* The events of the invocation (child ends and its end) in order, as
 * "c1:successful c2:failed DONE". */
static const char *inv_events(const struct fixture *fx, const char *jid)
{
	static char out[1024];
	char one[200];

	out[0] = '\0';
	for (size_t i = 0; i < fx->nevents; i++) {
		const struct fx_event *e = &fx->events[i];

		if (strcmp(e->invocation_id, jid))
			continue;
		if (e->kind == EV_INVOCATION_CHILD_DONE)
			snprintf(one, sizeof one, "%s%s:%s", out[0] ? " " : "", e->client_id,
				 job_status_name(e->status));
		else if (e->kind == EV_INVOCATION_DONE)
			snprintf(one, sizeof one, "%sDONE", out[0] ? " " : "");
		else
			continue;
		strncat(out, one, sizeof out - strlen(out) - 1);
	}
	return out;
}

/* The stored record's string field, or NULL. */
static const char *rec_field(const struct fixture *fx, const char *jid, const char *field)
{
	return json_string_value(json_object_get(json_object_get(fx->st->multis, jid), field));
}

static void done(struct fixture *fx, size_t run, enum job_status status)
{
	assert_true(run < fx->nruns);
	fx_job_done(fx, fx->runs[run].jid, status);
}

static void test_sequential_one_at_a_time(void **state)
{
	struct fixture *fx = *state;
	char jid[UUID_STR_LEN];

	fx_client(fx, "c1", true, NULL, NULL);
	fx_client(fx, "c2", true, NULL, NULL);
	fx_client(fx, "c3", true, NULL, NULL);
	begin(fx, "c1,c2,c3", SEQ, jid);
	assert_string_equal(run_clients(fx), "c1");
	/* The child is stored before it is sent, as the record asks. */
	assert_string_equal(stub_store_job_status(fx->st, fx->runs[0].jid), "running");
	assert_string_equal(stub_store_job_field(fx->st, fx->runs[0].jid, "multi_job_id"), jid);
	assert_string_equal(stub_store_job_field(fx->st, fx->runs[0].jid, "created_by"), "admin");
	assert_string_equal(fx->runs[0].multi_job_id, jid);
	assert_string_equal(fx->runs[0].command, "uptime");
	assert_int_equal(fx->runs[0].timeout_sec, 60);
	assert_string_equal(inv_events(fx, jid), "");
	done(fx, 0, JOB_SUCCESSFUL);
	assert_string_equal(run_clients(fx), "c1,c2");
	/* A failure goes on (no abort_on_err). */
	done(fx, 1, JOB_FAILED);
	assert_string_equal(run_clients(fx), "c1,c2,c3");
	assert_null(rec_field(fx, jid, "finished_at"));
	done(fx, 2, JOB_SUCCESSFUL);
	assert_int_equal(fx->nruns, 3);
	assert_string_equal(inv_events(fx, jid), "c1:successful c2:failed c3:successful DONE");
	/* Finished in the store, with no stop reason. */
	assert_non_null(rec_field(fx, jid, "finished_at"));
	assert_null(rec_field(fx, jid, "stop_reason"));
	assert_int_equal(fanout_cancel(fx->srv.fanout, jid, "admin"), TE_NOTFOUND);
}

static void test_event_order(void **state)
{
	struct fixture *fx = *state;
	char jid[UUID_STR_LEN];
	struct event e = { .kind = EV_JOB_DONE, .status = JOB_FAILED };

	fx_client(fx, "c1", true, NULL, NULL);
	fx_client(fx, "c2", true, NULL, NULL);
	begin(fx, "c1,c2", (struct opts){ true, false, -1, -1 }, jid);
	assert_string_equal(run_clients(fx), "c1,c2");
	done(fx, 1, JOB_SUCCESSFUL);
	done(fx, 0, JOB_UNKNOWN);
	/* Exactly: job done, child done (of that job), ..., invocation done
	 * last, once, after the last child's. */
	assert_int_equal(fx->nevents, 5);
	assert_int_equal(fx->events[0].kind, EV_JOB_DONE);
	assert_int_equal(fx->events[1].kind, EV_INVOCATION_CHILD_DONE);
	assert_string_equal(fx->events[1].jid, fx->runs[1].jid);
	assert_string_equal(fx->events[1].client_id, "c2");
	assert_string_equal(fx->events[1].invocation_id, jid);
	assert_int_equal(fx->events[1].status, JOB_SUCCESSFUL);
	assert_int_equal(fx->events[2].kind, EV_JOB_DONE);
	assert_int_equal(fx->events[3].kind, EV_INVOCATION_CHILD_DONE);
	assert_string_equal(fx->events[3].jid, fx->runs[0].jid);
	assert_int_equal(fx->events[3].status, JOB_UNKNOWN);
	assert_int_equal(fx->events[4].kind, EV_INVOCATION_DONE);
	assert_string_equal(fx->events[4].invocation_id, jid);
	assert_string_equal(fx->events[4].jid, "");
	/* A second end of the same child (a duplicate) changes nothing. */
	e.jid = fx->runs[0].jid;
	events_publish(fx->srv.events, &e);
	assert_int_equal(fx->nevents, 6);
	assert_int_equal(fx_count(fx, EV_INVOCATION_CHILD_DONE), 2);
	assert_int_equal(fx_count(fx, EV_INVOCATION_DONE), 1);
}

static void test_duplicate_end_while_running(void **state)
{
	/* A child's end counted twice would free a slot that is still in use
	 * (or finish the invocation early). */
	struct fixture *fx = *state;
	char jid[UUID_STR_LEN];
	struct event e = { .kind = EV_JOB_DONE, .status = JOB_SUCCESSFUL };

	fx_client(fx, "c1", true, NULL, NULL);
	fx_client(fx, "c2", true, NULL, NULL);
	fx_client(fx, "c3", true, NULL, NULL);
	begin(fx, "c1,c2,c3", (struct opts){ true, false, 2, -1 }, jid);
	assert_string_equal(run_clients(fx), "c1,c2");
	done(fx, 0, JOB_SUCCESSFUL);
	assert_string_equal(run_clients(fx), "c1,c2,c3");
	e.jid = fx->runs[0].jid;
	events_publish(fx->srv.events, &e);
	assert_int_equal(fx_count(fx, EV_INVOCATION_CHILD_DONE), 1);
	assert_int_equal(fx_count(fx, EV_INVOCATION_DONE), 0);
	/* A job that is no child of any invocation is none of fan-out's. */
	e.jid = "not-a-child";
	events_publish(fx->srv.events, &e);
	assert_int_equal(fx_count(fx, EV_INVOCATION_CHILD_DONE), 1);
	done(fx, 1, JOB_SUCCESSFUL);
	done(fx, 2, JOB_SUCCESSFUL);
	assert_string_equal(inv_events(fx, jid), "c1:successful c2:successful c3:successful DONE");
}

static void test_concurrent_max_concurrency(void **state)
{
	struct fixture *fx = *state;
	char jid[UUID_STR_LEN];

	for (int i = 1; i <= 5; i++) {
		char id[8];

		snprintf(id, sizeof id, "c%d", i);
		fx_client(fx, id, true, NULL, NULL);
	}
	begin(fx, "c1,c2,c3,c4,c5", (struct opts){ true, false, 2, -1 }, jid);
	assert_string_equal(run_clients(fx), "c1,c2");
	done(fx, 1, JOB_SUCCESSFUL);
	assert_string_equal(run_clients(fx), "c1,c2,c3");
	/* A failure frees its slot too. */
	done(fx, 0, JOB_FAILED);
	assert_string_equal(run_clients(fx), "c1,c2,c3,c4");
	done(fx, 2, JOB_SUCCESSFUL);
	assert_string_equal(run_clients(fx), "c1,c2,c3,c4,c5");
	done(fx, 3, JOB_SUCCESSFUL);
	assert_int_equal(fx_count(fx, EV_INVOCATION_DONE), 0);
	done(fx, 4, JOB_SUCCESSFUL);
	assert_string_equal(inv_events(fx, jid),
			    "c2:successful c1:failed c3:successful c4:successful c5:successful DONE");
}

static void test_concurrent_unlimited(void **state)
{
	struct fixture *fx = *state;
	char jid[UUID_STR_LEN];

	fx_client(fx, "c1", true, NULL, NULL);
	fx_client(fx, "c2", true, NULL, NULL);
	fx_client(fx, "c3", true, NULL, NULL);
	begin(fx, "c1,c2,c3", (struct opts){ true, false, -1, -1 }, jid);
	assert_string_equal(run_clients(fx), "c1,c2,c3");
	done(fx, 0, JOB_FAILED);
	done(fx, 1, JOB_FAILED);
	done(fx, 2, JOB_SUCCESSFUL);
	assert_string_equal(inv_events(fx, jid), "c1:failed c2:failed c3:successful DONE");
	/* abort_on_err has no say in concurrent mode: a failure frees a slot
	 * for the next target. */
	fx->nruns = 0;
	begin(fx, "c1,c2,c3", (struct opts){ true, true, 2, -1 }, jid);
	assert_string_equal(run_clients(fx), "c1,c2");
	done(fx, 0, JOB_FAILED);
	assert_string_equal(run_clients(fx), "c1,c2,c3");
	done(fx, 1, JOB_SUCCESSFUL);
	done(fx, 2, JOB_SUCCESSFUL);
	assert_string_equal(inv_events(fx, jid), "c1:failed c2:successful c3:successful DONE");
	assert_null(rec_field(fx, jid, "stop_reason"));
}

static void test_abort_on_err(void **state)
{
	struct fixture *fx = *state;
	char jid[UUID_STR_LEN];

	fx_client(fx, "c1", true, NULL, NULL);
	fx_client(fx, "c2", true, NULL, NULL);
	fx_client(fx, "c3", true, NULL, NULL);
	begin(fx, "c1,c2,c3", (struct opts){ false, true, -1, -1 }, jid);
	done(fx, 0, JOB_SUCCESSFUL);
	/* The first failure stops it: c3 never runs. */
	done(fx, 1, JOB_FAILED);
	assert_string_equal(run_clients(fx), "c1,c2");
	assert_string_equal(inv_events(fx, jid), "c1:successful c2:failed DONE");
	assert_string_equal(rec_field(fx, jid, "stop_reason"),
			    "aborted: the command failed on client \"c2\" (abort_on_error)");
	assert_non_null(rec_field(fx, jid, "finished_at"));
	/* Only a failure aborts: unknown, cancelled do not. */
	begin(fx, "c1,c2,c3", (struct opts){ false, true, -1, -1 }, jid);
	done(fx, 2, JOB_UNKNOWN);
	done(fx, 3, JOB_CANCELLED);
	done(fx, 4, JOB_SUCCESSFUL);
	assert_string_equal(inv_events(fx, jid), "c1:unknown c2:cancelled c3:successful DONE");
}

static void test_abort_on_last_target(void **state)
{
	/* A failure of the last target: nothing is left undispatched, so
	 * there is no stop reason to give. */
	struct fixture *fx = *state;
	char jid[UUID_STR_LEN];

	fx_client(fx, "c1", true, NULL, NULL);
	begin(fx, "c1", (struct opts){ false, true, -1, -1 }, jid);
	done(fx, 0, JOB_FAILED);
	assert_string_equal(inv_events(fx, jid), "c1:failed DONE");
	assert_null(rec_field(fx, jid, "stop_reason"));
}

static void test_max_errors(void **state)
{
	struct fixture *fx = *state;
	char jid[UUID_STR_LEN];

	fx_client(fx, "c1", true, NULL, NULL);
	fx_client(fx, "c2", true, NULL, NULL);
	fx_client(fx, "c3", true, NULL, NULL);
	fx_client(fx, "c4", true, NULL, NULL);
	/* One failure is allowed; the second exceeds it. */
	begin(fx, "c1,c2,c3,c4", (struct opts){ false, false, -1, 1 }, jid);
	done(fx, 0, JOB_FAILED);
	done(fx, 1, JOB_SUCCESSFUL);
	assert_string_equal(run_clients(fx), "c1,c2,c3");
	done(fx, 2, JOB_FAILED);
	assert_string_equal(run_clients(fx), "c1,c2,c3");
	assert_string_equal(inv_events(fx, jid), "c1:failed c2:successful c3:failed DONE");
	assert_string_equal(rec_field(fx, jid, "stop_reason"),
			    "stopped: 2 failures exceed max_errors 1");
	/* Concurrent: the running children end, nothing more starts. */
	fx->nruns = 0;
	begin(fx, "c1,c2,c3,c4", (struct opts){ true, false, 2, 0 }, jid);
	assert_string_equal(run_clients(fx), "c1,c2");
	done(fx, 0, JOB_FAILED);
	assert_string_equal(run_clients(fx), "c1,c2");
	assert_int_equal(fx_count(fx, EV_INVOCATION_DONE), 1);
	done(fx, 1, JOB_SUCCESSFUL);
	assert_string_equal(inv_events(fx, jid), "c1:failed c2:successful DONE");
	assert_string_equal(rec_field(fx, jid, "stop_reason"),
			    "stopped: 1 failures exceed max_errors 0");
}

static void test_not_connected(void **state)
{
	struct fixture *fx = *state;
	char jid[UUID_STR_LEN];
	const char *child;

	fx_client(fx, "c1", true, NULL, NULL);
	fx_client(fx, "off", false, NULL, NULL);
	fx_client(fx, "c3", true, NULL, NULL);
	/* abort_on_err: a target that is not connected does not abort. */
	begin(fx, "c1,off,c3", (struct opts){ false, true, -1, -1 }, jid);
	done(fx, 0, JOB_SUCCESSFUL);
	assert_string_equal(run_clients(fx), "c1,c3");
	assert_string_equal(inv_events(fx, jid), "c1:successful off:failed");
	/* Its child is stored, failed, with the words a user sees. */
	child = fx->events[fx->nevents - 1].jid;
	assert_string_equal(stub_store_job_status(fx->st, child), "failed");
	assert_string_equal(stub_store_job_field(fx->st, child, "error"), "client is not connected");
	assert_string_equal(stub_store_job_field(fx->st, child, "client_id"), "off");
	assert_string_equal(stub_store_job_field(fx->st, child, "multi_job_id"), jid);
	done(fx, 1, JOB_SUCCESSFUL);
	assert_string_equal(inv_events(fx, jid), "c1:successful off:failed c3:successful DONE");
}

static void test_not_connected_counts_for_max_errors(void **state)
{
	struct fixture *fx = *state;
	char jid[UUID_STR_LEN];

	fx_client(fx, "off", false, NULL, NULL);
	fx_client(fx, "c2", true, NULL, NULL);
	fx_client(fx, "c3", true, NULL, NULL);
	begin(fx, "off,c2,c3", (struct opts){ false, false, -1, 1 }, jid);
	assert_string_equal(run_clients(fx), "c2");
	done(fx, 0, JOB_FAILED);
	assert_string_equal(run_clients(fx), "c2");
	assert_string_equal(inv_events(fx, jid), "off:failed c2:failed DONE");
	assert_string_equal(rec_field(fx, jid, "stop_reason"),
			    "stopped: 2 failures exceed max_errors 1");
}

static void test_all_offline_and_unknown(void **state)
{
	/* Every target fails without a run (one offline, one the registry
	 * does not know, one whose router refuses the send): the invocation
	 * ends by itself. */
	struct fixture *fx = *state;
	char jid[UUID_STR_LEN];

	fx_client(fx, "off", false, NULL, NULL);
	begin(fx, "off,ghost", SEQ, jid);
	assert_int_equal(fx->nruns, 0);
	assert_string_equal(inv_events(fx, jid), "off:failed ghost:failed DONE");
	assert_non_null(rec_field(fx, jid, "finished_at"));
	fx_client(fx, "c1", true, NULL, NULL);
	fx->run_rc = TE_IO;
	begin(fx, "c1", (struct opts){ true, false, -1, 0 }, jid);
	assert_string_equal(inv_events(fx, jid), "c1:failed DONE");
}

static void test_group_commit(void **state)
{
	/* With the store's group commit, a child is sent only once its row
	 * is committed; one whose row cannot be written never runs. */
	struct fixture *fx = *state;
	char jid[UUID_STR_LEN];

	fx_client(fx, "c1", true, NULL, NULL);
	fx_client(fx, "c2", true, NULL, NULL);
	fx->st->manual = true;
	begin(fx, "c1,c2", (struct opts){ true, false, -1, -1 }, jid);
	assert_int_equal(fx->nruns, 0);
	assert_int_equal(stub_store_pending(fx->st), 2);
	fx->st->fail[STUB_JOB_INSERT] = TE_IO;
	store_flush(fx->st);
	assert_int_equal(fx->nruns, 0);
	assert_int_equal(fx_count(fx, EV_INVOCATION_DONE), 1);
	assert_non_null(rec_field(fx, jid, "finished_at"));
	fx->st->fail[STUB_JOB_INSERT] = 0;
	begin(fx, "c1,c2", (struct opts){ true, false, -1, -1 }, jid);
	assert_int_equal(fx->nruns, 0);
	store_flush(fx->st);
	assert_string_equal(run_clients(fx), "c1,c2");
	fx_job_done(fx, fx->runs[0].jid, JOB_SUCCESSFUL);
	fx_job_done(fx, fx->runs[1].jid, JOB_SUCCESSFUL);
	store_flush(fx->st);
	assert_string_equal(inv_events(fx, jid), "c1:successful c2:successful DONE");
}

static void test_cancel(void **state)
{
	struct fixture *fx = *state;
	char jid[UUID_STR_LEN];

	fx_client(fx, "c1", true, NULL, NULL);
	fx_client(fx, "c2", true, NULL, NULL);
	fx_client(fx, "c3", true, NULL, NULL);
	fx_client(fx, "c4", true, NULL, NULL);
	begin(fx, "c1,c2,c3,c4", (struct opts){ true, false, 2, -1 }, jid);
	assert_string_equal(run_clients(fx), "c1,c2");
	assert_int_equal(fanout_cancel(fx->srv.fanout, "no-such-jid", "admin"), TE_NOTFOUND);
	assert_int_equal(fanout_cancel(fx->srv.fanout, jid, "alice"), 2);
	assert_int_equal(fx->ncancels, 2);
	assert_true((!strcmp(fx->cancels[0].jid, fx->runs[0].jid) &&
		     !strcmp(fx->cancels[1].jid, fx->runs[1].jid)) ||
		    (!strcmp(fx->cancels[0].jid, fx->runs[1].jid) &&
		     !strcmp(fx->cancels[1].jid, fx->runs[0].jid)));
	assert_string_equal(fx->cancels[0].by, "alice");
	assert_int_equal(fx_run_of(fx, fx->cancels[0].client_id) >= 0, 1);
	assert_string_equal(rec_field(fx, jid, "stop_reason"), "cancelled by alice");
	/* The children end through their agents' results; nothing more is
	 * dispatched, and the invocation ends with the last of them. */
	done(fx, 0, JOB_CANCELLED);
	assert_string_equal(run_clients(fx), "c1,c2");
	assert_int_equal(fx_count(fx, EV_INVOCATION_DONE), 0);
	done(fx, 1, JOB_CANCELLED);
	assert_string_equal(run_clients(fx), "c1,c2");
	assert_string_equal(inv_events(fx, jid), "c1:cancelled c2:cancelled DONE");
	assert_int_equal(fanout_cancel(fx->srv.fanout, jid, "alice"), TE_NOTFOUND);
}

static void test_cancel_counts_only_reached_children(void **state)
{
	/* A child whose client went away cannot be asked to stop: it is not
	 * counted. Another invocation's children are left alone. */
	struct fixture *fx = *state;
	char jid[UUID_STR_LEN], other[UUID_STR_LEN];
	struct client *c2;

	fx_client(fx, "c1", true, NULL, NULL);
	c2 = fx_client(fx, "c2", true, NULL, NULL);
	begin(fx, "c1,c2", (struct opts){ true, false, -1, -1 }, jid);
	begin(fx, "c1", SEQ, other);
	assert_int_equal(fx->nruns, 3);
	c2->s = NULL;
	assert_int_equal(fanout_cancel(fx->srv.fanout, jid, "admin"), 1);
	assert_int_equal(fx->ncancels, 1);
	assert_string_equal(fx->cancels[0].client_id, "c1");
	assert_string_equal(fx->cancels[0].jid, fx->runs[0].jid);
	done(fx, 2, JOB_SUCCESSFUL);
	assert_string_equal(inv_events(fx, other), "c1:successful DONE");
	assert_null(rec_field(fx, other, "stop_reason"));
}

static void test_cancel_before_the_commit(void **state)
{
	/* Children whose rows wait for the group commit when the invocation
	 * is cancelled are never sent: they end failed, withdrawn. */
	struct fixture *fx = *state;
	char jid[UUID_STR_LEN];

	fx_client(fx, "c1", true, NULL, NULL);
	fx_client(fx, "c2", true, NULL, NULL);
	fx->st->manual = true;
	begin(fx, "c1,c2", (struct opts){ true, false, -1, -1 }, jid);
	assert_int_equal(stub_store_pending(fx->st), 2);
	assert_int_equal(fanout_cancel(fx->srv.fanout, jid, "alice"), 0);
	store_flush(fx->st);
	assert_int_equal(fx->nruns, 0);
	assert_string_equal(inv_events(fx, jid), "c1:failed c2:failed DONE");
	for (size_t i = 0; i < fx->nevents; i++)
		if (fx->events[i].kind == EV_INVOCATION_CHILD_DONE) {
			assert_string_equal(stub_store_job_status(fx->st, fx->events[i].jid), "failed");
			assert_string_equal(stub_store_job_field(fx->st, fx->events[i].jid, "error"),
					    "cancelled before it was sent");
		}
}

static void test_unstored_child_counts(void **state)
{
	/* A child whose row cannot be written is a failure like any other:
	 * its end is published and it counts for max_errors. */
	struct fixture *fx = *state;
	char jid[UUID_STR_LEN];

	fx_client(fx, "c1", true, NULL, NULL);
	fx_client(fx, "c2", true, NULL, NULL);
	fx_client(fx, "c3", true, NULL, NULL);
	fx->st->fail[STUB_JOB_INSERT] = TE_IO;
	begin(fx, "c1,c2,c3", (struct opts){ false, false, -1, 0 }, jid);
	assert_int_equal(fx->nruns, 0);
	assert_string_equal(inv_events(fx, jid), "c1:failed DONE");
	assert_string_equal(rec_field(fx, jid, "stop_reason"), "stopped: 1 failures exceed max_errors 0");
}

static void test_multi_of(void **state)
{
	struct fixture *fx = *state;
	char jid[UUID_STR_LEN];
	char child[UUID_STR_LEN];

	fx_client(fx, "c1", true, NULL, NULL);
	fx_client(fx, "c2", true, NULL, NULL);
	begin(fx, "c1,c2", SEQ, jid);
	util_strlcpy(child, fx->runs[0].jid, sizeof child);
	assert_string_equal(fanout_multi_of(fx->srv.fanout, child, "c1"), jid);
	/* Another client's claim to the child is none. */
	assert_null(fanout_multi_of(fx->srv.fanout, child, "c2"));
	assert_null(fanout_multi_of(fx->srv.fanout, "no-such-jid", "c1"));
	done(fx, 0, JOB_SUCCESSFUL);
	/* Ended: no longer a running child. */
	assert_null(fanout_multi_of(fx->srv.fanout, child, "c1"));
	assert_string_equal(fanout_multi_of(fx->srv.fanout, fx->runs[1].jid, "c2"), jid);
	done(fx, 1, JOB_SUCCESSFUL);
	assert_null(fanout_multi_of(fx->srv.fanout, fx->runs[1].jid, "c2"));
}

static void test_destroy_while_running(void **state)
{
	/* Stopping the server with invocations under way frees them (the
	 * sanitizer build checks for leaks and use after free). */
	struct fixture *fx = *state;
	char jid[UUID_STR_LEN];

	fx_client(fx, "c1", true, NULL, NULL);
	fx_client(fx, "c2", true, NULL, NULL);
	begin(fx, "c1,c2", (struct opts){ true, false, -1, -1 }, jid);
	assert_int_equal(fx->nruns, 2);
	fanout_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sequential_one_at_a_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_end_while_running, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_max_concurrency, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_unlimited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_on_err, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_on_last_target, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_connected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_connected_counts_for_max_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_all_offline_and_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_counts_only_reached_children, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cancel_before_the_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unstored_child_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multi_of, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_while_running, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
