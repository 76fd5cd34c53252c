/* health: liveness and readiness probes. */
#include "front/health.h"

#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "store/store.h"
#include "util.h"

/* A readiness probe commits an empty write through the group commit; the
 * requests that arrive while one is out wait for it, and a result is
 * reused for a second, so a flood of probes costs one commit a second. */
#define HEALTH_REUSE_MS 1000
#define HEALTH_MAX_WAITING 256

struct probe {
	struct server *srv;
	net_http_req *waiting[HEALTH_MAX_WAITING];
	size_t nwaiting;
	bool out;              /* a commit is queued */
	bool have;             /* last_rc is known */
	int last_rc;
	uint64_t last_ms;
	bool stopping;
};

static struct probe probe;

void health_stopping(void) { probe.stopping = true; }

static bool health_claims(const net_http_req *req)
{
	const char *p = net_http_path(req);

	return strcmp(p, "/healthz") == 0 || strcmp(p, "/readyz") == 0;
}

static void answer(net_http_req *req, int status, const char *body)
{
	net_http_respond(req, status, "application/json", body, strlen(body));
}

static void ready_answer(struct server *srv, net_http_req *req, int store_rc)
{
	if (probe.stopping)
		answer(req, 503, "{\"status\":\"stopping\"}");
	else if (!srv->api_listener || !srv->agent_listener)
		answer(req, 503, "{\"status\":\"not ready\",\"failing\":\"listeners\"}");
	else if (store_rc)
		answer(req, 503, "{\"status\":\"not ready\",\"failing\":\"store\"}");
	else
		answer(req, 200, "{\"status\":\"ready\"}");
}

static int probe_apply(struct store *st, void *arg)
{
	(void)st;
	(void)arg;
	return 0;
}

static void probe_after(void *arg, int rc)
{
	struct probe *p = arg;

	p->out = false;
	p->have = true;
	p->last_rc = rc;
	p->last_ms = util_mono_ms();
	for (size_t i = 0; i < p->nwaiting; i++)
		ready_answer(p->srv, p->waiting[i], rc);
	p->nwaiting = 0;
}

static void health_headers(struct server *srv, net_http_req *req)
{
	const char *m = net_http_method(req);
	bool ready = strcmp(net_http_path(req), "/readyz") == 0;

	if (strcmp(m, "GET") && strcmp(m, "HEAD")) {
		answer(req, 405, "{\"status\":\"method not allowed\"}");
		return;
	}
	if (!ready) {
		answer(req, 200, "{\"status\":\"ok\"}");
		return;
	}
	if (probe.stopping || (probe.have && !probe.out &&
			       util_mono_ms() - probe.last_ms < HEALTH_REUSE_MS)) {
		ready_answer(srv, req, probe.last_rc);
		return;
	}
	if (probe.nwaiting == HEALTH_MAX_WAITING) {
		answer(req, 503, "{\"status\":\"busy\"}");
		return;
	}
	probe.srv = srv;
	probe.waiting[probe.nwaiting++] = req;
	if (!probe.out) {
		probe.out = true;
		store_queue(srv->store, probe_apply, probe_after, &probe);
	}
}

/* The probes answer at their head: a body, if any, is never read. */
static void health_request(struct server *srv, net_http_req *req)
{
	(void)srv;
	(void)req;
}

static void health_abort(struct server *srv, net_http_req *req)
{
	(void)srv;
	(void)req;
}

const struct http_face health_face = {
	.name = "health",
	.claims = health_claims,
	.headers = health_headers,
	.request = health_request,
	.abort = health_abort,
};
