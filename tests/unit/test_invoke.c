/* Unit tests for src/server/core/invoke.c: the job checks
 * (invoke_check_job), the timeouts and their defaults (invoke_timeouts),
 * the interpreter check, the user's access, invoke_prepare's error codes
 * (in the order a request meets them) and the fan-out limits "N" and "N%",
 * the record it prepares, the one commit of invoke_submit and its failure
 * codes, and invoke_single's outcomes. The store is the in-memory stub,
 * the agents layer a test router (core_fixture.h); the two auth functions
 * invoke.c calls are stubbed here: "admin" is an administrator, "alice" is
 * in user group "ops", anyone else is in none. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "core/groups.h"
#include "core/invoke.h"
#include "core_fixture.h"

/* ---- the auth stub ---------------------------------------------------- */

static json_t *alice_groups;

bool auth_user_is_admin(struct auth *a, const char *name)
{
	(void)a;
	return name && !strcmp(name, "admin");
}

const json_t *auth_user_groups(struct auth *a, const char *name)
{
	(void)a;
	return name && !strcmp(name, "alice") ? alice_groups : NULL;
}

/* ---- fixture ---------------------------------------------------------- */

static int setup(void **state)
{
	static struct fixture fx;
	json_t *g;
	struct client *c;

	fx_init(&fx, true, true);
	c = fx_client(&fx, "c1", true, "web", NULL);
	json_array_append_new(c->interpreters, json_string("bash"));
	c = fx_client(&fx, "c2", true, "web", NULL);
	json_array_append_new(c->interpreters, json_string("bash"));
	fx_client(&fx, "c3", false, "db", NULL);
	/* alice (ops) may use the web clients only. */
	g = json_pack("{s:s, s:{s:[s]}, s:[s]}", "id", "webs", "params", "tag", "web",
		      "allowed_user_groups", "ops");
	assert_int_equal(groups_put(fx.srv.groups, g), 0);
	json_decref(g);
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	fx_free(*state);
	return 0;
}

static const char *const web_ids[] = { "c1", "c2" };

/* A valid request for c1, c2 by admin. */
static struct invocation_request request(void)
{
	struct invocation_request r;

	memset(&r, 0, sizeof r);
	r.targets.client_ids = web_ids;
	r.targets.nclient_ids = 2;
	r.command = "uptime";
	r.created_by = "admin";
	r.peer = "127.0.0.1";
	return r;
}

/* invoke_prepare that must fail; returns the error. */
static struct invoke_error prepare_fails(struct fixture *fx, const struct invocation_request *r)
{
	struct invocation *inv = (struct invocation *)&inv;
	struct invoke_error err;

	assert_int_equal(invoke_prepare(&fx->srv, r, &inv, &err), -1);
	/* Out-parameters are set only on success. */
	assert_ptr_equal(inv, (struct invocation *)&inv);
	return err;
}

static struct invocation *prepare_ok(struct fixture *fx, const struct invocation_request *r)
{
	struct invocation *inv = NULL;
	struct invoke_error err;

	if (invoke_prepare(&fx->srv, r, &inv, &err))
		fail_msg("invoke_prepare failed: code %d, target %d, subject '%s'", err.code,
			 err.target, err.subject);
	assert_non_null(inv);
	return inv;
}

/* ---- invoke_check_job ------------------------------------------------- */

static void test_check_job(void **state)
{
	struct invoke_error err;
	char *big = malloc(INVOKE_MAX_COMMAND_LEN + 2);
	char interp[INVOKE_MAX_INTERPRETER_LEN + 2], cwd[INVOKE_MAX_CWD_LEN + 2];

	(void)state;
	assert_non_null(big);
	assert_int_equal(invoke_check_job(false, false, "ls", NULL, NULL, &err), 0);
	assert_int_equal(invoke_check_job(false, false, NULL, NULL, NULL, &err), -1);
	assert_int_equal(err.code, INVOKE_COMMAND_EMPTY);
	assert_int_equal(invoke_check_job(false, false, " \t\r\n", NULL, NULL, &err), -1);
	assert_int_equal(err.code, INVOKE_COMMAND_EMPTY);
	/* A script or an argv brings its own command. */
	assert_int_equal(invoke_check_job(true, false, "", NULL, NULL, &err), 0);
	assert_int_equal(invoke_check_job(false, true, "", NULL, NULL, &err), 0);
	memset(big, 'x', INVOKE_MAX_COMMAND_LEN);
	big[INVOKE_MAX_COMMAND_LEN] = '\0';
	assert_int_equal(invoke_check_job(false, false, big, NULL, NULL, &err), 0);
	big[INVOKE_MAX_COMMAND_LEN] = 'x';
	big[INVOKE_MAX_COMMAND_LEN + 1] = '\0';
	assert_int_equal(invoke_check_job(false, false, big, NULL, NULL, &err), -1);
	assert_int_equal(err.code, INVOKE_COMMAND_TOO_LONG);
	assert_int_equal(err.value, INVOKE_MAX_COMMAND_LEN);
	free(big);
	/* tacoscript runs scripts only. */
	assert_int_equal(invoke_check_job(false, false, "ls", "tacoscript", NULL, &err), -1);
	assert_int_equal(err.code, INVOKE_INTERPRETER_NOT_FOR_COMMANDS);
	assert_string_equal(err.subject, "tacoscript");
	assert_int_equal(invoke_check_job(true, false, "x", "tacoscript", NULL, &err), 0);
	/* An interpreter is a name or a path, never shell text. */
	assert_int_equal(invoke_check_job(false, false, "ls", "", NULL, &err), 0);
	assert_int_equal(invoke_check_job(false, false, "ls", "/usr/bin/zsh", NULL, &err), 0);
	for (const char *p = " \t\r\n;|&<>`$"; *p; p++) {
		char bad[16];

		snprintf(bad, sizeof bad, "sh%cx", *p);
		assert_int_equal(invoke_check_job(false, false, "ls", bad, NULL, &err), -1);
		assert_int_equal(err.code, INVOKE_INTERPRETER_INVALID);
	}
	memset(interp, 'a', INVOKE_MAX_INTERPRETER_LEN);
	interp[INVOKE_MAX_INTERPRETER_LEN] = '\0';
	assert_int_equal(invoke_check_job(false, false, "ls", interp, NULL, &err), 0);
	interp[INVOKE_MAX_INTERPRETER_LEN] = 'a';
	interp[INVOKE_MAX_INTERPRETER_LEN + 1] = '\0';
	assert_int_equal(invoke_check_job(false, false, "ls", interp, NULL, &err), -1);
	assert_int_equal(err.code, INVOKE_INTERPRETER_INVALID);
	memset(cwd, 'd', INVOKE_MAX_CWD_LEN);
	cwd[INVOKE_MAX_CWD_LEN] = '\0';
	assert_int_equal(invoke_check_job(false, false, "ls", NULL, cwd, &err), 0);
	cwd[INVOKE_MAX_CWD_LEN] = 'd';
	cwd[INVOKE_MAX_CWD_LEN + 1] = '\0';
	assert_int_equal(invoke_check_job(false, false, "ls", NULL, cwd, &err), -1);
	assert_int_equal(err.code, INVOKE_CWD_TOO_LONG);
	assert_int_equal(err.value, INVOKE_MAX_CWD_LEN);
}

/* ---- invoke_timeouts -------------------------------------------------- */

static void test_timeouts(void **state)
{
	struct fixture *fx = *state;
	struct invoke_error err;
	int64_t t = -7, d = -7;
	const int64_t max = 30LL * 86400;

	fx->srv.cfg.run_remote_cmd_timeout_sec = 61;
	fx->srv.cfg.delivery_timeout_sec = 301;
	assert_int_equal(invoke_timeouts(&fx->srv, 0, 0, &t, &d, &err), 0);
	assert_int_equal(t, 61);
	assert_int_equal(d, 301);
	/* A negative timeout is the default too (rport). */
	assert_int_equal(invoke_timeouts(&fx->srv, -5, 0, &t, &d, &err), 0);
	assert_int_equal(t, 61);
	assert_int_equal(invoke_timeouts(&fx->srv, max, max, &t, &d, &err), 0);
	assert_int_equal(t, max);
	assert_int_equal(d, max);
	assert_int_equal(invoke_timeouts(&fx->srv, 5, 7, &t, &d, &err), 0);
	assert_int_equal(t, 5);
	assert_int_equal(d, 7);
	/* Invalid: the outputs stay as they were. */
	assert_int_equal(invoke_timeouts(&fx->srv, max + 1, 0, &t, &d, &err), -1);
	assert_int_equal(err.code, INVOKE_TIMEOUT_INVALID);
	assert_string_equal(err.subject, "timeout_sec");
	assert_int_equal(err.value, max + 1);
	assert_int_equal(t, 5);
	assert_int_equal(invoke_timeouts(&fx->srv, 0, -1, &t, &d, &err), -1);
	assert_int_equal(err.code, INVOKE_TIMEOUT_INVALID);
	assert_string_equal(err.subject, "delivery_timeout_sec");
	assert_int_equal(err.value, -1);
	assert_int_equal(invoke_timeouts(&fx->srv, 0, max + 1, &t, &d, &err), -1);
	assert_string_equal(err.subject, "delivery_timeout_sec");
	assert_int_equal(d, 7);
}

/* ---- interpreter and access ------------------------------------------- */

static void test_check_interpreter(void **state)
{
	struct fixture *fx = *state;
	struct client *c1 = registry_find(fx->srv.registry, "c1");
	struct invoke_error err;
	static const char *const ok[] = { "", "bash", "/bin/zsh", "cmd", "powershell",
					  "tacoscript" };

	assert_int_equal(invoke_check_interpreter(c1, NULL, &err), 0);
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		assert_int_equal(invoke_check_interpreter(c1, ok[i], &err), 0);
	assert_int_equal(invoke_check_interpreter(c1, "python3", &err), -1);
	assert_int_equal(err.code, INVOKE_INTERPRETER_UNKNOWN);
	assert_string_equal(err.subject, "python3");
	assert_int_equal(invoke_check_interpreter(registry_find(fx->srv.registry, "c3"), "bash",
						  &err), -1);
}

static void test_client_allowed(void **state)
{
	struct fixture *fx = *state;
	struct client *c1 = registry_find(fx->srv.registry, "c1");
	struct client *c3 = registry_find(fx->srv.registry, "c3");

	assert_true(invoke_client_allowed(&fx->srv, "admin", c1));
	assert_true(invoke_client_allowed(&fx->srv, "admin", c3));
	assert_true(invoke_client_allowed(&fx->srv, "admin", NULL));
	assert_true(invoke_client_allowed(&fx->srv, "alice", c1));
	assert_false(invoke_client_allowed(&fx->srv, "alice", c3));
	assert_false(invoke_client_allowed(&fx->srv, "alice", NULL));
	assert_false(invoke_client_allowed(&fx->srv, "bob", c1));
}

/* ---- invoke_prepare --------------------------------------------------- */

static void test_prepare_errors(void **state)
{
	struct fixture *fx = *state;
	struct invocation_request r;
	struct invoke_error e;
	static const char *const unknown[] = { "c1", "zz" }, *const all[] = { "c1", "c3" };

	r = request();
	r.command = "  ";
	e = prepare_fails(fx, &r);
	assert_int_equal(e.code, INVOKE_COMMAND_EMPTY);
	/* The job is checked before the targets. */
	r.targets.client_ids = unknown;
	e = prepare_fails(fx, &r);
	assert_int_equal(e.code, INVOKE_COMMAND_EMPTY);
	r = request();
	r.targets.client_ids = unknown;
	e = prepare_fails(fx, &r);
	assert_int_equal(e.code, INVOKE_TARGETS);
	assert_int_equal(e.target, TARGET_CLIENT_UNKNOWN);
	assert_string_equal(e.subject, "zz");
	r = request();
	r.targets.nclient_ids = 0;
	e = prepare_fails(fx, &r);
	assert_int_equal(e.code, INVOKE_TARGETS);
	assert_int_equal(e.target, TARGET_MISSING);
	/* A user who may not use one of the targets. */
	r = request();
	r.targets.client_ids = all;
	r.created_by = "alice";
	e = prepare_fails(fx, &r);
	assert_int_equal(e.code, INVOKE_FORBIDDEN);
	assert_string_equal(e.subject, "c3");
	r.created_by = "bob";
	e = prepare_fails(fx, &r);
	assert_int_equal(e.code, INVOKE_FORBIDDEN);
	assert_string_equal(e.subject, "c1");
	r.targets.client_ids = web_ids;
	r.created_by = "alice";
	invocation_free(prepare_ok(fx, &r));
	/* A connected target without the interpreter; a disconnected one is
	 * not asked (it fails as not connected). */
	r = request();
	r.interpreter = "python3";
	e = prepare_fails(fx, &r);
	assert_int_equal(e.code, INVOKE_INTERPRETER_UNKNOWN);
	assert_string_equal(e.subject, "python3");
	r.targets.client_ids = (const char *const[]){ "c3" };
	r.targets.nclient_ids = 1;
	invocation_free(prepare_ok(fx, &r));
	/* Limits, then timeouts. */
	r = request();
	r.max_concurrency = (struct invoke_limit){ LIMIT_NUMBER, 2, NULL };
	e = prepare_fails(fx, &r);
	assert_int_equal(e.code, INVOKE_LIMIT_NEEDS_CONCURRENT);
	assert_string_equal(e.subject, "max_concurrency");
	r = request();
	r.timeout_sec = 30LL * 86400 + 1;
	r.max_errors = (struct invoke_limit){ LIMIT_NUMBER, -1, NULL };
	e = prepare_fails(fx, &r);
	assert_int_equal(e.code, INVOKE_LIMIT_INVALID);
	assert_string_equal(e.subject, "max_errors");
	assert_int_equal(e.value, 0);
	r.max_errors.kind = LIMIT_NONE;
	e = prepare_fails(fx, &r);
	assert_int_equal(e.code, INVOKE_TIMEOUT_INVALID);
	assert_string_equal(e.subject, "timeout_sec");
	/* Nothing was stored or sent by a failed prepare. */
	assert_int_equal(json_object_size(fx->st->multis), 0);
	assert_int_equal(json_array_size(fx->st->audits), 0);
	assert_int_equal(fx->nruns, 0);
}

/* The record's integer field (-1 for null) once r is prepared and
 * submitted. */
static long long limit_in_record(struct fixture *fx, struct invocation_request *r,
				 const char *field)
{
	struct invocation *inv = prepare_ok(fx, r);
	char id[UUID_STR_LEN];
	json_t *v;

	util_strlcpy(id, invocation_id(inv), sizeof id);
	invoke_submit(&fx->srv, inv, NULL, NULL);
	v = json_object_get(json_object_get(fx->st->multis, id), field);
	assert_true(json_is_null(v) || json_is_integer(v));
	return json_is_null(v) ? -1 : json_integer_value(v);
}

static void test_limits(void **state)
{
	struct fixture *fx = *state;
	struct invocation_request r = request();
	static const char *const ten[] = { "c1", "c2", "c3", "c1", "c2", "c3" };
	static const struct { const char *text; long long conc, errs; } ok[] = {
		{ "1", 1, 1 }, { "3", 3, 3 }, { "0%", 1, 0 }, { "10%", 1, 0 }, { "34%", 2, 1 },
		{ "50%", 2, 1 }, { "67%", 3, 2 }, { "100%", 3, 3 }, { "2147483647", 2147483647,
		2147483647 },
	};
	static const char *const bad[] = { "", "%", "x", "x%", "-1", "-1%", "101%", "1.5",
					   "2147483648", "5 %", "1%%" };
	struct invoke_error e;

	/* Three distinct targets (ids given twice count once). */
	r.targets.client_ids = ten;
	r.targets.nclient_ids = 6;
	r.concurrent = true;
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		r.max_concurrency = (struct invoke_limit){ LIMIT_TEXT, 0, ok[i].text };
		r.max_errors = (struct invoke_limit){ LIMIT_NONE, 0, NULL };
		assert_int_equal(limit_in_record(fx, &r, "max_concurrency"), ok[i].conc);
		r.max_concurrency.kind = LIMIT_NONE;
		r.max_errors = (struct invoke_limit){ LIMIT_TEXT, 0, ok[i].text };
		assert_int_equal(limit_in_record(fx, &r, "max_errors"), ok[i].errs);
	}
	/* max_concurrency is never 0; max_errors may be. */
	r.max_errors.kind = LIMIT_NONE;
	r.max_concurrency = (struct invoke_limit){ LIMIT_NUMBER, 0, NULL };
	e = prepare_fails(fx, &r);
	assert_int_equal(e.code, INVOKE_LIMIT_INVALID);
	assert_string_equal(e.subject, "max_concurrency");
	assert_int_equal(e.value, 1);
	r.max_concurrency = (struct invoke_limit){ LIMIT_TEXT, 0, "0" };
	assert_int_equal(prepare_fails(fx, &r).code, INVOKE_LIMIT_INVALID);
	r.max_concurrency.kind = LIMIT_NONE;
	r.max_errors = (struct invoke_limit){ LIMIT_NUMBER, 0, NULL };
	assert_int_equal(limit_in_record(fx, &r, "max_errors"), 0);
	r.max_errors = (struct invoke_limit){ LIMIT_NUMBER, 2147483648LL, NULL };
	assert_int_equal(prepare_fails(fx, &r).code, INVOKE_LIMIT_INVALID);
	r.max_errors = (struct invoke_limit){ LIMIT_INVALID, 0, NULL };
	assert_int_equal(prepare_fails(fx, &r).code, INVOKE_LIMIT_INVALID);
	r.max_errors.kind = LIMIT_NONE;
	assert_int_equal(limit_in_record(fx, &r, "max_errors"), -1);
	assert_int_equal(limit_in_record(fx, &r, "max_concurrency"), -1);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		r.max_errors.kind = LIMIT_NONE;
		r.max_concurrency = (struct invoke_limit){ LIMIT_TEXT, 0, bad[i] };
		e = prepare_fails(fx, &r);
		assert_int_equal(e.code, INVOKE_LIMIT_INVALID);
		assert_string_equal(e.subject, "max_concurrency");
		r.max_concurrency.kind = LIMIT_NONE;
		r.max_errors = (struct invoke_limit){ LIMIT_TEXT, 0, bad[i] };
		e = prepare_fails(fx, &r);
		assert_int_equal(e.code, INVOKE_LIMIT_INVALID);
		assert_string_equal(e.subject, "max_errors");
	}
}

static void test_prepared_record(void **state)
{
	struct fixture *fx = *state;
	struct invocation_request r = request();
	static const char *const ids[] = { "c2", "c1", "c2" };
	json_t *meta = json_pack("{s:s}", "dialect_field", "kept");
	json_t *argv = json_pack("[s,s]", "ls", "-l");
	struct invocation *inv;
	const json_t *targets;
	json_t *rec;

	r.targets.client_ids = ids;
	r.targets.nclient_ids = 3;
	r.metadata = meta;
	r.comment = "why";
	r.argv = argv;
	r.stream = true;
	r.kill_on_timeout = true;
	r.is_sudo = true;
	r.cwd = "/tmp";
	r.interpreter = "bash";
	r.abort_on_error = true;
	r.idempotency_key = "k1";
	r.request_hash = "abc";
	inv = prepare_ok(fx, &r);
	assert_int_equal(strlen(invocation_id(inv)), 36);
	assert_int_equal(invocation_target_count(inv), 2);
	targets = invocation_targets(inv);
	assert_int_equal(json_array_size(targets), 2);
	assert_string_equal(json_string_value(json_array_get(targets, 0)), "c2");
	assert_string_equal(json_string_value(json_array_get(targets, 1)), "c1");
	invoke_submit(&fx->srv, inv, NULL, NULL);
	rec = json_object_get(fx->st->multis, json_string_value(json_object_get(
		json_object_get(fx->st->idem, "admin\nk1"), "jid")));
	assert_non_null(rec);
	assert_string_equal(json_string_value(json_object_get(rec, "dialect_field")), "kept");
	assert_string_equal(json_string_value(json_object_get(rec, "comment")), "why");
	assert_string_equal(json_string_value(json_object_get(rec, "command")), "uptime");
	assert_true(json_equal(json_object_get(rec, "argv"), argv));
	assert_string_equal(json_string_value(json_object_get(rec, "cwd")), "/tmp");
	assert_string_equal(json_string_value(json_object_get(rec, "interpreter")), "bash");
	assert_string_equal(json_string_value(json_object_get(rec, "created_by")), "admin");
	assert_true(json_is_true(json_object_get(rec, "stream")));
	assert_true(json_is_true(json_object_get(rec, "kill_on_timeout")));
	assert_true(json_is_true(json_object_get(rec, "is_sudo")));
	assert_true(json_is_false(json_object_get(rec, "concurrent")));
	assert_true(json_is_true(json_object_get(rec, "abort_on_err")));
	assert_int_equal(json_integer_value(json_object_get(rec, "timeout_sec")), 60);
	assert_int_equal(json_integer_value(json_object_get(rec, "delivery_timeout_sec")), 300);
	assert_string_equal(json_string_value(json_object_get(rec, "idempotency_key")), "k1");
	assert_string_equal(json_string_value(json_object_get(rec, "request_hash")), "abc");
	/* abort_on_error has no meaning in concurrent mode: stored false. */
	r.concurrent = true;
	r.idempotency_key = "k2";
	invoke_submit(&fx->srv, prepare_ok(fx, &r), NULL, NULL);
	rec = json_object_get(fx->st->multis, json_string_value(json_object_get(
		json_object_get(fx->st->idem, "admin\nk2"), "jid")));
	assert_non_null(rec);
	assert_true(json_is_true(json_object_get(rec, "concurrent")));
	assert_true(json_is_false(json_object_get(rec, "abort_on_err")));
	json_decref(meta);
	json_decref(argv);
}

/* ---- invoke_submit ---------------------------------------------------- */

struct submitted {
	int calls, rc;
	char id[UUID_STR_LEN];
	enum invoke_code code;
};

static void on_submitted(void *ud, int rc, const char *id, const struct invoke_error *err)
{
	struct submitted *s = ud;

	s->calls++;
	s->rc = rc;
	util_strlcpy(s->id, id, sizeof s->id);
	s->code = err ? err->code : INVOKE_OK;
	assert_true(rc == 0 ? err == NULL : err != NULL);
}

static void test_submit_commits_then_dispatches(void **state)
{
	struct fixture *fx = *state;
	struct invocation_request r = request();
	struct submitted s = { 0 };
	struct invocation *inv;
	char id[UUID_STR_LEN];
	json_t *audit;

	r.idempotency_key = "key";
	r.request_hash = "h";
	r.concurrent = true;
	fx->st->manual = true;
	inv = prepare_ok(fx, &r);
	util_strlcpy(id, invocation_id(inv), sizeof id);
	invoke_submit(&fx->srv, inv, on_submitted, &s);
	/* Nothing runs before the commit. */
	assert_int_equal(s.calls, 0);
	assert_int_equal(fx->nruns, 0);
	assert_int_equal(json_object_size(fx->st->multis), 0);
	store_flush(fx->st);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.rc, 0);
	assert_string_equal(s.id, id);
	/* The audit record, the record and the key, in one commit. */
	assert_int_equal(fx->st->commits, 2);   /* the commit, then the children's */
	assert_int_equal(json_array_size(fx->st->audits), 1);
	audit = json_array_get(fx->st->audits, 0);
	assert_string_equal(json_string_value(json_object_get(audit, "action")), "execute.start");
	assert_string_equal(json_string_value(json_object_get(audit, "application")),
			    "client.command");
	assert_string_equal(json_string_value(json_object_get(audit, "affected_id")), id);
	assert_string_equal(json_string_value(json_object_get(audit, "username")), "admin");
	assert_non_null(json_object_get(fx->st->multis, id));
	assert_string_equal(json_string_value(json_object_get(json_object_get(fx->st->idem,
									      "admin\nkey"), "jid")), id);
	/* Fan-out began: both children were stored and sent. */
	assert_string_equal(fx->runs[0].client_id, "c1");
	assert_string_equal(fx->runs[1].client_id, "c2");
	assert_string_equal(fx->runs[0].multi_job_id, id);
	assert_int_equal(fx->nruns, 2);
	fx_job_done(fx, fx->runs[0].jid, JOB_SUCCESSFUL);
	fx_job_done(fx, fx->runs[1].jid, JOB_SUCCESSFUL);
	store_flush(fx->st);
	assert_int_equal(fx_count(fx, EV_INVOCATION_DONE), 1);
}

static void test_submit_failures(void **state)
{
	struct fixture *fx = *state;
	struct invocation_request r = request();
	struct submitted s = { 0 };

	/* The key is taken: nothing of this invocation is stored or runs. */
	r.idempotency_key = "key";
	r.request_hash = "h";
	invoke_submit(&fx->srv, prepare_ok(fx, &r), on_submitted, &s);
	assert_int_equal(s.rc, 0);
	fx_job_done(fx, fx->runs[0].jid, JOB_SUCCESSFUL);
	fx_job_done(fx, fx->runs[1].jid, JOB_SUCCESSFUL);
	invoke_submit(&fx->srv, prepare_ok(fx, &r), on_submitted, &s);
	assert_int_equal(s.calls, 2);
	assert_int_equal(s.rc, -1);
	assert_int_equal(s.code, INVOKE_KEY_IN_USE);
	assert_null(json_object_get(fx->st->multis, s.id));
	assert_int_equal(fx->nruns, 2);
	/* No audit record: nothing runs. */
	r.idempotency_key = NULL;
	fx->st->fail[STUB_AUDIT_PUT] = TE_IO;
	invoke_submit(&fx->srv, prepare_ok(fx, &r), on_submitted, &s);
	assert_int_equal(s.rc, -1);
	assert_int_equal(s.code, INVOKE_AUDIT_FAILED);
	assert_null(json_object_get(fx->st->multis, s.id));
	fx->st->fail[STUB_AUDIT_PUT] = 0;
	fx->st->fail[STUB_MULTI_CREATE] = TE_IO;
	invoke_submit(&fx->srv, prepare_ok(fx, &r), on_submitted, &s);
	assert_int_equal(s.code, INVOKE_STORE_FAILED);
	fx->st->fail[STUB_MULTI_CREATE] = 0;
	fx->st->commit_fails = true;
	invoke_submit(&fx->srv, prepare_ok(fx, &r), on_submitted, &s);
	assert_int_equal(s.calls, 5);
	assert_int_equal(s.code, INVOKE_STORE_FAILED);
	fx->st->commit_fails = false;
	assert_int_equal(fx->nruns, 2);
	/* A callback is optional. */
	invoke_submit(&fx->srv, prepare_ok(fx, &r), NULL, NULL);
	assert_int_equal(fx->nruns, 3);
	fx_job_done(fx, fx->runs[2].jid, JOB_SUCCESSFUL);
	assert_int_equal(fx->nruns, 4);
	fx_job_done(fx, fx->runs[3].jid, JOB_SUCCESSFUL);
}

/* ---- invoke_single ---------------------------------------------------- */

struct single_seen {
	int calls;
	enum invoke_outcome o;
	char jid[UUID_STR_LEN];
	char error[128];
};

static void on_single(void *ud, enum invoke_outcome o, const char *jid, const char *error)
{
	struct single_seen *s = ud;

	s->calls++;
	s->o = o;
	util_strlcpy(s->jid, jid, sizeof s->jid);
	util_strlcpy(s->error, error ? error : "", sizeof s->error);
}

/* The audit's request and response as stored: the bytes json_dumps gives
 * of the tree of the job's fields (invoke.c writes them without one). */
static void audit_text_is_the_trees(json_t *audit, const char *command, const char *jid)
{
	json_t *req = json_object_get(audit, "request"), *want;
	char *text;

	assert_non_null(req);
	if (command)
		assert_string_equal(json_string_value(json_object_get(req, "command")), command);
	want = json_pack("{s:O, s:O, s:O, s:O, s:O}", "command", json_object_get(req, "command"),
			 "interpreter", json_object_get(req, "interpreter"), "cwd",
			 json_object_get(req, "cwd"), "is_sudo", json_object_get(req, "is_sudo"),
			 "timeout_sec", json_object_get(req, "timeout_sec"));
	if (json_object_get(req, "argv"))
		json_object_set(want, "argv", json_object_get(req, "argv"));
	text = json_dumps(want, JSON_COMPACT);
	assert_string_equal(json_string_value(json_object_get(audit, "request_text")), text);
	free(text);
	json_decref(want);
	want = json_object_get(audit, "response");
	text = json_dumps(want, JSON_COMPACT);
	assert_string_equal(json_string_value(json_object_get(audit, "response_text")), text);
	if (jid)
		assert_string_equal(json_string_value(json_object_get(want, "jid")), jid);
	free(text);
}

static void test_single(void **state)
{
	struct fixture *fx = *state;
	struct invocation_request r = request();
	struct client *c1 = registry_find(fx->srv.registry, "c1");
	struct client *c3 = registry_find(fx->srv.registry, "c3");
	struct single_seen s = { 0 };
	struct invoke_error err;

	/* Started: the agent confirms. */
	assert_int_equal(invoke_single(&fx->srv, c1, &r, on_single, &s, &err), 0);
	assert_int_equal(fx->nruns, 1);
	assert_string_equal(stub_store_job_status(fx->st, fx->runs[0].jid), "running");
	assert_int_equal(fx->runs[0].timeout_sec, 60);
	assert_int_equal(s.calls, 0);
	fx->runs[0].cb(fx->runs[0].ud, 0, NULL, 1234);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.o, INVOKE_STARTED);
	assert_string_equal(s.jid, fx->runs[0].jid);
	assert_int_equal(json_array_size(fx->st->audits), 1);
	audit_text_is_the_trees(json_array_get(fx->st->audits, 0), "uptime", fx->runs[0].jid);
	/* Escapes, UTF-8, argv: the same bytes as the tree's. */
	{
		struct invocation_request r2 = request();
		json_t *argv = json_pack("[s, s]", "/bin/echo", "tab\there \"q\" caf\xc3\xa9");

		r2.command = "echo \"a\\b\"\n\x01 \xe6\x97\xa5 /x";
		r2.argv = argv;
		assert_int_equal(invoke_single(&fx->srv, c1, &r2, on_single, &s, &err), 0);
		audit_text_is_the_trees(json_array_get(fx->st->audits, 1), NULL, NULL);
		json_decref(argv);
		fx->runs[1].cb(fx->runs[1].ud, 0, NULL, 1);
		fx->nruns = 1;
	}
	/* Sent, no answer: accepted all the same. */
	assert_int_equal(invoke_single(&fx->srv, c1, &r, on_single, &s, &err), 0);
	fx->runs[1].cb(fx->runs[1].ud, TE_IO, "connection lost", 0);
	assert_int_equal(s.o, INVOKE_ACCEPTED);
	/* Refused by the agent: its key is released, so a retry runs anew. */
	r.idempotency_key = "k";
	r.request_hash = "h";
	assert_int_equal(invoke_single(&fx->srv, c1, &r, on_single, &s, &err), 0);
	assert_non_null(json_object_get(fx->st->idem, "admin\nk"));
	fx->runs[2].cb(fx->runs[2].ud, TE_STATE, "no such interpreter", 0);
	assert_int_equal(s.o, INVOKE_REFUSED);
	assert_string_equal(s.error, "no such interpreter");
	assert_null(json_object_get(fx->st->idem, "admin\nk"));
	/* A twin took the key first. */
	assert_int_equal(store_idem_put(fx->st, "admin", "k", "other-jid", "h", 0), 0);
	assert_int_equal(invoke_single(&fx->srv, c1, &r, on_single, &s, &err), 0);
	assert_int_equal(s.o, INVOKE_KEY_TAKEN);
	assert_int_equal(fx->nruns, 3);
	/* Not connected: the job is withdrawn and its key released. */
	r.idempotency_key = "k3";
	assert_int_equal(invoke_single(&fx->srv, c3, &r, on_single, &s, &err), 0);
	assert_int_equal(s.o, INVOKE_NOT_CONNECTED);
	assert_string_equal(s.error, "client is not connected");
	assert_string_equal(stub_store_job_status(fx->st, s.jid), "failed");
	assert_string_equal(stub_store_job_field(fx->st, s.jid, "state"), "withdrawn");
	assert_null(json_object_get(fx->st->idem, "admin\nk3"));
	/* The store fails: nothing runs. */
	r.idempotency_key = NULL;
	fx->st->fail[STUB_JOB_INSERT] = TE_IO;
	assert_int_equal(invoke_single(&fx->srv, c1, &r, on_single, &s, &err), 0);
	assert_int_equal(s.o, INVOKE_NOT_STORED);
	assert_int_equal(fx->nruns, 3);
	fx->st->fail[STUB_JOB_INSERT] = 0;
	/* Checks before anything is written. */
	s.calls = 0;
	r.interpreter = "python3";
	assert_int_equal(invoke_single(&fx->srv, c1, &r, on_single, &s, &err), -1);
	assert_int_equal(err.code, INVOKE_INTERPRETER_UNKNOWN);
	r.interpreter = NULL;
	r.delivery_timeout_sec = -1;
	assert_int_equal(invoke_single(&fx->srv, c1, &r, on_single, &s, &err), -1);
	assert_int_equal(err.code, INVOKE_TIMEOUT_INVALID);
	assert_int_equal(s.calls, 0);
}

static int group_setup(void **state)
{
	(void)state;
	alice_groups = json_pack("[s]", "ops");
	return alice_groups ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	json_decref(alice_groups);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_job),
		cmocka_unit_test_setup_teardown(test_timeouts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_interpreter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_allowed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prepare_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prepared_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_submit_commits_then_dispatches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_submit_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_single, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
