/* multi_json: rport's MultiJob shape of a multi-client invocation, from
 * its stored record and its children's jobs. */
#include "dialects/rport/multi_json.h"

#include <string.h>

#include "dialects/rport/job_json.h"
#include "server.h"
#include "store/store.h"
#include "util.h"

#define MULTI_JSON_MAX_JOBS 100

struct count_ctx {
	json_t *seen;
	int64_t running, successful, failed, unknown;
};

static void count_child(void *ud, const char *client_id, const char *jid, const char *status)
{
	struct count_ctx *c = ud;

	(void)jid;
	json_object_set_new(c->seen, client_id, json_true());
	if (!strcmp(status, "running"))
		c->running++;
	else if (!strcmp(status, "successful"))
		c->successful++;
	else if (!strcmp(status, "failed"))
		c->failed++;
	else
		c->unknown++;
}

json_t *rport_multi_json(struct server *srv, const char *jid)
{
	struct count_ctx cc = { json_object(), 0, 0, 0, 0 };
	struct job_query q;
	json_t *rec, *out, *jobs, *targets, *left = json_array(), *v;
	struct job_rows rows;
	bool finished;
	size_t i;

	if (store_multi_get(srv->store, jid, &rec)) {
		json_decref(cc.seen);
		json_decref(left);
		return NULL;
	}
	finished = json_object_get(rec, "finished_at") != NULL;
	out = json_object();
	/* rport's fields first, in its order; then ours. */
	static const char *const keys[] = {
		"jid", "started_at", "created_by", "client_ids", "group_ids", "tags", "labels",
		"command", "cwd", "is_sudo", "is_script", "interpreter", "timeout_sec",
		"concurrent", "abort_on_err", "max_concurrency", "max_errors",
	};
	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		v = json_object_get(rec, keys[i]);
		json_object_set(out, keys[i], v ? v : json_null());
	}
	if ((v = json_object_get(rec, "argv")))
		json_object_set(out, "argv", v);
	store_job_each_child(srv->store, jid, count_child, &cc);
	targets = json_object_get(rec, "targets");
	json_array_foreach(targets, i, v)
		if (!json_object_get(cc.seen, json_string_value(v)))
			json_array_append(left, v);
	memset(&q, 0, sizeof q);
	q.limit = MULTI_JSON_MAX_JOBS;
	/* Oldest first: the order the targets were dispatched in. */
	q.sort[0].column = "created_at";
	q.nsort = 1;
	if (store_job_query(srv->store, "multi_job_id", jid, &q, RPORT_LIST_OUTPUT_BUDGET,
			    &rows))
		memset(&rows, 0, sizeof rows);
	jobs = rport_jobs_json(&rows);
	json_object_set_new(out, "jobs", jobs);
	json_object_set_new(out, "jobs_total", json_integer(rows.total));
	store_job_rows_free(&rows);
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
				      "running", (json_int_t)cc.running,
				      "successful", (json_int_t)cc.successful,
				      "failed", (json_int_t)cc.failed,
				      "unknown", (json_int_t)cc.unknown,
				      "not_run", (json_int_t)(finished ? json_array_size(left) : 0)));
	json_object_set(out, finished ? "not_run" : "pending", left);
	json_object_set_new(out, finished ? "pending" : "not_run", json_array());
	json_decref(left);
	json_decref(cc.seen);
	json_decref(rec);
	return out;
}
