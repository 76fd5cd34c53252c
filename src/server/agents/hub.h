/* hub: agent sessions: the hello, the frames, heartbeats, and delivery of
 * runs to agents (registered as the registry's router, core/registry.h).
 *
 * Every agent connection is a session; after a valid hello it is bound to
 * a client (by id). Clients stay known after they disconnect, and across
 * restarts (they are stored). Lookups are by hash; nothing scans the fleet
 * per message. */
#ifndef TETHER_HUB_H
#define TETHER_HUB_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/registry.h"
#include "server.h"
#include "store/store.h"

struct hub;
struct client;

int hub_create(struct server *srv, struct hub **out);
/* Closes every session (they will report closed while the loop drains). */
void hub_stop(struct hub *h);
void hub_destroy(struct hub *h);
/* Callbacks for the agent listener. */
const struct net_callbacks *hub_net_callbacks(void);

/* Every job that reaches a final state, whatever the path (result,
 * refusal, lost client, server-side timeout), is published as EV_JOB_DONE
 * once it is stored (core/events.h). */
/* Finishes a running job from the server side (lost client, timeouts);
 * EV_JOB_DONE follows once it is stored. */
void hub_job_fail(struct hub *h, const char *jid, enum job_status status, const char *error);

/* A running job read from the store whose start is known but not yet
 * written (its record waits a moment, see hub.c): sets its pid (has_pid)
 * and started_at in row. A row with a pid is left as it is. */
void hub_job_overlay(struct hub *h, struct job_row *row);

/* Closes every connection that logged in with this client auth id (its
 * credential was deleted). Returns how many. */
int hub_disconnect_auth(struct hub *h, const char *auth_id);
/* The agent listener's brute-force guard (bans are listed and lifted
 * through the API). */
struct guard *hub_guard(struct hub *h);
/* Forgets a disconnected client: its record, and its running jobs end as
 * failed ("client deleted"). A client with the same id later starts anew.
 * Returns 0, TE_NOTFOUND, or TE_STATE when it is connected. */
int hub_client_delete(struct hub *h, const char *id);

#endif
