/* journal: small files per job plus an append-only log of acked jids. */
#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <uthash.h>
#include <uv.h>

#include "log.h"
#include "util.h"

#define JOURNAL_MAX_FILE (80 * 1024 * 1024)

struct entry {
	char jid[UUID_STR_LEN];
	enum journal_state state;
	uint64_t seq;              /* order of arrival, for pruning */
	UT_hash_handle hh;
};

struct journal {
	char dir[600];
	struct entry *entries;
	uint64_t seq;
	size_t ndone;
	size_t nresults;
	int done_fd;
	size_t done_lines;
	uv_loop_t *loop;   /* results are fsync'd on its thread pool; NULL: inline */
};

static int path_of(const struct journal *j, const char *sub, const char *jid, char *out,
		   size_t outlen)
{
	if (snprintf(out, outlen, "%s/%s/%s", j->dir, sub, jid) >= (int)outlen)
		return -1;
	return 0;
}

static struct entry *entry_get(struct journal *j, const char *jid, bool create)
{
	struct entry *e;

	HASH_FIND_STR(j->entries, jid, e);
	if (e || !create)
		return e;
	e = calloc(1, sizeof *e);
	if (!e)
		return NULL;
	util_strlcpy(e->jid, jid, sizeof e->jid);
	e->seq = ++j->seq;
	HASH_ADD_STR(j->entries, jid, e);
	return e;
}

/* Writes all of text to fd (again after EINTR). Returns 0 or -1. */
static int write_all(int fd, const char *text, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

/* Writes a whole file via a temporary name; fsync when durable. With
 * keep_fd, the file is renamed unsynced and its descriptor left open in
 * *keep_fd for the caller to sync. */
static int write_file(const char *path, const char *text, size_t len, bool durable, int *keep_fd)
{
	char tmp[700];
	int fd;

	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (write_all(fd, text, len)) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (keep_fd) {
		if (rename(tmp, path)) {
			close(fd);
			unlink(tmp);
			return -1;
		}
		*keep_fd = fd;
		return 0;
	}
	if ((durable && fdatasync(fd)) || close(fd) || rename(tmp, path)) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Writes a whole file under its own name (created or truncated). */
static int write_direct(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		return -1;
	if (write_all(fd, text, len)) {
		close(fd);
		unlink(path);
		return -1;
	}
	return close(fd);
}

static void synced(uv_fs_t *req)
{
	int fd = (int)(intptr_t)req->data;

	if (req->result < 0)
		log_warn("journal: fdatasync of a result: %s", uv_strerror((int)req->result));
	close(fd);
	uv_fs_req_cleanup(req);
	free(req);
}

/* Puts the file's data on disk off the loop: the result goes to the server
 * meanwhile. Synchronous when there is no loop or no memory. */
static void sync_later(struct journal *j, int fd)
{
	uv_fs_t *req = j->loop ? malloc(sizeof *req) : NULL;

	if (req) {
		req->data = (void *)(intptr_t)fd;
		if (uv_fs_fdatasync(j->loop, req, fd, synced) == 0)
			return;
		free(req);
	}
	if (fdatasync(fd))
		log_warn_errno("journal: fdatasync of a result");
	close(fd);
}

void journal_set_loop(struct journal *j, uv_loop_t *loop)
{
	j->loop = loop;
}

static char *read_file(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t off = 0;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) || st.st_size < 0 || st.st_size > JOURNAL_MAX_FILE) {
		close(fd);
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return NULL;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		off += (size_t)n;
	}
	close(fd);
	buf[off] = '\0';
	*len = off;
	return buf;
}

static int mkdir_p(const char *path)
{
	if (mkdir(path, 0700) && errno != EEXIST)
		return -1;
	return 0;
}

/* Rewrites done.log with the newest JOURNAL_MAX_DONE jids. */
static void done_compact(struct journal *j)
{
	char path[700], tmp[720];
	struct entry *e, *t;
	struct entry **acked;
	size_t n = 0;
	FILE *f;

	acked = malloc((j->ndone + 1) * sizeof *acked);
	if (!acked)
		return;
	HASH_ITER(hh, j->entries, e, t)
		if (e->state == JOURNAL_ACKED)
			acked[n++] = e;
	/* Entries are in insertion order: the oldest come first. */
	snprintf(path, sizeof path, "%s/done.log", j->dir);
	snprintf(tmp, sizeof tmp, "%s/done.log.tmp", j->dir);
	f = fopen(tmp, "w");
	if (!f) {
		free(acked);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (n - i > JOURNAL_MAX_DONE) {
			HASH_DEL(j->entries, acked[i]);
			free(acked[i]);
			j->ndone--;
			continue;
		}
		fprintf(f, "%s\n", acked[i]->jid);
	}
	free(acked);
	if (fflush(f) || fdatasync(fileno(f)) || fclose(f) || rename(tmp, path)) {
		unlink(tmp);
		return;
	}
	if (j->done_fd >= 0)
		close(j->done_fd);
	j->done_fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	j->done_lines = j->ndone;
}

static void load_dir(struct journal *j, const char *sub, enum journal_state state)
{
	char path[700];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof path, "%s/%s", j->dir, sub);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		struct entry *e;

		if (!util_is_uuid(de->d_name))
			continue;
		e = entry_get(j, de->d_name, true);
		if (!e)
			continue;
		if (e->state == JOURNAL_ACKED ||
		    (state == JOURNAL_RUNNING && e->state == JOURNAL_FINISHED)) {
			/* Left over by a crash between two steps: the later
			 * state is known, this file is stale. */
			char stale[1000];

			if (snprintf(stale, sizeof stale, "%s/%s", path, de->d_name) < (int)sizeof stale)
				unlink(stale);
			continue;
		}
		e->state = state;
		if (state == JOURNAL_FINISHED)
			j->nresults++;
	}
	closedir(d);
}

int journal_open(const char *data_dir, struct journal **out, char *err, size_t errlen)
{
	struct journal *j = calloc(1, sizeof *j);
	char path[700];
	FILE *f;

	if (!j)
		return -1;
	j->done_fd = -1;
	if (snprintf(j->dir, sizeof j->dir, "%s/journal", data_dir) >= (int)sizeof j->dir) {
		snprintf(err, errlen, "data_dir path too long");
		free(j);
		return -1;
	}
	snprintf(path, sizeof path, "%s/run", j->dir);
	if (mkdir_p(j->dir) || mkdir_p(path)) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		free(j);
		return -1;
	}
	snprintf(path, sizeof path, "%s/result", j->dir);
	if (mkdir_p(path)) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		free(j);
		return -1;
	}
	snprintf(path, sizeof path, "%s/done.log", j->dir);
	f = fopen(path, "r");
	if (f) {
		char line[128];

		while (fgets(line, sizeof line, f)) {
			struct entry *e;

			line[strcspn(line, "\r\n")] = '\0';
			if (!util_is_uuid(line))
				continue;
			e = entry_get(j, line, true);
			if (e && e->state != JOURNAL_ACKED) {
				e->state = JOURNAL_ACKED;
				j->ndone++;
			}
			j->done_lines++;
		}
		fclose(f);
	}
	load_dir(j, "result", JOURNAL_FINISHED);
	load_dir(j, "run", JOURNAL_RUNNING);
	j->done_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (j->done_fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		journal_close(j);
		return -1;
	}
	if (j->done_lines > 2 * JOURNAL_MAX_DONE)
		done_compact(j);
	*out = j;
	return 0;
}

void journal_close(struct journal *j)
{
	struct entry *e, *t;

	if (!j)
		return;
	HASH_ITER(hh, j->entries, e, t) {
		HASH_DEL(j->entries, e);
		free(e);
	}
	if (j->done_fd >= 0)
		close(j->done_fd);
	free(j);
}

json_t *journal_held(struct journal *j)
{
	json_t *arr = json_array();
	struct entry *e, *t;

	HASH_ITER(hh, j->entries, e, t)
		if (e->state == JOURNAL_FINISHED)
			json_array_append_new(arr, json_string(e->jid));
	return arr;
}

enum journal_state journal_state_of(struct journal *j, const char *jid)
{
	struct entry *e = entry_get(j, jid, false);

	return e ? e->state : JOURNAL_UNKNOWN;
}

int journal_record_run(struct journal *j, const char *jid, const char *text, size_t len)
{
	char path[700];
	struct entry *e;

	if (!util_is_uuid(jid) || path_of(j, "run", jid, path, sizeof path))
		return -1;
	/* Written (not fsync'd) before the spawn: it survives a crash of the
	 * agent, which is what a second run must be protected from. Straight
	 * to its name, without a temporary file and a rename on the way to the
	 * spawn: its existence is the record; a file a crash left torn still
	 * makes the job an orphan (reported unknown), never a second run. */
	if (write_direct(path, text, len))
		return -1;
	e = entry_get(j, jid, true);
	if (!e)
		return -1;
	e->state = JOURNAL_RUNNING;
	return 0;
}

int journal_record_result(struct journal *j, const char *jid, const char *text, size_t len)
{
	char path[700];
	struct entry *e;
	int fd;

	if (!util_is_uuid(jid) || path_of(j, "result", jid, path, sizeof path))
		return -1;
	if (j->nresults >= JOURNAL_MAX_RESULTS)
		log_warn("journal: %zu results wait for the server; keeping this one too",
			 j->nresults);
	if (write_file(path, text, len, true, &fd)) {
		log_error_errno("journal: cannot write %s", path);
		return -1;
	}
	/* In the page cache now: it survives a crash of the agent. The
	 * fdatasync (for a crash of the system) runs on libuv's thread pool
	 * while the result is sent; a result file a system crash left empty
	 * or torn is reported as unknown at the next start (conn.c). The run
	 * record goes at the ack, off the way to the server: until then the
	 * result file wins over it (load_dir). */
	sync_later(j, fd);
	e = entry_get(j, jid, true);
	if (!e)
		return -1;
	if (e->state != JOURNAL_FINISHED)
		j->nresults++;
	e->state = JOURNAL_FINISHED;
	return 0;
}

int journal_ack(struct journal *j, const char *jid)
{
	char path[700], run[700], line[64];
	struct entry *e = entry_get(j, jid, false);
	int n;

	if (!e || e->state == JOURNAL_ACKED)
		return 0;
	if (path_of(j, "result", jid, path, sizeof path) || path_of(j, "run", jid, run, sizeof run))
		return -1;
	/* The tombstone first: a crash in between leaves both, and the
	 * result is then acked again, harmlessly (a run record left beside
	 * a tombstone or a result is stale: load_dir removes it). */
	n = snprintf(line, sizeof line, "%s\n", jid);
	if (j->done_fd >= 0 && write(j->done_fd, line, (size_t)n) != n)
		log_warn_errno("journal: cannot append to done.log");
	unlink(path);
	unlink(run);
	if (e->state == JOURNAL_FINISHED)
		j->nresults--;
	e->state = JOURNAL_ACKED;
	j->ndone++;
	j->done_lines++;
	if (j->done_lines > 2 * JOURNAL_MAX_DONE)
		done_compact(j);
	return 0;
}

void journal_each_result(struct journal *j,
			 void (*fn)(void *ud, const char *jid, char *text, size_t len), void *ud)
{
	struct entry *e, *t;

	HASH_ITER(hh, j->entries, e, t) {
		char path[700];
		size_t len;
		char *text;

		if (e->state != JOURNAL_FINISHED || path_of(j, "result", e->jid, path, sizeof path))
			continue;
		text = read_file(path, &len);
		if (text)
			fn(ud, e->jid, text, len);
	}
}

void journal_each_orphan(struct journal *j,
			 void (*fn)(void *ud, const char *jid, const char *text, size_t len),
			 void *ud)
{
	struct entry *e, *t;

	HASH_ITER(hh, j->entries, e, t) {
		char path[700];
		size_t len = 0;
		char *text;

		if (e->state != JOURNAL_RUNNING || path_of(j, "run", e->jid, path, sizeof path))
			continue;
		text = read_file(path, &len);
		fn(ud, e->jid, text ? text : "", len);
		free(text);
	}
}
