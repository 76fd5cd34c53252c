/* net_srv: what the server's files (net_server.c, net_http.c, net_ws.c,
 * net_tls.c) share. Not for net_client.c: http_parser.h and
 * libwebsockets.h define the same names. */
#ifndef TETHER_NET_SRV_H
#define TETHER_NET_SRV_H

#include <http_parser.h>
#include <openssl/ssl.h>

#include "net_priv.h"

/* ---- HTTP request reader (net_http.c) -------------------------------- */

/* Limits of one listener, shared by its connections. */
struct net_limits {
	size_t max_url;
	size_t max_header;           /* request line and headers together */
	size_t max_body;
	size_t *bodies_in_flight;    /* bytes of all bodies being read (ctx) */
	size_t max_bodies;           /* cap on *bodies_in_flight */
};

struct net_sconn;

struct net_http_req {
	int kind;                    /* KIND_REQ */
	struct net_sconn *conn;      /* NULL once the peer is gone */
	struct net_listener *l;
	unsigned int method;         /* enum http_method */
	char *url;                   /* raw request target */
	char *path;                  /* raw path (no query), NUL-terminated */
	struct kv *query;
	size_t nquery;
	char *authorization, *origin, *content_type, *host;
	char *upgrade, *connection, *ws_key, *ws_version, *ws_protocol, *expect;
	struct kv *headers;          /* every header as received, names lowercased */
	size_t nheaders;
	char peer[64];
	int64_t content_length;      /* -1: none */
	bool chunked;
	bool keep_alive;
	bool is_upgrade;
	struct buf body;
	size_t reserved;             /* bytes of *bodies_in_flight held */
	bool handed;                 /* given to the owner (http_headers) */
	bool reading_body;           /* net_http_read_body was called */
	bool dispatched;             /* given to http_request */
	bool responded;
	uint64_t body_start_ms;
	void *user;
};

/* An error found while reading a request: answered with this status and
 * the JSON error envelope, then the connection is closed. */
struct net_http_err {
	int status;
	char title[64];
	char detail[160];
};

enum nh_result { NH_MORE, NH_HEAD, NH_DONE, NH_ERROR };

struct nh {
	http_parser p;
	const struct net_limits *lim;
	net_http_req *req;           /* being read */
	size_t head_bytes;
	int hstate;                  /* 0 none, 1 in field, 2 in value */
	struct buf field;
	struct buf value;
	enum nh_result pending;      /* set by callbacks, read by nh_feed */
	struct net_http_err err;
};

void nh_init(struct nh *h, const struct net_limits *lim);
/* Frees what is being read (not a request already returned). */
void nh_release(struct nh *h);
/* Reads bytes. Returns how many were used; *res says why it stopped:
 * NH_MORE (all used), NH_HEAD (h->req has its head; its body is read by
 * feeding on), NH_DONE (h->req is whole; take it and set h->req NULL),
 * NH_ERROR (h->err). After NH_DONE on an upgrade, the rest of the bytes
 * belong to the new protocol. */
size_t nh_feed(struct nh *h, const char *data, size_t len, enum nh_result *res);
/* Ready for the next request on the same connection. */
void nh_next(struct nh *h);

net_http_req *net_req_create(void);
void net_req_free(net_http_req *r);
/* Gives back the body's share of the in-flight budget. */
void net_req_unreserve(net_http_req *r, const struct net_limits *lim);
/* The reason phrase of a status. */
const char *net_http_reason(int status);
/* Formats a whole answer: status line, headers, body (HEAD: no body).
 * Returns a malloc'ed buffer and its length, or NULL. */
char *net_http_format(int status, const char *ctype, const char *body, size_t len,
		      bool close, bool head, const char *extra_headers, size_t *out_len);

/* ---- WebSocket framing (net_ws.c) ------------------------------------ */

struct net_ws_rx {
	uint8_t hdr[14];
	uint8_t hlen;
	uint8_t opcode;              /* of the frame being read */
	uint8_t msg_opcode;          /* of the message being reassembled (0 none) */
	bool fin;
	bool in_payload;
	uint8_t mask[4];
	uint8_t mask_off;
	uint64_t remaining;
	uint8_t ctrl[125];
	uint8_t ctrl_len;
};

struct net_ws_events {
	/* The data message read through data() is whole; opcode 1 text,
	 * 2 binary. */
	int (*message_end)(void *ud, int opcode);
	/* A control frame: ping (9), pong (10) or close (8). */
	int (*control)(void *ud, int opcode, const uint8_t *data, size_t len);
	/* Bytes of the message being reassembled. 0 or a close code. */
	int (*data)(void *ud, const uint8_t *data, size_t len);
};

/* Reads frames from a client (masked). Returns 0, or a close code
 * (1002 protocol error, 1007 bad UTF-8, 1009 too big) when the stream
 * must end; an event callback's nonzero return stops the feed too and is
 * returned. *used says how many bytes were read. */
int net_ws_rx_feed(struct net_ws_rx *rx, const uint8_t *data, size_t len,
		   const struct net_ws_events *ev, void *ud, size_t *used);
/* Writes a frame header for an unmasked server frame; returns its size. */
size_t net_ws_frame_header(uint8_t out[10], int opcode, size_t len);
/* Sec-WebSocket-Accept for a key: 28 characters and a NUL. */
int net_ws_accept_key(const char *key, char out[29]);

/* ---- TLS (net_tls.c) ------------------------------------------------- */

SSL_CTX *net_tls_server_ctx(const char *cert, const char *key);
/* A server SSL over two memory BIOs. */
SSL *net_tls_new(SSL_CTX *ctx);

#endif
