/* libFuzzer harness: the command policy. The input is a regular expression
 * and a command separated by the first NUL byte (the command may hold more
 * NULs; without a NUL the command is empty). The pattern is compiled as
 * allow and as deny, alone, together and next to rport's defaults, and the
 * command is matched in both orders. Properties that hold whatever the
 * pattern and whatever limit is hit (limits fail closed, and whether the
 * time budget runs out may vary from call to call) are checked; a broken
 * one aborts, so the fuzzer reports it. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

/* Creates a policy and matches cmd; -1 if the pattern does not compile. */
static int try(const char *const *allow, size_t nallow, const char *const *deny, size_t ndeny,
	       policy_order order, const char *cmd, size_t clen)
{
	char err[256];
	policy *p = NULL;
	bool ok;

	err[0] = '\0';
	if (policy_create(allow, nallow, deny, ndeny, order, &p, err, sizeof err)) {
		check(p == NULL);
		check(!strncmp(err, "invalid allow regex '", 21) ||
		      !strncmp(err, "invalid deny regex '", 20));
		return -1;
	}
	/* Small limits, so that catastrophic patterns (which the fuzzer finds
	 * at once) cost about a millisecond, not the production 100 ms. */
	policy_set_limits(p, 5000, 1);
	ok = policy_allows(p, cmd, clen);
	policy_destroy(p);
	return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t plen = nul ? (size_t)(nul - data) : size;
	size_t clen = nul ? size - plen - 1 : 0;
	char *pattern = malloc(plen + 1);
	/* An exact-size copy of the command, so over-reads are caught. */
	char *cmd = malloc(clen ? clen : 1);
	const char *list[1];
	int a_only, d_only;

	if (!pattern || !cmd)
		goto out;
	memcpy(pattern, data, plen);
	pattern[plen] = '\0';
	if (clen)
		memcpy(cmd, nul + 1, clen);
	list[0] = pattern;

	/* Only allow, order allow,deny: allowed iff the pattern matches. */
	a_only = try(list, 1, NULL, 0, POLICY_ALLOW_DENY, cmd, clen);
	if (a_only < 0)
		goto out;
	/* Only deny, order deny,allow: allowed iff it does not match. Both
	 * can be false (undecided fails closed) but never both true. */
	d_only = try(NULL, 0, list, 1, POLICY_DENY_ALLOW, cmd, clen);
	check(d_only >= 0);
	check(!(a_only && d_only));
	/* The same pattern as allow and deny: allow,deny never allows. */
	check(try(list, 1, list, 1, POLICY_ALLOW_DENY, cmd, clen) == 0);
	/* deny,allow: allowed unless undecided (which may depend on timing,
	 * so nothing more is checked). */
	check(try(list, 1, list, 1, POLICY_DENY_ALLOW, cmd, clen) >= 0);
	/* Next to rport's defaults, in the order the input's length picks. */
	check(try(list, 1, POLICY_DEFAULT_DENY, POLICY_DEFAULT_NDENY, (policy_order)(size & 1),
		  cmd, clen) >= 0);
	check(try(POLICY_DEFAULT_ALLOW, POLICY_DEFAULT_NALLOW, list, 1, (policy_order)(size & 1),
		  cmd, clen) >= 0);
out:
	free(pattern);
	free(cmd);
	return 0;
}
