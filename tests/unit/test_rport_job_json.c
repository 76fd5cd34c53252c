/* rport's Job JSON from the store's rows (dialects/rport/job_json.c): the
 * keys in rport's order, its nulls and defaults, and the output rules
 * (text or base64, cut output, output left out of a list). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dialects/rport/job_json.h"
#include "dialects/rport/multi_json.h"

#define NS 1000000000LL
#define T0 (1602775812LL * NS) /* 2020-10-15T15:30:12Z */

/* A running job as the store reads it right after the insert. */
static struct job_row row_running(void)
{
	struct job_row r;

	memset(&r, 0, sizeof r);
	r.jid = "j1";
	r.client_id = "c1";
	r.client_name = "my-client";
	r.command = "/usr/bin/date";
	r.cwd = "/tmp";
	r.interpreter = "";
	r.created_by = "admin";
	r.error = "";
	r.timeout_sec = 60;
	r.created_at = T0;
	r.started_at = T0;
	r.status = JOB_RUNNING;
	r.stdout_data = "";
	r.stderr_data = "";
	return r;
}

static char *dump(const struct job_row *r)
{
	json_t *j = rport_job_json(r);
	char *s;

	assert_non_null(j);
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	assert_non_null(s);
	return s;
}

static json_t *result_of(const struct job_row *r, json_t **job)
{
	*job = rport_job_json(r);
	assert_non_null(*job);
	return json_object_get(*job, "result");
}

/* The whole object, byte for byte: rport's keys in its order. */
static void test_running_job_exactly(void **state)
{
	struct job_row r = row_running();
	char *s;

	(void)state;
	s = dump(&r);
	assert_string_equal(s,
		"{\"jid\":\"j1\",\"status\":\"running\",\"finished_at\":null,"
		"\"client_id\":\"c1\",\"client_name\":\"my-client\",\"command\":\"/usr/bin/date\","
		"\"cwd\":\"/tmp\",\"is_sudo\":false,\"is_script\":false,"
		"\"interpreter\":\"/bin/sh\",\"pid\":null,"
		"\"started_at\":\"2020-10-15T15:30:12.000000000Z\",\"created_by\":\"admin\","
		"\"timeout_sec\":60,\"kill_on_timeout\":false,\"multi_job_id\":null,"
		"\"schedule_id\":null,\"error\":\"\",\"exit_code\":null,"
		"\"result\":{\"stdout\":\"\",\"stderr\":\"\"}}");
	free(s);
}

static void test_finished_job_exactly(void **state)
{
	struct job_row r = row_running();
	json_t *argv = json_pack("[s, s]", "/usr/bin/printf", "a b");
	char *s;

	(void)state;
	r.argv = argv;
	r.multi_job_id = "m1";
	r.interpreter = "bash";
	r.is_sudo = r.is_script = r.kill_on_timeout = true;
	r.has_pid = true;
	r.pid = 4242;
	r.started_at = T0 + NS / 2;
	r.finished_at = T0 + 2 * NS;
	r.status = JOB_FAILED;
	r.has_exit_code = true;
	r.exit_code = 3;
	r.error = "exit status 3";
	r.stdout_data = "out\n";
	r.stdout_len = 4;
	r.stderr_data = "err";
	r.stderr_len = 3;
	r.stdout_dropped = 7;
	s = dump(&r);
	assert_string_equal(s,
		"{\"jid\":\"j1\",\"status\":\"failed\","
		"\"finished_at\":\"2020-10-15T15:30:14.000000000Z\","
		"\"client_id\":\"c1\",\"client_name\":\"my-client\",\"command\":\"/usr/bin/date\","
		"\"argv\":[\"/usr/bin/printf\",\"a b\"],"
		"\"cwd\":\"/tmp\",\"is_sudo\":true,\"is_script\":true,"
		"\"interpreter\":\"bash\",\"pid\":4242,"
		"\"started_at\":\"2020-10-15T15:30:12.500000000Z\",\"created_by\":\"admin\","
		"\"timeout_sec\":60,\"kill_on_timeout\":true,\"multi_job_id\":\"m1\","
		"\"schedule_id\":null,\"error\":\"exit status 3\",\"exit_code\":3,"
		"\"result\":{\"stdout\":\"out\\n\",\"stderr\":\"err\","
		"\"stdout_truncated\":true,\"stdout_dropped_bytes\":7}}");
	free(s);
	json_decref(argv);
}

static void test_status_words(void **state)
{
	/* rport has four words: on the way is running; a cancelled job
	 * failed. Issue 15: a job queued for an offline client (opt-in) is
	 * "queued", then "expired" if the client never came back. */
	static const char *const want[JOB_STATUS_COUNT] = {
		"queued", "running", "running", "successful", "failed", "unknown",
		"failed", "expired",
	};

	(void)state;
	for (int i = 0; i < JOB_STATUS_COUNT; i++)
		assert_string_equal(rport_job_status((enum job_status)i), want[i]);
	assert_string_equal(rport_job_status(JOB_STATUS_COUNT), "unknown");
}

/* Not UTF-8, or a NUL: base64 with "<name>_encoding". */
static void test_binary_output_is_base64(void **state)
{
	struct job_row r = row_running();
	json_t *job, *res;

	(void)state;
	r.stdout_data = "\xff\xfe\x00" "a";
	r.stdout_len = 4;
	r.stderr_data = "caf\xc3\xa9\n";
	r.stderr_len = 6;
	res = result_of(&r, &job);
	assert_string_equal(json_string_value(json_object_get(res, "stdout")), "//4AYQ==");
	assert_string_equal(json_string_value(json_object_get(res, "stdout_encoding")), "base64");
	/* Valid UTF-8 stays text, with no encoding flag. */
	assert_string_equal(json_string_value(json_object_get(res, "stderr")), "caf\xc3\xa9\n");
	assert_null(json_object_get(res, "stderr_encoding"));
	json_decref(job);

	r.stdout_data = "a\0b";
	r.stdout_len = 3;
	r.stderr_data = "\x80";
	r.stderr_len = 1;
	res = result_of(&r, &job);
	assert_string_equal(json_string_value(json_object_get(res, "stdout")), "YQBi");
	assert_string_equal(json_string_value(json_object_get(res, "stdout_encoding")), "base64");
	assert_string_equal(json_string_value(json_object_get(res, "stderr")), "gA==");
	assert_string_equal(json_string_value(json_object_get(res, "stderr_encoding")), "base64");
	json_decref(job);
}

/* Valid UTF-8 whose escapes would more than double it: base64 too. */
static void test_escapes_past_double_are_base64(void **state)
{
	struct job_row r = row_running();
	char ctl[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };
	char quotes[8] = "\"\"\"\"\"\"\"\"";
	json_t *job, *res;

	(void)state;
	r.stdout_data = ctl;       /* \u0001: 6 bytes each */
	r.stdout_len = sizeof ctl;
	r.stderr_data = quotes;    /* \": 2 bytes each, exactly double */
	r.stderr_len = sizeof quotes;
	res = result_of(&r, &job);
	assert_string_equal(json_string_value(json_object_get(res, "stdout_encoding")), "base64");
	assert_null(json_object_get(res, "stderr_encoding"));
	assert_int_equal(json_string_length(json_object_get(res, "stderr")), 8);
	json_decref(job);
}

static void test_dropped_flags(void **state)
{
	struct job_row r = row_running();
	json_t *job, *res;

	(void)state;
	r.stderr_dropped = 5;
	res = result_of(&r, &job);
	assert_null(json_object_get(res, "stdout_truncated"));
	assert_null(json_object_get(res, "stdout_dropped_bytes"));
	assert_true(json_is_true(json_object_get(res, "stderr_truncated")));
	assert_int_equal(json_integer_value(json_object_get(res, "stderr_dropped_bytes")), 5);
	json_decref(job);
}

/* A row of a list past its budget: "" and "<name>_omitted" for a stream
 * that had bytes, nothing for an empty one. */
static void test_omitted_output(void **state)
{
	struct job_row r = row_running();
	json_t *job, *res;

	(void)state;
	r.output_omitted = true;
	r.stdout_data = NULL;
	r.stdout_len = 100;
	r.stderr_data = NULL;
	r.stderr_len = 0;
	res = result_of(&r, &job);
	assert_string_equal(json_string_value(json_object_get(res, "stdout")), "");
	assert_true(json_is_true(json_object_get(res, "stdout_omitted")));
	assert_string_equal(json_string_value(json_object_get(res, "stderr")), "");
	assert_null(json_object_get(res, "stderr_omitted"));
	json_decref(job);
}

static void test_list(void **state)
{
	struct job_row two[2] = { row_running(), row_running() };
	struct job_rows rows = { two, 2, 7 };
	json_t *arr;

	(void)state;
	two[1].jid = "j2";
	arr = rport_jobs_json(&rows);
	assert_int_equal(json_array_size(arr), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 1), "jid")), "j2");
	json_decref(arr);
	rows.n = 0;
	arr = rport_jobs_json(&rows);
	assert_int_equal(json_array_size(arr), 0);
	json_decref(arr);
}

/* ---- the text writer: the tree's bytes, row by row ------------------- */

static uint32_t rnd_state = 12345;

static uint32_t rnd(uint32_t n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 8) % n;
}

static const char *const words[] = {
	"", "date", "/usr/bin/date", "quote \" and \\ backslash", "tab\tnew\nline\r",
	"ctl \x01\x02\x1f end", "slash / and del \x7f", "caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac",
	"emoji \xf0\x9f\x98\x80", "\xe2\x80\xa8 line sep", "ls -la | grep x > /tmp/o",
};

static const char *word(void)
{
	return words[rnd(sizeof words / sizeof words[0])];
}

static char outbuf[4][600];

/* Output bytes of one of the kinds the rules tell apart. */
static void output(int slot, const char **data, size_t *len)
{
	char *o = outbuf[slot];
	size_t n = rnd(500);

	switch (rnd(5)) {
	case 0:
		*data = "";
		*len = 0;
		return;
	case 1: /* text */
		for (size_t i = 0; i < n; i++)
			o[i] = (char)('a' + rnd(26));
		break;
	case 2: /* binary */
		for (size_t i = 0; i < n; i++)
			o[i] = (char)rnd(256);
		break;
	case 3: /* escapes past double: base64 */
		memset(o, 1, n);
		break;
	default: /* text with escapes and UTF-8 */
		snprintf(o, sizeof outbuf[0], "%s\n%s\t%s", word(), word(), word());
		n = strlen(o);
		break;
	}
	*data = o;
	*len = n;
}

static struct job_row row_random(json_t *argv)
{
	static const enum job_status sts[] = { JOB_RUNNING, JOB_SUCCESSFUL, JOB_FAILED,
					       JOB_UNKNOWN, JOB_QUEUED, JOB_EXPIRED,
					       JOB_CANCELLED };
	struct job_row r = row_running();

	r.jid = word();
	r.client_id = word();
	r.client_name = word();
	r.command = word();
	r.cwd = word();
	r.interpreter = rnd(2) ? "" : word();
	r.created_by = word();
	r.error = word();
	r.status = sts[rnd(sizeof sts / sizeof sts[0])];
	r.is_sudo = rnd(2);
	r.is_script = rnd(2);
	r.kill_on_timeout = rnd(2);
	r.timeout_sec = (int64_t)rnd(100000) - 50;
	r.finished_at = rnd(2) ? T0 + (int64_t)rnd(1000000) * 1000 : 0;
	r.started_at = rnd(4) ? T0 : 0;
	r.has_pid = rnd(2);
	r.pid = rnd(1 << 22);
	r.has_exit_code = rnd(2);
	r.exit_code = (int64_t)rnd(512) - 256;
	r.expires_at = rnd(3) ? 0 : T0 + 5 * NS;
	r.multi_job_id = rnd(2) ? NULL : word();
	r.schedule_id = rnd(3) ? NULL : word();
	r.argv = rnd(3) ? NULL : argv;
	output(0, &r.stdout_data, &r.stdout_len);
	output(1, &r.stderr_data, &r.stderr_len);
	r.output_omitted = !rnd(5);
	r.stdout_dropped = rnd(3) ? 0 : rnd(100000);
	r.stderr_dropped = rnd(3) ? 0 : rnd(100000);
	return r;
}

static void test_text_is_the_trees_bytes(void **state)
{
	json_t *argv = json_pack("[s, s, s]", "/bin/echo", "a \"b\"", "caf\xc3\xa9");

	(void)state;
	for (int i = 0; i < 3000; i++) {
		struct job_row r = row_random(argv);
		char *want = dump(&r);
		struct buf b;

		buf_init(&b, (size_t)1 << 24);
		assert_int_equal(rport_job_write(&b, &r), 0);
		assert_int_equal(b.len, strlen(want));
		assert_memory_equal(b.data, want, b.len);
		buf_free(&b);
		free(want);
	}
	json_decref(argv);
}

static void test_list_text_is_the_trees_bytes(void **state)
{
	struct job_row rs[5];
	struct job_rows rows = { rs, 0, 9 };
	json_t *arr;
	char *want;
	struct buf b;

	(void)state;
	for (int i = 0; i < 5; i++)
		rs[i] = row_random(NULL);
	/* A row with a string that is not UTF-8: the tree leaves its key
	 * out, and so does the text (it takes the tree's path). */
	rs[2].command = "bad \xff byte";
	for (rows.n = 0; rows.n <= 5; rows.n++) {
		arr = rport_jobs_json(&rows);
		want = json_dumps(arr, JSON_COMPACT);
		buf_init(&b, (size_t)1 << 24);
		assert_int_equal(rport_jobs_write(&b, &rows), 0);
		assert_int_equal(b.len, strlen(want));
		assert_memory_equal(b.data, want, b.len);
		buf_free(&b);
		free(want);
		json_decref(arr);
	}
	buf_init(&b, 1 << 10);
	assert_int_equal(rport_job_write(&b, &rs[2]), TE_INVAL);
	buf_free(&b);
}

/* The jobs go in at the top level's "jobs", even when a label a user
 * chose looks like it. */
static void test_multi_dump_splices_the_jobs(void **state)
{
	json_t *m = json_pack("{s:s, s:{s:n, s:i}, s:n, s:i, s:s, s:[s]}", "jid", "m1", "labels",
			      "jobs", "jobs_total", 3, "jobs", "jobs_total", 2, "status",
			      "finished", "not_run", "\"jobs\":null,\"jobs_total\":");
	struct buf jobs, out;
	json_t *back;
	json_error_t err;

	(void)state;
	buf_init(&jobs, 1 << 10);
	buf_init(&out, 1 << 10);
	assert_int_equal(buf_append(&jobs, "[{\"jid\":\"a\"},{\"jid\":\"b\"}]", 25), 0);
	assert_int_equal(rport_multi_dump(&out, m, &jobs), 0);
	back = json_loadb(out.data, out.len, 0, &err);
	if (!back)
		fail_msg("%.*s: %s", (int)out.len, out.data, err.text);
	assert_int_equal(json_array_size(json_object_get(back, "jobs")), 2);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(back, "jobs"), 1), "jid")), "b");
	assert_true(json_equal(json_object_get(back, "labels"), json_object_get(m, "labels")));
	assert_true(json_equal(json_object_get(back, "not_run"), json_object_get(m, "not_run")));
	assert_int_equal(json_integer_value(json_object_get(back, "jobs_total")), 2);
	json_decref(back);
	/* No text: the tree as it is. */
	buf_reset(&out);
	jobs.len = 0;
	assert_int_equal(rport_multi_dump(&out, m, &jobs), 0);
	back = json_loadb(out.data, out.len, 0, &err);
	assert_non_null(back);
	assert_true(json_equal(back, m));
	json_decref(back);
	buf_free(&jobs);
	buf_free(&out);
	json_decref(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_running_job_exactly),
		cmocka_unit_test(test_finished_job_exactly),
		cmocka_unit_test(test_status_words),
		cmocka_unit_test(test_binary_output_is_base64),
		cmocka_unit_test(test_escapes_past_double_are_base64),
		cmocka_unit_test(test_dropped_flags),
		cmocka_unit_test(test_omitted_output),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_text_is_the_trees_bytes),
		cmocka_unit_test(test_list_text_is_the_trees_bytes),
		cmocka_unit_test(test_multi_dump_splices_the_jobs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
