/* library: saved commands and scripts (create, get, update, delete, list)
 * through the store's group commit and callback reads. */
#include "core/library.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/invoke.h"
#include "server.h"
#include "store/store.h"
#include "util.h"

const char *library_kind_name(enum library_kind k)
{
	return k == LIBRARY_SCRIPT ? "script" : "command";
}

static bool entry_ok(const struct library_entry *e)
{
	size_t i;
	json_t *v;

	if (!e->name || !*e->name || strlen(e->name) > LIBRARY_MAX_NAME)
		return false;
	if (!e->text || !*e->text || strlen(e->text) > INVOKE_MAX_COMMAND_LEN)
		return false;
	if (e->timeout_sec < 0 || e->timeout_sec > JOB_MAX_TIMEOUT_SEC)
		return false;
	if (e->cwd && strlen(e->cwd) > INVOKE_MAX_CWD_LEN)
		return false;
	if (e->interpreter && strlen(e->interpreter) > INVOKE_MAX_INTERPRETER_LEN)
		return false;
	if (e->tags && (!json_is_array(e->tags) || json_array_size(e->tags) > LIBRARY_MAX_TAGS))
		return false;
	json_array_foreach((json_t *)e->tags, i, v)
		if (!json_is_string(v))
			return false;
	return !e->metadata || json_is_object(e->metadata);
}

/* The fields an entry gives, set on rec. */
static void entry_set(json_t *rec, const struct library_entry *e, const char *user,
		      const char *now)
{
	json_object_set_new(rec, "name", json_string(e->name));
	json_object_set_new(rec, "text", json_string(e->text));
	json_object_set_new(rec, "tags", e->tags ? json_deep_copy(e->tags) : json_array());
	json_object_set_new(rec, "timeout_sec", json_integer(e->timeout_sec));
	json_object_set_new(rec, "interpreter", json_string(e->interpreter ? e->interpreter : ""));
	json_object_set_new(rec, "cwd", json_string(e->cwd ? e->cwd : ""));
	json_object_set_new(rec, "is_sudo", json_boolean(e->is_sudo));
	json_object_set_new(rec, "updated_by", json_string(user));
	json_object_set_new(rec, "updated_at", json_string(now));
	json_object_set_new(rec, "metadata", e->metadata ? json_deep_copy(e->metadata) :
							   json_object());
}

/* A write on its way: the record and who waits for it. */
struct lib_write {
	struct server *srv;
	enum library_kind kind;
	json_t *rec;
	char id[UUID_STR_LEN];
	int64_t created_at;
	bool remove;
	library_cb cb;
	void *ud;
	/* update: the entry's new fields, copied until the read is back */
	json_t *entry;
	char user[128];
};

static int write_apply(struct store *st, void *arg)
{
	struct lib_write *w = arg;

	if (w->remove)
		return store_library_delete(st, library_kind_name(w->kind), w->id);
	return store_library_put(st, w->id, library_kind_name(w->kind),
				 json_string_value(json_object_get(w->rec, "name")), w->created_at,
				 w->rec);
}

static void write_after(void *arg, int rc)
{
	struct lib_write *w = arg;

	if (rc || w->remove) {
		json_decref(w->rec);
		w->cb(w->ud, rc, NULL);
	} else {
		w->cb(w->ud, 0, w->rec);
	}
	json_decref(w->entry);
	free(w);
}

static struct lib_write *write_new(struct server *srv, enum library_kind kind, library_cb cb,
				   void *ud)
{
	struct lib_write *w = calloc(1, sizeof *w);

	if (!w) {
		cb(ud, TE_NOMEM, NULL);
		return NULL;
	}
	w->srv = srv;
	w->kind = kind;
	w->cb = cb;
	w->ud = ud;
	return w;
}

void library_create(struct server *srv, enum library_kind kind, const struct library_entry *e,
		    const char *user, library_cb cb, void *ud)
{
	struct lib_write *w;
	char now[TIME_STR_LEN];

	if (!entry_ok(e)) {
		cb(ud, TE_INVAL, NULL);
		return;
	}
	if (!(w = write_new(srv, kind, cb, ud)))
		return;
	w->created_at = util_now_ns();
	util_time_format(w->created_at, now);
	util_uuid4(w->id);
	w->rec = json_object();
	json_object_set_new(w->rec, "id", json_string(w->id));
	json_object_set_new(w->rec, "kind", json_string(library_kind_name(kind)));
	json_object_set_new(w->rec, "created_by", json_string(user));
	json_object_set_new(w->rec, "created_at", json_string(now));
	entry_set(w->rec, e, user, now);
	store_queue(srv->store, write_apply, write_after, w);
}

static void update_read(void *ud, int rc, json_t *rec, int64_t total)
{
	struct lib_write *w = ud;
	struct library_entry e;
	char now[TIME_STR_LEN];
	int64_t created = 0;

	(void)total;
	if (rc) {
		w->cb(w->ud, rc, NULL);
		json_decref(w->entry);
		free(w);
		return;
	}
	memset(&e, 0, sizeof e);
	e.name = json_string_value(json_object_get(w->entry, "name"));
	e.text = json_string_value(json_object_get(w->entry, "text"));
	e.tags = json_object_get(w->entry, "tags");
	e.timeout_sec = json_integer_value(json_object_get(w->entry, "timeout_sec"));
	e.interpreter = json_string_value(json_object_get(w->entry, "interpreter"));
	e.cwd = json_string_value(json_object_get(w->entry, "cwd"));
	e.is_sudo = json_is_true(json_object_get(w->entry, "is_sudo"));
	e.metadata = json_object_get(w->entry, "metadata");
	/* An update without metadata (rport's API has none) keeps the
	 * entry's: a dialect's fields outlive another dialect's edit. */
	if (!json_is_object(e.metadata))
		e.metadata = json_object_get(rec, "metadata");
	util_time_format(util_now_ns(), now);
	entry_set(rec, &e, w->user, now);
	if (util_time_parse(json_string_value(json_object_get(rec, "created_at")), &created))
		created = 0;
	w->created_at = created;
	w->rec = rec;
	store_queue(w->srv->store, write_apply, write_after, w);
}

void library_update(struct server *srv, enum library_kind kind, const char *id,
		    const struct library_entry *e, const char *user, library_cb cb, void *ud)
{
	struct lib_write *w;

	if (!entry_ok(e)) {
		cb(ud, TE_INVAL, NULL);
		return;
	}
	if (!(w = write_new(srv, kind, cb, ud)))
		return;
	util_strlcpy(w->id, id, sizeof w->id);
	util_strlcpy(w->user, user, sizeof w->user);
	w->entry = json_pack("{s:s, s:s, s:O?, s:I, s:s?, s:s?, s:b, s:O?}", "name", e->name,
			     "text", e->text, "tags", e->tags, "timeout_sec",
			     (json_int_t)e->timeout_sec, "interpreter", e->interpreter, "cwd",
			     e->cwd, "is_sudo", e->is_sudo, "metadata", e->metadata);
	if (!w->entry) {
		free(w);
		cb(ud, TE_NOMEM, NULL);
		return;
	}
	store_read_library(srv->store, library_kind_name(kind), id, update_read, w);
}

void library_delete(struct server *srv, enum library_kind kind, const char *id,
		    library_cb cb, void *ud)
{
	struct lib_write *w = write_new(srv, kind, cb, ud);

	if (!w)
		return;
	util_strlcpy(w->id, id, sizeof w->id);
	w->remove = true;
	store_queue(srv->store, write_apply, write_after, w);
}

struct lib_read {
	library_cb cb;
	library_list_cb list_cb;
	void *ud;
	struct saved_query q;
};

static void get_read(void *ud, int rc, json_t *rec, int64_t total)
{
	struct lib_read *r = ud;

	(void)total;
	r->cb(r->ud, rc, rec);
	free(r);
}

void library_get(struct server *srv, enum library_kind kind, const char *id, library_cb cb,
		 void *ud)
{
	struct lib_read *r = calloc(1, sizeof *r);

	if (!r) {
		cb(ud, TE_NOMEM, NULL);
		return;
	}
	r->cb = cb;
	r->ud = ud;
	/* An id longer than any id is no entry (and no long bound value). */
	if (strlen(id) >= UUID_STR_LEN) {
		get_read(r, TE_NOTFOUND, NULL, 0);
		return;
	}
	store_read_library(srv->store, library_kind_name(kind), id, get_read, r);
}

/* ---- lists ---------------------------------------------------------- */

/* A field's value as text for matching and sorting ("" when absent). */
static const char *text_of(json_t *v, char *buf, size_t len)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	if (json_is_boolean(v))
		return json_is_true(v) ? "true" : "false";
	return "";
}

static bool value_matches(json_t *v, const char *const *pats, size_t n)
{
	char buf[32];
	size_t i;
	json_t *e;

	if (json_is_array(v)) {
		json_array_foreach(v, i, e)
			if (value_matches(e, pats, n))
				return true;
		return false;
	}
	for (i = 0; i < n; i++)
		if (util_glob_match(pats[i], text_of(v, buf, sizeof buf)))
			return true;
	return false;
}

static const struct saved_query *sort_q; /* qsort's context (loop thread) */

struct slot {
	json_t *rec;
	size_t pos;      /* the stored order, for ties (qsort is not stable) */
};

static int rec_cmp(const void *pa, const void *pb)
{
	const struct slot *sa = pa, *sb = pb;

	for (size_t i = 0; i < sort_q->nsort; i++) {
		json_t *x = json_object_get(sa->rec, sort_q->sort[i].field);
		json_t *y = json_object_get(sb->rec, sort_q->sort[i].field);
		char bx[32], by[32];
		int r;

		if (json_is_integer(x) && json_is_integer(y))
			r = json_integer_value(x) < json_integer_value(y) ? -1 :
			    json_integer_value(x) > json_integer_value(y);
		else
			r = strcmp(text_of(x, bx, sizeof bx), text_of(y, by, sizeof by));
		if (r)
			return sort_q->sort[i].desc ? -r : r;
	}
	return (sa->pos > sb->pos) - (sa->pos < sb->pos);
}

json_t *saved_select(const json_t *arr, const struct saved_query *q, int64_t *total)
{
	size_t n = json_array_size(arr), kept = 0, i;
	struct slot *v = calloc(n + 1, sizeof *v);
	json_t *page, *m;

	if (!v)
		return NULL;
	json_array_foreach((json_t *)arr, i, m) {
		bool ok = json_is_object(m);

		for (size_t f = 0; f < q->nfilters && ok; f++)
			ok = value_matches(json_object_get(m, q->filters[f].field),
					   q->filters[f].values, q->filters[f].nvalues);
		if (ok) {
			v[kept].rec = m;
			v[kept].pos = kept;
			kept++;
		}
	}
	if (q->nsort) {
		sort_q = q;
		qsort(v, kept, sizeof *v, rec_cmp);
		sort_q = NULL;
	}
	page = json_array();
	for (i = (size_t)q->offset; page && i < kept && (int64_t)i < q->offset + q->limit; i++)
		json_array_append(page, v[i].rec);
	*total = (int64_t)kept;
	free(v);
	return page;
}

static void list_read(void *ud, int rc, json_t *arr, int64_t total)
{
	struct lib_read *r = ud;
	json_t *page;

	(void)total;
	if (rc) {
		r->list_cb(r->ud, rc, NULL, 0);
		free(r);
		return;
	}
	page = saved_select(arr, &r->q, &total);
	json_decref(arr);
	if (!page)
		r->list_cb(r->ud, TE_NOMEM, NULL, 0);
	else
		r->list_cb(r->ud, 0, page, total);
	free(r);
}

void library_list(struct server *srv, enum library_kind kind, const struct saved_query *q,
		  library_list_cb cb, void *ud)
{
	struct lib_read *r = calloc(1, sizeof *r);

	if (!r) {
		cb(ud, TE_NOMEM, NULL, 0);
		return;
	}
	r->list_cb = cb;
	r->ud = ud;
	r->q = *q;   /* the strings stay the caller's until cb */
	store_read_library_list(srv->store, library_kind_name(kind), list_read, r);
}
