/* net_server: the HTTP/1.1 and WebSocket server on libuv.
 *
 * A connection reads into one buffer per loop; bytes it cannot use yet (a
 * pipelined request behind one being answered, input that arrived while
 * the owner decides on a request's head) are copied into its own buffer,
 * and reading stops until they are used. Deadlines (a request's head, its
 * body, an idle keep-alive connection, the WebSocket close handshake,
 * the lingering close) are checked by one timer a second, over the
 * connections that have one. Connections are freed in libuv's close
 * callback only, never inside one of the owner's callbacks. */
#include "net_srv.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>

#include "log.h"

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

static struct net_sconn *sconn_of(net_conn *c)
{
	return (struct net_sconn *)((char *)c - offsetof(struct net_sconn, pub));
}

static void conn_close(struct net_sconn *c, const char *why);
static void conn_process_in(struct net_sconn *c);
static void resume_later(struct net_sconn *c);
static void on_idle(uv_idle_t *h);

/* ---- deadlines ------------------------------------------------------- */

static void timed_set(struct net_sconn *c, uint64_t ms_from_now)
{
	struct net_server *s = c->l->ctx->srv;

	c->deadline = util_mono_ms() + ms_from_now;
	if (c->timed)
		return;
	c->timed = true;
	c->tprev = NULL;
	c->tnext = s->timed;
	if (s->timed)
		s->timed->tprev = c;
	s->timed = c;
}

static void timed_clear(struct net_sconn *c)
{
	struct net_server *s = c->l->ctx->srv;

	c->deadline = 0;
	if (!c->timed)
		return;
	c->timed = false;
	if (c->tprev)
		c->tprev->tnext = c->tnext;
	else
		s->timed = c->tnext;
	if (c->tnext)
		c->tnext->tprev = c->tprev;
	c->tprev = c->tnext = NULL;
}

/* ---- writing --------------------------------------------------------- */

static void conn_flushed(struct net_sconn *c);

static void on_written(uv_write_t *w, int status)
{
	struct wblock *b = w->data;
	struct net_sconn *c = b->c;

	c->writes--;
	c->pub.queued -= b->acct;
	free(b);
	if (c->dead)
		return;
	if (status < 0) {
		conn_close(c, "write failed");
		return;
	}
	if (!c->writes)
		conn_flushed(c);
}

/* Writes raw bytes (d1 then d2), at once if the socket takes them, the rest
 * queued in one copy. acct: bytes counted in the send queue until written. */
static int raw_send(struct net_sconn *c, const char *d1, size_t l1, const char *d2, size_t l2,
		    size_t acct)
{
	uv_buf_t bufs[2] = { uv_buf_init((char *)d1, (unsigned int)l1),
			     uv_buf_init((char *)d2, (unsigned int)l2) };
	size_t done = 0, rest;
	struct wblock *b;
	int n;

	if (c->dead)
		return TE_STATE;
	if (!c->writes) {
		n = uv_try_write((uv_stream_t *)&c->tcp, bufs, l2 ? 2 : 1);
		if (n >= 0)
			done = (size_t)n;
		else if (n != UV_EAGAIN) {
			conn_close(c, "write failed");
			return TE_IO;
		}
		if (done == l1 + l2)
			return 0;
	}
	rest = l1 + l2 - done;
	b = malloc(sizeof *b + rest);
	if (!b) {
		conn_close(c, "out of memory");
		return TE_NOMEM;
	}
	b->c = c;
	b->acct = acct;
	b->len = rest;
	if (done < l1) {
		memcpy(b->data, d1 + done, l1 - done);
		if (l2)
			memcpy(b->data + (l1 - done), d2, l2);
	} else {
		memcpy(b->data, d2 + (done - l1), rest);
	}
	b->w.data = b;
	bufs[0] = uv_buf_init(b->data, (unsigned int)rest);
	if (uv_write(&b->w, (uv_stream_t *)&c->tcp, bufs, 1, on_written)) {
		free(b);
		conn_close(c, "write failed");
		return TE_IO;
	}
	c->writes++;
	c->pub.queued += acct;
	return 0;
}

/* Moves what TLS produced to the socket. */
static int tls_flush(struct net_sconn *c, size_t acct)
{
	struct net_server *s = c->l->ctx->srv;
	BIO *wbio = SSL_get_wbio(c->ssl);
	int n;

	while ((n = BIO_read(wbio, s->tlsout, sizeof s->tlsout)) > 0) {
		int rc = raw_send(c, s->tlsout, (size_t)n, NULL, 0, acct);

		acct = 0;
		if (rc)
			return rc;
	}
	return 0;
}

static int conn_send(struct net_sconn *c, const char *d1, size_t l1, const char *d2, size_t l2,
		     size_t acct)
{
	if (c->dead)
		return TE_STATE;
	if (!c->ssl)
		return raw_send(c, d1, l1, d2, l2, acct);
	if ((l1 && SSL_write(c->ssl, d1, (int)l1) <= 0) ||
	    (l2 && SSL_write(c->ssl, d2, (int)l2) <= 0)) {
		conn_close(c, "TLS write failed");
		return TE_IO;
	}
	return tls_flush(c, acct);
}

/* ---- HTTP answers ---------------------------------------------------- */

static void conn_end(struct net_sconn *c);

/* Writes an answer; final: the connection ends after it. */
static void http_write(struct net_sconn *c, int status, const char *ctype, const char *body,
		       size_t len, bool final, bool head, const char *extra)
{
	size_t n;
	char *out = net_http_format(status, ctype, body, len, final, head, extra, &n);

	if (!out) {
		conn_close(c, "out of memory");
		return;
	}
	conn_send(c, out, n, NULL, 0, n);
	free(out);
	if (final && !c->dead) {
		/* Whatever the peer sends from here on is read and dropped. */
		c->phase = H_LINGER;
		timed_set(c, NET_FINAL_WRITE_MS);
		c->end_after_write = true;
		if (!c->writes)
			conn_end(c);
	}
}

static void http_write_error(struct net_sconn *c, int status, const char *title,
			     const char *detail, bool final, const char *extra)
{
	char body[700];
	size_t n = net_http_error_json(body, sizeof body, title, detail);

	http_write(c, status, "application/json", body, n, final, false, extra);
}

/* The owner's hold on a request that will never be answered by it ends. */
static void req_abort(struct net_sconn *c, net_http_req *r)
{
	const struct net_callbacks *cb = c->l->cb;

	if (c->req == r)
		c->req = NULL;
	if (c->http && c->http->req == r)
		c->http->req = NULL;
	net_req_unreserve(r, &c->l->lim);
	if (r->handed && !r->responded && cb->http_abort)
		cb->http_abort(c->l->ud, r);
	net_req_free(r);
}

/* A request that broke the protocol or a limit: answered, then closed. */
static void http_fail(struct net_sconn *c, const struct net_http_err *e)
{
	net_http_req *r = c->http ? c->http->req : NULL;

	if (r && r->handed)
		req_abort(c, r);
	log_debug("net: %s: %d %s: %s", c->pub.peer, e->status, e->title, e->detail);
	http_write_error(c, e->status, e->title, e->detail, true, NULL);
}

/* ---- WebSocket ------------------------------------------------------- */

static int ws_send_frame(struct net_sconn *c, int opcode, const char *data, size_t len)
{
	uint8_t hdr[10];
	size_t hl = net_ws_frame_header(hdr, opcode, len);

	if (!c->pub.opened)
		return buf_append(&c->pre, hdr, hl) || (len && buf_append(&c->pre, data, len))
			       ? TE_NOMEM : 0;
	return conn_send(c, (const char *)hdr, hl, data, len, len);
}

static void ws_send_close(struct net_sconn *c, int code, const char *reason)
{
	char frame[125];
	size_t rl = strlen(reason);

	if (c->close_sent)
		return;
	c->close_sent = true;
	if (rl > 123)
		rl = 123;
	frame[0] = (char)((code >> 8) & 0xff);
	frame[1] = (char)(code & 0xff);
	memcpy(frame + 2, reason, rl);
	ws_send_frame(c, 8, frame, 2 + rl);
	if (!c->dead)
		timed_set(c, NET_CLOSE_WAIT_MS);
}

int net_server_ws_send(net_conn *pc, const char *data, size_t len)
{
	struct net_sconn *c = sconn_of(pc);

	if (pc->closing || c->dead)
		return TE_STATE;
	if (len > pc->max_queue || pc->queued > pc->max_queue - len)
		return TE_TOOBIG;
	return ws_send_frame(c, 1, data, len);
}

void net_server_ws_close(net_conn *pc, int code, const char *reason)
{
	struct net_sconn *c = sconn_of(pc);

	if (pc->closing || c->dead)
		return;
	pc->closing = true;
	pc->close_code = code;
	util_strlcpy(pc->close_reason, reason ? reason : "", sizeof pc->close_reason);
	if (pc->opened)
		ws_send_close(c, code, pc->close_reason);
}

void net_server_ws_drop(net_conn *pc)
{
	struct net_sconn *c = sconn_of(pc);

	pc->closing = true;
	conn_close(c, "dropped");
}

static int ws_on_data(void *ud, const uint8_t *data, size_t len)
{
	struct net_sconn *c = ud;

	if (c->pub.closing)
		return 0;
	if (buf_append(&c->pub.rx, data, len)) {
		log_warn("net: %s: inbound message over %zu bytes, closing", c->pub.peer,
			 c->pub.rx.cap);
		buf_free(&c->pub.rx);
		return 1009;
	}
	return 0;
}

static bool utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char ch = s[i];
		size_t k;
		uint32_t cp;

		if (ch < 0x80) {
			i++;
			continue;
		}
		if ((ch & 0xe0) == 0xc0) {
			k = 1;
			cp = ch & 0x1f;
		} else if ((ch & 0xf0) == 0xe0) {
			k = 2;
			cp = ch & 0x0f;
		} else if ((ch & 0xf8) == 0xf0) {
			k = 3;
			cp = ch & 0x07;
		} else {
			return false;
		}
		if (i + k >= n)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

static int ws_on_message_end(void *ud, int opcode)
{
	struct net_sconn *c = ud;
	net_conn *pc = &c->pub;

	if (pc->closing)
		return 0;
	if (opcode == 1 && !utf8_ok((const unsigned char *)(pc->rx.data ? pc->rx.data : ""),
				    pc->rx.len))
		return 1007;
	pc->cb->ws_message(pc->ud, pc, pc->rx.data ? pc->rx.data : "", pc->rx.len);
	/* Large reassembly buffers go back; an idle agent keeps none. */
	if (pc->rx.alloc > 4096)
		buf_free(&pc->rx);
	else
		buf_reset(&pc->rx);
	return c->dead ? -1 : 0;
}

static int ws_on_control(void *ud, int opcode, const uint8_t *data, size_t len)
{
	struct net_sconn *c = ud;
	net_conn *pc = &c->pub;

	if (opcode == 9) {
		if (!pc->closing)
			ws_send_frame(c, 10, (const char *)data, len);
		return 0;
	}
	if (opcode == 10)
		return 0;
	/* Close: the handshake ends here if ours went first; otherwise
	 * answer it and close once the answer is written. */
	if (len == 1)
		return 1002;
	if (len >= 2) {
		int code = data[0] << 8 | data[1];

		snprintf(c->why, sizeof c->why, "closed by the peer (%d %.*s)", code,
			 (int)(len - 2 > 60 ? 60 : len - 2), (const char *)data + 2);
	} else {
		util_strlcpy(c->why, "closed by the peer", sizeof c->why);
	}
	if (c->close_sent) {
		conn_close(c, c->why);
		return -1;
	}
	pc->closing = true;
	ws_send_close(c, len >= 2 ? (data[0] << 8 | data[1]) : 1000, "");
	c->close_after_write = true;
	if (!c->writes)
		conn_close(c, c->why);
	return -1;
}

static const struct net_ws_events ws_events = {
	.message_end = ws_on_message_end,
	.control = ws_on_control,
	.data = ws_on_data,
};

static void ws_input(struct net_sconn *c, char *data, size_t len)
{
	size_t used;
	int rc = net_ws_rx_feed(&c->wsrx, (const uint8_t *)data, len, &ws_events, c, &used);

	if (rc > 0 && !c->dead) {
		const char *why = rc == 1009 ? "message too big" :
				  rc == 1007 ? "invalid UTF-8 in a text message" : "protocol error";

		c->pub.closing = true;
		ws_send_close(c, rc, why);
		c->close_after_write = true;
		util_strlcpy(c->why, why, sizeof c->why);
		if (!c->writes)
			conn_close(c, why);
	}
}

/* True if the Host header names a port ("h:p", "[v6]:p"). */
static bool host_has_port(const char *host)
{
	const char *colon = strrchr(host, ':');
	const char *bracket = strrchr(host, ']');

	return colon && (!bracket || colon > bracket);
}

/* Origin scheme://host equal to this listener's scheme and the Host the
 * request was sent to: a page of this server itself. On a TLS listener
 * "http://" with the same explicit port is the same server too (no page
 * can be served in plain text from a port that speaks only TLS); clients
 * such as python3-websocket send it for wss://. */
static bool same_origin(const net_http_req *r, bool tls)
{
	const char *o = r->origin;

	if (!o || !r->host)
		return false;
	if (!strncasecmp(o, tls ? "https://" : "http://", tls ? 8 : 7) &&
	    !strcasecmp(o + (tls ? 8 : 7), r->host))
		return true;
	return tls && host_has_port(r->host) && !strncasecmp(o, "http://", 7) &&
	       !strcasecmp(o + 7, r->host);
}

static void ws_upgrade(struct net_sconn *c, net_http_req *r)
{
	struct net_listener *l = c->l;
	net_conn *pc = &c->pub;
	char accept[29], hdr[400];
	int n, st;
	bool proto;

	if (r->method != HTTP_GET || !r->ws_key || net_ws_accept_key(r->ws_key, accept)) {
		net_req_free(r);
		http_write_error(c, 400, "Bad Request", "not a valid WebSocket upgrade", true, NULL);
		return;
	}
	if (!r->ws_version || strcmp(r->ws_version, "13")) {
		net_req_free(r);
		http_write_error(c, 426, "Upgrade Required", "WebSocket version 13 only", true,
				 "Sec-WebSocket-Version: 13\r\n");
		return;
	}
	proto = net_has_token(r->ws_protocol, l->subproto);
	pc->kind = KIND_CONN;
	pc->cb = l->cb;
	pc->ud = l->ud;
	pc->max_queue = l->max_ws_queue;
	buf_init(&pc->rx, l->max_ws_message);
	pc->path = r->path;
	r->path = NULL;
	pc->query = r->query;
	pc->nquery = r->nquery;
	r->query = NULL;
	r->nquery = 0;
	pc->authorization = r->authorization;
	r->authorization = NULL;
	if (!same_origin(r, l->tls != NULL)) {
		pc->origin = r->origin;
		r->origin = NULL;
	}
	net_req_free(r);
	if (pc->cb->ws_accept && (st = pc->cb->ws_accept(pc->ud, pc)) != 0) {
		const char *title = pc->refusal ? pc->refusal : st == 401 ? "unauthorized" : st == 403 ? "forbidden" :
				    st == 423 ? "Too many bad attempts. Please try later." :
				    st == 429 ? "too many requests, please try later" :
				    st == 404 ? "not found" :
				    st == 503 ? "service unavailable" : "refused";

		net_conn_fields_free(pc);
		buf_free(&c->pre);
		http_write_error(c, st, title, "", true, NULL);
		return;
	}
	n = snprintf(hdr, sizeof hdr,
		     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s%s%s\r\n", accept,
		     proto ? "Sec-WebSocket-Protocol: " : "", proto ? l->subproto : "",
		     proto ? "\r\n" : "");
	c->state = S_WS;
	nh_release(c->http);
	free(c->http);
	c->http = NULL;
	timed_clear(c);
	conn_send(c, hdr, (size_t)n, NULL, 0, 0);
	if (c->dead)
		return;
	pc->opened = true;
	if (c->pre.len) {
		size_t pl = c->pre.len;

		conn_send(c, c->pre.data, pl, NULL, 0, 0);
	}
	buf_free(&c->pre);
	if (pc->closing)
		ws_send_close(c, pc->close_code, pc->close_reason);
	else if (pc->cb->ws_open)
		pc->cb->ws_open(pc->ud, pc);
}

/* ---- HTTP requests --------------------------------------------------- */

static void http_head(struct net_sconn *c, net_http_req *r)
{
	struct net_listener *l = c->l;

	r->conn = c;
	r->l = l;
	util_strlcpy(r->peer, c->pub.peer, sizeof r->peer);
	if (!l->cb->http_request) {
		struct net_http_err e = { 404, "Not Found", "this port serves WebSocket only" };

		http_fail(c, &e);
		return;
	}
	c->phase = H_OWNER;
	timed_clear(c);
	r->handed = true;
	c->req = r;
	if (l->cb->http_headers)
		l->cb->http_headers(l->ud, r);
	else
		net_http_read_body(r);
}

static void http_done(struct net_sconn *c, net_http_req *r)
{
	c->http->req = NULL;
	timed_clear(c);
	if (r->is_upgrade) {
		r->conn = c;
		util_strlcpy(r->peer, c->pub.peer, sizeof r->peer);
		ws_upgrade(c, r);
		return;
	}
	c->phase = H_WAIT;
	r->dispatched = true;
	c->req = r;
	c->l->cb->http_request(c->l->ud, r);
}

int net_http_read_body(net_http_req *r)
{
	struct net_sconn *c = r->conn;

	if (!c) {
		net_req_unreserve(r, &r->l->lim);
		net_req_free(r);
		return TE_STATE;
	}
	if (r->reading_body || r->responded)
		return TE_STATE;
	r->reading_body = true;
	c->phase = H_BODY;
	timed_set(c, c->l->body_ms);
	if (r->expect && (r->content_length > 0 || r->chunked))
		conn_send(c, "HTTP/1.1 100 Continue\r\n\r\n", 25, NULL, 0, 0);
	resume_later(c);
	return 0;
}

void net_http_respond(net_http_req *r, int status, const char *content_type, const char *body,
		      size_t len)
{
	struct net_sconn *c = r->conn;
	bool final, unread;

	if (r->responded)
		return;
	r->responded = true;
	if (!c) {
		net_req_unreserve(r, &r->l->lim);
		net_req_free(r);
		return;
	}
	/* Refused before its body was read: where the next request would
	 * start is unknown, so this one is the last. */
	unread = !r->dispatched && (r->content_length > 0 || r->chunked);
	final = !r->keep_alive || c->rd_eof || unread;
	if (c->req == r)
		c->req = NULL;
	if (c->http && c->http->req == r)
		c->http->req = NULL;
	net_req_unreserve(r, &c->l->lim);
	http_write(c, status, content_type ? content_type : "application/json", body, len,
		   final, r->method == HTTP_HEAD, NULL);
	net_req_free(r);
	if (c->dead)
		return;
	if (final)
		return;
	c->phase = H_IDLE;
	nh_next(c->http);
	timed_set(c, c->l->idle_ms);
	resume_later(c);
}

/* Feeds bytes to the connection; returns how many it used. It stops
 * early when a request waits for its owner. */
static size_t conn_process(struct net_sconn *c, char *data, size_t len)
{
	size_t used = 0;

	while (used < len && !c->dead) {
		enum nh_result res;

		if (c->state == S_WS) {
			ws_input(c, data + used, len - used);
			return len;
		}
		if (c->phase == H_LINGER)
			return len; /* after a final answer: read and dropped */
		if (c->phase == H_OWNER || c->phase == H_WAIT)
			return used;
		used += nh_feed(c->http, data + used, len - used, &res);
		if (c->phase == H_IDLE && c->http->req) {
			/* The first bytes of a request: its head has a deadline. */
			c->phase = H_HEAD;
			timed_set(c, c->l->header_ms);
		}
		switch (res) {
		case NH_MORE:
			break;
		case NH_HEAD:
			http_head(c, c->http->req);
			break;
		case NH_DONE:
			http_done(c, c->http->req);
			break;
		case NH_ERROR:
			http_fail(c, &c->http->err);
			return len;
		}
	}
	return used;
}

static bool conn_paused(const struct net_sconn *c)
{
	return c->state == S_HTTP &&
	       (c->phase == H_OWNER || c->phase == H_WAIT || c->resume_queued);
}

static void read_start(struct net_sconn *c);
static void read_stop(struct net_sconn *c);

/* Bytes from the socket (after TLS). */
static void conn_input(struct net_sconn *c, char *data, size_t len)
{
	size_t used;

	if (c->in.len || conn_paused(c)) {
		if (buf_append(&c->in, data, len)) {
			conn_close(c, "too much input at once");
			return;
		}
		if (!conn_paused(c))
			conn_process_in(c);
		else
			read_stop(c);
		return;
	}
	used = conn_process(c, data, len);
	if (c->dead || used == len)
		return;
	if (buf_append(&c->in, data + used, len - used)) {
		conn_close(c, "too much input at once");
		return;
	}
	read_stop(c);
}

/* The peer sent its FIN (or TLS close_notify). */
static void conn_eof(struct net_sconn *c)
{
	c->rd_eof = true;
	read_stop(c);
	if (c->state == S_WS) {
		conn_close(c, c->why[0] ? c->why : "connection closed");
		return;
	}
	switch (c->phase) {
	case H_OWNER:
	case H_WAIT:
		return; /* answered, then closed */
	case H_IDLE:
		if (c->in.len || c->resume_queued)
			return;
		conn_close(c, "connection closed");
		return;
	case H_BODY:
		if (c->in.len || c->resume_queued)
			return;
		if (c->http && c->http->req && c->http->req->handed)
			req_abort(c, c->http->req);
		conn_close(c, "connection closed mid-request");
		return;
	default:
		conn_close(c, "connection closed");
		return;
	}
}

static void conn_process_in(struct net_sconn *c)
{
	size_t used;

	if (c->dead)
		return;
	if (c->in.len) {
		used = conn_process(c, c->in.data, c->in.len);
		if (c->dead)
			return;
		if (used >= c->in.len) {
			buf_free(&c->in);
		} else {
			memmove(c->in.data, c->in.data + used, c->in.len - used);
			c->in.len -= used;
			c->in.data[c->in.len] = '\0';
		}
	}
	if (conn_paused(c) || c->in.len)
		return;
	if (c->rd_eof)
		conn_eof(c);
	else
		read_start(c);
}

/* ---- the loop's side ------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct net_sconn *c = h->data;
	struct net_server *s = c->l->ctx->srv;

	(void)hint;
	*buf = uv_buf_init(s->rbuf, sizeof s->rbuf);
}

static void tls_input(struct net_sconn *c, const char *data, size_t len)
{
	struct net_server *s = c->l->ctx->srv;
	int n;

	if (BIO_write(SSL_get_rbio(c->ssl), data, (int)len) != (int)len) {
		conn_close(c, "out of memory");
		return;
	}
	if (!SSL_is_init_finished(c->ssl)) {
		n = SSL_do_handshake(c->ssl);
		tls_flush(c, 0);
		if (c->dead)
			return;
		if (n <= 0) {
			int e = SSL_get_error(c->ssl, n);

			if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
				char why[160];

				ERR_error_string_n(ERR_get_error(), why, sizeof why);
				net_log_limited(LOG_INFO, "net: %s: TLS handshake failed: %s",
						c->pub.peer, why);
				ERR_clear_error();
				conn_close(c, "TLS handshake failed");
			}
			return;
		}
	}
	while (!c->dead) {
		n = SSL_read(c->ssl, s->plain, sizeof s->plain);
		if (n <= 0) {
			int e = SSL_get_error(c->ssl, n);

			tls_flush(c, 0);
			ERR_clear_error();
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return;
			if (e == SSL_ERROR_ZERO_RETURN) {
				conn_eof(c);
				return;
			}
			conn_close(c, "TLS error");
			return;
		}
		conn_input(c, s->plain, (size_t)n);
	}
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct net_sconn *c = st->data;

	if (c->dead)
		return;
	if (n < 0) {
		if (n == UV_EOF)
			conn_eof(c);
		else
			conn_close(c, "connection reset");
		return;
	}
	if (n == 0)
		return;
	if (c->ssl)
		tls_input(c, buf->base, (size_t)n);
	else
		conn_input(c, buf->base, (size_t)n);
}

static void read_start(struct net_sconn *c)
{
	if (c->reading || c->dead || c->rd_eof)
		return;
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
		c->reading = true;
}

static void read_stop(struct net_sconn *c)
{
	if (!c->reading)
		return;
	uv_read_stop((uv_stream_t *)&c->tcp);
	c->reading = false;
}

static void resume_later(struct net_sconn *c)
{
	struct net_server *s = c->l->ctx->srv;

	if (c->resume_queued || c->dead)
		return;
	c->resume_queued = true;
	c->rnext = NULL;
	if (s->resume_tail)
		s->resume_tail->rnext = c;
	else
		s->resume_head = c;
	s->resume_tail = c;
	if (!uv_is_active((uv_handle_t *)&s->idle))
		uv_idle_start(&s->idle, on_idle);
}

static void on_idle(uv_idle_t *h)
{
	struct net_server *s = h->data;
	struct net_sconn *list = s->resume_head;

	/* Connections queued while this runs wait for the next turn. */
	s->resume_head = s->resume_tail = NULL;
	uv_idle_stop(h);
	while (list) {
		struct net_sconn *c = list;

		list = c->rnext;
		c->rnext = NULL;
		c->resume_queued = false;
		if (c->dead)
			continue;
		if (c->phase == H_IDLE && c->pub.queued > NET_RESUME_QUEUED)
			continue; /* the peer reads slowly: conn_flushed resumes */
		conn_process_in(c);
	}
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct net_sconn *c = req->data;

	(void)status;
	free(req);
	c->shut = NULL;
	if (c->dead)
		return;
	if (c->rd_eof) {
		conn_close(c, c->why[0] ? c->why : "closed after the answer");
		return;
	}
	/* Read (and drop) what the peer still sends for a moment: closing
	 * with unread input would reset the connection and could destroy the
	 * answer before the peer reads it. */
	c->phase = H_LINGER;
	timed_set(c, NET_LINGER_MS);
	buf_free(&c->in);
	read_start(c);
}

/* A final answer is written: shut the sending side down. */
static void conn_end(struct net_sconn *c)
{
	if (c->dead || c->shut)
		return;
	c->end_after_write = false;
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		tls_flush(c, 0);
		if (c->dead)
			return;
	}
	c->shut = malloc(sizeof *c->shut);
	if (!c->shut) {
		conn_close(c, "out of memory");
		return;
	}
	c->shut->data = c;
	if (uv_shutdown(c->shut, (uv_stream_t *)&c->tcp, on_shutdown)) {
		free(c->shut);
		c->shut = NULL;
		conn_close(c, "shutdown failed");
	}
}

static void conn_flushed(struct net_sconn *c)
{
	net_conn *pc = &c->pub;

	if (c->end_after_write) {
		conn_end(c);
		return;
	}
	if (c->state == S_WS) {
		if (c->close_after_write) {
			conn_close(c, c->why[0] ? c->why : "closed");
			return;
		}
		if (pc->opened && !pc->closing && pc->cb->ws_drained)
			pc->cb->ws_drained(pc->ud, pc);
		return;
	}
	if (c->phase == H_IDLE && (c->in.len || !c->reading))
		resume_later(c);
}

static void on_closed(uv_handle_t *h)
{
	struct net_sconn *c = h->data;
	struct net_server *s = c->l->ctx->srv;
	net_http_req *r = c->req;

	if (r) {
		c->req = NULL;
		if (c->http && c->http->req == r)
			c->http->req = NULL;
		if (r->dispatched || !r->reading_body) {
			/* The owner answers it (or reads its body) later;
			 * the answer is dropped then. */
			r->conn = NULL;
		} else {
			req_abort(c, r);
		}
	}
	if (c->http) {
		nh_release(c->http);
		free(c->http);
	}
	if (c->state == S_WS && c->pub.opened)
		net_conn_notify_close(&c->pub, c->why[0] ? c->why : "connection closed");
	net_conn_fields_free(&c->pub);
	buf_free(&c->in);
	buf_free(&c->pre);
	SSL_free(c->ssl);
	if (c->aprev)
		c->aprev->anext = c->anext;
	else
		s->all = c->anext;
	if (c->anext)
		c->anext->aprev = c->aprev;
	free(c);
}

static void conn_close(struct net_sconn *c, const char *why)
{
	if (c->dead)
		return;
	c->dead = true;
	if (!c->why[0])
		util_strlcpy(c->why, why, sizeof c->why);
	timed_clear(c);
	read_stop(c);
	uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_sweep(uv_timer_t *t)
{
	struct net_server *s = t->data;
	uint64_t now = util_mono_ms();
	struct net_sconn *c, *next;

	for (c = s->timed; c; c = next) {
		next = c->tnext;
		if (!c->deadline || c->deadline > now)
			continue;
		timed_clear(c);
		if (c->state == S_WS) {
			conn_close(c, c->why[0] ? c->why : "close handshake timed out");
		} else if (c->phase == H_HEAD || c->phase == H_BODY) {
			struct net_http_err e = { 408, "Request Timeout", "" };

			util_strlcpy(e.detail, c->phase == H_HEAD ?
				     "the request head did not arrive in time" :
				     "the request body did not arrive in time", sizeof e.detail);
			http_fail(c, &e);
		} else {
			conn_close(c, c->phase == H_IDLE ? "idle" : "closed");
		}
	}
}

static void peer_name(uv_tcp_t *t, char *out, size_t outlen)
{
	struct sockaddr_storage ss;
	int len = sizeof ss;

	out[0] = '\0';
	if (uv_tcp_getpeername(t, (struct sockaddr *)&ss, &len))
		return;
	if (ss.ss_family == AF_INET) {
		uv_ip4_name((struct sockaddr_in *)&ss, out, outlen);
	} else if (ss.ss_family == AF_INET6) {
		uv_ip6_name((struct sockaddr_in6 *)&ss, out, outlen);
		/* A v4 peer on a dual-stack socket is written as v4. */
		if (!strncmp(out, "::ffff:", 7) && strchr(out + 7, '.'))
			memmove(out, out + 7, strlen(out + 7) + 1);
	}
}

static void on_refused_closed(uv_handle_t *h)
{
	free(h);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct net_listener *l = server->data;
	struct net_server *s = l->ctx->srv;
	struct net_sconn *c;
	uv_os_fd_t fd = -1;

	if (status < 0) {
		net_log_limited(LOG_WARN, "net: accept on %s: %s", l->name, uv_strerror(status));
		return;
	}
	c = calloc(1, sizeof *c);
	if (!c) {
		uv_tcp_t *t = malloc(sizeof *t);

		/* The connection must still be taken off the backlog. */
		if (t && !uv_tcp_init(l->ctx->loop, t) && !uv_accept(server, (uv_stream_t *)t))
			uv_close((uv_handle_t *)t, on_refused_closed);
		else
			free(t);
		return;
	}
	uv_tcp_init(l->ctx->loop, &c->tcp);
	c->tcp.data = c;
	c->l = l;
	c->pub.kind = KIND_CONN;
	if (uv_accept(server, (uv_stream_t *)&c->tcp)) {
		uv_close((uv_handle_t *)&c->tcp, on_refused_closed);
		return;
	}
	if (s->destroying ||
	    (l->ctx->fd_limit > 0 && !uv_fileno((uv_handle_t *)&c->tcp, &fd) &&
	     fd >= l->ctx->fd_limit)) {
		/* Past the descriptor reserve: closed at once, so the last
		 * descriptors stay free for the store and the loop, and
		 * accept() never fails with EMFILE. */
		net_log_limited(LOG_WARN, "net: Socket fd %d is too high (descriptor reserve): "
				"connection closed", (int)fd);
		uv_close((uv_handle_t *)&c->tcp, on_refused_closed);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	peer_name(&c->tcp, c->pub.peer, sizeof c->pub.peer);
	buf_init(&c->in, NET_IN_CAP + l->lim.max_header);
	buf_init(&c->pre, l->max_ws_queue);
	c->http = malloc(sizeof *c->http);
	if (l->tls)
		c->ssl = net_tls_new(l->tls);
	c->anext = s->all;
	if (s->all)
		s->all->aprev = c;
	s->all = c;
	if (!c->http || (l->tls && !c->ssl)) {
		conn_close(c, "out of memory");
		return;
	}
	nh_init(c->http, &l->lim);
	c->phase = H_IDLE;
	timed_set(c, l->header_ms);
	read_start(c);
}

/* ---- listeners ------------------------------------------------------- */

static int server_up(net_ctx *ctx)
{
	struct net_server *s;

	if (ctx->srv)
		return 0;
	s = calloc(1, sizeof *s);
	if (!s)
		return TE_NOMEM;
	s->ctx = ctx;
	uv_timer_init(ctx->loop, &s->sweep);
	uv_idle_init(ctx->loop, &s->idle);
	s->sweep.data = s;
	s->idle.data = s;
	uv_timer_start(&s->sweep, on_sweep, 1000, 1000);
	s->handles_up = true;
	ctx->srv = s;
	return 0;
}

void net_server_init(net_ctx *ctx)
{
	(void)ctx;
}

static void listener_free(struct net_listener *l)
{
	if (l->tls)
		SSL_CTX_free(l->tls);
	free(l);
}

/* Binds one address; returns 0 or a libuv error. */
static int bind_one(struct net_listener *l, const struct sockaddr *sa)
{
	uv_tcp_t *t = &l->socks[l->nsock];
	unsigned int flags = 0;
	int rc;

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		/* "::" takes v4 too; any other v6 address is only itself. */
		if (!IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
			flags = UV_TCP_IPV6ONLY;
	}
	uv_tcp_init(l->ctx->loop, t);
	t->data = l;
	l->nsock++;
	rc = uv_tcp_bind(t, sa, flags);
	if (!rc)
		rc = uv_listen((uv_stream_t *)t, 4096, on_connection);
	return rc;
}

static int listener_bind(struct net_listener *l, const char *host, int port)
{
	struct addrinfo hints, *res = NULL, *ai;
	char portstr[16];
	int rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(portstr, sizeof portstr, "%d", port);
	if (!host || !*host) {
		host = "::";
		hints.ai_flags |= AI_NUMERICHOST;
	}
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc) {
		log_error("net: cannot listen on %s: %s", l->name, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		struct addrinfo *prev;
		bool dup = false;

		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		for (prev = res; prev != ai; prev = prev->ai_next)
			if (prev->ai_addrlen == ai->ai_addrlen &&
			    !memcmp(prev->ai_addr, ai->ai_addr, ai->ai_addrlen))
				dup = true;
		if (dup)
			continue;
		if (l->nsock == NET_MAX_BINDS)
			break;
		if (l->port && ai->ai_family == AF_INET)
			((struct sockaddr_in *)ai->ai_addr)->sin_port = htons((uint16_t)l->port);
		else if (l->port)
			((struct sockaddr_in6 *)ai->ai_addr)->sin6_port = htons((uint16_t)l->port);
		rc = bind_one(l, ai->ai_addr);
		if (rc) {
			char addr[64] = "";

			if (ai->ai_family == AF_INET)
				uv_ip4_name((struct sockaddr_in *)ai->ai_addr, addr, sizeof addr);
			else
				uv_ip6_name((struct sockaddr_in6 *)ai->ai_addr, addr, sizeof addr);
			log_error("net: cannot listen on %s (%s port %d): %s", l->name, addr, port,
				  uv_strerror(rc));
			freeaddrinfo(res);
			return -1;
		}
		if (!l->port) {
			struct sockaddr_storage ss;
			int len = sizeof ss;

			if (!uv_tcp_getsockname(&l->socks[l->nsock - 1], (struct sockaddr *)&ss,
						&len))
				l->port = ntohs(ss.ss_family == AF_INET ?
						((struct sockaddr_in *)&ss)->sin_port :
						((struct sockaddr_in6 *)&ss)->sin6_port);
		}
	}
	freeaddrinfo(res);
	if (!l->nsock) {
		log_error("net: cannot listen on %s: no address", l->name);
		return -1;
	}
	return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
	(void)h;
}

net_listener *net_listen(net_ctx *ctx, const struct net_listen_cfg *cfg)
{
	struct net_listener *l;

	if (server_up(ctx))
		return NULL;
	l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->ctx = ctx;
	l->cb = cfg->cb;
	l->ud = cfg->ud;
	l->lim.max_body = cfg->max_body ? cfg->max_body : 1024 * 1024;
	l->lim.max_url = cfg->max_url ? cfg->max_url : 8192;
	l->lim.max_header = cfg->max_header ? cfg->max_header : 16384;
	l->lim.bodies_in_flight = &ctx->srv->bodies_in_flight;
	l->lim.max_bodies = cfg->max_bodies ? cfg->max_bodies : 64 * 1024 * 1024;
	l->header_ms = cfg->header_timeout_ms ? cfg->header_timeout_ms : 10000;
	l->body_ms = cfg->body_timeout_ms ? cfg->body_timeout_ms : 30000;
	l->idle_ms = cfg->idle_timeout_ms ? cfg->idle_timeout_ms : 30000;
	l->max_ws_message = cfg->max_ws_message ? cfg->max_ws_message : 1024 * 1024;
	l->max_ws_queue = cfg->max_ws_queue ? cfg->max_ws_queue : 16 * 1024 * 1024;
	util_strlcpy(l->subproto, cfg->subprotocol ? cfg->subprotocol : "tether",
		     sizeof l->subproto);
	snprintf(l->name, sizeof l->name, "%s%s%s:%d",
		 cfg->host && strchr(cfg->host, ':') ? "[" : "",
		 cfg->host && *cfg->host ? cfg->host : "*",
		 cfg->host && strchr(cfg->host, ':') ? "]" : "", cfg->port);
	if (cfg->tls_cert && cfg->tls_key) {
		if (!ctx->tls) {
			log_error("net: %s: TLS was not initialised", l->name);
			free(l);
			return NULL;
		}
		l->tls = net_tls_server_ctx(cfg->tls_cert, cfg->tls_key);
		if (!l->tls) {
			free(l);
			return NULL;
		}
	}
	l->port = cfg->port;
	if (listener_bind(l, cfg->host, cfg->port)) {
		for (int i = 0; i < l->nsock; i++)
			uv_close((uv_handle_t *)&l->socks[i], on_listener_closed);
		/* Freed with the context: the handles close on the loop. */
		l->cb = NULL;
		l->next = ctx->srv->listeners;
		ctx->srv->listeners = l;
		return NULL;
	}
	l->next = ctx->srv->listeners;
	ctx->srv->listeners = l;
	return l;
}

int net_listener_port(const net_listener *l) { return l->port; }

void net_server_destroy(net_ctx *ctx)
{
	struct net_server *s = ctx->srv;
	struct net_sconn *c, *next;

	if (!s || s->destroying)
		return;
	s->destroying = true;
	for (struct net_listener *l = s->listeners; l; l = l->next)
		for (int i = 0; i < l->nsock; i++)
			if (!uv_is_closing((uv_handle_t *)&l->socks[i]))
				uv_close((uv_handle_t *)&l->socks[i], on_listener_closed);
	for (c = s->all; c; c = next) {
		next = c->anext;
		conn_close(c, "server shutting down");
	}
	if (s->handles_up) {
		uv_close((uv_handle_t *)&s->sweep, NULL);
		uv_close((uv_handle_t *)&s->idle, NULL);
		s->handles_up = false;
	}
}

void net_server_free(net_ctx *ctx)
{
	struct net_server *s = ctx->srv;
	struct net_listener *l, *next;

	if (!s)
		return;
	for (l = s->listeners; l; l = next) {
		next = l->next;
		listener_free(l);
	}
	free(s);
	ctx->srv = NULL;
}

/* ---- request accessors ----------------------------------------------- */

const char *net_http_method(const net_http_req *r)
{
	return http_method_str((enum http_method)r->method);
}
const char *net_http_path(const net_http_req *r) { return r->path ? r->path : "/"; }
const char *net_http_query(const net_http_req *r, const char *name)
{
	return net_kv_get(r->query, r->nquery, name);
}
size_t net_http_query_count(const net_http_req *r) { return r->nquery; }
const char *net_http_query_at(const net_http_req *r, size_t i, const char **value)
{
	if (i >= r->nquery)
		return NULL;
	*value = r->query[i].value;
	return r->query[i].name;
}
const char *net_http_authorization(const net_http_req *r) { return r->authorization; }
const char *net_http_origin(const net_http_req *r) { return r->origin; }
const char *net_http_content_type(const net_http_req *r) { return r->content_type; }
const char *net_http_peer(const net_http_req *r) { return r->peer; }
const char *net_http_body(const net_http_req *r, size_t *len)
{
	*len = r->body.len;
	return r->body.data ? r->body.data : "";
}
bool net_http_body_too_big(const net_http_req *r)
{
	(void)r;
	return false; /* answered 413 by net itself */
}
bool net_http_has_body(const net_http_req *r)
{
	return r->content_length > 0 || r->chunked;
}
void net_http_set_user(net_http_req *r, void *user) { r->user = user; }
void *net_http_user(const net_http_req *r) { return r->user; }
