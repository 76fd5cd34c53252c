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
	if (store_read_later(
		st, &(struct rd_args){
			.kind = RD_LIBRARY, .s = {kind, id}, .cb = (void (*)(void))cb, .ud = ud}))
		return;
	json_t *rec = NULL;
	int rc = store_library_get(st, kind, id, &rec);

	if (rc)
		cb(ud, rc, NULL, 0);
	else
		cb(ud, 0, rec, 1);
}

void store_read_library_list(struct store *st, const char *kind, store_read_cb cb, void *ud)
{
	if (store_read_later(
		st, &(struct rd_args){
			.kind = RD_LIBRARY_LIST, .s = {kind}, .cb = (void (*)(void))cb, .ud = ud}))
		return;
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
	int rc;

	if (!s)
		return TE_IO;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	rc = exec_stmt(st, s, "delete schedule", true);
	if (rc)
		return rc;
	/* Its run records go with it. */
	s = prepare(st, "DELETE FROM schedule_runs WHERE schedule_id = ?");
	if (!s)
		return TE_IO;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	return exec_stmt(st, s, "delete schedule runs", false);
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

/* ---- run records ---------------------------------------------------- */

int store_schedule_run_add(struct store *st, const struct schedule_run_row *r, int64_t keep)
{
	sqlite3_stmt *s = prepare(st, "INSERT INTO schedule_runs (schedule_id, at, multi_job_id,"
				      " result, reason, client_count, success_count, failed_count)"
				      " VALUES (?,?,?,?,?,?,?,?)");
	int rc;

	if (!s)
		return TE_IO;
	sqlite3_bind_text(s, 1, r->schedule_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, r->at);
	if (r->multi_job_id && *r->multi_job_id)
		sqlite3_bind_text(s, 3, r->multi_job_id, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 3);
	sqlite3_bind_text(s, 4, r->result, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, r->reason ? r->reason : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, r->client_count);
	sqlite3_bind_int64(s, 7, r->success_count);
	sqlite3_bind_int64(s, 8, r->failed_count);
	rc = exec_stmt(st, s, "add schedule run", false);
	if (rc || keep <= 0)
		return rc;
	/* The newest keep rows of the schedule stay. */
	s = prepare(st, "DELETE FROM schedule_runs WHERE schedule_id = ?1 AND seq <= (SELECT seq"
			" FROM schedule_runs WHERE schedule_id = ?1 ORDER BY seq DESC LIMIT 1"
			" OFFSET ?2)");
	if (!s)
		return TE_IO;
	sqlite3_bind_text(s, 1, r->schedule_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, keep);
	return exec_stmt(st, s, "bound schedule runs", false);
}

int store_schedule_run_finish(struct store *st, const char *multi_job_id, const char *result,
			      int64_t success_count, int64_t failed_count)
{
	sqlite3_stmt *s = prepare(st, "UPDATE schedule_runs SET result = ?, success_count = ?,"
				      " failed_count = ? WHERE multi_job_id = ?");

	if (!s)
		return TE_IO;
	sqlite3_bind_text(s, 1, result, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, success_count);
	sqlite3_bind_int64(s, 3, failed_count);
	sqlite3_bind_text(s, 4, multi_job_id, -1, SQLITE_STATIC);
	return exec_stmt(st, s, "finish schedule run", false);
}

/* " IN (?,?,...)" for n ids into b (n >= 1). */
static int in_list(struct buf *b, size_t n)
{
	int rc = buf_append(b, " IN (", 5);

	for (size_t i = 0; !rc && i < n; i++)
		rc = buf_append(b, i ? ",?" : "?", i ? 2 : 1);
	return rc ? rc : buf_append(b, ")", 1);
}

static sqlite3_stmt *runs_stmt(struct store *st, bool count, size_t n)
{
	struct buf b;
	sqlite3_stmt *s = NULL;

	buf_init(&b, 65536);
	if (!buf_appendf(&b, "%s FROM schedule_runs WHERE schedule_id",
			 count ? "SELECT COUNT(*)" :
				 "SELECT schedule_id, at, multi_job_id, result, reason, client_count,"
				 " success_count, failed_count") &&
	    !in_list(&b, n) && (count || !buf_appendf(&b, " ORDER BY seq DESC LIMIT ? OFFSET ?")) &&
	    !buf_append(&b, "", 1))
		s = prepare(st, b.data);
	buf_free(&b);
	return s;
}

int store_schedule_runs_query(struct store *st, const char *const *ids, size_t n,
			      int64_t limit, int64_t offset, json_t **out, int64_t *total)
{
	sqlite3_stmt *c, *s;
	json_t *arr;

	if (n == 0 || n > STORE_SCHEDULE_RUNS_MAX_IN) {
		*out = json_array();
		*total = 0;
		return *out ? 0 : TE_NOMEM;
	}
	c = runs_stmt(st, true, n);
	s = runs_stmt(st, false, n);
	arr = json_array();
	if (!c || !s || !arr) {
		sqlite3_finalize(c);
		sqlite3_finalize(s);
		json_decref(arr);
		return TE_IO;
	}
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_text(c, (int)i + 1, ids[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(s, (int)i + 1, ids[i], -1, SQLITE_STATIC);
	}
	sqlite3_bind_int64(s, (int)n + 1, limit);
	sqlite3_bind_int64(s, (int)n + 2, offset);
	*total = sqlite3_step(c) == SQLITE_ROW ? sqlite3_column_int64(c, 0) : 0;
	sqlite3_finalize(c);
	while (sqlite3_step(s) == SQLITE_ROW) {
		const unsigned char *mj = sqlite3_column_text(s, 2);

		json_array_append_new(
			arr, json_pack("{s:s, s:I, s:s?, s:s, s:s, s:I, s:I, s:I}", "schedule_id",
				       (const char *)sqlite3_column_text(s, 0), "at",
				       (json_int_t)sqlite3_column_int64(s, 1), "multi_job_id",
				       (const char *)mj, "result",
				       (const char *)sqlite3_column_text(s, 3), "reason",
				       (const char *)sqlite3_column_text(s, 4), "client_count",
				       (json_int_t)sqlite3_column_int64(s, 5), "success_count",
				       (json_int_t)sqlite3_column_int64(s, 6), "failed_count",
				       (json_int_t)sqlite3_column_int64(s, 7)));
	}
	sqlite3_finalize(s);
	*out = arr;
	return 0;
}

void store_read_schedule_runs(struct store *st, const char *const *ids, size_t n, int64_t limit,
			      int64_t offset, store_read_cb cb, void *ud)
{
	if (store_read_later(st, &(struct rd_args){.kind = RD_SCHEDULE_RUNS,
						   .ids = ids,
						   .nids = n,
						   .n = {limit, offset},
						   .cb = (void (*)(void))cb,
						   .ud = ud}))
		return;
	json_t *arr = NULL;
	int64_t total = 0;
	int rc = store_schedule_runs_query(st, ids, n, limit, offset, &arr, &total);

	if (rc)
		cb(ud, rc, NULL, 0);
	else
		cb(ud, 0, arr, total);
}
