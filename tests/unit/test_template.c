/* Unit tests for core/template.c: TAT's {{name}} custom parameters. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/template.h"

static enum template_code parse_code(const char *text)
{
	struct template_error e;
	json_t *o = NULL;

	if (template_params_parse(text, strlen(text), &o, &e) == 0) {
		json_decref(o);
		return TEMPLATE_OK;
	}
	return e.code;
}

static void test_params_rules(void **state)
{
	char many[2048], key[100];
	size_t n = 0;

	(void)state;
	assert_int_equal(parse_code("{\"a\":\"1\",\"b-c_9\":\"\"}"), TEMPLATE_OK);
	assert_int_equal(parse_code("{}"), TEMPLATE_OK);
	assert_int_equal(parse_code("{\"a\":"), TEMPLATE_INVALID_JSON);
	assert_int_equal(parse_code("[\"a\"]"), TEMPLATE_INVALID_JSON);
	assert_int_equal(parse_code("\"a\""), TEMPLATE_INVALID_JSON);
	assert_int_equal(parse_code("{\"a\":\"1\",\"a\":\"2\"}"), TEMPLATE_KEY_DUPLICATED);
	assert_int_equal(parse_code("{\"a\":1}"), TEMPLATE_VALUE_NOT_STRING);
	assert_int_equal(parse_code("{\"a b\":\"1\"}"), TEMPLATE_KEY_INVALID_CHAR);
	assert_int_equal(parse_code("{\"\":\"1\"}"), TEMPLATE_KEY_INVALID_CHAR);
	memset(key, 'k', 65);
	key[65] = '\0';
	snprintf(many, sizeof many, "{\"%s\":\"1\"}", key);
	assert_int_equal(parse_code(many), TEMPLATE_KEY_TOO_LONG);
	key[64] = '\0';
	snprintf(many, sizeof many, "{\"%s\":\"1\"}", key);
	assert_int_equal(parse_code(many), TEMPLATE_OK);
	n = (size_t)snprintf(many, sizeof many, "{");
	for (int i = 0; i < 21; i++)
		n += (size_t)snprintf(many + n, sizeof many - n, "%s\"k%d\":\"v\"", i ? "," : "", i);
	snprintf(many + n, sizeof many - n, "}");
	assert_int_equal(parse_code(many), TEMPLATE_TOO_MANY);
}

static void render_ok(const char *content, const char *params, const char *defaults,
		      const char *want)
{
	json_t *p = params ? json_loads(params, 0, NULL) : NULL;
	json_t *d = defaults ? json_loads(defaults, 0, NULL) : NULL;
	struct template_error e;
	char *out = NULL;
	size_t len = 0;

	assert_int_equal(template_render(content, strlen(content), p, d, &out, &len, &e), 0);
	assert_string_equal(out, want);
	assert_int_equal(len, strlen(want));
	free(out);
	json_decref(p);
	json_decref(d);
}

static void test_render(void **state)
{
	(void)state;
	render_ok("ls {{a}}\necho {{b}}", "{\"a\":\"/tmp\",\"b\":\"hi\"}", NULL, "ls /tmp\necho hi");
	/* Parameters win over defaults; defaults fill the rest. */
	render_ok("{{a}}-{{b}}", "{\"a\":\"1\"}", "{\"a\":\"x\",\"b\":\"2\"}", "1-2");
	/* Not a valid name: left as it is. */
	render_ok("{{ a }} {{a.b}} {{}} {a} {{", NULL, NULL, "{{ a }} {{a.b}} {{}} {a} {{");
	render_ok("{{{a}}}", "{\"a\":\"x\"}", NULL, "{x}");
	render_ok("", NULL, NULL, "");
	/* A value is not substituted again. */
	render_ok("{{a}}", "{\"a\":\"{{b}}\"}", "{\"b\":\"no\"}", "{{b}}");
}

static void test_render_missing(void **state)
{
	json_t *p = json_loads("{\"a\":\"1\"}", 0, NULL);
	struct template_error e;
	char *out = NULL;
	size_t len;

	(void)state;
	assert_int_equal(template_render("{{a}} {{zz}}", 12, p, NULL, &out, &len, &e), -1);
	assert_int_equal(e.code, TEMPLATE_MISSING);
	assert_string_equal(e.subject, "zz");
	assert_null(out);
	json_decref(p);
}

static void test_render_too_long(void **state)
{
	char *big = malloc(40000);
	json_t *p;
	struct template_error e;
	char *out = NULL;
	size_t len;

	(void)state;
	memset(big, 'x', 39999);
	big[39999] = '\0';
	p = json_pack("{s:s}", "a", big);
	assert_int_equal(template_render("{{a}}{{a}}", 10, p, NULL, &out, &len, &e), -1);
	assert_int_equal(e.code, TEMPLATE_OUTPUT_TOO_LONG);
	json_decref(p);
	free(big);
}

static void test_names(void **state)
{
	json_t *n;

	(void)state;
	n = template_names("{{b}} {{a}} {{b}} {{bad name}}", 30);
	assert_int_equal(json_array_size(n), 2);
	assert_string_equal(json_string_value(json_array_get(n, 0)), "b");
	assert_string_equal(json_string_value(json_array_get(n, 1)), "a");
	json_decref(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_params_rules),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_render_missing),
		cmocka_unit_test(test_render_too_long),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
