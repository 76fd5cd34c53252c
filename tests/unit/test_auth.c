/* Unit tests for src/server/auth/: password verification (passwords.c),
 * login and API tokens (tokens.c), client credentials (credentials.c),
 * users and user groups (users.c), and their one write path to the store
 * (auth.c): what was written comes back after a restart, and what was
 * deleted does not. The store is the real one, in a throwaway directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>
#include <uv.h>

#include "auth/auth.h"
#include "config.h"
#include "store/store.h"
#include "util.h"

/* What an auth_cb saw. */
struct answer {
	int calls;
	bool ok;
	struct auth_identity id;
};

static void on_answer(void *ud, const struct auth_identity *id)
{
	struct answer *r = ud;

	r->calls++;
	r->ok = id != NULL;
	if (id)
		r->id = *id;
}

static struct auth *make_auth(uv_loop_t *loop)
{
	struct server_config cfg;
	struct auth *a = NULL;
	char err[256];

	server_config_defaults(&cfg);
	util_strlcpy(cfg.agent_auth, "clientAuth1:1234", sizeof cfg.agent_auth);
	util_strlcpy(cfg.api_user, "admin", sizeof cfg.api_user);
	util_strlcpy(cfg.api_password, "foobaz", sizeof cfg.api_password);
	util_strlcpy(cfg.shared_client_auth, "team", sizeof cfg.shared_client_auth);
	assert_int_equal(auth_create(loop, &cfg, &a, err, sizeof err), 0);
	/* The plain password is wiped from the configuration. */
	assert_string_equal(cfg.api_password, "");
	return a;
}

/* Runs a check to its answer (passwords are verified on a worker). */
static struct answer check(uv_loop_t *loop, struct auth *a, const char *authorization,
			   const char *access_token)
{
	struct answer r = { 0 };

	auth_api_check(a, authorization, access_token, on_answer, &r);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(r.calls, 1);
	return r;
}

static void basic(char *out, size_t outlen, const char *user, const char *password)
{
	char plain[256];

	snprintf(plain, sizeof plain, "%s:%s", user, password);
	memcpy(out, "Basic ", 6);
	sodium_bin2base64(out + 6, outlen - 6, (const unsigned char *)plain, strlen(plain),
			  sodium_base64_VARIANT_ORIGINAL);
}

static void test_password_verify(void **state)
{
	uv_loop_t loop;
	struct auth *a;
	struct answer r = { 0 };
	char h[512];

	(void)state;
	uv_loop_init(&loop);
	a = make_auth(&loop);
	basic(h, sizeof h, "admin", "foobaz");
	r = check(&loop, a, h, NULL);
	assert_true(r.ok);
	assert_string_equal(r.id.user, "admin");
	assert_false(r.id.api_token);
	assert_false(r.id.session_token);
	/* Verified once: the next check is answered at once, from the cache. */
	memset(&r, 0, sizeof r);
	auth_api_check(a, h, NULL, on_answer, &r);
	assert_int_equal(r.calls, 1);
	assert_true(r.ok);
	basic(h, sizeof h, "admin", "wrong");
	assert_false(check(&loop, a, h, NULL).ok);
	basic(h, sizeof h, "nobody", "foobaz");
	assert_false(check(&loop, a, h, NULL).ok);
	/* Malformed values are refused at once. */
	assert_false(check(&loop, a, "Basic !!!", NULL).ok);
	assert_false(check(&loop, a, "Digest x", NULL).ok);
	assert_false(check(&loop, a, NULL, NULL).ok);
	/* POST /login's path: a user name and a password. */
	memset(&r, 0, sizeof r);
	auth_password_check(a, "admin", "foobaz", on_answer, &r);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_true(r.ok);
	memset(&r, 0, sizeof r);
	auth_password_check(a, "admin", "foobaz2", on_answer, &r);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(r.calls, 1);
	assert_false(r.ok);
	auth_destroy(a);
	uv_loop_close(&loop);
}

static void test_api_user_lock_and_password(void **state)
{
	uv_loop_t loop;
	struct auth *a;
	char *hash = auth_hash_password("s3cret-pw");
	json_t *groups = json_pack("[s]", "ops");
	char h[512];

	(void)state;
	uv_loop_init(&loop);
	a = make_auth(&loop);
	assert_non_null(hash);
	assert_int_equal(auth_user_set(a, "bob", hash, groups, 0, true), 0);
	assert_int_equal(auth_user_set(a, "bob", hash, groups, 0, true), TE_EXISTS);
	assert_int_equal(auth_user_set(a, "admin", NULL, NULL, 1, false), TE_STATE);
	basic(h, sizeof h, "bob", "s3cret-pw");
	assert_true(check(&loop, a, h, NULL).ok);
	assert_false(auth_user_is_admin(a, "bob"));
	assert_true(auth_user_is_admin(a, "admin"));
	/* A locked user is refused, even with a cached verification. */
	assert_int_equal(auth_user_set(a, "bob", NULL, NULL, 1, false), 0);
	assert_false(check(&loop, a, h, NULL).ok);
	assert_int_equal(auth_user_delete(a, "bob"), 0);
	assert_int_equal(auth_user_delete(a, "bob"), TE_NOTFOUND);
	assert_false(auth_user_exists(a, "bob"));
	json_decref(groups);
	free(hash);
	auth_destroy(a);
	uv_loop_close(&loop);
}

static void test_tokens(void **state)
{
	uv_loop_t loop;
	struct auth *a;
	json_t *info = NULL, *list;
	char *session, *api;
	char h[512], bearer[256], name[128];
	struct answer r;

	(void)state;
	uv_loop_init(&loop);
	a = make_auth(&loop);
	/* A login token: Bearer, or access_token for WebSocket routes. */
	session = auth_token_issue(a, "admin", "session", AUTH_SCOPE_READ_WRITE, "login", 600,
				   &info);
	assert_non_null(session);
	assert_true(json_is_string(json_object_get(info, "expires_at")));
	json_decref(info);
	snprintf(bearer, sizeof bearer, "Bearer %s", session);
	r = check(&loop, a, bearer, NULL);
	assert_true(r.ok);
	assert_true(r.id.session_token);
	assert_string_equal(r.id.user, "admin");
	assert_true(auth_token_valid(a, r.id.token_hash));
	assert_true(check(&loop, a, NULL, session).ok);
	/* A login token is not an API token. */
	basic(h, sizeof h, "admin", session);
	assert_false(check(&loop, a, h, NULL).ok);
	assert_int_equal(auth_token_revoke_hash(a, r.id.token_hash), 0);
	assert_false(auth_token_valid(a, r.id.token_hash));
	assert_false(check(&loop, a, bearer, NULL).ok);
	assert_int_equal(auth_token_revoke_hash(a, r.id.token_hash), TE_NOTFOUND);

	/* An API token, read-only, as the password of basic auth. */
	api = auth_token_issue(a, "admin", "api", AUTH_SCOPE_READ, "ci", 0, &info);
	assert_non_null(api);
	assert_true(json_is_null(json_object_get(info, "expires_at")));
	assert_string_equal(json_string_value(json_object_get(info, "scope")), "read");
	assert_true(auth_token_name_taken(a, "admin", "ci"));
	assert_false(auth_token_name_taken(a, "admin", "cd"));
	list = auth_tokens_of(a, "admin");
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "prefix")),
			    json_string_value(json_object_get(info, "prefix")));
	assert_null(json_object_get(json_array_get(list, 0), "token"));
	json_decref(list);
	basic(h, sizeof h, "admin", api);
	r = check(&loop, a, h, NULL);
	assert_true(r.ok);
	assert_true(r.id.api_token);
	assert_int_equal(r.id.scope, AUTH_SCOPE_READ);
	/* No password guess to limit: the guard sees no name. */
	auth_basic_user(h, name, sizeof name);
	assert_string_equal(name, "");
	/* Another user's name with the token: refused at once. */
	basic(h, sizeof h, "bob", api);
	memset(&r, 0, sizeof r);
	auth_api_check(a, h, NULL, on_answer, &r);
	assert_int_equal(r.calls, 1);
	assert_false(r.ok);
	assert_int_equal(auth_token_revoke_prefix(a, "bob",
						  json_string_value(json_object_get(info, "prefix"))),
			 TE_NOTFOUND);
	assert_int_equal(auth_token_revoke_prefix(a, "admin",
						  json_string_value(json_object_get(info, "prefix"))),
			 0);
	basic(h, sizeof h, "admin", api);
	assert_false(check(&loop, a, h, NULL).ok);
	list = auth_tokens_of(a, "admin");
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	json_decref(info);
	free(session);
	free(api);
	auth_destroy(a);
	uv_loop_close(&loop);
}

static void test_credentials(void **state)
{
	struct auth *a;
	json_t *list;
	size_t i;
	json_t *v;
	int seen = 0;

	(void)state;
	a = make_auth(uv_default_loop());
	assert_true(auth_agent_check(a, "clientAuth1", "1234"));
	assert_false(auth_agent_check(a, "clientAuth1", "12345"));
	assert_false(auth_agent_check(a, "clientAuth1", ""));
	assert_false(auth_agent_check(a, "nobody", "1234"));
	assert_int_equal(auth_cred_add(a, "node-7", "pw-7"), 0);
	assert_int_equal(auth_cred_add(a, "node-7", "other"), TE_EXISTS);
	assert_true(auth_agent_check(a, "node-7", "pw-7"));
	assert_false(auth_agent_check(a, "node-7", "1234"));
	list = auth_creds_list(a);
	assert_int_equal(json_array_size(list), 2);
	json_array_foreach(list, i, v) {
		const char *id = json_string_value(json_object_get(v, "id"));
		const char *src = json_string_value(json_object_get(v, "source"));

		if (!strcmp(id, "clientAuth1") && !strcmp(src, "config"))
			seen++;
		if (!strcmp(id, "node-7") && !strcmp(src, "api"))
			seen++;
	}
	assert_int_equal(seen, 2);
	json_decref(list);
	assert_int_equal(auth_cred_delete(a, "clientAuth1"), TE_STATE);
	assert_int_equal(auth_cred_delete(a, "node-7"), 0);
	assert_int_equal(auth_cred_delete(a, "node-7"), TE_NOTFOUND);
	assert_false(auth_agent_check(a, "node-7", "pw-7"));
	assert_true(auth_agent_id_allowed(a, "team", "any-id"));
	assert_false(auth_agent_id_allowed(a, "node-7", "any-id"));
	auth_destroy(a);
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char p[512];

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		if (unlink(p))
			rmdir(p);
	}
	closedir(d);
	rmdir(dir);
}

/* A restart: the tables are built again from the configuration and the
 * store. */
static struct auth *restart(uv_loop_t *loop, struct auth *a, struct store *st)
{
	store_flush(st);
	auth_destroy(a);
	a = make_auth(loop);
	auth_attach_store(a, st);
	return a;
}

static void test_changes_are_stored(void **state)
{
	uv_loop_t loop;
	char dir[64], err[256] = "", h[512], bearer[256];
	struct store *st = NULL;
	struct auth *a;
	json_t *info = NULL, *perms = json_pack("{s:b}", "commands", 1), *ugs;
	json_t *groups = json_pack("[s]", "ops");
	char *hash = auth_hash_password("s3cret-pw");
	char *session, *api;
	struct answer r;

	(void)state;
	uv_loop_init(&loop);
	util_strlcpy(dir, "/tmp/tether-test-auth-XXXXXX", sizeof dir);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(store_open(dir, &st, err, sizeof err), 0);
	a = make_auth(&loop);
	auth_attach_store(a, st);
	session = auth_token_issue(a, "admin", "session", AUTH_SCOPE_READ_WRITE, "login", 600,
				   &info);
	json_decref(info);
	api = auth_token_issue(a, "admin", "api", AUTH_SCOPE_READ_WRITE, "ci", 0, &info);
	assert_int_equal(auth_cred_add(a, "node-7", "pw-7"), 0);
	assert_int_equal(auth_user_set(a, "bob", hash, groups, 0, true), 0);
	assert_int_equal(auth_user_group_put(a, "ops", perms), 0);

	/* Every kind of record comes back. */
	a = restart(&loop, a, st);
	snprintf(bearer, sizeof bearer, "Bearer %s", session);
	assert_true(check(&loop, a, bearer, NULL).ok);
	basic(h, sizeof h, "admin", api);
	assert_true(check(&loop, a, h, NULL).ok);
	assert_true(auth_token_name_taken(a, "admin", "ci"));
	assert_true(auth_agent_check(a, "node-7", "pw-7"));
	basic(h, sizeof h, "bob", "s3cret-pw");
	r = check(&loop, a, h, NULL);
	assert_true(r.ok);
	assert_string_equal(r.id.user, "bob");
	assert_true(auth_user_may(a, "bob", "commands"));
	assert_false(auth_user_may(a, "bob", "scripts"));
	ugs = auth_user_groups_json(a);
	assert_int_equal(json_array_size(ugs), 1);
	json_decref(ugs);

	/* And every deletion stays deleted. */
	assert_int_equal(auth_token_revoke_prefix(a, "admin",
						  json_string_value(json_object_get(info, "prefix"))),
			 0);
	r = check(&loop, a, bearer, NULL);
	assert_int_equal(auth_token_revoke_hash(a, r.id.token_hash), 0);
	assert_int_equal(auth_cred_delete(a, "node-7"), 0);
	assert_int_equal(auth_user_delete(a, "bob"), 0);
	assert_int_equal(auth_user_group_delete(a, "ops"), 0);
	a = restart(&loop, a, st);
	assert_false(check(&loop, a, bearer, NULL).ok);
	basic(h, sizeof h, "admin", api);
	assert_false(check(&loop, a, h, NULL).ok);
	assert_false(auth_agent_check(a, "node-7", "pw-7"));
	assert_false(auth_user_exists(a, "bob"));
	ugs = auth_user_groups_json(a);
	assert_int_equal(json_array_size(ugs), 0);
	json_decref(ugs);
	/* The configuration's entries were never stored, and are still there. */
	assert_true(auth_agent_check(a, "clientAuth1", "1234"));
	assert_true(auth_user_is_admin(a, "admin"));

	auth_destroy(a);
	store_close(st);
	remove_dir(dir);
	json_decref(info);
	json_decref(perms);
	json_decref(groups);
	free(hash);
	free(session);
	free(api);
	uv_loop_close(&loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_password_verify),
		cmocka_unit_test(test_api_user_lock_and_password),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_credentials),
		cmocka_unit_test(test_changes_are_stored),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
