/* libFuzzer harness: core/template.c. The input is split at the first NUL
 * byte into a command text and a Parameters JSON text; both are parsed and
 * rendered as RunCommand does (parameters over themselves as defaults). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *nul = memchr(data, '\0', size);
	size_t clen = nul ? (size_t)(nul - text) : size;
	struct template_error e;
	json_t *params = NULL, *names;
	char *out = NULL;
	size_t outlen;

	if (nul)
		template_params_parse(nul + 1, size - clen - 1, &params, &e);
	if (template_render(text, clen, params, params, &out, &outlen, &e) == 0) {
		if (strlen(out) > outlen || outlen > TEMPLATE_MAX_OUTPUT)
			abort();
		free(out);
	}
	names = template_names(text, clen);
	json_decref(names);
	json_decref(params);
	return 0;
}
