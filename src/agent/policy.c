/* policy: compiled allow/deny lists. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcre2.h>

/* As rport's defaults (Go string literals '\\' are single backslashes). */
const char *const POLICY_DEFAULT_ALLOW[] = {
	"^/usr/bin/.*",
	"^/usr/local/bin/.*",
	"^C:\\\\Windows\\\\System32\\\\.*",
};
const size_t POLICY_DEFAULT_NALLOW = 3;
const char *const POLICY_DEFAULT_DENY[] = {
	"(\\||<|>|;|,|\\n|&)",
};
const size_t POLICY_DEFAULT_NDENY = 1;

#define POLICY_MATCH_LIMIT 100000
#define POLICY_DEPTH_LIMIT 1000

struct rx {
	pcre2_code *code;
};

struct policy {
	struct rx *allow;
	size_t nallow;
	struct rx *deny;
	size_t ndeny;
	policy_order order;
	pcre2_match_context *mctx;
};

static void free_list(struct rx *l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pcre2_code_free(l[i].code);
	free(l);
}

void policy_destroy(policy *p)
{
	if (!p)
		return;
	free_list(p->allow, p->nallow);
	free_list(p->deny, p->ndeny);
	pcre2_match_context_free(p->mctx);
	free(p);
}

static int compile_list(const char *const *src, size_t n, const char *what, struct rx **out,
			char *err, size_t errlen)
{
	struct rx *l = calloc(n + 1, sizeof *l);

	if (!l) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		int code;
		PCRE2_SIZE off;

		/* Arbitrary bytes are matched as bytes (no UTF checks), as
		 * Go's regexp treats invalid UTF-8. */
		l[i].code = pcre2_compile((PCRE2_SPTR)src[i], PCRE2_ZERO_TERMINATED, 0, &code,
					  &off, NULL);
		if (!l[i].code) {
			PCRE2_UCHAR msg[160];

			pcre2_get_error_message(code, msg, sizeof msg);
			snprintf(err, errlen, "invalid %s regex '%.100s': %s at offset %zu", what,
				 src[i], (const char *)msg, (size_t)off);
			free_list(l, i);
			return -1;
		}
	}
	*out = l;
	return 0;
}

int policy_create(const char *const *allow, size_t nallow, const char *const *deny, size_t ndeny,
		  policy_order order, policy **out, char *err, size_t errlen)
{
	policy *p = calloc(1, sizeof *p);

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->order = order;
	if (compile_list(allow, nallow, "allow", &p->allow, err, errlen)) {
		free(p);
		return -1;
	}
	p->nallow = nallow;
	if (compile_list(deny, ndeny, "deny", &p->deny, err, errlen)) {
		policy_destroy(p);
		return -1;
	}
	p->ndeny = ndeny;
	p->mctx = pcre2_match_context_create(NULL);
	if (!p->mctx) {
		policy_destroy(p);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* A catastrophic pattern cannot hang the agent. */
	pcre2_set_match_limit(p->mctx, POLICY_MATCH_LIMIT);
	pcre2_set_depth_limit(p->mctx, POLICY_DEPTH_LIMIT);
	*out = p;
	return 0;
}

int policy_order_parse(const char *first, const char *second, policy_order *out)
{
	if (!strcmp(first, "allow") && !strcmp(second, "deny"))
		*out = POLICY_ALLOW_DENY;
	else if (!strcmp(first, "deny") && !strcmp(second, "allow"))
		*out = POLICY_DENY_ALLOW;
	else
		return -1;
	return 0;
}

/* 1 match, 0 no match, -1 could not tell. */
static int match_one(const policy *p, const struct rx *r, const char *cmd, size_t len)
{
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(r->code, NULL);
	int rc;

	if (!md)
		return -1;
	rc = pcre2_match(r->code, (PCRE2_SPTR)cmd, len, 0, 0, md, p->mctx);
	pcre2_match_data_free(md);
	if (rc >= 0)
		return 1;
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	return -1;
}

/* Does any pattern match? Undecidable counts as unknown_as. */
static bool any(const policy *p, const struct rx *l, size_t n, const char *cmd, size_t len,
		bool unknown_as)
{
	for (size_t i = 0; i < n; i++) {
		int m = match_one(p, &l[i], cmd, len);

		if (m == 1 || (m < 0 && unknown_as))
			return true;
	}
	return false;
}

bool policy_allows(const policy *p, const char *cmd, size_t len)
{
	/* Fail closed: an undecidable allow does not allow, an undecidable
	 * deny denies. */
	bool allowed = any(p, p->allow, p->nallow, cmd, len, false);
	bool denied = any(p, p->deny, p->ndeny, cmd, len, true);

	if (p->order == POLICY_ALLOW_DENY)
		return allowed && !denied;
	return allowed || !denied;
}
