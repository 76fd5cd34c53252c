/* listener: routes the API listener's events to the REST API (api.c) and
 * the streaming API (ws_api.c). */
#include "dialects/rport/listener.h"

#include "dialects/rport/api.h"
#include "dialects/rport/ws_api.h"
#include "server.h"

static void on_headers(void *ud, net_http_req *req)
{
	struct server *srv = ud;

	api_http_headers(srv->api, req);
}

static void on_request(void *ud, net_http_req *req)
{
	struct server *srv = ud;

	api_http_request(srv->api, req);
}

static void on_abort(void *ud, net_http_req *req)
{
	struct server *srv = ud;

	api_http_abort(srv->api, req);
}

static int on_ws_accept(void *ud, net_conn *c)
{
	struct server *srv = ud;

	return ws_api_accept(srv->ws, c);
}

static void on_ws_message(void *ud, net_conn *c, const char *data, size_t len)
{
	struct server *srv = ud;

	ws_api_message(srv->ws, c, data, len);
}

static void on_ws_close(void *ud, net_conn *c, const char *reason)
{
	struct server *srv = ud;

	(void)reason;
	ws_api_close(srv->ws, c);
}

static void on_ws_drained(void *ud, net_conn *c)
{
	struct server *srv = ud;

	ws_api_drained(srv->ws, c);
}

/* Answers the network layer gives by itself, in rport's error envelope. */
static size_t on_error_body(void *ud, const net_http_req *req, int *status, const char *title,
			    const char *detail, char *out, size_t outlen, const char **type)
{
	struct api_err e;
	json_t *j;
	size_t n;

	(void)ud;
	(void)req;
	api_err_set(&e, *status, title, detail);
	j = api_err_json(&e);
	n = j ? json_dumpb(j, out, outlen, JSON_COMPACT) : 0;
	json_decref(j);
	*type = "application/json";
	return n <= outlen ? n : 0;
}

static const struct net_callbacks callbacks = {
	.error_body = on_error_body,
	.http_headers = on_headers,
	.http_request = on_request,
	.http_abort = on_abort,
	.ws_accept = on_ws_accept,
	.ws_message = on_ws_message,
	.ws_close = on_ws_close,
	.ws_drained = on_ws_drained,
};

const struct net_callbacks *rport_listener_callbacks(void) { return &callbacks; }
