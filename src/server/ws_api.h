/* ws_api: the streaming WebSocket API (see ws_api.c). */
#ifndef TETHER_WS_API_H
#define TETHER_WS_API_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "net.h"
#include "server.h"

struct ws_api;
struct client;

int ws_api_create(struct server *srv, struct ws_api **out);
/* Closes the timer (at shutdown, before the loop drains). */
void ws_api_stop(struct ws_api *w);
void ws_api_destroy(struct ws_api *w);

/* Upgrade check: 0 accepts, else the HTTP status to refuse with. */
int ws_api_accept(struct ws_api *w, net_conn *c);
void ws_api_message(struct ws_api *w, net_conn *c, const char *data, size_t len);
void ws_api_close(struct ws_api *w, net_conn *c);
/* c's send queue has drained: reports output dropped meanwhile. */
void ws_api_drained(struct ws_api *w, net_conn *c);

/* Live output of child jid of multi job mjid (data: a JSON string).
 * offset and offset_lines: the bytes and newlines of the stream before the
 * frame's first byte, as the agent says (-1: unknown); a frame that starts
 * past what the reader got is a gap, reported at once as dropped. */
void ws_api_output(struct ws_api *w, const char *mjid, const char *jid,
		   const struct client *c, const char *stream, json_t *data, bool base64,
		   int64_t offset, int64_t offset_lines);
/* A child job is final (stored). */
void ws_api_child_done(struct ws_api *w, const char *mjid, const char *jid);
/* The multi job is finished. */
void ws_api_multi_done(struct ws_api *w, const char *mjid);

/* Closes the open streams of a deleted or locked user, or of a revoked
 * token, at once. */
void ws_api_revoke_user(struct ws_api *w, const char *user);
void ws_api_revoke_token(struct ws_api *w, const unsigned char hash[32]);

#endif
