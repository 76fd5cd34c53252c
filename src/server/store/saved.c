/* saved: the library of saved commands and scripts, and schedules. Each
 * row holds the core's JSON record (core/library.c, core/schedule.c) and
 * the columns a lookup needs; the store reads no field of the records. */
#include "store/store_priv.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static int exec_stmt(struct store *st, sqlite3_stmt *s, const char *what, bool must_change)
{
	int rc = store_step_done(st, s, what);

	if (!rc && must_change && sqlite3_changes(st->db) == 0)
		rc = TE_NOTFOUND;
	sqlite3_finalize(s);
	return rc;
}

static sqlite3_stmt *prepare(struct store *st, const char *sql)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		sqlite3_finalize(s);
		return NULL;
	}
	return s;
}

int store_library_put(struct store *st, const char *id, const char *kind, const char *name,
		      int64_t created_at, const json_t *rec)
{
	sqlite3_stmt *s = prepare(st, "INSERT INTO library (id, kind, name, created_at, data)"
				      " VALUES (?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET"
				      " name = excluded.name, data = excluded.data");
	char *text = json_dumps(rec, JSON_COMPACT);

	if (!s || !text) {
		sqlite3_finalize(s);
		free(text);
		return s ? TE_NOMEM : TE_IO;
	}
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, created_at);
	sqlite3_bind_text(s, 5, text, -1, SQLITE_TRANSIENT);
	free(text);
	/* A name another entry of the kind has: TE_EXISTS (the unique index). */
	return exec_stmt(st, s, "put library entry", false);
}

int store_library_delete(struct store *st, const char *kind, const char *id)
{
	sqlite3_stmt *s = prepare(st, "DELETE FROM library WHERE id = ? AND kind = ?");

	if (!s)
		return TE_IO;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
	return exec_stmt(st, s, "delete library entry", true);
}

/* The data column of each row of s into an array (or the first row only). */
static int collect(sqlite3_stmt *s, bool one, json_t **out)
{
	json_t *arr = json_array();
	int rc = 0;

	while (sqlite3_step(s) == SQLITE_ROW) {
		json_t *r = json_loads((const char *)sqlite3_column_text(s, 0), 0, NULL);

		if (!r)
			continue;
		if (one) {
			json_decref(arr);
			*out = r;
			sqlite3_finalize(s);
			return 0;
		}
		json_array_append_new(arr, r);
	}
	sqlite3_finalize(s);
	if (one) {
		json_decref(arr);
		return TE_NOTFOUND;
	}
	if (!arr)
		rc = TE_NOMEM;
	*out = arr;
	return rc;
}

int store_library_get(struct store *st, const char *kind, const char *id, json_t **out)
{
	sqlite3_stmt *s = prepare(st, "SELECT data FROM library WHERE id = ? AND kind = ?");

	if (!s)
		return TE_IO;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
	return collect(s, true, out);
}

int store_library_list(struct store *st, const char *kind, json_t **out)
{
	sqlite3_stmt *s = prepare(st, "SELECT data FROM library WHERE kind = ?"
				      " ORDER BY created_at, id");

	if (!s)
		return TE_IO;
	sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
	return collect(s, false, out);
}

void store_read_library(struct store *st, const char *kind, const char *id, store_read_cb cb,
			void *ud)
{
	json_t *rec = NULL;
	int rc = store_library_get(st, kind, id, &rec);

	if (rc)
		cb(ud, rc, NULL, 0);
	else
		cb(ud, 0, rec, 1);
}

void store_read_library_list(struct store *st, const char *kind, store_read_cb cb, void *ud)
{
	json_t *arr = NULL;
	int rc = store_library_list(st, kind, &arr);

	if (rc) {
		json_decref(arr);
		cb(ud, rc, NULL, 0);
	} else {
		cb(ud, 0, arr, (int64_t)json_array_size(arr));
	}
}

int store_schedule_put(struct store *st, const char *id, int64_t created_at, int64_t last_slot,
		       const json_t *rec)
{
	sqlite3_stmt *s = prepare(st, "INSERT INTO schedules (id, created_at, last_slot, data)"
				      " VALUES (?,?,?,?) ON CONFLICT(id) DO UPDATE SET"
				      " last_slot = excluded.last_slot, data = excluded.data");
	char *text = json_dumps(rec, JSON_COMPACT);

	if (!s || !text) {
		sqlite3_finalize(s);
		free(text);
		return s ? TE_NOMEM : TE_IO;
	}
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, created_at);
	sqlite3_bind_int64(s, 3, last_slot);
	sqlite3_bind_text(s, 4, text, -1, SQLITE_TRANSIENT);
	free(text);
	return exec_stmt(st, s, "put schedule", false);
}

int store_schedule_delete(struct store *st, const char *id)
{
	sqlite3_stmt *s = prepare(st, "DELETE FROM schedules WHERE id = ?");

	if (!s)
		return TE_IO;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	return exec_stmt(st, s, "delete schedule", true);
}

int store_schedule_each(struct store *st,
			void (*fn)(void *ud, const char *id, int64_t last_slot, json_t *rec),
			void *ud)
{
	sqlite3_stmt *s = prepare(st, "SELECT id, last_slot, data FROM schedules"
				      " ORDER BY created_at, id");

	if (!s)
		return TE_IO;
	while (sqlite3_step(s) == SQLITE_ROW) {
		json_t *r = json_loads((const char *)sqlite3_column_text(s, 2), 0, NULL);

		if (r)
			fn(ud, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int64(s, 1), r);
		json_decref(r);
	}
	sqlite3_finalize(s);
	return 0;
}
