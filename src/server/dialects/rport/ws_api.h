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

/* Live output and the ends of children and multi jobs come as events
 * (core/events.h): the streaming API subscribes when it is created. */

/* Closes the open streams of a deleted or locked user, or of a revoked
 * token, at once. */
void ws_api_revoke_user(struct ws_api *w, const char *user);
void ws_api_revoke_token(struct ws_api *w, const unsigned char hash[32]);

#endif
