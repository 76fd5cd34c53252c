/* Unit tests for src/agent/config.c: a full rport-shaped agent file (with
 * the [remote-commands] block of rport's example, every key uncommented),
 * defaults, errors with their lines, and agent_config_check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

/* ---- helpers ------------------------------------------------------------ */

static void write_tmp(const char *text, char path[64])
{
	size_t len = strlen(text);
	int fd;

	snprintf(path, 64, "/tmp/tether-test-agentconf-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

/* Loads text over defaults into c (caller frees with agent_config_free). */
static void load_ok(const char *text, struct agent_config *c)
{
	char path[64], err[512] = "";
	int rc;

	agent_config_defaults(c);
	write_tmp(text, path);
	rc = agent_config_load(c, path, err, sizeof err);
	unlink(path);
	if (rc != 0) {
		agent_config_free(c);
		fail_msg("refused <<%s>>: %s", text, err);
	}
}

/* Must fail with "PATH: line N: " and the needles in the message. */
static void load_bad(const char *text, int line, const char *needle1, const char *needle2)
{
	struct agent_config c;
	char path[64], err[512] = "", prefix[128];
	int rc;

	agent_config_defaults(&c);
	write_tmp(text, path);
	rc = agent_config_load(&c, path, err, sizeof err);
	unlink(path);
	agent_config_free(&c);
	if (rc != -1)
		fail_msg("accepted <<%s>>", text);
	snprintf(prefix, sizeof prefix, "%s: line %d: ", path, line);
	if (strncmp(err, prefix, strlen(prefix)))
		fail_msg("<<%s>>: error '%s' does not start with '%s'", text, err, prefix);
	if (needle1 && !strstr(err, needle1))
		fail_msg("<<%s>>: error '%s' lacks '%s'", text, err, needle1);
	if (needle2 && !strstr(err, needle2))
		fail_msg("<<%s>>: error '%s' lacks '%s'", text, err, needle2);
}

static void check_bad(const struct agent_config *c, const char *needle)
{
	char err[512] = "";

	if (agent_config_check(c, err, sizeof err) != -1)
		fail_msg("check passed, want an error with '%s'", needle);
	if (!strstr(err, needle))
		fail_msg("check error '%s' lacks '%s'", err, needle);
}

static void check_ok(const struct agent_config *c)
{
	char err[512] = "";

	if (agent_config_check(c, err, sizeof err))
		fail_msg("check: %s", err);
}

/* The [remote-commands] block of rport's example configuration, verbatim,
 * every key uncommented. */
#define RPORT_REMOTE_COMMANDS \
	"[remote-commands]\n" \
	"enabled = true\n" \
	"allow = ['^/usr/bin/.*','^/usr/local/bin/.*','^C:\\Windows\\System32\\.*']\n" \
	"deny = ['(\\||<|>|;|,|\\n|&)']\n" \
	"order = ['allow','deny']\n" \
	"send_back_limit = 4194304\n"

static const char full_file[] =
	"[client]\n"
	"server = \"127.0.0.1:8080\"\n"
	"auth = \"clientAuth1:1234\"\n"
	"id = \"my-client-id\"\n"
	"name = \"my-client\"\n"
	"tags = ['linux', 'web', 'eu']\n"
	"data_dir = \"/tmp/tether-agent-data\"\n"
	"allow_root = true\n"
	"\n"
	"[client.labels]\n"
	"zone = \"EU\"\n"
	"env = 'prod1'\n"
	"\n"
	"[connection]\n"
	"max_retry_interval = '1s'\n"
	"\n"
	RPORT_REMOTE_COMMANDS
	"\n"
	"[remote-scripts]\n"
	"enabled = true\n"
	"check_command_policy = true\n"
	"\n"
	"[interpreter-aliases]\n"
	"py3 = \"/usr/bin/python3\"\n"
	"pwsh7 = 'C:\\Program Files\\PowerShell\\7\\pwsh.exe'\n";

/* A minimal file that passes agent_config_check. */
#define CLIENT_OK \
	"[client]\n" \
	"server = \"127.0.0.1:8080\"\n" \
	"auth = \"clientAuth1:1234\"\n" \
	"id = \"c1\"\n"

/* ---- good files --------------------------------------------------------- */

static void test_full_file(void **state)
{
	struct agent_config c;

	(void)state;
	load_ok(full_file, &c);
	assert_string_equal(c.server, "127.0.0.1:8080");
	assert_string_equal(c.auth, "clientAuth1:1234");
	assert_string_equal(c.id, "my-client-id");
	assert_string_equal(c.name, "my-client");
	assert_string_equal(c.data_dir, "/tmp/tether-agent-data");
	assert_true(c.allow_root);
	/* tags */
	assert_true(json_is_array(c.tags));
	assert_int_equal(json_array_size(c.tags), 3);
	assert_string_equal(json_string_value(json_array_get(c.tags, 0)), "linux");
	assert_string_equal(json_string_value(json_array_get(c.tags, 1)), "web");
	assert_string_equal(json_string_value(json_array_get(c.tags, 2)), "eu");
	/* [client.labels] */
	assert_true(json_is_object(c.labels));
	assert_int_equal(json_object_size(c.labels), 2);
	assert_string_equal(json_string_value(json_object_get(c.labels, "zone")), "EU");
	assert_string_equal(json_string_value(json_object_get(c.labels, "env")), "prod1");
	/* [connection] */
	assert_int_equal(c.max_retry_ms, 1000);
	assert_int_equal(c.min_retry_ms, 1000);
	/* [remote-commands]: literal strings keep their backslashes. */
	assert_true(c.commands_enabled);
	assert_int_equal(c.nallow, 3);
	assert_string_equal(c.allow[0], "^/usr/bin/.*");
	assert_string_equal(c.allow[1], "^/usr/local/bin/.*");
	assert_string_equal(c.allow[2], "^C:\\Windows\\System32\\.*");
	assert_int_equal(c.ndeny, 1);
	assert_string_equal(c.deny[0], "(\\||<|>|;|,|\\n|&)");
	assert_int_equal(c.order, POLICY_ALLOW_DENY);
	assert_int_equal(c.send_back_limit, 4194304);
	/* [remote-scripts] */
	assert_true(c.scripts_enabled);
	assert_true(c.scripts_check_policy);
	/* [interpreter-aliases] */
	assert_true(json_is_object(c.aliases));
	assert_int_equal(json_object_size(c.aliases), 2);
	assert_string_equal(json_string_value(json_object_get(c.aliases, "py3")),
			    "/usr/bin/python3");
	assert_string_equal(json_string_value(json_object_get(c.aliases, "pwsh7")),
			    "C:\\Program Files\\PowerShell\\7\\pwsh.exe");
	check_ok(&c);
	agent_config_free(&c);
}

static void test_full_file_policy_compiles(void **state)
{
	struct agent_config c;
	char err[256] = "";
	policy *p = NULL;
	static const char ok_cmd[] = "/usr/bin/date";
	static const char piped[] = "/usr/bin/date | /usr/bin/wc";
	static const char other[] = "/bin/date";

	(void)state;
	/* The lists as loaded are what the policy gets. */
	load_ok(full_file, &c);
	if (policy_create((const char *const *)c.allow, c.nallow, (const char *const *)c.deny,
			  c.ndeny, c.order, &p, err, sizeof err))
		fail_msg("policy_create: %s", err);
	assert_true(policy_allows(p, ok_cmd, strlen(ok_cmd)));
	assert_false(policy_allows(p, piped, strlen(piped)));
	assert_false(policy_allows(p, other, strlen(other)));
	policy_destroy(p);
	agent_config_free(&c);
}

static void test_retry_interval_integer(void **state)
{
	struct agent_config c;

	(void)state;
	/* An integer is seconds. */
	load_ok(CLIENT_OK "[connection]\nmax_retry_interval = 30\n", &c);
	assert_int_equal(c.max_retry_ms, 30000);
	check_ok(&c);
	agent_config_free(&c);
}

static void test_durations(void **state)
{
	struct agent_config c;

	(void)state;
	load_ok(CLIENT_OK
		"[connection]\n"
		"min_retry_interval = '500ms'\n"
		"max_retry_interval = '5m'\n"
		"keep_alive = '20s'\n"
		"keep_alive_timeout = '2h'\n", &c);
	assert_int_equal(c.min_retry_ms, 500);
	assert_int_equal(c.max_retry_ms, 300000);
	assert_int_equal(c.keep_alive_ms, 20000);
	assert_int_equal(c.keep_alive_timeout_ms, 7200000);
	check_ok(&c);
	agent_config_free(&c);

	load_ok(CLIENT_OK "[connection]\nkeep_alive = 10\nkeep_alive_timeout = \"30s\"\n", &c);
	assert_int_equal(c.keep_alive_ms, 10000);
	assert_int_equal(c.keep_alive_timeout_ms, 30000);
	agent_config_free(&c);
}

static void test_defaults(void **state)
{
	struct agent_config c;

	(void)state;
	agent_config_defaults(&c);
	assert_true(c.commands_enabled);
	assert_false(c.scripts_enabled);
	assert_false(c.scripts_check_policy);
	assert_int_equal(c.send_back_limit, 4 * 1024 * 1024);
	assert_int_equal(c.order, POLICY_ALLOW_DENY);
	assert_false(c.allow_root);
	assert_string_equal(c.server, "");
	assert_string_equal(c.auth, "");
	assert_string_equal(c.id, "");
	assert_true(c.data_dir[0] != '\0');
	/* No lists: the policy falls back to rport's defaults. */
	assert_null(c.allow);
	assert_int_equal(c.nallow, 0);
	assert_null(c.deny);
	assert_int_equal(c.ndeny, 0);
	assert_true(json_is_array(c.tags) && json_array_size(c.tags) == 0);
	assert_true(json_is_object(c.labels) && json_object_size(c.labels) == 0);
	assert_true(json_is_object(c.aliases) && json_object_size(c.aliases) == 0);
	assert_true(c.min_retry_ms > 0);
	assert_true(c.max_retry_ms >= c.min_retry_ms);
	assert_true(c.keep_alive_timeout_ms > c.keep_alive_ms);
	agent_config_free(&c);
}

static void test_defaults_when_absent(void **state)
{
	struct agent_config c, d;

	(void)state;
	/* A file without the sections leaves the defaults alone. */
	load_ok(CLIENT_OK, &c);
	agent_config_defaults(&d);
	assert_true(c.commands_enabled);
	assert_false(c.scripts_enabled);
	assert_int_equal(c.send_back_limit, 4194304);
	assert_int_equal(c.order, POLICY_ALLOW_DENY);
	assert_null(c.allow);
	assert_null(c.deny);
	assert_int_equal(c.min_retry_ms, d.min_retry_ms);
	assert_int_equal(c.max_retry_ms, d.max_retry_ms);
	assert_int_equal(c.keep_alive_ms, d.keep_alive_ms);
	assert_int_equal(c.keep_alive_timeout_ms, d.keep_alive_timeout_ms);
	assert_string_equal(c.data_dir, d.data_dir);
	check_ok(&c);
	agent_config_free(&c);
	agent_config_free(&d);

	/* Empty sections too. */
	load_ok(CLIENT_OK "[connection]\n[remote-commands]\n[remote-scripts]\n"
		"[interpreter-aliases]\n", &c);
	assert_true(c.commands_enabled);
	assert_false(c.scripts_enabled);
	assert_int_equal(c.send_back_limit, 4194304);
	assert_int_equal(c.order, POLICY_ALLOW_DENY);
	agent_config_free(&c);
}

static void test_remote_commands_variants(void **state)
{
	struct agent_config c;

	(void)state;
	load_ok("[remote-commands]\n"
		"enabled = false\n"
		"allow = []\n"
		"deny = [\n  '^rm ',   # no rm\n  'shutdown',\n]\n"
		"order = ['deny','allow']\n"
		"send_back_limit = 0\n", &c);
	assert_false(c.commands_enabled);
	/* An empty allow list is not the same as none: it allows nothing. */
	assert_non_null(c.allow);
	assert_int_equal(c.nallow, 0);
	assert_int_equal(c.ndeny, 2);
	assert_string_equal(c.deny[0], "^rm ");
	assert_string_equal(c.deny[1], "shutdown");
	assert_int_equal(c.order, POLICY_DENY_ALLOW);
	assert_int_equal(c.send_back_limit, 0);
	agent_config_free(&c);

	load_ok("[remote-commands]\nsend_back_limit = 67108864\n", &c);
	assert_int_equal(c.send_back_limit, 67108864);
	agent_config_free(&c);
}

static void test_load_twice_replaces_lists(void **state)
{
	struct agent_config c;
	char path[64], err[512] = "";

	(void)state;
	load_ok(full_file, &c);
	write_tmp("[remote-commands]\nallow = ['^/opt/']\n[client]\ntags = ['x']\n", path);
	assert_int_equal(agent_config_load(&c, path, err, sizeof err), 0);
	unlink(path);
	assert_int_equal(c.nallow, 1);
	assert_string_equal(c.allow[0], "^/opt/");
	/* What the second file does not name stays. */
	assert_int_equal(c.ndeny, 1);
	assert_int_equal(json_array_size(c.tags), 1);
	assert_string_equal(c.id, "my-client-id");
	agent_config_free(&c);
	/* Freeing twice is harmless. */
	agent_config_free(&c);
}

static void test_server_forms(void **state)
{
	static const char *const servers[] = {
		"127.0.0.1:8080", "ws://example.com:8080/ws", "wss://example.com/tether",
	};

	(void)state;
	for (size_t i = 0; i < sizeof servers / sizeof servers[0]; i++) {
		struct agent_config c;
		char text[256];

		snprintf(text, sizeof text,
			 "[client]\nserver = \"%s\"\nauth = \"a:b\"\nid = \"c\"\n", servers[i]);
		load_ok(text, &c);
		assert_string_equal(c.server, servers[i]);
		check_ok(&c);
		agent_config_free(&c);
	}
}

/* ---- load errors -------------------------------------------------------- */

static void test_missing_file(void **state)
{
	struct agent_config c;
	char err[512] = "";

	(void)state;
	agent_config_defaults(&c);
	assert_int_equal(agent_config_load(&c, "/tmp/tether-no-such-agent.conf", err,
					   sizeof err), -1);
	assert_non_null(strstr(err, "/tmp/tether-no-such-agent.conf"));
	agent_config_free(&c);
}

static void test_unknown_keys(void **state)
{
	(void)state;
	load_bad(CLIENT_OK "servr = \"x\"\n", 5, "servr", "[client]");
	load_bad("[connection]\nmax_retry_interval = '1s'\nretry = 3\n", 3, "retry",
		 "[connection]");
	load_bad("[remote-commands]\nenabled = true\n\nallowed = ['x']\n", 4, "allowed",
		 "[remote-commands]");
	load_bad("[remote-scripts]\nenable = true\n", 2, "enable", "[remote-scripts]");
	load_bad("[remote-commands]\nEnabled = true\n", 2, "Enabled", NULL);
	/* rport's [remote-scripts] has no allow list of its own here. */
	load_bad("[remote-scripts]\nenabled = true\nallow = ['x']\n", 3, "allow", NULL);
}

static void test_unknown_section(void **state)
{
	(void)state;
	load_bad(CLIENT_OK "\n[tunnels]\nscheme = \"ssh\"\n", 6, "tunnels", "section");
	load_bad("[remote-comands]\nenabled = false\n", 1, "remote-comands", NULL);
	/* A key before any section. */
	load_bad("server = \"127.0.0.1:8080\"\n[client]\n", 1, "server", "section");
}

static void test_wrong_types(void **state)
{
	(void)state;
	load_bad("[client]\nserver = 8080\n", 2, "client.server", "string");
	load_bad("[client]\nauth = ['a', 'b']\n", 2, "client.auth", "string");
	load_bad("[client]\nid = 1\n", 2, "client.id", "string");
	load_bad("[client]\nname = true\n", 2, "client.name", "string");
	load_bad("[client]\ndata_dir = 0\n", 2, "client.data_dir", "string");
	load_bad("[client]\nallow_root = \"yes\"\n", 2, "client.allow_root", "true or false");
	load_bad("[client]\nallow_root = 1\n", 2, "client.allow_root", NULL);
	load_bad("[client]\ntags = 'linux'\n", 2, "client.tags", "array of strings");
	load_bad("[client]\ntags = ['linux', 5]\n", 2, "client.tags", "array of strings");
	load_bad("[client]\nlabels = 'zone=EU'\n", 2, "client.labels", "table");
	load_bad("[client.labels]\nzone = \"EU\"\nrack = 12\n", 3, "rack", "string");
	load_bad("[remote-commands]\nenabled = 'true'\n", 2, "remote-commands.enabled",
		 "true or false");
	load_bad("[remote-commands]\nenabled = 1\n", 2, "remote-commands.enabled", NULL);
	load_bad("[remote-commands]\nallow = '^/usr/bin/.*'\n", 2, "remote-commands.allow",
		 "array of strings");
	load_bad("[remote-commands]\nallow = ['^/usr/bin/.*', true]\n", 2,
		 "remote-commands.allow", NULL);
	load_bad("[remote-commands]\ndeny = [['x']]\n", 2, "remote-commands.deny", NULL);
	load_bad("[remote-commands]\nsend_back_limit = '4M'\n", 2,
		 "remote-commands.send_back_limit", NULL);
	load_bad("[remote-commands]\nsend_back_limit = 1.5\n", 2,
		 "remote-commands.send_back_limit", NULL);
	load_bad("[remote-scripts]\nenabled = \"false\"\n", 2, "remote-scripts.enabled", NULL);
	load_bad("[remote-scripts]\ncheck_command_policy = 1\n", 2,
		 "remote-scripts.check_command_policy", NULL);
	load_bad("[interpreter-aliases]\npy3 = \"/usr/bin/python3\"\npy2 = 2\n", 3, "py2",
		 "string");
	load_bad("[interpreter-aliases]\nsub = { a = \"x\" }\n", 2, "sub", NULL);
}

static void test_send_back_limit_range(void **state)
{
	(void)state;
	load_bad("[remote-commands]\nsend_back_limit = -1\n", 2,
		 "remote-commands.send_back_limit", NULL);
	load_bad("[remote-commands]\nsend_back_limit = 67108865\n", 2,
		 "remote-commands.send_back_limit", NULL);
}

static void test_bad_order(void **state)
{
	static const char *const bad[] = {
		"order = ['allow']",
		"order = ['deny']",
		"order = []",
		"order = ['allow','deny','allow']",
		"order = ['allow','allow']",
		"order = ['deny','deny']",
		"order = ['Allow','Deny']",
		"order = ['allow ','deny']",
		"order = ['allow','denied']",
		"order = 'allow,deny'",
		"order = [1, 2]",
		"order = true",
	};

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char text[256];

		snprintf(text, sizeof text, "[remote-commands]\nenabled = true\n%s\n", bad[i]);
		load_bad(text, 3, "remote-commands.order", NULL);
	}
}

static const char *const duration_keys[] = {
	"max_retry_interval", "min_retry_interval", "keep_alive", "keep_alive_timeout",
};

static void test_bad_durations(void **state)
{
	static const char *const bad[] = {
		"'5x'", "'abc'", "''", "'-1s'", "-1", "-30", "true", "1.5", "['1s']",
		"'1h30m'", "'30 s'", "'nan'",
	};

	(void)state;
	for (size_t k = 0; k < sizeof duration_keys / sizeof duration_keys[0]; k++) {
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			char text[256], needle[64];

			snprintf(text, sizeof text, "[connection]\n\n%s = %s\n", duration_keys[k],
				 bad[i]);
			snprintf(needle, sizeof needle, "connection.%s", duration_keys[k]);
			load_bad(text, 3, needle, "duration");
		}
	}
}

static void test_duration_overflow(void **state)
{
	/* Whole seconds whose milliseconds do not fit in 64 bits must be
	 * refused, not wrapped around (18446744073709552 s would become
	 * 384 ms). */
	static const char *const bad[] = {
		"9223372036854775807", "18446744073709552", "9223372036854776",
	};

	(void)state;
	for (size_t k = 0; k < sizeof duration_keys / sizeof duration_keys[0]; k++) {
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			char text[256], needle[64];

			snprintf(text, sizeof text, "[connection]\n\n%s = %s\n", duration_keys[k],
				 bad[i]);
			snprintf(needle, sizeof needle, "connection.%s", duration_keys[k]);
			load_bad(text, 3, needle, "duration");
		}
	}
}

static void test_syntax_error_has_line(void **state)
{
	(void)state;
	load_bad("[client]\nserver = \"127.0.0.1:8080\"\nauth = \"a:b\n", 3, NULL, NULL);
	load_bad("[client]\nid = \"a\"\nid = \"b\"\n", 3, "duplicate", NULL);
	/* Cut short: reported where the input ends. */
	load_bad("[remote-commands]\nallow = ['^/usr/bin/.*',\n", 3, NULL, NULL);
}

/* ---- check -------------------------------------------------------------- */

static void test_check(void **state)
{
	struct agent_config c;

	(void)state;
	/* Nothing set. */
	agent_config_defaults(&c);
	check_bad(&c, "client.server");
	agent_config_free(&c);

	load_ok(CLIENT_OK, &c);
	check_ok(&c);

	c.server[0] = '\0';
	check_bad(&c, "client.server");
	snprintf(c.server, sizeof c.server, "127.0.0.1:8080");

	c.auth[0] = '\0';
	check_bad(&c, "client.auth");
	snprintf(c.auth, sizeof c.auth, "clientAuth1");
	check_bad(&c, "client.auth");
	snprintf(c.auth, sizeof c.auth, "clientAuth1:1234");

	c.id[0] = '\0';
	check_bad(&c, "client.id");
	snprintf(c.id, sizeof c.id, "c1");
	check_ok(&c);

	/* TLS settings need a wss:// server. */
	snprintf(c.tls_ca, sizeof c.tls_ca, "/etc/tether/ca.pem");
	check_bad(&c, "wss://");
	snprintf(c.server, sizeof c.server, "ws://example.com:8080");
	check_bad(&c, "wss://");
	snprintf(c.server, sizeof c.server, "wss://example.com:8080");
	check_ok(&c);
	c.tls_ca[0] = '\0';
	snprintf(c.fingerprint, sizeof c.fingerprint, "%064d", 0);
	snprintf(c.server, sizeof c.server, "127.0.0.1:8080");
	check_bad(&c, "wss://");
	snprintf(c.server, sizeof c.server, "WSS://example.com:8080");
	check_ok(&c);
	c.fingerprint[0] = '\0';

	/* Keep-alive: at least 100 ms, and the timeout longer than the ping. */
	c.keep_alive_ms = 99;
	check_bad(&c, "keep_alive");
	c.keep_alive_ms = 100;
	c.keep_alive_timeout_ms = 100;
	check_bad(&c, "keep_alive_timeout");
	c.keep_alive_timeout_ms = 101;
	check_ok(&c);

	/* Retry intervals. */
	c.min_retry_ms = 0;
	check_bad(&c, "retry_interval");
	c.min_retry_ms = 2000;
	c.max_retry_ms = 1999;
	check_bad(&c, "max_retry_interval");
	c.max_retry_ms = 2000;
	check_ok(&c);
	agent_config_free(&c);

	/* Through a file: max below the default min. */
	load_ok(CLIENT_OK "[connection]\nmax_retry_interval = '500ms'\n", &c);
	check_bad(&c, "max_retry_interval");
	agent_config_free(&c);
	load_ok(CLIENT_OK "[connection]\nkeep_alive = '60s'\nkeep_alive_timeout = '30s'\n", &c);
	check_bad(&c, "keep_alive_timeout");
	agent_config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_full_file_policy_compiles),
		cmocka_unit_test(test_retry_interval_integer),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_defaults_when_absent),
		cmocka_unit_test(test_remote_commands_variants),
		cmocka_unit_test(test_load_twice_replaces_lists),
		cmocka_unit_test(test_server_forms),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_unknown_section),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_send_back_limit_range),
		cmocka_unit_test(test_bad_order),
		cmocka_unit_test(test_bad_durations),
		cmocka_unit_test(test_syntax_error_has_line),
		cmocka_unit_test(test_check),
		/* Last: under UBSan the overflow it looks for aborts the run. */
		cmocka_unit_test(test_duration_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
