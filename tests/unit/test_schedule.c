/* Unit tests for the schedules' new parts: when a schedule is due
 * (schedule_next_slot: enabled, once_at, cron in a fixed-offset zone) and
 * the run records in the store (added, bounded per schedule, finished,
 * read newest first with paging, gone with their schedule). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/cron.h"
#include "core/schedule.h"
#include "store/store.h"
#include "util.h"

/* 2021-03-04T05:06:00Z, a minute's start. */
#define T 1614834360LL

static struct cron_expr parsed(const char *text)
{
	struct cron_expr c;
	char err[200];

	assert_int_equal(cron_parse(text, &c, err, sizeof err), 0);
	return c;
}

static void test_cron_slots(void **state)
{
	struct cron_expr c = parsed("*/10 * * * *");
	json_t *rec = json_pack("{s:s}", "cron", "*/10 * * * *");

	(void)state;
	assert_int_equal(schedule_next_slot(rec, &c, T), T + 4 * 60);
	assert_int_equal(schedule_next_slot(rec, &c, T + 4 * 60), T + 14 * 60);
	/* enabled true is the default's behaviour */
	json_object_set_new(rec, "enabled", json_true());
	assert_int_equal(schedule_next_slot(rec, &c, T), T + 4 * 60);
	/* no cron: never */
	assert_int_equal(schedule_next_slot(rec, NULL, T), -1);
	json_decref(rec);
}

static void test_disabled_never_runs(void **state)
{
	struct cron_expr c = parsed("* * * * *");
	json_t *rec = json_pack("{s:s, s:b}", "cron", "* * * * *", "enabled", 0);

	(void)state;
	assert_int_equal(schedule_next_slot(rec, &c, T), -1);
	json_object_set_new(rec, "once_at", json_string("2021-03-04T05:07:00Z"));
	assert_int_equal(schedule_next_slot(rec, NULL, T), -1);
	json_decref(rec);
}

static void test_once_runs_once(void **state)
{
	json_t *rec = json_pack("{s:s, s:s}", "cron", "", "once_at", "2021-03-04T05:07:30Z");

	(void)state;
	assert_int_equal(schedule_next_slot(rec, NULL, T), T + 90);
	assert_int_equal(schedule_next_slot(rec, NULL, T + 89), T + 90);
	/* handled up to its time: never again */
	assert_int_equal(schedule_next_slot(rec, NULL, T + 90), -1);
	assert_int_equal(schedule_next_slot(rec, NULL, T + 86400), -1);
	/* an offset is the same instant */
	json_object_set_new(rec, "once_at", json_string("2021-03-04T13:07:30+08:00"));
	assert_int_equal(schedule_next_slot(rec, NULL, T), T + 90);
	/* not a time: never */
	json_object_set_new(rec, "once_at", json_string("soon"));
	assert_int_equal(schedule_next_slot(rec, NULL, T), -1);
	json_decref(rec);
}

static void test_cron_in_a_fixed_offset_zone(void **state)
{
	/* 09:00 in UTC+8 is 01:00 UTC */
	struct cron_expr c = parsed("0 9 * * *");
	json_t *rec = json_pack("{s:s, s:i}", "cron", "0 9 * * *", "cron_offset_sec", 8 * 3600);
	int64_t day = T - T % 86400;

	(void)state;
	assert_int_equal(schedule_next_slot(rec, &c, T), day + 86400 + 3600);
	json_object_set_new(rec, "cron_offset_sec", json_integer(0));
	assert_int_equal(schedule_next_slot(rec, &c, T), day + 9 * 3600);
	json_decref(rec);
}

/* ---- run records ---------------------------------------------------- */

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
	util_strlcpy(f->dir, "/tmp/tether-test-schedule-XXXXXX", sizeof f->dir);
	if (!mkdtemp(f->dir) || store_open(f->dir, &f->st, err, sizeof err)) {
		print_error("store_open: %s\n", err);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	DIR *d;
	struct dirent *e;

	store_close(f->st);
	if ((d = opendir(f->dir))) {
		while ((e = readdir(d))) {
			char p[512];

			if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
				snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name);
				unlink(p);
			}
		}
		closedir(d);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static void add(struct store *st, const char *sid, int64_t at, const char *mj,
		const char *result, const char *reason, int64_t keep)
{
	struct schedule_run_row r = { sid, at, mj, result, reason, 2, 0, 0 };

	assert_int_equal(store_schedule_run_add(st, &r, keep), 0);
}

static json_t *query(struct store *st, const char *sid, int64_t limit, int64_t offset,
		     int64_t *total)
{
	const char *ids[1] = { sid };
	json_t *out = NULL;

	assert_int_equal(store_schedule_runs_query(st, ids, 1, limit, offset, &out, total), 0);
	return out;
}

static int64_t at_of(const json_t *arr, size_t i)
{
	return json_integer_value(json_object_get(json_array_get(arr, i), "at"));
}

static void test_records_added_read_and_finished(void **state)
{
	struct fixture *f = *state;
	const char *both[2] = { "s1", "s2" };
	json_t *out, *r;
	int64_t total;

	add(f->st, "s1", 100, "mj-1", "running", NULL, 1000);
	add(f->st, "s1", 200, NULL, "refused", "no permission", 1000);
	add(f->st, "s2", 150, "mj-2", "running", "", 1000);
	out = query(f->st, "s1", 10, 0, &total);
	assert_int_equal(total, 2);
	assert_int_equal(json_array_size(out), 2);
	/* newest first */
	assert_int_equal(at_of(out, 0), 200);
	r = json_array_get(out, 0);
	assert_string_equal(json_string_value(json_object_get(r, "result")), "refused");
	assert_string_equal(json_string_value(json_object_get(r, "reason")), "no permission");
	assert_true(json_is_null(json_object_get(r, "multi_job_id")));
	json_decref(out);

	assert_int_equal(store_schedule_run_finish(f->st, "mj-1", "successful", 2, 0), 0);
	out = query(f->st, "s1", 1, 1, &total);
	assert_int_equal(total, 2);
	assert_int_equal(json_array_size(out), 1);
	r = json_array_get(out, 0);
	assert_string_equal(json_string_value(json_object_get(r, "multi_job_id")), "mj-1");
	assert_string_equal(json_string_value(json_object_get(r, "result")), "successful");
	assert_int_equal(json_integer_value(json_object_get(r, "success_count")), 2);
	assert_int_equal(json_integer_value(json_object_get(r, "client_count")), 2);
	json_decref(out);

	/* several schedules at once, and none */
	assert_int_equal(store_schedule_runs_query(f->st, both, 2, 10, 0, &out, &total), 0);
	assert_int_equal(total, 3);
	assert_int_equal(at_of(out, 0), 150);   /* the newest added */
	json_decref(out);
	assert_int_equal(store_schedule_runs_query(f->st, both, 0, 10, 0, &out, &total), 0);
	assert_int_equal(total, 0);
	assert_int_equal(json_array_size(out), 0);
	json_decref(out);
}

static void test_records_bounded_per_schedule(void **state)
{
	struct fixture *f = *state;
	json_t *out;
	int64_t total;

	for (int i = 0; i < 25; i++)
		add(f->st, "s1", 1000 + i, NULL, "refused", "x", 10);
	add(f->st, "s2", 5, NULL, "refused", "x", 10);
	out = query(f->st, "s1", 100, 0, &total);
	assert_int_equal(total, 10);
	assert_int_equal(at_of(out, 0), 1024);
	assert_int_equal(at_of(out, 9), 1015);
	json_decref(out);
	/* another schedule's are its own */
	out = query(f->st, "s2", 100, 0, &total);
	assert_int_equal(total, 1);
	json_decref(out);
}

static void test_records_go_with_their_schedule(void **state)
{
	struct fixture *f = *state;
	json_t *rec = json_pack("{s:s}", "name", "x"), *out;
	int64_t total;

	assert_int_equal(store_schedule_put(f->st, "s1", 1, 1, rec), 0);
	add(f->st, "s1", 100, "mj-1", "running", NULL, 1000);
	add(f->st, "s2", 100, "mj-2", "running", NULL, 1000);
	assert_int_equal(store_schedule_delete(f->st, "s1"), 0);
	out = query(f->st, "s1", 10, 0, &total);
	assert_int_equal(total, 0);
	json_decref(out);
	out = query(f->st, "s2", 10, 0, &total);
	assert_int_equal(total, 1);
	json_decref(out);
	json_decref(rec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cron_slots),
		cmocka_unit_test(test_disabled_never_runs),
		cmocka_unit_test(test_once_runs_once),
		cmocka_unit_test(test_cron_in_a_fixed_offset_zone),
		cmocka_unit_test_setup_teardown(test_records_added_read_and_finished, setup, teardown),
		cmocka_unit_test_setup_teardown(test_records_bounded_per_schedule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_records_go_with_their_schedule, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
