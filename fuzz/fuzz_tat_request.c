/* libFuzzer harness: the TAT dialect's request parsing (dialects/tat/
 * sign.c). The input is lines: the first is an Authorization header, the
 * next ones "name: value" headers, then an empty line and the body. The
 * Authorization is parsed, the canonical request rebuilt from the headers
 * it signs and a signature computed, as the server does for each request. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dialects/tat/sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HEADERS 16

struct headers {
	char *name[MAX_HEADERS];
	char *value[MAX_HEADERS];
	size_t n;
};

static const char *header(void *ud, const char *name)
{
	struct headers *h = ud;

	for (size_t i = 0; i < h->n; i++)
		if (!strcasecmp(h->name[i], name))
			return h->value[i];
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1), *line, *next, *body = NULL;
	struct headers h = { .n = 0 };
	struct tat_authz a;
	char sig[TAT_HEX_LEN];
	struct buf canon;
	size_t blen = 0;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	next = strchr(copy, '\n');
	if (next)
		*next++ = '\0';
	tat_authz_parse(copy, &a);
	for (line = next; line; line = next) {
		char *colon;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (!*line) {
			body = next;
			break;
		}
		colon = strchr(line, ':');
		if (colon && h.n < MAX_HEADERS) {
			*colon = '\0';
			h.name[h.n] = line;
			h.value[h.n++] = colon + 1;
		}
	}
	if (body)
		blen = size - (size_t)(body - copy);
	if (tat_authz_parse(copy, &a) == 0 &&
	    tat_canonical_request("POST", a.signed_headers, header, &h, body, blen, &canon) == 0) {
		tat_signature("secret", "1551113065", a.date, a.service, canon.data, canon.len, sig);
		if (strlen(sig) != 64)
			abort();
		buf_free(&canon);
	}
	free(copy);
	return 0;
}
