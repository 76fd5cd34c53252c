/* jobs: the jobs table (a job per client: insert, start, finish, the
 * server's verdicts, rows in the model's terms, queries), multi-client
 * jobs and idempotency keys. */
#include "store/store_priv.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

/* ---- jobs ---------------------------------------------------------------- */

int store_job_insert(struct store *st, const struct job_spec *j)
{
	sqlite3_stmt *s = store_stmt(st, S_JOB_INSERT);

	sqlite3_bind_text(s, 1, j->jid, -1, SQLITE_STATIC);
	if (j->multi_job_id)
		sqlite3_bind_text(s, 2, j->multi_job_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, j->client_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, j->client_name ? j->client_name : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, j->command, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, j->cwd ? j->cwd : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 7, j->interpreter ? j->interpreter : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 8, j->is_sudo);
	sqlite3_bind_int(s, 9, j->is_script);
	sqlite3_bind_int64(s, 10, j->timeout_sec);
	sqlite3_bind_text(s, 11, j->created_by, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 12, j->created_at);
	sqlite3_bind_int64(s, 13, j->created_at);
	sqlite3_bind_int(s, 14, j->kill_on_timeout);
	sqlite3_bind_int64(s, 15, j->delivery_timeout_sec);
	if (j->run_as && *j->run_as)
		sqlite3_bind_text(s, 20, j->run_as, -1, SQLITE_STATIC);
	if (j->output_cap_bytes > 0)
		sqlite3_bind_int64(s, 21, j->output_cap_bytes);
	if (j->argv) {
		char *text = json_dumps(j->argv, JSON_COMPACT);

		if (!text)
			return TE_NOMEM;
		sqlite3_bind_text(s, 16, text, -1, SQLITE_TRANSIENT);
		free(text);
	}
	if (j->expires_at > 0)
		sqlite3_bind_int64(s, 17, j->expires_at);
	sqlite3_bind_int(s, 18, j->queued);
	if (j->schedule_id)
		sqlite3_bind_text(s, 19, j->schedule_id, -1, SQLITE_STATIC);
	return store_step_done(st, s, "insert job");
}

int store_job_started(struct store *st, const char *jid, const char *client_id, int64_t pid,
		      int64_t started_at)
{
	sqlite3_stmt *s = store_stmt(st, S_JOB_STARTED);
	int rc;

	sqlite3_bind_int64(s, 1, pid);
	sqlite3_bind_int64(s, 2, started_at);
	sqlite3_bind_text(s, 3, jid, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, client_id, -1, SQLITE_STATIC);
	rc = store_step_done(st, s, "job started");
	if (!rc && sqlite3_changes(st->db) == 0)
		return TE_NOTFOUND;
	return rc;
}

int store_job_finish(struct store *st, const char *jid, const char *client_id,
		     const struct job_result *r)
{
	sqlite3_stmt *s = store_stmt(st, S_JOB_FINISH);
	int rc;

	sqlite3_bind_text(s, 1, job_status_name(r->status), -1, SQLITE_STATIC);
	if (r->has_exit_code)
		sqlite3_bind_int64(s, 2, r->exit_code);
	sqlite3_bind_text(s, 3, r->error ? r->error : "", -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 4, r->stdout_data ? r->stdout_data : "", (int)r->stdout_len,
			  SQLITE_STATIC);
	sqlite3_bind_blob(s, 5, r->stderr_data ? r->stderr_data : "", (int)r->stderr_len,
			  SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, r->stdout_dropped);
	sqlite3_bind_int64(s, 7, r->stderr_dropped);
	sqlite3_bind_int64(s, 8, r->pid);
	sqlite3_bind_int64(s, 9, r->pid);
	sqlite3_bind_int64(s, 10, r->started_at);
	sqlite3_bind_int64(s, 11, r->started_at);
	sqlite3_bind_int64(s, 12, r->finished_at);
	sqlite3_bind_text(s, 13, jid, -1, SQLITE_STATIC);
	if (client_id)
		sqlite3_bind_text(s, 14, client_id, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 14);
	/* An agent's result is authoritative: it clears a server verdict. */
	if (client_id || !r->state)
		sqlite3_bind_null(s, 15);
	else
		sqlite3_bind_text(s, 15, r->state, -1, SQLITE_STATIC);
	rc = store_step_done(st, s, "finish job");
	if (rc)
		return rc;
	if (sqlite3_changes(st->db) == 0) {
		char cid[256]; /* client ids are at most 128 bytes */
		char status[16];

		/* Another client's job is not this agent's to finish. */
		if (store_job_status(st, jid, cid, sizeof cid, status) == TE_NOTFOUND ||
		    (client_id && strcmp(cid, client_id)))
			return TE_NOTFOUND;
		return TE_STATE;
	}
	return 0;
}

/* Column order of SELECT * on jobs (schema_v1, then what later versions
 * added at the end). */
enum {
	C_JID, C_MULTI, C_CLIENT, C_CLIENT_NAME, C_STATUS, C_COMMAND, C_CWD,
	C_INTERP, C_SUDO, C_SCRIPT, C_TIMEOUT, C_CREATED_BY, C_CREATED_AT,
	C_STARTED_AT, C_FINISHED_AT, C_PID, C_EXIT, C_ERROR, C_STDOUT, C_STDERR,
	C_STDOUT_DROPPED, C_STDERR_DROPPED, C_KILL_ON_TIMEOUT,
	/* schema_v2 */
	C_STATE, C_DELIVERY_TIMEOUT,
	/* schema_v3 */
	C_ARGV,
	/* schema_v5 */
	C_EXPIRES_AT, C_DISPATCHED_AT,
	/* schema_v6 */
	C_SCHEDULE,
	/* schema_v8 */
	C_RUN_AS,
	/* schema_v10 */
	C_OUTPUT_CAP
};

/* The text columns a row copies into its memory, and where each goes. */
static const struct { int col; size_t off; } text_cols[] = {
	{ C_JID, offsetof(struct job_row, jid) },
	{ C_CLIENT, offsetof(struct job_row, client_id) },
	{ C_CLIENT_NAME, offsetof(struct job_row, client_name) },
	{ C_COMMAND, offsetof(struct job_row, command) },
	{ C_CWD, offsetof(struct job_row, cwd) },
	{ C_INTERP, offsetof(struct job_row, interpreter) },
	{ C_CREATED_BY, offsetof(struct job_row, created_by) },
	{ C_ERROR, offsetof(struct job_row, error) },
	{ C_MULTI, offsetof(struct job_row, multi_job_id) },
	{ C_SCHEDULE, offsetof(struct job_row, schedule_id) },
	{ C_RUN_AS, offsetof(struct job_row, run_as) },
};
#define N_TEXT_COLS (sizeof text_cols / sizeof text_cols[0])

static int64_t col_int_or_0(sqlite3_stmt *s, int col)
{
	return sqlite3_column_type(s, col) == SQLITE_NULL ? 0 : sqlite3_column_int64(s, col);
}

/* Copies column col (text or blob, len bytes) to *at, NUL-terminated. */
static const char *copy_col(sqlite3_stmt *s, int col, bool blob, char **at)
{
	const void *v = blob ? sqlite3_column_blob(s, col) : sqlite3_column_text(s, col);
	size_t len = (size_t)sqlite3_column_bytes(s, col);
	char *p = *at;

	if (len)
		memcpy(p, v, len);
	p[len] = '\0';
	*at = p + len + 1;
	return p;
}

/* The row at s into *r. budget: NULL for one job; for a list, the output
 * bytes it may still carry (negative: no limit), lowered by what this row
 * carries; start is the budget the list began with. */
static int job_row_read(sqlite3_stmt *s, struct job_row *r, int64_t *budget, int64_t start)
{
	size_t out_len = (size_t)sqlite3_column_bytes(s, C_STDOUT);
	size_t err_len = (size_t)sqlite3_column_bytes(s, C_STDERR);
	int64_t both = (int64_t)out_len + (int64_t)err_len;
	/* The first row of a list always comes whole. */
	bool omit = budget && *budget >= 0 && *budget < start && both > *budget;
	size_t size = 0;
	char *at;

	memset(r, 0, sizeof *r);
	for (size_t i = 0; i < N_TEXT_COLS; i++)
		size += (size_t)sqlite3_column_bytes(s, text_cols[i].col) + 1;
	if (!omit)
		size += out_len + err_len;
	size += 2;
	r->mem_ = malloc(size);
	if (!r->mem_)
		return TE_NOMEM;
	at = r->mem_;
	for (size_t i = 0; i < N_TEXT_COLS; i++)
		*(const char **)((char *)r + text_cols[i].off) =
			copy_col(s, text_cols[i].col, false, &at);
	if (sqlite3_column_type(s, C_MULTI) == SQLITE_NULL)
		r->multi_job_id = NULL;
	if (sqlite3_column_type(s, C_SCHEDULE) == SQLITE_NULL)
		r->schedule_id = NULL;
	r->stdout_len = out_len;
	r->stderr_len = err_len;
	r->output_omitted = omit && both > 0;
	if (!omit) {
		r->stdout_data = copy_col(s, C_STDOUT, true, &at);
		r->stderr_data = copy_col(s, C_STDERR, true, &at);
		if (budget && *budget >= 0)
			*budget = both > *budget ? 0 : *budget - both;
	}
	if (sqlite3_column_type(s, C_ARGV) == SQLITE_TEXT) {
		r->argv = json_loads((const char *)sqlite3_column_text(s, C_ARGV), 0, NULL);
		if (!json_is_array(r->argv)) {
			json_decref(r->argv);
			r->argv = NULL;
		}
	}
	if (!job_status_parse((const char *)sqlite3_column_text(s, C_STATUS), &r->status))
		r->status = JOB_UNKNOWN;
	if (sqlite3_column_type(s, C_STATE) != SQLITE_NULL)
		util_strlcpy(r->state, (const char *)sqlite3_column_text(s, C_STATE),
			     sizeof r->state);
	r->is_sudo = sqlite3_column_int(s, C_SUDO) != 0;
	r->is_script = sqlite3_column_int(s, C_SCRIPT) != 0;
	r->kill_on_timeout = sqlite3_column_int(s, C_KILL_ON_TIMEOUT) != 0;
	r->timeout_sec = sqlite3_column_int64(s, C_TIMEOUT);
	r->delivery_timeout_sec = col_int_or_0(s, C_DELIVERY_TIMEOUT);
	r->output_cap_bytes = col_int_or_0(s, C_OUTPUT_CAP);
	r->created_at = col_int_or_0(s, C_CREATED_AT);
	r->started_at = col_int_or_0(s, C_STARTED_AT);
	r->finished_at = col_int_or_0(s, C_FINISHED_AT);
	r->has_pid = sqlite3_column_type(s, C_PID) != SQLITE_NULL;
	r->pid = col_int_or_0(s, C_PID);
	r->has_exit_code = sqlite3_column_type(s, C_EXIT) != SQLITE_NULL;
	r->exit_code = col_int_or_0(s, C_EXIT);
	r->stdout_dropped = sqlite3_column_int64(s, C_STDOUT_DROPPED);
	r->stderr_dropped = sqlite3_column_int64(s, C_STDERR_DROPPED);
	r->expires_at = col_int_or_0(s, C_EXPIRES_AT);
	r->dispatched_at = col_int_or_0(s, C_DISPATCHED_AT);
	return 0;
}

void store_job_row_free(struct job_row *row)
{
	if (!row)
		return;
	free(row->mem_);
	json_decref(row->argv);
	memset(row, 0, sizeof *row);
}

void store_job_rows_free(struct job_rows *rows)
{
	if (!rows)
		return;
	for (size_t i = 0; i < rows->n; i++)
		store_job_row_free(&rows->row[i]);
	free(rows->row);
	memset(rows, 0, sizeof *rows);
}

/* Steps s to its end, reading every row into *out (n rows at most: the
 * query's LIMIT). */
static int job_rows_read(sqlite3_stmt *s, int64_t limit, int64_t budget, struct job_rows *out)
{
	int64_t left = budget;
	size_t cap = limit > 0 && limit < 1024 ? (size_t)limit : 16;

	out->row = NULL;
	out->n = 0;
	while (sqlite3_step(s) == SQLITE_ROW) {
		if (!out->row || out->n == cap) {
			struct job_row *grown;

			if (out->row)
				cap *= 2;
			grown = realloc(out->row, cap * sizeof *grown);
			if (!grown)
				goto fail;
			out->row = grown;
		}
		if (job_row_read(s, &out->row[out->n], &left, budget))
			goto fail;
		out->n++;
	}
	return 0;
fail:
	store_job_rows_free(out);
	return TE_NOMEM;
}

int store_job_get(struct store *st, const char *jid, struct job_row *out)
{
	sqlite3_stmt *s = store_stmt(st, S_JOB_GET);
	int rc;

	sqlite3_bind_text(s, 1, jid, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		struct job_row r;

		rc = job_row_read(s, &r, NULL, 0);
		sqlite3_reset(s);
		if (!rc)
			*out = r;
		return rc;
	}
	if (rc != SQLITE_DONE)
		log_error("store: get job: %s", sqlite3_errmsg(st->db));
	sqlite3_reset(s);
	return TE_NOTFOUND;
}

int store_job_list_client(struct store *st, const char *client_id, int64_t limit,
			  int64_t offset, int64_t output_budget, struct job_rows *out)
{
	sqlite3_stmt *s = store_stmt(st, S_JOB_COUNT_CLIENT);
	struct job_rows rows;
	int rc;

	memset(&rows, 0, sizeof rows);
	sqlite3_bind_text(s, 1, client_id, -1, SQLITE_STATIC);
	rows.total = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	s = store_stmt(st, S_JOB_LIST_CLIENT);
	sqlite3_bind_text(s, 1, client_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, limit);
	sqlite3_bind_int64(s, 3, offset);
	rc = job_rows_read(s, limit, output_budget, &rows);
	sqlite3_reset(s);
	if (!rc)
		*out = rows;
	return rc;
}

int store_job_status(struct store *st, const char *jid, char *client_id, size_t cidlen,
		     char status[16])
{
	sqlite3_stmt *s = store_stmt(st, S_JOB_STATUS);
	int rc = TE_NOTFOUND;

	sqlite3_bind_text(s, 1, jid, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		util_strlcpy(client_id, (const char *)sqlite3_column_text(s, 0), cidlen);
		util_strlcpy(status, (const char *)sqlite3_column_text(s, 1), 16);
		rc = 0;
	}
	sqlite3_reset(s);
	return rc;
}

/* The WHERE clause of a job query: columns from query.c's whitelist,
 * values as ? (bound by job_query_bind). */
static void job_query_where(struct buf *where, const char *base_column,
			    const struct job_query *q)
{
	buf_appendf(where, " WHERE %s = ?", !strcmp(base_column, "multi_job_id") ?
			   "multi_job_id" : "client_id");
	for (size_t i = 0; i < q->nfilters; i++) {
		const struct query_filter *f = &q->filters[i];
		static const char *const ops[] = { "", ">", "<", ">=", "<=" };

		if (f->op == QOP_EQ) {
			buf_appendf(where, " AND %s = ?", f->column);
			continue;
		}
		if (f->op != QOP_IN) {
			buf_appendf(where, " AND %s %s ?", f->column, ops[f->op]);
			continue;
		}
		buf_appendf(where, " AND (");
		for (size_t k = 0; k < f->nvalues; k++)
			buf_appendf(where, "%s%s LIKE ? ESCAPE '\\'", k ? " OR " : "",
				    f->column);
		buf_appendf(where, ")");
	}
}

/* Binds job_query_where's values; returns the next parameter's index. */
static int job_query_bind(sqlite3_stmt *s, const char *base_value, const struct job_query *q)
{
	int bind = 1;

	sqlite3_bind_text(s, bind++, base_value, -1, SQLITE_TRANSIENT);
	for (size_t i = 0; i < q->nfilters; i++) {
		const struct query_filter *f = &q->filters[i];

		if (f->op == QOP_EQ) {
			sqlite3_bind_text(s, bind++, f->values[0], -1, SQLITE_TRANSIENT);
			continue;
		}
		if (f->op != QOP_IN) {
			sqlite3_bind_int64(s, bind++, f->time_ns);
			continue;
		}
		for (size_t k = 0; k < f->nvalues; k++) {
			/* '*' is the wildcard; LIKE's own % and _ are escaped. */
			char pat[512];

			store_like_pattern(f->values[k], pat, sizeof pat);
			sqlite3_bind_text(s, bind++, pat, -1, SQLITE_TRANSIENT);
		}
	}
	return bind;
}

int store_job_query(struct store *st, const char *base_column, const char *base_value,
		    const struct job_query *q, int64_t output_budget, struct job_rows *out)
{
	struct buf where, sql;
	sqlite3_stmt *s = NULL;
	struct job_rows rows;
	int bind, rc = TE_IO;

	memset(&rows, 0, sizeof rows);
	buf_init(&where, 64 * 1024);
	buf_init(&sql, 64 * 1024);
	job_query_where(&where, base_column, q);
	for (int pass = 0; pass < 2; pass++) {
		buf_reset(&sql);
		if (pass == 0) {
			buf_appendf(&sql, "SELECT count(*) FROM jobs%s", where.data);
		} else {
			bool by_jid = false;

			buf_appendf(&sql, "SELECT * FROM jobs%s ORDER BY ", where.data);
			if (!q->nsort)
				buf_appendf(&sql, "created_at DESC, jid");
			for (size_t i = 0; i < q->nsort; i++) {
				buf_appendf(&sql, "%s%s %s", i ? ", " : "", q->sort[i].column,
					    q->sort[i].desc ? "DESC" : "ASC");
				by_jid = by_jid || !strcmp(q->sort[i].column, "jid");
			}
			/* Ties in creation order (jids are UUIDv7), so pages
			 * never overlap. */
			if (q->nsort && !by_jid)
				buf_appendf(&sql, ", jid");
			buf_appendf(&sql, " LIMIT ? OFFSET ?");
		}
		if (sqlite3_prepare_v2(st->db, sql.data, -1, &s, NULL) != SQLITE_OK) {
			log_error("store: job query: %s", sqlite3_errmsg(st->db));
			goto out;
		}
		bind = job_query_bind(s, base_value, q);
		if (pass == 0) {
			rows.total = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
		} else {
			sqlite3_bind_int64(s, bind++, q->limit);
			sqlite3_bind_int64(s, bind++, q->offset);
			if (job_rows_read(s, q->limit, output_budget, &rows)) {
				rc = TE_NOMEM;
				goto out;
			}
		}
		sqlite3_finalize(s);
		s = NULL;
	}
	*out = rows;
	rc = 0;
out:
	sqlite3_finalize(s);
	buf_free(&where);
	buf_free(&sql);
	return rc;
}

/* Steps a prepared S_JOB_RUNNING-shaped query. */
static int each_running_row(sqlite3_stmt *s, store_running_fn fn, void *ud)
{
	while (sqlite3_step(s) == SQLITE_ROW) {
		struct job_running r;

		r.jid = (const char *)sqlite3_column_text(s, 0);
		r.client_id = (const char *)sqlite3_column_text(s, 1);
		r.created_at = sqlite3_column_int64(s, 2);
		r.timeout_sec = sqlite3_column_int64(s, 3);
		r.delivery_timeout_sec = sqlite3_column_int64(s, 4);
		r.started = sqlite3_column_type(s, 5) != SQLITE_NULL;
		r.started_at = sqlite3_column_int64(s, 6);
		fn(ud, &r);
	}
	sqlite3_reset(s);
	return 0;
}

int store_job_each_running(struct store *st, store_running_fn fn, void *ud)
{
	return each_running_row(store_stmt(st, S_JOB_RUNNING), fn, ud);
}

int store_job_each_running_of(struct store *st, const char *client_id, store_running_fn fn,
			      void *ud)
{
	sqlite3_stmt *s = store_stmt(st, S_JOB_RUNNING_OF);

	sqlite3_bind_text(s, 1, client_id, -1, SQLITE_TRANSIENT);
	return each_running_row(s, fn, ud);
}

int store_job_each_unconfirmed_of(struct store *st, const char *client_id,
				  void (*fn)(void *ud, const char *jid, int64_t delivery_timeout_sec),
				  void *ud)
{
	sqlite3_stmt *s = store_stmt(st, S_JOB_UNCONFIRMED_OF);

	sqlite3_bind_text(s, 1, client_id, -1, SQLITE_TRANSIENT);
	while (sqlite3_step(s) == SQLITE_ROW)
		fn(ud, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int64(s, 1));
	sqlite3_reset(s);
	return 0;
}

int store_job_expire(struct store *st, const char *jid, const char *error, int64_t finished_at)
{
	sqlite3_stmt *s = store_stmt(st, S_JOB_EXPIRE);
	int rc;

	sqlite3_bind_text(s, 1, error, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, finished_at);
	sqlite3_bind_text(s, 3, jid, -1, SQLITE_STATIC);
	rc = store_step_done(st, s, "expire job");
	if (!rc && sqlite3_changes(st->db) == 0)
		rc = TE_STATE;
	return rc;
}

/* Runs one UPDATE of a queued job's row (the statement binds jid as ?1,
 * then at and text when it has them); TE_STATE when no row changed. */
static int queued_update(struct store *st, enum stmt_id id, const char *jid, int64_t at,
			 const char *text, const char *what)
{
	sqlite3_stmt *s = store_stmt(st, id);
	int rc;

	sqlite3_bind_text(s, 1, jid, -1, SQLITE_STATIC);
	if (sqlite3_bind_parameter_count(s) >= 2)
		sqlite3_bind_int64(s, 2, at);
	if (sqlite3_bind_parameter_count(s) >= 3)
		sqlite3_bind_text(s, 3, text, -1, SQLITE_STATIC);
	rc = store_step_done(st, s, what);
	if (!rc && sqlite3_changes(st->db) == 0)
		rc = TE_STATE;
	return rc;
}

int store_job_dispatch(struct store *st, const char *jid, int64_t at)
{
	return queued_update(st, S_JOB_DISPATCH, jid, at, NULL, "dispatch queued job");
}

int store_job_requeue(struct store *st, const char *jid)
{
	return queued_update(st, S_JOB_REQUEUE, jid, 0, NULL, "requeue job");
}

int store_job_unqueue(struct store *st, const char *jid, enum job_status status,
		      const char *error, int64_t finished_at)
{
	return queued_update(st, status == JOB_EXPIRED ? S_JOB_UNQUEUE_EXPIRED :
				 S_JOB_UNQUEUE_CANCELLED,
			     jid, finished_at, error ? error : "", "end queued job");
}

int store_job_each_queued(struct store *st,
			  void (*fn)(void *ud, const char *jid, const char *client_id,
				     const char *multi_jid, int64_t created_at,
				     int64_t expires_at),
			  void *ud)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(st->db,
			       "SELECT jid, client_id, multi_job_id, created_at, expires_at FROM jobs"
			       " WHERE status = 'queued' ORDER BY created_at, jid",
			       -1, &s, NULL) != SQLITE_OK)
		return TE_IO;
	while (sqlite3_step(s) == SQLITE_ROW)
		fn(ud, (const char *)sqlite3_column_text(s, 0),
		   (const char *)sqlite3_column_text(s, 1),
		   (const char *)sqlite3_column_text(s, 2), sqlite3_column_int64(s, 3),
		   col_int_or_0(s, 4));
	sqlite3_finalize(s);
	return 0;
}

int store_job_state(struct store *st, const char *jid, char state[16])
{
	sqlite3_stmt *s = NULL;
	int rc = TE_NOTFOUND;

	state[0] = '\0';
	if (sqlite3_prepare_v2(st->db, "SELECT state FROM jobs WHERE jid = ?", -1, &s, NULL) !=
	    SQLITE_OK)
		return TE_IO;
	sqlite3_bind_text(s, 1, jid, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		if (sqlite3_column_type(s, 0) != SQLITE_NULL)
			util_strlcpy(state, (const char *)sqlite3_column_text(s, 0), 16);
		rc = 0;
	}
	sqlite3_finalize(s);
	return rc;
}

/* ---- idempotency keys ---------------------------------------------------- */

int store_idem_get(struct store *st, const char *user, const char *key,
		   char jid[UUID_STR_LEN], char hash[STORE_IDEM_HASH_LEN])
{
	sqlite3_stmt *s = store_stmt(st, S_IDEM_GET);
	int rc = TE_NOTFOUND;

	sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		util_strlcpy(jid, (const char *)sqlite3_column_text(s, 0), UUID_STR_LEN);
		util_strlcpy(hash, (const char *)sqlite3_column_text(s, 1), STORE_IDEM_HASH_LEN);
		rc = 0;
	}
	sqlite3_reset(s);
	return rc;
}

int store_idem_put(struct store *st, const char *user, const char *key, const char *jid,
		   const char *hash, int64_t created_at)
{
	sqlite3_stmt *s = store_stmt(st, S_IDEM_PUT);

	sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, jid, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, created_at);
	return store_step_done(st, s, "put idempotency key");
}

int store_idem_delete(struct store *st, const char *user, const char *key)
{
	sqlite3_stmt *s = store_stmt(st, S_IDEM_DELETE);

	sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
	return store_step_done(st, s, "delete idempotency key");
}

void store_idem_prune(struct store *st, int64_t before_ns)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(st->db, "DELETE FROM idempotency WHERE created_at < ?", -1, &s,
			       NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(s, 1, before_ns);
	store_step_done(st, s, "prune idempotency keys");
	sqlite3_finalize(s);
}

int store_job_each_child(struct store *st, const char *multi_jid,
			 void (*fn)(void *ud, const char *client_id, const char *jid,
				    const char *status),
			 void *ud)
{
	sqlite3_stmt *s = store_stmt(st, S_JOB_CHILDREN);

	sqlite3_bind_text(s, 1, multi_jid, -1, SQLITE_TRANSIENT);
	while (sqlite3_step(s) == SQLITE_ROW)
		fn(ud, (const char *)sqlite3_column_text(s, 0),
		   (const char *)sqlite3_column_text(s, 1),
		   (const char *)sqlite3_column_text(s, 2));
	sqlite3_reset(s);
	return 0;
}

/* ---- multi-client jobs -------------------------------------------------- */

int store_multi_put(struct store *st, const char *jid, int64_t created_at,
		    const char *created_by, const json_t *data)
{
	sqlite3_stmt *s = store_stmt(st, S_MULTI_PUT);
	char *text = json_dumps(data, JSON_COMPACT);
	int rc;

	if (!text)
		return TE_NOMEM;
	sqlite3_bind_text(s, 1, jid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, created_at);
	sqlite3_bind_text(s, 3, created_by, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, text, -1, SQLITE_STATIC);
	rc = store_step_done(st, s, "put multi job");
	sqlite3_reset(s);
	free(text);
	return rc;
}

int store_multi_create(struct store *st, const char *jid, int64_t created_at,
		       const char *created_by, const json_t *data, const char *idem_key,
		       const char *idem_hash)
{
	int rc;

	if (!idem_key)
		return store_multi_put(st, jid, created_at, created_by, data);
	/* Both rows or neither: a savepoint is its own transaction here, or
	 * nests in the group commit's. */
	if (sqlite3_exec(st->db, "SAVEPOINT multi_create", NULL, NULL, NULL) != SQLITE_OK)
		return TE_IO;
	rc = store_idem_put(st, created_by, idem_key, jid, idem_hash, created_at);
	if (!rc)
		rc = store_multi_put(st, jid, created_at, created_by, data);
	if (rc)
		sqlite3_exec(st->db, "ROLLBACK TO multi_create", NULL, NULL, NULL);
	if (sqlite3_exec(st->db, "RELEASE multi_create", NULL, NULL, NULL) != SQLITE_OK && !rc)
		rc = TE_IO;
	return rc;
}

int store_multi_get(struct store *st, const char *jid, json_t **data)
{
	sqlite3_stmt *s = store_stmt(st, S_MULTI_GET);
	int rc = TE_NOTFOUND;

	sqlite3_bind_text(s, 1, jid, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		*data = json_loads((const char *)sqlite3_column_text(s, 0), 0, NULL);
		rc = *data ? 0 : TE_IO;
	}
	sqlite3_reset(s);
	return rc;
}

int store_multi_creator(struct store *st, const char *jid, char *out, size_t outlen)
{
	sqlite3_stmt *s = store_stmt(st, S_MULTI_CREATOR);
	int rc = TE_NOTFOUND;

	sqlite3_bind_text(s, 1, jid, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(s, 0);

		util_strlcpy(out, v ? v : "", outlen);
		rc = 0;
	}
	sqlite3_reset(s);
	return rc;
}

int store_multi_list(struct store *st, const char *created_by, int64_t limit, int64_t offset,
		     json_t **out, int64_t *total)
{
	sqlite3_stmt *s = store_stmt(st, S_MULTI_COUNT);
	json_t *arr = json_array();

	if (created_by)
		sqlite3_bind_text(s, 1, created_by, -1, SQLITE_STATIC);
	*total = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	s = store_stmt(st, S_MULTI_LIST);
	if (created_by)
		sqlite3_bind_text(s, 1, created_by, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, limit);
	sqlite3_bind_int64(s, 3, offset);
	while (sqlite3_step(s) == SQLITE_ROW) {
		json_t *o = json_object();

		json_object_set_new(o, "jid", store_col_text(s, 0));
		json_object_set_new(o, "started_at", store_col_time(s, 1));
		json_object_set_new(o, "created_by", store_col_text(s, 2));
		json_object_set_new(o, "schedule_id", sqlite3_column_type(s, 3) == SQLITE_TEXT ?
				    store_col_text(s, 3) : json_null());
		json_array_append_new(arr, o);
	}
	sqlite3_reset(s);
	*out = arr;
	return 0;
}

int store_multi_each_unfinished(struct store *st,
				void (*fn)(void *ud, const char *jid, json_t *data),
				void *ud)
{
	sqlite3_stmt *s = store_stmt(st, S_MULTI_ALL);

	while (sqlite3_step(s) == SQLITE_ROW) {
		json_t *d = json_loads((const char *)sqlite3_column_text(s, 1), 0, NULL);

		if (d)
			fn(ud, (const char *)sqlite3_column_text(s, 0), d);
		json_decref(d);
	}
	sqlite3_reset(s);
	return 0;
}

