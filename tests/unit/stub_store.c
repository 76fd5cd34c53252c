/* stub_store: the store's interface in memory, for unit tests; see
 * stub_store.h. */
#include "stub_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct stub_write {
	store_apply_fn apply;
	store_after_fn after;
	void *arg;
	int rc;
	struct stub_write *next;
};

struct store *stub_store_create(void)
{
	struct store *st = calloc(1, sizeof *st);

	if (!st)
		return NULL;
	st->jobs = json_object();
	st->job_order = json_array();
	st->multis = json_object();
	st->groups = json_object();
	st->clients = json_object();
	st->idem = json_object();
	st->audits = json_array();
	return st;
}

void stub_store_destroy(struct store *st)
{
	struct stub_write *w, *next;

	if (!st)
		return;
	for (w = st->head; w; w = next) {
		next = w->next;
		free(w);
	}
	json_decref(st->jobs);
	json_decref(st->job_order);
	json_decref(st->multis);
	json_decref(st->groups);
	json_decref(st->clients);
	json_decref(st->idem);
	json_decref(st->audits);
	free(st);
}

size_t stub_store_pending(const struct store *st)
{
	size_t n = 0;

	for (const struct stub_write *w = st->head; w; w = w->next)
		n++;
	return n;
}

const char *stub_store_job_field(const struct store *st, const char *jid, const char *field)
{
	return json_string_value(json_object_get(json_object_get(st->jobs, jid), field));
}

const char *stub_store_job_status(const struct store *st, const char *jid)
{
	const char *s = stub_store_job_field(st, jid, "status");

	return s ? s : "";
}

/* ---- group commit ----------------------------------------------------- */

void store_queue(struct store *st, store_apply_fn apply, store_after_fn after, void *arg)
{
	struct stub_write *w = calloc(1, sizeof *w);

	if (!w) {
		if (after)
			after(arg, TE_NOMEM);
		return;
	}
	w->apply = apply;
	w->after = after;
	w->arg = arg;
	if (st->tail)
		st->tail->next = w;
	else
		st->head = w;
	st->tail = w;
	if (!st->manual)
		store_flush(st);
}

void store_flush(struct store *st)
{
	if (st->flushing)
		return;
	st->flushing = true;
	while (st->head) {
		struct stub_write *list = st->head, *w, *next;

		st->head = st->tail = NULL;
		for (w = list; w; w = w->next) {
			w->rc = st->commit_fails ? TE_IO : w->apply(st, w->arg);
			st->writes++;
		}
		if (!st->commit_fails)
			st->commits++;
		for (w = list; w; w = next) {
			next = w->next;
			if (w->after)
				w->after(w->arg, st->commit_fails ? TE_IO : w->rc);
			free(w);
		}
	}
	st->flushing = false;
}

void store_stats(const struct store *st, uint64_t *commits, uint64_t *writes)
{
	*commits = st->commits;
	*writes = st->writes;
}

void store_checkpoint_stats(const struct store *st, uint64_t *count, double *seconds)
{
	(void)st;
	*count = 0;
	*seconds = 0;
}

void store_sync_stats(const struct store *st, uint64_t *count, double *seconds)
{
	(void)st;
	*count = 0;
	*seconds = 0;
}

void store_commit_histogram(const struct store *st, const double **bounds,
			    const uint64_t **counts, size_t *n, double *sum)
{
	static const double b[1] = { 1 };
	static const uint64_t c[2];

	(void)st;
	*bounds = b;
	*counts = c;
	*n = 1;
	*sum = 0;
}

/* ---- jobs ------------------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

int store_job_insert(struct store *st, const struct job_spec *j)
{
	json_t *job;

	if (st->fail[STUB_JOB_INSERT])
		return st->fail[STUB_JOB_INSERT];
	if (json_object_get(st->jobs, j->jid))
		return TE_EXISTS;
	job = json_pack("{s:o, s:o, s:o, s:s, s:s, s:o, s:o, s:I, s:I}", "client_id",
			str_or_null(j->client_id), "client_name", str_or_null(j->client_name),
			"multi_job_id", str_or_null(j->multi_job_id), "status",
			j->queued ? "queued" : "running", "error",
			"", "command", str_or_null(j->command), "created_by",
			str_or_null(j->created_by), "timeout_sec", (json_int_t)j->timeout_sec,
			"delivery_timeout_sec", (json_int_t)j->delivery_timeout_sec);
	if (!job)
		return TE_NOMEM;
	json_object_set_new(st->jobs, j->jid, job);
	json_array_append_new(st->job_order, json_string(j->jid));
	return 0;
}

int store_job_finish(struct store *st, const char *jid, const char *client_id,
		     const struct job_result *r)
{
	json_t *job = json_object_get(st->jobs, jid);
	enum job_status cur;

	if (st->fail[STUB_JOB_FINISH])
		return st->fail[STUB_JOB_FINISH];
	if (!job)
		return TE_NOTFOUND;
	if (client_id && strcmp(client_id, json_string_value(json_object_get(job, "client_id"))))
		return TE_NOTFOUND;
	if (job_status_parse(json_string_value(json_object_get(job, "status")), &cur) &&
	    job_status_final(cur))
		return TE_STATE;
	json_object_set_new(job, "status", json_string(job_status_name(r->status)));
	json_object_set_new(job, "error", json_string(r->error ? r->error : ""));
	json_object_set_new(job, "state", str_or_null(r->state));
	return 0;
}

int store_job_status(struct store *st, const char *jid, char *client_id, size_t cidlen,
		     char status[16])
{
	json_t *job = json_object_get(st->jobs, jid);
	const char *cid;

	if (!job)
		return TE_NOTFOUND;
	cid = json_string_value(json_object_get(job, "client_id"));
	util_strlcpy(client_id, cid ? cid : "", cidlen);
	util_strlcpy(status, json_string_value(json_object_get(job, "status")), 16);
	return 0;
}

int store_job_each_child(struct store *st, const char *multi_jid,
			 void (*fn)(void *ud, const char *client_id, const char *jid,
				    const char *status),
			 void *ud)
{
	size_t i;
	json_t *v;

	json_array_foreach(st->job_order, i, v) {
		const char *jid = json_string_value(v);
		json_t *job = json_object_get(st->jobs, jid);
		const char *m = json_string_value(json_object_get(job, "multi_job_id"));

		if (m && !strcmp(m, multi_jid))
			fn(ud, json_string_value(json_object_get(job, "client_id")), jid,
			   json_string_value(json_object_get(job, "status")));
	}
	return 0;
}

/* ---- idempotency keys ------------------------------------------------- */

static void idem_name(char *out, size_t len, const char *user, const char *key)
{
	snprintf(out, len, "%s\n%s", user ? user : "", key);
}

int store_idem_get(struct store *st, const char *user, const char *key,
		   char jid[UUID_STR_LEN], char hash[STORE_IDEM_HASH_LEN])
{
	char name[600];
	json_t *rec;

	idem_name(name, sizeof name, user, key);
	rec = json_object_get(st->idem, name);
	if (!rec)
		return TE_NOTFOUND;
	util_strlcpy(jid, json_string_value(json_object_get(rec, "jid")), UUID_STR_LEN);
	util_strlcpy(hash, json_string_value(json_object_get(rec, "hash")), STORE_IDEM_HASH_LEN);
	return 0;
}

int store_idem_put(struct store *st, const char *user, const char *key, const char *jid,
		   const char *hash, int64_t created_at)
{
	char name[600];

	(void)created_at;
	if (st->fail[STUB_IDEM_PUT])
		return st->fail[STUB_IDEM_PUT];
	idem_name(name, sizeof name, user, key);
	if (json_object_get(st->idem, name))
		return TE_EXISTS;
	json_object_set_new(st->idem, name,
			    json_pack("{s:s, s:s}", "jid", jid, "hash", hash ? hash : ""));
	return 0;
}

int store_idem_delete(struct store *st, const char *user, const char *key)
{
	char name[600];

	idem_name(name, sizeof name, user, key);
	json_object_del(st->idem, name);
	return 0;
}

/* ---- multi jobs ------------------------------------------------------- */

int store_multi_put(struct store *st, const char *jid, int64_t created_at,
		    const char *created_by, const json_t *data)
{
	(void)created_at;
	(void)created_by;
	if (st->fail[STUB_MULTI_PUT])
		return st->fail[STUB_MULTI_PUT];
	json_object_set_new(st->multis, jid, json_deep_copy(data));
	st->multi_puts++;
	return 0;
}

int store_multi_create(struct store *st, const char *jid, int64_t created_at,
		       const char *created_by, const json_t *data, const char *idem_key,
		       const char *idem_hash)
{
	int rc;

	if (st->fail[STUB_MULTI_CREATE])
		return st->fail[STUB_MULTI_CREATE];
	/* Both rows or neither, as the real store's savepoint. */
	if (idem_key) {
		char name[600];

		idem_name(name, sizeof name, created_by, idem_key);
		if (json_object_get(st->idem, name))
			return TE_EXISTS;
	}
	rc = store_multi_put(st, jid, created_at, created_by, data);
	if (!rc && idem_key)
		rc = store_idem_put(st, created_by, idem_key, jid, idem_hash, created_at);
	return rc;
}

int store_multi_get(struct store *st, const char *jid, json_t **data)
{
	json_t *v = json_object_get(st->multis, jid);

	if (!v)
		return TE_NOTFOUND;
	*data = json_deep_copy(v);
	return 0;
}

int store_multi_each_unfinished(struct store *st,
				void (*fn)(void *ud, const char *jid, json_t *data), void *ud)
{
	const char *k;
	json_t *v;

	json_object_foreach(st->multis, k, v)
		if (!json_object_get(v, "finished_at"))
			fn(ud, k, v);
	return 0;
}

/* ---- groups, clients, audit ------------------------------------------- */

int store_group_put(struct store *st, const char *id, const json_t *group)
{
	if (st->fail[STUB_GROUP_PUT])
		return st->fail[STUB_GROUP_PUT];
	json_object_set_new(st->groups, id, json_deep_copy(group));
	return 0;
}

int store_group_delete(struct store *st, const char *id)
{
	if (st->fail[STUB_GROUP_DELETE])
		return st->fail[STUB_GROUP_DELETE];
	return json_object_del(st->groups, id) ? TE_NOTFOUND : 0;
}

int store_group_each(struct store *st, void (*fn)(void *ud, const char *id, json_t *group),
		     void *ud)
{
	const char *k;
	json_t *v;

	json_object_foreach(st->groups, k, v)
		fn(ud, k, v);
	return 0;
}

int store_client_each(struct store *st, void (*fn)(void *ud, const char *id, json_t *client),
		      void *ud)
{
	const char *k;
	json_t *v;

	json_object_foreach(st->clients, k, v)
		fn(ud, k, v);
	return 0;
}

int store_audit_put(struct store *st, const struct store_audit_row *r)
{
	json_t *rec;

	if (st->fail[STUB_AUDIT_PUT])
		return st->fail[STUB_AUDIT_PUT];
	rec = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "timestamp",
			(json_int_t)r->timestamp, "username", r->username ? r->username : "",
			"remote_ip", r->remote_ip ? r->remote_ip : "", "application",
			r->application ? r->application : "", "action", r->action ? r->action : "",
			"affected_id", r->affected_id ? r->affected_id : "", "client_id",
			r->client_id ? r->client_id : "", "success", r->success);
	if (r->request) {
		json_object_set_new(rec, "request", json_loads(r->request, JSON_DECODE_ANY, NULL));
		/* the bytes as stored, for tests of the text itself */
		json_object_set_new(rec, "request_text", json_string(r->request));
	}
	if (r->response)
		json_object_set_new(rec, "response_text", json_string(r->response));
	if (r->response)
		json_object_set_new(rec, "response", json_loads(r->response, JSON_DECODE_ANY, NULL));
	json_array_append_new(st->audits, rec);
	return 0;
}

/* The stub has no transactions: a failing unit's writes are not undone. */
int store_atomic(struct store *st, store_apply_fn fn, void *arg)
{
	return fn(st, arg);
}

/* The callback forms of the reads the core makes: at once, like SQLite. */
void store_read_each_child(struct store *st, const char *multi_jid,
			   void (*fn)(void *ud, const char *client_id, const char *jid,
				      const char *status),
			   store_done_cb done, void *ud)
{
	done(ud, store_job_each_child(st, multi_jid, fn, ud));
}

/* ---- queued jobs (core/offline.c) --------------------------------------- */

static int stub_status_move(struct store *st, const char *jid, const char *from,
			    const char *to, const char *error)
{
	json_t *job = json_object_get(st->jobs, jid);

	if (!job)
		return TE_NOTFOUND;
	if (strcmp(json_string_value(json_object_get(job, "status")), from))
		return TE_STATE;
	json_object_set_new(job, "status", json_string(to));
	if (error)
		json_object_set_new(job, "error", json_string(error));
	return 0;
}

int store_job_dispatch(struct store *st, const char *jid, int64_t at)
{
	(void)at;
	return stub_status_move(st, jid, "queued", "running", NULL);
}

int store_job_requeue(struct store *st, const char *jid)
{
	return stub_status_move(st, jid, "running", "queued", NULL);
}

int store_job_unqueue(struct store *st, const char *jid, enum job_status status,
		      const char *error, int64_t finished_at)
{
	(void)finished_at;
	return stub_status_move(st, jid, "queued", job_status_name(status), error ? error : "");
}

int store_job_each_queued(struct store *st,
			  void (*fn)(void *ud, const char *jid, const char *client_id,
				     const char *multi_jid, int64_t created_at,
				     int64_t expires_at),
			  void *ud)
{
	(void)st;
	(void)fn;
	(void)ud;
	return 0;
}

/* The few fields a dispatch sends (commands only). */
void store_read_job(struct store *st, const char *jid, store_job_cb cb, void *ud)
{
	json_t *job = json_object_get(st->jobs, jid);
	struct job_row row;

	if (!job) {
		cb(ud, TE_NOTFOUND, NULL);
		return;
	}
	memset(&row, 0, sizeof row);
	row.jid = jid;
	row.client_id = json_string_value(json_object_get(job, "client_id"));
	row.client_name = json_string_value(json_object_get(job, "client_name"));
	row.multi_job_id = json_string_value(json_object_get(job, "multi_job_id"));
	row.command = json_string_value(json_object_get(job, "command"));
	row.created_by = json_string_value(json_object_get(job, "created_by"));
	row.cwd = "";
	row.interpreter = "";
	row.error = "";
	row.timeout_sec = json_integer_value(json_object_get(job, "timeout_sec"));
	cb(ud, 0, &row);
}
