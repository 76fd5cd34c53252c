/* Unit tests for src/server/auth/guard.c (bans per address and per name, the
 * delay, tokens passing, lifting, expiry on the test clock) and for the
 * parts of src/server/auth/ the guard relies on (auth_basic_user with an
 * API token, credentials bound to client ids). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "auth/auth.h"
#include "config.h"
#include "auth/guard.h"
#include "util.h"

struct seen {
	int n;
	enum guard_kind kind[8];
	char key[8][64];
	int failures[8];
	int64_t until[8];
};

static void collect(void *ud, enum guard_kind kind, const char *key, int failures,
		    int64_t until_ns)
{
	struct seen *s = ud;

	if (s->n == 8)
		return;
	s->kind[s->n] = kind;
	util_strlcpy(s->key[s->n], key, sizeof s->key[s->n]);
	s->failures[s->n] = failures;
	s->until[s->n] = until_ns;
	s->n++;
}

static void test_address_ban_and_tokens(void **state)
{
	struct guard *g = guard_create(3, 3600 * 1000, 0);
	struct seen s = { 0 };

	(void)state;
	guard_failed(g, "10.0.0.1", "u1");
	guard_failed(g, "10.0.0.1", "u2");
	assert_int_equal(guard_check(g, "10.0.0.1", "admin"), GUARD_OK);
	guard_failed(g, "10.0.0.1", "u3");
	/* Any password from the address is refused, a token is not. */
	assert_int_equal(guard_check(g, "10.0.0.1", "admin"), GUARD_BANNED);
	assert_int_equal(guard_check(g, "10.0.0.1", NULL), GUARD_OK);
	/* Another address, and the same one on a dual-stack socket. */
	assert_int_equal(guard_check(g, "10.0.0.2", "admin"), GUARD_OK);
	assert_int_equal(guard_check(g, "::ffff:10.0.0.1", "admin"), GUARD_BANNED);
	/* A success through a token does not lift the ban. */
	guard_succeeded(g, "10.0.0.1", "admin");
	assert_int_equal(guard_check(g, "10.0.0.1", "admin"), GUARD_BANNED);
	guard_each_ban(g, collect, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.kind[0], GUARD_ADDRESS);
	assert_string_equal(s.key[0], "10.0.0.1");
	assert_int_equal(s.failures[0], 3);
	assert_true(s.until[0] > util_now_ns() + 3599LL * 1000000000LL);
	assert_true(s.until[0] <= util_now_ns() + 3600LL * 1000000000LL);
	guard_destroy(g);
}

static void test_name_ban_across_addresses(void **state)
{
	struct guard *g = guard_create(3, 3600 * 1000, 0);
	struct seen s = { 0 };

	(void)state;
	guard_failed(g, "10.0.0.1", "alice");
	guard_failed(g, "10.0.0.2", "alice");
	guard_failed(g, "10.0.0.3", "alice");
	assert_int_equal(guard_check(g, "10.0.0.9", "alice"), GUARD_BANNED);
	assert_int_equal(guard_check(g, "10.0.0.1", "bob"), GUARD_OK);
	guard_each_ban(g, collect, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.kind[0], GUARD_NAME);
	assert_string_equal(s.key[0], "alice");
	/* Lifted: the count starts again. */
	assert_int_equal(guard_lift(g, GUARD_NAME, "alice"), 0);
	assert_int_equal(guard_lift(g, GUARD_NAME, "alice"), TE_NOTFOUND);
	assert_int_equal(guard_lift(g, GUARD_ADDRESS, "alice"), TE_NOTFOUND);
	assert_int_equal(guard_check(g, "10.0.0.9", "alice"), GUARD_OK);
	guard_failed(g, "10.0.0.4", "alice");
	assert_int_equal(guard_check(g, "10.0.0.9", "alice"), GUARD_OK);
	guard_destroy(g);
}

static void test_success_resets_the_count(void **state)
{
	struct guard *g = guard_create(3, 3600 * 1000, 0);

	(void)state;
	guard_failed(g, "10.0.0.1", "alice");
	guard_failed(g, "10.0.0.1", "alice");
	guard_succeeded(g, "10.0.0.1", "alice");
	guard_failed(g, "10.0.0.1", "alice");
	guard_failed(g, "10.0.0.1", "alice");
	assert_int_equal(guard_check(g, "10.0.0.1", "alice"), GUARD_OK);
	guard_destroy(g);
}

static void test_success_forgets_the_address_but_not_a_ban(void **state)
{
	struct guard *g = guard_create(3, 3600 * 1000, 0);

	(void)state;
	/* Failures under several names from one address: a success from that
	 * address forgets its count. */
	guard_failed(g, "10.0.0.1", "u1");
	guard_failed(g, "10.0.0.1", "u2");
	guard_succeeded(g, "10.0.0.1", "admin");
	guard_failed(g, "10.0.0.1", "u3");
	guard_failed(g, "10.0.0.1", "u4");
	assert_int_equal(guard_check(g, "10.0.0.1", "admin"), GUARD_OK);
	/* A banned name stays banned after a success. */
	guard_failed(g, "10.0.0.2", "bob");
	guard_failed(g, "10.0.0.3", "bob");
	guard_failed(g, "10.0.0.4", "bob");
	guard_succeeded(g, "10.0.0.5", "bob");
	assert_int_equal(guard_check(g, "10.0.0.5", "bob"), GUARD_BANNED);
	guard_destroy(g);
}

static void test_agent_scope_bans_addresses_only(void **state)
{
	struct guard *g = guard_create(2, 3600 * 1000, 0);
	struct seen s = { 0 };

	(void)state;
	guard_set_scope(g, "agents", false);
	guard_failed(g, "10.0.0.1", "clientAuth1");
	guard_failed(g, "10.0.0.2", "clientAuth1");
	assert_int_equal(guard_check(g, "10.0.0.3", "clientAuth1"), GUARD_OK);
	guard_failed(g, "10.0.0.1", "clientAuth1");
	assert_int_equal(guard_check(g, "10.0.0.1", "clientAuth1"), GUARD_BANNED);
	guard_each_ban(g, collect, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.kind[0], GUARD_ADDRESS);
	assert_int_equal(guard_lift(g, GUARD_ADDRESS, "::ffff:10.0.0.1"), 0);
	assert_int_equal(guard_check(g, "10.0.0.1", "clientAuth1"), GUARD_OK);
	guard_destroy(g);
}

static void test_delay_per_name(void **state)
{
	struct guard *g = guard_create(0, 0, 60000);

	(void)state;
	guard_failed(g, "10.0.0.1", "alice");
	assert_int_equal(guard_check(g, "10.0.0.2", "alice"), GUARD_WAIT);
	assert_int_equal(guard_check(g, "10.0.0.1", "bob"), GUARD_OK);
	assert_int_equal(guard_check(g, "10.0.0.1", NULL), GUARD_OK);
	/* max_failed 0: never banned. */
	for (int i = 0; i < 50; i++)
		guard_failed(g, "10.0.0.1", "x");
	assert_int_equal(guard_check(g, "10.0.0.1", "bob"), GUARD_OK);
	guard_destroy(g);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_bans_end_on_the_test_clock(void **state)
{
	char path[] = "/tmp/tether-test-clock-XXXXXX";
	int fd = mkstemp(path);
	struct guard *g;
	struct seen s = { 0 };

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	write_file(path, "0\n");
	setenv(GUARD_TEST_CLOCK_ENV, path, 1);
	g = guard_create(1, 3600 * 1000, 2000);
	unsetenv(GUARD_TEST_CLOCK_ENV);
	guard_failed(g, "10.0.0.1", "alice");
	assert_int_equal(guard_check(g, "10.0.0.1", "bob"), GUARD_BANNED);
	write_file(path, "3599\n");
	assert_int_equal(guard_check(g, "10.0.0.1", "bob"), GUARD_BANNED);
	guard_each_ban(g, collect, &s);
	assert_int_equal(s.n, 2);
	/* Shown as ending about a second from now. */
	assert_true(s.until[0] < util_now_ns() + 2LL * 1000000000LL);
	write_file(path, "3601\n");
	assert_int_equal(guard_check(g, "10.0.0.1", "bob"), GUARD_OK);
	assert_int_equal(guard_check(g, "10.0.0.2", "alice"), GUARD_OK);
	assert_int_equal(guard_lift(g, GUARD_ADDRESS, "10.0.0.1"), TE_NOTFOUND);
	s.n = 0;
	guard_each_ban(g, collect, &s);
	assert_int_equal(s.n, 0);
	/* Garbage in the file reads as no offset. */
	write_file(path, "soon");
	guard_failed(g, "10.0.0.3", NULL);
	assert_int_equal(guard_check(g, "10.0.0.3", "bob"), GUARD_BANNED);
	guard_destroy(g);
	unlink(path);
}

static void test_table_is_bounded(void **state)
{
	struct guard *g = guard_create(1000, 1000, 0);
	char ip[32];

	(void)state;
	/* More names than the table holds: no failure, old counts go. */
	for (int i = 0; i < 100005; i++) {
		snprintf(ip, sizeof ip, "n%d", i);
		guard_failed(g, NULL, ip);
	}
	assert_int_equal(guard_check(g, "10.0.0.1", "n100004"), GUARD_OK);
	guard_destroy(g);
	guard_destroy(NULL);
}

static void basic(const char *pair, char *out, size_t outlen)
{
	char b64[512];

	sodium_bin2base64(b64, sizeof b64, (const unsigned char *)pair, strlen(pair),
			  sodium_base64_VARIANT_ORIGINAL);
	snprintf(out, outlen, "Basic %s", b64);
}

static void test_basic_user_of_a_token_is_empty(void **state)
{
	char h[600], name[128];

	(void)state;
	basic("alice:some password", h, sizeof h);
	auth_basic_user(h, name, sizeof name);
	assert_string_equal(name, "alice");
	/* An API token (8 + '_' + 43) is no password guess. */
	basic("alice:Ab3dEf9h_0123456789abcdefghijABCDEFGHIJ-_xyzXYZ12345", h, sizeof h);
	auth_basic_user(h, name, sizeof name);
	assert_string_equal(name, "");
	/* One character short, or a bad prefix: a password. */
	basic("alice:Ab3dEf9h_0123456789abcdefghijABCDEFGHIJ-_xyzXYZ1234", h, sizeof h);
	auth_basic_user(h, name, sizeof name);
	assert_string_equal(name, "alice");
	basic("alice:Ab3dE-9h_0123456789abcdefghijABCDEFGHIJ-_xyzXYZ12345", h, sizeof h);
	auth_basic_user(h, name, sizeof name);
	assert_string_equal(name, "alice");
	auth_basic_user("Bearer x", name, sizeof name);
	assert_string_equal(name, "");
}

static void test_credentials_bound_to_ids(void **state)
{
	struct server_config cfg;
	struct auth *a = NULL;
	char err[256];

	(void)state;
	server_config_defaults(&cfg);
	util_strlcpy(cfg.agent_auth, "clientAuth1:1234", sizeof cfg.agent_auth);
	util_strlcpy(cfg.api_user, "admin", sizeof cfg.api_user);
	util_strlcpy(cfg.api_password, "foobaz", sizeof cfg.api_password);
	util_strlcpy(cfg.shared_client_auth, "team,team2", sizeof cfg.shared_client_auth);
	assert_int_equal(auth_create(uv_default_loop(), &cfg, &a, err, sizeof err), 0);
	assert_true(auth_agent_check(a, "clientAuth1", "1234"));
	assert_true(auth_agent_id_allowed(a, "clientAuth1", "clientAuth1"));
	assert_false(auth_agent_id_allowed(a, "clientAuth1", "my-client"));
	assert_true(auth_agent_id_allowed(a, "team", "node-1"));
	assert_true(auth_agent_id_allowed(a, "team2", "node-2"));
	/* Whole entries only. */
	assert_false(auth_agent_id_allowed(a, "tea", "node-1"));
	assert_false(auth_agent_id_allowed(a, "team,team2", "node-1"));
	assert_true(auth_cred_shared(a, "team"));
	assert_false(auth_cred_shared(a, "clientAuth1"));
	auth_destroy(a);
}

/* guard_admit: guard_check's verdict, and rport's words for a refusal. */
static void test_admit_gives_the_refusal(void **state)
{
	struct guard *g = guard_create(2, 3600 * 1000, 60 * 1000);
	const char *why = "unset";

	(void)state;
	assert_int_equal(guard_admit(g, "10.0.0.1", "u1", &why), GUARD_OK);
	assert_string_equal(why, "unset");
	guard_failed(g, "10.0.0.1", "u1");
	assert_int_equal(guard_admit(g, "10.0.0.2", "u1", &why), 429);
	assert_string_equal(why, "too many requests, please try later");
	guard_failed(g, "10.0.0.1", "u2");
	assert_int_equal(guard_admit(g, "10.0.0.1", "u3", &why), 423);
	assert_string_equal(why, "Too many bad attempts. Please try later.");
	/* No words wanted (the WebSocket accept answers a status only). */
	assert_int_equal(guard_admit(g, "10.0.0.1", "u3", NULL), GUARD_BANNED);
	/* A token is never refused. */
	assert_int_equal(guard_admit(g, "10.0.0.1", NULL, &why), GUARD_OK);
	guard_destroy(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_address_ban_and_tokens),
		cmocka_unit_test(test_name_ban_across_addresses),
		cmocka_unit_test(test_success_resets_the_count),
		cmocka_unit_test(test_success_forgets_the_address_but_not_a_ban),
		cmocka_unit_test(test_agent_scope_bans_addresses_only),
		cmocka_unit_test(test_delay_per_name),
		cmocka_unit_test(test_bans_end_on_the_test_clock),
		cmocka_unit_test(test_table_is_bounded),
		cmocka_unit_test(test_basic_user_of_a_token_is_empty),
		cmocka_unit_test(test_credentials_bound_to_ids),
		cmocka_unit_test(test_admit_gives_the_refusal),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
