/* offline: jobs queued for offline clients; see offline.h. */
#include "core/offline.h"
#include "core/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "core/events.h"
#include "core/registry.h"
#include "log.h"
#include "server.h"
#include "store/store.h"
#include "util.h"

#define SWEEP_MS 1000
#define NS_PER_SEC 1000000000LL

struct qclient;

/* A queued job. busy: a write about it is in flight (its dispatch, its
 * expiry or its cancel); nothing else is started for it meanwhile. */
struct qjob {
	char jid[UUID_STR_LEN];
	char *client_id;
	char *multi_jid;             /* NULL: a single-client job */
	int64_t created_at, expires_at;
	bool busy;
	struct qclient *cl;
	struct qjob *cnext, *cprev;  /* its client's list */
	UT_hash_handle hh;           /* offline.jobs, by jid */
};

struct qclient {
	char *id;
	struct qjob *head;
	UT_hash_handle hh;           /* offline.clients, by id */
};

struct offline {
	struct server *srv;
	struct qjob *jobs;
	struct qclient *clients;
	size_t n;
	uv_timer_t sweep;
	struct offline_hooks hooks;
	void *hooks_ud;
};

enum { QW_DISPATCH, QW_REQUEUE, QW_END };

/* A write about a queued job, with what its continuation needs. */
struct qwrite {
	struct offline *q;
	int kind;
	char jid[UUID_STR_LEN];
	char client_id[256];
	char multi_jid[UUID_STR_LEN];   /* "" for none */
	int64_t created_at, expires_at;
	enum job_status status;         /* QW_END */
	char error[400];
	int64_t at;
};

/* ---- the in-memory index ------------------------------------------------ */

static struct qjob *find(const struct offline *q, const char *jid)
{
	struct qjob *j;

	HASH_FIND_STR(q->jobs, jid, j);
	return j;
}

static void unlink_job(struct offline *q, struct qjob *j)
{
	struct qclient *cl = j->cl;

	HASH_DEL(q->jobs, j);
	q->n--;
	if (j->cprev)
		j->cprev->cnext = j->cnext;
	else
		cl->head = j->cnext;
	if (j->cnext)
		j->cnext->cprev = j->cprev;
	if (!cl->head) {
		HASH_DEL(q->clients, cl);
		free(cl->id);
		free(cl);
	}
	free(j->client_id);
	free(j->multi_jid);
	free(j);
}

/* Adds a job to the index (appended to its client's list: creation
 * order). Returns it, or NULL on no memory. */
static struct qjob *index_add(struct offline *q, const char *jid, const char *client_id,
			      const char *multi_jid, int64_t created_at, int64_t expires_at)
{
	struct qjob *j = find(q, jid), *tail;
	struct qclient *cl;

	if (j)
		return j;
	HASH_FIND_STR(q->clients, client_id, cl);
	if (!cl) {
		cl = calloc(1, sizeof *cl);
		if (!cl || !(cl->id = strdup(client_id))) {
			free(cl);
			return NULL;
		}
		HASH_ADD_KEYPTR(hh, q->clients, cl->id, strlen(cl->id), cl);
	}
	j = calloc(1, sizeof *j);
	if (!j || !(j->client_id = strdup(client_id)) ||
	    (multi_jid && *multi_jid && !(j->multi_jid = strdup(multi_jid)))) {
		if (j)
			free(j->client_id);
		free(j);
		if (!cl->head) {
			HASH_DEL(q->clients, cl);
			free(cl->id);
			free(cl);
		}
		return NULL;
	}
	util_strlcpy(j->jid, jid, sizeof j->jid);
	j->created_at = created_at;
	j->expires_at = expires_at;
	j->cl = cl;
	for (tail = cl->head; tail && tail->cnext; tail = tail->cnext)
		;
	if (tail) {
		tail->cnext = j;
		j->cprev = tail;
	} else {
		cl->head = j;
	}
	HASH_ADD_STR(q->jobs, jid, j);
	q->n++;
	return j;
}

/* ---- writes ------------------------------------------------------------- */

static struct qwrite *qwrite_new(struct offline *q, int kind, const struct qjob *j)
{
	struct qwrite *w = calloc(1, sizeof *w);

	if (!w)
		return NULL;
	w->q = q;
	w->kind = kind;
	util_strlcpy(w->jid, j->jid, sizeof w->jid);
	util_strlcpy(w->client_id, j->client_id, sizeof w->client_id);
	util_strlcpy(w->multi_jid, j->multi_jid ? j->multi_jid : "", sizeof w->multi_jid);
	w->created_at = j->created_at;
	w->expires_at = j->expires_at;
	return w;
}

static int qwrite_apply(struct store *st, void *arg)
{
	struct qwrite *w = arg;

	switch (w->kind) {
	case QW_DISPATCH:
		return store_job_dispatch(st, w->jid, w->at);
	case QW_REQUEUE:
		return store_job_requeue(st, w->jid);
	default:
		return store_job_unqueue(st, w->jid, w->status, w->error, w->at);
	}
}

static void publish_done(struct offline *q, const struct qwrite *w)
{
	struct event e = { .kind = EV_JOB_DONE, .jid = w->jid, .client_id = w->client_id,
			   .status = w->status };

	e.invocation_id = *w->multi_jid ? w->multi_jid : NULL;
	events_publish(q->srv->events, &e);
}

static void send_read(void *ud, int rc, struct job_row *job);
static int end_queued(struct offline *q, struct qjob *j, enum job_status status,
		      const char *error, int64_t at);

static void qwrite_after(void *arg, int rc)
{
	struct qwrite *w = arg;
	struct offline *q = w->q;
	struct qjob *j = find(q, w->jid);

	switch (w->kind) {
	case QW_DISPATCH:
		if (rc == TE_IO) {
			/* Still queued: the next hello tries again. */
			if (j)
				j->busy = false;
			log_error("offline: job %s: cannot record its dispatch; it stays queued", w->jid);
			break;
		}
		if (j)
			unlink_job(q, j);
		if (rc == 0) {
			/* Durable as running: now the run goes out. The row is
			 * read for what to send (w lives through the read). */
			store_read_job(q->srv->store, w->jid, send_read, w);
			return;
		}
		break;
	case QW_REQUEUE:
		if (rc == 0) {
			index_add(q, w->jid, w->client_id, *w->multi_jid ? w->multi_jid : NULL,
				  w->created_at, w->expires_at);
			if (*w->multi_jid && q->hooks.requeued)
				q->hooks.requeued(q->hooks_ud, w->multi_jid, w->jid);
			/* (its client deleted while the agent went: as offline_add) */
			j = find(q, w->jid);
			if (j && !j->busy && !registry_find(q->srv->registry, w->client_id))
				end_queued(q, j, JOB_CANCELLED, OFFLINE_CLIENT_DELETED, util_now_ns());
		}
		break;
	default:
		if (rc == TE_IO) {
			if (j)
				j->busy = false;
			break;
		}
		if (j)
			unlink_job(q, j);
		if (rc == 0)
			publish_done(q, w);
		break;
	}
	free(w);
}

/* A dispatched job's row has been read: the run is sent, or, when the
 * agent has gone meanwhile, the job goes back to the queue. */
static void send_read(void *ud, int rc, struct job_row *job)
{
	struct qwrite *w = ud;
	struct offline *q = w->q;
	struct client *c = registry_find(q->srv->registry, w->client_id);
	struct job_spec spec;

	if (rc) {
		log_error("offline: job %s: dispatched but unreadable", w->jid);
		free(w);
		return;
	}
	store_job_spec_of_row(&spec, job);
	spec.timeout_sec = job->timeout_sec;
	spec.delivery_timeout_sec = job->delivery_timeout_sec;
	/* The delivery deadline counts from the dispatch. */
	spec.created_at = w->at;
	if (registry_client_connected(c) &&
	    registry_run(q->srv->registry, c, &spec, NULL, NULL) == 0) {
		log_info("offline: job %s dispatched to '%s'", w->jid, w->client_id);
		free(w);
		return;
	}
	w->kind = QW_REQUEUE;
	store_queue(q->srv->store, qwrite_apply, qwrite_after, w);
}

/* ---- the interface ------------------------------------------------------ */

int offline_dispatch(struct offline *q, const char *jid)
{
	struct qjob *j = q ? find(q, jid) : NULL;
	struct qwrite *w;

	if (!j || j->busy)
		return TE_NOTFOUND;
	w = qwrite_new(q, QW_DISPATCH, j);
	if (!w)
		return TE_NOMEM;
	j->busy = true;
	w->at = util_now_ns();
	store_queue(q->srv->store, qwrite_apply, qwrite_after, w);
	return 0;
}

/* The job's agent is connected: dispatched now, unless fan-out holds it
 * for a free slot. */
static void try_dispatch(struct offline *q, struct qjob *j)
{
	char jid[UUID_STR_LEN];

	if (j->busy)
		return;
	util_strlcpy(jid, j->jid, sizeof jid);
	if (j->multi_jid && q->hooks.ready && !q->hooks.ready(q->hooks_ud, j->multi_jid, jid))
		return;
	offline_dispatch(q, jid);
}

int offline_add(struct offline *q, const char *jid, const char *client_id,
		const char *multi_jid, int64_t created_at, int64_t expires_at)
{
	struct qjob *j = q ? index_add(q, jid, client_id, multi_jid, created_at, expires_at) : NULL;
	struct client *c;

	if (!j)
		return TE_NOMEM;
	/* Its client may have been deleted while the row was committed (a
	 * fan-out's child, written after the request's answer): it would
	 * wait for an agent that cannot come back. */
	c = registry_find(q->srv->registry, client_id);
	if (!c)
		return end_queued(q, j, JOB_CANCELLED, OFFLINE_CLIENT_DELETED, util_now_ns());
	/* Its agent may have said hello while the row was committed. */
	if (registry_client_connected(c))
		try_dispatch(q, j);
	return 0;
}

void offline_client_up(struct offline *q, const char *client_id)
{
	struct qclient *cl;
	struct qjob *j;
	json_t *jids;
	size_t i;
	json_t *v;

	if (!q)
		return;
	HASH_FIND_STR(q->clients, client_id, cl);
	if (!cl)
		return;
	/* The hooks may change the lists: collect first. */
	jids = json_array();
	for (j = cl->head; j; j = j->cnext)
		json_array_append_new(jids, json_string(j->jid));
	json_array_foreach(jids, i, v) {
		j = find(q, json_string_value(v));
		if (j)
			try_dispatch(q, j);
	}
	json_decref(jids);
}

static int end_queued(struct offline *q, struct qjob *j, enum job_status status,
		      const char *error, int64_t at)
{
	struct qwrite *w = qwrite_new(q, QW_END, j);

	if (!w)
		return TE_NOMEM;
	j->busy = true;
	w->status = status;
	util_strlcpy(w->error, error ? error : "", sizeof w->error);
	w->at = at;
	store_queue(q->srv->store, qwrite_apply, qwrite_after, w);
	return 0;
}

int offline_cancel(struct offline *q, const char *jid, const char *error)
{
	struct qjob *j = q ? find(q, jid) : NULL;

	if (!j)
		return TE_NOTFOUND;
	if (j->busy)
		return TE_STATE;
	return end_queued(q, j, JOB_CANCELLED, error, util_now_ns());
}

int offline_cancel_client(struct offline *q, const char *client_id, const char *error)
{
	struct qclient *cl = NULL;
	struct qjob *j, *next;
	int64_t now = util_now_ns();
	int n = 0;

	if (q)
		HASH_FIND_STR(q->clients, client_id, cl);
	/* (next first: a store with no loop writes at once, and the job
	 * leaves the list, its client too after the last one) */
	for (j = cl ? cl->head : NULL; j; j = next) {
		next = j->cnext;
		if (!j->busy && end_queued(q, j, JOB_CANCELLED, error, now) == 0)
			n++;
	}
	return n;
}

bool offline_has(const struct offline *q, const char *jid)
{
	return q && find(q, jid) != NULL;
}

size_t offline_count(const struct offline *q)
{
	return q ? q->n : 0;
}

int offline_sweep(struct offline *q, int64_t now_ns)
{
	struct qjob *j, *tmp;
	char why[400];
	int n = 0;

	HASH_ITER(hh, q->jobs, j, tmp) {
		if (j->busy || j->expires_at <= 0 || j->expires_at > now_ns)
			continue;
		snprintf(why, sizeof why,
			 "expired: client \"%.128s\" did not connect within %lld s of the job's creation "
			 "(expires_in_sec); the command never ran",
			 j->client_id, (long long)((j->expires_at - j->created_at) / NS_PER_SEC));
		log_info("offline: job %s: %s", j->jid, why);
		if (end_queued(q, j, JOB_EXPIRED, why, now_ns) == 0)
			n++;
	}
	return n;
}

static void sweep_cb(uv_timer_t *t)
{
	offline_sweep(t->data, util_now_ns());
}

static void load_one(void *ud, const char *jid, const char *client_id, const char *multi_jid,
		     int64_t created_at, int64_t expires_at)
{
	struct offline *q = ud;

	if (!index_add(q, jid, client_id, multi_jid, created_at, expires_at))
		log_error("offline: out of memory loading queued job %s", jid);
}

void offline_set_hooks(struct offline *q, const struct offline_hooks *h, void *ud)
{
	q->hooks = *h;
	q->hooks_ud = ud;
}

static double queued_gauge(void *ud)
{
	return (double)offline_count(ud);
}

int offline_create(struct server *srv, struct offline **out)
{
	struct offline *q = calloc(1, sizeof *q);

	if (!q)
		return TE_NOMEM;
	q->srv = srv;
	store_job_each_queued(srv->store, load_one, q);
	if (q->n)
		log_info("offline: %zu queued jobs waiting for their clients", q->n);
	metrics_gauge(srv->metrics, "tether_jobs_queued",
		      "Jobs waiting for their offline client (queue_offline).", NULL, queued_gauge, q);
	uv_timer_init(srv->loop, &q->sweep);
	q->sweep.data = q;
	uv_timer_start(&q->sweep, sweep_cb, SWEEP_MS, SWEEP_MS);
	uv_unref((uv_handle_t *)&q->sweep);
	*out = q;
	return 0;
}

void offline_stop(struct offline *q)
{
	if (q && !uv_is_closing((uv_handle_t *)&q->sweep))
		uv_close((uv_handle_t *)&q->sweep, NULL);
}

void offline_destroy(struct offline *q)
{
	struct qjob *j, *tmp;

	if (!q)
		return;
	HASH_ITER(hh, q->jobs, j, tmp)
		unlink_job(q, j);
	free(q);
}
