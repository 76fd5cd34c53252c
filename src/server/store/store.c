/* store: SQLite with WAL. One connection, used only from the loop. */
#include "store/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>
#include <sqlite3.h>

#include "log.h"
#include "util.h"

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
	S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
	[S_JOB_INSERT] =
		"INSERT INTO jobs (jid, multi_job_id, client_id, client_name, status,"
		" command, cwd, interpreter, is_sudo, is_script, timeout_sec,"
		" created_by, created_at, started_at, kill_on_timeout, delivery_timeout_sec, argv)"
		" VALUES (?,?,?,?,'running',?,?,?,?,?,?,?,?,?,?,?,?)",
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
		"SELECT jid, client_id, created_at, timeout_sec, delivery_timeout_sec, pid, started_at"
		" FROM jobs WHERE status = 'running'",
	[S_JOB_RUNNING_OF] =
		"SELECT jid, client_id, created_at, timeout_sec, delivery_timeout_sec, pid, started_at"
		" FROM jobs WHERE client_id = ? AND status = 'running'",
	[S_JOB_CHILDREN] =
		"SELECT client_id, jid, status FROM jobs WHERE multi_job_id = ?"
		" ORDER BY created_at, jid",
	[S_MULTI_PUT] =
		"INSERT INTO multi_jobs (jid, created_at, created_by, data) VALUES (?,?,?,?)"
		" ON CONFLICT(jid) DO UPDATE SET data = excluded.data",
	[S_MULTI_GET] = "SELECT data FROM multi_jobs WHERE jid = ?",
	[S_MULTI_LIST] =
		"SELECT jid, created_at, created_by FROM multi_jobs WHERE (?1 IS NULL OR created_by = ?1)"
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
};

static const char schema_v1[] =
	"CREATE TABLE IF NOT EXISTS jobs ("
	" jid TEXT PRIMARY KEY,"
	" multi_job_id TEXT,"
	" client_id TEXT NOT NULL,"
	" client_name TEXT NOT NULL DEFAULT '',"
	" status TEXT NOT NULL,"
	" command TEXT NOT NULL,"
	" cwd TEXT NOT NULL DEFAULT '',"
	" interpreter TEXT NOT NULL DEFAULT '',"
	" is_sudo INTEGER NOT NULL DEFAULT 0,"
	" is_script INTEGER NOT NULL DEFAULT 0,"
	" timeout_sec INTEGER NOT NULL,"
	" created_by TEXT NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" started_at INTEGER,"
	" finished_at INTEGER,"
	" pid INTEGER,"
	" exit_code INTEGER,"
	" error TEXT NOT NULL DEFAULT '',"
	" stdout BLOB,"
	" stderr BLOB,"
	" stdout_dropped INTEGER NOT NULL DEFAULT 0,"
	" stderr_dropped INTEGER NOT NULL DEFAULT 0,"
	" kill_on_timeout INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX IF NOT EXISTS jobs_client ON jobs (client_id, created_at);"
	"CREATE INDEX IF NOT EXISTS jobs_multi ON jobs (multi_job_id);"
	"CREATE TABLE IF NOT EXISTS clients ("
	" id TEXT PRIMARY KEY,"
	" data TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS multi_jobs ("
	" jid TEXT PRIMARY KEY,"
	" created_at INTEGER NOT NULL,"
	" created_by TEXT NOT NULL,"
	" data TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS multi_jobs_created ON multi_jobs (created_at);"
	"CREATE TABLE IF NOT EXISTS client_groups ("
	" id TEXT PRIMARY KEY,"
	" data TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS tokens ("
	" id TEXT PRIMARY KEY,"      /* hex of the token's hash */
	" data TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS auditlog ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" timestamp INTEGER NOT NULL,"
	" username TEXT NOT NULL,"
	" remote_ip TEXT NOT NULL,"
	" application TEXT NOT NULL,"
	" action TEXT NOT NULL,"
	" affected_id TEXT NOT NULL,"
	" client_id TEXT NOT NULL,"
	" success INTEGER NOT NULL,"
	" request TEXT);"
	"CREATE INDEX IF NOT EXISTS auditlog_ts ON auditlog (timestamp);"
	"CREATE TABLE IF NOT EXISTS client_auth ("
	" id TEXT PRIMARY KEY,"
	" data TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, data TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS user_groups (id TEXT PRIMARY KEY, data TEXT NOT NULL);"
	"PRAGMA user_version = 1;";

/* Version 2: delivery deadlines, server verdicts and idempotency keys.
 * state is NULL for a job that is running or finished by its agent, else
 * the server's verdict (docs/internals/delivery.md): 'expired' (never
 * delivered, never ran), 'unconfirmed' (sent, its start never confirmed),
 * 'lost' (started, no result in time), 'withdrawn' (the API call failed
 * and the job was cancelled before it left the server). */
static const char schema_v2[] =
	"ALTER TABLE jobs ADD COLUMN state TEXT;"
	"ALTER TABLE jobs ADD COLUMN delivery_timeout_sec INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state) WHERE state IS NOT NULL;"
	"CREATE TABLE IF NOT EXISTS idempotency ("
	" created_by TEXT NOT NULL,"
	" key TEXT NOT NULL,"
	" jid TEXT NOT NULL,"
	" request_hash TEXT NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" PRIMARY KEY (created_by, key));"
	"CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency (created_at);"
	"PRAGMA user_version = 2;";

/* Version 3: a job's argv (a JSON array of strings) when it runs without a
 * shell; NULL for a command or a script. */
static const char schema_v3[] =
	"ALTER TABLE jobs ADD COLUMN argv TEXT;"
	"PRAGMA user_version = 3;";

/* Each step takes the database from version i to i + 1, in a transaction. */
/* Version 4: an audit record's response (JSON text: what the action
 * answered, e.g. a submission's jid), as rport's AuditLog has it. */
static const char schema_v4[] =
	"ALTER TABLE auditlog ADD COLUMN response TEXT;"
	"PRAGMA user_version = 4;";

static const char *const migrations[] = { schema_v1, schema_v2, schema_v3, schema_v4 };
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

struct wq_entry {
	store_apply_fn apply;
	store_after_fn after;
	void *arg;
	int rc;
	struct wq_entry *next;
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[S_COUNT];
	uv_prepare_t prep;
	uv_timer_t pace;          /* a deferred flush (commit pacing) */
	uint64_t last_commit_us;  /* monotonic end of the last commit */
	uint64_t last_start_us;   /* monotonic start of the last commit */
	int streak;               /* commits in a row that came close together */
	bool attached;
	bool flushing;
	struct wq_entry *head;
	struct wq_entry *tail;
	uint64_t commits;
	uint64_t writes;
};

static void like_pattern(const char *in, char *out, size_t outlen);
static void store_idem_prune(struct store *st, int64_t before_ns);
/* Idempotency keys are kept a day (docs/api.md). */
#define STORE_IDEM_KEEP_NS (86400LL * 1000000000LL)

static int store_version(struct store *st)
{
	sqlite3_stmt *s = NULL;
	int v = -1;

	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* Brings the schema to SCHEMA_VERSION, one numbered step at a time. A
 * database newer than this program is refused. Returns 0 or -1 (*msg set
 * by SQLite, or NULL). */
static int store_migrate(struct store *st, char **msg)
{
	int v = store_version(st), from = v;

	if (v < 0)
		return -1;
	if (v > SCHEMA_VERSION) {
		*msg = sqlite3_mprintf("the database is of schema version %d; this tetherd knows "
				       "versions up to %d", v, SCHEMA_VERSION);
		return -1;
	}
	for (; v < SCHEMA_VERSION; v++) {
		if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, msg) != SQLITE_OK)
			return -1;
		if (sqlite3_exec(st->db, migrations[v], NULL, NULL, msg) != SQLITE_OK ||
		    sqlite3_exec(st->db, "COMMIT", NULL, NULL, msg) != SQLITE_OK) {
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
		if (from > 0)
			log_info("store: schema migrated from version %d to %d", v, v + 1);
	}
	return 0;
}

static sqlite3_stmt *stmt_get(struct store *st, enum stmt_id id)
{
	sqlite3_stmt *s = st->stmt[id];

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
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
	if (sqlite3_exec(st->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
				 "PRAGMA foreign_keys=ON;", NULL, NULL, &msg) != SQLITE_OK ||
	    store_migrate(st, &msg)) {
		snprintf(err, errlen, "cannot set up %s: %s", path, msg ? msg : "?");
		sqlite3_free(msg);
		goto fail;
	}
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
 * one before), the next commit waits until that gap has passed, so each
 * carries more writes: about twice the submissions per second. A quiet
 * server, or one request at a time, commits at once. */
#define STORE_COMMIT_GAP_US 1000
#define STORE_PACE_STREAK 3

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void pace_cb(uv_timer_t *t)
{
	store_flush(t->data);
}

static void prep_cb(uv_prepare_t *p)
{
	struct store *st = p->data;
	uint64_t since;

	if (!st->head || uv_is_active((uv_handle_t *)&st->pace))
		return;
	since = mono_us() - st->last_commit_us;
	if (since < STORE_COMMIT_GAP_US && st->streak >= STORE_PACE_STREAK) {
		uint64_t wait_ms = (STORE_COMMIT_GAP_US - since + 999) / 1000;

		uv_timer_start(&st->pace, pace_cb, wait_ms, 0);
		return;
	}
	store_flush(st);
}

int store_attach_loop(struct store *st, uv_loop_t *loop)
{
	if (uv_prepare_init(loop, &st->prep))
		return TE_IO;
	uv_timer_init(loop, &st->pace);
	st->pace.data = st;
	st->prep.data = st;
	uv_prepare_start(&st->prep, prep_cb);
	st->attached = true;
	return 0;
}

void store_detach_loop(struct store *st)
{
	if (st && st->attached) {
		store_flush(st);
		uv_prepare_stop(&st->prep);
		uv_close((uv_handle_t *)&st->prep, NULL);
		uv_timer_stop(&st->pace);
		uv_close((uv_handle_t *)&st->pace, NULL);
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
	if (!st->attached)
		store_flush(st);
}

void store_flush(struct store *st)
{
	if (st->flushing)
		return;
	st->flushing = true;
	while (st->head) {
		struct wq_entry *list = st->head, *e, *next;
		bool ok;

		st->head = st->tail = NULL;
		st->last_start_us = mono_us();
		if (st->last_start_us - st->last_commit_us < STORE_COMMIT_GAP_US)
			st->streak++;
		else
			st->streak = 0;
		ok = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
		for (e = list; e; e = e->next) {
			e->rc = ok ? e->apply(st, e->arg) : TE_IO;
			st->writes++;
		}
		if (ok && sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			log_error("store: commit failed: %s", sqlite3_errmsg(st->db));
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
			ok = false;
		}
		if (ok)
			st->commits++;
		st->last_commit_us = mono_us();
		for (e = list; e; e = next) {
			next = e->next;
			if (e->after)
				e->after(e->arg, ok ? e->rc : TE_IO);
			free(e);
		}
	}
	st->flushing = false;
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
	store_flush(st);
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	free(st);
}

static int step_done(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_DONE)
		return 0;
	if (rc == SQLITE_CONSTRAINT)
		return TE_EXISTS;
	log_error("store: %s: %s", what, sqlite3_errmsg(st->db));
	return TE_IO;
}

int store_job_insert(struct store *st, const struct job_spec *j)
{
	sqlite3_stmt *s = stmt_get(st, S_JOB_INSERT);

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
	if (j->argv) {
		char *text = json_dumps(j->argv, JSON_COMPACT);

		if (!text)
			return TE_NOMEM;
		sqlite3_bind_text(s, 16, text, -1, SQLITE_TRANSIENT);
		free(text);
	}
	return step_done(st, s, "insert job");
}

int store_job_started(struct store *st, const char *jid, const char *client_id, int64_t pid,
		      int64_t started_at)
{
	sqlite3_stmt *s = stmt_get(st, S_JOB_STARTED);
	int rc;

	sqlite3_bind_int64(s, 1, pid);
	sqlite3_bind_int64(s, 2, started_at);
	sqlite3_bind_text(s, 3, jid, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, client_id, -1, SQLITE_STATIC);
	rc = step_done(st, s, "job started");
	if (!rc && sqlite3_changes(st->db) == 0)
		return TE_NOTFOUND;
	return rc;
}

int store_job_finish(struct store *st, const char *jid, const char *client_id,
		     const struct job_result *r)
{
	sqlite3_stmt *s = stmt_get(st, S_JOB_FINISH);
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
	rc = step_done(st, s, "finish job");
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

static json_t *time_or_null(sqlite3_stmt *s, int col)
{
	char t[TIME_STR_LEN];

	if (sqlite3_column_type(s, col) == SQLITE_NULL)
		return json_null();
	util_time_format(sqlite3_column_int64(s, col), t);
	return json_string(t);
}

static json_t *text_col(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	return json_string(t ? (const char *)t : "");
}


/* Output bytes: a JSON string when valid UTF-8 and its escapes at most
 * double it; else base64 (a third more) and a flag "<name>_encoding":
 * "base64" (docs/api.md). So a response is never much more than its
 * stored bytes: 4 MiB of \x01 would be 24 MiB of \u0001 as text. */
#define OUTPUT_TEXT_MAX_GROWTH 2

/* A list (GET .../commands, /commands/{jid}/jobs, the jobs of
 * /commands/{jid}) carries at most this much stored output: 1,000 jobs of
 * 8 MiB would be an 8 GiB answer. Past it a job's output is left out and
 * "<name>_omitted": true says so; GET the job itself to read it. */
#define LIST_OUTPUT_BUDGET (16 * 1024 * 1024)

static void put_output(json_t *result, const char *name, sqlite3_stmt *s, int col,
		       bool omit)
{
	const char *data = sqlite3_column_blob(s, col);
	size_t len = (size_t)sqlite3_column_bytes(s, col);

	if (!data || !len || omit) {
		char key[32];

		json_object_set_new(result, name, json_string(""));
		if (data && len) {
			snprintf(key, sizeof key, "%s_omitted", name);
			json_object_set_new(result, key, json_true());
		}
		return;
	}
	if (util_json_escaped_len(data, len) <= OUTPUT_TEXT_MAX_GROWTH * len &&
	    util_utf8_valid(data, len)) {
		json_object_set_new(result, name, json_stringn(data, len));
	} else {
		size_t blen = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
		char *b = malloc(blen);
		char key[32];

		if (!b)
			return;
		sodium_bin2base64(b, blen, (const unsigned char *)data, len,
				  sodium_base64_VARIANT_ORIGINAL);
		json_object_set_new(result, name, json_string(b));
		snprintf(key, sizeof key, "%s_encoding", name);
		json_object_set_new(result, key, json_string("base64"));
		free(b);
	}
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
	C_ARGV
};

/* budget: NULL for one job; for a list, the output bytes it may still
 * carry (LIST_OUTPUT_BUDGET at first), lowered by what this job carries. */
static json_t *job_row_json(sqlite3_stmt *s, int64_t *budget)
{
	json_t *j = json_object(), *res = json_object();
	const char *interp = (const char *)sqlite3_column_text(s, C_INTERP);

	json_object_set_new(j, "jid", text_col(s, C_JID));
	json_object_set_new(j, "status", text_col(s, C_STATUS));
	json_object_set_new(j, "finished_at", time_or_null(s, C_FINISHED_AT));
	json_object_set_new(j, "client_id", text_col(s, C_CLIENT));
	json_object_set_new(j, "client_name", text_col(s, C_CLIENT_NAME));
	json_object_set_new(j, "command", text_col(s, C_COMMAND));
	if (sqlite3_column_type(s, C_ARGV) == SQLITE_TEXT) {
		json_t *argv = json_loads((const char *)sqlite3_column_text(s, C_ARGV), 0, NULL);

		if (json_is_array(argv))
			json_object_set_new(j, "argv", argv);
		else
			json_decref(argv);
	}
	json_object_set_new(j, "cwd", text_col(s, C_CWD));
	json_object_set_new(j, "is_sudo", json_boolean(sqlite3_column_int(s, C_SUDO)));
	json_object_set_new(j, "is_script", json_boolean(sqlite3_column_int(s, C_SCRIPT)));
	/* The agent's default is reported as rport does. */
	json_object_set_new(j, "interpreter",
			    json_string(interp && *interp ? interp : "/bin/sh"));
	if (sqlite3_column_type(s, C_PID) == SQLITE_NULL)
		json_object_set_new(j, "pid", json_null());
	else
		json_object_set_new(j, "pid", json_integer(sqlite3_column_int64(s, C_PID)));
	json_object_set_new(j, "started_at", time_or_null(s, C_STARTED_AT));
	json_object_set_new(j, "created_by", text_col(s, C_CREATED_BY));
	json_object_set_new(j, "timeout_sec", json_integer(sqlite3_column_int64(s, C_TIMEOUT)));
	json_object_set_new(j, "kill_on_timeout",
			    json_boolean(sqlite3_column_int(s, C_KILL_ON_TIMEOUT)));
	if (sqlite3_column_type(s, C_MULTI) == SQLITE_NULL)
		json_object_set_new(j, "multi_job_id", json_null());
	else
		json_object_set_new(j, "multi_job_id", text_col(s, C_MULTI));
	/* rport's field; tether has no schedules (see query.c). */
	json_object_set_new(j, "schedule_id", json_null());
	json_object_set_new(j, "error", text_col(s, C_ERROR));
	if (sqlite3_column_type(s, C_EXIT) == SQLITE_NULL)
		json_object_set_new(j, "exit_code", json_null());
	else
		json_object_set_new(j, "exit_code", json_integer(sqlite3_column_int64(s, C_EXIT)));
	{
		int64_t out_len = (int64_t)sqlite3_column_bytes(s, C_STDOUT) +
				  (int64_t)sqlite3_column_bytes(s, C_STDERR);
		/* The first job of a list always comes whole. */
		bool omit = budget && *budget < LIST_OUTPUT_BUDGET && out_len > *budget;

		put_output(res, "stdout", s, C_STDOUT, omit);
		put_output(res, "stderr", s, C_STDERR, omit);
		if (budget && !omit)
			*budget = out_len > *budget ? 0 : *budget - out_len;
	}
	if (sqlite3_column_int64(s, C_STDOUT_DROPPED) > 0) {
		json_object_set_new(res, "stdout_truncated", json_true());
		json_object_set_new(res, "stdout_dropped_bytes",
				    json_integer(sqlite3_column_int64(s, C_STDOUT_DROPPED)));
	}
	if (sqlite3_column_int64(s, C_STDERR_DROPPED) > 0) {
		json_object_set_new(res, "stderr_truncated", json_true());
		json_object_set_new(res, "stderr_dropped_bytes",
				    json_integer(sqlite3_column_int64(s, C_STDERR_DROPPED)));
	}
	json_object_set_new(j, "result", res);
	return j;
}

int store_job_get(struct store *st, const char *jid, json_t **out)
{
	sqlite3_stmt *s = stmt_get(st, S_JOB_GET);
	int rc;

	sqlite3_bind_text(s, 1, jid, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*out = job_row_json(s, NULL);
		sqlite3_reset(s);
		return 0;
	}
	if (rc != SQLITE_DONE)
		log_error("store: get job: %s", sqlite3_errmsg(st->db));
	sqlite3_reset(s);
	return TE_NOTFOUND;
}

int store_job_list_client(struct store *st, const char *client_id, int64_t limit,
			  int64_t offset, json_t **out, int64_t *total)
{
	sqlite3_stmt *s = stmt_get(st, S_JOB_COUNT_CLIENT);
	json_t *arr;

	sqlite3_bind_text(s, 1, client_id, -1, SQLITE_STATIC);
	*total = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	s = stmt_get(st, S_JOB_LIST_CLIENT);
	sqlite3_bind_text(s, 1, client_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, limit);
	sqlite3_bind_int64(s, 3, offset);
	arr = json_array();
	{
		int64_t budget = LIST_OUTPUT_BUDGET;

		while (sqlite3_step(s) == SQLITE_ROW)
			json_array_append_new(arr, job_row_json(s, &budget));
	}
	sqlite3_reset(s);
	*out = arr;
	return 0;
}

int store_job_status(struct store *st, const char *jid, char *client_id, size_t cidlen,
		     char status[16])
{
	sqlite3_stmt *s = stmt_get(st, S_JOB_STATUS);
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

int store_client_put(struct store *st, const char *id, const json_t *client)
{
	sqlite3_stmt *s = stmt_get(st, S_CLIENT_PUT);
	char *data = json_dumps(client, JSON_COMPACT);
	int rc;

	if (!data)
		return TE_NOMEM;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, data, -1, SQLITE_STATIC);
	rc = step_done(st, s, "put client");
	sqlite3_reset(s);
	free(data);
	return rc;
}

int store_client_each(struct store *st, void (*fn)(void *ud, const char *id, json_t *client),
		      void *ud)
{
	sqlite3_stmt *s = stmt_get(st, S_CLIENT_ALL);

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

int store_job_query(struct store *st, const char *base_column, const char *base_value,
		    const struct job_query *q, json_t **out, int64_t *total)
{
	struct buf where, sql;
	sqlite3_stmt *s = NULL;
	int bind = 1, rc = TE_IO;
	json_t *arr;

	/* Columns come from query.c's whitelist, values are bound. */
	buf_init(&where, 64 * 1024);
	buf_init(&sql, 64 * 1024);
	buf_appendf(&where, " WHERE %s = ?", !strcmp(base_column, "multi_job_id") ?
			    "multi_job_id" : "client_id");
	for (size_t i = 0; i < q->nfilters; i++) {
		const struct query_filter *f = &q->filters[i];
		static const char *const ops[] = { "", ">", "<", ">=", "<=" };

		if (f->op == QOP_EQ) {
			buf_appendf(&where, " AND %s = ?", f->column);
			continue;
		}
		if (f->op != QOP_IN) {
			buf_appendf(&where, " AND %s %s ?", f->column, ops[f->op]);
			continue;
		}
		buf_appendf(&where, " AND (");
		for (size_t k = 0; k < f->nvalues; k++)
			buf_appendf(&where, "%s%s LIKE ? ESCAPE '\\'", k ? " OR " : "",
				    f->column);
		buf_appendf(&where, ")");
	}
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
		bind = 1;
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

				like_pattern(f->values[k], pat, sizeof pat);
				sqlite3_bind_text(s, bind++, pat, -1, SQLITE_TRANSIENT);
			}
		}
		if (pass == 0) {
			*total = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
		} else {
			int64_t budget = LIST_OUTPUT_BUDGET;

			sqlite3_bind_int64(s, bind++, q->limit);
			sqlite3_bind_int64(s, bind++, q->offset);
			arr = json_array();
			while (sqlite3_step(s) == SQLITE_ROW)
				json_array_append_new(arr, job_row_json(s, &budget));
			*out = arr;
		}
		sqlite3_finalize(s);
		s = NULL;
	}
	rc = 0;
out:
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
	return each_running_row(stmt_get(st, S_JOB_RUNNING), fn, ud);
}

int store_job_each_running_of(struct store *st, const char *client_id, store_running_fn fn,
			      void *ud)
{
	sqlite3_stmt *s = stmt_get(st, S_JOB_RUNNING_OF);

	sqlite3_bind_text(s, 1, client_id, -1, SQLITE_TRANSIENT);
	return each_running_row(s, fn, ud);
}

int store_job_each_unconfirmed_of(struct store *st, const char *client_id,
				  void (*fn)(void *ud, const char *jid, int64_t delivery_timeout_sec),
				  void *ud)
{
	sqlite3_stmt *s = stmt_get(st, S_JOB_UNCONFIRMED_OF);

	sqlite3_bind_text(s, 1, client_id, -1, SQLITE_TRANSIENT);
	while (sqlite3_step(s) == SQLITE_ROW)
		fn(ud, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int64(s, 1));
	sqlite3_reset(s);
	return 0;
}

int store_job_expire(struct store *st, const char *jid, const char *error, int64_t finished_at)
{
	static const char sql[] =
		"UPDATE jobs SET status = 'failed', state = 'expired', error = ?, finished_at = ?"
		" WHERE jid = ? AND pid IS NULL AND (status = 'running' OR state = 'unconfirmed')";
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK)
		return TE_IO;
	sqlite3_bind_text(s, 1, error, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, finished_at);
	sqlite3_bind_text(s, 3, jid, -1, SQLITE_STATIC);
	rc = step_done(st, s, "expire job");
	if (!rc && sqlite3_changes(st->db) == 0)
		rc = TE_STATE;
	sqlite3_finalize(s);
	return rc;
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
	sqlite3_stmt *s = stmt_get(st, S_IDEM_GET);
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
	sqlite3_stmt *s = stmt_get(st, S_IDEM_PUT);

	sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, jid, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, created_at);
	return step_done(st, s, "put idempotency key");
}

int store_idem_delete(struct store *st, const char *user, const char *key)
{
	sqlite3_stmt *s = stmt_get(st, S_IDEM_DELETE);

	sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
	return step_done(st, s, "delete idempotency key");
}

static void store_idem_prune(struct store *st, int64_t before_ns)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(st->db, "DELETE FROM idempotency WHERE created_at < ?", -1, &s,
			       NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(s, 1, before_ns);
	step_done(st, s, "prune idempotency keys");
	sqlite3_finalize(s);
}

int store_job_each_child(struct store *st, const char *multi_jid,
			 void (*fn)(void *ud, const char *client_id, const char *jid,
				    const char *status),
			 void *ud)
{
	sqlite3_stmt *s = stmt_get(st, S_JOB_CHILDREN);

	sqlite3_bind_text(s, 1, multi_jid, -1, SQLITE_TRANSIENT);
	while (sqlite3_step(s) == SQLITE_ROW)
		fn(ud, (const char *)sqlite3_column_text(s, 0),
		   (const char *)sqlite3_column_text(s, 1),
		   (const char *)sqlite3_column_text(s, 2));
	sqlite3_reset(s);
	return 0;
}

int store_multi_put(struct store *st, const char *jid, int64_t created_at,
		    const char *created_by, const json_t *data)
{
	sqlite3_stmt *s = stmt_get(st, S_MULTI_PUT);
	char *text = json_dumps(data, JSON_COMPACT);
	int rc;

	if (!text)
		return TE_NOMEM;
	sqlite3_bind_text(s, 1, jid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, created_at);
	sqlite3_bind_text(s, 3, created_by, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, text, -1, SQLITE_STATIC);
	rc = step_done(st, s, "put multi job");
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
	sqlite3_stmt *s = stmt_get(st, S_MULTI_GET);
	int rc = TE_NOTFOUND;

	sqlite3_bind_text(s, 1, jid, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		*data = json_loads((const char *)sqlite3_column_text(s, 0), 0, NULL);
		rc = *data ? 0 : TE_IO;
	}
	sqlite3_reset(s);
	return rc;
}

int store_multi_list(struct store *st, const char *created_by, int64_t limit, int64_t offset,
		     json_t **out, int64_t *total)
{
	sqlite3_stmt *s = stmt_get(st, S_MULTI_COUNT);
	json_t *arr = json_array();

	if (created_by)
		sqlite3_bind_text(s, 1, created_by, -1, SQLITE_STATIC);
	*total = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	s = stmt_get(st, S_MULTI_LIST);
	if (created_by)
		sqlite3_bind_text(s, 1, created_by, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, limit);
	sqlite3_bind_int64(s, 3, offset);
	while (sqlite3_step(s) == SQLITE_ROW) {
		json_t *o = json_object();

		json_object_set_new(o, "jid", text_col(s, 0));
		json_object_set_new(o, "started_at", time_or_null(s, 1));
		json_object_set_new(o, "created_by", text_col(s, 2));
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
	sqlite3_stmt *s = stmt_get(st, S_MULTI_ALL);

	while (sqlite3_step(s) == SQLITE_ROW) {
		json_t *d = json_loads((const char *)sqlite3_column_text(s, 1), 0, NULL);

		if (d)
			fn(ud, (const char *)sqlite3_column_text(s, 0), d);
		json_decref(d);
	}
	sqlite3_reset(s);
	return 0;
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

int store_audit_put(struct store *st, const json_t *rec)
{
	static const char sql[] =
		"INSERT INTO auditlog (timestamp, username, remote_ip, application, action,"
		" affected_id, client_id, success, request, response) VALUES (?,?,?,?,?,?,?,?,?,?)";
	sqlite3_stmt *s = NULL;
	char *req = NULL, *resp = NULL;
	int rc;

	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK)
		return TE_IO;
	sqlite3_bind_int64(s, 1, json_integer_value(json_object_get(rec, "timestamp")));
	for (int i = 0; i < 6; i++) {
		static const char *const k[] = { "username", "remote_ip", "application", "action",
						  "affected_id", "client_id" };

		sqlite3_bind_text(s, 2 + i, json_string_value(json_object_get(rec, k[i])), -1,
				  SQLITE_TRANSIENT);
	}
	sqlite3_bind_int(s, 8, json_is_true(json_object_get(rec, "success")));
	if (json_object_get(rec, "request")) {
		req = json_dumps(json_object_get(rec, "request"), JSON_COMPACT);
		sqlite3_bind_text(s, 9, req, -1, SQLITE_TRANSIENT);
	}
	if (json_object_get(rec, "response")) {
		resp = json_dumps(json_object_get(rec, "response"), JSON_COMPACT | JSON_ENCODE_ANY);
		sqlite3_bind_text(s, 10, resp, -1, SQLITE_TRANSIENT);
	}
	rc = step_done(st, s, "audit");
	sqlite3_finalize(s);
	free(req);
	free(resp);
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

			like_pattern(q->filters[i].value, pat, sizeof pat);
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

				json_object_set_new(o, "timestamp", time_or_null(s, 0));
				json_object_set_new(o, "username", text_col(s, 1));
				json_object_set_new(o, "remote_ip", text_col(s, 2));
				json_object_set_new(o, "application", text_col(s, 3));
				json_object_set_new(o, "action", text_col(s, 4));
				json_object_set_new(o, "affected_id", text_col(s, 5));
				json_object_set_new(o, "client_id", text_col(s, 6));
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

/* A '*' wildcard pattern as a LIKE pattern (escape '\\'), into out. */
static void like_pattern(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (const char *c = in; *c && o < outlen - 3; c++) {
		if (*c == '%' || *c == '_' || *c == '\\')
			out[o++] = '\\';
		out[o++] = *c == '*' ? '%' : *c;
	}
	out[o] = '\0';
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
	rc = step_done(st, s, "put");
	sqlite3_finalize(s);
	free(text);
	return rc;
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

int store_client_delete(struct store *st, const char *id)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(st->db, "DELETE FROM clients WHERE id = ?", -1, &s, NULL) !=
	    SQLITE_OK)
		return TE_IO;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	rc = step_done(st, s, "delete client");
	sqlite3_finalize(s);
	return rc;
}

static const char *kv_table(const char *t)
{
	/* Table names are never taken from a request. */
	static const char *const ok[] = { "users", "user_groups", "client_auth", "client_groups",
					  "tokens" };

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (!strcmp(ok[i], t))
			return ok[i];
	return NULL;
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
	rc = step_done(st, s, "kv delete");
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
