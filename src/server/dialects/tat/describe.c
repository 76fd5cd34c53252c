/* describe: DescribeInvocations, DescribeInvocationTasks and
 * DescribeAutomationAgentStatus, from the core's records and the dialect's
 * id map. Reads go through the store's callback forms, one after another. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/invoke.h"
#include "core/registry.h"
#include "dialects/tat/tat_priv.h"
#include "server.h"
#include "store/store_tat.h"

#define CHILDREN_MAX 1000

/* The values of filter name (borrowed), appended to v[*n]; true if the
 * filter was given. */
static bool filter_values(const json_t *filters, const char *name, const char **v, size_t *n,
			  size_t cap)
{
	size_t i, j;
	json_t *f, *x;
	bool given = false;

	json_array_foreach(filters, i, f) {
		if (strcmp(json_string_value(json_object_get(f, "Name")), name))
			continue;
		given = true;
		json_array_foreach(json_object_get(f, "Values"), j, x)
			if (*n < cap)
				v[(*n)++] = json_string_value(x);
	}
	return given;
}

/* Given both ways to name records: TAT's InvalidParameter. */
static int ids_xor_filters(struct tat_call *c, const char *ids_name)
{
	if (json_object_get(c->params, ids_name) && json_object_get(c->params, "Filters")) {
		tat_fail(c, "InvalidParameter", "%s and Filters cannot be given together.", ids_name);
		return -1;
	}
	if (json_array_size(json_object_get(c->params, ids_name)) > 100) {
		tat_fail(c, "InvalidParameterValue.LimitExceeded", "At most 100 %s are allowed.",
			 ids_name);
		return -1;
	}
	return 0;
}

/* Does a filter that tether's records always pass or always fail allow
 * anything? (command-created-by: all are USER's; instance-kind: CVM.) */
static bool fixed_filter_ok(const json_t *filters, const char *name, const char *value)
{
	const char *v[8];
	size_t n = 0;

	if (!filter_values(filters, name, v, &n, 8))
		return true;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], value))
			return true;
	return false;
}

static void copy_ids(const json_t *arr, const char **v, size_t *n)
{
	size_t i;
	json_t *x;

	json_array_foreach(arr, i, x)
		if (*n < STORE_TAT_MAX_IN)
			v[(*n)++] = json_string_value(x);
}

/* ---- one invocation's record and tasks -------------------------------- */

struct walk {
	struct tat_call *c;
	json_t *rows;                 /* the tat_ids page */
	int64_t total;
	size_t i;
	bool hide_output;
	json_t *tasks_of;             /* inv id -> {client_id: invt id} */
	json_t *out;
	json_t *rec;                  /* the record of the current invocation */
	char core[UUID_STR_LEN];      /* whose record and children are read */
	json_t *children;             /* client_id -> task JSON parts */
	void (*step)(struct walk *w);
	void (*finish)(struct walk *w);
};

static void walk_free(struct walk *w)
{
	json_decref(w->rows);
	json_decref(w->tasks_of);
	json_decref(w->out);
	json_decref(w->rec);
	json_decref(w->children);
	free(w);
}

/* A child job as TAT's shapes need it. */
static json_t *child_json(const struct job_row *r, bool hide_output)
{
	char ct[32], st[32], et[32];

	tat_time(r->created_at, ct);
	tat_time(r->has_pid ? r->started_at : 0, st);
	tat_time(job_status_final(r->status) ? r->finished_at : 0, et);
	return json_pack("{s:s, s:o, s:s, s:s, s:s, s:I, s:I, s:I, s:s}", "TaskStatus",
			 tat_task_status(r), "TaskResult", tat_task_result(r, hide_output),
			 "CreatedTime", ct, "StartTime", st, "EndTime", et, "started",
			 (json_int_t)(r->has_pid ? r->started_at : 0), "finished",
			 (json_int_t)(job_status_final(r->status) ? r->finished_at : 0), "created",
			 (json_int_t)r->created_at, "ErrorInfo",
			 r->status == JOB_SUCCESSFUL ? "" : r->error);
}

static void children_read(void *ud, int rc, struct job_rows *rows)
{
	struct walk *w = ud;

	json_decref(w->children);
	w->children = json_object();
	for (size_t i = 0; rc == 0 && i < rows->n; i++)
		json_object_set_new(w->children, rows->row[i].client_id,
				    child_json(&rows->row[i], w->hide_output));
	w->step(w);
}

static void record_read(void *ud, int rc, json_t *rec, int64_t total)
{
	struct walk *w = ud;
	struct job_query q;

	(void)total;
	json_decref(w->rec);
	w->rec = rc ? NULL : rec;
	memset(&q, 0, sizeof q);
	q.limit = CHILDREN_MAX;
	store_read_job_query(w->c->srv->store, "multi_job_id", w->core, &q,
			     w->hide_output ? 0 : 256LL * 1024 * 1024, children_read, w);
}

/* Reads the record and children of core_id (unless they are read
 * already), then calls w->step. */
static void walk_read(struct walk *w, const char *core_id)
{
	if (w->children && !strcmp(w->core, core_id)) {
		w->step(w);
		return;
	}
	util_strlcpy(w->core, core_id, sizeof w->core);
	store_read_multi(w->c->srv->store, core_id, record_read, w);
}

static const char *meta_str(const json_t *rec, const char *key)
{
	const char *s = json_string_value(json_object_get(json_object_get(rec, "tat"), key));

	return s ? s : "";
}

/* USER, or INVOKER for an invoker's run. */
static const char *source_of(const json_t *rec)
{
	return *meta_str(rec, "InvocationSource") ? meta_str(rec, "InvocationSource") : "USER";
}

static json_int_t meta_int(const json_t *rec, const char *key)
{
	return json_integer_value(json_object_get(json_object_get(rec, "tat"), key));
}

/* ---- DescribeInvocations ------------------------------------------------ */

static void invocation_add(struct walk *w, const json_t *row)
{
	const char *inv = json_string_value(json_object_get(row, "id"));
	const json_t *tasks = json_object_get(w->tasks_of, inv), *targets;
	json_t *set = json_array(), *t, *ch;
	const char *st[CHILDREN_MAX];
	int64_t start = 0, end = 0, upd = json_integer_value(json_object_get(row, "created_at"));
	size_t n = 0, i;
	char ct[32], s1[32], s2[32], s3[32];
	bool all_final = true;

	targets = json_object_get(w->rec, "targets");
	json_array_foreach(targets, i, t) {
		const char *cid = json_string_value(t);
		const char *status;

		ch = json_object_get(w->children, cid);
		status = ch ? json_string_value(json_object_get(ch, "TaskStatus")) : "PENDING";
		if (n < CHILDREN_MAX)
			st[n++] = status;
		if (ch) {
			int64_t s = json_integer_value(json_object_get(ch, "started"));
			int64_t e = json_integer_value(json_object_get(ch, "finished"));

			if (s && (!start || s < start))
				start = s;
			if (e > end)
				end = e;
			all_final &= e != 0;
		} else {
			all_final = false;
		}
		json_array_append_new(set, json_pack("{s:s, s:s, s:s}", "InvocationTaskId",
						     json_string_value(json_object_get(tasks, cid)) ?
							     json_string_value(json_object_get(tasks, cid)) : "",
						     "TaskStatus", status, "InstanceId", cid));
	}
	if (end > upd)
		upd = end;
	if (start > upd)
		upd = start;
	tat_time(json_integer_value(json_object_get(row, "created_at")), ct);
	tat_time(start, s1);
	tat_time(all_final ? end : 0, s2);
	tat_time(upd, s3);
	json_array_append_new(
		w->out,
		json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s,"
			  " s:s, s:s, s:I, s:s, s:s, s:s}",
			  "InvocationId", inv, "CommandId",
			  json_string_value(json_object_get(row, "parent")), "InvocationStatus",
			  tat_invocation_status(st, n), "InvocationTaskBasicInfoSet", set,
			  "Description", meta_str(w->rec, "Description"), "StartTime", s1, "EndTime",
			  s2, "CreatedTime", ct, "UpdatedTime", s3, "Parameters",
			  meta_str(w->rec, "Parameters"), "DefaultParameters",
			  meta_str(w->rec, "DefaultParameters"), "InstanceKind", "CVM", "Username",
			  meta_str(w->rec, "Username"), "InvocationSource", source_of(w->rec),
			  "CommandContent",
			  meta_str(w->rec, "CommandContent"), "CommandType",
			  meta_str(w->rec, "CommandType"), "Timeout", meta_int(w->rec, "Timeout"),
			  "WorkingDirectory", meta_str(w->rec, "WorkingDirectory"),
			  "OutputCOSBucketUrl", "", "OutputCOSKeyPrefix", ""));
}

static void invocations_step(struct walk *w)
{
	json_t *row;

	if (w->i > 0 && w->rec)
		invocation_add(w, json_array_get(w->rows, w->i - 1));
	row = json_array_get(w->rows, w->i);
	if (!row) {
		w->finish(w);
		return;
	}
	w->i++;
	walk_read(w, json_string_value(json_object_get(row, "core_id")));
}

static void invocations_finish(struct walk *w)
{
	tat_reply(w->c, json_pack("{s:I, s:O}", "TotalCount", (json_int_t)w->total,
				  "InvocationSet", w->out));
	walk_free(w);
}

static void tasks_map_read(void *ud, int rc, json_t *rows, int64_t total)
{
	struct walk *w = ud;
	size_t i;
	json_t *r;

	(void)total;
	json_array_foreach(rows, i, r) {
		const char *inv = json_string_value(json_object_get(r, "parent"));
		json_t *m = json_object_get(w->tasks_of, inv);

		if (!m)
			json_object_set_new(w->tasks_of, inv, m = json_object());
		json_object_set(m, json_string_value(json_object_get(r, "client_id")),
				json_object_get(r, "id"));
	}
	json_decref(rows);
	if (rc) {
		tat_fail(w->c, "InternalError", "The invocations' tasks cannot be read.");
		walk_free(w);
		return;
	}
	w->step(w);
}

static void invocations_read(void *ud, int rc, json_t *rows, int64_t total)
{
	struct walk *w = ud;
	struct tat_id_query q;
	size_t i;
	json_t *r;

	if (rc) {
		tat_fail(w->c, "InternalError", "The invocations cannot be read.");
		walk_free(w);
		return;
	}
	w->rows = rows;
	w->total = total;
	if (json_array_size(rows) == 0) {
		w->finish(w);
		return;
	}
	memset(&q, 0, sizeof q);
	q.kind = "invt";
	json_array_foreach(rows, i, r)
		q.parents[q.nparents++] = json_string_value(json_object_get(r, "id"));
	q.limit = 100LL * STORE_TAT_MAX_IN;
	store_read_tat_ids(w->c->srv->store, &q, tasks_map_read, w);
}

static struct walk *walk_new(struct tat_call *c)
{
	struct walk *w = calloc(1, sizeof *w);

	if (!w || !(w->out = json_array()) || !(w->tasks_of = json_object())) {
		if (w)
			walk_free(w);
		tat_fail(c, "InternalError", "out of memory");
		return NULL;
	}
	w->c = c;
	return w;
}

void tat_describe_invocations(struct tat_call *c)
{
	static const char *const names[] = { "invocation-id", "command-id", "command-created-by",
					     "instance-kind", NULL };
	const json_t *filters = json_object_get(c->params, "Filters");
	struct tat_id_query q;
	struct walk *w;
	int64_t limit, offset;

	if (ids_xor_filters(c, "InvocationIds") || tat_filters_check(c, filters, names) ||
	    tat_paging(c, &limit, &offset))
		return;
	if (!(w = walk_new(c)))
		return;
	w->hide_output = true;
	w->step = invocations_step;
	w->finish = invocations_finish;
	memset(&q, 0, sizeof q);
	q.kind = "inv";
	copy_ids(json_object_get(c->params, "InvocationIds"), q.ids, &q.nids);
	filter_values(filters, "invocation-id", q.ids, &q.nids, STORE_TAT_MAX_IN);
	filter_values(filters, "command-id", q.parents, &q.nparents, STORE_TAT_MAX_IN);
	if (!fixed_filter_ok(filters, "command-created-by", "USER") ||
	    !fixed_filter_ok(filters, "instance-kind", "CVM")) {
		/* A kind of record tether has none of. */
		q.ids[0] = "";
		q.nids = 1;
	}
	q.created_by = c->admin ? NULL : c->user;
	q.limit = limit;
	q.offset = offset;
	store_read_tat_ids(c->srv->store, &q, invocations_read, w);
}

/* ---- DescribeInvocationTasks -------------------------------------------- */

static void task_add(struct walk *w, const json_t *row)
{
	const char *cid = json_string_value(json_object_get(row, "client_id"));
	json_t *ch = json_object_get(w->children, cid), *doc, *res;
	char ct[32], upd[32];
	int64_t u;

	tat_time(json_integer_value(json_object_get(row, "created_at")), ct);
	doc = json_pack("{s:s, s:s, s:I, s:s, s:s}", "Content", meta_str(w->rec, "CommandContent"),
			"CommandType", meta_str(w->rec, "CommandType"), "Timeout",
			meta_int(w->rec, "Timeout"), "WorkingDirectory",
			meta_str(w->rec, "WorkingDirectory"), "Username",
			meta_str(w->rec, "Username"));
	u = ch ? json_integer_value(json_object_get(ch, "finished")) : 0;
	if (ch && !u)
		u = json_integer_value(json_object_get(ch, "started"));
	if (!u)
		u = json_integer_value(json_object_get(row, "created_at"));
	tat_time(u, upd);
	res = ch ? json_incref(json_object_get(ch, "TaskResult")) :
		   json_pack("{s:i, s:s, s:s, s:s, s:i, s:s, s:s}", "ExitCode", 0, "Output", "",
			     "ExecStartTime", "", "ExecEndTime", "", "Dropped", 0, "OutputUrl", "",
			     "OutputUploadCOSErrorInfo", "");
	json_array_append_new(
		w->out,
		json_pack("{s:s, s:s, s:s, s:s, s:s, s:O, s:s, s:s, s:s, s:s, s:o, s:s, s:s}",
			  "InvocationId", json_string_value(json_object_get(row, "parent")),
			  "InvocationTaskId", json_string_value(json_object_get(row, "id")),
			  "CommandId", meta_str(w->rec, "CommandId"), "TaskStatus",
			  ch ? json_string_value(json_object_get(ch, "TaskStatus")) : "PENDING",
			  "InstanceId", cid, "TaskResult", res,
			  "StartTime", ch ? json_string_value(json_object_get(ch, "StartTime")) : "",
			  "EndTime", ch ? json_string_value(json_object_get(ch, "EndTime")) : "",
			  "CreatedTime", ct, "UpdatedTime", upd, "CommandDocument", doc,
			  "ErrorInfo", ch ? json_string_value(json_object_get(ch, "ErrorInfo")) : "",
			  "InvocationSource", source_of(w->rec)));
}

static void tasks_step(struct walk *w)
{
	json_t *row;

	if (w->i > 0 && w->rec)
		task_add(w, json_array_get(w->rows, w->i - 1));
	row = json_array_get(w->rows, w->i);
	if (!row) {
		tat_reply(w->c, json_pack("{s:I, s:O}", "TotalCount", (json_int_t)w->total,
					  "InvocationTaskSet", w->out));
		walk_free(w);
		return;
	}
	w->i++;
	walk_read(w, json_string_value(json_object_get(row, "core_id")));
}

static void task_rows_read(void *ud, int rc, json_t *rows, int64_t total)
{
	struct walk *w = ud;

	if (rc) {
		tat_fail(w->c, "InternalError", "The tasks cannot be read.");
		walk_free(w);
		return;
	}
	w->rows = rows;
	w->total = total;
	w->step(w);
}

/* The task query, once command-id filters are turned into invocation ids. */
struct task_q {
	struct walk *w;
	struct tat_id_query q;
};

static void task_query_run(struct task_q *t)
{
	store_read_tat_ids(t->w->c->srv->store, &t->q, task_rows_read, t->w);
	free(t);
}

static void command_invs_read(void *ud, int rc, json_t *rows, int64_t total)
{
	struct task_q *t = ud;
	const char *keep[STORE_TAT_MAX_IN];
	size_t n = 0, i;
	json_t *r;

	(void)total;
	if (rc) {
		tat_fail(t->w->c, "InternalError", "The tasks cannot be read.");
		walk_free(t->w);
		free(t);
		return;
	}
	/* AND with the invocation-id filter, if there is one. */
	json_array_foreach(rows, i, r) {
		const char *id = json_string_value(json_object_get(r, "id"));
		bool ok = t->q.nparents == 0;

		for (size_t j = 0; j < t->q.nparents; j++)
			ok |= !strcmp(t->q.parents[j], id);
		if (ok && n < STORE_TAT_MAX_IN)
			keep[n++] = id;
	}
	t->q.nparents = n ? n : 1;
	for (i = 0; i < n; i++)
		t->q.parents[i] = keep[i];
	if (!n)
		t->q.parents[0] = "";
	/* rows owns the strings: the read borrows them for the call only. */
	task_query_run(t);
	json_decref(rows);
}

void tat_describe_tasks(struct tat_call *c)
{
	static const char *const names[] = { "invocation-id", "invocation-task-id", "instance-id",
					     "command-id", NULL };
	const json_t *filters = json_object_get(c->params, "Filters");
	json_t *hide = json_object_get(c->params, "HideOutput");
	struct task_q *t;
	struct walk *w;
	int64_t limit, offset;
	const char *cmds[STORE_TAT_MAX_IN];
	size_t ncmds = 0;

	if (ids_xor_filters(c, "InvocationTaskIds") || tat_filters_check(c, filters, names) ||
	    tat_paging(c, &limit, &offset))
		return;
	if (!(w = walk_new(c)))
		return;
	t = calloc(1, sizeof *t);
	if (!t) {
		walk_free(w);
		tat_fail(c, "InternalError", "out of memory");
		return;
	}
	t->w = w;
	w->hide_output = hide ? json_is_true(hide) : true;
	w->step = tasks_step;
	t->q.kind = "invt";
	copy_ids(json_object_get(c->params, "InvocationTaskIds"), t->q.ids, &t->q.nids);
	filter_values(filters, "invocation-task-id", t->q.ids, &t->q.nids, STORE_TAT_MAX_IN);
	filter_values(filters, "invocation-id", t->q.parents, &t->q.nparents, STORE_TAT_MAX_IN);
	filter_values(filters, "instance-id", t->q.client_ids, &t->q.nclient_ids,
		      STORE_TAT_MAX_IN);
	t->q.created_by = c->admin ? NULL : c->user;
	t->q.limit = limit;
	t->q.offset = offset;
	if (filter_values(filters, "command-id", cmds, &ncmds, STORE_TAT_MAX_IN)) {
		struct tat_id_query iq;

		memset(&iq, 0, sizeof iq);
		iq.kind = "inv";
		memcpy(iq.parents, cmds, ncmds * sizeof cmds[0]);
		iq.nparents = ncmds;
		iq.created_by = t->q.created_by;
		iq.limit = STORE_TAT_MAX_IN;
		store_read_tat_ids(c->srv->store, &iq, command_invs_read, t);
		return;
	}
	task_query_run(t);
}

/* ---- DescribeAutomationAgentStatus -------------------------------------- */

struct agents {
	struct tat_call *c;
	const json_t *filters;
	json_t *list;
};

static bool agent_pass(struct agents *a, struct client *cl)
{
	const char *v[8];
	size_t n = 0;
	bool ok;

	if (!invoke_client_allowed(a->c->srv, a->c->user, cl))
		return false;
	if (filter_values(a->filters, "agent-status", v, &n, 8)) {
		const char *st = registry_client_connected(cl) ? "Online" : "Offline";

		ok = false;
		for (size_t i = 0; i < n; i++)
			ok |= !strcmp(v[i], st);
		if (!ok)
			return false;
	}
	if (!fixed_filter_ok(a->filters, "environment", "Linux"))
		return false;
	n = 0;
	if (filter_values(a->filters, "instance-id", v, &n, 8)) {
		ok = false;
		for (size_t i = 0; i < n; i++)
			ok |= !strcmp(v[i], registry_client_id(cl));
		if (!ok)
			return false;
	}
	return true;
}

static json_t *agent_json(const struct client *cl)
{
	char hb[32];
	bool on = registry_client_connected(cl);

	tat_time(on ? util_now_ns() : (cl->last_seen ? cl->last_seen : cl->disconnected_at), hb);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:[]}", "InstanceId", registry_client_id(cl),
			 "Version", cl->version ? cl->version : "", "LastHeartbeatTime", hb,
			 "AgentStatus", on ? "Online" : "Offline", "Environment", "Linux",
			 "SupportFeatures");
}

static void agent_each(void *ud, struct client *cl)
{
	struct agents *a = ud;

	if (agent_pass(a, cl))
		json_array_append_new(a->list, agent_json(cl));
}

static int by_instance(const void *x, const void *y)
{
	const json_t *a = *(const json_t *const *)x, *b = *(const json_t *const *)y;

	return strcmp(json_string_value(json_object_get(a, "InstanceId")),
		      json_string_value(json_object_get(b, "InstanceId")));
}

void tat_describe_agents(struct tat_call *c)
{
	static const char *const names[] = { "agent-status", "environment", "instance-id", NULL };
	struct agents a = { c, json_object_get(c->params, "Filters"), json_array() };
	json_t *ids = json_object_get(c->params, "InstanceIds"), *v, *page, **sorted;
	int64_t limit, offset;
	size_t i, n;

	if (ids_xor_filters(c, "InstanceIds") || tat_filters_check(c, a.filters, names) ||
	    tat_paging(c, &limit, &offset)) {
		json_decref(a.list);
		return;
	}
	if (ids) {
		json_array_foreach(ids, i, v) {
			struct client *cl = registry_find(c->srv->registry, json_string_value(v));

			if (cl && agent_pass(&a, cl))
				json_array_append_new(a.list, agent_json(cl));
		}
	} else {
		registry_each(c->srv->registry, agent_each, &a);
	}
	n = json_array_size(a.list);
	sorted = calloc(n ? n : 1, sizeof *sorted);
	page = json_array();
	if (!sorted || !page) {
		free(sorted);
		json_decref(page);
		json_decref(a.list);
		tat_fail(c, "InternalError", "out of memory");
		return;
	}
	for (i = 0; i < n; i++)
		sorted[i] = json_array_get(a.list, i);
	if (!ids)
		qsort(sorted, n, sizeof *sorted, by_instance);
	for (i = (size_t)offset; i < n && (int64_t)json_array_size(page) < limit; i++)
		json_array_append(page, sorted[i]);
	free(sorted);
	tat_reply(c, json_pack("{s:I, s:o}", "TotalCount", (json_int_t)n, "AutomationAgentSet",
			       page));
	json_decref(a.list);
}
