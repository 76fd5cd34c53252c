/* render: TAT's words and shapes for the core's records: task and
 * invocation statuses, TaskResult, times and ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "dialects/tat/tat_priv.h"

void tat_time(int64_t ns, char out[32])
{
	time_t t = (time_t)(ns / 1000000000LL);
	struct tm tm;

	out[0] = '\0';
	if (ns > 0 && gmtime_r(&t, &tm))
		strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void tat_new_id(const char *prefix, char out[16])
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	int n = snprintf(out, 16, "%s-", prefix);

	for (int i = 0; i < 8 && n + i < 15; i++)
		out[n + i] = set[randombytes_uniform(sizeof set - 1)];
	out[n + 8 < 15 ? n + 8 : 15] = '\0';
}

char *tat_b64(const void *p, size_t n)
{
	size_t len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	char *out = malloc(len);

	if (out)
		sodium_bin2base64(out, len, p, n, sodium_base64_VARIANT_ORIGINAL);
	return out;
}

static bool starts(const char *s, const char *prefix)
{
	return s && !strncmp(s, prefix, strlen(prefix));
}

const char *tat_task_status(const struct job_row *r)
{
	switch (r->status) {
	case JOB_QUEUED:
		return "PENDING";
	case JOB_DISPATCHED:
		return "DELIVERING";
	case JOB_RUNNING:
		return r->has_pid ? "RUNNING" : "DELIVERING";
	case JOB_SUCCESSFUL:
		return "SUCCESS";
	case JOB_FAILED:
		if (starts(r->error, "timeout:"))
			return "TIMEOUT";
		if (starts(r->error, "cancelled by"))
			return "TERMINATED";
		if (!strcmp(r->state, "expired") || !strcmp(r->state, "withdrawn"))
			return "DELIVER_FAILED";
		if (!strcmp(r->state, "lost") || !strcmp(r->state, "unconfirmed"))
			return "TASK_TIMEOUT";
		return r->has_pid ? "FAILED" : "START_FAILED";
	case JOB_UNKNOWN:
		return "TASK_TIMEOUT";
	case JOB_CANCELLED:
		return r->has_pid ? "TERMINATED" : "CANCELLED";
	case JOB_EXPIRED:
		return "DELIVER_FAILED";
	case JOB_STATUS_COUNT:
		break;
	}
	return "FAILED";
}

static bool live(const char *s)
{
	return !strcmp(s, "PENDING") || !strcmp(s, "DELIVERING") || !strcmp(s, "RUNNING") ||
	       !strcmp(s, "DELIVER_DELAYED") || !strcmp(s, "CANCELLING");
}

/* The rule (docs/api-tat.md): any task live: RUNNING (PENDING while none
 * has left the server); all SUCCESS: SUCCESS; all TIMEOUT: TIMEOUT; all
 * CANCELLED or TERMINATED: CANCELLED; none SUCCESS: FAILED; else
 * PARTIAL_FAILED. */
const char *tat_invocation_status(const char *const *st, size_t n)
{
	size_t live_n = 0, pending = 0, ok = 0, timeout = 0, cancelled = 0;

	for (size_t i = 0; i < n; i++) {
		if (live(st[i])) {
			live_n++;
			pending += !strcmp(st[i], "PENDING");
		}
		ok += !strcmp(st[i], "SUCCESS");
		timeout += !strcmp(st[i], "TIMEOUT");
		cancelled += !strcmp(st[i], "CANCELLED") || !strcmp(st[i], "TERMINATED");
	}
	if (n == 0)
		return "PENDING";
	if (live_n)
		return pending == n ? "PENDING" : "RUNNING";
	if (ok == n)
		return "SUCCESS";
	if (timeout == n)
		return "TIMEOUT";
	if (cancelled == n)
		return "CANCELLED";
	return ok ? "PARTIAL_FAILED" : "FAILED";
}

json_t *tat_task_result(const struct job_row *r, bool hide_output)
{
	const char *st = tat_task_status(r);
	int64_t code = r->has_exit_code ? r->exit_code : 0;
	size_t total = r->stdout_len + r->stderr_len, keep = total < TAT_OUTPUT_MAX ? total :
										       TAT_OUTPUT_MAX;
	int64_t dropped = (int64_t)(total - keep) + r->stdout_dropped + r->stderr_dropped;
	char start[32], end[32];
	json_t *res;
	char *out = NULL;

	/* TAT's agent reports -1 for a process it killed (timeout, cancel). */
	if (!strcmp(st, "TIMEOUT") || !strcmp(st, "TERMINATED"))
		code = -1;
	tat_time(r->has_pid ? r->started_at : 0, start);
	tat_time(job_status_final(r->status) ? r->finished_at : 0, end);
	if (!hide_output && !r->output_omitted) {
		char *joined = malloc(keep + 1);
		size_t a = r->stdout_len < keep ? r->stdout_len : keep;

		if (joined) {
			if (a)
				memcpy(joined, r->stdout_data, a);
			if (keep > a)
				memcpy(joined + a, r->stderr_data, keep - a);
			out = tat_b64(joined, keep);
			free(joined);
		}
	}
	res = json_pack("{s:I, s:s, s:s, s:s, s:I, s:s, s:s}", "ExitCode", (json_int_t)code,
			"Output", out ? out : "", "ExecStartTime", start, "ExecEndTime", end,
			"Dropped", (json_int_t)(hide_output ? 0 : dropped), "OutputUrl", "",
			"OutputUploadCOSErrorInfo", "");
	free(out);
	return res;
}

int tat_filters_check(struct tat_call *c, const json_t *filters, const char *const *names)
{
	size_t i, j;
	json_t *f, *v;

	if (!filters)
		return 0;
	if (json_array_size(filters) > 10) {
		tat_fail(c, "InvalidParameterValue.LimitExceeded", "At most 10 Filters are allowed.");
		return -1;
	}
	json_array_foreach(filters, i, f) {
		const char *name = json_string_value(json_object_get(f, "Name"));
		json_t *values = json_object_get(f, "Values");
		size_t k = 0;

		if (!name || !json_is_array(values) || json_object_size(f) != 2) {
			tat_fail(c, "InvalidParameter",
				 "Each filter is {\"Name\": String, \"Values\": [String]}.");
			return -1;
		}
		while (names[k] && strcmp(names[k], name))
			k++;
		if (!names[k]) {
			tat_fail(c, "InvalidFilter", "The filter name `%.64s` is not supported.", name);
			return -1;
		}
		if (json_array_size(values) > 5 || json_array_size(values) == 0) {
			tat_fail(c, "InvalidParameterValue.LimitExceeded",
				 "A filter has 1 to 5 Values (`%s` has %zu).", name,
				 json_array_size(values));
			return -1;
		}
		json_array_foreach(values, j, v)
			if (!json_is_string(v)) {
				tat_fail(c, "InvalidParameter", "Filter values are strings.");
				return -1;
			}
	}
	return 0;
}

int tat_paging(struct tat_call *c, int64_t *limit, int64_t *offset)
{
	json_t *l = json_object_get(c->params, "Limit"), *o = json_object_get(c->params, "Offset");

	*limit = l ? json_integer_value(l) : 20;
	*offset = o ? json_integer_value(o) : 0;
	if (*limit < 1 || *limit > 100) {
		tat_fail(c, "InvalidParameterValue.Range", "Limit must be in [1, 100], not %lld.",
			 (long long)*limit);
		return -1;
	}
	if (*offset < 0) {
		tat_fail(c, "InvalidParameterValue.Range", "Offset must be >= 0, not %lld.",
			 (long long)*offset);
		return -1;
	}
	return 0;
}
