/* api_clients: GET /clients, GET /clients/{id}. */
#include <stdio.h>
#include <string.h>

#include <stdlib.h>
#include <strings.h>

#include "dialects/rport/api.h"
#include "dialects/rport/client_json.h"
#include "core/audit.h"
#include "auth/auth.h"
#include "core/groups.h"
#include "agents/hub.h"
#include "core/query.h"
#include "util.h"

/* One client of a list being built, with its sort keys read once. */
struct centry {
	struct client *c;
	const char *key[QUERY_MAX_SORT];
	long long num[QUERY_MAX_SORT];
};

struct clist {
	struct api_call *call;
	struct centry *v;
	size_t n, cap;
	bool failed;
};

static void collect_cb(void *ud, struct client *c)
{
	struct clist *l = ud;

	if (l->failed || !api_client_allowed(l->call, c))
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		struct centry *v = realloc(l->v, cap * sizeof *v);

		if (!v) {
			l->failed = true;
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++].c = c;
}

static bool is_group_field(const char *f)
{
	return !strcmp(f, "groups") || !strcmp(f, "allowed_user_groups");
}

static bool list_match(const json_t *arr, const char *pattern)
{
	size_t i;
	json_t *v;

	json_array_foreach((json_t *)arr, i, v)
		if (json_string_value(v) && util_glob_match(pattern, json_string_value(v)))
			return true;
	return false;
}

/* Does one field of c match the pattern? groups holds the client's group
 * ids and allowed user groups, computed once when a filter needs them. */
static bool field_match(struct server *srv, struct client *c, const char *field,
			const char *pattern, json_t **groups, json_t **ugroups)
{
	const char *str;
	const json_t *list;
	char num[32];

	if (is_group_field(field)) {
		if (!*groups) {
			*groups = json_array();
			*ugroups = json_array();
			groups_of_client(srv->groups, c, *groups, *ugroups);
		}
		return list_match(!strcmp(field, "groups") ? *groups : *ugroups, pattern);
	}
	if (!rport_client_field(c, field, &str, &list, num, sizeof num))
		return false;
	return str ? util_glob_match(pattern, str) : list && list_match(list, pattern);
}

static bool filter_match(struct server *srv, struct client *c, const struct client_filter *f,
			 json_t **groups, json_t **ugroups)
{
	for (size_t k = 0; k < f->nvalues; k++) {
		bool hit = false;

		for (size_t i = 0; i < f->nfields && !hit; i++) {
			if (!strcmp(f->fields[i], "*")) {
				for (const char *const *a = query_client_filter_fields; *a && !hit; a++)
					hit = field_match(srv, c, *a, f->values[k], groups, ugroups);
			} else {
				hit = field_match(srv, c, f->fields[i], f->values[k], groups, ugroups);
			}
		}
		if (f->all && !hit)
			return false;
		if (!f->all && hit)
			return true;
	}
	return f->all;
}

static const struct client_query *sort_q; /* qsort's context (one loop thread) */

static int centry_cmp(const void *pa, const void *pb)
{
	const struct centry *a = pa, *b = pb;

	for (size_t i = 0; i < sort_q->nsort; i++) {
		int r;

		if (!strcmp(sort_q->sort[i].column, "num_cpus"))
			r = a->num[i] < b->num[i] ? -1 : a->num[i] > b->num[i];
		else {
			r = strcasecmp(a->key[i], b->key[i]);
			if (!r)
				r = strcmp(a->key[i], b->key[i]);
		}
		if (r)
			return sort_q->sort[i].desc ? -r : r;
	}
	return strcmp(registry_client_id(a->c), registry_client_id(b->c));
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

static json_t *sorted_strings(json_t *arr)
{
	size_t n = json_array_size(arr);
	json_t **v = calloc(n ? n : 1, sizeof *v), *out = json_array();

	for (size_t i = 0; v && i < n; i++)
		v[i] = json_array_get(arr, i);
	if (v)
		qsort(v, n, sizeof *v, str_cmp);
	for (size_t i = 0; v && i < n; i++)
		json_array_append(out, v[i]);
	free(v);
	return out;
}

json_t *api_client_json(struct server *srv, const struct client *c)
{
	json_t *j = rport_client_json(c), *g = json_array(), *u = json_array();

	groups_of_client(srv->groups, c, g, u);
	json_object_set_new(j, "groups", sorted_strings(g));
	json_object_set_new(j, "allowed_user_groups", sorted_strings(u));
	json_decref(g);
	json_decref(u);
	return j;
}

/* Keeps only the named fields of obj. */
void api_fields_keep(json_t *obj, const char *const *fields, size_t n)
{
	const char *k;
	json_t *v;
	void *tmp;

	if (!n)
		return;
	json_object_foreach_safe(obj, tmp, k, v) {
		size_t i;

		for (i = 0; i < n; i++)
			if (!strcmp(fields[i], k))
				break;
		if (i == n)
			json_object_del(obj, k);
	}
}

/* GET /clients: filter and sort on the registry, render one page. */
void api_clients_list(struct api_call *call)
{
	struct server *srv = call->srv;
	size_t kept = 0;
	struct api_query aq;
	struct clist l = { call, NULL, 0, 0, false };
	struct client_query q;
	char err[300];
	json_t *page;

	if (api_query_get(call, &aq))
		return;
	/* Whole fleets are listed by tools: a larger page than for jobs. */
	if (query_clients_parse(aq.names, aq.values, aq.n, 100, 100000, &q, err, sizeof err)) {
		query_clients_free(&q);
		api_query_free(&aq);
		api_reply_error(call, 400, err, "");
		return;
	}
	api_query_free(&aq);
	registry_each(srv->registry, collect_cb, &l);
	if (l.failed) {
		query_clients_free(&q);
		free(l.v);
		api_reply_error(call, 500, "Internal error.", "out of memory");
		return;
	}
	for (size_t i = 0; i < l.n; i++) {
		struct centry *e = &l.v[i];
		json_t *groups = NULL, *ugroups = NULL;
		bool ok = true;

		for (size_t f = 0; f < q.nfilters && ok; f++)
			ok = filter_match(srv, e->c, &q.filters[f], &groups, &ugroups);
		json_decref(groups);
		json_decref(ugroups);
		if (!ok)
			continue;
		for (size_t k = 0; k < q.nsort; k++) {
			const json_t *list;
			char num[32];

			rport_client_field(e->c, q.sort[k].column, &e->key[k], &list, num, sizeof num);
			if (!e->key[k])
				e->key[k] = "";
			e->num[k] = strtoll(num, NULL, 10);
			if (!strcmp(q.sort[k].column, "num_cpus"))
				e->key[k] = "";
		}
		l.v[kept++] = *e;
	}
	if (kept > 1) {
		sort_q = &q;
		qsort(l.v, kept, sizeof *l.v, centry_cmp);
		sort_q = NULL;
	}
	page = json_array();
	for (size_t i = (size_t)q.offset; i < kept && i < (size_t)(q.offset + q.limit); i++) {
		json_t *j = api_client_json(srv, l.v[i].c);

		api_fields_keep(j, q.fields, q.nfields);
		json_array_append_new(page, j);
	}
	query_clients_free(&q);
	free(l.v);
	api_reply_list(call, page, (int64_t)kept);
}

void api_clients_get(struct api_call *call)
{
	struct client *c = registry_find(call->srv->registry, call->params[0]);
	char title[256];

	if (!c) {
		snprintf(title, sizeof title, "Client with id=\"%.128s\" not found.",
			 call->params[0]);
		api_reply_error(call, 404, title, "");
		return;
	}
	if (!api_client_allowed(call, c)) {
		api_reply_error(call, 403, "forbidden", "access to this client is not allowed");
		return;
	}
	api_reply_data(call, 200, api_client_json(call->srv, c));
}

void api_clients_delete(struct api_call *call)
{
	char title[256];
	int rc = hub_client_delete(call->srv->hub, call->params[0]);

	if (rc == TE_NOTFOUND) {
		snprintf(title, sizeof title, "Client with id=\"%.128s\" not found.", call->params[0]);
		api_reply_error(call, 404, title, "");
		return;
	}
	if (rc == TE_STATE) {
		api_reply_error(call, 400, "Client is connected.",
				"only disconnected clients can be deleted");
		return;
	}
	if (rc) {
		api_reply_error(call, 500, "Internal error.", "out of memory");
		return;
	}
	api_reply(call, 204, NULL);
}

static const struct http_field cred_fields[] = {
	{ "id", HF_STRING, 0 },
	{ "password", HF_STRING, 0 },
};

/* GET /clients-auth/{id} (without the password, as rport). */
void api_clients_auth_get(struct api_call *call)
{
	json_t *all = auth_creds_list(call->srv->auth), *c;
	char title[256];
	size_t i;

	json_array_foreach(all, i, c) {
		const char *id = json_string_value(json_object_get(c, "id"));

		if (id && !strcmp(id, call->params[0])) {
			json_incref(c);
			json_decref(all);
			api_reply_data(call, 200, c);
			return;
		}
	}
	json_decref(all);
	snprintf(title, sizeof title, "Client Auth with ID=%.128s not found.", call->params[0]);
	api_reply_error(call, 404, title, "");
}

struct tag_acc {
	struct api_call *call;
	json_t *by_tag;     /* tag -> [client ids] */
};

static void tag_cb(void *ud, struct client *c)
{
	struct tag_acc *t = ud;
	const char *str;
	const json_t *list;
	char num[32];
	size_t i;
	json_t *v;

	if (!api_client_allowed(t->call, c) ||
	    !rport_client_field(c, "tags", &str, &list, num, sizeof num))
		return;
	json_array_foreach((json_t *)list, i, v) {
		const char *tag = json_string_value(v);
		json_t *ids;

		if (!tag)
			continue;
		ids = json_object_get(t->by_tag, tag);
		if (!ids) {
			ids = json_array();
			json_object_set_new(t->by_tag, tag, ids);
		}
		json_array_append_new(ids, json_string(registry_client_id(c)));
	}
}

/* GET /client-tags: [{tag, client_ids}] sorted by tag, paged. */
void api_client_tags_list(struct api_call *call)
{
	struct tag_acc t = { call, json_object() };
	json_t *names = json_array(), *page = json_array(), *sorted, *v;
	int64_t limit, offset;
	const char *k;
	size_t i, n;

	if (api_page(call, &limit, &offset)) {
		json_decref(t.by_tag);
		json_decref(names);
		json_decref(page);
		return;
	}
	registry_each(call->srv->registry, tag_cb, &t);
	json_object_foreach(t.by_tag, k, v)
		json_array_append_new(names, json_string(k));
	sorted = sorted_strings(names);
	n = json_array_size(sorted);
	for (i = (size_t)offset; i < n && i < (size_t)(offset + limit); i++) {
		const char *tag = json_string_value(json_array_get(sorted, i));

		json_array_append_new(page, json_pack("{s:s, s:o}", "tag", tag, "client_ids",
						      sorted_strings(json_object_get(t.by_tag, tag))));
	}
	json_decref(sorted);
	json_decref(names);
	json_decref(t.by_tag);
	api_reply_list(call, page, (int64_t)n);
}

void api_clients_auth_list(struct api_call *call)
{
	json_t *all = auth_creds_list(call->srv->auth);

	api_reply_list(call, all, (int64_t)json_array_size(all));
}

static void audit_cred(struct api_call *call, const char *action, const char *id)
{
	api_audit(call, "client.auth", action, id, NULL, true);
}

void api_clients_auth_post(struct api_call *call)
{
	const char *id, *pw;
	json_t *body;
	char title[256];
	int rc;

	if (api_body(call, cred_fields, 2, &body))
		return;
	id = json_string_value(json_object_get(body, "id"));
	pw = json_string_value(json_object_get(body, "password"));
	if (!id || !*id || strlen(id) > 128 || strpbrk(id, " /:")) {
		json_decref(body);
		api_reply_error(call, 400, "Invalid client auth id.",
				"1 to 128 characters, no spaces, ':' or '/'");
		return;
	}
	if (!pw || strlen(pw) < 8 || strlen(pw) > 512) {
		json_decref(body);
		api_reply_error(call, 400, "Invalid client auth password.",
				"8 to 512 characters");
		return;
	}
	rc = auth_cred_add(call->srv->auth, id, pw);
	if (rc == TE_EXISTS) {
		snprintf(title, sizeof title, "Client Auth with ID \"%.128s\" already exist.", id);
		json_decref(body);
		api_reply_error(call, 409, title, "");
		return;
	}
	if (rc) {
		json_decref(body);
		api_reply_error(call, 500, "Failed to store the client auth.", "");
		return;
	}
	audit_cred(call, "create", id);
	api_reply(call, 201, json_pack("{s:{s:s}}", "data", "id", id));
	json_decref(body);
}

void api_clients_auth_delete(struct api_call *call)
{
	char title[256];
	int rc = auth_cred_delete(call->srv->auth, call->params[0]);

	if (rc == TE_NOTFOUND) {
		snprintf(title, sizeof title, "Client Auth with ID=%.128s not found.",
			 call->params[0]);
		api_reply_error(call, 404, title, "");
		return;
	}
	if (rc == TE_STATE) {
		api_reply_error(call, 400, "Client auth from the configuration file.",
				"it cannot be changed through the API");
		return;
	}
	audit_cred(call, "delete", call->params[0]);
	/* Its agents are cut off now, not at their next login. */
	hub_disconnect_auth(call->srv->hub, call->params[0]);
	api_reply(call, 204, NULL);
}
