/* Unit tests for src/common/util.c: UUIDs, RFC 3339 times, capped buffers,
 * number/host/duration parsing, bounded copies, glob matching (rport's
 * client group params) and UTF-8 validation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

/* ---- UUIDs -------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static void test_uuid4_format(void **state)
{
	(void)state;
	for (int n = 0; n < 200; n++) {
		char u[UUID_STR_LEN];

		memset(u, 'X', sizeof u);
		util_uuid4(u);
		assert_int_equal(strlen(u), 36);
		for (int i = 0; i < 36; i++) {
			if (i == 8 || i == 13 || i == 18 || i == 23) {
				assert_int_equal(u[i], '-');
			} else {
				/* Lower-case hex only. */
				if (!isxdigit((unsigned char)u[i]) || isupper((unsigned char)u[i]))
					fail_msg("bad character '%c' at %d in %s", u[i], i, u);
			}
		}
		/* Version 4, RFC 4122 variant (10xx). */
		assert_int_equal(u[14], '4');
		assert_non_null(strchr("89ab", u[19]));
		assert_true(util_is_uuid(u));
	}
}

static void test_uuid4_unique(void **state)
{
	enum { N = 2000 };
	static const char variants[] = "89ab";
	char (*ids)[UUID_STR_LEN] = calloc(N, UUID_STR_LEN);
	int seen_variant[4] = { 0 };

	(void)state;
	assert_non_null(ids);
	for (int i = 0; i < N; i++) {
		util_uuid4(ids[i]);
		seen_variant[strchr(variants, ids[i][19]) - variants]++;
	}
	qsort(ids, N, UUID_STR_LEN, cmp_str);
	for (int i = 1; i < N; i++)
		if (!strcmp(ids[i - 1], ids[i]))
			fail_msg("duplicate uuid %s", ids[i]);
	/* The random variant bits are really random: all four appear. */
	for (int v = 0; v < 4; v++)
		assert_true(seen_variant[v] > 0);
	free(ids);
}

static void test_uuid7_time_ordered(void **state)
{
	enum { N = 2000 };
	char (*ids)[UUID_STR_LEN] = calloc(N, UUID_STR_LEN);
	char before[13], after[13];
	int64_t t0 = util_now_ns() / 1000000, t1;

	(void)state;
	assert_non_null(ids);
	for (int i = 0; i < N; i++) {
		util_uuid7(ids[i]);
		assert_true(util_is_uuid(ids[i]));
		assert_int_equal(ids[i][14], '7');
		assert_non_null(strchr("89ab", ids[i][19]));
	}
	t1 = util_now_ns() / 1000000;
	/* The first 48 bits are the creation time in ms, so ids made later
	 * never sort before earlier ones (the index grows at its edge). */
	snprintf(before, sizeof before, "%012llx", (unsigned long long)t0);
	/* (a burst runs ahead of the clock by a 4096th of a ms per id at
	 * most: N of them by less than one ms) */
	snprintf(after, sizeof after, "%012llx", (unsigned long long)(t1 + 1));
	for (int i = 0; i < N; i++) {
		char ts[13];

		memcpy(ts, ids[i], 8);
		memcpy(ts + 8, ids[i] + 9, 4);
		ts[12] = '\0';
		assert_true(strcmp(ts, before) >= 0 && strcmp(ts, after) <= 0);
		/* strictly, whole ids: made in the same millisecond, later
		 * still sorts after (2,000 take far less than 2,000 ms) */
		if (i && strcmp(ids[i - 1], ids[i]) >= 0)
			fail_msg("%s made after %s does not sort after it", ids[i], ids[i - 1]);
	}
	qsort(ids, N, UUID_STR_LEN, cmp_str);
	for (int i = 1; i < N; i++)
		if (!strcmp(ids[i - 1], ids[i]))
			fail_msg("duplicate uuid %s", ids[i]);
	free(ids);
}

/* Ids come from a pool of random bytes: a forked child must not hand out
 * the ids its parent hands out next. */
static void test_uuid_pool_not_shared_with_a_child(void **state)
{
	char parent[UUID_STR_LEN], child[UUID_STR_LEN] = "";
	int fds[2], st;
	pid_t pid;

	(void)state;
	util_uuid4(parent);  /* the pool is filled */
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		util_uuid4(child);
		_exit(write(fds[1], child, UUID_STR_LEN) == UUID_STR_LEN ? 0 : 1);
	}
	util_uuid4(parent);
	assert_int_equal(read(fds[0], child, UUID_STR_LEN), UUID_STR_LEN);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(fds[0]);
	close(fds[1]);
	assert_true(util_is_uuid(child));
	assert_string_not_equal(parent, child);
}

static void test_is_uuid(void **state)
{
	static const char *const bad[] = {
		"",
		"abc",
		"123e4567-e89b-12d3-a456-42661417400",    /* 35 */
		"123e4567-e89b-12d3-a456-4266141740000",  /* 37 */
		"123e4567e89b-12d3-a456-4266141740000",   /* dash missing */
		"123e4567-e89b-12d3-a456_426614174000",   /* wrong separator */
		"123e4567-e89b-12d3-a456-42661417400g",   /* not hex */
		"g23e4567-e89b-12d3-a456-426614174000",
		"123e4567--89b-12d3-a456-426614174000",
		" 23e4567-e89b-12d3-a456-426614174000",
		"123e4567-e89b-12d3-a456-426614174000 ",
		"{123e4567-e89b-12d3-a456-426614174000}",
		"123e4567-e89b-12d3-a456-426614174000\n",
	};

	(void)state;
	assert_true(util_is_uuid("123e4567-e89b-12d3-a456-426614174000"));
	assert_true(util_is_uuid("00000000-0000-0000-0000-000000000000"));
	/* Any version. */
	assert_true(util_is_uuid("6ba7b810-9dad-11d1-80b4-00c04fd430c8"));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (util_is_uuid(bad[i]))
			fail_msg("accepted '%s'", bad[i]);
}

/* ---- times -------------------------------------------------------------- */

#define NS 1000000000LL

static void expect_time(const char *s, int64_t want)
{
	int64_t got = -12345;

	if (util_time_parse(s, &got))
		fail_msg("refused '%s'", s);
	if (got != want)
		fail_msg("'%s': got %lld, want %lld", s, (long long)got, (long long)want);
}

static void test_time_format(void **state)
{
	char t[TIME_STR_LEN];

	(void)state;
	util_time_format(0, t);
	assert_string_equal(t, "1970-01-01T00:00:00.000000000Z");
	util_time_format(1602775812LL * NS + 937267522, t);
	assert_string_equal(t, "2020-10-15T15:30:12.937267522Z");
	util_time_format(1, t);
	assert_string_equal(t, "1970-01-01T00:00:00.000000001Z");
	util_time_format(-1, t);
	assert_string_equal(t, "1969-12-31T23:59:59.999999999Z");
	util_time_format(-NS, t);
	assert_string_equal(t, "1969-12-31T23:59:59.000000000Z");
}

/* The calendar arithmetic against the C library's, on many instants from
 * 1677 to 2262 and on every date form the parser takes (days past a
 * month's end and a leap second count on, as timegm normalizes them). */
static void test_time_matches_libc(void **state)
{
	uint64_t x = 88172645463325252ULL;
	char t[TIME_STR_LEN], want[64], in[64];

	(void)state;
	for (int i = 0; i < 200000; i++) {
		int64_t ns, got, sec, frac;
		struct tm tm;
		time_t tt;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* what nanoseconds in an int64 reach: 1677 .. 2262 */
		sec = (int64_t)(x % (2 * 9223372035ULL)) - 9223372035LL;
		frac = (int64_t)((x >> 20) % 1000000000ULL);
		ns = sec * NS + frac; /* frac >= 0: sec is the floor, also before 1970 */
		util_time_format(ns, t);
		tt = (time_t)sec;
		assert_non_null(gmtime_r(&tt, &tm));
		snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ",
			 (tm.tm_year + 1900) % 10000, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			 tm.tm_min, tm.tm_sec, (int)frac);
		assert_string_equal(t, want);
		/* back again */
		assert_int_equal(util_time_parse(t, &got), 0);
		assert_int_equal(got, ns);
		/* the parser's own forms, against timegm */
		{
			int y = (int)(x >> 5 & 0x1fff) % 10000, mo = (int)(x >> 18 & 15) % 12 + 1,
			    d = (int)(x >> 22 & 31) % 31 + 1, h = (int)(x >> 27 & 31) % 24,
			    mi = (int)(x >> 32 & 63) % 60, se = (int)(x >> 38 & 63) % 61;

			snprintf(in, sizeof in, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d, h, mi, se);
			memset(&tm, 0, sizeof tm);
			tm.tm_year = y - 1900;
			tm.tm_mon = mo - 1;
			tm.tm_mday = d;
			tm.tm_hour = h;
			tm.tm_min = mi;
			tm.tm_sec = se;
			tt = timegm(&tm);
			if ((int64_t)tt > 9223372035LL || (int64_t)tt < -9223372035LL) {
				/* past what an int64 of nanoseconds holds: refused */
				assert_int_equal(util_time_parse(in, &got), -1);
				continue;
			}
			if (util_time_parse(in, &got))
				fail_msg("refused '%s'", in);
			if (got != (int64_t)tt * NS)
				fail_msg("'%s': got %lld, timegm %lld", in, (long long)got,
					 (long long)tt * NS);
		}
	}
}

/* buf_append_int writes what printf's %lld writes. */
static void test_buf_append_int(void **state)
{
	static const long long vs[] = { 0, 1, -1, 9, 10, -10, 123456789, -987654321,
					LLONG_MAX, LLONG_MIN, LLONG_MIN + 1 };
	struct buf b;
	char want[32];

	(void)state;
	for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
		buf_init(&b, 64);
		assert_int_equal(buf_append_int(&b, vs[i]), 0);
		snprintf(want, sizeof want, "%lld", vs[i]);
		assert_string_equal(b.data, want);
		buf_free(&b);
	}
	buf_init(&b, 3);
	assert_int_equal(buf_append_int(&b, 1234), TE_TOOBIG);
	buf_free(&b);
}

static void test_time_parse(void **state)
{
	const int64_t base = 1602775812LL * NS; /* 2020-10-15T15:30:12Z */

	(void)state;
	expect_time("2020-10-15T15:30:12.937267522Z", base + 937267522);
	expect_time("2020-10-15T15:30:12Z", base);
	expect_time("2020-10-15t15:30:12z", base);
	expect_time("2020-10-15T15:30:12.5Z", base + 500000000);
	expect_time("2020-10-15T15:30:12.000000001Z", base + 1);
	/* Offsets: the same instant. */
	expect_time("2020-10-15T17:30:12.937267522+02:00", base + 937267522);
	expect_time("2020-10-15T17:30:12+02:00", base);
	expect_time("2020-10-15T13:30:12-02:00", base);
	expect_time("2020-10-15T15:30:12+00:00", base);
	expect_time("2020-10-16T01:00:12+09:30", base);
	/* An offset that crosses midnight. */
	expect_time("2020-10-16T00:30:12+09:00", base);
	/* A bare date is midnight UTC. */
	expect_time("2020-10-15", 1602720000LL * NS);
	expect_time("1970-01-01", 0);
	expect_time("1970-01-01T00:00:00Z", 0);
	/* Leap years. */
	expect_time("2020-02-29T00:00:00Z", 1582934400LL * NS);
	/* Before the epoch. */
	expect_time("1969-12-31T23:59:59.999999999Z", -1);
}

static void test_time_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"garbage",
		"now",
		"2020",
		"2020-10",
		"2020-10-1",
		"20201015",
		"2020/10/15",
		"2020-10-15x",
		"2020-10-15T",
		"2020-10-15 ",
		" 2020-10-15",
		"2020-13-01",
		"2020-00-10",
		"2020-10-00",
		"2020-10-32",
		"2020-10-15T24:00:00Z",
		"2020-10-15T15:60:00Z",
		"2020-10-15T15:30:12",        /* no zone */
		"2020-10-15T15:30Z",
		"2020-10-15T15:30:12.Z",      /* empty fraction */
		"2020-10-15T15:30:12ZZ",
		"2020-10-15T15:30:12Z junk",
		"2020-10-15T15:30:12+0200",
		"2020-10-15T15:30:12+02",
		"2020-10-15T15:30:12 +02:00",
		"2020-1a-15",
		"-2020-10-15",
		"2263-01-01",                 /* past what int64 nanoseconds hold */
		"9999-12-31T23:59:59Z",
		"1600-01-01",                 /* before what int64 nanoseconds hold */
	};

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int64_t ns = 777;

		if (util_time_parse(bad[i], &ns) != -1)
			fail_msg("accepted '%s' as %lld", bad[i], (long long)ns);
		/* The out-parameter is set only on success. */
		assert_int_equal(ns, 777);
	}
}

static void test_time_round_trip(void **state)
{
	static const int64_t fixed[] = {
		0, 1, 999999999, NS, -1, -NS, -NS - 1, 1602775812LL * NS + 937267522,
		951782400LL * NS,           /* 2000-02-29 */
		4102444799LL * NS + 999999999, /* 2099-12-31T23:59:59.999999999 */
		9223372035LL * NS + 999999999, /* 2262-04-11T23:47:15.999999999 */
		-9000000000LL * NS,           /* 1684 */
	};
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	(void)state;
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0] + 2000; i++) {
		char t[TIME_STR_LEN];
		int64_t v, back = 0;

		if (i < sizeof fixed / sizeof fixed[0]) {
			v = fixed[i];
		} else {
			/* xorshift over 1970..2262 */
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			v = (int64_t)(x % (9223372035ULL * (uint64_t)NS));
		}
		util_time_format(v, t);
		if (util_time_parse(t, &back) || back != v)
			fail_msg("%lld -> '%s' -> %lld", (long long)v, t, (long long)back);
	}
}

static void test_now(void **state)
{
	int64_t a = util_now_ns();
	uint64_t m1 = util_mono_ms(), m2;

	(void)state;
	/* After 2020-01-01 and before 2200. */
	assert_true(a > 1577836800LL * NS);
	assert_true(a < 7258118400LL * NS);
	m2 = util_mono_ms();
	assert_true(m2 >= m1);
}

/* ---- capped buffers ----------------------------------------------------- */

static void test_buf_cap_exact(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 10);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_append(&b, "0123", 4), 0);
	assert_int_equal(b.len, 4);
	assert_string_equal(b.data, "0123");
	/* Up to the cap exactly. */
	assert_int_equal(buf_append(&b, "456789", 6), 0);
	assert_int_equal(b.len, 10);
	assert_memory_equal(b.data, "0123456789", 11);
	/* One more byte is too big and changes nothing. */
	assert_int_equal(buf_append(&b, "X", 1), TE_TOOBIG);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "0123456789");
	/* An empty append at the cap is fine. */
	assert_int_equal(buf_append(&b, "", 0), 0);
	assert_int_equal(b.len, 10);
	buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
}

static void test_buf_no_partial_append(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(buf_append(&b, "abcde", 5), 0);
	/* 5 + 4 > 8: nothing of it goes in. */
	assert_int_equal(buf_append(&b, "fghi", 4), TE_TOOBIG);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.data, "abcde");
	/* A chunk bigger than the whole cap, on an empty buffer too. */
	buf_reset(&b);
	assert_int_equal(buf_append(&b, "123456789", 9), TE_TOOBIG);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	/* SIZE_MAX must not wrap around the check. */
	assert_int_equal(buf_append(&b, "x", SIZE_MAX), TE_TOOBIG);
	assert_int_equal(b.len, 0);
	/* What fits still goes in afterwards. */
	assert_int_equal(buf_append(&b, "fghi", 4), 0);
	assert_string_equal(b.data, "fghi");
	buf_free(&b);
}

static void test_buf_nul_and_binary(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 20);
	/* Binary data with NULs keeps its length and is terminated. */
	assert_int_equal(buf_append(&b, "a\0b", 3), 0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "a\0b", 3);
	assert_int_equal(b.data[3], '\0');
	/* Growth across many appends keeps the content and the terminator. */
	for (int i = 0; i < 5000; i++) {
		assert_int_equal(buf_append(&b, "xyz", 3), 0);
		assert_int_equal(b.data[b.len], '\0');
	}
	assert_int_equal(b.len, 3 + 5000 * 3);
	assert_memory_equal(b.data + b.len - 6, "xyzxyz", 6);
	assert_true(b.alloc >= b.len + 1);
	buf_free(&b);
}

static void test_buf_zero_cap(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(buf_append(&b, "a", 1), TE_TOOBIG);
	assert_int_equal(buf_append(&b, "", 0), 0);
	assert_non_null(b.data);
	assert_string_equal(b.data, "");
	buf_free(&b);
}

static void test_buf_appendf(void **state)
{
	struct buf b;
	char big[2000];

	(void)state;
	buf_init(&b, 1500);
	assert_int_equal(buf_appendf(&b, "%s=%d;", "a", 42), 0);
	assert_string_equal(b.data, "a=42;");
	/* Longer than the formatter's stack buffer. */
	memset(big, 'q', 1000);
	big[1000] = '\0';
	assert_int_equal(buf_appendf(&b, "[%s]", big), 0);
	assert_int_equal(b.len, 5 + 1002);
	assert_int_equal(b.data[5], '[');
	assert_int_equal(b.data[b.len - 1], ']');
	assert_int_equal(b.data[b.len], '\0');
	/* Past the cap: refused whole. */
	assert_int_equal(buf_appendf(&b, "%s", big), TE_TOOBIG);
	assert_int_equal(b.len, 1007);
	assert_int_equal(buf_appendf(&b, "%.*s", 493, big), 0);
	assert_int_equal(b.len, 1500);
	assert_int_equal(buf_appendf(&b, "%c", 'z'), TE_TOOBIG);
	assert_int_equal(b.len, 1500);
	buf_free(&b);
}

static void test_buf_steal_reset_free(void **state)
{
	struct buf b;
	size_t len = 99;
	char *s;

	(void)state;
	buf_init(&b, 64);
	assert_int_equal(buf_append(&b, "hello", 5), 0);
	s = buf_steal(&b, &len);
	assert_non_null(s);
	assert_int_equal(len, 5);
	assert_string_equal(s, "hello");
	free(s);
	/* The buffer is empty again and keeps its cap. */
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.alloc, 0);
	assert_int_equal(b.cap, 64);
	/* Stealing an empty buffer gives an empty string the caller frees. */
	len = 99;
	s = buf_steal(&b, &len);
	assert_non_null(s);
	assert_int_equal(len, 0);
	assert_string_equal(s, "");
	free(s);
	/* len may be NULL. */
	assert_int_equal(buf_append(&b, "x", 1), 0);
	s = buf_steal(&b, NULL);
	assert_string_equal(s, "x");
	free(s);

	/* reset empties but keeps the memory; the cap still applies. */
	assert_int_equal(buf_append(&b, "abcdef", 6), 0);
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_non_null(b.data);
	assert_string_equal(b.data, "");
	assert_int_equal(buf_append(&b, "0123456789012345678901234567890123456789"
				    "012345678901234567890123", 64), 0);
	assert_int_equal(buf_append(&b, "x", 1), TE_TOOBIG);
	/* reset of a never-used buffer is harmless. */
	buf_free(&b);
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	/* free twice is harmless. */
	buf_free(&b);
	buf_free(&b);
	assert_null(b.data);
}

/* ---- integers, hosts, durations ----------------------------------------- */

static void test_parse_int(void **state)
{
	long long v = 0;

	(void)state;
	assert_int_equal(util_parse_int("42", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(util_parse_int("-5", -10, 10, &v), 0);
	assert_int_equal(v, -5);
	/* Bounds are inclusive. */
	assert_int_equal(util_parse_int("0", 0, 100, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(util_parse_int("100", 0, 100, &v), 0);
	assert_int_equal(v, 100);
	assert_int_equal(util_parse_int("9223372036854775807", LLONG_MIN, LLONG_MAX, &v), 0);
	assert_true(v == LLONG_MAX);
	assert_int_equal(util_parse_int("-9223372036854775808", LLONG_MIN, LLONG_MAX, &v), 0);
	assert_true(v == LLONG_MIN);

	v = 7;
	assert_int_equal(util_parse_int("101", 0, 100, &v), -1);
	assert_int_equal(util_parse_int("-1", 0, 100, &v), -1);
	assert_int_equal(util_parse_int("", 0, 100, &v), -1);
	assert_int_equal(util_parse_int(NULL, 0, 100, &v), -1);
	assert_int_equal(util_parse_int("12a", 0, 100, &v), -1);
	assert_int_equal(util_parse_int("1 ", 0, 100, &v), -1);
	assert_int_equal(util_parse_int("1.0", 0, 100, &v), -1);
	assert_int_equal(util_parse_int("abc", 0, 100, &v), -1);
	assert_int_equal(util_parse_int("-", 0, 100, &v), -1);
	assert_int_equal(util_parse_int("9223372036854775808", LLONG_MIN, LLONG_MAX, &v), -1);
	assert_int_equal(util_parse_int("99999999999999999999999", 0, LLONG_MAX, &v), -1);
	assert_int_equal(util_parse_int("-99999999999999999999999", LLONG_MIN, 0, &v), -1);
	/* Untouched on failure. */
	assert_int_equal(v, 7);
}

static void test_parse_hostport(void **state)
{
	char host[64];
	int port = 0;

	(void)state;
	assert_int_equal(util_parse_hostport("0.0.0.0:8080", host, sizeof host, &port), 0);
	assert_string_equal(host, "0.0.0.0");
	assert_int_equal(port, 8080);
	assert_int_equal(util_parse_hostport("127.0.0.1:1", host, sizeof host, &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 1);
	assert_int_equal(util_parse_hostport("example.com:65535", host, sizeof host, &port), 0);
	assert_string_equal(host, "example.com");
	assert_int_equal(port, 65535);
	/* IPv6 in brackets; the brackets are not part of the host. */
	assert_int_equal(util_parse_hostport("[::1]:3000", host, sizeof host, &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 3000);
	assert_int_equal(util_parse_hostport("[2001:db8::1]:443", host, sizeof host, &port), 0);
	assert_string_equal(host, "2001:db8::1");
	assert_int_equal(port, 443);
	/* An empty host (all addresses) is allowed. */
	assert_int_equal(util_parse_hostport(":8080", host, sizeof host, &port), 0);
	assert_string_equal(host, "");
	assert_int_equal(port, 8080);
}

static void test_parse_hostport_bad(void **state)
{
	static const char *const bad[] = {
		"",
		"localhost",          /* missing port */
		"localhost:",         /* empty port */
		"[::1]",              /* missing port */
		"[::1]:",
		"[::1]8080",
		"[::1:8080",
		"host:abc",
		"host:80a",
		"host:-1",
		"host:65536",
		"host:99999999999",
		"host:0",             /* ports are 1..65535 */
		"host:8080 ",
		":",
	};
	int failures = 0;

	(void)state;
	/* Every case is tried, and each wrong one reported. */
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char host[64] = "untouched";
		int port = -7;

		if (util_parse_hostport(bad[i], host, sizeof host, &port) != -1) {
			print_error("accepted '%s' as host '%s' port %d\n", bad[i], host, port);
			failures++;
		} else if (port != -7) {
			print_error("'%s': port set on failure\n", bad[i]);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
}

static void test_parse_hostport_small_buffer(void **state)
{
	char host[8];
	int port = -7;

	(void)state;
	assert_int_equal(util_parse_hostport("1234567:80", host, sizeof host, &port), 0);
	assert_string_equal(host, "1234567");
	assert_int_equal(util_parse_hostport("12345678:80", host, sizeof host, &port), -1);
	assert_int_equal(util_parse_hostport("[1234:5678::1]:80", host, sizeof host, &port), -1);
	assert_int_equal(port, 80);
}

static void test_parse_duration(void **state)
{
	static const struct {
		const char *s;
		long long ms;
	} ok[] = {
		{ "500ms", 500 },
		{ "30s", 30000 },
		{ "5m", 300000 },
		{ "2h", 7200000 },
		{ "10", 10000 },
		{ "0", 0 },
		{ "0s", 0 },
		{ "1ms", 1 },
		{ "1s", 1000 },
		{ "90m", 5400000 },
		{ "24h", 86400000 },
	};
	static const char *const bad[] = {
		"", "s", "ms", "abc", "5x", "5sec", "5 s", "5S0", "-1", "-1s", "-500ms",
		"5ms5", "1h30m", "inf", "infs", "nan", "nans", "nanms", "1e400",
		"99999999999999999h",
	};

	int failures = 0;

	(void)state;
	/* Every case is tried, and each wrong one reported. */
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		long long got = util_parse_duration_ms(ok[i].s);

		if (got != ok[i].ms) {
			print_error("'%s': got %lld, want %lld\n", ok[i].s, got, ok[i].ms);
			failures++;
		}
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		long long got = util_parse_duration_ms(bad[i]);

		if (got != -1) {
			print_error("'%s': got %lld, want -1\n", bad[i], got);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
	assert_int_equal(util_parse_duration_ms(NULL), -1);
}

static void test_strlcpy(void **state)
{
	char d[6];

	(void)state;
	assert_int_equal(util_strlcpy(d, "hello", sizeof d), 0);
	assert_string_equal(d, "hello");
	assert_int_equal(util_strlcpy(d, "", sizeof d), 0);
	assert_string_equal(d, "");
	/* Truncated: always terminated, reported. */
	memset(d, 'X', sizeof d);
	assert_int_equal(util_strlcpy(d, "hello!", sizeof d), -1);
	assert_string_equal(d, "hello");
	assert_int_equal(util_strlcpy(d, "a much longer string", sizeof d), -1);
	assert_string_equal(d, "a muc");
	assert_int_equal(util_strlcpy(d, "ab", 1), -1);
	assert_string_equal(d, "");
	/* Size 0: nothing written. */
	memset(d, 'X', sizeof d);
	assert_int_equal(util_strlcpy(d, "ab", 0), -1);
	assert_int_equal(d[0], 'X');
}

/* ---- glob --------------------------------------------------------------- */

static void test_glob_match(void **state)
{
	static const struct {
		const char *p, *s;
		bool match;
	} cases[] = {
		{ "local-*", "LOCAL-test", true },
		{ "local-*", "local-", true },
		{ "local-*", "local", false },
		{ "local-*", "xlocal-test", false },
		{ "LOCAL-*", "local-test", true },
		{ "*-2", "client-2", true },
		{ "*-2", "-2", true },
		{ "*-2", "client-20", false },
		{ "*-2", "client-2-2", true },
		{ "a*b*c", "abc", true },
		{ "a*b*c", "aXbYc", true },
		{ "a*b*c", "aXXbYYbZZc", true },
		{ "a*b*c", "acb", false },
		{ "a*b*c", "aXbYcZ", false },
		{ "a*b*c", "ABC", true },
		{ "*test*", "my-TEST-box", true },
		{ "*test*", "tes", false },
		{ "*", "", true },
		{ "*", "anything", true },
		{ "**", "x", true },
		{ "", "", true },
		{ "", "a", false },
		{ "a", "", false },
		{ "abc", "ABC", true },
		{ "abc", "abcd", false },
		{ "abc", "ab", false },
		{ "a*", "a", true },
		{ "*a", "ba", true },
		{ "*a", "ab", false },
		{ "*ab", "aab", true },
		{ "*aab", "aaab", true },
		{ "a*ab", "aXaab", true },
		/* Only '*' is special. */
		{ "a?c", "abc", false },
		{ "a?c", "a?c", true },
		{ "a.c", "abc", false },
		{ "[ab]", "a", false },
		{ "[ab]", "[AB]", true },
		{ "client-1", "client-1", true },
		{ "client-1", "client-10", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (util_glob_match(cases[i].p, cases[i].s) != cases[i].match)
			fail_msg("glob '%s' vs '%s': want %s", cases[i].p, cases[i].s,
				 cases[i].match ? "match" : "no match");
}

static void test_glob_not_pathological(void **state)
{
	enum { N = 200000 };
	char *s = malloc(N + 2);
	uint64_t t0, t1;

	(void)state;
	assert_non_null(s);
	memset(s, 'a', N);
	s[N] = '\0';
	t0 = util_mono_ms();
	/* A backtracking matcher takes O(N^k) here. */
	assert_false(util_glob_match("a*a*a*a*a*b", s));
	assert_false(util_glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*b", s));
	assert_false(util_glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*ab*", s));
	assert_true(util_glob_match("a*a*a*a*a*", s));
	assert_true(util_glob_match("*A*A*A*A*A*A*A*A*A*A*a", s));
	s[N] = 'b';
	s[N + 1] = '\0';
	assert_true(util_glob_match("a*a*a*a*a*b", s));
	t1 = util_mono_ms();
	/* Generous, so valgrind passes: linear work is a few milliseconds. */
	if (t1 - t0 > 5000)
		fail_msg("glob took %llu ms", (unsigned long long)(t1 - t0));
	free(s);
}

/* ---- UTF-8 -------------------------------------------------------------- */

static void expect_utf8(const char *s, size_t n, bool want)
{
	if (util_utf8_valid(s, n) != want) {
		char hex[128] = "";
		size_t o = 0;

		for (size_t i = 0; i < n && o + 4 < sizeof hex; i++)
			o += (size_t)snprintf(hex + o, sizeof hex - o, "%02x ",
					      (unsigned char)s[i]);
		fail_msg("utf8_valid(%s) want %s", hex, want ? "true" : "false");
	}
}

#define U8(lit, want) expect_utf8(lit, sizeof(lit) - 1, want)

static void test_utf8_valid(void **state)
{
	(void)state;
	U8("", true);
	U8("hello, world\n\t~", true);
	U8("\x7f", true);
	U8("\xc3\xa9", true);                  /* é */
	U8("caf\xc3\xa9", true);
	U8("\xc2\x80", true);                  /* smallest 2-byte */
	U8("\xdf\xbf", true);                  /* largest 2-byte */
	U8("\xe0\xa0\x80", true);              /* smallest 3-byte */
	U8("\xe2\x82\xac", true);              /* € */
	U8("\xed\x9f\xbf", true);              /* U+D7FF, just below surrogates */
	U8("\xee\x80\x80", true);              /* U+E000, just above */
	U8("\xef\xbf\xbf", true);              /* U+FFFF */
	U8("\xf0\x90\x80\x80", true);          /* U+10000 */
	U8("\xf0\x9f\x98\x80", true);          /* 😀 */
	U8("\xf4\x8f\xbf\xbf", true);          /* U+10FFFF */
	U8("a\xe6\x97\xa5\xe6\x9c\xac" "b", true);

	/* Overlong encodings. */
	U8("\xc0\xaf", false);
	U8("\xc1\xbf", false);
	U8("\xc0\x80", false);                 /* overlong NUL */
	U8("\xe0\x80\xaf", false);
	U8("\xe0\x9f\xbf", false);
	U8("\xf0\x80\x80\xaf", false);
	U8("\xf0\x8f\xbf\xbf", false);
	/* Surrogates. */
	U8("\xed\xa0\x80", false);             /* U+D800 */
	U8("\xed\xbf\xbf", false);             /* U+DFFF */
	U8("\xed\xa0\xbd\xed\xb8\x80", false); /* CESU-8 pair */
	/* Past U+10FFFF, and bytes that never start a sequence. */
	U8("\xf4\x90\x80\x80", false);
	U8("\xf5\x80\x80\x80", false);
	U8("\xf8\x88\x80\x80\x80", false);
	U8("\xfe", false);
	U8("\xff", false);
	/* Lone continuation bytes. */
	U8("\x80", false);
	U8("a\xbf" "b", false);
	/* Truncated sequences, at the end and in the middle. */
	U8("\xc3", false);
	U8("\xe2\x82", false);
	U8("\xf0\x9f\x98", false);
	U8("abc\xe2", false);
	U8("\xe2\x82" "a", false);
	U8("\xc3" "a", false);
	/* NUL anywhere. */
	U8("\0", false);
	U8("a\0b", false);
	U8("abc\0", false);
	/* n is respected: the bad byte after n is not looked at. */
	expect_utf8("ab\xff", 2, true);
	expect_utf8("\xe2\x82\xac", 2, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uuid4_format),
		cmocka_unit_test(test_uuid4_unique),
		cmocka_unit_test(test_uuid7_time_ordered),
		cmocka_unit_test(test_uuid_pool_not_shared_with_a_child),
		cmocka_unit_test(test_is_uuid),
		cmocka_unit_test(test_time_format),
		cmocka_unit_test(test_time_parse),
		cmocka_unit_test(test_buf_append_int),
		cmocka_unit_test(test_time_matches_libc),
		cmocka_unit_test(test_time_parse_rejects),
		cmocka_unit_test(test_time_round_trip),
		cmocka_unit_test(test_now),
		cmocka_unit_test(test_buf_cap_exact),
		cmocka_unit_test(test_buf_no_partial_append),
		cmocka_unit_test(test_buf_nul_and_binary),
		cmocka_unit_test(test_buf_zero_cap),
		cmocka_unit_test(test_buf_appendf),
		cmocka_unit_test(test_buf_steal_reset_free),
		cmocka_unit_test(test_parse_int),
		cmocka_unit_test(test_parse_hostport),
		cmocka_unit_test(test_parse_hostport_bad),
		cmocka_unit_test(test_parse_hostport_small_buffer),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_strlcpy),
		cmocka_unit_test(test_glob_match),
		cmocka_unit_test(test_glob_not_pathological),
		cmocka_unit_test(test_utf8_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
