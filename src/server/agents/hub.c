/* hub: agent sessions: the hello, the frame table, heartbeats. */
#include "agents/hub_priv.h"

#include "core/offline.h"

/* ---- sending -------------------------------------------------------- */

static void acking_remove(struct hub *h, struct session *s)
{
	if (!s->in_acking)
		return;
	if (s->ackprev)
		s->ackprev->acknext = s->acknext;
	else
		h->acking = s->acknext;
	if (s->acknext)
		s->acknext->ackprev = s->ackprev;
	else
		h->acking_tail = s->ackprev;
	s->acknext = s->ackprev = NULL;
	s->in_acking = false;
}

static int session_send_text(struct session *s, const char *text, size_t len)
{
	int rc = net_ws_send(s->conn, text, len);

	if (!rc) {
		metrics_add(s->hub->srv->metrics, MC_AGENT_FRAMES_OUT, 1);
		metrics_add(s->hub->srv->metrics, MC_AGENT_BYTES_OUT, len);
	} else {
		log_warn("hub: %s: cannot queue a frame (%d)",
			 s->client ? s->client->id : net_ws_peer(s->conn), rc);
	}
	return rc;
}

int session_send_open(struct session *s, struct buf *b)
{
	bool acks = s->nacks > 0;
	int rc;

	if ((acks && proto_put_jids(b, "acks", (const char (*)[UUID_STR_LEN])s->acks,
				    s->nacks)) || buf_append(b, "}", 1)) {
		buf_free(b);
		return TE_NOMEM;
	}
	rc = session_send_text(s, b->data, b->len);
	buf_free(b);
	if (!rc && acks) {
		/* On their way: a lost connection means the agent offers
		 * those results again, and they are acked again. */
		s->nacks = 0;
		acking_remove(s->hub, s);
	}
	return rc;
}

int session_send(struct session *s, json_t *msg)
{
	size_t len;
	char *text = proto_dump(msg, &len);
	struct buf b;
	int rc;

	json_decref(msg);
	if (!text)
		return TE_NOMEM;
	if (!s->nacks || len < 2) {
		rc = session_send_text(s, text, len);
		free(text);
		return rc;
	}
	/* A v2 session holds acks: they ride on this frame. */
	buf_init(&b, (size_t)1 << 30);
	rc = buf_append(&b, text, len - 1);
	free(text);
	if (rc) {
		buf_free(&b);
		return TE_NOMEM;
	}
	return session_send_open(s, &b);
}

void session_acks_flush(struct session *s)
{
	struct buf b;

	acking_remove(s->hub, s);
	if (!s->nacks)
		return;
	buf_init(&b, (size_t)1 << 30);
	if (!proto_acks_encode(&b, (const char (*)[UUID_STR_LEN])s->acks, s->nacks) &&
	    !session_send_text(s, b.data, b.len))
		s->nacks = 0;
	buf_free(&b);
}

/* Sessions whose oldest ack has waited ACK_HOLD_MS get an acks frame;
 * the timer is set again for the next oldest. */
static void ack_timer_cb(uv_timer_t *t)
{
	struct hub *h = t->data;
	uint64_t now = util_mono_ms();

	while (h->acking && now - h->acking->ack_since_ms >= ACK_HOLD_MS)
		session_acks_flush(h->acking);
	if (h->acking && !h->stopping)
		uv_timer_start(&h->ack_timer, ack_timer_cb,
			       ACK_HOLD_MS - (now - h->acking->ack_since_ms), 0);
}

void session_ack(struct session *s, const char *jid)
{
	struct hub *h = s->hub;
	struct buf b;

	if (s->proto < 2) {
		buf_init(&b, 4096);
		if (!proto_ack_encode(&b, jid))
			session_send_text(s, b.data, b.len);
		buf_free(&b);
		return;
	}
	if (s->nacks == s->capacks) {
		size_t nc = s->capacks ? s->capacks * 2 : 8;
		char (*na)[UUID_STR_LEN] = realloc(s->acks, nc * sizeof *na);

		if (!na) {
			session_acks_flush(s);
			if (s->nacks)
				return; /* the agent offers it again after a reconnect */
		} else {
			s->acks = na;
			s->capacks = nc;
		}
	}
	util_strlcpy(s->acks[s->nacks++], jid, UUID_STR_LEN);
	if (s->nacks >= ACK_BATCH_MAX || h->stopping) {
		session_acks_flush(s);
		return;
	}
	if (!s->in_acking) {
		s->in_acking = true;
		s->ack_since_ms = util_mono_ms();
		s->acknext = NULL;
		s->ackprev = h->acking_tail;
		if (h->acking_tail)
			h->acking_tail->acknext = s;
		else
			h->acking = s;
		h->acking_tail = s;
	}
	if (!uv_is_active((uv_handle_t *)&h->ack_timer))
		uv_timer_start(&h->ack_timer, ack_timer_cb, ACK_HOLD_MS, 0);
}

void session_fail(struct session *s, int code, const char *why)
{
	json_t *m = proto_new(PROTO_ERROR);

	json_object_set_new(m, "message", json_string(why));
	session_send(s, m);
	net_ws_close(s->conn, code, why);
}

/* ---- clients -------------------------------------------------------- */




















/* Persists the client record (what the API shows, with state). */
void client_save(struct hub *h, struct client *c)
{
	json_t *j = registry_client_record(c);

	json_object_set_new(j, "facts", json_deep_copy(c->facts));
	json_object_set_new(j, "connected_at_ns", json_integer(c->connected_at));
	json_object_set_new(j, "disconnected_at_ns", json_integer(c->disconnected_at));
	json_object_set_new(j, "last_seen_ns", json_integer(c->last_seen));
	queue_client(h, c->id, j);
	json_decref(j);
}



static char *dup_str(json_t *v)
{
	const char *s = json_string_value(v);

	return s ? strdup(s) : NULL;
}

/* ---- frame handlers ------------------------------------------------- */

static bool valid_id(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > MAX_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)id[i] <= ' ' || id[i] == '/' || id[i] == 0x7f)
			return false;
	return true;
}

static bool valid_string_array(json_t *a, size_t max_items, size_t max_len)
{
	size_t i;
	json_t *v;

	if (!json_is_array(a) || json_array_size(a) > max_items)
		return false;
	json_array_foreach(a, i, v)
		if (!json_is_string(v) || json_string_length(v) > max_len)
			return false;
	return true;
}

static bool valid_labels(json_t *o)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o) || json_object_size(o) > MAX_TAGS)
		return false;
	json_object_foreach(o, k, v)
		if (strlen(k) > MAX_TAG_LEN || !json_is_string(v) ||
		    json_string_length(v) > MAX_TAG_LEN)
			return false;
	return true;
}


struct redeliver_ctx {
	struct hub *h;
	char client_id[MAX_ID_LEN + 1];
	json_t *agent_known[2];      /* jids the agent runs, and holds results of */
	json_t *resend;              /* collected: [jid, created_at, timeout, delivery] */
	json_t *expire;              /* collected: [jid, delivery] */
	size_t next;                 /* the next of resend to read and send */
};

static bool listed(json_t *arr, const char *jid)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), jid))
			return true;
	return false;
}

/* Where the agent's hello says a job is: 0 it has never had it, 1 it runs
 * it, 2 it holds its result (which follows the welcome). */
static int agent_has(struct redeliver_ctx *d, const char *jid)
{
	if (listed(d->agent_known[0], jid))
		return 1;
	if (listed(d->agent_known[1], jid))
		return 2;
	return 0;
}

static void redeliver_collect(void *ud, const struct job_running *r)
{
	struct redeliver_ctx *d = ud;
	struct hub *h = d->h;
	int where;

	/* A start waiting in memory (hub.starts) means the agent has it. */
	if (start_waiting(h, r->jid))
		return;
	where = agent_has(d, r->jid);
	if (where == 1) {
		track_started(h, r->jid, d->client_id);
		return;
	}
	if (where == 2) {
		struct tracked *t = tracked_find(h, r->jid);

		if (t)
			t->deadline_ns = max64(t->deadline_ns,
					       deadline_after(util_now_ns(), grace_sec(h)));
		return;
	}
	/* A recorded start the agent no longer knows of (its journal lost):
	 * not sent again, it could run twice. Its deadline ends it. */
	if (r->started)
		return;
	/* It never reached the agent: send it now, or, past its delivery
	 * deadline, it never runs. */
	if (deadline_after(r->created_at, delivery_sec(h, r->delivery_timeout_sec)) > util_now_ns())
		json_array_append_new(d->resend,
				      json_pack("[s, I, I, I]", r->jid, (json_int_t)r->created_at,
						(json_int_t)r->timeout_sec,
						(json_int_t)r->delivery_timeout_sec));
	else
		json_array_append_new(d->expire, json_pack("[s, I]", r->jid,
							  (json_int_t)r->delivery_timeout_sec));
}

/* A job finished "unconfirmed" that the agent has never had: it never ran. */
static void unconfirmed_collect(void *ud, const char *jid, int64_t delivery)
{
	struct redeliver_ctx *d = ud;

	if (!agent_has(d, jid))
		json_array_append_new(d->expire, json_pack("[s, I]", jid, (json_int_t)delivery));
}

static void redeliver_free(struct redeliver_ctx *d)
{
	json_decref(d->agent_known[0]);
	json_decref(d->agent_known[1]);
	json_decref(d->resend);
	json_decref(d->expire);
	free(d);
}

static void resend_next(struct redeliver_ctx *d);

/* A job to send again has been read: sent unless its start is known. */
static void resend_read(void *ud, int rc, struct job_row *job)
{
	struct redeliver_ctx *d = ud;
	json_t *v = json_array_get(d->resend, d->next - 1);
	struct client *c = registry_find(d->h->srv->registry, d->client_id);
	struct job_spec spec;

	/* Its agent confirmed it: sending it again could run it twice on an
	 * agent whose journal was lost. */
	if (rc || job->has_pid || !registry_client_connected(c)) {
		resend_next(d);
		return;
	}
	store_job_spec_of_row(&spec, job);
	spec.client_id = c->id;
	/* Sent again as it first went: without its multi job's names. */
	spec.multi_job_id = NULL;
	spec.client_name = NULL;
	spec.created_by = NULL;
	spec.created_at = json_integer_value(json_array_get(v, 1));
	spec.timeout_sec = json_integer_value(json_array_get(v, 2));
	spec.delivery_timeout_sec = json_integer_value(json_array_get(v, 3));
	log_info("hub: job %s never reached '%s': sending it again", spec.jid, c->id);
	registry_run(d->h->srv->registry, c, &spec, NULL, NULL);
	resend_next(d);
}

static void resend_next(struct redeliver_ctx *d)
{
	json_t *v = json_array_get(d->resend, d->next);

	if (!v) {
		redeliver_free(d);
		return;
	}
	d->next++;
	store_read_job(d->h->srv->store, json_string_value(json_array_get(v, 0)), resend_read, d);
}

static void unconfirmed_read(void *ud, int rc)
{
	struct redeliver_ctx *d = ud;
	size_t i;
	json_t *v;

	(void)rc;
	json_array_foreach(d->expire, i, v)
		queue_expire(d->h, json_string_value(json_array_get(v, 0)), d->client_id,
			     json_integer_value(json_array_get(v, 1)));
	resend_next(d);
}

static void running_read(void *ud, int rc)
{
	struct redeliver_ctx *d = ud;

	(void)rc;
	store_read_each_unconfirmed_of(d->h->srv->store, d->client_id, unconfirmed_collect,
				       unconfirmed_read, d);
}

/* At every hello the agent's word settles the jobs the store has as
 * running on this client with no start recorded or waiting: one it runs
 * is started (its deadline counts from now); one whose result it holds
 * gets that result right after the welcome; one it has never had is sent
 * now (a tetherd crash between the commit and the send, or a connection
 * lost with the frame in it), or, past its delivery deadline, expires: it
 * never ran. A job the server finished "unconfirmed" that the agent has
 * never had expires too. The agent runs a jid at most once (its journal):
 * one it never received runs now, one it finished gets its held result
 * sent again, one it ran when it crashed is reported unknown. The store
 * is read through its callbacks: running jobs, then unconfirmed ones, then
 * each job to send again. */
static void redeliver(struct hub *h, struct client *c, json_t *running, json_t *held)
{
	struct redeliver_ctx *d = calloc(1, sizeof *d);

	if (!d)
		return;
	d->h = h;
	util_strlcpy(d->client_id, c->id, sizeof d->client_id);
	d->agent_known[0] = json_is_array(running) ? json_incref(running) : NULL;
	d->agent_known[1] = json_is_array(held) ? json_incref(held) : NULL;
	d->resend = json_array();
	d->expire = json_array();
	if (!d->resend || !d->expire) {
		redeliver_free(d);
		return;
	}
	store_read_each_running_of(h->srv->store, c->id, redeliver_collect, running_read, d);
}

/* Refuses a hello: an error frame with the whole message, then a close
 * with a short reason (close reasons are capped). */
static void session_refuse(struct session *s, int code, const char *reason, const char *message)
{
	json_t *m = proto_new(PROTO_ERROR);

	json_object_set_new(m, "message", json_string(message));
	session_send(s, m);
	net_ws_close(s->conn, code, reason);
}

/* A credential used for a client id it is not bound to. */
static void refuse_id(struct session *s, const char *auth_id, const char *id)
{
	struct audit_entry e = { 0 };
	char msg[400];

	log_warn("hub: %s: client auth id '%.64s' may not connect as client '%.64s' (it is bound "
		 "to the client of its own id; see [server] shared_client_auth)",
		 net_ws_peer(s->conn), auth_id, id);
	e.username = auth_id;
	e.remote_ip = net_ws_peer(s->conn);
	e.application = "agent";
	e.action = "id_refused";
	e.client_id = id;
	e.success = false;
	audit_queue(s->hub->srv, &e);
	snprintf(msg, sizeof msg, "client auth id '%.64s' may only connect as client '%.64s', "
		 "not '%.64s' (the server lists shared credentials in [server] shared_client_auth)",
		 auth_id, auth_id, id);
	session_refuse(s, PROTO_CLOSE_AUTH, "credential bound to another client id", msg);
}

/* Is the connection that holds a client id alive? Yes if it was heard
 * from lately or has not yet had DUP_PROBE_MS to answer a ping; a ping is
 * sent when it has been quiet (agents ping only every keep_alive). *silent:
 * how long it has been quiet. */
static bool session_answers(struct session *old, uint64_t *silent)
{
	uint64_t now = util_mono_ms();

	*silent = now - old->last_rx_ms;
	if (*silent < DUP_PROBE_MS)
		return true;
	if (old->probe_ms > old->last_rx_ms)
		return now - old->probe_ms < DUP_PROBE_MS;
	old->probe_ms = now;
	session_send(old, proto_new(PROTO_PING));
	return true;
}

/* The client's record from its agent's hello (checked by on_hello). */
static void client_take_hello(struct client *c, struct session *s, json_t *m)
{
	const char *name = json_string_value(json_object_get(m, "name"));
	json_t *tags = json_object_get(m, "tags");
	json_t *labels = json_object_get(m, "labels");
	json_t *facts = json_object_get(m, "facts");
	json_t *interps = json_object_get(m, "interpreters");
	json_t *services = json_object_get(m, "services");

	free(c->name);
	c->name = strdup(name && *name ? name : c->id);
	free(c->auth_id);
	c->auth_id = dup_str(json_object_get(m, "auth_id"));
	free(c->version);
	c->version = dup_str(json_object_get(m, "version"));
	if (facts) {
		json_decref(c->facts);
		c->facts = json_deep_copy(facts);
	}
	json_decref(c->tags);
	c->tags = tags ? json_deep_copy(tags) : json_array();
	json_decref(c->labels);
	c->labels = labels ? json_deep_copy(labels) : json_object();
	json_decref(c->interpreters);
	c->interpreters = interps ? json_deep_copy(interps) : json_array();
	json_decref(c->services);
	c->services = services ? json_deep_copy(services) : json_array();
	{
		/* An IPv4 peer on a dual-stack socket: show it as IPv4. */
		const char *peer = net_ws_peer(s->conn);

		if (!strncmp(peer, "::ffff:", 7) && strchr(peer, '.'))
			peer += 7;
		util_strlcpy(c->address, peer, sizeof c->address);
	}
}

void on_hello(struct session *s, json_t *m)
{
	struct hub *h = s->hub;
	const char *auth_id = json_string_value(json_object_get(m, "auth_id"));
	const char *password = json_string_value(json_object_get(m, "password"));
	const char *id = json_string_value(json_object_get(m, "id"));
	json_t *tags = json_object_get(m, "tags");
	json_t *labels = json_object_get(m, "labels");
	json_t *facts = json_object_get(m, "facts");
	json_t *interps = json_object_get(m, "interpreters");
	json_t *services = json_object_get(m, "services");
	const char *name = json_string_value(json_object_get(m, "name"));
	struct client *c;
	json_t *w;

	if (s->client) {
		session_fail(s, PROTO_CLOSE_PROTOCOL, "hello sent twice");
		return;
	}
	{
		const char *why;

		if (guard_admit(h->guard, net_ws_peer(s->conn), auth_id, &why) != GUARD_OK) {
			session_fail(s, PROTO_CLOSE_AUTH, why);
			return;
		}
	}
	if (!auth_agent_check(h->srv->auth, auth_id, password)) {
		log_warn("hub: %s: authentication failed for client auth id '%.64s'",
			 net_ws_peer(s->conn), auth_id);
		guard_failed(h->guard, net_ws_peer(s->conn), auth_id);
		metrics_add(h->srv->metrics, MC_AGENT_HANDSHAKES_FAILED, 1);
		audit_failed_login(h->srv, auth_id, net_ws_peer(s->conn), "agent");
		session_fail(s, PROTO_CLOSE_AUTH, "authentication failed");
		return;
	}
	guard_succeeded(h->guard, net_ws_peer(s->conn), auth_id);
	metrics_add(h->srv->metrics, MC_AGENT_HANDSHAKES_OK, 1);
	if (!valid_id(id)) {
		session_fail(s, PROTO_CLOSE_PROTOCOL, "invalid client id");
		return;
	}
	if (!auth_agent_id_allowed(h->srv->auth, auth_id, id)) {
		refuse_id(s, auth_id, id);
		return;
	}
	if ((tags && !valid_string_array(tags, MAX_TAGS, MAX_TAG_LEN)) ||
	    (labels && !valid_labels(labels)) || (facts && !json_is_object(facts)) ||
	    (interps && !valid_string_array(interps, MAX_TAGS, MAX_TAG_LEN)) ||
	    (services && !valid_string_array(services, MAX_TAGS, MAX_TAG_LEN)) ||
	    (name && strlen(name) > 256)) {
		session_fail(s, PROTO_CLOSE_PROTOCOL, "invalid hello: bad tags, labels or facts");
		return;
	}
	c = registry_get_or_add(h->srv->registry, id);
	if (!c) {
		session_fail(s, 1011, "out of memory");
		return;
	}
	if (c->s && c->s != s) {
		/* One connection per id. A live one keeps it and the newcomer
		 * is refused (two agents with one id do not take turns); a dead
		 * one (its heartbeat unanswered) is dropped for the newcomer. */
		struct session *old = c->s;
		uint64_t silent = 0;

		if (session_answers(old, &silent)) {
			char msg[300];

			log_warn("hub: client '%s': refused a second connection from %s: the id is "
				 "in use by the live connection from %s", id, net_ws_peer(s->conn),
				 net_ws_peer(old->conn));
			snprintf(msg, sizeof msg, "client id '%s' is in use by a live connection; "
				 "this one is refused (another agent has the same id?)", id);
			session_refuse(s, PROTO_CLOSE_ID_IN_USE, "client id in use", msg);
			return;
		}
		log_warn("hub: client '%s': new connection from %s replaces the one from %s, "
			 "silent for %llu ms and deaf to a heartbeat", id, net_ws_peer(s->conn),
			 net_ws_peer(old->conn), (unsigned long long)silent);
		old->client = NULL;
		registry_client_attach(h->srv->registry, c, NULL);
		while (old->pend)
			pending_resolve(h, old->pend, TE_IO,
					"the client connection was replaced", 0);
		net_ws_drop(old->conn);
	}
	unauth_remove(h, s);
	s->client = c;
	registry_client_attach(h->srv->registry, c, s);
	client_take_hello(c, s, m);
	c->connected_at = util_now_ns();
	c->last_seen = c->connected_at;
	client_save(h, c);
	log_info("hub: client '%s' connected from %s", id, c->address);

	/* The lower of the two versions; an agent that says none speaks 1. */
	{
		json_int_t v = json_integer_value(json_object_get(m, "protocol"));

		s->proto = v >= PROTO_VERSION ? PROTO_VERSION : PROTO_V1;
	}
	w = proto_new(PROTO_WELCOME);
	json_object_set_new(w, "server_version", json_string(h->srv->version));
	json_object_set_new(w, "protocol", json_integer(s->proto));
	session_send(s, w);
	redeliver(h, c, json_object_get(m, "running"), json_object_get(m, "held"));
	/* Jobs that waited for this client go out now (after the welcome). */
	offline_client_up(h->srv->offline, c->id);
}

/* Live output: published for whoever listens (nothing is stored). The
 * client is the session's own: a subscriber checks that the job is this
 * client's before it believes the frame. */
static void on_output(struct session *s, json_t *m)
{
	struct server *srv = s->hub->srv;
	const char *stream = json_string_value(json_object_get(m, "stream"));
	const char *enc = json_string_value(json_object_get(m, "encoding"));
	json_t *data = json_object_get(m, "data");
	json_t *off = json_object_get(m, "offset");
	json_t *offl = json_object_get(m, "offset_lines");
	struct event e = { .kind = EV_JOB_OUTPUT };

	if (!events_wanted(srv->events, EV_JOB_OUTPUT) ||
	    (strcmp(stream, "stdout") && strcmp(stream, "stderr")))
		return;
	e.jid = json_string_value(json_object_get(m, "jid"));
	e.client_id = s->client->id;
	e.client_name = registry_client_name(s->client);
	e.stream = strcmp(stream, "stderr") ? JOB_STDOUT : JOB_STDERR;
	e.data = json_string_value(data);
	e.len = json_string_length(data);
	e.base64 = enc && !strcmp(enc, "base64");
	/* Where the frame starts in its stream; -1 from an agent that does
	 * not say (no gap check then). */
	e.offset = json_is_integer(off) && json_integer_value(off) >= 0 ? json_integer_value(off) : -1;
	e.offset_lines = json_is_integer(offl) && json_integer_value(offl) >= 0 ?
				 json_integer_value(offl) : -1;
	events_publish(srv->events, &e);
}

static void on_ping(struct session *s, json_t *m)
{
	(void)m;
	session_send(s, proto_new(PROTO_PONG));
}

static void on_ignore(struct session *s, json_t *m)
{
	(void)s;
	(void)m;
}

static void on_error_frame(struct session *s, json_t *m)
{
	log_warn("hub: client '%s' reports: %.200s", s->client ? s->client->id : "?",
		 json_string_value(json_object_get(m, "message")));
}

/* Which frames an agent may send, after hello. */
static void (*const frame_handlers[PROTO_TYPE_COUNT])(struct session *, json_t *) = {
	[PROTO_HELLO] = on_hello,
	[PROTO_STARTED] = on_started,
	[PROTO_REJECT] = on_reject,
	[PROTO_RESULT] = on_result,
	[PROTO_OUTPUT] = on_output,
	[PROTO_PING] = on_ping,
	[PROTO_PONG] = on_ignore,
	[PROTO_ERROR] = on_error_frame,
	[PROTO_ENROLL] = on_enroll,
};

/* The session no longer speaks for its client: the client is
 * disconnected from now on, whatever the socket still does. */
void session_detach(struct hub *h, struct session *s, const char *reason)
{
	unauth_remove(h, s);
	/* Held acks go with the connection: the agent offers those results
	 * again after it reconnects, and they are acked again. */
	acking_remove(h, s);
	s->nacks = 0;
	while (s->pend)
		pending_resolve(h, s->pend, TE_IO, "the client disconnected", 0);
	if (s->client && s->client->s == s) {
		struct client *c = s->client;

		registry_client_attach(h->srv->registry, c, NULL);
		c->disconnected_at = util_now_ns();
		if (!h->stopping)
			client_save(h, c);
		log_info("hub: client '%s' disconnected (%s)", c->id, reason);
	}
	s->client = NULL;
}

/* ---- net callbacks -------------------------------------------------- */

static void hub_ws_open(void *ud, net_conn *conn)
{
	struct hub *h = ud;
	struct session *s;

	if (h->stopping) {
		net_ws_close(conn, PROTO_CLOSE_SHUTDOWN, "server shutting down");
		return;
	}
	if ((int64_t)h->nunauth >= h->srv->cfg.max_concurrent_handshakes) {
		/* A reconnect storm: refuse now, the agent's jittered backoff
		 * spreads the retries. */
		net_ws_close(conn, 1013, "too many handshakes, try again later");
		return;
	}
	s = calloc(1, sizeof *s);
	if (!s) {
		net_ws_close(conn, 1011, "out of memory");
		return;
	}
	s->hub = h;
	s->conn = conn;
	s->opened_ms = util_mono_ms();
	s->in_unauth = true;
	s->proto = PROTO_V1;
	s->last_rx_ms = s->opened_ms;
	h->nunauth++;
	s->unext = h->unauth;
	if (h->unauth)
		h->unauth->uprev = s;
	h->unauth = s;
	net_ws_set_user(conn, s);
}

/* A result or started frame, the most common ones, decoded without a
 * JSON tree (proto_fast_decode). Returns false when the frame is some
 * other or not plainly shaped: the full parser then takes it. */
static bool hub_fast_message(struct session *s, const char *data, size_t len)
{
	struct proto_result res;
	struct proto_started st;
	char *arena;
	int t;

	/* Agents write the type first; the decoder is tried only then. */
	if (!s->client || len < 16 || (!memmem(data, len < 40 ? len : 40, "\"result\"", 8) &&
				       !memmem(data, len < 40 ? len : 40, "\"started\"", 9)))
		return false;
	arena = malloc(len + 1);
	if (!arena)
		return false;
	t = proto_fast_decode(data, len, arena, &res, &st);
	if (t < 0) {
		free(arena);
		return false;
	}
	s->last_rx_ms = util_mono_ms();
	metrics_add(s->hub->srv->metrics, MC_AGENT_FRAMES_IN, 1);
	metrics_add(s->hub->srv->metrics, MC_AGENT_BYTES_IN, len);
	s->client->last_seen = util_now_ns();
	if (t == PROTO_RESULT) {
		result_take(s, &res, NULL, arena);
		return true;
	}
	started_take(s, &st);
	free(arena);
	return true;
}

static void hub_ws_message(void *ud, net_conn *conn, const char *data, size_t len)
{
	struct session *s = net_ws_user(conn);

	(void)ud;
	if (!s || (!s->client && !s->in_unauth) || s->enroll_done)
		return; /* detached: being dropped, or an enrollment is closing */
	if (!hub_hellos_defer(s, data, len))
		hub_frame(s, data, len);
}

void hub_frame(struct session *s, const char *data, size_t len)
{
	net_conn *conn = s->conn;
	enum proto_type type;
	char err[256];
	json_t *m;

	if ((!s->client && !s->in_unauth) || s->enroll_done)
		return; /* detached: being dropped, or an enrollment is closing */
	if (hub_fast_message(s, data, len))
		return;
	if (proto_parse(data, len, &m, &type, err, sizeof err)) {
		log_warn("hub: %s: bad frame: %s", net_ws_peer(conn), err);
		session_fail(s, PROTO_CLOSE_PROTOCOL, err);
		return;
	}
	s->last_rx_ms = util_mono_ms();
	metrics_add(s->hub->srv->metrics, MC_AGENT_FRAMES_IN, 1);
	metrics_add(s->hub->srv->metrics, MC_AGENT_BYTES_IN, len);
	if (!s->client && type != PROTO_HELLO && type != PROTO_ENROLL) {
		session_fail(s, PROTO_CLOSE_PROTOCOL, "the first frame must be hello");
	} else if (!frame_handlers[type]) {
		char why[96];

		snprintf(why, sizeof why, "frame type \"%s\" is not for the server",
			 proto_type_name(type));
		session_fail(s, PROTO_CLOSE_PROTOCOL, why);
	} else {
		if (s->client)
			s->client->last_seen = util_now_ns();
		frame_handlers[type](s, m);
	}
	json_decref(m);
}

static void hub_ws_close(void *ud, net_conn *conn, const char *reason)
{
	struct hub *h = ud;
	struct session *s = net_ws_user(conn);

	if (!s)
		return;
	hub_hellos_forget(h, s);
	session_detach(h, s, reason);
	free(s->acks);
	free(s);
}

/* What the agent listener answers by itself (a plain HTTP request, a
 * broken upgrade): {"errors":[{"code":"","title":...,"detail":...}]}, the
 * shape agents and operators have always seen there. */
static size_t hub_error_body(void *ud, const net_http_req *req, int *status, const char *title,
			     const char *detail, char *out, size_t outlen, const char **type)
{
	json_t *j = json_pack("{s:[{s:s, s:s, s:s}]}", "errors", "code", "", "title",
			      title ? title : "", "detail", detail ? detail : "");
	size_t n = j ? json_dumpb(j, out, outlen, JSON_COMPACT) : 0;

	(void)ud;
	(void)req;
	(void)status;
	json_decref(j);
	*type = "application/json";
	return n <= outlen ? n : 0;
}

static const struct net_callbacks hub_callbacks = {
	.error_body = hub_error_body,
	.ws_open = hub_ws_open,
	.ws_message = hub_ws_message,
	.ws_close = hub_ws_close,
};

const struct net_callbacks *hub_net_callbacks(void) { return &hub_callbacks; }

struct guard *hub_guard(struct hub *h)
{
	return h->guard;
}

/* ---- lifecycle ------------------------------------------------------ */

int hub_create(struct server *srv, struct hub **out)
{
	struct hub *h = calloc(1, sizeof *h);

	if (!h)
		return TE_NOMEM;
	h->srv = srv;
	h->guard = guard_create((int)srv->cfg.client_max_failed_login,
				srv->cfg.client_ban_time * 1000,
				(int64_t)(srv->cfg.client_login_wait * 1000.0));
	if (!h->guard) {
		free(h);
		return TE_NOMEM;
	}
	guard_set_scope(h->guard, "agents", false);
	metrics_gauge(srv->metrics, "tether_bans_active", "Active brute-force bans, by listener.",
		      "listener=\"agent\"", guard_ban_count, h->guard);
	registry_load(srv->registry, srv->store);
	registry_set_router(srv->registry, &hub_router, h);
	store_job_each_running(srv->store, track_loaded, h);
	uv_timer_init(srv->loop, &h->sweep);
	h->sweep.data = h;
	uv_timer_start(&h->sweep, sweep_cb, SWEEP_MS, SWEEP_MS);
	uv_timer_init(srv->loop, &h->start_timer);
	h->start_timer.data = h;
	uv_timer_init(srv->loop, &h->ack_timer);
	h->ack_timer.data = h;
	hub_hellos_init(h, srv->loop);
	*out = h;
	return 0;
}

static void save_disconnected(void *ud, struct client *c)
{
	if (c->s) {
		c->disconnected_at = util_now_ns();
		c->last_seen = c->disconnected_at;
		client_save(ud, c);
	}
}

void hub_stop(struct hub *h)
{

	if (!h)
		return;
	h->stopping = true;
	uv_timer_stop(&h->sweep);
	uv_close((uv_handle_t *)&h->sweep, NULL);
	starts_flush(h);
	uv_timer_stop(&h->start_timer);
	uv_close((uv_handle_t *)&h->start_timer, NULL);
	/* Results stored: their agents may forget them now. */
	while (h->acking)
		session_acks_flush(h->acking);
	uv_timer_stop(&h->ack_timer);
	uv_close((uv_handle_t *)&h->ack_timer, NULL);
	hub_hellos_stop(h);
	/* Record every live client as disconnected now: the sessions are
	 * about to go with the context. */
	registry_each(h->srv->registry, save_disconnected, h);
}

void hub_destroy(struct hub *h)
{
	struct pending *p, *ptmp;

	if (!h)
		return;
	HASH_ITER(hh, h->pending, p, ptmp) {
		HASH_DEL(h->pending, p);
		p->cb(p->ud, TE_IO, "server shutting down", 0);
		free(p);
	}
	{
		struct tracked *t, *ttmp;

		HASH_ITER(hh, h->tracked, t, ttmp) {
			HASH_DEL(h->tracked, t);
			free(t->client_id);
			free(t);
		}
	}
	{
		struct hub_write *w, *wtmp;

		HASH_ITER(hh, h->starts, w, wtmp) {
			HASH_DEL(h->starts, w);
			write_free(w);
		}
	}
	guard_destroy(h->guard);
	free(h);
}
