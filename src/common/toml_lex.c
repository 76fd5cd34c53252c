/* toml_lex: the reader's tokens: errors ("line N: message", the first one
 * only), whitespace and comments, basic and literal strings (one line and
 * multi-line, escapes, UTF-8 checks), dotted keys, and the scalars
 * (booleans, integers in four bases, floats, inf and nan). Reads go
 * through peek()/peek_at() (toml_priv.h), bounded by the input's end. */
#include "toml_priv.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void toml_fail(struct parser *ps, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail_at(ps, ps->line, fmt, ap);
	va_end(ap);
}

void toml_fail_at(struct parser *ps, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail_at(ps, line, fmt, ap);
	va_end(ap);
}

/* Quotes a byte for a message: 'x' if printable ASCII, else "byte 0xNN"
 * (so messages stay printable and valid UTF-8 whatever the input). */
const char *toml_show_char(char c, char buf[16])
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
const char *toml_show_key(const char *k, char buf[72])
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

/* ---- lexing helpers ---------------------------------------------------- */

/* Consumes "\n" or "\r\n" if there is one. */
bool toml_eat_newline(struct parser *ps)
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

void toml_skip_ws(struct parser *ps)
{
	while (!at_end(ps) && (*ps->p == ' ' || *ps->p == '\t'))
		ps->p++;
}

/* A comment runs to the end of the line. TOML forbids control characters
 * in it; other bytes are not checked, so a Latin-1 comment in an old file
 * is tolerated. */
void toml_skip_comment(struct parser *ps)
{
	if (peek(ps) != '#')
		return;
	while (!at_end(ps) && !at_newline(ps)) {
		unsigned char c = (unsigned char)*ps->p;

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			toml_fail(ps, "control character in a comment");
			return;
		}
		ps->p++;
	}
}

/* Whitespace, comments and newlines (between array elements). */
void toml_skip_ws_nl(struct parser *ps)
{
	while (!ps->failed) {
		toml_skip_ws(ps);
		toml_skip_comment(ps);
		if (!toml_eat_newline(ps))
			return;
	}
}

/* After a key/value pair or a header only a comment may follow on the line. */
void toml_expect_eol(struct parser *ps, const char *after)
{
	char cb[16];

	toml_skip_ws(ps);
	toml_skip_comment(ps);
	if (ps->failed || at_end(ps) || toml_eat_newline(ps))
		return;
	toml_fail(ps, "unexpected %s after %s", toml_show_char(*ps->p, cb), after);
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

			toml_skip_ws(ps);
			if (!toml_eat_newline(ps)) {
				ps->p = save;
				toml_fail(ps, "invalid escape: backslash followed by blanks "
					      "(a line-ending backslash must end its line)");
				return -1;
			}
			do
				toml_skip_ws(ps);
			while (toml_eat_newline(ps));
			return 0;
		}
		if (e > 0x20 && e < 0x7f)
			toml_fail(ps, "invalid escape '\\%c'", e);
		else
			toml_fail(ps, "invalid escape: backslash followed by %s",
				  at_end(ps) ? "the end of the input" : toml_show_char(e, cb));
		return -1;
	}
	ps->p++;
	if (!digits) {
		if (sbuf_put(b, &c, 1)) {
			toml_fail(ps, "out of memory");
			return -1;
		}
		return 0;
	}
	for (int k = 0; k < digits; k++) {
		int v = hex_val(peek(ps));

		if (v < 0) {
			toml_fail(ps, "invalid unicode escape (\\%c needs %d hex digits)", e,
				  digits);
			return -1;
		}
		cp = cp * 16 + (uint32_t)v;
		ps->p++;
	}
	if (cp == 0) {
		/* The API hands out C strings: a NUL would silently cut them. */
		toml_fail(ps, "NUL characters are not supported in strings");
		return -1;
	}
	if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
		toml_fail(ps, "invalid unicode code point U+%04X", (unsigned)cp);
		return -1;
	}
	if (sbuf_put_utf8(b, cp)) {
		toml_fail(ps, "out of memory");
		return -1;
	}
	return 0;
}

/* Parses a string at ps->p (which is on ' or "). Returns a malloc'd,
 * NUL-terminated, valid UTF-8 string, or NULL with the error set. */
char *toml_parse_string(struct parser *ps)
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
		toml_eat_newline(ps);
	for (;;) {
		unsigned char c;

		if (at_end(ps)) {
			toml_fail(ps, "unterminated string");
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
				toml_fail(ps, "newline in a single-line string");
				goto bad;
			}
			toml_eat_newline(ps);
			if (sbuf_put(&b, "\n", 1))
				goto oom;
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			toml_fail(ps, "control character in a string (use an escape)");
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
				toml_fail(ps, "invalid UTF-8 in a string");
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
	toml_fail(ps, "out of memory");
bad:
	free(b.d);
	return NULL;
}

/* ---- keys ---------------------------------------------------------------- */

/* key = simple-key *( "." simple-key ), with blanks around the dots.
 * Fills parts (caller frees each with free_parts) and returns their
 * number, or -1 with the error set and nothing to free. */
int toml_parse_key(struct parser *ps, char *parts[TOML_MAX_DEPTH])
{
	char cb[16];
	int n = 0;

	for (;;) {
		char *k;

		toml_skip_ws(ps);
		if (n == TOML_MAX_DEPTH) {
			toml_fail(ps, "key with more than %d parts", TOML_MAX_DEPTH);
			goto bad;
		}
		if (peek(ps) == '"' || peek(ps) == '\'') {
			if (peek_at(ps, 1) == peek(ps) && peek_at(ps, 2) == peek(ps)) {
				toml_fail(ps, "a key cannot be a multi-line string");
				goto bad;
			}
			k = toml_parse_string(ps);
			if (!k)
				goto bad;
		} else {
			const char *s = ps->p;

			while (!at_end(ps) && is_bare(*ps->p))
				ps->p++;
			if (ps->p == s) {
				if (at_end(ps) || at_newline(ps))
					toml_fail(ps, "expected a key");
				else
					toml_fail(ps, "expected a key, found %s",
						  toml_show_char(*ps->p, cb));
				goto bad;
			}
			k = strndup(s, (size_t)(ps->p - s));
			if (!k) {
				toml_fail(ps, "out of memory");
				goto bad;
			}
		}
		parts[n++] = k;
		toml_skip_ws(ps);
		if (peek(ps) != '.')
			return n;
		ps->p++;
	}
bad:
	for (int i = 0; i < n; i++)
		free(parts[i]);
	return -1;
}

void toml_free_parts(char **parts, int n)
{
	for (int i = 0; i < n; i++)
		free(parts[i]);
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

static toml_value *number_invalid(struct parser *ps, const char *s, size_t n)
{
	toml_fail(ps, "invalid number '%.*s'", (int)(n > 40 ? 40 : n), s);
	return NULL;
}

static toml_value *number_underscore(struct parser *ps)
{
	toml_fail(ps, "misplaced '_' in a number");
	return NULL;
}

/* The integer in t (rest bytes of digits of base and '_', checked by
 * scan_digits), negative if neg. Returns the value or NULL with the error
 * set. */
static toml_value *number_int(struct parser *ps, const char *t, size_t rest, int base, bool neg)
{
	/* Leading zeros are only allowed after a prefix. */
	uint64_t x = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	toml_value *v;

	if (base == 10 && t[0] == '0' && rest > 1) {
		toml_fail(ps, "leading zeros are not allowed");
		return NULL;
	}
	for (size_t i = 0; i < rest; i++) {
		int d;

		if (t[i] == '_')
			continue;
		d = hex_val(t[i]);
		if (x > (limit - (uint64_t)d) / (uint64_t)base) {
			toml_fail(ps, "integer out of range");
			return NULL;
		}
		x = x * (uint64_t)base + (uint64_t)d;
	}
	v = toml_value_new(TOML_INT, ps->line, ORIGIN_VALUE);
	if (!v) {
		toml_fail(ps, "out of memory");
		return NULL;
	}
	/* -2^63 has no positive int64_t counterpart: negate unsigned. */
	v->i = neg ? (int64_t)(0 - x) : (int64_t)x;
	return v;
}

/* The float in the token s (n bytes): int-part ( frac / exp / frac exp ),
 * digits on both sides of the '.', the int part without leading zeros.
 * t is the int part (after the sign), used its length. Returns the value
 * or NULL with the error set. */
static toml_value *number_float(struct parser *ps, const char *s, size_t n, const char *t,
				size_t used)
{
	char tmp[128];
	size_t k = 0, pos = (size_t)(t - s) + used;
	char *end;
	double f;
	toml_value *v;

	if (t[0] == '0' && used > 1) {
		toml_fail(ps, "leading zeros are not allowed");
		return NULL;
	}
	if (pos < n && s[pos] == '.') {
		if (scan_digits(s + pos + 1, n - pos - 1, 10, &used))
			return number_underscore(ps);
		if (!used)
			return number_invalid(ps, s, n);
		pos += 1 + used;
	}
	if (pos < n && (s[pos] == 'e' || s[pos] == 'E')) {
		pos++;
		if (pos < n && (s[pos] == '+' || s[pos] == '-'))
			pos++;
		if (scan_digits(s + pos, n - pos, 10, &used))
			return number_underscore(ps);
		if (!used)
			return number_invalid(ps, s, n);
		pos += used;
	}
	if (pos != n)
		return number_invalid(ps, s, n);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '_')
			continue;
		if (k == sizeof tmp - 1) {
			toml_fail(ps, "number too long");
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
		return number_invalid(ps, s, n);
	if (isinf(f)) {
		toml_fail(ps, "float out of range");
		return NULL;
	}
	v = toml_value_new(TOML_FLOAT, ps->line, ORIGIN_VALUE);
	if (!v) {
		toml_fail(ps, "out of memory");
		return NULL;
	}
	v->f = f;
	return v;
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
		v = toml_value_new(TOML_FLOAT, ps->line, ORIGIN_VALUE);
		if (!v) {
			toml_fail(ps, "out of memory");
			return NULL;
		}
		v->f = t[0] == 'i' ? (neg ? -INFINITY : INFINITY) : NAN;
		return v;
	}
	if (rest >= 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'o' || t[1] == 'b')) {
		base = t[1] == 'x' ? 16 : t[1] == 'o' ? 8 : 2;
		if (sign)
			return number_invalid(ps, s, n);
		t += 2;
		rest -= 2;
	}
	if (scan_digits(t, rest, base, &used))
		return number_underscore(ps);
	if (!used)
		return number_invalid(ps, s, n);
	if (used == rest)
		return number_int(ps, t, rest, base, neg);
	if (base != 10)
		return number_invalid(ps, s, n);
	return number_float(ps, s, n, t, used);
}

static bool is_token_char(char c)
{
	return is_bare(c) || c == '.' || c == '+';
}

/* true, false, a number, inf or nan: the token at ps->p. */
toml_value *toml_parse_scalar(struct parser *ps)
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
			toml_fail(ps, "missing value");
		else
			toml_fail(ps, "invalid value starting with %s", toml_show_char(*ps->p, cb));
		return NULL;
	}
	if ((n == 4 && !memcmp(s, "true", 4)) || (n == 5 && !memcmp(s, "false", 5))) {
		v = toml_value_new(TOML_BOOL, ps->line, ORIGIN_VALUE);
		if (!v) {
			toml_fail(ps, "out of memory");
			return NULL;
		}
		v->b = n == 4;
		return v;
	}
	/* 1979-05-27 or 07:32:00: say so rather than "invalid number". */
	if ((n >= 5 && is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]) &&
	     s[4] == '-') ||
	    (n == 2 && is_digit(s[0]) && is_digit(s[1]) && peek(ps) == ':')) {
		toml_fail(ps, "dates and times are not supported (use a string)");
		return NULL;
	}
	if (!is_digit(s[0]) && s[0] != '+' && s[0] != '-' &&
	    !(n == 3 && (!memcmp(s, "inf", 3) || !memcmp(s, "nan", 3)))) {
		toml_fail(ps, "invalid value '%.*s' (strings need quotes)",
			  (int)(n > 40 ? 40 : n), s);
		return NULL;
	}
	return parse_number(ps, s, n);
}

