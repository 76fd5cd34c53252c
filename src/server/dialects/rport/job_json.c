/* rport's Job JSON, rendered from the store's job rows: rport's keys in
 * its order, its nulls and defaults, and its output fields with tether's
 * rules for binary output, cut output and output left out of a list
 * (docs/api.md). */
#include "dialects/rport/job_json.h"

#include "dialects/rport/status.h"

#include <stdio.h>
#include <stdlib.h>

#include <sodium.h>

#include "util.h"

/* Output bytes: a JSON string when valid UTF-8 and its escapes at most
 * double it; else base64 (a third more) and a flag "<name>_encoding":
 * "base64" (docs/api.md). So a response is never much more than its
 * stored bytes: 4 MiB of \x01 would be 24 MiB of \u0001 as text. */
#define OUTPUT_TEXT_MAX_GROWTH 2


static void put_output(json_t *result, const char *name, const char *data, size_t len,
		       bool omitted)
{
	char key[32];

	if (!len || omitted || !data) {
		json_object_set_new(result, name, json_string(""));
		if (len && omitted) {
			snprintf(key, sizeof key, "%s_omitted", name);
			json_object_set_new(result, key, json_true());
		}
		return;
	}
	if (util_json_escaped_len(data, len) <= OUTPUT_TEXT_MAX_GROWTH * len &&
	    util_utf8_valid(data, len)) {
		json_object_set_new(result, name, json_stringn(data, len));
	} else {
		size_t blen = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
		char *b = malloc(blen);

		if (!b)
			return;
		sodium_bin2base64(b, blen, (const unsigned char *)data, len,
				  sodium_base64_VARIANT_ORIGINAL);
		json_object_set_new(result, name, json_string(b));
		snprintf(key, sizeof key, "%s_encoding", name);
		json_object_set_new(result, key, json_string("base64"));
		free(b);
	}
}

static void put_dropped(json_t *result, const char *name, int64_t dropped)
{
	char key[32];

	if (dropped <= 0)
		return;
	snprintf(key, sizeof key, "%s_truncated", name);
	json_object_set_new(result, key, json_true());
	snprintf(key, sizeof key, "%s_dropped_bytes", name);
	json_object_set_new(result, key, json_integer(dropped));
}

static json_t *result_json(const struct job_row *r)
{
	json_t *res = json_object();

	if (!res)
		return NULL;
	put_output(res, "stdout", r->stdout_data, r->stdout_len, r->output_omitted);
	put_output(res, "stderr", r->stderr_data, r->stderr_len, r->output_omitted);
	put_dropped(res, "stdout", r->stdout_dropped);
	put_dropped(res, "stderr", r->stderr_dropped);
	return res;
}

json_t *rport_job_json(const struct job_row *r)
{
	json_t *j = json_object();

	if (!j)
		return NULL;
	json_object_set_new(j, "jid", json_string(r->jid));
	json_object_set_new(j, "status", json_string(rport_job_status(r->status)));
	json_object_set_new(j, "finished_at", rport_time_json(r->finished_at));
	json_object_set_new(j, "client_id", json_string(r->client_id));
	json_object_set_new(j, "client_name", json_string(r->client_name));
	json_object_set_new(j, "command", json_string(r->command));
	if (r->argv)
		json_object_set(j, "argv", r->argv);
	json_object_set_new(j, "cwd", json_string(r->cwd));
	json_object_set_new(j, "is_sudo", json_boolean(r->is_sudo));
	json_object_set_new(j, "is_script", json_boolean(r->is_script));
	/* The agent's default is reported as rport does. */
	json_object_set_new(j, "interpreter",
			    json_string(*r->interpreter ? r->interpreter : "/bin/sh"));
	json_object_set_new(j, "pid", r->has_pid ? json_integer(r->pid) : json_null());
	json_object_set_new(j, "started_at", rport_time_json(r->started_at));
	json_object_set_new(j, "created_by", json_string(r->created_by));
	json_object_set_new(j, "timeout_sec", json_integer(r->timeout_sec));
	json_object_set_new(j, "kill_on_timeout", json_boolean(r->kill_on_timeout));
	/* tether: a job that may wait for its client, and until when. */
	if (r->expires_at)
		json_object_set_new(j, "expires_at", rport_time_json(r->expires_at));
	json_object_set_new(j, "multi_job_id",
			    r->multi_job_id ? json_string(r->multi_job_id) : json_null());
	/* rport's field; tether has no schedules (see core/query.c). */
	json_object_set_new(j, "schedule_id", r->schedule_id ? json_string(r->schedule_id) :
							      json_null());
	json_object_set_new(j, "error", json_string(r->error));
	json_object_set_new(j, "exit_code",
			    r->has_exit_code ? json_integer(r->exit_code) : json_null());
	json_object_set_new(j, "result", result_json(r));
	return j;
}

json_t *rport_jobs_json(const struct job_rows *rows)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < rows->n; i++)
		json_array_append_new(arr, rport_job_json(&rows->row[i]));
	return arr;
}
