/* targets: which clients an invocation runs on.
 *
 * A request names its targets in one of three ways: client ids (with or
 * without group ids), group ids, or tags or labels (any or all of them).
 * Resolution gives unique client ids in a stable order: the ids as given,
 * then each group's members sorted by id; a selector's matches sorted by
 * id. Nothing here knows a dialect: failures are codes with a subject, and
 * each dialect words them. */
#ifndef TETHER_TARGETS_H
#define TETHER_TARGETS_H

#include <stdbool.h>
#include <stddef.h>

struct server;

#define TARGETS_MAX_IDS 100000
#define TARGETS_MAX_GROUPS 1000

struct target_spec {
	/* NULL entries stand for ids that were not strings in the request:
	 * resolution fails on them in their place (TARGET_ID_INVALID). */
	const char *const *client_ids;
	size_t nclient_ids;
	const char *const *group_ids;
	size_t ngroup_ids;
	/* Tags, or labels ("key:value") when by_labels; nselectors > 0 means
	 * the request targets by selector. */
	const char *const *selectors;
	size_t nselectors;
	bool by_selector;          /* the request targets by tags or labels */
	bool by_labels;
	bool all_of;               /* every selector must match (AND); else any */
};

enum target_error {
	TARGET_OK = 0,
	TARGET_MISSING,            /* no targeting given */
	TARGET_MULTIPLE,           /* a selector with another way of targeting */
	TARGET_TOO_MANY,           /* over TARGETS_MAX_IDS ids or TARGETS_MAX_GROUPS groups */
	TARGET_ID_INVALID,         /* a NULL entry in client_ids */
	TARGET_CLIENT_UNKNOWN,     /* subject: the client id */
	TARGET_GROUP_UNKNOWN,      /* subject: the group id ("" for a NULL entry) */
	TARGET_GROUP_EMPTY,        /* only groups were given and they have no member */
	TARGET_SELECTOR_NO_MATCH,  /* no client has the tags or labels */
	TARGET_NONE,               /* nothing to run on */
	TARGET_NOMEM,
};

struct client;

/* ids[i] and its registry entry clients[i] (NULL for none), found once by
 * the resolution: the entries hold only until the loop's turn ends (a
 * client may be deleted later), so they are for the caller's checks in
 * the same turn. */
struct target_list {
	char **ids;
	struct client **clients;
	size_t n;
};

/* The checks that need no lookup (TARGET_MISSING, TARGET_MULTIPLE,
 * TARGET_TOO_MANY): a dialect may run them before it parses its selectors,
 * so that its errors come in the order they always came. */
enum target_error targets_check(const struct target_spec *spec);
/* Resolves spec against the registry and the groups. Returns TARGET_OK
 * with out filled (free it with targets_free), or an error with subject
 * set (a NUL-terminated id, cut to subject_len). */
enum target_error targets_resolve(struct server *srv, const struct target_spec *spec,
				  struct target_list *out, char *subject, size_t subject_len);
void targets_free(struct target_list *l);

#endif
