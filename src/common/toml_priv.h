/* toml_priv: what the reader's two files share (not for other modules).
 *
 * toml_lex.c  errors, whitespace and comments, strings, keys, scalars
 * toml.c      values and tables, arrays, inline tables, the document,
 *             the accessors of toml.h
 */
#ifndef TETHER_TOML_PRIV_H
#define TETHER_TOML_PRIV_H

#include "toml.h"

enum origin {
	ORIGIN_VALUE,    /* not a table */
	ORIGIN_IMPLICIT, /* parent named in a header: [a.b] creates a */
	ORIGIN_HEADER,   /* defined by its own [header] */
	ORIGIN_DOTTED,   /* created by a dotted key: a.b = 1 creates a */
	ORIGIN_INLINE,   /* { ... } or the root: closed to later additions */
};

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

/* Every read goes through these, which check the end of the input. */
static inline bool at_end(const struct parser *ps)
{
	return ps->p >= ps->end;
}

static inline char peek(const struct parser *ps)
{
	return at_end(ps) ? '\0' : *ps->p;
}

static inline char peek_at(const struct parser *ps, size_t k)
{
	return (size_t)(ps->end - ps->p) > k ? ps->p[k] : '\0';
}

static inline bool at_newline(const struct parser *ps)
{
	return peek(ps) == '\n' || (peek(ps) == '\r' && peek_at(ps, 1) == '\n');
}

/* ---- toml_lex.c ------------------------------------------------------- */

/* Sets the parse's error "line N: message" (the current line, or line);
 * only the first error counts. */
void toml_fail(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void toml_fail_at(struct parser *ps, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Quotes a byte for a message: 'x' if printable ASCII, else "byte 0xNN". */
const char *toml_show_char(char c, char buf[16]);
/* A key for a message: at most 60 bytes, control characters as '?'. */
const char *toml_show_key(const char *k, char buf[72]);
/* Consumes "\n" or "\r\n" if there is one. */
bool toml_eat_newline(struct parser *ps);
/* Blanks (space, tab). */
void toml_skip_ws(struct parser *ps);
/* A comment, up to the end of its line. */
void toml_skip_comment(struct parser *ps);
/* Whitespace, comments and newlines (between array elements). */
void toml_skip_ws_nl(struct parser *ps);
/* After a key/value pair or a header only a comment may follow on the line. */
void toml_expect_eol(struct parser *ps, const char *after);
/* A basic or literal string, one line or multi-line; caller frees. NULL
 * with the error set. */
char *toml_parse_string(struct parser *ps);
/* A dotted key into parts (free with toml_free_parts): their number, or -1
 * with the error set and nothing to free. */
int toml_parse_key(struct parser *ps, char *parts[TOML_MAX_DEPTH]);
void toml_free_parts(char **parts, int n);
/* true, false, a number, inf or nan: the token at ps->p. NULL with the
 * error set. */
toml_value *toml_parse_scalar(struct parser *ps);

/* ---- toml.c ------------------------------------------------------------ */

/* A new value of type t (no error set on failure: the caller says "out of
 * memory"). */
toml_value *toml_value_new(toml_type t, int line, enum origin origin);

#endif
