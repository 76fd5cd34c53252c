/* hub: agent sessions and the registry of known clients.
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

struct client *hub_client_find(struct hub *h, const char *id);
bool hub_client_connected(const struct client *c);
const char *hub_client_id(const struct client *c);
const char *hub_client_name(const struct client *c);
/* True if the agent offers this interpreter (built-in or an alias). */
bool hub_client_has_interpreter(const struct client *c, const char *interp);
/* The client as rport's Client JSON (new reference). */
json_t *hub_client_json(const struct client *c);
/* All known clients, sorted by id (new reference). */
json_t *hub_clients_json(struct hub *h);
size_t hub_client_count(const struct hub *h);

/* Calls fn for every known client (connected or not). */
void hub_client_each(struct hub *h, void (*fn)(void *ud, struct client *c), void *ud);
/* rport's client group param match: does attribute key of the client
 * match the '*' pattern (case-insensitive)? Unknown keys never match. */
bool hub_client_attr_match(const struct client *c, const char *key, const char *pattern);
/* One field of the client as rport's Client JSON names it, read from the
 * registry without rendering the client (list filters and sorts): *str for
 * a scalar (num_cpus and mem_total are written into num), or *list (tags,
 * ipv4, ipv6: borrowed, may be NULL). Returns false for other fields. */
bool hub_client_field(const struct client *c, const char *field, const char **str,
		      const json_t **list, char *num, size_t numlen);
bool hub_client_has_tag(const struct client *c, const char *tag);
/* label is "key:value". */
bool hub_client_has_label(const struct client *c, const char *label);
/* Services the agent declares (consul-style filters). */
json_t *hub_client_services(const struct client *c);

/* Every job that reaches a final state, whatever the path (result,
 * refusal, lost client, server-side timeout), is published as EV_JOB_DONE
 * once it is stored (core/events.h). */
/* Finishes a running job from the server side (lost client, timeouts);
 * EV_JOB_DONE follows once it is stored. */
void hub_job_fail(struct hub *h, const char *jid, enum job_status status, const char *error);

/* A running job read from the store whose start is known but not yet
 * written (its record waits a moment, see hub.c): sets its pid and
 * started_at in job (a job JSON object). */
void hub_job_overlay(struct hub *h, json_t *job);

/* Outcome of sending a run: status 0 = started (pid set), otherwise
 * TE_STATE with error text from the agent (refused), or TE_IO (gone). */
typedef void (*hub_run_cb)(void *ud, int status, const char *error, int64_t pid);

/* Sends a stored job to a connected client. cb (may be NULL) is called
 * once when the agent confirms the start or refuses it, or when the
 * connection is lost or no answer came in time. Returns 0 or TE_STATE
 * (not connected). */
int hub_run(struct hub *h, struct client *c, const struct job_spec *j,
	    hub_run_cb cb, void *ud);

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

/* Asks the client to kill a running job's process group. Returns 0 or
 * TE_STATE (not connected). The job ends through the agent's result. */
int hub_cancel(struct hub *h, struct client *c, const char *jid, const char *by);

#endif
