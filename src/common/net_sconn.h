/* net_sconn: what the server's connection files share (not for other
 * modules): net_server.c has the connections (reading, writing, deadlines,
 * closing) and the listeners; net_server_http.c has what runs over a
 * connection (HTTP requests and answers, the WebSocket upgrade and
 * session) and the request accessors. */
#ifndef TETHER_NET_SCONN_H
#define TETHER_NET_SCONN_H

#include "net_srv.h"

#define NET_RBUF (64 * 1024)
#define NET_IN_CAP (256 * 1024)
#define NET_MAX_BINDS 8
#define NET_RESUME_QUEUED (256 * 1024)  /* pipelined requests wait above it */
#define NET_CLOSE_WAIT_MS 5000          /* peer's close frame */
#define NET_LINGER_MS 2000              /* reading what follows a final answer */
#define NET_FINAL_WRITE_MS 30000        /* a final answer to a peer that reads none */

enum sstate { S_HTTP, S_WS };
enum hphase { H_IDLE, H_HEAD, H_OWNER, H_BODY, H_WAIT, H_LINGER };

struct net_listener {
	net_ctx *ctx;
	const struct net_callbacks *cb;
	void *ud;
	struct net_limits lim;
	size_t max_ws_message;
	size_t max_ws_queue;
	uint64_t header_ms, body_ms, idle_ms;
	char subproto[64];
	SSL_CTX *tls;
	int port;
	char name[300];
	int nsock;
	uv_tcp_t socks[NET_MAX_BINDS];
	struct net_listener *next;
};

struct net_sconn {
	uv_tcp_t tcp;
	net_conn pub;
	struct net_listener *l;
	SSL *ssl;
	struct nh *http;              /* while HTTP */
	net_http_req *req;            /* handed to the owner, not yet answered */
	struct buf in;                /* read, not yet used */
	struct buf pre;               /* frames queued before the 101 went out */
	struct net_ws_rx wsrx;
	uv_shutdown_t *shut;
	enum sstate state;
	enum hphase phase;
	uint64_t deadline;            /* 0: none */
	struct net_sconn *tprev, *tnext;
	struct net_sconn *aprev, *anext;
	struct net_sconn *rnext;
	struct net_sconn *cprev, *cnext; /* in the server's corked list */
	struct buf cork;              /* frames gathered while the server is corked */
	size_t cork_acct;             /* their bytes in pub.queued */
	uint64_t cork_gen;            /* the cork in which the last frame went */
	bool corked;                  /* in the corked list */
	int writes;                   /* uv_write requests in flight */
	bool timed;
	bool resume_queued;
	bool reading;
	bool rd_eof;
	bool dead;                    /* uv_close called */
	bool end_after_write;         /* final answer: shut down once written */
	bool close_sent;
	bool close_after_write;       /* WebSocket: close once written */
	char why[96];
};

struct net_server {
	net_ctx *ctx;
	struct net_listener *listeners;
	struct net_sconn *all;
	struct net_sconn *timed;
	struct net_sconn *resume_head, *resume_tail;
	struct net_sconn *corked;     /* connections with gathered frames */
	int cork_depth;               /* net_cork calls not yet ended */
	uint64_t cork_gen;            /* counts the outermost net_cork calls */
	uv_timer_t sweep;
	uv_idle_t idle;
	bool handles_up;
	bool destroying;
	size_t bodies_in_flight;
	char rbuf[NET_RBUF];           /* socket reads */
	char plain[NET_RBUF];          /* TLS: decrypted input */
	char tlsout[NET_RBUF];         /* TLS: encrypted output */
};

struct wblock {
	uv_write_t w;
	struct net_sconn *c;
	size_t acct;
	size_t len;
	char data[];
};

static inline struct net_sconn *sconn_of(net_conn *c)
{
	return (struct net_sconn *)((char *)c - offsetof(struct net_sconn, pub));
}

/* ---- connections (net_server.c) --------------------------------------- */

/* Sets (or moves) the connection's deadline, checked once a second. */
void net_sconn_timed_set(struct net_sconn *c, uint64_t ms_from_now);
void net_sconn_timed_clear(struct net_sconn *c);
/* Sends d1 then d2 (through TLS if the connection has it); acct: bytes
 * counted in the send queue until written. 0 or a TE_ code (the
 * connection is closed then). */
int net_sconn_send(struct net_sconn *c, const char *d1, size_t l1, const char *d2, size_t l2,
		   size_t acct);
/* Shuts the sending side down (after a final answer is written). */
void net_sconn_end(struct net_sconn *c);
/* Closes the connection; it is freed in libuv's close callback. */
void net_sconn_close(struct net_sconn *c, const char *why);
/* Reads the connection's queued input on the loop's next idle turn. */
void net_sconn_resume_later(struct net_sconn *c);

/* ---- over a connection (net_server_http.c) ---------------------------- */

/* Feeds bytes to the connection; returns how many it used. It stops
 * early when a request waits for its owner. */
size_t net_sconn_process(struct net_sconn *c, char *data, size_t len);
/* The owner's hold on a request that will never be answered by it ends. */
void net_sconn_req_abort(struct net_sconn *c, net_http_req *r);
/* A request that broke the protocol or a limit: answered, then closed. */
void net_sconn_http_fail(struct net_sconn *c, const struct net_http_err *e);

#endif
