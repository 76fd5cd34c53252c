/* libFuzzer harness: the command policy. The input is a regular expression
 * and a command separated by the first NUL; the pattern is tried as allow
 * and as deny, in both orders, and with rport's defaults. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t plen = nul ? (size_t)(nul - data) : size;
	char *pattern = malloc(plen + 1);
	const char *cmd = nul ? (const char *)nul + 1 : "";
	size_t clen = nul ? size - plen - 1 : 0;
	char err[256];
	policy *p;

	if (!pattern)
		return 0;
	memcpy(pattern, data, plen);
	pattern[plen] = '\0';
	{
		const char *list[] = { pattern };

		for (int order = 0; order < 2; order++) {
			if (policy_create(list, 1, POLICY_DEFAULT_DENY, POLICY_DEFAULT_NDENY,
					  (policy_order)order, &p, err, sizeof err) == 0) {
				(void)policy_allows(p, cmd, clen);
				policy_destroy(p);
			}
			if (policy_create(POLICY_DEFAULT_ALLOW, POLICY_DEFAULT_NALLOW, list, 1,
					  (policy_order)order, &p, err, sizeof err) == 0) {
				(void)policy_allows(p, cmd, clen);
				policy_destroy(p);
			}
		}
	}
	free(pattern);
	return 0;
}
