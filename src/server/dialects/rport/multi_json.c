/* multi_json: rport's MultiJob shape of a multi-client invocation, from
 * its stored record and its children's jobs. */
#include "dialects/rport/multi_json.h"

#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "dialects/rport/job_json.h"
#include "core/fanout.h"
#include "server.h"
#include "store/store.h"
#include "util.h"

#define MULTI_JSON_MAX_JOBS 100

/* One target of the multi job, marked once a child of it is seen. The
 * marks are one array and a hash over the record's own strings: no JSON
 * object of every client per request. */
struct tmark {
	const char *id;
	bool seen;
	UT_hash_handle hh;
};

struct count_ctx {
	struct tmark *marks, *by_id;
	/* From fan-out's memory: targets[0..next) have a child, no marks. */
	bool from_memory;
	size_t next;
	int64_t running, successful, failed, unknown, queued, expired;
};

static void marks_init(struct count_ctx *c, const json_t *targets)
{
	size_t n = json_array_size(targets), i;
	json_t *v;

	c->marks = calloc(n ? n : 1, sizeof *c->marks);
	if (!c->marks)
		return;
	json_array_foreach(targets, i, v) {
		struct tmark *m = &c->marks[i], *have;

		m->id = json_string_value(v);
		if (!m->id)
			continue;
		HASH_FIND_STR(c->by_id, m->id, have);
		if (!have)
			HASH_ADD_KEYPTR(hh, c->by_id, m->id, strlen(m->id), m);
	}
}

static void marks_free(struct count_ctx *c)
{
	HASH_CLEAR(hh, c->by_id);
	free(c->marks);
	c->marks = NULL;
}

static bool marked(const struct count_ctx *c, const char *id)
{
	struct tmark *m;

	if (!id)
		return false;
	HASH_FIND_STR(c->by_id, id, m);
	return m && m->seen;
}

static void count_child(void *ud, const char *client_id, const char *jid, const char *status)
{
	struct count_ctx *c = ud;
	struct tmark *m;

	(void)jid;
	HASH_FIND_STR(c->by_id, client_id, m);
	if (m)
		m->seen = true;
	if (!strcmp(status, "running"))
		c->running++;
	else if (!strcmp(status, "successful"))
		c->successful++;
	else if (!strcmp(status, "failed") || !strcmp(status, "cancelled"))
		c->failed++;
	else if (!strcmp(status, "queued"))
		c->queued++;
	else if (!strcmp(status, "expired"))
		c->expired++;
	else
		c->unknown++;
}

/* One GET of a multi job: its record, its children's statuses, then its
 * first jobs, each read through the store's callbacks. */
struct multi_read {
	struct server *srv;
	char jid[UUID_STR_LEN];
	json_t *rec;
	struct count_ctx cc;
	rport_multi_cb cb;
	void *ud;
	struct buf jobs;        /* the jobs' array as text (rport_multi_dump) */
};

static void multi_read_end(struct multi_read *mr, json_t *out)
{
	mr->cb(mr->ud, out, &mr->jobs);
	buf_free(&mr->jobs);
	marks_free(&mr->cc);
	json_decref(mr->rec);
	free(mr);
}

/* The whole MultiJob from the record, the counts and the jobs. */
static json_t *multi_render(const json_t *rec, const struct count_ctx *cc,
			    const struct job_rows *rows, struct buf *jobs)
{
	/* rport's fields first, in its order; then ours. */
	static const char *const keys[] = {
		"jid", "started_at", "created_by", "schedule_id", "client_ids", "group_ids", "tags",
		"labels", "command", "cwd", "is_sudo", "is_script", "interpreter", "timeout_sec",
		"concurrent", "abort_on_err", "max_concurrency", "max_errors",
	};
	bool finished = json_object_get(rec, "finished_at") != NULL;
	json_t *out = json_object(), *left = json_array(), *targets, *v;
	size_t i;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		v = json_object_get(rec, keys[i]);
		json_object_set(out, keys[i], v ? v : json_null());
	}
	if ((v = json_object_get(rec, "argv")))
		json_object_set(out, "argv", v);
	targets = json_object_get(rec, "targets");
	json_array_foreach(targets, i, v)
		if (cc->from_memory ? i >= cc->next : !marked(cc, json_string_value(v)))
			json_array_append(left, v);
	/* As text when it can be (rport_multi_dump splices it in). */
	if (rport_jobs_write(jobs, rows)) {
		buf_reset(jobs);
		json_object_set_new(out, "jobs", rport_jobs_json(rows));
	} else {
		json_object_set_new(out, "jobs", json_null());
	}
	json_object_set_new(out, "jobs_total", json_integer(rows->total));
	json_object_set_new(out, "status", json_string(
		!finished ? "running" : json_object_get(rec, "stop_reason") ? "stopped" : "finished"));
	json_object_set(out, "finished_at", finished ? json_object_get(rec, "finished_at") :
							json_null());
	json_object_set(out, "stop_reason", json_object_get(rec, "stop_reason") ?
					       json_object_get(rec, "stop_reason") : json_null());
	json_object_set_new(out, "summary",
			    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
				      "total", (json_int_t)json_array_size(targets),
				      "pending", (json_int_t)(finished ? 0 : json_array_size(left)),
				      "running", (json_int_t)cc->running,
				      "successful", (json_int_t)cc->successful,
				      "failed", (json_int_t)cc->failed,
				      "unknown", (json_int_t)cc->unknown,
				      "not_run", (json_int_t)(finished ? json_array_size(left) : 0)));
	if (json_is_true(json_object_get(rec, "queue_offline"))) {
		/* tether: offline targets wait (docs/api.md). */
		json_t *sum = json_object_get(out, "summary");

		json_object_set_new(sum, "queued", json_integer(cc->queued));
		json_object_set_new(sum, "expired", json_integer(cc->expired));
		json_object_set_new(out, "queue_offline", json_true());
		json_object_set(out, "expires_in_sec", json_object_get(rec, "expires_in_sec"));
		json_object_set_new(out, "expires_at",
				    rport_time_json(json_integer_value(json_object_get(rec, "expires_at"))));
	}
	json_object_set(out, finished ? "not_run" : "pending", left);
	json_object_set_new(out, finished ? "pending" : "not_run", json_array());
	json_decref(left);
	return out;
}

static void multi_record_read(void *ud, int rc, json_t *rec, int64_t total);

/* The counts from fan-out's memory as they are now, when the jobs have
 * come: a store that answers later (a read kept for the sync thread, a
 * database server) must not pair older counts with a newer record. false:
 * the job has left fan-out's memory meanwhile (it ended): read it all
 * again from the store. */
static void take_progress(struct multi_read *mr, const struct fanout_progress *p)
{
	if (p->rec != mr->rec) {
		json_decref(mr->rec);
		mr->rec = json_incref((json_t *)p->rec);
	}
	mr->cc.from_memory = true;
	mr->cc.next = p->next;
	mr->cc.running = p->running;
	mr->cc.queued = p->queued;
	mr->cc.successful = p->successful;
	mr->cc.failed = p->failed;
	mr->cc.unknown = p->unknown;
	mr->cc.expired = p->expired;
}

static bool memory_counts_now(struct multi_read *mr)
{
	struct fanout_progress p;

	if (fanout_progress(mr->srv->fanout, mr->jid, &p))
		return false;
	take_progress(mr, &p);
	return true;
}

static void multi_jobs_read(void *ud, int rc, struct job_rows *rows)
{
	struct multi_read *mr = ud;
	struct job_rows none;

	if (mr->cc.from_memory && !memory_counts_now(mr)) {
		json_decref(mr->rec);
		mr->rec = NULL;
		memset(&mr->cc, 0, sizeof mr->cc);
		store_read_multi(mr->srv->store, mr->jid, multi_record_read, mr);
		return;
	}
	if (rc) {
		memset(&none, 0, sizeof none);
		rows = &none;
	}
	multi_read_end(mr, multi_render(mr->rec, &mr->cc, rows, &mr->jobs));
}

static void multi_child_counted(void *ud, const char *client_id, const char *jid,
				const char *status)
{
	struct multi_read *mr = ud;

	count_child(&mr->cc, client_id, jid, status);
}

static void multi_children_read(void *ud, int rc)
{
	struct multi_read *mr = ud;
	struct job_query q;

	(void)rc;
	memset(&q, 0, sizeof q);
	q.limit = MULTI_JSON_MAX_JOBS;
	/* Oldest first: the order the targets were dispatched in. */
	q.sort[0].column = "created_at";
	q.nsort = 1;
	store_read_job_query(mr->srv->store, "multi_job_id", mr->jid, &q,
			     RPORT_LIST_OUTPUT_BUDGET, multi_jobs_read, mr);
}

static void multi_record_read(void *ud, int rc, json_t *rec, int64_t total)
{
	struct multi_read *mr = ud;

	(void)total;
	if (rc) {
		multi_read_end(mr, NULL);
		return;
	}
	mr->rec = rec;
	marks_init(&mr->cc, json_object_get(rec, "targets"));
	store_read_each_child(mr->srv->store, mr->jid, multi_child_counted, multi_children_read,
			      mr);
}

void rport_multi_json_read(struct server *srv, const char *jid, rport_multi_cb cb, void *ud)
{
	struct multi_read *mr = calloc(1, sizeof *mr);
	struct fanout_progress p;

	if (!mr) {
		cb(ud, NULL, NULL);
		return;
	}
	buf_init(&mr->jobs, (size_t)1 << 30);
	mr->srv = srv;
	util_strlcpy(mr->jid, jid, sizeof mr->jid);
	mr->cb = cb;
	mr->ud = ud;
	if (fanout_progress(srv->fanout, jid, &p) == 0) {
		/* Running here: the record and the counts from memory, no walk
		 * of every child in the store per GET (what clients poll). */
		take_progress(mr, &p);
		multi_children_read(mr, 0);
		return;
	}
	store_read_multi(srv->store, jid, multi_record_read, mr);
}

/* The jobs' key as multi_render writes it, followed by the next key: the
 * last such place in the text is the top level's. Nothing after "jobs"
 * at the top level holds an object with keys a user chose (summary's are
 * fixed, pending and not_run hold strings), and a string's quotes are
 * escaped, so no earlier copy can come after it. */
static const char jobs_mark[] = "\"jobs\":null,\"jobs_total\":";

int rport_multi_dump(struct buf *out, const json_t *multi, const struct buf *jobs)
{
	char *text = json_dumps(multi, JSON_COMPACT);
	size_t n, k = sizeof jobs_mark - 1, at = 0, i;
	bool found = false;
	int rc;

	if (!text)
		return TE_NOMEM;
	n = strlen(text);
	if (jobs && jobs->len)
		for (i = n >= k ? n - k + 1 : 0; i-- > 0;)
			if (!memcmp(text + i, jobs_mark, k)) {
				at = i;
				found = true;
				break;
			}
	if (!found) {
		rc = buf_append(out, text, n);
	} else {
		/* "jobs": then the array instead of null. */
		size_t key = sizeof "\"jobs\":" - 1;

		rc = buf_append(out, text, at + key);
		if (!rc)
			rc = buf_append(out, jobs->data, jobs->len);
		if (!rc)
			rc = buf_append(out, text + at + key + 4, n - at - key - 4);
	}
	free(text);
	return rc;
}
