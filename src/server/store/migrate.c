/* migrate: the schema as numbered migrations. SQLite's user_version is the
 * schema version of a database: 0 for a new file, N once migration N has
 * run. At open, each step from the database's version to the newest one
 * runs in its own transaction, which also writes the new user_version, so a
 * crash leaves the database at a whole version. A database newer than
 * this program is refused with a message that says so. How to add a step:
 * docs/internals/store.md. */
#include "store/store_priv.h"

#include <stdio.h>

#include "log.h"
#include "util.h"

/* Version 1: the first schema. */
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
	"CREATE TABLE IF NOT EXISTS user_groups (id TEXT PRIMARY KEY, data TEXT NOT NULL);";

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
	"CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency (created_at);";

/* Version 3: a job's argv (a JSON array of strings) when it runs without a
 * shell; NULL for a command or a script. */
static const char schema_v3[] =
	"ALTER TABLE jobs ADD COLUMN argv TEXT;";

/* Version 4: an audit record's response (JSON text: what the action
 * answered, e.g. a submission's jid), as rport's AuditLog has it. */
static const char schema_v4[] =
	"ALTER TABLE auditlog ADD COLUMN response TEXT;";

/* Version 5: jobs queued for an offline client (docs/api.md, "queue_offline").
 * A queued job has status 'queued' until its agent says hello; expires_at
 * (ns) is its deadline, dispatched_at (ns) when it left the queue: its
 * delivery deadline counts from then, not from created_at. */
static const char schema_v5[] =
	"ALTER TABLE jobs ADD COLUMN expires_at INTEGER;"
	"ALTER TABLE jobs ADD COLUMN dispatched_at INTEGER;"
	"CREATE INDEX IF NOT EXISTS jobs_queued ON jobs (client_id) WHERE status = 'queued';";

/* Version 6: the command and script library, schedules, and the schedule
 * a job was started by. A library entry and a schedule are the core's
 * JSON records (core/library.c, core/schedule.c) with the columns a list
 * or a lookup needs beside them; names are unique per kind of entry.
 * schedules.last_slot is the time (ns) up to which the schedule's slots
 * are handled, so a restart runs a missed slot at most once. */
static const char schema_v6[] =
	"CREATE TABLE IF NOT EXISTS library ("
	" id TEXT PRIMARY KEY,"
	" kind TEXT NOT NULL,"
	" name TEXT NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" data TEXT NOT NULL);"
	"CREATE UNIQUE INDEX IF NOT EXISTS library_name ON library (kind, name);"
	"CREATE TABLE IF NOT EXISTS schedules ("
	" id TEXT PRIMARY KEY,"
	" created_at INTEGER NOT NULL,"
	" last_slot INTEGER NOT NULL DEFAULT 0,"
	" data TEXT NOT NULL);"
	"ALTER TABLE jobs ADD COLUMN schedule_id TEXT;"
	"CREATE INDEX IF NOT EXISTS jobs_schedule ON jobs (schedule_id)"
	" WHERE schedule_id IS NOT NULL;";

/* Version 7: agent enrollment codes (auth/enroll.c), one JSON record each,
 * as the other key-value tables. */
static const char schema_v7[] =
	"CREATE TABLE enroll_codes (id TEXT PRIMARY KEY, data TEXT NOT NULL);";

/* Version 8: the TAT dialect's id map and key pairs (store/tat.c), and a
 * job's run-as user. */
static const char schema_v8[] =
	"CREATE TABLE IF NOT EXISTS tat_ids ("
	" id TEXT PRIMARY KEY,"
	" kind TEXT NOT NULL,"
	" core_id TEXT NOT NULL,"
	" parent TEXT NOT NULL DEFAULT '',"
	" client_id TEXT NOT NULL DEFAULT '',"
	" created_by TEXT NOT NULL,"
	" created_at INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS tat_ids_kind ON tat_ids (kind, created_at);"
	"CREATE INDEX IF NOT EXISTS tat_ids_parent ON tat_ids (parent);"
	"CREATE INDEX IF NOT EXISTS tat_ids_core ON tat_ids (core_id);"
	"CREATE TABLE IF NOT EXISTS tat_keys ("
	" secret_id TEXT PRIMARY KEY,"
	" username TEXT NOT NULL,"
	" sealed TEXT NOT NULL,"
	" created_at INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS tat_keys_user ON tat_keys (username);"
	/* the user a job runs as on its agent (NULL: the agent's own) */
	"ALTER TABLE jobs ADD COLUMN run_as TEXT;";

/* Version 9: retention (store/purge.c) deletes jobs by age across every
 * client; without this index each batch would scan the table. */
static const char schema_v9[] =
	"CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_at);";

/* Version 10: the output cap a job's run asked for (bytes per stream;
 * NULL: the agent's send_back_limit), so a run sent again (redelivery, a
 * queued job leaving the queue) asks for the same. */
static const char schema_v10[] =
	"ALTER TABLE jobs ADD COLUMN output_cap INTEGER;";

/* Version 11: a multi-client job's children in creation order straight
 * from an index, so its GET reads its first jobs and walks its children
 * without sorting all of them per request. */
static const char schema_v11[] =
	"CREATE INDEX IF NOT EXISTS jobs_multi_created ON jobs (multi_job_id, created_at, jid)"
	" WHERE multi_job_id IS NOT NULL;";

/* Version 12: the run records of schedules (store/saved.c): one row per
 * run or refused run, the newest STORE_SCHEDULE_RUNS_KEEP of each schedule
 * kept; result "running" until the run's invocation ends. */
static const char schema_v12[] =
	"CREATE TABLE IF NOT EXISTS schedule_runs ("
	" seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" schedule_id TEXT NOT NULL,"
	" at INTEGER NOT NULL,"
	" multi_job_id TEXT,"
	" result TEXT NOT NULL,"
	" reason TEXT NOT NULL DEFAULT '',"
	" client_count INTEGER NOT NULL DEFAULT 0,"
	" success_count INTEGER NOT NULL DEFAULT 0,"
	" failed_count INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX IF NOT EXISTS schedule_runs_of ON schedule_runs (schedule_id, seq);"
	"CREATE INDEX IF NOT EXISTS schedule_runs_multi ON schedule_runs (multi_job_id)"
	" WHERE multi_job_id IS NOT NULL;";
/* Version 13: jobs_multi goes. jobs_multi_created (v11) starts with the
 * same column and serves every "multi_job_id = ?" (a partial index holds
 * for an equality); jobs_multi had a row for every job, single ones too,
 * so each job written cost one more index insert than needed. */
static const char schema_v13[] =
	"DROP INDEX IF EXISTS jobs_multi;";

struct migration {
	int version;      /* user_version once it has run */
	const char *sql;  /* one SQL block, run in the step's transaction */
};

/* In order; a step is never edited once released, only added. */
static const struct migration migrations[] = {
	{ 1, schema_v1 },
	{ 2, schema_v2 },
	{ 3, schema_v3 },
	{ 4, schema_v4 },
	{ 5, schema_v5 },
	{ 6, schema_v6 },
	{ 7, schema_v7 },
	{ 8, schema_v8 },
	{ 9, schema_v9 },
	{ 10, schema_v10 },
	{ 11, schema_v11 },
	{ 12, schema_v12 },
	{ 13, schema_v13 },
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

/* The database's user_version, or -1. */
static int migrate_version_get(sqlite3 *db)
{
	sqlite3_stmt *s = NULL;
	int v = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* Runs migration m and records its version, all or nothing. */
static int migrate_step(sqlite3 *db, const struct migration *m, char **msg)
{
	char pragma[48];

	/* PRAGMA takes no bound parameter; the version is our own number. */
	snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d;", m->version);
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, msg) != SQLITE_OK)
		return -1;
	if (sqlite3_exec(db, m->sql, NULL, NULL, msg) != SQLITE_OK ||
	    sqlite3_exec(db, pragma, NULL, NULL, msg) != SQLITE_OK ||
	    sqlite3_exec(db, "COMMIT", NULL, NULL, msg) != SQLITE_OK) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

int store_migrate(sqlite3 *db, char **msg)
{
	int v = migrate_version_get(db), from = v;

	*msg = NULL;
	if (v < 0)
		return -1;
	if (v > SCHEMA_VERSION) {
		*msg = sqlite3_mprintf("the database is of schema version %d, newer than this "
				       "tetherd, which knows versions up to %d: run a tetherd at "
				       "least as new as the one that wrote it", v, SCHEMA_VERSION);
		return -1;
	}
	for (; v < SCHEMA_VERSION; v++) {
		if (migrations[v].version != v + 1) {
			*msg = sqlite3_mprintf("migration %d is out of order", v + 1);
			return -1;
		}
		if (migrate_step(db, &migrations[v], msg))
			return -1;
		if (from > 0)
			log_info("store: schema migrated from version %d to %d", v,
				 migrations[v].version);
	}
	return 0;
}

/* SQLite's PRAGMA auto_vacuum: 2 is INCREMENTAL. */
#define AUTO_VACUUM_INCREMENTAL 2

/* A file's auto_vacuum mode is fixed when its first table is made; a
 * database made before tether turned it on (at open, in sqlite.c) keeps
 * "none", which leaves the pages a purge frees inside the file for later
 * rows. It can change only by rebuilding the file: VACUUM, which no
 * transaction may hold (so it is not a numbered step), needs free disk
 * space about the size of the database and takes the time of a copy. It
 * runs once: the mode is then stored in the file. A failure is logged and
 * the store opens as it is (free pages are then only reused, not given
 * back). */
int store_vacuum_mode(sqlite3 *db, char **msg)
{
	sqlite3_stmt *s = NULL;
	int mode = -1;
	uint64_t t0;

	*msg = NULL;
	if (sqlite3_prepare_v2(db, "PRAGMA auto_vacuum", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		mode = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (mode < 0) {
		*msg = sqlite3_mprintf("cannot read auto_vacuum: %s", sqlite3_errmsg(db));
		return -1;
	}
	if (mode == AUTO_VACUUM_INCREMENTAL)
		return 0;
	log_info("store: turning on incremental vacuum (one VACUUM of the database, once)");
	t0 = util_mono_ms();
	if (sqlite3_exec(db, "PRAGMA auto_vacuum=INCREMENTAL; VACUUM;", NULL, NULL, msg) !=
	    SQLITE_OK) {
		log_warn("store: VACUUM failed (%s): free pages stay in the file for reuse",
			 *msg ? *msg : "?");
		sqlite3_free(*msg);
		*msg = NULL;
		return 0;
	}
	log_info("store: incremental vacuum on (%llu ms)",
		 (unsigned long long)(util_mono_ms() - t0));
	return 0;
}
