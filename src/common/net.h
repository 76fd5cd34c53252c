/* net: HTTP/1.1 and WebSocket, on a libuv loop the program owns.
 *
 * The server side (net_server.c and its parts) is tether's own: listeners
 * bound to exactly the configured addresses, HTTP/1.1 requests read with
 * http-parser (pipelined ones answered in order, chunked bodies, every
 * head, body and memory limit enforced before the owner sees a byte too
 * many), WebSocket framing, TLS over OpenSSL memory BIOs. The client side
 * (net_client.c) is libwebsockets 4.1, made on the first dial.
 * Every WebSocket message is reassembled up to a cap and handed over whole;
 * every send is queued up to a cap.
 *
 * Lifetime rules (see docs/internals/net.md):
 * - a net_conn is valid from ws_open (or net_client_connect) until ws_close
 *   has returned; net frees it afterwards. Never free it yourself.
 * - a net_http_req handed to http_headers is the owner's until it calls
 *   net_http_respond (refused, answered) or net_http_read_body; after the
 *   latter, http_request (body read) or http_abort (it never will be)
 *   follows. A request handed to http_request must get exactly one
 *   net_http_respond, even if the peer has gone away meanwhile (the answer
 *   is then dropped).
 */
#ifndef TETHER_NET_H
#define TETHER_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

typedef struct net_ctx net_ctx;
typedef struct net_listener net_listener;
typedef struct net_conn net_conn;
typedef struct net_http_req net_http_req;

struct net_callbacks {
	/* The head of a request (method, path, query, headers) has arrived;
	 * its body has not been read. Optional. The owner answers it with
	 * net_http_respond (e.g. 401 at once: the body is never read) or asks
	 * for the body with net_http_read_body, now or later. Without it the
	 * body is read at once. */
	void (*http_headers)(void *ud, net_http_req *req);
	/* A whole HTTP request (body read) has arrived. */
	void (*http_request)(void *ud, net_http_req *req);
	/* A request given to http_headers whose body will not come (the peer
	 * left, the body broke a limit or its deadline and net answered it):
	 * release what is attached to it. Do not answer it; it is freed when
	 * this returns. */
	void (*http_abort)(void *ud, net_http_req *req);
	/* A WebSocket upgrade is asked for on a path: return 0 to accept,
	 * or an HTTP status to refuse it. Optional (NULL accepts all). */
	int (*ws_accept)(void *ud, net_conn *c);
	void (*ws_open)(void *ud, net_conn *c);
	void (*ws_message)(void *ud, net_conn *c, const char *data, size_t len);
	/* The connection is gone; reason is a short text (never NULL). */
	void (*ws_close)(void *ud, net_conn *c, const char *reason);
	/* The send queue drained below the low-water mark (optional). */
	void (*ws_drained)(void *ud, net_conn *c);
	/* The body of an answer that net gives by itself (a request that broke
	 * the protocol or a limit, a refused upgrade), in the owner's
	 * envelope: writes at most outlen bytes into out, sets *type to its
	 * content type, and returns its length. req is the request when its
	 * head was read whole (the body broke a limit), else NULL, so that the
	 * envelope can be the one of the request's owner; *status may be
	 * changed (a dialect whose errors are all HTTP
	 * 200). Optional: without it the answer is "title: detail" as
	 * text/plain. */
	size_t (*error_body)(void *ud, const net_http_req *req, int *status, const char *title,
			     const char *detail, char *out, size_t outlen, const char **type);
};

struct net_listen_cfg {
	/* An address ("127.0.0.1", "::1"; "0.0.0.0" all IPv4, "::" all) or a
	 * name (each of its addresses is bound); "" or NULL: "::". */
	const char *host;
	int port;
	const char *subprotocol;     /* WebSocket subprotocol name served */
	size_t max_body;             /* HTTP body cap (413 above) */
	size_t max_url;              /* request target (414 above); 0: 8 KiB */
	size_t max_header;           /* request line + headers (431); 0: 16 KiB */
	size_t max_bodies;           /* all bodies being read, this process (503
				      * above); 0: 64 MiB. The first listener's
				      * value holds. */
	uint64_t header_timeout_ms;  /* a request's head (408); 0: 10 s */
	uint64_t body_timeout_ms;    /* a request's body once asked for (408); 0: 30 s */
	uint64_t idle_timeout_ms;    /* keep-alive between requests; 0: 30 s */
	size_t max_ws_message;       /* inbound message cap (close 1009 above) */
	size_t max_ws_queue;         /* outbound queue cap per connection */
	const char *tls_cert;        /* PEM files: both set turns TLS on */
	const char *tls_key;
	const struct net_callbacks *cb;
	void *ud;
};

/* Creates the context on loop. Returns NULL on failure (logged).
 * fd_limit: a connection accepted with a descriptor number at or past it is
 * closed at once (the rest stay free for the store and the loop); the
 * client side sizes libwebsockets' table with it (below the soft limit,
 * lws 4.1 finds connections by scanning its whole fd table on every event).
 * With tls false, OpenSSL is left uninitialised and TLS listeners and
 * wss:// connections fail. */
net_ctx *net_ctx_create(uv_loop_t *loop, int fd_limit, bool tls);
/* Starts closing everything (ws_close fires for open connections); run the
 * loop until it drains, then call net_ctx_free. */
void net_ctx_destroy(net_ctx *ctx);
/* Frees what is left after the loop has drained. NULL is a no-op. */
void net_ctx_free(net_ctx *ctx);

/* Between net_cork and net_uncork (they nest), the frames that one
 * WebSocket server connection is sent after its first are gathered and
 * written in one go at the outermost net_uncork: a batch of sends to one
 * peer costs two writes instead of one per frame. Order on the wire and
 * the send queue's cap are kept. */
void net_cork(net_ctx *ctx);
void net_uncork(net_ctx *ctx);

/* Opens a listener on every address of cfg->host. Returns NULL on failure
 * (logged: address in use...). */
net_listener *net_listen(net_ctx *ctx, const struct net_listen_cfg *cfg);
/* The port actually bound (useful with port 0). */
int net_listener_port(const net_listener *l);

/* --- HTTP requests ---------------------------------------------------- */
const char *net_http_method(const net_http_req *r);   /* "GET", "POST"... */
/* The raw path, as sent (not decoded), without the query. Route on it
 * segment by segment and decode the segments that are values with
 * net_path_segment_decode. */
const char *net_http_path(const net_http_req *r);
/* Decodes one raw path segment (len bytes, %xx escapes) into out. Returns
 * its length, or TE_INVAL (a bad escape, a NUL, or "." / "..", raw or
 * encoded), or TE_TOOBIG (out too small). */
int net_path_segment_decode(const char *raw, size_t len, char *out, size_t outlen);
/* Value of query argument name (decoded) or NULL. */
const char *net_http_query(const net_http_req *r, const char *name);
size_t net_http_query_count(const net_http_req *r);
/* i-th query argument; returns its name and sets *value. */
const char *net_http_query_at(const net_http_req *r, size_t i, const char **value);
const char *net_http_authorization(const net_http_req *r); /* or NULL */
const char *net_http_origin(const net_http_req *r);        /* or NULL */
const char *net_http_content_type(const net_http_req *r);  /* or NULL */
const char *net_http_peer(const net_http_req *r);          /* peer IP */
/* Any header by name (case-insensitive; the first if given twice), or NULL. */
const char *net_http_header(const net_http_req *r, const char *name);
size_t net_http_header_count(const net_http_req *r);
/* i-th header as received: returns its name (lowercased), sets *value. */
const char *net_http_header_at(const net_http_req *r, size_t i, const char **value);
const char *net_http_body(const net_http_req *r, size_t *len);
/* Always false: a body over the cap is answered 413 by net. */
bool net_http_body_too_big(const net_http_req *r);
/* True if the request announced a body (a length above 0, or chunked). */
bool net_http_has_body(const net_http_req *r);
/* After http_headers: read the body; http_request or http_abort follows
 * from the loop. Returns 0, or TE_STATE when the peer is gone: the request
 * is then freed at once and nothing follows. */
int net_http_read_body(net_http_req *r);
void net_http_set_user(net_http_req *r, void *user);
void *net_http_user(const net_http_req *r);
/* Sends the answer and releases the request. body is copied. */
void net_http_respond(net_http_req *r, int status, const char *content_type,
		      const char *body, size_t len);
/* The same, with extra header lines ("Name: value\r\n"..., at most 500
 * bytes, written as given: the caller makes them safe). */
void net_http_respond_ex(net_http_req *r, int status, const char *content_type,
			 const char *extra_headers, const char *body, size_t len);

/* --- WebSocket connections -------------------------------------------- */
/* Queues a text message (copied). Returns 0, or TE_TOOBIG when the queue
 * cap would be passed (nothing queued), or TE_STATE once closing. */
int net_ws_send(net_conn *c, const char *data, size_t len);
/* Bytes queued and not yet written. */
size_t net_ws_queued(const net_conn *c);
/* Closes with a WebSocket close code and reason, after queued data. */
void net_ws_close(net_conn *c, int code, const char *reason);
/* Drops the connection at once, without a close handshake (a dead or
 * stuck peer). ws_close follows from the loop. */
void net_ws_drop(net_conn *c);
void net_ws_set_user(net_conn *c, void *user);
void *net_ws_user(const net_conn *c);
const char *net_ws_peer(const net_conn *c);
/* Request details of a server-side connection's upgrade. */
const char *net_ws_path(const net_conn *c);
const char *net_ws_query(const net_conn *c, const char *name);
const char *net_ws_authorization(const net_conn *c);
/* The Origin header, or NULL when there is none or when it is this
 * server's own: the scheme of the listener (http, https) and the Host the
 * request was sent to (a page served from here). */
const char *net_ws_origin(const net_conn *c);
/* From ws_accept, before it returns a status: the title of the refusal's
 * error body (a string that outlives the call, e.g. a literal); otherwise
 * a generic one for the status. */
void net_ws_set_refusal(net_conn *c, const char *title);

/* SHA-256 of the first certificate in a PEM file (what a client pins),
 * as 64 lowercase hex digits. Returns 0, or -1 (unreadable, no certificate). */
int net_tls_cert_fingerprint(const char *pem_path, char out[65]);

/* --- client side ------------------------------------------------------ */
struct net_client_cfg {
	const char *host;
	int port;
	const char *path;
	const char *subprotocol;
	bool tls;
	const char *ca_file;          /* verify against this CA (TLS) */
	const char *fingerprint;      /* pin: SHA-256 of the server certificate (hex,
				       * colons allowed); replaces CA verification */
	bool insecure;                /* skip verification (tests only) */
	const char *authorization;    /* extra Authorization header value */
	const char *origin;
	size_t max_ws_message;
	size_t max_ws_queue;
	const char *local_addr;       /* bind to this source address, or NULL */
	const struct net_callbacks *cb;
	void *ud;
};
/* Dials a WebSocket server. Returns the connection (ws_open or ws_close
 * follows), or NULL if the attempt could not even start (caller retries). */
net_conn *net_client_connect(net_ctx *ctx, const struct net_client_cfg *cfg);

#endif
