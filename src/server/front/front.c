/* front: routes the API listener's requests to the dialects. */
#include "front/front.h"

#include <stddef.h>

#include "dialects/elastic/elastic.h"
#include "dialects/rport/listener.h"
#include "front/health.h"
#include "front/metrics_face.h"
#include "dialects/tat/tat.h"
#include "http/face.h"
#include "server.h"

/* The faces other than rport's, in the order they are asked; NULL ends
 * the list. */
static const struct http_face *const faces[] = {
	&health_face,
	&metrics_face,
	&elastic_face,
	&tat_face,
	NULL,
};

static const struct http_face *face_of(const net_http_req *req)
{
	for (size_t i = 0; faces[i]; i++)
		if (faces[i]->claims(req))
			return faces[i];
	return NULL;
}

static void on_headers(void *ud, net_http_req *req)
{
	const struct http_face *f = face_of(req);

	if (f)
		f->headers(ud, req);
	else
		rport_listener_callbacks()->http_headers(ud, req);
}

static void on_request(void *ud, net_http_req *req)
{
	const struct http_face *f = face_of(req);

	if (f)
		f->request(ud, req);
	else
		rport_listener_callbacks()->http_request(ud, req);
}

static void on_abort(void *ud, net_http_req *req)
{
	const struct http_face *f = face_of(req);

	if (f)
		f->abort(ud, req);
	else
		rport_listener_callbacks()->http_abort(ud, req);
}

/* The network layer's own answers: in the envelope of the face that
 * claims the request as far as it was read, and otherwise rport's. */
static size_t on_error_body(void *ud, const net_http_req *req, int *status, const char *title,
			    const char *detail, char *out, size_t outlen, const char **type)
{
	const struct http_face *f = req ? face_of(req) : NULL;

	if (f && f->error_body)
		return f->error_body(status, title, detail, out, outlen, type);
	return rport_listener_callbacks()->error_body(ud, req, status, title, detail, out, outlen,
						      type);
}

static struct net_callbacks callbacks;

const struct net_callbacks *front_callbacks(void)
{
	if (!callbacks.http_headers) {
		callbacks = *rport_listener_callbacks();
		callbacks.http_headers = on_headers;
		callbacks.http_request = on_request;
		callbacks.http_abort = on_abort;
		callbacks.error_body = on_error_body;
	}
	return &callbacks;
}
