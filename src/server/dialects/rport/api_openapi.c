/* api_openapi: GET /api/v1/openapi.json, the OpenAPI 3.1 document of every
 * route of the API listener. The document is api/openapi.json in the
 * source tree; CMake turns it into a C array at build time
 * (api/embed.cmake), so tetherd reads no file for it. Like every API route
 * it needs credentials (any authenticated user). */
#include "dialects/rport/api.h"

/* Defined in the generated openapi_doc.c. */
extern const char tether_openapi_json[];
extern const unsigned long tether_openapi_json_len;

void api_openapi_get(struct api_call *call)
{
	api_reply_raw(call, 200, "application/json", tether_openapi_json,
		      (size_t)tether_openapi_json_len);
}
