/* actions: POST /api/endpoint/action/execute and /cancel, GET the details
 * of an action, the action list and action_status, over the core's
 * invocations (one core, two faces: the same action is rport's multi job
 * /api/v1/commands/{id}). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fanout.h"
#include "core/invoke.h"
#include "core/registry.h"
#include "dialects/elastic/elastic_priv.h"
#include "util.h"

#define ES_MAX_COMMAND 8192

static const char *const agent_types[] = {
	"endpoint", "sentinel_one", "crowdstrike", "microsoft_defender_endpoint", NULL,
};

/* config-schema's name of a JSON value's type. */
static const char *type_name(const json_t *v)
{
	if (!v)
		return "undefined";
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "Object";
	case JSON_ARRAY: return "Array";
	case JSON_STRING: return "string";
	case JSON_INTEGER:
	case JSON_REAL: return "number";
	case JSON_TRUE:
	case JSON_FALSE: return "boolean";
	default: return "null";
	}
}

static bool blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r' && *s != '\f' && *s != '\v')
			return false;
	return true;
}

/* An array of 1..max non-blank strings. Returns 0 or -1 with msg. */
static int check_ids(const json_t *v, const char *field, size_t max, char *msg, size_t len)
{
	size_t i;
	const json_t *e;

	if (!json_is_array(v)) {
		snprintf(msg, len, "[request body.%s]: expected value of type [array] but got [%s]",
			 field, type_name(v));
		return -1;
	}
	if (json_array_size(v) < 1 || json_array_size(v) > max) {
		snprintf(msg, len, "[request body.%s]: array size is [%zu], but cannot be %s than [%zu]",
			 field, json_array_size(v), json_array_size(v) < 1 ? "smaller" : "greater",
			 json_array_size(v) < 1 ? (size_t)1 : max);
		return -1;
	}
	json_array_foreach(v, i, e) {
		if (!json_is_string(e)) {
			snprintf(msg, len,
				 "[request body.%s.%zu]: expected value of type [string] but got [%s]",
				 field, i, type_name(e));
			return -1;
		}
		if (blank(json_string_value(e)) || json_string_length(e) > 256) {
			snprintf(msg, len, "[request body.%s.%zu]: %s cannot contain %s", field, i, field,
				 json_string_length(e) > 256 ? "strings over 256 characters" :
							       "empty strings");
			return -1;
		}
	}
	return 0;
}

/* Kibana's execute body schema (execute.ts, base.ts) in its words.
 * Returns 0 or -1 with msg. */
static int check_execute(const json_t *b, char *msg, size_t len)
{
	static const char *const keys[] = { "endpoint_ids", "agent_type", "alert_ids", "case_ids",
					    "comment", "parameters", NULL };
	const json_t *p = json_object_get(b, "parameters"), *v;
	const char *k;
	size_t i;

	json_object_foreach((json_t *)b, k, v) {
		for (i = 0; keys[i] && strcmp(keys[i], k); i++)
			;
		if (!keys[i]) {
			snprintf(msg, len, "[request body.%.100s]: definition for this key is missing", k);
			return -1;
		}
	}
	if (check_ids(json_object_get(b, "endpoint_ids"), "endpoint_ids", ES_MAX_AGENTS, msg, len))
		return -1;
	if ((v = json_object_get(b, "agent_type"))) {
		const char *t = json_string_value(v);

		for (i = 0; t && agent_types[i] && strcmp(agent_types[i], t); i++)
			;
		if (!t || !agent_types[i]) {
			snprintf(msg, len,
				 "[request body.agent_type]: expected one of [endpoint, sentinel_one, "
				 "crowdstrike, microsoft_defender_endpoint] but got [%.64s]",
				 t ? t : type_name(v));
			return -1;
		}
		if (strcmp(t, "endpoint")) {
			snprintf(msg, len, "[request body.agent_type]: tether serves agent_type "
					   "[endpoint] only, got [%s]", t);
			return -1;
		}
	}
	if ((v = json_object_get(b, "alert_ids")) && check_ids(v, "alert_ids", 1000, msg, len))
		return -1;
	if ((v = json_object_get(b, "case_ids")) && check_ids(v, "case_ids", 1000, msg, len))
		return -1;
	if ((v = json_object_get(b, "comment")) && !json_is_string(v)) {
		snprintf(msg, len, "[request body.comment]: expected value of type [string] but got [%s]",
			 type_name(v));
		return -1;
	}
	if (!json_is_object(p)) {
		snprintf(msg, len,
			 "[request body.parameters]: expected a plain object value, but found [%s] instead.",
			 p ? type_name(p) : "undefined");
		return -1;
	}
	json_object_foreach((json_t *)p, k, v) {
		if (strcmp(k, "command") && strcmp(k, "timeout")) {
			snprintf(msg, len,
				 "[request body.parameters.%.100s]: definition for this key is missing", k);
			return -1;
		}
	}
	v = json_object_get(p, "command");
	if (!json_is_string(v)) {
		snprintf(msg, len,
			 "[request body.parameters.command]: expected value of type [string] but got [%s]",
			 type_name(v));
		return -1;
	}
	if (json_string_length(v) < 1 || json_string_length(v) > ES_MAX_COMMAND) {
		snprintf(msg, len,
			 "[request body.parameters.command]: value has length [%zu] but it must have a "
			 "%s length of [%d].",
			 json_string_length(v), json_string_length(v) < 1 ? "minimum" : "maximum",
			 json_string_length(v) < 1 ? 1 : ES_MAX_COMMAND);
		return -1;
	}
	if (blank(json_string_value(v)) || strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(msg, len, "[request body.parameters.command]: %s",
			 blank(json_string_value(v)) ? "command cannot be an empty string" :
						       "command cannot contain NUL");
		return -1;
	}
	if ((v = json_object_get(p, "timeout"))) {
		if (!json_is_number(v)) {
			snprintf(msg, len,
				 "[request body.parameters.timeout]: expected value of type [number] but got [%s]",
				 type_name(v));
			return -1;
		}
		if (json_number_value(v) < 1) {
			snprintf(msg, len, "[request body.parameters.timeout]: Value must be equal to "
					   "or greater than [1].");
			return -1;
		}
		if (json_number_value(v) > JOB_MAX_TIMEOUT_SEC) {
			snprintf(msg, len, "[request body.parameters.timeout]: Value must be equal to "
					   "or lower than [%lld].", (long long)JOB_MAX_TIMEOUT_SEC);
			return -1;
		}
	}
	return 0;
}

/* ---- details ------------------------------------------------------- */

static void details_read(void *ud, int rc, const json_t *rec, const struct job_rows *rows)
{
	struct es_call *call = ud;
	enum es_status s;

	if (rc == TE_NOTFOUND || (rc == 0 && !es_visible(call, json_string_value(
					     json_object_get(rec, "created_by"))))) {
		/* Another user's action is not found for this user. */
		es_reply_errorf(call, 404, "Action with id '%.64s' not found.", call->params[0]);
		return;
	}
	if (rc) {
		es_reply_error(call, 500, "the action could not be read");
		return;
	}
	es_reply(call, 200, json_pack("{s:o}", "data", es_action_json(call->srv, rec, rows, true,
								    util_now_ns(), &s)));
}

void es_details(struct es_call *call)
{
	es_action_read(call->srv, call->params[0], ES_OUTPUT_BUDGET, details_read, call);
}

/* ---- execute --------------------------------------------------------- */

static void execute_submitted(void *ud, int rc, const char *id, const struct invoke_error *ie)
{
	struct es_call *call = ud;

	if (rc) {
		es_reply_errorf(call, ie->code == INVOKE_KEY_IN_USE ? 409 : 500,
				"the action could not be stored (%d)", (int)ie->code);
		return;
	}
	/* The answer is the details as they are now: pending. */
	util_strlcpy((char *)call->pathbuf, id, UUID_STR_LEN);
	call->params[0] = call->pathbuf;
	es_action_read(call->srv, id, 0, details_read, call);
}

static void reply_invoke_err(struct es_call *call, const struct invoke_error *ie)
{
	switch (ie->code) {
	case INVOKE_FORBIDDEN:
		es_reply_error(call, 403, "Endpoint authorization failure");
		break;
	case INVOKE_TARGETS:
		if (ie->target == TARGET_CLIENT_UNKNOWN)
			es_reply_errorf(call, 400,
					"The host does not have Elastic Defend integration installed "
					"(endpoint id '%.64s' is no tether client)", ie->subject);
		else
			es_reply_errorf(call, 400, "[request body.endpoint_ids]: %s",
					ie->target == TARGET_TOO_MANY ? "too many endpoint ids" :
									"invalid endpoint ids");
		break;
	case INVOKE_COMMAND_TOO_LONG:
	case INVOKE_COMMAND_EMPTY:
		es_reply_error(call, 400, "[request body.parameters.command]: invalid command");
		break;
	case INVOKE_TIMEOUT_INVALID:
		es_reply_error(call, 400, "[request body.parameters.timeout]: invalid timeout");
		break;
	case INVOKE_INTERPRETER_UNKNOWN:
		es_reply_errorf(call, 400, "endpoint '%.64s' has no shell to run the command",
				ie->subject);
		break;
	default:
		es_reply_errorf(call, 500, "the action could not be created (%d)", (int)ie->code);
		break;
	}
}

/* bash where every known target offers it, else the agent's default. */
static const char *shell_for(struct server *srv, const json_t *ids)
{
	size_t i;
	const json_t *v;

	json_array_foreach(ids, i, v) {
		struct client *c = registry_find(srv->registry, json_string_value(v));

		if (c && !registry_client_has_interpreter(c, "bash"))
			return NULL;
	}
	return "bash";
}

void es_execute(struct es_call *call)
{
	size_t len, n, i;
	const char *text = net_http_body(call->req, &len);
	json_error_t jerr;
	json_t *b = len ? json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
	json_t *ids, *p, *meta, *params;
	const char **idv = NULL;
	struct invocation_request req;
	struct invocation *inv = NULL;
	struct invoke_error ie;
	char msg[600];
	int64_t timeout;
	const char *shell;

	if (!json_is_object(b)) {
		json_decref(b);
		es_reply_errorf(call, 400, "[request body]: expected a plain object value, but found "
					   "[%s] instead.", len ? "invalid JSON" : "null");
		return;
	}
	if (check_execute(b, msg, sizeof msg)) {
		json_decref(b);
		es_reply_error(call, 400, msg);
		return;
	}
	ids = json_object_get(b, "endpoint_ids");
	p = json_object_get(b, "parameters");
	timeout = json_is_number(json_object_get(p, "timeout")) ?
			  (int64_t)json_number_value(json_object_get(p, "timeout")) : 0;
	if (timeout <= 0)
		timeout = ES_DEFAULT_TIMEOUT_SEC;
	n = json_array_size(ids);
	idv = calloc(n, sizeof *idv);
	/* Kibana's stored parameters: the command and the timeout it runs with. */
	params = json_pack("{s:O, s:I}", "command", json_object_get(p, "command"), "timeout",
			   (json_int_t)timeout);
	shell = shell_for(call->srv, ids);
	meta = json_pack("{s:O, s:{s:s, s:o, s:s}}", "client_ids", ids, "elastic", "agent_type",
			 "endpoint", "parameters", params, "shell", shell ? shell : "sh");
	if (!idv || !meta) {
		free(idv);
		json_decref(meta);
		json_decref(b);
		es_reply_error(call, 500, "out of memory");
		return;
	}
	if (json_object_get(b, "alert_ids"))
		json_object_set(json_object_get(meta, "elastic"), "alert_ids",
				json_object_get(b, "alert_ids"));
	if (json_object_get(b, "case_ids"))
		json_object_set(json_object_get(meta, "elastic"), "case_ids",
				json_object_get(b, "case_ids"));
	for (i = 0; i < n; i++)
		idv[i] = json_string_value(json_array_get(ids, i));
	memset(&req, 0, sizeof req);
	req.targets.client_ids = idv;
	req.targets.nclient_ids = n;
	req.command = json_string_value(json_object_get(p, "command"));
	req.interpreter = shell;
	req.kill_on_timeout = true;      /* Elastic kills the command at its timeout */
	/* An offline host's action is pending until it connects, and expires
	 * (isExpired) after [elastic] action_expiry_sec: two weeks, as Elastic. */
	req.queue_offline = true;
	req.expires_in_sec = call->srv->cfg.elastic_action_expiry_sec;
	if (req.expires_in_sec > call->srv->cfg.queue_expiry_max_sec)
		req.expires_in_sec = call->srv->cfg.queue_expiry_max_sec;
	req.dialect = "elastic";
	req.timeout_sec = timeout;
	/* Elastic keeps far more than rport's 4 MiB per stream: the full
	 * output goes to files, the zip is made from them (files.c). */
	req.output_cap_bytes = call->srv->cfg.elastic_output_cap;
	req.concurrent = true;           /* every endpoint at once, as Elastic */
	req.abort_on_error = false;
	req.comment = json_string_value(json_object_get(b, "comment"));
	req.metadata = meta;
	req.created_by = call->user;
	req.peer = net_http_peer(call->req);
	req.audit_application = "client.command";
	req.audit_request = b;
	if (invoke_prepare(call->srv, &req, &inv, &ie)) {
		free(idv);
		json_decref(meta);
		json_decref(b);
		reply_invoke_err(call, &ie);
		return;
	}
	free(idv);
	json_decref(meta);
	json_decref(b);
	/* pathbuf holds the new id for the answer (execute has no {}). */
	free(call->pathbuf);
	call->pathbuf = calloc(1, UUID_STR_LEN);
	if (!call->pathbuf) {
		invocation_free(inv);
		es_reply_error(call, 500, "out of memory");
		return;
	}
	invoke_submit(call->srv, inv, execute_submitted, call);
}

/* ---- cancel ---------------------------------------------------------- */

static void cancel_read(void *ud, int rc, const json_t *rec, const struct job_rows *rows)
{
	struct es_call *call = ud;
	enum es_status s;
	int n;

	if (rc == TE_NOTFOUND || (rc == 0 && !es_visible(call, json_string_value(
					     json_object_get(rec, "created_by"))))) {
		es_reply_errorf(call, 404, "Action with id '%.64s' not found.", call->params[0]);
		return;
	}
	if (rc) {
		es_reply_error(call, 500, "the action could not be read");
		return;
	}
	n = fanout_cancel(call->srv->fanout, call->params[0], call->user);
	if (n == TE_NOTFOUND) {
		es_reply_errorf(call, 409, "Action with id '%.64s' has already completed.",
				call->params[0]);
		return;
	}
	es_reply(call, 200, json_pack("{s:o}", "data", es_action_json(call->srv, rec, rows, false,
								    util_now_ns(), &s)));
}

void es_cancel(struct es_call *call)
{
	size_t len;
	const char *text = net_http_body(call->req, &len);
	json_t *b = len ? json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
	const char *id = json_string_value(json_object_get(json_object_get(b, "parameters"), "id"));
	char msg[300];

	if (!json_is_object(b) || !id) {
		json_decref(b);
		es_reply_error(call, 400, "[request body.parameters.id]: expected value of type "
					  "[string] but got [undefined]");
		return;
	}
	if (json_object_get(b, "endpoint_ids") &&
	    check_ids(json_object_get(b, "endpoint_ids"), "endpoint_ids", ES_MAX_AGENTS, msg,
		      sizeof msg)) {
		json_decref(b);
		es_reply_error(call, 400, msg);
		return;
	}
	free(call->pathbuf);
	call->pathbuf = strdup(id);
	json_decref(b);
	if (!call->pathbuf) {
		es_reply_error(call, 500, "out of memory");
		return;
	}
	call->params[0] = call->pathbuf;
	es_action_read(call->srv, call->params[0], 0, cancel_read, call);
}
