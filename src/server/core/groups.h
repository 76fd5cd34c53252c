/* groups: client groups (rport's), kept in memory and in the store.
 * Membership is computed when asked, from the clients' current state, so
 * it follows clients as they connect and change. */
#ifndef TETHER_GROUPS_H
#define TETHER_GROUPS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "server.h"

struct groups;

int groups_create(struct server *srv, struct groups **out);
void groups_destroy(struct groups *g);

/* The group's record, or NULL. Borrowed. */
const json_t *groups_get(struct groups *g, const char *id);
/* All groups sorted by id, each with "client_ids" (new reference). */
json_t *groups_list_json(struct groups *g);
/* One group with "client_ids" (new reference), or NULL. */
json_t *groups_get_json(struct groups *g, const char *id);
/* Checks a group body ({id, description, params, allowed_user_groups}).
 * Returns 0 or -1 with a message in err. */
int groups_validate(const json_t *body, char *err, size_t errlen);
/* Stores the group (creates or replaces). Takes no reference. */
int groups_put(struct groups *g, const json_t *group);
int groups_delete(struct groups *g, const char *id);
/* Appends the ids of the clients in the group to ids (sorted by id). */
void groups_members(struct groups *g, const json_t *group, json_t *ids);

struct client;
/* Is the client in a group whose allowed_user_groups names one of
 * user_groups (a JSON array of names)? */
bool groups_client_allowed(struct groups *g, const json_t *user_groups, const struct client *c);
/* Appends to ids the ids of the groups the client is in (in the groups'
 * order), and to user_groups the allowed_user_groups of those groups
 * (each once). Either may be NULL. */
void groups_of_client(struct groups *g, const struct client *c, json_t *ids, json_t *user_groups);
/* Is the client in a group whose id (user_groups false), or one of whose
 * allowed_user_groups (true), matches the glob pattern? What a list filter
 * on groups asks, without listing the client's groups. */
bool groups_client_match(struct groups *g, const struct client *c, const char *pattern,
			 bool user_groups);
/* Changes whenever a group is stored or deleted (what a cached list of
 * group members checks). */
uint64_t groups_generation(const struct groups *g);

#endif
