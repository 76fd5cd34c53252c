/* net_server: the HTTP/1.1 and WebSocket server on libuv: listeners and
 * connections (what runs over them is in net_server_http.c).
 *
 * A connection reads into one buffer per loop; bytes it cannot use yet (a
 * pipelined request behind one being answered, input that arrived while
 * the owner decides on a request's head) are copied into its own buffer,
 * and reading stops until they are used. Deadlines (a request's head, its
 * body, an idle keep-alive connection, the WebSocket close handshake,
 * the lingering close) are checked by one timer a second, over the
 * connections that have one. Connections are freed in libuv's close
 * callback only, never inside one of the owner's callbacks. */
#include "net_sconn.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "log.h"

static void conn_process_in(struct net_sconn *c);
static void conn_flushed(struct net_sconn *c);
static void on_idle(uv_idle_t *h);

/* ---- deadlines ------------------------------------------------------- */

void net_sconn_timed_set(struct net_sconn *c, uint64_t ms_from_now)
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

void net_sconn_timed_clear(struct net_sconn *c)
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
		net_sconn_close(c, "write failed");
		return;
	}
	if (!c->writes)
		conn_flushed(c);
}

/* Writes raw bytes (d1 then d2), at once if the socket takes them, the rest
 * queued in one copy. acct: bytes counted in the send queue until written. */
static int write_now(struct net_sconn *c, const char *d1, size_t l1, const char *d2, size_t l2,
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
			net_sconn_close(c, "write failed");
			return TE_IO;
		}
		if (done == l1 + l2)
			return 0;
	}
	rest = l1 + l2 - done;
	b = malloc(sizeof *b + rest);
	if (!b) {
		net_sconn_close(c, "out of memory");
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
		net_sconn_close(c, "write failed");
		return TE_IO;
	}
	c->writes++;
	c->pub.queued += acct;
	return 0;
}

/* ---- corking: one write per connection for a batch of frames ----------
 * Between net_cork and net_uncork, a WebSocket connection's first frame is
 * written at once and the frames after it are gathered, then written in one
 * go at net_uncork: a batch of store callbacks that sends many runs to one
 * agent costs two writes, not one each. What the connection sends otherwise
 * (a close frame, anything once the server is uncorked) writes the
 * gathered frames first, so the order on the wire never changes. */

static void cork_unlink(struct net_sconn *c)
{
	struct net_server *s = c->l->ctx->srv;

	if (!c->corked)
		return;
	if (c->cprev)
		c->cprev->cnext = c->cnext;
	else
		s->corked = c->cnext;
	if (c->cnext)
		c->cnext->cprev = c->cprev;
	c->cprev = c->cnext = NULL;
	c->corked = false;
}

/* Writes the gathered frames (the connection stays in the list: the
 * caller unlinks it). */
static int cork_write(struct net_sconn *c)
{
	size_t len, acct = c->cork_acct;
	char *data;
	int rc;

	c->cork_acct = 0;
	c->pub.queued -= acct;
	if (!c->cork.len)
		return 0;
	data = buf_steal(&c->cork, &len);
	rc = write_now(c, data, len, NULL, 0, acct);
	free(data);
	return rc;
}

static int raw_send(struct net_sconn *c, const char *d1, size_t l1, const char *d2, size_t l2,
		    size_t acct)
{
	struct net_server *s = c->l->ctx->srv;
	int rc;

	if (c->dead)
		return TE_STATE;
	if (s->cork_depth && c->state == S_WS && !c->close_sent) {
		if (c->cork_gen != s->cork_gen) {
			/* the batch's first frame to it: no copy */
			c->cork_gen = s->cork_gen;
			return write_now(c, d1, l1, d2, l2, acct);
		}
		if (!c->cork.cap)
			buf_init(&c->cork, SIZE_MAX / 2);
		if (buf_append(&c->cork, d1, l1) || (l2 && buf_append(&c->cork, d2, l2))) {
			net_sconn_close(c, "out of memory");
			return TE_NOMEM;
		}
		c->cork_acct += acct;
		c->pub.queued += acct;
		if (!c->corked) {
			c->corked = true;
			c->cprev = NULL;
			c->cnext = s->corked;
			if (s->corked)
				s->corked->cprev = c;
			s->corked = c;
		}
		return 0;
	}
	if (c->corked) {
		cork_unlink(c);
		rc = cork_write(c);
		if (rc)
			return rc;
	}
	return write_now(c, d1, l1, d2, l2, acct);
}

void net_cork(net_ctx *ctx)
{
	struct net_server *s = ctx->srv;

	if (!s)
		return;
	if (!s->cork_depth++)
		s->cork_gen++;
}

void net_uncork(net_ctx *ctx)
{
	struct net_server *s = ctx->srv;

	if (!s || !s->cork_depth || --s->cork_depth)
		return;
	while (s->corked) {
		struct net_sconn *c = s->corked;

		cork_unlink(c);
		if (cork_write(c) == 0 && !c->dead && !c->writes)
			/* all written at once: what waits for a drain hears it,
			 * as it would have after the frames' own writes */
			conn_flushed(c);
	}
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

int net_sconn_send(struct net_sconn *c, const char *d1, size_t l1, const char *d2, size_t l2,
		   size_t acct)
{
	if (c->dead)
		return TE_STATE;
	if (!c->ssl)
		return raw_send(c, d1, l1, d2, l2, acct);
	if ((l1 && SSL_write(c->ssl, d1, (int)l1) <= 0) ||
	    (l2 && SSL_write(c->ssl, d2, (int)l2) <= 0)) {
		net_sconn_close(c, "TLS write failed");
		return TE_IO;
	}
	return tls_flush(c, acct);
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
			net_sconn_close(c, "too much input at once");
			return;
		}
		if (!conn_paused(c))
			conn_process_in(c);
		else
			read_stop(c);
		return;
	}
	used = net_sconn_process(c, data, len);
	if (c->dead || used == len)
		return;
	if (buf_append(&c->in, data + used, len - used)) {
		net_sconn_close(c, "too much input at once");
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
		net_sconn_close(c, c->why[0] ? c->why : "connection closed");
		return;
	}
	switch (c->phase) {
	case H_OWNER:
	case H_WAIT:
		return; /* answered, then closed */
	case H_IDLE:
		if (c->in.len || c->resume_queued)
			return;
		net_sconn_close(c, "connection closed");
		return;
	case H_BODY:
		if (c->in.len || c->resume_queued)
			return;
		if (c->http && c->http->req && c->http->req->handed)
			net_sconn_req_abort(c, c->http->req);
		net_sconn_close(c, "connection closed mid-request");
		return;
	default:
		net_sconn_close(c, "connection closed");
		return;
	}
}

static void conn_process_in(struct net_sconn *c)
{
	size_t used;

	if (c->dead)
		return;
	if (c->in.len) {
		used = net_sconn_process(c, c->in.data, c->in.len);
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
		net_sconn_close(c, "out of memory");
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
				net_sconn_close(c, "TLS handshake failed");
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
			net_sconn_close(c, "TLS error");
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
			net_sconn_close(c, "connection reset");
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

void net_sconn_resume_later(struct net_sconn *c)
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
		net_sconn_close(c, c->why[0] ? c->why : "closed after the answer");
		return;
	}
	/* Read (and drop) what the peer still sends for a moment: closing
	 * with unread input would reset the connection and could destroy the
	 * answer before the peer reads it. */
	c->phase = H_LINGER;
	net_sconn_timed_set(c, NET_LINGER_MS);
	buf_free(&c->in);
	read_start(c);
}

/* A final answer is written: shut the sending side down. */
void net_sconn_end(struct net_sconn *c)
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
		net_sconn_close(c, "out of memory");
		return;
	}
	c->shut->data = c;
	if (uv_shutdown(c->shut, (uv_stream_t *)&c->tcp, on_shutdown)) {
		free(c->shut);
		c->shut = NULL;
		net_sconn_close(c, "shutdown failed");
	}
}

static void conn_flushed(struct net_sconn *c)
{
	net_conn *pc = &c->pub;

	if (c->end_after_write) {
		net_sconn_end(c);
		return;
	}
	if (c->state == S_WS) {
		if (c->close_after_write) {
			net_sconn_close(c, c->why[0] ? c->why : "closed");
			return;
		}
		if (pc->opened && !pc->closing && pc->cb->ws_drained)
			pc->cb->ws_drained(pc->ud, pc);
		return;
	}
	if (c->phase == H_IDLE && (c->in.len || !c->reading))
		net_sconn_resume_later(c);
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
			net_sconn_req_abort(c, r);
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

void net_sconn_close(struct net_sconn *c, const char *why)
{
	if (c->dead)
		return;
	c->dead = true;
	if (!c->why[0])
		util_strlcpy(c->why, why, sizeof c->why);
	cork_unlink(c);
	buf_free(&c->cork);
	c->pub.queued -= c->cork_acct;
	c->cork_acct = 0;
	net_sconn_timed_clear(c);
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
		net_sconn_timed_clear(c);
		if (c->state == S_WS) {
			net_sconn_close(c, c->why[0] ? c->why : "close handshake timed out");
		} else if (c->phase == H_HEAD || c->phase == H_BODY) {
			struct net_http_err e = { 408, "Request Timeout", "" };

			util_strlcpy(e.detail, c->phase == H_HEAD ?
				     "the request head did not arrive in time" :
				     "the request body did not arrive in time", sizeof e.detail);
			net_sconn_http_fail(c, &e);
		} else {
			net_sconn_close(c, c->phase == H_IDLE ? "idle" : "closed");
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
		net_sconn_close(c, "out of memory");
		return;
	}
	nh_init(c->http, &l->lim);
	c->phase = H_IDLE;
	net_sconn_timed_set(c, l->header_ms);
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
		net_sconn_close(c, "server shutting down");
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

