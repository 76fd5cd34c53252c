/* proto: frame validation table and helpers. */
#include "proto.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each type names the fields it requires as a json_unpack format. Extra
 * fields are allowed so that newer peers can add to a frame. */
static const struct {
	const char *name;
	const char *fmt;   /* checked with json_unpack_ex, NULL: type only */
} proto_table[PROTO_TYPE_COUNT] = {
	[PROTO_HELLO] = { "hello", "{s:s, s:s, s:s}" },      /* auth_id, password, id */
	[PROTO_WELCOME] = { "welcome", NULL },
	[PROTO_RUN] = { "run", "{s:s, s:s, s:I}" },          /* jid, command, timeout_sec */
	[PROTO_STARTED] = { "started", "{s:s, s:I}" },       /* jid, pid */
	[PROTO_REJECT] = { "reject", "{s:s, s:s}" },         /* jid, error */
	[PROTO_OUTPUT] = { "output", "{s:s, s:s, s:s}" },    /* jid, stream, data */
	[PROTO_RESULT] = { "result", "{s:s, s:s}" },         /* jid, status */
	[PROTO_CANCEL] = { "cancel", "{s:s}" },              /* jid */
	[PROTO_ACK] = { "ack", "{s:s}" },                    /* jid */
	[PROTO_PING] = { "ping", NULL },
	[PROTO_PONG] = { "pong", NULL },
	[PROTO_ERROR] = { "error", "{s:s}" },                /* message */
	[PROTO_ENROLL] = { "enroll", "{s:s, s:s}" },         /* code, id */
	[PROTO_ENROLLED] = { "enrolled", "{s:s, s:s, s:s}" }, /* auth_id, password, id */
	[PROTO_ACKS] = { "acks", "{s:o}" },                  /* jids (checked below) */
};

static const char *const proto_keys[PROTO_TYPE_COUNT][3] = {
	[PROTO_HELLO] = { "auth_id", "password", "id" },
	[PROTO_RUN] = { "jid", "command", "timeout_sec" },
	[PROTO_STARTED] = { "jid", "pid", NULL },
	[PROTO_REJECT] = { "jid", "error", NULL },
	[PROTO_OUTPUT] = { "jid", "stream", "data" },
	[PROTO_RESULT] = { "jid", "status", NULL },
	[PROTO_CANCEL] = { "jid", NULL, NULL },
	[PROTO_ACK] = { "jid", NULL, NULL },
	[PROTO_ERROR] = { "message", NULL, NULL },
	[PROTO_ENROLL] = { "code", "id", NULL },
	[PROTO_ENROLLED] = { "auth_id", "password", "id" },
	[PROTO_ACKS] = { "jids", NULL, NULL },
};

static int limits_walk(const json_t *v, int depth, int max_depth, size_t max_items,
		       char *err, size_t errlen)
{
	const char *k;
	json_t *x;
	size_t i;

	if (depth > max_depth) {
		snprintf(err, errlen, "JSON nested deeper than %d levels", max_depth);
		return -1;
	}
	if (json_is_array(v)) {
		if (json_array_size(v) > max_items) {
			snprintf(err, errlen, "a JSON array has more than %zu items", max_items);
			return -1;
		}
		json_array_foreach(v, i, x)
			if (limits_walk(x, depth + 1, max_depth, max_items, err, errlen))
				return -1;
	} else if (json_is_object(v)) {
		if (json_object_size(v) > max_items) {
			snprintf(err, errlen, "a JSON object has more than %zu members", max_items);
			return -1;
		}
		json_object_foreach((json_t *)v, k, x)
			if (limits_walk(x, depth + 1, max_depth, max_items, err, errlen))
				return -1;
	}
	return 0;
}

int proto_json_limits(const json_t *v, int max_depth, size_t max_items, char *err,
		      size_t errlen)
{
	return limits_walk(v, 1, max_depth, max_items, err, errlen);
}

const char *proto_type_name(enum proto_type t)
{
	if ((int)t < 0 || t >= PROTO_TYPE_COUNT)
		return "?";
	return proto_table[t].name;
}

/* An acks frame's jids: an array of strings. */
static bool proto_jids_ok(const json_t *a, json_error_t *jerr)
{
	size_t i;
	json_t *v;

	if (!json_is_array(a)) {
		snprintf(jerr->text, sizeof jerr->text, "\"jids\" is not an array");
		return false;
	}
	json_array_foreach(a, i, v) {
		if (!json_is_string(v)) {
			snprintf(jerr->text, sizeof jerr->text, "\"jids\"[%zu] is not a string", i);
			return false;
		}
	}
	return true;
}

int proto_parse(const char *data, size_t len, json_t **out, enum proto_type *type,
		char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *msg, *jt;
	const char *tname;
	int t;

	msg = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!msg) {
		snprintf(err, errlen, "invalid JSON: %s at offset %d", jerr.text,
			 jerr.position);
		return -1;
	}
	if (!json_is_object(msg)) {
		snprintf(err, errlen, "frame is not a JSON object");
		goto fail;
	}
	if (proto_json_limits(msg, 16, 100000, err, errlen))
		goto fail;
	jt = json_object_get(msg, "type");
	tname = json_string_value(jt);
	if (!tname) {
		snprintf(err, errlen, "frame has no string \"type\"");
		goto fail;
	}
	for (t = 0; t < PROTO_TYPE_COUNT; t++)
		if (strcmp(proto_table[t].name, tname) == 0)
			break;
	if (t == PROTO_TYPE_COUNT) {
		snprintf(err, errlen, "unknown frame type \"%.40s\"", tname);
		goto fail;
	}
	if (proto_table[t].fmt) {
		const char *const *k = proto_keys[t];
		const char *s1, *s2, *s3;
		json_int_t i1;
		int rc;

		json_t *o1;

		/* The formats above use only these shapes. */
		if (t == PROTO_ACKS)
			rc = json_unpack_ex(msg, &jerr, 0, proto_table[t].fmt, k[0], &o1) ||
			     !proto_jids_ok(o1, &jerr);
		else if (t == PROTO_RUN)
			rc = json_unpack_ex(msg, &jerr, 0, proto_table[t].fmt, k[0],
					    &s1, k[1], &s2, k[2], &i1);
		else if (t == PROTO_STARTED)
			rc = json_unpack_ex(msg, &jerr, 0, proto_table[t].fmt, k[0],
					    &s1, k[1], &i1);
		else if (k[2])
			rc = json_unpack_ex(msg, &jerr, 0, proto_table[t].fmt, k[0],
					    &s1, k[1], &s2, k[2], &s3);
		else if (k[1])
			rc = json_unpack_ex(msg, &jerr, 0, proto_table[t].fmt, k[0],
					    &s1, k[1], &s2);
		else
			rc = json_unpack_ex(msg, &jerr, 0, proto_table[t].fmt, k[0],
					    &s1);
		if (rc) {
			snprintf(err, errlen, "bad \"%s\" frame: %s", tname, jerr.text);
			goto fail;
		}
	}
	*type = (enum proto_type)t;
	*out = msg;
	return 0;
fail:
	json_decref(msg);
	return -1;
}

char *proto_dump(const json_t *msg, size_t *len)
{
	char *s = json_dumps(msg, JSON_COMPACT);

	if (s && len)
		*len = strlen(s);
	return s;
}

json_t *proto_new(enum proto_type t)
{
	return json_pack("{s:s}", "type", proto_type_name(t));
}

int proto_argv_check(const json_t *argv, char *err, size_t errlen)
{
	size_t n = json_array_size(argv), total = 0, i;
	json_t *v;

	if (!json_is_array(argv)) {
		snprintf(err, errlen, "argv must be an array of strings");
		return -1;
	}
	if (n < 1 || n > PROTO_ARGV_MAX) {
		snprintf(err, errlen, "argv must have 1 to %d entries, not %zu", PROTO_ARGV_MAX, n);
		return -1;
	}
	json_array_foreach(argv, i, v) {
		const char *s = json_string_value(v);
		size_t len = json_string_length(v);

		if (!s) {
			snprintf(err, errlen, "argv[%zu] is not a string", i);
			return -1;
		}
		if (i == 0 && !len) {
			snprintf(err, errlen, "argv[0], the program, is empty");
			return -1;
		}
		if (strlen(s) != len) {
			snprintf(err, errlen, "argv[%zu] holds a NUL byte", i);
			return -1;
		}
		if (len > PROTO_ARGV_ARG_MAX) {
			snprintf(err, errlen, "argv[%zu] is %zu bytes; the limit is %d", i, len,
				 PROTO_ARGV_ARG_MAX);
			return -1;
		}
		total += len;
	}
	if (total > PROTO_ARGV_TOTAL_MAX) {
		snprintf(err, errlen, "argv holds %zu bytes; the limit is %d in all", total,
			 PROTO_ARGV_TOTAL_MAX);
		return -1;
	}
	return 0;
}

/* A word the shell takes as it is: no quoting needed. */
static bool argv_word_plain(const char *s, size_t len, bool first)
{
	if (!len)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			continue;
		if (!strchr("/._-+:,@%=", c) || (first && c == '='))
			return false;
	}
	return true;
}

char *proto_argv_render(const json_t *argv)
{
	size_t need = 1, i, o = 0;
	json_t *v;
	char *out;

	/* Worst case: every byte a quote ('\'' is four), two quotes and a
	 * space per word. */
	json_array_foreach(argv, i, v)
		need += 4 * json_string_length(v) + 3;
	out = malloc(need);
	if (!out)
		return NULL;
	json_array_foreach(argv, i, v) {
		const char *s = json_string_value(v);
		size_t len = json_string_length(v);

		if (i)
			out[o++] = ' ';
		if (argv_word_plain(s, len, i == 0)) {
			memcpy(out + o, s, len);
			o += len;
			continue;
		}
		out[o++] = '\'';
		for (size_t k = 0; k < len; k++) {
			if (s[k] == '\'') {
				memcpy(out + o, "'\\''", 4);
				o += 4;
			} else {
				out[o++] = s[k];
			}
		}
		out[o++] = '\'';
	}
	out[o] = '\0';
	return out;
}
