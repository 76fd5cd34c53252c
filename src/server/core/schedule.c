/* schedule: cron schedules of multi-client invocations (schedule.h). */
#include "core/schedule.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "auth/auth.h"
#include "core/cron.h"
#include "core/events.h"
#include "core/library.h"
#include "log.h"
#include "server.h"
#include "store/store.h"
#include "util.h"

#define NS 1000000000LL
#define TICK_MS 1000
#define SOURCES_MAX 4

struct sched {
	struct sched *next;
	char id[UUID_STR_LEN];
	json_t *rec;
	struct cron_expr cron;
	bool cron_ok;
	bool once;              /* once_at: runs once, then is disabled */
	int64_t created_at;     /* ns */
	int64_t last_slot;      /* ns: slots up to here are handled */
	bool fresh;             /* loaded at start, not ticked yet: grace rule */
	char inv_id[UUID_STR_LEN]; /* the run in progress, or "" */
	int64_t inv_started;
	int success, failed, clients;
	bool starting;          /* a run is being prepared (library read) */
};

struct schedules {
	struct server *srv;
	struct sched *head, *tail;
	uv_timer_t tick;
	bool ticking;
	char *clock_file;
	uint64_t started_ms;    /* monotonic: when the schedules were loaded */
	struct schedule_source sources[SOURCES_MAX];
	size_t nsources;
};

/* ---- the clock ------------------------------------------------------ */

static int64_t test_offset_sec(const char *path)
{
	return util_test_clock_offset_sec(path);
}

int64_t schedule_now_ns(const struct schedules *s)
{
	int64_t now = util_now_ns();

	return s->clock_file ? now + test_offset_sec(s->clock_file) * NS : now;
}

/* ---- records -------------------------------------------------------- */

static void sched_free(struct sched *e)
{
	if (!e)
		return;
	json_decref(e->rec);
	free(e);
}

static struct sched *find(struct schedules *s, const char *id)
{
	for (struct sched *e = s->head; e; e = e->next)
		if (!strcmp(e->id, id))
			return e;
	return NULL;
}

static void sched_set_rec(struct sched *e, json_t *rec)
{
	char err[200];

	json_decref(e->rec);
	e->rec = rec;
	e->once = json_is_string(json_object_get(rec, "once_at"));
	e->cron_ok = !e->once && !cron_parse(json_string_value(json_object_get(rec, "cron")),
					     &e->cron, err, sizeof err);
	if (!e->once && !e->cron_ok)
		log_error("schedule %s: %s", e->id, err);
}

int64_t schedule_next_slot(const json_t *rec, const struct cron_expr *c, int64_t after_sec)
{
	const json_t *once = json_object_get(rec, "once_at");
	int64_t ns, off, slot;

	if (json_is_false(json_object_get(rec, "enabled")))
		return -1;
	if (once) {
		if (util_time_parse(json_string_value(once) ?: "", &ns))
			return -1;
		return ns / NS > after_sec ? ns / NS : -1;
	}
	if (!c)
		return -1;
	/* A cron expression of a fixed-offset zone (TAT's: UTC+8) is read in
	 * that zone's wall time. */
	off = json_integer_value(json_object_get(rec, "cron_offset_sec"));
	slot = cron_next(c, after_sec + off);
	return slot < 0 ? -1 : slot - off;
}

static const struct schedule_source *source_of(struct schedules *s, const json_t *rec)
{
	const char *name = json_string_value(json_object_get(rec, "source"));

	for (size_t i = 0; name && i < s->nsources; i++)
		if (!strcmp(s->sources[i].name, name))
			return &s->sources[i];
	return NULL;
}

int schedules_add_source(struct schedules *s, const struct schedule_source *src)
{
	if (s->nsources >= SOURCES_MAX)
		return TE_NOMEM;
	s->sources[s->nsources++] = *src;
	return 0;
}

struct sched_write {
	struct schedules *s;
	char id[UUID_STR_LEN];
	int64_t created_at, last_slot;
	json_t *rec;         /* NULL: delete */
	schedule_cb cb;
	void *ud;
};

static int write_apply(struct store *st, void *arg)
{
	struct sched_write *w = arg;

	if (!w->rec)
		return store_schedule_delete(st, w->id);
	return store_schedule_put(st, w->id, w->created_at, w->last_slot, w->rec);
}

static void write_after(void *arg, int rc)
{
	struct sched_write *w = arg;

	if (rc)
		log_error("schedule %s: cannot store it (%d)", w->id, rc);
	if (w->cb)
		w->cb(w->ud, rc, rc || !w->rec ? NULL : json_deep_copy(w->rec));
	json_decref(w->rec);
	free(w);
}

/* Queues the write of e (or its removal when gone). */
static void persist(struct schedules *s, struct sched *e, bool gone, const char *id,
		    schedule_cb cb, void *ud)
{
	struct sched_write *w = calloc(1, sizeof *w);

	if (!w) {
		if (cb)
			cb(ud, TE_NOMEM, NULL);
		return;
	}
	w->s = s;
	util_strlcpy(w->id, id, sizeof w->id);
	if (!gone) {
		w->created_at = e->created_at;
		w->last_slot = e->last_slot;
		w->rec = json_deep_copy(e->rec);
	}
	w->cb = cb;
	w->ud = ud;
	store_queue(s->srv->store, write_apply, write_after, w);
}

static void last_execution(struct schedules *s, struct sched *e, const char *status,
			   const char *error)
{
	char ts[TIME_STR_LEN];

	util_time_format(e->inv_started ? e->inv_started : schedule_now_ns(s), ts);
	json_object_set_new(e->rec, "last_execution",
			    json_pack("{s:s, s:s?, s:i, s:i, s:s, s:s}", "started_at", ts,
				      "multi_job_id", e->inv_id[0] ? e->inv_id : NULL,
				      "client_count", e->clients, "success_count", e->success,
				      "status", status, "error", error ? error : ""));
	persist(s, e, false, e->id, NULL, NULL);
}

/* ---- run records ----------------------------------------------------- */

struct run_write {
	struct schedule_run_row row;
	char id[UUID_STR_LEN], mj[UUID_STR_LEN];
	char result[16];
	char *reason;
	bool finish;            /* the end of the run of mj */
};

static int run_write_apply(struct store *st, void *arg)
{
	struct run_write *w = arg;

	if (w->finish)
		return store_schedule_run_finish(st, w->mj, w->result, w->row.success_count,
						 w->row.failed_count);
	return store_schedule_run_add(st, &w->row, SCHEDULE_RUNS_KEEP);
}

static void run_write_after(void *arg, int rc)
{
	struct run_write *w = arg;

	if (rc)
		log_error("schedule %s: cannot store a run record (%d)", w->id, rc);
	free(w->reason);
	free(w);
}

/* Queues a run record of e: the run of e->inv_id (when set) or a refused
 * one; finish: the end of the run of e->inv_id. */
static void run_record(struct schedules *s, struct sched *e, const char *result,
		       const char *reason, bool finish)
{
	struct run_write *w = calloc(1, sizeof *w);

	if (!w || !(w->reason = strdup(reason ? reason : ""))) {
		free(w);
		log_error("schedule %s: out of memory for a run record", e->id);
		return;
	}
	util_strlcpy(w->id, e->id, sizeof w->id);
	util_strlcpy(w->mj, e->inv_id, sizeof w->mj);
	util_strlcpy(w->result, result, sizeof w->result);
	w->finish = finish;
	w->row.schedule_id = w->id;
	w->row.at = e->inv_started ? e->inv_started : schedule_now_ns(s);
	w->row.multi_job_id = w->mj[0] ? w->mj : NULL;
	w->row.result = w->result;
	w->row.reason = w->reason;
	w->row.client_count = e->clients;
	w->row.success_count = e->success;
	w->row.failed_count = e->failed;
	store_queue(s->srv->store, run_write_apply, run_write_after, w);
}

void schedule_runs_read(struct schedules *s, const char *const *ids, size_t n, int64_t limit,
			int64_t offset, store_read_cb cb, void *ud)
{
	store_read_schedule_runs(s->srv->store, ids, n, limit, offset, cb, ud);
}

/* ---- the invocation a schedule makes -------------------------------- */

/* The strings of an array (borrowed); NULL entries for non-strings. */
static const char **strings_of(const json_t *arr, size_t *n)
{
	size_t len = json_array_size(arr);
	const char **v = calloc(len + 1, sizeof *v);

	for (size_t i = 0; v && i < len; i++)
		v[i] = json_string_value(json_array_get(arr, i));
	*n = v ? len : 0;
	return v;
}

/* Prepares rec's invocation as user with text. Returns 0 with *out, or -1
 * with ie. */
static int prepare(struct server *srv, const json_t *rec, const struct schedule_job *job,
		   const char *user, const char *schedule_id, struct invocation **out,
		   struct invoke_error *ie)
{
	struct invocation_request req;
	const json_t *tags = json_object_get(rec, "tags");
	const char **ids, **gids, **sel = NULL;
	json_t *meta = json_object();
	int rc;

	memset(&req, 0, sizeof req);
	req.dialect = "schedule";
	ids = strings_of(json_object_get(rec, "client_ids"), &req.targets.nclient_ids);
	gids = strings_of(json_object_get(rec, "group_ids"), &req.targets.ngroup_ids);
	req.targets.client_ids = ids;
	req.targets.group_ids = gids;
	if (json_is_object(tags)) {
		req.targets.by_selector = true;
		req.targets.all_of = json_is_true(json_object_get(tags, "all"));
		sel = strings_of(json_object_get(tags, "tags"), &req.targets.nselectors);
		req.targets.selectors = sel;
	}
	if (meta && job->metadata)
		json_object_update(meta, (json_t *)job->metadata);
	if (meta && schedule_id)
		json_object_set_new(meta, "schedule_id", json_string(schedule_id));
	req.command = job->text;
	req.is_script = !strcmp(json_string_value(json_object_get(rec, "kind")) ?: "", "script");
	req.interpreter = json_string_value(json_object_get(rec, "interpreter"));
	req.cwd = job->cwd ? job->cwd : json_string_value(json_object_get(rec, "cwd"));
	req.is_sudo = json_is_true(json_object_get(rec, "is_sudo"));
	req.run_as = job->run_as ? job->run_as : json_string_value(json_object_get(rec, "run_as"));
	req.kill_on_timeout = json_is_true(json_object_get(rec, "kill_on_timeout"));
	req.timeout_sec = job->timeout_sec ? job->timeout_sec :
					     json_integer_value(json_object_get(rec, "timeout_sec"));
	req.concurrent = json_is_true(json_object_get(rec, "concurrent"));
	req.abort_on_error = json_is_true(json_object_get(rec, "abort_on_error"));
	req.metadata = json_object_size(meta) ? meta : NULL;
	req.created_by = user;
	req.peer = "scheduler";
	req.audit_application = req.is_script ? "client.script" : "client.command";
	req.audit_request = rec;
	memset(ie, 0, sizeof *ie);
	if (!ids || !gids || !meta) {
		ie->code = INVOKE_NOMEM;
		rc = -1;
	} else {
		rc = invoke_check_job(req.is_script, false, req.command, req.interpreter, req.cwd, ie);
		if (!rc)
			rc = invoke_prepare(srv, &req, out, ie);
	}
	free(ids);
	free(gids);
	free(sel);
	json_decref(meta);
	return rc ? -1 : 0;
}

int schedule_check(struct server *srv, const json_t *rec, const char *text, const char *user,
		   char *cron_err, size_t errlen, struct invoke_error *ie)
{
	struct schedule_job job = { .text = text };

	return schedule_check_job(srv, rec, text ? &job : NULL, user, cron_err, errlen, ie);
}

int schedule_check_job(struct server *srv, const json_t *rec, const struct schedule_job *job,
		       const char *user, char *cron_err, size_t errlen, struct invoke_error *ie)
{
	struct cron_expr c;
	struct invocation *inv = NULL;
	struct schedule_job plain = { .text = json_string_value(json_object_get(rec, "text")) };
	const json_t *once = json_object_get(rec, "once_at");
	int64_t ns;

	if (once) {
		if (!json_is_string(once) || util_time_parse(json_string_value(once), &ns)) {
			snprintf(cron_err, errlen, "once_at is not an RFC 3339 time");
			return -1;
		}
	} else if (cron_parse(json_string_value(json_object_get(rec, "cron")), &c, cron_err,
			      errlen)) {
		return -1;
	}
	if (prepare(srv, rec, job ? job : &plain, user, NULL, &inv, ie))
		return -2;
	invocation_free(inv);
	return 0;
}

/* Words for a refused run in the record (the dialects show them). */
static void invoke_words(const struct invoke_error *ie, char *out, size_t len)
{
	static const char *const what[] = {
		[INVOKE_COMMAND_EMPTY] = "the command is empty",
		[INVOKE_COMMAND_TOO_LONG] = "the command is too long",
		[INVOKE_INTERPRETER_NOT_FOR_COMMANDS] = "the interpreter is not for commands",
		[INVOKE_INTERPRETER_INVALID] = "the interpreter is not valid",
		[INVOKE_CWD_TOO_LONG] = "cwd is too long",
		[INVOKE_TIMEOUT_INVALID] = "the timeout is not valid",
		[INVOKE_TARGETS] = "the targets cannot be resolved",
		[INVOKE_FORBIDDEN] = "the creator may not use the client",
		[INVOKE_INTERPRETER_UNKNOWN] = "a client does not offer the interpreter",
		[INVOKE_LIMIT_NEEDS_CONCURRENT] = "a limit needs concurrent mode",
		[INVOKE_LIMIT_INVALID] = "a limit is not valid",
		[INVOKE_KEY_IN_USE] = "the idempotency key is in use",
		[INVOKE_AUDIT_FAILED] = "the audit record could not be written",
		[INVOKE_STORE_FAILED] = "the store failed",
		[INVOKE_NOMEM] = "out of memory",
	};
	const char *w = (size_t)ie->code < sizeof what / sizeof what[0] && what[ie->code] ?
				what[ie->code] : "the run was refused";

	if (ie->subject[0])
		snprintf(out, len, "%s: %.200s", w, ie->subject);
	else
		snprintf(out, len, "%s", w);
}

struct run {
	struct schedules *s;
	char id[UUID_STR_LEN];
	json_t *metadata;        /* the source's, for its started hook */
};

static void run_submitted(void *ud, int rc, const char *inv_id, const struct invoke_error *ie)
{
	struct run *r = ud;
	struct sched *e = find(r->s, r->id);
	char why[300];

	if (e) {
		if (rc) {
			invoke_words(ie, why, sizeof why);
			e->inv_id[0] = '\0';
			last_execution(r->s, e, "failed", why);
			run_record(r->s, e, "failed", why, false);
		} else {
			const struct schedule_source *src = source_of(r->s, e->rec);

			util_strlcpy(e->inv_id, inv_id, sizeof e->inv_id);
			last_execution(r->s, e, "running", NULL);
			run_record(r->s, e, "running", NULL, false);
			if (src && src->started)
				src->started(src->ud, e->rec, inv_id, r->metadata);
		}
	}
	json_decref(r->metadata);
	free(r);
}

static void run_with_job(struct schedules *s, struct sched *e, const struct schedule_job *job)
{
	struct invocation *inv = NULL;
	struct invoke_error ie;
	const char *user = json_string_value(json_object_get(e->rec, "created_by"));
	struct run *r;
	char why[300];

	e->starting = false;
	e->success = e->failed = 0;
	e->clients = 0;
	e->inv_id[0] = '\0';
	if (prepare(s->srv, e->rec, job, user, e->id, &inv, &ie)) {
		invoke_words(&ie, why, sizeof why);
		log_info("schedule %s: run refused: %s", e->id, why);
		last_execution(s, e, "failed", why);
		run_record(s, e, "failed", why, false);
		return;
	}
	r = calloc(1, sizeof *r);
	if (!r) {
		invocation_free(inv);
		return;
	}
	r->s = s;
	util_strlcpy(r->id, e->id, sizeof r->id);
	r->metadata = job->metadata ? json_deep_copy(job->metadata) : NULL;
	e->clients = (int)invocation_target_count(inv);
	util_strlcpy(e->inv_id, invocation_id(inv), sizeof e->inv_id);
	log_info("schedule %s: run %s on %d client(s)", e->id, e->inv_id, e->clients);
	invoke_submit(s->srv, inv, run_submitted, r);
}

static void library_read(void *ud, int rc, json_t *entry)
{
	struct run *r = ud;
	struct sched *e = find(r->s, r->id);

	if (e && rc) {
		const char *why = rc == TE_NOTFOUND ? "the library entry is gone" :
						      "the library cannot be read";

		e->starting = false;
		last_execution(r->s, e, "failed", why);
		run_record(r->s, e, "failed", why, false);
	} else if (e) {
		struct schedule_job job = {
			.text = json_string_value(json_object_get(entry, "text")),
		};

		run_with_job(r->s, e, &job);
	}
	json_decref(entry);
	free(r);
}

/* The source gave the run's job (or why it cannot run). */
static void source_done(void *token, const struct schedule_job *job, const char *why)
{
	struct run *r = token;
	struct sched *e = find(r->s, r->id);

	if (e) {
		e->starting = false;
		if (!job) {
			log_info("schedule %s: run refused: %s", e->id, why ? why : "?");
			e->inv_id[0] = '\0';
			e->clients = e->success = e->failed = 0;
			last_execution(r->s, e, "failed", why);
			run_record(r->s, e, "failed", why, false);
		} else {
			run_with_job(r->s, e, job);
		}
	}
	free(r);
}

/* The creator's right to run the schedule now, or why not. */
static const char *refusal(struct server *srv, const json_t *rec)
{
	const char *user = json_string_value(json_object_get(rec, "created_by"));
	bool script = !strcmp(json_string_value(json_object_get(rec, "kind")) ?: "", "script");

	if (!user || !auth_user_exists(srv->auth, user))
		return "the schedule's creator is no user any more";
	if (auth_user_is_admin(srv->auth, user))
		return NULL;
	if (!auth_user_may(srv->auth, user, "scheduler"))
		return "the schedule's creator has no \"scheduler\" permission any more";
	if (!auth_user_may(srv->auth, user, script ? "scripts" : "commands"))
		return script ? "the schedule's creator has no \"scripts\" permission any more" :
				"the schedule's creator has no \"commands\" permission any more";
	return NULL;
}

static void run_now(struct schedules *s, struct sched *e, int64_t now)
{
	const char *lib = json_string_value(json_object_get(e->rec, "library_id"));
	const struct schedule_source *src;
	const char *why;

	if (e->starting)
		return;
	if (e->inv_id[0] && !json_is_true(json_object_get(e->rec, "overlaps"))) {
		struct sched skipped = *e;

		log_info("schedule %s: the previous run %s is still in progress: skipped", e->id,
			 e->inv_id);
		skipped.inv_id[0] = '\0';
		skipped.inv_started = now;
		skipped.clients = skipped.success = skipped.failed = 0;
		run_record(s, &skipped, "skipped", "the previous run is still in progress", false);
		return;
	}
	e->inv_started = now;
	if ((why = refusal(s->srv, e->rec))) {
		log_info("schedule %s: run refused: %s", e->id, why);
		e->inv_id[0] = '\0';
		e->clients = e->success = e->failed = 0;
		last_execution(s, e, "refused", why);
		run_record(s, e, "refused", why, false);
		return;
	}
	if ((src = source_of(s, e->rec))) {
		struct run *r = calloc(1, sizeof *r);

		if (!r)
			return;
		r->s = s;
		util_strlcpy(r->id, e->id, sizeof r->id);
		e->starting = true;
		src->job(src->ud, e->rec, source_done, r);
		return;
	}
	if (json_object_get(e->rec, "source")) {
		e->inv_id[0] = '\0';
		e->clients = e->success = e->failed = 0;
		last_execution(s, e, "failed", "the schedule's source is not served");
		run_record(s, e, "failed", "the schedule's source is not served", false);
		return;
	}
	if (lib && *lib) {
		struct run *r = calloc(1, sizeof *r);
		const char *kind = json_string_value(json_object_get(e->rec, "kind"));

		if (!r)
			return;
		r->s = s;
		util_strlcpy(r->id, e->id, sizeof r->id);
		e->starting = true;
		library_get(s->srv, kind && !strcmp(kind, "script") ? LIBRARY_SCRIPT : LIBRARY_COMMAND,
			    lib, library_read, r);
		return;
	}
	{
		struct schedule_job job = {
			.text = json_string_value(json_object_get(e->rec, "text")),
		};

		run_with_job(s, e, &job);
	}
}

/* ---- the tick ------------------------------------------------------- */

static void on_tick(uv_timer_t *t)
{
	struct schedules *s = t->data;
	int64_t now = schedule_now_ns(s), now_sec = now / NS;
	int64_t grace = s->srv->cfg.schedule_missed_grace_sec;

	for (struct sched *e = s->head, *next; e; e = next) {
		int64_t slot;

		next = e->next;
		if (!e->cron_ok && !e->once)
			continue;
		slot = schedule_next_slot(e->rec, e->cron_ok ? &e->cron : NULL, e->last_slot / NS);
		if (slot < 0 || slot > now_sec) {
			e->fresh = false;
			continue;
		}
		if (e->fresh) {
			/* Missed while the server was down: once, when the agents
			 * had time to connect again, and only if a slot lies
			 * within the grace period then. */
			if (util_mono_ms() < s->started_ms +
					     (uint64_t)s->srv->cfg.schedule_missed_delay_sec * 1000)
				continue;
			int64_t from = now_sec - grace > e->last_slot / NS ? now_sec - grace :
									     e->last_slot / NS;
			int64_t recent = schedule_next_slot(e->rec, e->cron_ok ? &e->cron : NULL,
							    from - 1);

			e->fresh = false;
			e->last_slot = now;
			if (recent < 0 || recent > now_sec) {
				log_info("schedule %s: a run missed while down is older than %lld s: "
					 "not run", e->id, (long long)grace);
				persist(s, e, false, e->id, NULL, NULL);
				continue;
			}
			log_info("schedule %s: running once for the slot(s) missed while down",
				 e->id);
		}
		e->last_slot = now;
		/* A one-shot schedule has had its run: it stays, disabled. */
		if (e->once)
			json_object_set_new(e->rec, "enabled", json_false());
		persist(s, e, false, e->id, NULL, NULL);
		run_now(s, e, now);
	}
}

/* The end of a schedule's run: its counts in last_execution. */
static void on_event(void *ud, const struct event *ev)
{
	struct schedules *s = ud;

	if (!ev->invocation_id)
		return;
	for (struct sched *e = s->head; e; e = e->next) {
		if (strcmp(e->inv_id, ev->invocation_id))
			continue;
		if (ev->kind == EV_INVOCATION_CHILD_DONE) {
			if (ev->status == JOB_SUCCESSFUL)
				e->success++;
			else
				e->failed++;
		} else if (ev->kind == EV_INVOCATION_DONE) {
			last_execution(s, e, e->failed ? "failed" : "successful", NULL);
			run_record(s, e, e->failed ? "failed" : "successful", NULL, true);
			e->inv_id[0] = '\0';
		}
		return;
	}
}

/* ---- the API -------------------------------------------------------- */

static struct sched *sched_add(struct schedules *s, const char *id, json_t *rec,
			       int64_t created_at, int64_t last_slot)
{
	struct sched *e = calloc(1, sizeof *e);

	if (!e)
		return NULL;
	util_strlcpy(e->id, id, sizeof e->id);
	e->created_at = created_at;
	e->last_slot = last_slot;
	sched_set_rec(e, rec);
	if (s->tail)
		s->tail->next = e;
	else
		s->head = e;
	s->tail = e;
	return e;
}

static void load_one(void *ud, const char *id, int64_t last_slot, json_t *rec)
{
	struct schedules *s = ud;
	int64_t created = 0;
	struct sched *e;

	util_time_parse(json_string_value(json_object_get(rec, "created_at")), &created);
	e = sched_add(s, id, json_incref(rec), created, last_slot);
	if (e)
		e->fresh = true;
}

int schedules_create(struct server *srv, struct schedules **out)
{
	struct schedules *s = calloc(1, sizeof *s);
	const char *cf = getenv(SCHEDULE_TEST_CLOCK_ENV);

	if (!s)
		return TE_NOMEM;
	s->srv = srv;
	s->started_ms = util_mono_ms();
	if (cf && *cf && !(s->clock_file = strdup(cf))) {
		free(s);
		return TE_NOMEM;
	}
	/* The loader at start, before the loop runs (docs/internals/store.md). */
	store_schedule_each(srv->store, load_one, s);
	if (events_subscribe(srv->events, EV_MASK(EV_INVOCATION_CHILD_DONE) |
				  EV_MASK(EV_INVOCATION_DONE), on_event, s)) {
		schedules_destroy(s);
		return TE_NOMEM;
	}
	if (srv->loop) {
		uv_timer_init(srv->loop, &s->tick);
		s->tick.data = s;
		uv_timer_start(&s->tick, on_tick, TICK_MS, TICK_MS);
		s->ticking = true;
	}
	*out = s;
	return 0;
}

void schedules_stop(struct schedules *s)
{
	if (s && s->ticking) {
		uv_timer_stop(&s->tick);
		uv_close((uv_handle_t *)&s->tick, NULL);
		s->ticking = false;
	}
}

void schedules_destroy(struct schedules *s)
{
	if (!s)
		return;
	events_unsubscribe(s->srv->events, on_event, s);
	while (s->head) {
		struct sched *e = s->head;

		s->head = e->next;
		sched_free(e);
	}
	free(s->clock_file);
	free(s);
}

void schedule_save(struct schedules *s, const char *id, const json_t *rec, const char *user,
		   schedule_cb cb, void *ud)
{
	struct sched *e = id ? find(s, id) : NULL;
	int64_t now = schedule_now_ns(s);
	json_t *copy = json_deep_copy(rec);
	char nid[UUID_STR_LEN], ts[TIME_STR_LEN];

	if (!copy || (id && !e)) {
		json_decref(copy);
		cb(ud, copy ? TE_NOTFOUND : TE_NOMEM, NULL);
		return;
	}
	if (e) {
		const char *k[] = { "id", "created_by", "created_at", "last_execution" };

		for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
			json_object_set(copy, k[i], json_object_get(e->rec, k[i]) ?: json_null());
		sched_set_rec(e, copy);
	} else {
		util_uuid4(nid);
		util_time_format(now, ts);
		json_object_set_new(copy, "id", json_string(nid));
		json_object_set_new(copy, "created_by", json_string(user));
		json_object_set_new(copy, "created_at", json_string(ts));
		json_object_set_new(copy, "last_execution", json_null());
		e = sched_add(s, nid, copy, now, now);
		if (!e) {
			json_decref(copy);
			cb(ud, TE_NOMEM, NULL);
			return;
		}
	}
	/* The slots count from now: a changed expression does not run for
	 * the past. */
	e->last_slot = now;
	e->fresh = false;
	persist(s, e, false, e->id, cb, ud);
}

void schedule_delete(struct schedules *s, const char *id, schedule_cb cb, void *ud)
{
	struct sched **pp = &s->head, *e = NULL, *prev = NULL;

	for (; *pp; prev = *pp, pp = &(*pp)->next) {
		if (!strcmp((*pp)->id, id)) {
			e = *pp;
			*pp = e->next;
			break;
		}
	}
	if (!e) {
		cb(ud, TE_NOTFOUND, NULL);
		return;
	}
	if (s->tail == e)
		s->tail = prev;
	persist(s, NULL, true, id, cb, ud);
	sched_free(e);
}

json_t *schedule_get(struct schedules *s, const char *id)
{
	struct sched *e = find(s, id);

	return e ? json_deep_copy(e->rec) : NULL;
}

json_t *schedule_list(struct schedules *s)
{
	json_t *arr = json_array();

	for (struct sched *e = s->head; e && arr; e = e->next)
		json_array_append_new(arr, json_deep_copy(e->rec));
	return arr;
}
