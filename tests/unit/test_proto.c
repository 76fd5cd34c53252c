/* Unit tests for src/common/proto.c: every frame type with its required
 * fields, every way a frame can be refused (with the message in err),
 * extra fields, proto_dump round trips and proto_type_name. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* ---- helpers ------------------------------------------------------------ */

/* One valid frame per type, in enum order, with exactly the required
 * fields. */
static const char *const valid_frames[PROTO_TYPE_COUNT] = {
	[PROTO_HELLO] = "{\"type\":\"hello\",\"auth_id\":\"clientAuth1\",\"password\":\"1234\",\"id\":\"c1\"}",
	[PROTO_WELCOME] = "{\"type\":\"welcome\"}",
	[PROTO_RUN] = "{\"type\":\"run\",\"jid\":\"j1\",\"command\":\"/usr/bin/date\",\"timeout_sec\":60}",
	[PROTO_STARTED] = "{\"type\":\"started\",\"jid\":\"j1\",\"pid\":4242}",
	[PROTO_REJECT] = "{\"type\":\"reject\",\"jid\":\"j1\",\"error\":\"command is not allowed\"}",
	[PROTO_OUTPUT] = "{\"type\":\"output\",\"jid\":\"j1\",\"stream\":\"stdout\",\"data\":\"hi\\n\"}",
	[PROTO_RESULT] = "{\"type\":\"result\",\"jid\":\"j1\",\"status\":\"successful\"}",
	[PROTO_CANCEL] = "{\"type\":\"cancel\",\"jid\":\"j1\"}",
	[PROTO_ACK] = "{\"type\":\"ack\",\"jid\":\"j1\"}",
	[PROTO_PING] = "{\"type\":\"ping\"}",
	[PROTO_PONG] = "{\"type\":\"pong\"}",
	[PROTO_ERROR] = "{\"type\":\"error\",\"message\":\"bad frame\"}",
	[PROTO_ENROLL] = "{\"type\":\"enroll\",\"code\":\"ec1.s\",\"id\":\"c1\"}",
	[PROTO_ENROLLED] = "{\"type\":\"enrolled\",\"auth_id\":\"c1\",\"password\":\"p\",\"id\":\"c1\"}",
	[PROTO_ACKS] = "{\"type\":\"acks\",\"jids\":[\"j1\",\"j2\"]}",
};

/* The required fields of each type and whether each is an integer. */
struct req_field {
	const char *name;
	int is_int;
};
static const struct req_field required[PROTO_TYPE_COUNT][3] = {
	[PROTO_HELLO] = { { "auth_id", 0 }, { "password", 0 }, { "id", 0 } },
	[PROTO_RUN] = { { "jid", 0 }, { "command", 0 }, { "timeout_sec", 1 } },
	[PROTO_STARTED] = { { "jid", 0 }, { "pid", 1 } },
	[PROTO_REJECT] = { { "jid", 0 }, { "error", 0 } },
	[PROTO_OUTPUT] = { { "jid", 0 }, { "stream", 0 }, { "data", 0 } },
	[PROTO_RESULT] = { { "jid", 0 }, { "status", 0 } },
	[PROTO_CANCEL] = { { "jid", 0 } },
	[PROTO_ACK] = { { "jid", 0 } },
	[PROTO_ERROR] = { { "message", 0 } },
	[PROTO_ENROLL] = { { "code", 0 }, { "id", 0 } },
	[PROTO_ENROLLED] = { { "auth_id", 0 }, { "password", 0 }, { "id", 0 } },
};

static const char *const type_names[PROTO_TYPE_COUNT] = {
	"hello", "welcome", "run", "started", "reject", "output",
	"result", "cancel", "ack", "ping", "pong", "error", "enroll", "enrolled", "acks",
};

/* Parses text that must be accepted; returns the document (caller decrefs). */
static json_t *parse_ok(const char *text, enum proto_type want)
{
	enum proto_type t = PROTO_TYPE_COUNT;
	char err[256] = "";
	json_t *m = NULL;
	int rc = proto_parse(text, strlen(text), &m, &t, err, sizeof err);

	if (rc != 0)
		fail_msg("refused <<%s>>: %s", text, err);
	assert_non_null(m);
	assert_int_equal((int)t, (int)want);
	return m;
}

/* Parses text (len bytes) that must be refused with needle in the message;
 * the out-parameters must stay untouched. */
static void parse_bad_n(const char *text, size_t len, const char *needle)
{
	enum proto_type t = PROTO_TYPE_COUNT;
	char err[256] = "";
	json_t *sentinel = json_object();
	json_t *m = sentinel;
	int rc = proto_parse(text, len, &m, &t, err, sizeof err);

	if (rc != -1)
		fail_msg("accepted <<%.*s>> (rc %d)", (int)len, text, rc);
	assert_ptr_equal(m, sentinel);
	assert_int_equal((int)t, PROTO_TYPE_COUNT);
	if (!err[0])
		fail_msg("<<%.*s>>: empty error message", (int)len, text);
	if (!strstr(err, needle))
		fail_msg("<<%.*s>>: error '%s' lacks '%s'", (int)len, text, err, needle);
	json_decref(sentinel);
}

static void parse_bad(const char *text, const char *needle)
{
	parse_bad_n(text, strlen(text), needle);
}

/* ---- valid frames ------------------------------------------------------- */

static void test_every_type_parses(void **state)
{
	(void)state;
	for (int i = 0; i < PROTO_TYPE_COUNT; i++) {
		json_t *m = parse_ok(valid_frames[i], (enum proto_type)i);

		assert_string_equal(json_string_value(json_object_get(m, "type")),
				    type_names[i]);
		/* The required fields are there with their values. */
		for (int k = 0; k < 3 && required[i][k].name; k++) {
			json_t *f = json_object_get(m, required[i][k].name);

			assert_non_null(f);
			if (required[i][k].is_int)
				assert_true(json_is_integer(f));
			else
				assert_true(json_is_string(f));
		}
		json_decref(m);
	}
}

static void test_field_values(void **state)
{
	json_t *m;

	(void)state;
	m = parse_ok(valid_frames[PROTO_RUN], PROTO_RUN);
	assert_string_equal(json_string_value(json_object_get(m, "jid")), "j1");
	assert_string_equal(json_string_value(json_object_get(m, "command")), "/usr/bin/date");
	assert_int_equal(json_integer_value(json_object_get(m, "timeout_sec")), 60);
	json_decref(m);

	m = parse_ok(valid_frames[PROTO_STARTED], PROTO_STARTED);
	assert_int_equal(json_integer_value(json_object_get(m, "pid")), 4242);
	json_decref(m);

	m = parse_ok(valid_frames[PROTO_OUTPUT], PROTO_OUTPUT);
	assert_string_equal(json_string_value(json_object_get(m, "data")), "hi\n");
	json_decref(m);
}

static void test_extra_fields_allowed(void **state)
{
	static const struct {
		const char *text;
		enum proto_type type;
	} cases[] = {
		{ "{\"type\":\"hello\",\"auth_id\":\"a\",\"password\":\"p\",\"id\":\"c\","
		  "\"name\":\"n\",\"facts\":{\"os\":\"linux\",\"ips\":[\"10.0.0.1\"]},\"v\":1}",
		  PROTO_HELLO },
		{ "{\"type\":\"welcome\",\"server_time\":\"2020-01-01T00:00:00Z\"}", PROTO_WELCOME },
		{ "{\"type\":\"run\",\"jid\":\"j\",\"command\":\"x\",\"timeout_sec\":1,"
		  "\"cwd\":\"/tmp\",\"is_sudo\":false,\"interpreter\":\"bash\",\"future\":null}",
		  PROTO_RUN },
		{ "{\"type\":\"result\",\"jid\":\"j\",\"status\":\"failed\",\"exit_code\":3,"
		  "\"stdout\":\"\",\"stderr\":\"e\"}", PROTO_RESULT },
		{ "{\"type\":\"ping\",\"seq\":7}", PROTO_PING },
		{ "{\"type\":\"pong\",\"seq\":7}", PROTO_PONG },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *m = parse_ok(cases[i].text, cases[i].type);

		json_decref(m);
	}
}

static void test_whitespace_and_order(void **state)
{
	const char *text = "  {\n \"jid\" : \"j\" ,\n \"type\" : \"ack\" }\n";
	json_t *m;

	(void)state;
	/* "type" need not come first; surrounding whitespace is fine. */
	m = parse_ok(text, PROTO_ACK);
	json_decref(m);
}

static void test_len_is_respected(void **state)
{
	/* Only len bytes are read: the frame is followed by junk. */
	const char *text = "{\"type\":\"ping\"}GARBAGE";
	enum proto_type t;
	char err[256] = "";
	json_t *m = NULL;

	(void)state;
	assert_int_equal(proto_parse(text, 15, &m, &t, err, sizeof err), 0);
	assert_int_equal((int)t, PROTO_PING);
	json_decref(m);
	/* The full length includes the junk and is refused. */
	parse_bad(text, "invalid JSON");
}

/* ---- refused frames ----------------------------------------------------- */

static void test_missing_required_field(void **state)
{
	(void)state;
	for (int i = 0; i < PROTO_TYPE_COUNT; i++) {
		for (int k = 0; k < 3 && required[i][k].name; k++) {
			json_t *m = parse_ok(valid_frames[i], (enum proto_type)i);
			char needle[64];
			char *text;

			json_object_del(m, required[i][k].name);
			text = json_dumps(m, JSON_COMPACT);
			assert_non_null(text);
			snprintf(needle, sizeof needle, "bad \"%s\" frame", type_names[i]);
			parse_bad(text, needle);
			/* The message names the missing field. */
			parse_bad(text, required[i][k].name);
			free(text);
			json_decref(m);
		}
	}
}

static void test_wrong_field_type(void **state)
{
	(void)state;
	for (int i = 0; i < PROTO_TYPE_COUNT; i++) {
		for (int k = 0; k < 3 && required[i][k].name; k++) {
			/* A string where an integer belongs and vice versa, plus
			 * null, an array and an object. */
			json_t *bads[] = {
				required[i][k].is_int ? json_string("5") : json_integer(5),
				json_null(),
				json_array(),
				json_object(),
				json_true(),
			};

			for (size_t b = 0; b < sizeof bads / sizeof bads[0]; b++) {
				json_t *m = parse_ok(valid_frames[i], (enum proto_type)i);
				char needle[64];
				char *text;

				json_object_set_new(m, required[i][k].name, bads[b]);
				text = json_dumps(m, JSON_COMPACT);
				assert_non_null(text);
				snprintf(needle, sizeof needle, "bad \"%s\" frame", type_names[i]);
				parse_bad(text, needle);
				free(text);
				json_decref(m);
			}
		}
	}
}

static void test_integer_fields_refuse_reals(void **state)
{
	(void)state;
	parse_bad("{\"type\":\"run\",\"jid\":\"j\",\"command\":\"x\",\"timeout_sec\":1.5}",
		  "bad \"run\" frame");
	parse_bad("{\"type\":\"started\",\"jid\":\"j\",\"pid\":12.0}", "bad \"started\" frame");
}

static void test_unknown_type(void **state)
{
	(void)state;
	parse_bad("{\"type\":\"teleport\"}", "unknown frame type");
	parse_bad("{\"type\":\"teleport\"}", "teleport");
	/* Names are exact: no case folding, no padding. */
	parse_bad("{\"type\":\"PING\"}", "unknown frame type");
	parse_bad("{\"type\":\" ping\"}", "unknown frame type");
	parse_bad("{\"type\":\"\"}", "unknown frame type");
	/* A very long name is cut in the message, which still fits. */
	{
		char text[2048];
		char err[64] = "";
		enum proto_type t;
		json_t *m = NULL;
		int n = snprintf(text, sizeof text, "{\"type\":\"%01000d\"}", 0);

		assert_true(n > 0 && (size_t)n < sizeof text);
		assert_int_equal(proto_parse(text, (size_t)n, &m, &t, err, sizeof err), -1);
		assert_null(m);
		assert_non_null(strstr(err, "unknown frame type"));
		assert_true(strlen(err) < sizeof err);
	}
}

static void test_type_not_a_string(void **state)
{
	(void)state;
	parse_bad("{\"type\":5}", "\"type\"");
	parse_bad("{\"type\":null}", "\"type\"");
	parse_bad("{\"type\":[\"ping\"]}", "\"type\"");
	parse_bad("{\"type\":{\"name\":\"ping\"}}", "\"type\"");
	parse_bad("{\"type\":true}", "\"type\"");
	parse_bad("{\"jid\":\"j\"}", "\"type\"");
	parse_bad("{\"jid\":\"x\"}", "no string \"type\"");
	parse_bad("{}", "\"type\"");
}

static void test_not_an_object(void **state)
{
	(void)state;
	parse_bad("[]", "not a JSON object");
	parse_bad("[{\"type\":\"ping\"}]", "not a JSON object");
	/* jansson refuses bare scalars at the top level itself: the message
	 * then says an object was expected. */
	parse_bad("\"ping\"", "'{' expected");
	parse_bad("42", "'{' expected");
	parse_bad("null", "'{' expected");
	parse_bad("true", "'{' expected");
}

static void test_invalid_json(void **state)
{
	(void)state;
	parse_bad("", "invalid JSON");
	parse_bad("   ", "invalid JSON");
	parse_bad("{", "invalid JSON");
	parse_bad("{\"type\":\"ping\"", "invalid JSON");
	parse_bad("{\"type\":\"ping\",}", "invalid JSON");
	parse_bad("{'type':'ping'}", "invalid JSON");
	parse_bad("{\"type\":\"ping\"} {\"type\":\"pong\"}", "invalid JSON");
	parse_bad("{\"type\":\"ping\"}x", "invalid JSON");
	/* Invalid UTF-8 inside a string. */
	parse_bad("{\"type\":\"ping\",\"x\":\"\xff\"}", "invalid JSON");
	/* A NUL byte inside the given length. */
	parse_bad_n("{\"type\":\"ping\"}\0", 16, "invalid JSON");
	/* The message says where. */
	parse_bad("{\"type\" \"ping\"}", "offset");
}

static void test_duplicate_keys(void **state)
{
	(void)state;
	parse_bad("{\"type\":\"ack\",\"jid\":\"a\",\"jid\":\"b\"}", "duplicate");
	/* A duplicate is refused as invalid JSON. */
	parse_bad("{\"type\":\"ack\",\"jid\":\"a\",\"jid\":\"b\"}", "invalid JSON");
	parse_bad("{\"type\":\"ping\",\"type\":\"pong\"}", "duplicate");
	/* Also in nested objects. */
	parse_bad("{\"type\":\"ping\",\"x\":{\"a\":1,\"a\":2}}", "duplicate");
}

static void test_nesting_limit(void **state)
{
	char text[512];
	size_t o = 0;

	(void)state;
	o += (size_t)snprintf(text, sizeof text, "{\"type\":\"ping\",\"x\":");
	for (int i = 0; i < 40; i++)
		text[o++] = '[';
	for (int i = 0; i < 40; i++)
		text[o++] = ']';
	text[o++] = '}';
	text[o] = '\0';
	parse_bad(text, "deeper");
}

static void test_err_small_buffer(void **state)
{
	enum proto_type t;
	char err[8];
	json_t *m = NULL;

	(void)state;
	/* The message is cut to the buffer and terminated. */
	memset(err, 'X', sizeof err);
	assert_int_equal(proto_parse("[]", 2, &m, &t, err, sizeof err), -1);
	assert_null(m);
	assert_int_equal(strlen(err), sizeof err - 1);
}

/* ---- proto_dump / proto_new / proto_type_name ---------------------------- */

static void test_dump_round_trip(void **state)
{
	(void)state;
	for (int i = 0; i < PROTO_TYPE_COUNT; i++) {
		json_t *m = parse_ok(valid_frames[i], (enum proto_type)i), *m2;
		size_t len = 0;
		char *s = proto_dump(m, &len);

		assert_non_null(s);
		assert_int_equal(len, strlen(s));
		/* Compact: no spaces or newlines outside strings. */
		assert_null(strchr(s, '\n'));
		assert_null(strstr(s, ": "));
		assert_null(strstr(s, ", "));
		m2 = parse_ok(s, (enum proto_type)i);
		assert_true(json_equal(m, m2));
		/* Does not steal: m is still ours to free. */
		assert_int_equal(m->refcount, 1);
		json_decref(m2);
		json_decref(m);
		free(s);
	}
}

static void test_dump_special_content(void **state)
{
	json_t *m = proto_new(PROTO_OUTPUT), *m2;
	const char *data = "line1\nquote\" back\\ tab\t \xc3\xa9 \xe2\x82\xac";
	size_t len = 0;
	char *s;

	(void)state;
	json_object_set_new(m, "jid", json_string("j"));
	json_object_set_new(m, "stream", json_string("stderr"));
	json_object_set_new(m, "data", json_string(data));
	json_object_set_new(m, "seq", json_integer(9007199254740993LL));
	s = proto_dump(m, &len);
	assert_non_null(s);
	assert_int_equal(len, strlen(s));
	m2 = parse_ok(s, PROTO_OUTPUT);
	assert_string_equal(json_string_value(json_object_get(m2, "data")), data);
	assert_int_equal(json_integer_value(json_object_get(m2, "seq")), 9007199254740993LL);
	assert_true(json_equal(m, m2));
	free(s);
	/* len may be NULL. */
	s = proto_dump(m, NULL);
	assert_non_null(s);
	free(s);
	json_decref(m2);
	json_decref(m);
}

static void test_proto_new(void **state)
{
	(void)state;
	for (int i = 0; i < PROTO_TYPE_COUNT; i++) {
		json_t *m = proto_new((enum proto_type)i);

		assert_non_null(m);
		assert_true(json_is_object(m));
		assert_int_equal(json_object_size(m), 1);
		assert_string_equal(json_string_value(json_object_get(m, "type")), type_names[i]);
		json_decref(m);
	}
	/* Types without required fields parse straight from proto_new. */
	{
		static const enum proto_type bare[] = { PROTO_WELCOME, PROTO_PING, PROTO_PONG };

		for (size_t i = 0; i < sizeof bare / sizeof bare[0]; i++) {
			json_t *m = proto_new(bare[i]), *m2;
			char *s = proto_dump(m, NULL);

			m2 = parse_ok(s, bare[i]);
			json_decref(m2);
			json_decref(m);
			free(s);
		}
	}
}

static void test_type_name(void **state)
{
	(void)state;
	for (int i = 0; i < PROTO_TYPE_COUNT; i++)
		assert_string_equal(proto_type_name((enum proto_type)i), type_names[i]);
	assert_string_equal(proto_type_name(PROTO_TYPE_COUNT), "?");
	assert_string_equal(proto_type_name((enum proto_type)(PROTO_TYPE_COUNT + 100)), "?");
	assert_string_equal(proto_type_name((enum proto_type)-1), "?");
}

static void test_json_limits(void **state)
{
	char err[256] = "";
	json_t *v;

	(void)state;
	v = json_pack("{s:[i,i,i], s:{s:{s:i}}}", "a", 1, 2, 3, "b", "c", "d", 1);
	assert_non_null(v);
	/* Depth counts every value: root 1, "b" 2, "c" 3, the integer 4. */
	assert_int_equal(proto_json_limits(v, 4, 3, err, sizeof err), 0);
	assert_int_equal(proto_json_limits(v, 3, 3, err, sizeof err), -1);
	assert_non_null(strstr(err, "deeper than 3"));
	err[0] = '\0';
	assert_int_equal(proto_json_limits(v, 4, 2, err, sizeof err), -1);
	assert_non_null(strstr(err, "more than 2"));
	json_decref(v);
}

/* ---- argv (issue 13 item 8) ---------------------------------------------- */

static char *render(const char *json)
{
	json_t *a = json_loads(json, 0, NULL);
	char err[200] = "", *out;

	assert_non_null(a);
	assert_int_equal(proto_argv_check(a, err, sizeof err), 0);
	out = proto_argv_render(a);
	assert_non_null(out);
	json_decref(a);
	return out;
}

static void expect_render(const char *json, const char *want)
{
	char *got = render(json);

	assert_string_equal(got, want);
	free(got);
}

static void test_argv_render(void **state)
{
	(void)state;
	expect_render("[\"/usr/bin/printf\", \"%s|\\n\", \"a b\", \"c\"]",
		      "/usr/bin/printf '%s|\n' 'a b' c");
	/* plain words stay, the rest is single-quoted, a quote is '\'' */
	expect_render("[\"ls\", \"-l\", \"a=b\", \"x,y:z@h%1+2\", \"\"]", "ls -l a=b x,y:z@h%1+2 ''");
	expect_render("[\"/bin/echo\", \"it's\", \"$HOME\", \"*\", \";\"]",
		      "/bin/echo 'it'\\''s' '$HOME' '*' ';'");
	/* a first word with '=' would be an assignment to the shell */
	expect_render("[\"A=b\", \"A=b\"]", "'A=b' A=b");
	/* non-ASCII is quoted; a space in the program name too */
	expect_render("[\"/usr/bin/true /bin/rm\", \"h\\u00e9\"]",
		      "'/usr/bin/true /bin/rm' 'h\xc3\xa9'");
	expect_render("[\"x\", \"'\"]", "x ''\\'''");
}

static void expect_argv_refused(const char *json, const char *msg)
{
	json_t *a = json_loads(json, JSON_ALLOW_NUL, NULL);
	char err[200] = "";

	assert_non_null(a);
	assert_int_equal(proto_argv_check(a, err, sizeof err), -1);
	assert_string_equal(err, msg);
	json_decref(a);
}

static void test_argv_check(void **state)
{
	char err[200] = "", *big, *r;
	json_t *a;

	(void)state;
	expect_argv_refused("{}", "argv must be an array of strings");
	expect_argv_refused("[]", "argv must have 1 to 256 entries, not 0");
	expect_argv_refused("[\"\"]", "argv[0], the program, is empty");
	expect_argv_refused("[\"x\", 1]", "argv[1] is not a string");
	expect_argv_refused("[\"x\", \"a\\u0000b\"]", "argv[1] holds a NUL byte");
	a = json_array();
	for (int i = 0; i < 257; i++)
		json_array_append_new(a, json_string("x"));
	assert_int_equal(proto_argv_check(a, err, sizeof err), -1);
	assert_string_equal(err, "argv must have 1 to 256 entries, not 257");
	json_array_remove(a, 0);
	assert_int_equal(proto_argv_check(a, err, sizeof err), 0);
	json_decref(a);

	big = malloc(PROTO_ARGV_ARG_MAX + 2);
	assert_non_null(big);
	memset(big, 'y', PROTO_ARGV_ARG_MAX + 1);
	big[PROTO_ARGV_ARG_MAX + 1] = '\0';
	a = json_pack("[s, s]", "x", big);
	assert_int_equal(proto_argv_check(a, err, sizeof err), -1);
	assert_string_equal(err, "argv[1] is 65537 bytes; the limit is 65536");
	json_decref(a);
	big[PROTO_ARGV_ARG_MAX] = '\0';
	a = json_pack("[s, s, s, s, s]", "x", big, big, big, big);
	assert_int_equal(proto_argv_check(a, err, sizeof err), -1);
	assert_string_equal(err, "argv holds 262145 bytes; the limit is 262144 in all");
	json_decref(a);
	/* the worst rendering: every byte a quote, each one '\'' */
	memset(big, '\'', PROTO_ARGV_ARG_MAX);
	a = json_pack("[s, s, s]", "x", big, big);
	assert_int_equal(proto_argv_check(a, err, sizeof err), 0);
	r = proto_argv_render(a);
	assert_non_null(r);
	assert_int_equal(strlen(r), 1 + 2 * (1 + 2 + 4 * PROTO_ARGV_ARG_MAX));
	free(r);
	json_decref(a);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_type_parses),
		cmocka_unit_test(test_field_values),
		cmocka_unit_test(test_extra_fields_allowed),
		cmocka_unit_test(test_whitespace_and_order),
		cmocka_unit_test(test_len_is_respected),
		cmocka_unit_test(test_missing_required_field),
		cmocka_unit_test(test_wrong_field_type),
		cmocka_unit_test(test_integer_fields_refuse_reals),
		cmocka_unit_test(test_unknown_type),
		cmocka_unit_test(test_type_not_a_string),
		cmocka_unit_test(test_not_an_object),
		cmocka_unit_test(test_invalid_json),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_nesting_limit),
		cmocka_unit_test(test_err_small_buffer),
		cmocka_unit_test(test_dump_round_trip),
		cmocka_unit_test(test_dump_special_content),
		cmocka_unit_test(test_proto_new),
		cmocka_unit_test(test_type_name),
		cmocka_unit_test(test_json_limits),
		cmocka_unit_test(test_argv_render),
		cmocka_unit_test(test_argv_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
