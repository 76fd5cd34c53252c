/* walsync: the group commit's fsync, off the loop.
 *
 * With synchronous=FULL, SQLite calls fdatasync on the WAL inside every
 * COMMIT, on the loop: 0.1 to 0.8 ms here in which the loop serves no
 * socket (a third of the store's time in a 10,000-agent fan-out). With a
 * loop attached, the loop's connection runs synchronous=NORMAL instead
 * (SQLite's own WAL mode without a sync per commit; checkpoints, on their
 * own connection, still sync the WAL first) and this thread makes the
 * commits durable: one fdatasync of the WAL file covers every commit
 * written before it began. The callbacks (the `after`s) of a commit run
 * only once such a sync has ended, so what they do (send `run`, ack a
 * result, answer a request) still follows durability. While one sync runs
 * the loop serves sockets but does not commit (sqlite.c's prepare handle):
 * what was queued meanwhile goes in one commit when it ends. The reads made
 * while a commit waits for its sync wait too (read_wait.c), so no reader
 * sees a row before it is durable (docs/internals/store.md). */
#include "store/store_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

struct walsync {
	struct store *st;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uv_async_t done_async;
	char wal_path[1040];
	char dir_path[1024];
	int fd;               /* the WAL, opened by us (the thread syncs it) */
	/* under mu */
	bool requested;       /* a sync asked for and not yet done */
	bool finished;        /* a sync done, its result not yet taken */
	bool stop;
	int rc;               /* its result: 0 or an errno */
	uint64_t us;          /* its time */
};

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return errno;
	if (fsync(fd))
		rc = errno;
	close(fd);
	return rc;
}

/* The WAL as it is now: SQLite keeps the file while a connection is open
 * and rewrites it in place, but a descriptor to a file replaced under the
 * same name would sync the old one. Returns 0 or an errno. */
static int sync_wal(struct walsync *ws)
{
	struct stat a, b;

	if (fdatasync(ws->fd))
		return errno;
	if (fstat(ws->fd, &a) || stat(ws->wal_path, &b))
		return errno ? errno : EIO;
	if (a.st_ino == b.st_ino && a.st_dev == b.st_dev)
		return 0;
	/* replaced: the new file, and the name */
	int fd = open(ws->wal_path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errno;
	close(ws->fd);
	ws->fd = fd;
	if (fdatasync(ws->fd))
		return errno;
	return sync_dir(ws->dir_path);
}

static void *sync_main(void *arg)
{
	struct walsync *ws = arg;

	pthread_mutex_lock(&ws->mu);
	for (;;) {
		while (!ws->requested && !ws->stop)
			pthread_cond_wait(&ws->cv, &ws->mu);
		if (!ws->requested)
			break;
		pthread_mutex_unlock(&ws->mu);
		uint64_t t0 = util_mono_us();
		int rc = sync_wal(ws);
		uint64_t us = util_mono_us() - t0;

		pthread_mutex_lock(&ws->mu);
		ws->requested = false;
		ws->finished = true;
		ws->rc = rc;
		ws->us = us;
		pthread_cond_broadcast(&ws->cv);
		uv_async_send(&ws->done_async);
	}
	pthread_mutex_unlock(&ws->mu);
	return NULL;
}

/* Runs the callbacks of list (in order) with rc for a failed sync. */
static void run_afters(struct wq_entry *list, int sync_rc)
{
	struct wq_entry *e, *next;

	for (e = list; e; e = next) {
		next = e->next;
		if (e->after)
			e->after(e->arg, sync_rc ? TE_IO : e->rc);
		free(e);
	}
}

/* Asks for a sync of what is unsynced (the loop; none running). */
static void begin_sync(struct store *st)
{
	struct walsync *ws = st->ws;

	st->syncing = st->unsynced;
	st->unsynced = st->unsynced_tail = NULL;
	pthread_mutex_lock(&ws->mu);
	ws->requested = true;
	pthread_cond_signal(&ws->cv);
	pthread_mutex_unlock(&ws->mu);
}

/* The loop: a sync's result. Takes it, runs the callbacks it covers, and
 * begins the next sync if commits came meanwhile. */
/* A sync of list has ended (rc, us): counted, and its callbacks run
 * (with the reads that waited), once the next sync has begun if commits
 * came meanwhile. */
static void synced(struct store *st, struct wq_entry *list, int rc, uint64_t us)
{
	st->last_sync_end_us = util_mono_us();
	st->syncs++;
	st->sync_sum += (double)us / 1e6;
	if (rc)
		log_error("store: fdatasync of the WAL: %s", strerror(rc));
	if (st->unsynced)
		begin_sync(st);
	store_batch(st, true);
	run_afters(list, rc);
	store_reads_resume(st);
	store_batch(st, false);
}

static void take_result(struct store *st, int rc, uint64_t us)
{
	struct wq_entry *list = st->syncing;

	st->syncing = NULL;
	synced(st, list, rc, us);
}

static void done_cb(uv_async_t *a)
{
	struct walsync *ws = a->data;
	int rc;
	uint64_t us;

	pthread_mutex_lock(&ws->mu);
	if (!ws->finished) {
		pthread_mutex_unlock(&ws->mu);
		return;
	}
	ws->finished = false;
	rc = ws->rc;
	us = ws->us;
	pthread_mutex_unlock(&ws->mu);
	take_result(ws->st, rc, us);
}

/* A commit of one write on a quiet store (no sync for a while, none
 * running or waiting) is synced on the loop itself: handing it to the
 * thread costs a wake-up, which on a busy machine waits for a core (0.1 to
 * 0.3 ms seen here, twice per request), and a wake-up back. Under load the
 * commits come closer together or carry more writes, and the thread takes
 * them. */
#define STORE_INLINE_SYNC_GAP_US 1000

static bool sync_inline(struct store *st, uint64_t now)
{
	return st->last_writes == 1 && !st->syncing && !st->unsynced &&
	       now - st->last_sync_end_us > STORE_INLINE_SYNC_GAP_US;
}

void store_walsync_committed(struct store *st, struct wq_entry *first, struct wq_entry *last)
{
	uint64_t t0 = util_mono_us();

	if (sync_inline(st, t0)) {
		int rc = sync_wal(st->ws);

		synced(st, first, rc, util_mono_us() - t0);
		return;
	}
	if (st->unsynced_tail)
		st->unsynced_tail->next = first;
	else
		st->unsynced = first;
	st->unsynced_tail = last;
	if (!st->syncing)
		begin_sync(st);
}

static void async_closed(uv_handle_t *h)
{
	struct walsync *ws = h->data;

	close(ws->fd);
	pthread_mutex_destroy(&ws->mu);
	pthread_cond_destroy(&ws->cv);
	free(ws);
}

int store_walsync_start(struct store *st, uv_loop_t *loop)
{
	struct walsync *ws = calloc(1, sizeof *ws);
	const char *slash;
	int rc;

	if (!ws)
		return -1;
	ws->st = st;
	snprintf(ws->wal_path, sizeof ws->wal_path, "%s-wal", st->path);
	slash = strrchr(st->path, '/');
	if (slash)
		snprintf(ws->dir_path, sizeof ws->dir_path, "%.*s", (int)(slash - st->path),
			 st->path);
	else
		snprintf(ws->dir_path, sizeof ws->dir_path, ".");
	/* the WAL exists once a connection has opened the file in WAL mode */
	ws->fd = open(ws->wal_path, O_RDONLY | O_CLOEXEC);
	if (ws->fd < 0 || fdatasync(ws->fd) || sync_dir(ws->dir_path)) {
		log_warn("store: %s: %s; each commit syncs on the loop", ws->wal_path,
			 strerror(errno));
		if (ws->fd >= 0)
			close(ws->fd);
		free(ws);
		return -1;
	}
	pthread_mutex_init(&ws->mu, NULL);
	pthread_cond_init(&ws->cv, NULL);
	if (uv_async_init(loop, &ws->done_async, done_cb)) {
		close(ws->fd);
		pthread_mutex_destroy(&ws->mu);
		pthread_cond_destroy(&ws->cv);
		free(ws);
		return -1;
	}
	ws->done_async.data = ws;
	rc = pthread_create(&ws->thread, NULL, sync_main, ws);
	if (rc || sqlite3_exec(st->db, "PRAGMA synchronous=NORMAL;", NULL, NULL, NULL) != SQLITE_OK) {
		if (!rc) {
			pthread_mutex_lock(&ws->mu);
			ws->stop = true;
			pthread_cond_signal(&ws->cv);
			pthread_mutex_unlock(&ws->mu);
			pthread_join(ws->thread, NULL);
		}
		log_warn("store: no sync thread; each commit syncs on the loop");
		uv_close((uv_handle_t *)&ws->done_async, async_closed);
		return -1;
	}
	st->ws = ws;
	return 0;
}

void store_walsync_stop(struct store *st)
{
	struct walsync *ws = st->ws;
	struct wq_entry *first, *rest;
	int rc = 0, rest_rc = 0;
	uint64_t us = 0, t0;

	if (!ws)
		return;
	pthread_mutex_lock(&ws->mu);
	while (ws->requested)
		pthread_cond_wait(&ws->cv, &ws->mu);
	if (ws->finished) {
		ws->finished = false;
		rc = ws->rc;
		us = ws->us;
	}
	ws->stop = true;
	pthread_cond_signal(&ws->cv);
	pthread_mutex_unlock(&ws->mu);
	pthread_join(ws->thread, NULL);
	/* From here on SQLite syncs each COMMIT again. */
	st->ws = NULL;
	sqlite3_exec(st->db, "PRAGMA synchronous=FULL;", NULL, NULL, NULL);
	first = st->syncing;
	rest = st->unsynced;
	st->syncing = st->unsynced = st->unsynced_tail = NULL;
	if (first) {
		st->syncs++;
		st->sync_sum += (double)us / 1e6;
	}
	if (rest) {
		t0 = util_mono_us();
		rest_rc = sync_wal(ws);
		st->syncs++;
		st->sync_sum += (double)(util_mono_us() - t0) / 1e6;
	}
	uv_close((uv_handle_t *)&ws->done_async, async_closed);
	/* (their callbacks may queue writes: committed by the caller's flush) */
	run_afters(first, rc);
	run_afters(rest, rest_rc);
	store_reads_resume(st);
}

void store_sync_stats(const struct store *st, uint64_t *count, double *seconds)
{
	*count = st->syncs;
	*seconds = st->sync_sum;
}
