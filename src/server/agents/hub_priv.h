/* hub_priv: what the agents layer's files share (hub.c: sessions and
 * frames; deliver.c: runs in flight, deadlines, redelivery, and the writes
 * of their outcomes). Not for other layers. */
#ifndef TETHER_HUB_PRIV_H
#define TETHER_HUB_PRIV_H

#include "agents/hub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <uthash.h>
#include "core/audit.h"
#include "auth/auth.h"
#include "core/events.h"
#include "core/metrics.h"
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
/* Protocol v2: a result's ack waits for a frame to the agent to ride on
 * (the next run, or the pong to its keep-alive ping, every 20 s by
 * default), at most this long; then it goes in an "acks" frame of its own
 * with every other ack of its session. A session holding ACK_BATCH_MAX
 * sends them at once. In a fan-out this saves a frame per agent. */
#define ACK_HOLD_MS 25000
#define ACK_BATCH_MAX 512

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
	bool enroll_done;            /* an enrollment was answered: closing */
	int proto;                   /* the version agreed at hello (1 until then) */
	char (*acks)[UUID_STR_LEN];  /* v2: results stored, their acks not yet sent */
	size_t nacks, capacks;
	struct session *acknext;     /* hub->acking: sessions holding acks */
	struct session *ackprev;
	uint64_t ack_since_ms;       /* when its oldest held ack was stored */
	bool in_acking;
	/* Frames read before its hello was handled, when the turn's budget
	 * of hellos was spent (hub.c, "hellos per turn"): kept in order. */
	struct early_frame *early;
	struct early_frame *early_tail;
	size_t early_bytes;
	struct session *hqnext;      /* hub->hq: sessions with early frames */
	struct session *hqprev;
	bool in_hq;
};

struct early_frame {
	struct early_frame *next;
	size_t len;
	char data[];
};

/* hub.c: one frame of a session, in the order it came. */
void hub_frame(struct session *s, const char *data, size_t len);

/* hellos.c: hellos per loop turn. defer: true when the frame was taken
 * (kept for a later turn, or the session failed for sending too much
 * before its welcome); false: handle it now (a first frame is counted
 * against the turn's budget). forget: a closing session's kept frames
 * go. */
void hub_hellos_init(struct hub *h, uv_loop_t *loop);
bool hub_hellos_defer(struct session *s, const char *data, size_t len);
void hub_hellos_forget(struct hub *h, struct session *s);
void hub_hellos_stop(struct hub *h);


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
	int64_t sent_ms;   /* util_mono_ms() at its first run sent here; 0: none */
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
	struct session *acking;       /* sessions holding acks (v2), oldest first */
	struct session *acking_tail;
	uv_timer_t ack_timer;
	/* Hellos handled in one loop turn at most (the rest wait in hq and
	 * go in the next turns): a reconnect storm hands the loop a thousand
	 * hellos in one turn, about 90 us each. */
	struct session *hq;
	struct session *hq_tail;
	int hello_budget;
	uv_check_t hello_refill;
	uv_idle_t hello_drain;
	bool stopping;
};




enum { W_STARTED, W_RESULT, W_REJECT, W_FAIL, W_EXPIRE, W_CLIENT };

struct hub_write {
	struct hub *h;
	int kind;
	char jid[UUID_STR_LEN];
	char client_id[MAX_ID_LEN + 1];
	struct client_ref client;    /* the sender, for the ack */
	json_t *hold;                /* keeps the strings in r alive */
	char *arena;                 /* ... or this (a frame decoded without a tree) */
	struct job_result r;
	unsigned char *dec[2];
	int64_t pid;
	int64_t started;
	UT_hash_handle hh;           /* in hub.starts while deferred */
};

int session_send(struct session *s, json_t *msg);
/* Sends a frame whose text in b lacks its closing brace (a v2 session's
 * held acks ride along); frees b's data. 0 or a TE_ code. */
int session_send_open(struct session *s, struct buf *b);
/* The result of jid is stored: its agent may forget it (v1: an ack frame
 * now; v2: held, see ACK_HOLD_MS). */
void session_ack(struct session *s, const char *jid);
/* Sends a session's held acks now (an "acks" frame). */
void session_acks_flush(struct session *s);
void session_fail(struct session *s, int code, const char *why);
/* enroll.c: the first frame is an enrollment. */
void on_enroll(struct session *s, json_t *m);
void client_save(struct hub *h, struct client *c);
void on_hello(struct session *s, json_t *m);
int64_t deadline_after(int64_t base_ns, int64_t sec);
int64_t delivery_sec(const struct hub *h, int64_t sec);
struct tracked *tracked_find(struct hub *h, const char *jid);
void track_started(struct hub *h, const char *jid, const char *client_id);
void track_loaded(void *ud, const struct job_running *r);
void pending_resolve(struct hub *h, struct pending *p, int status,
			    const char *error, int64_t pid);
void unauth_remove(struct hub *h, struct session *s);
void sweep_cb(uv_timer_t *t);
void write_free(struct hub_write *w);
void starts_flush(struct hub *h);
bool start_waiting(struct hub *h, const char *jid);
void queue_expire(struct hub *h, const char *jid, const char *client_id,
			 int64_t delivery);
void queue_client(struct hub *h, const char *id, json_t *rec);
void session_detach(struct hub *h, struct session *s, const char *reason);
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t grace_sec(const struct hub *h) { return h->srv->cfg.result_grace_sec; }
/* Frames of a run's progress (deliver.c). */
void on_started(struct session *s, json_t *m);
void on_reject(struct session *s, json_t *m);
void on_result(struct session *s, json_t *m);
/* The same frames decoded without a tree (proto_fast_decode); result_take
 * takes arena (the decoded strings), started_take does not. */
void result_take(struct session *s, const struct proto_result *r, json_t *hold, char *arena);
void started_take(struct session *s, const struct proto_started *st);
/* Runs and cancels to a session (deliver.c). */
extern const struct registry_router hub_router;

#endif
