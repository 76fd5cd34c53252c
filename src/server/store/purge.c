/* purge: retention of job history, off the loop (store.h, "Retention").
 *
 * A purge runs as one uv_queue_work on a worker thread, with a connection
 * of its own. It picks the rows of a batch with reads (WAL: they block
 * nobody), then deletes them in a short write transaction of its own, and
 * so on; the free pages then go back to the file system in small steps of
 * incremental vacuum. Every write transaction, the loop's group commits
 * and the purge's batches, is taken under the store's write_lock, so the
 * loop waits at most one batch (the batch size follows the time a batch
 * takes, PURGE_BATCH_TARGET_US), and between two batches the purge pauses
 * so that a commit waiting for the lock gets it. docs/internals/store.md
 * has the rules (which jobs go, what the purge never touches). */
#include "store/store_priv.h"
#include "store/outputs.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define PURGE_BATCH_START 256
#define PURGE_BATCH_MIN 16
#define PURGE_BATCH_MAX 4096
/* A write transaction of the purge: about this long (the loop may wait
 * this long for its next commit). */
#define PURGE_BATCH_TARGET_US 3000
/* Between two write transactions: a commit that waits gets the lock. The
 * pause is at least as long as the transaction was, so the purge holds the
 * lock (and its core) at most half the time: submissions during a purge
 * wait less often and less long (docs/benchmarks.md, "Retention"). */
#define PURGE_PAUSE_US 1000
/* Pages per incremental vacuum step at first (1 MiB with 4 KiB pages);
 * it follows the time a step takes as the batch size does. */
#define PURGE_VACUUM_PAGES 256
#define PURGE_VACUUM_MIN 16
#define PURGE_VACUUM_MAX 4096
/* WAL frames written since the last checkpoint before the purge runs one
 * itself (a passive one, outside the lock), so that the WAL stays small
 * and no commit on the loop meets a big checkpoint. */
#define PURGE_CHECKPOINT_EVERY 8

struct purge {
	struct store *st;
	struct store_purge_policy p;
	store_purge_cb cb;
	void *ud;
	uv_work_t work;
	bool on_loop;
	sqlite3 *db;
	atomic_bool stop;
	int rc;
	char err[256];
	int64_t batch;               /* rows per batch now */
	int64_t vacuum_pages;        /* pages per vacuum step now */
	int writes_since_ckpt;
	struct store_purge_result res;
};

/* The purge connection's own tables: temp, gone when it closes. */
static const char purge_setup_sql[] =
	"PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0; PRAGMA temp_store=MEMORY;"
	/* the rows of the batch being deleted, with their multi job */
	"CREATE TEMP TABLE batch (r INTEGER PRIMARY KEY, mj TEXT);"
	/* multi jobs that lost a job to this purge: their record may go */
	"CREATE TEMP TABLE touched (jid TEXT PRIMARY KEY);"
	/* multi jobs not finished when the purge began: their jobs stay */
	"CREATE TEMP TABLE open_multi (jid TEXT PRIMARY KEY);"
	"INSERT OR IGNORE INTO temp.open_multi SELECT jid FROM multi_jobs"
	" WHERE json_extract(data, '$.finished_at') IS NULL;";

/* Finished jobs of finished invocations only: nothing on the loop still
 * needs them (deadlines, fan-out resume, redelivery read running rows). */
#define PURGE_GONE_OK \
	" finished_at IS NOT NULL AND (multi_job_id IS NULL OR" \
	" multi_job_id NOT IN (SELECT jid FROM temp.open_multi))"

static const char sel_age_sql[] =
	"INSERT INTO temp.batch (r, mj) SELECT rowid, multi_job_id FROM jobs"
	" WHERE created_at < ?1 AND" PURGE_GONE_OK " LIMIT ?2";

/* The client's rows after its first ?2 in the lists' order (created_at
 * DESC, jid): older than the last one kept (?3, ?4). */
static const char cut_sql[] =
	"SELECT created_at, jid FROM jobs WHERE client_id = ?1"
	" ORDER BY created_at DESC, jid LIMIT 1 OFFSET ?2";
static const char sel_cap_sql[] =
	"INSERT INTO temp.batch (r, mj) SELECT rowid, multi_job_id FROM jobs"
	" WHERE client_id = ?1 AND (created_at < ?2 OR (created_at = ?2 AND jid > ?3)) AND"
	PURGE_GONE_OK " LIMIT ?4";

static const char del_jobs_sql[] =
	"INSERT OR IGNORE INTO temp.touched SELECT mj FROM temp.batch WHERE mj IS NOT NULL;"
	"DELETE FROM jobs WHERE rowid IN (SELECT r FROM temp.batch);";

/* A multi job whose every job is gone, finished before the purge began. */
static const char sel_multi_sql[] =
	"INSERT INTO temp.batch (r) SELECT m.rowid FROM multi_jobs m"
	" WHERE m.jid IN (SELECT jid FROM temp.touched ORDER BY jid LIMIT ?1)"
	" AND m.jid NOT IN (SELECT jid FROM temp.open_multi)"
	" AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.multi_job_id = m.jid)";
static const char done_multi_sql[] =
	"DELETE FROM temp.touched WHERE jid IN"
	" (SELECT jid FROM temp.touched ORDER BY jid LIMIT ?1)";
static const char del_multi_sql[] =
	"DELETE FROM multi_jobs WHERE rowid IN (SELECT r FROM temp.batch);";

static int purge_fail(struct purge *pg, const char *what, char *msg)
{
	if (!pg->rc) {
		snprintf(pg->err, sizeof pg->err, "%s: %s", what,
			 msg ? msg : sqlite3_errmsg(pg->db));
		pg->rc = TE_IO;
	}
	sqlite3_free(msg);
	return TE_IO;
}

static int purge_exec(struct purge *pg, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(pg->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		char what[80];

		snprintf(what, sizeof what, "%.40s (%d)", sql, sqlite3_extended_errcode(pg->db));
		return purge_fail(pg, what, msg);
	}
	return 0;
}

/* Runs a prepared statement that returns no rows (or ignores them). */
static int purge_step(struct purge *pg, sqlite3_stmt *s)
{
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		;
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : purge_fail(pg, "purge", NULL);
}

/* size, halved when took is well over the target, doubled when well
 * under it, within [lo, hi]. */
static void purge_adapt(int64_t *size, uint64_t took, int64_t lo, int64_t hi)
{
	if (took > 2 * PURGE_BATCH_TARGET_US && *size > lo)
		*size /= 2;
	else if (took < PURGE_BATCH_TARGET_US / 2 && *size < hi)
		*size *= 2;
}

/* One write transaction, under the store's write_lock: sql (statements
 * that end with the DELETE whose changes are counted into *changes). Then
 * size (the batch's or the vacuum step's) follows the time it took, and
 * the loop gets its turn. */
static int purge_write(struct purge *pg, const char *sql, int64_t *changes, int64_t *size,
		       int64_t lo, int64_t hi)
{
	uint64_t t0, took;
	int rc;

	pthread_mutex_lock(&pg->st->write_lock);
	t0 = util_mono_us();
	rc = purge_exec(pg, "BEGIN IMMEDIATE");
	if (!rc) {
		rc = purge_exec(pg, sql);
		if (!rc && changes)
			*changes = sqlite3_changes(pg->db);
		if (!rc)
			rc = purge_exec(pg, "COMMIT");
		if (rc)
			sqlite3_exec(pg->db, "ROLLBACK", NULL, NULL, NULL);
	}
	took = util_mono_us() - t0;
	pthread_mutex_unlock(&pg->st->write_lock);
	pg->res.batches++;
	if ((int64_t)took > pg->res.longest_us)
		pg->res.longest_us = (int64_t)took;
	purge_adapt(size, took, lo, hi);
	if (++pg->writes_since_ckpt >= PURGE_CHECKPOINT_EVERY) {
		sqlite3_wal_checkpoint_v2(pg->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pg->writes_since_ckpt = 0;
	}
	usleep(took > PURGE_PAUSE_US ? (useconds_t)took : PURGE_PAUSE_US);
	return rc;
}

/* The full outputs kept beside the store (outputs.c) of the batch's jobs
 * go once their rows are gone: ids are read before the delete, the files
 * removed after it commits (a failed commit leaves both). */
static json_t *batch_jids(struct purge *pg)
{
	sqlite3_stmt *s = NULL;
	json_t *ids = json_array();

	if (!ids || sqlite3_prepare_v2(pg->db, "SELECT jid FROM jobs WHERE rowid IN"
				       " (SELECT r FROM temp.batch)", -1, &s, NULL) != SQLITE_OK) {
		sqlite3_finalize(s);
		return ids;
	}
	while (sqlite3_step(s) == SQLITE_ROW)
		json_array_append_new(ids, json_string((const char *)sqlite3_column_text(s, 0)));
	sqlite3_finalize(s);
	return ids;
}

static void remove_outputs(struct purge *pg, json_t *ids)
{
	char dir[1024];
	char *slash;
	size_t i;
	json_t *v;

	util_strlcpy(dir, pg->st->path, sizeof dir);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	json_array_foreach(ids, i, v)
		if (json_string_value(v))
			outputs_remove(slash ? dir : ".", json_string_value(v));
}

/* Deletes what sel (bound by the caller, its batch size at bind index
 * limit_at) picks, batch after batch, until it picks nothing. */
static int purge_jobs_by(struct purge *pg, sqlite3_stmt *sel, int limit_at)
{
	for (;;) {
		int64_t picked, gone = 0;
		json_t *ids;

		if (atomic_load(&pg->stop))
			return 0;
		if (purge_exec(pg, "DELETE FROM temp.batch"))
			return TE_IO;
		sqlite3_bind_int64(sel, limit_at, pg->batch);
		if (purge_step(pg, sel))
			return TE_IO;
		picked = sqlite3_changes(pg->db);
		if (!picked)
			return 0;
		ids = batch_jids(pg);
		if (purge_write(pg, del_jobs_sql, &gone, &pg->batch, PURGE_BATCH_MIN,
				PURGE_BATCH_MAX)) {
			json_decref(ids);
			return TE_IO;
		}
		remove_outputs(pg, ids);
		json_decref(ids);
		pg->res.jobs += gone;
	}
}

static int purge_by_age(struct purge *pg)
{
	sqlite3_stmt *sel = NULL;
	int rc;

	if (!pg->p.before_ns)
		return 0;
	if (sqlite3_prepare_v2(pg->db, sel_age_sql, -1, &sel, NULL) != SQLITE_OK)
		return purge_fail(pg, "prepare", NULL);
	sqlite3_bind_int64(sel, 1, pg->p.before_ns);
	rc = purge_jobs_by(pg, sel, 2);
	sqlite3_finalize(sel);
	return rc;
}

/* One client over the cap: its rows after the newest max_per_client. */
static int purge_client(struct purge *pg, sqlite3_stmt *cut, sqlite3_stmt *sel,
			const char *client_id)
{
	int64_t cut_at;
	char *cut_jid;
	int rc;

	sqlite3_reset(cut);
	sqlite3_bind_text(cut, 1, client_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(cut, 2, pg->p.max_per_client - 1);
	rc = sqlite3_step(cut);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(cut);
		return 0;                /* fewer rows than the cap by now */
	}
	if (rc != SQLITE_ROW)
		return purge_fail(pg, "purge", NULL);
	cut_at = sqlite3_column_int64(cut, 0);
	cut_jid = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(cut, 1));
	sqlite3_reset(cut);
	if (!cut_jid)
		return purge_fail(pg, "purge", sqlite3_mprintf("out of memory"));
	sqlite3_reset(sel);
	sqlite3_bind_text(sel, 1, client_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(sel, 2, cut_at);
	sqlite3_bind_text(sel, 3, cut_jid, -1, SQLITE_TRANSIENT);
	rc = purge_jobs_by(pg, sel, 4);
	sqlite3_free(cut_jid);
	return rc;
}

static int purge_by_cap(struct purge *pg)
{
	sqlite3_stmt *over = NULL, *cut = NULL, *sel = NULL;
	json_t *ids = NULL, *v;
	size_t i;
	int rc = 0;

	if (pg->p.max_per_client <= 0)
		return 0;
	if (sqlite3_prepare_v2(pg->db,
			       "SELECT client_id FROM jobs GROUP BY client_id HAVING count(*) > ?1",
			       -1, &over, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(pg->db, cut_sql, -1, &cut, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(pg->db, sel_cap_sql, -1, &sel, NULL) != SQLITE_OK) {
		rc = purge_fail(pg, "prepare", NULL);
		goto out;
	}
	/* The clients over the cap, read to the end first: a statement still
	 * stepping would hold a read transaction, and a write transaction
	 * begun over an old snapshot fails (SQLITE_BUSY_SNAPSHOT). */
	if (!(ids = json_array())) {
		rc = purge_fail(pg, "purge", sqlite3_mprintf("out of memory"));
		goto out;
	}
	sqlite3_bind_int64(over, 1, pg->p.max_per_client);
	while ((rc = sqlite3_step(over)) == SQLITE_ROW)
		json_array_append_new(ids, json_string((const char *)sqlite3_column_text(over, 0)));
	if (rc != SQLITE_DONE) {
		rc = purge_fail(pg, "purge", NULL);
		goto out;
	}
	rc = 0;
	sqlite3_reset(over);
	json_array_foreach(ids, i, v) {
		if (rc || atomic_load(&pg->stop))
			break;
		if (json_string_value(v))
			rc = purge_client(pg, cut, sel, json_string_value(v));
	}
out:
	json_decref(ids);
	sqlite3_finalize(over);
	sqlite3_finalize(cut);
	sqlite3_finalize(sel);
	return rc;
}

/* The records of multi jobs that this purge emptied. */
static int purge_multi(struct purge *pg)
{
	sqlite3_stmt *sel = NULL, *done = NULL;
	int rc = 0;

	if (sqlite3_prepare_v2(pg->db, sel_multi_sql, -1, &sel, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(pg->db, done_multi_sql, -1, &done, NULL) != SQLITE_OK) {
		rc = purge_fail(pg, "prepare", NULL);
		goto out;
	}
	while (!atomic_load(&pg->stop)) {
		sqlite3_stmt *left = NULL;
		int64_t n = 0, gone = 0;

		if (sqlite3_prepare_v2(pg->db, "SELECT count(*) FROM temp.touched", -1, &left,
				       NULL) == SQLITE_OK && sqlite3_step(left) == SQLITE_ROW)
			n = sqlite3_column_int64(left, 0);
		sqlite3_finalize(left);
		if (n <= 0)
			break;
		/* The first rows of temp.touched: those of them that may go
		 * into the batch, then all of them out of temp.touched. */
		if ((rc = purge_exec(pg, "DELETE FROM temp.batch")))
			break;
		sqlite3_bind_int64(sel, 1, pg->batch);
		sqlite3_bind_int64(done, 1, pg->batch);
		if ((rc = purge_step(pg, sel)))
			break;
		n = sqlite3_changes(pg->db);
		if ((rc = purge_step(pg, done)))
			break;
		if (n && (rc = purge_write(pg, del_multi_sql, &gone, &pg->batch, PURGE_BATCH_MIN,
					   PURGE_BATCH_MAX)))
			break;
		pg->res.multi += gone;
	}
out:
	sqlite3_finalize(sel);
	sqlite3_finalize(done);
	return rc;
}

static int64_t purge_pragma_int(struct purge *pg, const char *sql)
{
	sqlite3_stmt *s = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(pg->db, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* Hands the free pages back, a step at a time. A file without
 * incremental vacuum (its conversion failed at open) keeps them for later
 * rows. */
static int purge_vacuum(struct purge *pg)
{
	char sql[64];

	if (purge_pragma_int(pg, "PRAGMA auto_vacuum") != 2)
		return 0;
	while (!atomic_load(&pg->stop)) {
		int64_t before = purge_pragma_int(pg, "PRAGMA freelist_count"), after;

		if (before <= 0)
			break;
		/* PRAGMA takes no bound parameter; the count is our own. */
		snprintf(sql, sizeof sql, "PRAGMA incremental_vacuum(%lld);",
			 (long long)pg->vacuum_pages);
		if (purge_write(pg, sql, NULL, &pg->vacuum_pages, PURGE_VACUUM_MIN,
				PURGE_VACUUM_MAX))
			return TE_IO;
		after = purge_pragma_int(pg, "PRAGMA freelist_count");
		if (after < 0 || after >= before)
			break;
		pg->res.pages += before - after;
	}
	return 0;
}

static void purge_work(uv_work_t *w)
{
	struct purge *pg = w->data;
	uint64_t t0 = util_mono_us();

	if (sqlite3_open_v2(pg->st->path, &pg->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		purge_fail(pg, "open", sqlite3_mprintf("%s", pg->db ? sqlite3_errmsg(pg->db) :
						       "out of memory"));
		goto out;
	}
	/* The write_lock orders the writers; this is for a reader's rare
	 * wait (WAL recovery) and for a write made from outside tetherd. */
	sqlite3_busy_timeout(pg->db, 5000);
	if (!purge_exec(pg, purge_setup_sql) && !purge_by_age(pg) && !purge_by_cap(pg) &&
	    !purge_multi(pg))
		purge_vacuum(pg);
	sqlite3_wal_checkpoint_v2(pg->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
out:
	sqlite3_close(pg->db);
	pg->db = NULL;
	pg->res.ms = (int64_t)((util_mono_us() - t0) / 1000);
}

static void purge_after(uv_work_t *w, int status)
{
	struct purge *pg = w->data;

	(void)status;
	pg->st->purge = NULL;
	if (pg->rc)
		log_error("store: purge: %s", pg->err);
	if (pg->cb)
		pg->cb(pg->ud, pg->rc, &pg->res);
	free(pg);
}

int store_purge_start(struct store *st, const struct store_purge_policy *p, store_purge_cb cb,
		      void *ud)
{
	struct purge *pg;

	if (st->purge)
		return TE_STATE;
	pg = calloc(1, sizeof *pg);
	if (!pg)
		return TE_NOMEM;
	pg->st = st;
	pg->p = *p;
	pg->cb = cb;
	pg->ud = ud;
	pg->batch = PURGE_BATCH_START;
	pg->vacuum_pages = PURGE_VACUUM_PAGES;
	atomic_init(&pg->stop, false);
	pg->work.data = pg;
	st->purge = pg;
	if (st->attached &&
	    !uv_queue_work(uv_handle_get_loop((uv_handle_t *)&st->prep), &pg->work, purge_work,
			   purge_after))
		return 0;
	/* No loop (tests, tools), or no worker: run it here. */
	purge_work(&pg->work);
	purge_after(&pg->work, 0);
	return 0;
}

bool store_purge_running(const struct store *st)
{
	return st->purge != NULL;
}

void store_purge_stop(struct store *st)
{
	if (st && st->purge)
		atomic_store(&st->purge->stop, true);
}
