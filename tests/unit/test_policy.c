/* Unit tests for src/agent/policy.c: rport's allow/deny semantics (its
 * documented examples and its TestIsCommandAllowed cases), the defaults,
 * Go-like regex behaviour on arbitrary bytes, fail-closed match limits,
 * and error messages. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy.h"

/* ---- helpers ------------------------------------------------------------ */

#define N(a) (sizeof(a) / sizeof((a)[0]))

static policy *make(const char *const *allow, size_t nallow, const char *const *deny,
		    size_t ndeny, policy_order order)
{
	policy *p = NULL;
	char err[256] = "";

	if (policy_create(allow, nallow, deny, ndeny, order, &p, err, sizeof err))
		fail_msg("policy_create: %s", err);
	assert_non_null(p);
	return p;
}

static bool allowed(const policy *p, const char *cmd)
{
	return policy_allows(p, cmd, strlen(cmd));
}

static void expect_create_error(const char *const *allow, size_t nallow, const char *const *deny,
				size_t ndeny, const char *want)
{
	policy *p = NULL;
	char err[256] = "";

	assert_int_equal(policy_create(allow, nallow, deny, ndeny, POLICY_ALLOW_DENY, &p, err,
				       sizeof err), -1);
	assert_null(p);
	if (strcmp(err, want))
		fail_msg("got '%s', want '%s'", err, want);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- defaults ------------------------------------------------------------ */

static void test_defaults(void **state)
{
	policy *p = make(POLICY_DEFAULT_ALLOW, POLICY_DEFAULT_NALLOW, POLICY_DEFAULT_DENY,
			 POLICY_DEFAULT_NDENY, POLICY_ALLOW_DENY);

	(void)state;
	assert_int_equal(POLICY_DEFAULT_NALLOW, 3);
	assert_int_equal(POLICY_DEFAULT_NDENY, 1);
	assert_string_equal(POLICY_DEFAULT_ALLOW[2], "^C:\\\\Windows\\\\System32\\\\.*");
	assert_string_equal(POLICY_DEFAULT_DENY[0], "(\\||<|>|;|,|\\n|&)");

	assert_true(allowed(p, "/usr/bin/date"));
	assert_true(allowed(p, "/usr/bin/env FOO=bar /usr/bin/printenv FOO"));
	assert_true(allowed(p, "/usr/local/bin/x --flag"));
	assert_true(allowed(p, "C:\\Windows\\System32\\ipconfig.exe /all"));
	assert_true(allowed(p, "/usr/bin/"));
	/* Not a full path, or not under an allowed directory. */
	assert_false(allowed(p, "date"));
	assert_false(allowed(p, "/bin/date"));
	assert_false(allowed(p, " /usr/bin/date"));
	assert_false(allowed(p, "/usr/binx"));
	assert_false(allowed(p, "C:\\Windows\\notepad.exe"));
	assert_false(allowed(p, "c:\\windows\\system32\\cmd.exe"));
	assert_false(allowed(p, ""));
	/* Only single commands: no pipes, redirections, separators. */
	assert_false(allowed(p, "/usr/bin/ls | grep x"));
	assert_false(allowed(p, "/usr/bin/ls|/usr/bin/grep x"));
	assert_false(allowed(p, "/usr/bin/a; /usr/bin/b"));
	assert_false(allowed(p, "/usr/bin/a\n/usr/bin/b"));
	assert_false(allowed(p, "/usr/bin/date\n"));
	assert_false(allowed(p, "/usr/bin/a & /usr/bin/b"));
	assert_false(allowed(p, "/usr/bin/a && /usr/bin/b"));
	assert_false(allowed(p, "/usr/bin/a > /tmp/x"));
	assert_false(allowed(p, "/usr/bin/a < /etc/passwd"));
	assert_false(allowed(p, "/usr/bin/a,b"));
	assert_false(allowed(p, "C:\\Windows\\System32\\cmd.exe /c dir & del x"));
	/* Carriage returns and other bytes are not in the deny rule. */
	assert_true(allowed(p, "/usr/bin/a\r"));
	assert_true(allowed(p, "/usr/bin/echo $(id)"));
	policy_destroy(p);
}

/* The command is matched with its length: NUL bytes do not end it. */
static void test_embedded_nul_and_bytes(void **state)
{
	policy *p = make(POLICY_DEFAULT_ALLOW, POLICY_DEFAULT_NALLOW, POLICY_DEFAULT_DENY,
			 POLICY_DEFAULT_NDENY, POLICY_ALLOW_DENY);
	const char *cafe[] = { "^/opt/caf\xc3\xa9/" };
	const char *dot3[] = { "^/x/...$" };
	policy *q;

	(void)state;
	assert_true(policy_allows(p, "/usr/bin/echo\0x", 15));
	assert_false(policy_allows(p, "/usr/bin/echo\0; rm -rf /", 24));
	assert_false(policy_allows(p, "/usr/bin/echo\0\n", 15));
	assert_false(policy_allows(p, "\0/usr/bin/echo", 14));
	/* Invalid UTF-8 never makes matching fail. */
	assert_true(allowed(p, "/usr/bin/\xff\xfe\xc3"));
	assert_false(allowed(p, "/usr/bin/\xff;\xfe"));
	/* NULL command: only with length 0, and then it is "". */
	assert_false(policy_allows(p, NULL, 0));
	assert_false(policy_allows(p, NULL, 5));
	assert_false(policy_allows(NULL, "/usr/bin/date", 13));
	policy_destroy(p);

	q = make(cafe, 1, NULL, 0, POLICY_ALLOW_DENY);
	assert_true(allowed(q, "/opt/caf\xc3\xa9/bin/x"));
	assert_false(allowed(q, "/opt/cafe/bin/x"));
	policy_destroy(q);
	/* Bytes, not characters: '.' matches one byte. */
	q = make(dot3, 1, NULL, 0, POLICY_ALLOW_DENY);
	assert_true(allowed(q, "/x/abc"));
	assert_true(allowed(q, "/x/\xc3\xa9z"));
	assert_true(policy_allows(q, "/x/\xff\0\x01", 6));
	assert_false(allowed(q, "/x/ab\n"));
	policy_destroy(q);
}

/* ---- rport's semantics ---------------------------------------------------- */

/* The examples in rport's rport.conf. */
static void test_seed_examples(void **state)
{
	const char *allow_usr[] = { "^/usr/bin/.*" };
	const char *deny_zip[] = { "^/usr/bin/zip" };
	const char *deny_all[] = { ".*" };
	const char *allow_zip[] = { "zip$" };
	const char *allow_sudo[] = { "^\\/usr\\/bin\\/.*", "^\\/usr\\/local\\/bin\\/.*", "^sudo -n .*" };
	const char *allow_win[] = { "^C:\\Windows\\System32.*",
				    "^C:\\Users\\Administrator\\scripts\\.*\\.bat" };
	policy *p;

	(void)state;
	/* allow,deny: everything in /usr/bin except zip. */
	p = make(allow_usr, 1, deny_zip, 1, POLICY_ALLOW_DENY);
	assert_true(allowed(p, "/usr/bin/ls"));
	assert_true(allowed(p, "/usr/bin/unzip"));
	assert_false(allowed(p, "/usr/bin/zip"));
	assert_false(allowed(p, "/usr/bin/zipinfo"));
	assert_false(allowed(p, "/bin/ls"));
	policy_destroy(p);

	/* deny,allow: everything denied except what ends in zip. */
	p = make(allow_zip, 1, deny_all, 1, POLICY_DENY_ALLOW);
	assert_true(allowed(p, "/x/zip"));
	assert_true(allowed(p, "zip"));
	assert_true(allowed(p, "/usr/bin/unzip"));
	assert_false(allowed(p, "/x/ls"));
	assert_false(allowed(p, "/x/zip "));
	/* Go's '$' is the end of the text, not "before a final newline". */
	assert_false(allowed(p, "/x/zip\n"));
	assert_false(allowed(p, ""));
	policy_destroy(p);

	/* The Linux example with sudo -n. */
	p = make(allow_sudo, N(allow_sudo), POLICY_DEFAULT_DENY, POLICY_DEFAULT_NDENY,
		 POLICY_ALLOW_DENY);
	assert_true(allowed(p, "/usr/bin/id"));
	assert_true(allowed(p, "/usr/local/bin/x"));
	assert_true(allowed(p, "sudo -n /usr/bin/systemctl restart nginx"));
	assert_false(allowed(p, "sudo /usr/bin/id"));
	assert_false(allowed(p, "sudo -n /usr/bin/id; id"));
	policy_destroy(p);

	/* The Windows example: TOML literal strings give single backslashes,
	 * so '\W' and '\S' are regex escapes (non-word, non-space), as they
	 * are for rport's Go regexp; and '\U' is an error in both. */
	p = make(allow_win, 1, NULL, 0, POLICY_ALLOW_DENY);
	assert_false(allowed(p, "C:\\Windows\\System32\\ipconfig.exe"));
	assert_true(allowed(p, "C:%indows_ystem32"));
	policy_destroy(p);
	expect_create_error(allow_win, N(allow_win), NULL, 0,
			    "invalid allow regex '^C:\\Users\\Administrator\\scripts\\.*\\.bat': "
			    "PCRE2 does not support \\F, \\L, \\l, \\N{name}, \\U, or \\u at offset 5");
}

/* The brief's order cases on /usr/bin/zip. */
static void test_order_flips_zip(void **state)
{
	const char *allow[] = { "^/usr/bin/.*" };
	const char *deny[] = { "^/usr/bin/z.*" };
	policy *p;

	(void)state;
	p = make(allow, 1, deny, 1, POLICY_ALLOW_DENY);
	assert_false(allowed(p, "/usr/bin/zip"));
	assert_true(allowed(p, "/usr/bin/unzip"));
	assert_false(allowed(p, "/opt/zip"));
	policy_destroy(p);
	p = make(allow, 1, deny, 1, POLICY_DENY_ALLOW);
	assert_true(allowed(p, "/usr/bin/zip"));
	assert_true(allowed(p, "/usr/bin/unzip"));
	/* No rule matches: deny,allow permits it. */
	assert_true(allowed(p, "/opt/ls"));
	policy_destroy(p);
}

struct rport_case {
	const char *name;
	const char *cmd;
	policy_order order;
	const char *const *allow;
	size_t nallow;
	const char *const *deny;
	size_t ndeny;
	bool want;
};

/* rport's client TestIsCommandAllowed table, case by case. */
static void test_rport_cases(void **state)
{
	static const char *const def_allow[] = { "^/usr/bin.*", "^/usr/local/bin/.*",
						 "^C:\\\\Windows\\\\System32.*" };
	static const char *const deny_z[] = { "^/usr/bin/z.*" };
	static const char *const deny_zip[] = { "^/usr/bin/zip.*" };
	static const char *const deny_zip23[] = { "^/usr/bin/zip2.*", "zip3.*" };
	static const char *const deny_zip2[] = { "^/usr/bin/zip2.*" };
	static const char *const deny_test[] = { ".*test.*" };
	static const char *const allow_bins[] = { "^/usr/bin.*", "^/usr/local/bin/.*" };
	static const char *const deny_zip23b[] = { "^/usr/bin/zip2.*", ".*zip3.*" };
	static const struct rport_case cases[] = {
		{ "allow-deny: does not match allow regexp", "/some/cmd", POLICY_ALLOW_DENY,
		  def_allow, 3, NULL, 0, false },
		{ "allow-deny: matches both allow and deny regexp", "/usr/bin/zip",
		  POLICY_ALLOW_DENY, def_allow, 3, deny_z, 1, false },
		{ "allow-deny: matches allow, empty deny", "/usr/bin/zip", POLICY_ALLOW_DENY,
		  def_allow, 3, NULL, 0, true },
		{ "windows: allow-deny: matches allow, empty deny", "C:\\Windows\\System32\\some",
		  POLICY_ALLOW_DENY, def_allow, 3, NULL, 0, true },
		{ "allow-deny: empty allow, does not match deny regexp", "/bin/some/cmd",
		  POLICY_ALLOW_DENY, NULL, 0, deny_zip, 1, false },
		{ "allow-deny: matches allow regexp but not deny", "/usr/bin/zip",
		  POLICY_ALLOW_DENY, def_allow, 3, deny_zip23, 2, true },
		{ "allow-deny: does not match any regexp", "/bin/some/cmd", POLICY_ALLOW_DENY,
		  def_allow, 3, deny_zip2, 1, false },
		{ "deny-allow: matches both deny and allow regexp", "/usr/bin/zip",
		  POLICY_DENY_ALLOW, def_allow, 3, deny_z, 1, true },
		{ "deny-allow: matches deny regexp but not allow", "/usr/test/test-cmd",
		  POLICY_DENY_ALLOW, allow_bins, 2, deny_test, 1, false },
		{ "deny-allow: matches allow regexp but not deny", "/usr/bin/zip",
		  POLICY_DENY_ALLOW, def_allow, 3, deny_zip23b, 2, true },
		{ "deny-allow: does not match any regexp", "/bin/some/cmd", POLICY_DENY_ALLOW,
		  def_allow, 3, deny_zip2, 1, true },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		const struct rport_case *c = &cases[i];
		policy *p = make(c->allow, c->nallow, c->deny, c->ndeny, c->order);

		if (allowed(p, c->cmd) != c->want)
			fail_msg("%s: '%s' should be %s", c->name, c->cmd,
				 c->want ? "allowed" : "denied");
		policy_destroy(p);
	}
}

/* The whole truth table of both orders. */
static void test_truth_table(void **state)
{
	const char *allow[] = { "A" };
	const char *deny[] = { "D" };
	policy *ad = make(allow, 1, deny, 1, POLICY_ALLOW_DENY);
	policy *da = make(allow, 1, deny, 1, POLICY_DENY_ALLOW);

	(void)state;
	/* allow,deny: allow matches AND deny does not. */
	assert_false(allowed(ad, "-"));
	assert_true(allowed(ad, "A"));
	assert_false(allowed(ad, "D"));
	assert_false(allowed(ad, "AD"));
	/* deny,allow: allow matches OR deny does not. */
	assert_true(allowed(da, "-"));
	assert_true(allowed(da, "A"));
	assert_false(allowed(da, "D"));
	assert_true(allowed(da, "AD"));
	policy_destroy(ad);
	policy_destroy(da);
}

static void test_empty_lists(void **state)
{
	const char *allow[] = { "^/usr/bin/" };
	const char *deny[] = { "rm" };
	const char *none[] = { NULL };
	policy *p;

	(void)state;
	/* allow,deny with no allow rules denies everything. */
	p = make(NULL, 0, NULL, 0, POLICY_ALLOW_DENY);
	assert_false(allowed(p, "/usr/bin/date"));
	assert_false(allowed(p, ""));
	policy_destroy(p);
	p = make(none, 0, deny, 1, POLICY_ALLOW_DENY);
	assert_false(allowed(p, "/usr/bin/date"));
	policy_destroy(p);
	/* deny,allow with no rules allows everything. */
	p = make(NULL, 0, NULL, 0, POLICY_DENY_ALLOW);
	assert_true(allowed(p, "anything at all; really"));
	assert_true(policy_allows(p, NULL, 0));
	policy_destroy(p);
	/* deny,allow with only deny rules: allowed unless denied. */
	p = make(NULL, 0, deny, 1, POLICY_DENY_ALLOW);
	assert_true(allowed(p, "/usr/bin/ls"));
	assert_false(allowed(p, "/usr/bin/rm -rf /"));
	policy_destroy(p);
	/* allow,deny with only allow rules. */
	p = make(allow, 1, NULL, 0, POLICY_ALLOW_DENY);
	assert_true(allowed(p, "/usr/bin/rm -rf / | x"));
	assert_false(allowed(p, "/bin/ls"));
	policy_destroy(p);
	/* An empty pattern matches every command. */
	{
		const char *empty[] = { "" };

		p = make(empty, 1, NULL, 0, POLICY_ALLOW_DENY);
		assert_true(allowed(p, ""));
		assert_true(allowed(p, "x"));
		policy_destroy(p);
	}
}

/* Go's regexp.MatchString searches: unanchored unless the pattern anchors. */
static void test_regex_semantics(void **state)
{
	const char *allow[] = { "bin" };
	const char *deny[] = { "(?m)^rm ", "\\bshutdown\\b", "(?i)REBOOT" };
	const char *lines[] = { "^/usr/bin/[^ ]*$" };
	const char *dollar_m[] = { "(?m)zip$" };
	policy *p;

	(void)state;
	p = make(allow, 1, deny, N(deny), POLICY_ALLOW_DENY);
	assert_true(allowed(p, "/usr/bin/x"));
	assert_true(allowed(p, "cabin"));
	assert_false(allowed(p, "/usr/bin/x\nrm -rf /"));
	assert_true(allowed(p, "/usr/bin/x rm -rf"));
	assert_false(allowed(p, "/usr/sbin/shutdown -h now"));
	assert_true(allowed(p, "/usr/sbin/shutdowns"));
	assert_false(allowed(p, "/usr/sbin/reboot"));
	policy_destroy(p);
	/* A negated class crosses '\n' (as in Go); '$' is only the end. */
	p = make(lines, 1, NULL, 0, POLICY_ALLOW_DENY);
	assert_true(allowed(p, "/usr/bin/id"));
	assert_false(allowed(p, "/usr/bin/id -u"));
	assert_true(allowed(p, "/usr/bin/id\nx"));
	assert_false(allowed(p, "/usr/bin/id\n "));
	policy_destroy(p);
	/* With (?m), '$' also matches before each newline, as in Go. */
	p = make(dollar_m, 1, NULL, 0, POLICY_ALLOW_DENY);
	assert_true(allowed(p, "/x/zip\n"));
	assert_true(allowed(p, "/x/zip\nmore"));
	assert_false(allowed(p, "/x/zipx"));
	policy_destroy(p);
}

/* ---- limits: catastrophic patterns fail closed, fast -------------------- */

static void test_match_limit_fails_closed(void **state)
{
	/* Nested quantifiers: exponential backtracking on "aaa...ab". */
	const char *evil[] = { "^(a+)+$" };
	/* Would match through the second branch, but only after exploring
	 * the exponential first one. */
	const char *evil_or_c[] = { "^(?:(a|aa)+$|.*c)" };
	const char *deny_b[] = { "b" };
	char subject[64];
	double t0, dt;
	policy *p;

	(void)state;
	memset(subject, 'a', 40);
	memcpy(subject + 40, "bc", 3);

	/* As a deny rule: undecided counts as a match, so the command is
	 * denied even though the true answer is "no match". */
	p = make(NULL, 0, evil, 1, POLICY_DENY_ALLOW);
	t0 = now_s();
	assert_false(allowed(p, subject));
	dt = now_s() - t0;
	assert_true(dt < 2.0);
	/* Short subjects are decided normally. */
	assert_false(allowed(p, "aaa"));
	assert_true(allowed(p, "aab"));
	policy_destroy(p);

	/* As an allow rule: undecided counts as no match, so the command is
	 * denied even though the true answer is "match". */
	p = make(evil_or_c, 1, NULL, 0, POLICY_ALLOW_DENY);
	t0 = now_s();
	assert_false(allowed(p, subject));
	dt = now_s() - t0;
	assert_true(dt < 2.0);
	assert_true(allowed(p, "aabc"));
	assert_true(allowed(p, "aaaa"));
	policy_destroy(p);

	/* deny,allow: an undecided allow does not rescue a denied command. */
	p = make(evil_or_c, 1, deny_b, 1, POLICY_DENY_ALLOW);
	assert_false(allowed(p, subject));
	assert_true(allowed(p, "abc"));
	policy_destroy(p);
}

/* PCRE2 restarts its match limit at every start position, so a command
 * of many short runs, each just under the limit, would take minutes
 * without the time budget. */
static void test_time_budget_fails_closed(void **state)
{
	const char *evil[] = { "(a|a)+$" };
	const char *evil_or_c[] = { "(a|a)+$|c$" };
	size_t n = 0, cap = 64 * 1024;
	char *cmd = malloc(cap + 1);
	double t0, dt;
	policy *p;

	(void)state;
	assert_non_null(cmd);
	while (n + 18 <= cap) {
		memset(cmd + n, 'a', 17);
		cmd[n + 17] = 'b';
		n += 18;
	}
	cmd[n] = '\0';
	/* As a deny rule: the true answer is "no match" (the text ends in
	 * 'b'), but it cannot be decided in time, so the command is denied. */
	p = make(NULL, 0, evil, 1, POLICY_DENY_ALLOW);
	t0 = now_s();
	assert_false(policy_allows(p, cmd, n));
	dt = now_s() - t0;
	if (dt > 1.0)
		fail_msg("policy_allows took %.3f s", dt);
	policy_destroy(p);
	/* As an allow rule: the true answer is "match" (the text ends in 'c'),
	 * but the search does not get there in time, so it does not allow. */
	cmd[n - 1] = 'c';
	p = make(evil_or_c, 1, NULL, 0, POLICY_ALLOW_DENY);
	t0 = now_s();
	assert_false(policy_allows(p, cmd, n));
	dt = now_s() - t0;
	if (dt > 1.0)
		fail_msg("policy_allows took %.3f s", dt);
	/* A fresh call has a fresh budget. */
	assert_true(allowed(p, "aab c"));
	assert_true(allowed(p, "aaa"));
	assert_false(allowed(p, "aab"));
	policy_destroy(p);
	free(cmd);
}

/* Smaller limits (tests, fuzzing) make the same rule undecided. */
static void test_set_limits(void **state)
{
	const char *evil[] = { "^(a+)+$" };
	char cmd[32];
	policy *p = make(NULL, 0, evil, 1, POLICY_DENY_ALLOW);

	(void)state;
	memset(cmd, 'a', 12);
	memcpy(cmd + 12, "b", 2);
	/* Some 2^12 steps: decided within the default limits (no match),
	 * even under valgrind, but not within 1000 steps. */
	assert_true(allowed(p, cmd));
	policy_set_limits(p, 1000, 0);
	assert_false(allowed(p, cmd));
	assert_false(allowed(p, "aaa"));
	assert_true(allowed(p, "b"));
	policy_set_limits(p, 0, 0);
	assert_true(allowed(p, cmd));
	policy_set_limits(NULL, 1, 1);
	policy_destroy(p);
}

/* A long command with ordinary rules stays within the limits. */
static void test_long_command(void **state)
{
	size_t n = 256 * 1024;
	char *cmd = malloc(n + 1);
	policy *p = make(POLICY_DEFAULT_ALLOW, POLICY_DEFAULT_NALLOW, POLICY_DEFAULT_DENY,
			 POLICY_DEFAULT_NDENY, POLICY_ALLOW_DENY);

	(void)state;
	assert_non_null(cmd);
	memcpy(cmd, "/usr/bin/echo ", 14);
	memset(cmd + 14, 'x', n - 14);
	cmd[n] = '\0';
	assert_true(policy_allows(p, cmd, n));
	cmd[n - 1] = ';';
	assert_false(policy_allows(p, cmd, n));
	policy_destroy(p);
	free(cmd);
}

/* ---- errors ---------------------------------------------------------------- */

static void test_create_errors(void **state)
{
	const char *open_paren[] = { "(" };
	const char *ok[] = { "^/usr/bin/.*" };
	const char *bad_class[] = { "^/usr/bin/.*", "[a" };
	const char *utf[] = { "(*UTF)x" };
	const char *missing[] = { "a", NULL };
	const char *ctrl[] = { "a\n(" };
	char longpat[300];
	const char *longp[] = { longpat };
	char err[256];
	policy *p = NULL;

	(void)state;
	expect_create_error(open_paren, 1, NULL, 0,
			    "invalid allow regex '(': missing closing parenthesis at offset 1");
	expect_create_error(ok, 1, bad_class, 2,
			    "invalid deny regex '[a': missing terminating ] for character class at offset 2");
	expect_create_error(utf, 1, NULL, 0,
			    "invalid allow regex '(*UTF)x': "
			    "using UTF is disabled by the application at offset 6");
	expect_create_error(missing, 2, NULL, 0, "invalid allow regex #2: missing");
	expect_create_error(NULL, 1, NULL, 0, "no allow list");
	expect_create_error(ok, 1, NULL, 3, "no deny list");
	/* Control characters are not copied into the message. */
	expect_create_error(ctrl, 1, NULL, 0,
			    "invalid allow regex 'a?(': missing closing parenthesis at offset 3");
	/* Long patterns are shortened in the message. */
	memset(longpat, 'x', sizeof longpat - 2);
	longpat[sizeof longpat - 2] = '(';
	longpat[sizeof longpat - 1] = '\0';
	assert_int_equal(policy_create(longp, 1, NULL, 0, POLICY_ALLOW_DENY, &p, err, sizeof err), -1);
	assert_non_null(strstr(err, "invalid allow regex 'xxxxxxxxxx"));
	assert_non_null(strstr(err, "xxx...': missing closing parenthesis at offset 299"));
	/* Patterns over 4 KiB are refused. */
	{
		char *huge = malloc(5000);
		const char *hp[1];

		assert_non_null(huge);
		memset(huge, 'a', 4999);
		huge[4999] = '\0';
		hp[0] = huge;
		assert_int_equal(policy_create(hp, 1, NULL, 0, POLICY_ALLOW_DENY, &p, err, sizeof err), -1);
		assert_non_null(strstr(err, "longer than the limit"));
		free(huge);
	}
	/* Bad arguments. */
	assert_int_equal(policy_create(ok, 1, NULL, 0, (policy_order)7, &p, err, sizeof err), -1);
	assert_string_equal(err, "invalid policy order");
	assert_int_equal(policy_create(ok, 1, NULL, 0, POLICY_ALLOW_DENY, NULL, err, sizeof err), -1);
	/* No error buffer is fine. */
	assert_int_equal(policy_create(open_paren, 1, NULL, 0, POLICY_ALLOW_DENY, &p, NULL, 0), -1);
	assert_null(p);
	/* A small buffer gets a truncated, terminated message. */
	{
		char small[10];

		assert_int_equal(policy_create(open_paren, 1, NULL, 0, POLICY_ALLOW_DENY, &p, small,
					       sizeof small), -1);
		assert_string_equal(small, "invalid a");
	}
	policy_destroy(NULL);
}

static void test_order_parse(void **state)
{
	policy_order o = POLICY_DENY_ALLOW;

	(void)state;
	assert_int_equal(policy_order_parse("allow", "deny", &o), 0);
	assert_int_equal(o, POLICY_ALLOW_DENY);
	assert_int_equal(policy_order_parse("deny", "allow", &o), 0);
	assert_int_equal(o, POLICY_DENY_ALLOW);
	/* Errors leave *out alone. */
	assert_int_equal(policy_order_parse("allow", "allow", &o), -1);
	assert_int_equal(policy_order_parse("deny", "deny", &o), -1);
	assert_int_equal(policy_order_parse("Allow", "deny", &o), -1);
	assert_int_equal(policy_order_parse("allow ", "deny", &o), -1);
	assert_int_equal(policy_order_parse("allow,deny", "", &o), -1);
	assert_int_equal(policy_order_parse("", "", &o), -1);
	assert_int_equal(policy_order_parse("one", "two", &o), -1);
	assert_int_equal(policy_order_parse(NULL, "deny", &o), -1);
	assert_int_equal(policy_order_parse("allow", NULL, &o), -1);
	assert_int_equal(policy_order_parse("allow", "deny", NULL), -1);
	assert_int_equal(o, POLICY_DENY_ALLOW);
	assert_string_equal(policy_order_name(POLICY_ALLOW_DENY), "allow,deny");
	assert_string_equal(policy_order_name(POLICY_DENY_ALLOW), "deny,allow");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_embedded_nul_and_bytes),
		cmocka_unit_test(test_seed_examples),
		cmocka_unit_test(test_order_flips_zip),
		cmocka_unit_test(test_rport_cases),
		cmocka_unit_test(test_truth_table),
		cmocka_unit_test(test_empty_lists),
		cmocka_unit_test(test_regex_semantics),
		cmocka_unit_test(test_match_limit_fails_closed),
		cmocka_unit_test(test_time_budget_fails_closed),
		cmocka_unit_test(test_set_limits),
		cmocka_unit_test(test_long_command),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_order_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
