/* command: TAT's saved commands (CreateCommand, DescribeCommands,
 * ModifyCommand, DeleteCommand, InvokeCommand, RunCommand's SaveCommand,
 * PreviewReplacedCommandContent's CommandId) over the core's library
 * (core/library.h). A TAT command is a library entry of kind command:
 * name, text (Content decoded), cwd, timeout_sec and tags ("Key=Value") in
 * the core's fields, the rest in metadata.tat; its cmd-xxxxxxxx id is
 * metadata.tat.CommandId and a tat_ids row of kind "cmd". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/library.h"
#include "dialects/tat/tat_priv.h"
#include "server.h"
#include "store/store_tat.h"

#define TAT_MAX_IDS 100

/* cmd- and 8 of [a-z0-9], as tat_new_id makes them. */
static bool cmd_id_ok(const char *s)
{
	if (strncmp(s, "cmd-", 4) || strlen(s) != 12)
		return false;
	for (s += 4; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

static int defaults_ok(struct tat_call *c, bool enable, const char *defaults)
{
	char *probe, *out;

	if (!defaults)
		return 0;
	if (!enable) {
		tat_fail(c, "InvalidParameterValue.SupportParametersOnlyIfEnableParameter",
			 "DefaultParameters needs EnableParameter true.");
		return -1;
	}
	/* The template engine's checks of the map, on a text without
	 * parameters. */
	probe = strdup("-");
	if (!probe) {
		tat_fail(c, "InternalError", "out of memory");
		return -1;
	}
	out = tat_content_render(c, probe, 1, true, defaults, NULL);
	if (!out)
		return -1;
	free(out);
	return 0;
}

int tat_defaults_check(struct tat_call *c)
{
	return defaults_ok(c, json_is_true(json_object_get(c->params, "EnableParameter")),
			   tat_param_str(c, "DefaultParameters"));
}

static void library_fail(struct tat_call *c, int rc, const char *name)
{
	if (rc == TE_EXISTS)
		tat_fail(c, "InvalidParameterValue.CommandNameDuplicated",
			 "A command named `%s` exists already.", name);
	else if (rc == TE_INVAL)
		tat_fail(c, "InvalidParameterValue", "The command breaks a limit of the library.");
	else if (rc == TE_NOTFOUND)
		tat_fail(c, "ResourceNotFound.CommandNotFound", "The command is not found.");
	else
		tat_fail(c, "InternalError", "The command cannot be stored (%d).", rc);
}

/* ---- saving ------------------------------------------------------------ */

struct save {
	struct tat_call *c;
	char cmd[16];
	char core_id[UUID_STR_LEN];
	tat_saved_fn done;
	void *ud;
};

static int save_map_apply(struct store *st, void *arg)
{
	struct save *s = arg;
	struct tat_id_row row = { s->cmd, "cmd", s->core_id, "", "", s->c->user, util_now_ns() };

	return store_tat_id_put(st, &row);
}

static void save_map_after(void *arg, int rc)
{
	struct save *s = arg;

	if (rc)
		tat_fail(s->c, "InternalError",
			 "The command is in the library (%s) but its TAT id was not stored.",
			 s->core_id);
	s->done(s->c, s->ud, rc == 0);
	free(s);
}

static void save_created(void *ud, int rc, json_t *rec)
{
	struct save *s = ud;

	if (rc) {
		library_fail(s->c, rc, tat_param_str(s->c, "CommandName") ? tat_param_str(s->c, "CommandName") : s->cmd);
		s->done(s->c, s->ud, false);
		free(s);
		return;
	}
	util_strlcpy(s->core_id, json_string_value(json_object_get(rec, "id")), sizeof s->core_id);
	json_decref(rec);
	store_queue(s->c->srv->store, save_map_apply, save_map_after, s);
}

/* Tags [{Key, Value}] as the library's strings "Key=Value". */
static json_t *lib_tags(const json_t *tags)
{
	json_t *out = json_array(), *t;
	size_t i;

	json_array_foreach(tags, i, t) {
		char s[400];

		snprintf(s, sizeof s, "%s=%s", json_string_value(json_object_get(t, "Key")),
			 json_string_value(json_object_get(t, "Value")));
		json_array_append_new(out, json_string(s));
	}
	return out;
}

void tat_command_save(struct tat_call *c, const char *cmd_id, tat_saved_fn done, void *ud)
{
	const json_t *tags = json_object_get(c->params, "Tags");
	json_t *timeout = json_object_get(c->params, "Timeout");
	const char *user = tat_param_str(c, "Username"), *desc = tat_param_str(c, "Description");
	const char *defaults = tat_param_str(c, "DefaultParameters");
	struct library_entry e;
	json_t *meta, *ltags;
	struct save *s;
	size_t len;
	char *text = tat_content_decode(c, tat_param_str(c, "Content"), &len);

	if (!text) {
		done(c, ud, false);
		return;
	}
	s = calloc(1, sizeof *s);
	if (!s) {
		free(text);
		tat_fail(c, "InternalError", "out of memory");
		done(c, ud, false);
		return;
	}
	s->c = c;
	s->done = done;
	s->ud = ud;
	util_strlcpy(s->cmd, cmd_id, sizeof s->cmd);
	meta = json_pack("{s:{s:s, s:s, s:s, s:s, s:b, s:s, s:o, s:s}}", "tat", "CommandId",
			 cmd_id, "Description", desc ? desc : "", "CommandType", "SHELL",
			 "Username", user && *user ? user : "root", "EnableParameter",
			 json_is_true(json_object_get(c->params, "EnableParameter")),
			 "DefaultParameters", defaults ? defaults : "{}", "Tags",
			 tags ? json_deep_copy(tags) : json_array(), "CreatedBy", "USER");
	ltags = lib_tags(tags);
	memset(&e, 0, sizeof e);
	/* A command saved without a name is named by its id. */
	e.name = tat_param_str(c, "CommandName") ? tat_param_str(c, "CommandName") : cmd_id;
	e.text = text;
	e.tags = ltags;
	e.timeout_sec = timeout ? json_integer_value(timeout) : 60;
	e.cwd = tat_param_str(c, "WorkingDirectory") ? tat_param_str(c, "WorkingDirectory") : "/root";
	e.metadata = meta;
	if (!meta || !ltags) {
		json_decref(meta);
		json_decref(ltags);
		free(text);
		save_created(s, TE_NOMEM, NULL);
		return;
	}
	library_create(c->srv, LIBRARY_COMMAND, &e, c->user, save_created, s);
	json_decref(meta);
	json_decref(ltags);
	free(text);
}

/* ---- CreateCommand ------------------------------------------------------ */

static void create_saved(struct tat_call *c, void *ud, bool saved)
{
	(void)ud;
	if (saved)
		tat_reply(c, json_pack("{s:s}", "CommandId", c->cmd_id));
}

void tat_create_command(struct tat_call *c)
{
	if (!tat_param_str(c, "CommandName")) {
		tat_fail(c, "MissingParameter", "The parameter `CommandName` is missing.");
		return;
	}
	if (!tat_param_str(c, "Content")) {
		tat_fail(c, "MissingParameter", "The parameter `Content` is missing.");
		return;
	}
	if (tat_fields_check(c, true) || tat_defaults_check(c))
		return;
	tat_new_id("cmd", c->cmd_id);
	tat_command_save(c, c->cmd_id, create_saved, NULL);
}

/* ---- reading ------------------------------------------------------------ */

/* The call's commands: visible TAT commands, newest first (an array), or
 * NULL having answered. */
typedef void (*commands_fn)(struct tat_call *c, json_t *all);

/* The same with a state of the caller's (the call may be gone when all
 * is NULL). */
typedef void (*commands_ud_fn)(struct tat_call *c, json_t *all, void *ud);

struct list {
	struct tat_call *c;
	commands_fn fn;
	commands_ud_fn fn_ud;
	void *ud;
};

static void list_read(void *ud, int rc, json_t *page, int64_t total)
{
	struct list *l = ud;
	struct tat_call *c = l->c;
	commands_fn fn = l->fn;
	commands_ud_fn fn_ud = l->fn_ud;
	void *fud = l->ud;
	json_t *all, *rec;
	size_t i;

	(void)total;
	free(l);
	if (rc) {
		json_decref(page);
		tat_fail(c, "InternalError", "The commands cannot be read.");
		if (fn_ud)
			fn_ud(c, NULL, fud);
		else
			fn(c, NULL);
		return;
	}
	all = json_array();
	json_array_foreach(page, i, rec) {
		const char *by = json_string_value(json_object_get(rec, "created_by"));

		if (!tat_meta_str(rec, "CommandId"))
			continue;   /* an entry of rport's API: not TAT's */
		if (!c->admin && (!by || strcmp(by, c->user)))
			continue;
		json_array_append(all, rec);
	}
	json_decref(page);
	if (fn_ud)
		fn_ud(c, all, fud);
	else
		fn(c, all);
}

static void commands_read_with(struct tat_call *c, commands_fn fn, commands_ud_fn fn_ud,
			       void *ud)
{
	struct saved_query q;
	struct list *l = calloc(1, sizeof *l);

	if (!l) {
		tat_fail(c, "InternalError", "out of memory");
		if (fn_ud)
			fn_ud(c, NULL, ud);
		else
			fn(c, NULL);
		return;
	}
	l->c = c;
	l->fn = fn;
	l->fn_ud = fn_ud;
	l->ud = ud;
	memset(&q, 0, sizeof q);
	q.sort[0].field = "created_at";
	q.sort[0].desc = true;
	q.nsort = 1;
	q.limit = INT64_C(1) << 40;
	library_list(c->srv, LIBRARY_COMMAND, &q, list_read, l);
}

static void commands_read(struct tat_call *c, commands_fn fn)
{
	commands_read_with(c, fn, NULL, NULL);
}

/* The command of CommandId among all (borrowed), or NULL having answered. */
static json_t *command_pick(struct tat_call *c, json_t *all)
{
	const char *id = tat_param_str(c, "CommandId");
	size_t i;
	json_t *rec;

	json_array_foreach(all, i, rec)
		if (!strcmp(tat_meta_str(rec, "CommandId"), id))
			return rec;
	tat_fail(c, "ResourceNotFound.CommandNotFound", "The command `%s` is not found.", id);
	return NULL;
}

/* CommandId is given and well-formed: 0, or -1 having answered. */
static int command_id_check(struct tat_call *c)
{
	const char *id = tat_param_str(c, "CommandId");

	if (!id) {
		tat_fail(c, "MissingParameter", "The parameter `CommandId` is missing.");
		return -1;
	}
	if (!cmd_id_ok(id)) {
		tat_fail(c, "InvalidCommandId.Malformed",
			 "The CommandId `%.64s` is not of the form cmd-xxxxxxxx.", id);
		return -1;
	}
	return 0;
}

static json_t *command_render(const json_t *rec)
{
	const char *text = json_string_value(json_object_get(rec, "text"));
	char *b64 = tat_b64(text, strlen(text));
	char created[32], updated[32];
	int64_t ns = 0;
	json_t *m = tat_meta(rec), *out;
	json_t *tags = json_object_get(m, "Tags");

	if (util_time_parse(json_string_value(json_object_get(rec, "created_at")), &ns))
		ns = 0;
	tat_time(ns, created);
	if (util_time_parse(json_string_value(json_object_get(rec, "updated_at")), &ns))
		ns = 0;
	tat_time(ns, updated);
	out = json_pack("{s:s?, s:s?, s:s?, s:s?, s:s, s:s?, s:I, s:s, s:s, s:b, s:s?, s:s, s:s, "
			"s:o, s:s?, s:s, s:s}",
			"CommandId", tat_meta_str(rec, "CommandId"), "CommandName",
			json_string_value(json_object_get(rec, "name")), "Description",
			tat_meta_str(rec, "Description"), "Content", b64, "CommandType", "SHELL",
			"WorkingDirectory", json_string_value(json_object_get(rec, "cwd")),
			"Timeout", json_integer_value(json_object_get(rec, "timeout_sec")),
			"CreatedTime", created, "UpdatedTime", updated, "EnableParameter",
			json_is_true(json_object_get(m, "EnableParameter")), "DefaultParameters",
			tat_meta_str(rec, "DefaultParameters"), "FormattedDescription", "",
			"CreatedBy", "USER", "Tags", json_is_array(tags) ? json_incref(tags) : json_array(),
			"Username", tat_meta_str(rec, "Username"), "OutputCOSBucketUrl", "",
			"OutputCOSKeyPrefix", "");
	free(b64);
	return out;
}

/* ---- DescribeCommands --------------------------------------------------- */

static bool value_in(const json_t *values, const char *v)
{
	size_t i;
	json_t *x;

	json_array_foreach(values, i, x)
		if (v && !strcmp(json_string_value(x), v))
			return true;
	return false;
}

static bool command_matches(struct tat_call *c, const json_t *rec)
{
	json_t *ids = json_object_get(c->params, "CommandIds");
	json_t *filters = json_object_get(c->params, "Filters"), *f;
	size_t i;

	if (ids && !value_in(ids, tat_meta_str(rec, "CommandId")))
		return false;
	json_array_foreach(filters, i, f) {
		const char *name = json_string_value(json_object_get(f, "Name"));
		const json_t *vals = json_object_get(f, "Values");
		const char *v = !strcmp(name, "command-id") ? tat_meta_str(rec, "CommandId") :
				!strcmp(name, "command-name") ?
				json_string_value(json_object_get(rec, "name")) :
				!strcmp(name, "command-type") ? "SHELL" : "USER";

		if (!value_in(vals, v))
			return false;
	}
	return true;
}

static void describe_listed(struct tat_call *c, json_t *all)
{
	int64_t limit, offset, total = 0;
	json_t *set, *rec;
	size_t i;

	if (!all)
		return;
	if (tat_paging(c, &limit, &offset)) {
		json_decref(all);
		return;
	}
	set = json_array();
	json_array_foreach(all, i, rec) {
		if (!command_matches(c, rec))
			continue;
		if (total >= offset && total < offset + limit)
			json_array_append_new(set, command_render(rec));
		total++;
	}
	json_decref(all);
	tat_reply(c, json_pack("{s:I, s:o}", "TotalCount", (json_int_t)total, "CommandSet", set));
}

void tat_describe_commands(struct tat_call *c)
{
	static const char *const names[] = { "command-id", "command-name", "command-type",
					     "created-by", NULL };
	json_t *ids = json_object_get(c->params, "CommandIds");
	json_t *filters = json_object_get(c->params, "Filters"), *v;
	int64_t limit, offset;
	size_t i;

	if (ids && filters) {
		tat_fail(c, "InvalidParameter", "CommandIds and Filters cannot be given together.");
		return;
	}
	if (json_array_size(ids) > TAT_MAX_IDS) {
		tat_fail(c, "InvalidParameterValue.LimitExceeded",
			 "At most %d CommandIds are allowed.", TAT_MAX_IDS);
		return;
	}
	json_array_foreach(ids, i, v)
		if (!cmd_id_ok(json_string_value(v))) {
			tat_fail(c, "InvalidCommandId.Malformed",
				 "The CommandId `%.64s` is not of the form cmd-xxxxxxxx.",
				 json_string_value(v));
			return;
		}
	if (tat_filters_check(c, filters, names) || tat_paging(c, &limit, &offset))
		return;
	commands_read(c, describe_listed);
}

/* ---- ModifyCommand ------------------------------------------------------ */

static void modified(void *ud, int rc, json_t *rec)
{
	struct tat_call *c = ud;

	json_decref(rec);
	if (rc)
		library_fail(c, rc, tat_param_str(c, "CommandName"));
	else
		tat_reply(c, NULL);
}

static void modify_listed(struct tat_call *c, json_t *all)
{
	json_t *rec = all ? command_pick(c, all) : NULL, *meta, *m, *timeout;
	struct library_entry e;
	char *text = NULL;
	const char *b64;
	size_t len;

	if (!rec)   /* answered: c is gone */
		goto out;
	b64 = tat_param_str(c, "Content");
	m = tat_meta(rec);
	if (defaults_ok(c, json_is_true(json_object_get(m, "EnableParameter")),
			tat_param_str(c, "DefaultParameters")))
		goto out;
	if (b64 && !(text = tat_content_decode(c, b64, &len)))
		goto out;
	meta = json_deep_copy(json_object_get(rec, "metadata"));
	m = json_object_get(meta, "tat");
	if (tat_param_str(c, "Description"))
		json_object_set_new(m, "Description", json_string(tat_param_str(c, "Description")));
	if (tat_param_str(c, "Username"))
		json_object_set_new(m, "Username", json_string(tat_param_str(c, "Username")));
	if (tat_param_str(c, "DefaultParameters"))
		json_object_set_new(m, "DefaultParameters",
				    json_string(tat_param_str(c, "DefaultParameters")));
	timeout = json_object_get(c->params, "Timeout");
	memset(&e, 0, sizeof e);
	e.name = tat_param_str(c, "CommandName") ? tat_param_str(c, "CommandName") :
					       json_string_value(json_object_get(rec, "name"));
	e.text = text ? text : json_string_value(json_object_get(rec, "text"));
	e.tags = json_object_get(rec, "tags");
	e.timeout_sec = timeout ? json_integer_value(timeout) :
				  json_integer_value(json_object_get(rec, "timeout_sec"));
	e.cwd = tat_param_str(c, "WorkingDirectory") ? tat_param_str(c, "WorkingDirectory") :
						   json_string_value(json_object_get(rec, "cwd"));
	e.interpreter = json_string_value(json_object_get(rec, "interpreter"));
	e.is_sudo = json_is_true(json_object_get(rec, "is_sudo"));
	e.metadata = meta;
	library_update(c->srv, LIBRARY_COMMAND, json_string_value(json_object_get(rec, "id")), &e,
		       c->user, modified, c);
	json_decref(meta);
out:
	free(text);
	json_decref(all);
}

void tat_modify_command(struct tat_call *c)
{
	if (command_id_check(c) || tat_fields_check(c, false))
		return;
	commands_read(c, modify_listed);
}

/* ---- DeleteCommand ------------------------------------------------------ */

static int unmap_apply(struct store *st, void *arg)
{
	struct tat_call *c = arg;

	return store_tat_id_delete(st, tat_param_str(c, "CommandId"));
}

static void unmap_after(void *arg, int rc)
{
	struct tat_call *c = arg;

	if (rc)
		tat_fail(c, "InternalError",
			 "The command is deleted but its TAT id could not be removed.");
	else
		tat_reply(c, NULL);
}

static void deleted(void *ud, int rc, json_t *rec)
{
	struct tat_call *c = ud;

	json_decref(rec);
	if (rc)
		library_fail(c, rc, "");
	else
		store_queue(c->srv->store, unmap_apply, unmap_after, c);
}

static void delete_listed(struct tat_call *c, json_t *all)
{
	json_t *rec = all ? command_pick(c, all) : NULL;

	if (rec && tat_command_in_invoker(c->srv, tat_param_str(c, "CommandId"))) {
		tat_fail(c, "ResourceUnavailable.CommandInInvoker",
			 "The command `%s` is the command of an invoker: delete the invoker first.",
			 tat_param_str(c, "CommandId"));
		rec = NULL;
	} else if (rec)
		library_delete(c->srv, LIBRARY_COMMAND,
			       json_string_value(json_object_get(rec, "id")), deleted, c);
	json_decref(all);
}

void tat_delete_command(struct tat_call *c)
{
	if (command_id_check(c))
		return;
	commands_read(c, delete_listed);
}

/* ---- InvokeCommand ------------------------------------------------------ */

/* The call becomes RunCommand's of the saved command: its fields under
 * the ones given. */
static void invoke_listed(struct tat_call *c, json_t *all)
{
	json_t *rec = all ? command_pick(c, all) : NULL, *m;
	const char *text, *name, *cwd;
	int64_t timeout;
	char *b64;

	if (!rec) {
		json_decref(all);
		return;
	}
	m = tat_meta(rec);
	text = json_string_value(json_object_get(rec, "text"));
	name = json_string_value(json_object_get(rec, "name"));
	cwd = json_string_value(json_object_get(rec, "cwd"));
	timeout = json_integer_value(json_object_get(rec, "timeout_sec"));
	b64 = tat_b64(text, strlen(text));
	if (!b64) {
		json_decref(all);
		tat_fail(c, "InternalError", "out of memory");
		return;
	}
	util_strlcpy(c->cmd_id, tat_param_str(c, "CommandId"), sizeof c->cmd_id);
	json_object_del(c->params, "CommandId");
	json_object_set_new(c->params, "Content", json_string(b64));
	free(b64);
	if (name && tat_name_ok(name))
		json_object_set_new(c->params, "CommandName", json_string(name));
	if (tat_meta_str(rec, "Description"))
		json_object_set_new(c->params, "Description",
				    json_string(tat_meta_str(rec, "Description")));
	if (!json_object_get(c->params, "WorkingDirectory") && cwd && *cwd)
		json_object_set_new(c->params, "WorkingDirectory", json_string(cwd));
	if (!json_object_get(c->params, "Timeout") && timeout >= 1 && timeout <= 86400)
		json_object_set_new(c->params, "Timeout", json_integer(timeout));
	if (!json_object_get(c->params, "Username") && tat_meta_str(rec, "Username"))
		json_object_set_new(c->params, "Username", json_string(tat_meta_str(rec, "Username")));
	if (json_is_true(json_object_get(m, "EnableParameter"))) {
		json_object_set_new(c->params, "EnableParameter", json_true());
		if (tat_meta_str(rec, "DefaultParameters"))
			json_object_set_new(c->params, "DefaultParameters",
					    json_string(tat_meta_str(rec, "DefaultParameters")));
	}
	json_decref(all);
	tat_run_command(c);
}

void tat_invoke_command(struct tat_call *c)
{
	if (command_id_check(c))
		return;
	commands_read(c, invoke_listed);
}

/* ---- one command, for the invokers --------------------------------------- */

struct cget {
	tat_command_fn fn;
	void *ud;
	char id[16];
};

static void get_listed(struct tat_call *c, json_t *all, void *gud)
{
	struct cget *g = gud;
	tat_command_fn fn = g->fn;
	void *ud = g->ud;
	json_t *rec = NULL, *x;
	size_t i;

	json_array_foreach(all, i, x)
		if (!strcmp(tat_meta_str(x, "CommandId"), g->id))
			rec = x;
	if (all && !rec)
		tat_fail(c, "ResourceNotFound.CommandNotFound", "The command `%s` is not found.",
			 g->id);
	free(g);
	fn(rec ? c : NULL, rec, ud);
	json_decref(all);
}

void tat_command_get(struct tat_call *c, const char *cmd_id, tat_command_fn fn, void *ud)
{
	struct cget *g;

	if (!cmd_id_ok(cmd_id ? cmd_id : "")) {
		tat_fail(c, "InvalidCommandId.Malformed",
			 "The CommandId `%.64s` is not of the form cmd-xxxxxxxx.", cmd_id ? cmd_id : "");
		fn(NULL, NULL, ud);
		return;
	}
	g = calloc(1, sizeof *g);
	if (!g) {
		tat_fail(c, "InternalError", "out of memory");
		fn(NULL, NULL, ud);
		return;
	}
	g->fn = fn;
	g->ud = ud;
	util_strlcpy(g->id, cmd_id, sizeof g->id);
	commands_read_with(c, NULL, get_listed, g);
}

/* ---- PreviewReplacedCommandContent with CommandId ------------------------ */

static void preview_listed(struct tat_call *c, json_t *all)
{
	json_t *rec = all ? command_pick(c, all) : NULL;
	bool enable;
	char *text, *out;

	if (!rec) {
		json_decref(all);
		return;
	}
	enable = json_is_true(json_object_get(tat_meta(rec), "EnableParameter"));
	text = strdup(json_string_value(json_object_get(rec, "text")));
	if (!text) {
		json_decref(all);
		tat_fail(c, "InternalError", "out of memory");
		return;
	}
	out = tat_content_render(c, text, strlen(text), enable,
				 enable ? tat_meta_str(rec, "DefaultParameters") : NULL,
				 tat_param_str(c, "Parameters"));
	json_decref(all);
	if (!out)
		return;
	tat_preview_reply(c, out);
}

void tat_preview_saved(struct tat_call *c)
{
	if (command_id_check(c))
		return;
	commands_read(c, preview_listed);
}
