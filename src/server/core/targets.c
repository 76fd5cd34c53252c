/* targets: resolving an invocation's targets; see targets.h. */
#include "core/targets.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/groups.h"
#include "core/registry.h"
#include "server.h"
#include "util.h"

/* Appends id with its registry entry c (no check that it is new). */
static int add(struct target_list *l, size_t *cap, const char *id, struct client *c)
{
	if (l->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		char **v = realloc(l->ids, ncap * sizeof *v);
		struct client **w;

		if (!v)
			return -1;
		l->ids = v;
		w = realloc(l->clients, ncap * sizeof *w);
		if (!w)
			return -1;
		l->clients = w;
		*cap = ncap;
	}
	if (!(l->ids[l->n] = strdup(id)))
		return -1;
	l->clients[l->n++] = c;
	return 0;
}

/* Appends id once (seen: a set of the ids so far). */
static int add_unique(struct target_list *l, size_t *cap, json_t *seen, const char *id,
		      struct client *c)
{
	if (json_object_get(seen, id))
		return 0;
	if (json_object_set_new(seen, id, json_true()))
		return -1;
	return add(l, cap, id, c);
}

struct select_ctx {
	const struct target_spec *spec;
	struct client **matched;
	size_t n, cap;
	bool nomem;
};

static void select_cb(void *ud, struct client *c)
{
	struct select_ctx *s = ud;
	size_t i, hits = 0;

	for (i = 0; i < s->spec->nselectors; i++) {
		const char *x = s->spec->selectors[i];

		/* A NULL selector (not a string in the request) never matches. */
		if (x && (s->spec->by_labels ? registry_client_has_label(c, x) :
					      registry_client_has_tag(c, x)))
			hits++;
	}
	if (!(s->spec->all_of ? hits == s->spec->nselectors : hits > 0))
		return;
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		struct client **v = realloc(s->matched, ncap * sizeof *v);

		if (!v) {
			s->nomem = true;
			return;
		}
		s->matched = v;
		s->cap = ncap;
	}
	s->matched[s->n++] = c;
}

static int by_id(const void *a, const void *b)
{
	return strcmp(registry_client_id(*(struct client *const *)a),
		      registry_client_id(*(struct client *const *)b));
}

static enum target_error by_selector(struct server *srv, const struct target_spec *spec,
				     struct target_list *out, size_t *cap)
{
	struct select_ctx s = { .spec = spec };
	enum target_error rc = TARGET_OK;

	/* No selector selects nothing (all of none would be every client). */
	if (!spec->nselectors)
		return TARGET_SELECTOR_NO_MATCH;
	registry_each(srv->registry, select_cb, &s);
	if (s.nomem) {
		free(s.matched);
		return TARGET_NOMEM;
	}
	/* in id order; each client once (the registry has it once) */
	if (s.n)
		qsort(s.matched, s.n, sizeof *s.matched, by_id);
	for (size_t i = 0; i < s.n && rc == TARGET_OK; i++)
		if (add(out, cap, registry_client_id(s.matched[i]), s.matched[i]))
			rc = TARGET_NOMEM;
	free(s.matched);
	if (rc == TARGET_OK && !out->n)
		rc = TARGET_SELECTOR_NO_MATCH;
	return rc;
}

static enum target_error by_ids(struct server *srv, const struct target_spec *spec,
				struct target_list *out, size_t *cap, json_t *seen, char *subject,
				size_t subject_len)
{
	size_t i;

	for (i = 0; i < spec->nclient_ids; i++) {
		const char *id = spec->client_ids[i];
		struct client *c;

		if (!id)
			return TARGET_ID_INVALID;
		if (!(c = registry_find(srv->registry, id))) {
			util_strlcpy(subject, id, subject_len);
			return TARGET_CLIENT_UNKNOWN;
		}
		if (add_unique(out, cap, seen, id, c))
			return TARGET_NOMEM;
	}
	if (spec->ngroup_ids) {
		size_t before = out->n;
		json_t *members = json_array();
		json_t *v;

		for (i = 0; i < spec->ngroup_ids; i++) {
			const char *gid = spec->group_ids[i];
			const json_t *g = gid ? groups_get(srv->groups, gid) : NULL;

			if (!g) {
				util_strlcpy(subject, gid ? gid : "", subject_len);
				json_decref(members);
				return TARGET_GROUP_UNKNOWN;
			}
			groups_members(srv->groups, g, members);
		}
		json_array_foreach(members, i, v)
			if (add_unique(out, cap, seen, json_string_value(v),
				       registry_find(srv->registry, json_string_value(v)))) {
				json_decref(members);
				return TARGET_NOMEM;
			}
		json_decref(members);
		if (out->n == before && !spec->nclient_ids)
			return TARGET_GROUP_EMPTY;
	}
	return out->n ? TARGET_OK : TARGET_NONE;
}

enum target_error targets_check(const struct target_spec *spec)
{
	bool ids = spec->nclient_ids > 0, groups = spec->ngroup_ids > 0;
	bool sel = spec->by_selector || spec->nselectors > 0;

	if (!ids && !groups && !sel)
		return TARGET_MISSING;
	if (sel && (ids || groups))
		return TARGET_MULTIPLE;
	if (spec->nclient_ids > TARGETS_MAX_IDS || spec->ngroup_ids > TARGETS_MAX_GROUPS)
		return TARGET_TOO_MANY;
	return TARGET_OK;
}

enum target_error targets_resolve(struct server *srv, const struct target_spec *spec,
				  struct target_list *out, char *subject, size_t subject_len)
{
	bool sel = spec->by_selector || spec->nselectors > 0;
	size_t cap = 0;
	json_t *seen;
	enum target_error rc;

	out->ids = NULL;
	out->clients = NULL;
	out->n = 0;
	if (subject_len)
		subject[0] = '\0';
	rc = targets_check(spec);
	if (rc != TARGET_OK)
		return rc;
	if (sel) {
		rc = by_selector(srv, spec, out, &cap);
	} else {
		seen = json_object();
		if (!seen)
			return TARGET_NOMEM;
		rc = by_ids(srv, spec, out, &cap, seen, subject, subject_len);
		json_decref(seen);
	}
	if (rc != TARGET_OK)
		targets_free(out);
	return rc;
}

void targets_free(struct target_list *l)
{
	for (size_t i = 0; l && i < l->n; i++)
		free(l->ids[i]);
	if (l) {
		free(l->ids);
		free(l->clients);
		l->ids = NULL;
		l->clients = NULL;
		l->n = 0;
	}
}
