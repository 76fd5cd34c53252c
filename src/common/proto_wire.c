/* proto_wire: the frames that make up a fan-out, without a JSON tree
 * (docs/internals/protocol.md, "Encoding"): a fixed-layout encoder for
 * run and ack frames, and a decoder for flat result and started frames.
 * The decoder is conservative: whatever it does not take plainly (a
 * nested value, a real number, an escaped key, a duplicate key, a number
 * out of range, anything jansson would refuse) it leaves to proto_parse,
 * which gives the error. So a frame means the same on either path. */
#include "proto.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- encoding ---------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	uint32_t cp;
	size_t k;

	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0) {
		k = 2;
		cp = c & 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		k = 3;
		cp = c & 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		k = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (k > n)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return k;
}

int proto_put_str(struct buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF"; /* as jansson writes them */
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0;

	if (buf_append(b, "\"", 1))
		return TE_NOMEM;
	while (i < len) {
		unsigned char c = u[i];
		char esc[6];
		size_t el = 0, k;

		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0x80) {
			k = utf8_seq(u + i, len - i);
			if (!k)
				return TE_INVAL;
			i += k;
			continue;
		}
		/* Flush the plain run before the byte that needs an escape. */
		if (buf_append(b, s + run, i - run))
			return TE_NOMEM;
		esc[0] = '\\';
		switch (c) {
		case '"': esc[1] = '"'; el = 2; break;
		case '\\': esc[1] = '\\'; el = 2; break;
		case '\n': esc[1] = 'n'; el = 2; break;
		case '\r': esc[1] = 'r'; el = 2; break;
		case '\t': esc[1] = 't'; el = 2; break;
		case '\b': esc[1] = 'b'; el = 2; break;
		case '\f': esc[1] = 'f'; el = 2; break;
		default:
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			el = 6;
			break;
		}
		if (buf_append(b, esc, el))
			return TE_NOMEM;
		run = ++i;
	}
	if (buf_append(b, s + run, len - run) || buf_append(b, "\"", 1))
		return TE_NOMEM;
	return 0;
}

/* Appends ,"key": (key: plain ASCII), in one append. */
static int put_key(struct buf *b, const char *key)
{
	char t[64];
	size_t n = strlen(key);

	if (n > sizeof t - 4)
		return buf_append(b, ",\"", 2) || buf_append(b, key, n) ||
			       buf_append(b, "\":", 2) ? TE_NOMEM : 0;
	t[0] = ',';
	t[1] = '"';
	memcpy(t + 2, key, n);
	t[n + 2] = '"';
	t[n + 3] = ':';
	return buf_append(b, t, n + 4) ? TE_NOMEM : 0;
}

/* ,"key": then the string (NULL: an empty one). */
static int put_kstr(struct buf *b, const char *key, const char *v)
{
	if (put_key(b, key))
		return TE_NOMEM;
	return proto_put_str(b, v ? v : "", v ? strlen(v) : 0);
}

static int put_kbool(struct buf *b, const char *key, bool v)
{
	return put_key(b, key) || buf_append(b, v ? "true" : "false", v ? 4 : 5) ? TE_NOMEM : 0;
}

/* ,"key":v in decimal. */
static int put_kint(struct buf *b, const char *key, long long v)
{
	return put_key(b, key) || buf_append_int(b, v) ? TE_NOMEM : 0;
}

int proto_run_encode(struct buf *b, const struct proto_run *r)
{
	int rc;

	if (buf_append(b, "{\"type\":\"run\"", 13))
		return TE_NOMEM;
	if ((rc = put_kstr(b, "jid", r->jid)) || (rc = put_kstr(b, "command", r->command)))
		return rc;
	if (r->argv) {
		size_t i;
		json_t *v;

		if (buf_append(b, ",\"argv\":[", 9))
			return TE_NOMEM;
		json_array_foreach(r->argv, i, v) {
			if (!json_is_string(v))
				return TE_INVAL;
			if (i && buf_append(b, ",", 1))
				return TE_NOMEM;
			rc = proto_put_str(b, json_string_value(v), json_string_length(v));
			if (rc)
				return rc;
		}
		if (buf_append(b, "]", 1))
			return TE_NOMEM;
	}
	if ((rc = put_kstr(b, "interpreter", r->interpreter)) || (rc = put_kstr(b, "cwd", r->cwd)) ||
	    (rc = put_kbool(b, "is_sudo", r->is_sudo)))
		return rc;
	if (r->run_as && *r->run_as && (rc = put_kstr(b, "run_as", r->run_as)))
		return rc;
	if ((rc = put_kbool(b, "is_script", r->is_script)) ||
	    (rc = put_kbool(b, "kill_on_timeout", r->kill_on_timeout)))
		return rc;
	if (r->stream && buf_append(b, ",\"stream\":true", 14))
		return TE_NOMEM;
	if (r->output_cap > 0 && put_kint(b, "output_cap", r->output_cap))
		return TE_NOMEM;
	return put_kint(b, "timeout_sec", r->timeout_sec);
}

int proto_put_jids(struct buf *b, const char *key, const char (*jids)[UUID_STR_LEN], size_t n)
{
	if (put_key(b, key) || buf_append(b, "[", 1))
		return TE_NOMEM;
	for (size_t i = 0; i < n; i++)
		if ((i && buf_append(b, ",", 1)) || proto_put_str(b, jids[i], strlen(jids[i])))
			return TE_NOMEM;
	return buf_append(b, "]", 1) ? TE_NOMEM : 0;
}

int proto_ack_encode(struct buf *b, const char *jid)
{
	if (buf_append(b, "{\"type\":\"ack\"", 13) || put_kstr(b, "jid", jid) ||
	    buf_append(b, "}", 1))
		return TE_NOMEM;
	return 0;
}

int proto_acks_encode(struct buf *b, const char (*jids)[UUID_STR_LEN], size_t n)
{
	if (buf_append(b, "{\"type\":\"acks\"", 14) || proto_put_jids(b, "jids", jids, n) ||
	    buf_append(b, "}", 1))
		return TE_NOMEM;
	return 0;
}

/* ---- decoding ---------------------------------------------------------- */

#define FLAT_MAX 32

enum vkind { V_STR, V_INT, V_NULL, V_TRUE, V_FALSE };

struct kv {
	const char *key;
	size_t klen;
	enum vkind kind;
	const char *s;          /* V_STR: unescaped, NUL-terminated, in the arena */
	size_t slen;
	long long i;
};

struct rd {
	const char *p, *end;
	char *arena;
};

static void skip_ws(struct rd *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int read_u4(const char *p, const char *end, uint32_t *out)
{
	uint32_t v = 0;

	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int h = hexval(p[i]);

		if (h < 0)
			return -1;
		v = v << 4 | (uint32_t)h;
	}
	*out = v;
	return 0;
}

static size_t utf8_put(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A string after its opening quote, unescaped into the arena. No more
 * bytes are written than the source takes, its quotes included, so the
 * arena never needs more than the frame's length plus one. */
static int read_str(struct rd *r, const char **out, size_t *outlen)
{
	char *o = r->arena, *start = r->arena;

	for (;;) {
		const char *q = r->p;
		size_t k;

		while (q < r->end && (unsigned char)*q >= 0x20 && *q != '"' && *q != '\\' &&
		       (unsigned char)*q < 0x80)
			q++;
		memcpy(o, r->p, (size_t)(q - r->p));
		o += q - r->p;
		r->p = q;
		if (r->p >= r->end)
			return -1;
		if (*r->p == '"') {
			r->p++;
			break;
		}
		if ((unsigned char)*r->p < 0x20)
			return -1;
		if ((unsigned char)*r->p >= 0x80) {
			k = utf8_seq((const unsigned char *)r->p, (size_t)(r->end - r->p));
			if (!k)
				return -1;
			memcpy(o, r->p, k);
			o += k;
			r->p += k;
			continue;
		}
		/* A backslash. */
		if (r->end - r->p < 2)
			return -1;
		switch (r->p[1]) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '/': *o++ = '/'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u': {
			uint32_t cp, lo;

			if (read_u4(r->p + 2, r->end, &cp) || cp == 0)
				return -1;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return -1;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (r->end - r->p < 12 || r->p[6] != '\\' || r->p[7] != 'u' ||
				    read_u4(r->p + 8, r->end, &lo) || lo < 0xdc00 || lo > 0xdfff)
					return -1;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				r->p += 6;
			}
			o += utf8_put(o, cp);
			r->p += 6;
			continue;
		}
		default:
			return -1;
		}
		r->p += 2;
	}
	*o = '\0';
	*out = start;
	*outlen = (size_t)(o - start);
	r->arena = o + 1;
	return 0;
}

/* An integer as JSON writes it (no fraction or exponent), in range. */
static int read_int(struct rd *r, long long *out)
{
	const char *p = r->p;
	bool neg = false;
	unsigned long long v = 0;

	if (p < r->end && *p == '-') {
		neg = true;
		p++;
	}
	if (p >= r->end || *p < '0' || *p > '9')
		return -1;
	if (*p == '0' && p + 1 < r->end && p[1] >= '0' && p[1] <= '9')
		return -1;
	while (p < r->end && *p >= '0' && *p <= '9') {
		unsigned d = (unsigned)(*p - '0');

		if (v > (9223372036854775808ULL - d) / 10)
			return -1;
		v = v * 10 + d;
		p++;
	}
	if (p < r->end && (*p == '.' || *p == 'e' || *p == 'E'))
		return -1;
	if (!neg && v > 9223372036854775807ULL)
		return -1;
	*out = neg ? (long long)(0 - v) : (long long)v;
	r->p = p;
	return 0;
}

static int read_word(struct rd *r, const char *w, size_t n)
{
	if ((size_t)(r->end - r->p) < n || memcmp(r->p, w, n))
		return -1;
	r->p += n;
	return 0;
}

/* A flat object: keys without escapes, scalar values. */
static int read_flat(struct rd *r, struct kv *kv, size_t *nkv)
{
	size_t n = 0;

	skip_ws(r);
	if (r->p >= r->end || *r->p++ != '{')
		return -1;
	skip_ws(r);
	if (r->p < r->end && *r->p == '}') {
		r->p++;
		goto end;
	}
	for (;;) {
		struct kv *e;
		const char *k;

		if (n == FLAT_MAX)
			return -1;
		e = &kv[n++];
		skip_ws(r);
		if (r->p >= r->end || *r->p++ != '"')
			return -1;
		k = r->p;
		while (r->p < r->end && *r->p != '"' && *r->p != '\\' &&
		       (unsigned char)*r->p >= 0x20 && (unsigned char)*r->p < 0x80)
			r->p++;
		if (r->p >= r->end || *r->p != '"')
			return -1;
		e->key = k;
		e->klen = (size_t)(r->p - k);
		r->p++;
		for (size_t j = 0; j + 1 < n; j++)
			if (kv[j].klen == e->klen && !memcmp(kv[j].key, k, e->klen))
				return -1;
		skip_ws(r);
		if (r->p >= r->end || *r->p++ != ':')
			return -1;
		skip_ws(r);
		if (r->p >= r->end)
			return -1;
		switch (*r->p) {
		case '"':
			r->p++;
			e->kind = V_STR;
			if (read_str(r, &e->s, &e->slen))
				return -1;
			break;
		case 'n':
			e->kind = V_NULL;
			if (read_word(r, "null", 4))
				return -1;
			break;
		case 't':
			e->kind = V_TRUE;
			if (read_word(r, "true", 4))
				return -1;
			break;
		case 'f':
			e->kind = V_FALSE;
			if (read_word(r, "false", 5))
				return -1;
			break;
		default:
			e->kind = V_INT;
			if (read_int(r, &e->i))
				return -1;
			break;
		}
		skip_ws(r);
		if (r->p >= r->end)
			return -1;
		if (*r->p == ',') {
			r->p++;
			continue;
		}
		if (*r->p++ != '}')
			return -1;
		break;
	}
end:
	skip_ws(r);
	if (r->p != r->end)
		return -1;
	*nkv = n;
	return 0;
}

static const struct kv *kv_get(const struct kv *kv, size_t n, const char *key)
{
	size_t kl = strlen(key);

	for (size_t i = 0; i < n; i++)
		if (kv[i].klen == kl && !memcmp(kv[i].key, key, kl))
			return &kv[i];
	return NULL;
}

/* As json_string_value: NULL unless a string. */
static const char *kv_str(const struct kv *kv, size_t n, const char *key, size_t *len)
{
	const struct kv *e = kv_get(kv, n, key);

	if (!e || e->kind != V_STR) {
		if (len)
			*len = 0;
		return NULL;
	}
	if (len)
		*len = e->slen;
	return e->s;
}

/* As json_integer_value: 0 unless an integer. */
static long long kv_int(const struct kv *kv, size_t n, const char *key, bool *is_int)
{
	const struct kv *e = kv_get(kv, n, key);
	bool ok = e && e->kind == V_INT;

	if (is_int)
		*is_int = ok;
	return ok ? e->i : 0;
}

static void result_fill(struct proto_result *o, const struct kv *kv, size_t n)
{
	memset(o, 0, sizeof *o);
	o->jid = kv_str(kv, n, "jid", NULL);
	o->status = kv_str(kv, n, "status", NULL);
	o->error = kv_str(kv, n, "error", NULL);
	o->out[0] = kv_str(kv, n, "stdout", &o->out_len[0]);
	o->out[1] = kv_str(kv, n, "stderr", &o->out_len[1]);
	o->enc[0] = kv_str(kv, n, "stdout_encoding", NULL);
	o->enc[1] = kv_str(kv, n, "stderr_encoding", NULL);
	o->exit_code = kv_int(kv, n, "exit_code", &o->has_exit_code);
	o->dropped[0] = kv_int(kv, n, "stdout_dropped", NULL);
	o->dropped[1] = kv_int(kv, n, "stderr_dropped", NULL);
	o->pid = kv_int(kv, n, "pid", NULL);
	o->output_cap = kv_int(kv, n, "output_cap", NULL);
	o->started_at = kv_str(kv, n, "started_at", NULL);
	o->finished_at = kv_str(kv, n, "finished_at", NULL);
}

int proto_fast_decode(const char *data, size_t len, char *arena, struct proto_result *res,
		      struct proto_started *st)
{
	struct kv kv[FLAT_MAX];
	struct rd r = { data, data + len, arena };
	const char *type;
	size_t n;
	bool pid_int;

	if (read_flat(&r, kv, &n))
		return -1;
	type = kv_str(kv, n, "type", NULL);
	if (!type)
		return -1;
	if (!strcmp(type, "result")) {
		/* Required: jid and status, strings. */
		result_fill(res, kv, n);
		if (!res->jid || !res->status)
			return -1;
		return PROTO_RESULT;
	}
	if (!strcmp(type, "started")) {
		memset(st, 0, sizeof *st);
		st->jid = kv_str(kv, n, "jid", NULL);
		st->pid = kv_int(kv, n, "pid", &pid_int);
		st->started_at = kv_str(kv, n, "started_at", NULL);
		if (!st->jid || !pid_int)
			return -1;
		return PROTO_STARTED;
	}
	return -1;
}

void proto_result_from_json(struct proto_result *o, const json_t *m)
{
	json_t *v;

	memset(o, 0, sizeof *o);
	o->jid = json_string_value(json_object_get(m, "jid"));
	o->status = json_string_value(json_object_get(m, "status"));
	o->error = json_string_value(json_object_get(m, "error"));
	for (int i = 0; i < 2; i++) {
		v = json_object_get(m, i ? "stderr" : "stdout");
		o->out[i] = json_string_value(v);
		o->out_len[i] = o->out[i] ? json_string_length(v) : 0;
		o->enc[i] = json_string_value(json_object_get(m, i ? "stderr_encoding" :
							      "stdout_encoding"));
		o->dropped[i] = json_integer_value(json_object_get(m, i ? "stderr_dropped" :
								   "stdout_dropped"));
	}
	v = json_object_get(m, "exit_code");
	o->has_exit_code = json_is_integer(v);
	o->exit_code = json_integer_value(v);
	o->pid = json_integer_value(json_object_get(m, "pid"));
	o->output_cap = json_integer_value(json_object_get(m, "output_cap"));
	o->started_at = json_string_value(json_object_get(m, "started_at"));
	o->finished_at = json_string_value(json_object_get(m, "finished_at"));
}

void proto_started_from_json(struct proto_started *o, const json_t *m)
{
	o->jid = json_string_value(json_object_get(m, "jid"));
	o->pid = json_integer_value(json_object_get(m, "pid"));
	o->started_at = json_string_value(json_object_get(m, "started_at"));
}
