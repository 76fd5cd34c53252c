/* net_client: the client side, libwebsockets 4.1 on the program's libuv
 * loop (the agent, tether-swarm and the CLI dial with it). The only file
 * that includes libwebsockets.h. The context is made on the first dial:
 * tetherd, which dials nothing, never makes one. */
#include "net_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "log.h"

#define NET_WS_FRAGMENT (64 * 1024)
/* lws keeps LWS_WRITE_CLOSE private (lib/core/private-lib-core.h: 4). */
#define NET_LWS_WRITE_CLOSE ((enum lws_write_protocol)4)

struct net_client {
	struct lws_context *lws;
	void *foreign[1];
	struct lws_vhost *vh;
	struct lws_protocols protocols[2];
};

struct msg {
	struct msg *next;
	size_t len;
	size_t off;
	unsigned char data[]; /* LWS_PRE + len */
};

/* A client connection: the shared part first. */
struct cconn {
	net_conn pub;
	struct lws *wsi;
	struct msg *qhead;
	struct msg *qtail;
	bool in_connect;
	bool failed_in_connect;
	bool close_sent;
	bool dropped;                 /* net_ws_drop: no close handshake */
	unsigned char pin[32];        /* pinned certificate hash */
	bool has_pin;
};

static void net_lws_log(int level, const char *line)
{
	char tmp[512];
	size_t n;

	util_strlcpy(tmp, line, sizeof tmp);
	n = strlen(tmp);
	while (n && (tmp[n - 1] == '\n' || tmp[n - 1] == '\r'))
		tmp[--n] = '\0';
	net_log_limited(level & LLL_ERR ? LOG_WARN : level & LLL_WARN ? LOG_INFO : LOG_DEBUG,
			"lws: %s", tmp);
}

static void cconn_free(struct cconn *c)
{
	struct msg *m, *next;

	if (!c)
		return;
	for (m = c->qhead; m; m = next) {
		next = m->next;
		free(m);
	}
	net_conn_fields_free(&c->pub);
	free(c);
}

/* The wsi is going away: tell the owner once, then free. */
static void conn_gone(struct lws *wsi, struct cconn *c, const char *reason)
{
	lws_set_opaque_user_data(wsi, NULL);
	c->wsi = NULL;
	if (c->in_connect) {
		/* Failed inside net_client_connect: it frees and returns NULL. */
		c->failed_in_connect = true;
		return;
	}
	net_conn_notify_close(&c->pub, reason);
	cconn_free(c);
}

int net_client_ws_send(net_conn *pc, const char *data, size_t len)
{
	struct cconn *c = (struct cconn *)pc;
	struct msg *m;

	if (pc->closing || !c->wsi)
		return TE_STATE;
	if (len > pc->max_queue || pc->queued > pc->max_queue - len)
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
	pc->queued += len;
	if (pc->opened)
		lws_callback_on_writable(c->wsi);
	return 0;
}

void net_client_ws_close(net_conn *pc, int code, const char *reason)
{
	struct cconn *c = (struct cconn *)pc;

	if (pc->closing || !c->wsi)
		return;
	pc->closing = true;
	pc->close_code = code;
	util_strlcpy(pc->close_reason, reason ? reason : "", sizeof pc->close_reason);
	lws_callback_on_writable(c->wsi);
}

void net_client_ws_drop(net_conn *pc)
{
	struct cconn *c = (struct cconn *)pc;

	if (!c->wsi)
		return;
	pc->closing = true;
	c->dropped = true;
	/* The timeout alone fires only when lws next services the loop; a
	 * writeable callback that returns -1 cuts the socket at once. */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	lws_callback_on_writable(c->wsi);
}

/* Writes one fragment of the head message; returns -1 to close. */
static int ws_write(struct lws *wsi, struct cconn *c)
{
	net_conn *pc = &c->pub;
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
		pc->queued -= n;
		if (last) {
			c->qhead = m->next;
			if (!c->qhead)
				c->qtail = NULL;
			free(m);
		}
		if (c->qhead || pc->closing) {
			/* One write per callback: the close frame goes in the
			 * next one. */
			lws_callback_on_writable(wsi);
			return 0;
		}
		if (pc->cb->ws_drained)
			pc->cb->ws_drained(pc->ud, pc);
		return 0;
	}
	if (pc->closing && !c->close_sent) {
		/* Send the close frame ourselves: lws 4.1 drops the socket
		 * without one when a writeable callback returns -1 after
		 * lws_close_reason(). The peer answers with its close, lws
		 * completes the handshake; a silent peer is cut after 5 s. */
		unsigned char frame[LWS_PRE + 2 + 123];
		size_t rlen = strlen(pc->close_reason);

		if (rlen > 123)
			rlen = 123;
		frame[LWS_PRE] = (unsigned char)((pc->close_code >> 8) & 0xff);
		frame[LWS_PRE + 1] = (unsigned char)(pc->close_code & 0xff);
		memcpy(frame + LWS_PRE + 2, pc->close_reason, rlen);
		c->close_sent = true;
		if (lws_write(wsi, frame + LWS_PRE, 2 + rlen, NET_LWS_WRITE_CLOSE) < 0)
			return -1;
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, 5);
		return 0;
	}
	return 0;
}

/* Returns -1 to close. */
static int ws_receive(struct lws *wsi, struct cconn *c, const void *in, size_t len)
{
	net_conn *pc = &c->pub;

	if (pc->closing)
		return 0;
	if (buf_append(&pc->rx, in, len)) {
		log_warn("net: %s: inbound message over %zu bytes, closing",
			 pc->peer, pc->rx.cap);
		buf_free(&pc->rx);
		/* The rest of the message is ignored (closing) and the close
		 * frame says why (RFC 6455: 1009). */
		pc->closing = true;
		pc->close_code = LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE;
		util_strlcpy(pc->close_reason, "message too big", sizeof pc->close_reason);
		lws_callback_on_writable(wsi);
		return 0;
	}
	if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
		pc->cb->ws_message(pc->ud, pc, pc->rx.data ? pc->rx.data : "",
				   pc->rx.len);
		if (!c->wsi)
			return -1;
		/* Give large reassembly buffers back; keep small ones. */
		if (pc->rx.alloc > 64 * 1024)
			buf_free(&pc->rx);
		else
			buf_reset(&pc->rx);
	}
	return 0;
}

/* The server's certificate must hash to the pinned value and be within
 * its validity period. Checked before anything (hello, credentials) is
 * sent on the connection. */
static bool pin_matches(struct lws *wsi, struct cconn *c)
{
	SSL *ssl = lws_get_ssl(wsi);
	X509 *cert = ssl ? SSL_get1_peer_certificate(ssl) : NULL;
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int len;
	bool ok = false;

	if (!cert) {
		net_conn_notify_close(&c->pub, "TLS: the server sent no certificate");
		return false;
	}
	len = i2d_X509(cert, &der);
	if (len > 0 && EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) &&
	    mdlen == 32 && !memcmp(md, c->pin, 32))
		ok = true;
	if (!ok) {
		log_error("net: %s: the server certificate does not match the pinned fingerprint",
			  c->pub.peer);
		net_conn_notify_close(&c->pub, "TLS: certificate fingerprint mismatch");
	} else if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0 ||
		   X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0) {
		log_error("net: %s: the pinned server certificate is expired or not yet valid",
			  c->pub.peer);
		net_conn_notify_close(&c->pub, "TLS: certificate expired");
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
	struct cconn *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;

	(void)user;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (!c)
			return -1;
		if (c->has_pin && !pin_matches(wsi, c))
			return -1;
		c->pub.opened = true;
		if (c->pub.cb->ws_open)
			c->pub.cb->ws_open(c->pub.ud, &c->pub);
		if (c->wsi && c->qhead)
			lws_callback_on_writable(wsi);
		return 0;

	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (!c)
			return -1;
		return ws_receive(wsi, c, in, len);

	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (!c)
			return 0;
		return ws_write(wsi, c);

	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		return 0;

	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (c) {
			char why[160];

			/* lws passes a NUL-terminated string, or NULL. */
			snprintf(why, sizeof why, "connect failed: %s",
				 in ? (const char *)in : "unknown error");
			conn_gone(wsi, c, why);
		}
		return 0;

	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		if (c && c->pub.authorization) {
			unsigned char **p = in;

			if (lws_add_http_header_by_token(
				    wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
				    (const unsigned char *)c->pub.authorization,
				    (int)strlen(c->pub.authorization), p, *p + len))
				return -1;
		}
		return 0;

	case LWS_CALLBACK_CLIENT_CLOSED:
		if (c)
			conn_gone(wsi, c, "connection closed");
		return 0;

	case LWS_CALLBACK_WSI_DESTROY:
		/* Backstop: close callbacks can be skipped or doubled under
		 * libuv. */
		if (c)
			conn_gone(wsi, c, "connection closed");
		return 0;

	default:
		break;
	}
	return 0;
}

/* No lws "validity" (idle ping/hangup) timers: liveness is the
 * application's (agent keep-alive pings, the server's heartbeat sweep).
 * lws 4.1 keeps every connection's validity timer in one sorted list and
 * re-inserts it on every frame received, a scan of the whole list: with
 * 10,000 agents that was half of tether-swarm's CPU during a connect storm. */
static const lws_retry_bo_t no_idle_policy = { 0 };

/* The context and the client vhost, on the first dial. */
static struct net_client *client_up(net_ctx *ctx, const char *ca_file)
{
	struct lws_context_creation_info info;
	struct net_client *cl = ctx->cli;

	if (cl)
		return cl;
	cl = calloc(1, sizeof *cl);
	if (!cl)
		return NULL;
	lws_set_log_level(LLL_ERR | LLL_WARN, net_lws_log);
	cl->foreign[0] = ctx->loop;
	memset(&info, 0, sizeof info);
	/* Without TLS, OpenSSL is never initialised: its tables alone are
	 * some 4 MB of a small agent's resident memory. */
	info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
		       (ctx->tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0);
	info.foreign_loops = cl->foreign;
	info.port = CONTEXT_PORT_NO_LISTEN;
	if (ctx->fd_limit > 0)
		info.fd_limit_per_thread = (unsigned int)ctx->fd_limit;
	info.timeout_secs = 20;
	cl->lws = lws_create_context(&info);
	if (!cl->lws) {
		log_error("net: cannot create the libwebsockets context");
		free(cl);
		return NULL;
	}
	cl->protocols[0].name = "tether-client";
	cl->protocols[0].callback = net_callback;
	cl->protocols[0].rx_buffer_size = 4096;
	memset(&info, 0, sizeof info);
	info.vhost_name = "client";
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = cl->protocols;
	info.user = ctx;
	info.options = ctx->tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0;
	info.client_ssl_ca_filepath = ca_file;
	info.ssl_client_options_set = SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1;
	info.retry_and_idle_policy = &no_idle_policy;
	cl->vh = lws_create_vhost(cl->lws, &info);
	if (!cl->vh) {
		log_error("net: cannot create the client vhost");
		lws_context_destroy(cl->lws);
		free(cl);
		return NULL;
	}
	ctx->cli = cl;
	return cl;
}

void net_client_destroy(net_ctx *ctx)
{
	if (ctx->cli && ctx->cli->lws) {
		lws_context_destroy(ctx->cli->lws);
		ctx->cli->lws = NULL;
	}
}

void net_client_free(net_ctx *ctx)
{
	net_client_destroy(ctx);
	free(ctx->cli);
	ctx->cli = NULL;
}

net_conn *net_client_connect(net_ctx *ctx, const struct net_client_cfg *cfg)
{
	struct lws_client_connect_info ci;
	struct net_client *cl = client_up(ctx, cfg->ca_file);
	struct cconn *c;
	char hostport[300];

	if (!cl)
		return NULL;
	c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->pub.kind = KIND_CONN;
	c->pub.client = true;
	c->pub.cb = cfg->cb;
	if (cfg->authorization && !(c->pub.authorization = strdup(cfg->authorization))) {
		cconn_free(c);
		return NULL;
	}
	c->pub.ud = cfg->ud;
	c->pub.max_queue = cfg->max_ws_queue ? cfg->max_ws_queue : 64 * 1024 * 1024;
	buf_init(&c->pub.rx, cfg->max_ws_message ? cfg->max_ws_message : 1024 * 1024);
	snprintf(c->pub.peer, sizeof c->pub.peer, "%s:%d", cfg->host, cfg->port);
	snprintf(hostport, sizeof hostport, "%s:%d", cfg->host, cfg->port);

	memset(&ci, 0, sizeof ci);
	ci.context = cl->lws;
	ci.vhost = cl->vh;
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
			cconn_free(c);
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
		cconn_free(c);
		return NULL;
	}
	c->in_connect = false;
	return &c->pub;
}
