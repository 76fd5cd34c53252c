/* deliver: runs in flight to agents: tracking, server-side deadlines,
 * redelivery after a reconnect, and the writes of starts and outcomes
 * through the store's group commit (docs/internals/delivery.md). */
#include "agents/hub_priv.h"
#include "core/offline.h"
#include "store/outputs.h"

/* ---- tracked jobs and completion ----------------------------------- */

/* base_ns + sec seconds, saturating: no timeout can wrap a deadline. */
int64_t deadline_after(int64_t base_ns, int64_t sec)
{
	int64_t add;

	if (sec < 0)
		sec = 0;
	if (sec > INT64_MAX / NS_PER_SEC)
		return INT64_MAX;
	add = sec * NS_PER_SEC;
	if (base_ns > 0 && add > INT64_MAX - base_ns)
		return INT64_MAX;
	return base_ns + add;
}



/* A job's delivery deadline (0 from rows older than the setting). */
int64_t delivery_sec(const struct hub *h, int64_t sec)
{
	return sec > 0 ? sec : h->srv->cfg.delivery_timeout_sec;
}

struct tracked *tracked_find(struct hub *h, const char *jid)
{
	struct tracked *t;

	HASH_FIND_STR(h->tracked, jid, t);
	return t;
}

/* Starts following a job that is (or may be) on its way to client_id. */
static struct tracked *track(struct hub *h, const char *jid, const char *client_id,
			     int64_t created_at, int64_t timeout_sec, int64_t delivery)
{
	struct tracked *t = tracked_find(h, jid);

	if (created_at <= 0)
		created_at = util_now_ns();
	if (!t) {
		t = calloc(1, sizeof *t);
		if (!t || !(t->client_id = strdup(client_id))) {
			free(t);
			return NULL;
		}
		util_strlcpy(t->jid, jid, sizeof t->jid);
		HASH_ADD_STR(h->tracked, jid, t);
	}
	t->created_at = created_at;
	t->timeout_sec = timeout_sec;
	t->delivery_sec = delivery_sec(h, delivery);
	if (!t->started)
		t->deadline_ns = deadline_after(created_at, t->delivery_sec);
	return t;
}

/* Its agent runs it (a start frame, or its hello lists it): from now on
 * the deadline counts from the start. */
void track_started(struct hub *h, const char *jid, const char *client_id)
{
	struct tracked *t = tracked_find(h, jid);

	if (!t || t->started || strcmp(t->client_id, client_id))
		return;
	t->started = true;
	t->deadline_ns = deadline_after(util_now_ns(), t->timeout_sec + grace_sec(h));
}

/* Forgets a followed job; returns when its run was first sent (0: not). */
static int64_t untrack(struct hub *h, const char *jid)
{
	struct tracked *t = tracked_find(h, jid);
	int64_t sent_ms = 0;

	if (t) {
		sent_ms = t->sent_ms;
		HASH_DEL(h->tracked, t);
		free(t->client_id);
		free(t);
	}
	if (sent_ms)
		metrics_job_unsent(h->srv->metrics);
	return sent_ms;
}

static void job_done(struct hub *h, const char *jid, const char *client_id,
		     enum job_status status)
{
	struct event e = { .kind = EV_JOB_DONE, .jid = jid, .status = status };

	e.run_sent_ms = untrack(h, jid);
	e.client_id = client_id && *client_id ? client_id : NULL;
	events_publish(h->srv->events, &e);
}

static void queue_fail(struct hub *h, const char *jid, enum job_status status, const char *error,
		       const char *state);

void hub_job_fail(struct hub *h, const char *jid, enum job_status status, const char *error)
{
	queue_fail(h, jid, status, error, NULL);
}

/* At start, from the store. A restart gives every job at least
 * result_grace_sec for its agent to reconnect and report. */
void track_loaded(void *ud, const struct job_running *r)
{
	struct hub *h = ud;
	struct tracked *t = track(h, r->jid, r->client_id, r->created_at, r->timeout_sec,
				  r->delivery_timeout_sec);
	int64_t now = util_now_ns();

	if (!t)
		return;
	if (r->started) {
		t->started = true;
		t->deadline_ns = deadline_after(
			max64(deadline_after(max64(r->started_at, r->created_at), r->timeout_sec), now),
			grace_sec(h));
	} else {
		t->deadline_ns = max64(t->deadline_ns, deadline_after(now, grace_sec(h)));
	}
}

/* ---- pending starts ------------------------------------------------- */

void pending_resolve(struct hub *h, struct pending *p, int status,
			    const char *error, int64_t pid)
{
	struct session *s = p->s;

	HASH_DEL(h->pending, p);
	if (s) {
		if (p->sprev)
			p->sprev->snext = p->snext;
		else
			s->pend = p->snext;
		if (p->snext)
			p->snext->sprev = p->sprev;
	}
	p->cb(p->ud, status, error, pid);
	free(p);
}

void unauth_remove(struct hub *h, struct session *s)
{
	if (!s->in_unauth)
		return;
	if (s->uprev)
		s->uprev->unext = s->unext;
	else
		h->unauth = s->unext;
	if (s->unext)
		s->unext->uprev = s->uprev;
	s->in_unauth = false;
	h->nunauth--;
}

struct silent_ctx {
	struct hub *h;
	uint64_t now, limit;
};

static void drop_silent(void *ud, struct client *c)
{
	struct silent_ctx *sc = ud;

	if (c->s && sc->now - c->s->last_rx_ms > sc->limit) {
		struct session *dead = c->s;

		log_warn("hub: client '%s' silent for %llu s: dropping its connection", c->id,
			 (unsigned long long)(sc->now - dead->last_rx_ms) / 1000);
		/* Disconnected now, not when TCP gives up. */
		session_detach(sc->h, dead, "heartbeat timeout");
		net_ws_drop(dead->conn);
	}
}

void sweep_cb(uv_timer_t *t)
{
	struct hub *h = t->data;
	uint64_t now = util_mono_ms();
	struct pending *p, *ptmp;
	struct session *s, *next;

	for (s = h->unauth; s; s = next) {
		next = s->unext;
		if (now - s->opened_ms > HELLO_TIMEOUT_MS) {
			unauth_remove(h, s);
			log_info("hub: %s: no hello in time, closing", net_ws_peer(s->conn));
			net_ws_close(s->conn, PROTO_CLOSE_PROTOCOL, "no hello in time");
		}
	}
	/* Connections that went silent (a half-open TCP connection never
	 * closes by itself): agents ping every keep_alive. */
	{
		struct silent_ctx sc = { h, now, (uint64_t)h->srv->cfg.heartbeat_timeout_sec * 1000 };

		registry_each(h->srv->registry, drop_silent, &sc);
	}
	/* Jobs whose result never came. One pass a second over the jobs in
	 * flight, not over the fleet. */
	{
		struct tracked *tr, *ttmp;
		int64_t now_ns = util_now_ns();

		HASH_ITER(hh, h->tracked, tr, ttmp) {
			if (tr->deadline_ns < now_ns) {
				char jid[UUID_STR_LEN], why[400];
				struct client *c = registry_find(h->srv->registry, tr->client_id);

				util_strlcpy(jid, tr->jid, sizeof jid);
				/* Checked again later unless the write lands. */
				tr->deadline_ns = now_ns + 5 * NS_PER_SEC;
				if (tr->started) {
					log_warn("hub: job %s: no result in time, finishing it as unknown", jid);
					queue_fail(h, jid, JOB_UNKNOWN,
						   "no result from the client within timeout_sec plus a grace period",
						   "lost");
					continue;
				}
				/* Sent (or perhaps sent, before a restart) and never
				 * confirmed: only its agent knows whether it ran. Its
				 * next hello, or a late result, settles it. */
				snprintf(why, sizeof why,
					 "not confirmed: client \"%.128s\" did not confirm the start within %lld s%s;"
					 " whether the command ran is not known",
					 tr->client_id, (long long)tr->delivery_sec,
					 registry_client_connected(c) ? "" : " and is not connected");
				log_warn("hub: job %s: %s", jid, why);
				queue_fail(h, jid, JOB_UNKNOWN, why, "unconfirmed");
			}
		}
	}
	/* Pending starts are few (one per job awaiting its start). */
	HASH_ITER(hh, h->pending, p, ptmp) {
		if (p->deadline < now)
			pending_resolve(h, p, TE_IO, "the client did not confirm the start in time", 0);
	}
}

/* ---- writes through the store's group commit ------------------------ */

static struct hub_write *write_new_id(struct hub *h, int kind, const char *jid,
				      const char *client_id, json_t *hold)
{
	struct hub_write *w = calloc(1, sizeof *w);

	if (!w)
		return NULL;
	w->h = h;
	w->kind = kind;
	util_strlcpy(w->jid, jid ? jid : "", sizeof w->jid);
	util_strlcpy(w->client_id, client_id ? client_id : "", sizeof w->client_id);
	w->hold = json_incref(hold);
	return w;
}

/* A write for what a client's session sent: the ack goes back to it. */
static struct hub_write *write_new(struct hub *h, int kind, const char *jid, struct client *c,
				   json_t *hold)
{
	struct hub_write *w = write_new_id(h, kind, jid, c->id, hold);

	if (w)
		registry_ref_take(h->srv->registry, &w->client, c);
	return w;
}

void write_free(struct hub_write *w)
{
	json_decref(w->hold);
	free(w->arena);
	free(w->dec[0]);
	free(w->dec[1]);
	free(w);
}

static int write_apply(struct store *st, void *arg)
{
	struct hub_write *w = arg;

	switch (w->kind) {
	case W_STARTED:
		return store_job_started(st, w->jid, w->client_id, w->pid, w->started);
	case W_CLIENT:
		return store_client_put(st, w->client_id, w->hold);
	case W_EXPIRE:
		return store_job_expire(st, w->jid, w->r.error, w->r.finished_at);
	default:
		/* W_FAIL is the server's verdict: it has no client. */
		return store_job_finish(st, w->jid, w->kind == W_FAIL ? NULL : w->client_id,
					&w->r);
	}
}

static void send_ack(struct hub *h, const struct hub_write *w)
{
	struct client *c = registry_ref_get(h->srv->registry, &w->client, w->client_id);

	/* To whatever connection the client has now: the agent keeps the
	 * result by jid until it sees this. */
	if (c && c->s)
		session_ack(c->s, w->jid);
}

static void write_after(void *arg, int rc)
{
	struct hub_write *w = arg;
	struct hub *h = w->h;
	struct pending *p;

	HASH_FIND_STR(h->pending, w->jid, p);
	switch (w->kind) {
	case W_STARTED:
		break;
	case W_REJECT:
		if (p && rc != TE_NOTFOUND)
			pending_resolve(h, p, TE_STATE, w->r.error, 0);
		if (rc == 0)
			job_done(h, w->jid, w->client_id, JOB_FAILED);
		if (rc != TE_IO)
			send_ack(h, w);
		break;
	case W_RESULT:
		/* A result can come without a start having been seen; only the
		 * job's own agent answers its pending run. */
		if (p && rc != TE_NOTFOUND)
			pending_resolve(h, p, 0, NULL, w->r.pid);
		if (rc == TE_IO) {
			/* Not durable: no ack, so the agent keeps it and sends
			 * it again after its next reconnect. */
			log_error("hub: result of job %s not stored; it will come again", w->jid);
			break;
		}
		if (rc == 0)
			job_done(h, w->jid, w->client_id, w->r.status);
		else if (rc == TE_STATE)
			log_info("hub: duplicate result for job %s ignored", w->jid);
		else if (rc == TE_NOTFOUND)
			log_warn("hub: result for unknown job %s ignored", w->jid);
		send_ack(h, w);
		break;
	case W_FAIL:
	case W_EXPIRE:
		if (rc == 0)
			job_done(h, w->jid, w->client_id, w->r.status);
		else if (rc != TE_IO)
			untrack(h, w->jid);
		break;
	default:
		break;
	}
	write_free(w);
}

/* Start records wait this long before they are written: a job that ends
 * sooner has its pid and start time written with its result, which saves
 * a write (and, on a quiet server, a commit on the way to the result). */
#define START_WRITE_DELAY_MS 500

void starts_flush(struct hub *h)
{
	struct hub_write *w, *tmp;

	HASH_ITER(hh, h->starts, w, tmp) {
		HASH_DEL(h->starts, w);
		store_queue(h->srv->store, write_apply, write_after, w);
	}
}

static void start_timer_cb(uv_timer_t *t)
{
	starts_flush(t->data);
}

/* The job's final record is coming: its start needs no write of its own. */
static void starts_drop(struct hub *h, const char *jid)
{
	struct hub_write *w;

	if (!jid)
		return;
	HASH_FIND_STR(h->starts, jid, w);
	if (w) {
		HASH_DEL(h->starts, w);
		write_free(w);
	}
}

/* A start this hub has seen whose record is not written yet. */
bool start_waiting(struct hub *h, const char *jid)
{
	struct hub_write *w;

	HASH_FIND_STR(h->starts, jid, w);
	return w != NULL;
}

void hub_job_overlay(struct hub *h, struct job_row *row)
{
	struct hub_write *w;

	if (!h || !row || !row->jid || row->has_pid)
		return;
	HASH_FIND_STR(h->starts, row->jid, w);
	if (!w)
		return;
	row->has_pid = true;
	row->pid = w->pid;
	row->started_at = w->started;
}

void on_started(struct session *s, json_t *m)
{
	struct proto_started st;

	proto_started_from_json(&st, m);
	started_take(s, &st);
}

void started_take(struct session *s, const struct proto_started *st)
{
	struct hub *h = s->hub;
	const char *jid = st->jid;
	struct hub_write *w = write_new(h, W_STARTED, jid, s->client, NULL);

	if (!w)
		return;
	w->pid = st->pid;
	w->started = util_now_ns();
	if (st->started_at)
		util_time_parse(st->started_at, &w->started);
	track_started(h, jid, s->client->id);
	/* The caller waits for the start, not for its record: the job row
	 * itself was committed before the run was sent. */
	{
		struct pending *p;

		HASH_FIND_STR(h->pending, jid, p);
		if (p && p->s == s)
			pending_resolve(h, p, 0, NULL, w->pid);
	}
	/* A second start for the same jid (a replayed frame) replaces the
	 * first, unless it comes from another client: not its job. */
	{
		struct hub_write *old;

		HASH_FIND_STR(h->starts, w->jid, old);
		if (old && strcmp(old->client_id, w->client_id)) {
			log_warn("hub: %s: start of another client's job %s ignored", w->client_id,
				 w->jid);
			write_free(w);
			return;
		}
	}
	starts_drop(h, w->jid);
	HASH_ADD_STR(h->starts, jid, w);
	if (!uv_is_active((uv_handle_t *)&h->start_timer))
		uv_timer_start(&h->start_timer, start_timer_cb, START_WRITE_DELAY_MS, 0);
}

void on_reject(struct session *s, json_t *m)
{
	struct hub *h = s->hub;
	const char *jid = json_string_value(json_object_get(m, "jid"));
	struct hub_write *w = write_new(h, W_REJECT, jid, s->client, m);

	if (!w)
		return;
	w->r.status = JOB_FAILED;
	w->r.error = json_string_value(json_object_get(m, "error"));
	w->r.finished_at = util_now_ns();
	store_queue(h->srv->store, write_apply, write_after, w);
}

static int64_t time_field(const char *ts)
{
	int64_t ns = 0;

	if (ts && util_time_parse(ts, &ns))
		ns = 0;
	return ns;
}

/* What a job row keeps of a stream whose full output is in files: the
 * agent's default send_back_limit, so that every reader of rows sees what
 * it always did. */
#define ROW_OUTPUT_MAX (4 * 1024 * 1024)

static void full_saved(void *ud, int rc)
{
	struct hub_write *w = ud;

	if (rc) {
		log_error("hub: the full output of job %s was not kept; its row has it", w->jid);
	} else {
		if (w->r.stdout_len > ROW_OUTPUT_MAX) {
			w->r.stdout_dropped += (int64_t)(w->r.stdout_len - ROW_OUTPUT_MAX);
			w->r.stdout_len = ROW_OUTPUT_MAX;
		}
		if (w->r.stderr_len > ROW_OUTPUT_MAX) {
			w->r.stderr_dropped += (int64_t)(w->r.stderr_len - ROW_OUTPUT_MAX);
			w->r.stderr_len = ROW_OUTPUT_MAX;
		}
	}
	store_queue(w->h->srv->store, write_apply, write_after, w);
}

/* A job run with an output cap: its full streams go to files first (off
 * the loop), then the row is written with its capped copy, then the ack.
 * Only for a job in flight to this very client (no agent writes over
 * another's output; a duplicate of a finished job's result changes
 * nothing anyway). Returns false when there are no files to write (the
 * row keeps all, or the store refuses the result). */
static bool result_save_full(struct hub *h, struct hub_write *w)
{
	const char *const data[2] = { w->r.stdout_data, w->r.stderr_data };
	const size_t len[2] = { w->r.stdout_len, w->r.stderr_len };
	struct tracked *t = tracked_find(h, w->jid);

	if (!t || strcmp(t->client_id, w->client_id))
		return false;
	return outputs_save(h->srv->loop, h->srv->cfg.data_dir, w->jid, data, len, full_saved,
			    w) == 0;
}

void on_result(struct session *s, json_t *m)
{
	struct proto_result r;

	proto_result_from_json(&r, m);
	result_take(s, &r, m, NULL);
}

void result_take(struct session *s, const struct proto_result *r, json_t *hold, char *arena)
{
	struct hub *h = s->hub;
	const char *jid = r->jid;
	size_t declen[2] = { 0, 0 };
	struct hub_write *w;
	struct pending *p;
	enum job_status st;

	if (!job_status_parse(r->status, &st) ||
	    (st != JOB_SUCCESSFUL && st != JOB_FAILED && st != JOB_UNKNOWN)) {
		free(arena);
		session_fail(s, PROTO_CLOSE_PROTOCOL, "result with an invalid status");
		return;
	}
	w = write_new(h, W_RESULT, jid, s->client, hold);
	if (!w) {
		free(arena);
		return;
	}
	w->arena = arena;
	starts_drop(h, jid);
	/* A result proves the start (a v2 agent sends none for a job that
	 * ended at once): whoever waits for the start of this very agent's
	 * run hears it now, not after the commit. */
	HASH_FIND_STR(h->pending, jid, p);
	if (p && p->s == s)
		pending_resolve(h, p, 0, NULL, r->pid);
	w->r.status = st;
	w->r.error = r->error;
	if (r->has_exit_code) {
		w->r.has_exit_code = true;
		w->r.exit_code = r->exit_code;
	}
	/* Output arrives as a UTF-8 string, or base64 when flagged so. */
	for (int i = 0; i < 2; i++) {
		const char *text = r->out[i];
		size_t tlen = r->out_len[i];

		if (r->enc[i] && !strcmp(r->enc[i], "base64") && text) {
			w->dec[i] = malloc(tlen + 1);
			if (!w->dec[i] || sodium_base642bin(w->dec[i], tlen + 1, text, tlen, NULL,
							    &declen[i], NULL,
							    sodium_base64_VARIANT_ORIGINAL)) {
				write_free(w);
				session_fail(s, PROTO_CLOSE_PROTOCOL, "result with bad base64 output");
				return;
			}
		}
	}
	w->r.stdout_data = w->dec[0] ? (const char *)w->dec[0] : r->out[0];
	w->r.stdout_len = w->dec[0] ? declen[0] : r->out_len[0];
	w->r.stderr_data = w->dec[1] ? (const char *)w->dec[1] : r->out[1];
	w->r.stderr_len = w->dec[1] ? declen[1] : r->out_len[1];
	w->r.stdout_dropped = r->dropped[0];
	w->r.stderr_dropped = r->dropped[1];
	w->r.pid = r->pid;
	w->r.started_at = time_field(r->started_at);
	w->r.finished_at = time_field(r->finished_at);
	if (!w->r.finished_at)
		w->r.finished_at = util_now_ns();
	if (r->output_cap > 0 && result_save_full(h, w))
		return;
	store_queue(h->srv->store, write_apply, write_after, w);
}

static void queue_fail(struct hub *h, const char *jid, enum job_status status, const char *error,
		       const char *state)
{
	struct hub_write *w = write_new_id(h, W_FAIL, jid, NULL, NULL);

	if (!w)
		return;
	starts_drop(h, jid);
	w->hold = json_pack("{s:s, s:s}", "error", error ? error : "", "state", state ? state : "");
	w->r.status = status;
	w->r.error = json_string_value(json_object_get(w->hold, "error"));
	w->r.state = state ? json_string_value(json_object_get(w->hold, "state")) : NULL;
	w->r.finished_at = util_now_ns();
	store_queue(h->srv->store, write_apply, write_after, w);
}

/* The job never reached client_id's agent and never will. */
void queue_expire(struct hub *h, const char *jid, const char *client_id,
			 int64_t delivery)
{
	struct hub_write *w = write_new_id(h, W_EXPIRE, jid, client_id, NULL);
	char why[300];

	if (!w)
		return;
	snprintf(why, sizeof why,
		 "not delivered: client \"%.128s\" did not connect within %lld s; the command never ran",
		 client_id, (long long)delivery_sec(h, delivery));
	log_warn("hub: job %s: %s", jid, why);
	w->hold = json_pack("{s:s}", "error", why);
	w->r.status = JOB_FAILED;
	w->r.state = "expired";
	w->r.error = json_string_value(json_object_get(w->hold, "error"));
	w->r.finished_at = util_now_ns();
	store_queue(h->srv->store, write_apply, write_after, w);
}

void queue_client(struct hub *h, const char *id, json_t *rec)
{
	struct hub_write *w = write_new_id(h, W_CLIENT, NULL, id, rec);

	if (w)
		store_queue(h->srv->store, write_apply, write_after, w);
}

/* ---- dispatch ------------------------------------------------------- */

static int hub_run(void *impl, struct client *c, const struct job_spec *j, registry_run_cb cb,
		   void *ud)
{
	struct hub *h = impl;

	struct session *s = c ? c->s : NULL;
	struct pending *p;
	struct tracked *t;

	if (!s)
		return TE_STATE;
	p = calloc(1, sizeof *p);
	if (!p)
		return TE_NOMEM;
	{
		struct proto_run r = {
			.jid = j->jid, .command = j->command, .argv = j->argv,
			.interpreter = j->interpreter, .cwd = j->cwd, .run_as = j->run_as,
			.is_sudo = j->is_sudo, .is_script = j->is_script,
			.kill_on_timeout = j->kill_on_timeout, .stream = j->stream,
			.output_cap = j->output_cap_bytes, .timeout_sec = j->timeout_sec,
		};
		struct buf b;

		/* A fixed layout, no JSON tree: a fan-out writes one per agent. */
		buf_init(&b, (size_t)1 << 30);
		if (proto_run_encode(&b, &r) || session_send_open(s, &b)) {
			buf_free(&b);
			free(p);
			return TE_STATE;
		}
	}
	t = track(h, j->jid, j->client_id ? j->client_id : c->id, j->created_at, j->timeout_sec,
		  j->delivery_timeout_sec);
	/* Timed from its first run sent (tether_job_dispatch_to_result_seconds). */
	if (t && !t->sent_ms) {
		t->sent_ms = (int64_t)util_mono_ms();
		metrics_job_sent(h->srv->metrics);
	}
	if (!cb) {
		/* Nobody waits for the start (a multi job's child): the
		 * outcome comes through the done callback. */
		free(p);
		return 0;
	}
	util_strlcpy(p->jid, j->jid, sizeof p->jid);
	p->cb = cb;
	p->ud = ud;
	p->s = s;
	p->deadline = util_mono_ms() + START_TIMEOUT_MS;
	HASH_ADD_STR(h->pending, jid, p);
	p->snext = s->pend;
	if (s->pend)
		s->pend->sprev = p;
	s->pend = p;
	return 0;
}

struct revoke_ctx {
	struct hub *h;
	const char *auth_id;
	int n;
};

static void revoke_one(void *ud, struct client *c)
{
	struct revoke_ctx *r = ud;

	if (c->s && c->auth_id && !strcmp(c->auth_id, r->auth_id)) {
		struct session *s = c->s;

		log_warn("hub: client '%s': its credential '%s' was deleted, disconnecting", c->id,
			 r->auth_id);
		session_detach(r->h, s, "credential deleted");
		session_fail(s, PROTO_CLOSE_REVOKED, "credential deleted");
		r->n++;
	}
}

int hub_disconnect_auth(struct hub *h, const char *auth_id)
{
	struct revoke_ctx r = { h, auth_id, 0 };

	registry_each(h->srv->registry, revoke_one, &r);
	return r.n;
}

struct del_ctx {
	struct hub *h;
	char *id;
	json_t *jids;                /* its running jobs */
};

static void running_of_deleted(void *ud, const struct job_running *r)
{
	struct del_ctx *d = ud;

	json_array_append_new(d->jids, json_string(r->jid));
}

static int del_apply(struct store *st, void *arg)
{
	struct del_ctx *d = arg;

	return store_client_delete(st, d->id);
}

static void del_after(void *arg, int rc)
{
	struct del_ctx *d = arg;

	(void)rc;
	json_decref(d->jids);
	free(d->id);
	free(d);
}

/* The deleted client's running jobs are known: each ends failed, then
 * its record goes. */
static void deleted_running_read(void *ud, int rc)
{
	struct del_ctx *d = ud;
	size_t i;
	json_t *v;

	(void)rc;
	json_array_foreach(d->jids, i, v)
		queue_fail(d->h, json_string_value(v), JOB_FAILED, "client deleted", NULL);
	store_queue(d->h->srv->store, del_apply, del_after, d);
}

int hub_client_delete(struct hub *h, const char *id)
{
	struct client *c;
	struct del_ctx *d;
	int n;

	c = registry_find(h->srv->registry, id);
	if (!c)
		return TE_NOTFOUND;
	if (c->s)
		return TE_STATE;
	d = calloc(1, sizeof *d);
	if (!d || !(d->id = strdup(id)) || !(d->jids = json_array())) {
		if (d)
			free(d->id);
		free(d);
		return TE_NOMEM;
	}
	d->h = h;
	/* Jobs queued for it would wait for an agent that cannot come back
	 * (its record and credential go): they end now, cancelled. */
	n = offline_cancel_client(h->srv->offline, id, OFFLINE_CLIENT_DELETED);
	if (n)
		log_info("hub: client '%s' deleted: %d queued job(s) cancelled", id, n);
	registry_remove(h->srv->registry, c);
	store_read_each_running_of(h->srv->store, d->id, running_of_deleted, deleted_running_read,
				   d);
	return 0;
}

static int hub_cancel(void *impl, struct client *c, const char *jid, const char *by)
{
	json_t *m;

	(void)impl;
	if (!c || !c->s)
		return TE_STATE;
	m = proto_new(PROTO_CANCEL);
	json_object_set_new(m, "jid", json_string(jid));
	json_object_set_new(m, "by", json_string(by));
	return session_send(c->s, m);
}

const struct registry_router hub_router = { hub_run, hub_cancel };
