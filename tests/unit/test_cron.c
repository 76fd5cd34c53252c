/* Unit tests for src/server/core/cron.c: five-field expressions, their
 * errors (each naming the field) and the next matching minute. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/cron.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* UTC seconds of a date and time. */
static int64_t at(int y, int mo, int d, int h, int mi)
{
	struct tm tm = { 0 };

	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	return (int64_t)timegm(&tm);
}

static int64_t next_of(const char *text, int64_t after)
{
	struct cron_expr e;
	char err[200] = "";

	if (cron_parse(text, &e, err, sizeof err)) {
		fail_msg("%s: %s", text, err);
		return -2;
	}
	return cron_next(&e, after);
}

static void test_fields_and_names(void **state)
{
	struct cron_expr e;
	char err[200];

	(void)state;
	assert_int_equal(cron_parse("*/15 9-17 * JAN,jul mon-fri", &e, err, sizeof err), 0);
	assert_true(e.minute == ((1ULL << 0) | (1ULL << 15) | (1ULL << 30) | (1ULL << 45)));
	assert_int_equal(e.hour, 0x3fe00);            /* 9..17 */
	assert_int_equal(e.month, (1 << 1) | (1 << 7));
	assert_int_equal(e.dow, 0x3e);                 /* 1..5 */
	assert_int_equal(cron_parse("5/20 0 1-31/10 * 7", &e, err, sizeof err), 0);
	assert_true(e.minute == ((1ULL << 5) | (1ULL << 25) | (1ULL << 45)));
	assert_int_equal(e.dom, (1u << 1) | (1u << 11) | (1u << 21) | (1u << 31));
	assert_int_equal(e.dow, 1);                    /* 7 is Sunday */
	assert_int_equal(cron_parse("@hourly", &e, err, sizeof err), 0);
	assert_true(e.minute == 1 && e.hour == 0xffffff);
	assert_int_equal(cron_parse("  0\t12  *  *  *  ", &e, err, sizeof err), 0);
}

static void test_errors_name_the_field(void **state)
{
	static const struct { const char *text, *want; } bad[] = {
		{ "60 * * * *", "minute: 60 is out of range 0-59" },
		{ "* 24 * * *", "hour: 24 is out of range 0-23" },
		{ "* * 0 * *", "day of month: 0 is out of range 1-31" },
		{ "* * 32 * *", "day of month: 32 is out of range 1-31" },
		{ "* * * 13 *", "month: 13 is out of range 1-12" },
		{ "* * * * 8", "day of week: 8 is out of range 0-7" },
		{ "* * * foo *", "month: \"foo\" is not a value" },
		{ "* * * * 1-9", "day of week: 1-9 is out of range 0-7" },
		{ "5-1 * * * *", "minute: range \"5-1\" runs backwards" },
		{ "*/0 * * * *", "minute: \"*/0\" has no valid step" },
		{ "*/61 * * * *", "minute: step in \"*/61\" is larger" },
		{ "1,,2 * * * *", "minute: \"1,,2\" has an empty list item" },
		{ "* * * *", "expected 5 fields" },
		{ "* * * * * *", "expected 5 fields" },
		{ "", "expected 5 fields" },
		{ "0 0 30 2 *", "never matches" },
		{ "1x * * * *", "minute: \"1x\" is not a value, a range or a step" },
		{ "99999 * * * *", "minute: \"99999\" is not a value" },
		{ "@never", "expected 5 fields" },
	};
	struct cron_expr e;
	char err[200];

	(void)state;
	for (size_t i = 0; i < N(bad); i++) {
		err[0] = '\0';
		assert_int_equal(cron_parse(bad[i].text, &e, err, sizeof err), -1);
		if (!strstr(err, bad[i].want))
			fail_msg("%s: got \"%s\", want \"%s\"", bad[i].text, err, bad[i].want);
	}
}

static void test_next(void **state)
{
	int64_t t0 = at(2024, 2, 28, 23, 59);

	(void)state;
	/* Strictly after, on the next whole minute. */
	assert_int_equal(next_of("* * * * *", t0), at(2024, 2, 29, 0, 0));
	assert_int_equal(next_of("* * * * *", t0 + 30), at(2024, 2, 29, 0, 0));
	assert_int_equal(next_of("30 * * * *", t0), at(2024, 2, 29, 0, 30));
	/* A leap day, then the next one four years on. */
	assert_int_equal(next_of("0 12 29 2 *", t0), at(2024, 2, 29, 12, 0));
	assert_int_equal(next_of("0 12 29 2 *", at(2024, 3, 1, 0, 0)), at(2028, 2, 29, 12, 0));
	/* Months roll over years. */
	assert_int_equal(next_of("0 0 1 jan *", t0), at(2025, 1, 1, 0, 0));
	/* Day of week: 2024-03-01 was a Friday. */
	assert_int_equal(next_of("0 8 * * mon", t0), at(2024, 3, 4, 8, 0));
	/* Both day fields restricted: either matches (the 1st or a Monday). */
	assert_int_equal(next_of("0 0 1 * mon", at(2024, 3, 1, 1, 0)), at(2024, 3, 4, 0, 0));
	/* One restricted and the other "*": both must match. */
	assert_int_equal(next_of("0 0 */1 * mon", at(2024, 3, 1, 1, 0)), at(2024, 3, 4, 0, 0));
	assert_int_equal(next_of("0 0 13 * fri", at(2024, 1, 1, 0, 0)), at(2024, 1, 5, 0, 0));
	assert_int_equal(next_of("0 0 13 * *", at(2024, 1, 1, 0, 0)), at(2024, 1, 13, 0, 0));
	/* Steps and ranges. */
	assert_int_equal(next_of("*/20 9-10 * * *", at(2024, 5, 5, 10, 41)), at(2024, 5, 6, 9, 0));
	assert_int_equal(next_of("@yearly", at(2024, 5, 5, 10, 41)), at(2025, 1, 1, 0, 0));
	/* Bounds. */
	assert_true(next_of("* * * * *", -5) == -1);
	assert_true(next_of("* * * * *", at(2024, 12, 31, 23, 59)) == at(2025, 1, 1, 0, 0));
}

/* Every minute of a day in order, and every minute of a month of
 * "0 * * * *" lands on the hour. */
static void test_next_walks(void **state)
{
	struct cron_expr e;
	char err[200];
	int64_t t = at(2023, 6, 1, 0, 0) - 60;

	(void)state;
	assert_int_equal(cron_parse("* * * * *", &e, err, sizeof err), 0);
	for (int i = 0; i < 1440; i++) {
		int64_t n = cron_next(&e, t);

		assert_int_equal(n, t + 60);
		t = n;
	}
	assert_int_equal(cron_parse("0 * * * *", &e, err, sizeof err), 0);
	t = at(2023, 6, 1, 0, 0);
	for (int i = 0; i < 24 * 30; i++) {
		int64_t n = cron_next(&e, t);

		assert_int_equal(n, t + 3600);
		t = n;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields_and_names),
		cmocka_unit_test(test_errors_name_the_field),
		cmocka_unit_test(test_next),
		cmocka_unit_test(test_next_walks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
