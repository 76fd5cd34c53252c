/* invoke: validating, preparing and committing invocations; see invoke.h. */
#include "core/invoke.h"
#include "core/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "core/audit.h"
#include "core/fanout.h"
#include "core/groups.h"
#include "core/offline.h"
#include "core/outcome.h"
#include "core/registry.h"
#include "log.h"
#include "proto.h"
#include "server.h"
#include "store/store.h"
#include "util.h"

struct invocation {
	struct server *srv;
	char id[UUID_STR_LEN];
	json_t *record;              /* fan-out's record (stored as it is) */
	json_t *audit_request;
	char *created_by;
	char *peer;
	char *application;
	char *idem_key, *idem_hash;
	int64_t created_at;
	size_t ntargets;
	const char *dialect;         /* a literal, for metrics */
	invoke_cb cb;
	void *ud;
	int rc;                      /* of the commit */
	bool audit_failed;
};

static void set_err(struct invoke_error *err, enum invoke_code code, const char *subject,
		    long long value)
{
	err->code = code;
	err->target = TARGET_OK;
	util_strlcpy(err->subject, subject ? subject : "", sizeof err->subject);
	err->value = value;
}

static bool blank(const char *s)
{
	if (!s)
		return true;
	s += strspn(s, " \t\r\n");
	return !*s;
}

int invoke_check_job(bool is_script, bool has_argv, const char *command,
		     const char *interpreter, const char *cwd, struct invoke_error *err)
{
	if (!is_script && !has_argv) {
		if (blank(command)) {
			set_err(err, INVOKE_COMMAND_EMPTY, NULL, 0);
			return -1;
		}
		if (strlen(command) > INVOKE_MAX_COMMAND_LEN) {
			set_err(err, INVOKE_COMMAND_TOO_LONG, NULL, INVOKE_MAX_COMMAND_LEN);
			return -1;
		}
	}
	if (interpreter && *interpreter) {
		if (!is_script && !strcmp(interpreter, "tacoscript")) {
			set_err(err, INVOKE_INTERPRETER_NOT_FOR_COMMANDS, interpreter, 0);
			return -1;
		}
		if (strlen(interpreter) > INVOKE_MAX_INTERPRETER_LEN ||
		    strpbrk(interpreter, " \t\r\n;|&<>`$")) {
			set_err(err, INVOKE_INTERPRETER_INVALID, NULL, 0);
			return -1;
		}
	}
	if (cwd && strlen(cwd) > INVOKE_MAX_CWD_LEN) {
		set_err(err, INVOKE_CWD_TOO_LONG, NULL, INVOKE_MAX_CWD_LEN);
		return -1;
	}
	return 0;
}

int invoke_timeouts(const struct server *srv, int64_t timeout_sec, int64_t delivery_sec,
		    int64_t *timeout_out, int64_t *delivery_out, struct invoke_error *err)
{
	/* rport: timeout_sec <= 0 (or none) is the server's default. The
	 * delivery timeout is stricter: only 0 or none means the default. */
	if (timeout_sec > JOB_MAX_TIMEOUT_SEC) {
		set_err(err, INVOKE_TIMEOUT_INVALID, "timeout_sec", timeout_sec);
		return -1;
	}
	if (delivery_sec > JOB_MAX_TIMEOUT_SEC || delivery_sec < 0) {
		set_err(err, INVOKE_TIMEOUT_INVALID, "delivery_timeout_sec", delivery_sec);
		return -1;
	}
	*timeout_out = timeout_sec > 0 ? timeout_sec : srv->cfg.run_remote_cmd_timeout_sec;
	*delivery_out = delivery_sec > 0 ? delivery_sec : srv->cfg.delivery_timeout_sec;
	return 0;
}

int invoke_expiry(const struct server *srv, bool queue_offline, int64_t expires_in_sec,
		  int64_t *out, struct invoke_error *err)
{
	if (!queue_offline) {
		if (expires_in_sec) {
			set_err(err, INVOKE_EXPIRY_NEEDS_QUEUE, "expires_in_sec", expires_in_sec);
			return -1;
		}
		*out = 0;
		return 0;
	}
	if (expires_in_sec < 0 || expires_in_sec > srv->cfg.queue_expiry_max_sec) {
		set_err(err, INVOKE_EXPIRY_INVALID, "expires_in_sec", expires_in_sec);
		err->value_max = srv->cfg.queue_expiry_max_sec;
		return -1;
	}
	*out = expires_in_sec ? expires_in_sec : srv->cfg.queue_expiry_default_sec;
	return 0;
}

bool invoke_client_allowed(struct server *srv, const char *user, const struct client *c)
{
	if (auth_user_is_admin(srv->auth, user))
		return true;
	return c && groups_client_allowed(srv->groups, auth_user_groups(srv->auth, user), c);
}

int invoke_check_interpreter(const struct client *c, const char *interp,
			     struct invoke_error *err)
{
	/* rport's names pass whatever the agent offers: the agent decides
	 * (and refuses with a client error). tacoscript for a command was
	 * refused before (invoke_check_job). Beyond rport: an absolute path,
	 * or a name the agent offers (its built-ins and aliases). */
	if (!interp || !*interp || interp[0] == '/' || !strcmp(interp, "cmd") ||
	    !strcmp(interp, "powershell") || !strcmp(interp, "tacoscript") ||
	    registry_client_has_interpreter(c, interp))
		return 0;
	set_err(err, INVOKE_INTERPRETER_UNKNOWN, interp, 0);
	return -1;
}

/* A limit as a count: "N" or "N%" of total (concurrency rounds up and is
 * never 0; errors round down). Returns -1 when invalid. */
static long long limit_count(const struct invoke_limit *l, size_t total, long long min)
{
	long long n;

	if (l->kind == LIMIT_NUMBER) {
		n = l->n;
	} else if (l->kind == LIMIT_TEXT) {
		size_t len = strlen(l->text);

		if (len > 1 && l->text[len - 1] == '%') {
			char num[32];

			if (len - 1 >= sizeof num)
				return -1;
			memcpy(num, l->text, len - 1);
			num[len - 1] = '\0';
			if (util_parse_int(num, 0, 100, &n))
				return -1;
			n = min ? (long long)ceil((double)total * (double)n / 100.0) :
				  (long long)floor((double)total * (double)n / 100.0);
			return n < min ? min : n;
		}
		if (util_parse_int(l->text, 0, INT32_MAX, &n))
			return -1;
	} else {
		return -1;
	}
	return n < min || n > INT32_MAX ? -1 : n;
}

static int check_targets(struct server *srv, const struct invocation_request *req,
			 const struct target_list *t, struct invoke_error *err)
{
	size_t i;

	if (!auth_user_is_admin(srv->auth, req->created_by)) {
		/* Every target must be one this user may use. */
		const json_t *ug = auth_user_groups(srv->auth, req->created_by);

		for (i = 0; i < t->n; i++) {
			struct client *c = t->clients[i];

			if (!c || !groups_client_allowed(srv->groups, ug, c)) {
				set_err(err, INVOKE_FORBIDDEN, t->ids[i], 0);
				return -1;
			}
		}
	}
	/* Each connected target must offer the interpreter, as for a single
	 * job; a disconnected one fails as not connected. */
	for (i = 0; i < t->n; i++) {
		struct client *c = t->clients[i];

		if (registry_client_connected(c) &&
		    invoke_check_interpreter(c, req->interpreter, err))
			return -1;
	}
	return 0;
}

static int check_limits(const struct invocation_request *req, size_t total, long long *maxc,
			long long *maxe, struct invoke_error *err)
{
	*maxc = 0;
	*maxe = -1;
	if (req->max_concurrency.kind != LIMIT_NONE) {
		if (!req->concurrent) {
			set_err(err, INVOKE_LIMIT_NEEDS_CONCURRENT, "max_concurrency", 0);
			return -1;
		}
		*maxc = limit_count(&req->max_concurrency, total, 1);
		if (*maxc < 0) {
			set_err(err, INVOKE_LIMIT_INVALID, "max_concurrency", 1);
			return -1;
		}
	}
	if (req->max_errors.kind != LIMIT_NONE) {
		*maxe = limit_count(&req->max_errors, total, 0);
		if (*maxe < 0) {
			set_err(err, INVOKE_LIMIT_INVALID, "max_errors", 0);
			return -1;
		}
	}
	return 0;
}

/* Fan-out's record: what it needs to dispatch, resume and report. */
static json_t *record_new(const struct invocation_request *req, const char *id,
			  int64_t now, const struct target_list *t, int64_t timeout,
			  int64_t delivery, long long maxc, long long maxe, int64_t expiry)
{
	char ts[TIME_STR_LEN];
	json_t *rec = json_object(), *targets = json_array(), *v;
	const char *k;

	util_time_format(now, ts);
	json_object_set_new(rec, "jid", json_string(id));
	json_object_set_new(rec, "started_at", json_string(ts));
	json_object_set_new(rec, "created_by", json_string(req->created_by));
	json_object_foreach((json_t *)req->metadata, k, v)
		json_object_set(rec, k, v);
	json_object_set_new(rec, "command", json_string(req->command));
	if (req->argv && !req->is_script)
		json_object_set(rec, "argv", (json_t *)req->argv);
	json_object_set_new(rec, "cwd", json_string(req->cwd ? req->cwd : ""));
	json_object_set_new(rec, "is_sudo", json_boolean(req->is_sudo));
	if (req->run_as && *req->run_as)
		json_object_set_new(rec, "run_as", json_string(req->run_as));
	json_object_set_new(rec, "is_script", json_boolean(req->is_script));
	json_object_set_new(rec, "kill_on_timeout", json_boolean(req->kill_on_timeout));
	json_object_set_new(rec, "interpreter", json_string(req->interpreter ? req->interpreter : ""));
	json_object_set_new(rec, "timeout_sec", json_integer(timeout));
	json_object_set_new(rec, "delivery_timeout_sec", json_integer(delivery));
	if (req->idempotency_key) {
		json_object_set_new(rec, "idempotency_key", json_string(req->idempotency_key));
		json_object_set_new(rec, "request_hash", json_string(req->request_hash));
	}
	json_object_set_new(rec, "concurrent", json_boolean(req->concurrent));
	json_object_set_new(rec, "abort_on_err",
			    json_boolean(req->concurrent ? false : req->abort_on_error));
	json_object_set_new(rec, "max_concurrency", maxc ? json_integer(maxc) : json_null());
	json_object_set_new(rec, "max_errors", maxe >= 0 ? json_integer(maxe) : json_null());
	if (req->stream)
		json_object_set_new(rec, "stream", json_true());
	if (expiry > 0) {
		/* Offline targets wait until expires_at (ns, absolute). */
		json_object_set_new(rec, "queue_offline", json_true());
		json_object_set_new(rec, "expires_in_sec", json_integer(expiry));
		json_object_set_new(rec, "expires_at",
				    json_integer(now + expiry * 1000000000LL));
	}
	if (req->output_cap_bytes > 0)
		json_object_set_new(rec, "output_cap_bytes", json_integer(req->output_cap_bytes));
	if (req->comment && *req->comment)
		json_object_set_new(rec, "comment", json_string(req->comment));
	for (size_t i = 0; i < t->n; i++)
		json_array_append_new(targets, json_string(t->ids[i]));
	json_object_set_new(rec, "targets", targets);
	return rec;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int invoke_prepare(struct server *srv, const struct invocation_request *req,
		   struct invocation **out, struct invoke_error *err)
{
	struct target_list t;
	struct invocation *inv;
	int64_t timeout, delivery, expiry;
	long long maxc, maxe;
	enum target_error te;

	memset(err, 0, sizeof *err);
	if (invoke_check_job(req->is_script, req->argv != NULL, req->command, req->interpreter,
			     req->cwd, err))
		return -1;
	te = targets_resolve(srv, &req->targets, &t, err->subject, sizeof err->subject);
	if (te != TARGET_OK) {
		err->code = te == TARGET_NOMEM ? INVOKE_NOMEM : INVOKE_TARGETS;
		err->target = te;
		return -1;
	}
	if (check_targets(srv, req, &t, err) || check_limits(req, t.n, &maxc, &maxe, err) ||
	    invoke_timeouts(srv, req->timeout_sec, req->delivery_timeout_sec, &timeout, &delivery,
			    err) ||
	    invoke_expiry(srv, req->queue_offline, req->expires_in_sec, &expiry, err)) {
		targets_free(&t);
		return -1;
	}
	inv = calloc(1, sizeof *inv);
	if (!inv) {
		targets_free(&t);
		set_err(err, INVOKE_NOMEM, NULL, 0);
		return -1;
	}
	util_uuid7(inv->id);
	inv->created_at = util_now_ns();
	inv->ntargets = t.n;
	inv->record = record_new(req, inv->id, inv->created_at, &t, timeout, delivery, maxc, maxe,
				 expiry);
	targets_free(&t);
	inv->audit_request = req->audit_request ? json_deep_copy(req->audit_request) : NULL;
	inv->created_by = dup_or_null(req->created_by);
	inv->dialect = req->dialect;
	inv->peer = dup_or_null(req->peer ? req->peer : "");
	inv->application = dup_or_null(req->audit_application ? req->audit_application :
				       req->is_script ? "client.script" : "client.command");
	inv->idem_key = dup_or_null(req->idempotency_key);
	inv->idem_hash = dup_or_null(req->request_hash);
	if (!inv->record || !inv->created_by || !inv->peer || !inv->application ||
	    (req->idempotency_key && (!inv->idem_key || !inv->idem_hash))) {
		invocation_free(inv);
		set_err(err, INVOKE_NOMEM, NULL, 0);
		return -1;
	}
	*out = inv;
	return 0;
}

const char *invocation_id(const struct invocation *inv) { return inv->id; }
size_t invocation_target_count(const struct invocation *inv) { return inv->ntargets; }

const json_t *invocation_targets(const struct invocation *inv)
{
	return json_object_get(inv->record, "targets");
}

void invocation_free(struct invocation *inv)
{
	if (!inv)
		return;
	json_decref(inv->record);
	json_decref(inv->audit_request);
	free(inv->created_by);
	free(inv->peer);
	free(inv->application);
	free(inv->idem_key);
	free(inv->idem_hash);
	free(inv);
}

/* The audit record, the invocation's record and its idempotency key commit
 * together, or none does: no record, no run. */
static int submit_rows(struct store *st, void *arg)
{
	struct invocation *inv = arg;
	struct audit_entry e = { 0 };
	json_t *resp = json_pack("{s:s}", "jid", inv->id);
	int rc;

	e.username = inv->created_by;
	e.remote_ip = inv->peer;
	e.application = inv->application;
	e.action = "execute.start";
	e.affected_id = inv->id;
	e.request = inv->audit_request;
	e.response = resp;
	e.success = true;
	rc = audit_insert(st, &e);
	json_decref(resp);
	if (rc) {
		inv->audit_failed = true;
		return rc;
	}
	return store_multi_create(st, inv->id, inv->created_at, inv->created_by, inv->record,
				  inv->idem_key, inv->idem_hash);
}

static int submit_apply(struct store *st, void *arg)
{
	return store_atomic(st, submit_rows, arg);
}

static void submit_after(void *arg, int rc)
{
	struct invocation *inv = arg;
	struct invoke_error err = { 0 };

	if (rc == 0) {
		/* Durable: dispatching starts now (fan-out keeps its own
		 * reference to the record). */
		metrics_invocation(inv->srv->metrics, inv->dialect, inv->id);
		if (fanout_begin(inv->srv->fanout, inv->record)) {
			log_error("invocation %s: stored but not started (out of memory); it resumes at the next start",
				  inv->id);
		}
		if (inv->cb)
			inv->cb(inv->ud, 0, inv->id, NULL);
	} else {
		set_err(&err, inv->audit_failed ? INVOKE_AUDIT_FAILED :
			      rc == TE_EXISTS ? INVOKE_KEY_IN_USE : INVOKE_STORE_FAILED, NULL, 0);
		if (inv->cb)
			inv->cb(inv->ud, -1, inv->id, &err);
	}
	invocation_free(inv);
}

void invoke_submit(struct server *srv, struct invocation *inv, invoke_cb cb, void *ud)
{
	inv->srv = srv;
	inv->cb = cb;
	inv->ud = ud;
	store_queue(srv->store, submit_apply, submit_after, inv);
}

/* ---- single-client invocations -------------------------------------- */

struct single {
	struct server *srv;
	struct client *c;
	struct job_spec j;
	char jid[UUID_STR_LEN];
	char *strings[6];            /* owned copies behind j's pointers */
	json_t *argv;
	char *peer;
	char *idem_key;
	char idem_hash[STORE_IDEM_HASH_LEN];
	enum invoke_outcome outcome; /* an error outcome waiting for the key's release */
	char error[600];
	const char *dialect;         /* a literal, for metrics */
	invoke_single_cb cb;
	void *ud;
};

static void single_free(struct single *s)
{
	for (size_t i = 0; i < sizeof s->strings / sizeof s->strings[0]; i++)
		free(s->strings[i]);
	json_decref(s->argv);
	free(s->peer);
	free(s->idem_key);
	free(s);
}

static void single_done(struct single *s, enum invoke_outcome o, const char *error)
{
	if (s->cb)
		s->cb(s->ud, o, s->jid, error);
	single_free(s);
}

static int release_apply(struct store *st, void *arg)
{
	struct single *s = arg;

	return s->idem_key ? store_idem_delete(st, s->j.created_by, s->idem_key) : 0;
}

static void release_after(void *arg, int rc)
{
	struct single *s = arg;

	(void)rc;
	single_done(s, s->outcome, s->error);
}

/* An error answer means no job for the caller: its idempotency key is
 * released, so a retry with the key runs anew. */
static void done_released(struct single *s, enum invoke_outcome o, const char *error)
{
	s->outcome = o;
	util_strlcpy(s->error, error ? error : "", sizeof s->error);
	if (!s->idem_key) {
		release_after(s, 0);
		return;
	}
	store_queue(s->srv->store, release_apply, release_after, s);
}

static void single_started(void *ud, int status, const char *error, int64_t pid)
{
	struct single *s = ud;

	(void)pid;
	if (status == TE_STATE) {
		/* Refused by the agent: final, it never runs. */
		done_released(s, INVOKE_REFUSED, error ? error : "refused");
		return;
	}
	if (status != 0)
		/* The run left the server and no answer came (the connection
		 * dropped, or no start in time): the job is accepted all the
		 * same. It is sent again when the client is back, or ends
		 * "not delivered" after its delivery deadline; it never runs
		 * twice. */
		log_info("invoke: job %s on '%s' accepted without a start (%s)", s->jid,
			 s->j.client_id, error ? error : "no answer");
	single_done(s, status ? INVOKE_ACCEPTED : INVOKE_STARTED, NULL);
}

/* A single job's audit request and response as text: the bytes json_dumps
 * gives of the trees single_rows builds otherwise, without building them
 * (a submission's largest cost after SQLite's). TE_INVAL when a string is
 * not UTF-8 (then the trees are used). */
static int single_audit_text(const struct single *s, struct buf *req, struct buf *resp)
{
	const struct job_spec *j = &s->j;
	const char *interp = j->interpreter ? j->interpreter : "", *cwd = j->cwd ? j->cwd : "";
	int rc;

	if (!j->command)
		return TE_INVAL;
	if ((rc = buf_append(req, "{\"command\":", 11)) ||
	    (rc = proto_put_str(req, j->command, strlen(j->command))) ||
	    (rc = buf_append(req, ",\"interpreter\":", 15)) ||
	    (rc = proto_put_str(req, interp, strlen(interp))) ||
	    (rc = buf_append(req, ",\"cwd\":", 7)) ||
	    (rc = proto_put_str(req, cwd, strlen(cwd))) ||
	    (rc = buf_append(req, j->is_sudo ? ",\"is_sudo\":true" : ",\"is_sudo\":false",
			     j->is_sudo ? 15 : 16)) ||
	    (rc = buf_append(req, ",\"timeout_sec\":", 15)) ||
	    (rc = buf_append_int(req, j->timeout_sec)))
		return rc;
	if (j->argv) {
		char *a = json_dumps(j->argv, JSON_COMPACT);

		rc = a ? buf_append(req, ",\"argv\":", 8) : TE_NOMEM;
		if (!rc)
			rc = buf_append(req, a, strlen(a));
		free(a);
		if (rc)
			return rc;
	}
	if ((rc = buf_append(req, "}", 1)))
		return rc;
	return buf_appendf(resp, "{\"jid\":\"%s\"}", j->jid);
}

/* The audit record, the job and its idempotency key commit together, or
 * none does. */
static int single_rows(struct store *st, void *arg)
{
	struct single *s = arg;
	struct audit_entry e = { 0 };
	json_t *req = NULL, *resp = NULL;
	struct buf rt, pt;
	int rc;

	if (s->idem_key) {
		/* A twin request in flight took the key first. */
		rc = store_idem_put(st, s->j.created_by, s->idem_key, s->jid, s->idem_hash,
				    s->j.created_at);
		if (rc)
			return rc;
	}
	buf_init(&rt, (size_t)1 << 30);
	buf_init(&pt, 1024);
	if (single_audit_text(s, &rt, &pt) == 0) {
		e.request_text = rt.data;
		e.response_text = pt.data;
	} else {
		req = json_pack("{s:s, s:s, s:s, s:b, s:I}", "command", s->j.command,
				"interpreter", s->j.interpreter ? s->j.interpreter : "", "cwd",
				s->j.cwd ? s->j.cwd : "", "is_sudo", s->j.is_sudo, "timeout_sec",
				(json_int_t)s->j.timeout_sec);
		if (req && s->j.argv)
			json_object_set(req, "argv", s->j.argv);
		resp = json_pack("{s:s}", "jid", s->j.jid);
	}
	e.username = s->j.created_by;
	e.remote_ip = s->peer;
	e.application = s->j.is_script ? "client.script" : "client.command";
	e.action = "execute.start";
	e.affected_id = s->j.jid;
	e.client_id = s->j.client_id;
	e.request = req;
	e.response = resp;
	e.success = true;
	rc = audit_insert(st, &e);
	json_decref(req);
	json_decref(resp);
	buf_free(&rt);
	buf_free(&pt);
	if (rc)
		return rc;
	return store_job_insert(st, &s->j);
}

static int single_apply(struct store *st, void *arg)
{
	return store_atomic(st, single_rows, arg);
}

/* The run never left the server: the job is withdrawn for good. */
static int withdraw_apply(struct store *st, void *arg)
{
	struct single *s = arg;
	int rc = outcome_not_connected(st, s->jid, "withdrawn");

	if (!rc && s->idem_key)
		rc = store_idem_delete(st, s->j.created_by, s->idem_key);
	return rc;
}

static void withdraw_after(void *arg, int rc)
{
	(void)rc;
	single_done(arg, INVOKE_NOT_CONNECTED, "client is not connected");
}

/* A job that may wait: its client went away before the run was sent, so
 * it goes back to the queue rather than failing. */
static int requeue_apply(struct store *st, void *arg)
{
	struct single *s = arg;

	return store_job_requeue(st, s->jid);
}

static void queued_after(void *arg, int rc)
{
	struct single *s = arg;

	if (rc) {
		single_done(s, INVOKE_NOT_STORED, NULL);
		return;
	}
	offline_add(s->srv->offline, s->jid, s->j.client_id, NULL, s->j.created_at,
		    s->j.expires_at);
	single_done(s, INVOKE_QUEUED, NULL);
}

/* The job is durable: now send it. */
static void single_after(void *arg, int rc)
{
	struct single *s = arg;

	if (rc) {
		single_done(s, rc == TE_EXISTS && s->idem_key ? INVOKE_KEY_TAKEN : INVOKE_NOT_STORED,
			    NULL);
		return;
	}
	metrics_single(s->srv->metrics, s->dialect, s->jid);
	if (s->j.queued) {
		queued_after(s, 0);
		return;
	}
	if (!registry_client_connected(s->c) ||
	    registry_run(s->srv->registry, s->c, &s->j, single_started, s)) {
		if (s->j.expires_at)
			store_queue(s->srv->store, requeue_apply, queued_after, s);
		else
			store_queue(s->srv->store, withdraw_apply, withdraw_after, s);
	}
}

static const char *keep(struct single *s, int slot, const char *v)
{
	if (!v)
		return NULL;
	s->strings[slot] = strdup(v);
	return s->strings[slot];
}

int invoke_single(struct server *srv, struct client *c, const struct invocation_request *req,
		  invoke_single_cb cb, void *ud, struct invoke_error *err)
{
	int64_t timeout, delivery, expiry;
	struct single *s;

	memset(err, 0, sizeof *err);
	/* An offline client's interpreters are checked by its agent. */
	if ((registry_client_connected(c) && invoke_check_interpreter(c, req->interpreter, err)) ||
	    invoke_timeouts(srv, req->timeout_sec, req->delivery_timeout_sec, &timeout, &delivery,
			    err) ||
	    invoke_expiry(srv, req->queue_offline, req->expires_in_sec, &expiry, err))
		return -1;
	s = calloc(1, sizeof *s);
	if (!s) {
		set_err(err, INVOKE_NOMEM, NULL, 0);
		return -1;
	}
	s->srv = srv;
	s->dialect = req->dialect;
	s->c = c;
	s->cb = cb;
	s->ud = ud;
	util_uuid7(s->j.jid);
	util_strlcpy(s->jid, s->j.jid, sizeof s->jid);
	s->j.client_id = registry_client_id(c);
	s->j.client_name = registry_client_name(c);
	s->j.command = keep(s, 0, req->command);
	s->j.interpreter = keep(s, 1, req->interpreter);
	s->j.cwd = keep(s, 2, req->cwd);
	s->j.created_by = keep(s, 3, req->created_by);
	s->argv = req->argv && !req->is_script ? json_deep_copy(req->argv) : NULL;
	s->j.argv = s->argv;
	s->j.is_sudo = req->is_sudo;
	s->j.run_as = req->run_as;
	s->j.is_script = req->is_script;
	s->j.kill_on_timeout = req->kill_on_timeout;
	s->j.stream = req->stream;
	s->j.output_cap_bytes = req->output_cap_bytes;
	s->j.timeout_sec = timeout;
	s->j.delivery_timeout_sec = delivery;
	s->j.created_at = util_now_ns();
	if (expiry) {
		s->j.expires_at = s->j.created_at + expiry * 1000000000LL;
		s->j.queued = !registry_client_connected(c);
	}
	s->peer = strdup(req->peer ? req->peer : "");
	if (req->idempotency_key) {
		s->idem_key = strdup(req->idempotency_key);
		util_strlcpy(s->idem_hash, req->request_hash ? req->request_hash : "",
			     sizeof s->idem_hash);
	}
	if (!s->j.command || !s->j.created_by || !s->peer ||
	    (req->interpreter && !s->j.interpreter) || (req->cwd && !s->j.cwd) ||
	    (req->idempotency_key && !s->idem_key)) {
		single_free(s);
		set_err(err, INVOKE_NOMEM, NULL, 0);
		return -1;
	}
	/* Durable before it is sent (group commit, then single_after). */
	store_queue(srv->store, single_apply, single_after, s);
	return 0;
}
