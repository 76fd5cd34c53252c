/* net: libwebsockets on a libuv loop the program owns (the ttyd model).
 * This file is the only one that includes libwebsockets.h. */
#include "net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libwebsockets.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "log.h"
#include "util.h"

#define NET_WS_FRAGMENT (64 * 1024)
#define NET_HTTP_CHUNK (32 * 1024)
#define NET_HDR_MAX 4096
/* lws keeps LWS_WRITE_CLOSE private (lib/core/private-lib-core.h: 4). */
#define NET_LWS_WRITE_CLOSE ((enum lws_write_protocol)4)

struct net_listener {
	net_ctx *ctx;
	struct lws_vhost *vh;
	const struct net_callbacks *cb;
	void *ud;
	size_t max_body;
	size_t max_ws_message;
	size_t max_ws_queue;
	int port;
	char subproto[64];
	/* lws keeps a pointer to the vhost name (it does not copy it): the
	 * name lives as long as the listener. */
	char name[96];
	struct lws_protocols protocols[3];
	struct net_listener *next;
};

struct net_ctx {
	struct lws_context *lws;
	uv_loop_t *loop;
	void *foreign[1];
	struct lws_vhost *client_vh;
	struct lws_protocols client_protocols[2];
	struct net_listener *listeners;
	bool tls;                      /* OpenSSL initialised (net_ctx_create) */
};

struct kv {
	char *name;
	char *value;
};

enum { KIND_REQ = 1, KIND_CONN = 2 };

struct net_http_req {
	int kind;                 /* KIND_REQ: tells opaque pointers apart */
	struct lws *wsi;          /* NULL once the peer is gone */
	struct net_listener *l;
	char method[8];
	char *path;
	struct kv *query;
	size_t nquery;
	char *authorization;
	char *origin;
	char *content_type;
	char peer[64];
	struct buf body;
	bool too_big;
	bool dispatched;
	bool close_after;
	void *user;
	/* response */
	bool responded;
	bool headers_sent;
	int status;
	char ctype[64];
	unsigned char *resp;      /* LWS_PRE headroom + body */
	size_t resp_len;
	size_t resp_off;
};

struct msg {
	struct msg *next;
	size_t len;
	size_t off;
	unsigned char data[]; /* LWS_PRE + len */
};

struct net_conn {
	int kind;                 /* KIND_CONN */
	struct lws *wsi;
	const struct net_callbacks *cb;
	void *ud;
	void *user;
	struct buf rx;
	size_t max_queue;
	struct msg *qhead;
	struct msg *qtail;
	size_t queued;
	bool client;
	bool opened;
	bool closing;
	bool in_connect;
	bool failed_in_connect;
	bool close_notified;
	bool close_sent;
	bool dropped;                 /* net_ws_drop: no close handshake */
	unsigned char pin[32];        /* client: pinned certificate hash */
	bool has_pin;
	int close_code;
	char close_reason[64];
	char peer[48];
	/* upgrade request details (server side) */
	char *path;
	struct kv *query;
	size_t nquery;
	char *authorization;
	char *origin;
};

/* ---- logging -------------------------------------------------------- */

/* lws logs a line per event it dislikes (a connection past the descriptor
 * table, a bad handshake): a flood of such connections must not become a
 * flood of log lines. At most LWS_LOG_BURST lines a second, then one line
 * saying the rest is dropped; their count is logged before the next line
 * that gets through. */
#define LWS_LOG_BURST 20

static void net_lws_log(int level, const char *line)
{
	static uint64_t window_ms;
	static unsigned int in_window, dropped;
	uint64_t now = util_mono_ms();
	char tmp[512];
	size_t n;

	if (now - window_ms >= 1000) {
		if (dropped)
			log_warn("lws: %u more lines in the last second not logged", dropped);
		window_ms = now;
		in_window = 0;
		dropped = 0;
	}
	if (++in_window > LWS_LOG_BURST) {
		if (!dropped++)
			log_warn("lws: over %d lines in a second: the rest of this second is not "
				 "logged", LWS_LOG_BURST);
		return;
	}
	util_strlcpy(tmp, line, sizeof tmp);
	n = strlen(tmp);
	while (n && (tmp[n - 1] == '\n' || tmp[n - 1] == '\r'))
		tmp[--n] = '\0';
	if (level & LLL_ERR)
		log_warn("lws: %s", tmp);
	else if (level & LLL_WARN)
		log_info("lws: %s", tmp);
	else
		log_debug("lws: %s", tmp);
}

/* ---- helpers -------------------------------------------------------- */

static char *hdr_dup(struct lws *wsi, enum lws_token_indexes h)
{
	int n = lws_hdr_total_length(wsi, h);
	char *s;

	if (n <= 0 || n > NET_HDR_MAX)
		return NULL;
	s = malloc((size_t)n + 1);
	if (!s)
		return NULL;
	if (lws_hdr_copy(wsi, s, n + 1, h) < 0) {
		free(s);
		return NULL;
	}
	return s;
}

static void kv_free(struct kv *q, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(q[i].name);
		free(q[i].value);
	}
	free(q);
}

/* Collects ?a=b&c=d (lws stores each argument as a decoded fragment). */
static int query_collect(struct lws *wsi, struct kv **out, size_t *nout)
{
	char frag[2048];
	struct kv *q = NULL;
	size_t n = 0;

	for (int i = 0; i < 256; i++) {
		int len = lws_hdr_copy_fragment(wsi, frag, sizeof frag,
						WSI_TOKEN_HTTP_URI_ARGS, i);
		struct kv *nq;
		char *eq;

		if (len < 0)
			break;
		nq = realloc(q, (n + 1) * sizeof *q);
		if (!nq)
			goto fail;
		q = nq;
		eq = strchr(frag, '=');
		if (eq) {
			*eq = '\0';
			q[n].value = strdup(eq + 1);
		} else {
			q[n].value = strdup("");
		}
		q[n].name = strdup(frag);
		n++;
		if (!q[n - 1].name || !q[n - 1].value)
			goto fail;
	}
	*out = q;
	*nout = n;
	return 0;
fail:
	kv_free(q, n);
	return -1;
}

static const char *kv_get(const struct kv *q, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(q[i].name, name) == 0)
			return q[i].value;
	return NULL;
}

static struct net_listener *listener_of(struct lws *wsi)
{
	struct lws_vhost *vh = lws_get_vhost(wsi);

	return vh ? lws_get_vhost_user(vh) : NULL;
}

/* ---- HTTP ----------------------------------------------------------- */

static void req_free(net_http_req *r)
{
	if (!r)
		return;
	free(r->path);
	kv_free(r->query, r->nquery);
	free(r->authorization);
	free(r->origin);
	free(r->content_type);
	buf_free(&r->body);
	free(r->resp);
	free(r);
}

static void req_dispatch(net_http_req *r)
{
	if (r->dispatched)
		return;
	r->dispatched = true;
	r->l->cb->http_request(r->l->ud, r);
}

static net_http_req *req_create(struct lws *wsi, struct net_listener *l)
{
	static const char *const names[] = { "GET", "POST", "OPTIONS", "PUT",
					     "PATCH", "DELETE", "CONNECT",
					     "HEAD" };
	net_http_req *r;
	char *uri = NULL;
	int urilen = 0;
	int m = lws_http_get_uri_and_method(wsi, &uri, &urilen);

	r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->kind = KIND_REQ;
	r->wsi = wsi;
	r->l = l;
	buf_init(&r->body, l->max_body);
	if (m >= 0 && m < (int)(sizeof names / sizeof names[0]))
		util_strlcpy(r->method, names[m], sizeof r->method);
	else
		util_strlcpy(r->method, "?", sizeof r->method);
	r->path = strndup(uri ? uri : "/", uri ? (size_t)urilen : 1);
	if (!r->path || query_collect(wsi, &r->query, &r->nquery)) {
		req_free(r);
		return NULL;
	}
	r->authorization = hdr_dup(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
	r->origin = hdr_dup(wsi, WSI_TOKEN_ORIGIN);
	r->content_type = hdr_dup(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);
	lws_get_peer_simple(wsi, r->peer, sizeof r->peer);
	return r;
}

static bool method_has_body(const char *m)
{
	return !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH") ||
	       !strcmp(m, "DELETE");
}

/* Returns 0 to keep the connection, -1 to close it. */
/* A small response goes out as one write, headers and body together:
 * one writable turn instead of two (each costs poll changes). */
#define NET_HTTP_ONE_WRITE 8192

static int http_write_whole(struct lws *wsi, net_http_req *r)
{
	size_t cap = LWS_PRE + 1024 + r->resp_len;
	unsigned char *hb = malloc(cap);
	unsigned char *start, *p, *end;
	size_t n;

	if (!hb)
		return -1;
	start = p = hb + LWS_PRE;
	end = hb + LWS_PRE + 1023;
	if (lws_add_http_common_headers(wsi, (unsigned int)r->status, r->ctype, r->resp_len, &p,
					end) ||
	    (r->close_after &&
	     lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
					  (const unsigned char *)"close", 5, &p, end)) ||
	    lws_finalize_http_header(wsi, &p, end)) {
		free(hb);
		return -1;
	}
	memcpy(p, r->resp + LWS_PRE, r->resp_len);
	n = (size_t)(p - start) + r->resp_len;
	/* Raw on HTTP/1.1; a partial write is kept and finished by lws. */
	if (lws_write(wsi, start, n, LWS_WRITE_HTTP_HEADERS) < (int)n) {
		free(hb);
		return -1;
	}
	free(hb);
	r->headers_sent = true;
	r->resp_off = r->resp_len;
	return 0;
}

static int http_write(struct lws *wsi, net_http_req *r)
{
	if (!r->headers_sent && r->resp_len <= NET_HTTP_ONE_WRITE) {
		if (http_write_whole(wsi, r))
			return -1;
	} else if (!r->headers_sent) {
		unsigned char hb[LWS_PRE + 1024];
		unsigned char *start = hb + LWS_PRE, *p = start;
		unsigned char *end = hb + sizeof hb - 1;

		if (lws_add_http_common_headers(wsi, (unsigned int)r->status,
						r->ctype, r->resp_len, &p, end))
			return -1;
		if (r->close_after &&
		    lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
						 (const unsigned char *)"close",
						 5, &p, end))
			return -1;
		if (lws_finalize_write_http_header(wsi, start, &p, end))
			return -1;
		r->headers_sent = true;
		if (r->resp_len) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	}
	if (r->resp_off < r->resp_len) {
		size_t n = r->resp_len - r->resp_off;
		bool last;

		if (n > NET_HTTP_CHUNK)
			n = NET_HTTP_CHUNK;
		last = r->resp_off + n == r->resp_len;
		if (lws_write(wsi, r->resp + LWS_PRE + r->resp_off, n,
			      last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) <
		    (int)n)
			return -1;
		r->resp_off += n;
		if (!last) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	}
	/* Done: release the request and get ready for the next one. */
	lws_set_opaque_user_data(wsi, NULL);
	{
		bool close_after = r->close_after;

		req_free(r);
		if (close_after)
			return -1;
	}
	if (lws_http_transaction_completed(wsi))
		return -1;
	return 0;
}

void net_http_respond(net_http_req *r, int status, const char *content_type,
		      const char *body, size_t len)
{
	if (r->responded)
		return;
	r->responded = true;
	if (!r->wsi) {
		req_free(r);
		return;
	}
	r->status = status;
	util_strlcpy(r->ctype, content_type ? content_type : "application/json",
		     sizeof r->ctype);
	r->resp = malloc(LWS_PRE + len + 1);
	if (!r->resp) {
		r->resp_len = 0;
		r->status = 500;
		r->close_after = true;
	} else {
		memcpy(r->resp + LWS_PRE, body, len);
		r->resp_len = len;
	}
	lws_callback_on_writable(r->wsi);
}

const char *net_http_method(const net_http_req *r) { return r->method; }
const char *net_http_path(const net_http_req *r) { return r->path; }
const char *net_http_query(const net_http_req *r, const char *name)
{
	return kv_get(r->query, r->nquery, name);
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
bool net_http_body_too_big(const net_http_req *r) { return r->too_big; }
void net_http_set_user(net_http_req *r, void *user) { r->user = user; }
void *net_http_user(const net_http_req *r) { return r->user; }

/* ---- WebSocket connections ------------------------------------------ */

static void conn_free(net_conn *c)
{
	struct msg *m, *next;

	if (!c)
		return;
	for (m = c->qhead; m; m = next) {
		next = m->next;
		free(m);
	}
	buf_free(&c->rx);
	free(c->path);
	kv_free(c->query, c->nquery);
	free(c->authorization);
	free(c->origin);
	free(c);
}

static void conn_notify_close(net_conn *c, const char *reason)
{
	if (c->close_notified)
		return;
	c->close_notified = true;
	if (c->cb && c->cb->ws_close)
		c->cb->ws_close(c->ud, c, reason ? reason : "closed");
}

/* The wsi is going away: tell the owner once, then free. */
static void conn_gone(struct lws *wsi, net_conn *c, const char *reason)
{
	lws_set_opaque_user_data(wsi, NULL);
	c->wsi = NULL;
	if (c->in_connect) {
		/* Failed inside net_client_connect: it frees and returns NULL. */
		c->failed_in_connect = true;
		return;
	}
	conn_notify_close(c, reason);
	conn_free(c);
}

static net_conn *conn_create_server(struct lws *wsi, struct net_listener *l)
{
	net_conn *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	c->kind = KIND_CONN;
	c->wsi = wsi;
	c->cb = l->cb;
	c->ud = l->ud;
	c->max_queue = l->max_ws_queue;
	buf_init(&c->rx, l->max_ws_message);
	lws_get_peer_simple(wsi, c->peer, sizeof c->peer);
	lws_set_opaque_user_data(wsi, c);
	return c;
}

int net_ws_send(net_conn *c, const char *data, size_t len)
{
	struct msg *m;

	if (c->closing || !c->wsi)
		return TE_STATE;
	if (len > c->max_queue || c->queued > c->max_queue - len)
		return TE_TOOBIG;
	m = malloc(sizeof *m + LWS_PRE + len);
	if (!m)
		return TE_NOMEM;
	m->next = NULL;
	m->len = len;
	m->off = 0;
	memcpy(m->data + LWS_PRE, data, len);
	if (c->qtail)
		c->qtail->next = m;
	else
		c->qhead = m;
	c->qtail = m;
	c->queued += len;
	if (c->opened)
		lws_callback_on_writable(c->wsi);
	return 0;
}

size_t net_ws_queued(const net_conn *c) { return c->queued; }

void net_ws_close(net_conn *c, int code, const char *reason)
{
	if (c->closing || !c->wsi)
		return;
	c->closing = true;
	c->close_code = code;
	util_strlcpy(c->close_reason, reason ? reason : "", sizeof c->close_reason);
	lws_callback_on_writable(c->wsi);
}

void net_ws_drop(net_conn *c)
{
	if (!c->wsi)
		return;
	c->closing = true;
	c->dropped = true;
	/* The timeout alone fires only when lws next services the loop; a
	 * writeable callback that returns -1 cuts the socket at once. */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	lws_callback_on_writable(c->wsi);
}

void net_ws_set_user(net_conn *c, void *user) { c->user = user; }
void *net_ws_user(const net_conn *c) { return c->user; }
const char *net_ws_peer(const net_conn *c) { return c->peer; }
const char *net_ws_path(const net_conn *c) { return c->path ? c->path : ""; }
const char *net_ws_query(const net_conn *c, const char *name)
{
	return kv_get(c->query, c->nquery, name);
}
const char *net_ws_authorization(const net_conn *c) { return c->authorization; }
const char *net_ws_origin(const net_conn *c) { return c->origin; }

/* Writes one fragment of the head message; returns -1 to close. */
static int ws_write(struct lws *wsi, net_conn *c)
{
	struct msg *m = c->qhead;

	if (c->dropped)
		return -1;

	if (m) {
		size_t n = m->len - m->off;
		bool first = m->off == 0, last;
		int flags;

		if (n > NET_WS_FRAGMENT)
			n = NET_WS_FRAGMENT;
		last = m->off + n == m->len;
		flags = lws_write_ws_flags(LWS_WRITE_TEXT, first, last);
		/* lws writes the frame header into the bytes before the
		 * pointer: for later fragments those are already-sent data. */
		if (lws_write(wsi, m->data + LWS_PRE + m->off, n,
			      (enum lws_write_protocol)flags) < (int)n)
			return -1;
		m->off += n;
		c->queued -= n;
		if (last) {
			c->qhead = m->next;
			if (!c->qhead)
				c->qtail = NULL;
			free(m);
		}
		if (c->qhead || c->closing) {
			/* One write per callback: the close frame goes in the
			 * next one. */
			lws_callback_on_writable(wsi);
			return 0;
		}
		if (c->cb->ws_drained)
			c->cb->ws_drained(c->ud, c);
		return 0;
	}
	if (c->closing && !c->close_sent) {
		/* Send the close frame ourselves: lws 4.1 drops the socket
		 * without one when a writeable callback returns -1 after
		 * lws_close_reason(). The peer answers with its close, lws
		 * completes the handshake; a silent peer is cut after 5 s. */
		unsigned char frame[LWS_PRE + 2 + 123];
		size_t rlen = strlen(c->close_reason);

		if (rlen > 123)
			rlen = 123;
		frame[LWS_PRE] = (unsigned char)((c->close_code >> 8) & 0xff);
		frame[LWS_PRE + 1] = (unsigned char)(c->close_code & 0xff);
		memcpy(frame + LWS_PRE + 2, c->close_reason, rlen);
		c->close_sent = true;
		if (lws_write(wsi, frame + LWS_PRE, 2 + rlen, NET_LWS_WRITE_CLOSE) < 0)
			return -1;
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, 5);
		return 0;
	}
	return 0;
}

/* Returns -1 to close. */
static int ws_receive(struct lws *wsi, net_conn *c, const void *in, size_t len)
{
	if (c->closing)
		return 0;
	if (buf_append(&c->rx, in, len)) {
		log_warn("net: %s: inbound message over %zu bytes, closing",
			 c->peer, c->rx.cap);
		buf_free(&c->rx);
		/* The rest of the message is ignored (closing) and the close
		 * frame says why (RFC 6455: 1009). */
		c->closing = true;
		c->close_code = LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE;
		util_strlcpy(c->close_reason, "message too big", sizeof c->close_reason);
		lws_callback_on_writable(wsi);
		return 0;
	}
	if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
		c->cb->ws_message(c->ud, c, c->rx.data ? c->rx.data : "",
				  c->rx.len);
		if (!c->wsi)
			return -1;
		/* Give large reassembly buffers back; keep small ones. */
		if (c->rx.alloc > 64 * 1024)
			buf_free(&c->rx);
		else
			buf_reset(&c->rx);
	}
	return 0;
}

/* Writes a small complete HTTP/1.1 answer during an upgrade refusal (lws's
 * helpers would answer HTTP/1.0 here, which WebSocket clients reject). */
static void http_refuse(struct lws *wsi, int status, const char *body)
{
	unsigned char buf[LWS_PRE + 1024];
	const char *reason = status == 401 ? "Unauthorized" : status == 403 ? "Forbidden" :
			     status == 404 ? "Not Found" : status == 423 ? "Locked" :
			     status == 429 ? "Too Many Requests" : "Service Unavailable";
	int n = snprintf((char *)buf + LWS_PRE, sizeof buf - LWS_PRE,
			 "HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
			 "content-length: %zu\r\nconnection: close\r\n\r\n%s",
			 status, reason, strlen(body), body);

	if (n > 0 && (size_t)n < sizeof buf - LWS_PRE)
		lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_HTTP_HEADERS);
}

/* The server's certificate must hash to the pinned value and be within
 * its validity period. Checked before anything (hello, credentials) is
 * sent on the connection. */
static bool pin_matches(struct lws *wsi, net_conn *c)
{
	SSL *ssl = lws_get_ssl(wsi);
	X509 *cert = ssl ? SSL_get1_peer_certificate(ssl) : NULL;
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int len;
	bool ok = false;

	if (!cert) {
		conn_notify_close(c, "TLS: the server sent no certificate");
		return false;
	}
	len = i2d_X509(cert, &der);
	if (len > 0 && EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) &&
	    mdlen == 32 && !memcmp(md, c->pin, 32))
		ok = true;
	if (!ok) {
		log_error("net: %s: the server certificate does not match the pinned fingerprint",
			  c->peer);
		conn_notify_close(c, "TLS: certificate fingerprint mismatch");
	} else if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0 ||
		   X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0) {
		log_error("net: %s: the pinned server certificate is expired or not yet valid",
			  c->peer);
		conn_notify_close(c, "TLS: certificate expired");
		ok = false;
	}
	OPENSSL_free(der);
	X509_free(cert);
	return ok;
}

/* "ab:cd:..." or "abcd..." (64 hex digits) into 32 bytes. */
static int parse_fingerprint(const char *s, unsigned char out[32])
{
	size_t n = 0;

	while (*s && n < 64) {
		int v;

		if (*s == ':') {
			s++;
			continue;
		}
		if (*s >= '0' && *s <= '9')
			v = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			v = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			v = *s - 'A' + 10;
		else
			return -1;
		if (n % 2 == 0)
			out[n / 2] = (unsigned char)(v << 4);
		else
			out[n / 2] |= (unsigned char)v;
		n++;
		s++;
	}
	return n == 64 && !*s ? 0 : -1;
}

/* ---- the one callback ----------------------------------------------- */

static int net_callback(struct lws *wsi, enum lws_callback_reasons reason,
			void *user, void *in, size_t len)
{
	void *opaque = wsi ? lws_get_opaque_user_data(wsi) : NULL;
	net_http_req *hreq = opaque && *(int *)opaque == KIND_REQ ? opaque : NULL;
	struct net_listener *l;
	net_http_req *r;
	net_conn *c;

	(void)user;
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		l = listener_of(wsi);
		if (!l || !l->cb->http_request)
			return -1;
		r = req_create(wsi, l);
		if (!r)
			return -1;
		lws_set_opaque_user_data(wsi, r);
		if (method_has_body(r->method)) {
			char cl[32];
			long long clen = -1;
			bool chunked = lws_hdr_total_length(
					       wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;

			if (lws_hdr_copy(wsi, cl, sizeof cl,
					 WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 &&
			    util_parse_int(cl, 0, INT64_MAX, &clen))
				clen = -1;
			if (clen > (long long)l->max_body) {
				r->too_big = true;
				r->close_after = true;
				req_dispatch(r);
				return 0;
			}
			if (clen > 0 || chunked)
				return 0; /* wait for the body */
		}
		req_dispatch(r);
		return 0;

	case LWS_CALLBACK_HTTP_BODY:
		r = hreq;
		if (!r || r->dispatched)
			return 0;
		if (!r->too_big && buf_append(&r->body, in, len))
			r->too_big = true;
		return 0;

	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		r = hreq;
		if (!r || r->dispatched)
			return 0;
		if (r->too_big)
			r->close_after = true;
		req_dispatch(r);
		return 0;

	case LWS_CALLBACK_HTTP_WRITEABLE:
		r = hreq;
		if (!r || !r->responded)
			return 0;
		return http_write(wsi, r);

	case LWS_CALLBACK_CLOSED_HTTP:
		r = hreq;
		if (r) {
			lws_set_opaque_user_data(wsi, NULL);
			r->wsi = NULL;
			/* Not yet handed out, or already answered: ours to free.
			 * Otherwise the owner frees it through net_http_respond. */
			if (!r->dispatched || r->responded)
				req_free(r);
		}
		return 0;

	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		l = listener_of(wsi);
		if (!l)
			return -1;
		if (hreq) {
			/* A keep-alive HTTP request object must not linger. */
			r = hreq;
			lws_set_opaque_user_data(wsi, NULL);
			if (!r->dispatched || r->responded)
				req_free(r);
			else
				r->wsi = NULL;
		}
		c = conn_create_server(wsi, l);
		if (!c)
			return -1;
		{
			char *uri = NULL;
			int urilen = 0;

			if (lws_http_get_uri_and_method(wsi, &uri, &urilen) < 0)
				uri = NULL;
			c->path = strndup(uri ? uri : "/", uri ? (size_t)urilen : 1);
		}
		query_collect(wsi, &c->query, &c->nquery);
		c->authorization = hdr_dup(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
		c->origin = hdr_dup(wsi, WSI_TOKEN_ORIGIN);
		if (c->cb->ws_accept) {
			int st = c->cb->ws_accept(c->ud, c);

			if (st) {
				char body[256];

				snprintf(body, sizeof body,
					 "{\"errors\":[{\"code\":\"\",\"title\":\"%s\",\"detail\":\"\"}]}",
					 st == 401 ? "unauthorized" :
					 st == 403 ? "forbidden" :
					 st == 423 ? "Too many bad attempts. Please try later." :
					 st == 429 ? "too many requests, please try later" :
					 st == 404 ? "not found" :
					 st == 503 ? "service unavailable" : "refused");
				http_refuse(wsi, st, body);
				lws_set_opaque_user_data(wsi, NULL);
				conn_free(c);
				return -1;
			}
		}
		return 0;

	case LWS_CALLBACK_ESTABLISHED:
		l = listener_of(wsi);
		c = hreq ? NULL : opaque;
		if (!l)
			return -1;
		if (!c) {
			c = conn_create_server(wsi, l);
			if (!c)
				return -1;
		}
		c->opened = true;
		if (c->cb->ws_open)
			c->cb->ws_open(c->ud, c);
		if (c->wsi && c->qhead)
			lws_callback_on_writable(wsi);
		return 0;

	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		c = opaque;
		if (!c)
			return -1;
		if (c->has_pin && !pin_matches(wsi, c))
			return -1;
		c->opened = true;
		if (c->cb->ws_open)
			c->cb->ws_open(c->ud, c);
		if (c->wsi && c->qhead)
			lws_callback_on_writable(wsi);
		return 0;

	case LWS_CALLBACK_RECEIVE:
	case LWS_CALLBACK_CLIENT_RECEIVE:
		c = opaque;
		if (!c)
			return -1;
		return ws_receive(wsi, c, in, len);

	case LWS_CALLBACK_SERVER_WRITEABLE:
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		c = opaque;
		if (!c)
			return 0;
		return ws_write(wsi, c);

	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		return 0;

	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		c = opaque;
		if (c) {
			char why[160];

			/* lws passes a NUL-terminated string, or NULL. */
			snprintf(why, sizeof why, "connect failed: %s",
				 in ? (const char *)in : "unknown error");
			conn_gone(wsi, c, why);
		}
		return 0;

	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		c = opaque;
		if (c && c->authorization) {
			unsigned char **p = in;

			if (lws_add_http_header_by_token(
				    wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
				    (const unsigned char *)c->authorization,
				    (int)strlen(c->authorization), p, *p + len))
				return -1;
		}
		return 0;

	case LWS_CALLBACK_CLOSED:
	case LWS_CALLBACK_CLIENT_CLOSED:
		c = opaque;
		if (c)
			conn_gone(wsi, c, "connection closed");
		return 0;

	case LWS_CALLBACK_WSI_DESTROY:
		/* Backstop: whatever is still attached goes now (close
		 * callbacks can be skipped or doubled under libuv). */
		if (opaque && *(int *)opaque == KIND_CONN) {
			conn_gone(wsi, opaque, "connection closed");
		} else if (opaque && *(int *)opaque == KIND_REQ) {
			r = opaque;
			lws_set_opaque_user_data(wsi, NULL);
			r->wsi = NULL;
			if (!r->dispatched || r->responded)
				req_free(r);
		}
		return 0;

	default:
		break;
	}
	return 0;
}

/* ---- context and listeners ------------------------------------------ */

/* No lws "validity" (idle ping/hangup) timers: liveness is the
 * application's (agent keep-alive pings, the server's heartbeat sweep).
 * lws 4.1 keeps every connection's validity timer in one sorted list and
 * re-inserts it on every frame received, a scan of the whole list: with
 * 10,000 agents that was half of tetherd's CPU during a connect storm. */
static const lws_retry_bo_t no_idle_policy = { 0 };

net_ctx *net_ctx_create(uv_loop_t *loop, int fd_limit, bool tls)
{
	struct lws_context_creation_info info;
	net_ctx *ctx = calloc(1, sizeof *ctx);

	if (!ctx)
		return NULL;
	lws_set_log_level(LLL_ERR | LLL_WARN, net_lws_log);
	ctx->loop = loop;
	ctx->foreign[0] = loop;
	memset(&info, 0, sizeof info);
	/* Without TLS, OpenSSL is never initialised: its tables alone are
	 * some 4 MB of a small agent's resident memory. */
	ctx->tls = tls;
	info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
		       (tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0);
	info.foreign_loops = ctx->foreign;
	info.port = CONTEXT_PORT_NO_LISTEN;
	if (fd_limit > 0)
		info.fd_limit_per_thread = (unsigned int)fd_limit;
	info.timeout_secs = 20;
	ctx->lws = lws_create_context(&info);
	if (!ctx->lws) {
		log_error("net: cannot create the libwebsockets context");
		free(ctx);
		return NULL;
	}
	return ctx;
}

void net_ctx_destroy(net_ctx *ctx)
{
	if (ctx && ctx->lws) {
		lws_context_destroy(ctx->lws);
		ctx->lws = NULL;
	}
}

void net_ctx_free(net_ctx *ctx)
{
	struct net_listener *l, *next;

	if (!ctx)
		return;
	net_ctx_destroy(ctx);
	for (l = ctx->listeners; l; l = next) {
		next = l->next;
		free(l);
	}
	free(ctx);
}

net_listener *net_listen(net_ctx *ctx, const struct net_listen_cfg *cfg)
{
	struct lws_context_creation_info info;
	struct net_listener *l = calloc(1, sizeof *l);

	if (!l)
		return NULL;
	l->ctx = ctx;
	l->cb = cfg->cb;
	l->ud = cfg->ud;
	l->max_body = cfg->max_body ? cfg->max_body : 1024 * 1024;
	l->max_ws_message = cfg->max_ws_message ? cfg->max_ws_message : 1024 * 1024;
	l->max_ws_queue = cfg->max_ws_queue ? cfg->max_ws_queue : 16 * 1024 * 1024;
	util_strlcpy(l->subproto, cfg->subprotocol ? cfg->subprotocol : "tether",
		     sizeof l->subproto);
	/* protocols[0] takes plain HTTP and upgrades without a subprotocol. */
	l->protocols[0].name = "http";
	l->protocols[0].callback = net_callback;
	l->protocols[0].rx_buffer_size = 4096;
	l->protocols[1].name = l->subproto;
	l->protocols[1].callback = net_callback;
	l->protocols[1].rx_buffer_size = 4096;

	memset(&info, 0, sizeof info);
	snprintf(l->name, sizeof l->name, "%s:%d", cfg->host && *cfg->host ? cfg->host : "*",
		 cfg->port);
	info.vhost_name = l->name;
	info.port = cfg->port;
	info.iface = cfg->host && *cfg->host ? cfg->host : NULL;
	info.protocols = l->protocols;
	info.user = l;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
		       LWS_SERVER_OPTION_VALIDATE_UTF8;
	info.keepalive_timeout = 30;
	if (cfg->tls_cert && cfg->tls_key) {
		info.ssl_cert_filepath = cfg->tls_cert;
		info.ssl_private_key_filepath = cfg->tls_key;
		info.ssl_options_set = SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1;
	}
	info.retry_and_idle_policy = &no_idle_policy;
	l->vh = lws_create_vhost(ctx->lws, &info);
	if (!l->vh) {
		log_error("net: cannot listen on %s (address in use or invalid)", l->name);
		free(l);
		return NULL;
	}
	l->port = lws_get_vhost_listen_port(l->vh);
	l->next = ctx->listeners;
	ctx->listeners = l;
	return l;
}

int net_listener_port(const net_listener *l) { return l->port; }

/* ---- client --------------------------------------------------------- */

static int client_vhost(net_ctx *ctx, const char *ca_file)
{
	struct lws_context_creation_info info;

	if (ctx->client_vh)
		return 0;
	ctx->client_protocols[0].name = "tether-client";
	ctx->client_protocols[0].callback = net_callback;
	ctx->client_protocols[0].rx_buffer_size = 4096;
	memset(&info, 0, sizeof info);
	info.vhost_name = "client";
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = ctx->client_protocols;
	info.user = ctx;
	info.options = ctx->tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0;
	info.client_ssl_ca_filepath = ca_file;
	info.ssl_client_options_set = SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1;
	info.retry_and_idle_policy = &no_idle_policy;
	ctx->client_vh = lws_create_vhost(ctx->lws, &info);
	if (!ctx->client_vh) {
		log_error("net: cannot create the client vhost");
		return -1;
	}
	return 0;
}

net_conn *net_client_connect(net_ctx *ctx, const struct net_client_cfg *cfg)
{
	struct lws_client_connect_info ci;
	net_conn *c;
	char hostport[300];

	if (client_vhost(ctx, cfg->ca_file))
		return NULL;
	c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->kind = KIND_CONN;
	c->client = true;
	c->cb = cfg->cb;
	if (cfg->authorization && !(c->authorization = strdup(cfg->authorization))) {
		conn_free(c);
		return NULL;
	}
	c->ud = cfg->ud;
	c->max_queue = cfg->max_ws_queue ? cfg->max_ws_queue : 64 * 1024 * 1024;
	buf_init(&c->rx, cfg->max_ws_message ? cfg->max_ws_message : 1024 * 1024);
	snprintf(c->peer, sizeof c->peer, "%s:%d", cfg->host, cfg->port);
	snprintf(hostport, sizeof hostport, "%s:%d", cfg->host, cfg->port);

	memset(&ci, 0, sizeof ci);
	ci.context = ctx->lws;
	ci.vhost = ctx->client_vh;
	ci.retry_and_idle_policy = &no_idle_policy;
	ci.address = cfg->host;
	ci.port = cfg->port;
	ci.path = cfg->path ? cfg->path : "/";
	ci.host = hostport;
	ci.origin = cfg->origin; /* none unless asked: tools are not browsers */
	ci.protocol = cfg->subprotocol;
	ci.local_protocol_name = "tether-client";
	ci.opaque_user_data = c;
	ci.pwsi = &c->wsi;
	ci.iface = cfg->local_addr;
	if (cfg->fingerprint && *cfg->fingerprint) {
		if (parse_fingerprint(cfg->fingerprint, c->pin)) {
			log_error("net: fingerprint must be 64 hex digits (SHA-256), colons allowed");
			conn_free(c);
			return NULL;
		}
		c->has_pin = true;
	}
	if (cfg->tls) {
		ci.ssl_connection = LCCSCF_USE_SSL;
		/* A pin replaces CA verification (a self-signed server
		 * certificate); expiry is then checked by pin_matches. */
		if (c->has_pin)
			ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED |
					     LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
					     LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
		if (cfg->insecure)
			ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED |
					     LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
					     LCCSCF_ALLOW_INSECURE |
					     LCCSCF_ALLOW_EXPIRED;
	}
	c->in_connect = true;
	if (!lws_client_connect_via_info(&ci) || c->failed_in_connect) {
		c->in_connect = false;
		conn_free(c);
		return NULL;
	}
	c->in_connect = false;
	return c;
}
