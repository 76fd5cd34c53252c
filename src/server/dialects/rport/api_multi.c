/* api_multi: multi-client commands (POST/GET /commands...), targeting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dialects/rport/api.h"
#include "dialects/rport/api_wait.h"
#include "auth/auth.h"
#include "core/audit.h"
#include "core/fanout.h"
#include "core/invoke.h"
#include "dialects/rport/job_json.h"
#include "dialects/rport/multi_json.h"
#include "core/groups.h"
#include "agents/hub.h"
#include "core/query.h"
#include "store/store.h"
#include "util.h"


const struct http_field api_multi_fields[] = {
	{ "command", HF_STRING, 0 },
	{ "script", HF_STRING, 0 },   /* rport's clients send both, one empty */
	{ "client_ids", HF_ARRAY, 0 },
	{ "group_ids", HF_ARRAY, 0 },
	{ "tags", HF_OBJECT, 0 },
	{ "labels", HF_OBJECT, 0 },
	{ "cwd", HF_STRING, 0 },
	{ "is_sudo", HF_BOOL, 0 },
	{ "interpreter", HF_STRING, 0 },
	{ "timeout_sec", HF_INT, 0 },
	{ "execute_concurrently", HF_BOOL, 0 },
	{ "abort_on_error", HF_BOOL, 0 },
	{ "max_concurrency", HF_ANY, 0 },
	{ "max_errors", HF_ANY, 0 },
	{ "kill_on_timeout", HF_BOOL, 0 },
	{ "delivery_timeout_sec", HF_INT, 0 },
	/* tether: wait for offline targets (docs/api.md) */
	{ "queue_offline", HF_BOOL, 0 },
	{ "expires_in_sec", HF_INT, 0 },
	/* tether: run without a shell (api_commands.c); commands only */
	{ "argv", HF_ARRAY, API_KIND_COMMAND },
	/* REST only: a WebSocket stream is not replayed */
	{ "idempotency_key", HF_STRING, API_KIND_REST },
};
const size_t api_multi_nfields = sizeof api_multi_fields / sizeof api_multi_fields[0];

static bool nonempty_array(json_t *v)
{
	return json_is_array(v) && json_array_size(v) > 0;
}

/* {operator: "AND"|"OR", tags|labels: [...]}. Returns the list or NULL
 * with err. */
static json_t *selector_list(struct api_err *call, json_t *sel, const char *what,
			     bool *and_op)
{
	const char *op = json_string_value(json_object_get(sel, "operator"));
	json_t *list = json_object_get(sel, what);
	const char *k;
	json_t *v;
	char detail[200];
	size_t i;

	json_object_foreach(sel, k, v) {
		if (strcmp(k, "operator") && strcmp(k, what)) {
			snprintf(detail, sizeof detail,
				 "json: unknown field \"%.64s\" in %s: expected {\"operator\": \"AND\"|\"OR\", \"%s\": [...]}",
				 k, what, what);
			api_err_set(call, 400, "Invalid JSON data.", detail);
			return NULL;
		}
	}
	if (json_object_get(sel, "operator") && !op) {
		api_err_set(call, 400, "Invalid JSON data.", "json: operator must be a string");
		return NULL;
	}
	*and_op = op && !strcasecmp(op, "and");
	if (op && !*and_op && strcasecmp(op, "or")) {
		snprintf(detail, sizeof detail, "operator must be \"AND\" or \"OR\", actual: \"%.32s\"", op);
		api_err_set(call, 400, "Invalid operator.", detail);
		return NULL;
	}
	if (!nonempty_array(list)) {
		api_err_set(call, 400, !strcmp(what, "tags") ? "No tags specified." :
								   "No labels specified.", "");
		return NULL;
	}
	json_array_foreach(list, i, v) {
		if (!json_is_string(v) || (!strcmp(what, "labels") &&
					   !strchr(json_string_value(v), ':'))) {
			snprintf(detail, sizeof detail, "%s must be %s", what,
				 !strcmp(what, "labels") ? "strings like \"zone:EU\"" : "strings");
			api_err_set(call, 400, "Invalid JSON data.", detail);
			return NULL;
		}
	}
	return list;
}

/* The strings of a JSON array (NULL for an entry that is not one); the
 * vector borrows them from arr. */
static const char **strings_of(json_t *arr, size_t *n)
{
	size_t i, len = json_is_array(arr) ? json_array_size(arr) : 0;
	const char **v = calloc(len ? len : 1, sizeof *v);

	for (i = 0; v && i < len; i++)
		v[i] = json_string_value(json_array_get(arr, i));
	*n = v ? len : 0;
	return v;
}

static struct invoke_limit limit_of(json_t *v)
{
	struct invoke_limit l = { LIMIT_NONE, 0, NULL };

	if (!v || json_is_null(v))
		return l;
	if (json_is_integer(v)) {
		l.kind = LIMIT_NUMBER;
		l.n = json_integer_value(v);
	} else if (json_is_string(v)) {
		l.kind = LIMIT_TEXT;
		l.text = json_string_value(v);
	} else {
		l.kind = LIMIT_INVALID;
	}
	return l;
}

/* The targeting as the request gave it, kept with the record (GET
 * /commands/{id} shows it). */
static json_t *targeting_as_given(json_t *body)
{
	json_t *meta = json_object(), *v;

	v = json_object_get(body, "client_ids");
	json_object_set(meta, "client_ids", nonempty_array(v) ? v : json_null());
	v = json_object_get(body, "group_ids");
	json_object_set(meta, "group_ids", nonempty_array(v) ? v : json_null());
	if (json_is_object(v = json_object_get(body, "tags")))
		json_object_set(meta, "tags", v);
	if (json_is_object(v = json_object_get(body, "labels")))
		json_object_set(meta, "labels", v);
	return meta;
}

struct invocation *api_multi_prepare(struct server *srv, json_t *body, bool is_script,
				     bool stream, const char *user, const char *peer,
				     const char *idem_key, const char *idem_hash,
				     struct api_err *err)
{
	struct invocation_request req;
	struct invocation *inv = NULL;
	struct invoke_error ie;
	json_t *tags = json_object_get(body, "tags"), *labels = json_object_get(body, "labels");
	json_t *ids = json_object_get(body, "client_ids"), *gids = json_object_get(body, "group_ids");
	json_t *list = NULL, *meta = NULL, *v;
	const char **idv = NULL, **gidv = NULL, **selv = NULL;
	char *script = NULL;
	enum target_error te;

	memset(&req, 0, sizeof req);
	/* The same checks and words as single-client jobs (api_commands.c). */
	if (api_job_validate(body, is_script, &req.command, &script, err))
		return NULL;
	if (nonempty_array(ids))
		idv = strings_of(ids, &req.targets.nclient_ids);
	if (nonempty_array(gids))
		gidv = strings_of(gids, &req.targets.ngroup_ids);
	req.targets.client_ids = idv;
	req.targets.group_ids = gidv;
	req.targets.by_selector = json_is_object(tags) || json_is_object(labels);
	req.targets.by_labels = !json_is_object(tags) && json_is_object(labels);
	te = targets_check(&req.targets);
	if (te == TARGET_OK && json_is_object(tags) && json_is_object(labels))
		te = TARGET_MULTIPLE;
	if (te != TARGET_OK) {
		api_target_err(te, "", req.targets.by_labels, err);
		goto out;
	}
	if (req.targets.by_selector) {
		list = selector_list(err, req.targets.by_labels ? labels : tags,
				     req.targets.by_labels ? "labels" : "tags", &req.targets.all_of);
		if (!list)
			goto out;
		selv = strings_of(list, &req.targets.nselectors);
		req.targets.selectors = selv;
	}
	req.argv = script && !is_script ? json_object_get(body, "argv") : NULL;
	req.is_script = is_script;
	req.interpreter = json_string_value(json_object_get(body, "interpreter"));
	req.cwd = json_string_value(json_object_get(body, "cwd"));
	req.is_sudo = json_is_true(json_object_get(body, "is_sudo"));
	req.kill_on_timeout = json_is_true(json_object_get(body, "kill_on_timeout"));
	req.stream = stream;
	req.timeout_sec = json_integer_value(json_object_get(body, "timeout_sec"));
	req.delivery_timeout_sec = json_integer_value(json_object_get(body, "delivery_timeout_sec"));
	req.queue_offline = json_is_true(json_object_get(body, "queue_offline"));
	req.expires_in_sec = json_integer_value(json_object_get(body, "expires_in_sec"));
	req.concurrent = json_is_true(json_object_get(body, "execute_concurrently"));
	v = json_object_get(body, "abort_on_error");
	req.abort_on_error = json_is_boolean(v) ? json_is_true(v) : true;
	req.max_concurrency = limit_of(json_object_get(body, "max_concurrency"));
	req.max_errors = limit_of(json_object_get(body, "max_errors"));
	req.metadata = meta = targeting_as_given(body);
	req.created_by = user;
	req.peer = peer;
	req.idempotency_key = idem_key;
	req.request_hash = idem_hash;
	req.audit_application = is_script ? "client.script" : "client.command";
	req.audit_request = body;
	if (invoke_prepare(srv, &req, &inv, &ie)) {
		api_invoke_err(&ie, req.targets.by_labels, err);
		inv = NULL;
	}
out:
	json_decref(meta);
	free(idv);
	free(gidv);
	free(selv);
	free(script);
	return inv;
}

/* The REST answer once the invocation is durable (or not). */
static void multi_submitted(void *ud, int rc, const char *id, const struct invoke_error *ie)
{
	struct api_call *call = ud;
	struct api_err err;

	if (rc) {
		api_invoke_err(ie, false, &err);
		api_reply_err(call, &err);
		return;
	}
	api_reply_data(call, 200, json_pack("{s:s}", "jid", id));
}

static const bool multi_script[2] = { false, true };

/* A multi-client run whose idempotency key (if any) is unused. */
static void multi_go(struct api_call *call, json_t *body, const char *idem_key,
		     const char *idem_hash, void *ud)
{
	struct api_err err;
	struct invocation *inv;

	inv = api_multi_prepare(call->srv, body, *(const bool *)ud, false, call->user,
				net_http_peer(call->req), idem_key, idem_hash, &err);
	json_decref(body);
	if (!inv) {
		api_reply_err(call, &err);
		return;
	}
	invoke_submit(call->srv, inv, multi_submitted, call);
}

static void run_multi(struct api_call *call, bool is_script)
{
	json_t *body;

	if (api_body_kind(call, api_multi_fields, api_multi_nfields,
			  API_KIND_REST | (is_script ? API_KIND_SCRIPT : API_KIND_COMMAND), &body))
		return;
	api_idem_begin(call, body, multi_go, (void *)&multi_script[is_script]);
}

void api_commands_post(struct api_call *call)
{
	run_multi(call, false);
}

void api_scripts_post(struct api_call *call)
{
	run_multi(call, true);
}

static void multi_cancel_read(void *ud, int rc, json_t *rec, int64_t total)
{
	struct api_call *call = ud;
	char title[200];
	int n;

	(void)total;
	if (rc == 0) {
		bool ok = api_job_visible(call, json_string_value(json_object_get(rec, "created_by")));

		json_decref(rec);
		if (!ok)
			return;
	}
	n = fanout_cancel(call->srv->fanout, call->params[0], call->user);
	if (n == TE_NOTFOUND) {
		/* Not running: unknown, or finished already. */
		snprintf(title, sizeof title, rc ? "Multi-client Job[id=\"%.64s\"] not found." :
						   "Multi-client Job[id=\"%.64s\"] has finished.",
			 call->params[0]);
		api_reply_error(call, rc ? 404 : 409, title, "");
		return;
	}
	api_audit(call, "client.command", "cancel", call->params[0], NULL, true);
	api_reply_data(call, 202, json_pack("{s:s, s:s, s:i}", "jid", call->params[0], "status",
					    "cancelling", "cancelled_jobs", n));
}

void api_commands_delete(struct api_call *call)
{
	store_read_multi(call->srv->store, call->params[0], multi_cancel_read, call);
}

/* Does a multi job summary pass filter f (query.c's, on jid, created_by,
 * schedule_id or started_at)? */
static bool multi_filter_ok(json_t *m, const struct query_filter *f)
{
	const char *v;
	int64_t t = 0;

	v = json_string_value(json_object_get(m, f->column));
	if (f->op == QOP_IN) {
		for (size_t i = 0; i < f->nvalues; i++)
			if (v && util_glob_match(f->values[i], v))
				return true;
		return false;
	}
	if (!v || util_time_parse(v, &t))
		return false;
	switch (f->op) {
	case QOP_GT: return t > f->time_ns;
	case QOP_LT: return t < f->time_ns;
	case QOP_SINCE: return t >= f->time_ns;
	case QOP_UNTIL: return t <= f->time_ns;
	default: return false;
	}
}

static const struct job_query *multi_sort_q; /* qsort's context (loop thread) */

static int multi_cmp(const void *pa, const void *pb)
{
	json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;

	for (size_t i = 0; i < multi_sort_q->nsort; i++) {
		const char *col = multi_sort_q->sort[i].column;
		const char *x = json_string_value(json_object_get(a, col));
		const char *y = json_string_value(json_object_get(b, col));
		int r;

		r = strcmp(x ? x : "", y ? y : "");
		if (r)
			return multi_sort_q->sort[i].desc ? -r : r;
	}
	/* Ties: newest first (uuid7 ids grow with time), as unsorted. */
	return -strcmp(json_string_value(json_object_get(a, "jid")),
		       json_string_value(json_object_get(b, "jid")));
}

/* GET /commands with rport's sort, filter[...], fields[commands] and page
 * parameters. Without sort or filter the store pages; otherwise the list
 * (the user's multi jobs, kept by retention) is filtered here. */
/* A page of multi jobs being answered. */
struct multi_page {
	struct api_call *call;
	struct job_query q;          /* owned: filters and sorts of the request */
	const char *fields[8];
	int nfields;
};

/* Filters, sorts and pages the whole list (a request with filters or a
 * sort reads every multi job the user may see). Returns a new page and
 * sets *total, or NULL. */
static json_t *multi_page_select(json_t *arr, const struct job_query *q, int64_t *total)
{
	json_t **v = calloc(json_array_size(arr) + 1, sizeof *v), *page, *m;
	size_t kept = 0, i;

	if (!v)
		return NULL;
	page = json_array();
	json_array_foreach(arr, i, m) {
		bool ok = true;

		for (size_t f = 0; f < q->nfilters && ok; f++)
			ok = multi_filter_ok(m, &q->filters[f]);
		if (ok)
			v[kept++] = m;
	}
	if (q->nsort) {
		multi_sort_q = q;
		qsort(v, kept, sizeof *v, multi_cmp);
		multi_sort_q = NULL;
	}
	for (i = (size_t)q->offset; i < kept && i < (size_t)(q->offset + q->limit); i++)
		json_array_append(page, v[i]);
	*total = (int64_t)kept;
	free(v);
	return page;
}

static void multi_page_read(void *ud, int rc, json_t *arr, int64_t total)
{
	struct multi_page *mp = ud;
	struct api_call *call = mp->call;
	json_t *page, *m;
	size_t i;

	if (rc) {
		query_jobs_free(&mp->q);
		free(mp);
		api_reply_error(call, 500, "Failed to read the multi-client jobs.", "");
		return;
	}
	if (!mp->q.nfilters && !mp->q.nsort) {
		page = arr;
	} else {
		page = multi_page_select(arr, &mp->q, &total);
		json_decref(arr);
		if (!page) {
			query_jobs_free(&mp->q);
			free(mp);
			api_reply_error(call, 500, "Internal error.", "out of memory");
			return;
		}
	}
	json_array_foreach(page, i, m) {
		api_fields_keep(m, mp->fields, (size_t)mp->nfields);
	}
	query_jobs_free(&mp->q);
	free(mp);
	api_reply_list(call, page, total);
}

void api_commands_list(struct api_call *call)
{
	static const char *const resources[] = { "commands", "jobs", NULL };
	static const char *const known[] = { "jid", "started_at", "created_by", "schedule_id",
					     NULL };
	struct multi_page *mp = calloc(1, sizeof *mp);
	struct api_query aq;
	char err[300];
	bool all;

	if (!mp) {
		api_reply_error(call, 500, "Internal error.", "out of memory");
		return;
	}
	if (api_query_get(call, &aq)) {
		free(mp);
		return;
	}
	mp->call = call;
	if (query_multi_parse(aq.names, aq.values, aq.n, &mp->q, err, sizeof err) ||
	    (mp->nfields = query_fields_parse(aq.names, aq.values, aq.n, resources, NULL, known,
					      mp->fields, 8, err, sizeof err)) < 0) {
		query_jobs_free(&mp->q);
		api_query_free(&aq);
		free(mp);
		api_reply_error(call, 400, err, "");
		return;
	}
	api_query_free(&aq);
	/* With filters or a sort the whole list is read, then paged here. */
	all = mp->q.nfilters || mp->q.nsort;
	store_read_multi_list(call->srv->store, call->admin ? NULL : call->user,
			      all ? INT64_MAX : mp->q.limit, all ? 0 : mp->q.offset,
			      multi_page_read, mp);
}

static void multi_get_read(void *ud, json_t *m, const struct buf *jobs)
{
	struct buf body;
	struct api_call *call = ud;
	char title[200];

	if (!m) {
		snprintf(title, sizeof title, "Multi-client Job[id=\"%.64s\"] not found.",
			 call->params[0]);
		api_reply_error(call, 404, title, "");
		return;
	}
	if (!api_job_visible(call, json_string_value(json_object_get(m, "created_by")))) {
		json_decref(m);
		return;
	}
	if (call->wait_sec > 0 && !call->waited &&
	    !strcmp(json_string_value(json_object_get(m, "status")) ?: "", "running")) {
		json_decref(m);
		api_wait_hold(call, call->params[0], call->wait_sec, api_commands_get);
		return;
	}
	/* {"data": the multi job}, its jobs spliced in as text. */
	buf_init(&body, (size_t)1 << 30);
	if (buf_append(&body, "{\"data\":", 8) || rport_multi_dump(&body, m, jobs) ||
	    buf_append(&body, "}", 1)) {
		buf_free(&body);
		json_decref(m);
		api_reply_error(call, 500, "Internal error.", "out of memory");
		return;
	}
	json_decref(m);
	api_reply_raw(call, 200, "application/json", body.data, body.len);
	buf_free(&body);
}

void api_commands_get(struct api_call *call)
{
	struct fanout_progress p;

	if (api_wait_param(call, &call->wait_sec))
		return;
	/* ?wait= on a job still in fan-out's memory: it is running, so it is
	 * held at once, without reading its jobs for an answer not sent. */
	if (call->wait_sec > 0 && !call->waited &&
	    fanout_progress(call->srv->fanout, call->params[0], &p) == 0 &&
	    !json_object_get(p.rec, "finished_at")) {
		if (api_job_visible(call, json_string_value(json_object_get(p.rec, "created_by"))))
			api_wait_hold(call, call->params[0], call->wait_sec, api_commands_get);
		return;
	}
	rport_multi_json_read(call->srv, call->params[0], multi_get_read, call);
}

/* A page of jobs being answered (the fields point at the request's own
 * query strings, alive while the call is). */
struct jobs_page {
	struct api_call *call;
	const char *fields[32], *rfields[8];
	int nfields, nresult;
};

static void jobs_page_read(void *ud, int rc, struct job_rows *rows)
{
	struct jobs_page *pg = ud;
	struct api_call *call = pg->call;
	json_t *arr, *job;
	size_t i;

	if (rc) {
		free(pg);
		api_reply_error(call, 500, "Failed to read jobs.", "");
		return;
	}
	for (i = 0; i < rows->n; i++)
		hub_job_overlay(call->srv->hub, &rows->row[i]);
	arr = rport_jobs_json(rows);
	/* fields[jobs] (or commands, scripts) and fields[result]: only those,
	 * when given. */
	json_array_foreach(arr, i, job) {
		api_fields_keep(job, pg->fields, (size_t)pg->nfields);
		api_fields_keep(json_object_get(job, "result"), pg->rfields, (size_t)pg->nresult);
	}
	api_reply_list(call, arr, rows->total);
	free(pg);
}

/* Jobs listed with rport's sort/filter/page parameters. */
void api_jobs_query(struct api_call *call, const char *base_column, const char *base_value)
{
	static const char *const job_resources[] = { "jobs", "commands", "scripts", NULL };
	static const char *const result_resource[] = { "result", NULL };
	static const char *const job_keys[] = {
		"jid", "status", "finished_at", "client_id", "client_name", "command", "cwd",
		"interpreter", "pid", "started_at", "created_by", "timeout_sec", "multi_job_id",
		"schedule_id", "error", "result", "is_sudo", "is_script", "stream_result",
		"exit_code", "kill_on_timeout", NULL,
	};
	static const char *const result_keys[] = { "stdout", "stderr", "summary", NULL };
	const char *fields[32], *rfields[8];
	int nfields = 0, nresult = 0;
	struct api_query aq;
	struct job_query q;
	char err[300];

	if (api_query_get(call, &aq))
		return;
	if (query_jobs_parse(aq.names, aq.values, aq.n, &q, err, sizeof err) ||
	    (!call->admin && query_jobs_only_creator(&q, call->user, err, sizeof err)) ||
	    (nfields = query_fields_parse(aq.names, aq.values, aq.n, job_resources, result_resource,
					  job_keys, fields, 32, err, sizeof err)) < 0 ||
	    (nresult = query_fields_parse(aq.names, aq.values, aq.n, result_resource, job_resources,
					  result_keys, rfields, 8, err, sizeof err)) < 0) {
		query_jobs_free(&q);
		api_query_free(&aq);
		api_reply_error(call, 400, err, "");
		return;
	}
	api_query_free(&aq);
	{
		struct jobs_page *pg = calloc(1, sizeof *pg);

		if (!pg) {
			query_jobs_free(&q);
			api_reply_error(call, 500, "Internal error.", "out of memory");
			return;
		}
		pg->call = call;
		memcpy(pg->fields, fields, sizeof fields);
		memcpy(pg->rfields, rfields, sizeof rfields);
		pg->nfields = nfields;
		pg->nresult = nresult;
		store_read_job_query(call->srv->store, base_column, base_value, &q,
				     RPORT_LIST_OUTPUT_BUDGET, jobs_page_read, pg);
	}
	query_jobs_free(&q);
}

static void multi_jobs_visible(void *ud, int rc, const char *creator)
{
	struct api_call *call = ud;

	/* An unknown multi job has no jobs: rport answers 200 with []. */
	if (rc == 0 && !api_job_visible(call, creator))
		return;
	api_jobs_query(call, "multi_job_id", call->params[0]);
}

void api_commands_jobs(struct api_call *call)
{
	/* Only the creator is read: a record of 20,000 targets is not parsed
	 * for a page of its jobs. */
	store_read_multi_creator(call->srv->store, call->params[0], multi_jobs_visible, call);
}
