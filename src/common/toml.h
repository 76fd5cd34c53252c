/* toml: a small reader for the TOML subset tether's configuration files
 * use: tables ([a], [a.b], quoted names), bare/quoted/dotted keys, basic
 * and literal strings (also multi-line), integers (decimal, 0x, 0o, 0b, with
 * '_'), floats, booleans, arrays (nested, over several lines, trailing
 * commas, comments), inline tables. Arrays of tables are not supported.
 * Errors carry the line number. The reader is fuzzed (fuzz/fuzz_toml.c). */
#ifndef TETHER_TOML_H
#define TETHER_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { TOML_TABLE, TOML_ARRAY, TOML_STRING, TOML_INT, TOML_FLOAT, TOML_BOOL } toml_type;
typedef struct toml_value toml_value;

#define TOML_MAX_FILE (1024 * 1024)
#define TOML_MAX_DEPTH 64

/* Parses text (len bytes, need not be NUL-terminated). Returns 0 and sets
 * *out (caller frees with toml_destroy) or -1 with "line N: message". */
int toml_parse(const char *text, size_t len, toml_value **out, char *err, size_t errlen);
/* Reads a file and parses it; errors are "<path>: line N: message". */
int toml_parse_file(const char *path, toml_value **out, char *err, size_t errlen);
void toml_destroy(toml_value *v);               /* NULL is a no-op */
toml_type toml_type_of(const toml_value *v);
/* A key of a table, or NULL (absent, or not a table). */
const toml_value *toml_get(const toml_value *table, const char *key);
/* "client.labels" or "remote-commands.allow". */
const toml_value *toml_get_path(const toml_value *root, const char *dotted);
size_t toml_len(const toml_value *v);            /* entries of an array or table */
const toml_value *toml_at(const toml_value *v, size_t i);   /* i-th element or value */
const char *toml_key_at(const toml_value *table, size_t i); /* i-th key, file order */
int toml_line(const toml_value *v);
const char *toml_string(const toml_value *v);   /* NULL unless a string */
int toml_int(const toml_value *v, int64_t *out);   /* 0, or -1 wrong type */
int toml_float(const toml_value *v, double *out);  /* accepts integers too */
int toml_bool(const toml_value *v, bool *out);

#endif
