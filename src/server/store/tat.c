/* tat: the TAT dialect's tables (store_tat.h). Queries are built from
 * fixed SQL and bound values only. */
#include "store/store_tat.h"

#include <stdio.h>
#include <string.h>

#include "store/store_priv.h"

int store_tat_id_put(struct store *st, const struct tat_id_row *r)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(st->db,
			       "INSERT INTO tat_ids (id, kind, core_id, parent, client_id, created_by,"
			       " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
			       -1, &s, NULL) != SQLITE_OK)
		return TE_IO;
	sqlite3_bind_text(s, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, r->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, r->core_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, r->parent ? r->parent : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, r->client_id ? r->client_id : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, r->created_by, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 7, r->created_at);
	rc = store_step_done(st, s, "put tat id");
	sqlite3_finalize(s);
	return rc;
}

/* Appends " AND col IN (?, ...)" for a non-empty list. */
static void where_in(struct buf *b, const char *col, size_t n)
{
	if (n == 0)
		return;
	buf_appendf(b, " AND %s IN (", col);
	for (size_t i = 0; i < n; i++)
		buf_appendf(b, "%s?", i ? ", " : "");
	buf_appendf(b, ")");
}

static int bind_list(sqlite3_stmt *s, int at, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sqlite3_bind_text(s, at++, v[i], -1, SQLITE_STATIC);
	return at;
}

static int tat_query_prepare(struct store *st, const struct tat_id_query *q, bool count,
			     sqlite3_stmt **out)
{
	struct buf b;
	int at = 1, rc;

	buf_init(&b, 16384);
	buf_appendf(&b, count ? "SELECT COUNT(*)" :
				"SELECT id, kind, core_id, parent, client_id, created_by, created_at");
	buf_appendf(&b, " FROM tat_ids WHERE kind = ?");
	where_in(&b, "id", q->nids);
	where_in(&b, "parent", q->nparents);
	where_in(&b, "client_id", q->nclient_ids);
	where_in(&b, "core_id", q->ncore_ids);
	if (q->created_by)
		buf_appendf(&b, " AND created_by = ?");
	if (!count)
		buf_appendf(&b, " ORDER BY created_at DESC, id LIMIT ? OFFSET ?");
	rc = b.data && sqlite3_prepare_v2(st->db, b.data, -1, out, NULL) == SQLITE_OK ? 0 : TE_IO;
	buf_free(&b);
	if (rc)
		return rc;
	sqlite3_bind_text(*out, at++, q->kind, -1, SQLITE_STATIC);
	at = bind_list(*out, at, q->ids, q->nids);
	at = bind_list(*out, at, q->parents, q->nparents);
	at = bind_list(*out, at, q->client_ids, q->nclient_ids);
	at = bind_list(*out, at, q->core_ids, q->ncore_ids);
	if (q->created_by)
		sqlite3_bind_text(*out, at++, q->created_by, -1, SQLITE_STATIC);
	if (!count) {
		sqlite3_bind_int64(*out, at++, q->limit);
		sqlite3_bind_int64(*out, at, q->offset);
	}
	return 0;
}

int store_tat_id_query(struct store *st, const struct tat_id_query *q, json_t **out,
		       int64_t *total)
{
	sqlite3_stmt *s = NULL;
	json_t *rows;
	int rc;

	if (q->nids > STORE_TAT_MAX_IN || q->nparents > STORE_TAT_MAX_IN ||
	    q->nclient_ids > STORE_TAT_MAX_IN || q->ncore_ids > STORE_TAT_MAX_IN)
		return TE_INVAL;
	if ((rc = tat_query_prepare(st, q, true, &s)))
		return rc;
	*total = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_finalize(s);
	if ((rc = tat_query_prepare(st, q, false, &s)))
		return rc;
	rows = json_array();
	while (rows && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		json_t *r = json_object();

		json_object_set_new(r, "id", store_col_text(s, 0));
		json_object_set_new(r, "kind", store_col_text(s, 1));
		json_object_set_new(r, "core_id", store_col_text(s, 2));
		json_object_set_new(r, "parent", store_col_text(s, 3));
		json_object_set_new(r, "client_id", store_col_text(s, 4));
		json_object_set_new(r, "created_by", store_col_text(s, 5));
		json_object_set_new(r, "created_at", json_integer(sqlite3_column_int64(s, 6)));
		json_array_append_new(rows, r);
	}
	sqlite3_finalize(s);
	if (!rows)
		return TE_NOMEM;
	if (rc != SQLITE_DONE) {
		json_decref(rows);
		return TE_IO;
	}
	*out = rows;
	return 0;
}

void store_read_tat_ids(struct store *st, const struct tat_id_query *q, store_read_cb cb,
			void *ud)
{
	if (store_read_later(
		st,
		&(struct rd_args){.kind = RD_TAT_IDS, .q = q, .cb = (void (*)(void))cb, .ud = ud}))
		return;
	json_t *rows = NULL;
	int64_t total = 0;
	int rc = store_tat_id_query(st, q, &rows, &total);

	if (rc) {
		cb(ud, rc, NULL, 0);
		return;
	}
	cb(ud, 0, rows, total);
}

int store_tat_key_put(struct store *st, const char *secret_id, const char *user,
		      const char *sealed, int64_t created_at)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(st->db,
			       "INSERT INTO tat_keys (secret_id, username, sealed, created_at)"
			       " VALUES (?, ?, ?, ?)", -1, &s, NULL) != SQLITE_OK)
		return TE_IO;
	sqlite3_bind_text(s, 1, secret_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, sealed, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, created_at);
	rc = store_step_done(st, s, "put tat key");
	sqlite3_finalize(s);
	return rc;
}

int store_tat_key_delete(struct store *st, const char *secret_id, const char *user)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(st->db,
			       user ? "DELETE FROM tat_keys WHERE secret_id = ? AND username = ?" :
				      "DELETE FROM tat_keys WHERE secret_id = ?",
			       -1, &s, NULL) != SQLITE_OK)
		return TE_IO;
	sqlite3_bind_text(s, 1, secret_id, -1, SQLITE_STATIC);
	if (user)
		sqlite3_bind_text(s, 2, user, -1, SQLITE_STATIC);
	rc = store_step_done(st, s, "delete tat key");
	if (!rc && sqlite3_changes(st->db) == 0)
		rc = TE_NOTFOUND;
	sqlite3_finalize(s);
	return rc;
}

void store_read_tat_key(struct store *st, const char *secret_id, store_read_cb cb, void *ud)
{
	if (store_read_later(
		st, &(struct rd_args){
			.kind = RD_TAT_KEY, .s = {secret_id}, .cb = (void (*)(void))cb, .ud = ud}))
		return;
	sqlite3_stmt *s = NULL;
	json_t *rec = NULL;
	int rc = TE_IO;

	if (sqlite3_prepare_v2(st->db,
			       "SELECT secret_id, username, sealed, created_at FROM tat_keys"
			       " WHERE secret_id = ?", -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_text(s, 1, secret_id, -1, SQLITE_STATIC);
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			rec = json_object();
			json_object_set_new(rec, "secret_id", store_col_text(s, 0));
			json_object_set_new(rec, "user", store_col_text(s, 1));
			json_object_set_new(rec, "sealed", store_col_text(s, 2));
			json_object_set_new(rec, "created_at", json_integer(sqlite3_column_int64(s, 3)));
			rc = rec ? 0 : TE_NOMEM;
		} else {
			rc = rc == SQLITE_DONE ? TE_NOTFOUND : TE_IO;
		}
	}
	sqlite3_finalize(s);
	if (rc) {
		json_decref(rec);
		cb(ud, rc, NULL, 0);
		return;
	}
	cb(ud, 0, rec, 1);
}

void store_read_tat_keys_of(struct store *st, const char *user, store_read_cb cb, void *ud)
{
	if (store_read_later(
		st, &(struct rd_args){
			.kind = RD_TAT_KEYS_OF, .s = {user}, .cb = (void (*)(void))cb, .ud = ud}))
		return;
	sqlite3_stmt *s = NULL;
	json_t *list = json_array();
	int rc = TE_IO;

	if (list && sqlite3_prepare_v2(st->db,
				       "SELECT secret_id, created_at FROM tat_keys WHERE username = ?"
				       " ORDER BY created_at, secret_id", -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
		while ((rc = sqlite3_step(s)) == SQLITE_ROW)
			json_array_append_new(list, json_pack("{s:o, s:I}", "secret_id",
							      store_col_text(s, 0), "created_at",
							      (json_int_t)sqlite3_column_int64(s, 1)));
		rc = rc == SQLITE_DONE ? 0 : TE_IO;
	}
	sqlite3_finalize(s);
	if (rc || !list) {
		json_decref(list);
		cb(ud, list ? rc : TE_NOMEM, NULL, 0);
		return;
	}
	cb(ud, 0, list, (int64_t)json_array_size(list));
}

int store_tat_id_delete(struct store *st, const char *id)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(st->db, "DELETE FROM tat_ids WHERE id = ?", -1, &s, NULL) !=
	    SQLITE_OK)
		return TE_IO;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	rc = store_step_done(st, s, "delete tat id");
	sqlite3_finalize(s);
	return rc;
}
