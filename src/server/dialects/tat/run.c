/* run: RunCommand, PreviewReplacedCommandContent and CancelInvocation,
 * over the core's invocations (core/invoke.h, core/fanout.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/audit.h"
#include "core/fanout.h"
#include "core/invoke.h"
#include "core/registry.h"
#include "core/template.h"
#include "dialects/tat/tat_priv.h"
#include "server.h"
#include "store/store_tat.h"

#define TAT_MAX_CONTENT 65536       /* base64 bytes of Content */
#define TAT_MAX_INSTANCES 100

static const char *template_code(enum template_code code)
{
	switch (code) {
	case TEMPLATE_INVALID_JSON:
		return "InvalidParameterValue.ParameterInvalidJsonFormat";
	case TEMPLATE_KEY_DUPLICATED:
		return "InvalidParameterValue.ParameterKeyDuplicated";
	case TEMPLATE_VALUE_NOT_STRING:
		return "InvalidParameterValue.ParameterValueNotString";
	case TEMPLATE_KEY_INVALID_CHAR:
		return "InvalidParameterValue.ParameterKeyContainsInvalidChar";
	case TEMPLATE_KEY_TOO_LONG:
		return "InvalidParameterValue.ParameterKeyLenExceeded";
	case TEMPLATE_TOO_MANY:
		return "InvalidParameterValue.ParameterNumberExceeded";
	case TEMPLATE_VALUE_TOO_LONG:
	case TEMPLATE_OUTPUT_TOO_LONG:
		return "InvalidParameterValue.TooLong";
	case TEMPLATE_MISSING:
		return "InvalidParameterValue.LackOfParameterInfo";
	case TEMPLATE_NOMEM:
	case TEMPLATE_OK:
		break;
	}
	return "InternalError";
}

/* TAT's code and words for a template error. */
static void template_words(const char *field, const struct template_error *e,
			   struct tat_error *err)
{
	util_strlcpy(err->code, template_code(e->code), sizeof err->code);
	switch (e->code) {
	case TEMPLATE_MISSING:
		snprintf(err->message, sizeof err->message,
			 "The custom parameter `%s` has no value in Parameters or DefaultParameters.",
			 e->subject);
		return;
	case TEMPLATE_INVALID_JSON:
		snprintf(err->message, sizeof err->message, "%s is not a JSON object of strings.",
			 field);
		return;
	case TEMPLATE_KEY_DUPLICATED:
		snprintf(err->message, sizeof err->message, "%s has a key twice.", field);
		return;
	case TEMPLATE_TOO_MANY:
		snprintf(err->message, sizeof err->message, "%s has more than %d keys.", field,
			 TEMPLATE_MAX_KEYS);
		return;
	case TEMPLATE_OUTPUT_TOO_LONG:
		snprintf(err->message, sizeof err->message,
			 "The command with its parameters replaced passes %d bytes.",
			 TEMPLATE_MAX_OUTPUT);
		return;
	default:
		snprintf(err->message, sizeof err->message, "%s: the key `%s` is not valid (%s).",
			 field, e->subject,
			 e->code == TEMPLATE_VALUE_NOT_STRING ? "its value is not a string" :
			 e->code == TEMPLATE_KEY_TOO_LONG ? "longer than 64 characters" :
			 e->code == TEMPLATE_KEY_INVALID_CHAR ? "only [a-zA-Z0-9_-] are allowed" :
								 "too long a value");
		return;
	}
}

/* Decodes Content. Returns a malloc'd NUL-terminated text, or NULL having
 * answered. */
char *tat_content_decode(struct tat_call *c, const char *b64, size_t *len)
{
	size_t n = strlen(b64), out = 0;
	char *text;
	const char *end = NULL;

	if (n > TAT_MAX_CONTENT) {
		tat_fail(c, "InvalidParameterValue.TooLong",
			 "Content is %zu bytes of base64; at most %d are allowed.", n, TAT_MAX_CONTENT);
		return NULL;
	}
	text = malloc(n + 1);
	if (!text) {
		tat_fail(c, "InternalError", "out of memory");
		return NULL;
	}
	if (sodium_base642bin((unsigned char *)text, n + 1, b64, n, " \r\n", &out, &end,
			      sodium_base64_VARIANT_ORIGINAL) || (end && *end) || out == 0 ||
	    memchr(text, '\0', out) || !util_utf8_valid(text, out)) {
		free(text);
		tat_fail(c, "InvalidParameterValue.InvalidContent",
			 "Content must be non-empty base64 of UTF-8 text.");
		return NULL;
	}
	text[out] = '\0';
	*len = out;
	return text;
}

char *tat_render_text(char *text, size_t len, bool enable, const char *defaults_text,
		      const char *params_text, struct tat_error *err)
{
	json_t *defaults = NULL, *params = NULL;
	struct template_error e;
	char *out = NULL;
	size_t outlen;

	if (!enable) {
		if (defaults_text) {
			tat_error_set(err, "InvalidParameterValue.SupportParametersOnlyIfEnableParameter",
				      "DefaultParameters needs EnableParameter true.");
			goto out;
		}
		if (params_text) {
			tat_error_set(err, "InvalidParameterValue.ParameterDisabled",
				      "Parameters needs EnableParameter true.");
			goto out;
		}
		return text;
	}
	if (defaults_text &&
	    template_params_parse(defaults_text, strlen(defaults_text), &defaults, &e)) {
		template_words("DefaultParameters", &e, err);
		goto out;
	}
	if (params_text && template_params_parse(params_text, strlen(params_text), &params, &e)) {
		template_words("Parameters", &e, err);
		goto out;
	}
	if (template_render(text, len, params, defaults, &out, &outlen, &e)) {
		template_words("Parameters", &e, err);
		out = NULL;
	}
out:
	json_decref(defaults);
	json_decref(params);
	free(text);
	return out;
}

void tat_error_set(struct tat_error *err, const char *code, const char *message)
{
	util_strlcpy(err->code, code, sizeof err->code);
	util_strlcpy(err->message, message, sizeof err->message);
}

/* The command with its {{name}} parameters replaced, when EnableParameter
 * is set; the text as it is otherwise. Returns a malloc'd text, or NULL
 * having answered. Takes text. */
char *tat_content_render(struct tat_call *c, char *text, size_t len, bool enable,
			    const char *defaults_text, const char *params_text)
{
	struct tat_error err;
	char *out = tat_render_text(text, len, enable, defaults_text, params_text, &err);

	if (!out)
		tat_fail(c, err.code, "%s", err.message);
	return out;
}

/* ---- RunCommand ------------------------------------------------------- */

struct run {
	struct tat_call *c;
	char inv[16], cmd[16];
	char core_id[UUID_STR_LEN];
	char **ids;                    /* unique InstanceIds, as given */
	size_t n;
	char (*tasks)[16];
	int64_t created_at;
	char *command;                 /* the text to run (parameters replaced) */
};

static void run_free(struct run *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->ids[i]);
	free(r->ids);
	free(r->tasks);
	free(r->command);
	free(r);
}

static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/* A POSIX-ish user name: [a-z_][a-z0-9_.-]*, at most 32 bytes. */
static bool username_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32 || !((*s >= 'a' && *s <= 'z') || *s == '_'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
		      *s == '-' || *s == '.'))
			return false;
	return true;
}

/* The run-as user the request asks for: NULL for root (TAT's default: the
 * agent's own user) or none. */
static const char *run_as_of(struct tat_call *c)
{
	const char *u = json_string_value(json_object_get(c->params, "Username"));

	return u && strcmp(u, "root") ? u : NULL;
}

/* Does the agent of cl allow running as user (its hello's run_as_users)? */
static bool run_as_allowed(const struct client *cl, const char *user)
{
	size_t i;
	json_t *v;

	json_array_foreach(json_object_get(cl->facts, "run_as_users"), i, v)
		if (!strcmp(json_string_value(v), user))
			return true;
	return false;
}

bool tat_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 60)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
			return false;
	return true;
}

/* The InstanceIds (required, 1..100, unique), checked against the
 * registry. Returns 0, or -1 having answered. */
static int instances_of(struct tat_call *c, struct run *r)
{
	return tat_instances_check(c, &r->ids, &r->n);
}

int tat_instances_check(struct tat_call *c, char ***out_ids, size_t *out_n)
{
	struct {
		char **ids;
		size_t n;
	} rr = { NULL, 0 }, *r = &rr;
	json_t *ids = json_object_get(c->params, "InstanceIds"), *v;
	struct buf unknown, offline, refused;
	const char *run_as = run_as_of(c);
	size_t i;
	int rc = 0;

	if (!ids || json_array_size(ids) == 0) {
		tat_fail(c, "MissingParameter", "The parameter `InstanceIds` is missing.");
		return -1;
	}
	if (json_array_size(ids) > TAT_MAX_INSTANCES) {
		tat_fail(c, "InvalidParameterValue.LimitExceeded",
			 "At most %d InstanceIds are allowed, not %zu.", TAT_MAX_INSTANCES,
			 json_array_size(ids));
		return -1;
	}
	r->ids = calloc(json_array_size(ids), sizeof *r->ids);
	if (!r->ids) {
		tat_fail(c, "InternalError", "out of memory");
		return -1;
	}
	buf_init(&unknown, 8192);
	buf_init(&offline, 8192);
	buf_init(&refused, 8192);
	json_array_foreach(ids, i, v) {
		const char *id = json_string_value(v);
		struct client *cl;
		bool dup = false;

		if (!*id || strlen(id) > 128) {
			tat_fail(c, "InvalidParameterValue.InvalidInstanceId",
				 "The instance id `%.128s` is not valid.", id);
			rc = -1;
			goto out;
		}
		for (size_t j = 0; j < r->n; j++)
			dup |= !strcmp(r->ids[j], id);
		if (dup)
			continue;
		r->ids[r->n] = strdup(id);
		if (!r->ids[r->n]) {
			tat_fail(c, "InternalError", "out of memory");
			rc = -1;
			goto out;
		}
		r->n++;
		cl = registry_find(c->srv->registry, id);
		/* Instances a user may not use are, to that user, not there. */
		if (!cl || !invoke_client_allowed(c->srv, c->user, cl))
			buf_appendf(&unknown, "%s%s", unknown.len ? ", " : "", id);
		else if (!registry_client_connected(cl))
			buf_appendf(&offline, "%s%s", offline.len ? ", " : "", id);
		else if (run_as && !run_as_allowed(cl, run_as))
			buf_appendf(&refused, "%s%s", refused.len ? ", " : "", id);
	}
	if (unknown.len) {
		tat_fail(c, "ResourceNotFound.InstanceNotFound", "The instances are not found: %s.",
			 unknown.data);
		rc = -1;
	} else if (offline.len) {
		tat_fail(c, "ResourceUnavailable.AgentStatusNotOnline",
			 "The agents of these instances are not online: %s.", offline.data);
		rc = -1;
	} else if (refused.len) {
		tat_fail(c, "InvalidParameterValue.InvalidUsername",
			 "The user `%s` is not allowed on these instances (their agents' "
			 "[remote-commands] run_as): %s.", run_as, refused.data);
		rc = -1;
	}
out:
	buf_free(&unknown);
	buf_free(&offline);
	buf_free(&refused);
	/* Set even on failure: the caller frees what was taken. */
	*out_ids = r->ids;
	*out_n = r->n;
	return rc;
}

static int ids_apply(struct store *st, void *arg)
{
	struct run *r = arg;
	const char *user = r->c->user;
	/* An invocation's parent is its command; a task's, its invocation. */
	struct tat_id_row row = { r->inv, "inv", r->core_id, r->cmd, "", user, r->created_at };
	int rc = store_tat_id_put(st, &row);

	row.kind = "invt";
	row.parent = r->inv;
	for (size_t i = 0; !rc && i < r->n; i++) {
		row.id = r->tasks[i];
		row.client_id = r->ids[i];
		rc = store_tat_id_put(st, &row);
	}
	return rc;
}

/* All the rows or none. */
static int ids_apply_all(struct store *st, void *arg)
{
	return store_atomic(st, ids_apply, arg);
}

static void ids_after(void *arg, int rc)
{
	struct run *r = arg;

	if (rc)
		tat_fail(r->c, "InternalError",
			 "The invocation runs (tether job %s) but its TAT ids were not stored.",
			 r->core_id);
	else
		tat_reply(r->c, json_pack("{s:s, s:s}", "CommandId", r->cmd, "InvocationId",
					  r->inv));
	run_free(r);
}

static void run_submitted(void *ud, int rc, const char *id, const struct invoke_error *ie)
{
	struct run *r = ud;

	if (rc) {
		tat_fail(r->c, "InternalError", "The invocation was not stored (%d).",
			 ie ? (int)ie->code : 0);
		run_free(r);
		return;
	}
	util_strlcpy(r->core_id, id, sizeof r->core_id);
	store_queue(r->c->srv->store, ids_apply_all, ids_after, r);
}

static void invoke_fail(struct tat_call *c, const struct invoke_error *ie)
{
	switch (ie->code) {
	case INVOKE_COMMAND_EMPTY:
		tat_fail(c, "InvalidParameterValue.InvalidContent", "Content is empty.");
		return;
	case INVOKE_COMMAND_TOO_LONG:
		tat_fail(c, "InvalidParameterValue.TooLong", "The command is too long.");
		return;
	case INVOKE_CWD_TOO_LONG:
		tat_fail(c, "InvalidParameterValue.InvalidWorkingDirectory",
			 "WorkingDirectory is too long.");
		return;
	case INVOKE_TIMEOUT_INVALID:
		tat_fail(c, "InvalidParameterValue.Range", "Timeout must be in [1, 86400].");
		return;
	case INVOKE_TARGETS:
	case INVOKE_FORBIDDEN:
		tat_fail(c, "ResourceNotFound.InstanceNotFound", "The instance `%s` is not found.",
			 ie->subject);
		return;
	default:
		tat_fail(c, "InternalError", "The invocation cannot be made (%d).", (int)ie->code);
		return;
	}
}

/* The checks of the optional fields. Returns 0, or -1 having answered. */
int tat_fields_check(struct tat_call *c, bool saving)
{
	const char *name = tat_param_str(c, "CommandName"), *desc = tat_param_str(c, "Description");
	const char *type = tat_param_str(c, "CommandType"), *cwd = tat_param_str(c, "WorkingDirectory");
	const char *user = tat_param_str(c, "Username");
	json_t *timeout = json_object_get(c->params, "Timeout");
	json_t *tags = json_object_get(c->params, "Tags");

	if (name && !tat_name_ok(name)) {
		tat_fail(c, "InvalidParameterValue.InvalidCommandName",
			 "CommandName is 1 to 60 bytes of [a-zA-Z0-9_.-].");
		return -1;
	}
	if (desc && utf8_chars(desc) > 120) {
		tat_fail(c, "InvalidParameterValue.TooLong",
			 "Description is at most 120 characters.");
		return -1;
	}
	if (type && !strcmp(type, "POWERSHELL")) {
		tat_fail(c, "InvalidParameterValue.AgentUnsupportedCommandType",
			 "tether's agents run SHELL commands only.");
		return -1;
	}
	if (type && strcmp(type, "SHELL")) {
		tat_fail(c, "InvalidParameterValue",
			 "CommandType must be SHELL or POWERSHELL, not `%.32s`.", type);
		return -1;
	}
	if (cwd && (cwd[0] != '/' || strlen(cwd) >= INVOKE_MAX_CWD_LEN)) {
		tat_fail(c, "InvalidParameterValue.InvalidWorkingDirectory",
			 "WorkingDirectory must be an absolute path.");
		return -1;
	}
	if (timeout && (json_integer_value(timeout) < 1 || json_integer_value(timeout) > 86400)) {
		tat_fail(c, "InvalidParameterValue.Range",
			 "Timeout must be in [1, 86400], not %lld.",
			 (long long)json_integer_value(timeout));
		return -1;
	}
	if (json_array_size(tags) > 10) {
		tat_fail(c, "InvalidParameterValue.LimitExceeded", "At most 10 Tags are allowed.");
		return -1;
	}
	if (json_array_size(tags) && !saving) {
		tat_fail(c, "InvalidParameter", "Tags are kept only with SaveCommand true.");
		return -1;
	}
	for (size_t i = 0; i < json_array_size(tags); i++) {
		const json_t *t = json_array_get(tags, i);
		const char *k = json_string_value(json_object_get(t, "Key"));
		const char *v = json_string_value(json_object_get(t, "Value"));

		if (!k || !v || !*k || strlen(k) > 127 || strlen(v) > 255 ||
		    json_object_size(t) != 2) {
			tat_fail(c, "InvalidParameterValue.InvalidTag",
				 "A Tag is {\"Key\": 1 to 127 bytes, \"Value\": at most 255}.");
			return -1;
		}
	}
	if (user && !username_ok(user)) {
		tat_fail(c, "InvalidParameterValue.InvalidUsername",
			 "`%.64s` is not a user name.", user);
		return -1;
	}
	if ((tat_param_str(c, "OutputCOSBucketUrl") && *tat_param_str(c, "OutputCOSBucketUrl")) ||
	    (tat_param_str(c, "OutputCOSKeyPrefix") && *tat_param_str(c, "OutputCOSKeyPrefix"))) {
		tat_fail(c, "InvalidParameterValue.InvalidOutputCOSBucketUrl",
			 "tether keeps output on the server; COS upload is not supported.");
		return -1;
	}
	return 0;
}

json_t *tat_run_metadata(const struct tat_run_meta *r)
{
	json_t *m = json_object(), *t = json_object();
	const char *k[] = { "CommandName", "Description", "Parameters", "DefaultParameters" };
	const char *v[] = { r->name, r->description, r->parameters, r->defaults };

	json_object_set_new(t, "InvocationId", json_string(r->inv));
	json_object_set_new(t, "CommandId", json_string(r->cmd));
	json_object_set_new(t, "CommandContent", json_string(r->content_b64));
	json_object_set_new(t, "CommandType", json_string("SHELL"));
	json_object_set_new(t, "WorkingDirectory", json_string(r->cwd));
	json_object_set_new(t, "Timeout", json_integer(r->timeout));
	json_object_set_new(t, "Username", json_string(r->username ? r->username : "root"));
	json_object_set_new(t, "EnableParameter", json_boolean(r->enable));
	for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
		json_object_set_new(t, k[i], json_string(v[i] ? v[i] : (i >= 2 ? "{}" : "")));
	if (r->invoker)
		json_object_set_new(t, "InvokerId", json_string(r->invoker));
	json_object_set_new(t, "InvocationSource", json_string(r->invoker ? "INVOKER" : "USER"));
	json_object_set_new(m, "tat", t);
	return m;
}

/* What TAT's Describe actions show of the invocation, kept in its record. */
static json_t *run_metadata(struct tat_call *c, const struct run *r, const char *content_b64,
			    const char *cwd, int64_t timeout)
{
	struct tat_run_meta m = {
		.inv = r->inv, .cmd = r->cmd, .content_b64 = content_b64, .cwd = cwd,
		.timeout = timeout, .username = run_as_of(c),
		.enable = json_is_true(json_object_get(c->params, "EnableParameter")),
		.name = tat_param_str(c, "CommandName"), .description = tat_param_str(c, "Description"),
		.parameters = tat_param_str(c, "Parameters"),
		.defaults = tat_param_str(c, "DefaultParameters"),
	};

	return tat_run_metadata(&m);
}

/* Makes and submits the invocation of r (its ids set, its command
 * rendered); answers the call and frees r in the end. */
static void run_go(struct run *r)
{
	struct tat_call *c = r->c;
	const char *cwd = tat_param_str(c, "WorkingDirectory");
	json_t *timeout = json_object_get(c->params, "Timeout"), *meta = NULL;
	const char *b64 = tat_param_str(c, "Content");
	struct invocation_request req;
	struct invocation *inv = NULL;
	struct invoke_error ie;
	int64_t tsec = timeout ? json_integer_value(timeout) : 60;

	r->created_at = util_now_ns();
	memset(&req, 0, sizeof req);
	req.dialect = "tat";
	req.targets.client_ids = (const char *const *)r->ids;
	req.targets.nclient_ids = r->n;
	req.command = r->command;
	req.cwd = cwd ? cwd : "/root";
	req.run_as = run_as_of(c);
	req.kill_on_timeout = true;
	req.timeout_sec = tsec;
	req.concurrent = true;
	req.abort_on_error = false;
	req.metadata = meta = run_metadata(c, r, b64, req.cwd, tsec);
	req.created_by = c->user;
	req.peer = net_http_peer(c->req);
	req.audit_application = "client.command";
	req.audit_request = c->params;
	if (invoke_prepare(c->srv, &req, &inv, &ie)) {
		json_decref(meta);
		invoke_fail(c, &ie);
		run_free(r);
		return;
	}
	json_decref(meta);
	invoke_submit(c->srv, inv, run_submitted, r);
}

/* SaveCommand: the command saved (or not, the call answered). */
static void run_saved(struct tat_call *c, void *ud, bool saved)
{
	struct run *r = ud;

	(void)c;
	if (!saved) {
		run_free(r);
		return;
	}
	run_go(r);
}

void tat_run_command(struct tat_call *c)
{
	const char *b64 = tat_param_str(c, "Content");
	bool save = json_is_true(json_object_get(c->params, "SaveCommand"));
	struct run *r = NULL;
	char *text, *command;
	size_t len = 0;

	if (!b64) {
		tat_fail(c, "MissingParameter", "The parameter `Content` is missing.");
		return;
	}
	if (tat_fields_check(c, save))
		return;
	if (save && tat_defaults_check(c))
		return;
	if (!(text = tat_content_decode(c, b64, &len)))
		return;
	command = tat_content_render(c, text, len,
				     json_is_true(json_object_get(c->params, "EnableParameter")),
				     tat_param_str(c, "DefaultParameters"), tat_param_str(c, "Parameters"));
	if (!command)
		return;
	r = calloc(1, sizeof *r);
	if (!r) {
		free(command);
		tat_fail(c, "InternalError", "out of memory");
		return;
	}
	r->c = c;
	r->command = command;
	if (instances_of(c, r))
		goto fail;
	r->tasks = calloc(r->n, sizeof *r->tasks);
	if (!r->tasks) {
		tat_fail(c, "InternalError", "out of memory");
		goto fail;
	}
	tat_new_id("inv", r->inv);
	if (c->cmd_id[0])
		util_strlcpy(r->cmd, c->cmd_id, sizeof r->cmd);
	else
		tat_new_id("cmd", r->cmd);
	for (size_t i = 0; i < r->n; i++)
		tat_new_id("invt", r->tasks[i]);
	if (save) {
		tat_command_save(c, r->cmd, run_saved, r);
		return;
	}
	run_go(r);
	return;
fail:
	run_free(r);
}

/* ---- PreviewReplacedCommandContent -------------------------------------- */

void tat_preview(struct tat_call *c)
{
	const char *b64 = tat_param_str(c, "Content");
	char *text, *out;
	size_t len = 0;

	if (tat_param_str(c, "CommandId") && b64) {
		tat_fail(c, "InvalidParameter", "Give exactly one of CommandId and Content.");
		return;
	}
	if (tat_param_str(c, "CommandId")) {
		tat_preview_saved(c);
		return;
	}
	if (!b64) {
		tat_fail(c, "MissingParameter", "Give one of CommandId and Content.");
		return;
	}
	if (!(text = tat_content_decode(c, b64, &len)))
		return;
	out = tat_content_render(c, text, len, true, NULL,
			     tat_param_str(c, "Parameters") ? tat_param_str(c, "Parameters") : "{}");
	if (!out)
		return;
	tat_preview_reply(c, out);
}

void tat_preview_reply(struct tat_call *c, char *out)
{
	char *enc = tat_b64(out, strlen(out));

	free(out);
	if (!enc) {
		tat_fail(c, "InternalError", "out of memory");
		return;
	}
	tat_reply(c, json_pack("{s:s}", "ReplacedContent", enc));
	free(enc);
}

/* ---- CancelInvocation --------------------------------------------------- */

struct cancel {
	struct tat_call *c;
	char core_id[UUID_STR_LEN];
	const json_t *only;       /* InstanceIds, or NULL: all */
	int n;
};

static bool cancel_wanted(const struct cancel *k, const char *client_id)
{
	size_t i;
	json_t *v;

	if (!k->only)
		return true;
	json_array_foreach(k->only, i, v)
		if (!strcmp(json_string_value(v), client_id))
			return true;
	return false;
}

static void cancel_each(void *ud, const char *client_id, const char *jid, const char *status)
{
	struct cancel *k = ud;
	struct client *cl;

	if (strcmp(status, "running") || !cancel_wanted(k, client_id))
		return;
	cl = registry_find(k->c->srv->registry, client_id);
	if (cl && registry_cancel(k->c->srv->registry, cl, jid, k->c->user) == 0)
		k->n++;
}

static void cancel_audit(struct cancel *k)
{
	struct audit_entry e = {
		.username = k->c->user,
		.remote_ip = net_http_peer(k->c->req),
		.application = "client.command",
		.action = "cancel",
		.affected_id = k->core_id,
		.client_id = "",
		.request = k->c->params,
		.success = true,
	};

	audit_queue(k->c->srv, &e);
}

static void cancel_children_done(void *ud, int rc)
{
	struct cancel *k = ud;

	if (rc)
		tat_fail(k->c, "InternalError", "The invocation's tasks cannot be read.");
	else if (!k->n)
		tat_fail(k->c, "UnsupportedOperation",
			 "No task of the invocation is running on these instances.");
	else
		tat_reply(k->c, NULL);
	free(k);
}

static void cancel_found(void *ud, int rc, json_t *rows, int64_t total)
{
	struct cancel *k = ud;
	struct tat_call *c = k->c;
	int n;

	(void)total;
	if (rc || json_array_size(rows) == 0) {
		if (rc && rc != TE_NOTFOUND)
			tat_fail(c, "InternalError", "The invocation cannot be read.");
		else
			tat_fail(c, "ResourceNotFound.InvocationNotFound",
				 "The invocation `%s` is not found.", tat_param_str(c, "InvocationId"));
		json_decref(rows);
		free(k);
		return;
	}
	util_strlcpy(k->core_id,
		     json_string_value(json_object_get(json_array_get(rows, 0), "core_id")),
		     sizeof k->core_id);
	json_decref(rows);
	cancel_audit(k);
	if (k->only) {
		store_read_each_child(c->srv->store, k->core_id, cancel_each, cancel_children_done,
				      k);
		return;
	}
	n = fanout_cancel(c->srv->fanout, k->core_id, c->user);
	free(k);
	if (n == TE_NOTFOUND || n == 0)
		tat_fail(c, "UnsupportedOperation",
			 "The invocation has finished: nothing is left to cancel.");
	else
		tat_reply(c, NULL);
}

void tat_cancel_invocation(struct tat_call *c)
{
	const char *id = tat_param_str(c, "InvocationId");
	struct tat_id_query q;
	struct cancel *k;

	if (!id) {
		tat_fail(c, "MissingParameter", "The parameter `InvocationId` is missing.");
		return;
	}
	k = calloc(1, sizeof *k);
	if (!k) {
		tat_fail(c, "InternalError", "out of memory");
		return;
	}
	k->c = c;
	k->only = json_array_size(json_object_get(c->params, "InstanceIds")) ?
			  json_object_get(c->params, "InstanceIds") : NULL;
	memset(&q, 0, sizeof q);
	q.kind = "inv";
	q.ids[0] = id;
	q.nids = 1;
	q.created_by = c->admin ? NULL : c->user;
	q.limit = 1;
	store_read_tat_ids(c->srv->store, &q, cancel_found, k);
}
