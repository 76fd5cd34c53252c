/* Unit tests for src/common/proto_wire.c: the fixed-layout run and ack
 * encoders (hostile strings read back by jansson as they went in, invalid
 * UTF-8 refused) and the result/started decoder (the same fields as
 * jansson's parse, and every frame it is unsure of left to proto_parse;
 * randomly damaged frames never decode to something proto_parse would
 * read otherwise). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static const char *const hostile[] = {
	"",
	"plain",
	"\"",
	"\\",
	"\\\"",
	"\"; rm -rf / #",
	"line1\nline2\r\n\ttab",
	("\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17"
	 "\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f"),
	"\\u0000 is not a NUL here",
	"</script><script>alert(1)</script>",
	"\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe2\x80\xa8 \xe2\x80\xa9 \xef\xbf\xbf",
	"{\"type\":\"ack\",\"jid\":\"x\"}",
	"'single' `back` $(sub) ${var}",
};
#define NHOSTILE (sizeof hostile / sizeof hostile[0])

/* Closes an open frame and parses it with jansson. */
static json_t *close_and_load(struct buf *b)
{
	json_error_t e;
	json_t *m;

	assert_int_equal(buf_append(b, "}", 1), 0);
	m = json_loadb(b->data, b->len, JSON_REJECT_DUPLICATES, &e);
	if (!m)
		fail_msg("not JSON: %s at %d: %s", e.text, e.position, b->data);
	return m;
}

static void assert_str_field(json_t *m, const char *key, const char *want)
{
	json_t *v = json_object_get(m, key);

	assert_true(json_is_string(v));
	assert_int_equal(json_string_length(v), strlen(want));
	assert_memory_equal(json_string_value(v), want, strlen(want));
}

static void test_run_encode_hostile_strings(void **state)
{
	(void)state;
	for (size_t i = 0; i < NHOSTILE; i++) {
		json_t *argv = json_pack("[s, s, s]", "/bin/echo", hostile[i], hostile[NHOSTILE - 1 - i]);
		struct proto_run r = {
			.jid = "0190a4b2-0000-7000-8000-000000000001", .command = hostile[i],
			.interpreter = hostile[(i + 1) % NHOSTILE], .cwd = hostile[(i + 2) % NHOSTILE],
			.run_as = hostile[(i + 3) % NHOSTILE], .argv = argv, .is_sudo = i & 1,
			.is_script = i & 2, .kill_on_timeout = true, .stream = i & 4,
			.output_cap = (long long)i * 1000, .timeout_sec = 60,
		};
		struct buf b;
		json_t *m;
		enum proto_type t;
		char err[256];

		buf_init(&b, 1 << 20);
		assert_int_equal(proto_run_encode(&b, &r), 0);
		m = close_and_load(&b);
		assert_str_field(m, "type", "run");
		assert_str_field(m, "jid", r.jid);
		assert_str_field(m, "command", hostile[i]);
		assert_str_field(m, "interpreter", r.interpreter);
		assert_str_field(m, "cwd", r.cwd);
		if (*r.run_as)
			assert_str_field(m, "run_as", r.run_as);
		else
			assert_null(json_object_get(m, "run_as"));
		assert_true(json_equal(json_object_get(m, "argv"), argv));
		assert_int_equal(json_is_true(json_object_get(m, "is_sudo")), r.is_sudo);
		assert_int_equal(json_is_true(json_object_get(m, "is_script")), r.is_script);
		assert_true(json_is_true(json_object_get(m, "kill_on_timeout")));
		assert_int_equal(json_object_get(m, "stream") != NULL, r.stream);
		assert_int_equal(json_integer_value(json_object_get(m, "output_cap")), r.output_cap);
		assert_int_equal(json_integer_value(json_object_get(m, "timeout_sec")), 60);
		json_decref(m);
		/* And the agent's own parser takes it. */
		assert_int_equal(proto_parse(b.data, b.len, &m, &t, err, sizeof err), 0);
		assert_int_equal(t, PROTO_RUN);
		json_decref(m);
		buf_free(&b);
		json_decref(argv);
	}
}

static void test_run_encode_integers(void **state)
{
	static const long long v[] = { 0, 1, -1, 9, 10, 60, 2592000, 9223372036854775807LL,
				       -9223372036854775807LL - 1 };

	(void)state;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		struct proto_run r = { .jid = "j", .command = "c", .timeout_sec = v[i],
				       .output_cap = v[i] };
		struct buf b;
		json_t *m;

		buf_init(&b, 4096);
		assert_int_equal(proto_run_encode(&b, &r), 0);
		m = close_and_load(&b);
		assert_true(json_is_integer(json_object_get(m, "timeout_sec")));
		assert_int_equal(json_integer_value(json_object_get(m, "timeout_sec")), v[i]);
		/* output_cap only when positive */
		assert_int_equal(json_object_get(m, "output_cap") != NULL, v[i] > 0);
		if (v[i] > 0)
			assert_int_equal(json_integer_value(json_object_get(m, "output_cap")), v[i]);
		json_decref(m);
		buf_free(&b);
	}
}

static void test_put_str_every_byte_and_random_code_points(void **state)
{
	uint32_t seed = 12345;

	(void)state;
	/* Every single byte below 0x80. */
	for (int c = 1; c < 0x80; c++) {
		char s[2] = { (char)c, 0 };
		struct buf b;
		json_t *m;

		buf_init(&b, 1024);
		assert_int_equal(buf_append(&b, "{\"k\":", 5), 0);
		assert_int_equal(proto_put_str(&b, s, 1), 0);
		m = close_and_load(&b);
		assert_str_field(m, "k", s);
		json_decref(m);
		buf_free(&b);
	}
	/* Random strings of random code points, as jansson writes them. */
	for (int round = 0; round < 2000; round++) {
		json_t *in = json_array(), *m;
		struct buf b;
		char *text;
		size_t n;

		for (int k = 0; k < 8; k++) {
			char s[64];
			size_t o = 0;

			for (int ch = 0; ch < 12; ch++) {
				uint32_t cp;

				seed = seed * 1103515245u + 12345u;
				cp = (seed >> 8) % (round % 3 ? 0x80 : 0x110000);
				if (!cp || (cp >= 0xd800 && cp <= 0xdfff))
					cp = 'x';
				if (cp < 0x80) {
					s[o++] = (char)cp;
				} else if (cp < 0x800) {
					s[o++] = (char)(0xc0 | cp >> 6);
					s[o++] = (char)(0x80 | (cp & 0x3f));
				} else if (cp < 0x10000) {
					s[o++] = (char)(0xe0 | cp >> 12);
					s[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
					s[o++] = (char)(0x80 | (cp & 0x3f));
				} else {
					s[o++] = (char)(0xf0 | cp >> 18);
					s[o++] = (char)(0x80 | ((cp >> 12) & 0x3f));
					s[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
					s[o++] = (char)(0x80 | (cp & 0x3f));
				}
			}
			s[o] = 0;
			json_array_append_new(in, json_string(s));
		}
		buf_init(&b, 1 << 16);
		assert_int_equal(buf_append(&b, "{\"k\":[", 6), 0);
		for (size_t k = 0; k < json_array_size(in); k++) {
			json_t *v = json_array_get(in, k);

			if (k)
				assert_int_equal(buf_append(&b, ",", 1), 0);
			assert_int_equal(proto_put_str(&b, json_string_value(v),
						       json_string_length(v)), 0);
		}
		assert_int_equal(buf_append(&b, "]", 1), 0);
		m = close_and_load(&b);
		assert_true(json_equal(json_object_get(m, "k"), in));
		/* Byte for byte what jansson itself writes. */
		text = json_dumps(in, JSON_COMPACT);
		n = strlen(text);
		assert_int_equal(b.len, 5 + n + 1);
		assert_memory_equal(b.data + 5, text, n);
		free(text);
		json_decref(m);
		json_decref(in);
		buf_free(&b);
	}
}

static void test_put_str_refuses_invalid_utf8(void **state)
{
	static const char *const bad[] = {
		"\x80", "\xc3", "a\xc3(", "\xe2\x82", "\xed\xa0\x80" /* a surrogate */,
		"\xc0\xaf" /* overlong */, "\xf4\x90\x80\x80" /* past U+10FFFF */, "\xff",
	};

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct buf b;

		buf_init(&b, 1024);
		assert_int_equal(proto_put_str(&b, bad[i], strlen(bad[i])), TE_INVAL);
		buf_free(&b);
	}
}

static void test_ack_frames(void **state)
{
	char jids[3][UUID_STR_LEN] = { "0190a4b2-0000-7000-8000-000000000001",
				       "0190a4b2-0000-7000-8000-000000000002", "x\"y" };
	enum proto_type t;
	char err[256];
	struct buf b;
	json_t *m;

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(proto_ack_encode(&b, jids[0]), 0);
	assert_string_equal(b.data, "{\"type\":\"ack\",\"jid\":\"0190a4b2-0000-7000-8000-000000000001\"}");
	assert_int_equal(proto_parse(b.data, b.len, &m, &t, err, sizeof err), 0);
	assert_int_equal(t, PROTO_ACK);
	json_decref(m);
	buf_free(&b);

	buf_init(&b, 4096);
	assert_int_equal(proto_acks_encode(&b, (const char (*)[UUID_STR_LEN])jids, 3), 0);
	assert_int_equal(proto_parse(b.data, b.len, &m, &t, err, sizeof err), 0);
	assert_int_equal(t, PROTO_ACKS);
	assert_int_equal(json_array_size(json_object_get(m, "jids")), 3);
	assert_string_equal(json_string_value(json_array_get(json_object_get(m, "jids"), 2)), "x\"y");
	json_decref(m);
	buf_free(&b);

	/* jids must be an array of strings. */
	assert_int_equal(proto_parse("{\"type\":\"acks\",\"jids\":\"a\"}", 26, &m, &t, err,
				     sizeof err), -1);
	assert_non_null(strstr(err, "not an array"));
	assert_int_equal(proto_parse("{\"type\":\"acks\",\"jids\":[1]}", 26, &m, &t, err,
				     sizeof err), -1);
	assert_non_null(strstr(err, "not a string"));
	assert_int_equal(proto_parse("{\"type\":\"acks\"}", 15, &m, &t, err, sizeof err), -1);
}

static int streq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* The fast decode of text, if it takes it, equals jansson's reading. */
static int check_same(const char *text, size_t len)
{
	char *arena = malloc(len + 1);
	struct proto_result fr, jr;
	struct proto_started fs, js;
	enum proto_type t;
	char err[256];
	json_t *m;
	int ft;

	assert_non_null(arena);
	ft = proto_fast_decode(text, len, arena, &fr, &fs);
	if (ft < 0) {
		free(arena);
		return ft;
	}
	if (proto_parse(text, len, &m, &t, err, sizeof err))
		fail_msg("fast decode took a frame proto_parse refuses (%s): %.*s", err, (int)len, text);
	assert_int_equal((int)t, ft);
	if (ft == PROTO_RESULT) {
		proto_result_from_json(&jr, m);
		assert_true(streq(fr.jid, jr.jid) && streq(fr.status, jr.status) &&
			    streq(fr.error, jr.error) && streq(fr.enc[0], jr.enc[0]) &&
			    streq(fr.enc[1], jr.enc[1]) && streq(fr.started_at, jr.started_at) &&
			    streq(fr.finished_at, jr.finished_at));
		for (int i = 0; i < 2; i++) {
			assert_int_equal(fr.out[i] != NULL, jr.out[i] != NULL);
			assert_int_equal(fr.out_len[i], jr.out_len[i]);
			if (fr.out[i])
				assert_memory_equal(fr.out[i], jr.out[i], fr.out_len[i]);
			assert_int_equal(fr.dropped[i], jr.dropped[i]);
		}
		assert_int_equal(fr.has_exit_code, jr.has_exit_code);
		assert_int_equal(fr.exit_code, jr.exit_code);
		assert_int_equal(fr.pid, jr.pid);
		assert_int_equal(fr.output_cap, jr.output_cap);
	} else {
		proto_started_from_json(&js, m);
		assert_true(streq(fs.jid, js.jid) && streq(fs.started_at, js.started_at));
		assert_int_equal(fs.pid, js.pid);
	}
	json_decref(m);
	free(arena);
	return ft;
}

static void test_decode_result_as_jansson_reads_it(void **state)
{
	(void)state;
	for (size_t i = 0; i < NHOSTILE; i++) {
		json_t *m = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:I, s:I, s:i, s:s, s:s, "
				      "s:b, s:n, s:I}",
				      "type", "result", "jid", "0190a4b2-0000-7000-8000-00000000000a",
				      "status", "failed", "exit_code", -3, "error", hostile[i],
				      "stdout", hostile[(i + 1) % NHOSTILE], "stderr", hostile[(i + 2) % NHOSTILE],
				      "stdout_dropped", (json_int_t)9223372036854775807LL,
				      "stderr_dropped", (json_int_t)(-9223372036854775807LL - 1), "pid", 4242,
				      "started_at", "2026-12-01T18:00:00.123456789Z",
				      "finished_at", "2026-12-01T18:00:01Z", "extra", 1, "also", "output_cap",
				      (json_int_t)1048576);
		char *text = json_dumps(m, JSON_COMPACT);
		char *pretty = json_dumps(m, JSON_INDENT(3));

		assert_int_equal(check_same(text, strlen(text)), PROTO_RESULT);
		assert_int_equal(check_same(pretty, strlen(pretty)), PROTO_RESULT);
		free(text);
		free(pretty);
		json_decref(m);
	}
	{
		const char *st = "{\"type\":\"started\",\"jid\":\"j\\u00e9\\ud83d\\ude00\",\"pid\":7,"
				 "\"started_at\":\"2026-12-01T18:00:00Z\"}";
		const char *esc = "{\"type\":\"result\",\"jid\":\"a\\/b\",\"status\":\"successful\","
				  "\"stdout\":\"\\b\\f\\n\\r\\t\\\"\\\\\\u001f\\u20AC\",\"exit_code\":null}";

		assert_int_equal(check_same(st, strlen(st)), PROTO_STARTED);
		assert_int_equal(check_same(esc, strlen(esc)), PROTO_RESULT);
	}
}

static void test_decode_leaves_the_unusual_to_proto_parse(void **state)
{
	static const char *const left[] = {
		"{\"type\":\"result\",\"jid\":\"j\",\"status\":\"ok\",\"x\":{}}",           /* nested */
		"{\"type\":\"result\",\"jid\":\"j\",\"status\":\"ok\",\"x\":[1]}",
		"{\"type\":\"result\",\"jid\":\"j\",\"status\":\"ok\",\"pid\":1.5}",        /* real */
		"{\"type\":\"result\",\"jid\":\"j\",\"status\":\"ok\",\"pid\":1e3}",
		"{\"type\":\"result\",\"jid\":\"j\",\"status\":\"ok\",\"pid\":01}",         /* bad number */
		"{\"type\":\"result\",\"jid\":\"j\",\"status\":\"ok\",\"pid\":9223372036854775808}",
		"{\"type\":\"result\",\"jid\":\"j\",\"jid\":\"k\",\"status\":\"ok\"}",     /* duplicate */
		"{\"type\":\"result\",\"j\\u0069d\":\"j\",\"status\":\"ok\"}",              /* escaped key */
		"{\"type\":\"result\",\"jid\":\"a\\u0000b\",\"status\":\"ok\"}",            /* NUL */
		"{\"type\":\"result\",\"jid\":\"\\ud800\",\"status\":\"ok\"}",              /* lone surrogate */
		"{\"type\":\"result\",\"jid\":\"\\udc00\\ud800\",\"status\":\"ok\"}",
		"{\"type\":\"result\",\"jid\":\"\\x41\",\"status\":\"ok\"}",                /* bad escape */
		"{\"type\":\"result\",\"jid\":\"a\tb\",\"status\":\"ok\"}",                 /* raw control */
		"{\"type\":\"result\",\"jid\":\"\xc3\",\"status\":\"ok\"}",                 /* bad UTF-8 */
		"{\"type\":\"result\",\"jid\":\"j\",\"status\":\"ok\"} x",                  /* trailing */
		"{\"type\":\"result\",\"jid\":\"j\",\"status\":\"ok\",}",
		"{\"type\":\"result\",\"jid\":\"j\"}",                                      /* no status */
		"{\"type\":\"result\",\"jid\":1,\"status\":\"ok\"}",
		"{\"type\":\"started\",\"jid\":\"j\",\"pid\":\"1\"}",                       /* pid a string */
		"{\"type\":\"started\",\"jid\":\"j\"}",
		"{\"type\":\"output\",\"jid\":\"j\",\"stream\":\"stdout\",\"data\":\"x\"}",  /* other types */
		"{\"type\":\"ping\"}",
		"{\"jid\":\"j\",\"status\":\"ok\"}",
		"[\"type\",\"result\"]",
		"{\"type\":\"result\",\"jid\":\"j\",\"status\":\"ok\",\"pid\":tru}",
		"{\"type\":\"result\",\"jid\":\"j\",\"status\":\"ok\"",
		"",
	};

	(void)state;
	for (size_t i = 0; i < sizeof left / sizeof left[0]; i++)
		if (check_same(left[i], strlen(left[i])) >= 0)
			fail_msg("decoded, should have been left: %s", left[i]);
}

/* Random damage to valid frames: whatever the decoder takes, jansson
 * reads the same way. */
static void test_decode_damaged_frames(void **state)
{
	static const char *const base[] = {
		"{\"type\":\"result\",\"jid\":\"0190a4b2-0000-7000-8000-00000000000a\","
		"\"status\":\"successful\",\"exit_code\":0,\"error\":\"\",\"stdout\":\"a\\nb\\u00e9\","
		"\"stderr\":\"\",\"stdout_dropped\":0,\"stderr_dropped\":0,\"pid\":12,"
		"\"started_at\":\"2026-12-01T18:00:00Z\",\"finished_at\":\"2026-12-01T18:00:01Z\"}",
		"{\"type\":\"started\",\"jid\":\"0190a4b2\",\"pid\":-5,\"started_at\":\"t\"}",
	};
	static const char pool[] = "{}[]\",:\\ 0123456789-.eEnulltruefalse\x01\x80\xc3\xa9u";
	uint32_t seed = 99;
	int taken = 0;

	(void)state;
	for (int round = 0; round < 20000; round++) {
		const char *b = base[round & 1];
		size_t n = strlen(b);
		char buf[512];

		memcpy(buf, b, n);
		for (int k = 0; k < 1 + round % 3; k++) {
			seed = seed * 1103515245u + 12345u;
			buf[(seed >> 8) % n] = pool[(seed >> 20) % (sizeof pool - 1)];
		}
		if (check_same(buf, n) >= 0)
			taken++;
	}
	assert_true(taken > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_encode_hostile_strings),
		cmocka_unit_test(test_run_encode_integers),
		cmocka_unit_test(test_put_str_every_byte_and_random_code_points),
		cmocka_unit_test(test_put_str_refuses_invalid_utf8),
		cmocka_unit_test(test_ack_frames),
		cmocka_unit_test(test_decode_result_as_jansson_reads_it),
		cmocka_unit_test(test_decode_leaves_the_unusual_to_proto_parse),
		cmocka_unit_test(test_decode_damaged_frames),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
