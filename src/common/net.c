/* net: the context, and the calls both sides share (a WebSocket connection
 * is a server's or a client's: see net_server.c and net_client.c). */
#include "net_priv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "log.h"

/* ---- logging -------------------------------------------------------- */

/* A flood of hostile connections (past the descriptor reserve, bad TLS
 * handshakes) must not become a flood of log lines. At most LOG_BURST
 * lines a second, then one line saying the rest is dropped; their count is
 * logged before the next line that gets through. */
#define LOG_BURST 20

void net_log_limited(int level, const char *fmt, ...)
{
	static uint64_t window_ms;
	static unsigned int in_window, dropped;
	uint64_t now;
	va_list ap;

	if (level > log_current_level)
		return;
	now = util_mono_ms();
	if (now - window_ms >= 1000) {
		if (dropped)
			log_warn("net: %u more lines in the last second not logged", dropped);
		window_ms = now;
		in_window = 0;
		dropped = 0;
	}
	if (++in_window > LOG_BURST) {
		if (!dropped++)
			log_warn("net: over %d lines in a second: the rest of this second is not "
				 "logged", LOG_BURST);
		return;
	}
	va_start(ap, fmt);
	log_vwrite(level, fmt, ap);
	va_end(ap);
}

/* ---- context -------------------------------------------------------- */

net_ctx *net_ctx_create(uv_loop_t *loop, int fd_limit, bool tls)
{
	net_ctx *ctx = calloc(1, sizeof *ctx);

	if (!ctx)
		return NULL;
	ctx->loop = loop;
	ctx->fd_limit = fd_limit;
	ctx->tls = tls;
	if (tls)
		OPENSSL_init_ssl(0, NULL);
	return ctx;
}

void net_ctx_destroy(net_ctx *ctx)
{
	if (!ctx)
		return;
	net_server_destroy(ctx);
	net_client_destroy(ctx);
}

void net_ctx_free(net_ctx *ctx)
{
	if (!ctx)
		return;
	net_client_free(ctx);
	net_server_free(ctx);
	free(ctx);
}

/* ---- what both sides' connections share ------------------------------ */

void net_conn_notify_close(net_conn *c, const char *reason)
{
	if (c->close_notified)
		return;
	c->close_notified = true;
	if (c->cb && c->cb->ws_close)
		c->cb->ws_close(c->ud, c, reason ? reason : "closed");
}

void net_ws_set_refusal(net_conn *c, const char *title)
{
	c->refusal = title;
}

void net_conn_fields_free(net_conn *c)
{
	buf_free(&c->rx);
	free(c->path);
	net_kv_free(c->query, c->nquery);
	free(c->authorization);
	free(c->origin);
	c->path = NULL;
	c->query = NULL;
	c->nquery = 0;
	c->authorization = NULL;
	c->origin = NULL;
}

int net_ws_send(net_conn *c, const char *data, size_t len)
{
	return c->client ? net_client_ws_send(c, data, len) : net_server_ws_send(c, data, len);
}

void net_ws_close(net_conn *c, int code, const char *reason)
{
	if (c->client)
		net_client_ws_close(c, code, reason);
	else
		net_server_ws_close(c, code, reason);
}

void net_ws_drop(net_conn *c)
{
	if (c->client)
		net_client_ws_drop(c);
	else
		net_server_ws_drop(c);
}

size_t net_ws_queued(const net_conn *c) { return c->queued; }
void net_ws_set_user(net_conn *c, void *user) { c->user = user; }
void *net_ws_user(const net_conn *c) { return c->user; }
const char *net_ws_peer(const net_conn *c) { return c->peer; }
const char *net_ws_path(const net_conn *c) { return c->path ? c->path : ""; }
const char *net_ws_query(const net_conn *c, const char *name)
{
	return net_kv_get(c->query, c->nquery, name);
}
const char *net_ws_authorization(const net_conn *c) { return c->authorization; }
const char *net_ws_origin(const net_conn *c) { return c->origin; }
