/* read_wait: with the sync thread (walsync.c), the callback reads wait
 * while a commit is written but not yet synced and called back.
 *
 * A row committed on the loop is visible to the loop's own reads at once,
 * but its write's callback (which sends `run`, acks a result, updates the
 * server's memory) runs only after the sync. A read made in between would
 * show a row that is not durable yet and that the server has not acted on.
 * So such a read is kept, with copies of its arguments (store.h lets a
 * backend answer later: the arguments are borrowed for the call only), and
 * made once the callbacks have run, in the order the reads came. Without
 * the sync thread nothing waits. */
#include "store/store_priv.h"

#include <stdlib.h>
#include <string.h>

#include "core/query.h"
#include "store/store_tat.h"

struct rd {
	struct rd_args a;
	union {
		struct job_query jq;
		struct audit_query aq;
		struct tat_id_query tq;
	} q;
	char **kept;          /* the copies below, freed with it */
	size_t nkept;
	bool oom;
	struct rd *next;
};

bool store_reads_wait(const struct store *st)
{
	return st->ws && !st->rd_running && (st->syncing || st->unsynced || st->rd_head);
}

/* A copy of s kept with r (NULL stays NULL). */
static const char *keep(struct rd *r, const char *s)
{
	char **grown;
	char *c;

	if (!s)
		return NULL;
	grown = realloc(r->kept, (r->nkept + 1) * sizeof *grown);
	c = strdup(s);
	if (!grown || !c) {
		free(c);
		if (grown)
			r->kept = grown;
		r->oom = true;
		return NULL;
	}
	r->kept = grown;
	r->kept[r->nkept++] = c;
	return c;
}

static void keep_all(struct rd *r, const char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		v[i] = keep(r, v[i]);
}

static void rd_free(struct rd *r)
{
	for (size_t i = 0; i < r->nkept; i++)
		free(r->kept[i]);
	free(r->kept);
	free((void *)r->a.ids);
	free(r);
}

/* The query a kind points to, copied into r with its strings. */
static void copy_query(struct rd *r)
{
	switch (r->a.kind) {
	case RD_JOB_QUERY:
		r->q.jq = *(const struct job_query *)r->a.q;
		for (size_t i = 0; i < r->q.jq.nfilters; i++)
			for (size_t k = 0; k < r->q.jq.filters[i].nvalues; k++)
				r->q.jq.filters[i].values[k] =
					(char *)keep(r, r->q.jq.filters[i].values[k]);
		r->a.q = &r->q.jq;
		break;
	case RD_AUDIT:
		r->q.aq = *(const struct audit_query *)r->a.q;
		for (size_t i = 0; i < r->q.aq.nfilters; i++) {
			r->q.aq.filters[i].field = keep(r, r->q.aq.filters[i].field);
			r->q.aq.filters[i].value = keep(r, r->q.aq.filters[i].value);
		}
		r->a.q = &r->q.aq;
		break;
	case RD_TAT_IDS:
		r->q.tq = *(const struct tat_id_query *)r->a.q;
		r->q.tq.kind = keep(r, r->q.tq.kind);
		r->q.tq.created_by = keep(r, r->q.tq.created_by);
		keep_all(r, r->q.tq.ids, r->q.tq.nids);
		keep_all(r, r->q.tq.parents, r->q.tq.nparents);
		keep_all(r, r->q.tq.client_ids, r->q.tq.nclient_ids);
		keep_all(r, r->q.tq.core_ids, r->q.tq.ncore_ids);
		r->a.q = &r->q.tq;
		break;
	default:
		break;
	}
}

bool store_read_later(struct store *st, const struct rd_args *a)
{
	struct rd *r;

	if (!store_reads_wait(st))
		return false;
	r = calloc(1, sizeof *r);
	if (!r)
		return false;   /* (read now: later would be better, not needed) */
	r->a = *a;
	for (size_t i = 0; i < sizeof r->a.s / sizeof r->a.s[0]; i++)
		r->a.s[i] = keep(r, r->a.s[i]);
	r->a.ids = NULL;
	if (a->nids) {
		const char **ids = calloc(a->nids, sizeof *ids);

		if (ids) {
			memcpy(ids, a->ids, a->nids * sizeof *ids);
			keep_all(r, ids, a->nids);
		} else {
			r->oom = true;
		}
		r->a.ids = ids;
	}
	copy_query(r);
	if (r->oom) {
		rd_free(r);
		return false;
	}
	if (st->rd_tail)
		st->rd_tail->next = r;
	else
		st->rd_head = r;
	st->rd_tail = r;
	return true;
}

/* Makes one kept read, as its caller asked for it. */
static void rd_run(struct store *st, struct rd *r)
{
	const struct rd_args *a = &r->a;

	st->rd_running++;
	switch (a->kind) {
	case RD_JOB:
		store_read_job(st, a->s[0], (store_job_cb)a->cb, a->ud);
		break;
	case RD_JOB_QUERY:
		store_read_job_query(st, a->s[0], a->s[1], a->q, a->n[0], (store_jobs_cb)a->cb, a->ud);
		break;
	case RD_AUDIT:
		store_read_audit_query(st, a->q, (store_read_cb)a->cb, a->ud);
		break;
	case RD_MULTI:
		store_read_multi(st, a->s[0], (store_read_cb)a->cb, a->ud);
		break;
	case RD_MULTI_CREATOR:
		store_read_multi_creator(st, a->s[0], (store_creator_cb)a->cb, a->ud);
		break;
	case RD_IDEM:
		store_read_idem(st, a->s[0], a->s[1], (store_idem_cb)a->cb, a->ud);
		break;
	case RD_RUNNING_OF:
		store_read_each_running_of(st, a->s[0],
					   (void (*)(void *, const struct job_running *))a->fn,
					   (store_done_cb)a->cb, a->ud);
		break;
	case RD_UNCONFIRMED_OF:
		store_read_each_unconfirmed_of(st, a->s[0],
					       (void (*)(void *, const char *, int64_t))a->fn,
					       (store_done_cb)a->cb, a->ud);
		break;
	case RD_RUNNING:
		store_read_each_running(st, (void (*)(void *, const struct job_running *))a->fn,
					(store_done_cb)a->cb, a->ud);
		break;
	case RD_CHILD:
		store_read_each_child(st, a->s[0],
				      (void (*)(void *, const char *, const char *, const char *))a->fn,
				      (store_done_cb)a->cb, a->ud);
		break;
	case RD_MULTI_LIST:
		store_read_multi_list(st, a->s[0], a->n[0], a->n[1], (store_read_cb)a->cb, a->ud);
		break;
	case RD_LIBRARY:
		store_read_library(st, a->s[0], a->s[1], (store_read_cb)a->cb, a->ud);
		break;
	case RD_LIBRARY_LIST:
		store_read_library_list(st, a->s[0], (store_read_cb)a->cb, a->ud);
		break;
	case RD_SCHEDULE_RUNS:
		store_read_schedule_runs(st, a->ids, a->nids, a->n[0], a->n[1], (store_read_cb)a->cb,
					 a->ud);
		break;
	case RD_TAT_IDS:
		store_read_tat_ids(st, a->q, (store_read_cb)a->cb, a->ud);
		break;
	case RD_TAT_KEY:
		store_read_tat_key(st, a->s[0], (store_read_cb)a->cb, a->ud);
		break;
	case RD_TAT_KEYS_OF:
		store_read_tat_keys_of(st, a->s[0], (store_read_cb)a->cb, a->ud);
		break;
	}
	st->rd_running--;
	rd_free(r);
}

void store_reads_resume(struct store *st)
{
	while (st->rd_head && !(st->ws && (st->syncing || st->unsynced))) {
		struct rd *r = st->rd_head;

		st->rd_head = r->next;
		if (!st->rd_head)
			st->rd_tail = NULL;
		rd_run(st, r);
	}
}
