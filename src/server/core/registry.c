/* registry: the known clients and the router to their sessions; see
 * registry.h. */
#include "core/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util.h"

#define MAX_LABEL_KEY_LEN 256

struct registry {
	struct client *clients;
	size_t nclients;
	size_t nconnected;
	/* Every client sorted by id, rebuilt on the first read after a client
	 * came or went (rare next to reads): lists page on it. */
	struct client **order;
	size_t order_cap;
	bool order_dirty;
	uint64_t generation;
	uint64_t removals;           /* clients freed so far (client_ref) */
	const struct registry_router *router;
	void *router_impl;
};

static void client_free(struct client *c)
{
	if (!c)
		return;
	free(c->id);
	free(c->name);
	free(c->auth_id);
	free(c->version);
	json_decref(c->facts);
	json_decref(c->tags);
	json_decref(c->labels);
	json_decref(c->interpreters);
	json_decref(c->services);
	free(c);
}

struct client *registry_get_or_add(struct registry *reg, const char *id)
{
	struct client *c;

	HASH_FIND_STR(reg->clients, id, c);
	if (c)
		return c;
	c = calloc(1, sizeof *c);
	if (!c || !(c->id = strdup(id))) {
		free(c);
		return NULL;
	}
	c->facts = json_object();
	c->tags = json_array();
	c->labels = json_object();
	c->interpreters = json_array();
	c->services = json_array();
	HASH_ADD_KEYPTR(hh, reg->clients, c->id, strlen(c->id), c);
	reg->nclients++;
	reg->order_dirty = true;
	reg->generation++;
	return c;
}

const char *registry_client_fact(const struct client *c, const char *key)
{
	const char *v = json_string_value(json_object_get(c->facts, key));

	return v ? v : "";
}

struct client *registry_find(struct registry *reg, const char *id)
{
	struct client *c;

	HASH_FIND_STR(reg->clients, id, c);
	return c;
}

void registry_ref_take(const struct registry *reg, struct client_ref *r, struct client *c)
{
	r->c = c;
	r->removals = reg->removals;
}

struct client *registry_ref_get(struct registry *reg, const struct client_ref *r,
				const char *id)
{
	if (r->c && r->removals == reg->removals)
		return r->c;
	return registry_find(reg, id);
}

bool registry_client_has_interpreter(const struct client *c, const char *interp)
{
	size_t i;
	json_t *v;

	json_array_foreach(c->interpreters, i, v)
		if (json_string_value(v) && !strcmp(json_string_value(v), interp))
			return true;
	return false;
}

void registry_each(struct registry *reg, void (*fn)(void *ud, struct client *c), void *ud)
{
	struct client *c, *tmp;

	HASH_ITER(hh, reg->clients, c, tmp)
		fn(ud, c);
}

static bool array_glob(json_t *arr, const char *pattern)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (json_string_value(v) && util_glob_match(pattern, json_string_value(v)))
			return true;
	return false;
}

bool registry_client_attr_match(const struct client *c, const char *key, const char *pattern)
{
	static const char *const facts[] = { "os", "os_arch", "os_family", "os_kernel",
					     "hostname" };
	const char *v = NULL;

	if (!strcmp(key, "client_id"))
		v = c->id;
	else if (!strcmp(key, "name"))
		v = c->name ? c->name : c->id;
	else if (!strcmp(key, "version"))
		v = c->version ? c->version : "";
	else if (!strcmp(key, "address"))
		v = c->address;
	else if (!strcmp(key, "client_auth_id"))
		v = c->auth_id ? c->auth_id : "";
	else if (!strcmp(key, "connection_state"))
		v = c->s ? "connected" : "disconnected";
	else if (!strcmp(key, "tag"))
		return array_glob(c->tags, pattern);
	else if (!strcmp(key, "ipv4") || !strcmp(key, "ipv6"))
		return array_glob(json_object_get(c->facts, key), pattern);
	else
		for (size_t i = 0; i < sizeof facts / sizeof facts[0]; i++)
			if (!strcmp(key, facts[i]))
				v = registry_client_fact(c, key);
	return v && util_glob_match(pattern, v);
}

bool registry_client_has_tag(const struct client *c, const char *tag)
{
	size_t i;
	json_t *v;

	json_array_foreach(c->tags, i, v)
		if (json_string_value(v) && !strcmp(json_string_value(v), tag))
			return true;
	return false;
}

bool registry_client_has_label(const struct client *c, const char *label)
{
	const char *colon = strchr(label, ':');
	char key[MAX_LABEL_KEY_LEN + 1];
	size_t kl;
	const char *v;

	if (!colon)
		return false;
	kl = (size_t)(colon - label);
	if (kl > MAX_LABEL_KEY_LEN)
		return false;
	memcpy(key, label, kl);
	key[kl] = '\0';
	v = json_string_value(json_object_get(c->labels, key));
	return v && !strcmp(v, colon + 1);
}

json_t *registry_client_services(const struct client *c)
{
	return c->services;
}

static char *dup_str(json_t *v)
{
	const char *s = json_string_value(v);

	return s ? strdup(s) : NULL;
}

static void client_load_cb(void *ud, const char *id, json_t *j)
{
	struct registry *reg = ud;
	struct client *c = registry_get_or_add(reg, id);
	json_t *v;

	if (!c)
		return;
	free(c->name);
	c->name = dup_str(json_object_get(j, "name"));
	free(c->auth_id);
	c->auth_id = dup_str(json_object_get(j, "client_auth_id"));
	free(c->version);
	c->version = dup_str(json_object_get(j, "version"));
	if (json_is_object(v = json_object_get(j, "facts"))) {
		json_decref(c->facts);
		c->facts = json_deep_copy(v);
	}
	if (json_is_array(v = json_object_get(j, "tags"))) {
		json_decref(c->tags);
		c->tags = json_deep_copy(v);
	}
	if (json_is_object(v = json_object_get(j, "labels"))) {
		json_decref(c->labels);
		c->labels = json_deep_copy(v);
	}
	if (json_is_array(v = json_object_get(j, "services"))) {
		json_decref(c->services);
		c->services = json_deep_copy(v);
	}
	if (json_is_array(v = json_object_get(j, "interpreters"))) {
		json_decref(c->interpreters);
		c->interpreters = json_deep_copy(v);
	}
	util_strlcpy(c->address, json_string_value(json_object_get(j, "address")) ?
			 json_string_value(json_object_get(j, "address")) : "",
		     sizeof c->address);
	c->connected_at = json_integer_value(json_object_get(j, "connected_at_ns"));
	c->disconnected_at = json_integer_value(json_object_get(j, "disconnected_at_ns"));
	c->last_seen = json_integer_value(json_object_get(j, "last_seen_ns"));
	/* It was connected when the server stopped: it is not now. */
	if (!c->disconnected_at || c->disconnected_at < c->connected_at)
		c->disconnected_at = c->last_seen ? c->last_seen : util_now_ns();
}

size_t registry_count(const struct registry *reg) { return reg->nclients; }

size_t registry_connected_count(const struct registry *reg) { return reg->nconnected; }

void registry_client_attach(struct registry *reg, struct client *c, struct session *s)
{
	if (!c->s && s)
		reg->nconnected++;
	else if (c->s && !s)
		reg->nconnected--;
	c->s = s;
	reg->generation++;
}

uint64_t registry_generation(const struct registry *reg) { return reg->generation; }

static int order_cmp(const void *a, const void *b)
{
	return strcmp((*(struct client *const *)a)->id, (*(struct client *const *)b)->id);
}

struct client *const *registry_sorted(struct registry *reg, size_t *n)
{
	if (reg->order_dirty || !reg->order) {
		struct client *c, *tmp;
		size_t i = 0;

		if (reg->order_cap < reg->nclients + 1) {
			size_t cap = reg->nclients + 1 + reg->nclients / 4;
			struct client **v = realloc(reg->order, cap * sizeof *v);

			if (!v) {
				*n = 0;
				return NULL;
			}
			reg->order = v;
			reg->order_cap = cap;
		}
		HASH_ITER(hh, reg->clients, c, tmp)
			reg->order[i++] = c;
		qsort(reg->order, i, sizeof *reg->order, order_cmp);
		reg->order_dirty = false;
	}
	*n = reg->nclients;
	return reg->order;
}

bool registry_client_connected(const struct client *c) { return c && c->s; }

const char *registry_client_id(const struct client *c) { return c->id; }

const char *registry_client_name(const struct client *c) { return c->name ? c->name : c->id; }

int registry_create(struct registry **out)
{
	struct registry *reg = calloc(1, sizeof *reg);

	if (!reg)
		return TE_NOMEM;
	*out = reg;
	return 0;
}

void registry_destroy(struct registry *reg)
{
	struct client *c, *tmp;

	if (!reg)
		return;
	HASH_ITER(hh, reg->clients, c, tmp) {
		HASH_DEL(reg->clients, c);
		client_free(c);
	}
	free(reg->order);
	free(reg);
}

int registry_load(struct registry *reg, struct store *st)
{
	return store_client_each(st, client_load_cb, reg);
}

void registry_set_router(struct registry *reg, const struct registry_router *r, void *impl)
{
	reg->router = r;
	reg->router_impl = impl;
}

void registry_remove(struct registry *reg, struct client *c)
{
	if (c->s)
		reg->nconnected--;
	HASH_DEL(reg->clients, c);
	reg->nclients--;
	reg->order_dirty = true;
	reg->generation++;
	reg->removals++;
	client_free(c);
}

json_t *registry_client_record(const struct client *c)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:O, s:O, s:O, s:O, s:O, s:s, s:I, s:I, s:I}",
			 "id", c->id, "name", c->name ? c->name : c->id, "client_auth_id",
			 c->auth_id ? c->auth_id : "", "version", c->version ? c->version : "",
			 "facts", c->facts, "tags", c->tags, "labels", c->labels, "interpreters",
			 c->interpreters, "services", c->services, "address", c->address,
			 "connected_at_ns", (json_int_t)c->connected_at, "disconnected_at_ns",
			 (json_int_t)c->disconnected_at, "last_seen_ns", (json_int_t)c->last_seen);
}

int registry_run(struct registry *reg, struct client *c, const struct job_spec *j,
		 registry_run_cb cb, void *ud)
{
	if (!reg->router || !c || !c->s)
		return TE_STATE;
	return reg->router->run(reg->router_impl, c, j, cb, ud);
}

int registry_cancel(struct registry *reg, struct client *c, const char *jid, const char *by)
{
	if (!reg->router || !c || !c->s)
		return TE_STATE;
	return reg->router->cancel(reg->router_impl, c, jid, by);
}
