/* template: {{name}} custom parameters (see template.h). */
#include "core/template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static void err_set(struct template_error *err, enum template_code code, const char *subject,
		    size_t len)
{
	err->code = code;
	if (len > TEMPLATE_MAX_KEY_LEN)
		len = TEMPLATE_MAX_KEY_LEN;
	memcpy(err->subject, subject ? subject : "", subject ? len : 0);
	err->subject[subject ? len : 0] = '\0';
}

static int name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

int template_name_valid(const char *s, size_t len)
{
	if (len == 0 || len > TEMPLATE_MAX_KEY_LEN)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!name_char((unsigned char)s[i]))
			return 0;
	return 1;
}

int template_params_parse(const char *text, size_t len, json_t **out, struct template_error *err)
{
	json_error_t je;
	json_t *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je), *v;
	const char *k;

	if (!obj || !json_is_object(obj)) {
		enum template_code c = obj || json_error_code(&je) != json_error_duplicate_key ?
					       TEMPLATE_INVALID_JSON : TEMPLATE_KEY_DUPLICATED;

		json_decref(obj);
		err_set(err, c, NULL, 0);
		return -1;
	}
	if (json_object_size(obj) > TEMPLATE_MAX_KEYS) {
		json_decref(obj);
		err_set(err, TEMPLATE_TOO_MANY, NULL, 0);
		return -1;
	}
	json_object_foreach(obj, k, v) {
		size_t kl = strlen(k);
		enum template_code c = TEMPLATE_OK;

		if (!json_is_string(v))
			c = TEMPLATE_VALUE_NOT_STRING;
		else if (kl > TEMPLATE_MAX_KEY_LEN)
			c = TEMPLATE_KEY_TOO_LONG;
		else if (!template_name_valid(k, kl))
			c = TEMPLATE_KEY_INVALID_CHAR;
		else if (json_string_length(v) > TEMPLATE_MAX_VALUE_LEN)
			c = TEMPLATE_VALUE_TOO_LONG;
		if (c != TEMPLATE_OK) {
			err_set(err, c, k, kl);
			json_decref(obj);
			return -1;
		}
	}
	*out = obj;
	return 0;
}

/* The placeholder at p (p[0..1] == "{{"), if its name is valid: the name's
 * start and length, and the placeholder's whole length. */
static int placeholder_at(const char *p, size_t left, const char **name, size_t *nlen,
			  size_t *whole)
{
	size_t i = 2;

	while (i < left && i - 2 <= TEMPLATE_MAX_KEY_LEN && name_char((unsigned char)p[i]))
		i++;
	if (i + 1 >= left || p[i] != '}' || p[i + 1] != '}' || !template_name_valid(p + 2, i - 2))
		return 0;
	*name = p + 2;
	*nlen = i - 2;
	*whole = i + 2;
	return 1;
}

static const json_t *value_of(const json_t *params, const json_t *defaults, const char *name,
			      size_t nlen)
{
	char key[TEMPLATE_MAX_KEY_LEN + 1];
	const json_t *v;

	memcpy(key, name, nlen);
	key[nlen] = '\0';
	v = params ? json_object_get(params, key) : NULL;
	if (!json_is_string(v))
		v = defaults ? json_object_get(defaults, key) : NULL;
	return json_is_string(v) ? v : NULL;
}

int template_render(const char *content, size_t len, const json_t *params,
		    const json_t *defaults, char **out, size_t *outlen, struct template_error *err)
{
	struct buf b;
	size_t i = 0;

	buf_init(&b, TEMPLATE_MAX_OUTPUT + 1);
	while (i < len) {
		const char *name;
		size_t nlen, whole;
		const json_t *v;
		int rc;

		if (i + 1 < len && content[i] == '{' && content[i + 1] == '{' &&
		    placeholder_at(content + i, len - i, &name, &nlen, &whole)) {
			v = value_of(params, defaults, name, nlen);
			if (!v) {
				err_set(err, TEMPLATE_MISSING, name, nlen);
				buf_free(&b);
				return -1;
			}
			rc = buf_append(&b, json_string_value(v), json_string_length(v));
			i += whole;
		} else {
			rc = buf_append(&b, content + i, 1);
			i++;
		}
		if (rc) {
			err_set(err, rc == TE_NOMEM ? TEMPLATE_NOMEM : TEMPLATE_OUTPUT_TOO_LONG, NULL,
				0);
			buf_free(&b);
			return -1;
		}
	}
	*out = buf_steal(&b, outlen);
	if (!*out) {
		err_set(err, TEMPLATE_NOMEM, NULL, 0);
		return -1;
	}
	return 0;
}

json_t *template_names(const char *content, size_t len)
{
	json_t *names = json_array();
	char key[TEMPLATE_MAX_KEY_LEN + 1];

	for (size_t i = 0; names && i + 1 < len; i++) {
		const char *name;
		size_t nlen, whole;
		int seen = 0;
		size_t j;
		json_t *v;

		if (content[i] != '{' || content[i + 1] != '{' ||
		    !placeholder_at(content + i, len - i, &name, &nlen, &whole))
			continue;
		memcpy(key, name, nlen);
		key[nlen] = '\0';
		json_array_foreach(names, j, v)
			if (!strcmp(json_string_value(v), key))
				seen = 1;
		if (!seen && json_array_append_new(names, json_string(key))) {
			json_decref(names);
			return NULL;
		}
		i += whole - 1;
	}
	return names;
}
