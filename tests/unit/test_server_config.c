/* Unit tests for src/server/config.c: defaults, an rport-shaped file,
 * every kind of error with its line, ranges, and server_config_check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

/* ---- helpers ------------------------------------------------------------ */

/* Writes text to a new file in /tmp; path receives its name. */
static void write_tmp(const char *text, char path[64])
{
	int fd;
	size_t len = strlen(text);

	snprintf(path, 64, "/tmp/tether-test-srvconf-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

/* Loads text over defaults; must succeed. */
static void load_ok(const char *text, struct server_config *c)
{
	char path[64], err[512] = "";
	int rc;

	server_config_defaults(c);
	write_tmp(text, path);
	rc = server_config_load(c, path, err, sizeof err);
	unlink(path);
	if (rc != 0)
		fail_msg("refused <<%s>>: %s", text, err);
}

/* Loads text over defaults; must fail with "PATH: line N: " and every
 * needle in the message. */
static void load_bad(const char *text, int line, const char *needle1, const char *needle2)
{
	struct server_config c;
	char path[64], err[512] = "", prefix[128];
	int rc;

	server_config_defaults(&c);
	write_tmp(text, path);
	rc = server_config_load(&c, path, err, sizeof err);
	unlink(path);
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

static const char rport_example[] =
	"[server]\n"
	"address = \"0.0.0.0:8080\"\n"
	"auth = \"clientAuth1:1234\"\n"
	"data_dir = \"/var/lib/tether\"\n"
	"[api]\n"
	"address = \"0.0.0.0:3000\"\n"
	"user = \"admin\"\n"
	"password = \"foobaz\"\n";

/* A complete valid configuration to break one piece at a time. */
static void good_config(struct server_config *c)
{
	load_ok(rport_example, c);
}

static void check_bad(const struct server_config *c, const char *needle)
{
	char err[512] = "";

	if (server_config_check(c, err, sizeof err) != -1)
		fail_msg("check passed, want an error with '%s'", needle);
	if (!strstr(err, needle))
		fail_msg("check error '%s' lacks '%s'", err, needle);
}

/* ---- defaults and a good file ------------------------------------------- */

static void test_defaults(void **state)
{
	struct server_config c;

	(void)state;
	memset(&c, 0x5a, sizeof c);
	server_config_defaults(&c);
	assert_string_equal(c.agent_address, "0.0.0.0:8080");
	assert_string_equal(c.api_address, "0.0.0.0:3000");
	assert_string_equal(c.data_dir, "/var/lib/tether");
	assert_string_equal(c.log_level, "info");
	assert_string_equal(c.agent_auth, "");
	assert_string_equal(c.agent_auth_file, "");
	assert_string_equal(c.api_user, "");
	assert_string_equal(c.api_password, "");
	assert_string_equal(c.api_auth_file, "");
	assert_string_equal(c.tls_cert, "");
	assert_string_equal(c.tls_key, "");
	assert_int_equal(c.max_agent_message, 64LL * 1024 * 1024);
	assert_int_equal(c.run_remote_cmd_timeout_sec, 60);
	assert_int_equal(c.heartbeat_timeout_sec, 60);
	assert_int_equal(c.result_grace_sec, 30);
	assert_int_equal(c.max_request_bytes, 1024 * 1024);
	assert_int_equal(c.token_lifetime, 3600);
	assert_int_equal(c.max_token_lifetime, 90LL * 86400);
	assert_true(c.user_login_wait > 0);
	assert_true(c.store_sync_thread); /* the commits' fsync on its thread */
}

static void test_defaults_need_credentials(void **state)
{
	struct server_config c;

	(void)state;
	/* The defaults alone are not runnable: nobody could log in. */
	server_config_defaults(&c);
	check_bad(&c, "agent credentials");
}

static void test_rport_example(void **state)
{
	struct server_config c;
	char err[512] = "";

	(void)state;
	load_ok(rport_example, &c);
	assert_string_equal(c.agent_address, "0.0.0.0:8080");
	assert_string_equal(c.agent_auth, "clientAuth1:1234");
	assert_string_equal(c.data_dir, "/var/lib/tether");
	assert_string_equal(c.api_address, "0.0.0.0:3000");
	assert_string_equal(c.api_user, "admin");
	assert_string_equal(c.api_password, "foobaz");
	/* Keys not in the file keep their defaults. */
	assert_int_equal(c.run_remote_cmd_timeout_sec, 60);
	assert_string_equal(c.log_level, "info");
	if (server_config_check(&c, err, sizeof err))
		fail_msg("check: %s", err);
}

static void test_every_key(void **state)
{
	static const char text[] =
		"# every key tetherd knows\n"
		"[server]\n"
		"address = \"127.0.0.1:18080\"\n"
		"auth = \"id:pw\"\n"
		"auth_file = \"/etc/tether/agents.json\"\n"
		"data_dir = \"/srv/tether\"\n"
		"tls_cert = \"/etc/tether/agent.crt\"\n"
		"tls_key = \"/etc/tether/agent.key\"\n"
		"log_level = \"debug\"\n"
		"max_request_bytes_client = 2048\n"
		"run_remote_cmd_timeout_sec = 120\n"
		"heartbeat_timeout_sec = 15\n"
		"result_grace_sec = 5\n"
		"max_concurrent_handshakes = 50\n"
		"max_failed_login = 3\n"
		"ban_time = 60\n"
		"client_login_wait = 0.5\n"
		"\n"
		"[api]\n"
		"address = \"[::1]:13000\"\n"
		"user = \"root\"\n"
		"password = \"s3cret\"\n"
		"auth_file = \"/etc/tether/users\"\n"
		"tls_cert = \"/etc/tether/api.crt\"\n"
		"tls_key = \"/etc/tether/api.key\"\n"
		"max_request_bytes = 4096\n"
		"token_lifetime = 600\n"
		"max_token_lifetime = 86400\n"
		"max_failed_login = 10\n"
		"ban_time = 120\n"
		"user_login_wait = 1.5\n"
		"allowed_origins = \"https://a.example, https://b.example\"\n";
	struct server_config c;
	char err[512] = "";

	(void)state;
	load_ok(text, &c);
	assert_string_equal(c.agent_address, "127.0.0.1:18080");
	assert_string_equal(c.agent_auth, "id:pw");
	assert_string_equal(c.agent_auth_file, "/etc/tether/agents.json");
	assert_string_equal(c.data_dir, "/srv/tether");
	assert_string_equal(c.tls_cert, "/etc/tether/agent.crt");
	assert_string_equal(c.tls_key, "/etc/tether/agent.key");
	assert_string_equal(c.log_level, "debug");
	assert_int_equal(c.max_agent_message, 2048);
	assert_int_equal(c.run_remote_cmd_timeout_sec, 120);
	assert_int_equal(c.heartbeat_timeout_sec, 15);
	assert_int_equal(c.result_grace_sec, 5);
	assert_int_equal(c.max_concurrent_handshakes, 50);
	assert_int_equal(c.client_max_failed_login, 3);
	assert_int_equal(c.client_ban_time, 60);
	assert_true(c.client_login_wait == 0.5);
	assert_string_equal(c.api_address, "[::1]:13000");
	assert_string_equal(c.api_user, "root");
	assert_string_equal(c.api_password, "s3cret");
	assert_string_equal(c.api_auth_file, "/etc/tether/users");
	assert_string_equal(c.api_tls_cert, "/etc/tether/api.crt");
	assert_string_equal(c.api_tls_key, "/etc/tether/api.key");
	assert_int_equal(c.max_request_bytes, 4096);
	assert_int_equal(c.token_lifetime, 600);
	assert_int_equal(c.max_token_lifetime, 86400);
	assert_int_equal(c.max_failed_login, 10);
	assert_int_equal(c.ban_time, 120);
	assert_true(c.user_login_wait == 1.5);
	assert_string_equal(c.allowed_origins, "https://a.example, https://b.example");
	if (server_config_check(&c, err, sizeof err))
		fail_msg("check: %s", err);
}

static void test_toml_forms(void **state)
{
	/* Comments, literal strings, blank lines, CRLF, sections in any order,
	 * an integer where a float is expected. */
	static const char text[] =
		"\r\n"
		"[api]   # the API\r\n"
		"user = 'admin'\r\n"
		"password = '''foo\"baz'''\r\n"
		"user_login_wait = 3\r\n"
		"[server]\r\n"
		"auth = 'a:b' # inline comment\r\n"
		"max_request_bytes_client = 1_048_576\r\n";
	struct server_config c;

	(void)state;
	load_ok(text, &c);
	assert_string_equal(c.api_user, "admin");
	assert_string_equal(c.api_password, "foo\"baz");
	assert_true(c.user_login_wait == 3.0);
	assert_string_equal(c.agent_auth, "a:b");
	assert_int_equal(c.max_agent_message, 1048576);
}

static void test_load_over_values(void **state)
{
	struct server_config c;
	char path[64], err[512] = "";

	(void)state;
	/* A second file overrides only what it names. */
	good_config(&c);
	write_tmp("[api]\nuser = \"other\"\n", path);
	assert_int_equal(server_config_load(&c, path, err, sizeof err), 0);
	unlink(path);
	assert_string_equal(c.api_user, "other");
	assert_string_equal(c.api_password, "foobaz");
	assert_string_equal(c.agent_auth, "clientAuth1:1234");
}

static void test_empty_file(void **state)
{
	struct server_config c, d;

	(void)state;
	load_ok("", &c);
	server_config_defaults(&d);
	assert_memory_equal(&c, &d, sizeof c);
	load_ok("# only a comment\n\n[server]\n[api]\n", &c);
	assert_memory_equal(&c, &d, sizeof c);
}

/* ---- load errors -------------------------------------------------------- */

static void test_missing_file(void **state)
{
	struct server_config c;
	char err[512] = "";

	(void)state;
	server_config_defaults(&c);
	assert_int_equal(server_config_load(&c, "/tmp/tether-no-such-config.toml", err,
					    sizeof err), -1);
	assert_non_null(strstr(err, "/tmp/tether-no-such-config.toml"));
}

static void test_unknown_section(void **state)
{
	(void)state;
	load_bad("[server]\nauth = \"a:b\"\n[bogus]\nx = 1\n", 3, "bogus", "section");
	/* Even when empty. */
	load_bad("[server]\n\n[bogus]\n", 3, "bogus", "section");
	/* rport's other sections are not ours. */
	load_bad("[logging]\nlog_file = \"/var/log/x\"\n", 1, "logging", NULL);
	/* A sub-table of a known section. */
	load_bad("[server]\nauth = \"a:b\"\n\n[server.extra]\nx = 1\n", 4, "extra", NULL);
}

static void test_unknown_key(void **state)
{
	(void)state;
	load_bad("[server]\naddress = \"0.0.0.0:8080\"\nadress = \"x\"\n", 3, "adress", "[server]");
	load_bad("[server]\nadress = \"x\"\n", 2, "unknown key 'adress' in [server]", NULL);
	load_bad("[api]\nuser = \"a\"\n\n\npasswd = \"b\"\n", 5, "passwd", "[api]");
	/* A key of the other section. */
	load_bad("[server]\nuser = \"admin\"\n", 2, "user", "[server]");
	load_bad("[api]\ndata_dir = \"/x\"\n", 2, "data_dir", "[api]");
	/* Keys are case-sensitive. */
	load_bad("[server]\nAddress = \"0.0.0.0:8080\"\n", 2, "Address", NULL);
	/* A key before any section. */
	load_bad("address = \"0.0.0.0:8080\"\n[server]\n", 1, "address", NULL);
}

static void test_wrong_types(void **state)
{
	(void)state;
	load_bad("[server]\naddress = 8080\n", 2, "server.address", "string");
	load_bad("[server]\n\nauth = true\n", 3, "server.auth", "string");
	load_bad("[api]\nuser = [\"admin\"]\n", 2, "api.user", "string");
	load_bad("[api]\npassword = { a = 1 }\n", 2, "api.password", "string");
	load_bad("[server]\nrun_remote_cmd_timeout_sec = \"60\"\n", 2,
		 "server.run_remote_cmd_timeout_sec", "integer");
	load_bad("[server]\nheartbeat_timeout_sec = 1.5\n", 2, "server.heartbeat_timeout_sec",
		 "integer");
	load_bad("[api]\ntoken_lifetime = true\n", 2, "api.token_lifetime", "integer");
	load_bad("[api]\nuser_login_wait = \"2s\"\n", 2, "api.user_login_wait", "number");
	/* A section given as a value. */
	load_bad("server = \"x\"\n", 1, "server", NULL);
}

static void test_out_of_range(void **state)
{
	struct server_config c;

	(void)state;
	load_bad("[server]\nheartbeat_timeout_sec = 1\n", 2, "server.heartbeat_timeout_sec",
		 "2 to 86400");
	load_bad("[server]\nheartbeat_timeout_sec = 1\n", 2, "must be an integer from 2", NULL);
	load_bad("[server]\nheartbeat_timeout_sec = 86401\n", 2, "heartbeat_timeout_sec", NULL);
	load_bad("[server]\nrun_remote_cmd_timeout_sec = 0\n", 2, "run_remote_cmd_timeout_sec",
		 NULL);
	load_bad("[server]\nrun_remote_cmd_timeout_sec = -5\n", 2,
		 "run_remote_cmd_timeout_sec", NULL);
	load_bad("[server]\nmax_request_bytes_client = 1023\n", 2, "max_request_bytes_client",
		 NULL);
	load_bad("[api]\nmax_request_bytes = 9223372036854775807\n", 2, "max_request_bytes",
		 NULL);
	load_bad("[api]\ntoken_lifetime = 0\n", 2, "token_lifetime", NULL);
	load_bad("[api]\nuser_login_wait = -0.5\n", 2, "user_login_wait", NULL);
	load_bad("[api]\nuser_login_wait = 3600.5\n", 2, "user_login_wait", NULL);
	load_bad("[api]\nuser_login_wait = inf\n", 2, "user_login_wait", NULL);
	/* The edges themselves are fine. */
	load_ok("[server]\nheartbeat_timeout_sec = 2\nresult_grace_sec = 86400\n"
		"[api]\nmax_failed_login = 0\nuser_login_wait = 0\n", &c);
	assert_int_equal(c.heartbeat_timeout_sec, 2);
	assert_int_equal(c.result_grace_sec, 86400);
	assert_int_equal(c.max_failed_login, 0);
	assert_true(c.user_login_wait == 0.0);
}

static void test_too_long(void **state)
{
	char text[2048];
	char big[700];

	(void)state;
	memset(big, 'd', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	snprintf(text, sizeof text, "[server]\n\ndata_dir = \"/%s\"\n", big);
	load_bad(text, 3, "server.data_dir", "too long");
	/* Exactly the buffer less its terminator fits. */
	{
		struct server_config c;
		char user[128];

		memset(user, 'u', sizeof user - 1);
		user[sizeof user - 1] = '\0';
		snprintf(text, sizeof text, "[api]\nuser = \"%s\"\n", user);
		load_ok(text, &c);
		assert_string_equal(c.api_user, user);
		snprintf(text, sizeof text, "[api]\nuser = \"%su\"\n", user);
		load_bad(text, 2, "api.user", "too long");
	}
}

static void test_syntax_error_has_line(void **state)
{
	(void)state;
	load_bad("[server]\naddress = \"0.0.0.0:8080\n", 2, NULL, NULL);
	load_bad("[server]\nauth = \"a:b\"\nauth = \"c:d\"\n", 3, "duplicate", NULL);
}

/* ---- check -------------------------------------------------------------- */

static void test_check(void **state)
{
	struct server_config c;
	char err[512] = "";

	(void)state;
	good_config(&c);
	assert_int_equal(server_config_check(&c, err, sizeof err), 0);

	/* No agent credentials at all. */
	good_config(&c);
	c.agent_auth[0] = '\0';
	check_bad(&c, "agent credentials");
	/* A credentials file alone is enough. */
	snprintf(c.agent_auth_file, sizeof c.agent_auth_file, "/etc/tether/agents.json");
	assert_int_equal(server_config_check(&c, err, sizeof err), 0);

	/* auth without ':' */
	good_config(&c);
	snprintf(c.agent_auth, sizeof c.agent_auth, "clientAuth1");
	check_bad(&c, "server.auth");

	/* No API user. */
	good_config(&c);
	c.api_user[0] = '\0';
	check_bad(&c, "API users");
	good_config(&c);
	c.api_password[0] = '\0';
	check_bad(&c, "API users");
	/* An auth file stands in for user and password. */
	c.api_user[0] = '\0';
	snprintf(c.api_auth_file, sizeof c.api_auth_file, "/etc/tether/users");
	assert_int_equal(server_config_check(&c, err, sizeof err), 0);

	/* Bad addresses. */
	{
		static const char *const bad[] = {
			"0.0.0.0", "0.0.0.0:", "0.0.0.0:http", "0.0.0.0:70000", "", "[::1]",
			"0.0.0.0:-1",
		};

		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			good_config(&c);
			snprintf(c.agent_address, sizeof c.agent_address, "%s", bad[i]);
			check_bad(&c, "server.address");
			good_config(&c);
			snprintf(c.api_address, sizeof c.api_address, "%s", bad[i]);
			check_bad(&c, "api.address");
		}
	}
	/* IPv6 and an empty host are fine. */
	good_config(&c);
	snprintf(c.agent_address, sizeof c.agent_address, "[::]:8080");
	snprintf(c.api_address, sizeof c.api_address, ":3000");
	assert_int_equal(server_config_check(&c, err, sizeof err), 0);

	/* TLS certificate and key go together, on either listener. */
	good_config(&c);
	snprintf(c.tls_cert, sizeof c.tls_cert, "/x.crt");
	check_bad(&c, "tls_key");
	good_config(&c);
	snprintf(c.api_tls_key, sizeof c.api_tls_key, "/x.key");
	check_bad(&c, "tls_cert");
	snprintf(c.api_tls_cert, sizeof c.api_tls_cert, "/x.crt");
	assert_int_equal(server_config_check(&c, err, sizeof err), 0);

	/* An empty data_dir. */
	good_config(&c);
	c.data_dir[0] = '\0';
	check_bad(&c, "data_dir");
}

/* [server] shared_client_auth: an array of credential ids, kept "a,b". */
static void test_shared_client_auth(void **state)
{
	struct server_config c;

	(void)state;
	server_config_defaults(&c);
	assert_string_equal(c.shared_client_auth, "");
	load_ok("[server]\nshared_client_auth = [\"clientAuth1\", 'team-a']\n", &c);
	assert_string_equal(c.shared_client_auth, "clientAuth1,team-a");
	load_ok("[server]\nshared_client_auth = []\n", &c);
	assert_string_equal(c.shared_client_auth, "");
	load_bad("[server]\nshared_client_auth = \"clientAuth1\"\n", 2,
		 "server.shared_client_auth", "must be an array of strings");
	load_bad("[server]\n\nshared_client_auth = [\"a\", 1]\n", 3,
		 "server.shared_client_auth", "entry 2 must be a non-empty string");
	load_bad("[server]\nshared_client_auth = [\"a,b\"]\n", 2, "entry 1", "without ','");
	load_bad("[server]\nshared_client_auth = [\"\"]\n", 2, "entry 1", NULL);
	{
		char text[4096];
		size_t n = (size_t)snprintf(text, sizeof text, "[server]\nshared_client_auth = [");

		for (int i = 0; i < 250; i++)
			n += (size_t)snprintf(text + n, sizeof text - n, "%s\"cred-%03d\"",
					      i ? ", " : "", i);
		snprintf(text + n, sizeof text - n, "]\n");
		load_bad(text, 2, "server.shared_client_auth", "too long");
	}
}

/* Retention keys: rport's defaults, durations as seconds or strings
 * (with days), and clear errors for the rest. */
static void test_retention(void **state)
{
	struct server_config c;
	char err[256] = "";

	(void)state;
	server_config_defaults(&c);
	assert_int_equal(c.jobs_max_results, 10000);
	assert_int_equal(c.jobs_max_age_ms, 0);
	assert_int_equal(c.purge_jobs_interval_ms, 3600000);
	assert_false(c.purge_disconnected_clients);
	assert_int_equal(c.keep_disconnected_clients_ms, 3600000);
	assert_int_equal(c.purge_disconnected_clients_interval_ms, 60000);
	load_ok("[server]\njobs_max_results = 0\njobs_max_age = '30d'\n"
		"purge_jobs_interval = 90\npurge_disconnected_clients = true\n"
		"keep_disconnected_clients = \"2h\"\npurge_disconnected_clients_interval = '30s'\n",
		&c);
	assert_int_equal(c.jobs_max_results, 0);
	assert_int_equal(c.jobs_max_age_ms, 30LL * 86400 * 1000);
	assert_int_equal(c.purge_jobs_interval_ms, 90000);
	assert_true(c.purge_disconnected_clients);
	assert_int_equal(c.keep_disconnected_clients_ms, 7200000);
	assert_int_equal(c.purge_disconnected_clients_interval_ms, 30000);
	load_bad("[server]\njobs_max_age = 'soon'\n", 2, "server.jobs_max_age must be a duration",
		 "'7d'");
	load_bad("[server]\n\nkeep_disconnected_clients = -5\n", 3,
		 "server.keep_disconnected_clients must be a duration", NULL);
	load_bad("[server]\njobs_max_age = 'xd'\n", 2, "must be a duration", NULL);
	load_bad("[server]\njobs_max_results = -1\n", 2, "server.jobs_max_results", "0 to");
	load_bad("[server]\npurge_disconnected_clients = 'yes'\n", 2,
		 "server.purge_disconnected_clients", "true or false");
	/* an interval under a second would spin */
	good_config(&c);
	assert_int_equal(server_config_check(&c, err, sizeof err), 0);
	c.purge_jobs_interval_ms = 500;
	check_bad(&c, "at least 1s");
	good_config(&c);
	c.purge_disconnected_clients_interval_ms = 0;
	check_bad(&c, "at least 1s");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_defaults_need_credentials),
		cmocka_unit_test(test_rport_example),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_toml_forms),
		cmocka_unit_test(test_load_over_values),
		cmocka_unit_test(test_empty_file),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_unknown_section),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_syntax_error_has_line),
		cmocka_unit_test(test_retention),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_shared_client_auth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
