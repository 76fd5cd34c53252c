/* groups: client groups and rport's matching rules. */
#include "core/groups.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/registry.h"
#include "store/store.h"
#include "util.h"

#define MAX_GROUP_PATTERNS 256
#define MAX_PATTERN_LEN 256

struct groups {
	struct server *srv;
	json_t *all;    /* object: id -> group */
	uint64_t generation;
};

uint64_t groups_generation(const struct groups *g) { return g->generation; }

static const char *const param_keys[] = {
	"client_id", "name", "os", "os_arch", "os_family", "os_kernel", "hostname",
	"ipv4", "ipv6", "tag", "version", "address", "client_auth_id",
	"connection_state",
};

static void load_cb(void *ud, const char *id, json_t *group)
{
	struct groups *g = ud;

	json_object_set(g->all, id, group);
}

int groups_create(struct server *srv, struct groups **out)
{
	struct groups *g = calloc(1, sizeof *g);

	if (!g)
		return TE_NOMEM;
	g->srv = srv;
	g->all = json_object();
	store_group_each(srv->store, load_cb, g);
	*out = g;
	return 0;
}

void groups_destroy(struct groups *g)
{
	if (!g)
		return;
	json_decref(g->all);
	free(g);
}

const json_t *groups_get(struct groups *g, const char *id)
{
	return json_object_get(g->all, id);
}

static int check_patterns(const char *key, const json_t *v, char *err, size_t errlen)
{
	size_t i;
	json_t *p;

	if (!json_is_array(v) || json_array_size(v) > MAX_GROUP_PATTERNS) {
		snprintf(err, errlen, "params.%s must be an array of at most %d strings", key,
			 MAX_GROUP_PATTERNS);
		return -1;
	}
	json_array_foreach(v, i, p) {
		if (!json_is_string(p) || json_string_length(p) > MAX_PATTERN_LEN) {
			snprintf(err, errlen, "params.%s must hold strings of at most %d bytes", key,
				 MAX_PATTERN_LEN);
			return -1;
		}
	}
	return 0;
}

int groups_validate(const json_t *body, char *err, size_t errlen)
{
	const char *id = json_string_value(json_object_get(body, "id"));
	json_t *params = json_object_get(body, "params");
	json_t *desc = json_object_get(body, "description");
	json_t *aug = json_object_get(body, "allowed_user_groups");
	const char *k;
	json_t *v;

	if (!id || !*id) {
		snprintf(err, errlen, "Missing group id.");
		return -1;
	}
	if (strlen(id) > 128 || strpbrk(id, "/ \t\r\n")) {
		snprintf(err, errlen, "Invalid group id: at most 128 characters, no '/' or spaces.");
		return -1;
	}
	if (desc && !json_is_string(desc) && !json_is_null(desc)) {
		snprintf(err, errlen, "description must be a string");
		return -1;
	}
	if (aug && !json_is_null(aug) && check_patterns("allowed_user_groups", aug, err, errlen))
		return -1;
	if (params && !json_is_null(params) && !json_is_object(params)) {
		snprintf(err, errlen, "params must be an object");
		return -1;
	}
	json_object_foreach(params, k, v) {
		size_t i;

		for (i = 0; i < sizeof param_keys / sizeof param_keys[0]; i++)
			if (!strcmp(param_keys[i], k))
				break;
		if (i == sizeof param_keys / sizeof param_keys[0]) {
			snprintf(err, errlen,
				 "unknown param \"%.64s\": use client_id, name, os, os_arch, os_family, os_kernel, hostname, ipv4, ipv6, tag, version, address, client_auth_id or connection_state",
				 k);
			return -1;
		}
		if (json_is_null(v))
			continue;
		if (!strcmp(k, "tag") && json_is_object(v)) {
			/* {"and": [...]} or {"or": [...]} */
			const char *op;
			json_t *list;

			if (json_object_size(v) != 1) {
				snprintf(err, errlen, "params.tag must be a list or {\"and\": [...]} or {\"or\": [...]}");
				return -1;
			}
			json_object_foreach(v, op, list) {
				if (strcasecmp(op, "and") && strcasecmp(op, "or")) {
					snprintf(err, errlen, "params.tag operator must be \"and\" or \"or\"");
					return -1;
				}
				if (check_patterns("tag", list, err, errlen))
					return -1;
			}
			continue;
		}
		if (check_patterns(k, v, err, errlen))
			return -1;
	}
	return 0;
}

int groups_put(struct groups *g, const json_t *group)
{
	const char *id = json_string_value(json_object_get(group, "id"));
	json_t *rec = json_object();
	json_t *params = json_object_get(group, "params");
	json_t *aug = json_object_get(group, "allowed_user_groups");
	const char *desc = json_string_value(json_object_get(group, "description"));
	int rc;

	json_object_set_new(rec, "id", json_string(id));
	json_object_set_new(rec, "description", json_string(desc ? desc : ""));
	json_object_set_new(rec, "params", json_is_object(params) ? json_deep_copy(params) :
								   json_object());
	json_object_set_new(rec, "allowed_user_groups",
			    json_is_array(aug) ? json_deep_copy(aug) : json_array());
	rc = store_group_put(g->srv->store, id, rec);
	if (!rc) {
		json_object_set(g->all, id, rec);
		g->generation++;
	}
	json_decref(rec);
	return rc;
}

int groups_delete(struct groups *g, const char *id)
{
	int rc = store_group_delete(g->srv->store, id);

	if (!rc) {
		json_object_del(g->all, id);
		g->generation++;
	}
	return rc;
}

static bool any_pattern(const struct client *c, const char *key, json_t *patterns)
{
	size_t i;
	json_t *p;

	json_array_foreach(patterns, i, p)
		if (registry_client_attr_match(c, key, json_string_value(p)))
			return true;
	return false;
}

/* rport: keys AND-ed, values OR-ed, '*' wildcards, case-insensitive;
 * params with nothing in them match nothing. */
static bool group_matches(const json_t *group, const struct client *c)
{
	json_t *params = json_object_get(group, "params");
	bool any = false;
	const char *k;
	json_t *v;

	json_object_foreach(params, k, v) {
		if (!strcmp(k, "tag") && json_is_object(v)) {
			const char *op;
			json_t *list;

			json_object_foreach(v, op, list) {
				size_t i;
				json_t *p;
				bool and_op = !strcasecmp(op, "and");

				if (!json_array_size(list))
					continue;
				any = true;
				if (and_op) {
					json_array_foreach(list, i, p)
						if (!registry_client_attr_match(c, "tag", json_string_value(p)))
							return false;
				} else if (!any_pattern(c, "tag", list)) {
					return false;
				}
			}
			continue;
		}
		if (!json_array_size(v))
			continue;
		any = true;
		if (!any_pattern(c, k, v))
			return false;
	}
	return any;
}

void groups_members(struct groups *g, const json_t *group, json_t *ids)
{
	size_t n;
	struct client *const *all = registry_sorted(g->srv->registry, &n);

	/* The registry's order is by id already: no sort per request. */
	for (size_t i = 0; i < n; i++)
		if (group_matches(group, all[i]))
			json_array_append_new(ids, json_string(registry_client_id(all[i])));
}

bool groups_client_match(struct groups *g, const struct client *c, const char *pattern,
			 bool user_groups)
{
	const char *k;
	json_t *grp;

	json_object_foreach(g->all, k, grp) {
		bool named = false;

		if (!user_groups) {
			named = util_glob_match(pattern, k);
		} else {
			size_t i;
			json_t *u;

			json_array_foreach(json_object_get(grp, "allowed_user_groups"), i, u)
				if (json_string_value(u) && util_glob_match(pattern, json_string_value(u)))
					named = true;
		}
		/* The group's name is checked first: membership only where it counts. */
		if (named && group_matches(grp, c))
			return true;
	}
	return false;
}

json_t *groups_get_json(struct groups *g, const char *id)
{
	const json_t *grp = groups_get(g, id);
	json_t *out, *ids;

	if (!grp)
		return NULL;
	out = json_deep_copy(grp);
	ids = json_array();
	groups_members(g, grp, ids);
	json_object_set_new(out, "client_ids", ids);
	return out;
}

json_t *groups_list_json(struct groups *g)
{
	json_t *arr = json_array();
	size_t n = json_object_size(g->all), i = 0;
	const char **keys = malloc((n + 1) * sizeof *keys);
	const char *k;
	json_t *v;

	if (!keys)
		return arr;
	json_object_foreach(g->all, k, v)
		keys[i++] = k;
	util_sort_strs(keys, n);
	for (i = 0; i < n; i++)
		json_array_append_new(arr, groups_get_json(g, keys[i]));
	free(keys);
	return arr;
}

bool groups_client_allowed(struct groups *g, const json_t *user_groups, const struct client *c)
{
	const char *k;
	json_t *grp;

	if (!user_groups)
		return false;
	json_object_foreach(g->all, k, grp) {
		json_t *allowed = json_object_get(grp, "allowed_user_groups");
		size_t i, j;
		json_t *a, *u;
		bool hit = false;

		json_array_foreach(allowed, i, a)
			json_array_foreach(user_groups, j, u)
				if (json_equal(a, u))
					hit = true;
		if (hit && group_matches(grp, c))
			return true;
	}
	return false;
}

void groups_of_client(struct groups *g, const struct client *c, json_t *ids, json_t *user_groups)
{
	const char *k;
	json_t *grp;

	json_object_foreach(g->all, k, grp) {
		size_t i;
		json_t *u;

		if (!group_matches(grp, c))
			continue;
		if (ids)
			json_array_append_new(ids, json_string(k));
		if (!user_groups)
			continue;
		json_array_foreach(json_object_get(grp, "allowed_user_groups"), i, u) {
			size_t j;
			json_t *have;
			bool dup = false;

			json_array_foreach(user_groups, j, have)
				if (json_equal(have, u))
					dup = true;
			if (!dup && json_is_string(u))
				json_array_append(user_groups, u);
		}
	}
}
