/* toml: a small, self-contained reader for the TOML subset tether's
 * configuration files use (rport-style client and server configs):
 *
 *   - comments, blank lines, CRLF or LF line ends, a leading UTF-8 BOM;
 *   - [table] and [table.sub] headers, quoted names in headers;
 *   - bare keys (A-Z a-z 0-9 _ -), quoted keys, dotted keys (a.b = 1);
 *   - basic strings "..." with escapes (\\ \" \n \t \r \b \f \uXXXX
 *     \UXXXXXXXX), literal strings '...' (byte-exact, no escapes), and the
 *     multi-line forms """...""" and '''...''';
 *   - integers (decimal with '_' separators, 0x, 0o, 0b), floats (fraction,
 *     exponent, inf, nan), booleans;
 *   - arrays (mixed types, nested, over several lines with comments and a
 *     trailing comma) and inline tables { a = 1, b = "x" }.
 *
 * Not supported: arrays of tables ([[x]]) and dates/times; both are
 * reported as errors. Strings cannot hold NUL (\u0000 is an error) so every
 * string is a plain C string.
 *
 * Limits: input at most TOML_MAX_FILE bytes; values nest at most
 * TOML_MAX_DEPTH deep (counting table levels, dotted key parts, arrays and
 * inline tables). Errors are "line N: message". The reader never reads
 * outside the input it is given and is fuzzed (fuzz/fuzz_toml.c).
 *
 * A parsed document is immutable; all accessors take NULL and then behave
 * as for an absent value (NULL, 0 or -1), so lookups can be chained:
 * toml_string(toml_at(toml_get_path(root, "remote-commands.allow"), 0)). */
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
 * *out (caller frees it with toml_destroy) or returns -1, leaves *out alone
 * and writes "line N: message" into err (errlen bytes; err may be NULL). */
int toml_parse(const char *text, size_t len, toml_value **out, char *err, size_t errlen);
/* Reads the file at path and parses it, as toml_parse. Errors are
 * "<path>: line N: message", "<path>: <strerror>" or
 * "<path>: file larger than 1 MiB". */
int toml_parse_file(const char *path, toml_value **out, char *err, size_t errlen);
/* Frees a document returned by toml_parse. NULL is a no-op. Only the root
 * may be destroyed; values inside belong to it. */
void toml_destroy(toml_value *v);
/* The value's type. NULL (an absent value) reads as an empty TOML_TABLE,
 * so a missing section behaves like an empty one. */
toml_type toml_type_of(const toml_value *v);
/* The value of key in a table, or NULL (absent, or not a table). */
const toml_value *toml_get(const toml_value *table, const char *key);
/* Follows a dotted path of bare names from root: "client.labels" or
 * "remote-commands.allow". NULL if any part is absent. Keys that contain
 * '.' cannot be reached this way; use toml_get. */
const toml_value *toml_get_path(const toml_value *root, const char *dotted);
/* Number of entries of an array or table, 0 for anything else. */
size_t toml_len(const toml_value *v);
/* The i-th array element or table value (file order), or NULL. */
const toml_value *toml_at(const toml_value *v, size_t i);
/* The i-th key of a table (file order), or NULL. Owned by the document. */
const char *toml_key_at(const toml_value *table, size_t i);
/* Line where the value was defined (for a table: its header, or the first
 * key that created it), or 0 for NULL. */
int toml_line(const toml_value *v);
/* The string (NUL-terminated, valid UTF-8, owned by the document), or NULL
 * unless v is a TOML_STRING. */
const char *toml_string(const toml_value *v);
/* Integer value: 0 and *out, or -1 (wrong type, *out untouched). */
int toml_int(const toml_value *v, int64_t *out);
/* Float value; integers are converted. 0 and *out, or -1 wrong type. */
int toml_float(const toml_value *v, double *out);
/* Boolean value: 0 and *out, or -1 wrong type. */
int toml_bool(const toml_value *v, bool *out);

#endif
