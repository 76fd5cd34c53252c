/* Unit tests for src/common/toml_keys.c: every type into its field, a
 * setter and a catch-all section, and each message of the walker (both
 * wordings of a value outside a section and of a string too long). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "toml_keys.h"

struct demo {
	char name[8];
	int64_t port;
	double wait;
	bool on;
	int seen;          /* keys the catch-all read */
	int64_t doubled;
};

static int set_doubled(void *base, const struct toml_key *k, const toml_value *v,
		       const struct toml_key_at *at)
{
	int64_t iv;

	if (toml_int(v, &iv)) {
		snprintf(at->err, at->errlen, "%s: line %d: %s is odd", at->path, toml_line(v),
			 at->what);
		return -1;
	}
	iv *= 2;
	memcpy((char *)base + k->offset, &iv, sizeof iv);
	return 0;
}

static int set_any(void *base, const struct toml_key *k, const toml_value *v,
		   const struct toml_key_at *at)
{
	struct demo *d = base;

	(void)k;
	(void)v;
	if (!strcmp(at->name, "bad")) {
		snprintf(at->err, at->errlen, "%s: no '%s' in [%s]", at->path, at->name, at->section);
		return -1;
	}
	d->seen++;
	return 0;
}

static const struct toml_key demo_keys[] = {
	TOML_KEY_STR_OF(struct demo, "main", "name", name),
	TOML_KEY_INT_OF(struct demo, "main", "port", port, 1, 65535),
	TOML_KEY_FLOAT_OF(struct demo, "main", "wait", wait, 0, 10),
	TOML_KEY_BOOL_OF(struct demo, "main", "on", on),
	TOML_KEY_SET_OF(struct demo, "main", "doubled", doubled, set_doubled),
	TOML_KEY_SET_OF(struct demo, "free", NULL, seen, set_any),
};

/* Loads text into d by the table; returns the walker's rc, err its message. */
static int load(const char *text, const char *hint, bool say_max, struct demo *d, char *err,
		size_t errlen)
{
	struct toml_keys spec = { demo_keys, sizeof demo_keys / sizeof demo_keys[0], hint, say_max };
	toml_value *root = NULL;
	int rc;

	memset(d, 0, sizeof *d);
	err[0] = '\0';
	assert_int_equal(toml_parse(text, strlen(text), &root, err, errlen), 0);
	rc = toml_keys_load(&spec, root, d, "F", err, errlen);
	toml_destroy(root);
	return rc;
}

static void expect_error(const char *text, const char *hint, bool say_max, const char *want)
{
	struct demo d;
	char err[300];

	assert_int_equal(load(text, hint, say_max, &d, err, sizeof err), -1);
	assert_string_equal(err, want);
}

static void test_every_type(void **state)
{
	struct demo d;
	char err[300];

	(void)state;
	assert_int_equal(load("[main]\nname = \"abc\"\nport = 80\nwait = 2\non = true\n"
			      "doubled = 21\n[free]\nx = 1\ny = \"z\"\n",
			      NULL, true, &d, err, sizeof err), 0);
	assert_string_equal(d.name, "abc");
	assert_int_equal(d.port, 80);
	assert_true(d.wait == 2.0);
	assert_true(d.on);
	assert_int_equal(d.doubled, 42);
	assert_int_equal(d.seen, 2);
}

static void test_messages(void **state)
{
	(void)state;
	expect_error("x = 1\n", NULL, true, "F: line 1: unknown key 'x' outside a section");
	expect_error("x = 1\n", "main", true,
		     "F: line 1: key 'x' must be inside a section such as [main]");
	expect_error("[other]\n", NULL, true, "F: line 1: unknown section [other]");
	expect_error("[main]\nnope = 1\n", NULL, true, "F: line 2: unknown key 'nope' in [main]");
	expect_error("[main]\nname = 1\n", NULL, true, "F: line 2: main.name must be a string");
	expect_error("[main]\nname = \"abcdefgh\"\n", NULL, true,
		     "F: line 2: main.name is too long (max 7)");
	expect_error("[main]\nname = \"abcdefgh\"\n", NULL, false,
		     "F: line 2: main.name is too long");
	expect_error("[main]\nport = 0\n", NULL, true,
		     "F: line 2: main.port must be an integer from 1 to 65535");
	expect_error("[main]\nport = \"80\"\n", NULL, true,
		     "F: line 2: main.port must be an integer from 1 to 65535");
	expect_error("[main]\nwait = 11\n", NULL, true,
		     "F: line 2: main.wait must be a number from 0 to 10");
	expect_error("[main]\non = 1\n", NULL, true, "F: line 2: main.on must be true or false");
	expect_error("[main]\ndoubled = 1.5\n", NULL, true, "F: line 2: main.doubled is odd");
	expect_error("[free]\nbad = 1\n", NULL, true, "F: no 'bad' in [free]");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_type),
		cmocka_unit_test(test_messages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
