/* api_schedules: rport's schedules (/schedules[/{id}]) over
 * core/schedule.h. rport's Schedule fields, plus tether's library_id (run
 * a library entry of the type instead of command or script) and
 * last_execution.multi_job_id. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "core/library.h"
#include "core/schedule.h"
#include "dialects/rport/api_saved.h"
#include "net.h"
#include "util.h"

static const struct http_field schedule_fields[] = {
	{ "name", HF_STRING, 0 },
	{ "schedule", HF_STRING, 0 },
	{ "type", HF_STRING, 0 },
	{ "client_ids", HF_ARRAY, 0 },
	{ "group_ids", HF_ARRAY, 0 },
	{ "tags", HF_OBJECT, 0 },
	{ "command", HF_STRING, 0 },
	{ "script", HF_STRING, 0 },
	{ "library_id", HF_STRING, 0 },
	{ "interpreter", HF_STRING, 0 },
	{ "cwd", HF_STRING, 0 },
	{ "is_sudo", HF_BOOL, 0 },
	{ "timeout_sec", HF_INT, 0 },
	{ "execute_concurrently", HF_BOOL, 0 },
	{ "abort_on_error", HF_BOOL, 0 },
	{ "overlaps", HF_BOOL, 0 },
	/* read-only fields a client may send back from a GET */
	{ "id", HF_ANY, 0 },
	{ "created_at", HF_ANY, 0 },
	{ "created_by", HF_ANY, 0 },
	{ "last_execution", HF_ANY, 0 },
};

/* A script's text as rport shows it (base64). New reference. */
static json_t *base64_of(const char *text)
{
	size_t len = strlen(text);
	size_t blen = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
	char *b = malloc(blen);
	json_t *v;

	if (!b)
		return json_null();
	sodium_bin2base64(b, blen, (const unsigned char *)text, len,
			  sodium_base64_VARIANT_ORIGINAL);
	v = json_string(b);
	free(b);
	return v;
}

static json_t *nonempty_or_null(json_t *v)
{
	return json_is_array(v) && json_array_size(v) ? json_incref(v) : json_null();
}

/* A core schedule in rport's Schedule shape (new reference). */
static json_t *schedule_json(const json_t *rec)
{
	const char *kind = json_string_value(json_object_get(rec, "kind"));
	bool script = kind && !strcmp(kind, "script");
	const char *text = json_string_value(json_object_get(rec, "text"));
	const char *lib = json_string_value(json_object_get(rec, "library_id"));
	json_t *tags = json_object_get(rec, "tags"), *le = json_object_get(rec, "last_execution");
	json_t *o = json_object();

	json_object_set(o, "id", json_object_get(rec, "id"));
	json_object_set(o, "created_at", json_object_get(rec, "created_at"));
	json_object_set(o, "created_by", json_object_get(rec, "created_by"));
	json_object_set(o, "name", json_object_get(rec, "name"));
	json_object_set(o, "schedule", json_object_get(rec, "cron"));
	json_object_set_new(o, "type", json_string(script ? "script" : "command"));
	json_object_set_new(o, "client_ids", nonempty_or_null(json_object_get(rec, "client_ids")));
	json_object_set_new(o, "group_ids", nonempty_or_null(json_object_get(rec, "group_ids")));
	if (json_is_object(tags))
		json_object_set_new(o, "tags", json_pack("{s:O, s:s}", "tags",
							 json_object_get(tags, "tags"), "operator",
							 json_is_true(json_object_get(tags, "all")) ?
								 "AND" : "OR"));
	else
		json_object_set_new(o, "tags", json_null());
	json_object_set_new(o, "command", json_string(!script && text ? text : ""));
	json_object_set_new(o, "script", script && text && *text ? base64_of(text) :
								   json_string(""));
	json_object_set_new(o, "library_id", lib && *lib ? json_string(lib) : json_null());
	json_object_set(o, "interpreter", json_object_get(rec, "interpreter"));
	json_object_set(o, "cwd", json_object_get(rec, "cwd"));
	json_object_set(o, "is_sudo", json_object_get(rec, "is_sudo"));
	json_object_set(o, "timeout_sec", json_object_get(rec, "timeout_sec"));
	json_object_set(o, "execute_concurrently", json_object_get(rec, "concurrent"));
	json_object_set(o, "abort_on_error", json_object_get(rec, "abort_on_error"));
	json_object_set(o, "overlaps", json_object_get(rec, "overlaps"));
	if (json_is_object(le)) {
		json_t *l = json_pack("{s:O, s:O, s:O, s:O}", "started_at",
				      json_object_get(le, "started_at"), "client_count",
				      json_object_get(le, "client_count"), "success_count",
				      json_object_get(le, "success_count"), "status",
				      json_object_get(le, "status"));
		const char *err = json_string_value(json_object_get(le, "error"));

		if (l) {
			json_object_set(l, "multi_job_id",
					json_object_get(le, "multi_job_id") ?: json_null());
			json_object_set_new(l, "summary", json_string(err ? err : ""));
		}
		json_object_set_new(o, "last_execution", l ? l : json_null());
	} else {
		json_object_set_new(o, "last_execution", json_null());
	}
	return o;
}

static bool visible(struct api_call *call, const json_t *rec)
{
	const char *by = json_string_value(json_object_get(rec, "created_by"));

	return call->admin || (by && !strcmp(by, call->user));
}

static void reply_not_found(struct api_call *call)
{
	char title[200];

	snprintf(title, sizeof title, "Schedule with id=\"%.64s\" not found.", call->params[0]);
	api_reply_error(call, 404, title, "id: no schedule has it");
}

/* May the caller replace or delete the schedule of the path? Otherwise
 * replies and returns false: 404 when it does not exist or is another
 * user's; 409 when another API made and keeps it (a TAT invoker: source
 * "tat"), which is shown here but changed only there, since rport's
 * fields would replace the record and lose what that API keeps in it. */
static bool editable(struct api_call *call)
{
	json_t *rec = schedule_get(call->srv->schedules, call->params[0]);
	const char *src = json_string_value(json_object_get(rec, "source"));
	char title[200], detail[120];
	bool ok = false;

	if (!rec || !visible(call, rec)) {
		reply_not_found(call);
	} else if (src && *src) {
		snprintf(title, sizeof title,
			 "Schedule with id=\"%.64s\" belongs to the %.16s API and can only be "
			 "changed there.", call->params[0], src);
		snprintf(detail, sizeof detail, "source: %.16s", src);
		api_reply_error(call, 409, title, detail);
	} else {
		ok = true;
	}
	json_decref(rec);
	return ok;
}

/* ---- create and update ---------------------------------------------- */

struct sched_call {
	struct api_call *call;
	json_t *rec;          /* the core record being saved */
	bool create;
};

static void bad(struct api_call *call, const char *detail)
{
	api_reply_error(call, 400, "Invalid schedule.", detail);
}

/* The body in the core's terms, or NULL after replying 400. */
static json_t *record_of(struct api_call *call, json_t *body)
{
	const char *name = json_string_value(json_object_get(body, "name"));
	const char *cron = json_string_value(json_object_get(body, "schedule"));
	const char *type = json_string_value(json_object_get(body, "type"));
	const char *cmd = json_string_value(json_object_get(body, "command"));
	const char *script = json_string_value(json_object_get(body, "script"));
	const char *lib = json_string_value(json_object_get(body, "library_id"));
	json_t *tags = json_object_get(body, "tags"), *rec, *v;
	bool is_script;
	char *text = NULL;
	struct api_err err;
	const char *k;

	if (!name || !*name || strlen(name) > SCHEDULE_MAX_NAME) {
		bad(call, !name || !*name ? "name: must not be empty" : "name: at most 200 characters");
		return NULL;
	}
	if (!cron || !*cron) {
		bad(call, "schedule: must not be empty (a cron expression such as \"*/5 * * * *\")");
		return NULL;
	}
	if (!type || (strcmp(type, "command") && strcmp(type, "script"))) {
		bad(call, "type: must be \"command\" or \"script\"");
		return NULL;
	}
	is_script = !strcmp(type, "script");
	if (lib && *lib) {
		if ((is_script ? script : cmd) && *(is_script ? script : cmd)) {
			bad(call, is_script ? "library_id: give a library entry or a script, not both" :
					      "library_id: give a library entry or a command, not both");
			return NULL;
		}
	} else if (is_script) {
		if (cmd && *cmd) {
			bad(call, "command: not for type \"script\" (use script)");
			return NULL;
		}
		if (api_decode_script_err(json_object_get(body, "script"), &text, &err)) {
			api_reply_err(call, &err);
			return NULL;
		}
	} else {
		if (script && *script) {
			bad(call, "script: not for type \"command\" (use command)");
			return NULL;
		}
		if (!cmd || !*cmd) {
			api_reply_error(call, 400, "Command cannot be empty.",
					"command: must not be empty");
			return NULL;
		}
	}
	if (json_integer_value(json_object_get(body, "timeout_sec")) < 0) {
		bad(call, "timeout_sec: must not be negative");
		free(text);
		return NULL;
	}
	rec = json_object();
	json_object_set_new(rec, "name", json_string(name));
	json_object_set_new(rec, "cron", json_string(cron));
	json_object_set_new(rec, "kind", json_string(type));
	json_object_set_new(rec, "text", json_string(lib && *lib ? "" : is_script ? text : cmd));
	free(text);
	json_object_set_new(rec, "library_id", lib && *lib ? json_string(lib) : json_null());
	json_object_set_new(rec, "client_ids", json_is_array(v = json_object_get(body, "client_ids"))
					       ? json_incref(v) : json_array());
	json_object_set_new(rec, "group_ids", json_is_array(v = json_object_get(body, "group_ids"))
					      ? json_incref(v) : json_array());
	if (json_is_object(tags)) {
		const char *op = json_string_value(json_object_get(tags, "operator"));
		json_t *list = json_object_get(tags, "tags");

		json_object_foreach(tags, k, v) {
			if (strcmp(k, "tags") && strcmp(k, "operator")) {
				json_decref(rec);
				bad(call, "tags: expected {\"tags\": [...], \"operator\": \"AND\"|\"OR\"}");
				return NULL;
			}
		}
		if (op && strcasecmp(op, "and") && strcasecmp(op, "or")) {
			json_decref(rec);
			api_reply_error(call, 400, "Invalid operator.",
					"tags.operator: must be \"AND\" or \"OR\"");
			return NULL;
		}
		if (!json_is_array(list) || !json_array_size(list)) {
			json_decref(rec);
			api_reply_error(call, 400, "No tags specified.", "tags.tags: must not be empty");
			return NULL;
		}
		json_object_set_new(rec, "tags", json_pack("{s:O, s:b}", "tags", list, "all",
							   op && !strcasecmp(op, "and")));
	} else {
		json_object_set_new(rec, "tags", json_null());
	}
	json_object_set(rec, "interpreter", json_object_get(body, "interpreter") ?: json_string(""));
	json_object_set(rec, "cwd", json_object_get(body, "cwd") ?: json_string(""));
	json_object_set_new(rec, "is_sudo", json_boolean(json_is_true(json_object_get(body, "is_sudo"))));
	json_object_set_new(rec, "timeout_sec",
			    json_integer(json_integer_value(json_object_get(body, "timeout_sec"))));
	json_object_set_new(rec, "concurrent",
			    json_boolean(json_is_true(json_object_get(body, "execute_concurrently"))));
	v = json_object_get(body, "abort_on_error");
	json_object_set_new(rec, "abort_on_error", json_boolean(json_is_boolean(v) ?
								json_is_true(v) : true));
	json_object_set_new(rec, "overlaps", json_boolean(json_is_true(json_object_get(body, "overlaps"))));
	json_object_set_new(rec, "metadata", json_object());
	return rec;
}

static void saved(void *ud, int rc, json_t *rec)
{
	struct sched_call *sc = ud;
	struct api_call *call = sc->call;
	bool create = sc->create;

	json_decref(sc->rec);
	free(sc);
	if (rc == TE_NOTFOUND) {
		char title[200];

		snprintf(title, sizeof title, "Schedule with id=\"%.64s\" not found.", call->params[0]);
		api_reply_error(call, 404, title, "id: no schedule has it");
	} else if (rc) {
		api_reply_error(call, 500, "Failed to save the schedule.", "");
	} else {
		api_reply_data(call, create ? 201 : 200, schedule_json(rec));
	}
	json_decref(rec);
}

/* The checks with the job's text known, then the save. */
static void check_and_save(struct sched_call *sc, const char *text)
{
	struct api_call *call = sc->call;
	struct invoke_error ie;
	struct api_err err;
	char cron_err[200], detail[300];
	int rc = schedule_check(call->srv, sc->rec, text, call->user, cron_err, sizeof cron_err,
				&ie);

	if (rc == -1) {
		snprintf(detail, sizeof detail, "schedule: %s", cron_err);
		json_decref(sc->rec);
		free(sc);
		api_reply_error(call, 400, "Invalid cron expression.", detail);
		return;
	}
	if (rc == -2) {
		json_decref(sc->rec);
		free(sc);
		api_invoke_err(&ie, false, &err);
		api_reply_err(call, &err);
		return;
	}
	schedule_save(call->srv->schedules, sc->create ? NULL : call->params[0], sc->rec,
		      call->user, saved, sc);
}

static void library_read(void *ud, int rc, json_t *entry)
{
	struct sched_call *sc = ud;
	struct api_call *call = sc->call;
	const char *kind = json_string_value(json_object_get(sc->rec, "kind"));
	char title[200];

	if (rc) {
		snprintf(title, sizeof title, "Library %s with id=\"%.64s\" not found.", kind,
			 json_string_value(json_object_get(sc->rec, "library_id")));
		json_decref(sc->rec);
		free(sc);
		if (rc == TE_NOTFOUND)
			api_reply_error(call, 404, title, "library_id: no library entry of the "
							  "schedule's type has it");
		else
			api_reply_error(call, 500, "Failed to read the library.", "");
		return;
	}
	check_and_save(sc, json_string_value(json_object_get(entry, "text")));
	json_decref(entry);
}

static void write_schedule(struct api_call *call, bool create)
{
	struct sched_call *sc;
	json_t *body, *rec;
	const char *lib, *kind;

	if (api_body(call, schedule_fields, sizeof schedule_fields / sizeof schedule_fields[0],
		     &body))
		return;
	rec = record_of(call, body);
	json_decref(body);
	if (!rec)
		return;
	if (!create && !editable(call)) {
		json_decref(rec);
		return;
	}
	sc = calloc(1, sizeof *sc);
	if (!sc) {
		json_decref(rec);
		api_reply_error(call, 500, "Internal error.", "out of memory");
		return;
	}
	sc->call = call;
	sc->rec = rec;
	sc->create = create;
	lib = json_string_value(json_object_get(rec, "library_id"));
	kind = json_string_value(json_object_get(rec, "kind"));
	if (lib)
		library_get(call->srv, !strcmp(kind, "script") ? LIBRARY_SCRIPT : LIBRARY_COMMAND,
			    lib, library_read, sc);
	else
		check_and_save(sc, NULL);
}

/* ---- the rest ------------------------------------------------------- */

void api_schedules_post(struct api_call *call)
{
	write_schedule(call, true);
}

void api_schedules_put(struct api_call *call)
{
	write_schedule(call, false);
}

void api_schedules_get(struct api_call *call)
{
	json_t *rec = schedule_get(call->srv->schedules, call->params[0]);

	/* Another user's schedule is not shown (as if it did not exist). */
	if (!rec || !visible(call, rec)) {
		json_decref(rec);
		reply_not_found(call);
		return;
	}
	api_reply_data(call, 200, schedule_json(rec));
	json_decref(rec);
}

static void deleted(void *ud, int rc, json_t *rec)
{
	struct api_call *call = ud;

	json_decref(rec);
	if (rc == TE_NOTFOUND)
		reply_not_found(call);
	else if (rc)
		api_reply_error(call, 500, "Failed to delete the schedule.", "");
	else
		api_reply(call, 204, NULL);
}

void api_schedules_delete(struct api_call *call)
{
	if (!editable(call))
		return;
	schedule_delete(call->srv->schedules, call->params[0], deleted, call);
}

void api_schedules_list(struct api_call *call)
{
	static const char *const sortable[] = { "id", "created_at", "created_by", "name", "type",
						NULL };
	static const char *const filterable[] = { "id", "created_at", "created_by", "name",
						  "type", "client_ids", "group_ids", NULL };
	struct saved_query q;
	const char *fields[16];
	int nfields;
	json_t *all, *shown, *page, *rec;
	int64_t total = 0;
	size_t i;

	if (api_saved_query(call, "schedules", sortable, filterable, &q, fields, &nfields, 16))
		return;
	all = schedule_list(call->srv->schedules);
	shown = json_array();
	json_array_foreach(all, i, rec)
		if (visible(call, rec))
			json_array_append_new(shown, schedule_json(rec));
	json_decref(all);
	page = saved_select(shown, &q, &total);
	json_decref(shown);
	api_saved_query_free(&q);
	if (!page) {
		api_reply_error(call, 500, "Internal error.", "out of memory");
		return;
	}
	json_array_foreach(page, i, rec)
		api_fields_keep(rec, fields, (size_t)nfields);
	api_reply_list(call, page, total);
}
