/* toml: a recursive-descent reader for the TOML subset described in toml.h:
 * values and tables, the document and the accessors. The tokens (strings,
 * keys, numbers, whitespace, errors) are read in toml_lex.c.
 *
 * Safety rules the code keeps to (it is fuzzed with ASan/UBSan):
 *   - every read goes through peek()/peek_at() (toml_priv.h), which check
 *     the end of the input, so the text need not be NUL-terminated;
 *   - recursion is bounded by TOML_MAX_DEPTH, both while parsing and in
 *     toml_destroy, because every container is at most that deep;
 *   - each function that allocates either hands the allocation to the tree
 *     or frees it on its error path; the first error stops the parse.
 *
 * Tables remember how they came to exist, which is what TOML's redefinition
 * rules depend on: implicitly (as a parent in a [a.b] header), by a header,
 * by dotted keys, or as an inline table (closed once written). */
#include "toml_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tables with at least this many keys get a hash index, so that a large
 * (up to 1 MiB) file does not make duplicate checks quadratic. */
#define INDEX_MIN 16

/* ---- values and tables ------------------------------------------------ */

toml_value *toml_value_new(toml_type t, int line, enum origin origin)
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

/* ---- values -------------------------------------------------------------- */

static toml_value *parse_value(struct parser *ps, int depth);
static int parse_keyval(struct parser *ps, toml_value *table, int depth);

static toml_value *parse_array(struct parser *ps, int depth)
{
	toml_value *a = toml_value_new(TOML_ARRAY, ps->line, ORIGIN_VALUE);
	char cb[16];

	if (!a) {
		toml_fail(ps, "out of memory");
		return NULL;
	}
	ps->p++; /* [ */
	for (;;) {
		toml_value *v;

		toml_skip_ws_nl(ps);
		if (ps->failed)
			goto bad;
		if (at_end(ps)) {
			toml_fail(ps, "unterminated array");
			goto bad;
		}
		if (peek(ps) == ']')
			break;
		v = parse_value(ps, depth + 1);
		if (!v)
			goto bad;
		if (value_add(a, NULL, v)) {
			toml_destroy(v);
			toml_fail(ps, "out of memory");
			goto bad;
		}
		toml_skip_ws_nl(ps);
		if (ps->failed)
			goto bad;
		if (peek(ps) == ',') {
			ps->p++;
			continue;
		}
		if (peek(ps) == ']')
			break;
		if (at_end(ps))
			toml_fail(ps, "unterminated array");
		else
			toml_fail(ps, "expected ',' or ']' in an array, found %s",
				  toml_show_char(*ps->p, cb));
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
	toml_value *t = toml_value_new(TOML_TABLE, ps->line, ORIGIN_INLINE);
	char cb[16];

	if (!t) {
		toml_fail(ps, "out of memory");
		return NULL;
	}
	ps->p++; /* { */
	toml_skip_ws(ps);
	if (peek(ps) == '}') {
		ps->p++;
		return t;
	}
	for (;;) {
		if (parse_keyval(ps, t, depth))
			goto bad;
		toml_skip_ws(ps);
		if (peek(ps) == ',') {
			ps->p++;
			continue;
		}
		if (peek(ps) == '}') {
			ps->p++;
			return t;
		}
		if (at_end(ps))
			toml_fail(ps, "unterminated inline table");
		else if (at_newline(ps))
			toml_fail(ps, "newline in an inline table (it must be on one line)");
		else
			toml_fail(ps, "expected ',' or '}' in an inline table, found %s",
				  toml_show_char(*ps->p, cb));
		goto bad;
	}
bad:
	toml_destroy(t);
	return NULL;
}

static toml_value *parse_value(struct parser *ps, int depth)
{
	char c = peek(ps);

	if (depth > TOML_MAX_DEPTH) {
		toml_fail(ps, "nesting deeper than %d", TOML_MAX_DEPTH);
		return NULL;
	}
	if (c == '"' || c == '\'') {
		int line = ps->line;
		char *s = toml_parse_string(ps);
		toml_value *v;

		if (!s)
			return NULL;
		v = toml_value_new(TOML_STRING, line, ORIGIN_VALUE);
		if (!v) {
			free(s);
			toml_fail(ps, "out of memory");
			return NULL;
		}
		v->str = s;
		return v;
	}
	if (c == '[')
		return parse_array(ps, depth);
	if (c == '{')
		return parse_inline_table(ps, depth);
	return toml_parse_scalar(ps);
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
			next = toml_value_new(TOML_TABLE, line, ORIGIN_DOTTED);
			if (!next || value_add(t, parts[i], next)) {
				toml_destroy(next);
				toml_fail_at(ps, line, "out of memory");
				goto bad;
			}
			parts[i] = NULL; /* now owned by t */
		} else if (next->type != TOML_TABLE || next->origin == ORIGIN_INLINE) {
			toml_fail_at(ps, line, "key '%s' is already a value",
				     toml_show_key(parts[i], kb));
			goto bad;
		} else if (next->origin != ORIGIN_DOTTED) {
			toml_fail_at(ps, line,
				     "table '%s' is defined by a [header]; add keys to it there",
				     toml_show_key(parts[i], kb));
			goto bad;
		}
		t = next;
	}
	if (table_find_n(t, parts[n - 1], strlen(parts[n - 1]))) {
		toml_fail_at(ps, line, "duplicate key '%s'", toml_show_key(parts[n - 1], kb));
		goto bad;
	}
	if (value_add(t, parts[n - 1], v)) {
		toml_fail_at(ps, line, "out of memory");
		goto bad;
	}
	parts[n - 1] = NULL;
	toml_free_parts(parts, n - 1);
	return 0;
bad:
	toml_free_parts(parts, n);
	toml_destroy(v);
	return -1;
}

/* key = value into table, whose own nesting depth is depth. */
static int parse_keyval(struct parser *ps, toml_value *table, int depth)
{
	char *parts[TOML_MAX_DEPTH];
	int line = ps->line;
	int n = toml_parse_key(ps, parts);
	toml_value *v;
	char kb[72];

	if (n < 0)
		return -1;
	toml_skip_ws(ps);
	if (peek(ps) != '=') {
		toml_fail(ps, "expected '=' after key '%s'", toml_show_key(parts[n - 1], kb));
		toml_free_parts(parts, n);
		return -1;
	}
	ps->p++;
	toml_skip_ws(ps);
	v = parse_value(ps, depth + n);
	if (!v) {
		toml_free_parts(parts, n);
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
			next = toml_value_new(TOML_TABLE, ps->line,
					      last ? ORIGIN_HEADER : ORIGIN_IMPLICIT);
			if (!next || value_add(t, parts[i], next)) {
				toml_destroy(next);
				toml_fail(ps, "out of memory");
				return NULL;
			}
			parts[i] = NULL;
		} else if (next->type != TOML_TABLE || next->origin == ORIGIN_INLINE) {
			toml_fail(ps, "key '%s' is already a value", toml_show_key(parts[i], kb));
			return NULL;
		} else if (last) {
			if (next->origin == ORIGIN_HEADER) {
				toml_fail(ps, "table defined twice");
				return NULL;
			}
			if (next->origin == ORIGIN_DOTTED) {
				toml_fail(ps, "table '%s' was already defined by dotted keys",
					  toml_show_key(parts[i], kb));
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
		toml_fail(ps, "arrays of tables are not supported");
		return NULL;
	}
	ps->p++; /* [ */
	n = toml_parse_key(ps, parts);
	if (n < 0)
		return NULL;
	toml_skip_ws(ps);
	if (peek(ps) != ']') {
		toml_fail(ps, "expected ']' after a table name");
		toml_free_parts(parts, n);
		return NULL;
	}
	ps->p++;
	t = open_table(ps, root, parts, n);
	toml_free_parts(parts, n);
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
		toml_fail(&ps, "no input or no place for the result");
		return -1;
	}
	/* Not text + len when text is NULL: that would be undefined. */
	if (text)
		ps.p = text;
	ps.end = ps.p + len;
	if (len > TOML_MAX_FILE) {
		toml_fail(&ps, "file larger than 1 MiB");
		return -1;
	}
	root = toml_value_new(TOML_TABLE, 1, ORIGIN_IMPLICIT);
	if (!root) {
		toml_fail(&ps, "out of memory");
		return -1;
	}
	cur = root;
	/* A UTF-8 byte order mark is skipped. */
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		ps.p += 3;
	while (!ps.failed) {
		toml_skip_ws(&ps);
		toml_skip_comment(&ps);
		if (ps.failed || at_end(&ps))
			break;
		if (toml_eat_newline(&ps))
			continue;
		if (*ps.p == '[') {
			cur = parse_header(&ps, root, &depth);
			if (!cur)
				break;
			toml_expect_eol(&ps, "a table header");
		} else {
			if (parse_keyval(&ps, cur, depth))
				break;
			toml_expect_eol(&ps, "a value (one key = value per line)");
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
