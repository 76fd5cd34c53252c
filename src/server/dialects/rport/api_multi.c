/* api_multi: multi-client commands (POST/GET /commands...), targeting. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dialects/rport/api.h"
#include "auth/auth.h"
#include "core/audit.h"
#include "core/fanout.h"
#include "core/groups.h"
#include "agents/hub.h"
#include "core/query.h"
#include "store/store.h"
#include "util.h"

#define MAX_TARGET_IDS 100000

const struct api_field api_multi_fields[] = {
	{ "command", AF_STRING },
	{ "script", AF_STRING },   /* rport's clients send both, one empty */
	{ "client_ids", AF_ARRAY },
	{ "group_ids", AF_ARRAY },
	{ "tags", AF_OBJECT },
	{ "labels", AF_OBJECT },
	{ "cwd", AF_STRING },
	{ "is_sudo", AF_BOOL },
	{ "interpreter", AF_STRING },
	{ "timeout_sec", AF_INT },
	{ "execute_concurrently", AF_BOOL },
	{ "abort_on_error", AF_BOOL },
	{ "max_concurrency", AF_ANY },
	{ "max_errors", AF_ANY },
	{ "kill_on_timeout", AF_BOOL },
	{ "delivery_timeout_sec", AF_INT },
	{ "argv", AF_ARRAY },     /* tether: run without a shell (api_commands.c) */
	/* REST only (a WebSocket stream is not replayed): keep it last. */
	{ "idempotency_key", AF_STRING },
};

/* POST /scripts: the same body with "script" (base64) for "command". */
const struct api_field api_multi_script_fields[] = {
	{ "script", AF_STRING },
	{ "command", AF_STRING },
	{ "client_ids", AF_ARRAY },
	{ "group_ids", AF_ARRAY },
	{ "tags", AF_OBJECT },
	{ "labels", AF_OBJECT },
	{ "cwd", AF_STRING },
	{ "is_sudo", AF_BOOL },
	{ "interpreter", AF_STRING },
	{ "timeout_sec", AF_INT },
	{ "execute_concurrently", AF_BOOL },
	{ "abort_on_error", AF_BOOL },
	{ "max_concurrency", AF_ANY },
	{ "max_errors", AF_ANY },
	{ "kill_on_timeout", AF_BOOL },
	{ "delivery_timeout_sec", AF_INT },
	{ "idempotency_key", AF_STRING },
};

/* The WebSocket API's lists leave out the last field, idempotency_key. */
#define REST_MULTI_NFIELDS (sizeof api_multi_fields / sizeof api_multi_fields[0])
const size_t api_multi_nfields = REST_MULTI_NFIELDS - 1;
const size_t api_multi_script_nfields =
	sizeof api_multi_script_fields / sizeof api_multi_script_fields[0] - 1;

static bool nonempty_array(json_t *v)
{
	return json_is_array(v) && json_array_size(v) > 0;
}

static void add_unique(json_t *targets, json_t *seen, const char *id)
{
	if (json_object_get(seen, id))
		return;
	json_object_set_new(seen, id, json_true());
	json_array_append_new(targets, json_string(id));
}

/* {operator: "AND"|"OR", tags|labels: [...]}. Returns the list or NULL
 * after replying 400. */
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

struct select_ctx {
	json_t *list;
	bool and_op;
	bool labels;
	json_t *matched;     /* client ids */
};

static void select_cb(void *ud, struct client *c)
{
	struct select_ctx *s = ud;
	size_t i, hits = 0, n = json_array_size(s->list);
	json_t *v;

	json_array_foreach(s->list, i, v) {
		const char *x = json_string_value(v);

		if (s->labels ? registry_client_has_label(c, x) : registry_client_has_tag(c, x))
			hits++;
	}
	if (s->and_op ? hits == n : hits > 0)
		json_array_append_new(s->matched, json_string(registry_client_id(c)));
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void sort_ids(json_t *ids)
{
	size_t n = json_array_size(ids), i;
	const char **v = malloc((n + 1) * sizeof *v);
	json_t *copy = json_deep_copy(ids);

	if (!v || !copy) {
		free(v);
		json_decref(copy);
		return;
	}
	for (i = 0; i < n; i++)
		v[i] = json_string_value(json_array_get(copy, i));
	qsort(v, n, sizeof *v, str_cmp);
	json_array_clear(ids);
	for (i = 0; i < n; i++)
		json_array_append_new(ids, json_string(v[i]));
	free(v);
	json_decref(copy);
}

/* Resolves the request's targets into ordered, unique client ids, with
 * rport's validation and messages. Returns NULL after replying. */
static json_t *resolve_targets(struct server *srv, struct api_err *call, json_t *body)
{
	json_t *ids = json_object_get(body, "client_ids");
	json_t *gids = json_object_get(body, "group_ids");
	json_t *tags = json_object_get(body, "tags");
	json_t *labels = json_object_get(body, "labels");
	bool has_ids = nonempty_array(ids), has_groups = nonempty_array(gids);
	bool has_tags = json_is_object(tags), has_labels = json_is_object(labels);
	json_t *targets, *seen;
	char title[300];
	size_t i;
	json_t *v;

	if (!has_ids && !has_groups && !has_tags && !has_labels) {
		api_err_set(call, 400, "Missing targeting parameters.",
				"please specify targeting options, such as client ids, groups ids or tags");
		return NULL;
	}
	if ((has_tags && (has_ids || has_groups || has_labels)) ||
	    (has_labels && (has_ids || has_groups))) {
		api_err_set(call, 400, "Multiple targeting parameters.",
				"multiple targeting options are not supported. Please specify only one");
		return NULL;
	}
	if ((has_ids && json_array_size(ids) > MAX_TARGET_IDS) ||
	    (has_groups && json_array_size(gids) > 1000)) {
		api_err_set(call, 400, "Too many targets.",
				"at most 100000 client_ids and 1000 group_ids");
		return NULL;
	}
	targets = json_array();
	seen = json_object();
	if (has_tags || has_labels) {
		struct select_ctx s = { NULL, false, has_labels, json_array() };

		s.list = selector_list(call, has_tags ? tags : labels,
				       has_tags ? "tags" : "labels", &s.and_op);
		if (!s.list) {
			json_decref(s.matched);
			goto fail_replied;
		}
		registry_each(srv->registry, select_cb, &s);
		sort_ids(s.matched);
		json_array_foreach(s.matched, i, v)
			add_unique(targets, seen, json_string_value(v));
		json_decref(s.matched);
		if (!json_array_size(targets)) {
			api_err_set(call, 400, "at least 1 client should be specified",
					has_tags ? "no client has the given tags" :
						   "no client has the given labels");
			goto fail_replied;
		}
		json_decref(seen);
		return targets;
	}
	json_array_foreach(ids, i, v) {
		const char *id = json_string_value(v);

		if (!id) {
			api_err_set(call, 400, "Invalid JSON data.", "client_ids must be strings");
			goto fail_replied;
		}
		if (!registry_find(srv->registry, id)) {
			snprintf(title, sizeof title, "Client with id=\"%.128s\" not found.", id);
			api_err_set(call, 404, title, "");
			goto fail_replied;
		}
		add_unique(targets, seen, id);
	}
	if (has_groups) {
		size_t before = json_array_size(targets);
		json_t *members = json_array();

		json_array_foreach(gids, i, v) {
			const char *gid = json_string_value(v);
			const json_t *g = gid ? groups_get(srv->groups, gid) : NULL;

			if (!g) {
				snprintf(title, sizeof title, "Unknown group with id=\"%.128s\".",
					 gid ? gid : "");
				api_err_set(call, 400, title, "");
				json_decref(members);
				goto fail_replied;
			}
			groups_members(srv->groups, g, members);
		}
		json_array_foreach(members, i, v)
			add_unique(targets, seen, json_string_value(v));
		json_decref(members);
		if (json_array_size(targets) == before && !has_ids) {
			api_err_set(call, 400, "no active clients belong to the selected group(s)", "");
			goto fail_replied;
		}
	}
	if (!json_array_size(targets)) {
		api_err_set(call, 400, "at least 1 client should be specified", "");
		goto fail_replied;
	}
	json_decref(seen);
	return targets;
fail_replied:
	json_decref(seen);
	json_decref(targets);
	return NULL;
}

/* "N" or "N%" of total; -1 after replying 400. */
static long long limit_value(struct api_err *call, json_t *v, const char *name, size_t total,
			     long long min)
{
	char detail[200];
	long long n;

	if (json_is_integer(v)) {
		n = json_integer_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t len = strlen(s);

		if (len > 1 && s[len - 1] == '%') {
			char num[32];

			if (len - 1 >= sizeof num)
				goto bad;
			memcpy(num, s, len - 1);
			num[len - 1] = '\0';
			if (util_parse_int(num, 0, 100, &n))
				goto bad;
			/* Concurrency rounds up (never 0); errors round down. */
			n = min ? (long long)ceil((double)total * (double)n / 100.0) :
				  (long long)floor((double)total * (double)n / 100.0);
			if (n < min)
				n = min;
			return n;
		}
		if (util_parse_int(s, 0, INT32_MAX, &n))
			goto bad;
	} else {
		goto bad;
	}
	if (n < min || n > INT32_MAX)
		goto bad;
	return n;
bad:
	snprintf(detail, sizeof detail,
		 "%s must be a number (at least %lld) or a percentage like \"10%%\"", name, min);
	api_err_set(call, 400, "Invalid JSON data.", detail);
	return -1;
}

static json_t *multi_start(struct server *srv, json_t *body, bool is_script, bool stream,
			   const char *user, const char *peer, const char *idem_key,
			   const char *idem_hash, struct api_err *err)
{
	json_t *targets = NULL, *rec = NULL, *v;
	const char *command, *interp;
	char *script = NULL;
	int64_t timeout, delivery;
	bool concurrent, abort_on_err;
	long long maxc = 0, maxe = -1;
	char jid[UUID_STR_LEN], t[TIME_STR_LEN];

	/* The same checks and words as single-client jobs (api_commands.c). */
	if (api_job_validate(body, is_script, &command, &script, err))
		return NULL;
	targets = resolve_targets(srv, err, body);
	if (!targets)
		goto out;
	if (!auth_user_is_admin(srv->auth, user)) {
		/* Every target must be one this user may use. */
		const json_t *ug = auth_user_groups(srv->auth, user);
		size_t i;
		json_t *tv;

		json_array_foreach(targets, i, tv) {
			struct client *c = registry_find(srv->registry, json_string_value(tv));
			char detail[300];

			if (!c || !groups_client_allowed(srv->groups, ug, c)) {
				snprintf(detail, sizeof detail,
					 "access to client \"%.128s\" is not allowed",
					 json_string_value(tv));
				api_err_set(err, 403, "forbidden", detail);
				goto out;
			}
		}
	}
	interp = json_string_value(json_object_get(body, "interpreter"));
	{
		/* Each connected target must offer the interpreter, as for a
		 * single job; a disconnected one fails as not connected. */
		size_t i;
		json_t *tv;

		json_array_foreach(targets, i, tv) {
			struct client *c = registry_find(srv->registry, json_string_value(tv));

			if (registry_client_connected(c) && api_job_validate_target(c, interp, err))
				goto out;
		}
	}
	concurrent = json_is_true(json_object_get(body, "execute_concurrently"));
	v = json_object_get(body, "abort_on_error");
	abort_on_err = concurrent ? false : (json_is_boolean(v) ? json_is_true(v) : true);
	v = json_object_get(body, "max_concurrency");
	if (v && !json_is_null(v)) {
		if (!concurrent) {
			api_err_set(err, 400, "Invalid JSON data.",
				    "max_concurrency needs \"execute_concurrently\": true (sequential mode runs one client at a time)");
			goto out;
		}
		maxc = limit_value(err, v, "max_concurrency", json_array_size(targets), 1);
		if (maxc < 0)
			goto out;
	}
	v = json_object_get(body, "max_errors");
	if (v && !json_is_null(v)) {
		maxe = limit_value(err, v, "max_errors", json_array_size(targets), 0);
		if (maxe < 0)
			goto out;
	}
	if (api_job_timeouts(srv, body, &timeout, &delivery, err))
		goto out;

	util_uuid7(jid);
	util_time_format(util_now_ns(), t);
	rec = json_object();
	json_object_set_new(rec, "jid", json_string(jid));
	json_object_set_new(rec, "started_at", json_string(t));
	json_object_set_new(rec, "created_by", json_string(user));
	v = json_object_get(body, "client_ids");
	json_object_set(rec, "client_ids", nonempty_array(v) ? v : json_null());
	v = json_object_get(body, "group_ids");
	json_object_set(rec, "group_ids", nonempty_array(v) ? v : json_null());
	if (json_is_object(v = json_object_get(body, "tags")))
		json_object_set(rec, "tags", v);
	if (json_is_object(v = json_object_get(body, "labels")))
		json_object_set(rec, "labels", v);
	json_object_set_new(rec, "command", json_string(command));
	if (script && !is_script)
		json_object_set(rec, "argv", json_object_get(body, "argv"));
	v = json_object_get(body, "cwd");
	json_object_set_new(rec, "cwd", json_string(json_string_value(v) ? json_string_value(v) : ""));
	json_object_set_new(rec, "is_sudo", json_boolean(json_is_true(json_object_get(body, "is_sudo"))));
	json_object_set_new(rec, "is_script", json_boolean(is_script));
	json_object_set_new(rec, "kill_on_timeout",
			    json_boolean(json_is_true(json_object_get(body, "kill_on_timeout"))));
	json_object_set_new(rec, "interpreter", json_string(interp ? interp : ""));
	json_object_set_new(rec, "timeout_sec", json_integer(timeout));
	json_object_set_new(rec, "delivery_timeout_sec", json_integer(delivery));
	if (idem_key) {
		json_object_set_new(rec, "idempotency_key", json_string(idem_key));
		json_object_set_new(rec, "request_hash", json_string(idem_hash));
	}
	json_object_set_new(rec, "concurrent", json_boolean(concurrent));
	json_object_set_new(rec, "abort_on_err", json_boolean(abort_on_err));
	json_object_set_new(rec, "max_concurrency", maxc ? json_integer(maxc) : json_null());
	json_object_set_new(rec, "max_errors", maxe >= 0 ? json_integer(maxe) : json_null());
	if (stream)
		json_object_set_new(rec, "stream", json_true());
	json_object_set(rec, "targets", targets);
	{
		/* Recorded before anything runs; no record, no run. */
		struct audit_entry e = { 0 };

		e.username = user;
		e.remote_ip = peer;
		e.application = is_script ? "client.script" : "client.command";
		e.action = "execute.start";
		e.affected_id = jid;
		e.request = body;
		e.response = json_pack("{s:s}", "jid", jid);
		e.success = true;
		int arc = audit_insert(srv->store, &e);

		json_decref(e.response);
		if (arc) {
			json_decref(rec);
			rec = NULL;
			api_err_set(err, 500, "Failed to write the audit log.",
				    "the job was not started");
			goto out;
		}
	}
	json_incref(rec);
	{
		int rc = fanout_start(srv->fanout, rec);

		if (rc) {
			json_decref(rec);
			json_decref(rec);
			rec = NULL;
			api_err_set(err, rc == TE_EXISTS ? 409 : 500, rc == TE_EXISTS ?
				    "Idempotency key in use." : "Failed to store the multi-client job.",
				    "");
			goto out;
		}
	}
	/* The caller's reference; fanout keeps its own. */
	json_decref(rec);
out:
	json_decref(targets);
	free(script);
	return rec;
}

json_t *api_multi_start(struct server *srv, json_t *body, bool is_script, bool stream,
			const char *user, const char *peer, struct api_err *err)
{
	return multi_start(srv, body, is_script, stream, user, peer, NULL, NULL, err);
}

static void run_multi(struct api_call *call, bool is_script)
{
	struct api_err err;
	json_t *body, *rec;
	const char *idem_key;
	char idem_hash[STORE_IDEM_HASH_LEN];

	/* The two lists differ in length ("argv" is for commands only). */
	if (is_script ? api_body(call, api_multi_script_fields, api_multi_script_nfields + 1, &body) :
			api_body(call, api_multi_fields, REST_MULTI_NFIELDS, &body))
		return;
	if (api_idem_key(body, net_http_path(call->req), &idem_key, idem_hash, &err)) {
		json_decref(body);
		api_reply_err(call, &err);
		return;
	}
	/* A repeat of a request with a key gets the first one's job. */
	if (api_idem_replay(call, idem_key, idem_hash)) {
		json_decref(body);
		return;
	}
	rec = multi_start(call->srv, body, is_script, false, call->user,
			  net_http_peer(call->req), idem_key, idem_hash, &err);
	json_decref(body);
	if (!rec) {
		api_reply_err(call, &err);
		return;
	}
	api_reply_data(call, 200, json_pack("{s:O}", "jid", json_object_get(rec, "jid")));
	json_decref(rec);
}

void api_commands_post(struct api_call *call)
{
	run_multi(call, false);
}

void api_scripts_post(struct api_call *call)
{
	run_multi(call, true);
}

void api_commands_delete(struct api_call *call)
{
	char title[200];
	json_t *rec;
	int n;

	if (store_multi_get(call->srv->store, call->params[0], &rec) == 0) {
		bool ok = api_job_visible(call, json_string_value(json_object_get(rec, "created_by")));

		json_decref(rec);
		if (!ok)
			return;
	}
	n = fanout_cancel(call->srv->fanout, call->params[0], call->user);
	if (n == TE_NOTFOUND) {
		if (store_multi_get(call->srv->store, call->params[0], &rec)) {
			snprintf(title, sizeof title, "Multi-client Job[id=\"%.64s\"] not found.",
				 call->params[0]);
			api_reply_error(call, 404, title, "");
			return;
		}
		json_decref(rec);
		snprintf(title, sizeof title, "Multi-client Job[id=\"%.64s\"] has finished.",
			 call->params[0]);
		api_reply_error(call, 409, title, "");
		return;
	}
	api_audit(call, "client.command", "cancel", call->params[0], NULL, true);
	api_reply_data(call, 202, json_pack("{s:s, s:s, s:i}", "jid", call->params[0], "status",
					    "cancelling", "cancelled_jobs", n));
}

/* Does a multi job summary pass filter f (query.c's, on jid, created_by,
 * schedule_id or started_at)? */
static bool multi_filter_ok(json_t *m, const struct query_filter *f)
{
	const char *v;
	int64_t t = 0;

	if (!strcmp(f->column, "NULL"))
		return false; /* schedule_id: no tether job has one */
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

		if (!strcmp(col, "NULL"))
			continue;
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
void api_commands_list(struct api_call *call)
{
	static const char *const resources[] = { "commands", "jobs", NULL };
	static const char *const known[] = { "jid", "started_at", "created_by", "schedule_id",
					     NULL };
	size_t n = net_http_query_count(call->req), i;
	const char **names = calloc(n + 1, sizeof *names);
	const char **values = calloc(n + 1, sizeof *values);
	const char *fields[8];
	int nfields = 0;
	struct job_query q;
	int64_t total;
	char err[300];
	json_t *arr, *page, *m;

	if (!names || !values) {
		free(names);
		free(values);
		api_reply_error(call, 500, "Internal error.", "out of memory");
		return;
	}
	for (i = 0; i < n; i++)
		names[i] = net_http_query_at(call->req, i, &values[i]);
	if (query_multi_parse(names, values, n, &q, err, sizeof err) ||
	    (nfields = query_fields_parse(names, values, n, resources, NULL, known, fields, 8,
					  err, sizeof err)) < 0) {
		query_jobs_free(&q);
		free(names);
		free(values);
		api_reply_error(call, 400, err, "");
		return;
	}
	free(names);
	free(values);
	if (!q.nfilters && !q.nsort) {
		store_multi_list(call->srv->store, call->admin ? NULL : call->user, q.limit,
				 q.offset, &arr, &total);
		page = arr;
	} else {
		json_t **v;
		size_t kept = 0;

		store_multi_list(call->srv->store, call->admin ? NULL : call->user, INT64_MAX, 0,
				 &arr, &total);
		v = calloc(json_array_size(arr) + 1, sizeof *v);
		page = json_array();
		if (!v) {
			query_jobs_free(&q);
			json_decref(arr);
			json_decref(page);
			api_reply_error(call, 500, "Internal error.", "out of memory");
			return;
		}
		json_array_foreach(arr, i, m) {
			bool ok = true;

			for (size_t f = 0; f < q.nfilters && ok; f++)
				ok = multi_filter_ok(m, &q.filters[f]);
			if (ok)
				v[kept++] = m;
		}
		if (q.nsort) {
			multi_sort_q = &q;
			qsort(v, kept, sizeof *v, multi_cmp);
			multi_sort_q = NULL;
		}
		for (i = (size_t)q.offset; i < kept && i < (size_t)(q.offset + q.limit); i++)
			json_array_append(page, v[i]);
		total = (int64_t)kept;
		free(v);
		json_decref(arr);
	}
	query_jobs_free(&q);
	json_array_foreach(page, i, m) {
		json_object_set_new(m, "schedule_id", json_null());
		api_fields_keep(m, fields, (size_t)nfields);
	}
	api_reply_list(call, page, total);
}

void api_commands_get(struct api_call *call)
{
	json_t *m = fanout_multi_json(call->srv->fanout, call->params[0]);
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
	api_reply_data(call, 200, m);
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
	size_t n = net_http_query_count(call->req);
	const char **names = calloc(n + 1, sizeof *names);
	const char **values = calloc(n + 1, sizeof *values);
	struct job_query q;
	char err[300];
	int64_t total = 0;
	json_t *arr = NULL;

	if (!names || !values) {
		free(names);
		free(values);
		api_reply_error(call, 500, "Internal error.", "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++)
		names[i] = net_http_query_at(call->req, i, &values[i]);
	if (query_jobs_parse(names, values, n, &q, err, sizeof err) ||
	    (!call->admin && query_jobs_only_creator(&q, call->user, err, sizeof err)) ||
	    (nfields = query_fields_parse(names, values, n, job_resources, result_resource,
					  job_keys, fields, 32, err, sizeof err)) < 0 ||
	    (nresult = query_fields_parse(names, values, n, result_resource, job_resources,
					  result_keys, rfields, 8, err, sizeof err)) < 0) {
		query_jobs_free(&q);
		free(names);
		free(values);
		api_reply_error(call, 400, err, "");
		return;
	}
	free(names);
	free(values);
	if (store_job_query(call->srv->store, base_column, base_value, &q, &arr, &total)) {
		query_jobs_free(&q);
		api_reply_error(call, 500, "Failed to read jobs.", "");
		return;
	}
	query_jobs_free(&q);
	{
		size_t i;
		json_t *job;

		/* fields[jobs] (or commands, scripts) and fields[result]: only
		 * those, when given. */
		json_array_foreach(arr, i, job) {
			hub_job_overlay(call->srv->hub, job);
			api_fields_keep(job, fields, (size_t)nfields);
			api_fields_keep(json_object_get(job, "result"), rfields, (size_t)nresult);
		}
	}
	api_reply_list(call, arr, total);
}

void api_commands_jobs(struct api_call *call)
{
	json_t *rec;

	/* An unknown multi job has no jobs: rport answers 200 with []. */
	if (store_multi_get(call->srv->store, call->params[0], &rec) == 0) {
		if (!api_job_visible(call, json_string_value(json_object_get(rec, "created_by")))) {
			json_decref(rec);
			return;
		}
		json_decref(rec);
	}
	api_jobs_query(call, "multi_job_id", call->params[0]);
}
