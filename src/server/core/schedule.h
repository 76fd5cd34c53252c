/* schedule: invocations that run on a cron schedule. A schedule is a JSON
 * record in the core's terms:
 *   {id, name, cron, kind: "command"|"script", text, library_id,
 *    interpreter, cwd, is_sudo, timeout_sec,
 *    client_ids: [..], group_ids: [..], tags: {tags: [..], all: bool}|null,
 *    concurrent, abort_on_error, overlaps, created_by, created_at,
 *    metadata: {..}, last_execution: {..}|null,
 *    and optionally: enabled (default true; false: it never runs),
 *    once_at (an RFC 3339 time: it runs once then, instead of on cron,
 *    and is then disabled), cron_offset_sec (cron is read in the wall
 *    time of UTC plus this offset; default 0), run_as, kill_on_timeout,
 *    source}
 * text is the command or the script's text, unless library_id names a
 * library entry of the kind, whose text runs (read when the run starts),
 * or source names a source (schedules_add_source) that gives the job of
 * each run when it starts.
 * A run is a multi-client invocation through core/invoke.h made as the
 * schedule's creator, with that user's permissions at run time (a user
 * gone or without the right any more: the run is refused and recorded in
 * last_execution); its jobs carry the schedule's id (schedule_id).
 * Every run, and every run refused or skipped (the previous one still in
 * progress, overlaps false), leaves a run record in the store (the newest
 * SCHEDULE_RUNS_KEEP of each schedule; schedule_runs_read).
 *
 * Timing: a one-second tick on the loop compares each schedule's next slot
 * (core/cron.h, UTC) with the clock. A slot missed while the server was
 * down runs once at start if it is at most schedule_missed_grace_sec old,
 * never once per missed slot; that run waits schedule_missed_delay_sec after
 * the start, so the agents can connect again first. The clock is the wall clock, plus in tests
 * the seconds written in the file that TETHER_TEST_SCHEDULE_CLOCK_FILE
 * names. The schedules live in memory (loaded at start) and in the store. */
#ifndef TETHER_SCHEDULE_H
#define TETHER_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/cron.h"
#include "core/invoke.h"
#include "store/store.h"

struct server;
struct schedules;

#define SCHEDULE_TEST_CLOCK_ENV "TETHER_TEST_SCHEDULE_CLOCK_FILE"
#define SCHEDULE_MAX_NAME 200
#define SCHEDULE_RUNS_KEEP 1000

/* What one run runs: text, and what replaces the record's fields (NULL or
 * 0: the record's); metadata is merged into the invocation's (may be
 * NULL). Borrowed for the call. */
struct schedule_job {
	const char *text;
	const char *cwd;
	const char *run_as;
	int64_t timeout_sec;
	const json_t *metadata;
};

/* A source's answer for one run: job, or NULL with why (the run fails and
 * its record says why). Called once per token. */
typedef void (*schedule_job_cb)(void *token, const struct schedule_job *job, const char *why);
/* A face that makes the job of the schedules whose "source" is name. */
struct schedule_source {
	const char *name;
	/* The job of a run of rec (borrowed for the call) that starts now:
	 * calls done(token, ...) once, now or later. */
	void (*job)(void *ud, const json_t *rec, schedule_job_cb done, void *token);
	/* The run's invocation inv_id was submitted with the job's metadata
	 * (NULL if none). May be NULL. */
	void (*started)(void *ud, const json_t *rec, const char *inv_id, const json_t *metadata);
	void *ud;
};
/* Loads the stored schedules and starts the tick. Returns 0 or TE_NOMEM. */
int schedules_create(struct server *srv, struct schedules **out);
/* Registers a source (copied; at most a few). Returns 0 or TE_NOMEM. */
int schedules_add_source(struct schedules *s, const struct schedule_source *src);
/* Stops the tick (before the loop's last run). */
void schedules_stop(struct schedules *s);
void schedules_destroy(struct schedules *s);   /* NULL is a no-op */

/* The checks of a schedule before it is saved: its cron expression, and
 * the invocation it would make now as user (the job, the targets, the
 * user's access), with text (the library entry's when library_id is set;
 * NULL: the record's). Returns 0; -1 with cron_err set for the cron
 * expression; -2 with ie set for the invocation. */
int schedule_check(struct server *srv, const json_t *rec, const char *text, const char *user,
		   char *cron_err, size_t errlen, struct invoke_error *ie);
/* The same with a job as a source would give it (NULL: the record's text);
 * once_at, when the record has it, is checked instead of cron. */
int schedule_check_job(struct server *srv, const json_t *rec, const struct schedule_job *job,
		       const char *user, char *cron_err, size_t errlen, struct invoke_error *ie);
/* The next slot (s since the epoch) after after_sec of rec with its
 * parsed cron c (NULL: none), or -1: never (disabled, the one-shot time
 * passed, cron has none). Pure. */
int64_t schedule_next_slot(const json_t *rec, const struct cron_expr *c, int64_t after_sec);
/* The run records of the schedules ids (n of them, at most
 * STORE_SCHEDULE_RUNS_MAX_IN), newest first, paged (store.h's shape). */
void schedule_runs_read(struct schedules *s, const char *const *ids, size_t n, int64_t limit,
			int64_t offset, store_read_cb cb, void *ud);

/* rc 0 with the record as saved (a new reference the callback owns), or
 * TE_NOTFOUND, TE_IO, TE_NOMEM with NULL. */
typedef void (*schedule_cb)(void *ud, int rc, json_t *rec);
/* Saves rec (checked with schedule_check) as a new schedule of user (id
 * NULL) or over schedule id (its id, creator and creation stay). Its
 * slots count from now. */
void schedule_save(struct schedules *s, const char *id, const json_t *rec, const char *user,
		   schedule_cb cb, void *ud);
void schedule_delete(struct schedules *s, const char *id, schedule_cb cb, void *ud);
/* A copy of the schedule's record, or NULL. */
json_t *schedule_get(struct schedules *s, const char *id);
/* Copies of every record, oldest first (an array). */
json_t *schedule_list(struct schedules *s);
/* The scheduler's clock (ns since the epoch). */
int64_t schedule_now_ns(const struct schedules *s);

#endif
