/* sqlite: the SQLite backend's connection. One connection, used only from
 * the loop: open (WAL, synchronous=FULL; NORMAL with a loop when a thread
 * syncs the commits: walsync.c), the prepared statements, the group
 * commit queue with its pacing, the WAL checkpoints on a worker, and the
 * helpers the other store files use to step statements and read columns. */
#include "store/store_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "util.h"

/* The SQL of enum stmt_id (store_priv.h), prepared once at open. */
static const char *const stmt_sql[S_COUNT] = {
	[S_JOB_INSERT] =
		"INSERT INTO jobs (jid, multi_job_id, client_id, client_name, status,"
		" command, cwd, interpreter, is_sudo, is_script, timeout_sec,"
		" created_by, created_at, started_at, kill_on_timeout, delivery_timeout_sec, argv,"
		" expires_at, schedule_id, run_as, output_cap)"
		" VALUES (?1,?2,?3,?4,CASE WHEN ?18 THEN 'queued' ELSE 'running' END,"
		" ?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?19,?20,?21)",
	[S_JOB_STARTED] =
		"UPDATE jobs SET pid = ?, started_at = ? WHERE jid = ? AND client_id = ?",
	[S_JOB_FINISH] =
		"UPDATE jobs SET status = ?, exit_code = ?, error = ?, stdout = ?,"
		" stderr = ?, stdout_dropped = ?, stderr_dropped = ?,"
		" pid = CASE WHEN ? > 0 THEN ? ELSE pid END,"
		" started_at = CASE WHEN ? > 0 THEN ? ELSE started_at END,"
		" finished_at = ?12, state = ?15 WHERE jid = ?13 AND (?14 IS NULL OR client_id = ?14)"
		" AND (status = 'running' OR (?14 IS NOT NULL AND state IN ('unconfirmed', 'lost')))",
	[S_JOB_GET] = "SELECT * FROM jobs WHERE jid = ?",
	[S_JOB_LIST_CLIENT] =
		"SELECT * FROM jobs WHERE client_id = ?"
		" ORDER BY created_at DESC, jid LIMIT ? OFFSET ?",
	[S_JOB_COUNT_CLIENT] = "SELECT count(*) FROM jobs WHERE client_id = ?",
	[S_JOB_STATUS] = "SELECT client_id, status FROM jobs WHERE jid = ?",
	[S_CLIENT_PUT] =
		"INSERT INTO clients (id, data) VALUES (?, ?)"
		" ON CONFLICT(id) DO UPDATE SET data = excluded.data",
	[S_CLIENT_ALL] = "SELECT id, data FROM clients",
	[S_JOB_RUNNING] =
		"SELECT jid, client_id, coalesce(dispatched_at, created_at), timeout_sec,"
		" delivery_timeout_sec, pid, started_at FROM jobs WHERE status = 'running'",
	[S_JOB_RUNNING_OF] =
		"SELECT jid, client_id, coalesce(dispatched_at, created_at), timeout_sec,"
		" delivery_timeout_sec, pid, started_at FROM jobs WHERE client_id = ? AND status = 'running'",
	[S_JOB_CHILDREN] =
		"SELECT client_id, jid, status FROM jobs WHERE multi_job_id = ?"
		" ORDER BY created_at, jid",
	[S_MULTI_PUT] =
		"INSERT INTO multi_jobs (jid, created_at, created_by, data) VALUES (?,?,?,?)"
		" ON CONFLICT(jid) DO UPDATE SET data = excluded.data",
	[S_MULTI_GET] = "SELECT data FROM multi_jobs WHERE jid = ?",
	[S_MULTI_LIST] =
		"SELECT jid, created_at, created_by, json_extract(data, '$.schedule_id')"
		" FROM multi_jobs WHERE (?1 IS NULL OR created_by = ?1)"
		" ORDER BY created_at DESC, jid LIMIT ?2 OFFSET ?3",
	[S_MULTI_COUNT] = "SELECT count(*) FROM multi_jobs WHERE (?1 IS NULL OR created_by = ?1)",
	[S_MULTI_ALL] =
		"SELECT jid, data FROM multi_jobs WHERE json_extract(data, '$.finished_at') IS NULL",
	/* jobs_state is a partial index: only server verdicts are in it. */
	[S_JOB_UNCONFIRMED_OF] =
		"SELECT jid, delivery_timeout_sec FROM jobs WHERE state = 'unconfirmed' AND client_id = ?",
	[S_IDEM_GET] = "SELECT jid, request_hash FROM idempotency WHERE created_by = ? AND key = ?",
	[S_IDEM_PUT] =
		"INSERT INTO idempotency (created_by, key, jid, request_hash, created_at)"
		" VALUES (?,?,?,?,?)",
	[S_IDEM_DELETE] = "DELETE FROM idempotency WHERE created_by = ? AND key = ?",
	/* store_atomic: prepared once, so a unit costs no SQL parsing. */
	[S_SAVEPOINT] = "SAVEPOINT atomic",
	[S_RELEASE] = "RELEASE atomic",
	[S_ROLLBACK_TO] = "ROLLBACK TO atomic",
	/* A queued job's dispatch, requeue and end (one per job of a queue
	 * storm: prepared once, not per call). */
	[S_JOB_DISPATCH] =
		"UPDATE jobs SET status = 'running', dispatched_at = ?2, started_at = ?2"
		" WHERE jid = ?1 AND status = 'queued'",
	[S_JOB_REQUEUE] =
		"UPDATE jobs SET status = 'queued', dispatched_at = NULL"
		" WHERE jid = ?1 AND status = 'running' AND pid IS NULL"
		" AND expires_at IS NOT NULL",
	[S_JOB_UNQUEUE_EXPIRED] =
		"UPDATE jobs SET status = 'expired', state = 'expired', finished_at = ?2, error = ?3"
		" WHERE jid = ?1 AND status = 'queued'",
	[S_JOB_UNQUEUE_CANCELLED] =
		"UPDATE jobs SET status = 'cancelled', finished_at = ?2, error = ?3"
		" WHERE jid = ?1 AND status = 'queued'",
	/* one per submission: prepared once */
	[S_AUDIT_PUT] =
		"INSERT INTO auditlog (timestamp, username, remote_ip, application, action,"
		" affected_id, client_id, success, request, response) VALUES (?,?,?,?,?,?,?,?,?,?)",
	[S_MULTI_CREATOR] = "SELECT created_by FROM multi_jobs WHERE jid = ?",
	[S_JOB_EXPIRE] =
		"UPDATE jobs SET status = 'failed', state = 'expired', error = ?1, finished_at = ?2"
		" WHERE jid = ?3 AND pid IS NULL AND (status = 'running' OR state = 'unconfirmed')",
	/* Each commit's own: prepared once, not parsed by sqlite3_exec per
	 * commit (about 3,600 instructions each, 4 per single job). */
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
};

sqlite3_stmt *store_stmt(struct store *st, enum stmt_id id)
{
	sqlite3_stmt *s = st->stmt[id];

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

static int wal_hook(void *ud, sqlite3 *db, const char *name, int pages);

/* Steps a statement without results (BEGIN, COMMIT) and resets it at once,
 * so that it is never left active. */
static bool step_once(struct store *st, enum stmt_id id)
{
	sqlite3_stmt *s = st->stmt[id];
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	return rc == SQLITE_DONE;
}

int store_open(const char *dir, struct store **out, char *err, size_t errlen)
{
	struct store *st;
	char path[1024];
	char *msg = NULL;

	if (mkdir(dir, 0700) && errno != EEXIST) {
		snprintf(err, errlen, "cannot create data_dir %s: %s", dir, strerror(errno));
		return -1;
	}
	if (snprintf(path, sizeof path, "%s/tether.db", dir) >= (int)sizeof path) {
		snprintf(err, errlen, "data_dir path too long");
		return -1;
	}
	st = calloc(1, sizeof *st);
	if (!st)
		return -1;
	util_strlcpy(st->path, path, sizeof st->path);
	if (pthread_mutex_init(&st->write_lock, NULL)) {
		free(st);
		return -1;
	}
	st->write_lock_ready = true;
	/* No memory statistics: nothing reads them, and SQLite would take a
	 * global mutex on each of its allocations to keep them. Only before
	 * SQLite's first use; later calls fail harmlessly (SQLITE_MISUSE). */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
					   SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", path,
			 st->db ? sqlite3_errmsg(st->db) : "out of memory");
		goto fail;
	}
	chmod(path, 0600);
	sqlite3_busy_timeout(st->db, 5000);
	/* WAL: readers never block the writer. synchronous=FULL with WAL:
	 * a commit survives a crash of the process and of the machine; the
	 * cost is paid once per batch (docs/internals/store.md). */
	/* auto_vacuum first: on a new file it only takes before WAL is on
	 * (and before the first table); an older file gets it below. */
	if (sqlite3_exec(st->db, "PRAGMA auto_vacuum=INCREMENTAL; PRAGMA journal_mode=WAL;"
				 " PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
				 /* Pages another connection's write (the purge) made stale
				  * are read again through the mapping, not read(2). */
				 " PRAGMA mmap_size=268435456;"
				 /* checkpoints: wal_hook, below */
				 " PRAGMA wal_autocheckpoint=0;", NULL, NULL,
			 &msg) != SQLITE_OK ||
	    store_migrate(st->db, &msg) || store_vacuum_mode(st->db, &msg)) {
		snprintf(err, errlen, "cannot set up %s: %s", path, msg ? msg : "?");
		sqlite3_free(msg);
		goto fail;
	}
	sqlite3_wal_hook(st->db, wal_hook, st);
	store_idem_prune(st, util_now_ns() - STORE_IDEM_KEEP_NS);
	for (int i = 0; i < S_COUNT; i++) {
		if (sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
				       &st->stmt[i], NULL) != SQLITE_OK) {
			snprintf(err, errlen, "cannot prepare statement %d: %s", i,
				 sqlite3_errmsg(st->db));
			goto fail;
		}
	}
	*out = st;
	return 0;
fail:
	store_close(st);
	return -1;
}

/* Commit pacing: a commit costs a fixed amount of work (locks, WAL
 * headers, an fsync) whatever it holds. Under load (STORE_PACE_STREAK
 * commits in a row, each begun within STORE_COMMIT_GAP_US of the end of the
 * one before, the last carrying more than one write), the next commit
 * waits until that gap has passed, so each carries more writes: about
 * twice the submissions per second. A quiet server, or one request at a
 * time (each commit one write, however close together: the writer is
 * idle and waiting would gather nothing), commits at once. With the sync
 * thread there is no pacing: no commit begins while a sync runs, so what
 * comes meanwhile gathers by itself, and a wait on top of the sync's only
 * added latency (1.2 ms turns where 0.3 ms would do; 21 % fewer
 * submissions per second, docs/benchmarks.md). */
#define STORE_COMMIT_GAP_US 1000
#define STORE_PACE_STREAK 3
/* Writes committed in one loop turn at most (the rest in the next turns). */
#define STORE_TURN_WRITES 128

static void flush_some(struct store *st, uint64_t max);

static void pace_cb(uv_timer_t *t)
{
	struct store *st = t->data;

	if (st->syncing)
		return;  /* (its end wakes the loop: the prepare handle commits) */
	flush_some(st, STORE_TURN_WRITES);
}

static void more_cb(uv_idle_t *h)
{
	(void)h;   /* only there so that the poll does not block */
}

/* Before the loop blocks: commits what waits, at most STORE_TURN_WRITES
 * writes (and their callbacks) in this turn, so that a fan-out to a large
 * fleet or a reconnect storm does not hold the loop for the whole batch;
 * the rest goes in the next turns (the idle handle keeps them coming)
 * with the loop's other work in between. */
static void prep_cb(uv_prepare_t *p)
{
	struct store *st = p->data;
	uint64_t since;

	if (!st->head) {
		uv_idle_stop(&st->more);
		return;
	}
	if (uv_is_active((uv_handle_t *)&st->pace))
		return;
	if (st->syncing) {
		/* A sync runs: what waits goes in one commit once it ends (its
		 * end wakes the loop), not in several small ones meanwhile. */
		uv_idle_stop(&st->more);
		return;
	}
	since = util_mono_us() - st->last_commit_us;
	if (!st->ws && since < STORE_COMMIT_GAP_US && st->streak >= STORE_PACE_STREAK &&
	    st->last_writes > 1 &&
	    st->queued < STORE_TURN_WRITES) {
		uint64_t wait_ms = (STORE_COMMIT_GAP_US - since + 999) / 1000;

		uv_timer_start(&st->pace, pace_cb, wait_ms, 0);
		return;
	}
	flush_some(st, STORE_TURN_WRITES);
	if (st->head)
		uv_idle_start(&st->more, more_cb);
	else
		uv_idle_stop(&st->more);
}

int store_attach_loop(struct store *st, uv_loop_t *loop)
{
	if (uv_prepare_init(loop, &st->prep))
		return TE_IO;
	uv_timer_init(loop, &st->pace);
	uv_idle_init(loop, &st->more);
	st->pace.data = st;
	st->prep.data = st;
	uv_prepare_start(&st->prep, prep_cb);
	st->attached = true;
	/* (without it, SQLite syncs inside each COMMIT, as before a loop) */
	if (st->want_sync_thread)
		store_walsync_start(st, loop);
	return 0;
}

void store_set_batch_hook(struct store *st, store_batch_fn fn, void *ud)
{
	st->batch_fn = fn;
	st->batch_ud = ud;
}

void store_batch(struct store *st, bool begin)
{
	if (st->batch_fn)
		st->batch_fn(st->batch_ud, begin);
}

void store_set_sync_thread(struct store *st, bool on)
{
	st->want_sync_thread = on;
}

void store_detach_loop(struct store *st)
{
	if (st && st->attached) {
		store_flush(st);
		store_walsync_stop(st);
		store_flush(st);
		uv_prepare_stop(&st->prep);
		uv_close((uv_handle_t *)&st->prep, NULL);
		uv_timer_stop(&st->pace);
		uv_close((uv_handle_t *)&st->pace, NULL);
		uv_idle_stop(&st->more);
		uv_close((uv_handle_t *)&st->more, NULL);
		st->attached = false;
	}
}

void store_queue(struct store *st, store_apply_fn apply, store_after_fn after, void *arg)
{
	struct wq_entry *e = calloc(1, sizeof *e);

	if (!e) {
		/* Nothing was written: say so, as a failed commit would. */
		if (after)
			after(arg, TE_NOMEM);
		return;
	}
	e->apply = apply;
	e->after = after;
	e->arg = arg;
	if (st->tail)
		st->tail->next = e;
	else
		st->head = e;
	st->tail = e;
	st->queued++;
	if (!st->attached)
		store_flush(st);
}

int store_atomic(struct store *st, store_apply_fn fn, void *arg)
{
	int rc;

	if (sqlite3_step(store_stmt(st, S_SAVEPOINT)) != SQLITE_DONE)
		return TE_IO;
	rc = fn(st, arg);
	if (rc)
		sqlite3_step(store_stmt(st, S_ROLLBACK_TO));
	sqlite3_step(store_stmt(st, S_RELEASE));
	return rc;
}

/* ---- WAL checkpoints, off the loop ---------------------------------------
 * SQLite's own rule checkpoints inside the commit that takes the WAL past
 * 1,000 pages: the loop copies those pages into the database and syncs it
 * (2-3 % of a 10k fan-out's CPU, and a pause of that commit). Here the
 * automatic checkpoint is off; the WAL hook notes the WAL's size after each
 * commit and, past STORE_CKPT_PAGES with a loop attached, a worker makes a
 * PASSIVE checkpoint on a connection of its own (it waits for no writer
 * and no reader; the next commit after a complete one restarts the WAL).
 * Without a loop (tools, tests, the end of a run) the commit checkpoints
 * itself, as SQLite would, past SQLite's own 1,000 pages. With a loop the
 * WAL grows to 4,000 pages (16 MB) first: a checkpoint copies the newest
 * version of each page once, and the pages that every commit rewrites (the
 * tables' and indexes' last leaves, their parents) are copied once per
 * checkpoint, so fewer checkpoints copy fewer pages per job (a 10,000-agent
 * fan-out: 1 to 2 us less tetherd CPU per agent, issue 19's sixth pass). */
#define STORE_CKPT_PAGES 1000
#define STORE_CKPT_PAGES_LOOP 4000

static void ckpt_work(uv_work_t *w)
{
	struct store *st = w->data;
	uint64_t t0 = util_mono_us();

	st->ckpt_rc = SQLITE_OK;
	if (!st->ckpt_db) {
		st->ckpt_rc = sqlite3_open_v2(st->path, &st->ckpt_db,
					      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
		if (st->ckpt_rc == SQLITE_OK)
			st->ckpt_rc = sqlite3_exec(st->ckpt_db, "PRAGMA synchronous=FULL;", NULL, NULL,
						   NULL);
		if (st->ckpt_rc != SQLITE_OK) {
			sqlite3_close(st->ckpt_db);
			st->ckpt_db = NULL;
		}
	}
	if (st->ckpt_db)
		st->ckpt_rc = sqlite3_wal_checkpoint_v2(st->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE,
							NULL, NULL);
	st->ckpt_us = util_mono_us() - t0;
}

static void ckpt_after(uv_work_t *w, int status)
{
	struct store *st = w->data;

	(void)status;
	st->ckpt_running = false;
	if (st->ckpt_rc != SQLITE_OK && st->ckpt_rc != SQLITE_BUSY) {
		log_error("store: checkpoint: %s", sqlite3_errstr(st->ckpt_rc));
		return;
	}
	st->checkpoints++;
	st->ckpt_sum += (double)st->ckpt_us / 1e6;
}

static int wal_hook(void *ud, sqlite3 *db, const char *name, int pages)
{
	struct store *st = ud;

	(void)name;
	st->wal_pages = pages;
	if (pages < (st->attached ? STORE_CKPT_PAGES_LOOP : STORE_CKPT_PAGES) || st->ckpt_running)
		return SQLITE_OK;
	if (st->attached) {
		st->ckpt.data = st;
		if (!uv_queue_work(uv_handle_get_loop((uv_handle_t *)&st->prep), &st->ckpt, ckpt_work,
				   ckpt_after)) {
			st->ckpt_running = true;
			return SQLITE_OK;
		}
	}
	sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return SQLITE_OK;
}

void store_checkpoint_stats(const struct store *st, uint64_t *count, double *seconds)
{
	*count = st->checkpoints;
	*seconds = st->ckpt_sum;
}

static const double commit_bounds[STORE_HIST_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1,
};

static void commit_timed(struct store *st, uint64_t us)
{
	double s = (double)us / 1e6;
	size_t i = 0;

	while (i < STORE_HIST_BUCKETS && s > commit_bounds[i])
		i++;
	st->commit_hist[i]++;
	st->commit_sum += s;
}

void store_commit_histogram(const struct store *st, const double **bounds,
			    const uint64_t **counts, size_t *n, double *sum)
{
	*bounds = commit_bounds;
	*counts = st->commit_hist;
	*n = STORE_HIST_BUCKETS;
	*sum = st->commit_sum;
}

/* One transaction of at most max entries from the queue's head, then
 * their callbacks (which may queue more). */
static void commit_batch(struct store *st, uint64_t max)
{
	struct wq_entry *list = st->head, *e, *next, *last = st->head;
	bool ok;

	for (uint64_t n = 1; n < max && last->next; n++)
		last = last->next;
	st->head = last->next;
	if (!st->head)
		st->tail = NULL;
	last->next = NULL;
	st->last_start_us = util_mono_us();
	if (st->last_start_us - st->last_commit_us < STORE_COMMIT_GAP_US)
		st->streak++;
	else
		st->streak = 0;
	pthread_mutex_lock(&st->write_lock);
	ok = step_once(st, S_BEGIN);
	st->last_writes = 0;
	for (e = list; e; e = e->next) {
		e->rc = ok ? e->apply(st, e->arg) : TE_IO;
		st->writes++;
		st->last_writes++;
		st->queued--;
	}
	if (ok && !step_once(st, S_COMMIT)) {
		log_error("store: commit failed: %s", sqlite3_errmsg(st->db));
		step_once(st, S_ROLLBACK);
		ok = false;
	}
	pthread_mutex_unlock(&st->write_lock);
	if (ok)
		st->commits++;
	st->last_commit_us = util_mono_us();
	commit_timed(st, st->last_commit_us - st->last_start_us);
	if (st->ws) {
		/* durable once the sync thread's next fdatasync ends: the
		 * callbacks wait for it (walsync.c) */
		for (e = list; e; e = e->next)
			e->rc = ok ? e->rc : TE_IO;
		store_walsync_committed(st, list, last);
		return;
	}
	store_batch(st, true);
	for (e = list; e; e = next) {
		next = e->next;
		if (e->after)
			e->after(e->arg, ok ? e->rc : TE_IO);
		free(e);
	}
	store_batch(st, false);
}

/* Commits the queue's first max entries (one transaction), and once more
 * what their callbacks queued, while max allows. */
static void flush_some(struct store *st, uint64_t max)
{
	uint64_t done = 0;

	if (st->flushing)
		return;
	st->flushing = true;
	while (st->head && done < max) {
		uint64_t before = st->writes;

		commit_batch(st, max - done);
		done += st->writes - before;
	}
	st->flushing = false;
}

void store_flush(struct store *st)
{
	flush_some(st, UINT64_MAX);
}

void store_stats(const struct store *st, uint64_t *commits, uint64_t *writes)
{
	*commits = st->commits;
	*writes = st->writes;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	if (st->purge) {
		/* Its worker still uses st: the loop ran out before the purge
		 * (a start that failed half way). Leave both to the exit. */
		log_error("store: closed while a purge runs; left open");
		return;
	}
	if (st->ckpt_running) {
		/* (the loop runs until its work is done: not seen) */
		log_error("store: closed while a checkpoint runs; left open");
		return;
	}
	sqlite3_close(st->ckpt_db);
	store_flush(st);
	store_walsync_stop(st);
	store_flush(st);
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	if (st->write_lock_ready)
		pthread_mutex_destroy(&st->write_lock);
	free(st);
}

int store_step_done(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_DONE)
		return 0;
	if (rc == SQLITE_CONSTRAINT)
		return TE_EXISTS;
	log_error("store: %s: %s", what, sqlite3_errmsg(st->db));
	return TE_IO;
}

json_t *store_col_time(sqlite3_stmt *s, int col)
{
	char t[TIME_STR_LEN];

	if (sqlite3_column_type(s, col) == SQLITE_NULL)
		return json_null();
	util_time_format(sqlite3_column_int64(s, col), t);
	return json_string(t);
}

json_t *store_col_text(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	return json_string(t ? (const char *)t : "");
}

/* A '*' wildcard pattern as a LIKE pattern (escape '\\'), into out. */
void store_like_pattern(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (const char *c = in; *c && o < outlen - 3; c++) {
		if (*c == '%' || *c == '_' || *c == '\\')
			out[o++] = '\\';
		out[o++] = *c == '*' ? '%' : *c;
	}
	out[o] = '\0';
}
