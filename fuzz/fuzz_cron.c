/* libFuzzer harness: cron expressions (core/cron.c). Any input parses or
 * fails with a message; a parsed one gives next times that only grow. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), err[200];
	struct cron_expr e;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (cron_parse(text, &e, err, sizeof err) == 0) {
		int64_t t = 1700000000, n;

		for (int i = 0; i < 8; i++) {
			n = cron_next(&e, t);
			if (n < 0)
				break;
			if (n <= t || n % 60)
				abort();
			t = n;
		}
	} else if (!memchr(err, '\0', sizeof err) || !err[0]) {
		abort();
	}
	free(text);
	return 0;
}
