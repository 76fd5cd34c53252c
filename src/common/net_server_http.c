/* net_server_http: what runs over a server connection: HTTP answers and
 * requests (handed to the owner, their bodies read on its word), the
 * WebSocket upgrade and the WebSocket session (frames in and out, the
 * close handshake), and the request accessors of net.h. The connections
 * themselves (reading, writing, deadlines, closing) are net_server.c's. */
#include "net_sconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

/* ---- HTTP answers ---------------------------------------------------- */

/* Writes an answer; final: the connection ends after it. */
static void http_write(struct net_sconn *c, int status, const char *ctype, const char *body,
		       size_t len, bool final, bool head, const char *extra)
{
	size_t n;
	char *out = net_http_format(status, ctype, body, len, final, head, extra, &n);

	if (!out) {
		net_sconn_close(c, "out of memory");
		return;
	}
	net_sconn_send(c, out, n, NULL, 0, n);
	free(out);
	if (final && !c->dead) {
		/* Whatever the peer sends from here on is read and dropped. */
		c->phase = H_LINGER;
		net_sconn_timed_set(c, NET_FINAL_WRITE_MS);
		c->end_after_write = true;
		if (!c->writes)
			net_sconn_end(c);
	}
}

static void http_write_error(struct net_sconn *c, const net_http_req *req, int status,
			     const char *title, const char *detail, bool final, const char *extra)
{
	const struct net_callbacks *cb = c->l->cb;
	const char *type = "text/plain; charset=utf-8";
	char body[700];
	size_t n;

	if (cb->error_body) {
		n = cb->error_body(c->l->ud, req, &status, title, detail, body, sizeof body,
				   &type);
	} else {
		int k = snprintf(body, sizeof body, "%s%s%s\n", title ? title : "",
				 detail && *detail ? ": " : "", detail ? detail : "");

		n = k < 0 ? 0 : (size_t)k >= sizeof body ? sizeof body - 1 : (size_t)k;
	}
	http_write(c, status, type, body, n, final, false, extra);
}

/* The owner's hold on a request that will never be answered by it ends. */
void net_sconn_req_abort(struct net_sconn *c, net_http_req *r)
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
void net_sconn_http_fail(struct net_sconn *c, const struct net_http_err *e)
{
	net_http_req *r = c->http ? c->http->req : NULL;

	log_debug("net: %s: %d %s: %s", c->pub.peer, e->status, e->title, e->detail);
	/* The answer first: its envelope is that of the request's owner. */
	http_write_error(c, r && r->path ? r : NULL, e->status, e->title, e->detail, true, NULL);
	if (r && r->handed)
		net_sconn_req_abort(c, r);
}

/* ---- WebSocket ------------------------------------------------------- */

static int ws_send_frame(struct net_sconn *c, int opcode, const char *data, size_t len)
{
	uint8_t hdr[10];
	size_t hl = net_ws_frame_header(hdr, opcode, len);

	if (!c->pub.opened)
		return buf_append(&c->pre, hdr, hl) || (len && buf_append(&c->pre, data, len))
			       ? TE_NOMEM : 0;
	return net_sconn_send(c, (const char *)hdr, hl, data, len, len);
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
		net_sconn_timed_set(c, NET_CLOSE_WAIT_MS);
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
	net_sconn_close(c, "dropped");
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
		net_sconn_close(c, c->why);
		return -1;
	}
	pc->closing = true;
	ws_send_close(c, len >= 2 ? (data[0] << 8 | data[1]) : 1000, "");
	c->close_after_write = true;
	if (!c->writes)
		net_sconn_close(c, c->why);
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
			net_sconn_close(c, why);
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
		http_write_error(c, NULL, 400, "Bad Request", "not a valid WebSocket upgrade", true, NULL);
		return;
	}
	if (!r->ws_version || strcmp(r->ws_version, "13")) {
		net_req_free(r);
		http_write_error(c, NULL, 426, "Upgrade Required", "WebSocket version 13 only", true,
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
		http_write_error(c, NULL, st, title, "", true, NULL);
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
	net_sconn_timed_clear(c);
	net_sconn_send(c, hdr, (size_t)n, NULL, 0, 0);
	if (c->dead)
		return;
	pc->opened = true;
	if (c->pre.len) {
		size_t pl = c->pre.len;

		net_sconn_send(c, c->pre.data, pl, NULL, 0, 0);
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

		net_sconn_http_fail(c, &e);
		return;
	}
	c->phase = H_OWNER;
	net_sconn_timed_clear(c);
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
	net_sconn_timed_clear(c);
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
	net_sconn_timed_set(c, c->l->body_ms);
	if (r->expect && (r->content_length > 0 || r->chunked))
		net_sconn_send(c, "HTTP/1.1 100 Continue\r\n\r\n", 25, NULL, 0, 0);
	net_sconn_resume_later(c);
	return 0;
}

void net_http_respond(net_http_req *r, int status, const char *content_type, const char *body,
		      size_t len)
{
	net_http_respond_ex(r, status, content_type, NULL, body, len);
}

void net_http_respond_ex(net_http_req *r, int status, const char *content_type,
			 const char *extra_headers, const char *body, size_t len)
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
		   final, r->method == HTTP_HEAD, extra_headers);
	net_req_free(r);
	if (c->dead)
		return;
	if (final)
		return;
	c->phase = H_IDLE;
	nh_next(c->http);
	net_sconn_timed_set(c, c->l->idle_ms);
	net_sconn_resume_later(c);
}

/* Feeds bytes to the connection; returns how many it used. It stops
 * early when a request waits for its owner. */
size_t net_sconn_process(struct net_sconn *c, char *data, size_t len)
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
			net_sconn_timed_set(c, c->l->header_ms);
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
			net_sconn_http_fail(c, &c->http->err);
			return len;
		}
	}
	return used;
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
const char *net_http_header(const net_http_req *r, const char *name)
{
	for (size_t i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}
size_t net_http_header_count(const net_http_req *r) { return r->nheaders; }
const char *net_http_header_at(const net_http_req *r, size_t i, const char **value)
{
	if (i >= r->nheaders)
		return NULL;
	*value = r->headers[i].value;
	return r->headers[i].name;
}
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
