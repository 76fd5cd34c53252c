/* toml_keys: reads a configuration file's [section] key = value pairs into
 * a struct, by a table of keys (redis config.c style): {section, key,
 * type, offset, size, min, max, setter}. Both programs' loaders use it,
 * so unknown sections and keys and wrong types are reported the same way:
 *
 *   FILE: line N: unknown section [s]
 *   FILE: line N: unknown key 'k' in [s]
 *   FILE: line N: s.k must be a string | is too long [(max N)] |
 *                 must be true or false | must be an integer from A to B |
 *                 must be a number from A to B
 *
 * A setter reads what the types do not cover (durations, arrays, tables)
 * and writes its own message. Sections are the ones the table names. */
#ifndef TETHER_TOML_KEYS_H
#define TETHER_TOML_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "toml.h"

enum toml_key_type {
	TOML_KEY_STR,    /* char[size] */
	TOML_KEY_INT,    /* int64_t from min to max */
	TOML_KEY_FLOAT,  /* double from min to max (an integer is taken too) */
	TOML_KEY_BOOL,   /* bool */
	TOML_KEY_SET,    /* the key's setter reads it */
};

struct toml_key;

/* Where a setter is and what it may say. */
struct toml_key_at {
	const char *path;          /* the file, for messages */
	const char *section;
	const char *name;          /* the key as written in the file */
	const char *what;          /* "section.name" */
	char *err;                 /* "FILE: line N: ..." on an error */
	size_t errlen;
};

/* Reads v into base (the struct). Returns 0, or -1 with at->err set. */
typedef int (*toml_key_set_fn)(void *base, const struct toml_key *k, const toml_value *v,
			       const struct toml_key_at *at);

struct toml_key {
	const char *section;
	const char *name;          /* NULL: every key of the section (a setter) */
	enum toml_key_type type;
	size_t offset;             /* of the field in the struct */
	size_t size;               /* TOML_KEY_STR: the buffer's size */
	int64_t min, max;          /* TOML_KEY_INT, TOML_KEY_FLOAT */
	toml_key_set_fn set;       /* TOML_KEY_SET */
};

/* Entries of a table for struct type st. */
#define TOML_KEY_STR_OF(st, sec, key, field) \
	{ sec, key, TOML_KEY_STR, offsetof(st, field), sizeof(((st *)0)->field), 0, 0, NULL }
#define TOML_KEY_INT_OF(st, sec, key, field, lo, hi) \
	{ sec, key, TOML_KEY_INT, offsetof(st, field), 0, lo, hi, NULL }
#define TOML_KEY_FLOAT_OF(st, sec, key, field, lo, hi) \
	{ sec, key, TOML_KEY_FLOAT, offsetof(st, field), 0, lo, hi, NULL }
#define TOML_KEY_BOOL_OF(st, sec, key, field) \
	{ sec, key, TOML_KEY_BOOL, offsetof(st, field), 0, 0, 0, NULL }
#define TOML_KEY_SET_OF(st, sec, key, field, fn) \
	{ sec, key, TOML_KEY_SET, offsetof(st, field), sizeof(((st *)0)->field), 0, 0, fn }

struct toml_keys {
	const struct toml_key *keys;
	size_t n;
	/* A value outside every section: NULL says "unknown key 'k' outside
	 * a section", a name says "key 'k' must be inside a section such as
	 * [name]". */
	const char *section_hint;
	/* "is too long (max N)" rather than "is too long". */
	bool say_max_len;
};

/* Reads every section of root into base by spec. Returns 0, or -1 with
 * err set ("path: line N: ..."); keys before the error are read. */
int toml_keys_load(const struct toml_keys *spec, const toml_value *root, void *base,
		   const char *path, char *err, size_t errlen);

#endif
