/* Unit tests for src/common/toml.c: every supported feature, every error
 * with its line number, and the configurations tether reads (rport's
 * [remote-commands] block, [client.labels]). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "toml.h"

/* ---- helpers ------------------------------------------------------------ */

/* Parses from an exact-size heap copy, so ASan catches any read past the
 * end (the reader must not rely on a NUL terminator). */
static int parse_exact(const char *text, size_t len, toml_value **out, char *err, size_t errlen)
{
	char *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, text, len);
	rc = toml_parse(copy, len, out, err, errlen);
	free(copy);
	return rc;
}

static toml_value *parse_ok(const char *text)
{
	toml_value *root = NULL;
	char err[256] = "";

	if (parse_exact(text, strlen(text), &root, err, sizeof err))
		fail_msg("parse failed for <<%s>>: %s", text, err);
	assert_non_null(root);
	return root;
}

static void expect_error(const char *text, const char *want)
{
	toml_value *root = NULL;
	char err[256] = "";

	if (parse_exact(text, strlen(text), &root, err, sizeof err) != -1)
		fail_msg("<<%s>> parsed, want error '%s'", text, want);
	assert_null(root);
	if (strcmp(err, want))
		fail_msg("<<%s>>: got '%s', want '%s'", text, err, want);
}

/* Same, for inputs with NUL bytes (length given). */
static void expect_error_n(const char *text, size_t len, const char *want)
{
	toml_value *root = NULL;
	char err[256] = "";

	assert_int_equal(parse_exact(text, len, &root, err, sizeof err), -1);
	assert_null(root);
	assert_string_equal(err, want);
}

static int64_t get_int(const toml_value *root, const char *path)
{
	int64_t v = 0;

	if (toml_int(toml_get_path(root, path), &v))
		fail_msg("%s is not an integer", path);
	return v;
}

static double get_float(const toml_value *root, const char *path)
{
	double v = 0;

	if (toml_float(toml_get_path(root, path), &v))
		fail_msg("%s is not a number", path);
	return v;
}

static const char *get_str(const toml_value *root, const char *path)
{
	const char *s = toml_string(toml_get_path(root, path));

	if (!s)
		fail_msg("%s is not a string", path);
	return s;
}

/* ---- the configurations tether reads ------------------------------------ */

/* rport's documented [remote-commands] block, with every setting
 * uncommented (the deny default written with \n, as in rport.conf). */
static const char seed_block[] =
	"[remote-commands]\n"
	"## Enable or disable remote commands.\n"
	"## Defaults: true\n"
	"enabled = true\n"
	"\n"
	"## Allow commands matching the following regular expressions.\n"
	"## The filter is applied to the command sent. Full path must be used.\n"
	"## See {order} parameter for more details how it's applied together with {deny}.\n"
	"## Defaults: ['^/usr/bin/.*','^/usr/local/bin/.*','^C:\\Windows\\System32\\.*']\n"
	"allow = ['^/usr/bin/.*','^/usr/local/bin/.*','^C:\\Windows\\System32\\.*']\n"
	"\n"
	"## Deny commands matching one of the following regular expressions.\n"
	"## With the below default filter only single commands are allowed.\n"
	"## Defaults: ['(\\||<|>|;|,|\\n|&)']\n"
	"deny = ['(\\||<|>|;|,|\\n|&)']\n"
	"\n"
	"## Order: ['allow','deny'] or ['deny','allow']. Order of which filter is applied first.\n"
	"## Defaults: ['allow','deny']\n"
	"order = ['allow','deny']\n"
	"\n"
	"## Limit the maximum length of the command or script output that is sent back.\n"
	"## Defaults: 4M\n"
	"send_back_limit = 4194304\n";

static void test_seed_remote_commands(void **state)
{
	toml_value *root = parse_ok(seed_block);
	const toml_value *rc = toml_get(root, "remote-commands");
	const toml_value *allow = toml_get(rc, "allow");
	const toml_value *order = toml_get_path(root, "remote-commands.order");
	bool b = false;

	(void)state;
	assert_int_equal(toml_type_of(rc), TOML_TABLE);
	assert_int_equal(toml_len(rc), 5);
	assert_string_equal(toml_key_at(rc, 0), "enabled");
	assert_string_equal(toml_key_at(rc, 1), "allow");
	assert_string_equal(toml_key_at(rc, 2), "deny");
	assert_string_equal(toml_key_at(rc, 3), "order");
	assert_string_equal(toml_key_at(rc, 4), "send_back_limit");
	assert_int_equal(toml_bool(toml_get(rc, "enabled"), &b), 0);
	assert_true(b);
	assert_int_equal(toml_type_of(allow), TOML_ARRAY);
	assert_int_equal(toml_len(allow), 3);
	assert_string_equal(toml_string(toml_at(allow, 0)), "^/usr/bin/.*");
	assert_string_equal(toml_string(toml_at(allow, 1)), "^/usr/local/bin/.*");
	/* Literal strings are byte-exact: single backslashes stay. */
	assert_string_equal(toml_string(toml_at(allow, 2)), "^C:\\Windows\\System32\\.*");
	assert_string_equal(toml_string(toml_at(toml_get(rc, "deny"), 0)), "(\\||<|>|;|,|\\n|&)");
	assert_int_equal(toml_len(order), 2);
	assert_string_equal(toml_string(toml_at(order, 0)), "allow");
	assert_string_equal(toml_string(toml_at(order, 1)), "deny");
	assert_int_equal(get_int(root, "remote-commands.send_back_limit"), 4194304);
	assert_int_equal(toml_line(rc), 1);
	assert_int_equal(toml_line(toml_get(rc, "enabled")), 4);
	assert_int_equal(toml_line(allow), 10);
	assert_int_equal(toml_line(order), 19);
	toml_destroy(root);
}

static void test_seed_allow_examples(void **state)
{
	toml_value *root = parse_ok("[remote-commands]\n"
				    "allow = [\n"
				    "    '^\\/usr\\/bin\\/.*',\n"
				    "    '^\\/usr\\/local\\/bin\\/.*',\n"
				    "    '^sudo -n .*'\n"
				    "]\n"
				    "deny = [\n"
				    "    '^C:\\Windows\\System32.*',\n"
				    "    '^C:\\Users\\Administrator\\scripts\\.*\\.bat'\n"
				    "]\n");
	const toml_value *allow = toml_get_path(root, "remote-commands.allow");
	const toml_value *deny = toml_get_path(root, "remote-commands.deny");

	(void)state;
	assert_int_equal(toml_len(allow), 3);
	assert_string_equal(toml_string(toml_at(allow, 0)), "^\\/usr\\/bin\\/.*");
	assert_string_equal(toml_string(toml_at(allow, 1)), "^\\/usr\\/local\\/bin\\/.*");
	assert_string_equal(toml_string(toml_at(allow, 2)), "^sudo -n .*");
	assert_int_equal(toml_line(allow), 2);
	assert_int_equal(toml_line(toml_at(allow, 2)), 5);
	assert_string_equal(toml_string(toml_at(deny, 1)),
			    "^C:\\Users\\Administrator\\scripts\\.*\\.bat");
	toml_destroy(root);
}

static void test_client_labels(void **state)
{
	toml_value *root = parse_ok("[client]\n"
				    "server = \"127.0.0.1:8080\"\n"
				    "tags = ['win', 'server']\n"
				    "[client.labels]\n"
				    "zone = \"EU\"\n"
				    "\"data center\" = 'fra-1'\n");
	const toml_value *labels = toml_get_path(root, "client.labels");

	(void)state;
	assert_int_equal(toml_type_of(labels), TOML_TABLE);
	assert_int_equal(toml_len(labels), 2);
	assert_string_equal(toml_key_at(labels, 0), "zone");
	assert_string_equal(toml_string(toml_at(labels, 0)), "EU");
	assert_string_equal(toml_key_at(labels, 1), "data center");
	assert_string_equal(toml_string(toml_at(labels, 1)), "fra-1");
	assert_int_equal(toml_line(labels), 4);
	assert_int_equal(toml_line(toml_get(labels, "zone")), 5);
	/* client has server, tags and then labels, in file order. */
	assert_int_equal(toml_len(toml_get(root, "client")), 3);
	assert_string_equal(toml_key_at(toml_get(root, "client"), 2), "labels");
	assert_string_equal(get_str(root, "client.server"), "127.0.0.1:8080");
	toml_destroy(root);
}

/* ---- layout: comments, blank lines, line ends ---------------------------- */

static void test_comments_and_blank_lines(void **state)
{
	toml_value *root = parse_ok("# a comment\n"
				    "\n"
				    "   \t\n"
				    "a = 1 # after a value\n"
				    "  # indented comment\n"
				    "[t] # after a header\n"
				    "b = \"# not a comment\" #real\n"
				    "c = '#' # ''\n"
				    "#last line without newline");

	(void)state;
	assert_int_equal(get_int(root, "a"), 1);
	assert_string_equal(get_str(root, "t.b"), "# not a comment");
	assert_string_equal(get_str(root, "t.c"), "#");
	assert_int_equal(toml_line(toml_get(root, "a")), 4);
	assert_int_equal(toml_line(toml_get_path(root, "t.c")), 8);
	toml_destroy(root);
}

static void test_crlf_bom_and_empty(void **state)
{
	toml_value *root = parse_ok("\xef\xbb\xbf"
				    "a = 1\r\n[t]\r\nb = \"x\" # c\r\n\r\nc = '''\r\nl1\r\nl2'''\r\n");
	char err[64];

	(void)state;
	assert_int_equal(get_int(root, "a"), 1);
	assert_string_equal(get_str(root, "t.b"), "x");
	/* CRLF inside a multi-line string reads as LF. */
	assert_string_equal(get_str(root, "t.c"), "l1\nl2");
	assert_int_equal(toml_line(toml_get_path(root, "t.c")), 5);
	toml_destroy(root);

	root = parse_ok("");
	assert_int_equal(toml_type_of(root), TOML_TABLE);
	assert_int_equal(toml_len(root), 0);
	toml_destroy(root);
	root = NULL;
	/* NULL text with length 0 is an empty document. */
	assert_int_equal(toml_parse(NULL, 0, &root, err, sizeof err), 0);
	assert_int_equal(toml_len(root), 0);
	toml_destroy(root);
	root = NULL;
	assert_int_equal(toml_parse(NULL, 5, &root, err, sizeof err), -1);
	assert_int_equal(toml_parse("a=1", 3, NULL, err, sizeof err), -1);
	/* Without an error buffer, errors are still reported by the result. */
	assert_int_equal(toml_parse("a=", 2, &root, NULL, 0), -1);
	assert_null(root);

	expect_error("a = 1\rb = 2\n",
		     "line 1: unexpected byte 0x0d after a value (one key = value per line)");
	expect_error("# bell \a\n", "line 1: control character in a comment");
}

/* The text need not be NUL-terminated: only len bytes are read. */
static void test_length_is_respected(void **state)
{
	const char text[] = "a = 12345\nb = 'xyz'";
	toml_value *root = NULL;
	char err[128];

	(void)state;
	assert_int_equal(parse_exact(text, 6, &root, err, sizeof err), 0);
	assert_int_equal(get_int(root, "a"), 12);
	toml_destroy(root);
	assert_int_equal(parse_exact(text, strlen(text) - 1, &root, err, sizeof err), -1);
	assert_string_equal(err, "line 2: unterminated string");
	/* A NUL byte inside the given length is an error, not an end. */
	expect_error_n("a = 1\0b = 2", 11,
		       "line 1: unexpected byte 0x00 after a value (one key = value per line)");
	expect_error_n("a = 'x\0y'", 9, "line 1: control character in a string (use an escape)");
	expect_error_n("# c\0\n", 5, "line 1: control character in a comment");
}

/* ---- tables --------------------------------------------------------------- */

static void test_tables(void **state)
{
	toml_value *root = parse_ok("top = 0\n"
				    "[a]\n"
				    "x = 1\n"
				    "[a.b]\n"
				    "y = 2\n"
				    "[ c . \"quoted key\" . 'lit.eral' ]\n"
				    "z = 3\n"
				    "[remote-commands]\n"
				    "[x.y.z]\n"
				    "w = 4\n"
				    "[x]\n"
				    "v = 5\n"
				    "[\"\"]\n"
				    "e = 6\n");
	const toml_value *c;

	(void)state;
	assert_int_equal(toml_len(root), 6);
	assert_string_equal(toml_key_at(root, 0), "top");
	assert_string_equal(toml_key_at(root, 1), "a");
	assert_string_equal(toml_key_at(root, 2), "c");
	assert_string_equal(toml_key_at(root, 3), "remote-commands");
	assert_string_equal(toml_key_at(root, 4), "x");
	assert_string_equal(toml_key_at(root, 5), "");
	assert_int_equal(get_int(root, "a.x"), 1);
	assert_int_equal(get_int(root, "a.b.y"), 2);
	c = toml_get(toml_get(root, "c"), "quoted key");
	assert_int_equal(toml_int(toml_at(toml_get(c, "lit.eral"), 0), &(int64_t){ 0 }), 0);
	assert_int_equal(toml_len(toml_get(root, "remote-commands")), 0);
	assert_int_equal(toml_type_of(toml_get(root, "remote-commands")), TOML_TABLE);
	assert_int_equal(get_int(root, "x.y.z.w"), 4);
	assert_int_equal(get_int(root, "x.v"), 5);
	/* [x] was created by [x.y.z] (line 9) and defined at line 11. */
	assert_int_equal(toml_line(toml_get(root, "x")), 11);
	assert_int_equal(toml_line(toml_get_path(root, "x.y")), 9);
	{
		int64_t e = 0;

		assert_int_equal(toml_int(toml_get(toml_get(root, ""), "e"), &e), 0);
		assert_int_equal(e, 6);
	}
	toml_destroy(root);
}

static void test_table_errors(void **state)
{
	(void)state;
	expect_error("[t]\nx=1\n[t]\n", "line 3: table defined twice");
	expect_error("[a.b]\n[a]\n[a]\n", "line 3: table defined twice");
	expect_error("[a]\nb = 1\n[a.b]\n", "line 3: key 'b' is already a value");
	expect_error("a = 1\n[a]\n", "line 2: key 'a' is already a value");
	expect_error("a = [1]\n[a.b]\n", "line 2: key 'a' is already a value");
	expect_error("a = {x = 1}\n[a]\n", "line 2: key 'a' is already a value");
	expect_error("a = {x = 1}\n[a.y]\n", "line 2: key 'a' is already a value");
	expect_error("[a]\nb = 1\n\n[a.b.c]\n", "line 4: key 'b' is already a value");
	expect_error("[[x]]\n", "line 1: arrays of tables are not supported");
	expect_error("a = 1\n\n[[fruits]]\nname = 'x'\n", "line 3: arrays of tables are not supported");
	expect_error("[]\n", "line 1: expected a key, found ']'");
	expect_error("[a.]\n", "line 1: expected a key, found ']'");
	expect_error("[a\n", "line 1: expected ']' after a table name");
	expect_error("[a] b = 1\n", "line 1: unexpected 'b' after a table header");
	expect_error("[a]]\n", "line 1: unexpected ']' after a table header");
	expect_error("[\"a\nb\"]\n", "line 1: newline in a single-line string");
	expect_error("[a]\n['''b''']\n", "line 2: a key cannot be a multi-line string");
}

/* TOML's rules for dotted keys next to [headers]. */
static void test_dotted_keys(void **state)
{
	toml_value *root = parse_ok("a.b.c = 1\n"
				    "a . b . d = 2\n"
				    "\"q.k\".x = 3\n"
				    "site.\"google.com\" = true\n"
				    "[fruit]\n"
				    "apple.color = \"red\"\n"
				    "apple.taste.sweet = true\n"
				    "[fruit.apple.texture]\n"
				    "smooth = true\n"
				    "[a.e]\n"
				    "f = 4\n");
	bool b = false;

	(void)state;
	assert_int_equal(get_int(root, "a.b.c"), 1);
	assert_int_equal(get_int(root, "a.b.d"), 2);
	assert_int_equal(get_int(root, "a.e.f"), 4);
	assert_int_equal(toml_int(toml_get(toml_get(root, "q.k"), "x"), &(int64_t){ 0 }), 0);
	assert_int_equal(toml_bool(toml_get(toml_get(root, "site"), "google.com"), &b), 0);
	assert_true(b);
	assert_string_equal(get_str(root, "fruit.apple.color"), "red");
	assert_int_equal(toml_bool(toml_get_path(root, "fruit.apple.taste.sweet"), &b), 0);
	assert_int_equal(toml_bool(toml_get_path(root, "fruit.apple.texture.smooth"), &b), 0);
	assert_int_equal(toml_line(toml_get(root, "a")), 1);
	toml_destroy(root);

	expect_error("a.b = 1\na.b = 2\n", "line 2: duplicate key 'b'");
	expect_error("a.b = 1\na.b.c = 2\n", "line 2: key 'b' is already a value");
	expect_error("a = 1\na.b = 2\n", "line 2: key 'a' is already a value");
	expect_error("a.b = 1\n[a]\n", "line 2: table 'a' was already defined by dotted keys");
	expect_error("[fruit]\napple.color = 'red'\n[fruit.apple]\n",
		     "line 3: table 'apple' was already defined by dotted keys");
	expect_error("[a.b.c]\nz = 9\n[a]\nb.c.t = 1\n",
		     "line 4: table 'b' is defined by a [header]; add keys to it there");
}

/* ---- keys ------------------------------------------------------------------ */

static void test_keys(void **state)
{
	toml_value *root = parse_ok("bare_key-1 = 1\n"
				    "1234 = 2\n"
				    "\"quoted \\\"key\\\"\" = 3\n"
				    "'literal \\ key' = 4\n"
				    "\"\" = 5\n"
				    "\"\\u00e9t\\u00e9\" = 6\n"
				    "-_- = 7\n");

	(void)state;
	assert_int_equal(get_int(root, "bare_key-1"), 1);
	assert_int_equal(get_int(root, "1234"), 2);
	assert_non_null(toml_get(root, "quoted \"key\""));
	assert_non_null(toml_get(root, "literal \\ key"));
	assert_non_null(toml_get(root, ""));
	assert_non_null(toml_get(root, "\xc3\xa9t\xc3\xa9"));
	assert_int_equal(get_int(root, "-_-"), 7);
	toml_destroy(root);

	expect_error("a = 1\na = 2\n", "line 2: duplicate key 'a'");
	expect_error("a = 1\n\"a\" = 2\n", "line 2: duplicate key 'a'");
	expect_error("[t]\nk = 1\n'k' = 2\n", "line 3: duplicate key 'k'");
	expect_error("= 1\n", "line 1: expected a key, found '='");
	expect_error("a b = 1\n", "line 1: expected '=' after key 'a'");
	expect_error("a\n", "line 1: expected '=' after key 'a'");
	expect_error("a.\n", "line 1: expected a key");
	expect_error("a.b.\n= 1", "line 1: expected a key");
	expect_error("k\xc3\xa9 = 1\n", "line 1: expected '=' after key 'k'");
	expect_error("\xc3\xa9 = 1\n", "line 1: expected a key, found byte 0xc3");
	expect_error("\"\"\"k\"\"\" = 1\n", "line 1: a key cannot be a multi-line string");
	expect_error("a = 1\n\n\"k\\x\" = 1\n", "line 3: invalid escape '\\x'");
	/* A long key is shortened in the message. */
	expect_error("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa = 1\n"
		     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa = 2\n",
		     "line 2: duplicate key 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'");
	/* Control characters in keys are not copied into messages. */
	expect_error("\"a\\nb\" = 1\n\"a\\nb\" = 2\n", "line 2: duplicate key 'a?b'");
}

/* Tables with many keys use a hash index: lookups, order, duplicates. */
static void test_many_keys(void **state)
{
	size_t cap = 64 * 1024, n = 0;
	char *text = malloc(cap);
	toml_value *root;
	char err[128];

	(void)state;
	assert_non_null(text);
	n += (size_t)snprintf(text + n, cap - n, "[t]\n");
	for (int i = 0; i < 2000; i++)
		n += (size_t)snprintf(text + n, cap - n, "key%d = %d\n", i, i);
	root = parse_ok(text);
	assert_int_equal(toml_len(toml_get(root, "t")), 2000);
	for (int i = 0; i < 2000; i += 37) {
		char k[32];

		snprintf(k, sizeof k, "t.key%d", i);
		assert_int_equal(get_int(root, k), i);
		assert_string_equal(toml_key_at(toml_get(root, "t"), (size_t)i), k + 2);
	}
	assert_null(toml_get(toml_get(root, "t"), "key2000"));
	assert_null(toml_get(toml_get(root, "t"), "key"));
	toml_destroy(root);
	n += (size_t)snprintf(text + n, cap - n, "key1234 = 0\n");
	root = NULL;
	assert_int_equal(parse_exact(text, n, &root, err, sizeof err), -1);
	assert_string_equal(err, "line 2002: duplicate key 'key1234'");
	free(text);
}

/* ---- strings ---------------------------------------------------------------- */

static void test_basic_strings(void **state)
{
	toml_value *root = parse_ok("a = \"plain\"\n"
				    "b = \"q\\\"b\\\\s\\nn\\tt\\rr\\bb\\ff\"\n"
				    "c = \"\\u00e9\\u20AC\\U0001F600\\u0041\"\n"
				    "d = \"\"\n"
				    "e = \"tab\there\"\n"
				    "f = \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"\n"
				    "g = \"'single' inside\"\n");

	(void)state;
	assert_string_equal(get_str(root, "a"), "plain");
	assert_string_equal(get_str(root, "b"), "q\"b\\s\nn\tt\rr\bb\ff");
	assert_string_equal(get_str(root, "c"), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" "A");
	assert_string_equal(get_str(root, "d"), "");
	assert_string_equal(get_str(root, "e"), "tab\there");
	assert_string_equal(get_str(root, "f"), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	assert_string_equal(get_str(root, "g"), "'single' inside");
	toml_destroy(root);

	expect_error("a = \"\\q\"\n", "line 1: invalid escape '\\q'");
	expect_error("a = \"\\'\"\n", "line 1: invalid escape '\\''");
	expect_error("a = \"\\x41\"\n", "line 1: invalid escape '\\x'");
	expect_error("a = \"\\ \"\n", "line 1: invalid escape: backslash followed by byte 0x20");
	expect_error("a = \"\\", "line 1: invalid escape: backslash followed by the end of the input");
	expect_error("a = \"\\u12\"\n", "line 1: invalid unicode escape (\\u needs 4 hex digits)");
	expect_error("a = \"\\U0001F60\"\n", "line 1: invalid unicode escape (\\U needs 8 hex digits)");
	expect_error("a = \"\\uD800\"\n", "line 1: invalid unicode code point U+D800");
	expect_error("a = \"\\uDFFF\"\n", "line 1: invalid unicode code point U+DFFF");
	expect_error("a = \"\\U00110000\"\n", "line 1: invalid unicode code point U+110000");
	expect_error("a = \"\\UFFFFFFFF\"\n", "line 1: invalid unicode code point U+FFFFFFFF");
	expect_error("a = \"\\u0000\"\n", "line 1: NUL characters are not supported in strings");
	expect_error("a = \"x\x01y\"\n", "line 1: control character in a string (use an escape)");
	expect_error("a = \"x\x7fy\"\n", "line 1: control character in a string (use an escape)");
	expect_error("a = \"x\ry\"\n", "line 1: control character in a string (use an escape)");
	expect_error("s = \"abc\n", "line 1: newline in a single-line string");
	expect_error("s = \"abc\r\n", "line 1: newline in a single-line string");
	expect_error("\n\ns = \"abc", "line 3: unterminated string");
	expect_error("s = \"abc\" x\n", "line 1: unexpected 'x' after a value (one key = value per line)");
	expect_error("s = \"a\"\"b\"\n", "line 1: unexpected '\"' after a value (one key = value per line)");
}

static void test_invalid_utf8(void **state)
{
	(void)state;
	expect_error("a = \"\xff\"\n", "line 1: invalid UTF-8 in a string");
	expect_error("a = 1\nb = '\x80'\n", "line 2: invalid UTF-8 in a string");
	/* Overlong forms. */
	expect_error("a = \"\xc0\xaf\"\n", "line 1: invalid UTF-8 in a string");
	expect_error("a = \"\xc1\xbf\"\n", "line 1: invalid UTF-8 in a string");
	expect_error("a = \"\xe0\x80\xaf\"\n", "line 1: invalid UTF-8 in a string");
	expect_error("a = \"\xf0\x80\x80\xaf\"\n", "line 1: invalid UTF-8 in a string");
	/* UTF-16 surrogates, beyond U+10FFFF, 5-byte forms. */
	expect_error("a = \"\xed\xa0\x80\"\n", "line 1: invalid UTF-8 in a string");
	expect_error("a = \"\xf4\x90\x80\x80\"\n", "line 1: invalid UTF-8 in a string");
	expect_error("a = \"\xf8\x88\x80\x80\x80\"\n", "line 1: invalid UTF-8 in a string");
	/* Truncated sequences, also at the very end of the input. */
	expect_error("a = \"\xc3\"\n", "line 1: invalid UTF-8 in a string");
	expect_error("a = \"\xe2\x82\"\n", "line 1: invalid UTF-8 in a string");
	expect_error("a = '\xf0\x9f\x98", "line 1: invalid UTF-8 in a string");
	expect_error("a = '''\nok\n\xe2\x28\xa1'''\n", "line 3: invalid UTF-8 in a string");
	expect_error("\"k\xff\" = 1\n", "line 1: invalid UTF-8 in a string");
	{
		/* The largest valid sequences of each length pass. */
		toml_value *root = parse_ok("a = \"\xdf\xbf\xef\xbf\xbf\xf4\x8f\xbf\xbf\xee\x80\x80\"\n");

		assert_string_equal(get_str(root, "a"),
				    "\xdf\xbf\xef\xbf\xbf\xf4\x8f\xbf\xbf\xee\x80\x80");
		toml_destroy(root);
	}
}

static void test_literal_strings(void **state)
{
	toml_value *root = parse_ok("winpath = 'C:\\Users\\nodejs\\templates'\n"
				    "regex = '<\\i\\c*\\s*>'\n"
				    "quoted = 'Tom \"Dubs\" Preston-Werner'\n"
				    "sys = '^C:\\Windows\\System32\\.*'\n"
				    "empty = ''\n"
				    "tab = 'a\tb'\n");

	(void)state;
	assert_string_equal(get_str(root, "winpath"), "C:\\Users\\nodejs\\templates");
	assert_string_equal(get_str(root, "regex"), "<\\i\\c*\\s*>");
	assert_string_equal(get_str(root, "quoted"), "Tom \"Dubs\" Preston-Werner");
	assert_string_equal(get_str(root, "sys"), "^C:\\Windows\\System32\\.*");
	assert_string_equal(get_str(root, "empty"), "");
	assert_string_equal(get_str(root, "tab"), "a\tb");
	toml_destroy(root);

	expect_error("a = 'it''s'\n", "line 1: unexpected ''' after a value (one key = value per line)");
	expect_error("a = 'abc\n", "line 1: newline in a single-line string");
	expect_error("a = 'abc", "line 1: unterminated string");
	expect_error("a = 'x\x1by'\n", "line 1: control character in a string (use an escape)");
	/* The seed's deny rule with a raw newline (as the docs render it) is
	 * not TOML: a literal string cannot span lines. */
	expect_error("deny = ['(\\||<|>|;|,|\n|&)']\n", "line 1: newline in a single-line string");
}

static void test_multiline_strings(void **state)
{
	toml_value *root = parse_ok("a = \"\"\"\nRoses are red\nViolets are blue\"\"\"\n"
				    "b = \"\"\"\\\n  The quick \\\n\n   brown fox.\\\n  \"\"\"\n"
				    "c = \"\"\"Here are two quotes: \"\". Simple.\"\"\"\n"
				    "d = \"\"\"\"one quote\"\"\"\"\n"
				    "e = \"\"\"\"\"two quotes\"\"\"\"\"\n"
				    "f = '''\nThe first newline is\ntrimmed in raw strings.\n"
				    "   All other whitespace\n   is preserved.\n'''\n"
				    "g = '''I [dw]on't need \\d{2} apples'''\n"
				    "h = ''''That,' she said, 'is still pointless.''''\n"
				    "i = \"\"\"tab\\tescape \\u00e9 \\\"\"\"\"\n"
				    "j = \"\"\"\"\"\"\n"
				    "k = '''\n'''\n"
				    "l = \"\"\"a \\  \n  b\"\"\"\n"
				    "z = 1\n");

	(void)state;
	assert_string_equal(get_str(root, "a"), "Roses are red\nViolets are blue");
	assert_string_equal(get_str(root, "b"), "The quick brown fox.");
	assert_string_equal(get_str(root, "c"), "Here are two quotes: \"\". Simple.");
	assert_string_equal(get_str(root, "d"), "\"one quote\"");
	assert_string_equal(get_str(root, "e"), "\"\"two quotes\"\"");
	assert_string_equal(get_str(root, "f"),
			    "The first newline is\ntrimmed in raw strings.\n"
			    "   All other whitespace\n   is preserved.\n");
	assert_string_equal(get_str(root, "g"), "I [dw]on't need \\d{2} apples");
	assert_string_equal(get_str(root, "h"), "'That,' she said, 'is still pointless.'");
	assert_string_equal(get_str(root, "i"), "tab\tescape \xc3\xa9 \"");
	assert_string_equal(get_str(root, "j"), "");
	assert_string_equal(get_str(root, "k"), "");
	assert_string_equal(get_str(root, "l"), "a b");
	/* Lines keep counting through multi-line strings. */
	assert_int_equal(toml_line(toml_get(root, "a")), 1);
	assert_int_equal(toml_line(toml_get(root, "b")), 4);
	assert_int_equal(toml_line(toml_get(root, "c")), 9);
	assert_int_equal(toml_line(toml_get(root, "f")), 12);
	assert_int_equal(toml_line(toml_get(root, "z")), 26);
	toml_destroy(root);

	expect_error("a = \"\"\"\nabc\n\n", "line 4: unterminated string");
	expect_error("a = '''\nabc''\n", "line 3: unterminated string");
	expect_error("a = \"\"\"x\"\"\"\"\"\"\n",
		     "line 1: unexpected '\"' after a value (one key = value per line)");
	expect_error("a = \"\"\"\\ x\"\"\"\n",
		     "line 1: invalid escape: backslash followed by blanks "
		     "(a line-ending backslash must end its line)");
	expect_error("a = \"\"\"\n\\q\"\"\"\n", "line 2: invalid escape '\\q'");
	expect_error("a = \"\"\"x\ry\"\"\"\n", "line 1: control character in a string (use an escape)");
	expect_error_n("a = '''x\0y'''\n", 14, "line 1: control character in a string (use an escape)");
}

/* ---- numbers and booleans -------------------------------------------------- */

static void test_integers(void **state)
{
	toml_value *root = parse_ok("a = 99\nb = +42\nc = 0\nd = -17\ne = +0\nf = -0\n"
				    "g = 1_000\nh = 5_349_221\ni = 53_49_221\nj = 1_2_3_4_5\n"
				    "k = 0xDEADBEEF\nl = 0xdead_beef\nm = 0o01234567\nn = 0o755\n"
				    "o = 0b11010110\np = 0b1_0\nq = 9223372036854775807\n"
				    "r = -9223372036854775808\ns = 0x7fffffffffffffff\nt = 0x00\n"
				    "u = 0o777777777777777777777\n");

	(void)state;
	assert_int_equal(get_int(root, "a"), 99);
	assert_int_equal(get_int(root, "b"), 42);
	assert_int_equal(get_int(root, "c"), 0);
	assert_int_equal(get_int(root, "d"), -17);
	assert_int_equal(get_int(root, "e"), 0);
	assert_int_equal(get_int(root, "f"), 0);
	assert_int_equal(get_int(root, "g"), 1000);
	assert_int_equal(get_int(root, "h"), 5349221);
	assert_int_equal(get_int(root, "i"), 5349221);
	assert_int_equal(get_int(root, "j"), 12345);
	assert_int_equal(get_int(root, "k"), 0xDEADBEEF);
	assert_int_equal(get_int(root, "l"), 0xdeadbeef);
	assert_int_equal(get_int(root, "m"), 01234567);
	assert_int_equal(get_int(root, "n"), 0755);
	assert_int_equal(get_int(root, "o"), 214);
	assert_int_equal(get_int(root, "p"), 2);
	assert_true(get_int(root, "q") == INT64_MAX);
	assert_true(get_int(root, "r") == INT64_MIN);
	assert_true(get_int(root, "s") == INT64_MAX);
	assert_int_equal(get_int(root, "t"), 0);
	assert_true(get_int(root, "u") == 0777777777777777777777LL);
	assert_int_equal(toml_type_of(toml_get(root, "a")), TOML_INT);
	toml_destroy(root);

	expect_error("a = 99999999999999999999\n", "line 1: integer out of range");
	expect_error("a = 9223372036854775808\n", "line 1: integer out of range");
	expect_error("a = -9223372036854775809\n", "line 1: integer out of range");
	expect_error("a = 0x8000000000000000\n", "line 1: integer out of range");
	expect_error("a = 0b11111111111111111111111111111111111111111111111111111111111111111\n",
		     "line 1: integer out of range");
	expect_error("a = 0o1777777777777777777777\n", "line 1: integer out of range");
	expect_error("a = 012\n", "line 1: leading zeros are not allowed");
	expect_error("a = -01\n", "line 1: leading zeros are not allowed");
	expect_error("a = 0_1\n", "line 1: leading zeros are not allowed");
	expect_error("a = 1__000\n", "line 1: misplaced '_' in a number");
	expect_error("a = _1\n", "line 1: invalid value '_1' (strings need quotes)");
	expect_error("a = 1_\n", "line 1: misplaced '_' in a number");
	expect_error("a = 0x_1\n", "line 1: misplaced '_' in a number");
	expect_error("a = 0x1_\n", "line 1: misplaced '_' in a number");
	expect_error("a = +0x10\n", "line 1: invalid number '+0x10'");
	expect_error("a = -0b1\n", "line 1: invalid number '-0b1'");
	expect_error("a = 0x\n", "line 1: invalid number '0x'");
	expect_error("a = 0xG\n", "line 1: invalid number '0xG'");
	expect_error("a = 0o8\n", "line 1: invalid number '0o8'");
	expect_error("a = 0b102\n", "line 1: invalid number '0b102'");
	expect_error("a = 0X10\n", "line 1: invalid number '0X10'");
	expect_error("a = 12abc\n", "line 1: invalid number '12abc'");
	expect_error("a = +\n", "line 1: invalid number '+'");
	expect_error("a = -\n", "line 1: invalid number '-'");
	expect_error("a = 1-2\n", "line 1: invalid number '1-2'");
	expect_error("a = 1 2\n", "line 1: unexpected '2' after a value (one key = value per line)");
}

static void test_floats(void **state)
{
	toml_value *root = parse_ok("a = +1.0\nb = 3.1415\nc = -0.01\nd = 5e+22\ne = 1e06\n"
				    "f = -2E-2\ng = 6.626e-34\nh = 224_617.445_991_228\n"
				    "i = inf\nj = +inf\nk = -inf\nl = nan\nm = -nan\nn = 0.0\no = -0e0\n"
				    "p = 1e-400\nq = 1.7976931348623157e308\nr = 7\n");
	double f;

	(void)state;
	assert_true(get_float(root, "a") == 1.0);
	assert_true(get_float(root, "b") == 3.1415);
	assert_true(get_float(root, "c") == -0.01);
	assert_true(get_float(root, "d") == 5e22);
	assert_true(get_float(root, "e") == 1e6);
	assert_true(get_float(root, "f") == -2e-2);
	assert_true(get_float(root, "g") == 6.626e-34);
	assert_true(get_float(root, "h") == 224617.445991228);
	assert_true(isinf(get_float(root, "i")) && get_float(root, "i") > 0);
	assert_true(isinf(get_float(root, "j")) && get_float(root, "j") > 0);
	assert_true(isinf(get_float(root, "k")) && get_float(root, "k") < 0);
	assert_true(isnan(get_float(root, "l")));
	assert_true(isnan(get_float(root, "m")));
	assert_true(get_float(root, "n") == 0.0);
	assert_true(get_float(root, "o") == 0.0);
	assert_true(get_float(root, "p") == 0.0);
	assert_true(get_float(root, "q") > 1e308);
	assert_int_equal(toml_type_of(toml_get(root, "a")), TOML_FLOAT);
	/* toml_float accepts integers; toml_int does not accept floats. */
	assert_int_equal(toml_float(toml_get(root, "r"), &f), 0);
	assert_true(f == 7.0);
	assert_int_equal(toml_int(toml_get(root, "a"), &(int64_t){ 0 }), -1);
	toml_destroy(root);

	expect_error("a = .7\n", "line 1: invalid value '.7' (strings need quotes)");
	expect_error("a = 7.\n", "line 1: invalid number '7.'");
	expect_error("a = 3.e+20\n", "line 1: invalid number '3.e+20'");
	expect_error("a = 1e\n", "line 1: invalid number '1e'");
	expect_error("a = 1e+\n", "line 1: invalid number '1e+'");
	expect_error("a = 1.2.3\n", "line 1: invalid number '1.2.3'");
	expect_error("a = 1.5_\n", "line 1: misplaced '_' in a number");
	expect_error("a = 1._5\n", "line 1: misplaced '_' in a number");
	expect_error("a = 1e_5\n", "line 1: misplaced '_' in a number");
	expect_error("a = 01.5\n", "line 1: leading zeros are not allowed");
	expect_error("a = 1e999\n", "line 1: float out of range");
	expect_error("a = -1e999\n", "line 1: float out of range");
	expect_error("a = infinity\n", "line 1: invalid value 'infinity' (strings need quotes)");
	expect_error("a = NaN\n", "line 1: invalid value 'NaN' (strings need quotes)");
	expect_error("a = 0x1.5\n", "line 1: invalid number '0x1.5'");
	expect_error("a = 1,5\n", "line 1: unexpected ',' after a value (one key = value per line)");
}

static void test_booleans_and_bad_values(void **state)
{
	toml_value *root = parse_ok("t = true\nf = false\n");
	bool b = true;

	(void)state;
	assert_int_equal(toml_bool(toml_get(root, "t"), &b), 0);
	assert_true(b);
	assert_int_equal(toml_bool(toml_get(root, "f"), &b), 0);
	assert_false(b);
	assert_int_equal(toml_type_of(toml_get(root, "t")), TOML_BOOL);
	toml_destroy(root);

	expect_error("a = True\n", "line 1: invalid value 'True' (strings need quotes)");
	expect_error("a = truex\n", "line 1: invalid value 'truex' (strings need quotes)");
	expect_error("a = tru\n", "line 1: invalid value 'tru' (strings need quotes)");
	expect_error("a = hello\n", "line 1: invalid value 'hello' (strings need quotes)");
	expect_error("a =\n", "line 1: missing value");
	expect_error("a = # nothing\n", "line 1: missing value");
	expect_error("a = ", "line 1: missing value");
	expect_error("a = @\n", "line 1: invalid value starting with '@'");
	expect_error("a = \xc3\xa9\n", "line 1: invalid value starting with byte 0xc3");
	expect_error("a = 1979-05-27\n", "line 1: dates and times are not supported (use a string)");
	expect_error("a = 1979-05-27T07:32:00Z\n",
		     "line 1: dates and times are not supported (use a string)");
	expect_error("a = 07:32:00\n", "line 1: dates and times are not supported (use a string)");
}

/* ---- arrays and inline tables ---------------------------------------------- */

static void test_arrays(void **state)
{
	toml_value *root = parse_ok("a = [ 1, 2, 3 ]\n"
				    "b = []\n"
				    "c = [ \"red\", 'yellow', \"\"\"green\"\"\" ]\n"
				    "d = [ [ 1, 2 ], [3, 4, 5] ]\n"
				    "e = [ 0.1, 'mixed', true, [], { x = 1 } ]\n"
				    "f = [\n"
				    "  1, # first\n"
				    "\n"
				    "  # a comment line\n"
				    "  2,\n"
				    "  3, # trailing comma next\n"
				    "]\n"
				    "g = [ # comment right after [\n"
				    "]\n"
				    "h = [\"a\",\"b\"]# no space\n"
				    "i = [[[]]]\n");
	const toml_value *d, *e, *f;
	bool b = false;

	(void)state;
	assert_int_equal(toml_len(toml_get(root, "a")), 3);
	assert_int_equal(toml_type_of(toml_get(root, "a")), TOML_ARRAY);
	assert_int_equal(toml_type_of(toml_get(root, "b")), TOML_ARRAY);
	assert_int_equal(toml_len(toml_get(root, "b")), 0);
	assert_string_equal(toml_string(toml_at(toml_get(root, "c"), 2)), "green");
	d = toml_get(root, "d");
	assert_int_equal(toml_len(toml_at(d, 1)), 3);
	assert_int_equal(toml_int(toml_at(toml_at(d, 1), 2), &(int64_t){ 0 }), 0);
	e = toml_get(root, "e");
	assert_int_equal(toml_len(e), 5);
	assert_int_equal(toml_type_of(toml_at(e, 0)), TOML_FLOAT);
	assert_int_equal(toml_type_of(toml_at(e, 1)), TOML_STRING);
	assert_int_equal(toml_bool(toml_at(e, 2), &b), 0);
	assert_int_equal(toml_type_of(toml_at(e, 3)), TOML_ARRAY);
	assert_int_equal(toml_type_of(toml_at(e, 4)), TOML_TABLE);
	assert_non_null(toml_get(toml_at(e, 4), "x"));
	f = toml_get(root, "f");
	assert_int_equal(toml_len(f), 3);
	assert_int_equal(toml_line(f), 6);
	assert_int_equal(toml_line(toml_at(f, 0)), 7);
	assert_int_equal(toml_line(toml_at(f, 1)), 10);
	assert_int_equal(toml_line(toml_at(f, 2)), 11);
	assert_int_equal(toml_len(toml_get(root, "g")), 0);
	assert_int_equal(toml_len(toml_get(root, "h")), 2);
	assert_int_equal(toml_len(toml_at(toml_at(toml_get(root, "i"), 0), 0)), 0);
	assert_int_equal(toml_line(toml_get(root, "i")), 16);
	/* Arrays have no keys. */
	assert_null(toml_key_at(f, 0));
	assert_null(toml_get(f, "0"));
	toml_destroy(root);

	expect_error("a = [1, 2\n", "line 2: unterminated array");
	expect_error("a = [1, 2", "line 1: unterminated array");
	expect_error("a = [\n1,\n2,\n# c\n", "line 5: unterminated array");
	expect_error("a = [", "line 1: unterminated array");
	expect_error("a = [1 2]\n", "line 1: expected ',' or ']' in an array, found '2'");
	expect_error("a = [1,\n\n 2 3]\n", "line 3: expected ',' or ']' in an array, found '3'");
	expect_error("a = [1,,2]\n", "line 1: invalid value starting with ','");
	expect_error("a = [,]\n", "line 1: invalid value starting with ','");
	expect_error("a = [1] 2\n", "line 1: unexpected '2' after a value (one key = value per line)");
	expect_error("a = [1, 'x\n']\n", "line 1: newline in a single-line string");
	expect_error("a = [1, # bad \x01\n]\n", "line 1: control character in a comment");
	expect_error("a = [\n  1,\n  nope,\n]\n", "line 3: invalid value 'nope' (strings need quotes)");
}

static void test_inline_tables(void **state)
{
	toml_value *root = parse_ok("name = { first = \"Tom\", last = \"Preston-Werner\" }\n"
				    "point = {x=1,y=2}\n"
				    "animal = { type.name = \"pug\", type.size = 'small' }\n"
				    "empty = {}\n"
				    "empty2 = {   }\n"
				    "nested = { a = { b = { c = [1, { d = true }] } } }\n"
				    "[t]\n"
				    "labels = { zone = \"EU\", \"data center\" = 'fra' }\n");
	const toml_value *name = toml_get(root, "name");

	(void)state;
	assert_int_equal(toml_type_of(name), TOML_TABLE);
	assert_int_equal(toml_len(name), 2);
	assert_string_equal(toml_key_at(name, 1), "last");
	assert_string_equal(get_str(root, "name.last"), "Preston-Werner");
	assert_int_equal(get_int(root, "point.y"), 2);
	assert_string_equal(get_str(root, "animal.type.size"), "small");
	assert_int_equal(toml_len(toml_get(root, "empty")), 0);
	assert_int_equal(toml_len(toml_get(root, "empty2")), 0);
	assert_int_equal(toml_len(toml_get_path(root, "nested.a.b.c")), 2);
	assert_string_equal(get_str(root, "t.labels.zone"), "EU");
	toml_destroy(root);

	expect_error("a = { x = 1, }\n", "line 1: expected a key, found '}'");
	expect_error("a = { x = 1\n}\n", "line 1: newline in an inline table (it must be on one line)");
	expect_error("a = {\nx = 1 }\n", "line 1: expected a key");
	expect_error("a = { x = 1", "line 1: unterminated inline table");
	expect_error("a = { x = 1 y = 2 }\n", "line 1: expected ',' or '}' in an inline table, found 'y'");
	expect_error("a = { x = 1, x = 2 }\n", "line 1: duplicate key 'x'");
	expect_error("a = { x.y = 1, x = 2 }\n", "line 1: duplicate key 'x'");
	expect_error("a = { x = 1 }\na.y = 2\n", "line 2: key 'a' is already a value");
	expect_error("a = { x = {} }\n[a.x]\n", "line 2: key 'a' is already a value");
	expect_error("a = { x = }\n", "line 1: invalid value starting with '}'");
	expect_error("a = { = 1 }\n", "line 1: expected a key, found '='");
}

/* ---- limits ------------------------------------------------------------------- */

static char *repeat(const char *pre, const char *unit, size_t n, const char *post)
{
	size_t lp = strlen(pre), lu = strlen(unit), lq = strlen(post);
	char *s = malloc(lp + lu * n + lq + 1);

	assert_non_null(s);
	memcpy(s, pre, lp);
	for (size_t i = 0; i < n; i++)
		memcpy(s + lp + i * lu, unit, lu);
	memcpy(s + lp + n * lu, post, lq + 1);
	return s;
}

static void test_nesting_limit(void **state)
{
	char *s;
	toml_value *root;

	(void)state;
	/* a's array is at depth 1; 64 nested arrays reach depth 64. */
	s = repeat("a = ", "[", 64, "");
	{
		char *t = repeat(s, "]", 64, "\n");

		root = parse_ok(t);
		toml_destroy(root);
		free(t);
	}
	free(s);
	s = repeat("a = ", "[", 65, "");
	expect_error(s, "line 1: nesting deeper than 64");
	free(s);
	s = repeat("a = ", "[", 100000, "");
	expect_error(s, "line 1: nesting deeper than 64");
	free(s);
	s = repeat("a = ", "{b=", 64, "");
	expect_error(s, "line 1: nesting deeper than 64");
	free(s);
	s = repeat("\n[", "a.", 63, "a]\n");
	root = parse_ok(s);
	free(s);
	toml_destroy(root);
	s = repeat("\n[", "a.", 64, "a]\n");
	expect_error(s, "line 2: key with more than 64 parts");
	free(s);
	/* A value in a 64-deep table would be at depth 65. */
	s = repeat("[", "a.", 63, "a]\nx = 1\n");
	expect_error(s, "line 2: nesting deeper than 64");
	free(s);
	s = repeat("", "a.", 64, "a = 1\n");
	expect_error(s, "line 1: key with more than 64 parts");
	free(s);
	s = repeat("[a]\n", "b.", 62, "c = [[1]]\n");
	expect_error(s, "line 2: nesting deeper than 64");
	free(s);
}

static void test_size_limit(void **state)
{
	size_t n = TOML_MAX_FILE + 1;
	char *s = malloc(n);
	toml_value *root = NULL;
	char err[128];

	(void)state;
	assert_non_null(s);
	memset(s, '\n', n);
	assert_int_equal(toml_parse(s, n, &root, err, sizeof err), -1);
	assert_string_equal(err, "line 1: file larger than 1 MiB");
	assert_null(root);
	/* Exactly 1 MiB is fine. */
	memcpy(s, "a = 1", 5);
	assert_int_equal(toml_parse(s, n - 1, &root, err, sizeof err), 0);
	assert_int_equal(get_int(root, "a"), 1);
	toml_destroy(root);
	free(s);
}

/* ---- files ------------------------------------------------------------------------ */

static char *write_tmp(const char *text, size_t len)
{
	char *path = strdup("/tmp/tether-test-toml-XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

static void test_parse_file(void **state)
{
	char err[512], want[512];
	toml_value *root = NULL;
	char *path = write_tmp(seed_block, strlen(seed_block));
	char dir[] = "/tmp/tether-test-toml-dir-XXXXXX";
	char *big;

	(void)state;
	assert_int_equal(toml_parse_file(path, &root, err, sizeof err), 0);
	assert_int_equal(get_int(root, "remote-commands.send_back_limit"), 4194304);
	toml_destroy(root);
	root = NULL;
	unlink(path);
	free(path);

	path = write_tmp("[client]\nserver = \"x\"\nserver = \"y\"\n", 35);
	assert_int_equal(toml_parse_file(path, &root, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: line 3: duplicate key 'server'", path);
	assert_string_equal(err, want);
	assert_null(root);
	unlink(path);

	assert_int_equal(toml_parse_file(path, &root, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: %s", path, strerror(ENOENT));
	assert_string_equal(err, want);
	free(path);

	assert_non_null(mkdtemp(dir));
	assert_int_equal(toml_parse_file(dir, &root, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: %s", dir, strerror(EISDIR));
	assert_string_equal(err, want);
	rmdir(dir);

	big = malloc(TOML_MAX_FILE + 1);
	assert_non_null(big);
	memset(big, '#', TOML_MAX_FILE + 1);
	path = write_tmp(big, TOML_MAX_FILE + 1);
	assert_int_equal(toml_parse_file(path, &root, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: file larger than 1 MiB", path);
	assert_string_equal(err, want);
	unlink(path);
	free(path);
	/* Exactly 1 MiB (one long comment) is read and parsed. */
	path = write_tmp(big, TOML_MAX_FILE);
	assert_int_equal(toml_parse_file(path, &root, err, sizeof err), 0);
	assert_int_equal(toml_len(root), 0);
	toml_destroy(root);
	unlink(path);
	free(path);
	free(big);

	/* A small error buffer truncates but stays terminated. */
	{
		char small[8];

		assert_int_equal(toml_parse_file("/nonexistent/x.toml", &root, small, sizeof small), -1);
		assert_string_equal(small, "/nonexi");
		assert_int_equal(toml_parse_file("/nonexistent/x.toml", &root, NULL, 0), -1);
	}
}

/* ---- accessors -------------------------------------------------------------------- */

static void test_accessors(void **state)
{
	toml_value *root = parse_ok("s = 'x'\ni = 1\nf = 1.5\nb = true\na = [1]\n[t]\nk = 'v'\n");
	const toml_value *s = toml_get(root, "s");
	int64_t iv = 42;
	double fv = 4.2;
	bool bv = false;

	(void)state;
	/* Wrong types leave the output alone. */
	assert_int_equal(toml_int(s, &iv), -1);
	assert_int_equal(iv, 42);
	assert_int_equal(toml_float(s, &fv), -1);
	assert_true(fv == 4.2);
	assert_int_equal(toml_bool(s, &bv), -1);
	assert_int_equal(toml_bool(toml_get(root, "i"), &bv), -1);
	assert_false(bv);
	assert_null(toml_string(toml_get(root, "i")));
	assert_int_equal(toml_len(s), 0);
	assert_null(toml_at(s, 0));
	assert_null(toml_key_at(s, 0));
	assert_null(toml_get(s, "x"));
	assert_null(toml_at(toml_get(root, "a"), 1));
	assert_null(toml_key_at(root, 99));
	/* NULL is "absent" everywhere. */
	assert_int_equal(toml_type_of(NULL), TOML_TABLE);
	assert_int_equal(toml_len(NULL), 0);
	assert_null(toml_at(NULL, 0));
	assert_null(toml_key_at(NULL, 0));
	assert_null(toml_get(NULL, "x"));
	assert_null(toml_get(root, NULL));
	assert_null(toml_get_path(NULL, "x"));
	assert_null(toml_get_path(root, NULL));
	assert_null(toml_string(NULL));
	assert_int_equal(toml_line(NULL), 0);
	assert_int_equal(toml_int(NULL, &iv), -1);
	assert_int_equal(toml_float(NULL, &fv), -1);
	assert_int_equal(toml_bool(NULL, &bv), -1);
	toml_destroy(NULL);
	/* Paths. */
	assert_string_equal(get_str(root, "t.k"), "v");
	assert_null(toml_get_path(root, "t.k.z"));
	assert_null(toml_get_path(root, "t.missing"));
	assert_null(toml_get_path(root, "t."));
	assert_null(toml_get_path(root, ".t"));
	assert_null(toml_get_path(root, "a.0"));
	assert_null(toml_get_path(root, ""));
	assert_true(toml_get_path(root, "t") == toml_get(root, "t"));
	toml_destroy(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_remote_commands),
		cmocka_unit_test(test_seed_allow_examples),
		cmocka_unit_test(test_client_labels),
		cmocka_unit_test(test_comments_and_blank_lines),
		cmocka_unit_test(test_crlf_bom_and_empty),
		cmocka_unit_test(test_length_is_respected),
		cmocka_unit_test(test_tables),
		cmocka_unit_test(test_table_errors),
		cmocka_unit_test(test_dotted_keys),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_many_keys),
		cmocka_unit_test(test_basic_strings),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_literal_strings),
		cmocka_unit_test(test_multiline_strings),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_floats),
		cmocka_unit_test(test_booleans_and_bad_values),
		cmocka_unit_test(test_arrays),
		cmocka_unit_test(test_inline_tables),
		cmocka_unit_test(test_nesting_limit),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_parse_file),
		cmocka_unit_test(test_accessors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
