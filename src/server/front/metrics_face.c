/* metrics_face: GET /metrics on the API listener, in Prometheus' text
 * format, for an API token of an administrator or of scope "metrics" (as
 * the password of basic auth, or a bearer /login token of an admin).
 * Passwords are not tried here (no brute-force guard of its own). */
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
