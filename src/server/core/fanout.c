/* fanout: dispatching a multi job's targets and following its children. */
#include "core/fanout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "core/events.h"
#include "core/offline.h"
#include "core/outcome.h"
#include "core/registry.h"
#include "log.h"
#include "store/store.h"
#include "util.h"

/* After a restart, agents need a moment to reconnect before unfinished
 * multi jobs dispatch their remaining targets. */
#define RESUME_DELAY_MS 10000
/* Targets dispatched in one loop turn at most, all multi jobs together: a
 * fan-out to a large fleet goes out over several turns, with the loop's
 * other work (API requests, results) in between. The budget is the
 * turn's, not the call's: each result of a running fan-out pumps its job
 * again, and a per-call bound let one turn that stored 128 results
 * dispatch everything left (60 ms of one turn at 19,800 targets). */
#define FANOUT_TURN_DISPATCH 128

struct inv {
	char jid[UUID_STR_LEN];
	json_t *rec;
	size_t ntargets;
	size_t next;            /* index of the next target to dispatch */
	int running;            /* dispatched children not yet final */
	int inflight;           /* of those, the last ones, whose job row is not committed yet */
	int queued;             /* children queued for offline clients */
	int failed;
	int max_conc;           /* 0: no limit */
	int max_errors;         /* -1: no limit */
	bool concurrent;
	bool abort_on_err;
	bool stopped;           /* nothing more is dispatched */
	bool cancelled;         /* stopped by a cancel */
	bool pumping;
	bool queue_offline;     /* offline targets wait (core/offline.h) */
	int64_t expires_at;     /* ns: their deadline */
	/* What every child's job has in common, read from rec once (its
	 * strings are rec's): a child copies it and adds its own fields. */
	struct job_spec tmpl;
	json_t *ready;          /* queued children whose agent is back,
				 * waiting for a slot (jids, in order) */
	/* Final children by outcome, counted here since the start (not for
	 * an invocation resumed after a restart: its earlier children are
	 * only in the store). fanout_progress serves them. */
	int64_t n_successful, n_failed, n_unknown, n_expired;
	bool resumed;
	UT_hash_handle hh;
};

/* A child's final status in the counters (the store's words: cancelled
 * counts as failed, as GET /commands/{jid} has it). */
static void inv_count(struct inv *v, enum job_status s)
{
	if (s == JOB_SUCCESSFUL)
		v->n_successful++;
	else if (s == JOB_FAILED || s == JOB_CANCELLED)
		v->n_failed++;
	else if (s == JOB_EXPIRED)
		v->n_expired++;
	else
		v->n_unknown++;
}

struct child {
	char jid[UUID_STR_LEN];
	char *client_id;
	struct inv *inv;
	bool queued;            /* waits in the offline queue: no slot taken */
	UT_hash_handle hh;
};

struct fanout {
	struct server *srv;
	struct inv *invs;
	struct child *children;
	uv_timer_t resume;
	uv_idle_t more;         /* active while a job has targets left for the next turn */
	uv_check_t refill;      /* gives the next turn its budget (active once used) */
	int budget;             /* dispatches left in this turn */
	json_t *to_resume;      /* records waiting for RESUME_DELAY_MS */
};

static void inv_free(struct inv *v)
{
	json_decref(v->rec);
	json_decref(v->ready);
	free(v);
}

static void child_add(struct fanout *f, struct inv *v, const char *jid, const char *client_id,
		      bool queued)
{
	struct child *c = calloc(1, sizeof *c);

	if (!c)
		return;
	c->queued = queued;
	c->client_id = strdup(client_id);
	if (!c->client_id) {
		free(c);
		return;
	}
	util_strlcpy(c->jid, jid, sizeof c->jid);
	c->inv = v;
	HASH_ADD_STR(f->children, jid, c);
}

static void child_free(struct child *c)
{
	if (!c)
		return;
	free(c->client_id);
	free(c);
}

static void inv_save(struct fanout *f, struct inv *v)
{
	int64_t started = 0;

	util_time_parse(json_string_value(json_object_get(v->rec, "started_at")), &started);
	store_multi_put(f->srv->store, v->jid, started,
			json_string_value(json_object_get(v->rec, "created_by")), v->rec);
}

/* A stopped invocation dispatches nothing more: its queued children end
 * "cancelled" with the reason. Returns how many were asked to. */
static int cancel_queued(struct fanout *f, struct inv *v, const char *reason)
{
	struct child *c, *tmp;
	char why[400];
	int n = 0;

	snprintf(why, sizeof why, "cancelled before it was dispatched: %.300s", reason);
	HASH_ITER(hh, f->children, c, tmp) {
		if (c->inv == v && c->queued && !offline_cancel(f->srv->offline, c->jid, why))
			n++;
	}
	return n;
}

static void inv_stop(struct fanout *f, struct inv *v, const char *reason)
{
	if (v->stopped)
		return;
	v->stopped = true;
	if (v->next < v->ntargets || v->queued) {
		json_object_set_new(v->rec, "stop_reason", json_string(reason));
		inv_save(f, v);
		log_info("multi job %s: %s", v->jid, reason);
	}
	if (v->queued)
		cancel_queued(f, v, reason);
}

static void child_done_publish(struct fanout *f, const char *inv_id, const char *jid,
			       const char *client_id, enum job_status status, enum event_kind kind)
{
	struct event e = { .kind = kind, .jid = jid, .invocation_id = inv_id,
			   .client_id = client_id, .status = status };

	events_publish(f->srv->events, &e);
}

static void inv_finish(struct fanout *f, struct inv *v)
{
	char t[TIME_STR_LEN];

	util_time_format(util_now_ns(), t);
	json_object_set_new(v->rec, "finished_at", json_string(t));
	inv_save(f, v);
	child_done_publish(f, v->jid, NULL, NULL, JOB_UNKNOWN, EV_INVOCATION_DONE);
	HASH_DEL(f->invs, v);
	inv_free(v);
}

/* Records a child's outcome in the counters; may stop the job. An
 * expired child (its client never came back) counts as a failure for
 * max_errors but does not abort, as a target that is not connected. */
static void inv_account(struct fanout *f, struct inv *v, const char *client_id, bool failed,
			bool may_abort)
{
	char why[300];

	if (!failed)
		return;
	v->failed++;
	if (may_abort && !v->concurrent && v->abort_on_err) {
		snprintf(why, sizeof why,
			 "aborted: the command failed on client \"%.128s\" (abort_on_error)", client_id);
		inv_stop(f, v, why);
	}
	if (v->max_errors >= 0 && v->failed > v->max_errors) {
		snprintf(why, sizeof why, "stopped: %d failures exceed max_errors %d", v->failed,
			 v->max_errors);
		inv_stop(f, v, why);
	}
}

/* One target on its way: the child job is stored (group commit) before
 * the run is sent. It counts as running from the start, so the limits and
 * the end of the job see it. */
struct dispatch {
	struct fanout *f;
	struct inv *v;
	struct job_spec j;
	char client_id[256];
	char client_name[256];
	struct client_ref client; /* found when its record was made */
	bool cancelled;         /* its invocation was cancelled before it was sent */
};

static void inv_pump(struct fanout *f, struct inv *v);
static void more_cb(uv_idle_t *h);

/* After the turn's I/O: the next turn may dispatch FANOUT_TURN_DISPATCH. */
static void refill_cb(uv_check_t *h)
{
	struct fanout *f = h->data;

	f->budget = FANOUT_TURN_DISPATCH;
	uv_check_stop(h);
}

static int dispatch_apply(struct store *st, void *arg)
{
	struct dispatch *d = arg;

	return store_job_insert(st, &d->j);
}

static int fail_apply(struct store *st, void *arg)
{
	struct dispatch *d = arg;

	if (d->cancelled && d->j.queued)
		return store_job_unqueue(st, d->j.jid, JOB_CANCELLED, "cancelled before it was sent",
					 util_now_ns());
	if (d->cancelled)
		return outcome_fail(st, d->j.jid, "cancelled before it was sent", "withdrawn");
	return outcome_not_connected(st, d->j.jid, NULL);
}

/* A child that never ran (its client was not connected, it could not be
 * stored, or the job was cancelled before it was sent) is final now. */
static void child_failed(struct fanout *f, struct inv *v, const char *jid, const char *client_id)
{
	child_done_publish(f, v->jid, jid, client_id, JOB_FAILED, EV_INVOCATION_CHILD_DONE);
	inv_count(v, JOB_FAILED);
	v->running--;
	/* rport: a disconnected target does not abort the cycle; it counts
	 * as a failure for max_errors. */
	v->failed++;
	if (v->max_errors >= 0 && v->failed > v->max_errors) {
		char why[200];

		snprintf(why, sizeof why, "stopped: %d failures exceed max_errors %d", v->failed,
			 v->max_errors);
		inv_stop(f, v, why);
	}
	inv_pump(f, v);
}

static void fail_after(void *arg, int rc)
{
	struct dispatch *d = arg;

	(void)rc;
	child_failed(d->f, d->v, d->j.jid, d->client_id);
	free(d);
}

/* The child's job is stored as queued: it waits for its agent without a
 * slot (max_concurrency counts it once it is dispatched). */
static void child_queued(struct fanout *f, struct dispatch *d)
{
	struct inv *v = d->v;

	child_add(f, v, d->j.jid, d->client_id, true);
	v->running--;
	v->queued++;
	offline_add(f->srv->offline, d->j.jid, d->client_id, v->jid, d->j.created_at,
		    d->j.expires_at);
	inv_pump(f, v);
}

static int requeue_apply(struct store *st, void *arg)
{
	struct dispatch *d = arg;

	return store_job_requeue(st, d->j.jid);
}

static void requeue_after(void *arg, int rc)
{
	struct dispatch *d = arg;

	if (rc) {
		store_queue(d->f->srv->store, fail_apply, fail_after, d);
		return;
	}
	child_queued(d->f, d);
	free(d);
}

static void dispatch_after(void *arg, int rc)
{
	struct dispatch *d = arg;
	struct fanout *f = d->f;
	struct client *c;

	d->v->inflight--;
	if (rc) {
		log_error("multi job %s: cannot store the job for %s", d->v->jid, d->client_id);
		child_failed(f, d->v, d->j.jid, d->client_id);
		free(d);
		return;
	}
	/* Cancelled while its record waited for the commit: never sent. */
	if (d->v->stopped && d->v->cancelled) {
		d->cancelled = true;
		store_queue(f->srv->store, fail_apply, fail_after, d);
		return;
	}
	if (d->j.queued) {
		child_queued(f, d);
		free(d);
		return;
	}
	c = registry_ref_get(f->srv->registry, &d->client, d->client_id);
	if (registry_client_connected(c) && registry_run(f->srv->registry, c, &d->j, NULL, NULL) == 0) {
		child_add(f, d->v, d->j.jid, d->client_id, false);
		free(d);
		return;
	}
	/* Gone before the run was sent: back to waiting, if it may. */
	if (d->v->queue_offline) {
		store_queue(f->srv->store, requeue_apply, requeue_after, d);
		return;
	}
	store_queue(f->srv->store, fail_apply, fail_after, d);
}

static void dispatch(struct fanout *f, struct inv *v, const char *client_id)
{
	struct client *c = registry_find(f->srv->registry, client_id);
	struct dispatch *d = calloc(1, sizeof *d);

	if (!d) {
		v->failed++;
		return;
	}
	d->f = f;
	d->v = v;
	registry_ref_take(f->srv->registry, &d->client, c);
	util_strlcpy(d->client_id, client_id, sizeof d->client_id);
	util_strlcpy(d->client_name, c ? registry_client_name(c) : client_id, sizeof d->client_name);
	d->j = v->tmpl;
	util_uuid7(d->j.jid);
	d->j.client_id = d->client_id;
	d->j.client_name = d->client_name;
	d->j.created_at = util_now_ns();
	if (v->queue_offline) {
		d->j.expires_at = v->expires_at;
		d->j.queued = !registry_client_connected(c);
	}
	v->running++;
	v->inflight++;
	store_queue(f->srv->store, dispatch_apply, dispatch_after, d);
}

/* Is there a slot for one more dispatched child? */
static bool slot_free(const struct inv *v)
{
	int limit = !v->concurrent ? 1 : v->max_conc;

	return limit == 0 || v->running < limit;
}

/* A queued child leaves the queue: it takes a slot from now on. */
static void child_take_slot(struct inv *v, struct child *c)
{
	c->queued = false;
	v->queued--;
	v->running++;
}

/* Dispatches what the limits allow; finishes the job when all is done.
 * Queued children whose agent is back go first (they come earlier in
 * the targets' order), then targets not dispatched yet. */
static void inv_pump(struct fanout *f, struct inv *v)
{
	json_t *targets = json_object_get(v->rec, "targets");
	int limit = !v->concurrent ? 1 : v->max_conc;

	if (v->pumping)
		return;
	v->pumping = true;
	while (!v->stopped && json_array_size(v->ready) && slot_free(v)) {
		char jid[UUID_STR_LEN];
		struct child *c;

		util_strlcpy(jid, json_string_value(json_array_get(v->ready, 0)), sizeof jid);
		json_array_remove(v->ready, 0);
		HASH_FIND_STR(f->children, jid, c);
		if (!c || !c->queued)
			continue;
		child_take_slot(v, c);
		/* Not queued any more (its cancel or expiry is being written):
		 * its done event gives the slot back. */
		offline_dispatch(f->srv->offline, jid);
	}
	while (!v->stopped && v->next < v->ntargets && (limit == 0 || v->running < limit)) {
		const char *id = json_string_value(json_array_get(targets, v->next));

		if (f->budget <= 0) {
			uv_idle_start(&f->more, more_cb);
			break;
		}
		f->budget--;
		if (!uv_is_active((uv_handle_t *)&f->refill))
			uv_check_start(&f->refill, refill_cb);
		v->next++;
		dispatch(f, v, id);
	}
	v->pumping = false;
	if (v->running == 0 && v->queued == 0 && (v->stopped || v->next >= v->ntargets))
		inv_finish(f, v);
}

/* The next turn of the jobs that had targets left: each dispatches its
 * next FANOUT_TURN_DISPATCH (inv_pump starts the handle again while some
 * remain). */
static void more_cb(uv_idle_t *h)
{
	struct fanout *f = h->data;
	struct inv *v, *tmp;

	uv_idle_stop(h);
	HASH_ITER(hh, f->invs, v, tmp) {
		if (!v->stopped && v->next < v->ntargets && slot_free(v))
			inv_pump(f, v);
	}
}

static void on_job_done(void *ud, const struct event *e)
{
	struct fanout *f = ud;
	struct child *c;
	struct inv *v;
	char client_id[256] = "";

	HASH_FIND_STR(f->children, e->jid, c);
	if (!c)
		return;
	v = c->inv;
	util_strlcpy(client_id, c->client_id, sizeof client_id);
	if (c->queued)
		v->queued--;
	else
		v->running--;
	HASH_DEL(f->children, c);
	child_free(c);
	inv_count(v, e->status);
	child_done_publish(f, v->jid, e->jid, client_id, e->status, EV_INVOCATION_CHILD_DONE);
	if (e->status == JOB_EXPIRED)
		inv_account(f, v, client_id, true, false);
	else
		inv_account(f, v, client_id, e->status == JOB_FAILED, true);
	inv_pump(f, v);
}

/* The fields of v's record that each child's job copies (the strings
 * stay rec's: v holds it, and nothing replaces these keys). */
static void spec_template(struct job_spec *t, const struct inv *v)
{
	json_t *r = v->rec;

	memset(t, 0, sizeof *t);
	t->multi_job_id = v->jid;
	t->schedule_id = json_string_value(json_object_get(r, "schedule_id"));
	t->command = json_string_value(json_object_get(r, "command"));
	t->argv = json_object_get(r, "argv");
	t->cwd = json_string_value(json_object_get(r, "cwd"));
	t->interpreter = json_string_value(json_object_get(r, "interpreter"));
	t->is_sudo = json_is_true(json_object_get(r, "is_sudo"));
	t->run_as = json_string_value(json_object_get(r, "run_as"));
	t->is_script = json_is_true(json_object_get(r, "is_script"));
	t->kill_on_timeout = json_is_true(json_object_get(r, "kill_on_timeout"));
	t->stream = json_is_true(json_object_get(r, "stream"));
	t->output_cap_bytes = json_integer_value(json_object_get(r, "output_cap_bytes"));
	t->timeout_sec = json_integer_value(json_object_get(r, "timeout_sec"));
	t->delivery_timeout_sec = json_integer_value(json_object_get(r, "delivery_timeout_sec"));
	t->created_by = json_string_value(json_object_get(r, "created_by"));
}

static struct inv *inv_new(struct fanout *f, json_t *rec)
{
	struct inv *v = calloc(1, sizeof *v);
	json_t *mc = json_object_get(rec, "max_concurrency");
	json_t *me = json_object_get(rec, "max_errors");

	if (!v)
		return NULL;
	util_strlcpy(v->jid, json_string_value(json_object_get(rec, "jid")), sizeof v->jid);
	v->rec = json_incref(rec);
	v->ntargets = json_array_size(json_object_get(rec, "targets"));
	v->concurrent = json_is_true(json_object_get(rec, "concurrent"));
	v->abort_on_err = json_is_true(json_object_get(rec, "abort_on_err"));
	v->max_conc = json_is_integer(mc) ? (int)json_integer_value(mc) : 0;
	v->max_errors = json_is_integer(me) ? (int)json_integer_value(me) : -1;
	v->queue_offline = json_is_true(json_object_get(rec, "queue_offline"));
	v->expires_at = json_integer_value(json_object_get(rec, "expires_at"));
	spec_template(&v->tmpl, v);
	v->ready = json_array();
	if (!v->ready) {
		json_decref(v->rec);
		free(v);
		return NULL;
	}
	HASH_ADD_STR(f->invs, jid, v);
	return v;
}

int fanout_begin(struct fanout *f, json_t *record)
{
	struct inv *v = inv_new(f, record);

	if (!v)
		return TE_NOMEM;
	inv_pump(f, v);
	return 0;
}

/* ---- restart: pick up unfinished multi jobs -------------------------- */

struct resume_ctx {
	struct fanout *f;
	struct inv *v;
	json_t *seen;   /* client ids with a child */
};

static void resume_child(void *ud, const char *client_id, const char *jid, const char *status)
{
	struct resume_ctx *r = ud;

	json_object_set_new(r->seen, client_id, json_true());
	if (!strcmp(status, "running")) {
		r->v->running++;
		child_add(r->f, r->v, jid, client_id, false);
	} else if (!strcmp(status, "queued")) {
		r->v->queued++;
		child_add(r->f, r->v, jid, client_id, true);
	} else {
		inv_account(r->f, r->v, client_id, !strcmp(status, "failed") || !strcmp(status, "expired"),
			    !strcmp(status, "failed"));
	}
}

/* The children of a resumed multi job are known: dispatching goes on
 * from the first target without one. */
static void resume_children_read(void *ud, int rc)
{
	struct resume_ctx *r = ud;
	json_t *targets = json_object_get(r->v->rec, "targets");

	(void)rc;
	/* Targets are dispatched in order: the first without a child is next. */
	while (r->v->next < r->v->ntargets &&
	       json_object_get(r->seen, json_string_value(json_array_get(targets, r->v->next))))
		r->v->next++;
	log_info("multi job %s: resumed after a restart (%zu of %zu targets dispatched, %d queued)",
		 r->v->jid, r->v->next, r->v->ntargets, r->v->queued);
	if (r->v->stopped && r->v->queued) {
		cancel_queued(r->f, r->v, json_string_value(json_object_get(r->v->rec, "stop_reason")));
	} else if (r->v->queued) {
		/* Agents that came back before the resume: their queued
		 * children wait for a slot like any other. */
		struct child *c, *tmp;

		HASH_ITER(hh, r->f->children, c, tmp) {
			if (c->inv == r->v && c->queued &&
			    registry_client_connected(registry_find(r->f->srv->registry, c->client_id)))
				json_array_append_new(r->v->ready, json_string(c->jid));
		}
	}
	inv_pump(r->f, r->v);
	json_decref(r->seen);
	free(r);
}

static void resume_one(struct fanout *f, json_t *rec)
{
	struct resume_ctx *r = calloc(1, sizeof *r);

	if (!r || !(r->seen = json_object())) {
		free(r);
		return;
	}
	r->f = f;
	r->v = inv_new(f, rec);
	if (!r->v) {
		json_decref(r->seen);
		free(r);
		return;
	}
	r->v->resumed = true;
	if (json_object_get(rec, "stop_reason"))
		r->v->stopped = true;
	store_read_each_child(f->srv->store, r->v->jid, resume_child, resume_children_read, r);
}

static void resume_cb(uv_timer_t *t)
{
	struct fanout *f = t->data;
	size_t i;
	json_t *rec;

	json_array_foreach(f->to_resume, i, rec)
		resume_one(f, rec);
	json_array_clear(f->to_resume);
}

static void collect_unfinished(void *ud, const char *jid, json_t *data)
{
	struct fanout *f = ud;

	(void)jid;
	json_array_append(f->to_resume, data);
}

/* offline's hooks: a queued child's agent is back. */
static bool hook_ready(void *ud, const char *multi_jid, const char *jid)
{
	struct fanout *f = ud;
	struct child *c;
	struct inv *v;

	(void)multi_jid;
	HASH_FIND_STR(f->children, jid, c);
	/* Unknown: its invocation resumes shortly and picks it up. */
	if (!c || !c->queued)
		return false;
	v = c->inv;
	if (v->stopped)
		return false;
	if (!v->pumping && !json_array_size(v->ready) && slot_free(v)) {
		child_take_slot(v, c);
		return true;
	}
	json_array_append_new(v->ready, json_string(jid));
	return false;
}

static void hook_requeued(void *ud, const char *multi_jid, const char *jid)
{
	struct fanout *f = ud;
	struct child *c;

	(void)multi_jid;
	HASH_FIND_STR(f->children, jid, c);
	if (!c || c->queued)
		return;
	c->queued = true;
	c->inv->running--;
	c->inv->queued++;
	inv_pump(f, c->inv);
}

static const struct offline_hooks fanout_hooks = { hook_ready, hook_requeued };

int fanout_progress(struct fanout *f, const char *jid, struct fanout_progress *out)
{
	struct inv *v;

	if (!f)
		return TE_NOTFOUND;
	HASH_FIND_STR(f->invs, jid, v);
	if (!v || v->resumed)
		return TE_NOTFOUND;
	out->rec = v->rec;
	/* A child whose row is not committed yet is still pending, as the
	 * store (and so the job list) has it: the commits follow the order
	 * of dispatch, so those are the last dispatched targets. */
	out->next = v->next - (size_t)v->inflight;
	out->running = v->running - v->inflight;
	out->queued = v->queued;
	out->successful = v->n_successful;
	out->failed = v->n_failed;
	out->unknown = v->n_unknown;
	out->expired = v->n_expired;
	return 0;
}

int fanout_create(struct server *srv, struct fanout **out)
{
	struct fanout *f = calloc(1, sizeof *f);

	if (!f)
		return TE_NOMEM;
	f->srv = srv;
	f->to_resume = json_array();
	if (events_subscribe(srv->events, EV_MASK(EV_JOB_DONE), on_job_done, f)) {
		json_decref(f->to_resume);
		free(f);
		return TE_NOMEM;
	}
	if (srv->offline)
		offline_set_hooks(srv->offline, &fanout_hooks, f);
	store_multi_each_unfinished(srv->store, collect_unfinished, f);
	uv_timer_init(srv->loop, &f->resume);
	f->resume.data = f;
	uv_idle_init(srv->loop, &f->more);
	f->more.data = f;
	uv_check_init(srv->loop, &f->refill);
	f->refill.data = f;
	f->budget = FANOUT_TURN_DISPATCH;
	if (json_array_size(f->to_resume))
		uv_timer_start(&f->resume, resume_cb, RESUME_DELAY_MS, 0);
	uv_unref((uv_handle_t *)&f->resume);
	*out = f;
	return 0;
}

void fanout_stop(struct fanout *f)
{
	if (f && !uv_is_closing((uv_handle_t *)&f->resume)) {
		uv_close((uv_handle_t *)&f->resume, NULL);
		uv_close((uv_handle_t *)&f->more, NULL);
		uv_close((uv_handle_t *)&f->refill, NULL);
	}
}

void fanout_destroy(struct fanout *f)
{
	struct inv *v, *vtmp;
	struct child *c, *ctmp;

	if (!f)
		return;
	events_unsubscribe(f->srv->events, on_job_done, f);
	HASH_ITER(hh, f->invs, v, vtmp) {
		HASH_DEL(f->invs, v);
		inv_free(v);
	}
	HASH_ITER(hh, f->children, c, ctmp) {
		HASH_DEL(f->children, c);
		child_free(c);
	}
	json_decref(f->to_resume);
	free(f);
}

const char *fanout_multi_of(struct fanout *f, const char *child_jid, const char *client_id)
{
	struct child *c;

	HASH_FIND_STR(f->children, child_jid, c);
	return c && !strcmp(c->client_id, client_id) ? c->inv->jid : NULL;
}

/* ---- reading -------------------------------------------------------- */


int fanout_cancel(struct fanout *f, const char *jid, const char *by)
{
	struct child *c, *tmp;
	struct inv *v;
	char why[200];
	int n = 0;

	HASH_FIND_STR(f->invs, jid, v);
	if (!v)
		return TE_NOTFOUND;
	snprintf(why, sizeof why, "cancelled by %.128s", by);
	v->cancelled = true;
	if (!v->stopped && v->queued)
		n += v->queued;
	inv_stop(f, v, why);
	/* Each running child ends through its agent's result. No store read
	 * per child: the child knows its client. */
	HASH_ITER(hh, f->children, c, tmp) {
		if (c->inv != v || c->queued)
			continue;
		if (!registry_cancel(f->srv->registry, registry_find(f->srv->registry, c->client_id), c->jid, by))
			n++;
	}
	return n;
}
