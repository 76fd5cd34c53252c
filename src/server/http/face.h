/* face: one dialect's share of the API listener.
 *
 * The API listener serves every dialect on one port. A dialect other than
 * rport (which answers whatever no other face claims, and the streaming
 * API) gives a struct http_face: claims() looks at a request's head (its
 * method, path and headers) and says whether the request is this face's;
 * the three handlers then get that request's events, as the net layer's
 * http callbacks would. claims() must depend on the head alone, so that it
 * answers the same at each event of one request. error_body (optional)
 * writes the answer the network layer gives by itself to a request this
 * face claims (a body over the limit, a head that took too long), in the
 * face's own envelope, as net_callbacks.error_body does; without it the
 * answer is rport's. */
#ifndef TETHER_HTTP_FACE_H
#define TETHER_HTTP_FACE_H

#include <stdbool.h>

#include "net.h"

struct server;

struct http_face {
	const char *name;
	bool (*claims)(const net_http_req *req);
	void (*headers)(struct server *srv, net_http_req *req);
	void (*request)(struct server *srv, net_http_req *req);
	void (*abort)(struct server *srv, net_http_req *req);
	size_t (*error_body)(int *status, const char *title, const char *detail, char *out,
			     size_t outlen, const char **type);
};

#endif
