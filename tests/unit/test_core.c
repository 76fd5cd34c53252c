/* Unit tests (cmocka) for the core modules: the agent protocol parser, the
 * TOML reader, the server and agent configuration readers, the command
 * policy, the job query parser and the store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent.h"
#include "config.h"
#include "policy.h"
#include "proto.h"
#include "core/query.h"
#include "dialects/rport/job_json.h"
#include "store/store.h"
#include "toml.h"
#include "util.h"

/* ---- proto ------------------------------------------------------------ */

static void test_proto_valid_frames(void **state)
{
	static const char *const ok[] = {
		"{\"type\":\"hello\",\"auth_id\":\"a\",\"password\":\"b\",\"id\":\"c\"}",
		"{\"type\":\"welcome\"}",
		"{\"type\":\"run\",\"jid\":\"j\",\"command\":\"date\",\"timeout_sec\":5,\"extra\":1}",
		"{\"type\":\"started\",\"jid\":\"j\",\"pid\":12}",
		"{\"type\":\"reject\",\"jid\":\"j\",\"error\":\"no\"}",
		"{\"type\":\"output\",\"jid\":\"j\",\"stream\":\"stdout\",\"data\":\"x\"}",
		"{\"type\":\"result\",\"jid\":\"j\",\"status\":\"successful\"}",
		"{\"type\":\"cancel\",\"jid\":\"j\"}",
		"{\"type\":\"ack\",\"jid\":\"j\"}",
		"{\"type\":\"ping\"}",
		"{\"type\":\"pong\"}",
		"{\"type\":\"error\",\"message\":\"m\"}",
	};
	(void)state;
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		enum proto_type t;
		char err[256];
		json_t *m = NULL;

		assert_int_equal(proto_parse(ok[i], strlen(ok[i]), &m, &t, err, sizeof err), 0);
		assert_int_equal((int)t, (int)i);
		assert_string_equal(proto_type_name(t), json_string_value(json_object_get(m, "type")));
		json_decref(m);
	}
	assert_string_equal(proto_type_name(PROTO_TYPE_COUNT), "?");
}

static void expect_bad(const char *text, const char *needle)
{
	enum proto_type t;
	char err[256] = "";
	json_t *m = NULL;

	assert_int_equal(proto_parse(text, strlen(text), &m, &t, err, sizeof err), -1);
	assert_null(m);
	if (!strstr(err, needle))
		fail_msg("'%s': error '%s' lacks '%s'", text, err, needle);
}

static void test_proto_bad_frames(void **state)
{
	(void)state;
	expect_bad("{", "invalid JSON");
	expect_bad("[]", "not a JSON object");
	expect_bad("{\"jid\":\"x\"}", "no string \"type\"");
	expect_bad("{\"type\":5}", "no string \"type\"");
	expect_bad("{\"type\":\"teleport\"}", "unknown frame type");
	expect_bad("{\"type\":\"run\",\"jid\":\"j\",\"command\":\"x\"}", "bad \"run\" frame");
	expect_bad("{\"type\":\"run\",\"jid\":\"j\",\"command\":1,\"timeout_sec\":1}", "bad \"run\" frame");
	expect_bad("{\"type\":\"ack\",\"jid\":\"a\",\"jid\":\"b\"}", "invalid JSON");
	expect_bad("{\"type\":\"ping\",\"a\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}", "deeper");
}

static void test_proto_roundtrip(void **state)
{
	json_t *m = proto_new(PROTO_ACK), *back;
	enum proto_type t;
	char err[100], *text;
	size_t len;

	(void)state;
	json_object_set_new(m, "jid", json_string("x"));
	text = proto_dump(m, &len);
	assert_non_null(text);
	assert_int_equal(proto_parse(text, len, &back, &t, err, sizeof err), 0);
	assert_int_equal(t, PROTO_ACK);
	assert_true(json_equal(m, back));
	free(text);
	json_decref(m);
	json_decref(back);
}

/* ---- toml ------------------------------------------------------------- */

static void test_toml_seed_block(void **state)
{
	static const char text[] =
		"# comment\n"
		"[client]\n"
		"server = \"127.0.0.1:8080\"  # trailing comment\n"
		"tags = ['a', \"b\",\n"
		"        'c', # inside\n"
		"]\n"
		"[client.labels]\n"
		"zone = \"EU\"\n"
		"[remote-commands]\n"
		"enabled = true\n"
		"allow = ['^/usr/bin/.*','^/usr/local/bin/.*','^C:\\Windows\\System32\\.*']\n"
		"deny = ['(\\||<|>|;|,|\\n|&)']\n"
		"order = ['allow','deny']\n"
		"send_back_limit = 4194304\n"
		"big = 0x_1\n";
	toml_value *root;
	char err[200];

	(void)state;
	/* 0x_1 is not a number: the error names its line. */
	assert_int_equal(toml_parse(text, sizeof text - 1, &root, err, sizeof err), -1);
	assert_string_equal(err, "line 15: misplaced '_' in a number");
	assert_int_equal(toml_parse(text, sizeof text - 12, &root, err, sizeof err), 0);
	assert_string_equal(toml_string(toml_get_path(root, "client.server")), "127.0.0.1:8080");
	assert_int_equal(toml_len(toml_get_path(root, "client.tags")), 3);
	assert_string_equal(toml_string(toml_at(toml_get_path(root, "client.tags"), 2)), "c");
	assert_string_equal(toml_string(toml_get_path(root, "client.labels.zone")), "EU");
	assert_string_equal(toml_string(toml_at(toml_get_path(root, "remote-commands.allow"), 2)),
			    "^C:\\Windows\\System32\\.*");
	assert_string_equal(toml_string(toml_at(toml_get_path(root, "remote-commands.deny"), 0)),
			    "(\\||<|>|;|,|\\n|&)");
	{
		int64_t v;
		bool b;

		assert_int_equal(toml_int(toml_get_path(root, "remote-commands.send_back_limit"), &v), 0);
		assert_int_equal(v, 4194304);
		assert_int_equal(toml_bool(toml_get_path(root, "remote-commands.enabled"), &b), 0);
		assert_true(b);
	}
	assert_int_equal(toml_line(toml_get_path(root, "client.labels.zone")), 8);
	toml_destroy(root);
}

static void expect_toml_error(const char *text, const char *msg)
{
	toml_value *root = NULL;
	char err[200] = "";

	assert_int_equal(toml_parse(text, strlen(text), &root, err, sizeof err), -1);
	if (strcmp(err, msg))
		fail_msg("'%s': got '%s', want '%s'", text, err, msg);
}

static void test_toml_errors(void **state)
{
	(void)state;
	expect_toml_error("a = 1\na = 2\n", "line 2: duplicate key 'a'");
	expect_toml_error("[t]\nx=1\n[t]\n", "line 3: table defined twice");
	expect_toml_error("a = 1\n[a]\n", "line 2: key 'a' is already a value");
	expect_toml_error("s = \"abc\n", "line 1: newline in a single-line string");
	expect_toml_error("a = [1, 2\n", "line 2: unterminated array");
	expect_toml_error("a = 1 2\n", "line 1: unexpected '2' after a value (one key = value per line)");
	expect_toml_error("[[x]]\n", "line 1: arrays of tables are not supported");
	expect_toml_error("a = \"\\q\"\n", "line 1: invalid escape '\\q'");
	expect_toml_error("a = 99999999999999999999\n", "line 1: integer out of range");
	expect_toml_error("a = \"\xff\"\n", "line 1: invalid UTF-8 in a string");
	expect_toml_error("a =\n", "line 1: missing value");
}

static void test_toml_values(void **state)
{
	static const char text[] =
		"a = -1_000\nb = 0xff\nc = 0o17\nd = 0b101\ne = 1.5e3\nf = false\n"
		"g = \"t\\u00e9\\t\"\nh = '''raw\\n'''\ni = \"\"\"\nx\\\n  y\"\"\"\n"
		"j = { k = 1, l.m = 'n' }\n\"quoted key\" = 2\nn.o = 3\n";
	toml_value *root;
	char err[200];
	int64_t v;
	double f;

	(void)state;
	assert_int_equal(toml_parse(text, sizeof text - 1, &root, err, sizeof err), 0);
	toml_int(toml_get(root, "a"), &v);
	assert_int_equal(v, -1000);
	toml_int(toml_get(root, "b"), &v);
	assert_int_equal(v, 255);
	toml_int(toml_get(root, "c"), &v);
	assert_int_equal(v, 15);
	toml_int(toml_get(root, "d"), &v);
	assert_int_equal(v, 5);
	assert_int_equal(toml_float(toml_get(root, "e"), &f), 0);
	assert_true(f == 1500.0);
	assert_string_equal(toml_string(toml_get(root, "g")), "t\xc3\xa9\t");
	assert_string_equal(toml_string(toml_get(root, "h")), "raw\\n");
	assert_string_equal(toml_string(toml_get(root, "i")), "xy");
	assert_string_equal(toml_string(toml_get_path(root, "j.l.m")), "n");
	toml_int(toml_get(root, "quoted key"), &v);
	assert_int_equal(v, 2);
	toml_int(toml_get_path(root, "n.o"), &v);
	assert_int_equal(v, 3);
	assert_null(toml_string(toml_get(root, "a")));
	toml_destroy(root);
}

/* ---- configuration files ---------------------------------------------- */

static char *write_tmp(const char *text)
{
	char *path = strdup("/tmp/tether-unit-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_server_config(void **state)
{
	struct server_config c;
	char err[300];
	char *p = write_tmp("[server]\naddress = \"0.0.0.0:8080\"\nauth = \"clientAuth1:1234\"\n"
			    "data_dir = \"/var/lib/tether\"\n[api]\naddress = \"0.0.0.0:3000\"\n"
			    "user = \"admin\"\npassword = \"foobaz\"\nuser_login_wait = 1.5\n");

	(void)state;
	server_config_defaults(&c);
	assert_int_equal(server_config_load(&c, p, err, sizeof err), 0);
	assert_int_equal(server_config_check(&c, err, sizeof err), 0);
	assert_string_equal(c.agent_auth, "clientAuth1:1234");
	assert_string_equal(c.api_user, "admin");
	assert_true(c.user_login_wait == 1.5);
	assert_int_equal(c.run_remote_cmd_timeout_sec, 60);
	unlink(p);
	free(p);

	p = write_tmp("[server]\nadress = \"x\"\n");
	server_config_defaults(&c);
	assert_int_equal(server_config_load(&c, p, err, sizeof err), -1);
	assert_non_null(strstr(err, "line 2: unknown key 'adress' in [server]"));
	unlink(p);
	free(p);

	p = write_tmp("[server]\nheartbeat_timeout_sec = 1\n");
	server_config_defaults(&c);
	assert_int_equal(server_config_load(&c, p, err, sizeof err), -1);
	assert_non_null(strstr(err, "must be an integer from 2"));
	unlink(p);
	free(p);

	server_config_defaults(&c);
	assert_int_equal(server_config_check(&c, err, sizeof err), -1);
	assert_non_null(strstr(err, "no agent credentials"));
}

static void test_agent_config(void **state)
{
	struct agent_config c;
	char err[300];
	char *p = write_tmp("[client]\nserver = \"127.0.0.1:8080\"\nauth = \"a:b\"\nid = \"x\"\n"
			    "tags = ['t1']\n[client.labels]\nzone = \"EU\"\n[connection]\n"
			    "max_retry_interval = '5m'\n[remote-commands]\norder = ['deny','allow']\n"
			    "send_back_limit = 1024\n[interpreter-aliases]\npy = \"/usr/bin/python3\"\n");

	(void)state;
	agent_config_defaults(&c);
	assert_true(c.commands_enabled);
	assert_false(c.scripts_enabled);
	assert_int_equal(agent_config_load(&c, p, err, sizeof err), 0);
	assert_int_equal(agent_config_check(&c, err, sizeof err), 0);
	assert_int_equal(c.max_retry_ms, 300000);
	assert_int_equal(c.order, POLICY_DENY_ALLOW);
	assert_int_equal(c.send_back_limit, 1024);
	assert_string_equal(json_string_value(json_object_get(c.labels, "zone")), "EU");
	assert_string_equal(json_string_value(json_object_get(c.aliases, "py")), "/usr/bin/python3");
	agent_config_free(&c);
	unlink(p);
	free(p);

	p = write_tmp("[remote-commands]\norder = ['allow','allow']\n");
	agent_config_defaults(&c);
	assert_int_equal(agent_config_load(&c, p, err, sizeof err), -1);
	assert_non_null(strstr(err, "line 2: remote-commands.order"));
	agent_config_free(&c);
	unlink(p);
	free(p);
}

/* ---- policy ------------------------------------------------------------ */

static bool allowed(policy *p, const char *cmd)
{
	return policy_allows(p, cmd, strlen(cmd));
}

static void test_policy_defaults(void **state)
{
	policy *p;
	char err[200];

	(void)state;
	assert_int_equal(policy_create(POLICY_DEFAULT_ALLOW, POLICY_DEFAULT_NALLOW, POLICY_DEFAULT_DENY,
				       POLICY_DEFAULT_NDENY, POLICY_ALLOW_DENY, &p, err, sizeof err), 0);
	assert_true(allowed(p, "/usr/bin/date"));
	assert_true(allowed(p, "/usr/local/bin/x --flag"));
	assert_false(allowed(p, "date"));
	assert_false(allowed(p, "/usr/bin/ls | grep x"));
	assert_false(allowed(p, "/usr/bin/a; /usr/bin/b"));
	assert_false(allowed(p, "/usr/bin/a\n/usr/bin/b"));
	assert_false(allowed(p, "/usr/bin/a & /usr/bin/b"));
	assert_false(allowed(p, "/usr/bin/a > /tmp/x"));
	assert_true(allowed(p, "C:\\Windows\\System32\\ipconfig.exe"));
	policy_destroy(p);
}

static void test_policy_order(void **state)
{
	const char *allow[] = { "^/usr/bin/.*" };
	const char *deny[] = { "^/usr/bin/z.*" };
	const char *deny_all[] = { ".*" };
	const char *allow_zip[] = { "zip$" };
	policy *p;
	char err[200];

	(void)state;
	assert_int_equal(policy_create(allow, 1, deny, 1, POLICY_ALLOW_DENY, &p, err, sizeof err), 0);
	assert_false(allowed(p, "/usr/bin/zip"));
	assert_true(allowed(p, "/usr/bin/unzip"));
	policy_destroy(p);
	assert_int_equal(policy_create(allow, 1, deny, 1, POLICY_DENY_ALLOW, &p, err, sizeof err), 0);
	assert_true(allowed(p, "/usr/bin/zip"));
	policy_destroy(p);
	assert_int_equal(policy_create(allow_zip, 1, deny_all, 1, POLICY_DENY_ALLOW, &p, err, sizeof err), 0);
	assert_true(allowed(p, "/x/zip"));
	assert_false(allowed(p, "/x/ls"));
	policy_destroy(p);
	{
		const char *bad[] = { "(" };

		assert_int_equal(policy_create(bad, 1, NULL, 0, POLICY_ALLOW_DENY, &p, err, sizeof err), -1);
		assert_non_null(strstr(err, "invalid allow regex '('"));
	}
	{
		policy_order o;

		assert_int_equal(policy_order_parse("deny", "allow", &o), 0);
		assert_int_equal(o, POLICY_DENY_ALLOW);
		assert_int_equal(policy_order_parse("allow", "allow", &o), -1);
	}
}

/* ---- query ------------------------------------------------------------- */

static void test_query(void **state)
{
	const char *n1[] = { "sort", "filter[status]", "filter[started_at][gt]", "page[limit]" };
	const char *v1[] = { "-finished_at,jid", "failed,run*", "2020-01-01T00:00:00Z", "10" };
	const char *n2[] = { "sort" };
	const char *v2[] = { "colour" };
	const char *n3[] = { "page[limit]" };
	const char *v3[] = { "5000" };
	const char *n4[] = { "filter[x]" };
	const char *v4[] = { "1" };
	struct job_query q;
	char err[200];

	(void)state;
	assert_int_equal(query_jobs_parse(n1, v1, 4, &q, err, sizeof err), 0);
	assert_int_equal(q.nsort, 2);
	assert_true(q.sort[0].desc);
	assert_string_equal(q.sort[0].column, "finished_at");
	assert_int_equal(q.nfilters, 2);
	assert_int_equal(q.filters[0].nvalues, 2);
	assert_string_equal(q.filters[0].values[1], "run*");
	assert_int_equal(q.filters[1].op, QOP_GT);
	assert_int_equal(q.limit, 10);
	query_jobs_free(&q);
	assert_int_equal(query_jobs_parse(n2, v2, 1, &q, err, sizeof err), -1);
	assert_string_equal(err, "unsupported sort field 'colour'");
	query_jobs_free(&q);
	assert_int_equal(query_jobs_parse(n3, v3, 1, &q, err, sizeof err), -1);
	assert_string_equal(err, "pagination limit too big (5000) maximum is 1000");
	query_jobs_free(&q);
	assert_int_equal(query_jobs_parse(n4, v4, 1, &q, err, sizeof err), -1);
	assert_string_equal(err, "unsupported filter field 'x'");
	query_jobs_free(&q);
}

/* ---- store ------------------------------------------------------------- */

static void test_store_jobs(void **state)
{
	char dir[] = "/tmp/tether-store-XXXXXX", err[200], path[300];
	struct store *st;
	struct job_spec j;
	struct job_result r;
	json_t *job;
	struct job_row row;
	struct job_rows list;
	struct stat sb;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(store_open(dir, &st, err, sizeof err), 0);
	snprintf(path, sizeof path, "%s/tether.db", dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	memset(&j, 0, sizeof j);
	util_uuid4(j.jid);
	j.client_id = "c1";
	j.client_name = "c1";
	j.command = "date";
	j.created_by = "admin";
	j.timeout_sec = 10;
	j.created_at = util_now_ns();
	assert_int_equal(store_job_insert(st, &j), 0);
	assert_int_equal(store_job_insert(st, &j), TE_EXISTS);
	assert_int_equal(store_job_get(st, j.jid, &row), 0);
	job = rport_job_json(&row);
	store_job_row_free(&row);
	assert_string_equal(json_string_value(json_object_get(job, "status")), "running");
	assert_string_equal(json_string_value(json_object_get(job, "interpreter")), "/bin/sh");
	assert_true(json_is_null(json_object_get(job, "exit_code")));
	assert_true(json_is_null(json_object_get(job, "multi_job_id")));
	json_decref(job);

	memset(&r, 0, sizeof r);
	r.status = JOB_FAILED;
	r.has_exit_code = true;
	r.exit_code = 3;
	r.error = "exit status 3";
	r.stdout_data = "\xff\xfe";
	r.stdout_len = 2;
	r.stdout_dropped = 7;
	r.finished_at = util_now_ns();
	assert_int_equal(store_job_finish(st, j.jid, NULL, &r), 0);
	r.status = JOB_SUCCESSFUL;
	assert_int_equal(store_job_finish(st, j.jid, NULL, &r), TE_STATE);
	assert_int_equal(store_job_finish(st, "nope", NULL, &r), TE_NOTFOUND);
	assert_int_equal(store_job_get(st, j.jid, &row), 0);
	job = rport_job_json(&row);
	store_job_row_free(&row);
	assert_string_equal(json_string_value(json_object_get(job, "status")), "failed");
	assert_int_equal(json_integer_value(json_object_get(job, "exit_code")), 3);
	{
		json_t *res = json_object_get(job, "result");

		assert_string_equal(json_string_value(json_object_get(res, "stdout")), "//4=");
		assert_string_equal(json_string_value(json_object_get(res, "stdout_encoding")), "base64");
		assert_true(json_is_true(json_object_get(res, "stdout_truncated")));
		assert_int_equal(json_integer_value(json_object_get(res, "stdout_dropped_bytes")), 7);
	}
	json_decref(job);

	/* survives a restart */
	store_close(st);
	assert_int_equal(store_open(dir, &st, err, sizeof err), 0);
	assert_int_equal(store_job_list_client(st, "c1", 10, 0, -1, &list), 0);
	assert_int_equal(list.total, 1);
	assert_int_equal(list.n, 1);
	store_job_rows_free(&list);
	store_close(st);
	snprintf(path, sizeof path, "rm -rf %s", dir);
	assert_int_equal(system(path), 0);
}

static int applied;
static int after_rc = -99;

static int apply_count(struct store *st, void *arg)
{
	(void)st;
	(void)arg;
	applied++;
	return 0;
}

static void after_record(void *arg, int rc)
{
	(void)arg;
	after_rc = rc;
}

static void test_store_group_commit(void **state)
{
	char dir[] = "/tmp/tether-store-XXXXXX", err[200], cmd[300];
	struct store *st;
	uint64_t commits, writes;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(store_open(dir, &st, err, sizeof err), 0);
	/* Not attached to a loop: each queue call flushes at once. */
	store_queue(st, apply_count, after_record, NULL);
	assert_int_equal(applied, 1);
	assert_int_equal(after_rc, 0);
	store_stats(st, &commits, &writes);
	assert_int_equal(commits, 1);
	assert_int_equal(writes, 1);
	store_close(st);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proto_valid_frames),
		cmocka_unit_test(test_proto_bad_frames),
		cmocka_unit_test(test_proto_roundtrip),
		cmocka_unit_test(test_toml_seed_block),
		cmocka_unit_test(test_toml_errors),
		cmocka_unit_test(test_toml_values),
		cmocka_unit_test(test_server_config),
		cmocka_unit_test(test_agent_config),
		cmocka_unit_test(test_policy_defaults),
		cmocka_unit_test(test_policy_order),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_store_jobs),
		cmocka_unit_test(test_store_group_commit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
