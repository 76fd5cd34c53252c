/* template: {{name}} custom parameters in a command's text (TAT's rules).
 *
 * A pure module: no server, no I/O. Parameters come as JSON-encoded
 * strings of a string-to-string object (TAT's Parameters and
 * DefaultParameters). template_params_parse checks one such text;
 * template_render substitutes every {{name}} whose name is a valid key
 * ([a-zA-Z0-9_-], 1..64) with the value from params, else from defaults.
 * A {{...}} that is not a valid name is left as it is. Failures are codes;
 * the dialect words them. */
#ifndef TETHER_TEMPLATE_H
#define TETHER_TEMPLATE_H

#include <stddef.h>

#include <jansson.h>

#define TEMPLATE_MAX_KEYS 20
#define TEMPLATE_MAX_KEY_LEN 64
#define TEMPLATE_MAX_VALUE_LEN 65536   /* bytes of one value */
#define TEMPLATE_MAX_OUTPUT 65536      /* bytes of the rendered text */

enum template_code {
	TEMPLATE_OK = 0,
	TEMPLATE_INVALID_JSON,       /* not a JSON object */
	TEMPLATE_KEY_DUPLICATED,     /* a key given twice */
	TEMPLATE_VALUE_NOT_STRING,   /* subject: the key */
	TEMPLATE_KEY_INVALID_CHAR,   /* subject: the key */
	TEMPLATE_KEY_TOO_LONG,       /* subject: the key (cut) */
	TEMPLATE_TOO_MANY,           /* more than TEMPLATE_MAX_KEYS keys */
	TEMPLATE_VALUE_TOO_LONG,     /* subject: the key */
	TEMPLATE_MISSING,            /* a placeholder with no value; subject: its name */
	TEMPLATE_OUTPUT_TOO_LONG,    /* the rendered text passes TEMPLATE_MAX_OUTPUT */
	TEMPLATE_NOMEM,
};

struct template_error {
	enum template_code code;
	char subject[TEMPLATE_MAX_KEY_LEN + 1];
};

/* Is s (len bytes) a valid parameter name? */
int template_name_valid(const char *s, size_t len);
/* Parses text (len bytes) as a parameter object and checks it. Returns 0
 * with *out (a new reference; caller decrefs), or -1 with err set. */
int template_params_parse(const char *text, size_t len, json_t **out, struct template_error *err);
/* Renders content (len bytes) with params over defaults (either may be
 * NULL). Returns 0 with *out (NUL-terminated, malloc'd: caller frees) and
 * *outlen, or -1 with err set (TEMPLATE_MISSING, TEMPLATE_OUTPUT_TOO_LONG,
 * TEMPLATE_NOMEM). */
int template_render(const char *content, size_t len, const json_t *params,
		    const json_t *defaults, char **out, size_t *outlen, struct template_error *err);
/* The valid names of content's placeholders, in order of first use, as a
 * JSON array of strings (new reference), or NULL when out of memory. */
json_t *template_names(const char *content, size_t len);

#endif
