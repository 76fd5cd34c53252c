/* body: JSON request bodies with a field schema; see body.h. */
#include "http/body.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "proto.h"
#include "util.h"

const char *http_ftype_name(enum http_ftype t)
{
	switch (t) {
	case HF_STRING: return "a string";
	case HF_BOOL: return "a boolean";
	case HF_INT: return "an integer";
	case HF_ARRAY: return "an array";
	case HF_OBJECT: return "an object";
	default: return "a value";
	}
}

static bool ftype_ok(enum http_ftype t, json_t *v)
{
	if (json_is_null(v))
		return true; /* null means "not given", as Go decodes it */
	switch (t) {
	case HF_STRING: return json_is_string(v);
	case HF_BOOL: return json_is_boolean(v);
	case HF_INT: return json_is_integer(v);
	case HF_ARRAY: return json_is_array(v);
	case HF_OBJECT: return json_is_object(v);
	default: return true;
	}
}

/* rport's own docs write {operator: "OR", tags: [...]} with bare keys.
 * Quote a bare identifier that stands where an object key must be, so
 * those examples work verbatim; everything else stays strict JSON. */
static int relax_bare_keys(const char *in, size_t len, struct buf *out)
{
	bool in_str = false, esc = false;
	char last = 0;  /* last significant char outside strings */

	for (size_t i = 0; i < len; i++) {
		char ch = in[i];

		if (in_str) {
			if (esc)
				esc = false;
			else if (ch == '\\')
				esc = true;
			else if (ch == '"')
				in_str = false;
			if (buf_append(out, &ch, 1))
				return -1;
			continue;
		}
		if ((last == '{' || last == ',') &&
		    ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_')) {
			size_t j = i, k;

			while (j < len && ((in[j] >= 'A' && in[j] <= 'Z') ||
					   (in[j] >= 'a' && in[j] <= 'z') ||
					   (in[j] >= '0' && in[j] <= '9') || in[j] == '_'))
				j++;
			k = j;
			while (k < len && (in[k] == ' ' || in[k] == '\t' || in[k] == '\n' ||
					   in[k] == '\r'))
				k++;
			if (k < len && in[k] == ':') {
				if (buf_append(out, "\"", 1) || buf_append(out, in + i, j - i) ||
				    buf_append(out, "\"", 1))
					return -1;
				i = j - 1;
				last = '"';
				continue;
			}
		}
		if (ch == '"')
			in_str = true;
		if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r')
			last = ch;
		if (buf_append(out, &ch, 1))
			return -1;
	}
	return 0;
}

static void fail(struct http_body_err *err, enum http_body_error code, const char *field,
		 enum http_ftype type, const char *detail)
{
	err->code = code;
	util_strlcpy(err->field, field ? field : "", sizeof err->field);
	err->type = type;
	util_strlcpy(err->detail, detail ? detail : "", sizeof err->detail);
}

int http_body_parse(const char *body, size_t len, const struct http_field *fields,
		    size_t nfields, unsigned kind, unsigned flags, json_t **out,
		    struct http_body_err *err)
{
	json_error_t jerr;
	const char *key;
	json_t *root, *v;
	char detail[300];

	memset(err, 0, sizeof *err);
	while (len && (body[0] == ' ' || body[0] == '\n' || body[0] == '\r' || body[0] == '\t')) {
		body++;
		len--;
	}
	if (!len) {
		fail(err, HB_EMPTY, NULL, HF_ANY, NULL);
		return -1;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root && (flags & HTTP_BODY_BARE_KEYS)) {
		struct buf relaxed;

		buf_init(&relaxed, len * 2 + 16);
		if (!relax_bare_keys(body, len, &relaxed))
			root = json_loadb(relaxed.data ? relaxed.data : "", relaxed.len,
					  JSON_REJECT_DUPLICATES, NULL);
		buf_free(&relaxed);
	}
	if (!root) {
		fail(err, HB_SYNTAX, NULL, HF_ANY, jerr.text);
		err->line = jerr.line;
		err->column = jerr.column;
		return -1;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		fail(err, HB_NOT_OBJECT, NULL, HF_ANY, NULL);
		return -1;
	}
	if (proto_json_limits(root, 16, 100000, detail, sizeof detail)) {
		json_decref(root);
		fail(err, HB_LIMITS, NULL, HF_ANY, detail);
		return -1;
	}
	json_object_foreach(root, key, v) {
		size_t i;

		for (i = 0; i < nfields; i++)
			if (!strcmp(fields[i].name, key) &&
			    (!fields[i].kinds || (fields[i].kinds & kind)))
				break;
		/* key belongs to root: copied before root goes. */
		if (i == nfields) {
			fail(err, HB_UNKNOWN_FIELD, key, HF_ANY, NULL);
			json_decref(root);
			return -1;
		}
		if (!ftype_ok(fields[i].type, v)) {
			fail(err, HB_WRONG_TYPE, key, fields[i].type, NULL);
			json_decref(root);
			return -1;
		}
	}
	*out = root;
	return 0;
}
