/* fanout: dispatching a multi job's targets and following its children. */
#include "core/fanout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "core/events.h"
#include "core/outcome.h"
#include "core/registry.h"
#include "log.h"
#include "store/store.h"
#include "util.h"

/* After a restart, agents need a moment to reconnect before unfinished
 * multi jobs dispatch their remaining targets. */
#define RESUME_DELAY_MS 10000

struct inv {
	char jid[UUID_STR_LEN];
	json_t *rec;
	size_t ntargets;
	size_t next;            /* index of the next target to dispatch */
	int running;
	int failed;
	int max_conc;           /* 0: no limit */
	int max_errors;         /* -1: no limit */
	bool concurrent;
	bool abort_on_err;
	bool stopped;           /* nothing more is dispatched */
	bool cancelled;         /* stopped by a cancel */
	bool pumping;
	UT_hash_handle hh;
};

struct child {
	char jid[UUID_STR_LEN];
	char *client_id;
	struct inv *inv;
	UT_hash_handle hh;
};

struct fanout {
	struct server *srv;
	struct inv *invs;
	struct child *children;
	uv_timer_t resume;
	json_t *to_resume;      /* records waiting for RESUME_DELAY_MS */
};

static void inv_free(struct inv *v)
{
	json_decref(v->rec);
	free(v);
}

static void child_add(struct fanout *f, struct inv *v, const char *jid, const char *client_id)
{
	struct child *c = calloc(1, sizeof *c);

	if (!c)
		return;
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

static void inv_stop(struct fanout *f, struct inv *v, const char *reason)
{
	if (v->stopped)
		return;
	v->stopped = true;
	if (v->next < v->ntargets) {
		json_object_set_new(v->rec, "stop_reason", json_string(reason));
		inv_save(f, v);
		log_info("multi job %s: %s", v->jid, reason);
	}
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

/* Records a child's outcome in the counters; may stop the job. */
static void inv_account(struct fanout *f, struct inv *v, const char *client_id, bool failed)
{
	char why[300];

	if (!failed)
		return;
	v->failed++;
	if (!v->concurrent && v->abort_on_err) {
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
	bool cancelled;         /* its invocation was cancelled before it was sent */
};

static void inv_pump(struct fanout *f, struct inv *v);

static int dispatch_apply(struct store *st, void *arg)
{
	struct dispatch *d = arg;

	return store_job_insert(st, &d->j);
}

static int fail_apply(struct store *st, void *arg)
{
	struct dispatch *d = arg;

	if (d->cancelled)
		return outcome_fail(st, d->j.jid, "cancelled before it was sent", "withdrawn");
	return outcome_not_connected(st, d->j.jid, NULL);
}

/* A child that never ran (its client was not connected, it could not be
 * stored, or the job was cancelled before it was sent) is final now. */
static void child_failed(struct fanout *f, struct inv *v, const char *jid, const char *client_id)
{
	child_done_publish(f, v->jid, jid, client_id, JOB_FAILED, EV_INVOCATION_CHILD_DONE);
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

static void dispatch_after(void *arg, int rc)
{
	struct dispatch *d = arg;
	struct fanout *f = d->f;
	struct client *c;

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
	c = registry_find(f->srv->registry, d->client_id);
	if (registry_client_connected(c) && registry_run(f->srv->registry, c, &d->j, NULL, NULL) == 0) {
		child_add(f, d->v, d->j.jid, d->client_id);
		free(d);
		return;
	}
	store_queue(f->srv->store, fail_apply, fail_after, d);
}

static void dispatch(struct fanout *f, struct inv *v, const char *client_id)
{
	struct client *c = registry_find(f->srv->registry, client_id);
	struct dispatch *d = calloc(1, sizeof *d);
	json_t *r = v->rec;

	if (!d) {
		v->failed++;
		return;
	}
	d->f = f;
	d->v = v;
	util_strlcpy(d->client_id, client_id, sizeof d->client_id);
	util_strlcpy(d->client_name, c ? registry_client_name(c) : client_id, sizeof d->client_name);
	util_uuid7(d->j.jid);
	d->j.multi_job_id = v->jid;
	d->j.client_id = d->client_id;
	d->j.client_name = d->client_name;
	d->j.command = json_string_value(json_object_get(r, "command"));
	d->j.argv = json_object_get(r, "argv");
	d->j.cwd = json_string_value(json_object_get(r, "cwd"));
	d->j.interpreter = json_string_value(json_object_get(r, "interpreter"));
	d->j.is_sudo = json_is_true(json_object_get(r, "is_sudo"));
	d->j.is_script = json_is_true(json_object_get(r, "is_script"));
	d->j.kill_on_timeout = json_is_true(json_object_get(r, "kill_on_timeout"));
	d->j.stream = json_is_true(json_object_get(r, "stream"));
	d->j.output_cap_bytes = json_integer_value(json_object_get(r, "output_cap_bytes"));
	d->j.timeout_sec = json_integer_value(json_object_get(r, "timeout_sec"));
	d->j.delivery_timeout_sec = json_integer_value(json_object_get(r, "delivery_timeout_sec"));
	d->j.created_by = json_string_value(json_object_get(r, "created_by"));
	d->j.created_at = util_now_ns();
	v->running++;
	store_queue(f->srv->store, dispatch_apply, dispatch_after, d);
}

/* Dispatches what the limits allow; finishes the job when all is done. */
static void inv_pump(struct fanout *f, struct inv *v)
{
	json_t *targets = json_object_get(v->rec, "targets");
	int limit = !v->concurrent ? 1 : v->max_conc;

	if (v->pumping)
		return;
	v->pumping = true;
	while (!v->stopped && v->next < v->ntargets && (limit == 0 || v->running < limit)) {
		const char *id = json_string_value(json_array_get(targets, v->next));

		v->next++;
		dispatch(f, v, id);
	}
	v->pumping = false;
	if (v->running == 0 && (v->stopped || v->next >= v->ntargets))
		inv_finish(f, v);
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
	HASH_DEL(f->children, c);
	child_free(c);
	child_done_publish(f, v->jid, e->jid, client_id, e->status, EV_INVOCATION_CHILD_DONE);
	v->running--;
	inv_account(f, v, client_id, e->status == JOB_FAILED);
	inv_pump(f, v);
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
		child_add(r->f, r->v, jid, client_id);
	} else {
		inv_account(r->f, r->v, client_id, !strcmp(status, "failed"));
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
	log_info("multi job %s: resumed after a restart (%zu of %zu targets dispatched)",
		 r->v->jid, r->v->next, r->v->ntargets);
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
	store_multi_each_unfinished(srv->store, collect_unfinished, f);
	uv_timer_init(srv->loop, &f->resume);
	f->resume.data = f;
	if (json_array_size(f->to_resume))
		uv_timer_start(&f->resume, resume_cb, RESUME_DELAY_MS, 0);
	uv_unref((uv_handle_t *)&f->resume);
	*out = f;
	return 0;
}

void fanout_stop(struct fanout *f)
{
	if (f && !uv_is_closing((uv_handle_t *)&f->resume))
		uv_close((uv_handle_t *)&f->resume, NULL);
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
	inv_stop(f, v, why);
	/* Each running child ends through its agent's result. No store read
	 * per child: the child knows its client. */
	HASH_ITER(hh, f->children, c, tmp) {
		if (c->inv != v)
			continue;
		if (!registry_cancel(f->srv->registry, registry_find(f->srv->registry, c->client_id), c->jid, by))
			n++;
	}
	return n;
}
