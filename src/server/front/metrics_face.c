/* metrics_face: GET /metrics on the API listener, in Prometheus' text
 * format, for an API token of an administrator or of scope "metrics" (as
 * the password of basic auth, or a bearer /login token of an admin).
 * Passwords are not tried here (no brute-force guard of its own).
 *
 * With [metrics] address the same route is also served on a listener of
 * its own (metrics_listener_callbacks): the same credentials, and nothing
 * else on that port (every other path is 404, no WebSocket). */
#include "front/metrics_face.h"

#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "core/metrics.h"
#include "server.h"

static bool metrics_claims(const net_http_req *req)
{
	return strcmp(net_http_path(req), "/metrics") == 0;
}

static void reply(net_http_req *req, int status, const char *msg)
{
	net_http_respond(req, status, "text/plain; charset=utf-8", msg, strlen(msg));
}

struct scrape {
	struct server *srv;
	net_http_req *req;
};

static void scrape_auth(void *ud, const struct auth_identity *id)
{
	struct scrape *sc = ud;
	char *text;
	size_t len;

	if (!id) {
		reply(sc->req, 401, "unauthorized: an API token of scope metrics, or of an administrator\n");
	} else if (id->scope != AUTH_SCOPE_METRICS && !auth_user_is_admin(sc->srv->auth, id->user)) {
		reply(sc->req, 403, "forbidden: metrics are for administrators and metrics tokens\n");
	} else if (!(text = metrics_render(sc->srv->metrics, &len))) {
		reply(sc->req, 503, "out of memory\n");
	} else {
		net_http_respond(sc->req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
		free(text);
	}
	free(sc);
}

static void metrics_headers(struct server *srv, net_http_req *req)
{
	const char *m = net_http_method(req);
	struct scrape *sc;

	if (strcmp(m, "GET") && strcmp(m, "HEAD")) {
		reply(req, 405, "method not allowed\n");
		return;
	}
	sc = malloc(sizeof *sc);
	if (!sc) {
		reply(req, 503, "out of memory\n");
		return;
	}
	sc->srv = srv;
	sc->req = req;
	auth_metrics_check(srv->auth, net_http_authorization(req), scrape_auth, sc);
}

/* Answered at the head; a body is never read. */
static void metrics_request(struct server *srv, net_http_req *req)
{
	(void)srv;
	(void)req;
}

static void metrics_abort(struct server *srv, net_http_req *req)
{
	(void)srv;
	(void)req;
}

const struct http_face metrics_face = {
	.name = "metrics",
	.claims = metrics_claims,
	.headers = metrics_headers,
	.request = metrics_request,
	.abort = metrics_abort,
};

/* ---- the [metrics] address listener ----------------------------------- */

static void own_headers(void *ud, net_http_req *req)
{
	if (!metrics_claims(req)) {
		reply(req, 404, "not found: this listener serves GET /metrics only\n");
		return;
	}
	metrics_headers(ud, req);
}

static void own_request(void *ud, net_http_req *req)
{
	(void)ud;
	(void)req;
}

static void own_abort(void *ud, net_http_req *req)
{
	(void)ud;
	(void)req;
}

static int own_ws_accept(void *ud, net_conn *c)
{
	(void)ud;
	(void)c;
	return 404;
}

static void own_ws_message(void *ud, net_conn *c, const char *data, size_t len)
{
	(void)ud;
	(void)c;
	(void)data;
	(void)len;
}

static void own_ws_close(void *ud, net_conn *c, const char *reason)
{
	(void)ud;
	(void)c;
	(void)reason;
}

static const struct net_callbacks own_callbacks = {
	.http_headers = own_headers,
	.http_request = own_request,
	.http_abort = own_abort,
	.ws_accept = own_ws_accept,
	.ws_message = own_ws_message,
	.ws_close = own_ws_close,
};

const struct net_callbacks *metrics_listener_callbacks(void)
{
	return &own_callbacks;
}
