/* hub: agent sessions, the client registry, and job dispatch to agents. */
#include "agents/hub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <uthash.h>

#include "core/audit.h"
#include "auth/auth.h"
#include "core/events.h"
#include "core/registry.h"
#include "auth/guard.h"
#include "log.h"
#include "proto.h"
#include "util.h"

#define HELLO_TIMEOUT_MS 10000
#define START_TIMEOUT_MS 30000
#define SWEEP_MS 1000
#define MAX_ID_LEN 128
#define MAX_TAGS 64
#define MAX_TAG_LEN 256
#define HEARTBEAT_SWEEP_MS 1000
/* A connection holding a client id that leaves a ping unanswered this long
 * is dead: a newcomer with the id takes its place. */
#define DUP_PROBE_MS 3000
#define NS_PER_SEC 1000000000LL

struct session;

struct pending {
	char jid[UUID_STR_LEN];
	registry_run_cb cb;
	void *ud;
	struct session *s;
	uint64_t deadline;
	UT_hash_handle hh;           /* hub->pending, by jid */
	struct pending *snext;       /* session's list */
	struct pending *sprev;
};

struct session {
	struct hub *hub;
	net_conn *conn;
	struct client *client;       /* set after a valid hello */
	uint64_t opened_ms;
	struct pending *pend;
	struct session *unext;       /* not yet authenticated list */
	struct session *uprev;
	bool in_unauth;
	uint64_t last_rx_ms;
	uint64_t probe_ms;           /* ping sent to test it for a duplicate id */
};


/* A job sent and not yet final, and its deadline for a server-side
 * finish (docs/internals/delivery.md):
 * - not started: created_at + delivery_timeout_sec; then "unconfirmed"
 *   (its agent's next hello settles it);
 * - started: the start + timeout_sec + result_grace_sec (the agent itself
 *   reports "unknown" at timeout_sec); then "lost".
 * The timeout counts from the start on the agent, never from creation. */
struct tracked {
	char jid[UUID_STR_LEN];
	char *client_id;
	int64_t created_at;
	int64_t timeout_sec;
	int64_t delivery_sec;
	int64_t deadline_ns;
	bool started;
	UT_hash_handle hh;
};

struct hub {
	struct server *srv;
	struct guard *guard;
	struct tracked *tracked;
	struct pending *pending;
	struct session *unauth;
	size_t nunauth;
	uv_timer_t sweep;
	struct hub_write *starts;     /* start records not yet queued, by jid */
	uv_timer_t start_timer;
	bool stopping;
};

static void session_detach(struct hub *h, struct session *s, const char *reason);

/* ---- sending -------------------------------------------------------- */

static int session_send(struct session *s, json_t *msg)
{
	size_t len;
	char *text = proto_dump(msg, &len);
	int rc;

	json_decref(msg);
	if (!text)
		return TE_NOMEM;
	rc = net_ws_send(s->conn, text, len);
	free(text);
	if (rc)
		log_warn("hub: %s: cannot queue a frame (%d)",
			 s->client ? s->client->id : net_ws_peer(s->conn), rc);
	return rc;
}

static void session_fail(struct session *s, int code, const char *why)
{
	json_t *m = proto_new(PROTO_ERROR);

	json_object_set_new(m, "message", json_string(why));
	session_send(s, m);
	net_ws_close(s->conn, code, why);
}

/* ---- clients -------------------------------------------------------- */



















static void queue_client(struct hub *h, const char *id, json_t *rec);

/* Persists the client record (what the API shows, with state). */
static void client_save(struct hub *h, struct client *c)
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

/* ---- tracked jobs and completion ----------------------------------- */

/* base_ns + sec seconds, saturating: no timeout can wrap a deadline. */
static int64_t deadline_after(int64_t base_ns, int64_t sec)
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

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

static int64_t grace_sec(const struct hub *h) { return h->srv->cfg.result_grace_sec; }

/* A job's delivery deadline (0 from rows older than the setting). */
static int64_t delivery_sec(const struct hub *h, int64_t sec)
{
	return sec > 0 ? sec : h->srv->cfg.delivery_timeout_sec;
}

static struct tracked *tracked_find(struct hub *h, const char *jid)
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
static void track_started(struct hub *h, const char *jid, const char *client_id)
{
	struct tracked *t = tracked_find(h, jid);

	if (!t || t->started || strcmp(t->client_id, client_id))
		return;
	t->started = true;
	t->deadline_ns = deadline_after(util_now_ns(), t->timeout_sec + grace_sec(h));
}

static void untrack(struct hub *h, const char *jid)
{
	struct tracked *t = tracked_find(h, jid);

	if (t) {
		HASH_DEL(h->tracked, t);
		free(t->client_id);
		free(t);
	}
}

static void job_done(struct hub *h, const char *jid, const char *client_id,
		     enum job_status status)
{
	struct event e = { .kind = EV_JOB_DONE, .jid = jid, .status = status };

	untrack(h, jid);
	e.client_id = client_id && *client_id ? client_id : NULL;
	events_publish(h->srv->events, &e);
}

static void queue_fail(struct hub *h, const char *jid, enum job_status status, const char *error,
		       const char *state);
static void queue_expire(struct hub *h, const char *jid, const char *client_id,
			 int64_t delivery);

void hub_job_fail(struct hub *h, const char *jid, enum job_status status, const char *error)
{
	queue_fail(h, jid, status, error, NULL);
}

/* At start, from the store. A restart gives every job at least
 * result_grace_sec for its agent to reconnect and report. */
static void track_loaded(void *ud, const struct job_running *r)
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

static void pending_resolve(struct hub *h, struct pending *p, int status,
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

static void unauth_remove(struct hub *h, struct session *s)
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

static void sweep_cb(uv_timer_t *t)
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

static bool start_waiting(struct hub *h, const char *jid);

struct redeliver_ctx {
	struct hub *h;
	struct client *c;
	json_t *agent_known[2];      /* jids the agent runs, and holds results of */
	json_t *resend;              /* collected: [jid, created_at, timeout, delivery] */
	json_t *expire;              /* collected: [jid, delivery] */
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
		track_started(h, r->jid, d->c->id);
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

/* At every hello the agent's word settles the jobs the store has as
 * running on this client with no start recorded or waiting: one it runs
 * is started (its deadline counts from now); one whose result it holds
 * gets that result right after the welcome; one it has never had is sent
 * now (a tetherd crash between the commit and the send, or a connection
 * lost with the frame in it), or, past its delivery deadline, expires: it
 * never ran. A job the server finished "unconfirmed" that the agent has
 * never had expires too. The agent runs a jid at most once (its journal):
 * one it never received runs now, one it finished gets its held result
 * sent again, one it ran when it crashed is reported unknown. */
static void redeliver(struct hub *h, struct client *c, json_t *running, json_t *held)
{
	struct redeliver_ctx d = { h, c,
				   { json_is_array(running) ? running : NULL,
				     json_is_array(held) ? held : NULL },
				   json_array(), json_array() };
	size_t i;
	json_t *v;

	if (!d.resend || !d.expire)
		goto out;
	store_job_each_running_of(h->srv->store, c->id, redeliver_collect, &d);
	store_job_each_unconfirmed_of(h->srv->store, c->id, unconfirmed_collect, &d);
	json_array_foreach(d.expire, i, v)
		queue_expire(h, json_string_value(json_array_get(v, 0)), c->id,
			     json_integer_value(json_array_get(v, 1)));
	json_array_foreach(d.resend, i, v) {
		json_t *job = NULL;
		struct job_spec spec;
		const char *interp;
		const char *jid = json_string_value(json_array_get(v, 0));

		if (store_job_get(h->srv->store, jid, &job))
			continue;
		if (!json_is_null(json_object_get(job, "pid"))) {
			/* Its agent confirmed it: sending it again could run
			 * it twice on an agent whose journal was lost. */
			json_decref(job);
			continue;
		}
		memset(&spec, 0, sizeof spec);
		util_strlcpy(spec.jid, jid, sizeof spec.jid);
		spec.client_id = c->id;
		spec.command = json_string_value(json_object_get(job, "command"));
		spec.argv = json_object_get(job, "argv");
		spec.cwd = json_string_value(json_object_get(job, "cwd"));
		interp = json_string_value(json_object_get(job, "interpreter"));
		spec.interpreter = interp && strcmp(interp, "/bin/sh") ? interp : "";
		spec.is_sudo = json_is_true(json_object_get(job, "is_sudo"));
		spec.is_script = json_is_true(json_object_get(job, "is_script"));
		spec.kill_on_timeout = json_is_true(json_object_get(job, "kill_on_timeout"));
		spec.created_at = json_integer_value(json_array_get(v, 1));
		spec.timeout_sec = json_integer_value(json_array_get(v, 2));
		spec.delivery_timeout_sec = json_integer_value(json_array_get(v, 3));
		if (spec.command) {
			log_info("hub: job %s never reached '%s': sending it again", spec.jid,
				 c->id);
			registry_run(h->srv->registry, c, &spec, NULL, NULL);
		}
		json_decref(job);
	}
out:
	json_decref(d.resend);
	json_decref(d.expire);
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

static void on_hello(struct session *s, json_t *m)
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
		enum guard_verdict v = guard_check(h->guard, net_ws_peer(s->conn), auth_id);

		if (v != GUARD_OK) {
			session_fail(s, PROTO_CLOSE_AUTH, v == GUARD_BANNED ?
				     "Too many bad attempts. Please try later." :
				     "too many requests, please try later");
			return;
		}
	}
	if (!auth_agent_check(h->srv->auth, auth_id, password)) {
		struct audit_entry e = { 0 };

		log_warn("hub: %s: authentication failed for client auth id '%.64s'",
			 net_ws_peer(s->conn), auth_id);
		guard_failed(h->guard, net_ws_peer(s->conn), auth_id);
		e.username = auth_id;
		e.remote_ip = net_ws_peer(s->conn);
		e.application = "agent";
		e.action = "failed_login";
		e.success = false;
		audit_queue(h->srv, &e);
		session_fail(s, PROTO_CLOSE_AUTH, "authentication failed");
		return;
	}
	guard_succeeded(h->guard, net_ws_peer(s->conn), auth_id);
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
		c->s = NULL;
		while (old->pend)
			pending_resolve(h, old->pend, TE_IO,
					"the client connection was replaced", 0);
		net_ws_drop(old->conn);
	}
	unauth_remove(h, s);
	s->client = c;
	c->s = s;
	free(c->name);
	c->name = strdup(name && *name ? name : id);
	free(c->auth_id);
	c->auth_id = strdup(auth_id);
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
	c->connected_at = util_now_ns();
	c->last_seen = c->connected_at;
	client_save(h, c);
	log_info("hub: client '%s' connected from %s", id, c->address);

	w = proto_new(PROTO_WELCOME);
	json_object_set_new(w, "server_version", json_string(h->srv->version));
	json_object_set_new(w, "protocol", json_integer(PROTO_VERSION));
	session_send(s, w);
	redeliver(h, c, json_object_get(m, "running"), json_object_get(m, "held"));
}

/* ---- writes through the store's group commit ------------------------ */

enum { W_STARTED, W_RESULT, W_REJECT, W_FAIL, W_EXPIRE, W_CLIENT };

struct hub_write {
	struct hub *h;
	int kind;
	char jid[UUID_STR_LEN];
	char client_id[MAX_ID_LEN + 1];
	json_t *hold;                /* keeps the strings in r alive */
	struct job_result r;
	unsigned char *dec[2];
	int64_t pid;
	int64_t started;
	UT_hash_handle hh;           /* in hub.starts while deferred */
};

static struct hub_write *write_new(struct hub *h, int kind, const char *jid,
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

static void write_free(struct hub_write *w)
{
	json_decref(w->hold);
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

static void send_ack(struct hub *h, const char *client_id, const char *jid)
{
	struct client *c = registry_find(h->srv->registry, client_id);
	json_t *ack;

	/* To whatever connection the client has now: the agent keeps the
	 * result by jid until it sees this. */
	if (!c || !c->s)
		return;
	ack = proto_new(PROTO_ACK);
	json_object_set_new(ack, "jid", json_string(jid));
	session_send(c->s, ack);
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
			send_ack(h, w->client_id, w->jid);
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
		send_ack(h, w->client_id, w->jid);
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

static void starts_flush(struct hub *h)
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
static bool start_waiting(struct hub *h, const char *jid)
{
	struct hub_write *w;

	HASH_FIND_STR(h->starts, jid, w);
	return w != NULL;
}

void hub_job_overlay(struct hub *h, json_t *job)
{
	const char *jid = json_string_value(json_object_get(job, "jid"));
	struct hub_write *w;
	char t[TIME_STR_LEN];

	if (!h || !jid || !json_is_null(json_object_get(job, "pid")))
		return;
	HASH_FIND_STR(h->starts, jid, w);
	if (!w)
		return;
	util_time_format(w->started, t);
	json_object_set_new(job, "pid", json_integer(w->pid));
	json_object_set_new(job, "started_at", json_string(t));
}

static void on_started(struct session *s, json_t *m)
{
	struct hub *h = s->hub;
	const char *jid = json_string_value(json_object_get(m, "jid"));
	const char *ts = json_string_value(json_object_get(m, "started_at"));
	struct hub_write *w = write_new(h, W_STARTED, jid, s->client->id, NULL);

	if (!w)
		return;
	w->pid = json_integer_value(json_object_get(m, "pid"));
	w->started = util_now_ns();
	if (ts)
		util_time_parse(ts, &w->started);
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

static void on_reject(struct session *s, json_t *m)
{
	struct hub *h = s->hub;
	const char *jid = json_string_value(json_object_get(m, "jid"));
	struct hub_write *w = write_new(h, W_REJECT, jid, s->client->id, m);

	if (!w)
		return;
	w->r.status = JOB_FAILED;
	w->r.error = json_string_value(json_object_get(m, "error"));
	w->r.finished_at = util_now_ns();
	store_queue(h->srv->store, write_apply, write_after, w);
}

static int64_t time_field(json_t *m, const char *key)
{
	const char *ts = json_string_value(json_object_get(m, key));
	int64_t ns = 0;

	if (ts && util_time_parse(ts, &ns))
		ns = 0;
	return ns;
}

static void on_result(struct session *s, json_t *m)
{
	struct hub *h = s->hub;
	const char *jid = json_string_value(json_object_get(m, "jid"));
	const char *status = json_string_value(json_object_get(m, "status"));
	json_t *out = json_object_get(m, "stdout"), *err = json_object_get(m, "stderr");
	json_t *exit_code = json_object_get(m, "exit_code");
	json_t *streams[2] = { out, err };
	size_t declen[2] = { 0, 0 };
	struct hub_write *w;

	enum job_status st;

	if (!job_status_parse(status, &st) ||
	    (st != JOB_SUCCESSFUL && st != JOB_FAILED && st != JOB_UNKNOWN)) {
		session_fail(s, PROTO_CLOSE_PROTOCOL, "result with an invalid status");
		return;
	}
	w = write_new(h, W_RESULT, jid, s->client->id, m);
	if (!w)
		return;
	starts_drop(h, jid);
	w->r.status = st;
	w->r.error = json_string_value(json_object_get(m, "error"));
	if (json_is_integer(exit_code)) {
		w->r.has_exit_code = true;
		w->r.exit_code = json_integer_value(exit_code);
	}
	/* Output arrives as a UTF-8 string, or base64 when flagged so. */
	for (int i = 0; i < 2; i++) {
		const char *enc_key = i ? "stderr_encoding" : "stdout_encoding";
		const char *enc = json_string_value(json_object_get(m, enc_key));
		const char *text = json_string_value(streams[i]);
		size_t tlen = json_string_length(streams[i]);

		if (enc && !strcmp(enc, "base64") && text) {
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
	w->r.stdout_data = w->dec[0] ? (const char *)w->dec[0] : json_string_value(out);
	w->r.stdout_len = w->dec[0] ? declen[0] : json_string_length(out);
	w->r.stderr_data = w->dec[1] ? (const char *)w->dec[1] : json_string_value(err);
	w->r.stderr_len = w->dec[1] ? declen[1] : json_string_length(err);
	w->r.stdout_dropped = json_integer_value(json_object_get(m, "stdout_dropped"));
	w->r.stderr_dropped = json_integer_value(json_object_get(m, "stderr_dropped"));
	w->r.pid = json_integer_value(json_object_get(m, "pid"));
	w->r.started_at = time_field(m, "started_at");
	w->r.finished_at = time_field(m, "finished_at");
	if (!w->r.finished_at)
		w->r.finished_at = util_now_ns();
	store_queue(h->srv->store, write_apply, write_after, w);
}

static void queue_fail(struct hub *h, const char *jid, enum job_status status, const char *error,
		       const char *state)
{
	struct hub_write *w = write_new(h, W_FAIL, jid, NULL, NULL);

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
static void queue_expire(struct hub *h, const char *jid, const char *client_id,
			 int64_t delivery)
{
	struct hub_write *w = write_new(h, W_EXPIRE, jid, client_id, NULL);
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

static void queue_client(struct hub *h, const char *id, json_t *rec)
{
	struct hub_write *w = write_new(h, W_CLIENT, NULL, id, rec);

	if (w)
		store_queue(h->srv->store, write_apply, write_after, w);
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
};

/* The session no longer speaks for its client: the client is
 * disconnected from now on, whatever the socket still does. */
static void session_detach(struct hub *h, struct session *s, const char *reason)
{
	unauth_remove(h, s);
	while (s->pend)
		pending_resolve(h, s->pend, TE_IO, "the client disconnected", 0);
	if (s->client && s->client->s == s) {
		struct client *c = s->client;

		c->s = NULL;
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
	s->last_rx_ms = s->opened_ms;
	h->nunauth++;
	s->unext = h->unauth;
	if (h->unauth)
		h->unauth->uprev = s;
	h->unauth = s;
	net_ws_set_user(conn, s);
}

static void hub_ws_message(void *ud, net_conn *conn, const char *data, size_t len)
{
	struct session *s = net_ws_user(conn);
	enum proto_type type;
	char err[256];
	json_t *m;

	(void)ud;
	if (!s || (!s->client && !s->in_unauth))
		return; /* detached: being dropped */
	if (proto_parse(data, len, &m, &type, err, sizeof err)) {
		log_warn("hub: %s: bad frame: %s", net_ws_peer(conn), err);
		session_fail(s, PROTO_CLOSE_PROTOCOL, err);
		return;
	}
	s->last_rx_ms = util_mono_ms();
	if (!s->client && type != PROTO_HELLO) {
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
	session_detach(h, s, reason);
	free(s);
}

static const struct net_callbacks hub_callbacks = {
	.ws_open = hub_ws_open,
	.ws_message = hub_ws_message,
	.ws_close = hub_ws_close,
};

const struct net_callbacks *hub_net_callbacks(void) { return &hub_callbacks; }

struct guard *hub_guard(struct hub *h)
{
	return h->guard;
}

/* ---- dispatch ------------------------------------------------------- */

static int hub_run(void *impl, struct client *c, const struct job_spec *j, registry_run_cb cb,
		   void *ud)
{
	struct hub *h = impl;

	struct session *s = c ? c->s : NULL;
	struct pending *p;
	json_t *m;

	if (!s)
		return TE_STATE;
	p = calloc(1, sizeof *p);
	if (!p)
		return TE_NOMEM;
	m = proto_new(PROTO_RUN);
	json_object_set_new(m, "jid", json_string(j->jid));
	json_object_set_new(m, "command", json_string(j->command));
	if (j->argv)
		json_object_set(m, "argv", j->argv);
	json_object_set_new(m, "interpreter", json_string(j->interpreter ? j->interpreter : ""));
	json_object_set_new(m, "cwd", json_string(j->cwd ? j->cwd : ""));
	json_object_set_new(m, "is_sudo", json_boolean(j->is_sudo));
	json_object_set_new(m, "is_script", json_boolean(j->is_script));
	json_object_set_new(m, "kill_on_timeout", json_boolean(j->kill_on_timeout));
	if (j->stream)
		json_object_set_new(m, "stream", json_true());
	json_object_set_new(m, "timeout_sec", json_integer(j->timeout_sec));
	if (session_send(s, m)) {
		free(p);
		return TE_STATE;
	}
	track(h, j->jid, j->client_id ? j->client_id : c->id, j->created_at, j->timeout_sec,
	      j->delivery_timeout_sec);
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
	const char *id;
};

static void fail_running_of(void *ud, const struct job_running *r)
{
	struct del_ctx *d = ud;

	if (!strcmp(r->client_id, d->id))
		queue_fail(d->h, r->jid, JOB_FAILED, "client deleted", NULL);
}

static int del_apply(struct store *st, void *arg)
{
	return store_client_delete(st, arg);
}

static void del_after(void *arg, int rc)
{
	(void)rc;
	free(arg);
}

int hub_client_delete(struct hub *h, const char *id)
{
	struct client *c;
	struct del_ctx d = { h, id };
	char *copy;

	c = registry_find(h->srv->registry, id);
	if (!c)
		return TE_NOTFOUND;
	if (c->s)
		return TE_STATE;
	store_job_each_running(h->srv->store, fail_running_of, &d);
	copy = strdup(id);
	if (copy)
		store_queue(h->srv->store, del_apply, del_after, copy);
	registry_remove(h->srv->registry, c);
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

static const struct registry_router hub_router = { hub_run, hub_cancel };

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
	registry_load(srv->registry, srv->store);
	registry_set_router(srv->registry, &hub_router, h);
	store_job_each_running(srv->store, track_loaded, h);
	uv_timer_init(srv->loop, &h->sweep);
	h->sweep.data = h;
	uv_timer_start(&h->sweep, sweep_cb, SWEEP_MS, SWEEP_MS);
	uv_timer_init(srv->loop, &h->start_timer);
	h->start_timer.data = h;
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
