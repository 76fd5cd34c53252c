/* router: route matching; see router.h. */
#include "http/router.h"

#include <stdlib.h>
#include <string.h>

#include "net.h"

/* 1 (a match), 0 (none) or -1 (a match whose {} segment is no valid value). */
static int route_match(const char *pattern, const char *path, size_t plen,
		       struct http_params *pp, size_t bufsize)
{
	const char *p = pattern, *s = path, *end = path + plen;
	char *out = pp->buf;
	size_t left = bufsize;
	bool bad = false;
	int np = 0;

	/* The literal part before the first {} must be the path's first
	 * bytes (literal segments match as sent): most routes of a table
	 * part from the path within a few bytes, without a segment split. */
	for (size_t k = 0; p[k] && p[k] != '{'; k++)
		if (k >= plen || p[k] != path[k])
			return 0;
	memset(pp->v, 0, sizeof pp->v);
	while (*p) {
		const char *pe, *se;
		size_t pl, sl;

		if (*p != '/' || s >= end || *s != '/')
			return 0;
		p++;
		s++;
		pe = strchr(p, '/');
		if (!pe)
			pe = p + strlen(p);
		se = memchr(s, '/', (size_t)(end - s));
		if (!se)
			se = end;
		pl = (size_t)(pe - p);
		sl = (size_t)(se - s);
		if (pl == 2 && p[0] == '{' && p[1] == '}') {
			int n;

			if (!sl || np == HTTP_MAX_PARAMS)
				return 0;
			n = net_path_segment_decode(s, sl, out, left);
			if (n < 0 || memchr(out, '/', (size_t)n)) {
				bad = true;
			} else {
				pp->v[np++] = out;
				out += n + 1;
				left -= (size_t)n + 1;
			}
		} else if (pl != sl || memcmp(p, s, pl)) {
			return 0;
		}
		p = pe;
		s = se;
	}
	if (s != end)
		return 0;
	return bad ? -1 : 1;
}

enum http_match http_route_find(const void *routes, size_t n, size_t stride, const char *method,
				const char *path, size_t *index, struct http_params *pp)
{
	size_t plen = strlen(path), bufsize = plen + HTTP_MAX_PARAMS + 1;
	bool path_found = false;

	free(pp->buf);
	pp->buf = malloc(bufsize);
	if (!pp->buf)
		return HTTP_NOMEM;
	if (plen > 1 && path[plen - 1] == '/')
		plen--;
	for (size_t i = 0; i < n; i++) {
		const struct http_route *r =
			(const struct http_route *)(const void *)((const char *)routes + i * stride);
		int m = route_match(r->pattern, path, plen, pp, bufsize);

		if (!m)
			continue;
		path_found = true;
		if (strcmp(r->method, method))
			continue;
		if (m < 0)
			return HTTP_BAD_PARAM;
		*index = i;
		return HTTP_MATCHED;
	}
	return path_found ? HTTP_NO_METHOD : HTTP_NO_PATH;
}

void http_params_free(struct http_params *pp)
{
	free(pp->buf);
	pp->buf = NULL;
}
