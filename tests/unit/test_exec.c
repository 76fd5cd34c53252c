/* Unit tests for exec: exec_run driven on a real loop with a report
 * callback that collects frames (the boundary with conn). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "agent.h"
#include "exec.h"
#include "exec_interp.h"
#include "exec_script.h"
#include "policy.h"
#include "util.h"

struct fixture {
	uv_loop_t loop;
	struct agent a;
	json_t *frames;
	char dir[64];
	int seq;
	enum exec_link link;
};

static enum exec_link link_stub(void *ud)
{
	return ((struct fixture *)ud)->link;
}

static void collect(void *ud, json_t *frame)
{
	struct fixture *f = ud;

	json_array_append_new(f->frames, frame);
}

static int setup(void **state)
{
	static const char *const allow[] = { ".*" };
	struct fixture *f = calloc(1, sizeof *f);
	char err[256];

	assert_non_null(f);
	uv_loop_init(&f->loop);
	agent_config_defaults(&f->a.cfg);
	util_strlcpy(f->dir, "/tmp/tether-test-exec-XXXXXX", sizeof f->dir);
	assert_non_null(mkdtemp(f->dir));
	util_strlcpy(f->a.cfg.data_dir, f->dir, sizeof f->a.cfg.data_dir);
	f->a.cfg.scripts_enabled = true;
	f->a.loop = &f->loop;
	assert_int_equal(policy_create(allow, 1, NULL, 0, POLICY_ALLOW_DENY, &f->a.policy, err,
				       sizeof err), 0);
	f->frames = json_array();
	assert_int_equal(exec_create(&f->a, collect, f, &f->a.exec), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	exec_destroy(f->a.exec);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	policy_destroy(f->a.policy);
	agent_config_free(&f->a.cfg);
	json_decref(f->frames);
	snprintf(cmd, sizeof cmd, "%s/scripts", f->dir);
	rmdir(cmd);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* The final frame (result or reject) of jid, if any. */
static json_t *final_of(struct fixture *f, const char *jid)
{
	size_t i;
	json_t *m;

	json_array_foreach(f->frames, i, m) {
		const char *type = json_string_value(json_object_get(m, "type"));

		if (!strcmp(json_string_value(json_object_get(m, "jid")), jid) &&
		    (!strcmp(type, "result") || !strcmp(type, "reject")))
			return m;
	}
	return NULL;
}

static void deadline_cb(uv_timer_t *t)
{
	(void)t;
}

/* Sends a run frame (extra fields from fmt) and runs the loop until its
 * final frame arrives. Returns it (borrowed). */
static json_t *run_job(struct fixture *f, const char *command, json_t *extra)
{
	char jid[UUID_STR_LEN];
	json_t *run = json_pack("{s:s, s:s, s:s, s:I}", "type", "run", "jid", "", "command",
				command, "timeout_sec", (json_int_t)10);
	uint64_t deadline = util_mono_ms() + 15000;
	uv_timer_t t;
	json_t *m;

	util_uuid4(jid);
	json_object_set_new(run, "jid", json_string(jid));
	if (extra) {
		json_object_update(run, extra);
		json_decref(extra);
	}
	exec_run(f->a.exec, run);
	json_decref(run);
	uv_timer_init(&f->loop, &t);
	uv_timer_start(&t, deadline_cb, 50, 50);
	while (!(m = final_of(f, jid)) && util_mono_ms() < deadline)
		uv_run(&f->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_non_null(m);
	return m;
}

static void assert_reject(json_t *m, const char *error)
{
	assert_string_equal(json_string_value(json_object_get(m, "type")), "reject");
	assert_string_equal(json_string_value(json_object_get(m, "error")), error);
}

static void test_runs_a_command(void **state)
{
	struct fixture *f = *state;
	json_t *m = run_job(f, "echo out; echo err >&2; exit 3", NULL);

	assert_string_equal(json_string_value(json_object_get(m, "status")), "failed");
	assert_int_equal(json_integer_value(json_object_get(m, "exit_code")), 3);
	assert_string_equal(json_string_value(json_object_get(m, "stdout")), "out\n");
	assert_string_equal(json_string_value(json_object_get(m, "stderr")), "err\n");
	assert_string_equal(json_string_value(json_object_get(m, "error")), "exit status 3");
}

/* Text that JSON escapes would bloat (\u0001 is 6 bytes) goes as base64. */
static void test_control_bytes_travel_as_base64(void **state)
{
	struct fixture *f = *state;
	json_t *m = run_job(f, "printf '\\001\\002\\003\\004'; printf 'plain'", NULL);

	assert_string_equal(json_string_value(json_object_get(m, "stdout_encoding")), "base64");
	assert_string_equal(json_string_value(json_object_get(m, "stdout")), "AQIDBHBsYWlu");
	m = run_job(f, "printf 'a\\tb\\n'", NULL);
	assert_null(json_object_get(m, "stdout_encoding"));
	assert_string_equal(json_string_value(json_object_get(m, "stdout")), "a\tb\n");
}

static void test_cmd_needs_windows(void **state)
{
	struct fixture *f = *state;

	assert_reject(run_job(f, "dir", json_pack("{s:s}", "interpreter", "cmd")),
		      "failed to start a command: interpreter 'cmd' needs a Windows agent; "
		      "this host runs Linux");
}

static void test_powershell_without_pwsh(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];

	if (exec_find_in_path("pwsh", path, sizeof path) || access("/usr/bin/pwsh", X_OK) == 0) {
		json_t *m = run_job(f, "Write-Output 7",
				    json_pack("{s:s}", "interpreter", "powershell"));

		assert_string_equal(json_string_value(json_object_get(m, "stdout")), "7\n");
		return;
	}
	assert_reject(run_job(f, "Get-Date", json_pack("{s:s}", "interpreter", "powershell")),
		      "failed to start a command: interpreter 'powershell' is not available on "
		      "this host: PowerShell (pwsh) is not installed");
}

static void test_unknown_name_and_alias_to_nothing(void **state)
{
	struct fixture *f = *state;

	json_object_set_new(f->a.cfg.aliases, "gone", json_string("/nonexistent/gone"));
	assert_reject(run_job(f, "x", json_pack("{s:s}", "interpreter", "gone")),
		      "failed to start a command: interpreter /nonexistent/gone (alias 'gone'): "
		      "No such file or directory");
	assert_reject(run_job(f, "x", json_pack("{s:s}", "interpreter", "fish-ish")),
		      "failed to start a command: interpreter 'fish-ish' is not available on "
		      "this host (not a built-in name, an [interpreter-aliases] entry or an "
		      "absolute path)");
}

static void test_interpreters_listed(void **state)
{
	struct fixture *f = *state;
	json_t *l;
	size_t i;
	json_t *v;
	bool sh = false, cmd = false, gone = false;

	json_object_set_new(f->a.cfg.aliases, "gone", json_string("/nonexistent/gone"));
	json_object_set_new(f->a.cfg.aliases, "sh2", json_string("/bin/sh"));
	l = exec_interpreters(&f->a);
	json_array_foreach(l, i, v) {
		sh |= !strcmp(json_string_value(v), "sh");
		cmd |= !strcmp(json_string_value(v), "cmd");
		gone |= !strcmp(json_string_value(v), "gone");
	}
	assert_true(sh);
	assert_false(cmd);
	assert_false(gone);  /* an alias to nothing is not offered */
	json_decref(l);
}

static void test_scripts_disabled_and_gates(void **state)
{
	struct fixture *f = *state;

	f->a.cfg.scripts_enabled = false;
	assert_reject(run_job(f, "echo hi", json_pack("{s:b}", "is_script", 1)),
		      "remote scripts are disabled");
	f->a.cfg.commands_enabled = false;
	assert_reject(run_job(f, "echo hi", NULL), "remote commands execution is disabled");
}

static void test_scripts_dir_owner_checked(void **state)
{
	struct fixture *f = *state;
	char dir[128], want[300];
	json_t *m;

	if (geteuid() != 0)
		skip();
	snprintf(dir, sizeof dir, "%s/scripts", f->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(chown(dir, 65534, 65534), 0);
	m = run_job(f, "echo hi", json_pack("{s:b}", "is_script", 1));
	snprintf(want, sizeof want,
		 "failed to start a command: scripts directory %s must be owned by the agent's "
		 "user (uid 0), not uid 65534", dir);
	assert_reject(m, want);
	assert_int_equal(chown(dir, 0, 0), 0);
	m = run_job(f, "echo hi", json_pack("{s:b}", "is_script", 1));
	assert_string_equal(json_string_value(json_object_get(m, "stdout")), "hi\n");
}

static void test_leftover_scripts_swept(void **state)
{
	struct fixture *f = *state;
	char dir[128], path[PATH_MAX], err[256];
	struct exec *e2;
	struct stat st;

	assert_int_equal(exec_script_dir(f->dir, dir, sizeof dir, err, sizeof err), 0);
	assert_int_equal(exec_script_write(dir, "0b0e0e0e-0000-4000-8000-000000000000", "",
					   "echo\n", 5, path, sizeof path, err, sizeof err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	/* Never over an existing file. */
	{
		char p2[PATH_MAX];

		assert_int_not_equal(exec_script_write(dir, "0b0e0e0e-0000-4000-8000-000000000000",
						       "", "x", 1, p2, sizeof p2, err, sizeof err), 0);
		assert_string_equal(p2, "");
	}
	assert_int_equal(exec_create(&f->a, collect, f, &e2), 0);
	assert_int_not_equal(stat(path, &st), 0);
	exec_destroy(e2);
}

static void test_shebang_parsing(void **state)
{
	char line[64];

	(void)state;
	assert_true(exec_script_shebang("#! /usr/bin/env python3 \r\nprint()", 34, line,
					sizeof line));
	assert_string_equal(line, "/usr/bin/env python3");
	assert_false(exec_script_shebang("echo #!/bin/sh", 14, line, sizeof line));
	assert_false(exec_script_shebang("#", 1, line, sizeof line));
}

/* Live output ("stream": true) is cut on character boundaries, adds up
 * to the result's stdout and never passes send_back_limit. */
static void test_live_output(void **state)
{
	struct fixture *f = *state;
	struct buf all;
	json_t *m, *v;
	size_t i;
	int frames = 0;

	/* One ASCII byte first, so that reads of even sizes end inside an é. */
	f->a.cfg.send_back_limit = 150002;
	m = run_job(f, "printf a; i=0; while [ $i -lt 4 ]; do printf '\\303\\251%.0s' $(seq 1 50000); "
		       "i=$((i+1)); done", json_pack("{s:b}", "stream", 1));
	assert_int_equal(json_integer_value(json_object_get(m, "stdout_dropped")),
			 400001 - 150002);
	buf_init(&all, 1 << 20);
	json_array_foreach(f->frames, i, v) {
		if (strcmp(json_string_value(json_object_get(v, "type")), "output"))
			continue;
		frames++;
		if (!json_object_get(v, "encoding"))
			assert_int_equal(buf_append(&all, json_string_value(json_object_get(v, "data")),
						    json_string_length(json_object_get(v, "data"))), 0);
	}
	assert_true(frames > 1);
	/* Every frame but the last holds whole characters: text. The last
	 * one ends in half an é (the limit is odd): base64. */
	assert_int_equal(all.len, 150001);
	assert_true(util_utf8_valid(all.data, all.len));
	buf_free(&all);
}

static size_t count_type(struct fixture *f, const char *type)
{
	size_t i, n = 0;
	json_t *v;

	json_array_foreach(f->frames, i, v)
		n += !strcmp(json_string_value(json_object_get(v, "type")), type);
	return n;
}

static void run_loop_ms(struct fixture *f, uint64_t ms)
{
	uint64_t end = util_mono_ms() + ms;
	uv_timer_t t;

	uv_timer_init(&f->loop, &t);
	uv_timer_start(&t, deadline_cb, 20, 20);
	while (util_mono_ms() < end)
		uv_run(&f->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* While the link is full a live job's pipe is not read: the child blocks
 * and nothing is lost; once the link drains every byte goes live, each
 * frame placed by its offset. */
static void test_live_output_paced_by_the_link(void **state)
{
	struct fixture *f = *state;
	json_t *run = json_pack("{s:s, s:s, s:s, s:I, s:b}", "type", "run", "jid",
				"6f1c2b1e-2222-4222-8222-222222222222", "command",
				"head -c 1000000 /dev/zero | tr '\\0' a", "timeout_sec",
				(json_int_t)10, "stream", 1);
	json_int_t at = 0;
	json_t *m, *v;
	size_t i;

	exec_set_link(f->a.exec, link_stub, f);
	f->link = EXEC_LINK_FULL;
	exec_run(f->a.exec, run);
	json_decref(run);
	run_loop_ms(f, 300);
	/* 1 MB does not fit in a pipe: it waits for us */
	assert_int_equal(count_type(f, "output"), 0);
	assert_null(final_of(f, "6f1c2b1e-2222-4222-8222-222222222222"));
	f->link = EXEC_LINK_OPEN;
	exec_link_changed(f->a.exec);
	while (!(m = final_of(f, "6f1c2b1e-2222-4222-8222-222222222222")))
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_int_equal(json_string_length(json_object_get(m, "stdout")), 1000000);
	json_array_foreach(f->frames, i, v) {
		if (strcmp(json_string_value(json_object_get(v, "type")), "output"))
			continue;
		assert_int_equal(json_integer_value(json_object_get(v, "offset")), at);
		at += (json_int_t)json_string_length(json_object_get(v, "data"));
	}
	assert_int_equal(at, 1000000);
}

/* Without a link the pipes are read anyway (the child never blocks) and
 * nothing goes live; the result has it all. */
static void test_live_output_without_a_link(void **state)
{
	struct fixture *f = *state;
	json_t *m;

	exec_set_link(f->a.exec, link_stub, f);
	f->link = EXEC_LINK_DOWN;
	m = run_job(f, "head -c 1000000 /dev/zero | tr '\\0' a", json_pack("{s:b}", "stream", 1));
	assert_string_equal(json_string_value(json_object_get(m, "status")), "successful");
	assert_int_equal(json_string_length(json_object_get(m, "stdout")), 1000000);
	assert_int_equal(count_type(f, "output"), 0);
}

/* A run's output_cap keeps more than send_back_limit, at most the agent's
 * max_output_cap, and the result says which cap it applied. */
static void test_output_cap(void **state)
{
	struct fixture *f = *state;
	json_t *m;

	f->a.cfg.send_back_limit = 1000;
	m = run_job(f, "head -c 300000 /dev/zero | tr '\\0' a", NULL);
	assert_int_equal(json_string_length(json_object_get(m, "stdout")), 1000);
	assert_null(json_object_get(m, "output_cap"));
	m = run_job(f, "head -c 300000 /dev/zero | tr '\\0' a",
		    json_pack("{s:I}", "output_cap", (json_int_t)200000));
	assert_int_equal(json_string_length(json_object_get(m, "stdout")), 200000);
	assert_int_equal(json_integer_value(json_object_get(m, "stdout_dropped")), 100000);
	assert_int_equal(json_integer_value(json_object_get(m, "output_cap")), 200000);
	f->a.cfg.max_output_cap = 50000;
	m = run_job(f, "head -c 300000 /dev/zero | tr '\\0' a",
		    json_pack("{s:I}", "output_cap", (json_int_t)200000));
	assert_int_equal(json_string_length(json_object_get(m, "stdout")), 50000);
	assert_int_equal(json_integer_value(json_object_get(m, "stdout_dropped")), 250000);
	assert_int_equal(json_integer_value(json_object_get(m, "output_cap")), 50000);
}

/* Streams that would not fit one result frame lose their ends, counted as
 * dropped, so that the result can always be delivered. */
static void test_result_fits_a_frame(void **state)
{
	struct fixture *f = *state;
	json_t *m;
	size_t out, err;

	f->a.cfg.max_result_output = 100000;
	m = run_job(f, "head -c 150000 /dev/zero | tr '\\0' a; head -c 80000 /dev/zero | tr '\\0' b >&2",
		    json_pack("{s:I}", "output_cap", (json_int_t)200000));
	out = json_string_length(json_object_get(m, "stdout"));
	err = json_string_length(json_object_get(m, "stderr"));
	assert_true(out + err <= 100000);
	assert_int_equal(err, 80000); /* the larger stream is cut first */
	assert_int_equal((int64_t)out + json_integer_value(json_object_get(m, "stdout_dropped")),
			 150000);
}

static void test_run_twice_runs_once(void **state)
{
	struct fixture *f = *state;
	json_t *run = json_pack("{s:s, s:s, s:s, s:I}", "type", "run", "jid",
				"6f1c2b1e-1111-4111-8111-111111111111", "command", "true",
				"timeout_sec", (json_int_t)5);
	size_t i, started = 0;
	json_t *v;

	exec_run(f->a.exec, run);
	exec_run(f->a.exec, run);
	json_decref(run);
	while (!final_of(f, "6f1c2b1e-1111-4111-8111-111111111111"))
		uv_run(&f->loop, UV_RUN_ONCE);
	json_array_foreach(f->frames, i, v)
		started += !strcmp(json_string_value(json_object_get(v, "type")), "started");
	assert_int_equal(started, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_runs_a_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_bytes_travel_as_base64, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cmd_needs_windows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_powershell_without_pwsh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_name_and_alias_to_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_interpreters_listed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scripts_disabled_and_gates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scripts_dir_owner_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leftover_scripts_swept, setup, teardown),
		cmocka_unit_test(test_shebang_parsing),
		cmocka_unit_test_setup_teardown(test_live_output, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_output_paced_by_the_link, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_output_without_a_link, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_twice_runs_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_result_fits_a_frame, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
