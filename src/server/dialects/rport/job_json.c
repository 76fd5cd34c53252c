/* rport's Job JSON, rendered from the store's job rows: rport's keys in
 * its order, its nulls and defaults, and its output fields with tether's
 * rules for binary output, cut output and output left out of a list
 * (docs/api.md). */
#include "dialects/rport/job_json.h"

#include "dialects/rport/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "proto.h"
#include "util.h"

/* Output bytes: a JSON string when valid UTF-8 and its escapes at most
 * double it; else base64 (a third more) and a flag "<name>_encoding":
 * "base64" (docs/api.md). So a response is never much more than its
 * stored bytes: 4 MiB of \x01 would be 24 MiB of \u0001 as text. */
#define OUTPUT_TEXT_MAX_GROWTH 2


/* Output shown as a JSON string (else base64), for both renderings. */
static bool output_as_text(const char *data, size_t len)
{
	return util_json_escaped_len(data, len) <= OUTPUT_TEXT_MAX_GROWTH * len &&
	       util_utf8_valid(data, len);
}

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
	if (output_as_text(data, len)) {
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

/* ---- the same JSON written straight into a buffer ----------------------
 * A multi job's GET renders up to MULTI_JSON_MAX_JOBS of these: a tree per
 * job, dumped and freed, was most of the answer's cost. The bytes are
 * json_dumps(rport_job_json(row), JSON_COMPACT)'s (test_rport_job_json
 * compares them on many rows). */

static int put_raw(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

/* "key": (key plain ASCII, shorter than 60 bytes: these are ours), after
 * a comma unless it is the first; one append. */
static int put_key(struct buf *b, const char *key, bool first)
{
	char t[64], *o = t;
	size_t n = strlen(key);

	if (n > sizeof t - 4)
		return TE_INVAL;
	if (!first)
		*o++ = ',';
	*o++ = '"';
	memcpy(o, key, n);
	o += n;
	*o++ = '"';
	*o++ = ':';
	return buf_append(b, t, (size_t)(o - t));
}

static int put_kstr(struct buf *b, const char *key, const char *v, size_t n, bool first)
{
	int rc = put_key(b, key, first);

	return rc ? rc : proto_put_str(b, v, n);
}

/* A NULL string leaves the key out, as json_string(NULL) does in the tree. */
static int put_kcstr(struct buf *b, const char *key, const char *v)
{
	if (!v)
		return 0;
	return put_kstr(b, key, v, strlen(v), false);
}


static int put_kint(struct buf *b, const char *key, int64_t v)
{
	int rc = put_key(b, key, false);

	return rc ? rc : buf_append_int(b, v);
}

static int put_kbool(struct buf *b, const char *key, bool v)
{
	int rc = put_key(b, key, false);

	return rc ? rc : put_raw(b, v ? "true" : "false");
}

static int put_knull(struct buf *b, const char *key)
{
	int rc = put_key(b, key, false);

	return rc ? rc : put_raw(b, "null");
}

/* rport_time_json's value: null for 0. */
static int put_ktime(struct buf *b, const char *key, int64_t ns)
{
	char t[TIME_STR_LEN];

	if (!ns)
		return put_knull(b, key);
	util_time_format(ns, t);
	return put_kcstr(b, key, t);
}

static int put_kjson(struct buf *b, const char *key, const json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	int rc;

	if (!text)
		return TE_NOMEM;
	rc = put_key(b, key, false);
	if (!rc)
		rc = put_raw(b, text);
	free(text);
	return rc;
}

static int write_output(struct buf *b, const char *name, const char *data, size_t len,
			bool omitted, bool first)
{
	char key[32];
	int rc;

	if (!len || omitted || !data) {
		if ((rc = put_kstr(b, name, "", 0, first)))
			return rc;
		if (len && omitted) {
			snprintf(key, sizeof key, "%s_omitted", name);
			return put_kbool(b, key, true);
		}
		return 0;
	}
	if (output_as_text(data, len))
		return put_kstr(b, name, data, len, first);
	{
		size_t blen = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
		char *enc = malloc(blen);

		if (!enc)
			return TE_NOMEM;
		sodium_bin2base64(enc, blen, (const unsigned char *)data, len,
				  sodium_base64_VARIANT_ORIGINAL);
		rc = put_kstr(b, name, enc, blen - 1, first);
		free(enc);
		if (rc)
			return rc;
		snprintf(key, sizeof key, "%s_encoding", name);
		return put_kcstr(b, key, "base64");
	}
}

static int write_dropped(struct buf *b, const char *name, int64_t dropped)
{
	char key[32];
	int rc;

	if (dropped <= 0)
		return 0;
	snprintf(key, sizeof key, "%s_truncated", name);
	if ((rc = put_kbool(b, key, true)))
		return rc;
	snprintf(key, sizeof key, "%s_dropped_bytes", name);
	return put_kint(b, key, dropped);
}

int rport_job_write(struct buf *b, const struct job_row *r)
{
	int rc = 0;

#define TRY(x) do { if ((rc = (x))) return rc; } while (0)
	TRY(buf_append(b, "{", 1));
	TRY(put_kstr(b, "jid", r->jid, strlen(r->jid), true));
	TRY(put_kcstr(b, "status", rport_job_status(r->status)));
	TRY(put_ktime(b, "finished_at", r->finished_at));
	TRY(put_kcstr(b, "client_id", r->client_id));
	TRY(put_kcstr(b, "client_name", r->client_name));
	TRY(put_kcstr(b, "command", r->command));
	if (r->argv)
		TRY(put_kjson(b, "argv", r->argv));
	TRY(put_kcstr(b, "cwd", r->cwd));
	TRY(put_kbool(b, "is_sudo", r->is_sudo));
	TRY(put_kbool(b, "is_script", r->is_script));
	TRY(put_kcstr(b, "interpreter", *r->interpreter ? r->interpreter : "/bin/sh"));
	TRY(r->has_pid ? put_kint(b, "pid", r->pid) : put_knull(b, "pid"));
	TRY(put_ktime(b, "started_at", r->started_at));
	TRY(put_kcstr(b, "created_by", r->created_by));
	TRY(put_kint(b, "timeout_sec", r->timeout_sec));
	TRY(put_kbool(b, "kill_on_timeout", r->kill_on_timeout));
	if (r->expires_at)
		TRY(put_ktime(b, "expires_at", r->expires_at));
	TRY(r->multi_job_id ? put_kcstr(b, "multi_job_id", r->multi_job_id) :
			      put_knull(b, "multi_job_id"));
	TRY(r->schedule_id ? put_kcstr(b, "schedule_id", r->schedule_id) :
			     put_knull(b, "schedule_id"));
	TRY(put_kcstr(b, "error", r->error));
	TRY(r->has_exit_code ? put_kint(b, "exit_code", r->exit_code) :
			       put_knull(b, "exit_code"));
	TRY(put_key(b, "result", false));
	TRY(buf_append(b, "{", 1));
	TRY(write_output(b, "stdout", r->stdout_data, r->stdout_len, r->output_omitted, true));
	TRY(write_output(b, "stderr", r->stderr_data, r->stderr_len, r->output_omitted, false));
	TRY(write_dropped(b, "stdout", r->stdout_dropped));
	TRY(write_dropped(b, "stderr", r->stderr_dropped));
	TRY(buf_append(b, "}}", 2));
#undef TRY
	return rc;
}

int rport_jobs_write(struct buf *b, const struct job_rows *rows)
{
	bool first = true;
	int rc;

	if ((rc = buf_append(b, "[", 1)))
		return rc;
	for (size_t i = 0; i < rows->n; i++) {
		size_t mark = b->len;

		if (!first && (rc = buf_append(b, ",", 1)))
			return rc;
		rc = rport_job_write(b, &rows->row[i]);
		if (rc == TE_INVAL) {
			/* A string that is not UTF-8 (rows written before the
			 * API checked): as the tree has it, which leaves the
			 * value out. */
			json_t *j = rport_job_json(&rows->row[i]);
			char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

			json_decref(j);
			b->len = mark;
			rc = text ? (first ? 0 : buf_append(b, ",", 1)) : 0;
			if (!rc && text)
				rc = put_raw(b, text);
			first = first && !text;
			free(text);
			if (rc)
				return rc;
			continue;
		}
		if (rc)
			return rc;
		first = false;
	}
	return buf_append(b, "]", 1);
}
