/* policy: the agent's [remote-commands] allow/deny rules, as rport has them.
 * Each rule is a regular expression searched for (not anchored unless the
 * pattern anchors itself, like Go's regexp.MatchString) in the command
 * string exactly as it was sent.
 *
 *   order allow,deny: the command runs iff some allow rule matches and no
 *                     deny rule matches (an empty allow list denies all);
 *   order deny,allow: the command runs iff some allow rule matches or no
 *                     deny rule matches.
 *
 * Patterns are PCRE2, matched byte by byte (no UTF mode), so any bytes in a
 * command are fine; '$' matches only at the very end (as in Go, not before
 * a final newline). Matching has step, depth and heap limits and a time
 * budget (100 ms per policy_allows call); a rule that cannot be decided
 * within them fails closed: a deny rule counts as matching, an allow rule
 * as not matching. */
#ifndef TETHER_POLICY_H
#define TETHER_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { POLICY_ALLOW_DENY = 0, POLICY_DENY_ALLOW = 1 } policy_order;
typedef struct policy policy;

/* Compiles the allow and deny lists (the strings are not kept). Returns 0
 * and *out (caller frees with policy_destroy), or -1 with err like
 * "invalid allow regex '(': missing closing parenthesis at offset 1". */
int policy_create(const char *const *allow, size_t nallow, const char *const *deny, size_t ndeny,
		  policy_order order, policy **out, char *err, size_t errlen);
/* Frees a policy. NULL is a no-op. */
void policy_destroy(policy *p);
/* order = ['allow','deny'] or ['deny','allow'], given as the two array
 * items (exact, lower case). Returns 0 and *out, or -1. */
int policy_order_parse(const char *first, const char *second, policy_order *out);
/* True if the command (len bytes, any bytes including NUL and newlines)
 * may run. A NULL policy allows nothing. Safe to call from several
 * threads on the same policy. */
bool policy_allows(const policy *p, const char *cmd, size_t len);
/* Changes the match step limit (per start position) and the time budget
 * per policy_allows call; 0 keeps the default (1000000 steps, 100 ms).
 * For tests and fuzzing, which want limits hit quickly. Not while another
 * thread is in policy_allows on p. */
void policy_set_limits(policy *p, uint32_t match_limit, uint32_t time_limit_ms);
/* The order's name, "allow,deny" or "deny,allow", for logs. */
const char *policy_order_name(policy_order order);

/* rport's defaults: allow '^/usr/bin/.*', '^/usr/local/bin/.*',
 * '^C:\\Windows\\System32\\.*'; deny '(\\||<|>|;|,|\\n|&)' (one command,
 * no pipes, redirections, separators or newlines); order allow,deny. */
extern const char *const POLICY_DEFAULT_ALLOW[];
extern const size_t POLICY_DEFAULT_NALLOW;
extern const char *const POLICY_DEFAULT_DENY[];
extern const size_t POLICY_DEFAULT_NDENY;

#endif
