/* libFuzzer harness: the TOML reader (agent and server configuration files).
 * Parses the input, walks the whole result through the public accessors
 * and checks the reader's promises; a broken promise aborts, so the fuzzer
 * reports it like a crash. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

/* Strings handed out are valid UTF-8 without NUL (the reader's promise). */
static void check_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t n = *p < 0x80 ? 1 : *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : 2;

		check(*p < 0x80 || (*p >= 0xc2 && *p <= 0xf4));
		for (size_t i = 1; i < n; i++)
			check((p[i] & 0xc0) == 0x80);
		p += n;
	}
}

static void walk(const toml_value *v, int depth)
{
	int64_t i;
	double f;
	bool b;

	check(depth <= TOML_MAX_DEPTH);
	check(toml_line(v) >= 1);
	switch (toml_type_of(v)) {
	case TOML_TABLE:
		for (size_t k = 0; k < toml_len(v); k++) {
			const char *key = toml_key_at(v, k);

			check(key != NULL);
			check_utf8(key);
			/* Lookup by key finds the same entry (the hash index and
			 * the key list agree). */
			check(toml_get(v, key) == toml_at(v, k));
			walk(toml_at(v, k), depth + 1);
		}
		check(toml_at(v, toml_len(v)) == NULL);
		check(toml_key_at(v, toml_len(v)) == NULL);
		break;
	case TOML_ARRAY:
		for (size_t k = 0; k < toml_len(v); k++) {
			check(toml_key_at(v, k) == NULL);
			walk(toml_at(v, k), depth + 1);
		}
		check(toml_at(v, toml_len(v)) == NULL);
		break;
	case TOML_STRING:
		check(toml_string(v) != NULL);
		check_utf8(toml_string(v));
		check(toml_len(v) == 0);
		break;
	case TOML_INT:
		check(toml_int(v, &i) == 0);
		check(toml_float(v, &f) == 0);
		check(toml_string(v) == NULL);
		break;
	case TOML_FLOAT:
		check(toml_float(v, &f) == 0);
		check(toml_int(v, &i) == -1);
		break;
	case TOML_BOOL:
		check(toml_bool(v, &b) == 0);
		check(toml_int(v, &i) == -1);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	toml_value *root = NULL, *again = NULL;
	char err[256];
	int rc;

	/* An exact-size copy, so reading one byte too far is caught even if
	 * libFuzzer's buffer had slack. */
	char *text = malloc(size ? size : 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	err[0] = '\0';
	rc = toml_parse(text, size, &root, err, sizeof err);
	if (rc == 0) {
		check(root != NULL && toml_type_of(root) == TOML_TABLE);
		walk(root, 0);
		/* Paths through the first keys, as the config loaders use them. */
		if (toml_len(root) && toml_key_at(root, 0)[0] && !strchr(toml_key_at(root, 0), '.'))
			check(toml_get_path(root, toml_key_at(root, 0)) == toml_at(root, 0));
		toml_destroy(root);
	} else {
		check(rc == -1 && root == NULL);
		check(!strncmp(err, "line ", 5));
		check_utf8(err);
	}
	/* The same answer without an error buffer. */
	check(toml_parse(text, size, &again, NULL, 0) == rc);
	toml_destroy(again);
	free(text);
	return 0;
}
