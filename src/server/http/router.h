/* router: matching a request's method and raw path against a dialect's
 * route table. Every HTTP dialect keeps its own table of struct http_route
 * (its handler and permission bits are its own); the matching, the
 * decoding of path parameters and the answers "no such path", "not this
 * method" and "bad parameter" are the same for all. */
#ifndef TETHER_HTTP_ROUTER_H
#define TETHER_HTTP_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_PARAMS 4

/* The first member of a dialect's route entry (which adds its handler and
 * permission bits). */
struct http_route {
	const char *method;
	const char *pattern;      /* "/api/v1/clients/{}/commands/{}" */
};

enum http_match {
	HTTP_MATCHED,             /* *index is the route */
	HTTP_NO_PATH,             /* no route has this path */
	HTTP_NO_METHOD,           /* another method would match (405) */
	HTTP_BAD_PARAM,           /* a {} segment is no valid value */
	HTTP_NOMEM,
};

struct http_params {
	const char *v[HTTP_MAX_PARAMS];  /* decoded {} segments, in order */
	char *buf;                       /* owns them: free with http_params_free */
};

/* Finds the route for method and the raw path (before decoding). Literal
 * segments match as sent: an escape never matches a literal character, and
 * "%2f" never splits a segment. "{}" segments are decoded after the split;
 * a bad escape, NUL, "/", "." or ".." makes HTTP_BAD_PARAM. A trailing
 * slash is tolerated. routes is an array of n entries of stride bytes,
 * each starting with a struct http_route. */
enum http_match http_route_find(const void *routes, size_t n, size_t stride, const char *method,
				const char *path, size_t *index, struct http_params *params);
void http_params_free(struct http_params *params);

#endif
