/* conn: the agent's one outbound connection: hello, frame dispatch,
 * reconnect with jittered exponential backoff, and the outbox of results
 * kept until the server acknowledges them. */
#ifndef TETHER_CONN_H
#define TETHER_CONN_H

#include <stdbool.h>

#include <jansson.h>

#include "agent.h"

/* A server address as client.server takes it: HOST:PORT, ws://HOST:PORT/PATH
 * or wss://... */
struct server_url {
	char host[256];
	int port;
	char path[256];
	bool tls;
};
int conn_parse_server(const char *server, struct server_url *u, char *err, size_t errlen);

int conn_create(struct agent *a, struct conn **out, char *err, size_t errlen);
void conn_start(struct conn *c);
/* Closes the connection and stops reconnecting. */
void conn_stop(struct conn *c);
void conn_destroy(struct conn *c);
/* exec's report callback: sends a frame; results and rejects stay in the
 * outbox until acked and are resent after every reconnect. Takes frame. */
void conn_report(void *ud, json_t *frame);

#endif
