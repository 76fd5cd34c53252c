/* hellos: hellos per loop turn (hub_priv.h).
 *
 * The first frame of a connection (its hello, or an enrollment) costs
 * about 90 us: the credential check, the client's record and its store
 * write, the welcome, the redelivery check. A reconnect storm hands the
 * loop up to a thousand of them in one turn, and an API request read in
 * that turn waits for all of them. So a turn handles HUB_TURN_HELLOS
 * first frames; past that budget a session's frames are kept, in order,
 * as they came (copied, not parsed: a few microseconds each), and a later
 * turn handles them, HUB_TURN_HELLOS sessions a turn. A check handle
 * gives each turn its budget after the turn's I/O. */
#include "agents/hub_priv.h"

/* (64 until issue 19's sixth pass: on a slower guest 64 hellos, with the
 * turn's upgrades and commits, held the loop for up to 30 ms; with 32 the
 * API's p99 during a 19,800-agent storm was 16-18 ms and the storm no
 * longer) */
#define HUB_TURN_HELLOS 32
/* What one session may send before its hello is handled (an agent sends
 * nothing before the welcome). */
#define HUB_EARLY_MAX_BYTES (256 * 1024)

static void hello_drain_cb(uv_idle_t *idle);

static void hello_refill_cb(uv_check_t *h)
{
	struct hub *hub = h->data;

	hub->hello_budget = HUB_TURN_HELLOS;
	uv_check_stop(h);
}

static void hello_spend(struct hub *h)
{
	h->hello_budget--;
	if (!uv_is_active((uv_handle_t *)&h->hello_refill))
		uv_check_start(&h->hello_refill, hello_refill_cb);
}

static void early_free(struct session *s)
{
	while (s->early) {
		struct early_frame *f = s->early;

		s->early = f->next;
		free(f);
	}
	s->early_tail = NULL;
	s->early_bytes = 0;
}

void hub_hellos_forget(struct hub *h, struct session *s)
{
	if (!s->in_hq)
		return;
	if (s->hqprev)
		s->hqprev->hqnext = s->hqnext;
	else
		h->hq = s->hqnext;
	if (s->hqnext)
		s->hqnext->hqprev = s->hqprev;
	else
		h->hq_tail = s->hqprev;
	s->hqnext = s->hqprev = NULL;
	s->in_hq = false;
	early_free(s);
}

/* Keeps a copy of a frame for a later turn (the session joins hq).
 * Returns 0, or -1 past HUB_EARLY_MAX_BYTES or without memory. */
static int early_keep(struct session *s, const char *data, size_t len)
{
	struct hub *h = s->hub;
	struct early_frame *f;

	if (s->early_bytes + len > HUB_EARLY_MAX_BYTES || !(f = malloc(sizeof *f + len)))
		return -1;
	f->next = NULL;
	f->len = len;
	memcpy(f->data, data, len);
	if (s->early_tail)
		s->early_tail->next = f;
	else
		s->early = f;
	s->early_tail = f;
	s->early_bytes += len;
	if (!s->in_hq) {
		metrics_add(h->srv->metrics, MC_AGENT_HELLOS_DEFERRED, 1);
		s->in_hq = true;
		s->hqnext = NULL;
		s->hqprev = h->hq_tail;
		if (h->hq_tail)
			h->hq_tail->hqnext = s;
		else
			h->hq = s;
		h->hq_tail = s;
		uv_idle_start(&h->hello_drain, hello_drain_cb);
	}
	return 0;
}

static void hello_drain_cb(uv_idle_t *idle)
{
	struct hub *h = idle->data;

	while (h->hq && h->hello_budget > 0 && !h->stopping) {
		struct session *s = h->hq;
		struct early_frame *f = s->early;

		h->hq = s->hqnext;
		if (h->hq)
			h->hq->hqprev = NULL;
		else
			h->hq_tail = NULL;
		s->hqnext = s->hqprev = NULL;
		s->in_hq = false;
		s->early = s->early_tail = NULL;
		s->early_bytes = 0;
		hello_spend(h);
		/* (a closed connection's session lives until its close
		 * callback, which also takes it out of hq: s is valid here) */
		while (f) {
			struct early_frame *next = f->next;

			hub_frame(s, f->data, f->len);
			free(f);
			f = next;
		}
	}
	if (!h->hq || h->stopping)
		uv_idle_stop(idle);
}

bool hub_hellos_defer(struct session *s, const char *data, size_t len)
{
	struct hub *h = s->hub;

	if (s->in_hq || (!s->client && h->hello_budget <= 0 && !h->stopping)) {
		if (early_keep(s, data, len))
			session_fail(s, PROTO_CLOSE_PROTOCOL, "too much sent before the welcome");
		return true;
	}
	if (!s->client)
		hello_spend(h);
	return false;
}

void hub_hellos_init(struct hub *h, uv_loop_t *loop)
{
	uv_check_init(loop, &h->hello_refill);
	h->hello_refill.data = h;
	uv_idle_init(loop, &h->hello_drain);
	h->hello_drain.data = h;
	h->hello_budget = HUB_TURN_HELLOS;
}

void hub_hellos_stop(struct hub *h)
{
	/* Frames that waited for a turn are dropped: their connections
	 * close with the context. */
	while (h->hq)
		hub_hellos_forget(h, h->hq);
	uv_close((uv_handle_t *)&h->hello_refill, NULL);
	uv_close((uv_handle_t *)&h->hello_drain, NULL);
}
