/* registry: the clients the server knows, connected or not, and the way to
 * reach a connected one.
 *
 * A client is known from its agent's first hello on and stays known after it
 * disconnects and across restarts (its record is stored). Lookups are by
 * hash; nothing scans the fleet per message. The agents layer fills the
 * records from hellos and registers itself as the router that carries runs
 * and cancels to a client's live session; the core sends through the
 * registry and never sees a session. */
#ifndef TETHER_REGISTRY_H
#define TETHER_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uthash.h>

struct store;
struct job_spec;
struct session;                  /* the agents layer's; opaque here */

struct client {
	char *id;
	char *name;
	char *auth_id;
	char *version;
	json_t *facts;               /* object from hello */
	json_t *tags;                /* array of strings */
	json_t *labels;              /* object of strings */
	json_t *interpreters;        /* array of strings */
	json_t *services;            /* array of strings */
	char address[64];
	int64_t connected_at;
	int64_t disconnected_at;
	int64_t last_seen;
	struct session *s;           /* the live connection, or NULL */
	UT_hash_handle hh;
};

/* Outcome of sending a run: status 0 = started (pid set), otherwise
 * TE_STATE with error text from the agent (refused), or TE_IO (gone). */
typedef void (*registry_run_cb)(void *ud, int status, const char *error, int64_t pid);

/* How runs and cancels reach a connected client (the agents layer). */
struct registry_router {
	int (*run)(void *impl, struct client *c, const struct job_spec *j, registry_run_cb cb,
		   void *ud);
	int (*cancel)(void *impl, struct client *c, const char *jid, const char *by);
};

struct registry;

int registry_create(struct registry **out);
void registry_destroy(struct registry *reg);   /* NULL is a no-op */
/* Loads the stored clients (at start: none is connected). */
int registry_load(struct registry *reg, struct store *st);
void registry_set_router(struct registry *reg, const struct registry_router *r, void *impl);

struct client *registry_find(struct registry *reg, const char *id);

/* A client kept across a wait (a store commit): its pointer holds while no
 * client has been removed since it was taken, which saves the lookup by id
 * on the far side of the wait (a fan-out's run, a result's ack). */
struct client_ref {
	struct client *c;            /* NULL: look it up by id */
	uint64_t removals;
};
void registry_ref_take(const struct registry *reg, struct client_ref *r, struct client *c);
/* r's client while it holds, else the client by id (NULL: none). */
struct client *registry_ref_get(struct registry *reg, const struct client_ref *r,
				const char *id);
/* The client with this id, added (empty) when unknown; NULL on no memory. */
struct client *registry_get_or_add(struct registry *reg, const char *id);
/* Forgets a client (it must not be connected). */
void registry_remove(struct registry *reg, struct client *c);
size_t registry_count(const struct registry *reg);
/* How many clients have a live session (kept up to date, O(1)). */
size_t registry_connected_count(const struct registry *reg);
/* Sets (s) or clears (NULL) the client's live session; the only way the
 * agents layer changes c->s, so the connected count stays true. */
void registry_client_attach(struct registry *reg, struct client *c, struct session *s);
/* Every known client sorted by id (*n of them), borrowed: valid until a
 * client is added or removed. NULL with *n = 0 on no memory. Sorting
 * happens on the first call after the fleet's membership changed, so a
 * list request pages on it without a sort of its own. */
struct client *const *registry_sorted(struct registry *reg, size_t *n);
/* A number that changes whenever a client is added, removed, connects or
 * disconnects (a hello, which sets its facts, comes with a connect): an
 * order of clients computed at one generation holds while it is current. */
uint64_t registry_generation(const struct registry *reg);
/* Calls fn for every known client (connected or not); fn must not add or
 * remove clients. */
void registry_each(struct registry *reg, void (*fn)(void *ud, struct client *c), void *ud);

/* The client's record as the store keeps it (new reference): what a
 * restart needs to know it again. */
json_t *registry_client_record(const struct client *c);

bool registry_client_connected(const struct client *c);
const char *registry_client_id(const struct client *c);
const char *registry_client_name(const struct client *c);
/* A string fact of the hello ("" when absent). */
const char *registry_client_fact(const struct client *c, const char *key);
/* True if the agent offers this interpreter (built-in or an alias). */
bool registry_client_has_interpreter(const struct client *c, const char *interp);
/* Does attribute key of the client match the '*' pattern (case-insensitive)?
 * Keys: client_id, name, version, address, client_auth_id,
 * connection_state, tag, ipv4, ipv6, os, os_arch, os_family, os_kernel,
 * hostname; unknown keys never match. */
bool registry_client_attr_match(const struct client *c, const char *key, const char *pattern);
bool registry_client_has_tag(const struct client *c, const char *tag);
/* label is "key:value". */
bool registry_client_has_label(const struct client *c, const char *label);
/* Services the agent declares (consul-style filters). Borrowed. */
json_t *registry_client_services(const struct client *c);

/* Sends a stored job to a connected client. cb (may be NULL) is called once
 * when the agent confirms the start or refuses it, or when the connection is
 * lost or no answer came in time. Returns 0 or TE_STATE (not connected). */
int registry_run(struct registry *reg, struct client *c, const struct job_spec *j,
		 registry_run_cb cb, void *ud);
/* Asks the client to kill a running job's process group. Returns 0 or
 * TE_STATE (not connected). The job ends through the agent's result. */
int registry_cancel(struct registry *reg, struct client *c, const char *jid, const char *by);

#endif
