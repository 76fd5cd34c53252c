/* records: the store's small tables: client records, keyed JSON records
 * (users, user groups, client credentials, client groups, tokens) and
 * the audit log. */
#include "store/store_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---- client records ------------------------------------------------- */

int store_client_put(struct store *st, const char *id, const json_t *client)
{
	sqlite3_stmt *s = store_stmt(st, S_CLIENT_PUT);
	char *data = json_dumps(client, JSON_COMPACT);
	int rc;

	if (!data)
		return TE_NOMEM;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, data, -1, SQLITE_STATIC);
	rc = store_step_done(st, s, "put client");
	sqlite3_reset(s);
	free(data);
	return rc;
}

int store_client_each(struct store *st, void (*fn)(void *ud, const char *id, json_t *client),
		      void *ud)
{
	sqlite3_stmt *s = store_stmt(st, S_CLIENT_ALL);

	while (sqlite3_step(s) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(s, 0);
		const char *data = (const char *)sqlite3_column_text(s, 1);
		json_t *c = data ? json_loads(data, 0, NULL) : NULL;

		if (c && id)
			fn(ud, id, c);
		json_decref(c);
	}
	sqlite3_reset(s);
	return 0;
}

int store_client_delete(struct store *st, const char *id)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(st->db, "DELETE FROM clients WHERE id = ?", -1, &s, NULL) !=
	    SQLITE_OK)
		return TE_IO;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	rc = store_step_done(st, s, "delete client");
	sqlite3_finalize(s);
	return rc;
}

/* ---- keyed JSON records --------------------------------------------- */

static const char *kv_table(const char *t)
{
	/* Table names are never taken from a request. */
	static const char *const ok[] = { "users", "user_groups", "client_auth", "client_groups",
					  "tokens", "enroll_codes" };

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (!strcmp(ok[i], t))
			return ok[i];
	return NULL;
}

static int kv_put(struct store *st, const char *sql, const char *id, const json_t *rec)
{
	sqlite3_stmt *s = NULL;
	char *text = json_dumps(rec, JSON_COMPACT);
	int rc;

	if (!text || sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		free(text);
		return TE_IO;
	}
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, text, -1, SQLITE_STATIC);
	rc = store_step_done(st, s, "put");
	sqlite3_finalize(s);
	free(text);
	return rc;
}

int store_kv_put(struct store *st, const char *table, const char *id, const json_t *rec)
{
	char sql[200];
	const char *t = kv_table(table);

	if (!t)
		return TE_INVAL;
	snprintf(sql, sizeof sql, "INSERT INTO %s (id, data) VALUES (?, ?)"
				  " ON CONFLICT(id) DO UPDATE SET data = excluded.data", t);
	return kv_put(st, sql, id, rec);
}

int store_kv_delete(struct store *st, const char *table, const char *id)
{
	sqlite3_stmt *s = NULL;
	char sql[100];
	const char *t = kv_table(table);
	int rc;

	if (!t)
		return TE_INVAL;
	snprintf(sql, sizeof sql, "DELETE FROM %s WHERE id = ?", t);
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return TE_IO;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	rc = store_step_done(st, s, "kv delete");
	if (!rc && sqlite3_changes(st->db) == 0)
		rc = TE_NOTFOUND;
	sqlite3_finalize(s);
	return rc;
}

int store_kv_each(struct store *st, const char *table,
		  void (*fn)(void *ud, const char *id, json_t *rec), void *ud)
{
	sqlite3_stmt *s = NULL;
	char sql[100];
	const char *t = kv_table(table);

	if (!t)
		return TE_INVAL;
	snprintf(sql, sizeof sql, "SELECT id, data FROM %s ORDER BY id", t);
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return TE_IO;
	while (sqlite3_step(s) == SQLITE_ROW) {
		json_t *r = json_loads((const char *)sqlite3_column_text(s, 1), 0, NULL);

		if (r)
			fn(ud, (const char *)sqlite3_column_text(s, 0), r);
		json_decref(r);
	}
	sqlite3_finalize(s);
	return 0;
}

int store_cred_put(struct store *st, const char *id, const json_t *rec)
{
	return store_kv_put(st, "client_auth", id, rec);
}

int store_cred_delete(struct store *st, const char *id)
{
	return store_kv_delete(st, "client_auth", id);
}

int store_cred_each(struct store *st, void (*fn)(void *ud, const char *id, json_t *rec),
		    void *ud)
{
	return store_kv_each(st, "client_auth", fn, ud);
}

int store_group_put(struct store *st, const char *id, const json_t *group)
{
	return store_kv_put(st, "client_groups", id, group);
}

int store_group_delete(struct store *st, const char *id)
{
	return store_kv_delete(st, "client_groups", id);
}

int store_group_each(struct store *st, void (*fn)(void *ud, const char *id, json_t *group),
		     void *ud)
{
	return store_kv_each(st, "client_groups", fn, ud);
}

int store_token_put(struct store *st, const char *hash_hex, const json_t *rec)
{
	return store_kv_put(st, "tokens", hash_hex, rec);
}

int store_token_delete(struct store *st, const char *hash_hex)
{
	return store_kv_delete(st, "tokens", hash_hex);
}

int store_token_each(struct store *st, void (*fn)(void *ud, const char *hash_hex, json_t *rec),
		     void *ud)
{
	return store_kv_each(st, "tokens", fn, ud);
}

/* ---- audit log ------------------------------------------------------ */

int store_audit_put(struct store *st, const struct store_audit_row *r)
{
	sqlite3_stmt *s = store_stmt(st, S_AUDIT_PUT);
	const char *const text[6] = { r->username, r->remote_ip, r->application, r->action,
				      r->affected_id, r->client_id };
	int rc;

	/* (one per submission: the texts are bound in place, not copied) */
	sqlite3_bind_int64(s, 1, r->timestamp);
	for (int i = 0; i < 6; i++)
		sqlite3_bind_text(s, 2 + i, text[i] ? text[i] : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 8, r->success);
	if (r->request)
		sqlite3_bind_text(s, 9, r->request, -1, SQLITE_STATIC);
	if (r->response)
		sqlite3_bind_text(s, 10, r->response, -1, SQLITE_STATIC);
	rc = store_step_done(st, s, "audit");
	/* (its bindings are cleared by the next store_stmt, before any step) */
	sqlite3_reset(s);
	return rc;
}

int store_audit_query(struct store *st, const struct audit_query *q, json_t **out,
		      int64_t *total)
{
	struct buf where, sql;
	sqlite3_stmt *s = NULL;
	int rc = TE_IO;

	buf_init(&where, 16384);
	buf_init(&sql, 16384);
	buf_appendf(&where, " WHERE 1");
	for (size_t i = 0; i < q->nfilters; i++)
		buf_appendf(&where, " AND %s LIKE ? ESCAPE '\\'", q->filters[i].field);
	if (q->since)
		buf_appendf(&where, " AND timestamp >= ?");
	if (q->until)
		buf_appendf(&where, " AND timestamp <= ?");
	for (int pass = 0; pass < 2; pass++) {
		int b = 1;

		buf_reset(&sql);
		if (pass == 0)
			buf_appendf(&sql, "SELECT count(*) FROM auditlog%s", where.data);
		else
			buf_appendf(&sql, "SELECT timestamp, username, remote_ip, application, action,"
					  " affected_id, client_id, success, request, response FROM auditlog%s"
					  " ORDER BY timestamp %s, id %s LIMIT ? OFFSET ?",
				    where.data, q->desc ? "DESC" : "ASC", q->desc ? "DESC" : "ASC");
		if (sqlite3_prepare_v2(st->db, sql.data, -1, &s, NULL) != SQLITE_OK)
			goto out;
		for (size_t i = 0; i < q->nfilters; i++) {
			char pat[512];

			store_like_pattern(q->filters[i].value, pat, sizeof pat);
			sqlite3_bind_text(s, b++, pat, -1, SQLITE_TRANSIENT);
		}
		if (q->since)
			sqlite3_bind_int64(s, b++, q->since);
		if (q->until)
			sqlite3_bind_int64(s, b++, q->until);
		if (pass == 0) {
			*total = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
		} else {
			json_t *arr = json_array();

			sqlite3_bind_int64(s, b++, q->limit);
			sqlite3_bind_int64(s, b++, q->offset);
			while (sqlite3_step(s) == SQLITE_ROW) {
				json_t *o = json_object();
				const char *req = (const char *)sqlite3_column_text(s, 8);

				json_object_set_new(o, "timestamp", store_col_time(s, 0));
				json_object_set_new(o, "username", store_col_text(s, 1));
				json_object_set_new(o, "remote_ip", store_col_text(s, 2));
				json_object_set_new(o, "application", store_col_text(s, 3));
				json_object_set_new(o, "action", store_col_text(s, 4));
				json_object_set_new(o, "affected_id", store_col_text(s, 5));
				json_object_set_new(o, "client_id", store_col_text(s, 6));
				json_object_set_new(o, "success", json_boolean(sqlite3_column_int(s, 7)));
				json_object_set_new(o, "request", req ? json_loads(req, 0, NULL) : json_null());
				req = (const char *)sqlite3_column_text(s, 9);
				json_object_set_new(o, "response",
						    req ? json_loads(req, JSON_DECODE_ANY, NULL) : json_null());
				json_array_append_new(arr, o);
			}
			*out = arr;
		}
		sqlite3_finalize(s);
		s = NULL;
	}
	rc = 0;
out:
	sqlite3_finalize(s);
	buf_free(&where);
	buf_free(&sql);
	return rc;
}
