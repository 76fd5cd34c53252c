/* libFuzzer harness: REST request bodies (strict JSON with rport's bare
 * keys accepted, field whitelist and types, depth and size limits). */
#include <stddef.h>
#include <stdint.h>

#include "dialects/rport/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_err err;
	json_t *body;

	if (api_parse_body((const char *)data, size, api_multi_fields, api_multi_nfields,
			   API_KIND_COMMAND | API_KIND_REST, &body, &err) == 0)
		json_decref(body);
	return 0;
}
