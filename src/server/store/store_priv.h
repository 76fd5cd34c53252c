/* store_priv: what the store's files share and nobody else sees. The
 * SQLite backend is sqlite.c (the connection, the group commit, the
 * statement helpers), migrate.c (the schema), jobs.c (jobs, multi jobs,
 * idempotency keys), records.c (clients, keyed records, audit) and read.c
 * (the callback reads). See docs/internals/store.md. */
#ifndef TETHER_STORE_PRIV_H
#define TETHER_STORE_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pthread.h>

#include <jansson.h>
#include <sqlite3.h>
#include <uv.h>

#include "store/store.h"

/* The statements prepared once at open (their SQL is in sqlite.c). */
enum stmt_id {
	S_JOB_INSERT,
	S_JOB_STARTED,
	S_JOB_FINISH,
	S_JOB_GET,
	S_JOB_LIST_CLIENT,
	S_JOB_COUNT_CLIENT,
	S_JOB_STATUS,
	S_CLIENT_PUT,
	S_CLIENT_ALL,
	S_JOB_RUNNING,
	S_JOB_RUNNING_OF,
	S_JOB_CHILDREN,
	S_MULTI_PUT,
	S_MULTI_GET,
	S_MULTI_LIST,
	S_MULTI_COUNT,
	S_MULTI_ALL,
	S_JOB_UNCONFIRMED_OF,
	S_IDEM_GET,
	S_IDEM_PUT,
	S_IDEM_DELETE,
	S_SAVEPOINT,
	S_RELEASE,
	S_ROLLBACK_TO,
	S_JOB_DISPATCH,
	S_JOB_REQUEUE,
	S_JOB_UNQUEUE_EXPIRED,
	S_JOB_UNQUEUE_CANCELLED,
	S_JOB_EXPIRE,
	S_MULTI_CREATOR,
	S_AUDIT_PUT,
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_COUNT
};

/* One write of the group commit queue (sqlite.c), then, committed, one of
 * the entries waiting for the WAL's sync (walsync.c). */
struct wq_entry {
	store_apply_fn apply;
	store_after_fn after;
	void *arg;
	int rc;
	struct wq_entry *next;
};

struct purge;
struct walsync;
struct rd;

/* read_wait.c: a callback read that waits (with the sync thread, while a
 * commit is written but not yet called back) is kept as its kind and a
 * copy of its arguments, and made once the callbacks have run. */
enum rd_kind {
	RD_JOB, RD_JOB_QUERY, RD_AUDIT, RD_MULTI, RD_MULTI_CREATOR, RD_IDEM, RD_RUNNING_OF,
	RD_UNCONFIRMED_OF, RD_RUNNING, RD_CHILD, RD_MULTI_LIST, RD_LIBRARY, RD_LIBRARY_LIST,
	RD_SCHEDULE_RUNS, RD_TAT_IDS, RD_TAT_KEY, RD_TAT_KEYS_OF,
};
struct rd_args {
	enum rd_kind kind;
	const char *s[3];            /* the read's strings, in its order */
	int64_t n[2];                /* its numbers, likewise */
	const void *q;               /* its query (job, audit, TAT ids) */
	const char *const *ids;      /* schedule runs: the ids */
	size_t nids;
	void (*cb)(void);            /* its callback (done for the "each" reads), cast back */
	void (*fn)(void);            /* the "each" reads' row function */
	void *ud;
};

#define STORE_HIST_BUCKETS 12

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[S_COUNT];
	uv_prepare_t prep;
	uv_timer_t pace;          /* a deferred flush (commit pacing) */
	uv_idle_t more;           /* keeps the loop from blocking while writes wait */
	uint64_t queued;          /* entries in the queue */
	uint64_t last_commit_us;  /* monotonic end of the last commit */
	uint64_t last_start_us;   /* monotonic start of the last commit */
	int streak;               /* commits in a row that came close together */
	uint64_t last_writes;     /* writes the last commit carried */
	store_batch_fn batch_fn;  /* around each commit's afters */
	void *batch_ud;
	bool attached;
	bool flushing;
	struct wq_entry *head;    /* the group commit queue */
	struct wq_entry *tail;
	uint64_t commits;
	uint64_t writes;
	uint64_t commit_hist[STORE_HIST_BUCKETS + 1];  /* commit times, store_commit_histogram */
	double commit_sum;
	char path[1024];          /* tether.db, for the purge's own connection */
	/* Held around every write transaction: the loop's commits and the
	 * purge's batches on its worker take turns here rather than in
	 * SQLite's busy handler, which sleeps and is not fair (purge.c). */
	pthread_mutex_t write_lock;
	bool write_lock_ready;
	struct purge *purge;      /* the purge running, or NULL */
	/* The WAL's checkpoints run on a worker (sqlite.c), with a connection
	 * of their own, instead of inside the loop's commits. */
	uv_work_t ckpt;
	sqlite3 *ckpt_db;         /* opened and used by the worker only */
	bool ckpt_running;
	int wal_pages;            /* the WAL's size after the last commit */
	int ckpt_rc;              /* the worker's last result (read in its after) */
	uint64_t ckpt_us;         /* its time */
	uint64_t checkpoints;
	double ckpt_sum;
	/* With a loop, the commits' fsync runs on a thread of its own
	 * (walsync.c): committed entries wait here for it, in order. NULL
	 * ws: SQLite syncs inside each COMMIT (synchronous=FULL). */
	struct walsync *ws;
	bool want_sync_thread;          /* store_set_sync_thread */
	struct wq_entry *unsynced;      /* committed since the running sync began */
	struct wq_entry *unsynced_tail;
	struct wq_entry *syncing;       /* committed before it began */
	uint64_t syncs;
	uint64_t last_sync_end_us;  /* monotonic end of the last sync (walsync.c) */
	double sync_sum;
	struct rd *rd_head;             /* reads waiting for the callbacks (read_wait.c) */
	struct rd *rd_tail;
	int rd_running;                 /* a kept read is being made: it does not wait again */
};

/* walsync.c: the fsync of the commits, off the loop. start: the thread
 * and the WAL's descriptor, then synchronous=NORMAL on the loop's
 * connection (0, or -1: SQLite keeps syncing each COMMIT itself). stop:
 * every entry's sync done and its callback run, synchronous=FULL again.
 * committed: the entries of one COMMIT (first..last, linked), whose
 * callbacks run once a sync begun after it has ended. */
int store_walsync_start(struct store *st, uv_loop_t *loop);
void store_walsync_stop(struct store *st);
void store_walsync_committed(struct store *st, struct wq_entry *first, struct wq_entry *last);

/* read_wait.c. wait: whether a callback read must wait now. later: keeps
 * the read a (copied) when it must and says so; false: make it now.
 * resume: makes the kept reads once nothing waits to be called back
 * (walsync.c, after the callbacks). */
bool store_reads_wait(const struct store *st);
bool store_read_later(struct store *st, const struct rd_args *a);
void store_reads_resume(struct store *st);
/* Calls the batch hook, if any (store_set_batch_hook). */
void store_batch(struct store *st, bool begin);

/* Idempotency keys are kept a day (docs/api.md). */
#define STORE_IDEM_KEEP_NS (86400LL * 1000000000LL)

/* migrate.c: brings the schema to the newest version this program knows,
 * one numbered step at a time, and refuses a newer database. Returns 0 or
 * -1 with *msg (sqlite3_free it) set to why, or NULL. */
int store_migrate(sqlite3 *db, char **msg);

/* sqlite.c: the prepared statement id, reset and with no bindings. */
sqlite3_stmt *store_stmt(struct store *st, enum stmt_id id);
/* Steps a statement that returns no rows: 0, TE_EXISTS (a constraint) or
 * TE_IO (logged with what). */
int store_step_done(struct store *st, sqlite3_stmt *s, const char *what);
/* Column col as rport's time string, or JSON null when NULL. New ref. */
json_t *store_col_time(sqlite3_stmt *s, int col);
/* Column col as a JSON string ("" when NULL). New ref. */
json_t *store_col_text(sqlite3_stmt *s, int col);
/* A '*' wildcard pattern as a LIKE pattern (escape '\\'), into out. */
void store_like_pattern(const char *in, char *out, size_t outlen);

/* migrate.c: a database made before incremental vacuum was on gets it
 * (one VACUUM, at open, before the loop runs). 0 or -1 with *msg. */
int store_vacuum_mode(sqlite3 *db, char **msg);

/* jobs.c: deletes idempotency keys created before before_ns (at open). */
void store_idem_prune(struct store *st, int64_t before_ns);

#endif
