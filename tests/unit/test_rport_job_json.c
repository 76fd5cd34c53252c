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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
