/* libFuzzer harness: the TOML reader. Parses, walks every value, frees. */
#include <stddef.h>
#include <stdint.h>

#include "toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const toml_value *v, int depth)
{
	int64_t i;
	double f;
	bool b;

	if (!v || depth > 100)
		return;
	(void)toml_string(v);
	(void)toml_int(v, &i);
	(void)toml_float(v, &f);
	(void)toml_bool(v, &b);
	(void)toml_line(v);
	for (size_t k = 0; k < toml_len(v); k++) {
		(void)toml_key_at(v, k);
		walk(toml_at(v, k), depth + 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	toml_value *root;
	char err[256];

	if (toml_parse((const char *)data, size, &root, err, sizeof err) == 0) {
		walk(root, 0);
		(void)toml_get_path(root, "client.labels.zone");
		toml_destroy(root);
	}
	return 0;
}
