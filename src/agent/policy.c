/* policy: compiled allow/deny lists and rport's decision rule.
 *
 * Why these PCRE2 settings (rport uses Go's regexp; we want the same
 * answers for the patterns people write, and never an error on input):
 *   - no UTF mode, and (*UTF) in a pattern is refused: subjects are bytes,
 *     so a command with invalid UTF-8 cannot make a match fail with an
 *     error, and '.' still crosses every byte but '\n' (as Go's '.' crosses
 *     any rune but '\n');
 *   - PCRE2_DOLLAR_ENDONLY: Go's '$' (without (?m)) matches only at the
 *     end of the text; PCRE2's default also matches before a final newline,
 *     which would let "zip$" allow "/x/zip\n";
 *   - newline is LF only, as in Go's (?m) mode;
 *   - match, depth and heap limits, because PCRE2 backtracks (Go does not):
 *     a pattern like '(a+)+$' would otherwise hang the agent on a crafted
 *     command. PCRE2 counts the match limit afresh at every start position
 *     of an unanchored search, so a command made of many short runs (each
 *     just under the limit) could still take minutes; a time budget per
 *     policy_allows call, checked from an automatic callout before pattern
 *     items, bounds the total. Hitting any limit fails closed (policy.h). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "policy.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pcre2.h>

/* rport's defaults. In C source each regex backslash is doubled: the
 * Windows rule is the regex ^C:\\Windows\\System32\\.* (literal '\'). */
const char *const POLICY_DEFAULT_ALLOW[] = {
	"^/usr/bin/.*",
	"^/usr/local/bin/.*",
	"^C:\\\\Windows\\\\System32\\\\.*",
};
const size_t POLICY_DEFAULT_NALLOW = sizeof POLICY_DEFAULT_ALLOW / sizeof POLICY_DEFAULT_ALLOW[0];
const char *const POLICY_DEFAULT_DENY[] = {
	"(\\||<|>|;|,|\\n|&)",
};
const size_t POLICY_DEFAULT_NDENY = sizeof POLICY_DEFAULT_DENY / sizeof POLICY_DEFAULT_DENY[0];

/* Backtracking steps per start position (PCRE2's match limit): some 10 ms
 * at worst, far above what ordinary rules need on commands of any length. */
#define POLICY_MATCH_LIMIT 1000000
/* Nested backtracking frames, and the memory for them in KiB. */
#define POLICY_DEPTH_LIMIT 100000
#define POLICY_HEAP_LIMIT_KIB (16 * 1024)
/* Wall-clock budget for one policy_allows call, all patterns together.
 * Ordinary rules take microseconds even on 64 KiB commands. */
#define POLICY_TIME_LIMIT_MS 100
/* The clock is read on the first callout of a match and every 256th. */
#define POLICY_CLOCK_EVERY 256
/* Longest pattern accepted (config lines are far shorter). */
#define POLICY_MAX_PATTERN 4096

#define COMPILE_OPTIONS (PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_UTF | PCRE2_AUTO_CALLOUT)

struct policy {
	pcre2_code **allow;
	size_t nallow;
	pcre2_code **deny;
	size_t ndeny;
	policy_order order;
	pcre2_match_context *mctx; /* limits and the budget callout; read-only */
	uint32_t time_limit_ms;
};

static int budget_callout(pcre2_callout_block *cb, void *data);

static void free_list(pcre2_code **l, size_t n)
{
	if (!l)
		return;
	for (size_t i = 0; i < n; i++)
		pcre2_code_free(l[i]);
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

/* Copies a pattern for an error message: at most 100 bytes, control
 * characters as '?', so a log line stays one line. */
static void show_pattern(const char *src, char out[112])
{
	size_t n = 0;

	for (; src[n] && n < 100; n++) {
		unsigned char c = (unsigned char)src[n];

		out[n] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (src[n]) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

/* Compiles n patterns into *out (n entries, NULL-padded while filling).
 * Returns 0, or -1 with err set and nothing allocated. */
static int compile_list(const char *const *src, size_t n, const char *what,
			pcre2_compile_context *cctx, pcre2_code ***out, char *err, size_t errlen)
{
	pcre2_code **l;

	if (n && !src) {
		snprintf(err, errlen, "no %s list", what);
		return -1;
	}
	/* calloc(0) may return NULL: always ask for one entry. */
	l = calloc(n ? n : 1, sizeof *l);
	if (!l) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char shown[112];
		int code;
		PCRE2_SIZE off;

		if (!src[i]) {
			snprintf(err, errlen, "invalid %s regex #%zu: missing", what, i + 1);
			goto fail;
		}
		l[i] = pcre2_compile((PCRE2_SPTR)src[i], PCRE2_ZERO_TERMINATED, COMPILE_OPTIONS,
				     &code, &off, cctx);
		if (!l[i]) {
			PCRE2_UCHAR msg[160];

			if (pcre2_get_error_message(code, msg, sizeof msg) < 0)
				snprintf((char *)msg, sizeof msg, "error %d", code);
			show_pattern(src[i], shown);
			snprintf(err, errlen, "invalid %s regex '%s': %s at offset %zu", what,
				 shown, (const char *)msg, (size_t)off);
			goto fail;
		}
	}
	*out = l;
	return 0;
fail:
	free_list(l, n);
	return -1;
}

int policy_create(const char *const *allow, size_t nallow, const char *const *deny, size_t ndeny,
		  policy_order order, policy **out, char *err, size_t errlen)
{
	pcre2_compile_context *cctx = NULL;
	policy *p = NULL;

	if (!err)
		errlen = 0;
	if (!out || (order != POLICY_ALLOW_DENY && order != POLICY_DENY_ALLOW)) {
		snprintf(err, errlen, "invalid policy order");
		return -1;
	}
	p = calloc(1, sizeof *p);
	cctx = pcre2_compile_context_create(NULL);
	if (!p || !cctx)
		goto oom;
	p->order = order;
	if (pcre2_set_newline(cctx, PCRE2_NEWLINE_LF) ||
	    pcre2_set_max_pattern_length(cctx, POLICY_MAX_PATTERN)) {
		snprintf(err, errlen, "cannot set up the regex compiler");
		goto fail;
	}
	if (compile_list(allow, nallow, "allow", cctx, &p->allow, err, errlen))
		goto fail;
	p->nallow = nallow;
	if (compile_list(deny, ndeny, "deny", cctx, &p->deny, err, errlen))
		goto fail;
	p->ndeny = ndeny;
	p->mctx = pcre2_match_context_create(NULL);
	if (!p->mctx)
		goto oom;
	pcre2_set_match_limit(p->mctx, POLICY_MATCH_LIMIT);
	pcre2_set_depth_limit(p->mctx, POLICY_DEPTH_LIMIT);
	pcre2_set_heap_limit(p->mctx, POLICY_HEAP_LIMIT_KIB);
	pcre2_set_callout(p->mctx, budget_callout, NULL);
	p->time_limit_ms = POLICY_TIME_LIMIT_MS;
	pcre2_compile_context_free(cctx);
	*out = p;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	pcre2_compile_context_free(cctx);
	policy_destroy(p);
	return -1;
}

int policy_order_parse(const char *first, const char *second, policy_order *out)
{
	if (!first || !second || !out)
		return -1;
	if (!strcmp(first, "allow") && !strcmp(second, "deny"))
		*out = POLICY_ALLOW_DENY;
	else if (!strcmp(first, "deny") && !strcmp(second, "allow"))
		*out = POLICY_DENY_ALLOW;
	else
		return -1;
	return 0;
}

void policy_set_limits(policy *p, uint32_t match_limit, uint32_t time_limit_ms)
{
	if (!p)
		return;
	pcre2_set_match_limit(p->mctx, match_limit ? match_limit : POLICY_MATCH_LIMIT);
	p->time_limit_ms = time_limit_ms ? time_limit_ms : POLICY_TIME_LIMIT_MS;
}

const char *policy_order_name(policy_order order)
{
	return order == POLICY_DENY_ALLOW ? "deny,allow" : "allow,deny";
}

/* The time budget of one policy_allows call. A thread-local pointer, not
 * the callout's data argument, so the shared match context in the policy
 * needs no per-call copy and policy_allows stays reentrant. */
struct budget {
	struct timespec deadline;
	unsigned long calls;
};

static _Thread_local struct budget *current_budget;

static bool clock_passed(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline->tv_sec ||
	       (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

/* Runs before each pattern item (PCRE2_AUTO_CALLOUT). A negative result
 * abandons the match with that error. */
static int budget_callout(pcre2_callout_block *cb, void *data)
{
	struct budget *b = current_budget;

	(void)cb;
	(void)data;
	if (b && b->calls++ % POLICY_CLOCK_EVERY == 0 && clock_passed(&b->deadline))
		return PCRE2_ERROR_CALLOUT;
	return 0;
}

/* Memory for one policy_allows call, on its stack: the match data and
 * PCRE2's first backtracking frames (20 KiB) fit, so an ordinary check
 * allocates nothing; anything beyond (deep backtracking) is malloc'd.
 * Frees inside the arena are no-ops; it all goes when the call returns. */
#define ARENA_SIZE (32 * 1024)
#define ARENA_ALIGN _Alignof(max_align_t)

struct arena {
	size_t used;
	_Alignas(max_align_t) unsigned char buf[ARENA_SIZE];
};

static bool in_arena(const struct arena *a, const void *ptr)
{
	uintptr_t x = (uintptr_t)ptr, lo = (uintptr_t)a->buf;

	return x >= lo && x < lo + sizeof a->buf;
}

static void *arena_malloc(size_t n, void *data)
{
	struct arena *a = data;
	size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);

	if (need >= n && need <= sizeof a->buf - a->used) {
		void *ptr = a->buf + a->used;

		a->used += need;
		return ptr;
	}
	return malloc(n);
}

static void arena_free(void *ptr, void *data)
{
	if (!in_arena(data, ptr))
		free(ptr);
}

/* Does any pattern of the list match? A pattern that cannot be decided
 * (a limit hit, out of memory) counts as undecided_as. */
static bool any_match(const policy *p, pcre2_code *const *l, size_t n, pcre2_match_data *md,
		      struct budget *b, const char *cmd, size_t len, bool undecided_as)
{
	for (size_t i = 0; i < n; i++) {
		int rc;

		/* Each match starts by looking at the clock. */
		b->calls = 0;
		rc = pcre2_match(l[i], (PCRE2_SPTR)cmd, len, 0, 0, md, p->mctx);

		/* rc 0 means the ovector was too small: still a match. */
		if (rc >= 0)
			return true;
		if (rc != PCRE2_ERROR_NOMATCH && undecided_as)
			return true;
	}
	return false;
}

bool policy_allows(const policy *p, const char *cmd, size_t len)
{
	struct arena arena;
	pcre2_general_context *gctx;
	pcre2_match_data *md = NULL;
	struct budget b = { { 0, 0 }, 0 }, *saved = current_budget;
	bool allowed, denied, result = false;

	if (!p)
		return false;
	if (!cmd) {
		if (len)
			return false;
		cmd = "";
	}
	arena.used = 0;
	gctx = pcre2_general_context_create(arena_malloc, arena_free, &arena);
	if (gctx)
		md = pcre2_match_data_create(1, gctx);
	if (!md)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &b.deadline);
	b.deadline.tv_sec += (time_t)(p->time_limit_ms / 1000);
	b.deadline.tv_nsec += (long)(p->time_limit_ms % 1000) * 1000000L;
	if (b.deadline.tv_nsec >= 1000000000L) {
		b.deadline.tv_sec++;
		b.deadline.tv_nsec -= 1000000000L;
	}
	current_budget = &b;
	/* Fail closed: an undecided allow rule does not allow, an undecided
	 * deny rule denies. */
	allowed = any_match(p, p->allow, p->nallow, md, &b, cmd, len, false);
	if (p->order == POLICY_ALLOW_DENY) {
		denied = allowed && any_match(p, p->deny, p->ndeny, md, &b, cmd, len, true);
		result = allowed && !denied;
	} else {
		denied = !allowed && any_match(p, p->deny, p->ndeny, md, &b, cmd, len, true);
		result = allowed || !denied;
	}
	current_budget = saved;
out:
	pcre2_match_data_free(md);
	pcre2_general_context_free(gctx);
	return result;
}
