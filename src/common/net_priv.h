/* net_priv: what the net layer's files share (not for other modules).
 *
 * net.c         context, public dispatch between the two sides, log limits
 * net_server.c  the server: libuv listeners and connections, timers
 * net_server_http.c  HTTP requests and WebSocket sessions over them
 * net_http.c    HTTP/1.1 request reader (http-parser), requests, answers
 * net_ws.c      WebSocket framing (RFC 6455) and the upgrade handshake
 * net_tls.c     TLS over memory BIOs (OpenSSL), ALPN http/1.1 only
 * net_client.c  the client side (libwebsockets, dials agents' servers)
 * net_srv.h has what the server's files share besides, net_sconn.h
 * what net_server.c and net_server_http.c share.
 */
#ifndef TETHER_NET_PRIV_H
#define TETHER_NET_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "net.h"
#include "util.h"

enum { KIND_REQ = 1, KIND_CONN = 2 };

struct kv {
	char *name;
	char *value;
};
void net_kv_free(struct kv *q, size_t n);
const char *net_kv_get(const struct kv *q, size_t n, const char *name);
/* True if the comma-separated list holds token (case-insensitive). */
bool net_has_token(const char *list, const char *token);
/* Splits "a=b&c=d" (n bytes) into decoded pairs ('+' is a space). */
int net_query_parse(const char *s, size_t n, struct kv **out, size_t *nout);

/* A log line that can come once per hostile connection: at most 20 a
 * second, then one line saying the rest is dropped. */
void net_log_limited(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the server's parts that net.c calls (net_server*.c) ------------ */

void net_server_init(net_ctx *ctx);
void net_server_destroy(net_ctx *ctx);
void net_server_free(net_ctx *ctx);
int net_server_ws_send(net_conn *c, const char *data, size_t len);
void net_server_ws_close(net_conn *c, int code, const char *reason);
void net_server_ws_drop(net_conn *c);

/* ---- the client side (net_client.c) --------------------------------- */

int net_client_ws_send(net_conn *c, const char *data, size_t len);
void net_client_ws_close(net_conn *c, int code, const char *reason);
void net_client_ws_drop(net_conn *c);
void net_client_destroy(net_ctx *ctx);
void net_client_free(net_ctx *ctx);

/* What both sides' WebSocket connections have. */
struct net_conn {
	int kind;                    /* KIND_CONN */
	bool client;
	const struct net_callbacks *cb;
	void *ud;
	void *user;
	struct buf rx;
	size_t max_queue;
	size_t queued;
	bool opened;
	bool closing;
	bool close_notified;
	int close_code;
	char close_reason[124];
	char peer[48];
	char *path;
	struct kv *query;
	size_t nquery;
	char *authorization;
	char *origin;
	const char *refusal;       /* title of a refused upgrade, or NULL */
};

void net_conn_notify_close(net_conn *c, const char *reason);
/* Frees the fields of struct net_conn (not the struct). */
void net_conn_fields_free(net_conn *c);

struct net_server;
struct net_client;

struct net_ctx {
	uv_loop_t *loop;
	int fd_limit;
	bool tls;
	struct net_server *srv;      /* net_server.c */
	struct net_client *cli;      /* net_client.c, made on first dial */
};

#endif
