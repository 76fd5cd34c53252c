/* Unit tests for saved_select (src/server/core/library.c): the filters,
 * sorts and pages of the library and schedule lists. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include <jansson.h>

#include "core/library.h"

static json_t *records(void)
{
	return json_pack("[{s:s, s:[s], s:i}, {s:s, s:[s,s], s:i}, {s:s, s:[], s:i}]",
			 "name", "Beta", "tags", "x", "t", 3,
			 "name", "alpha", "tags", "y", "x", "t", 10,
			 "name", "gamma", "tags", "t", 3);
}

/* The names of a page, joined by ','. */
static void names_of(json_t *page, char *out, size_t len)
{
	size_t i;
	json_t *r;

	out[0] = '\0';
	json_array_foreach(page, i, r) {
		if (i)
			strncat(out, ",", len - strlen(out) - 1);
		strncat(out, json_string_value(json_object_get(r, "name")), len - strlen(out) - 1);
	}
}

static void check(const struct saved_query *q, const char *want, int64_t want_total)
{
	json_t *arr = records(), *page;
	int64_t total = -1;
	char got[128];

	page = saved_select(arr, q, &total);
	assert_non_null(page);
	names_of(page, got, sizeof got);
	assert_string_equal(got, want);
	assert_int_equal(total, want_total);
	json_decref(page);
	json_decref(arr);
}

static void test_select(void **state)
{
	struct saved_query q;

	(void)state;
	memset(&q, 0, sizeof q);
	q.limit = 100;
	check(&q, "Beta,alpha,gamma", 3);
	/* a sort on numbers, ties in stored order; descending */
	q.nsort = 1;
	q.sort[0].field = "t";
	check(&q, "Beta,gamma,alpha", 3);
	q.sort[0].desc = true;
	check(&q, "alpha,Beta,gamma", 3);
	/* a text sort is by bytes; two fields */
	q.sort[0].field = "name";
	q.sort[0].desc = false;
	check(&q, "Beta,alpha,gamma", 3);
	/* filters: globs, case-insensitive, any element of an array */
	memset(&q, 0, sizeof q);
	q.limit = 100;
	q.nfilters = 1;
	q.filters[0].field = "tags";
	q.filters[0].values[0] = "X";
	q.filters[0].nvalues = 1;
	check(&q, "Beta,alpha", 2);
	q.filters[0].field = "name";
	q.filters[0].values[0] = "*a";
	q.filters[0].values[1] = "nothing";
	q.filters[0].nvalues = 2;
	check(&q, "Beta,alpha,gamma", 3);
	q.filters[0].values[0] = "g*";
	check(&q, "gamma", 1);
	/* AND of two filters; a number as text */
	q.filters[0].values[0] = "*";
	q.nfilters = 2;
	q.filters[1].field = "t";
	q.filters[1].values[0] = "3";
	q.filters[1].nvalues = 1;
	check(&q, "Beta,gamma", 2);
	/* a field no record has matches nothing */
	q.filters[1].field = "nope";
	check(&q, "", 0);
	/* pages */
	memset(&q, 0, sizeof q);
	q.limit = 1;
	q.offset = 1;
	check(&q, "alpha", 3);
	q.offset = 5;
	check(&q, "", 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_select),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
