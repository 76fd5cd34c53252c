/* Unit tests for src/server/store/ on a throwaway directory: the file and
 * its mode, WAL, jobs (rport's Job JSON, start, finish, duplicates, binary
 * output, truncation, paging), restarts and client records. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>
#include <uv.h>

/* The schema version migrations end at (store/migrate.c). */
#define LATEST_SCHEMA 13
#define LATEST_SCHEMA_TEXT "13"

#include "store/store.h"
#include "store/store_tat.h"
#include "util.h"

#define NS 1000000000LL
#define T0 (1602775812LL * NS) /* 2020-10-15T15:30:12Z */

struct fixture {
	char dir[64];
	struct store *st;
};

/* Removes dir and the files in it (no deeper: the store makes none). */
static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char p[512];

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		if (unlink(p))
			rmdir(p);
	}
	closedir(d);
	rmdir(dir);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	char err[256] = "";

	if (!f)
		return -1;
	util_strlcpy(f->dir, "/tmp/tether-test-store-XXXXXX", sizeof f->dir);
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	if (store_open(f->dir, &f->st, err, sizeof err)) {
		print_error("store_open: %s\n", err);
		remove_dir(f->dir);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->st);
	remove_dir(f->dir);
	free(f);
	return 0;
}

static void reopen(struct fixture *f)
{
	char err[256] = "";

	store_close(f->st);
	f->st = NULL;
	if (store_open(f->dir, &f->st, err, sizeof err))
		fail_msg("reopen: %s", err);
	assert_non_null(f->st);
}

static struct job_spec spec(const char *jid, const char *client, int64_t created_at)
{
	struct job_spec j;

	memset(&j, 0, sizeof j);
	util_strlcpy(j.jid, jid, sizeof j.jid);
	j.client_id = client;
	j.client_name = "my-client";
	j.command = "/usr/bin/date";
	j.cwd = "";
	j.interpreter = "";
	j.timeout_sec = 60;
	j.created_by = "admin";
	j.created_at = created_at;
	return j;
}

static struct job_row get_job(struct store *st, const char *jid)
{
	struct job_row r;

	memset(&r, 0, sizeof r);
	assert_int_equal(store_job_get(st, jid, &r), 0);
	assert_non_null(r.jid);
	return r;
}

/* The row's output bytes are exactly want (len bytes, NUL-terminated). */
static void assert_bytes(const char *data, size_t len, const char *want, size_t wlen)
{
	assert_non_null(data);
	assert_int_equal(len, wlen);
	if (wlen)
		assert_memory_equal(data, want, wlen);
	assert_int_equal(data[len], '\0');
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool bytes_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && (!alen || (a && b && !memcmp(a, b, alen)));
}

/* Every field of two rows (what a reader of the store can see). */
static bool rows_equal(const struct job_row *a, const struct job_row *b)
{
	return str_eq(a->jid, b->jid) && str_eq(a->multi_job_id, b->multi_job_id) &&
	       str_eq(a->client_id, b->client_id) && str_eq(a->client_name, b->client_name) &&
	       str_eq(a->command, b->command) &&
	       ((!a->argv && !b->argv) || (a->argv && b->argv && json_equal(a->argv, b->argv))) &&
	       str_eq(a->cwd, b->cwd) &&
	       str_eq(a->interpreter, b->interpreter) && a->is_sudo == b->is_sudo &&
	       a->is_script == b->is_script && a->kill_on_timeout == b->kill_on_timeout &&
	       a->timeout_sec == b->timeout_sec &&
	       a->delivery_timeout_sec == b->delivery_timeout_sec &&
	       str_eq(a->created_by, b->created_by) && a->created_at == b->created_at &&
	       a->started_at == b->started_at && a->finished_at == b->finished_at &&
	       a->has_pid == b->has_pid && a->pid == b->pid && a->status == b->status &&
	       !strcmp(a->state, b->state) && a->has_exit_code == b->has_exit_code &&
	       a->exit_code == b->exit_code && str_eq(a->error, b->error) &&
	       bytes_eq(a->stdout_data, a->stdout_len, b->stdout_data, b->stdout_len) &&
	       bytes_eq(a->stderr_data, a->stderr_len, b->stderr_data, b->stderr_len) &&
	       a->output_omitted == b->output_omitted &&
	       a->stdout_dropped == b->stdout_dropped && a->stderr_dropped == b->stderr_dropped;
}

static const char *jstr(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		fail_msg("'%s' is not a string", key);
	return json_string_value(v);
}

static const json_t *jget(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (!v)
		fail_msg("'%s' is missing", key);
	return v;
}

static void time_str(int64_t ns, char out[TIME_STR_LEN])
{
	util_time_format(ns, out);
}

/* ---- the file ----------------------------------------------------------- */

static void test_open_creates_db(void **state)
{
	struct fixture *f = *state;
	char path[256];
	struct stat sb;

	snprintf(path, sizeof path, "%s/tether.db", f->dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0600);
}

static void test_open_creates_dir(void **state)
{
	struct fixture *f = *state;
	char sub[256], path[300], err[256] = "";
	struct store *st = NULL;
	struct stat sb;

	snprintf(sub, sizeof sub, "%s/data", f->dir);
	assert_int_equal(store_open(sub, &st, err, sizeof err), 0);
	assert_non_null(st);
	assert_int_equal(stat(sub, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0700);
	snprintf(path, sizeof path, "%s/tether.db", sub);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	store_close(st);
	remove_dir(sub);
}

static void test_open_fails_cleanly(void **state)
{
	struct fixture *f = *state;
	char bad[256], err[256] = "";
	struct store *st = (struct store *)0x1;
	FILE *fp;

	/* A regular file where the directory should be. */
	snprintf(bad, sizeof bad, "%s/not-a-dir", f->dir);
	fp = fopen(bad, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(store_open(bad, &st, err, sizeof err), -1);
	assert_ptr_equal(st, (struct store *)0x1);
	assert_true(err[0] != '\0');
	unlink(bad);
	/* A parent that does not exist. */
	err[0] = '\0';
	snprintf(bad, sizeof bad, "%s/no/such/dir", f->dir);
	assert_int_equal(store_open(bad, &st, err, sizeof err), -1);
	assert_ptr_equal(st, (struct store *)0x1);
	assert_non_null(strstr(err, "no/such/dir"));
	/* store_close(NULL) is a no-op. */
	store_close(NULL);
}

static char *journal_mode(const char *dir)
{
	char path[256];
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	char *mode = NULL;

	snprintf(path, sizeof path, "%s/tether.db", dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	mode = strdup((const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(db);
	return mode;
}

static void test_wal(void **state)
{
	struct fixture *f = *state;
	struct job_spec j = spec("wal-job", "c1", T0);
	char path[256];
	struct stat sb;
	char *mode;

	/* A second connection sees WAL (it is a property of the file). */
	mode = journal_mode(f->dir);
	assert_string_equal(mode, "wal");
	free(mode);
	/* Writes go to the -wal file, which is as private as the database. */
	assert_int_equal(store_job_insert(f->st, &j), 0);
	snprintf(path, sizeof path, "%s/tether.db-wal", f->dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0077, 0);
	/* Still WAL after a restart. */
	store_close(f->st);
	f->st = NULL;
	mode = journal_mode(f->dir);
	assert_string_equal(mode, "wal");
	free(mode);
	reopen(f);
}

/* The plan of an SQL statement on the store's file, its details joined. */
static void query_plan(const char *dir, const char *sql, char *out, size_t outlen)
{
	char path[256], q[512];
	sqlite3 *db;
	sqlite3_stmt *s;
	size_t n = 0;

	snprintf(path, sizeof path, "%s/tether.db", dir);
	snprintf(q, sizeof q, "EXPLAIN QUERY PLAN %s", sql);
	out[0] = '\0';
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, q, -1, &s, NULL), SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW && n < outlen - 1)
		n += (size_t)snprintf(out + n, outlen - n, "%s;", (const char *)sqlite3_column_text(s, 3));
	sqlite3_finalize(s);
	sqlite3_close(db);
}

/* Schema v13 dropped jobs_multi: a multi job's children are still found
 * and ordered through an index (jobs_multi_created), not a scan or a sort. */
static void test_children_through_an_index(void **state)
{
	struct fixture *f = *state;
	char plan[1024];

	query_plan(f->dir, "SELECT client_id, jid, status FROM jobs WHERE multi_job_id = 'm'"
			   " ORDER BY created_at, jid", plan, sizeof plan);
	assert_non_null(strstr(plan, "USING INDEX jobs_multi_created"));
	assert_null(strstr(plan, "TEMP B-TREE"));
	query_plan(f->dir, "SELECT count(*) FROM jobs WHERE multi_job_id = 'm'", plan, sizeof plan);
	assert_non_null(strstr(plan, "jobs_multi_created"));
	{
		char path[256];
		sqlite3 *db;
		sqlite3_stmt *s;

		snprintf(path, sizeof path, "%s/tether.db", f->dir);
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master"
						       " WHERE type = 'index' AND name = 'jobs_multi'",
						   -1, &s, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(s), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(s, 0), 0);
		sqlite3_finalize(s);
		sqlite3_close(db);
	}
}

/* ---- jobs --------------------------------------------------------------- */

static void test_insert_get(void **state)
{
	struct fixture *f = *state;
	struct job_spec j = spec("11111111-1111-4111-8111-111111111111", "client-1", T0);
	struct job_row job;

	j.cwd = "/tmp";
	assert_int_equal(store_job_insert(f->st, &j), 0);
	job = get_job(f->st, j.jid);
	assert_string_equal(job.jid, j.jid);
	assert_int_equal(job.status, JOB_RUNNING);
	assert_string_equal(job.client_id, "client-1");
	assert_string_equal(job.client_name, "my-client");
	assert_string_equal(job.command, "/usr/bin/date");
	assert_string_equal(job.cwd, "/tmp");
	assert_false(job.is_sudo);
	assert_false(job.is_script);
	assert_false(job.kill_on_timeout);
	/* An empty interpreter: the agent's default (the dialect names it). */
	assert_string_equal(job.interpreter, "");
	assert_string_equal(job.created_by, "admin");
	assert_int_equal(job.timeout_sec, 60);
	assert_null(job.multi_job_id);
	assert_null(job.argv);
	assert_false(job.has_exit_code);
	assert_int_equal(job.finished_at, 0);
	assert_false(job.has_pid);
	assert_string_equal(job.error, "");
	assert_string_equal(job.state, "");
	assert_int_equal(job.created_at, T0);
	/* started_at: when the job was created, until the agent says more. */
	assert_int_equal(job.started_at, T0);
	assert_bytes(job.stdout_data, job.stdout_len, "", 0);
	assert_bytes(job.stderr_data, job.stderr_len, "", 0);
	assert_false(job.output_omitted);
	assert_int_equal(job.stdout_dropped, 0);
	assert_int_equal(job.stderr_dropped, 0);
	store_job_row_free(&job);
	/* A freed row is cleared; freeing again, or NULL, is a no-op. */
	assert_null(job.jid);
	store_job_row_free(&job);
	store_job_row_free(NULL);
}

static void test_insert_all_fields(void **state)
{
	struct fixture *f = *state;
	struct job_spec j = spec("job-multi-1", "client-2", T0);
	struct job_row job;

	j.multi_job_id = "22222222-2222-4222-8222-222222222222";
	j.interpreter = "bash";
	j.is_sudo = true;
	j.is_script = true;
	j.kill_on_timeout = true;
	j.timeout_sec = 3600;
	j.delivery_timeout_sec = 120;
	j.command = "echo \"h\xc3\xa9llo\" | tr a-z A-Z; exit 3";
	j.client_name = NULL;
	j.cwd = NULL;
	assert_int_equal(store_job_insert(f->st, &j), 0);
	job = get_job(f->st, j.jid);
	assert_string_equal(job.multi_job_id, j.multi_job_id);
	assert_string_equal(job.interpreter, "bash");
	assert_true(job.is_sudo);
	assert_true(job.is_script);
	assert_true(job.kill_on_timeout);
	assert_int_equal(job.timeout_sec, 3600);
	assert_int_equal(job.delivery_timeout_sec, 120);
	assert_string_equal(job.command, j.command);
	assert_string_equal(job.client_name, "");
	assert_string_equal(job.cwd, "");
	store_job_row_free(&job);
}

static void test_get_unknown(void **state)
{
	struct fixture *f = *state;
	struct job_row out;

	memset(&out, 0x5a, sizeof out);
	assert_int_equal(store_job_get(f->st, "nope", &out), TE_NOTFOUND);
	/* Untouched on error. */
	assert_int_equal(((unsigned char *)&out)[0], 0x5a);
}

static void test_insert_duplicate(void **state)
{
	struct fixture *f = *state;
	struct job_spec a = spec("dup", "c1", T0), b = spec("dup", "c2", T0 + NS);
	struct job_row job;

	b.command = "/usr/bin/uptime";
	assert_int_equal(store_job_insert(f->st, &a), 0);
	assert_int_equal(store_job_insert(f->st, &b), TE_EXISTS);
	/* The first one is untouched, and the store keeps working. */
	job = get_job(f->st, "dup");
	assert_string_equal(job.command, "/usr/bin/date");
	assert_string_equal(job.client_id, "c1");
	store_job_row_free(&job);
	b.jid[0] = 'D';
	assert_int_equal(store_job_insert(f->st, &b), 0);
}

static void test_started(void **state)
{
	struct fixture *f = *state;
	struct job_spec j = spec("s1", "c1", T0);
	char t[TIME_STR_LEN];
	struct job_row job;

	assert_int_equal(store_job_insert(f->st, &j), 0);
	assert_int_equal(store_job_started(f->st, "s1", "c1", 4242, T0 + 1500000000LL), 0);
	job = get_job(f->st, "s1");
	assert_true(job.has_pid);
	assert_int_equal(job.pid, 4242);
	assert_int_equal(job.started_at, T0 + 1500000000LL);
	time_str(job.started_at, t);
	assert_string_equal(t, "2020-10-15T15:30:13.500000000Z");
	assert_int_equal(job.status, JOB_RUNNING);
	store_job_row_free(&job);
	assert_int_equal(store_job_started(f->st, "unknown", "c1", 1, T0), TE_NOTFOUND);
}

static struct job_result result_ok(void)
{
	struct job_result r;

	memset(&r, 0, sizeof r);
	r.status = JOB_SUCCESSFUL;
	r.has_exit_code = true;
	r.exit_code = 0;
	r.error = "";
	r.stdout_data = "Thu Oct 15 15:30:14 UTC 2020\n";
	r.stdout_len = strlen(r.stdout_data);
	r.stderr_data = "";
	r.stderr_len = 0;
	r.finished_at = T0 + 2 * NS;
	return r;
}

static void test_finish(void **state)
{
	struct fixture *f = *state;
	struct job_spec j = spec("f1", "c1", T0);
	struct job_result r = result_ok();
	struct job_row job;

	assert_int_equal(store_job_insert(f->st, &j), 0);
	assert_int_equal(store_job_started(f->st, "f1", "c1", 99, T0 + NS), 0);
	r.status = JOB_FAILED;
	r.exit_code = 3;
	r.error = "exit status 3";
	r.stderr_data = "oops\n";
	r.stderr_len = 5;
	assert_int_equal(store_job_finish(f->st, "f1", "c1", &r), 0);
	job = get_job(f->st, "f1");
	assert_int_equal(job.status, JOB_FAILED);
	assert_true(job.has_exit_code);
	assert_int_equal(job.exit_code, 3);
	assert_string_equal(job.error, "exit status 3");
	assert_int_equal(job.finished_at, T0 + 2 * NS);
	/* pid 0 and started_at 0 in the result keep what the start recorded. */
	assert_int_equal(job.pid, 99);
	assert_int_equal(job.started_at, T0 + NS);
	assert_bytes(job.stdout_data, job.stdout_len, "Thu Oct 15 15:30:14 UTC 2020\n", 29);
	assert_bytes(job.stderr_data, job.stderr_len, "oops\n", 5);
	store_job_row_free(&job);
}

static void test_finish_sets_pid_and_start(void **state)
{
	struct fixture *f = *state;
	struct job_spec j = spec("f2", "c1", T0);
	struct job_result r = result_ok();
	struct job_row job;

	/* A result that arrives with no "started" before it. */
	assert_int_equal(store_job_insert(f->st, &j), 0);
	r.pid = 777;
	r.started_at = T0 + NS / 2;
	assert_int_equal(store_job_finish(f->st, "f2", "c1", &r), 0);
	job = get_job(f->st, "f2");
	assert_true(job.has_pid);
	assert_int_equal(job.pid, 777);
	assert_int_equal(job.started_at, T0 + NS / 2);
	assert_int_equal(job.status, JOB_SUCCESSFUL);
	assert_true(job.has_exit_code);
	assert_int_equal(job.exit_code, 0);
	store_job_row_free(&job);
}

static void test_finish_without_exit_code(void **state)
{
	struct fixture *f = *state;
	struct job_spec j = spec("f3", "c1", T0);
	struct job_result r = result_ok();
	struct job_row job;

	assert_int_equal(store_job_insert(f->st, &j), 0);
	r.status = JOB_UNKNOWN;
	r.has_exit_code = false;
	r.error = "no result from the client within the timeout";
	r.stdout_data = NULL;
	r.stdout_len = 0;
	r.stderr_data = NULL;
	assert_int_equal(store_job_finish(f->st, "f3", "c1", &r), 0);
	job = get_job(f->st, "f3");
	assert_int_equal(job.status, JOB_UNKNOWN);
	assert_false(job.has_exit_code);
	assert_string_equal(job.error, r.error);
	assert_bytes(job.stdout_data, job.stdout_len, "", 0);
	assert_bytes(job.stderr_data, job.stderr_len, "", 0);
	store_job_row_free(&job);
}

static void test_finish_twice(void **state)
{
	struct fixture *f = *state;
	struct job_spec j = spec("twice", "c1", T0);
	struct job_result r = result_ok(), r2 = result_ok();
	struct job_row before, after;
	char status[16], cid[64];

	assert_int_equal(store_job_insert(f->st, &j), 0);
	assert_int_equal(store_job_finish(f->st, "twice", "c1", &r), 0);
	before = get_job(f->st, "twice");
	r2.status = JOB_FAILED;
	r2.exit_code = 9;
	r2.error = "second";
	r2.stdout_data = "other";
	r2.stdout_len = 5;
	r2.stdout_dropped = 10;
	r2.pid = 5;
	r2.started_at = T0 + 7 * NS;
	r2.finished_at = T0 + 9 * NS;
	assert_int_equal(store_job_finish(f->st, "twice", "c1", &r2), TE_STATE);
	after = get_job(f->st, "twice");
	if (!rows_equal(&before, &after))
		fail_msg("a duplicate result changed the job");
	/* Also a duplicate of the very same result. */
	assert_int_equal(store_job_finish(f->st, "twice", "c1", &r), TE_STATE);
	assert_int_equal(store_job_status(f->st, "twice", cid, sizeof cid, status), 0);
	assert_string_equal(status, "successful");
	assert_string_equal(cid, "c1");
	store_job_row_free(&before);
	store_job_row_free(&after);
}

/* An agent reports only its own jobs: a start or result for another
 * client's job changes nothing, and the job's own agent still finishes it;
 * the server's verdict (no client) applies to any job. */
static void test_other_clients_job(void **state)
{
	struct fixture *f = *state;
	struct job_spec a = spec("mine", "c1", T0), b = spec("verdict", "c1", T0);
	struct job_result r = result_ok();
	struct job_row job;

	assert_int_equal(store_job_insert(f->st, &a), 0);
	assert_int_equal(store_job_insert(f->st, &b), 0);
	assert_int_equal(store_job_started(f->st, "mine", "c2", 666, T0 + NS), TE_NOTFOUND);
	assert_int_equal(store_job_finish(f->st, "mine", "c2", &r), TE_NOTFOUND);
	job = get_job(f->st, "mine");
	assert_int_equal(job.status, JOB_RUNNING);
	assert_false(job.has_pid);
	store_job_row_free(&job);
	assert_int_equal(store_job_finish(f->st, "mine", "c1", &r), 0);
	job = get_job(f->st, "mine");
	assert_int_equal(job.status, JOB_SUCCESSFUL);
	store_job_row_free(&job);
	/* Once final, another client's result is still not its to report. */
	assert_int_equal(store_job_finish(f->st, "mine", "c2", &r), TE_NOTFOUND);
	r.status = JOB_FAILED;
	assert_int_equal(store_job_finish(f->st, "verdict", NULL, &r), 0);
	job = get_job(f->st, "verdict");
	assert_int_equal(job.status, JOB_FAILED);
	store_job_row_free(&job);
}

static void test_finish_unknown(void **state)
{
	struct fixture *f = *state;
	struct job_result r = result_ok();
	char status[16] = "x", cid[64] = "y";

	assert_int_equal(store_job_finish(f->st, "no-such-job", "c1", &r), TE_NOTFOUND);
	assert_int_equal(store_job_status(f->st, "no-such-job", cid, sizeof cid, status),
			 TE_NOTFOUND);
	/* Nothing was created by the attempt. */
	{
		struct job_row out;

		assert_int_equal(store_job_get(f->st, "no-such-job", &out), TE_NOTFOUND);
	}
}

/* Output comes back byte for byte, whatever it holds (how a dialect
 * shows binary output is its own affair: test_rport_job_json.c). */
static void test_binary_output(void **state)
{
	struct fixture *f = *state;
	struct job_spec j = spec("bin", "c1", T0);
	struct job_result r = result_ok();
	struct job_row job;

	assert_int_equal(store_job_insert(f->st, &j), 0);
	r.stdout_data = "\xff\xfe\x00" "a";
	r.stdout_len = 4;
	r.stderr_data = "caf\xc3\xa9\n";
	r.stderr_len = 6;
	assert_int_equal(store_job_finish(f->st, "bin", "c1", &r), 0);
	job = get_job(f->st, "bin");
	assert_bytes(job.stdout_data, job.stdout_len, "\xff\xfe\x00" "a", 4);
	assert_bytes(job.stderr_data, job.stderr_len, "caf\xc3\xa9\n", 6);
	store_job_row_free(&job);
}

static void test_output_with_nul(void **state)
{
	struct fixture *f = *state;
	struct job_spec j = spec("nul", "c1", T0);
	struct job_result r = result_ok();
	struct job_row job;

	/* Valid UTF-8 but with a NUL: every byte past it comes back too. */
	assert_int_equal(store_job_insert(f->st, &j), 0);
	r.stdout_data = "a\0b";
	r.stdout_len = 3;
	r.stderr_data = "\x80";
	r.stderr_len = 1;
	assert_int_equal(store_job_finish(f->st, "nul", "c1", &r), 0);
	job = get_job(f->st, "nul");
	assert_bytes(job.stdout_data, job.stdout_len, "a\0b", 3);
	assert_bytes(job.stderr_data, job.stderr_len, "\x80", 1);
	store_job_row_free(&job);
}

static void test_large_output(void **state)
{
	struct fixture *f = *state;
	struct job_spec j = spec("big", "c1", T0);
	struct job_result r = result_ok();
	size_t n = 4 * 1024 * 1024;
	char *data = malloc(n);
	struct job_row job;

	assert_non_null(data);
	for (size_t i = 0; i < n; i++)
		data[i] = (char)('a' + i % 26);
	assert_int_equal(store_job_insert(f->st, &j), 0);
	r.stdout_data = data;
	r.stdout_len = n;
	assert_int_equal(store_job_finish(f->st, "big", "c1", &r), 0);
	job = get_job(f->st, "big");
	assert_bytes(job.stdout_data, job.stdout_len, data, n);
	store_job_row_free(&job);
	free(data);
}

static void test_dropped_bytes(void **state)
{
	struct fixture *f = *state;
	struct job_spec j = spec("trunc", "c1", T0), j2 = spec("trunc2", "c1", T0);
	struct job_result r = result_ok();
	struct job_row job;

	assert_int_equal(store_job_insert(f->st, &j), 0);
	r.stdout_dropped = 1048576;
	assert_int_equal(store_job_finish(f->st, "trunc", "c1", &r), 0);
	job = get_job(f->st, "trunc");
	assert_int_equal(job.stdout_dropped, 1048576);
	/* Nothing dropped from stderr. */
	assert_int_equal(job.stderr_dropped, 0);
	store_job_row_free(&job);

	assert_int_equal(store_job_insert(f->st, &j2), 0);
	r.stdout_dropped = 0;
	r.stderr_dropped = 5;
	assert_int_equal(store_job_finish(f->st, "trunc2", "c1", &r), 0);
	job = get_job(f->st, "trunc2");
	assert_int_equal(job.stdout_dropped, 0);
	assert_int_equal(job.stderr_dropped, 5);
	store_job_row_free(&job);
}

/* ---- listing ------------------------------------------------------------ */

static void check_page(struct store *st, const char *client, int64_t limit, int64_t offset,
		       int64_t want_total, const char *const *want, size_t nwant)
{
	struct job_rows rows;

	memset(&rows, 0, sizeof rows);
	rows.total = -1;
	assert_int_equal(store_job_list_client(st, client, limit, offset, -1, &rows), 0);
	assert_int_equal(rows.total, want_total);
	if (rows.n != nwant)
		fail_msg("%s limit %lld offset %lld: %zu jobs, want %zu", client,
			 (long long)limit, (long long)offset, rows.n, nwant);
	for (size_t i = 0; i < nwant; i++) {
		const struct job_row *job = &rows.row[i];

		assert_string_equal(job->jid, want[i]);
		assert_string_equal(job->client_id, client);
		/* Each entry is a full row. */
		assert_string_equal(job->command, "/usr/bin/date");
		assert_non_null(job->stdout_data);
	}
	store_job_rows_free(&rows);
}

static void test_list_client(void **state)
{
	struct fixture *f = *state;
	/* Inserted out of order: the order comes from created_at. */
	static const struct {
		const char *jid;
		int64_t at;
	} jobs[] = {
		{ "j3", T0 + 3 * NS }, { "j1", T0 + 1 * NS }, { "j5", T0 + 5 * NS },
		{ "j2", T0 + 2 * NS }, { "j4", T0 + 4 * NS },
	};
	static const char *const all[] = { "j5", "j4", "j3", "j2", "j1" };

	for (size_t i = 0; i < sizeof jobs / sizeof jobs[0]; i++) {
		struct job_spec j = spec(jobs[i].jid, "cl-a", jobs[i].at);

		assert_int_equal(store_job_insert(f->st, &j), 0);
	}
	/* Another client's jobs, newer than all of them. */
	for (int i = 0; i < 3; i++) {
		char jid[16];
		struct job_spec j;

		snprintf(jid, sizeof jid, "b%d", i);
		j = spec(jid, "cl-b", T0 + (10 + i) * NS);
		assert_int_equal(store_job_insert(f->st, &j), 0);
	}
	check_page(f->st, "cl-a", 100, 0, 5, all, 5);
	check_page(f->st, "cl-a", 2, 0, 5, all, 2);
	check_page(f->st, "cl-a", 2, 2, 5, all + 2, 2);
	check_page(f->st, "cl-a", 2, 4, 5, all + 4, 1);
	check_page(f->st, "cl-a", 2, 5, 5, NULL, 0);
	check_page(f->st, "cl-a", 10, 100, 5, NULL, 0);
	check_page(f->st, "cl-a", 1, 0, 5, all, 1);
	{
		static const char *const b[] = { "b2", "b1", "b0" };

		check_page(f->st, "cl-b", 10, 0, 3, b, 3);
	}
	check_page(f->st, "cl-none", 10, 0, 0, NULL, 0);
	/* A finished job is listed with its result. */
	{
		struct job_result r = result_ok();
		struct job_rows rows;

		assert_int_equal(store_job_finish(f->st, "j4", "cl-a", &r), 0);
		assert_int_equal(store_job_list_client(f->st, "cl-a", 2, 0, -1, &rows), 0);
		assert_int_equal(rows.row[1].status, JOB_SUCCESSFUL);
		assert_bytes(rows.row[1].stdout_data, rows.row[1].stdout_len, r.stdout_data,
			     r.stdout_len);
		assert_int_equal(rows.row[0].status, JOB_RUNNING);
		store_job_rows_free(&rows);
	}
}

/* A list read carries at most its output budget: the first row always
 * whole, a later one that would pass what is left without its bytes
 * (output_omitted, lengths kept), one with no output never omitted. */
static void test_list_output_budget(void **state)
{
	struct fixture *f = *state;
	static const struct { const char *jid; size_t out, err; } jobs[] = {
		{ "o1", 60, 0 }, { "o2", 30, 20 }, { "o3", 0, 0 }, { "o4", 30, 0 }, { "o5", 10, 0 },
	};
	static const bool omitted_95[] = { false, true, false, false, true };
	char data[64];
	struct job_rows rows;
	struct job_query q;

	memset(data, 'x', sizeof data);
	for (size_t i = 0; i < 5; i++) {
		struct job_spec j = spec(jobs[i].jid, "c1", T0 - (int64_t)i * NS);
		struct job_result r = result_ok();

		r.stdout_data = data;
		r.stdout_len = jobs[i].out;
		r.stderr_data = data;
		r.stderr_len = jobs[i].err;
		assert_int_equal(store_job_insert(f->st, &j), 0);
		assert_int_equal(store_job_finish(f->st, jobs[i].jid, "c1", &r), 0);
	}
	/* Budget 50: o1 (60 bytes) whole as the first, leaving 0; o2 (50)
	 * is left out; o3 has nothing to leave out; o4 (30), o5 (10) out. */
	assert_int_equal(store_job_list_client(f->st, "c1", 10, 0, 50, &rows), 0);
	assert_int_equal(rows.n, 5);
	for (size_t i = 0; i < 5; i++) {
		const struct job_row *r = &rows.row[i];
		bool want = i != 0 && i != 2;

		assert_string_equal(r->jid, jobs[i].jid);
		assert_int_equal(r->output_omitted, want);
		assert_int_equal(r->stdout_len, jobs[i].out);
		assert_int_equal(r->stderr_len, jobs[i].err);
		if (want)
			assert_null(r->stdout_data);
		else
			assert_bytes(r->stdout_data, r->stdout_len, data, jobs[i].out);
	}
	store_job_rows_free(&rows);
	/* Budget 95 (a filtered query reads the same way): o1 leaves 35, o2
	 * (50) is left out, o4 (30) fits and leaves 5, o5 (10) is left out. */
	memset(&q, 0, sizeof q);
	q.limit = 10;
	assert_int_equal(store_job_query(f->st, "client_id", "c1", &q, 95, &rows), 0);
	assert_int_equal(rows.total, 5);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(rows.row[i].output_omitted, omitted_95[i]);
	store_job_rows_free(&rows);
	/* No budget: everything whole. */
	assert_int_equal(store_job_query(f->st, "client_id", "c1", &q, -1, &rows), 0);
	for (size_t i = 0; i < 5; i++)
		assert_false(rows.row[i].output_omitted);
	store_job_rows_free(&rows);
}

/* ---- restart ------------------------------------------------------------ */

struct clients_seen {
	json_t *all; /* id -> record */
	int calls;
};

static void collect_client(void *ud, const char *id, json_t *client)
{
	struct clients_seen *cs = ud;

	cs->calls++;
	/* The store frees client after the call: keep a reference. */
	json_object_set(cs->all, id, client);
}

static void test_restart_keeps_data(void **state)
{
	struct fixture *f = *state;
	struct job_spec a = spec("r-running", "c1", T0), b = spec("r-done", "c1", T0 + NS);
	struct job_result r = result_ok();
	struct job_row ja, jb, ja2, jb2;
	struct job_rows rows;
	json_t *client;
	struct clients_seen cs = { json_object(), 0 };

	assert_int_equal(store_job_insert(f->st, &a), 0);
	assert_int_equal(store_job_insert(f->st, &b), 0);
	assert_int_equal(store_job_started(f->st, "r-done", "c1", 31337, T0 + 2 * NS), 0);
	r.stdout_data = "\xff binary";
	r.stdout_len = 8;
	r.stderr_dropped = 12;
	assert_int_equal(store_job_finish(f->st, "r-done", "c1", &r), 0);
	client = json_pack("{s:s, s:[s,s], s:{s:s}}", "name", "my-client", "tags", "linux",
			   "web", "labels", "zone", "EU");
	assert_int_equal(store_client_put(f->st, "c1", client), 0);
	ja = get_job(f->st, "r-running");
	jb = get_job(f->st, "r-done");

	reopen(f);

	ja2 = get_job(f->st, "r-running");
	jb2 = get_job(f->st, "r-done");
	assert_true(rows_equal(&ja, &ja2));
	assert_true(rows_equal(&jb, &jb2));
	assert_bytes(jb2.stdout_data, jb2.stdout_len, "\xff binary", 8);
	assert_int_equal(jb2.stderr_dropped, 12);
	assert_int_equal(store_job_list_client(f->st, "c1", 10, 0, -1, &rows), 0);
	assert_int_equal(rows.total, 2);
	store_job_rows_free(&rows);
	assert_int_equal(store_client_each(f->st, collect_client, &cs), 0);
	assert_int_equal(cs.calls, 1);
	assert_true(json_equal(json_object_get(cs.all, "c1"), client));
	/* A finished job stays final across the restart. */
	assert_int_equal(store_job_finish(f->st, "r-done", "c1", &r), TE_STATE);
	/* And a running one can still be finished. */
	assert_int_equal(store_job_finish(f->st, "r-running", "c1", &r), 0);
	store_job_row_free(&ja);
	store_job_row_free(&jb);
	store_job_row_free(&ja2);
	store_job_row_free(&jb2);
	json_decref(client);
	json_decref(cs.all);
}

/* ---- clients ------------------------------------------------------------ */

static void test_clients(void **state)
{
	struct fixture *f = *state;
	struct clients_seen cs = { json_object(), 0 };
	json_t *c1 = json_pack("{s:s, s:b, s:[s]}", "name", "one", "connected", 1, "tags", "x");
	json_t *c2 = json_pack("{s:s, s:{s:s}, s:n}", "name", "t\xc3\xa9st", "labels", "k", "v",
			       "last");
	json_t *c1b = json_pack("{s:s, s:b}", "name", "one-renamed", "connected", 0);

	/* Nothing stored yet. */
	assert_int_equal(store_client_each(f->st, collect_client, &cs), 0);
	assert_int_equal(cs.calls, 0);

	assert_int_equal(store_client_put(f->st, "c1", c1), 0);
	assert_int_equal(store_client_put(f->st, "c2", c2), 0);
	assert_int_equal(store_client_each(f->st, collect_client, &cs), 0);
	assert_int_equal(cs.calls, 2);
	assert_true(json_equal(json_object_get(cs.all, "c1"), c1));
	assert_true(json_equal(json_object_get(cs.all, "c2"), c2));

	/* A put replaces the record. */
	assert_int_equal(store_client_put(f->st, "c1", c1b), 0);
	json_object_clear(cs.all);
	cs.calls = 0;
	assert_int_equal(store_client_each(f->st, collect_client, &cs), 0);
	assert_int_equal(cs.calls, 2);
	assert_true(json_equal(json_object_get(cs.all, "c1"), c1b));
	assert_true(json_equal(json_object_get(cs.all, "c2"), c2));

	/* Delete. */
	assert_int_equal(store_client_delete(f->st, "c2"), 0);
	json_object_clear(cs.all);
	cs.calls = 0;
	assert_int_equal(store_client_each(f->st, collect_client, &cs), 0);
	assert_int_equal(cs.calls, 1);
	assert_null(json_object_get(cs.all, "c2"));

	json_decref(c1);
	json_decref(c2);
	json_decref(c1b);
	json_decref(cs.all);
}

/* ---- the write queue ---------------------------------------------------- */

struct queued {
	struct job_spec spec;
	int after_rc;
	int after_calls;
};

static int apply_insert(struct store *st, void *arg)
{
	struct queued *q = arg;

	return store_job_insert(st, &q->spec);
}

static void after_insert(void *arg, int rc)
{
	struct queued *q = arg;

	q->after_rc = rc;
	q->after_calls++;
}

static void test_queue_without_loop(void **state)
{
	struct fixture *f = *state;
	struct queued q1 = { spec("q1", "c1", T0), 99, 0 }, q2 = { spec("q1", "c1", T0), 99, 0 };
	uint64_t commits0, writes0, commits, writes;
	struct job_row job;

	store_stats(f->st, &commits0, &writes0);
	/* Not attached to a loop: each write is applied and committed at once. */
	store_queue(f->st, apply_insert, after_insert, &q1);
	assert_int_equal(q1.after_calls, 1);
	assert_int_equal(q1.after_rc, 0);
	/* One write, one commit of its own. */
	store_stats(f->st, &commits, &writes);
	assert_int_equal(commits - commits0, 1);
	assert_int_equal(writes - writes0, 1);
	job = get_job(f->st, "q1");
	store_job_row_free(&job);
	/* The apply's error reaches after. */
	store_queue(f->st, apply_insert, after_insert, &q2);
	assert_int_equal(q2.after_calls, 1);
	assert_int_equal(q2.after_rc, TE_EXISTS);
	store_stats(f->st, &commits, &writes);
	assert_int_equal(writes - writes0, 2);
	assert_true(commits > commits0);
}

/* ---- issue 19: commit pacing waits only when waiting gathers writes ------- */

/* One turn of the loop without blocking: the prepare handle flushes the
 * queue unless pacing defers it to its timer. */
static void one_turn(uv_loop_t *loop)
{
	uv_run(loop, UV_RUN_NOWAIT);
}

static void test_pacing_serial_writes_commit_at_once(void **state)
{
	struct fixture *f = *state;
	struct queued q[8];
	char jid[8][16];
	uv_loop_t loop;

	uv_loop_init(&loop);
	assert_int_equal(store_attach_loop(f->st, &loop), 0);
	/* One request at a time, each right after the commit before: many
	 * commits in a row close together, each with one write. Waiting
	 * would only delay each: every one commits in its own turn. */
	for (int i = 0; i < 8; i++) {
		snprintf(jid[i], sizeof jid[i], "ps%d", i);
		q[i] = (struct queued){ spec(jid[i], "c1", T0), 99, 0 };
		uint64_t commits0, commits, writes0, writes;

		store_stats(f->st, &commits0, &writes0);
		store_queue(f->st, apply_insert, after_insert, &q[i]);
		one_turn(&loop);
		/* committed in that turn (its callback too here; with the sync
		 * thread, once the WAL's sync ends) */
		store_stats(f->st, &commits, &writes);
		assert_int_equal(writes - writes0, 1);
		assert_int_equal(commits - commits0, 1);
		for (int turn = 0; turn < 100 && q[i].after_calls == 0; turn++)
			uv_run(&loop, UV_RUN_ONCE);
		assert_int_equal(q[i].after_calls, 1);
		assert_int_equal(q[i].after_rc, 0);
	}
	/* (by default each COMMIT syncs itself: the sync thread made none) */
	uint64_t syncs;
	double secs;

	store_sync_stats(f->st, &syncs, &secs);
	assert_int_equal(syncs, 0);
	store_detach_loop(f->st);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_pacing_batches_under_load(void **state)
{
	struct fixture *f = *state;
	struct queued q[16];
	char jid[16][16];
	uv_loop_t loop;
	bool deferred = false;

	uv_loop_init(&loop);
	assert_int_equal(store_attach_loop(f->st, &loop), 0);
	/* Two writes a turn, turn after turn: under load, a commit close to
	 * the one before waits out the gap (its timer) to carry more. */
	for (int i = 0; i < 16; i += 2) {
		uint64_t commits, writes0, writes;

		store_stats(f->st, &commits, &writes0);
		for (int k = i; k < i + 2; k++) {
			snprintf(jid[k], sizeof jid[k], "pl%d", k);
			q[k] = (struct queued){ spec(jid[k], "c1", T0), 99, 0 };
			store_queue(f->st, apply_insert, after_insert, &q[k]);
		}
		one_turn(&loop);
		store_stats(f->st, &commits, &writes);
		deferred |= writes == writes0;
	}
	assert_true(deferred);
	/* The deferred commits happen: nothing is left waiting (the store's
	 * prepare handle keeps the loop alive: turns, not a run to the end). */
	for (int turn = 0; turn < 100 && q[15].after_calls == 0; turn++)
		uv_run(&loop, UV_RUN_ONCE);
	for (int k = 0; k < 16; k++) {
		assert_int_equal(q[k].after_calls, 1);
		assert_int_equal(q[k].after_rc, 0);
	}
	store_detach_loop(f->st);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- the commits' fsync on the sync thread --------------------------------- */

static struct store *sync_store;

struct synced {
	struct queued q;
	uint64_t syncs_at_call;
};

static int apply_synced(struct store *st, void *arg)
{
	return apply_insert(st, &((struct synced *)arg)->q);
}

static void after_synced(void *arg, int rc)
{
	struct synced *s = arg;
	double secs;

	after_insert(&s->q, rc);
	store_sync_stats(sync_store, &s->syncs_at_call, &secs);
}

/* With a loop, a commit's callback runs only once a sync of the WAL that
 * began after that commit has ended (the sync thread's count has grown
 * past what it was at the commit); the row is readable on the loop as soon
 * as it is committed. Detaching from the loop syncs and calls back what
 * is still waiting, before it returns. */
static void test_callbacks_follow_the_sync(void **state)
{
	struct fixture *f = *state;
	struct synced s[6];
	uv_loop_t loop;
	uint64_t syncs0, commits0, commits, writes;
	double secs;
	struct job_row job;

	sync_store = f->st;
	store_set_sync_thread(f->st, true);
	uv_loop_init(&loop);
	assert_int_equal(store_attach_loop(f->st, &loop), 0);
	for (int round = 0; round < 2; round++) {
		store_sync_stats(f->st, &syncs0, &secs);
		store_stats(f->st, &commits0, &writes);
		for (int i = round * 3; i < round * 3 + 3; i++) {
			char jid[16];

			snprintf(jid, sizeof jid, "sy%d", i);
			s[i] = (struct synced){ { spec(jid, "c1", T0), 99, 0 }, 0 };
			store_queue(f->st, apply_synced, after_synced, &s[i]);
		}
		one_turn(&loop);
		store_stats(f->st, &commits, &writes);
		assert_int_equal(commits - commits0, 1);
		job = get_job(f->st, round ? "sy3" : "sy0");
		store_job_row_free(&job);
		if (round == 1) {
			/* still waiting or not: detach delivers every callback */
			store_detach_loop(f->st);
		}
		for (int turn = 0; turn < 100 && s[round * 3 + 2].q.after_calls == 0; turn++)
			uv_run(&loop, UV_RUN_ONCE);
		for (int i = round * 3; i < round * 3 + 3; i++) {
			assert_int_equal(s[i].q.after_calls, 1);
			assert_int_equal(s[i].q.after_rc, 0);
			assert_true(s[i].syncs_at_call > syncs0);
		}
	}
	store_sync_stats(f->st, &syncs0, &secs);
	assert_true(syncs0 >= 2);
	/* detached: commits sync themselves again, callbacks at once */
	struct queued q = { spec("sy6", "c1", T0), 99, 0 };

	store_queue(f->st, apply_insert, after_insert, &q);
	assert_int_equal(q.after_calls, 1);
	assert_int_equal(q.after_rc, 0);
	store_sync_stats(f->st, &commits, &secs);
	assert_int_equal(commits, syncs0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* With the sync thread, a callback read made while a commit waits for its
 * sync waits too: it answers after that write's callback, and then sees
 * the row (and a read with a query gets its own copy of the query). */
struct waited_read {
	struct queued *write;
	int calls;
	int rc;
	int write_calls_then;
	char status[16];
};

static void waited_job(void *ud, int rc, struct job_row *row)
{
	struct waited_read *w = ud;

	w->calls++;
	w->rc = rc;
	w->write_calls_then = w->write->after_calls;
	if (row)
		snprintf(w->status, sizeof w->status, "%s", job_status_name(row->status));
}

static void waited_jobs(void *ud, int rc, struct job_rows *rows)
{
	struct waited_read *w = ud;

	w->calls++;
	w->rc = rc;
	w->write_calls_then = w->write->after_calls;
	snprintf(w->status, sizeof w->status, "%zu", rows ? rows->n : 0);
}

static void test_reads_wait_for_the_callbacks(void **state)
{
	struct fixture *f = *state;
	struct queued q = { spec("rw1", "c1", T0), 99, 0 }, q0 = { spec("rw0", "c1", T0), 99, 0 };
	struct waited_read r1 = { &q, 0, 0, 0, "" }, r2 = { &q, 0, 0, 0, "" };
	struct job_query jq;
	const char *names[] = { "filter[status]" }, *values[] = { "running" };
	char err[128];
	uv_loop_t loop;

	store_set_sync_thread(f->st, true);
	uv_loop_init(&loop);
	assert_int_equal(store_attach_loop(f->st, &loop), 0);
	/* two writes in the commit: the sync thread's (one alone on a quiet
	 * store is synced on the loop: test_quiet_store_syncs_on_the_loop) */
	store_queue(f->st, apply_insert, after_insert, &q0);
	store_queue(f->st, apply_insert, after_insert, &q);
	one_turn(&loop);   /* committed; its sync's end not yet taken by the loop */
	store_read_job(f->st, "rw1", waited_job, &r1);
	assert_int_equal(query_jobs_parse(names, values, 1, &jq, err, sizeof err), 0);
	store_read_job_query(f->st, "client_id", "c1", &jq, 1 << 20, waited_jobs, &r2);
	query_jobs_free(&jq);   /* (borrowed for the call only) */
	assert_int_equal(r1.calls, 0);
	assert_int_equal(r2.calls, 0);
	for (int turn = 0; turn < 100 && r2.calls == 0; turn++)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(r1.calls, 1);
	assert_int_equal(r1.rc, 0);
	assert_int_equal(r1.write_calls_then, 1);
	assert_string_equal(r1.status, "running");
	assert_int_equal(r2.calls, 1);
	assert_int_equal(r2.rc, 0);
	assert_int_equal(r2.write_calls_then, 1);
	assert_string_equal(r2.status, "2");
	/* nothing waiting: a read answers at once */
	r1.calls = 0;
	store_read_job(f->st, "rw1", waited_job, &r1);
	assert_int_equal(r1.calls, 1);
	store_detach_loop(f->st);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* A commit of one write on a quiet store is synced on the loop: its
 * callback runs in the commit's own turn, after a sync; a commit that
 * comes within a millisecond of a sync's end goes to the thread. */
static void test_quiet_store_syncs_on_the_loop(void **state)
{
	struct fixture *f = *state;
	struct queued q1 = { spec("qs1", "c1", T0), 99, 0 }, q2 = { spec("qs2", "c1", T0), 99, 0 };
	uint64_t syncs0, syncs;
	double secs;
	uv_loop_t loop;

	store_set_sync_thread(f->st, true);
	uv_loop_init(&loop);
	assert_int_equal(store_attach_loop(f->st, &loop), 0);
	store_sync_stats(f->st, &syncs0, &secs);
	store_queue(f->st, apply_insert, after_insert, &q1);
	one_turn(&loop);
	assert_int_equal(q1.after_calls, 1);
	assert_int_equal(q1.after_rc, 0);
	store_sync_stats(f->st, &syncs, &secs);
	assert_int_equal(syncs - syncs0, 1);
	/* right after that sync: the thread's, answered in a later turn */
	store_queue(f->st, apply_insert, after_insert, &q2);
	one_turn(&loop);
	assert_int_equal(q2.after_calls, 0);
	for (int turn = 0; turn < 100 && q2.after_calls == 0; turn++)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(q2.after_calls, 1);
	assert_int_equal(q2.after_rc, 0);
	store_sync_stats(f->st, &syncs, &secs);
	assert_int_equal(syncs - syncs0, 2);
	store_detach_loop(f->st);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- WAL checkpoints on a worker ------------------------------------------ */

struct big_put {
	char id[16];
	json_t *rec;
	int calls;
	int rc;
};

static int apply_big(struct store *st, void *arg)
{
	struct big_put *b = arg;

	return store_client_put(st, b->id, b->rec);
}

static void after_big(void *arg, int rc)
{
	struct big_put *b = arg;

	b->calls++;
	b->rc = rc;
}

/* Frames in the WAL, as another connection's PASSIVE checkpoint sees it. */
static int wal_frames(const char *dir)
{
	char path[256];
	sqlite3 *db;
	int log = -1, done = -1;

	snprintf(path, sizeof path, "%s/tether.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done),
			 SQLITE_OK);
	sqlite3_close(db);
	return log;
}

#define BIG_PUTS 500   /* 500 x 40 KB: about 5,000 pages of WAL */

static void big_puts(struct store *st, struct big_put *b, json_t *rec, const char *prefix,
		     uv_loop_t *loop)
{
	for (int i = 0; i < BIG_PUTS; i++) {
		snprintf(b[i].id, sizeof b[i].id, "%s%d", prefix, i);
		b[i].rec = rec;
		b[i].calls = 0;
		store_queue(st, apply_big, after_big, &b[i]);
		if (loop)
			uv_run(loop, UV_RUN_NOWAIT);
	}
}

/* With a loop, the WAL's checkpoints run on a worker (counted), not in
 * the loop's commits; without one, the commit checkpoints itself. Either
 * way the WAL does not grow past about STORE_CKPT_PAGES (1,000 pages) without a
 * loop, STORE_CKPT_PAGES_LOOP (4,000) with one. */
static void test_checkpoints_off_the_loop(void **state)
{
	struct fixture *f = *state;
	static struct big_put b[BIG_PUTS];
	char *pad = malloc(40000);
	json_t *rec;
	uv_loop_t loop;
	uint64_t n = 0, n0;
	double secs;

	assert_non_null(pad);
	memset(pad, 'x', 39999);
	pad[39999] = '\0';
	rec = json_pack("{s:s}", "pad", pad);
	free(pad);
	/* no loop */
	store_checkpoint_stats(f->st, &n0, &secs);
	big_puts(f->st, b, rec, "n", NULL);
	for (int i = 0; i < BIG_PUTS; i++)
		assert_int_equal(b[i].rc, 0);
	store_checkpoint_stats(f->st, &n, &secs);
	assert_int_equal(n, n0);
	assert_true(wal_frames(f->dir) < 1000);
	/* a loop: the worker checkpoints */
	uv_loop_init(&loop);
	assert_int_equal(store_attach_loop(f->st, &loop), 0);
	big_puts(f->st, b, rec, "l", &loop);
	for (int turn = 0; turn < 5000 && (n == n0 || b[BIG_PUTS - 1].calls == 0); turn++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		store_checkpoint_stats(f->st, &n, &secs);
		/* (the checkpoint's worker, the callbacks' sync thread) */
		if (n == n0 || b[BIG_PUTS - 1].calls == 0)
			usleep(1000);
	}
	assert_int_equal(b[BIG_PUTS - 1].calls, 1);
	assert_true(n > n0);
	assert_true(secs > 0);
	store_detach_loop(f->st);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_true(wal_frames(f->dir) < 4600);
	json_decref(rec);
}

/* ---- issue 12: verdicts, expiry, idempotency keys, schema v2 -------------- */

/* The schema of version 1, as released (a database of that version). */
static const char schema_v1_snapshot[] =
	"CREATE TABLE IF NOT EXISTS jobs ("
	" jid TEXT PRIMARY KEY,"
	" multi_job_id TEXT,"
	" client_id TEXT NOT NULL,"
	" client_name TEXT NOT NULL DEFAULT '',"
	" status TEXT NOT NULL,"
	" command TEXT NOT NULL,"
	" cwd TEXT NOT NULL DEFAULT '',"
	" interpreter TEXT NOT NULL DEFAULT '',"
	" is_sudo INTEGER NOT NULL DEFAULT 0,"
	" is_script INTEGER NOT NULL DEFAULT 0,"
	" timeout_sec INTEGER NOT NULL,"
	" created_by TEXT NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" started_at INTEGER,"
	" finished_at INTEGER,"
	" pid INTEGER,"
	" exit_code INTEGER,"
	" error TEXT NOT NULL DEFAULT '',"
	" stdout BLOB,"
	" stderr BLOB,"
	" stdout_dropped INTEGER NOT NULL DEFAULT 0,"
	" stderr_dropped INTEGER NOT NULL DEFAULT 0,"
	" kill_on_timeout INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX IF NOT EXISTS jobs_client ON jobs (client_id, created_at);"
	"CREATE INDEX IF NOT EXISTS jobs_multi ON jobs (multi_job_id);"
	"CREATE TABLE IF NOT EXISTS clients ("
	" id TEXT PRIMARY KEY,"
	" data TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS multi_jobs ("
	" jid TEXT PRIMARY KEY,"
	" created_at INTEGER NOT NULL,"
	" created_by TEXT NOT NULL,"
	" data TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS multi_jobs_created ON multi_jobs (created_at);"
	"CREATE TABLE IF NOT EXISTS client_groups ("
	" id TEXT PRIMARY KEY,"
	" data TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS tokens ("
	" id TEXT PRIMARY KEY,"      /* hex of the token's hash */
	" data TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS auditlog ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" timestamp INTEGER NOT NULL,"
	" username TEXT NOT NULL,"
	" remote_ip TEXT NOT NULL,"
	" application TEXT NOT NULL,"
	" action TEXT NOT NULL,"
	" affected_id TEXT NOT NULL,"
	" client_id TEXT NOT NULL,"
	" success INTEGER NOT NULL,"
	" request TEXT);"
	"CREATE INDEX IF NOT EXISTS auditlog_ts ON auditlog (timestamp);"
	"CREATE TABLE IF NOT EXISTS client_auth ("
	" id TEXT PRIMARY KEY,"
	" data TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, data TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS user_groups (id TEXT PRIMARY KEY, data TEXT NOT NULL);";

struct running_seen {
	int n;
	struct job_running last;
	char jid[64];
	int64_t delivery;
};

static void collect_running(void *ud, const struct job_running *r)
{
	struct running_seen *rs = ud;

	rs->n++;
	rs->last = *r;
	util_strlcpy(rs->jid, r->jid, sizeof rs->jid);
	rs->last.jid = rs->jid;
	rs->last.client_id = NULL;
}

static void collect_unconfirmed(void *ud, const char *jid, int64_t delivery)
{
	struct running_seen *rs = ud;

	rs->n++;
	util_strlcpy(rs->jid, jid, sizeof rs->jid);
	rs->delivery = delivery;
}

/* A server verdict that may be wrong ("unconfirmed": sent, start never
 * confirmed; "lost": started, no result in time) gives way to the job's
 * own agent's result; a sure one ("expired", "withdrawn", none) does not,
 * and another client's result never counts. */
static void test_verdicts_give_way_to_the_agent(void **state)
{
	struct fixture *f = *state;
	static const char *const states[] = { "unconfirmed", "lost", "expired", "withdrawn", NULL };
	char st[16];

	for (int i = 0; i < 5; i++) {
		char jid[32];
		struct job_spec j;
		struct job_result v = result_ok(), r = result_ok();
		struct job_row job;
		bool gives_way = i < 2;

		snprintf(jid, sizeof jid, "verdict-%d", i);
		j = spec(jid, "c1", T0);
		assert_int_equal(store_job_insert(f->st, &j), 0);
		v.status = JOB_UNKNOWN;
		v.error = "server verdict";
		v.state = states[i];
		assert_int_equal(store_job_finish(f->st, jid, NULL, &v), 0);
		assert_int_equal(store_job_state(f->st, jid, st), 0);
		assert_string_equal(st, states[i] ? states[i] : "");
		/* A second server verdict never replaces the first. */
		assert_int_equal(store_job_finish(f->st, jid, NULL, &v), TE_STATE);
		assert_int_equal(store_job_finish(f->st, jid, "c2", &r), TE_NOTFOUND);
		assert_int_equal(store_job_finish(f->st, jid, "c1", &r), gives_way ? 0 : TE_STATE);
		job = get_job(f->st, jid);
		assert_int_equal(job.status, gives_way ? JOB_SUCCESSFUL : JOB_UNKNOWN);
		assert_string_equal(job.state, gives_way ? "" : states[i] ? states[i] : "");
		store_job_row_free(&job);
		assert_int_equal(store_job_state(f->st, jid, st), 0);
		assert_string_equal(st, gives_way ? "" : states[i] ? states[i] : "");
		/* The agent's result, once in, is final. */
		assert_int_equal(store_job_finish(f->st, jid, "c1", &r), TE_STATE);
	}
}

/* A job expires only when no start is recorded: running, or finished
 * "unconfirmed"; it is then failed with state "expired". */
static void test_expire(void **state)
{
	struct fixture *f = *state;
	struct job_spec a = spec("exp-a", "c1", T0), b = spec("exp-b", "c1", T0),
			c = spec("exp-c", "c1", T0), d = spec("exp-d", "c1", T0);
	struct job_result v = result_ok();
	struct running_seen rs = { 0 };
	char st[16];
	struct job_row job;

	b.delivery_timeout_sec = 77;
	assert_int_equal(store_job_insert(f->st, &a), 0);
	assert_int_equal(store_job_insert(f->st, &b), 0);
	assert_int_equal(store_job_insert(f->st, &c), 0);
	assert_int_equal(store_job_insert(f->st, &d), 0);
	assert_int_equal(store_job_expire(f->st, "exp-a", "never ran", T0 + NS), 0);
	job = get_job(f->st, "exp-a");
	assert_int_equal(job.status, JOB_FAILED);
	assert_string_equal(job.error, "never ran");
	assert_string_equal(job.state, "expired");
	assert_int_equal(job.finished_at, T0 + NS);
	store_job_row_free(&job);
	assert_int_equal(store_job_state(f->st, "exp-a", st), 0);
	assert_string_equal(st, "expired");
	assert_int_equal(store_job_expire(f->st, "exp-a", "again", T0 + NS), TE_STATE);
	/* unconfirmed: listed for its client, then expired by its hello */
	v.status = JOB_UNKNOWN;
	v.state = "unconfirmed";
	assert_int_equal(store_job_finish(f->st, "exp-b", NULL, &v), 0);
	assert_int_equal(store_job_each_unconfirmed_of(f->st, "c2", collect_unconfirmed, &rs), 0);
	assert_int_equal(rs.n, 0);
	assert_int_equal(store_job_each_unconfirmed_of(f->st, "c1", collect_unconfirmed, &rs), 0);
	assert_int_equal(rs.n, 1);
	assert_string_equal(rs.jid, "exp-b");
	assert_int_equal(rs.delivery, 77);
	assert_int_equal(store_job_expire(f->st, "exp-b", "never ran", T0 + NS), 0);
	rs.n = 0;
	assert_int_equal(store_job_each_unconfirmed_of(f->st, "c1", collect_unconfirmed, &rs), 0);
	assert_int_equal(rs.n, 0);
	/* a recorded start, or a final result, is never expired */
	assert_int_equal(store_job_started(f->st, "exp-c", "c1", 42, T0 + NS), 0);
	assert_int_equal(store_job_expire(f->st, "exp-c", "x", T0 + NS), TE_STATE);
	v = result_ok();
	assert_int_equal(store_job_finish(f->st, "exp-d", "c1", &v), 0);
	assert_int_equal(store_job_expire(f->st, "exp-d", "x", T0 + NS), TE_STATE);
	/* what the deadlines are rebuilt from */
	rs.n = 0;
	assert_int_equal(store_job_each_running_of(f->st, "c1", collect_running, &rs), 0);
	assert_int_equal(rs.n, 1);
	assert_string_equal(rs.jid, "exp-c");
	assert_true(rs.last.started);
	assert_int_equal(rs.last.started_at, T0 + NS);
	assert_int_equal(rs.last.timeout_sec, 60);
}

static void test_idempotency_keys(void **state)
{
	struct fixture *f = *state;
	char jid[UUID_STR_LEN], hash[STORE_IDEM_HASH_LEN];
	json_t *rec = json_pack("{s:s}", "jid", "m1"), *got = NULL;

	assert_int_equal(store_idem_get(f->st, "admin", "k1", jid, hash), TE_NOTFOUND);
	assert_int_equal(store_idem_put(f->st, "admin", "k1", "j1", "h1", util_now_ns()), 0);
	assert_int_equal(store_idem_put(f->st, "admin", "k1", "j2", "h2", util_now_ns()), TE_EXISTS);
	/* per user */
	assert_int_equal(store_idem_put(f->st, "bob", "k1", "j3", "h3", util_now_ns()), 0);
	assert_int_equal(store_idem_get(f->st, "admin", "k1", jid, hash), 0);
	assert_string_equal(jid, "j1");
	assert_string_equal(hash, "h1");
	/* a multi job and its key commit together; a key in use writes nothing */
	assert_int_equal(store_multi_create(f->st, "m1", util_now_ns(), "admin", rec, "k2", "h4"), 0);
	assert_int_equal(store_multi_create(f->st, "m2", util_now_ns(), "admin", rec, "k2", "h5"),
			 TE_EXISTS);
	assert_int_equal(store_multi_get(f->st, "m2", &got), TE_NOTFOUND);
	assert_int_equal(store_idem_get(f->st, "admin", "k2", jid, hash), 0);
	assert_string_equal(jid, "m1");
	/* kept across a restart (a kill -9 of tetherd) */
	reopen(f);
	assert_int_equal(store_idem_get(f->st, "bob", "k1", jid, hash), 0);
	assert_string_equal(jid, "j3");
	assert_int_equal(store_idem_delete(f->st, "admin", "k1"), 0);
	assert_int_equal(store_idem_get(f->st, "admin", "k1", jid, hash), TE_NOTFOUND);
	/* older than a day: gone at the next start */
	assert_int_equal(store_idem_put(f->st, "admin", "old", "j9", "h9",
					util_now_ns() - 2 * 86400 * NS), 0);
	reopen(f);
	assert_int_equal(store_idem_get(f->st, "admin", "old", jid, hash), TE_NOTFOUND);
	assert_int_equal(store_idem_get(f->st, "admin", "k2", jid, hash), 0);
	json_decref(rec);
}

/* A database of schema version 1 (before this issue) opens: it is migrated
 * to the current version (3), its jobs keep their data and get no verdict, and a newer
 * database than the program knows is refused. */
/* The database file and what SQLite keeps beside it: a stale -wal left
 * beside a new file would be replayed into it. */
static void unlink_db(const char *path)
{
	char p[160];

	unlink(path);
	snprintf(p, sizeof p, "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", path);
	unlink(p);
}

static void test_migrate_from_v1(void **state)
{
	struct fixture *f = *state;
	char path[128], err[256] = "";
	sqlite3 *db;
	struct running_seen rs = { 0 };
	struct store *st2 = NULL;
	struct job_row job;
	char sst[16];

	store_close(f->st);
	f->st = NULL;
	snprintf(path, sizeof path, "%s/tether.db", f->dir);
	unlink_db(path);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, schema_v1_snapshot, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
		"INSERT INTO jobs (jid, client_id, status, command, timeout_sec, created_by, created_at)"
		" VALUES ('old-1', 'c1', 'running', 'date', 5, 'admin', 1602775812000000000);"
		"PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	if (store_open(f->dir, &f->st, err, sizeof err))
		fail_msg("open v1: %s", err);
	job = get_job(f->st, "old-1");
	assert_int_equal(job.status, JOB_RUNNING);
	assert_int_equal(job.timeout_sec, 5);
	/* Columns a v1 row never had read as none. */
	assert_int_equal(job.delivery_timeout_sec, 0);
	assert_string_equal(job.state, "");
	assert_null(job.argv);
	store_job_row_free(&job);
	assert_int_equal(store_job_state(f->st, "old-1", sst), 0);
	assert_string_equal(sst, "");
	assert_int_equal(store_job_each_running(f->st, collect_running, &rs), 0);
	assert_int_equal(rs.n, 1);
	assert_int_equal(rs.last.delivery_timeout_sec, 0);
	assert_false(rs.last.started);
	/* the newest version (5) now, and it stays so when opened again */
	reopen(f);
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	{
		sqlite3_stmt *s;

		assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(s), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(s, 0), LATEST_SCHEMA);
		sqlite3_finalize(s);
	}
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_not_equal(store_open(f->dir, &st2, err, sizeof err), 0);
	assert_non_null(strstr(err, "schema version 99"));
	/* teardown expects an open store */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = " LATEST_SCHEMA_TEXT ";", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	reopen(f);
}

/* Schema v3: a job's argv is stored and comes back as an array; a job
 * without one (and every job of an older database) has no "argv". */
static void test_argv_stored(void **state)
{
	struct fixture *f = *state;
	struct job_spec j = spec("job-argv", "c1", T0), k = spec("job-plain", "c1", T0 + NS);
	json_t *argv = json_pack("[s, s, s]", "/usr/bin/printf", "%s|\n", "a b");
	struct job_row job;

	j.argv = argv;
	j.command = "/usr/bin/printf '%s|\n' 'a b'";
	assert_int_equal(store_job_insert(f->st, &j), 0);
	assert_int_equal(store_job_insert(f->st, &k), 0);
	reopen(f);
	job = get_job(f->st, "job-argv");
	assert_true(json_is_array(job.argv));
	assert_true(json_equal(job.argv, argv));
	assert_string_equal(job.command, j.command);
	store_job_row_free(&job);
	job = get_job(f->st, "job-plain");
	assert_null(job.argv);
	store_job_row_free(&job);
	json_decref(argv);
}

/* ---- migrations from every older version -------------------------------- */

/* What versions 2 and 3 added, as they were released (the v1 schema is
 * schema_v1_snapshot above). Written out here, not taken from migrate.c, so
 * a changed released step shows up as a failing test. */
static const char schema_v2_snapshot[] =
	"ALTER TABLE jobs ADD COLUMN state TEXT;"
	"ALTER TABLE jobs ADD COLUMN delivery_timeout_sec INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state) WHERE state IS NOT NULL;"
	"CREATE TABLE IF NOT EXISTS idempotency ("
	" created_by TEXT NOT NULL,"
	" key TEXT NOT NULL,"
	" jid TEXT NOT NULL,"
	" request_hash TEXT NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" PRIMARY KEY (created_by, key));"
	"CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency (created_at);";
static const char schema_v3_snapshot[] = "ALTER TABLE jobs ADD COLUMN argv TEXT;";
static const char schema_v4_snapshot[] = "ALTER TABLE auditlog ADD COLUMN response TEXT;";

/* A row in every table of version 1. */
static const char data_v1[] =
	"INSERT INTO jobs (jid, multi_job_id, client_id, client_name, status, command, cwd,"
	" interpreter, is_sudo, is_script, timeout_sec, created_by, created_at, started_at,"
	" finished_at, pid, exit_code, error, stdout, stderr, stdout_dropped, stderr_dropped,"
	" kill_on_timeout) VALUES ('old-done', 'old-multi', 'c1', 'host-1', 'successful',"
	" 'uname -a', '/tmp', 'bash', 1, 0, 30, 'admin', 1602775812000000000,"
	" 1602775813000000000, 1602775814000000000, 4242, 0, '', CAST('hello' AS BLOB),"
	" CAST('warn' AS BLOB), 7, 0, 1);"
	"INSERT INTO clients (id, data) VALUES ('c1', '{\"name\":\"host-1\"}');"
	"INSERT INTO multi_jobs (jid, created_at, created_by, data) VALUES ('old-multi',"
	" 1602775812000000000, 'admin', '{\"jid\":\"old-multi\",\"client_ids\":[\"c1\"]}');"
	"INSERT INTO client_groups (id, data) VALUES ('g1', '{\"description\":\"group one\"}');"
	"INSERT INTO tokens (id, data) VALUES ('abcd', '{\"username\":\"admin\"}');"
	"INSERT INTO auditlog (timestamp, username, remote_ip, application, action, affected_id,"
	" client_id, success, request) VALUES (1602775812000000000, 'admin', '127.0.0.1',"
	" 'jobs', 'create', 'old-done', 'c1', 1, '{\"command\":\"uname -a\"}');"
	"INSERT INTO client_auth (id, data) VALUES ('c1', '{\"salt\":\"s\",\"digest\":\"d\"}');"
	"INSERT INTO users (id, data) VALUES ('admin', '{\"groups\":[\"Administrators\"]}');"
	"INSERT INTO user_groups (id, data) VALUES ('Administrators', '{\"permissions\":{}}');";

struct kv_seen {
	int n;
	char id[64];
	char data[256];
};

static void collect_kv(void *ud, const char *id, json_t *rec)
{
	struct kv_seen *k = ud;
	char *text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);

	k->n++;
	util_strlcpy(k->id, id, sizeof k->id);
	util_strlcpy(k->data, text ? text : "", sizeof k->data);
	free(text);
}

static int user_version_of(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	int v = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* The first column of sql's first row, as an int (-1 if none). */
static int pragma_of(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	int v = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static void exec_sql(const char *path, const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : "?");
	sqlite3_close(db);
}

/* Makes f's database a file of schema version `version`, with data in every
 * table, as that version's tetherd left it. */
static void make_old_db(struct fixture *f, int version, char *path, size_t pathlen)
{
	char pragma[64];

	store_close(f->st);
	f->st = NULL;
	snprintf(path, pathlen, "%s/tether.db", f->dir);
	unlink_db(path);
	exec_sql(path, schema_v1_snapshot);
	if (version >= 2)
		exec_sql(path, schema_v2_snapshot);
	if (version >= 3)
		exec_sql(path, schema_v3_snapshot);
	if (version >= 4)
		exec_sql(path, schema_v4_snapshot);
	exec_sql(path, data_v1);
	if (version >= 2) {
		char sql[512];

		snprintf(sql, sizeof sql,
			 "INSERT INTO jobs (jid, client_id, status, command, timeout_sec, created_by,"
			 " created_at, finished_at, state, delivery_timeout_sec) VALUES ('old-unc',"
			 " 'c1', 'unknown', 'date', 5, 'admin', 1602775812000000000,"
			 " 1602775815000000000, 'unconfirmed', 90);"
			 "INSERT INTO idempotency (created_by, key, jid, request_hash, created_at)"
			 " VALUES ('admin', 'k-old', 'old-multi', 'h-old', %lld);",
			 (long long)util_now_ns());
		exec_sql(path, sql);
	}
	if (version >= 3)
		exec_sql(path, "INSERT INTO jobs (jid, client_id, status, command, timeout_sec,"
			       " created_by, created_at, argv) VALUES ('old-argv', 'c1', 'running',"
			       " 'printf x', 5, 'admin', 1602775812000000000,"
			       " '[\"/usr/bin/printf\",\"x\"]');");
	snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d;", version);
	exec_sql(path, pragma);
}

/* What make_old_db wrote reads back through the store unchanged. */
static void check_old_data(struct store *st, int version)
{
	struct kv_seen k;
	struct audit_query aq;
	struct job_row job = get_job(st, "old-done");
	json_t *m = NULL, *audit = NULL;
	char t[TIME_STR_LEN];
	int64_t total;
	char sst[16], jid[UUID_STR_LEN], hash[STORE_IDEM_HASH_LEN];

	assert_int_equal(job.status, JOB_SUCCESSFUL);
	assert_string_equal(job.client_name, "host-1");
	assert_string_equal(job.command, "uname -a");
	assert_string_equal(job.cwd, "/tmp");
	assert_string_equal(job.interpreter, "bash");
	assert_string_equal(job.multi_job_id, "old-multi");
	assert_true(job.is_sudo);
	assert_true(job.kill_on_timeout);
	assert_true(job.has_pid);
	assert_int_equal(job.pid, 4242);
	assert_true(job.has_exit_code);
	assert_int_equal(job.exit_code, 0);
	time_str(job.started_at, t);
	assert_string_equal(t, "2020-10-15T15:30:13.000000000Z");
	assert_bytes(job.stdout_data, job.stdout_len, "hello", 5);
	assert_bytes(job.stderr_data, job.stderr_len, "warn", 4);
	assert_int_equal(job.stdout_dropped, 7);
	assert_null(job.argv);
	store_job_row_free(&job);
	assert_int_equal(store_job_state(st, "old-done", sst), 0);
	assert_string_equal(sst, "");

	assert_int_equal(store_multi_get(st, "old-multi", &m), 0);
	assert_string_equal(jstr(m, "jid"), "old-multi");
	json_decref(m);
	memset(&k, 0, sizeof k);
	assert_int_equal(store_client_each(st, collect_kv, &k), 0);
	assert_int_equal(k.n, 1);
	assert_string_equal(k.data, "{\"name\":\"host-1\"}");
	memset(&k, 0, sizeof k);
	assert_int_equal(store_group_each(st, collect_kv, &k), 0);
	assert_int_equal(k.n, 1);
	assert_string_equal(k.id, "g1");
	memset(&k, 0, sizeof k);
	assert_int_equal(store_token_each(st, collect_kv, &k), 0);
	assert_int_equal(k.n, 1);
	assert_string_equal(k.data, "{\"username\":\"admin\"}");
	memset(&k, 0, sizeof k);
	assert_int_equal(store_cred_each(st, collect_kv, &k), 0);
	assert_int_equal(k.n, 1);
	assert_string_equal(k.data, "{\"digest\":\"d\",\"salt\":\"s\"}");
	memset(&k, 0, sizeof k);
	assert_int_equal(store_kv_each(st, "users", collect_kv, &k), 0);
	assert_int_equal(k.n, 1);
	assert_string_equal(k.id, "admin");
	memset(&k, 0, sizeof k);
	assert_int_equal(store_kv_each(st, "user_groups", collect_kv, &k), 0);
	assert_int_equal(k.n, 1);
	assert_string_equal(k.id, "Administrators");

	memset(&aq, 0, sizeof aq);
	aq.filters[0].field = "affected_id";
	aq.filters[0].value = "old-done";
	aq.nfilters = 1;
	aq.limit = 10;
	assert_int_equal(store_audit_query(st, &aq, &audit, &total), 0);
	assert_int_equal(total, 1);
	assert_string_equal(jstr(json_array_get(audit, 0), "affected_id"), "old-done");
	assert_string_equal(jstr(jget(json_array_get(audit, 0), "request"), "command"), "uname -a");
	assert_true(json_is_null(jget(json_array_get(audit, 0), "response")));
	json_decref(audit);

	if (version >= 2) {
		assert_int_equal(store_job_state(st, "old-unc", sst), 0);
		assert_string_equal(sst, "unconfirmed");
		assert_int_equal(store_idem_get(st, "admin", "k-old", jid, hash), 0);
		assert_string_equal(jid, "old-multi");
		assert_string_equal(hash, "h-old");
	}
	if (version >= 3) {
		job = get_job(st, "old-argv");
		assert_int_equal(json_array_size(job.argv), 2);
		assert_string_equal(json_string_value(json_array_get(job.argv, 0)),
				    "/usr/bin/printf");
		store_job_row_free(&job);
	}
}

struct sched_seen {
	int n;
	int64_t last_slot;
	char name[32];
};

static void sched_one(void *ud, const char *id, int64_t last_slot, json_t *rec)
{
	struct sched_seen *s = ud;

	(void)id;
	s->n++;
	s->last_slot = last_slot;
	snprintf(s->name, sizeof s->name, "%s", json_string_value(json_object_get(rec, "name")));
}

/* What version 6 added: library entries (names unique per kind), schedules
 * and a job's schedule_id. */
static void check_v6(struct store *st)
{
	json_t *a = json_pack("{s:s, s:s}", "name", "a", "text", "uptime"), *got = NULL;
	struct sched_seen ss = { 0, 0, "" };
	struct job_spec j;
	struct job_row row;

	assert_int_equal(store_library_put(st, "L1", "command", "a", T0, a), 0);
	assert_int_equal(store_library_put(st, "L2", "command", "a", T0, a), TE_EXISTS);
	assert_int_equal(store_library_put(st, "L3", "script", "a", T0, a), 0);
	assert_int_equal(store_library_get(st, "command", "L1", &got), 0);
	assert_string_equal(json_string_value(json_object_get(got, "text")), "uptime");
	json_decref(got);
	assert_int_equal(store_library_get(st, "script", "L1", &got), TE_NOTFOUND);
	assert_int_equal(store_library_list(st, "command", &got), 0);
	assert_int_equal(json_array_size(got), 1);
	json_decref(got);
	assert_int_equal(store_library_delete(st, "command", "L1"), 0);
	assert_int_equal(store_library_delete(st, "command", "L1"), TE_NOTFOUND);
	assert_int_equal(store_library_delete(st, "script", "L3"), 0);
	assert_int_equal(store_schedule_put(st, "S1", T0, T0 + 5, a), 0);
	assert_int_equal(store_schedule_put(st, "S1", T0, T0 + 9, a), 0);
	assert_int_equal(store_schedule_each(st, sched_one, &ss), 0);
	assert_int_equal(ss.n, 1);
	assert_int_equal(ss.last_slot, T0 + 9);
	assert_string_equal(ss.name, "a");
	assert_int_equal(store_schedule_delete(st, "S1"), 0);
	assert_int_equal(store_schedule_delete(st, "S1"), TE_NOTFOUND);
	json_decref(a);
	memset(&j, 0, sizeof j);
	snprintf(j.jid, sizeof j.jid, "v5-sched");
	j.client_id = "c1";
	j.command = "date";
	j.created_by = "admin";
	j.created_at = T0;
	j.timeout_sec = 5;
	j.schedule_id = "S1";
	assert_int_equal(store_job_insert(st, &j), 0);
	assert_int_equal(store_job_get(st, "v5-sched", &row), 0);
	assert_string_equal(row.schedule_id, "S1");
	store_job_row_free(&row);
	assert_int_equal(store_job_get(st, "old-done", &row), 0);
	assert_null(row.schedule_id);
	store_job_row_free(&row);
}

/* Schema v8: the TAT dialect's id map (filtered, newest first, paged, by
 * creator), its key pairs (per user), and a job's run-as user. */
static void tat_rows_read(void *ud, int rc, json_t *rows, int64_t total)
{
	json_t **out = ud;

	assert_int_equal(rc, 0);
	json_object_set_new(*out, "total", json_integer(total));
	json_object_set_new(*out, "rows", rows);
}

static void test_tat_tables(void **state)
{
	struct fixture *f = *state;
	struct tat_id_row a = { "inv-aaaaaaaa", "inv", "core-1", "cmd-11111111", "", "alice", T0 };
	struct tat_id_row b = { "inv-bbbbbbbb", "inv", "core-2", "cmd-22222222", "", "bob", T0 + NS };
	struct tat_id_row t1 = { "invt-aaaaaaa1", "invt", "core-1", "inv-aaaaaaaa", "c1", "alice", T0 };
	struct tat_id_row t2 = { "invt-aaaaaaa2", "invt", "core-1", "inv-aaaaaaaa", "c2", "alice", T0 };
	struct tat_id_query q;
	struct job_spec j = spec("job-runas", "c1", T0);
	struct job_row row;
	json_t *rows = NULL, *out = json_object();
	int64_t total = 0;

	assert_int_equal(store_tat_id_put(f->st, &a), 0);
	assert_int_equal(store_tat_id_put(f->st, &b), 0);
	assert_int_equal(store_tat_id_put(f->st, &t1), 0);
	assert_int_equal(store_tat_id_put(f->st, &t2), 0);
	assert_int_equal(store_tat_id_put(f->st, &a), TE_EXISTS);
	memset(&q, 0, sizeof q);
	q.kind = "inv";
	q.limit = 10;
	assert_int_equal(store_tat_id_query(f->st, &q, &rows, &total), 0);
	assert_int_equal(total, 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "id")),
			    "inv-bbbbbbbb");
	json_decref(rows);
	q.created_by = "alice";
	q.parents[q.nparents++] = "cmd-11111111";
	assert_int_equal(store_tat_id_query(f->st, &q, &rows, &total), 0);
	assert_int_equal(total, 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "core_id")),
			    "core-1");
	json_decref(rows);
	memset(&q, 0, sizeof q);
	q.kind = "invt";
	q.parents[q.nparents++] = "inv-aaaaaaaa";
	q.client_ids[q.nclient_ids++] = "c2";
	q.limit = 10;
	store_read_tat_ids(f->st, &q, tat_rows_read, &out);
	assert_int_equal(json_integer_value(json_object_get(out, "total")), 1);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(out, "rows"), 0), "id")),
			    "invt-aaaaaaa2");
	json_decref(out);
	q.limit = 1;
	q.offset = 1;
	q.nclient_ids = 0;
	assert_int_equal(store_tat_id_query(f->st, &q, &rows, &total), 0);
	assert_int_equal(total, 2);
	assert_int_equal(json_array_size(rows), 1);
	json_decref(rows);
	/* key pairs: only their owner deletes them */
	assert_int_equal(store_tat_key_put(f->st, "AKID1", "alice", "sealed", T0), 0);
	assert_int_equal(store_tat_key_put(f->st, "AKID1", "bob", "sealed", T0), TE_EXISTS);
	assert_int_equal(store_tat_key_delete(f->st, "AKID1", "bob"), TE_NOTFOUND);
	assert_int_equal(store_tat_key_delete(f->st, "AKID1", "alice"), 0);
	assert_int_equal(store_tat_key_delete(f->st, "AKID1", NULL), TE_NOTFOUND);
	/* a job's run-as user comes back; none is "" */
	j.run_as = "deploy";
	assert_int_equal(store_job_insert(f->st, &j), 0);
	assert_int_equal(store_job_get(f->st, "job-runas", &row), 0);
	assert_string_equal(row.run_as, "deploy");
	store_job_row_free(&row);
	j = spec("job-plain-v5", "c1", T0);
	assert_int_equal(store_job_insert(f->st, &j), 0);
	assert_int_equal(store_job_get(f->st, "job-plain-v5", &row), 0);
	assert_string_equal(row.run_as, "");
	store_job_row_free(&row);
}

/* A database of each older schema version (1 to 4), with a row in every
 * table, opens: it reaches the current version, every row reads back as
 * it was, and what the later versions added works on it. An older file
 * (made without auto_vacuum) comes out with incremental vacuum on. */
static void test_migrate_every_older_version(void **state)
{
	struct fixture *f = *state;

	for (int version = 1; version <= 4; version++) {
		char path[128], err[256] = "";
		json_t *audit = NULL;
		struct audit_query aq;
		int64_t total;

		make_old_db(f, version, path, sizeof path);
		if (store_open(f->dir, &f->st, err, sizeof err))
			fail_msg("open v%d: %s", version, err);
		check_old_data(f->st, version);
		/* version 4's column: an audit record's response */
		struct store_audit_row row = { T0 + NS, "admin", "::1", "jobs", "create", "new",
					       "c1", true, NULL, "{\"jid\":\"new\"}" };

		assert_int_equal(store_audit_put(f->st, &row), 0);
		memset(&aq, 0, sizeof aq);
		aq.desc = true;
		aq.limit = 1;
		assert_int_equal(store_audit_query(f->st, &aq, &audit, &total), 0);
		assert_int_equal(total, 2);
		assert_string_equal(jstr(jget(json_array_get(audit, 0), "response"), "jid"), "new");
		json_decref(audit);
		store_close(f->st);
		f->st = NULL;
		assert_int_equal(user_version_of(path), LATEST_SCHEMA);
		/* version 6: the library, schedules and a job's schedule_id */
		assert_int_equal(pragma_of(path, "PRAGMA auto_vacuum"), 2);
		assert_int_equal(pragma_of(path, "SELECT count(*) FROM sqlite_master"
					   " WHERE name = 'jobs_created'"), 1);
		/* version 11: a multi job's children in creation order */
		assert_int_equal(pragma_of(path, "SELECT count(*) FROM sqlite_master"
					   " WHERE name = 'jobs_multi_created'"), 1);
		reopen(f);
		check_old_data(f->st, version);
		check_v6(f->st);
	}
}

/* A database one version newer than this program is refused with a
 * message that says why, and is left as it was: same version, same rows. */
static void test_migrate_refuses_the_next_version(void **state)
{
	struct fixture *f = *state;
	char path[128], err[256] = "";
	struct store *st2 = NULL;

	make_old_db(f, 3, path, sizeof path);
	reopen(f);
	store_close(f->st);
	f->st = NULL;
	exec_sql(path, "PRAGMA user_version = 14;");
	assert_int_not_equal(store_open(f->dir, &st2, err, sizeof err), 0);
	assert_null(st2);
	assert_non_null(strstr(err, "schema version 14"));
	assert_non_null(strstr(err, "newer than this tetherd"));
	assert_non_null(strstr(err, "versions up to 13"));
	assert_int_equal(user_version_of(path), 14);
	exec_sql(path, "PRAGMA user_version = " LATEST_SCHEMA_TEXT ";");
	reopen(f);
	check_old_data(f->st, 3);
}

/* ---- reads that complete through a callback ----------------------------- */

struct read_seen {
	int calls;
	int rc;
	json_t *result;
	int64_t total;
	struct store *st;        /* set: the callback calls into the store */
	char status[16];
};

static void read_cb(void *ud, int rc, json_t *result, int64_t total)
{
	struct read_seen *r = ud;
	char cid[64];

	r->calls++;
	r->rc = rc;
	json_decref(r->result);  /* a second call would otherwise leak */
	r->result = result;
	r->total = total;
	if (r->st && store_job_status(r->st, "job-r1", cid, sizeof cid, r->status))
		r->status[0] = '\0';
}

/* What a job read's callback saw: whether each row it was lent equals the
 * synchronous read's (want), and whether it could call into the store. */
struct job_read_seen {
	int calls;
	int rc;
	bool got;               /* a row or rows came */
	bool equal;             /* ...equal to want */
	int64_t total;
	const struct job_rows *want;
	struct store *st;
	char status[16];
};

static void job_read_status(struct job_read_seen *r)
{
	char cid[64];

	if (r->st && store_job_status(r->st, "job-r1", cid, sizeof cid, r->status))
		r->status[0] = '\0';
}

static void job_read_cb(void *ud, int rc, struct job_row *row)
{
	struct job_read_seen *r = ud;

	r->calls++;
	r->rc = rc;
	r->got = row != NULL;
	r->equal = row && r->want && r->want->n == 1 && rows_equal(row, &r->want->row[0]);
	r->total = row ? 1 : 0;
	job_read_status(r);
}

static void jobs_read_cb(void *ud, int rc, struct job_rows *rows)
{
	struct job_read_seen *r = ud;

	r->calls++;
	r->rc = rc;
	r->got = rows != NULL;
	r->total = rows ? rows->total : 0;
	r->equal = rows && r->want && rows->n == r->want->n && rows->total == r->want->total;
	for (size_t i = 0; r->equal && i < rows->n; i++)
		r->equal = rows_equal(&rows->row[i], &r->want->row[i]);
	job_read_status(r);
}

/* Clears r for the next read and returns what it held (to free its result). */
static struct read_seen read_seen_reset(struct read_seen *r)
{
	struct read_seen old = *r;

	memset(r, 0, sizeof *r);
	return old;
}

/* Each callback form answers what its synchronous form answers, through
 * exactly one call of cb made before it returns (SQLite), and may call into
 * the store from cb. */
static void test_read_callbacks_match_the_sync_reads(void **state)
{
	struct fixture *f = *state;
	struct job_spec a = spec("job-r1", "c1", T0), b = spec("job-r2", "c1", T0 + NS);
	struct job_query q;
	struct audit_query aq;
	struct read_seen r = { 0 };
	struct job_read_seen jr = { 0 };
	struct job_row one;
	struct job_rows want_rows = { 0 };
	json_t *multi = json_pack("{s:s, s:[s]}", "jid", "m-r1", "client_ids", "c1");
	json_t *want = NULL;
	int64_t total = -1;

	a.multi_job_id = "m-r1";
	b.multi_job_id = "m-r1";
	assert_int_equal(store_job_insert(f->st, &a), 0);
	assert_int_equal(store_job_insert(f->st, &b), 0);
	assert_int_equal(store_multi_put(f->st, "m-r1", T0, "admin", multi), 0);
	for (int i = 0; i < 3; i++) {
		struct store_audit_row row = { T0 + i * NS, i ? "bob" : "admin", "127.0.0.1",
					       "jobs", "create", "job-r1", "c1", true, NULL, NULL };

		assert_int_equal(store_audit_put(f->st, &row), 0);
	}

	jr.st = f->st;
	want_rows.n = 1;
	want_rows.row = &one;
	assert_int_equal(store_job_get(f->st, "job-r1", &one), 0);
	jr.want = &want_rows;
	store_read_job(f->st, "job-r1", job_read_cb, &jr);
	assert_int_equal(jr.calls, 1);
	assert_int_equal(jr.rc, 0);
	assert_true(jr.got);
	assert_int_equal(jr.total, 1);
	assert_string_equal(jr.status, "running");
	assert_true(jr.equal);
	store_job_row_free(&one);

	memset(&want_rows, 0, sizeof want_rows);
	memset(&jr, 0, sizeof jr);
	memset(&q, 0, sizeof q);
	q.limit = 1;
	assert_int_equal(store_job_query(f->st, "multi_job_id", "m-r1", &q, -1, &want_rows), 0);
	assert_int_equal(want_rows.total, 2);
	assert_int_equal(want_rows.n, 1);
	jr.want = &want_rows;
	jr.st = f->st;
	store_read_job_query(f->st, "multi_job_id", "m-r1", &q, -1, jobs_read_cb, &jr);
	assert_int_equal(jr.calls, 1);
	assert_int_equal(jr.rc, 0);
	assert_int_equal(jr.total, 2);
	assert_true(jr.equal);
	assert_string_equal(jr.status, "running");
	store_job_rows_free(&want_rows);

	memset(&aq, 0, sizeof aq);
	aq.filters[0].field = "username";
	aq.filters[0].value = "bob";
	aq.nfilters = 1;
	aq.desc = true;
	aq.limit = 10;
	store_read_audit_query(f->st, &aq, read_cb, &r);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.rc, 0);
	assert_int_equal(store_audit_query(f->st, &aq, &want, &total), 0);
	assert_int_equal(r.total, 2);
	assert_int_equal(r.total, total);
	assert_true(json_equal(r.result, want));
	json_decref(want);
	json_decref(read_seen_reset(&r).result);

	store_read_multi(f->st, "m-r1", read_cb, &r);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.total, 1);
	assert_true(json_equal(r.result, multi));
	json_decref(read_seen_reset(&r).result);
	json_decref(multi);
}

/* A read that fails calls cb once with the synchronous form's error code,
 * no result and total 0. */
static void test_read_callbacks_pass_errors(void **state)
{
	struct fixture *f = *state;
	struct job_query q;
	struct audit_query aq;
	struct read_seen r = { 0 };
	struct job_read_seen jr = { 0 };
	struct job_rows rows;
	json_t *out = NULL;
	int64_t total;

	store_read_job(f->st, "no-such-job", job_read_cb, &jr);
	assert_int_equal(jr.calls, 1);
	assert_int_equal(jr.rc, TE_NOTFOUND);
	assert_false(jr.got);
	assert_int_equal(jr.total, 0);
	memset(&jr, 0, sizeof jr);

	store_read_multi(f->st, "no-such-multi", read_cb, &r);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.rc, TE_NOTFOUND);
	assert_null(r.result);
	read_seen_reset(&r);

	/* A column no whitelist has: the query cannot be prepared. */
	memset(&q, 0, sizeof q);
	q.filters[0].column = "no_such_column";
	q.filters[0].op = QOP_EQ;
	q.filters[0].values[0] = (char *)"x";
	q.filters[0].nvalues = 1;
	q.nfilters = 1;
	q.limit = 10;
	assert_int_equal(store_job_query(f->st, "client_id", "c1", &q, -1, &rows), TE_IO);
	store_read_job_query(f->st, "client_id", "c1", &q, -1, jobs_read_cb, &jr);
	assert_int_equal(jr.calls, 1);
	assert_int_equal(jr.rc, TE_IO);
	assert_false(jr.got);
	assert_int_equal(jr.total, 0);

	memset(&aq, 0, sizeof aq);
	aq.filters[0].field = "no_such_field";
	aq.filters[0].value = "x";
	aq.nfilters = 1;
	aq.limit = 10;
	assert_int_equal(store_audit_query(f->st, &aq, &out, &total), TE_IO);
	store_read_audit_query(f->st, &aq, read_cb, &r);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.rc, TE_IO);
	assert_null(r.result);
	assert_int_equal(r.total, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_db, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_creates_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_fails_cleanly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_children_through_an_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoints_off_the_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_insert_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_insert_all_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_insert_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_started, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finish, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finish_sets_pid_and_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finish_without_exit_code, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finish_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finish_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_clients_job, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binary_output, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_with_nul, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_output, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dropped_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_output_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_keeps_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_without_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pacing_serial_writes_commit_at_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_callbacks_follow_the_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quiet_store_syncs_on_the_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reads_wait_for_the_callbacks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pacing_batches_under_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verdicts_give_way_to_the_agent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idempotency_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_from_v1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_argv_stored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tat_tables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_every_older_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_refuses_the_next_version, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_read_callbacks_match_the_sync_reads, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_read_callbacks_pass_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
