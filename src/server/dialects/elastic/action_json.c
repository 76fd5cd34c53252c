/* action_json: Kibana's ActionDetails of an invocation, from its record
 * and its jobs, with the status rules of Elastic's getActionStatus (see
 * docs/api-elastic.md): an action is complete when every agent is,
 * successful when every agent succeeded; expired when not complete two
 * weeks after its start (or when the core expired a job); canceled when
 * the core cancelled it. */
#include <stdlib.h>
#include <string.h>

#include "core/registry.h"
#include "dialects/elastic/elastic_priv.h"
#include "store/outputs.h"
#include "util.h"

bool es_record_is_action(const json_t *rec)
{
	return json_is_object(json_object_get(rec, "elastic"));
}

const char *es_status_name(enum es_status s)
{
	switch (s) {
	case ES_SUCCESSFUL: return "successful";
	case ES_FAILED: return "failed";
	case ES_CANCELED: return "canceled";
	default: return "pending";
	}
}

const struct job_row *es_row_of(const struct job_rows *rows, const char *agent)
{
	for (size_t i = 0; rows && i < rows->n; i++)
		if (!strcmp(rows->row[i].client_id, agent))
			return &rows->row[i];
	return NULL;
}

/* One agent's state in Elastic's terms. */
struct agent_state {
	bool completed, successful, canceled, expired;
	const char *error;         /* NULL: none */
	const char *code;          /* the output's "code" */
	int64_t completed_at;
};

static void state_of(const json_t *rec, const struct job_row *r, struct agent_state *st)
{
	const char *stop = json_string_value(json_object_get(rec, "stop_reason"));

	memset(st, 0, sizeof *st);
	if (!r) {
		/* No job (yet): pending, or never run once the invocation ended. */
		if (json_object_get(rec, "finished_at")) {
			st->completed = true;
			st->canceled = stop && !strncmp(stop, "cancelled", 9);
			st->error = stop ? stop : "not run";
			st->code = "ra_execute_error_failure";
		}
		return;
	}
	if (!job_status_final(r->status))
		return;
	st->completed_at = r->finished_at;
	if (r->status == JOB_EXPIRED || !strcmp(r->state, "expired")) {
		st->expired = true;
		st->error = r->error[0] ? r->error : "expired";
		return;
	}
	st->completed = true;
	/* The core cancels a run by killing it: the agent reports it failed,
	 * "cancelled by <user>". */
	if (r->status == JOB_FAILED && !strncmp(r->error, "cancelled", 9)) {
		st->canceled = true;
		st->error = r->error;
		st->code = "ra_execute_error_processing-interrupted";
		return;
	}
	switch (r->status) {
	case JOB_SUCCESSFUL:
		st->successful = true;
		st->code = "ra_execute_success_done";
		break;
	case JOB_FAILED:
		/* A command that ran and exited non-zero is a done execute
		 * (Elastic reports its shell_code); a refusal, a start failure
		 * or a lost job is a failure. */
		if (r->has_exit_code && !r->error[0]) {
			st->successful = true;
			st->code = "ra_execute_success_done";
		} else {
			st->error = r->error[0] ? r->error : "failed";
			st->code = !strncmp(r->error, "timeout", 7) ?
					   "ra_execute_error_processing-timeout" :
					   "ra_execute_error_failure";
		}
		break;
	case JOB_CANCELLED:
		st->canceled = true;
		st->error = r->error[0] ? r->error : "canceled";
		st->code = "ra_execute_error_processing-interrupted";
		break;
	default: /* JOB_UNKNOWN: a timeout without a result */
		st->error = r->error[0] ? r->error : "the command timed out";
		st->code = "ra_execute_error_processing-timeout";
		break;
	}
}

static json_t *time_json(int64_t ns)
{
	char t[TIME_STR_LEN];

	if (!ns)
		return json_null();
	util_time_format(ns, t);
	/* Kibana writes milliseconds: 2023-07-28T18:43:27.362Z */
	if (strlen(t) > 24 && t[19] == '.') {
		t[23] = 'Z';
		t[24] = '\0';
	}
	return json_string(t);
}

/* The last ES_OUTPUT_TAIL bytes of a stream, as text: a cut that splits a
 * UTF-8 sequence starts after it; bytes that are no UTF-8 are replaced. */
static json_t *tail_json(const char *data, size_t len)
{
	size_t start = len > ES_OUTPUT_TAIL ? len - ES_OUTPUT_TAIL : 0;
	char *s;
	size_t n = 0;
	json_t *j;

	if (!data)
		return json_string("");
	while (start < len && start > 0 && ((unsigned char)data[start] & 0xC0) == 0x80)
		start++;
	if (util_utf8_valid(data + start, len - start))
		return json_stringn(data + start, len - start);
	s = malloc(len - start + 1);
	if (!s)
		return json_string("");
	for (size_t i = start; i < len; i++) {
		unsigned char ch = (unsigned char)data[i];

		s[n++] = ch >= 0x80 || ch == 0 ? '?' : (char)ch;
	}
	j = json_stringn(s, n);
	free(s);
	return j;
}

/* A stream as the details show it: from the full output when the job has
 * one outside its row (a small read of its end), else from the row. */
struct stream_view {
	const char *tail;
	size_t tail_len;
	int64_t len;         /* the whole stream's length */
	int64_t dropped;     /* bytes the agent's cap cut */
	char buf[ES_OUTPUT_TAIL + 4]; /* a few more: a cut character is skipped */
};

static void stream_view(struct server *srv, const struct job_row *r, int i,
			struct stream_view *v)
{
	const char *data = i ? r->stderr_data : r->stdout_data;
	size_t len = i ? r->stderr_len : r->stdout_len;
	int64_t dropped = i ? r->stderr_dropped : r->stdout_dropped, size = 0;

	if (outputs_tail(srv->cfg.data_dir, r->jid, i, v->buf, sizeof v->buf, &v->tail_len,
			 &size) == 0 && size >= (int64_t)len) {
		/* The row keeps a head of it: what it misses is not dropped. */
		v->tail = v->buf;
		v->len = size;
		v->dropped = dropped - (size - (int64_t)len);
		if (v->dropped < 0)
			v->dropped = 0;
		return;
	}
	v->tail = data;
	v->tail_len = len;
	v->len = (int64_t)len;
	v->dropped = dropped;
}

static json_t *output_json(struct server *srv, const char *action_id, const json_t *rec,
			   const struct job_row *r, const struct agent_state *st)
{
	const json_t *es = json_object_get(rec, "elastic");
	const char *shell = json_string_value(json_object_get(es, "shell"));
	char fid[2 * UUID_STR_LEN + 300], uri[sizeof fid + 120];
	struct stream_view sv[2];
	json_t *c;

	stream_view(srv, r, 0, &sv[0]);
	stream_view(srv, r, 1, &sv[1]);
	snprintf(fid, sizeof fid, "%s.%s", action_id, r->client_id);
	c = json_pack("{s:s, s:o, s:o, s:b, s:b, s:o, s:s, s:s, s:s, s:b, s:b}", "code",
		      st->code ? st->code : "ra_execute_error_failure", "stdout",
		      tail_json(sv[0].tail, sv[0].tail_len), "stderr",
		      tail_json(sv[1].tail, sv[1].tail_len), "stdout_truncated",
		      sv[0].len > ES_OUTPUT_TAIL || sv[0].dropped > 0, "stderr_truncated",
		      sv[1].len > ES_OUTPUT_TAIL || sv[1].dropped > 0, "shell_code",
		      r->has_exit_code ? json_integer(r->exit_code) : json_null(), "shell",
		      shell ? shell : "sh", "cwd", r->cwd, "output_file_id", fid,
		      "output_file_stdout_truncated", sv[0].dropped > 0,
		      "output_file_stderr_truncated", sv[1].dropped > 0);
	if (st->completed && st->successful) {
		snprintf(uri, sizeof uri, "/api/endpoint/action/%s/file/%s/download", action_id, fid);
		json_object_set_new(c, "downloadUri", json_string(uri));
	}
	if (st->canceled)
		json_object_set_new(c, "canceled_by", json_string("manual"));
	return json_pack("{s:s, s:o}", "type", "json", "content", c);
}

static json_t *errors_json(const char *e)
{
	return e ? json_pack("[s]", e) : json_null();
}

json_t *es_action_json(struct server *srv, const json_t *rec, const struct job_rows *rows,
		       bool with_outputs, int64_t now, enum es_status *status)
{
	const char *id = json_string_value(json_object_get(rec, "jid"));
	const json_t *es = json_object_get(rec, "elastic");
	const json_t *targets = json_object_get(rec, "targets"), *v;
	json_t *out = json_object(), *hosts = json_object(), *astate = json_object();
	json_t *outputs = json_object(), *errors = json_array();
	bool all_complete = true, all_ok = true, any_canceled = false, any_expired = false;
	int64_t started = 0, completed_at = 0;
	size_t i;

	util_time_parse(json_string_value(json_object_get(rec, "started_at")), &started);
	json_array_foreach(targets, i, v) {
		const char *agent = json_string_value(v);
		const struct job_row *r = es_row_of(rows, agent);
		struct client *c = registry_find(srv->registry, agent);
		const char *name = c ? registry_client_name(c) : "";
		struct agent_state st;

		state_of(rec, r, &st);
		json_object_set_new(hosts, agent, json_pack("{s:s}", "name", name ? name : ""));
		json_object_set_new(astate, agent,
				    json_pack("{s:b, s:b, s:b, s:o, s:o}", "isCompleted",
					      st.completed, "wasSuccessful",
					      st.completed && st.successful, "wasCanceled",
					      st.canceled, "errors", errors_json(st.error),
					      "completedAt", time_json(st.completed ?
								       st.completed_at : 0)));
		if (st.error)
			json_array_append_new(errors, json_string(st.error));
		all_complete = all_complete && st.completed;
		all_ok = all_ok && st.completed && st.successful;
		any_canceled = any_canceled || st.canceled;
		any_expired = any_expired || st.expired;
		if (st.completed_at > completed_at)
			completed_at = st.completed_at;
		if (with_outputs && r && st.completed && (st.successful || r->has_exit_code))
			json_object_set_new(outputs, agent, output_json(srv, id, rec, r, &st));
	}
	{
		bool expired = !all_complete && (any_expired || now > started + ES_EXPIRY_NS);
		enum es_status s = expired ? ES_FAILED : !all_complete ? ES_PENDING :
				   any_canceled ? ES_CANCELED : all_ok ? ES_SUCCESSFUL : ES_FAILED;

		json_object_set_new(out, "id", json_string(id));
		json_object_set_new(out, "action", json_string(id));
		json_object_set(out, "agents", (json_t *)targets);
		json_object_set_new(out, "hosts", hosts);
		json_object_set(out, "agentType", json_object_get(es, "agent_type"));
		json_object_set_new(out, "command", json_string("execute"));
		json_object_set_new(out, "startedAt", time_json(started));
		json_object_set_new(out, "isCompleted", json_boolean(all_complete));
		json_object_set_new(out, "wasSuccessful", json_boolean(all_complete && all_ok));
		json_object_set_new(out, "wasCanceled", json_boolean(any_canceled));
		json_object_set_new(out, "isExpired", json_boolean(expired));
		json_object_set_new(out, "status", json_string(es_status_name(s)));
		if (all_complete)
			json_object_set_new(out, "completedAt", time_json(completed_at));
		if (json_array_size(errors))
			json_object_set(out, "errors", errors);
		json_object_set_new(out, "outputs", with_outputs ? outputs : json_object());
		if (!with_outputs)
			json_decref(outputs);
		json_object_set_new(out, "agentState", astate);
		json_object_set(out, "createdBy", json_object_get(rec, "created_by"));
		if (json_object_get(rec, "comment"))
			json_object_set(out, "comment", json_object_get(rec, "comment"));
		if (json_object_get(es, "alert_ids"))
			json_object_set(out, "alertIds", json_object_get(es, "alert_ids"));
		if (json_object_get(es, "case_ids"))
			json_object_set(out, "caseIds", json_object_get(es, "case_ids"));
		json_object_set(out, "parameters", json_object_get(es, "parameters"));
		*status = s;
	}
	json_decref(errors);
	return out;
}

/* ---- reading an action ------------------------------------------------ */

struct action_read {
	struct server *srv;
	char id[UUID_STR_LEN];
	int64_t budget;
	json_t *rec;
	es_action_cb cb;
	void *ud;
};

static void jobs_read(void *ud, int rc, struct job_rows *rows)
{
	struct action_read *ar = ud;
	struct job_rows none = { NULL, 0, 0 };

	ar->cb(ar->ud, 0, ar->rec, rc ? &none : rows);
	json_decref(ar->rec);
	free(ar);
}

static void record_read(void *ud, int rc, json_t *rec, int64_t total)
{
	struct action_read *ar = ud;
	struct job_query q;

	(void)total;
	if (rc || !es_record_is_action(rec)) {
		json_decref(rec);
		ar->cb(ar->ud, rc && rc != TE_NOTFOUND ? TE_IO : TE_NOTFOUND, NULL, NULL);
		free(ar);
		return;
	}
	ar->rec = rec;
	memset(&q, 0, sizeof q);
	q.limit = ES_MAX_AGENTS;
	q.sort[0].column = "created_at";
	q.nsort = 1;
	store_read_job_query(ar->srv->store, "multi_job_id", ar->id, &q, ar->budget, jobs_read, ar);
}

void es_action_read(struct server *srv, const char *id, int64_t output_budget, es_action_cb cb,
		    void *ud)
{
	struct action_read *ar;

	if (!util_is_uuid(id)) {
		cb(ud, TE_NOTFOUND, NULL, NULL);
		return;
	}
	ar = calloc(1, sizeof *ar);
	if (!ar) {
		cb(ud, TE_NOMEM, NULL, NULL);
		return;
	}
	ar->srv = srv;
	util_strlcpy(ar->id, id, sizeof ar->id);
	ar->budget = output_budget;
	ar->cb = cb;
	ar->ud = ud;
	store_read_multi(srv->store, id, record_read, ar);
}
