/* libFuzzer harness: the agent protocol frame parser (both directions
 * parse frames with proto_parse). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum proto_type t;
	char err[256];
	json_t *m;

	if (proto_parse((const char *)data, size, &m, &t, err, sizeof err) == 0) {
		size_t len;
		char *text = proto_dump(m, &len);

		(void)proto_type_name(t);
		free(text);
		json_decref(m);
	}
	return 0;
}
