/* Unit tests for the store's retention purge (store/purge.c). */
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
#include <sqlite3.h>

#include "store/store.h"
#include "util.h"

#define NS 1000000000LL
#define T0 (1602775812LL * NS)

struct fixture {
	char dir[64];
	struct store *st;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	char err[256] = "";

	if (!f)
		return -1;
	util_strlcpy(f->dir, "/tmp/tether-test-purge-XXXXXX", sizeof f->dir);
	if (!mkdtemp(f->dir) || store_open(f->dir, &f->st, err, sizeof err)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	store_close(f->st);
	snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
	if (system(cmd))
		return -1;
	free(f);
	return 0;
}

/* A job of client, created at t; finished unless running. */
static void add_job(struct store *st, const char *jid, const char *client, int64_t t,
		    const char *multi, bool running)
{
	struct job_spec j;
	struct job_result r;

	memset(&j, 0, sizeof j);
	util_strlcpy(j.jid, jid, sizeof j.jid);
	j.multi_job_id = multi;
	j.client_id = client;
	j.client_name = client;
	j.command = "date";
	j.cwd = "";
	j.interpreter = "";
	j.timeout_sec = 60;
	j.created_by = "admin";
	j.created_at = t;
	assert_int_equal(store_job_insert(st, &j), 0);
	if (running)
		return;
	memset(&r, 0, sizeof r);
	r.status = JOB_SUCCESSFUL;
	r.has_exit_code = true;
	r.error = "";
	r.stdout_data = "0123456789abcdef0123456789abcdef0123456789abcdef";
	r.stdout_len = strlen(r.stdout_data);
	r.stderr_data = "";
	r.finished_at = t + NS;
	assert_int_equal(store_job_finish(st, jid, client, &r), 0);
}

static bool has_job(struct store *st, const char *jid)
{
	struct job_row r;
	int rc;

	memset(&r, 0, sizeof r);
	rc = store_job_get(st, jid, &r);
	if (!rc)
		store_job_row_free(&r);
	return rc == 0;
}

static bool has_multi(struct store *st, const char *jid)
{
	json_t *m = NULL;
	int rc = store_multi_get(st, jid, &m);

	json_decref(m);
	return rc == 0;
}

static void put_multi(struct store *st, const char *jid, bool finished)
{
	json_t *d = json_pack("{s:s, s:s?}", "jid", jid, "finished_at",
			      finished ? "2020-10-15T15:30:14Z" : NULL);

	assert_int_equal(store_multi_put(st, jid, T0, "admin", d), 0);
	json_decref(d);
}

struct done {
	int calls, rc;
	struct store_purge_result res;
};

static void on_done(void *ud, int rc, const struct store_purge_result *res)
{
	struct done *d = ud;

	d->calls++;
	d->rc = rc;
	d->res = *res;
}

static struct done purge(struct store *st, int64_t cap, int64_t before)
{
	struct store_purge_policy p = { cap, before };
	struct done d = { 0 };

	assert_int_equal(store_purge_start(st, &p, on_done, &d), 0);
	assert_int_equal(d.calls, 1);   /* no loop: done before the call returns */
	assert_int_equal(d.rc, 0);
	return d;
}

/* Each client keeps its newest N jobs (ties by jid, as the lists sort);
 * another client's are not counted; running jobs are never purged. */
static void test_cap_per_client(void **state)
{
	struct fixture *f = *state;
	char jid[16];
	struct done d;

	for (int i = 0; i < 10; i++) {
		snprintf(jid, sizeof jid, "a%02d", i);
		add_job(f->st, jid, "ca", T0 + i * NS, NULL, i == 1);
	}
	add_job(f->st, "b00", "cb", T0, NULL, false);
	add_job(f->st, "b01", "cb", T0 + NS, NULL, false);
	/* two jobs created at the same instant: the lists put a05x after a05 */
	add_job(f->st, "a05x", "ca", T0 + 5 * NS, NULL, false);
	d = purge(f->st, 5, 0);
	/* newest five of ca: a09 a08 a07 a06 a05; a05x, a04.. go; a01 runs */
	for (int i = 5; i < 10; i++) {
		snprintf(jid, sizeof jid, "a%02d", i);
		assert_true(has_job(f->st, jid));
	}
	assert_false(has_job(f->st, "a05x"));
	for (int i = 0; i < 5; i++) {
		snprintf(jid, sizeof jid, "a%02d", i);
		assert_int_equal(has_job(f->st, jid), i == 1);
	}
	assert_true(has_job(f->st, "b00"));
	assert_true(has_job(f->st, "b01"));
	assert_int_equal(d.res.jobs, 5);
	/* again: nothing more */
	d = purge(f->st, 5, 0);
	assert_int_equal(d.res.jobs, 0);
}

/* Jobs created before the cut go, newer ones stay; a cap of 0 is none. */
static void test_age(void **state)
{
	struct fixture *f = *state;
	struct done d;

	add_job(f->st, "old1", "c1", T0, NULL, false);
	add_job(f->st, "old2", "c2", T0 + NS, NULL, false);
	add_job(f->st, "old-running", "c2", T0, NULL, true);
	add_job(f->st, "new1", "c1", T0 + 100 * NS, NULL, false);
	d = purge(f->st, 0, T0 + 50 * NS);
	assert_int_equal(d.res.jobs, 2);
	assert_false(has_job(f->st, "old1"));
	assert_false(has_job(f->st, "old2"));
	assert_true(has_job(f->st, "old-running"));
	assert_true(has_job(f->st, "new1"));
}

/* A finished multi job goes with its last job; one that keeps a job stays;
 * an unfinished one keeps all its jobs. */
static void test_multi(void **state)
{
	struct fixture *f = *state;

	put_multi(f->st, "m-all", true);
	add_job(f->st, "m-all-1", "c1", T0, "m-all", false);
	add_job(f->st, "m-all-2", "c2", T0, "m-all", false);
	put_multi(f->st, "m-part", true);
	add_job(f->st, "m-part-1", "c1", T0, "m-part", false);
	add_job(f->st, "m-part-2", "c2", T0 + 100 * NS, "m-part", false);
	put_multi(f->st, "m-open", false);
	add_job(f->st, "m-open-1", "c1", T0, "m-open", false);
	/* a finished multi job with no job at all was not emptied by a purge */
	put_multi(f->st, "m-none", true);
	purge(f->st, 0, T0 + 50 * NS);
	assert_false(has_job(f->st, "m-all-1"));
	assert_false(has_job(f->st, "m-all-2"));
	assert_false(has_multi(f->st, "m-all"));
	assert_false(has_job(f->st, "m-part-1"));
	assert_true(has_job(f->st, "m-part-2"));
	assert_true(has_multi(f->st, "m-part"));
	assert_true(has_job(f->st, "m-open-1"));
	assert_true(has_multi(f->st, "m-open"));
	assert_true(has_multi(f->st, "m-none"));
}

static int64_t file_pages(const char *dir, const char *pragma)
{
	char path[128];
	sqlite3 *db;
	sqlite3_stmt *s;
	int64_t v = -1;

	snprintf(path, sizeof path, "%s/tether.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, pragma, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* Many jobs in many batches; the freed pages leave the file. */
static void test_many_and_vacuum(void **state)
{
	struct fixture *f = *state;
	char jid[16];
	struct done d;
	int64_t before, after;

	for (int i = 0; i < 5000; i++) {
		snprintf(jid, sizeof jid, "j%05d", i);
		add_job(f->st, jid, i % 2 ? "c1" : "c2", T0 + i * NS, NULL, false);
	}
	before = file_pages(f->dir, "PRAGMA page_count");
	d = purge(f->st, 100, 0);
	assert_int_equal(d.res.jobs, 4800);
	assert_true(d.res.batches > 2);
	assert_true(d.res.pages > 0);
	assert_int_equal(file_pages(f->dir, "PRAGMA freelist_count"), 0);
	after = file_pages(f->dir, "PRAGMA page_count");
	assert_true(after < before / 2);
	assert_true(has_job(f->st, "j04999"));
	assert_false(has_job(f->st, "j04000"));
}

/* One purge at a time. */
static void test_one_at_a_time(void **state)
{
	struct fixture *f = *state;
	struct store_purge_policy p = { 10, 0 };

	assert_false(store_purge_running(f->st));
	purge(f->st, 10, 0);
	assert_false(store_purge_running(f->st));
	assert_int_equal(store_purge_start(f->st, &p, NULL, NULL), 0);
	store_purge_stop(f->st);      /* nothing running: a no-op */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cap_per_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_age, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_and_vacuum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_at_a_time, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
