/* policy: the agent's [remote-commands] allow/deny rules (rport's), PCRE2
 * regular expressions matched against the command string as sent. */
#ifndef TETHER_POLICY_H
#define TETHER_POLICY_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { POLICY_ALLOW_DENY = 0, POLICY_DENY_ALLOW = 1 } policy_order;
typedef struct policy policy;

/* Compiles the lists. Returns 0 and *out, or -1 with err like
 * "invalid allow regex '(': missing closing parenthesis at offset 1". */
int policy_create(const char *const *allow, size_t nallow, const char *const *deny, size_t ndeny,
		  policy_order order, policy **out, char *err, size_t errlen);
void policy_destroy(policy *p);  /* NULL is a no-op */
/* order = ['allow','deny'] or ['deny','allow']. Returns 0 or -1. */
int policy_order_parse(const char *first, const char *second, policy_order *out);
/* True if the command (len bytes, may hold any bytes) may run.
 * allow,deny: some allow matches and no deny matches.
 * deny,allow: some allow matches, or no deny matches.
 * A pattern that cannot be evaluated (match limit) fails closed. */
bool policy_allows(const policy *p, const char *cmd, size_t len);

/* rport's defaults. */
extern const char *const POLICY_DEFAULT_ALLOW[];
extern const size_t POLICY_DEFAULT_NALLOW;
extern const char *const POLICY_DEFAULT_DENY[];
extern const size_t POLICY_DEFAULT_NDENY;

#endif
