/* toml: a recursive-descent reader for the TOML subset described in toml.h.
 *
 * Safety rules the code keeps to (it is fuzzed with ASan/UBSan):
 *   - every read goes through peek()/peek_at(), which check the end of the
 *     input, so the text need not be NUL-terminated;
 *   - recursion is bounded by TOML_MAX_DEPTH, both while parsing and in
 *     toml_destroy, because every container is at most that deep;
 *   - each function that allocates either hands the allocation to the tree
 *     or frees it on its error path; the first error stops the parse.
 *
 * Tables remember how they came to exist, which is what TOML's redefinition
 * rules depend on: implicitly (as a parent in a [a.b] header), by a header,
 * by dotted keys, or as an inline table (closed once written). */
#include "toml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum origin {
	ORIGIN_VALUE,    /* not a table */
	ORIGIN_IMPLICIT, /* parent named in a header: [a.b] creates a */
	ORIGIN_HEADER,   /* defined by its own [header] */
	ORIGIN_DOTTED,   /* created by a dotted key: a.b = 1 creates a */
	ORIGIN_INLINE,   /* { ... } or the root: closed to later additions */
};

/* Tables with at least this many keys get a hash index, so that a large
 * (up to 1 MiB) file does not make duplicate checks quadratic. */
#define INDEX_MIN 16

struct toml_value {
	toml_type type;
	int line;
	enum origin origin;
	char *str;
	int64_t i;
	double f;
	bool b;
	/* Arrays and tables: values (and keys for tables) in file order. */
	char **keys;
	struct toml_value **vals;
	size_t n;
	size_t cap;
	/* Open-addressing index into keys: slot holds entry + 1, 0 is empty. */
	uint32_t *index;
	size_t index_cap;
};

struct parser {
	const char *p;
	const char *end;
	int line;
	char *err;
	size_t errlen;
	bool failed;
};

/* ---- errors ---------------------------------------------------------- */

static void vfail_at(struct parser *ps, int line, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void vfail_at(struct parser *ps, int line, const char *fmt, va_list ap)
{
	char msg[256];

	/* Only the first error is reported: later ones are consequences. */
	if (ps->failed)
		return;
	ps->failed = true;
	if (!ps->err || !ps->errlen)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	snprintf(ps->err, ps->errlen, "line %d: %s", line, msg);
}

static void fail(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct parser *ps, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail_at(ps, ps->line, fmt, ap);
	va_end(ap);
}

static void fail_at(struct parser *ps, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail_at(struct parser *ps, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail_at(ps, line, fmt, ap);
	va_end(ap);
}

/* Quotes a byte for a message: 'x' if printable ASCII, else "byte 0xNN"
 * (so messages stay printable and valid UTF-8 whatever the input). */
static const char *show_char(char c, char buf[16])
{
	unsigned char u = (unsigned char)c;

	if (u > 0x20 && u < 0x7f)
		snprintf(buf, 16, "'%c'", c);
	else
		snprintf(buf, 16, "byte 0x%02x", u);
	return buf;
}

/* Copies a key into buf for a message: at most 60 bytes, cut on a UTF-8
 * boundary, control characters shown as '?'. */
static const char *show_key(const char *k, char buf[72])
{
	size_t n = 0, len = strlen(k);

	while (n < len && n < 60) {
		unsigned char u = (unsigned char)k[n];

		buf[n] = (u < 0x20 || u == 0x7f) ? '?' : (char)u;
		n++;
	}
	if (n < len) {
		/* Back up over a cut multi-byte sequence. */
		while (n > 0 && ((unsigned char)buf[n - 1] & 0xc0) == 0x80)
			n--;
		if (n > 0 && (unsigned char)buf[n - 1] >= 0xc0)
			n--;
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

/* ---- values and tables ------------------------------------------------ */

static toml_value *value_new(toml_type t, int line, enum origin origin)
{
	toml_value *v = calloc(1, sizeof *v);

	if (v) {
		v->type = t;
		v->line = line;
		v->origin = origin;
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
	free(v->index);
	free(v->str);
	free(v);
}

/* FNV-1a. */
static uint32_t key_hash(const char *k, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)k[i];
		h *= 16777619u;
	}
	return h;
}

static bool key_eq(const char *stored, const char *k, size_t n)
{
	return !strncmp(stored, k, n) && stored[n] == '\0';
}

/* The entry of table t named by the n bytes at k, or NULL. */
static toml_value *table_find_n(const toml_value *t, const char *k, size_t n)
{
	if (t->index) {
		size_t mask = t->index_cap - 1;

		for (size_t s = key_hash(k, n) & mask;; s = (s + 1) & mask) {
			uint32_t e = t->index[s];

			if (!e)
				return NULL;
			if (key_eq(t->keys[e - 1], k, n))
				return t->vals[e - 1];
		}
	}
	for (size_t i = 0; i < t->n; i++)
		if (key_eq(t->keys[i], k, n))
			return t->vals[i];
	return NULL;
}

static void index_put(toml_value *t, size_t entry)
{
	const char *k = t->keys[entry];
	size_t mask = t->index_cap - 1;
	size_t s = key_hash(k, strlen(k)) & mask;

	while (t->index[s])
		s = (s + 1) & mask;
	t->index[s] = (uint32_t)(entry + 1);
}

/* Keeps the index at most half full. Without memory for it the table
 * simply falls back to linear search, so this cannot fail. */
static void index_update(toml_value *t)
{
	size_t cap;

	if (t->n < INDEX_MIN)
		return;
	if (t->index && t->n * 2 <= t->index_cap) {
		index_put(t, t->n - 1);
		return;
	}
	free(t->index);
	t->index = NULL;
	t->index_cap = 0;
	for (cap = 64; cap < t->n * 4; cap *= 2)
		;
	t->index = calloc(cap, sizeof *t->index);
	if (!t->index)
		return;
	t->index_cap = cap;
	for (size_t i = 0; i < t->n; i++)
		index_put(t, i);
}

/* Appends child to an array (key NULL) or a table. On success the parent
 * owns key and child; on failure (out of memory) the caller still does. */
static int value_add(toml_value *parent, char *key, toml_value *child)
{
	if (parent->n == parent->cap) {
		size_t nc = parent->cap ? parent->cap * 2 : 4;
		toml_value **nv = realloc(parent->vals, nc * sizeof *nv);

		if (!nv)
			return -1;
		parent->vals = nv;
		if (parent->type == TOML_TABLE) {
			char **nk = realloc(parent->keys, nc * sizeof *nk);

			if (!nk)
				return -1;
			parent->keys = nk;
		}
		parent->cap = nc;
	}
	if (parent->type == TOML_TABLE)
		parent->keys[parent->n] = key;
	parent->vals[parent->n++] = child;
	if (parent->type == TOML_TABLE)
		index_update(parent);
	return 0;
}

/* ---- lexing helpers ---------------------------------------------------- */

static bool at_end(const struct parser *ps)
{
	return ps->p >= ps->end;
}

static char peek(const struct parser *ps)
{
	return at_end(ps) ? '\0' : *ps->p;
}

static char peek_at(const struct parser *ps, size_t k)
{
	return (size_t)(ps->end - ps->p) > k ? ps->p[k] : '\0';
}

static bool at_newline(const struct parser *ps)
{
	return peek(ps) == '\n' || (peek(ps) == '\r' && peek_at(ps, 1) == '\n');
}

/* Consumes "\n" or "\r\n" if there is one. */
static bool eat_newline(struct parser *ps)
{
	if (peek(ps) == '\n') {
		ps->p++;
	} else if (peek(ps) == '\r' && peek_at(ps, 1) == '\n') {
		ps->p += 2;
	} else {
		return false;
	}
	ps->line++;
	return true;
}

static void skip_ws(struct parser *ps)
{
	while (!at_end(ps) && (*ps->p == ' ' || *ps->p == '\t'))
		ps->p++;
}

/* A comment runs to the end of the line. TOML forbids control characters
 * in it; other bytes are not checked, so a Latin-1 comment in an old file
 * is tolerated. */
static void skip_comment(struct parser *ps)
{
	if (peek(ps) != '#')
		return;
	while (!at_end(ps) && !at_newline(ps)) {
		unsigned char c = (unsigned char)*ps->p;

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			fail(ps, "control character in a comment");
			return;
		}
		ps->p++;
	}
}

/* Whitespace, comments and newlines (between array elements). */
static void skip_ws_nl(struct parser *ps)
{
	while (!ps->failed) {
		skip_ws(ps);
		skip_comment(ps);
		if (!eat_newline(ps))
			return;
	}
}

/* After a key/value pair or a header only a comment may follow on the line. */
static void expect_eol(struct parser *ps, const char *after)
{
	char cb[16];

	skip_ws(ps);
	skip_comment(ps);
	if (ps->failed || at_end(ps) || eat_newline(ps))
		return;
	fail(ps, "unexpected %s after %s", show_char(*ps->p, cb), after);
}

static bool is_bare(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* ---- strings ----------------------------------------------------------- */

struct sbuf {
	char *d;
	size_t n;
	size_t cap;
};

static int sbuf_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->cap - b->n <= n) {
		size_t nc = b->cap ? b->cap : 32;
		char *nd;

		while (nc - b->n <= n)
			nc *= 2;
		nd = realloc(b->d, nc);
		if (!nd)
			return -1;
		b->d = nd;
		b->cap = nc;
	}
	memcpy(b->d + b->n, s, n);
	b->n += n;
	b->d[b->n] = '\0';
	return 0;
}

static int sbuf_put_utf8(struct sbuf *b, uint32_t cp)
{
	char u[4];
	size_t n;

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
	return sbuf_put(b, u, n);
}

/* Length of the well-formed UTF-8 sequence at s (avail bytes left), or 0.
 * Rejects overlong forms, surrogates and code points above U+10FFFF
 * (the table in RFC 3629, section 4). */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (avail < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

static int hex_val(char h)
{
	if (h >= '0' && h <= '9')
		return h - '0';
	if (h >= 'a' && h <= 'f')
		return h - 'a' + 10;
	if (h >= 'A' && h <= 'F')
		return h - 'A' + 10;
	return -1;
}

/* After a backslash in a basic string (ps->p on the character after it).
 * Appends the escaped character; returns 0 or -1 (error set). */
static int parse_escape(struct parser *ps, struct sbuf *b, bool multi)
{
	char e = peek(ps);
	char c, cb[16];
	int digits = 0;
	uint32_t cp = 0;

	switch (e) {
	case 'b': c = '\b'; break;
	case 't': c = '\t'; break;
	case 'n': c = '\n'; break;
	case 'f': c = '\f'; break;
	case 'r': c = '\r'; break;
	case '"': c = '"'; break;
	case '\\': c = '\\'; break;
	case 'u': digits = 4; c = 0; break;
	case 'U': digits = 8; c = 0; break;
	default:
		if (multi && (e == ' ' || e == '\t' || at_newline(ps))) {
			/* Line-ending backslash: only blanks may follow it on the
			 * line; it eats the newline and all blanks and newlines up
			 * to the next other character. */
			const char *save = ps->p;

			skip_ws(ps);
			if (!eat_newline(ps)) {
				ps->p = save;
				fail(ps, "invalid escape: backslash followed by blanks "
					 "(a line-ending backslash must end its line)");
				return -1;
			}
			do
				skip_ws(ps);
			while (eat_newline(ps));
			return 0;
		}
		if (e > 0x20 && e < 0x7f)
			fail(ps, "invalid escape '\\%c'", e);
		else
			fail(ps, "invalid escape: backslash followed by %s",
			     at_end(ps) ? "the end of the input" : show_char(e, cb));
		return -1;
	}
	ps->p++;
	if (!digits) {
		if (sbuf_put(b, &c, 1)) {
			fail(ps, "out of memory");
			return -1;
		}
		return 0;
	}
	for (int k = 0; k < digits; k++) {
		int v = hex_val(peek(ps));

		if (v < 0) {
			fail(ps, "invalid unicode escape (\\%c needs %d hex digits)", e, digits);
			return -1;
		}
		cp = cp * 16 + (uint32_t)v;
		ps->p++;
	}
	if (cp == 0) {
		/* The API hands out C strings: a NUL would silently cut them. */
		fail(ps, "NUL characters are not supported in strings");
		return -1;
	}
	if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
		fail(ps, "invalid unicode code point U+%04X", (unsigned)cp);
		return -1;
	}
	if (sbuf_put_utf8(b, cp)) {
		fail(ps, "out of memory");
		return -1;
	}
	return 0;
}

/* Parses a string at ps->p (which is on ' or "). Returns a malloc'd,
 * NUL-terminated, valid UTF-8 string, or NULL with the error set. */
static char *parse_string(struct parser *ps)
{
	char q = *ps->p;
	bool multi = peek_at(ps, 1) == q && peek_at(ps, 2) == q;
	bool literal = q == '\'';
	struct sbuf b = { NULL, 0, 0 };

	if (sbuf_put(&b, "", 0))
		goto oom;
	ps->p += multi ? 3 : 1;
	/* A newline right after the opening delimiter is not part of it. */
	if (multi)
		eat_newline(ps);
	for (;;) {
		unsigned char c;

		if (at_end(ps)) {
			fail(ps, "unterminated string");
			goto bad;
		}
		c = (unsigned char)*ps->p;
		if (c == (unsigned char)q) {
			size_t run = 1;

			if (!multi) {
				ps->p++;
				break;
			}
			while (run < 5 && peek_at(ps, run) == q)
				run++;
			if (run >= 3) {
				/* """"" ends with two quotes of content: the last
				 * three of a run are the delimiter. */
				if (sbuf_put(&b, ps->p, run - 3))
					goto oom;
				ps->p += run;
				break;
			}
			if (sbuf_put(&b, ps->p, run))
				goto oom;
			ps->p += run;
			continue;
		}
		if (at_newline(ps)) {
			if (!multi) {
				fail(ps, "newline in a single-line string");
				goto bad;
			}
			eat_newline(ps);
			if (sbuf_put(&b, "\n", 1))
				goto oom;
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			fail(ps, "control character in a string (use an escape)");
			goto bad;
		}
		if (c == '\\' && !literal) {
			ps->p++;
			if (parse_escape(ps, &b, multi))
				goto bad;
			continue;
		}
		if (c >= 0x80) {
			size_t n = utf8_seq_len((const unsigned char *)ps->p,
						(size_t)(ps->end - ps->p));

			if (!n) {
				fail(ps, "invalid UTF-8 in a string");
				goto bad;
			}
			if (sbuf_put(&b, ps->p, n))
				goto oom;
			ps->p += n;
			continue;
		}
		if (sbuf_put(&b, ps->p, 1))
			goto oom;
		ps->p++;
	}
	return b.d;
oom:
	fail(ps, "out of memory");
bad:
	free(b.d);
	return NULL;
}

/* ---- keys ---------------------------------------------------------------- */

/* key = simple-key *( "." simple-key ), with blanks around the dots.
 * Fills parts (caller frees each with free_parts) and returns their
 * number, or -1 with the error set and nothing to free. */
static int parse_key(struct parser *ps, char *parts[TOML_MAX_DEPTH])
{
	char cb[16];
	int n = 0;

	for (;;) {
		char *k;

		skip_ws(ps);
		if (n == TOML_MAX_DEPTH) {
			fail(ps, "key with more than %d parts", TOML_MAX_DEPTH);
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
				if (at_end(ps) || at_newline(ps))
					fail(ps, "expected a key");
				else
					fail(ps, "expected a key, found %s", show_char(*ps->p, cb));
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

/* ---- values -------------------------------------------------------------- */

static toml_value *parse_value(struct parser *ps, int depth);
static int parse_keyval(struct parser *ps, toml_value *table, int depth);

static toml_value *parse_array(struct parser *ps, int depth)
{
	toml_value *a = value_new(TOML_ARRAY, ps->line, ORIGIN_VALUE);
	char cb[16];

	if (!a) {
		fail(ps, "out of memory");
		return NULL;
	}
	ps->p++; /* [ */
	for (;;) {
		toml_value *v;

		skip_ws_nl(ps);
		if (ps->failed)
			goto bad;
		if (at_end(ps)) {
			fail(ps, "unterminated array");
			goto bad;
		}
		if (peek(ps) == ']')
			break;
		v = parse_value(ps, depth + 1);
		if (!v)
			goto bad;
		if (value_add(a, NULL, v)) {
			toml_destroy(v);
			fail(ps, "out of memory");
			goto bad;
		}
		skip_ws_nl(ps);
		if (ps->failed)
			goto bad;
		if (peek(ps) == ',') {
			ps->p++;
			continue;
		}
		if (peek(ps) == ']')
			break;
		if (at_end(ps))
			fail(ps, "unterminated array");
		else
			fail(ps, "expected ',' or ']' in an array, found %s",
			     show_char(*ps->p, cb));
		goto bad;
	}
	ps->p++; /* ] */
	return a;
bad:
	toml_destroy(a);
	return NULL;
}

/* { k = v, ... } on one line, no trailing comma (TOML 1.0). */
static toml_value *parse_inline_table(struct parser *ps, int depth)
{
	toml_value *t = value_new(TOML_TABLE, ps->line, ORIGIN_INLINE);
	char cb[16];

	if (!t) {
		fail(ps, "out of memory");
		return NULL;
	}
	ps->p++; /* { */
	skip_ws(ps);
	if (peek(ps) == '}') {
		ps->p++;
		return t;
	}
	for (;;) {
		if (parse_keyval(ps, t, depth))
			goto bad;
		skip_ws(ps);
		if (peek(ps) == ',') {
			ps->p++;
			continue;
		}
		if (peek(ps) == '}') {
			ps->p++;
			return t;
		}
		if (at_end(ps))
			fail(ps, "unterminated inline table");
		else if (at_newline(ps))
			fail(ps, "newline in an inline table (it must be on one line)");
		else
			fail(ps, "expected ',' or '}' in an inline table, found %s",
			     show_char(*ps->p, cb));
		goto bad;
	}
bad:
	toml_destroy(t);
	return NULL;
}

/* Digits of base with single '_' only between digits: "1_000", "ff_ff".
 * Returns the number of characters consumed from s (n bytes), or -1 for a
 * misplaced '_'. Stops at the first character that is neither. */
static int scan_digits(const char *s, size_t n, int base, size_t *used)
{
	size_t i = 0;
	bool prev_digit = false;

	for (; i < n; i++) {
		char c = s[i];
		bool d = base == 16 ? hex_val(c) >= 0 :
			 base == 8  ? (c >= '0' && c <= '7') :
			 base == 2  ? (c == '0' || c == '1') : is_digit(c);

		if (c == '_') {
			if (!prev_digit)
				return -1;
			prev_digit = false;
			continue;
		}
		if (!d)
			break;
		prev_digit = true;
	}
	if (i > 0 && !prev_digit)
		return -1; /* trailing '_' */
	*used = i;
	return 0;
}

/* Parses an integer or a float from the token s (n bytes, made of
 * [A-Za-z0-9_.+-]). Returns the value or NULL with the error set. */
static toml_value *parse_number(struct parser *ps, const char *s, size_t n)
{
	const char *t = s;
	size_t rest = n, used = 0;
	bool neg = false, sign = false;
	int base = 10;
	toml_value *v;

	if (*t == '+' || *t == '-') {
		neg = *t == '-';
		sign = true;
		t++;
		rest--;
	}
	if (rest == 3 && (!memcmp(t, "inf", 3) || !memcmp(t, "nan", 3))) {
		v = value_new(TOML_FLOAT, ps->line, ORIGIN_VALUE);
		if (!v)
			goto oom;
		v->f = t[0] == 'i' ? (neg ? -INFINITY : INFINITY) : NAN;
		return v;
	}
	if (rest >= 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'o' || t[1] == 'b')) {
		base = t[1] == 'x' ? 16 : t[1] == 'o' ? 8 : 2;
		if (sign)
			goto invalid;
		t += 2;
		rest -= 2;
	}
	if (scan_digits(t, rest, base, &used))
		goto underscore;
	if (!used)
		goto invalid;
	if (used == rest) {
		/* An integer. Leading zeros are only allowed after a prefix. */
		uint64_t x = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;

		if (base == 10 && t[0] == '0' && rest > 1) {
			fail(ps, "leading zeros are not allowed");
			return NULL;
		}
		for (size_t i = 0; i < rest; i++) {
			int d;

			if (t[i] == '_')
				continue;
			d = hex_val(t[i]);
			if (x > (limit - (uint64_t)d) / (uint64_t)base) {
				fail(ps, "integer out of range");
				return NULL;
			}
			x = x * (uint64_t)base + (uint64_t)d;
		}
		v = value_new(TOML_INT, ps->line, ORIGIN_VALUE);
		if (!v)
			goto oom;
		/* -2^63 has no positive int64_t counterpart: negate unsigned. */
		v->i = neg ? (int64_t)(0 - x) : (int64_t)x;
		return v;
	}
	if (base != 10)
		goto invalid;
	{
		/* A float: int-part ( frac / exp / frac exp ), digits on both
		 * sides of the '.', the int part without leading zeros. */
		char tmp[128];
		size_t k = 0, pos = (size_t)(t - s) + used;
		char *end;
		double f;

		if (t[0] == '0' && used > 1) {
			fail(ps, "leading zeros are not allowed");
			return NULL;
		}
		if (pos < n && s[pos] == '.') {
			if (scan_digits(s + pos + 1, n - pos - 1, 10, &used))
				goto underscore;
			if (!used)
				goto invalid;
			pos += 1 + used;
		}
		if (pos < n && (s[pos] == 'e' || s[pos] == 'E')) {
			pos++;
			if (pos < n && (s[pos] == '+' || s[pos] == '-'))
				pos++;
			if (scan_digits(s + pos, n - pos, 10, &used))
				goto underscore;
			if (!used)
				goto invalid;
			pos += used;
		}
		if (pos != n)
			goto invalid;
		for (size_t i = 0; i < n; i++) {
			if (s[i] == '_')
				continue;
			if (k == sizeof tmp - 1) {
				fail(ps, "number too long");
				return NULL;
			}
			tmp[k++] = s[i];
		}
		tmp[k] = '\0';
		/* The grammar above only lets through what strtod reads the
		 * same way in the C locale, which tether never changes. */
		errno = 0;
		f = strtod(tmp, &end);
		if (*end)
			goto invalid;
		if (isinf(f)) {
			fail(ps, "float out of range");
			return NULL;
		}
		v = value_new(TOML_FLOAT, ps->line, ORIGIN_VALUE);
		if (!v)
			goto oom;
		v->f = f;
		return v;
	}
underscore:
	fail(ps, "misplaced '_' in a number");
	return NULL;
invalid:
	fail(ps, "invalid number '%.*s'", (int)(n > 40 ? 40 : n), s);
	return NULL;
oom:
	fail(ps, "out of memory");
	return NULL;
}

static bool is_token_char(char c)
{
	return is_bare(c) || c == '.' || c == '+';
}

/* true, false, a number, inf or nan: the token at ps->p. */
static toml_value *parse_scalar(struct parser *ps)
{
	const char *s = ps->p;
	size_t n;
	char cb[16];
	toml_value *v;

	while (!at_end(ps) && is_token_char(*ps->p))
		ps->p++;
	n = (size_t)(ps->p - s);
	if (!n) {
		if (at_end(ps) || at_newline(ps) || peek(ps) == '#')
			fail(ps, "missing value");
		else
			fail(ps, "invalid value starting with %s", show_char(*ps->p, cb));
		return NULL;
	}
	if ((n == 4 && !memcmp(s, "true", 4)) || (n == 5 && !memcmp(s, "false", 5))) {
		v = value_new(TOML_BOOL, ps->line, ORIGIN_VALUE);
		if (!v) {
			fail(ps, "out of memory");
			return NULL;
		}
		v->b = n == 4;
		return v;
	}
	/* 1979-05-27 or 07:32:00: say so rather than "invalid number". */
	if ((n >= 5 && is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]) &&
	     s[4] == '-') ||
	    (n == 2 && is_digit(s[0]) && is_digit(s[1]) && peek(ps) == ':')) {
		fail(ps, "dates and times are not supported (use a string)");
		return NULL;
	}
	if (!is_digit(s[0]) && s[0] != '+' && s[0] != '-' &&
	    !(n == 3 && (!memcmp(s, "inf", 3) || !memcmp(s, "nan", 3)))) {
		fail(ps, "invalid value '%.*s' (strings need quotes)", (int)(n > 40 ? 40 : n), s);
		return NULL;
	}
	return parse_number(ps, s, n);
}

static toml_value *parse_value(struct parser *ps, int depth)
{
	char c = peek(ps);

	if (depth > TOML_MAX_DEPTH) {
		fail(ps, "nesting deeper than %d", TOML_MAX_DEPTH);
		return NULL;
	}
	if (c == '"' || c == '\'') {
		int line = ps->line;
		char *s = parse_string(ps);
		toml_value *v;

		if (!s)
			return NULL;
		v = value_new(TOML_STRING, line, ORIGIN_VALUE);
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
	return parse_scalar(ps);
}

/* ---- tables -------------------------------------------------------------- */

/* Sets the dotted key parts[0..n-1] in table to v, creating the tables
 * in between. Dotted keys may only walk through tables that dotted keys
 * created (TOML: they cannot reopen a [header] table or an inline one).
 * Takes parts and v whatever happens. */
static int set_key(struct parser *ps, toml_value *table, char **parts, int n, toml_value *v,
		   int line)
{
	char kb[72];
	toml_value *t = table;

	for (int i = 0; i < n - 1; i++) {
		toml_value *next = table_find_n(t, parts[i], strlen(parts[i]));

		if (!next) {
			next = value_new(TOML_TABLE, line, ORIGIN_DOTTED);
			if (!next || value_add(t, parts[i], next)) {
				toml_destroy(next);
				fail_at(ps, line, "out of memory");
				goto bad;
			}
			parts[i] = NULL; /* now owned by t */
		} else if (next->type != TOML_TABLE || next->origin == ORIGIN_INLINE) {
			fail_at(ps, line, "key '%s' is already a value", show_key(parts[i], kb));
			goto bad;
		} else if (next->origin != ORIGIN_DOTTED) {
			fail_at(ps, line,
				"table '%s' is defined by a [header]; add keys to it there",
				show_key(parts[i], kb));
			goto bad;
		}
		t = next;
	}
	if (table_find_n(t, parts[n - 1], strlen(parts[n - 1]))) {
		fail_at(ps, line, "duplicate key '%s'", show_key(parts[n - 1], kb));
		goto bad;
	}
	if (value_add(t, parts[n - 1], v)) {
		fail_at(ps, line, "out of memory");
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

/* key = value into table, whose own nesting depth is depth. */
static int parse_keyval(struct parser *ps, toml_value *table, int depth)
{
	char *parts[TOML_MAX_DEPTH];
	int line = ps->line;
	int n = parse_key(ps, parts);
	toml_value *v;
	char kb[72];

	if (n < 0)
		return -1;
	skip_ws(ps);
	if (peek(ps) != '=') {
		fail(ps, "expected '=' after key '%s'", show_key(parts[n - 1], kb));
		free_parts(parts, n);
		return -1;
	}
	ps->p++;
	skip_ws(ps);
	v = parse_value(ps, depth + n);
	if (!v) {
		free_parts(parts, n);
		return -1;
	}
	return set_key(ps, table, parts, n, v, line);
}

/* [a.b.c]: finds or creates the table and marks it defined. Returns it or
 * NULL with the error set. Does not take parts (tables copy what they
 * keep and set the taken slots to NULL). */
static toml_value *open_table(struct parser *ps, toml_value *root, char **parts, int n)
{
	char kb[72];
	toml_value *t = root;

	for (int i = 0; i < n; i++) {
		bool last = i == n - 1;
		toml_value *next = table_find_n(t, parts[i], strlen(parts[i]));

		if (!next) {
			next = value_new(TOML_TABLE, ps->line,
					 last ? ORIGIN_HEADER : ORIGIN_IMPLICIT);
			if (!next || value_add(t, parts[i], next)) {
				toml_destroy(next);
				fail(ps, "out of memory");
				return NULL;
			}
			parts[i] = NULL;
		} else if (next->type != TOML_TABLE || next->origin == ORIGIN_INLINE) {
			fail(ps, "key '%s' is already a value", show_key(parts[i], kb));
			return NULL;
		} else if (last) {
			if (next->origin == ORIGIN_HEADER) {
				fail(ps, "table defined twice");
				return NULL;
			}
			if (next->origin == ORIGIN_DOTTED) {
				fail(ps, "table '%s' was already defined by dotted keys",
				     show_key(parts[i], kb));
				return NULL;
			}
			/* Named before as a parent: now it is defined here. */
			next->origin = ORIGIN_HEADER;
			next->line = ps->line;
		}
		t = next;
	}
	return t;
}

/* [name] at ps->p. Returns the table to fill with its nesting depth in
 * *depth, or NULL with the error set. */
static toml_value *parse_header(struct parser *ps, toml_value *root, int *depth)
{
	char *parts[TOML_MAX_DEPTH];
	toml_value *t;
	int n;

	if (peek_at(ps, 1) == '[') {
		fail(ps, "arrays of tables are not supported");
		return NULL;
	}
	ps->p++; /* [ */
	n = parse_key(ps, parts);
	if (n < 0)
		return NULL;
	skip_ws(ps);
	if (peek(ps) != ']') {
		fail(ps, "expected ']' after a table name");
		free_parts(parts, n);
		return NULL;
	}
	ps->p++;
	t = open_table(ps, root, parts, n);
	free_parts(parts, n);
	if (t)
		*depth = n;
	return t;
}

int toml_parse(const char *text, size_t len, toml_value **out, char *err, size_t errlen)
{
	struct parser ps = { "", NULL, 1, err, errlen, false };
	toml_value *root, *cur;
	int depth = 0;

	if (!out || (!text && len)) {
		fail(&ps, "no input or no place for the result");
		return -1;
	}
	/* Not text + len when text is NULL: that would be undefined. */
	if (text)
		ps.p = text;
	ps.end = ps.p + len;
	if (len > TOML_MAX_FILE) {
		fail(&ps, "file larger than 1 MiB");
		return -1;
	}
	root = value_new(TOML_TABLE, 1, ORIGIN_IMPLICIT);
	if (!root) {
		fail(&ps, "out of memory");
		return -1;
	}
	cur = root;
	/* A UTF-8 byte order mark is skipped. */
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		ps.p += 3;
	while (!ps.failed) {
		skip_ws(&ps);
		skip_comment(&ps);
		if (ps.failed || at_end(&ps))
			break;
		if (eat_newline(&ps))
			continue;
		if (*ps.p == '[') {
			cur = parse_header(&ps, root, &depth);
			if (!cur)
				break;
			expect_eol(&ps, "a table header");
		} else {
			if (parse_keyval(&ps, cur, depth))
				break;
			expect_eol(&ps, "a value (one key = value per line)");
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
	char *data = NULL;
	size_t len = 0, cap = 0;
	int rc = -1;

	if (!err)
		errlen = 0;
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		size_t got;

		if (len == cap) {
			/* One byte beyond the limit tells "too big" from "exactly
			 * at the limit". */
			size_t nc = cap ? cap * 2 : 8192;
			char *nd;

			if (nc > TOML_MAX_FILE + 1)
				nc = TOML_MAX_FILE + 1;
			if (nc == cap) {
				snprintf(err, errlen, "%s: file larger than 1 MiB", path);
				goto out;
			}
			nd = realloc(data, nc);
			if (!nd) {
				snprintf(err, errlen, "%s: out of memory", path);
				goto out;
			}
			data = nd;
			cap = nc;
		}
		got = fread(data + len, 1, cap - len, f);
		len += got;
		if (got == 0) {
			if (ferror(f)) {
				snprintf(err, errlen, "%s: %s", path,
					 strerror(errno ? errno : EIO));
				goto out;
			}
			break;
		}
	}
	if (len > TOML_MAX_FILE) {
		snprintf(err, errlen, "%s: file larger than 1 MiB", path);
		goto out;
	}
	rc = toml_parse(data ? data : "", len, out, msg, sizeof msg);
	if (rc)
		snprintf(err, errlen, "%s: %s", path, msg);
out:
	free(data);
	fclose(f);
	return rc;
}

/* ---- accessors ---------------------------------------------------------- */

toml_type toml_type_of(const toml_value *v)
{
	return v ? v->type : TOML_TABLE;
}

const toml_value *toml_get(const toml_value *table, const char *key)
{
	if (!table || table->type != TOML_TABLE || !key)
		return NULL;
	return table_find_n(table, key, strlen(key));
}

const toml_value *toml_get_path(const toml_value *root, const char *dotted)
{
	const toml_value *v = root;

	if (!dotted)
		return NULL;
	for (;;) {
		const char *dot = strchr(dotted, '.');
		size_t n = dot ? (size_t)(dot - dotted) : strlen(dotted);

		if (!v || v->type != TOML_TABLE)
			return NULL;
		v = table_find_n(v, dotted, n);
		if (!dot)
			return v;
		dotted = dot + 1;
	}
}

size_t toml_len(const toml_value *v)
{
	return v && (v->type == TOML_TABLE || v->type == TOML_ARRAY) ? v->n : 0;
}

const toml_value *toml_at(const toml_value *v, size_t i)
{
	return i < toml_len(v) ? v->vals[i] : NULL;
}

const char *toml_key_at(const toml_value *table, size_t i)
{
	return table && table->type == TOML_TABLE && i < table->n ? table->keys[i] : NULL;
}

int toml_line(const toml_value *v)
{
	return v ? v->line : 0;
}

const char *toml_string(const toml_value *v)
{
	return v && v->type == TOML_STRING ? v->str : NULL;
}

int toml_int(const toml_value *v, int64_t *out)
{
	if (!v || v->type != TOML_INT || !out)
		return -1;
	*out = v->i;
	return 0;
}

int toml_float(const toml_value *v, double *out)
{
	if (!v || !out)
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
	if (!v || v->type != TOML_BOOL || !out)
		return -1;
	*out = v->b;
	return 0;
}
