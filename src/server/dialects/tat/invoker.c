/* invoker: TAT's scheduled invokers (CreateInvoker, DescribeInvokers,
 * EnableInvoker, DisableInvoker, ModifyInvoker, DeleteInvoker,
 * DescribeInvokerRecords) over the core's schedules (core/schedule.h).
 *
 * An invoker is a schedule whose source is "tat": its TAT fields are in
 * metadata.tat (InvokerId ivk-xxxxxxxx, CommandId, Username, Parameters,
 * the ScheduleSettings as given, Tags). RECURRENCE is its cron expression
 * read in Beijing time (UTC+8, as TAT reads it), ONCE its once_at. At each
 * run the source reads the saved command as it is then (a ModifyCommand is
 * seen by the next run), replaces its parameters, and gives the core the
 * text and the invocation's TAT metadata (InvocationSource INVOKER); once
 * submitted, the invocation and its tasks get their inv- and invt- ids in
 * tat_ids, so the Describe actions show them. The run is the creator's, with
 * that user's rights at run time (the core checks them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "core/cron.h"
#include "core/library.h"
#include "core/schedule.h"
#include "dialects/tat/tat_priv.h"
#include "log.h"
#include "server.h"
#include "store/store_tat.h"

#define SOURCE "tat"
#define IVK_MAX_IDS 100
#define BEIJING_OFFSET_SEC (8 * 3600)
#define NS 1000000000LL

/* ivk- and 8 of [a-z0-9]. */
static bool ivk_id_ok(const char *s)
{
	if (!s || strncmp(s, "ivk-", 4) || strlen(s) != 12)
		return false;
	for (s += 4; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

static bool is_invoker(const json_t *rec)
{
	const char *src = json_string_value(json_object_get(rec, "source"));

	return src && !strcmp(src, SOURCE) && tat_meta_str(rec, "InvokerId");
}

/* The invokers the call's user sees (admin: all), oldest first: a new
 * array of copies. */
static json_t *invokers_visible(struct tat_call *c)
{
	json_t *all = schedule_list(c->srv->schedules), *out = json_array(), *rec;
	size_t i;

	json_array_foreach(all, i, rec) {
		const char *by = json_string_value(json_object_get(rec, "created_by"));

		if (!is_invoker(rec))
			continue;
		if (!c->admin && (!by || strcmp(by, c->user)))
			continue;
		json_array_append(out, rec);
	}
	json_decref(all);
	return out;
}

/* The visible invoker of InvokerId (a copy), or NULL having answered. */
static json_t *invoker_pick(struct tat_call *c)
{
	const char *id = tat_param_str(c, "InvokerId");
	json_t *all, *rec, *found = NULL;
	size_t i;

	if (!id) {
		tat_fail(c, "MissingParameter", "The parameter `InvokerId` is missing.");
		return NULL;
	}
	if (!ivk_id_ok(id)) {
		tat_fail(c, "InvalidParameterValue.InvalidInvokerId",
			 "The InvokerId `%.64s` is not of the form ivk-xxxxxxxx.", id);
		return NULL;
	}
	all = invokers_visible(c);
	json_array_foreach(all, i, rec)
		if (!strcmp(tat_meta_str(rec, "InvokerId"), id))
			found = json_incref(rec);
	json_decref(all);
	if (!found)
		tat_fail(c, "ResourceNotFound", "The invoker `%s` is not found.", id);
	return found;
}

bool tat_command_in_invoker(struct server *srv, const char *cmd_id)
{
	json_t *all = schedule_list(srv->schedules), *rec;
	bool in = false;
	size_t i;

	json_array_foreach(all, i, rec)
		if (is_invoker(rec) && tat_meta_str(rec, "CommandId") && !strcmp(tat_meta_str(rec, "CommandId"), cmd_id))
			in = true;
	json_decref(all);
	return in;
}

/* ---- ScheduleSettings ----------------------------------------------- */

/* ScheduleSettings (given) into rec: cron or once_at, and the settings in
 * metadata.tat. 0, or -1 having answered. */
static int settings_apply(struct tat_call *c, const json_t *ss, json_t *rec)
{
	const char *policy = json_string_value(json_object_get(ss, "Policy"));
	const json_t *rv = json_object_get(ss, "Recurrence"), *tv = json_object_get(ss, "InvokeTime");
	json_t *m = tat_meta(rec);
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)ss, k, v) {
		if (strcmp(k, "Policy") && strcmp(k, "Recurrence") && strcmp(k, "InvokeTime")) {
			tat_fail(c, "UnknownParameter",
				 "The parameter `ScheduleSettings.%.64s` is not recognized.", k);
			return -1;
		}
		if (!json_is_string(v)) {
			tat_fail(c, "InvalidParameter",
				 "The parameter `ScheduleSettings.%s` must be of type String.", k);
			return -1;
		}
	}
	if (!policy) {
		tat_fail(c, "MissingParameter", "The parameter `ScheduleSettings.Policy` is missing.");
		return -1;
	}
	if (!strcmp(policy, "ONCE")) {
		int64_t ns;
		char ts[TIME_STR_LEN];

		if (!tv) {
			tat_fail(c, "MissingParameter",
				 "ScheduleSettings.InvokeTime is needed when Policy is ONCE.");
			return -1;
		}
		if (util_time_parse(json_string_value(tv), &ns)) {
			tat_fail(c, "InvalidParameterValue.InvalidTimeFormat",
				 "ScheduleSettings.InvokeTime `%.64s` is not of the form "
				 "YYYY-MM-DDThh:mm:ssZ.", json_string_value(tv));
			return -1;
		}
		if (ns <= schedule_now_ns(c->srv->schedules)) {
			tat_fail(c, "InvalidParameterValue.InvokeTimeExpired",
				 "ScheduleSettings.InvokeTime `%.64s` has passed.",
				 json_string_value(tv));
			return -1;
		}
		util_time_format(ns, ts);
		json_object_set_new(rec, "once_at", json_string(ts));
		json_object_set_new(rec, "cron", json_string(""));
		json_object_del(rec, "cron_offset_sec");
		json_object_set_new(m, "Policy", json_string("ONCE"));
		json_object_set_new(m, "InvokeTime", json_integer(ns));
		json_object_del(m, "Recurrence");
		return 0;
	}
	if (!strcmp(policy, "RECURRENCE")) {
		struct cron_expr cr;
		char err[200];

		if (!rv) {
			tat_fail(c, "MissingParameter",
				 "ScheduleSettings.Recurrence is needed when Policy is RECURRENCE.");
			return -1;
		}
		if (cron_parse(json_string_value(rv), &cr, err, sizeof err)) {
			tat_fail(c, "InvalidParameterValue.InvalidCronExpression",
				 "ScheduleSettings.Recurrence `%.100s` is not a crontab expression: %s.",
				 json_string_value(rv), err);
			return -1;
		}
		json_object_del(rec, "once_at");
		json_object_set(rec, "cron", (json_t *)rv);
		json_object_set_new(rec, "cron_offset_sec", json_integer(BEIJING_OFFSET_SEC));
		json_object_set_new(m, "Policy", json_string("RECURRENCE"));
		json_object_set(m, "Recurrence", (json_t *)rv);
		json_object_del(m, "InvokeTime");
		return 0;
	}
	tat_fail(c, "InvalidParameterValue",
		 "ScheduleSettings.Policy must be ONCE or RECURRENCE, not `%.32s`.", policy);
	return -1;
}

/* ---- the job of a run ------------------------------------------------- */

/* The job of the command rec (a library record) for invoker inv, as user:
 * fills job (strings owned by out's fields) or sets err. */
struct job_parts {
	char *text;
	char *b64;
	json_t *meta;
	char inv[16];
};

static void parts_free(struct job_parts *p)
{
	free(p->text);
	free(p->b64);
	json_decref(p->meta);
	memset(p, 0, sizeof *p);
}

static const char *run_as_of(const json_t *ivk, const json_t *cmd)
{
	const char *u = tat_meta_str(ivk, "Username");

	if (!u || !*u)
		u = json_string_value(json_object_get(tat_meta(cmd), "Username"));
	return u && *u && strcmp(u, "root") ? u : NULL;
}

/* Renders the command cmd (library record) with the invoker's Parameters
 * (params: the invoker's, or those of the call being checked). 0, or -1
 * with err. */
static int job_make(const json_t *ivk, const json_t *cmd, const char *params,
		    struct job_parts *p, struct schedule_job *job, struct tat_error *err)
{
	const json_t *cm = tat_meta(cmd);
	const char *text = json_string_value(json_object_get(cmd, "text"));
	const char *name = json_string_value(json_object_get(cmd, "name"));
	bool enable = json_is_true(json_object_get(cm, "EnableParameter"));
	const char *defaults = enable ? json_string_value(json_object_get(cm, "DefaultParameters")) :
					NULL;
	char *copy = text ? strdup(text) : NULL;
	struct tat_run_meta m;

	memset(p, 0, sizeof *p);
	if (!copy) {
		tat_error_set(err, "InternalError", "out of memory");
		return -1;
	}
	p->text = tat_render_text(copy, strlen(copy), enable, defaults, params, err);
	if (!p->text)
		return -1;
	p->b64 = tat_b64(text, strlen(text));
	tat_new_id("inv", p->inv);
	memset(&m, 0, sizeof m);
	m.inv = p->inv;
	m.cmd = tat_meta_str(ivk, "CommandId");
	m.content_b64 = p->b64 ? p->b64 : "";
	m.cwd = json_string_value(json_object_get(cmd, "cwd"));
	m.username = run_as_of(ivk, cmd);
	m.timeout = json_integer_value(json_object_get(cmd, "timeout_sec"));
	m.enable = enable;
	m.name = name && tat_name_ok(name) ? name : NULL;
	m.description = json_string_value(json_object_get(cm, "Description"));
	m.parameters = params;
	m.defaults = defaults;
	m.invoker = tat_meta_str(ivk, "InvokerId");
	p->meta = tat_run_metadata(&m);
	if (!p->b64 || !p->meta) {
		parts_free(p);
		tat_error_set(err, "InternalError", "out of memory");
		return -1;
	}
	memset(job, 0, sizeof *job);
	job->text = p->text;
	job->cwd = m.cwd && *m.cwd ? m.cwd : "/root";
	job->run_as = m.username;
	job->timeout_sec = m.timeout >= 1 ? m.timeout : 60;
	job->metadata = p->meta;
	return 0;
}

/* The source's side of a run: the command read when the run starts. */
struct source_run {
	struct server *srv;
	json_t *ivk;
	schedule_job_cb done;
	void *token;
};

static void source_command_read(void *ud, int rc, json_t *cmd)
{
	struct source_run *r = ud;
	const char *user = json_string_value(json_object_get(r->ivk, "created_by"));
	const char *by = json_string_value(json_object_get(cmd, "created_by"));
	struct schedule_job job;
	struct job_parts p;
	struct tat_error err;
	char why[700];

	if (rc || !cmd) {
		snprintf(why, sizeof why, "ResourceNotFound.CommandNotFound: the command %s is gone",
			 tat_meta_str(r->ivk, "CommandId"));
		r->done(r->token, NULL, why);
	} else if (!auth_user_is_admin(r->srv->auth, user) && (!by || strcmp(by, user))) {
		snprintf(why, sizeof why, "ResourceNotFound.CommandNotFound: the command %s is not "
			 "the invoker's creator's", tat_meta_str(r->ivk, "CommandId"));
		r->done(r->token, NULL, why);
	} else if (job_make(r->ivk, cmd, tat_meta_str(r->ivk, "Parameters"), &p, &job, &err)) {
		snprintf(why, sizeof why, "%s: %s", err.code, err.message);
		r->done(r->token, NULL, why);
	} else {
		r->done(r->token, &job, NULL);
		parts_free(&p);
	}
	json_decref(cmd);
	json_decref(r->ivk);
	free(r);
}

static void source_map_read(void *ud, int rc, json_t *rows, int64_t total)
{
	struct source_run *r = ud;
	const char *core = json_string_value(json_object_get(json_array_get(rows, 0), "core_id"));

	(void)total;
	if (rc || !core) {
		json_decref(rows);
		source_command_read(r, TE_NOTFOUND, NULL);
		return;
	}
	library_get(r->srv, LIBRARY_COMMAND, core, source_command_read, r);
	json_decref(rows);
}

static void source_job(void *ud, const json_t *rec, schedule_job_cb done, void *token)
{
	struct source_run *r = calloc(1, sizeof *r);
	struct tat_id_query q;

	if (!r || !(r->ivk = json_deep_copy(rec))) {
		free(r);
		done(token, NULL, "out of memory");
		return;
	}
	r->srv = ud;
	r->done = done;
	r->token = token;
	memset(&q, 0, sizeof q);
	q.kind = "cmd";
	q.ids[0] = tat_meta_str(rec, "CommandId") ? tat_meta_str(rec, "CommandId") : "";
	q.nids = 1;
	q.limit = 1;
	store_read_tat_ids(r->srv->store, &q, source_map_read, r);
}

/* The run's TAT ids, once its invocation is submitted. */
struct ids_write {
	char inv[16], cmd[16];
	char core[UUID_STR_LEN];
	char *user;
	json_t *clients;
	int64_t at;
};

static int ids_apply(struct store *st, void *arg)
{
	struct ids_write *w = arg;
	struct tat_id_row row = { w->inv, "inv", w->core, w->cmd, "", w->user, w->at };
	int rc = store_tat_id_put(st, &row);
	size_t i;
	json_t *v;

	row.kind = "invt";
	row.parent = w->inv;
	json_array_foreach(w->clients, i, v) {
		char task[16];

		if (rc)
			break;
		tat_new_id("invt", task);
		row.id = task;
		row.client_id = json_string_value(v);
		rc = store_tat_id_put(st, &row);
	}
	return rc;
}

static int ids_apply_all(struct store *st, void *arg)
{
	return store_atomic(st, ids_apply, arg);
}

static void ids_after(void *arg, int rc)
{
	struct ids_write *w = arg;

	if (rc)
		log_error("tat: the invoker run %s has no TAT ids (%d)", w->core, rc);
	free(w->user);
	json_decref(w->clients);
	free(w);
}

static void source_started(void *ud, const json_t *rec, const char *inv_id, const json_t *meta)
{
	struct server *srv = ud;
	const json_t *t = json_object_get(meta, "tat");
	const char *inv = json_string_value(json_object_get(t, "InvocationId"));
	const char *by = json_string_value(json_object_get(rec, "created_by"));
	struct ids_write *w = calloc(1, sizeof *w);

	if (!w || !inv || !(w->user = strdup(by ? by : ""))) {
		free(w);
		log_error("tat: the invoker run %s has no TAT ids (out of memory)", inv_id);
		return;
	}
	util_strlcpy(w->inv, inv, sizeof w->inv);
	util_strlcpy(w->cmd, json_string_value(json_object_get(t, "CommandId")) ?: "",
		     sizeof w->cmd);
	util_strlcpy(w->core, inv_id, sizeof w->core);
	w->clients = json_deep_copy(json_object_get(rec, "client_ids"));
	w->at = util_now_ns();
	store_queue(srv->store, ids_apply_all, ids_after, w);
}

int tat_invokers_start(struct server *srv)
{
	struct schedule_source src = {
		.name = SOURCE, .job = source_job, .started = source_started, .ud = srv,
	};

	return srv->schedules ? schedules_add_source(srv->schedules, &src) : 0;
}

/* ---- checking and saving ---------------------------------------------- */

static void invoke_error_fail(struct tat_call *c, const struct invoke_error *ie)
{
	if (ie->code == INVOKE_TARGETS || ie->code == INVOKE_FORBIDDEN)
		tat_fail(c, "ResourceNotFound.InstanceNotFound", "The instance `%s` is not found.",
			 ie->subject);
	else
		tat_fail(c, "InvalidParameterValue", "The invoker cannot run (%d: %s).",
			 (int)ie->code, ie->subject);
}

static void saved(void *ud, int rc, json_t *rec)
{
	struct tat_call *c = ud;

	if (rc == TE_NOTFOUND)
		tat_fail(c, "ResourceNotFound", "The invoker is gone.");
	else if (rc)
		tat_fail(c, "InternalError", "The invoker cannot be stored (%d).", rc);
	else if (!strcmp(c->action, "CreateInvoker"))
		tat_reply(c, json_pack("{s:s}", "InvokerId", tat_meta_str(rec, "InvokerId")));
	else
		tat_reply(c, NULL);
	json_decref(rec);
}

/* The invoker being made or changed, between the call's steps. */
struct change {
	json_t *rec;            /* the record to save */
	char core_id[UUID_STR_LEN]; /* "": a new one */
};

/* The command is read: check the invoker's run now and save it. */
static void command_got(struct tat_call *c, const json_t *cmd, void *ud)
{
	struct change *ch = ud;
	struct schedule_job job;
	struct job_parts p;
	struct tat_error err;
	struct invoke_error ie;
	char cron_err[200] = "";
	const char *user;
	int rc;

	if (!cmd) {   /* answered: c is gone */
		json_decref(ch->rec);
		free(ch);
		return;
	}
	user = c->user;
	if (json_object_get(ch->rec, "created_by"))
		user = json_string_value(json_object_get(ch->rec, "created_by"));
	if (job_make(ch->rec, cmd, tat_meta_str(ch->rec, "Parameters"), &p, &job, &err)) {
		tat_fail(c, err.code, "%s", err.message);
		goto out;
	}
	rc = schedule_check_job(c->srv, ch->rec, &job, user, cron_err, sizeof cron_err, &ie);
	if (rc) {
		parts_free(&p);
		if (rc == -1)
			tat_fail(c, "InvalidParameterValue.InvalidCronExpression", "%s", cron_err);
		else
			invoke_error_fail(c, &ie);
		goto out;
	}
	parts_free(&p);
	schedule_save(c->srv->schedules, ch->core_id[0] ? ch->core_id : NULL, ch->rec, c->user,
		      saved, c);
out:
	json_decref(ch->rec);
	free(ch);
}

/* The fields of CreateInvoker and ModifyInvoker that need no lookup, into
 * rec. 0, or -1 having answered. */
static int fields_apply(struct tat_call *c, json_t *rec)
{
	const char *name = tat_param_str(c, "Name"), *type = tat_param_str(c, "Type");
	const json_t *ss = json_object_get(c->params, "ScheduleSettings");
	json_t *m = tat_meta(rec), *v;
	char ts[32];

	if (name && (!*name || utf8_chars(name) > 120)) {
		tat_fail(c, "InvalidParameterValue.TooLong", "Name is 1 to 120 characters.");
		return -1;
	}
	if (type && strcmp(type, "SCHEDULE")) {
		tat_fail(c, "InvalidParameterValue", "Type must be SCHEDULE, not `%.32s`.", type);
		return -1;
	}
	/* Username (its form) and Tags as a saved command's. */
	if (tat_fields_check(c, true))
		return -1;
	if (name)
		json_object_set_new(rec, "name", json_string(name));
	if (ss && settings_apply(c, ss, rec))
		return -1;
	if ((v = json_object_get(c->params, "Username")))
		json_object_set(m, "Username", v);
	if ((v = json_object_get(c->params, "Parameters")))
		json_object_set(m, "Parameters", v);
	if ((v = json_object_get(c->params, "Tags")))
		json_object_set_new(m, "Tags", json_deep_copy(v));
	if ((v = json_object_get(c->params, "CommandId")))
		json_object_set(m, "CommandId", v);
	tat_time(util_now_ns(), ts);
	json_object_set_new(m, "UpdatedTime", json_string(ts));
	return 0;
}

/* InstanceIds checked (online, visible, Username allowed) into rec. 0, or
 * -1 having answered. */
static int instances_apply(struct tat_call *c, json_t *rec)
{
	char **ids = NULL;
	size_t n = 0;
	int rc = tat_instances_check(c, &ids, &n);
	json_t *arr = json_array();

	for (size_t i = 0; i < n; i++) {
		if (!rc)
			json_array_append_new(arr, json_string(ids[i]));
		free(ids[i]);
	}
	free(ids);
	if (!rc)
		json_object_set_new(rec, "client_ids", arr);
	else
		json_decref(arr);
	return rc;
}

static void change_go(struct tat_call *c, json_t *rec, const char *core_id)
{
	struct change *ch = calloc(1, sizeof *ch);

	if (!ch) {
		json_decref(rec);
		tat_fail(c, "InternalError", "out of memory");
		return;
	}
	ch->rec = rec;
	util_strlcpy(ch->core_id, core_id ? core_id : "", sizeof ch->core_id);
	tat_command_get(c, tat_meta_str(rec, "CommandId"), command_got, ch);
}

/* ---- CreateInvoker ------------------------------------------------------ */

static bool may_run_commands(struct tat_call *c)
{
	if (c->admin || auth_user_may(c->srv->auth, c->user, "commands"))
		return true;
	tat_fail(c, "UnauthorizedOperation.CamAuthFailed", "The user `%s` may not run commands.",
		 c->user);
	return false;
}

void tat_create_invoker(struct tat_call *c)
{
	static const char *const required[] = { "Name", "Type", "CommandId", "InstanceIds",
						"ScheduleSettings" };
	json_t *rec, *all, *x;
	char ivk[16];
	size_t i;
	bool taken;

	if (!may_run_commands(c))
		return;
	for (i = 0; i < sizeof required / sizeof required[0]; i++)
		if (!json_object_get(c->params, required[i])) {
			tat_fail(c, "MissingParameter", "The parameter `%s` is missing.", required[i]);
			return;
		}
	/* A fresh id (8 random characters: a clash is unlikely, not impossible). */
	all = schedule_list(c->srv->schedules);
	do {
		tat_new_id("ivk", ivk);
		taken = false;
		json_array_foreach(all, i, x)
			taken |= tat_meta_str(x, "InvokerId") && !strcmp(tat_meta_str(x, "InvokerId"), ivk);
	} while (taken);
	json_decref(all);
	rec = json_pack("{s:s, s:s, s:s, s:s, s:[], s:[], s:n, s:s, s:s, s:b, s:i, s:b, s:b, s:b,"
			" s:b, s:b, s:s, s:{s:{s:s, s:s, s:s}}}",
			"name", "", "cron", "", "kind", "command", "text", "", "client_ids",
			"group_ids", "tags", "interpreter", "", "cwd", "", "is_sudo", 0,
			"timeout_sec", 0, "concurrent", 1, "abort_on_error", 0, "overlaps", 0,
			"kill_on_timeout", 1, "enabled", 1, "source", SOURCE, "metadata", "tat",
			"InvokerId", ivk, "Type", "SCHEDULE", "CreatedTime", "");
	if (!rec) {
		tat_fail(c, "InternalError", "out of memory");
		return;
	}
	{
		char ts[32];

		tat_time(util_now_ns(), ts);
		json_object_set_new(tat_meta(rec), "CreatedTime", json_string(ts));
	}
	if (fields_apply(c, rec) || instances_apply(c, rec)) {
		json_decref(rec);
		return;
	}
	change_go(c, rec, NULL);
}

/* ---- ModifyInvoker ------------------------------------------------------ */

void tat_modify_invoker(struct tat_call *c)
{
	json_t *rec;
	char core[UUID_STR_LEN];

	if (!may_run_commands(c) || !(rec = invoker_pick(c)))
		return;
	util_strlcpy(core, json_string_value(json_object_get(rec, "id")), sizeof core);
	if (fields_apply(c, rec) ||
	    (json_object_get(c->params, "InstanceIds") && instances_apply(c, rec))) {
		json_decref(rec);
		return;
	}
	change_go(c, rec, core);
}

/* ---- EnableInvoker, DisableInvoker, DeleteInvoker ------------------------ */

static void set_enabled(struct tat_call *c, bool on)
{
	json_t *rec = invoker_pick(c);
	char ts[32];

	if (!rec)
		return;
	json_object_set_new(rec, "enabled", json_boolean(on));
	tat_time(util_now_ns(), ts);
	json_object_set_new(tat_meta(rec), "UpdatedTime", json_string(ts));
	schedule_save(c->srv->schedules, json_string_value(json_object_get(rec, "id")), rec,
		      c->user, saved, c);
	json_decref(rec);
}

void tat_enable_invoker(struct tat_call *c)
{
	set_enabled(c, true);
}

void tat_disable_invoker(struct tat_call *c)
{
	set_enabled(c, false);
}

static void deleted(void *ud, int rc, json_t *rec)
{
	struct tat_call *c = ud;

	json_decref(rec);
	if (rc)
		tat_fail(c, rc == TE_NOTFOUND ? "ResourceNotFound" : "InternalError",
			 "The invoker cannot be deleted (%d).", rc);
	else
		tat_reply(c, NULL);
}

void tat_delete_invoker(struct tat_call *c)
{
	json_t *rec = invoker_pick(c);

	if (!rec)
		return;
	schedule_delete(c->srv->schedules, json_string_value(json_object_get(rec, "id")), deleted,
			c);
	json_decref(rec);
}

/* ---- DescribeInvokers ---------------------------------------------------- */

static bool value_in(const json_t *values, const char *v)
{
	size_t i;
	json_t *x;

	json_array_foreach(values, i, x)
		if (v && !strcmp(json_string_value(x), v))
			return true;
	return false;
}

static json_t *invoker_render(struct tat_call *c, const json_t *rec)
{
	const json_t *m = tat_meta(rec), *tags = json_object_get(m, "Tags");
	const char *policy = json_string_value(json_object_get(m, "Policy"));
	json_t *ss = json_pack("{s:s}", "Policy", policy ? policy : "RECURRENCE");
	int64_t created = 0, next = -1;
	char ts[32];

	if (policy && !strcmp(policy, "ONCE")) {
		tat_time(json_integer_value(json_object_get(m, "InvokeTime")), ts);
		json_object_set_new(ss, "InvokeTime", json_string(ts));
	} else {
		struct cron_expr cr;
		char err[200];
		int64_t now = schedule_now_ns(c->srv->schedules) / NS;

		json_object_set(ss, "Recurrence", json_object_get(m, "Recurrence"));
		/* InvokeTime of a recurring invoker: its next run. */
		if (!cron_parse(json_string_value(json_object_get(rec, "cron")), &cr, err, sizeof err))
			next = schedule_next_slot(rec, &cr, now);
		tat_time(next > 0 ? next * NS : 0, ts);
		json_object_set_new(ss, "InvokeTime", json_string(ts));
	}
	util_time_parse(json_string_value(json_object_get(rec, "created_at")), &created);
	tat_time(created, ts);
	return json_pack("{s:s?, s:s?, s:s, s:s?, s:s, s:s, s:O, s:b, s:o, s:s, s:s?, s:o}",
			 "InvokerId", tat_meta_str(rec, "InvokerId"), "Name",
			 json_string_value(json_object_get(rec, "name")), "Type", "SCHEDULE",
			 "CommandId", tat_meta_str(rec, "CommandId"), "Username",
			 tat_meta_str(rec, "Username") ? tat_meta_str(rec, "Username") : "", "Parameters",
			 tat_meta_str(rec, "Parameters") ? tat_meta_str(rec, "Parameters") : "", "InstanceIds",
			 json_object_get(rec, "client_ids"), "Enable",
			 !json_is_false(json_object_get(rec, "enabled")), "ScheduleSettings", ss,
			 "CreatedTime", ts, "UpdatedTime", tat_meta_str(rec, "UpdatedTime"), "Tags",
			 json_is_array(tags) ? json_deep_copy(tags) : json_array());
}

static int ids_check(struct tat_call *c, const json_t *ids)
{
	size_t i;
	json_t *v;

	if (json_array_size(ids) > IVK_MAX_IDS) {
		tat_fail(c, "InvalidParameterValue.LimitExceeded", "At most %d InvokerIds are allowed.",
			 IVK_MAX_IDS);
		return -1;
	}
	json_array_foreach(ids, i, v)
		if (!ivk_id_ok(json_string_value(v))) {
			tat_fail(c, "InvalidParameterValue.InvalidInvokerId",
				 "The InvokerId `%.64s` is not of the form ivk-xxxxxxxx.",
				 json_string_value(v));
			return -1;
		}
	return 0;
}

static bool invoker_matches(const json_t *params, const json_t *rec)
{
	const json_t *ids = json_object_get(params, "InvokerIds");
	const json_t *filters = json_object_get(params, "Filters"), *f;
	size_t i;

	if (ids && !value_in(ids, tat_meta_str(rec, "InvokerId")))
		return false;
	json_array_foreach(filters, i, f) {
		const char *name = json_string_value(json_object_get(f, "Name"));
		const char *v = !strcmp(name, "invoker-id") ? tat_meta_str(rec, "InvokerId") :
				!strcmp(name, "command-id") ? tat_meta_str(rec, "CommandId") : "SCHEDULE";

		if (!value_in(json_object_get(f, "Values"), v))
			return false;
	}
	return true;
}

void tat_describe_invokers(struct tat_call *c)
{
	static const char *const names[] = { "invoker-id", "command-id", "invoker-type", NULL };
	json_t *ids = json_object_get(c->params, "InvokerIds");
	json_t *filters = json_object_get(c->params, "Filters");
	json_t *all, *set, *rec;
	int64_t limit, offset, total = 0;
	size_t i;

	if (ids && filters) {
		tat_fail(c, "InvalidParameter", "InvokerIds and Filters cannot be given together.");
		return;
	}
	if (ids_check(c, ids) || tat_filters_check(c, filters, names) ||
	    tat_paging(c, &limit, &offset))
		return;
	all = invokers_visible(c);
	set = json_array();
	/* Newest first, as TAT lists. */
	for (i = json_array_size(all); i-- > 0;) {
		rec = json_array_get(all, i);
		if (!invoker_matches(c->params, rec))
			continue;
		if (total >= offset && total < offset + limit)
			json_array_append_new(set, invoker_render(c, rec));
		total++;
	}
	json_decref(all);
	tat_reply(c, json_pack("{s:I, s:o}", "TotalCount", (json_int_t)total, "InvokerSet", set));
}

/* ---- DescribeInvokerRecords ---------------------------------------------- */

struct records {
	struct tat_call *c;
	json_t *ivk_of;         /* schedule id -> ivk id */
	json_t *runs;           /* the page of run records */
	int64_t total;
};

static const char *record_result(const json_t *run)
{
	const char *r = json_string_value(json_object_get(run, "result"));

	if (!strcmp(r, "running"))
		return "RUNNING";
	if (!strcmp(r, "successful"))
		return "SUCCESS";
	if (!strcmp(r, "failed") && json_integer_value(json_object_get(run, "success_count")) > 0)
		return "PARTIAL_FAILED";
	return "FAILED";
}

static void records_mapped(void *ud, int rc, json_t *rows, int64_t total)
{
	struct records *k = ud;
	json_t *inv_of = json_object(), *set = json_array(), *r;
	size_t i;

	(void)total;
	json_array_foreach(rows, i, r)
		json_object_set(inv_of, json_string_value(json_object_get(r, "core_id")),
				json_object_get(r, "id"));
	json_decref(rows);
	if (rc) {
		tat_fail(k->c, "InternalError", "The invoker records cannot be read.");
		goto out;
	}
	json_array_foreach(k->runs, i, r) {
		const char *mj = json_string_value(json_object_get(r, "multi_job_id"));
		const char *inv = mj ? json_string_value(json_object_get(inv_of, mj)) : NULL;
		char ts[32];

		tat_time(json_integer_value(json_object_get(r, "at")), ts);
		json_array_append_new(
			set, json_pack("{s:s?, s:s, s:s?, s:s, s:s}", "InvokerId",
				       json_string_value(json_object_get(
					       k->ivk_of, json_string_value(json_object_get(
								  r, "schedule_id")))),
				       "InvokeTime", ts, "Reason",
				       json_string_value(json_object_get(r, "reason")),
				       "InvocationId", inv ? inv : "", "Result", record_result(r)));
	}
	tat_reply(k->c, json_pack("{s:I, s:O}", "TotalCount", (json_int_t)k->total,
				  "InvokerRecordSet", set));
out:
	json_decref(set);
	json_decref(inv_of);
	json_decref(k->ivk_of);
	json_decref(k->runs);
	free(k);
}

static void records_read(void *ud, int rc, json_t *runs, int64_t total)
{
	struct records *k = ud;
	struct tat_id_query q;
	size_t i;
	json_t *r;

	if (rc) {
		tat_fail(k->c, "InternalError", "The invoker records cannot be read.");
		json_decref(k->ivk_of);
		free(k);
		return;
	}
	k->runs = runs;
	k->total = total;
	memset(&q, 0, sizeof q);
	q.kind = "inv";
	json_array_foreach(runs, i, r) {
		const char *mj = json_string_value(json_object_get(r, "multi_job_id"));

		if (mj && q.ncore_ids < STORE_TAT_MAX_IN)
			q.core_ids[q.ncore_ids++] = mj;
	}
	if (!q.ncore_ids) {
		records_mapped(k, 0, json_array(), 0);
		return;
	}
	q.limit = STORE_TAT_MAX_IN;
	store_read_tat_ids(k->c->srv->store, &q, records_mapped, k);
}

void tat_describe_invoker_records(struct tat_call *c)
{
	json_t *ids = json_object_get(c->params, "InvokerIds"), *all, *rec;
	const char *sched[STORE_SCHEDULE_RUNS_MAX_IN];
	struct records *k;
	int64_t limit, offset;
	size_t i, n = 0;

	if (ids_check(c, ids) || tat_paging(c, &limit, &offset))
		return;
	k = calloc(1, sizeof *k);
	if (!k || !(k->ivk_of = json_object())) {
		free(k);
		tat_fail(c, "InternalError", "out of memory");
		return;
	}
	k->c = c;
	all = invokers_visible(c);
	json_array_foreach(all, i, rec) {
		if (ids && !value_in(ids, tat_meta_str(rec, "InvokerId")))
			continue;
		json_object_set_new(k->ivk_of, json_string_value(json_object_get(rec, "id")),
				    json_string(tat_meta_str(rec, "InvokerId")));
	}
	json_decref(all);
	{
		const char *key;
		json_t *v;

		json_object_foreach(k->ivk_of, key, v)
			if (n < STORE_SCHEDULE_RUNS_MAX_IN)
				sched[n++] = key;
	}
	schedule_runs_read(c->srv->schedules, sched, n, limit, offset, records_read, k);
}
