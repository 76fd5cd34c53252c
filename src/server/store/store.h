/* store: the server's durable state. Asynchronous in shape: writes complete
 * through store_queue's after, reads through a store_read_cb. The backend
 * is SQLite ({data_dir}/tether.db, WAL): its calls run on the loop and are
 * short. See docs/internals/store.md. */
#ifndef TETHER_STORE_H
#define TETHER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "core/model.h"
#include "proto.h"
#include "core/query.h"
#include "util.h"

struct store;

/* A job as created by the API, before it is sent. */
struct job_spec {
	char jid[37];
	const char *multi_job_id;    /* NULL for a single-client job */
	const char *schedule_id;     /* the schedule that started it, or NULL */
	const char *client_id;
	const char *client_name;
	const char *command;         /* command text, or the decoded script */
	json_t *argv;                /* run without a shell (then command is its
				      * rendering), or NULL; borrowed */
	const char *cwd;
	const char *interpreter;
	bool is_sudo;
	const char *run_as;          /* NULL or "": the agent's own user */
	bool is_script;
	bool kill_on_timeout;        /* kill the process group at the timeout */
	bool stream;                 /* ask for live output (not stored) */
	int64_t output_cap_bytes;    /* 0: the agent's send_back_limit (schema v10) */
	int64_t timeout_sec;         /* counted from the start on the agent */
	int64_t delivery_timeout_sec; /* from created_at: deliver by then, or it expires */
	const char *created_by;
	int64_t created_at;          /* ns since the epoch */
	bool queued;                 /* its client is offline: stored as queued,
				      * sent at its agent's hello (core/offline.h) */
	int64_t expires_at;          /* a queued job's deadline (ns); 0: none */
};

/* A finished job's outcome (from an agent's result frame, or the server). */
struct job_result {
	enum job_status status;      /* a final status */
	bool has_exit_code;
	int64_t exit_code;
	const char *error;           /* "" if none */
	const char *stdout_data;
	size_t stdout_len;
	const char *stderr_data;
	size_t stderr_len;
	int64_t stdout_dropped;      /* bytes cut by send_back_limit */
	int64_t stderr_dropped;
	int64_t pid;                 /* 0: keep what is stored */
	int64_t started_at;          /* 0: keep */
	int64_t finished_at;
	/* A server verdict (client_id NULL) says which: "unconfirmed" and
	 * "lost" give way to a later result of the job's own agent; "expired",
	 * "withdrawn" or NULL do not. Ignored for an agent's result. */
	const char *state;
};

/* Limits of timeout_sec and delivery_timeout_sec (30 days): every
 * submission path refuses more, and the agent refuses a run asking for
 * more. Deadlines computed from them stay far from int64 overflow. */
#define JOB_MAX_TIMEOUT_SEC PROTO_MAX_TIMEOUT_SEC

int store_open(const char *dir, struct store **out, char *err, size_t errlen);
void store_close(struct store *st);   /* NULL is a no-op */
/* tetherd backup: copies the store in dir (a server may be running on it)
 * to dest, consistent as of one moment, atomically replacing dest.
 * Returns 0, or -1 with err set. */
int store_backup(const char *dir, const char *dest, char *err, size_t errlen);

/* Group commit. A write is queued as apply (run inside a transaction with
 * the other queued writes) and after (run once that transaction has
 * committed, with apply's result, or TE_IO when the commit failed). The
 * queue is flushed once per loop iteration, before the loop waits for I/O,
 * so a burst of results costs one fsync. after may queue more writes. */
typedef int (*store_apply_fn)(struct store *st, void *arg);
typedef void (*store_after_fn)(void *arg, int rc);
int store_attach_loop(struct store *st, uv_loop_t *loop);
/* Before store_attach_loop: with a loop, make the commits durable on the
 * store's sync thread (server.store_sync_thread; walsync.c) instead of
 * inside each COMMIT on the loop. Off by default. */
void store_set_sync_thread(struct store *st, bool on);
void store_detach_loop(struct store *st);
void store_queue(struct store *st, store_apply_fn apply, store_after_fn after, void *arg);
/* fn(ud, true) before the afters of one commit run and fn(ud, false) once
 * they have: what they send can go out together (the server corks its
 * agents' sockets, net_cork). NULL: none. */
typedef void (*store_batch_fn)(void *ud, bool begin);
void store_set_batch_hook(struct store *st, store_batch_fn fn, void *ud);
/* Inside an apply: runs fn(st, arg) as one unit: if it returns non-zero,
 * whatever it wrote is undone (a savepoint), and its code is returned.
 * For writes of several rows that commit together or not at all. */
int store_atomic(struct store *st, store_apply_fn fn, void *arg);
/* Commits whatever is queued now (also called by the loop). */
void store_flush(struct store *st);
/* Figures for benchmarks: transactions committed and writes applied. */
void store_stats(const struct store *st, uint64_t *commits, uint64_t *writes);
/* The WAL checkpoints made off the loop so far and their total seconds. */
void store_checkpoint_stats(const struct store *st, uint64_t *count, double *seconds);
/* The WAL syncs made on the store's sync thread, off the loop (with a loop
 * attached: each covers every commit written before it began), and their
 * time. */
void store_sync_stats(const struct store *st, uint64_t *count, double *seconds);
/* Commit times: n bucket bounds (seconds) and n + 1 counts (the last
 * above every bound), not cumulative, and their sum in seconds. */
void store_commit_histogram(const struct store *st, const double **bounds,
			    const uint64_t **counts, size_t *n, double *sum);

/* A job as the store holds it: one row of the jobs table, in the model's
 * terms (no dialect's words or shapes; dialects/rport/job_json.c renders
 * rport's Job JSON from it). A row owns its memory: store_job_row_free.
 * Strings are never NULL ("" when the column is empty) except
 * multi_job_id, NULL for a single-client job. Times are ns since the
 * epoch, 0 for none. */
struct job_row {
	const char *jid;
	const char *multi_job_id;     /* NULL: a single-client job */
	const char *schedule_id;      /* NULL: not started by a schedule */
	const char *client_id;
	const char *client_name;
	const char *command;
	json_t *argv;                 /* a JSON array (run without a shell), or NULL */
	const char *cwd;
	const char *interpreter;      /* "": the agent's default */
	bool is_sudo;
	const char *run_as;           /* "": the agent's own user (schema v8) */
	int64_t output_cap_bytes;     /* 0: none asked (schema v10) */
	bool is_script;
	bool kill_on_timeout;
	int64_t timeout_sec;
	int64_t delivery_timeout_sec; /* 0 in rows older than schema v2 */
	const char *created_by;
	int64_t created_at;
	int64_t started_at;           /* created_at until the agent reports its clock */
	int64_t finished_at;          /* 0 while running */
	bool has_pid;                 /* the start (or a result with a pid) is recorded */
	int64_t pid;
	enum job_status status;       /* JOB_UNKNOWN for a column the model cannot parse */
	char state[16];               /* the server's verdict (store_job_finish), "" if none */
	bool has_exit_code;
	int64_t exit_code;
	const char *error;
	/* The output as stored. In a list read past its output budget, the
	 * bytes are left out (output_omitted, data NULL) but the lengths stay. */
	const char *stdout_data;
	size_t stdout_len;
	const char *stderr_data;
	size_t stderr_len;
	bool output_omitted;
	int64_t stdout_dropped;       /* bytes cut by send_back_limit */
	int64_t stderr_dropped;
	int64_t expires_at;           /* queued for an offline client: its
				       * deadline; 0 for a job never queued */
	int64_t dispatched_at;        /* when it left the queue; 0: never queued */
	char *mem_;                   /* private: owns the strings and the output */
};

/* A page of rows and the count of matching rows before paging. */
struct job_rows {
	struct job_row *row;
	size_t n;
	int64_t total;
};

/* Frees what a row owns and clears it; NULL is a no-op. */
void store_job_row_free(struct job_row *row);
/* The run of a stored job as it was asked for (a run sent again, a queued
 * job leaving the queue): spec borrows row's strings; the times and
 * timeouts, which the callers decide, are left for them to set. */
void store_job_spec_of_row(struct job_spec *spec, const struct job_row *row);
void store_job_rows_free(struct job_rows *rows);

/* ---- reads that complete through a callback -------------------------
 * The store's interface is asynchronous in shape: a write completes through
 * store_queue's after, a read through a callback. A backend that talks
 * to a server (PostgreSQL through libpq's asynchronous API) sends the query
 * and calls cb from the loop when the answer has come; the SQLite backend
 * answers a read at once, so it runs the query and calls cb before the
 * store_read_* call returns. A caller must be right either way: it does
 * nothing after the call that cb may have undone, and keeps ud alive until
 * cb. The arguments (jid, q and its strings) are borrowed for the call
 * only: a backend that answers later copies what it needs.
 *
 * cb is called exactly once: with rc 0 and result (a new reference, owned by
 * cb: decref it), or with rc < 0 (TE_NOTFOUND, TE_IO, TE_NOMEM) and result
 * NULL. total is the number of matching rows for a list (before paging),
 * 1 for a single record found, 0 on error. cb may call into the store.
 * The job reads hand cb rows instead: lent for the call (the store frees
 * them when cb returns; cb may change them), NULL on error.
 *
 * Every read made while the server serves uses these forms. The
 * synchronous reads further down are what the SQLite backend does inside
 * them, and what the loaders use once at start, before the loop runs. */
typedef void (*store_read_cb)(void *ud, int rc, json_t *result, int64_t total);
typedef void (*store_job_cb)(void *ud, int rc, struct job_row *row);
typedef void (*store_jobs_cb)(void *ud, int rc, struct job_rows *rows);
/* The job as store_job_get has it. */
void store_read_job(struct store *st, const char *jid, store_job_cb cb, void *ud);
/* A page of jobs as store_job_query has it. */
void store_read_job_query(struct store *st, const char *base_column, const char *base_value,
			  const struct job_query *q, int64_t output_budget, store_jobs_cb cb,
			  void *ud);
struct audit_query;
/* A page of audit records (an array) as store_audit_query has it. */
void store_read_audit_query(struct store *st, const struct audit_query *q, store_read_cb cb,
			    void *ud);
/* A multi job's record as store_multi_get has it. */
void store_read_multi(struct store *st, const char *jid, store_read_cb cb, void *ud);
/* Its creator as store_multi_creator has it (creator lent for the call;
 * NULL when rc is not 0). */
typedef void (*store_creator_cb)(void *ud, int rc, const char *creator);
void store_read_multi_creator(struct store *st, const char *jid, store_creator_cb cb, void *ud);
/* The job an idempotency key of user's created, and the hash of the
 * request it stood for (store_idem_get): rc TE_NOTFOUND when the key is
 * unused. The strings are lent for the call. */
typedef void (*store_idem_cb)(void *ud, int rc, const char *jid, const char *hash);
void store_read_idem(struct store *st, const char *user, const char *key, store_idem_cb cb,
		     void *ud);
/* The "each" reads: fn for every row (its arguments lent for the call; fn
 * must not call into the store), then done once with the read's code. */
typedef void (*store_done_cb)(void *ud, int rc);
struct job_running;
void store_read_each_running_of(struct store *st, const char *client_id,
				void (*fn)(void *ud, const struct job_running *r), store_done_cb done,
				void *ud);
void store_read_each_unconfirmed_of(struct store *st, const char *client_id,
				    void (*fn)(void *ud, const char *jid, int64_t delivery_sec),
				    store_done_cb done, void *ud);
void store_read_each_running(struct store *st, void (*fn)(void *ud, const struct job_running *r),
			     store_done_cb done, void *ud);
void store_read_each_child(struct store *st, const char *multi_jid,
			   void (*fn)(void *ud, const char *client_id, const char *jid,
				      const char *status),
			   store_done_cb done, void *ud);
/* A page of multi jobs (an array) as store_multi_list has it. */
void store_read_multi_list(struct store *st, const char *created_by, int64_t limit,
			   int64_t offset, store_read_cb cb, void *ud);

/* Inserts a job in status running. Returns 0 or TE_IO/TE_EXISTS. */
int store_job_insert(struct store *st, const struct job_spec *j);
/* Records the start (pid, agent clock) that client_id's agent reports.
 * Returns 0, or TE_NOTFOUND when client_id has no job jid. */
int store_job_started(struct store *st, const char *jid, const char *client_id, int64_t pid,
		      int64_t started_at);
/* Finishes a running job: with the result its agent client_id reports, or
 * with the server's own verdict when client_id is NULL. An agent's result
 * also replaces a verdict that gives way to it (r->state above). Returns 0
 * if the job took this outcome, TE_STATE if it was already final (a
 * duplicate result: nothing changed), TE_NOTFOUND (no such job, or the
 * job of another client: an agent never finishes another's job) or TE_IO. */
int store_job_finish(struct store *st, const char *jid, const char *client_id,
		     const struct job_result *r);

/* The job jid: fills *out (free it with store_job_row_free). Returns 0,
 * TE_NOTFOUND or TE_NOMEM; *out is untouched on error. */
int store_job_get(struct store *st, const char *jid, struct job_row *out);
/* A list read carries at most output_budget bytes of output (stdout and
 * stderr together): the first row always comes whole, and a later one
 * whose output would pass what is left of the budget comes without it
 * (output_omitted). A negative budget is no limit. */
/* A client's jobs, newest first. Fills *out. */
int store_job_list_client(struct store *st, const char *client_id, int64_t limit,
			  int64_t offset, int64_t output_budget, struct job_rows *out);
/* The client id and status of a job (status buffer of 16). */
int store_job_status(struct store *st, const char *jid, char *client_id, size_t cidlen,
		     char status[16]);

/* Jobs where base_column ("client_id" or "multi_job_id") = base_value,
 * filtered, sorted and paged by q (in SQL). Fills *out. Returns 0, TE_IO
 * (the query cannot be prepared) or TE_NOMEM. */
int store_job_query(struct store *st, const char *base_column, const char *base_value,
		    const struct job_query *q, int64_t output_budget, struct job_rows *out);
/* A running job as the deadlines need it. */
struct job_running {
	const char *jid;
	const char *client_id;
	int64_t created_at;
	int64_t timeout_sec;
	int64_t delivery_timeout_sec;  /* 0 in rows older than schema v2 */
	bool started;                  /* its start (pid) is recorded */
	int64_t started_at;            /* the agent's clock */
};
typedef void (*store_running_fn)(void *ud, const struct job_running *r);
/* Calls fn for every job still running (for server-side deadlines). */
int store_job_each_running(struct store *st, store_running_fn fn, void *ud);
/* The same, for one client's jobs only (an index lookup). fn must not
 * call into the store. */
int store_job_each_running_of(struct store *st, const char *client_id, store_running_fn fn,
			      void *ud);
/* Jobs of client_id the server finished as "unconfirmed" (sent, start
 * never confirmed): its agent's next hello can settle them. fn must not
 * call into the store. */
int store_job_each_unconfirmed_of(struct store *st, const char *client_id,
				  void (*fn)(void *ud, const char *jid, int64_t delivery_timeout_sec),
				  void *ud);
/* The job never reached its agent and never will: failed, state
 * "expired", with error. Applies to a job running with no start recorded,
 * or one finished "unconfirmed". Returns 0, TE_STATE (not applicable) or
 * TE_IO. */
int store_job_expire(struct store *st, const char *jid, const char *error, int64_t finished_at);
/* ---- queued jobs (core/offline.h) ----------------------------------- */
/* A queued job leaves the queue for its agent: status running, its
 * delivery deadline counting from at. Returns 0, TE_STATE (not queued: it
 * was cancelled or expired meanwhile) or TE_IO. */
int store_job_dispatch(struct store *st, const char *jid, int64_t at);
/* A job dispatched from the queue whose run could not be sent (its agent
 * went away first) goes back to the queue. Returns 0, TE_STATE or TE_IO. */
int store_job_requeue(struct store *st, const char *jid);
/* A queued job ends without running: status (JOB_CANCELLED or
 * JOB_EXPIRED) with error. Returns 0, TE_STATE (not queued) or TE_IO. */
int store_job_unqueue(struct store *st, const char *jid, enum job_status status,
		      const char *error, int64_t finished_at);
/* Calls fn for every queued job (the loader at start). */
int store_job_each_queued(struct store *st,
			  void (*fn)(void *ud, const char *jid, const char *client_id,
				     const char *multi_jid, int64_t created_at,
				     int64_t expires_at),
			  void *ud);

/* The job's server verdict ("" when none). Returns 0 or TE_NOTFOUND. */
int store_job_state(struct store *st, const char *jid, char state[16]);

/* Idempotency keys: (created_by, key) -> the jid it created and a hash of
 * the request (hex). Kept a day. put returns TE_EXISTS for a key in use. */
#define STORE_IDEM_HASH_LEN 65
int store_idem_get(struct store *st, const char *user, const char *key,
		   char jid[UUID_STR_LEN], char hash[STORE_IDEM_HASH_LEN]);
int store_idem_put(struct store *st, const char *user, const char *key, const char *jid,
		   const char *hash, int64_t created_at);
int store_idem_delete(struct store *st, const char *user, const char *key);
/* Calls fn(client_id, jid, status) for every child job of a multi job, in
 * creation order. */
int store_job_each_child(struct store *st, const char *multi_jid,
			 void (*fn)(void *ud, const char *client_id, const char *jid,
				    const char *status),
			 void *ud);

/* Multi-client jobs: data is the whole record (request, targets, state). */
int store_multi_put(struct store *st, const char *jid, int64_t created_at,
		    const char *created_by, const json_t *data);
/* store_multi_put for a new multi job, with its idempotency key (when
 * idem_key is not NULL) in the same transaction. Returns 0, TE_EXISTS
 * (the key is in use: nothing written) or TE_IO. */
int store_multi_create(struct store *st, const char *jid, int64_t created_at,
		       const char *created_by, const json_t *data, const char *idem_key,
		       const char *idem_hash);
int store_multi_get(struct store *st, const char *jid, json_t **data);
/* Who created the multi job (its column, not its record: no parse of its
 * targets). Returns 0 or TE_NOTFOUND. */
int store_multi_creator(struct store *st, const char *jid, char *out, size_t outlen);
/* Newest first: [{jid, started_at, created_by, schedule_id}], *total; only those of
 * created_by when it is not NULL. */
int store_multi_list(struct store *st, const char *created_by, int64_t limit, int64_t offset,
		     json_t **out, int64_t *total);
/* Calls fn for every multi job whose data has no finished_at. */
int store_multi_each_unfinished(struct store *st,
				void (*fn)(void *ud, const char *jid, json_t *data),
				void *ud);

/* Client groups: {id, description, params, allowed_user_groups}. */
int store_group_put(struct store *st, const char *id, const json_t *group);
int store_group_delete(struct store *st, const char *id);
int store_group_each(struct store *st, void (*fn)(void *ud, const char *id, json_t *group),
		     void *ud);

/* Login and API tokens, by the hex of their hash. */
int store_token_put(struct store *st, const char *hash_hex, const json_t *rec);
int store_token_delete(struct store *st, const char *hash_hex);
int store_token_each(struct store *st, void (*fn)(void *ud, const char *hash_hex, json_t *rec),
		     void *ud);

/* An audit log record: its fields as they are stored (borrowed). */
struct store_audit_row {
	int64_t timestamp;         /* ns */
	const char *username;      /* NULL: "" */
	const char *remote_ip;
	const char *application;
	const char *action;
	const char *affected_id;
	const char *client_id;
	bool success;
	const char *request;       /* JSON text, or NULL */
	const char *response;      /* JSON text, or NULL */
};
int store_audit_put(struct store *st, const struct store_audit_row *r);
struct audit_query {
	struct { const char *field; const char *value; } filters[8];
	size_t nfilters;
	int64_t since, until;      /* ns; 0: unbounded */
	bool desc;
	int64_t limit, offset;
};
int store_audit_query(struct store *st, const struct audit_query *q, json_t **out,
		      int64_t *total);

/* Small keyed records (JSON): the tables "users", "user_groups",
 * "client_auth", "client_groups" and "tokens". Delete returns TE_NOTFOUND
 * when there was no such record. */
int store_kv_put(struct store *st, const char *table, const char *id, const json_t *rec);
int store_kv_delete(struct store *st, const char *table, const char *id);
int store_kv_each(struct store *st, const char *table,
		  void (*fn)(void *ud, const char *id, json_t *rec), void *ud);

/* Client credentials from the API: {salt, digest} by id. */
int store_cred_put(struct store *st, const char *id, const json_t *rec);
int store_cred_delete(struct store *st, const char *id);
int store_cred_each(struct store *st, void (*fn)(void *ud, const char *id, json_t *rec),
		    void *ud);

/* Saves a client's record (facts, tags, labels, state) as JSON. */
int store_client_put(struct store *st, const char *id, const json_t *client);
int store_client_delete(struct store *st, const char *id);
/* Calls fn for every stored client. */
int store_client_each(struct store *st, void (*fn)(void *ud, const char *id, json_t *client),
		      void *ud);

/* ---- the library and schedules (saved.c) -----------------------------
 * Rows hold the core's JSON records. A library entry has a kind
 * ("command" or "script") and a name unique within its kind: put returns
 * TE_EXISTS for a name another entry has. Deletes return TE_NOTFOUND when
 * there was no such row. */
int store_library_put(struct store *st, const char *id, const char *kind, const char *name,
		      int64_t created_at, const json_t *rec);
int store_library_delete(struct store *st, const char *kind, const char *id);
int store_library_get(struct store *st, const char *kind, const char *id, json_t **out);
/* Every entry of a kind, oldest first (an array). */
int store_library_list(struct store *st, const char *kind, json_t **out);
/* Callback forms: one record (total 1), or the array of a kind (total:
 * its size). */
void store_read_library(struct store *st, const char *kind, const char *id, store_read_cb cb,
			void *ud);
void store_read_library_list(struct store *st, const char *kind, store_read_cb cb, void *ud);
/* Schedules, with last_slot: the time (ns) up to which its slots are
 * handled. each is the loader at start. */
int store_schedule_put(struct store *st, const char *id, int64_t created_at, int64_t last_slot,
		       const json_t *rec);
int store_schedule_delete(struct store *st, const char *id);
int store_schedule_each(struct store *st,
			void (*fn)(void *ud, const char *id, int64_t last_slot, json_t *rec),
			void *ud);
/* Run records of schedules (one per run or refused run). result is the
 * core's word ("running", "successful", "failed", "refused", "skipped");
 * multi_job_id NULL when no invocation was made. add keeps the newest keep
 * rows of the schedule (0: all); finish sets the result of the run of a
 * multi job. The query reads the records of up to
 * STORE_SCHEDULE_RUNS_MAX_IN schedules, newest first, paged:
 * [{schedule_id, at (ns), multi_job_id (null: none), result, reason, client_count,
 * success_count, failed_count}] and their count before paging. A deleted
 * schedule's records go with it. */
#define STORE_SCHEDULE_RUNS_MAX_IN 1000
struct schedule_run_row {
	const char *schedule_id;
	int64_t at;                  /* ns */
	const char *multi_job_id;    /* NULL or "": none */
	const char *result;
	const char *reason;          /* NULL: "" */
	int64_t client_count, success_count, failed_count;
};
int store_schedule_run_add(struct store *st, const struct schedule_run_row *r, int64_t keep);
int store_schedule_run_finish(struct store *st, const char *multi_job_id, const char *result,
			      int64_t success_count, int64_t failed_count);
int store_schedule_runs_query(struct store *st, const char *const *ids, size_t n,
			      int64_t limit, int64_t offset, json_t **out, int64_t *total);
void store_read_schedule_runs(struct store *st, const char *const *ids, size_t n, int64_t limit,
			      int64_t offset, store_read_cb cb, void *ud);
/* Retention (purge.c): job history is bounded, purged off the loop.
 *
 * A purge runs on a worker thread with its own connection, in small
 * batches, each its own short transaction (the group commit on the loop
 * waits at most one batch for the write lock); then it gives the free
 * pages back to the file's host (incremental vacuum), in small steps too.
 * Only finished jobs go, never the jobs of an unfinished multi job; a
 * multi job's record goes once the purge has taken its last job. */
struct store_purge_policy {
	int64_t max_per_client;      /* keep the newest N jobs of each client; 0: no cap */
	int64_t before_ns;           /* jobs created before this go; 0: no age limit */
};

struct store_purge_result {
	int64_t jobs;                /* job rows deleted */
	int64_t multi;               /* multi job records deleted */
	int64_t pages;               /* free pages given back to the file system */
	int64_t batches;             /* write transactions taken */
	int64_t longest_us;          /* the longest of them: the loop's worst wait */
	int64_t ms;                  /* wall time of the whole purge */
};

/* Called once on the loop when the purge is over: rc 0, or TE_IO with
 * what was done until the error (logged). */
typedef void (*store_purge_cb)(void *ud, int rc, const struct store_purge_result *res);

/* Starts a purge by p (copied). Without a loop (tests, tools) it runs to
 * the end before the call returns. Returns 0, or TE_STATE when a purge is
 * already running (cb is then not called), TE_NOMEM. */
int store_purge_start(struct store *st, const struct store_purge_policy *p, store_purge_cb cb,
		      void *ud);
bool store_purge_running(const struct store *st);
/* Asks a running purge to end after its current batch (at shutdown); its
 * cb still comes, from the loop. */
void store_purge_stop(struct store *st);

#endif
