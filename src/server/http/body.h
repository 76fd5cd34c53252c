/* body: a request body as a JSON object with a schema of allowed fields
 * and their types (rport's DisallowUnknownFields; Kibana's and TAT's
 * strict parameters). The failures are codes; each dialect words them. */
#ifndef TETHER_HTTP_BODY_H
#define TETHER_HTTP_BODY_H

#include <stddef.h>

#include <jansson.h>

enum http_ftype { HF_STRING, HF_BOOL, HF_INT, HF_ARRAY, HF_OBJECT, HF_ANY };

struct http_field {
	const char *name;
	enum http_ftype type;
	unsigned kinds;        /* the kinds of request that may give it; 0: all */
};

enum http_body_error {
	HB_OK = 0,
	HB_EMPTY,          /* nothing but white space */
	HB_SYNTAX,         /* not JSON: detail, line, column */
	HB_NOT_OBJECT,
	HB_LIMITS,         /* too deep or too many values: detail */
	HB_UNKNOWN_FIELD,  /* field */
	HB_WRONG_TYPE,     /* field, type */
};

struct http_body_err {
	enum http_body_error code;
	char field[128];
	enum http_ftype type;
	char detail[300];
	int line, column;
};

/* Accept bare identifiers as object keys ({operator: "OR"}), as rport's
 * own docs write them; everything else stays strict JSON. */
#define HTTP_BODY_BARE_KEYS 1u

/* Parses body (len bytes) into a JSON object with only the listed fields
 * that a request of this kind (the dialect's bits) may give, each of its
 * type or null (null means "not given"). Returns 0 with *out (new
 * reference), or -1 with err. */
int http_body_parse(const char *body, size_t len, const struct http_field *fields,
		    size_t nfields, unsigned kind, unsigned flags, json_t **out,
		    struct http_body_err *err);
/* "a string", "a boolean", "an integer", "an array", "an object", "a value". */
const char *http_ftype_name(enum http_ftype t);

#endif
