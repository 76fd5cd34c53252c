/* Unit tests for src/server/query.c: rport's job list parameters. Every
 * field that rport sorts and filters on parses to a whitelisted SQL
 * expression; unknown fields, operators and pages give rport's words. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/query.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Parses one name=value pair. */
static int parse1(const char *name, const char *value, struct job_query *q, char *err,
		  size_t errlen)
{
	const char *names[] = { name }, *values[] = { value };

	return query_jobs_parse(names, values, 1, q, err, errlen);
}

static void test_defaults(void **state)
{
	struct job_query q;
	char err[256] = "";

	(void)state;
	assert_int_equal(query_jobs_parse(NULL, NULL, 0, &q, err, sizeof err), 0);
	assert_int_equal(q.limit, QUERY_DEFAULT_LIMIT);
	assert_int_equal(q.offset, 0);
	assert_int_equal(q.nsort, 0);
	assert_int_equal(q.nfilters, 0);
	query_jobs_free(&q);
}

/* rport's sort fields (and client_id), each as a column of the jobs
 * table (schedule_id too: the schedule that started a job). */
static void test_every_sort_field(void **state)
{
	static const struct { const char *field, *sql; } fields[] = {
		{ "jid", "jid" }, { "started_at", "started_at" },
		{ "finished_at", "finished_at" }, { "status", "status" },
		{ "multi_job_id", "multi_job_id" }, { "schedule_id", "schedule_id" },
		{ "created_by", "created_by" }, { "client_id", "client_id" },
	};
	char err[256], v[64];

	(void)state;
	for (size_t i = 0; i < N(fields); i++) {
		for (int desc = 0; desc < 2; desc++) {
			struct job_query q;

			snprintf(v, sizeof v, "%s%s", desc ? "-" : "", fields[i].field);
			assert_int_equal(parse1("sort", v, &q, err, sizeof err), 0);
			assert_int_equal(q.nsort, 1);
			assert_string_equal(q.sort[0].column, fields[i].sql);
			assert_int_equal(q.sort[0].desc, desc);
			query_jobs_free(&q);
		}
	}
}

static void test_sort_list_keeps_order(void **state)
{
	struct job_query q;
	char err[256];

	(void)state;
	assert_int_equal(parse1("sort", "-finished_at,jid,-schedule_id", &q, err, sizeof err), 0);
	assert_int_equal(q.nsort, 3);
	assert_string_equal(q.sort[0].column, "finished_at");
	assert_true(q.sort[0].desc);
	assert_string_equal(q.sort[1].column, "jid");
	assert_false(q.sort[1].desc);
	assert_string_equal(q.sort[2].column, "schedule_id");
	assert_true(q.sort[2].desc);
	query_jobs_free(&q);
}

static void test_unknown_sort_field(void **state)
{
	static const char *const bad[] = { "colour", "-colour", "jid,colour", "command",
					   "result", "-" };
	static const char *const word[] = { "colour", "colour", "colour", "command",
					    "result", "" };
	char err[256], want[128];

	(void)state;
	for (size_t i = 0; i < N(bad); i++) {
		struct job_query q;

		assert_int_equal(parse1("sort", bad[i], &q, err, sizeof err), -1);
		snprintf(want, sizeof want, "unsupported sort field '%s'", word[i]);
		assert_string_equal(err, want);
		query_jobs_free(&q);
	}
}

/* rport's value filters: comma alternatives, '*' kept for the store to
 * turn into LIKE patterns. */
static void test_every_value_filter(void **state)
{
	static const struct { const char *field, *sql; } fields[] = {
		{ "jid", "jid" }, { "status", "status" }, { "created_by", "created_by" },
		{ "multi_job_id", "multi_job_id" }, { "schedule_id", "schedule_id" },
		{ "client_id", "client_id" },
	};
	char err[256], name[64];

	(void)state;
	for (size_t i = 0; i < N(fields); i++) {
		struct job_query q;

		snprintf(name, sizeof name, "filter[%s]", fields[i].field);
		assert_int_equal(parse1(name, "a*,b,*c", &q, err, sizeof err), 0);
		assert_int_equal(q.nfilters, 1);
		assert_string_equal(q.filters[0].column, fields[i].sql);
		assert_int_equal(q.filters[0].op, QOP_IN);
		assert_int_equal(q.filters[0].nvalues, 3);
		assert_string_equal(q.filters[0].values[0], "a*");
		assert_string_equal(q.filters[0].values[1], "b");
		assert_string_equal(q.filters[0].values[2], "*c");
		query_jobs_free(&q);
	}
}

static void test_every_time_filter(void **state)
{
	static const char *const cols[] = { "started_at", "finished_at" };
	static const struct { const char *op; enum query_op qop; } ops[] = {
		{ "gt", QOP_GT }, { "lt", QOP_LT }, { "since", QOP_SINCE }, { "until", QOP_UNTIL },
	};
	char err[256], name[64];

	(void)state;
	for (size_t c = 0; c < N(cols); c++) {
		for (size_t o = 0; o < N(ops); o++) {
			struct job_query q;

			snprintf(name, sizeof name, "filter[%s][%s]", cols[c], ops[o].op);
			assert_int_equal(parse1(name, "2020-10-15T15:30:12.5Z", &q, err, sizeof err),
					 0);
			assert_int_equal(q.nfilters, 1);
			assert_string_equal(q.filters[0].column, cols[c]);
			assert_int_equal(q.filters[0].op, ops[o].qop);
			assert_int_equal(q.filters[0].time_ns, 1602775812500000000LL);
			query_jobs_free(&q);
		}
	}
}

static void test_bad_filters(void **state)
{
	static const struct { const char *name, *value, *err; } cases[] = {
		{ "filter[colour]", "x", "unsupported filter field 'colour'" },
		{ "filter[command]", "x", "unsupported filter field 'command'" },
		{ "filter[colour][gt]", "x", "unsupported filter field 'colour'" },
		{ "filter[schedule_id][gt]", "x", "unsupported filter operator 'gt' for 'schedule_id'" },
		{ "filter[status][lt]", "x", "unsupported filter operator 'lt' for 'status'" },
		{ "filter[started_at]", "2020-10-15T15:30:12Z",
		  "filter[started_at] needs an operator: [gt], [lt], [since] or [until]" },
		{ "filter[finished_at][after]", "2020-10-15T15:30:12Z",
		  "filter[finished_at] needs an operator: [gt], [lt], [since] or [until]" },
		{ "filter[finished_at][gt]", "yesterday",
		  "invalid time 'yesterday' in filter[finished_at][gt]: use RFC 3339" },
		{ "filter[status]", "", "filter[status] has no value" },
		{ "filter[status]", ",,", "filter[status] has no value" },
		{ "filter[status", "x", "invalid filter parameter 'filter[status'" },
		{ "filter[status]x", "x", "invalid filter parameter 'filter[status]x'" },
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		struct job_query q;

		assert_int_equal(parse1(cases[i].name, cases[i].value, &q, err, sizeof err), -1);
		assert_string_equal(err, cases[i].err);
		query_jobs_free(&q);
	}
}

static void test_pages(void **state)
{
	const char *names[] = { "page[limit]", "page[offset]", "fields[jobs]", "other" };
	const char *values[] = { "1000", "20", "jid,status", "x" };
	struct job_query q;
	char err[256];

	(void)state;
	assert_int_equal(query_jobs_parse(names, values, N(names), &q, err, sizeof err), 0);
	assert_int_equal(q.limit, 1000);
	assert_int_equal(q.offset, 20);
	query_jobs_free(&q);
	assert_int_equal(parse1("page[limit]", "1001", &q, err, sizeof err), -1);
	assert_string_equal(err, "pagination limit too big (1001) maximum is 1000");
	query_jobs_free(&q);
	assert_int_equal(parse1("page[limit]", "0", &q, err, sizeof err), -1);
	query_jobs_free(&q);
	assert_int_equal(parse1("page[offset]", "-1", &q, err, sizeof err), -1);
	query_jobs_free(&q);
	assert_int_equal(parse1("page[size]", "1", &q, err, sizeof err), -1);
	assert_string_equal(err, "unsupported pagination parameter 'page[size]'");
	query_jobs_free(&q);
}

static void test_combined_and_creator(void **state)
{
	const char *names[] = { "filter[status]", "filter[created_by]", "sort",
				"filter[finished_at][since]" };
	const char *values[] = { "successful,failed", "ad*", "-status",
				 "2020-10-15T15:30:12Z" };
	struct job_query q;
	char err[256];

	(void)state;
	assert_int_equal(query_jobs_parse(names, values, N(names), &q, err, sizeof err), 0);
	assert_int_equal(q.nfilters, 3);
	assert_int_equal(q.nsort, 1);
	assert_int_equal(query_jobs_only_creator(&q, "bob*", err, sizeof err), 0);
	assert_int_equal(q.nfilters, 4);
	/* exact, not a pattern */
	assert_int_equal(q.filters[3].op, QOP_EQ);
	assert_string_equal(q.filters[3].column, "created_by");
	assert_string_equal(q.filters[3].values[0], "bob*");
	query_jobs_free(&q);
}

static void test_limits(void **state)
{
	const char *names[QUERY_MAX_FILTERS + 1];
	const char *values[QUERY_MAX_FILTERS + 1];
	char many[QUERY_MAX_VALUES * 2 + 8];
	struct job_query q;
	char err[256];
	size_t o = 0;

	(void)state;
	for (size_t i = 0; i < N(names); i++) {
		names[i] = "filter[status]";
		values[i] = "x";
	}
	assert_int_equal(query_jobs_parse(names, values, N(names), &q, err, sizeof err), -1);
	assert_string_equal(err, "too many filters (maximum 16)");
	query_jobs_free(&q);
	for (int i = 0; i <= QUERY_MAX_VALUES; i++) {
		many[o++] = 'a';
		many[o++] = ',';
	}
	many[o] = '\0';
	assert_int_equal(parse1("filter[jid]", many, &q, err, sizeof err), -1);
	assert_string_equal(err, "too many values in filter[jid] (maximum 32)");
	query_jobs_free(&q);
	assert_int_equal(parse1("sort", "jid,jid,jid,jid,jid,jid,jid,jid,jid", &q, err, sizeof err),
			 -1);
	assert_string_equal(err, "too many sort fields (maximum 8)");
	query_jobs_free(&q);
}


/* ---- client lists (GET /clients) and fields[...] --------------------- */

static int cparse(const char *name, const char *value, struct client_query *q, char *err,
		  size_t errlen)
{
	const char *names[] = { name }, *values[] = { value };

	return query_clients_parse(names, values, 1, 100, 500, q, err, errlen);
}

static void test_client_filters(void **state)
{
	struct client_query q;
	char err[256] = "";

	(void)state;
	/* every field rport filters clients on */
	for (const char *const *f = query_client_filter_fields; *f; f++) {
		char name[96];

		snprintf(name, sizeof name, "filter[%s]", *f);
		assert_int_equal(cparse(name, "a*,b", &q, err, sizeof err), 0);
		assert_int_equal(q.nfilters, 1);
		assert_string_equal(q.filters[0].fields[0], *f);
		assert_int_equal(q.filters[0].nvalues, 2);
		assert_false(q.filters[0].all);
		query_clients_free(&q);
	}
	assert_int_equal(cparse("filter[name|os]", "x", &q, err, sizeof err), 0);
	assert_int_equal(q.filters[0].nfields, 2);
	assert_string_equal(q.filters[0].fields[1], "os");
	query_clients_free(&q);
	assert_int_equal(cparse("filter[*]", "and(a,b c)", &q, err, sizeof err), 0);
	assert_string_equal(q.filters[0].fields[0], "*");
	assert_true(q.filters[0].all);
	assert_int_equal(q.filters[0].nvalues, 2);
	assert_string_equal(q.filters[0].values[1], "b c");
	query_clients_free(&q);
	assert_int_equal(cparse("filter[tags]", "or(a,b)", &q, err, sizeof err), 0);
	assert_false(q.filters[0].all);
	assert_int_equal(q.filters[0].nvalues, 2);
	query_clients_free(&q);
	assert_int_equal(cparse("filter[bogus]", "x", &q, err, sizeof err), -1);
	assert_string_equal(err, "unsupported filter field 'bogus'");
	query_clients_free(&q);
	assert_int_equal(cparse("filter[name|nope]", "x", &q, err, sizeof err), -1);
	assert_string_equal(err, "unsupported filter field 'nope'");
	query_clients_free(&q);
	assert_int_equal(cparse("filter[name]", "", &q, err, sizeof err), -1);
	query_clients_free(&q);
}

static void test_client_sort_fields_pages(void **state)
{
	struct client_query q;
	char err[256] = "";
	const char *names[] = { "sort", "fields[clients]", "page[limit]", "page[offset]" };
	const char *values[] = { "-name,id", "id,name,groups", "7", "3" };

	(void)state;
	assert_int_equal(query_clients_parse(names, values, 4, 100, 500, &q, err, sizeof err), 0);
	assert_int_equal(q.nsort, 2);
	assert_string_equal(q.sort[0].column, "name");
	assert_true(q.sort[0].desc);
	assert_false(q.sort[1].desc);
	assert_int_equal(q.nfields, 3);
	assert_string_equal(q.fields[2], "groups");
	assert_int_equal(q.limit, 7);
	assert_int_equal(q.offset, 3);
	query_clients_free(&q);
	assert_int_equal(cparse("sort", "-bogus", &q, err, sizeof err), -1);
	assert_string_equal(err, "unsupported sort field 'bogus'");
	assert_int_equal(cparse("fields[clients]", "id,bogus", &q, err, sizeof err), -1);
	assert_string_equal(err, "unsupported field \"bogus\" for resource \"clients\"");
	assert_int_equal(cparse("fields[jobs]", "jid", &q, err, sizeof err), -1);
	assert_string_equal(err, "unsupported resource in fields: \"jobs\"");
	assert_int_equal(cparse("page[limit]", "501", &q, err, sizeof err), -1);
	assert_string_equal(err, "pagination limit too big (501) maximum is 500");
	assert_int_equal(cparse("page[limit]", "x", &q, err, sizeof err), -1);
}

static void test_multi_fields(void **state)
{
	struct job_query q;
	char err[256] = "";
	const char *names[] = { "sort", "filter[created_by]", "filter[started_at][gt]" };
	const char *values[] = { "-started_at", "adm*", "2026-01-01T00:00:00Z" };
	const char *n1[] = { "filter[status]" }, *v1[] = { "x" };

	(void)state;
	assert_int_equal(query_multi_parse(names, values, 3, &q, err, sizeof err), 0);
	assert_int_equal(q.nsort, 1);
	assert_int_equal(q.nfilters, 2);
	assert_int_equal(q.filters[1].op, QOP_GT);
	query_jobs_free(&q);
	/* status is a job field, not a multi job's */
	assert_int_equal(query_multi_parse(n1, v1, 1, &q, err, sizeof err), -1);
	assert_string_equal(err, "unsupported filter field 'status'");
	query_jobs_free(&q);
}

/* query_fields_parse directly: fields[<resource>] lists checked against
 * the known names, resources skipped or refused, and the caps. */
static void test_fields_parse(void **state)
{
	static const char *const accepted[] = { "jobs", NULL }, *const skip[] = { "result", NULL };
	static const char *const known[] = { "jid", "status", "client_id", NULL };
	const char *out[4];
	char err[256] = "", long_value[1100];

	(void)state;
	{
		const char *names[] = { "sort", "fields[jobs]", "fields[result]" };
		const char *values[] = { "jid", "status,jid", "whatever" };

		/* Pointers into known, in the order given; skipped resources and
		 * other arguments are left alone. */
		assert_int_equal(query_fields_parse(names, values, 3, accepted, skip, known, out, 4,
						    err, sizeof err), 2);
		assert_ptr_equal(out[0], known[1]);
		assert_ptr_equal(out[1], known[0]);
		/* Not given: 0. */
		assert_int_equal(query_fields_parse(names, values, 1, accepted, skip, known, out, 4,
						    err, sizeof err), 0);
		/* Without skip, another resource is refused. */
		assert_int_equal(query_fields_parse(names, values, 3, accepted, NULL, known, out, 4,
						    err, sizeof err), -1);
		assert_string_equal(err, "unsupported resource in fields: \"result\"");
	}
	{
		const char *names[] = { "fields[jobs]" }, *values[] = { "jid,colour" };

		assert_int_equal(query_fields_parse(names, values, 1, accepted, NULL, known, out, 4,
						    err, sizeof err), -1);
		assert_string_equal(err, "unsupported field \"colour\" for resource \"jobs\"");
	}
	{
		const char *names[] = { "fields[jobs]" }, *values[] = { "jid,status,client_id" };

		assert_int_equal(query_fields_parse(names, values, 1, accepted, NULL, known, out, 2,
						    err, sizeof err), -1);
		assert_string_equal(err, "too many fields (maximum 2)");
		/* A NULL value is an empty list. */
		values[0] = NULL;
		assert_int_equal(query_fields_parse(names, values, 1, accepted, NULL, known, out, 2,
						    err, sizeof err), 0);
	}
	{
		const char *names[] = { "fields[jobs" }, *values[] = { "jid" };

		assert_int_equal(query_fields_parse(names, values, 1, accepted, NULL, known, out, 4,
						    err, sizeof err), -1);
		assert_string_equal(err, "invalid fields parameter 'fields[jobs'");
		names[0] = "fields[jobs]x";
		assert_int_equal(query_fields_parse(names, values, 1, accepted, NULL, known, out, 4,
						    err, sizeof err), -1);
		assert_string_equal(err, "invalid fields parameter 'fields[jobs]x'");
	}
	{
		const char *names[] = { "fields[jobs]" }, *values[] = { long_value };

		memset(long_value, 'j', sizeof long_value - 1);
		long_value[sizeof long_value - 1] = '\0';
		assert_int_equal(query_fields_parse(names, values, 1, accepted, NULL, known, out, 4,
						    err, sizeof err), -1);
		assert_string_equal(err, "fields[jobs] is too long");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_sort_field),
		cmocka_unit_test(test_sort_list_keeps_order),
		cmocka_unit_test(test_unknown_sort_field),
		cmocka_unit_test(test_every_value_filter),
		cmocka_unit_test(test_every_time_filter),
		cmocka_unit_test(test_bad_filters),
		cmocka_unit_test(test_pages),
		cmocka_unit_test(test_combined_and_creator),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_client_filters),
		cmocka_unit_test(test_client_sort_fields_pages),
		cmocka_unit_test(test_multi_fields),
		cmocka_unit_test(test_fields_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
