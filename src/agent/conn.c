/* conn: connection management for tether-agent. */
#include "conn.h"

#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>
#include <uthash.h>

#include "exec.h"
#include "facts.h"
#include "journal.h"
#include "log.h"
#include "proto.h"
#include "util.h"

/* Live output stops being read from the jobs' pipes while more than this
 * waits on the link (exec.c): a result or a pong queued now waits behind
 * at most this much output, and the kernel's socket buffer keeps the wire
 * busy meanwhile. Reading resumes when the queue has drained. */
#define CONN_LIVE_HIGH_WATER (256 * 1024)
/* Protocol v2: a "started" frame waits this long; a job that ends sooner
 * sends only its result (which carries pid and started_at), one frame in
 * place of two. */
#define CONN_START_HOLD_MS 10

struct held_start {
	char jid[UUID_STR_LEN];
	char *text;
	size_t len;
	struct held_start *next;
};

struct outmsg {
	char jid[UUID_STR_LEN];
	char *text;
	size_t len;
	UT_hash_handle hh;
};

struct conn {
	struct agent *a;
	net_conn *nc;
	bool welcomed;
	bool stopped;
	int attempt;
	uv_timer_t retry;
	char host[256];
	int port;
	char path[256];
	bool tls;
	struct outmsg *outbox;     /* insertion order kept by uthash */
	struct journal *journal;
	uv_timer_t hb;
	uint64_t last_rx_ms;
	int proto;                 /* the version the welcome named */
	struct held_start *held;   /* v2: started frames not sent yet, oldest first */
	uv_timer_t hold;
};

int conn_parse_server(const char *server, struct server_url *u, char *err, size_t errlen)
{
	const char *p = server;
	const char *slash;
	char hp[300];
	size_t n;

	memset(u, 0, sizeof *u);
	if (!strncasecmp(p, "ws://", 5)) {
		p += 5;
	} else if (!strncasecmp(p, "wss://", 6)) {
		p += 6;
		u->tls = true;
	} else if (strstr(p, "://")) {
		snprintf(err, errlen, "client.server '%s': only ws:// and wss:// are supported", server);
		return -1;
	}
	slash = strchr(p, '/');
	n = slash ? (size_t)(slash - p) : strlen(p);
	if (n >= sizeof hp) {
		snprintf(err, errlen, "client.server is too long");
		return -1;
	}
	memcpy(hp, p, n);
	hp[n] = '\0';
	util_strlcpy(u->path, slash ? slash : "/", sizeof u->path);
	if (util_parse_hostport(hp, u->host, sizeof u->host, &u->port) || !u->host[0] ||
	    u->port == 0) {
		snprintf(err, errlen, "client.server '%s' must be HOST:PORT, optionally with ws:// or wss://",
			 server);
		return -1;
	}
	return 0;
}

static int parse_server(struct conn *c, const char *server, char *err, size_t errlen)
{
	struct server_url u;

	if (conn_parse_server(server, &u, err, errlen))
		return -1;
	util_strlcpy(c->host, u.host, sizeof c->host);
	util_strlcpy(c->path, u.path, sizeof c->path);
	c->port = u.port;
	c->tls = u.tls;
	return 0;
}

static int send_frame(struct conn *c, json_t *m)
{
	size_t len;
	char *text = proto_dump(m, &len);
	int rc = TE_STATE;

	json_decref(m);
	if (text && c->nc)
		rc = net_ws_send(c->nc, text, len);
	free(text);
	return rc;
}

static void send_hello(struct conn *c)
{
	struct agent *a = c->a;
	char auth[512];
	char *colon;
	json_t *m = proto_new(PROTO_HELLO);

	util_strlcpy(auth, a->cfg.auth, sizeof auth);
	colon = strchr(auth, ':');
	*colon = '\0';
	json_object_set_new(m, "auth_id", json_string(auth));
	json_object_set_new(m, "password", json_string(colon + 1));
	sodium_memzero(auth, sizeof auth);
	json_object_set_new(m, "id", json_string(a->cfg.id));
	json_object_set_new(m, "name", json_string(a->cfg.name[0] ? a->cfg.name : a->cfg.id));
	json_object_set_new(m, "version", json_string(AGENT_VERSION));
	json_object_set_new(m, "protocol", json_integer(PROTO_VERSION));
	json_object_set_new(m, "facts", facts_collect());
	/* The users a run may ask for (run_as), so that the server refuses
	 * others before anything is sent. */
	{
		json_t *users = json_array();

		for (size_t i = 0; i < a->cfg.nrun_as; i++)
			json_array_append_new(users, json_string(a->cfg.run_as[i]));
		json_object_set_new(json_object_get(m, "facts"), "run_as_users", users);
	}
	json_object_set_new(m, "tags", json_deep_copy(a->cfg.tags));
	json_object_set_new(m, "labels", json_deep_copy(a->cfg.labels));
	json_object_set_new(m, "services", json_deep_copy(a->cfg.services));
	json_object_set_new(m, "interpreters", exec_interpreters(a));
	json_object_set_new(m, "running", exec_running(a->exec));
	json_object_set_new(m, "held", journal_held(c->journal));
	send_frame(c, m);
}

static void flush_outbox(struct conn *c)
{
	struct outmsg *o, *tmp;

	HASH_ITER(hh, c->outbox, o, tmp) {
		if (!c->nc || net_ws_send(c->nc, o->text, o->len))
			break;
	}
}

static void ack_one(struct conn *c, const char *jid)
{
	struct outmsg *o;

	if (!jid)
		return;
	HASH_FIND_STR(c->outbox, jid, o);
	if (o) {
		HASH_DEL(c->outbox, o);
		free(o->text);
		free(o);
	}
	journal_ack(c->journal, jid);
}

/* The jids of an array (v2: an acks frame's "jids", any frame's "acks"). */
static void ack_all(struct conn *c, json_t *jids)
{
	size_t i;
	json_t *v;

	json_array_foreach(jids, i, v)
		ack_one(c, json_string_value(v));
}

/* ---- started frames held for a moment (v2) ---------------------------- */

static void held_free(struct held_start *hs)
{
	free(hs->text);
	free(hs);
}

/* Sends every held started frame (or drops them with no link). */
static void held_flush(struct conn *c)
{
	while (c->held) {
		struct held_start *hs = c->held;

		c->held = hs->next;
		if (c->nc && c->welcomed)
			net_ws_send(c->nc, hs->text, hs->len);
		held_free(hs);
	}
	uv_timer_stop(&c->hold);
}

static void hold_cb(uv_timer_t *t)
{
	held_flush(t->data);
}

/* The job's result goes now: its start needs no frame of its own. */
static void held_drop(struct conn *c, const char *jid)
{
	for (struct held_start **pp = &c->held; *pp; pp = &(*pp)->next) {
		if (!strcmp((*pp)->jid, jid)) {
			struct held_start *hs = *pp;

			*pp = hs->next;
			held_free(hs);
			break;
		}
	}
	if (!c->held)
		uv_timer_stop(&c->hold);
}

/* Keeps a started frame for CONN_START_HOLD_MS (takes frame; jid may be
 * one of its strings). */
static void held_add(struct conn *c, const char *jid, json_t *frame)
{
	struct held_start *hs = calloc(1, sizeof *hs), **pp;

	/* jid is the frame's own: copied before the frame goes. */
	if (hs) {
		util_strlcpy(hs->jid, jid, sizeof hs->jid);
		hs->text = proto_dump(frame, &hs->len);
	}
	json_decref(frame);
	if (!hs || !hs->text) {
		free(hs);
		return; /* the result says the start */
	}
	for (pp = &c->held; *pp; pp = &(*pp)->next)
		;
	*pp = hs;
	if (!uv_is_active((uv_handle_t *)&c->hold))
		uv_timer_start(&c->hold, hold_cb, CONN_START_HOLD_MS, 0);
}

/* A run frame: the journal decides whether it may run (never twice). */
static void on_run(struct conn *c, json_t *m, const char *data, size_t len)
{
	const char *jid = json_string_value(json_object_get(m, "jid"));
	struct outmsg *o;
	json_t *r;

	if (!util_is_uuid(jid)) {
		log_warn("run frame with an invalid jid ignored");
		return;
	}
	switch (journal_state_of(c->journal, jid)) {
	case JOURNAL_UNKNOWN:
		if (journal_record_run(c->journal, jid, data, len)) {
			int err = errno;

			r = proto_new(PROTO_REJECT);
			json_object_set_new(r, "jid", json_string(jid));
			/* At its descriptor limit the run record is what fails
			 * first, before the pipes: name that cause, as the
			 * spawn does. */
			json_object_set_new(r, "error", json_string(
				err == EMFILE || err == ENFILE ?
				"failed to start a command: the agent is out of file descriptors (too "
				"many open files, writing its journal): too many jobs at once for its limit" :
				"failed to start a command: cannot write the agent's journal"));
			conn_report(c, r);
			return;
		}
		exec_run(c->a->exec, m);
		return;
	case JOURNAL_FINISHED:
		/* It ran: answer with the result we hold. */
		HASH_FIND_STR(c->outbox, jid, o);
		log_warn("job %s: run received again; it already finished, not run twice", jid);
		if (o && c->nc)
			net_ws_send(c->nc, o->text, o->len);
		return;
	case JOURNAL_RUNNING:
		log_warn("job %s: run received again; it is running, not run twice", jid);
		return;
	case JOURNAL_ACKED:
	default:
		log_warn("job %s: run received again; it finished earlier, not run twice", jid);
		return;
	}
}

/* Keeps a final frame until the server acks it (takes text). */
static void outbox_add(struct conn *c, const char *jid, char *text, size_t len)
{
	struct outmsg *o;

	HASH_FIND_STR(c->outbox, jid, o);
	if (o) {
		free(text);
		return;
	}
	o = calloc(1, sizeof *o);
	if (!o) {
		free(text);
		log_error("job %s: out of memory keeping its result", jid);
		return;
	}
	util_strlcpy(o->jid, jid, sizeof o->jid);
	o->text = text;
	o->len = len;
	HASH_ADD_STR(c->outbox, jid, o);
	if (c->welcomed && net_ws_send(c->nc, o->text, o->len))
		log_warn("job %s: result queued for the next connection", o->jid);
}

void conn_report(void *ud, json_t *frame)
{
	struct conn *c = ud;
	const char *type = json_string_value(json_object_get(frame, "type"));
	const char *jid = json_string_value(json_object_get(frame, "jid"));

	if (!strcmp(type, "started") && jid && c->welcomed && c->proto >= 2) {
		held_add(c, jid, frame);
		return;
	}
	if (strcmp(type, "result") && strcmp(type, "reject")) {
		/* started, output: useful live, worthless later. exec sends
		 * output only while conn_link says the link takes it. A start
		 * held goes before any output. */
		held_flush(c);
		if (c->welcomed)
			send_frame(c, frame);
		else
			json_decref(frame);
		return;
	}
	{
		size_t len;
		char *text = proto_dump(frame, &len);
		char jidc[UUID_STR_LEN];

		util_strlcpy(jidc, jid, sizeof jidc);
		json_decref(frame);
		held_drop(c, jidc);
		if (!text) {
			log_error("job %s: out of memory keeping its result", jidc);
			return;
		}
		/* Durable before it is offered: a crash now loses nothing. */
		if (journal_record_result(c->journal, jidc, text, len))
			log_error("job %s: the result could not be written to the journal; "
				  "it is kept in memory only", jidc);
		outbox_add(c, jidc, text, len);
	}
}

/* exec's view of the link: down until welcomed, full above the mark. */
static enum exec_link conn_link(void *ud)
{
	struct conn *c = ud;

	if (!c->nc || !c->welcomed)
		return EXEC_LINK_DOWN;
	return net_ws_queued(c->nc) > CONN_LIVE_HIGH_WATER ? EXEC_LINK_FULL : EXEC_LINK_OPEN;
}

static void schedule_retry(struct conn *c);

static void conn_ws_open(void *ud, net_conn *nc)
{
	struct conn *c = ud;

	(void)nc;
	c->last_rx_ms = util_mono_ms();
	log_info("connected to %s:%d, saying hello", c->host, c->port);
	send_hello(c);
}

static void conn_ws_message(void *ud, net_conn *nc, const char *data, size_t len)
{
	struct conn *c = ud;
	enum proto_type type;
	char err[256];
	json_t *m, *acks;

	c->last_rx_ms = util_mono_ms();
	if (proto_parse(data, len, &m, &type, err, sizeof err)) {
		log_warn("bad frame from the server: %s", err);
		net_ws_close(nc, PROTO_CLOSE_PROTOCOL, "bad frame");
		return;
	}
	/* v2: acks ride on any frame. A run's acks go after it has started: an
	 * ack removes files (done.log, two unlinks), which the spawn need not
	 * wait for. */
	acks = c->proto >= 2 ? json_object_get(m, "acks") : NULL;
	if (!json_is_array(acks))
		acks = NULL;
	if (acks && type != PROTO_RUN)
		ack_all(c, acks);
	switch (type) {
	case PROTO_WELCOME: {
		json_int_t v = json_integer_value(json_object_get(m, "protocol"));

		c->welcomed = true;
		c->attempt = 0;
		c->proto = v >= 2 ? 2 : 1;
		log_info("server accepted client '%s' (protocol %d)", c->a->cfg.id, c->proto);
		flush_outbox(c);
		exec_link_changed(c->a->exec);
		break;
	}
	case PROTO_RUN:
		if (c->welcomed)
			on_run(c, m, data, len);
		if (acks)
			ack_all(c, acks);
		break;
	case PROTO_CANCEL:
		exec_cancel(c->a->exec, json_string_value(json_object_get(m, "jid")),
			    json_string_value(json_object_get(m, "by")));
		break;
	case PROTO_ACK:
		ack_one(c, json_string_value(json_object_get(m, "jid")));
		break;
	case PROTO_ACKS:
		ack_all(c, json_object_get(m, "jids"));
		break;
	case PROTO_PING:
		send_frame(c, proto_new(PROTO_PONG));
		break;
	case PROTO_PONG:
		break;
	case PROTO_ERROR:
		log_error("server says: %s", json_string_value(json_object_get(m, "message")));
		break;
	default:
		log_warn("unexpected frame '%s' from the server", proto_type_name(type));
		break;
	}
	json_decref(m);
}

static void conn_ws_close(void *ud, net_conn *nc, const char *reason)
{
	struct conn *c = ud;

	(void)nc;
	if (c->welcomed)
		log_warn("disconnected from %s:%d: %s", c->host, c->port, reason);
	else
		log_info("connection to %s:%d failed: %s", c->host, c->port, reason);
	c->nc = NULL;
	c->welcomed = false;
	c->proto = 1;
	/* Held starts are worthless later (a hello lists the running jobs). */
	held_flush(c);
	/* Live output that waited for the link is skipped, and the pipes
	 * are read again: a child never blocks on a disconnected agent. */
	exec_link_changed(c->a->exec);
	if (!c->stopped)
		schedule_retry(c);
}

/* The send queue is empty: live output that waited goes on. */
static void conn_ws_drained(void *ud, net_conn *nc)
{
	struct conn *c = ud;

	(void)nc;
	exec_link_changed(c->a->exec);
}

static const struct net_callbacks conn_callbacks = {
	.ws_open = conn_ws_open,
	.ws_message = conn_ws_message,
	.ws_close = conn_ws_close,
	.ws_drained = conn_ws_drained,
};

static void dial(struct conn *c)
{
	struct net_client_cfg cc;

	memset(&cc, 0, sizeof cc);
	cc.host = c->host;
	cc.port = c->port;
	cc.path = c->path;
	cc.subprotocol = PROTO_SUBPROTOCOL;
	cc.tls = c->tls;
	cc.ca_file = c->a->cfg.tls_ca[0] ? c->a->cfg.tls_ca : NULL;
	cc.fingerprint = c->a->cfg.fingerprint[0] ? c->a->cfg.fingerprint : NULL;
	cc.max_ws_message = 16 * 1024 * 1024;
	cc.max_ws_queue = 256 * 1024 * 1024;
	cc.cb = &conn_callbacks;
	cc.ud = c;
	c->nc = net_client_connect(c->a->net, &cc);
	if (!c->nc) {
		log_info("cannot reach %s:%d now", c->host, c->port);
		schedule_retry(c);
	}
}

/* Pings the server; a server silent for keep_alive_timeout is dead (a
 * half-open connection never closes by itself). */
static void hb_cb(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (!c->nc || !c->welcomed)
		return;
	/* A safety net: live output never waits longer than a keep-alive
	 * period for a drain event it missed. */
	exec_link_changed(c->a->exec);
	if (util_mono_ms() - c->last_rx_ms > (uint64_t)c->a->cfg.keep_alive_timeout_ms) {
		log_warn("no answer from the server for %lld ms: reconnecting",
			 (long long)c->a->cfg.keep_alive_timeout_ms);
		net_ws_close(c->nc, 1001, "keep-alive timeout");
		return;
	}
	send_frame(c, proto_new(PROTO_PING));
}

static void retry_cb(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (!c->stopped && !c->nc)
		dial(c);
}

static void schedule_retry(struct conn *c)
{
	uint64_t delay = (uint64_t)c->a->cfg.min_retry_ms;
	uint64_t max = (uint64_t)c->a->cfg.max_retry_ms;

	for (int i = 0; i < c->attempt && delay < max; i++)
		delay *= 2;
	if (delay > max)
		delay = max;
	/* Half fixed, half random: spreads a fleet's reconnects after a
	 * server restart. */
	delay = delay / 2 + randombytes_uniform((uint32_t)(delay / 2 + 1));
	if (c->attempt < 30)
		c->attempt++;
	uv_timer_start(&c->retry, retry_cb, delay, 0);
}

static void report_orphan(void *ud, const char *jid, const char *text, size_t len);

static void load_result(void *ud, const char *jid, char *text, size_t len)
{
	json_t *m = json_loadb(text, len, 0, NULL);
	const char *type = json_string_value(json_object_get(m, "type"));
	const char *mjid = json_string_value(json_object_get(m, "jid"));
	bool ok = type && mjid && !strcmp(mjid, jid) &&
		  (!strcmp(type, "result") || !strcmp(type, "reject"));

	json_decref(m);
	if (ok) {
		outbox_add(ud, jid, text, len);
		return;
	}
	/* Empty or torn: the system crashed before its fdatasync. */
	log_warn("job %s: its journaled result is unreadable; reporting it as unknown", jid);
	free(text);
	report_orphan(ud, jid, "", 0);
}

/* A job that was running when the agent stopped: its process is gone
 * with the agent's supervision, so its outcome is unknown. Say so. */
static void report_orphan(void *ud, const char *jid, const char *text, size_t len)
{
	struct conn *c = ud;
	json_t *run = json_loadb(text, len, 0, NULL);
	json_t *m = proto_new(PROTO_RESULT);
	char t[TIME_STR_LEN];

	util_time_format(util_now_ns(), t);
	json_object_set_new(m, "jid", json_string(jid));
	json_object_set_new(m, "status", json_string("unknown"));
	json_object_set_new(m, "exit_code", json_null());
	json_object_set_new(m, "error", json_string(
		"the agent restarted while the command was running; its outcome is unknown"));
	json_object_set_new(m, "stdout", json_string(""));
	json_object_set_new(m, "stderr", json_string(""));
	json_object_set_new(m, "finished_at", json_string(t));
	log_warn("job %s: was running when the agent stopped; reporting it as unknown", jid);
	json_decref(run);
	conn_report(c, m);
}

int conn_create(struct agent *a, struct conn **out, char *err, size_t errlen)
{
	struct conn *c = calloc(1, sizeof *c);

	if (!c)
		return TE_NOMEM;
	c->a = a;
	if (parse_server(c, a->cfg.server, err, errlen)) {
		free(c);
		return TE_INVAL;
	}
	uv_timer_init(a->loop, &c->retry);
	c->retry.data = c;
	uv_timer_init(a->loop, &c->hb);
	c->hb.data = c;
	uv_timer_init(a->loop, &c->hold);
	c->hold.data = c;
	c->proto = 1;
	if (journal_open(a->cfg.data_dir, &c->journal, err, errlen)) {
		uv_close((uv_handle_t *)&c->retry, NULL);
		uv_close((uv_handle_t *)&c->hb, NULL);
		uv_close((uv_handle_t *)&c->hold, NULL);
		c->journal = NULL;
		*out = c;
		return TE_IO;
	}
	journal_set_loop(c->journal, a->loop);
	journal_each_result(c->journal, load_result, c);
	journal_each_orphan(c->journal, report_orphan, c);
	*out = c;
	return 0;
}

void conn_start(struct conn *c)
{
	exec_set_link(c->a->exec, conn_link, c);
	uv_timer_start(&c->hb, hb_cb, (uint64_t)c->a->cfg.keep_alive_ms,
		       (uint64_t)c->a->cfg.keep_alive_ms);
	dial(c);
}

void conn_stop(struct conn *c)
{
	c->stopped = true;
	uv_timer_stop(&c->retry);
	uv_close((uv_handle_t *)&c->retry, NULL);
	uv_timer_stop(&c->hb);
	uv_close((uv_handle_t *)&c->hb, NULL);
	held_flush(c);
	uv_close((uv_handle_t *)&c->hold, NULL);
	if (c->nc)
		net_ws_close(c->nc, PROTO_CLOSE_SHUTDOWN, "agent stopping");
}

void conn_destroy(struct conn *c)
{
	struct outmsg *o, *tmp;

	if (!c)
		return;
	HASH_ITER(hh, c->outbox, o, tmp) {
		HASH_DEL(c->outbox, o);
		free(o->text);
		free(o);
	}
	journal_close(c->journal);
	free(c);
}
