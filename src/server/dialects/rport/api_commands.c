/* api_commands: running a command on one client and reading its jobs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "dialects/rport/api.h"
#include "dialects/rport/api_wait.h"
#include "dialects/rport/job_json.h"
#include "core/audit.h"
#include "core/invoke.h"
#include "core/offline.h"
#include "agents/hub.h"
#include "log.h"
#include "store/store.h"
#include "util.h"


/* rport's clients send both command and script, one of them empty. */
/* The fields of a single-client request (commands and scripts). */
static const struct http_field job_fields[] = {
	{ "command", HF_STRING, 0 },
	{ "script", HF_STRING, 0 },
	{ "interpreter", HF_STRING, 0 },
	{ "cwd", HF_STRING, 0 },
	{ "is_sudo", HF_BOOL, 0 },
	{ "timeout_sec", HF_INT, 0 },
	{ "kill_on_timeout", HF_BOOL, 0 },
	{ "delivery_timeout_sec", HF_INT, 0 },
	/* tether: wait for an offline client (docs/api.md) */
	{ "queue_offline", HF_BOOL, 0 },
	{ "expires_in_sec", HF_INT, 0 },
	/* tether: run without a shell (api_job_argv); commands only */
	{ "argv", HF_ARRAY, API_KIND_COMMAND },
	{ "idempotency_key", HF_STRING, 0 },
};

#define MAX_IDEM_KEY_LEN 255

/* The core's invocation errors in rport's words. by_labels: the request
 * targeted by labels (not tags). */
void api_invoke_err(const struct invoke_error *ie, bool by_labels, struct api_err *err)
{
	char t[300], d[400];

	switch (ie->code) {
	case INVOKE_COMMAND_EMPTY:
		api_err_set(err, 400, "Command cannot be empty.",
			    "give \"command\" (a string) or \"argv\" (an array of strings)");
		break;
	case INVOKE_COMMAND_TOO_LONG:
		api_err_set(err, 400, "Command is too long.", "the limit is 65536 bytes");
		break;
	case INVOKE_INTERPRETER_NOT_FOR_COMMANDS:
		api_err_set(err, 400, "Invalid interpreter.",
			    "tacoscript interpreter can't be used for commands execution");
		break;
	case INVOKE_INTERPRETER_INVALID:
		api_err_set(err, 400, "Invalid interpreter.",
			    "an interpreter is a name or an absolute path, without spaces or shell characters");
		break;
	case INVOKE_CWD_TOO_LONG:
		api_err_set(err, 400, "Invalid cwd.", "the limit is 4096 bytes");
		break;
	case INVOKE_TIMEOUT_INVALID:
		snprintf(t, sizeof t, "Invalid %s.", ie->subject);
		snprintf(d, sizeof d, "%s must be between 1 and %lld seconds (30 days), actual: %lld",
			 ie->subject, (long long)JOB_MAX_TIMEOUT_SEC, ie->value);
		api_err_set(err, 400, t, d);
		break;
	case INVOKE_TARGETS:
		api_target_err(ie->target, ie->subject, by_labels, err);
		break;
	case INVOKE_FORBIDDEN:
		snprintf(d, sizeof d, "access to client \"%.128s\" is not allowed", ie->subject);
		api_err_set(err, 403, "forbidden", d);
		break;
	case INVOKE_INTERPRETER_UNKNOWN:
		snprintf(d, sizeof d,
			 "expected interpreter to be one of: [cmd powershell tacoscript], actual: %.256s",
			 ie->subject);
		api_err_set(err, 400, "Invalid interpreter.", d);
		break;
	case INVOKE_LIMIT_NEEDS_CONCURRENT:
		api_err_set(err, 400, "Invalid JSON data.",
			    "max_concurrency needs \"execute_concurrently\": true (sequential mode runs one client at a time)");
		break;
	case INVOKE_LIMIT_INVALID:
		snprintf(d, sizeof d,
			 "%s must be a number (at least %lld) or a percentage like \"10%%\"",
			 ie->subject, ie->value);
		api_err_set(err, 400, "Invalid JSON data.", d);
		break;
	case INVOKE_EXPIRY_INVALID:
		snprintf(d, sizeof d,
			 "expires_in_sec must be between 1 and %lld seconds (the server's "
			 "queue_expiry_max_sec), or 0 for the server's default, actual: %lld",
			 (long long)ie->value_max, ie->value);
		api_err_set(err, 400, "Invalid expires_in_sec.", d);
		break;
	case INVOKE_EXPIRY_NEEDS_QUEUE:
		api_err_set(err, 400, "Invalid expires_in_sec.",
			    "expires_in_sec needs \"queue_offline\": true (without it an offline client "
			    "fails at once)");
		break;
	case INVOKE_KEY_IN_USE:
		api_err_set(err, 409, "Idempotency key in use.", "");
		break;
	case INVOKE_AUDIT_FAILED:
		api_err_set(err, 500, "Failed to write the audit log.", "the job was not started");
		break;
	case INVOKE_STORE_FAILED:
		api_err_set(err, 500, "Failed to store the multi-client job.", "");
		break;
	default:
		api_err_set(err, 500, "Internal error.", "out of memory");
		break;
	}
}

void api_target_err(enum target_error te, const char *subject, bool by_labels,
		    struct api_err *err)
{
	char t[300];

	switch (te) {
	case TARGET_MISSING:
		api_err_set(err, 400, "Missing targeting parameters.",
			    "please specify targeting options, such as client ids, groups ids or tags");
		break;
	case TARGET_MULTIPLE:
		api_err_set(err, 400, "Multiple targeting parameters.",
			    "multiple targeting options are not supported. Please specify only one");
		break;
	case TARGET_TOO_MANY:
		api_err_set(err, 400, "Too many targets.", "at most 100000 client_ids and 1000 group_ids");
		break;
	case TARGET_ID_INVALID:
		api_err_set(err, 400, "Invalid JSON data.", "client_ids must be strings");
		break;
	case TARGET_CLIENT_UNKNOWN:
		snprintf(t, sizeof t, "Client with id=\"%.128s\" not found.", subject);
		api_err_set(err, 404, t, "");
		break;
	case TARGET_GROUP_UNKNOWN:
		snprintf(t, sizeof t, "Unknown group with id=\"%.128s\".", subject);
		api_err_set(err, 400, t, "");
		break;
	case TARGET_GROUP_EMPTY:
		api_err_set(err, 400, "no active clients belong to the selected group(s)", "");
		break;
	case TARGET_SELECTOR_NO_MATCH:
		api_err_set(err, 400, "at least 1 client should be specified",
			    by_labels ? "no client has the given labels" : "no client has the given tags");
		break;
	case TARGET_NONE:
		api_err_set(err, 400, "at least 1 client should be specified", "");
		break;
	default:
		api_err_set(err, 500, "Internal error.", "out of memory");
		break;
	}
}

int api_job_timeouts(const struct server *srv, json_t *body, int64_t *timeout,
		     int64_t *delivery, struct api_err *err)
{
	struct invoke_error ie;

	if (invoke_timeouts(srv, json_integer_value(json_object_get(body, "timeout_sec")),
			    json_integer_value(json_object_get(body, "delivery_timeout_sec")),
			    timeout, delivery, &ie)) {
		api_invoke_err(&ie, false, err);
		return -1;
	}
	return 0;
}

int api_idem_key(json_t *body, const char *route, const char **key,
		 char hash[STORE_IDEM_HASH_LEN], struct api_err *err)
{
	json_t *v = json_object_get(body, "idempotency_key"), *copy;
	unsigned char h[16];
	char *text;
	const char *k;
	size_t n;

	*key = NULL;
	if (!v || json_is_null(v))
		return 0;
	k = json_string_value(v);
	n = json_string_length(v);
	if (!n || n > MAX_IDEM_KEY_LEN || strlen(k) != n) {
		api_err_set(err, 400, "Invalid idempotency_key.",
			    "idempotency_key must be 1 to 255 printable characters");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)k[i] < 0x20 || k[i] == 0x7f) {
			api_err_set(err, 400, "Invalid idempotency_key.",
				    "idempotency_key must be 1 to 255 printable characters");
			return -1;
		}
	}
	/* The request it stands for: the route and the body without the key,
	 * keys sorted. */
	copy = json_deep_copy(body);
	if (copy)
		json_object_del(copy, "idempotency_key");
	text = copy ? json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(copy);
	if (!text) {
		api_err_set(err, 500, "Internal error.", "out of memory");
		return -1;
	}
	{
		crypto_generichash_state st;

		crypto_generichash_init(&st, NULL, 0, sizeof h);
		crypto_generichash_update(&st, (const unsigned char *)route, strlen(route) + 1);
		crypto_generichash_update(&st, (const unsigned char *)text, strlen(text));
		crypto_generichash_final(&st, h, sizeof h);
	}
	free(text);
	sodium_bin2hex(hash, STORE_IDEM_HASH_LEN, h, sizeof h);
	*key = k;
	return 0;
}

/* A request with an idempotency key, waiting for the key's lookup. */
struct idem_wait {
	struct api_call *call;
	json_t *body;
	const char *key;                  /* in body */
	char hash[STORE_IDEM_HASH_LEN];
	api_idem_next next;               /* NULL: only answer a replay */
	void *ud;
};

/* Answers a key already used: the first request's job, or 422 for
 * another request. */
static void idem_answer(struct api_call *call, const char *key, const char *hash,
			const char *jid, const char *first)
{
	char detail[400];

	if (strcmp(first, hash)) {
		snprintf(detail, sizeof detail,
			 "idempotency_key \"%.200s\" was used for another request (job %s)", key, jid);
		api_reply_error(call, 422, "Idempotency key reused.", detail);
		return;
	}
	/* The same request again: its job, nothing new. */
	api_reply_data(call, 200, json_pack("{s:s}", "jid", jid));
}

static void idem_read(void *ud, int rc, const char *jid, const char *first)
{
	struct idem_wait *w = ud;

	if (rc == 0) {
		idem_answer(w->call, w->key, w->hash, jid, first);
	} else if (w->next) {
		/* Unused: the request goes on (the body passes to next). */
		w->next(w->call, w->body, w->key, w->hash, w->ud);
		w->body = NULL;
	} else {
		api_reply_error(w->call, 500, "Failed to store the job.", "");
	}
	json_decref(w->body);
	free(w);
}

void api_idem_begin(struct api_call *call, json_t *body, api_idem_next next, void *ud)
{
	struct api_err err;
	const char *key;
	struct idem_wait *w;
	char hash[STORE_IDEM_HASH_LEN] = "";

	if (api_idem_key(body, net_http_path(call->req), &key, hash, &err)) {
		json_decref(body);
		api_reply_err(call, &err);
		return;
	}
	if (!key) {
		next(call, body, NULL, "", ud);
		return;
	}
	w = calloc(1, sizeof *w);
	if (!w) {
		json_decref(body);
		api_reply_error(call, 500, "Internal error.", "out of memory");
		return;
	}
	w->call = call;
	w->body = body;
	w->key = key;
	util_strlcpy(w->hash, hash, sizeof w->hash);
	w->next = next;
	w->ud = ud;
	/* A repeat of a request with a key gets the first one's job. */
	store_read_idem(call->srv->store, call->user, key, idem_read, w);
}

void api_idem_replay(struct api_call *call, const char *key, const char *hash)
{
	struct idem_wait *w = calloc(1, sizeof *w);

	if (!w) {
		api_reply_error(call, 500, "Failed to store the job.", "");
		return;
	}
	w->call = call;
	w->key = key;
	util_strlcpy(w->hash, hash, sizeof w->hash);
	store_read_idem(call->srv->store, call->user, key, idem_read, w);
}

static void reply_client_not_found(struct api_call *call, const char *id)
{
	char title[256];

	snprintf(title, sizeof title, "Active client with id=\"%.128s\" not found.", id);
	api_reply_error(call, 404, title, "");
}

/* A command's "argv" (tether's field): the program and its arguments, run
 * without a shell. It replaces "command" (both given, or an interpreter
 * with it, is a 400) and is checked as the agent checks it
 * (proto_argv_check). Sets *text to its rendering (the job's command, what
 * the agent's policy sees; caller frees). Returns 0, or -1 with err set. */
static int api_job_argv(json_t *body, json_t *argv, char **text, struct api_err *err)
{
	const char *cmd = json_string_value(json_object_get(body, "command"));
	const char *interp = json_string_value(json_object_get(body, "interpreter"));
	char detail[300];

	if (cmd && *cmd) {
		api_err_set(err, 400, "Command and argv cannot both be given.",
			    "send \"command\" (a string run by the interpreter) or \"argv\" (an array: "
			    "the program and its arguments, run without a shell), not both");
		return -1;
	}
	if (interp && *interp) {
		api_err_set(err, 400, "Invalid interpreter.",
			    "argv runs its program without a shell: \"interpreter\" cannot be used "
			    "with it");
		return -1;
	}
	if (proto_argv_check(argv, detail, sizeof detail)) {
		api_err_set(err, 400, "Invalid argv.", detail);
		return -1;
	}
	*text = proto_argv_render(argv);
	if (!*text) {
		api_err_set(err, 500, "Internal error.", "out of memory");
		return -1;
	}
	return 0;
}

int api_job_validate(json_t *body, bool is_script, const char **command, char **script,
		     struct api_err *err)
{
	const char *interp = json_string_value(json_object_get(body, "interpreter"));
	const char *cwd = json_string_value(json_object_get(body, "cwd"));
	char *dec = NULL;
	const char *cmd;
	const char *other = json_string_value(json_object_get(body, is_script ? "command" : "script"));

	/* rportcli sends both fields, the other one empty; both given is
	 * ambiguous (rport would silently use one). */
	if (other && *other) {
		api_err_set(err, 400, "Command and script cannot both be given.",
			    is_script ? "a script request runs \"script\": send \"command\" empty or not at all" :
					"a command request runs \"command\": send \"script\" empty or not at all");
		return -1;
	}
	if (is_script) {
		if (api_decode_script_err(json_object_get(body, "script"), &dec, err))
			return -1;
		cmd = dec;
	} else if (json_object_get(body, "argv") && !json_is_null(json_object_get(body, "argv"))) {
		if (api_job_argv(body, json_object_get(body, "argv"), &dec, err))
			return -1;
		cmd = dec;
	} else {
		cmd = json_string_value(json_object_get(body, "command"));
	}
	{
		struct invoke_error ie;
		bool from_text = !is_script && !dec;

		/* The core's checks, in the core's order: the command (when it
		 * is the text given), the interpreter, the cwd. */
		if (invoke_check_job(is_script, !from_text, cmd, interp, cwd, &ie)) {
			api_invoke_err(&ie, false, err);
			goto fail;
		}
	}
	*command = cmd;
	*script = dec;
	return 0;
fail:
	free(dec);
	return -1;
}

int api_job_validate_target(const struct client *c, const char *interp, struct api_err *err)
{
	struct invoke_error ie;

	if (invoke_check_interpreter(c, interp, &ie)) {
		api_invoke_err(&ie, false, err);
		return -1;
	}
	return 0;
}

/* The REST answer of a single-client run, in rport's words. */
struct single_reply {
	struct api_call *call;
	const char *idem_key;      /* in body */
	char idem_hash[STORE_IDEM_HASH_LEN];
	json_t *body;
};

static void single_replied(void *ud, enum invoke_outcome o, const char *jid, const char *error)
{
	struct single_reply *r = ud;
	char title[600];

	switch (o) {
	case INVOKE_STARTED:
	case INVOKE_ACCEPTED: {
		/* {"data":{"jid":...}} without a tree: a jid is a UUID's text,
		 * nothing in it to escape. */
		char body[UUID_STR_LEN + 32];
		int n = jid && strspn(jid, "0123456789abcdefABCDEF-") == strlen(jid) ?
				snprintf(body, sizeof body, "{\"data\":{\"jid\":\"%s\"}}", jid) : -1;

		if (n > 0 && (size_t)n < sizeof body)
			api_reply_raw(r->call, 200, "application/json", body, (size_t)n);
		else
			api_reply_data(r->call, 200, json_pack("{s:s}", "jid", jid));
		break;
	}
	case INVOKE_REFUSED:
		snprintf(title, sizeof title, "client error: %.500s", error);
		api_reply_error(r->call, 409, title, "");
		break;
	case INVOKE_NOT_CONNECTED:
		api_reply_error(r->call, 500, "Failed to execute remote command.",
				"client is not connected");
		break;
	case INVOKE_QUEUED:
		/* tether: the client is offline; the job waits for it. */
		api_reply_data(r->call, 200, json_pack("{s:s, s:s}", "jid", jid, "status", "queued"));
		break;
	case INVOKE_KEY_TAKEN:
		/* A twin request took the key first: its job is the answer. */
		api_idem_replay(r->call, r->idem_key, r->idem_hash);
		break;
	default:
		api_reply_error(r->call, 500, "Failed to store the job.", "");
		break;
	}
	json_decref(r->body);
	free(r);
}

static const bool single_script[2] = { false, true };

/* A single-client run whose idempotency key (if any) is unused. */
static void single_go(struct api_call *call, json_t *body, const char *idem_key,
		      const char *idem_hash, void *ud)
{
	struct server *srv = call->srv;
	const char *id = call->params[0];
	bool is_script = *(const bool *)ud;
	struct invocation_request req;
	struct invoke_error ie;
	struct single_reply *r;
	struct client *c;
	char *script = NULL;
	struct api_err aerr;

	memset(&req, 0, sizeof req);
	/* The same checks and words as multi-client jobs (api_multi.c). */
	if (api_job_validate(body, is_script, &req.command, &script, &aerr)) {
		json_decref(body);
		api_reply_err(call, &aerr);
		return;
	}
	c = registry_find(srv->registry, id);
	req.queue_offline = json_is_true(json_object_get(body, "queue_offline"));
	{
		int64_t expiry;

		/* A bad expiry is the request's fault, whatever the client. */
		if (invoke_expiry(srv, req.queue_offline,
				  json_integer_value(json_object_get(body, "expires_in_sec")), &expiry,
				  &ie)) {
			json_decref(body);
			free(script);
			api_invoke_err(&ie, false, &aerr);
			api_reply_err(call, &aerr);
			return;
		}
	}
	if (!c && req.queue_offline) {
		char title[256];

		/* Waiting is for a client the server knows (it said hello once). */
		json_decref(body);
		free(script);
		snprintf(title, sizeof title, "Client with id=\"%.128s\" not found.", id);
		api_reply_error(call, 404, title,
				"queue_offline waits only for a client that has connected before");
		return;
	}
	if (!req.queue_offline && !registry_client_connected(c)) {
		json_decref(body);
		free(script);
		reply_client_not_found(call, id);
		return;
	}
	if (!api_client_allowed(call, c)) {
		json_decref(body);
		free(script);
		api_reply_error(call, 403, "forbidden", "access to this client is not allowed");
		return;
	}
	r = calloc(1, sizeof *r);
	if (!r) {
		json_decref(body);
		free(script);
		api_reply_error(call, 500, "Internal error.", "out of memory");
		return;
	}
	r->call = call;
	r->idem_key = idem_key;
	util_strlcpy(r->idem_hash, idem_hash, sizeof r->idem_hash);
	r->body = body;
	req.argv = script && !is_script ? json_object_get(body, "argv") : NULL;
	req.is_script = is_script;
	req.interpreter = json_string_value(json_object_get(body, "interpreter"));
	req.cwd = json_string_value(json_object_get(body, "cwd"));
	req.is_sudo = json_is_true(json_object_get(body, "is_sudo"));
	req.kill_on_timeout = json_is_true(json_object_get(body, "kill_on_timeout"));
	req.timeout_sec = json_integer_value(json_object_get(body, "timeout_sec"));
	req.delivery_timeout_sec = json_integer_value(json_object_get(body, "delivery_timeout_sec"));
	req.expires_in_sec = json_integer_value(json_object_get(body, "expires_in_sec"));
	req.created_by = call->user;
	req.peer = net_http_peer(call->req);
	req.idempotency_key = idem_key;
	req.request_hash = idem_hash;
	if (invoke_single(srv, c, &req, single_replied, r, &ie)) {
		free(r);
		json_decref(body);
		free(script);
		api_invoke_err(&ie, false, &aerr);
		api_reply_err(call, &aerr);
		return;
	}
	free(script);
}

static void run_single(struct api_call *call, bool is_script)
{
	json_t *body;

	if (api_body_kind(call, job_fields, sizeof job_fields / sizeof job_fields[0],
			  is_script ? API_KIND_SCRIPT : API_KIND_COMMAND, &body))
		return;
	api_idem_begin(call, body, single_go, (void *)&single_script[is_script]);
}

void api_client_commands_post(struct api_call *call)
{
	run_single(call, false);
}

void api_client_scripts_post(struct api_call *call)
{
	run_single(call, true);
}

int api_decode_script_err(json_t *v, char **out, struct api_err *err)
{
	const char *b64 = json_string_value(v);
	size_t len, dlen = 0;
	const char *end = NULL;
	char *dec;

	if (!b64 || !*b64) {
		api_err_set(err, 400, "Missing script body", "");
		return -1;
	}
	len = strlen(b64);
	dec = malloc(len + 1);
	if (!dec) {
		api_err_set(err, 500, "Internal error.", "out of memory");
		return -1;
	}
	if (sodium_base642bin((unsigned char *)dec, len, b64, len, " \t\r\n", &dlen, &end,
			      sodium_base64_VARIANT_ORIGINAL) || (end && *end)) {
		char title[80];

		/* Go's words (what rport answers), with the offset of the
		 * first byte that is not base64. */
		free(dec);
		snprintf(title, sizeof title, "illegal base64 data at input byte %zu",
			 end && *end ? (size_t)(end - b64) : len);
		api_err_set(err, 400, title, "script must be standard base64 (RFC 4648)");
		return -1;
	}
	dec[dlen] = '\0';
	if (!dlen || !dec[strspn(dec, " \t\r\n")]) {
		free(dec);
		api_err_set(err, 400, "Missing script body", "the decoded script is empty");
		return -1;
	}
	if (!util_utf8_valid(dec, dlen)) {
		free(dec);
		api_err_set(err, 400, "Failed to decode script.",
			    "the decoded script must be UTF-8 text without NUL bytes");
		return -1;
	}
	*out = dec;
	return 0;
}

int api_decode_script(struct api_call *call, json_t *v, char **out)
{
	struct api_err err;

	if (api_decode_script_err(v, out, &err)) {
		api_reply_err(call, &err);
		return -1;
	}
	return 0;
}

/* The job to cancel has been read. */
static void cancel_read(void *ud, int rc, struct job_row *job)
{
	struct api_call *call = ud;
	struct server *srv = call->srv;
	char title[300];
	struct client *c;

	if (rc || strcmp(job->client_id, call->params[0])) {
		snprintf(title, sizeof title, "Job[id=\"%.64s\"] not found.", call->params[1]);
		api_reply_error(call, 404, title, "");
		return;
	}
	if (!api_job_visible(call, job->created_by))
		return;
	if (job->status == JOB_QUEUED) {
		char why[300];

		/* Waiting for its client: it ends now, it never runs. */
		snprintf(why, sizeof why, "cancelled by %.128s before it was dispatched", call->user);
		rc = offline_cancel(srv->offline, job->jid, why);
		if (rc == 0) {
			api_audit(call, "client.command", "cancel", call->params[1], job->client_id,
				  true);
			api_reply_data(call, 202, json_pack("{s:s, s:s}", "jid", call->params[1],
							    "status", "cancelling"));
			return;
		}
		snprintf(title, sizeof title,
			 "Job[id=\"%.64s\"] is being dispatched to its client; cancel it again.",
			 call->params[1]);
		api_reply_error(call, 409, title, "");
		return;
	}
	if (job->status != JOB_RUNNING) {
		snprintf(title, sizeof title, "Job[id=\"%.64s\"] is not running (status: %s).",
			 call->params[1], rport_job_status(job->status));
		api_reply_error(call, 409, title, "");
		return;
	}
	c = registry_find(srv->registry, job->client_id);
	if (registry_cancel(srv->registry, c, call->params[1], call->user)) {
		snprintf(title, sizeof title,
			 "Active client with id=\"%.128s\" not found.", job->client_id);
		api_reply_error(call, 409, title,
				"the client is not connected: the job cannot be cancelled now");
		return;
	}
	api_audit(call, "client.command", "cancel", call->params[1], job->client_id, true);
	api_reply_data(call, 202, json_pack("{s:s, s:s}", "jid", call->params[1], "status",
					    "cancelling"));
}

void api_client_commands_delete(struct api_call *call)
{
	store_read_job(call->srv->store, call->params[1], cancel_read, call);
}

static void job_read(void *ud, int rc, struct job_row *job)
{
	struct api_call *call = ud;
	json_t *out;
	char title[128];

	if (rc) {
		snprintf(title, sizeof title, "Job[id=\"%.64s\"] not found.", call->params[1]);
		api_reply_error(call, 404, title, "");
		return;
	}
	if (!api_job_visible(call, job->created_by))
		return;
	hub_job_overlay(call->srv->hub, job);
	if (call->wait_sec > 0 && !call->waited && !job_status_final(job->status)) {
		api_wait_hold(call, call->params[1], call->wait_sec, api_client_commands_get);
		return;
	}
	out = rport_job_json(job);
	api_reply_data(call, 200, out);
}

void api_client_commands_get(struct api_call *call)
{
	if (api_wait_param(call, &call->wait_sec))
		return;
	store_read_job(call->srv->store, call->params[1], job_read, call);
}

void api_client_commands_list(struct api_call *call)
{
	api_jobs_query(call, "client_id", call->params[0]);
}
