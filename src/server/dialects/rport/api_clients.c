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

/* GET /clients works on the registry's records, never on rendered JSON:
 * the filter and the sort keys are resolved to field numbers once per
 * request, clients are visited in the registry's id order, and only the
 * page asked for is kept (a bounded heap when sorted) and rendered. */

/* One filter or sort field, resolved. */
enum cf_kind { CFK_FIELD, CFK_GROUPS, CFK_UGROUPS };

struct cfield {
	enum cf_kind kind;
	int id;                         /* rport_client_field_id (CFK_FIELD) */
};

struct cfilter {
	const struct client_filter *f;
	struct cfield fields[QUERY_MAX_OR_FIELDS + 32];
	size_t n;
};

/* One client of a sorted page being chosen, with its sort keys read once. */
struct centry {
	struct client *c;
	const char *key[QUERY_MAX_SORT];
	long long num[QUERY_MAX_SORT];
};

struct csort {
	int id[QUERY_MAX_SORT];
	bool desc[QUERY_MAX_SORT];
	bool numeric[QUERY_MAX_SORT];
	size_t n;
};

static struct cfield cfield_of(const char *name)
{
	struct cfield f = { CFK_FIELD, -1 };

	if (!strcmp(name, "groups"))
		f.kind = CFK_GROUPS;
	else if (!strcmp(name, "allowed_user_groups"))
		f.kind = CFK_UGROUPS;
	else
		f.id = rport_client_field_id(name);
	return f;
}

/* Resolves a parsed filter; "*" stands for every filter field, the group
 * fields last (they cost the most). */
static void cfilter_init(struct cfilter *cf, const struct client_filter *f)
{
	cf->f = f;
	cf->n = 0;
	for (size_t i = 0; i < f->nfields; i++) {
		if (strcmp(f->fields[i], "*")) {
			cf->fields[cf->n++] = cfield_of(f->fields[i]);
			continue;
		}
		for (const char *const *a = query_client_filter_fields; *a; a++)
			if (cf->n < sizeof cf->fields / sizeof cf->fields[0])
				cf->fields[cf->n++] = cfield_of(*a);
	}
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

/* Does one field of c match the pattern? */
static bool field_match(struct server *srv, struct client *c, const struct cfield *f,
			const char *pattern)
{
	const char *str;
	const json_t *list;
	long long n;
	char num[32];

	if (f->kind != CFK_FIELD)
		return groups_client_match(srv->groups, c, pattern, f->kind == CFK_UGROUPS);
	if (f->id < 0 || !rport_client_field_get(c, f->id, &str, &list, &n))
		return false;
	if (rport_client_field_numeric(f->id)) {
		snprintf(num, sizeof num, "%lld", n);
		str = num;
	}
	return str ? util_glob_match(pattern, str) : list && list_match(list, pattern);
}

static bool filter_match(struct server *srv, struct client *c, const struct cfilter *cf)
{
	const struct client_filter *f = cf->f;

	for (size_t k = 0; k < f->nvalues; k++) {
		bool hit = false;

		for (size_t i = 0; i < cf->n && !hit; i++)
			hit = field_match(srv, c, &cf->fields[i], f->values[k]);
		if (f->all && !hit)
			return false;
		if (!f->all && hit)
			return true;
	}
	return f->all;
}

static void centry_fill(struct centry *e, struct client *c, const struct csort *cs)
{
	e->c = c;
	for (size_t k = 0; k < cs->n; k++) {
		const json_t *list;

		e->key[k] = "";
		e->num[k] = 0;
		if (cs->id[k] >= 0) {
			rport_client_field_get(c, cs->id[k], &e->key[k], &list, &e->num[k]);
			if (!e->key[k])
				e->key[k] = "";
		}
	}
}

static int centry_cmp_s(const struct centry *a, const struct centry *b, const struct csort *cs)
{
	for (size_t i = 0; i < cs->n; i++) {
		int r;

		if (cs->numeric[i]) {
			r = a->num[i] < b->num[i] ? -1 : a->num[i] > b->num[i];
		} else {
			r = strcasecmp(a->key[i], b->key[i]);
			if (!r)
				r = strcmp(a->key[i], b->key[i]);
		}
		if (r)
			return cs->desc[i] ? -r : r;
	}
	return strcmp(registry_client_id(a->c), registry_client_id(b->c));
}

static const struct csort *sort_cs; /* qsort's context (one loop thread) */

static int centry_cmp(const void *a, const void *b)
{
	return centry_cmp_s(a, b, sort_cs);
}

/* A max-heap of the k first entries in sort order: its root is the last
 * of them, replaced when a client that sorts earlier comes. */
struct topk {
	struct centry *v;
	size_t n, k;
};

static void topk_sift_down(struct topk *t, size_t i, const struct csort *cs)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct centry tmp;

		if (l < t->n && centry_cmp_s(&t->v[l], &t->v[m], cs) > 0)
			m = l;
		if (r < t->n && centry_cmp_s(&t->v[r], &t->v[m], cs) > 0)
			m = r;
		if (m == i)
			return;
		tmp = t->v[i];
		t->v[i] = t->v[m];
		t->v[m] = tmp;
		i = m;
	}
}

static void topk_add(struct topk *t, struct client *c, const struct csort *cs)
{
	struct centry e;

	centry_fill(&e, c, cs);
	if (t->n < t->k) {
		size_t i = t->n++;

		t->v[i] = e;
		while (i) {
			size_t p = (i - 1) / 2;
			struct centry tmp;

			if (centry_cmp_s(&t->v[p], &t->v[i], cs) >= 0)
				break;
			tmp = t->v[p];
			t->v[p] = t->v[i];
			t->v[i] = tmp;
			i = p;
		}
		return;
	}
	if (t->k && centry_cmp_s(&e, &t->v[0], cs) < 0) {
		t->v[0] = e;
		topk_sift_down(t, 0, cs);
	}
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

/* Sorted orders of the whole fleet, one per sort parameter lately asked
 * for, valid while the registry's generation is the one they were built
 * at. A stale or new order is built only when the same sort comes twice
 * at one generation: during a connect storm (the generation moves all
 * the time) requests use the bounded heap instead of sorting the fleet
 * each time. */
#define SORT_CACHE_N 4
#define SORT_KEY_LEN 256

struct sort_cache {
	char key[SORT_KEY_LEN];
	uint64_t gen;              /* of order (valid when order != NULL) */
	uint64_t seen_gen;         /* last request's generation */
	bool seen;
	struct client **order;
	size_t n;
	uint64_t used;
};

static struct sort_cache sort_caches[SORT_CACHE_N];
static uint64_t sort_cache_clock;

static void sort_key_of(const struct client_query *q, char *key, size_t len)
{
	size_t at = 0;

	key[0] = '\0';
	for (size_t k = 0; k < q->nsort && at < len; k++) {
		int w = snprintf(key + at, len - at, "%s%s,", q->sort[k].desc ? "-" : "",
				 q->sort[k].column);

		if (w < 0)
			break;
		at += (size_t)w;
	}
}

/* The fleet in this sort's order, or NULL (then the caller uses the heap). */
static struct client *const *sorted_order(struct registry *reg, const struct client_query *q,
					  const struct csort *cs, size_t *n)
{
	uint64_t gen = registry_generation(reg);
	struct sort_cache *e = NULL, *lru = &sort_caches[0];
	char key[SORT_KEY_LEN];
	struct client *const *all;
	struct centry *tmp;
	size_t total;

	sort_key_of(q, key, sizeof key);
	for (size_t i = 0; i < SORT_CACHE_N; i++) {
		if (sort_caches[i].seen && !strcmp(sort_caches[i].key, key))
			e = &sort_caches[i];
		if (sort_caches[i].used < lru->used)
			lru = &sort_caches[i];
	}
	if (!e) {
		e = lru;
		free(e->order);
		memset(e, 0, sizeof *e);
		util_strlcpy(e->key, key, sizeof e->key);
	}
	e->used = ++sort_cache_clock;
	if (e->order && e->gen == gen) {
		*n = e->n;
		return e->order;
	}
	if (!e->seen || e->seen_gen != gen) {
		e->seen = true;
		e->seen_gen = gen;
		return NULL;
	}
	all = registry_sorted(reg, &total);
	tmp = malloc((total + 1) * sizeof *tmp);
	if (!tmp)
		return NULL;
	for (size_t i = 0; i < total; i++)
		centry_fill(&tmp[i], all[i], cs);
	sort_cs = cs;
	qsort(tmp, total, sizeof *tmp, centry_cmp);
	sort_cs = NULL;
	if (e->n < total || !e->order) {
		struct client **v = realloc(e->order, (total + 1) * sizeof *v);

		if (!v) {
			free(tmp);
			return NULL;
		}
		e->order = v;
	}
	for (size_t i = 0; i < total; i++)
		e->order[i] = tmp[i].c;
	free(tmp);
	e->n = total;
	e->gen = gen;
	*n = e->n;
	return e->order;
}

/* The clients a filtered list matched, in the list's order, per filter
 * and sort lately asked for by an administrator (for other users the
 * visible clients depend on their user groups). Valid while neither the
 * registry's nor the groups' generation has moved: paging through a
 * filtered fleet, or asking the same list again, is then a slice. */
#define MATCH_CACHE_N 8
#define MATCH_KEY_LEN 1024

struct match_cache {
	char key[MATCH_KEY_LEN];
	uint64_t gen, ggen;
	struct client **v;
	size_t n;
	uint64_t used;
};

static struct match_cache match_caches[MATCH_CACHE_N];

/* The filters and sort as one string; false when it does not fit. */
static bool match_key_of(const struct client_query *q, char *key, size_t len)
{
	size_t at = 0;

	for (size_t f = 0; f < q->nfilters; f++) {
		const struct client_filter *cf = &q->filters[f];
		int w = snprintf(key + at, len - at, "%s[", cf->all ? "&" : "|");

		if (w < 0 || (size_t)w >= len - at)
			return false;
		at += (size_t)w;
		for (size_t i = 0; i < cf->nfields; i++) {
			w = snprintf(key + at, len - at, "%s|", cf->fields[i]);
			if (w < 0 || (size_t)w >= len - at)
				return false;
			at += (size_t)w;
		}
		for (size_t i = 0; i < cf->nvalues; i++) {
			/* A value's length first: no separator inside a value confuses two keys. */
			w = snprintf(key + at, len - at, "]%zu:%s", strlen(cf->values[i]),
				     cf->values[i]);
			if (w < 0 || (size_t)w >= len - at)
				return false;
			at += (size_t)w;
		}
	}
	sort_key_of(q, key + at, len - at);
	return strlen(key + at) + 1 < len - at;
}

static struct match_cache *match_find(const char *key, uint64_t gen, uint64_t ggen)
{
	for (size_t i = 0; i < MATCH_CACHE_N; i++) {
		struct match_cache *m = &match_caches[i];

		if (m->v && m->gen == gen && m->ggen == ggen && !strcmp(m->key, key)) {
			m->used = ++sort_cache_clock;
			return m;
		}
	}
	return NULL;
}

/* Keeps v (n clients); takes ownership of v in every case. */
static void match_store(const char *key, uint64_t gen, uint64_t ggen, struct client **v,
			size_t n)
{
	struct match_cache *m = &match_caches[0];

	for (size_t i = 0; i < MATCH_CACHE_N; i++) {
		if (!strcmp(match_caches[i].key, key)) {
			m = &match_caches[i];
			break;
		}
		if (match_caches[i].used < m->used)
			m = &match_caches[i];
	}
	free(m->v);
	util_strlcpy(m->key, key, sizeof m->key);
	m->gen = gen;
	m->ggen = ggen;
	m->v = v;
	m->n = n;
	m->used = ++sort_cache_clock;
}

void api_clients_cache_free(void)
{
	for (size_t i = 0; i < SORT_CACHE_N; i++) {
		free(sort_caches[i].order);
		memset(&sort_caches[i], 0, sizeof sort_caches[i]);
	}
	for (size_t i = 0; i < MATCH_CACHE_N; i++) {
		free(match_caches[i].v);
		memset(&match_caches[i], 0, sizeof match_caches[i]);
	}
}

static void page_add(struct api_call *call, const struct client_query *q, json_t *page,
		     struct client *c)
{
	json_t *j = api_client_json(call->srv, c);

	api_fields_keep(j, q->fields, q->nfields);
	json_array_append_new(page, j);
}

/* GET /clients: filter, count and page on the registry, render one page. */
void api_clients_list(struct api_call *call)
{
	struct server *srv = call->srv;
	struct api_query aq;
	struct client_query q;
	struct cfilter *cf = NULL;
	struct csort cs = { .n = 0 };
	struct topk t = { NULL, 0, 0 };
	struct client *const *all;
	struct client **match = NULL;
	struct match_cache *hit;
	size_t n, kept = 0, end;
	uint64_t gen = registry_generation(srv->registry), ggen = groups_generation(srv->groups);
	char err[300], mkey[MATCH_KEY_LEN];
	bool cacheable;
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
	end = (size_t)q.offset + (size_t)q.limit;
	cacheable = call->admin && q.nfilters && match_key_of(&q, mkey, sizeof mkey);
	if (cacheable && (hit = match_find(mkey, gen, ggen))) {
		page = json_array();
		for (size_t i = (size_t)q.offset; i < hit->n && i < end; i++)
			page_add(call, &q, page, hit->v[i]);
		kept = hit->n;
		goto reply;
	}
	all = registry_sorted(srv->registry, &n);
	if (q.nfilters && !(cf = calloc(q.nfilters, sizeof *cf)))
		goto nomem;
	for (size_t f = 0; f < q.nfilters; f++)
		cfilter_init(&cf[f], &q.filters[f]);
	for (size_t k = 0; k < q.nsort; k++) {
		cs.id[k] = rport_client_field_id(q.sort[k].column);
		cs.desc[k] = q.sort[k].desc;
		cs.numeric[k] = rport_client_field_numeric(cs.id[k]);
	}
	cs.n = q.nsort;
	if (cs.n) {
		struct client *const *order = sorted_order(srv->registry, &q, &cs, &n);

		if (order) {
			/* Already in this order: paged like the id order. */
			all = order;
			cs.n = 0;
		} else {
			all = registry_sorted(srv->registry, &n);
		}
	}
	if (cs.n) {
		t.k = end < n ? end : n;
		if (t.k && !(t.v = malloc(t.k * sizeof *t.v)))
			goto nomem;
	}
	/* The matches are kept for the cache when they come in the list's order. */
	if (cacheable && !cs.n)
		match = malloc((n + 1) * sizeof *match);
	page = json_array();
	if (!q.nfilters && !cs.n && call->admin) {
		/* The whole fleet in id (or a cached sort's) order: the page is a slice. */
		kept = n;
		for (size_t i = (size_t)q.offset; i < n && i < end; i++)
			page_add(call, &q, page, all[i]);
		goto reply;
	}
	for (size_t i = 0; i < n; i++) {
		struct client *c = all[i];
		bool ok = api_client_allowed(call, c);

		for (size_t f = 0; f < q.nfilters && ok; f++)
			ok = filter_match(srv, c, &cf[f]);
		if (!ok)
			continue;
		if (cs.n)
			topk_add(&t, c, &cs);
		else if (kept >= (size_t)q.offset && kept < end)
			page_add(call, &q, page, c);
		if (match)
			match[kept] = c;
		kept++;
	}
	if (match) {
		match_store(mkey, gen, ggen, match, kept);
		match = NULL;
	}
	if (cs.n) {
		sort_cs = &cs;
		qsort(t.v, t.n, sizeof *t.v, centry_cmp);
		sort_cs = NULL;
		for (size_t i = (size_t)q.offset; i < t.n; i++)
			page_add(call, &q, page, t.v[i].c);
	}
reply:
	query_clients_free(&q);
	free(cf);
	free(t.v);
	api_reply_list(call, page, (int64_t)kept);
	return;
nomem:
	query_clients_free(&q);
	free(cf);
	api_reply_error(call, 500, "Internal error.", "out of memory");
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
