/* toml: a recursive-descent reader for the TOML subset in toml.h. Every
 * read is bounds-checked against the end of the input; nesting is capped. */
#include "toml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct toml_value {
	toml_type type;
	int line;
	bool header_defined;   /* a [table] header named it */
	bool frozen;           /* inline table or array: no later additions */
	char *str;
	int64_t i;
	double f;
	bool b;
	char **keys;
	struct toml_value **vals;
	size_t n;
	size_t cap;
};

struct parser {
	const char *p;
	const char *end;
	int line;
	char *err;
	size_t errlen;
	bool failed;
};

static void fail(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct parser *ps, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	if (ps->failed)
		return;
	ps->failed = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(ps->err, ps->errlen, "line %d: %s", ps->line, msg);
}

static toml_value *value_new(toml_type t, int line)
{
	toml_value *v = calloc(1, sizeof *v);

	if (v) {
		v->type = t;
		v->line = line;
	}
	return v;
}

void toml_destroy(toml_value *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		if (v->keys)
			free(v->keys[i]);
		toml_destroy(v->vals[i]);
	}
	free(v->keys);
	free(v->vals);
	free(v->str);
	free(v);
}

/* Appends to an array (key NULL) or a table. Takes child. */
static int value_add(toml_value *parent, char *key, toml_value *child)
{
	if (parent->n == parent->cap) {
		size_t nc = parent->cap ? parent->cap * 2 : 4;
		toml_value **nv = realloc(parent->vals, nc * sizeof *nv);
		char **nk;

		if (!nv)
			return -1;
		parent->vals = nv;
		if (parent->type == TOML_TABLE) {
			nk = realloc(parent->keys, nc * sizeof *nk);
			if (!nk)
				return -1;
			parent->keys = nk;
		}
		parent->cap = nc;
	}
	if (parent->type == TOML_TABLE)
		parent->keys[parent->n] = key;
	parent->vals[parent->n++] = child;
	return 0;
}

static toml_value *table_find(const toml_value *t, const char *key)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->keys[i], key))
			return t->vals[i];
	return NULL;
}

/* ---- lexing helpers ------------------------------------------------- */

static bool at_end(const struct parser *ps) { return ps->p >= ps->end; }
static char peek(const struct parser *ps) { return at_end(ps) ? '\0' : *ps->p; }
static char peek_at(const struct parser *ps, size_t k)
{
	return ps->p + k < ps->end ? ps->p[k] : '\0';
}

static void skip_ws(struct parser *ps)
{
	while (!at_end(ps) && (*ps->p == ' ' || *ps->p == '\t'))
		ps->p++;
}

static void skip_comment(struct parser *ps)
{
	if (peek(ps) != '#')
		return;
	while (!at_end(ps) && *ps->p != '\n') {
		unsigned char c = (unsigned char)*ps->p;

		if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) {
			fail(ps, "control character in a comment");
			return;
		}
		ps->p++;
	}
}

/* Whitespace, newlines and comments (inside arrays). */
static void skip_ws_nl(struct parser *ps)
{
	for (;;) {
		skip_ws(ps);
		if (peek(ps) == '#')
			skip_comment(ps);
		if (peek(ps) == '\n') {
			ps->line++;
			ps->p++;
		} else if (peek(ps) == '\r' && peek_at(ps, 1) == '\n') {
			ps->line++;
			ps->p += 2;
		} else {
			return;
		}
	}
}

/* After a key/value or a header: only a comment, then end of line. */
static void expect_eol(struct parser *ps)
{
	skip_ws(ps);
	skip_comment(ps);
	if (at_end(ps))
		return;
	if (*ps->p == '\n') {
		ps->p++;
		ps->line++;
		return;
	}
	if (*ps->p == '\r' && peek_at(ps, 1) == '\n') {
		ps->p += 2;
		ps->line++;
		return;
	}
	fail(ps, "unexpected '%c' after a value (one key = value per line)", *ps->p);
}

static bool is_bare(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

/* ---- strings ----------------------------------------------------------- */

static int put_utf8(struct buf *b, uint32_t cp)
{
	char u[4];
	size_t n;

	if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return -1;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_append(b, u, n);
}

/* Parses a string at ps->p (which starts with ' or "). Returns a malloc'd
 * NUL-terminated string or NULL (error set). */
static char *parse_string(struct parser *ps)
{
	char q = *ps->p;
	bool multi = peek_at(ps, 1) == q && peek_at(ps, 2) == q;
	bool literal = q == '\'';
	struct buf b;

	buf_init(&b, TOML_MAX_FILE);
	ps->p += multi ? 3 : 1;
	/* A newline right after the opening delimiter is trimmed. */
	if (multi) {
		if (peek(ps) == '\n') {
			ps->p++;
			ps->line++;
		} else if (peek(ps) == '\r' && peek_at(ps, 1) == '\n') {
			ps->p += 2;
			ps->line++;
		}
	}
	for (;;) {
		unsigned char c;

		if (at_end(ps)) {
			fail(ps, "unterminated string");
			goto bad;
		}
		c = (unsigned char)*ps->p;
		if (c == (unsigned char)q) {
			if (!multi) {
				ps->p++;
				break;
			}
			if (peek_at(ps, 1) == q && peek_at(ps, 2) == q) {
				/* Up to two quotes may end the content. */
				size_t extra = 0;

				while (extra < 2 && peek_at(ps, 3 + extra) == q)
					extra++;
				if (extra && buf_append(&b, ps->p, extra))
					goto oom;
				ps->p += 3 + extra;
				break;
			}
			if (buf_append(&b, ps->p, 1))
				goto oom;
			ps->p++;
			continue;
		}
		if (c == '\n') {
			if (!multi) {
				fail(ps, "newline in a single-line string");
				goto bad;
			}
			ps->line++;
			if (buf_append(&b, "\n", 1))
				goto oom;
			ps->p++;
			continue;
		}
		if (c == '\r' && peek_at(ps, 1) == '\n' && multi) {
			ps->p++;
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			fail(ps, "control character in a string");
			goto bad;
		}
		if (c == '\\' && !literal) {
			char e = peek_at(ps, 1);
			uint32_t cp = 0;
			int digits = 0;

			ps->p += 2;
			switch (e) {
			case 'b': c = '\b'; break;
			case 't': c = '\t'; break;
			case 'n': c = '\n'; break;
			case 'f': c = '\f'; break;
			case 'r': c = '\r'; break;
			case '"': c = '"'; break;
			case '\\': c = '\\'; break;
			case 'u': digits = 4; break;
			case 'U': digits = 8; break;
			case ' ': case '\t': case '\r': case '\n':
				if (!multi) {
					fail(ps, "invalid escape '\\%c'", e);
					goto bad;
				}
				/* Line-ending backslash: trim whitespace up to the
				 * next non-space character. */
				ps->p--;
				{
					const char *q2 = ps->p;
					bool nl = false;

					while (q2 < ps->end && (*q2 == ' ' || *q2 == '\t' ||
								*q2 == '\r' || *q2 == '\n')) {
						if (*q2 == '\n') {
							nl = true;
							ps->line++;
						}
						q2++;
					}
					if (!nl) {
						fail(ps, "invalid escape '\\ '");
						goto bad;
					}
					ps->p = q2;
				}
				continue;
			default:
				fail(ps, "invalid escape '\\%c'", e ? e : '0');
				goto bad;
			}
			if (digits) {
				for (int k = 0; k < digits; k++) {
					char h = peek(ps);
					int v;

					if (h >= '0' && h <= '9')
						v = h - '0';
					else if (h >= 'a' && h <= 'f')
						v = h - 'a' + 10;
					else if (h >= 'A' && h <= 'F')
						v = h - 'A' + 10;
					else {
						fail(ps, "invalid unicode escape");
						goto bad;
					}
					cp = cp * 16 + (uint32_t)v;
					ps->p++;
				}
				if (put_utf8(&b, cp)) {
					fail(ps, "invalid unicode code point U+%04X", (unsigned)cp);
					goto bad;
				}
				continue;
			}
			if (buf_append(&b, &c, 1))
				goto oom;
			continue;
		}
		if (buf_append(&b, ps->p, 1))
			goto oom;
		ps->p++;
	}
	if (!util_utf8_valid(b.data ? b.data : "", b.len)) {
		fail(ps, "invalid UTF-8 in a string");
		goto bad;
	}
	return buf_steal(&b, NULL);
oom:
	fail(ps, "out of memory");
bad:
	buf_free(&b);
	return NULL;
}

/* ---- keys ------------------------------------------------------------ */

#define MAX_KEY_PARTS 16

/* key = simple-key *( "." simple-key ). Returns the number of parts or -1. */
static int parse_key(struct parser *ps, char *parts[MAX_KEY_PARTS])
{
	int n = 0;

	for (;;) {
		char *k;

		skip_ws(ps);
		if (n == MAX_KEY_PARTS) {
			fail(ps, "key with more than %d parts", MAX_KEY_PARTS);
			goto bad;
		}
		if (peek(ps) == '"' || peek(ps) == '\'') {
			if (peek_at(ps, 1) == peek(ps) && peek_at(ps, 2) == peek(ps)) {
				fail(ps, "a key cannot be a multi-line string");
				goto bad;
			}
			k = parse_string(ps);
			if (!k)
				goto bad;
		} else {
			const char *s = ps->p;

			while (!at_end(ps) && is_bare(*ps->p))
				ps->p++;
			if (ps->p == s) {
				if (at_end(ps))
					fail(ps, "expected a key");
				else
					fail(ps, "expected a key, found '%c'", *ps->p);
				goto bad;
			}
			k = strndup(s, (size_t)(ps->p - s));
			if (!k) {
				fail(ps, "out of memory");
				goto bad;
			}
		}
		parts[n++] = k;
		skip_ws(ps);
		if (peek(ps) != '.')
			return n;
		ps->p++;
	}
bad:
	for (int i = 0; i < n; i++)
		free(parts[i]);
	return -1;
}

static void free_parts(char **parts, int n)
{
	for (int i = 0; i < n; i++)
		free(parts[i]);
}

/* ---- values ------------------------------------------------------------ */

static toml_value *parse_value(struct parser *ps, int depth);

static toml_value *parse_array(struct parser *ps, int depth)
{
	toml_value *a = value_new(TOML_ARRAY, ps->line);

	if (!a) {
		fail(ps, "out of memory");
		return NULL;
	}
	a->frozen = true;
	ps->p++; /* [ */
	for (;;) {
		toml_value *v;

		skip_ws_nl(ps);
		if (ps->failed)
			goto bad;
		if (peek(ps) == ']') {
			ps->p++;
			return a;
		}
		v = parse_value(ps, depth + 1);
		if (!v || value_add(a, NULL, v)) {
			if (v)
				fail(ps, "out of memory");
			toml_destroy(v);
			goto bad;
		}
		skip_ws_nl(ps);
		if (peek(ps) == ',') {
			ps->p++;
			continue;
		}
		if (peek(ps) == ']') {
			ps->p++;
			return a;
		}
		if (at_end(ps))
			fail(ps, "unterminated array");
		else
			fail(ps, "expected ',' or ']' in an array, found '%c'", *ps->p);
		goto bad;
	}
bad:
	toml_destroy(a);
	return NULL;
}

static int set_key(struct parser *ps, toml_value *table, char **parts, int n, toml_value *v);

static toml_value *parse_inline_table(struct parser *ps, int depth)
{
	toml_value *t = value_new(TOML_TABLE, ps->line);

	if (!t) {
		fail(ps, "out of memory");
		return NULL;
	}
	ps->p++; /* { */
	skip_ws(ps);
	if (peek(ps) == '}') {
		ps->p++;
		t->frozen = true;
		return t;
	}
	for (;;) {
		char *parts[MAX_KEY_PARTS];
		int n = parse_key(ps, parts);
		toml_value *v;

		if (n < 0)
			goto bad;
		skip_ws(ps);
		if (peek(ps) != '=') {
			fail(ps, "expected '=' after a key");
			free_parts(parts, n);
			goto bad;
		}
		ps->p++;
		skip_ws(ps);
		v = parse_value(ps, depth + 1);
		if (!v) {
			free_parts(parts, n);
			goto bad;
		}
		if (set_key(ps, t, parts, n, v))
			goto bad;
		skip_ws(ps);
		if (peek(ps) == ',') {
			ps->p++;
			skip_ws(ps);
			continue;
		}
		if (peek(ps) == '}') {
			ps->p++;
			t->frozen = true;
			return t;
		}
		fail(ps, "expected ',' or '}' in an inline table");
		goto bad;
	}
bad:
	toml_destroy(t);
	return NULL;
}

static bool digit_ok(char c, int base)
{
	if (base == 16)
		return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
	if (base == 8)
		return c >= '0' && c <= '7';
	if (base == 2)
		return c == '0' || c == '1';
	return c >= '0' && c <= '9';
}

static toml_value *parse_number(struct parser *ps)
{
	char tmp[128];
	size_t n = 0;
	int base = 10;
	bool is_float = false, prev_digit = false;
	const char *s = ps->p;
	toml_value *v;

	if (peek(ps) == '+' || peek(ps) == '-')
		tmp[n++] = *ps->p++;
	if ((size_t)(ps->end - ps->p) >= 3 &&
	    (!strncmp(ps->p, "inf", 3) || !strncmp(ps->p, "nan", 3))) {
		v = value_new(TOML_FLOAT, ps->line);
		if (!v) {
			fail(ps, "out of memory");
			return NULL;
		}
		v->f = ps->p[0] == 'i' ? (s[0] == '-' ? -INFINITY : INFINITY) : NAN;
		ps->p += 3;
		return v;
	}
	if (n == 0 && peek(ps) == '0' && (peek_at(ps, 1) == 'x' || peek_at(ps, 1) == 'o' ||
					  peek_at(ps, 1) == 'b')) {
		base = peek_at(ps, 1) == 'x' ? 16 : peek_at(ps, 1) == 'o' ? 8 : 2;
		ps->p += 2;
	}
	while (!at_end(ps)) {
		char c = *ps->p;

		if (c == '_') {
			if (!prev_digit || !digit_ok(peek_at(ps, 1), base)) {
				fail(ps, "misplaced '_' in a number");
				return NULL;
			}
			prev_digit = false;
			ps->p++;
			continue;
		}
		if (digit_ok(c, base)) {
			prev_digit = true;
		} else if (base == 10 && (c == '.' || c == 'e' || c == 'E' ||
					  ((c == '+' || c == '-') && n &&
					   (tmp[n - 1] == 'e' || tmp[n - 1] == 'E')))) {
			is_float = true;
			prev_digit = false;
		} else {
			break;
		}
		if (n >= sizeof tmp - 1) {
			fail(ps, "number too long");
			return NULL;
		}
		tmp[n++] = c;
		ps->p++;
	}
	tmp[n] = '\0';
	if (!n || (n == 1 && (tmp[0] == '+' || tmp[0] == '-')) || !prev_digit) {
		fail(ps, "invalid value");
		return NULL;
	}
	v = value_new(is_float ? TOML_FLOAT : TOML_INT, ps->line);
	if (!v) {
		fail(ps, "out of memory");
		return NULL;
	}
	errno = 0;
	if (is_float) {
		char *end;

		/* TOML: digits on both sides of '.'. */
		if (strstr(tmp, ".e") || strstr(tmp, ".E") || tmp[n - 1] == '.' ||
		    tmp[0] == '.' || strstr(tmp, "-.") || strstr(tmp, "+.")) {
			fail(ps, "invalid float");
			toml_destroy(v);
			return NULL;
		}
		v->f = strtod(tmp, &end);
		if (*end) {
			fail(ps, "invalid float");
			toml_destroy(v);
			return NULL;
		}
	} else {
		char *end;
		long long x;

		if (base == 10 && n > 1 && ((tmp[0] == '0') ||
					     ((tmp[0] == '+' || tmp[0] == '-') && tmp[1] == '0' && n > 2))) {
			fail(ps, "leading zeros are not allowed");
			toml_destroy(v);
			return NULL;
		}
		x = strtoll(tmp, &end, base);
		if (errno == ERANGE || *end) {
			fail(ps, "integer out of range");
			toml_destroy(v);
			return NULL;
		}
		v->i = x;
	}
	return v;
}

static toml_value *parse_value(struct parser *ps, int depth)
{
	char c = peek(ps);
	toml_value *v;

	if (depth > TOML_MAX_DEPTH) {
		fail(ps, "nesting deeper than %d", TOML_MAX_DEPTH);
		return NULL;
	}
	if (c == '"' || c == '\'') {
		int line = ps->line;
		char *s = parse_string(ps);

		if (!s)
			return NULL;
		v = value_new(TOML_STRING, line);
		if (!v) {
			free(s);
			fail(ps, "out of memory");
			return NULL;
		}
		v->str = s;
		return v;
	}
	if (c == '[')
		return parse_array(ps, depth);
	if (c == '{')
		return parse_inline_table(ps, depth);
	if ((size_t)(ps->end - ps->p) >= 4 && !strncmp(ps->p, "true", 4) && !is_bare(peek_at(ps, 4))) {
		ps->p += 4;
		v = value_new(TOML_BOOL, ps->line);
		if (v)
			v->b = true;
		return v;
	}
	if ((size_t)(ps->end - ps->p) >= 5 && !strncmp(ps->p, "false", 5) && !is_bare(peek_at(ps, 5))) {
		ps->p += 5;
		return value_new(TOML_BOOL, ps->line);
	}
	if ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == 'i' || c == 'n')
		return parse_number(ps);
	if (at_end(ps) || c == '\n' || c == '\r' || c == '#')
		fail(ps, "missing value");
	else
		fail(ps, "invalid value starting with '%c'", c);
	return NULL;
}

/* ---- tables ------------------------------------------------------------ */

/* Sets a (dotted) key in table to v. Takes parts and v in all cases. */
static int set_key(struct parser *ps, toml_value *table, char **parts, int n, toml_value *v)
{
	toml_value *t = table;
	int i;

	for (i = 0; i < n - 1; i++) {
		toml_value *next = table_find(t, parts[i]);

		if (!next) {
			next = value_new(TOML_TABLE, ps->line);
			if (!next || value_add(t, parts[i], next)) {
				toml_destroy(next);
				fail(ps, "out of memory");
				goto bad;
			}
			parts[i] = NULL;
		} else if (next->type != TOML_TABLE || next->frozen) {
			fail(ps, "key '%s' is already a value", parts[i]);
			goto bad;
		}
		t = next;
	}
	if (table_find(t, parts[n - 1])) {
		fail(ps, "duplicate key '%s'", parts[n - 1]);
		goto bad;
	}
	if (value_add(t, parts[n - 1], v)) {
		fail(ps, "out of memory");
		goto bad;
	}
	parts[n - 1] = NULL;
	free_parts(parts, n - 1);
	return 0;
bad:
	free_parts(parts, n);
	toml_destroy(v);
	return -1;
}

/* [a.b.c]: returns the table to fill, or NULL. */
static toml_value *open_table(struct parser *ps, toml_value *root, char **parts, int n)
{
	toml_value *t = root;

	for (int i = 0; i < n; i++) {
		toml_value *next = table_find(t, parts[i]);

		if (!next) {
			next = value_new(TOML_TABLE, ps->line);
			if (!next || value_add(t, parts[i], next)) {
				toml_destroy(next);
				fail(ps, "out of memory");
				return NULL;
			}
			parts[i] = NULL;
		} else if (next->type != TOML_TABLE || next->frozen) {
			fail(ps, "key '%s' is already a value", parts[i]);
			return NULL;
		}
		if (i == n - 1) {
			if (next->header_defined) {
				fail(ps, "table defined twice");
				return NULL;
			}
			next->header_defined = true;
		}
		t = next;
	}
	return t;
}

int toml_parse(const char *text, size_t len, toml_value **out, char *err, size_t errlen)
{
	struct parser ps = { text, text + len, 1, err, errlen, false };
	toml_value *root, *cur;

	if (len > TOML_MAX_FILE) {
		snprintf(err, errlen, "line 1: file larger than %d bytes", TOML_MAX_FILE);
		return -1;
	}
	root = value_new(TOML_TABLE, 1);
	if (!root) {
		snprintf(err, errlen, "line 1: out of memory");
		return -1;
	}
	cur = root;
	/* A UTF-8 byte order mark is skipped. */
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		ps.p += 3;
	while (!ps.failed) {
		skip_ws_nl(&ps);
		if (ps.failed || at_end(&ps))
			break;
		if (*ps.p == '[') {
			char *parts[MAX_KEY_PARTS];
			int n;

			if (peek_at(&ps, 1) == '[') {
				fail(&ps, "arrays of tables are not supported");
				break;
			}
			ps.p++;
			n = parse_key(&ps, parts);
			if (n < 0)
				break;
			skip_ws(&ps);
			if (peek(&ps) != ']') {
				fail(&ps, "expected ']' after a table name");
				free_parts(parts, n);
				break;
			}
			ps.p++;
			cur = open_table(&ps, root, parts, n);
			free_parts(parts, n);
			if (!cur)
				break;
			expect_eol(&ps);
		} else {
			char *parts[MAX_KEY_PARTS];
			int n = parse_key(&ps, parts);
			toml_value *v;

			if (n < 0)
				break;
			skip_ws(&ps);
			if (peek(&ps) != '=') {
				fail(&ps, "expected '=' after key '%s'", parts[n - 1]);
				free_parts(parts, n);
				break;
			}
			ps.p++;
			skip_ws(&ps);
			v = parse_value(&ps, 1);
			if (!v) {
				free_parts(parts, n);
				break;
			}
			if (set_key(&ps, cur, parts, n, v))
				break;
			expect_eol(&ps);
		}
	}
	if (ps.failed) {
		toml_destroy(root);
		return -1;
	}
	*out = root;
	return 0;
}

int toml_parse_file(const char *path, toml_value **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char msg[300];
	struct buf b;
	char chunk[8192];
	size_t n;
	int rc;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	buf_init(&b, TOML_MAX_FILE);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (buf_append(&b, chunk, n)) {
			fclose(f);
			buf_free(&b);
			snprintf(err, errlen, "%s: larger than %d bytes", path, TOML_MAX_FILE);
			return -1;
		}
	}
	fclose(f);
	rc = toml_parse(b.data ? b.data : "", b.len, out, msg, sizeof msg);
	buf_free(&b);
	if (rc)
		snprintf(err, errlen, "%s: %s", path, msg);
	return rc;
}

toml_type toml_type_of(const toml_value *v) { return v->type; }

const toml_value *toml_get(const toml_value *table, const char *key)
{
	if (!table || table->type != TOML_TABLE)
		return NULL;
	return table_find(table, key);
}

const toml_value *toml_get_path(const toml_value *root, const char *dotted)
{
	char part[256];
	const toml_value *v = root;

	while (v && *dotted) {
		const char *dot = strchr(dotted, '.');
		size_t n = dot ? (size_t)(dot - dotted) : strlen(dotted);

		if (n >= sizeof part)
			return NULL;
		memcpy(part, dotted, n);
		part[n] = '\0';
		v = toml_get(v, part);
		dotted += n + (dot ? 1 : 0);
	}
	return v;
}

size_t toml_len(const toml_value *v)
{
	return v && (v->type == TOML_TABLE || v->type == TOML_ARRAY) ? v->n : 0;
}

const toml_value *toml_at(const toml_value *v, size_t i)
{
	return v && i < toml_len(v) ? v->vals[i] : NULL;
}

const char *toml_key_at(const toml_value *table, size_t i)
{
	return table && table->type == TOML_TABLE && i < table->n ? table->keys[i] : NULL;
}

int toml_line(const toml_value *v) { return v ? v->line : 0; }

const char *toml_string(const toml_value *v)
{
	return v && v->type == TOML_STRING ? v->str : NULL;
}

int toml_int(const toml_value *v, int64_t *out)
{
	if (!v || v->type != TOML_INT)
		return -1;
	*out = v->i;
	return 0;
}

int toml_float(const toml_value *v, double *out)
{
	if (!v)
		return -1;
	if (v->type == TOML_FLOAT)
		*out = v->f;
	else if (v->type == TOML_INT)
		*out = (double)v->i;
	else
		return -1;
	return 0;
}

int toml_bool(const toml_value *v, bool *out)
{
	if (!v || v->type != TOML_BOOL)
		return -1;
	*out = v->b;
	return 0;
}
