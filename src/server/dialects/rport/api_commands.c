/* api_commands: running a command on one client and reading its jobs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "dialects/rport/api.h"
#include "core/audit.h"
#include "agents/hub.h"
#include "log.h"
#include "store/store.h"
#include "util.h"

#define MAX_COMMAND_LEN (64 * 1024)
#define MAX_CWD_LEN 4096

/* rport's clients send both command and script, one of them empty. */
static const struct api_field command_fields[] = {
	{ "command", AF_STRING },
	{ "script", AF_STRING },
	{ "interpreter", AF_STRING },
	{ "cwd", AF_STRING },
	{ "is_sudo", AF_BOOL },
	{ "timeout_sec", AF_INT },
	{ "kill_on_timeout", AF_BOOL },
	{ "delivery_timeout_sec", AF_INT },
	{ "argv", AF_ARRAY },     /* tether: run without a shell (api_job_argv) */
	{ "idempotency_key", AF_STRING },
};

static const struct api_field script_fields[] = {
	{ "script", AF_STRING },
	{ "command", AF_STRING },
	{ "interpreter", AF_STRING },
	{ "cwd", AF_STRING },
	{ "is_sudo", AF_BOOL },
	{ "timeout_sec", AF_INT },
	{ "kill_on_timeout", AF_BOOL },
	{ "delivery_timeout_sec", AF_INT },
	{ "idempotency_key", AF_STRING },
};

#define MAX_IDEM_KEY_LEN 255

int api_job_timeouts(const struct server *srv, json_t *body, int64_t *timeout,
		     int64_t *delivery, struct api_err *err)
{
	static const char *const names[2] = { "timeout_sec", "delivery_timeout_sec" };
	int64_t defaults[2] = { srv->cfg.run_remote_cmd_timeout_sec,
				srv->cfg.delivery_timeout_sec };
	int64_t *out[2] = { timeout, delivery };
	char title[64], detail[200];

	for (int i = 0; i < 2; i++) {
		json_int_t v = json_integer_value(json_object_get(body, names[i]));

		/* rport: timeout_sec <= 0 (or none) is the server's default. The
		 * new field is stricter: only 0 or none means the default. */
		if (v > JOB_MAX_TIMEOUT_SEC || (i == 1 && v < 0)) {
			snprintf(title, sizeof title, "Invalid %s.", names[i]);
			snprintf(detail, sizeof detail,
				 "%s must be between 1 and %lld seconds (30 days), actual: %lld",
				 names[i], (long long)JOB_MAX_TIMEOUT_SEC, (long long)v);
			api_err_set(err, 400, title, detail);
			return -1;
		}
		*out[i] = v > 0 ? v : defaults[i];
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

int api_idem_replay(struct api_call *call, const char *key, const char *hash)
{
	char jid[UUID_STR_LEN], first[STORE_IDEM_HASH_LEN], detail[400];

	if (!key || store_idem_get(call->srv->store, call->user, key, jid, first))
		return 0;
	if (strcmp(first, hash)) {
		snprintf(detail, sizeof detail,
			 "idempotency_key \"%.200s\" was used for another request (job %s)", key, jid);
		api_reply_error(call, 422, "Idempotency key reused.", detail);
		return 1;
	}
	/* The same request again: its job, nothing new. */
	api_reply_data(call, 200, json_pack("{s:s}", "jid", jid));
	return 1;
}

static bool blank(const char *s)
{
	for (; s && *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return false;
	return true;
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
		if (blank(cmd)) {
			api_err_set(err, 400, "Command cannot be empty.",
				    "give \"command\" (a string) or \"argv\" (an array of strings)");
			return -1;
		}
		if (strlen(cmd) > MAX_COMMAND_LEN) {
			api_err_set(err, 400, "Command is too long.", "the limit is 65536 bytes");
			return -1;
		}
	}
	if (interp && *interp) {
		if (!is_script && !strcmp(interp, "tacoscript")) {
			api_err_set(err, 400, "Invalid interpreter.",
				    "tacoscript interpreter can't be used for commands execution");
			goto fail;
		}
		if (strlen(interp) > 256 || strpbrk(interp, " \t\r\n;|&<>`$")) {
			api_err_set(err, 400, "Invalid interpreter.",
				    "an interpreter is a name or an absolute path, without spaces or shell characters");
			goto fail;
		}
	}
	if (cwd && strlen(cwd) > MAX_CWD_LEN) {
		api_err_set(err, 400, "Invalid cwd.", "the limit is 4096 bytes");
		goto fail;
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
	char detail[400];

	/* rport's names pass whatever the agent offers: the agent decides
	 * (and refuses with a client error). tacoscript for a command was
	 * refused before (api_job_validate). Beyond rport: an absolute path,
	 * or a name the agent offers (its built-ins and aliases). */
	if (!interp || !*interp || interp[0] == '/' || !strcmp(interp, "cmd") ||
	    !strcmp(interp, "powershell") || !strcmp(interp, "tacoscript") ||
	    registry_client_has_interpreter(c, interp))
		return 0;
	snprintf(detail, sizeof detail,
		 "expected interpreter to be one of: [cmd powershell tacoscript], actual: %.256s",
		 interp);
	api_err_set(err, 400, "Invalid interpreter.", detail);
	return -1;
}

struct run_ctx {
	struct api_call *call;
	char peer[64];
	struct client *c;
	struct job_spec j;
	char jid[UUID_STR_LEN];
	json_t *body;       /* holds the strings in j */
	char *script;
	const char *idem_key;   /* in body, or NULL */
	char idem_hash[STORE_IDEM_HASH_LEN];
	int reply_status;       /* an error to send once the key is released */
	char reply_title[600];
	char reply_detail[300];
};

static void run_ctx_free(struct run_ctx *rc)
{
	json_decref(rc->body);
	free(rc->script);
	free(rc);
}

/* An error answer means no job for the caller: its idempotency key is
 * released (in the same commit as the verdict when there is one), so a
 * retry with the key runs anew. */
static int release_apply(struct store *st, void *arg)
{
	struct run_ctx *rc = arg;

	return rc->idem_key ? store_idem_delete(st, rc->call->user, rc->idem_key) : 0;
}

static void release_after(void *arg, int err)
{
	struct run_ctx *rc = arg;

	(void)err;
	api_reply_error(rc->call, rc->reply_status, rc->reply_title, rc->reply_detail);
	run_ctx_free(rc);
}

static void reply_released(struct run_ctx *rc, int status, const char *title, const char *detail)
{
	rc->reply_status = status;
	util_strlcpy(rc->reply_title, title, sizeof rc->reply_title);
	util_strlcpy(rc->reply_detail, detail ? detail : "", sizeof rc->reply_detail);
	if (!rc->idem_key) {
		release_after(rc, 0);
		return;
	}
	store_queue(rc->call->srv->store, release_apply, release_after, rc);
}

static void run_started(void *ud, int status, const char *error, int64_t pid)
{
	struct run_ctx *rc = ud;
	struct api_call *call = rc->call;
	char title[600];

	(void)pid;
	if (status == TE_STATE) {
		/* Refused by the agent: final, it never runs. */
		snprintf(title, sizeof title, "client error: %.500s", error ? error : "refused");
		reply_released(rc, 409, title, "");
		return;
	}
	if (status != 0)
		/* The run left the server and no answer came (the connection
		 * dropped, or no start in time): the job is accepted all the
		 * same. It is sent again when the client is back, or ends
		 * "not delivered" after its delivery deadline; it never runs
		 * twice. A 500 here would invite a retry that runs it twice. */
		log_info("api: job %s on '%s' accepted without a start (%s)", rc->jid,
			 rc->j.client_id, error ? error : "no answer");
	api_reply_data(call, 200, json_pack("{s:s}", "jid", rc->jid));
	run_ctx_free(rc);
}

/* The audit record, the job and its idempotency key commit together, or
 * none does. */
static int insert_apply(struct store *st, void *arg)
{
	struct run_ctx *rc = arg;
	struct audit_entry e = { 0 };
	json_t *req, *resp;
	int err;

	if (rc->idem_key) {
		/* A twin request in flight took the key first. */
		err = store_idem_put(st, rc->j.created_by, rc->idem_key, rc->jid, rc->idem_hash,
				     rc->j.created_at);
		if (err)
			return err;
	}
	req = json_pack("{s:s, s:s, s:s, s:b, s:I}", "command", rc->j.command,
			"interpreter", rc->j.interpreter ? rc->j.interpreter : "",
			"cwd", rc->j.cwd ? rc->j.cwd : "", "is_sudo", rc->j.is_sudo,
			"timeout_sec", (json_int_t)rc->j.timeout_sec);
	if (req && rc->j.argv)
		json_object_set(req, "argv", rc->j.argv);
	e.username = rc->j.created_by;
	e.remote_ip = rc->peer;
	e.application = rc->j.is_script ? "client.script" : "client.command";
	e.action = "execute.start";
	e.affected_id = rc->j.jid;
	e.client_id = rc->j.client_id;
	e.request = req;
	resp = json_pack("{s:s}", "jid", rc->j.jid);
	e.response = resp;
	e.success = true;
	err = audit_insert(st, &e);
	json_decref(req);
	json_decref(resp);
	if (err)
		return err;
	return store_job_insert(st, &rc->j);
}

/* The run never left the server: the job is withdrawn for good. */
static int notconn_apply(struct store *st, void *arg)
{
	struct run_ctx *rc = arg;
	struct job_result r = { 0 };
	int err;

	r.status = JOB_FAILED;
	r.error = "client is not connected";
	r.state = "withdrawn";
	r.finished_at = util_now_ns();
	err = store_job_finish(st, rc->jid, NULL, &r);
	if (!err && rc->idem_key)
		err = store_idem_delete(st, rc->call->user, rc->idem_key);
	return err;
}

static void notconn_after(void *arg, int err)
{
	struct run_ctx *rc = arg;

	(void)err;
	api_reply_error(rc->call, 500, "Failed to execute remote command.",
			"client is not connected");
	run_ctx_free(rc);
}

/* The job is durable: now send it. */
static void insert_after(void *arg, int err)
{
	struct run_ctx *rc = arg;
	struct server *srv = rc->call->srv;

	if (err == TE_EXISTS && rc->idem_key) {
		if (!api_idem_replay(rc->call, rc->idem_key, rc->idem_hash))
			api_reply_error(rc->call, 500, "Failed to store the job.", "");
		run_ctx_free(rc);
		return;
	}
	if (err) {
		api_reply_error(rc->call, 500, "Failed to store the job.", "");
		run_ctx_free(rc);
		return;
	}
	if (registry_run(srv->registry, rc->c, &rc->j, run_started, rc))
		store_queue(srv->store, notconn_apply, notconn_after, rc);
}

static void run_single(struct api_call *call, bool is_script)
{
	struct server *srv = call->srv;
	const char *id = call->params[0];
	struct client *c;
	struct job_spec j;
	struct run_ctx *rc;
	json_t *body;
	const char *command;
	char *script = NULL;
	int64_t timeout = 0, delivery = 0;
	const char *idem_key = NULL;
	char idem_hash[STORE_IDEM_HASH_LEN] = "";
	struct api_err aerr;

	if (is_script ? api_body(call, script_fields,
				 sizeof script_fields / sizeof script_fields[0], &body) :
			api_body(call, command_fields,
				 sizeof command_fields / sizeof command_fields[0], &body))
		return;
	/* A repeat of a request with a key gets the first one's job. */
	if (api_idem_key(body, net_http_path(call->req), &idem_key, idem_hash, &aerr)) {
		json_decref(body);
		api_reply_err(call, &aerr);
		return;
	}
	if (api_idem_replay(call, idem_key, idem_hash)) {
		json_decref(body);
		return;
	}
	/* The same checks and words as multi-client jobs (api_multi.c). */
	if (api_job_validate(body, is_script, &command, &script, &aerr)) {
		json_decref(body);
		api_reply_err(call, &aerr);
		return;
	}
	c = registry_find(srv->registry, id);
	if (!registry_client_connected(c)) {
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
	memset(&j, 0, sizeof j);
	j.interpreter = json_string_value(json_object_get(body, "interpreter"));
	if (api_job_validate_target(c, j.interpreter, &aerr)) {
		json_decref(body);
		free(script);
		api_reply_err(call, &aerr);
		return;
	}
	j.cwd = json_string_value(json_object_get(body, "cwd"));
	if (api_job_timeouts(srv, body, &timeout, &delivery, &aerr)) {
		json_decref(body);
		free(script);
		api_reply_err(call, &aerr);
		return;
	}
	rc = calloc(1, sizeof *rc);
	if (!rc) {
		json_decref(body);
		free(script);
		api_reply_error(call, 500, "Internal error.", "out of memory");
		return;
	}
	util_uuid7(j.jid);
	j.client_id = registry_client_id(c);
	j.client_name = registry_client_name(c);
	j.command = command;
	j.argv = script && !is_script ? json_object_get(body, "argv") : NULL;
	j.is_sudo = json_is_true(json_object_get(body, "is_sudo"));
	j.is_script = is_script;
	j.kill_on_timeout = json_is_true(json_object_get(body, "kill_on_timeout"));
	j.timeout_sec = timeout;
	j.delivery_timeout_sec = delivery;
	j.created_by = call->user;
	j.created_at = util_now_ns();
	rc->call = call;
	util_strlcpy(rc->peer, net_http_peer(call->req), sizeof rc->peer);
	rc->c = c;
	rc->j = j;
	rc->body = body;
	rc->script = script;
	rc->idem_key = idem_key;
	util_strlcpy(rc->idem_hash, idem_hash, sizeof rc->idem_hash);
	util_strlcpy(rc->jid, j.jid, sizeof rc->jid);
	/* Durable before it is sent (group commit, then insert_after). */
	store_queue(srv->store, insert_apply, insert_after, rc);
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

void api_client_commands_delete(struct api_call *call)
{
	struct server *srv = call->srv;
	char cid[256], status[16], title[300];
	struct client *c;

	if (store_job_status(srv->store, call->params[1], cid, sizeof cid, status) ||
	    strcmp(cid, call->params[0])) {
		snprintf(title, sizeof title, "Job[id=\"%.64s\"] not found.", call->params[1]);
		api_reply_error(call, 404, title, "");
		return;
	}
	{
		json_t *job;
		bool ok = true;

		if (store_job_get(srv->store, call->params[1], &job) == 0) {
			ok = api_job_visible(call, json_string_value(json_object_get(job, "created_by")));
			json_decref(job);
		}
		if (!ok)
			return;
	}
	if (strcmp(status, "running")) {
		snprintf(title, sizeof title, "Job[id=\"%.64s\"] is not running (status: %s).",
			 call->params[1], status);
		api_reply_error(call, 409, title, "");
		return;
	}
	c = registry_find(srv->registry, cid);
	if (registry_cancel(srv->registry, c, call->params[1], call->user)) {
		snprintf(title, sizeof title,
			 "Active client with id=\"%.128s\" not found.", cid);
		api_reply_error(call, 409, title,
				"the client is not connected: the job cannot be cancelled now");
		return;
	}
	api_audit(call, "client.command", "cancel", call->params[1], cid, true);
	api_reply_data(call, 202, json_pack("{s:s, s:s}", "jid", call->params[1], "status",
					    "cancelling"));
}

void api_client_commands_get(struct api_call *call)
{
	json_t *job;
	char title[128];

	if (store_job_get(call->srv->store, call->params[1], &job)) {
		snprintf(title, sizeof title, "Job[id=\"%.64s\"] not found.", call->params[1]);
		api_reply_error(call, 404, title, "");
		return;
	}
	if (!api_job_visible(call, json_string_value(json_object_get(job, "created_by")))) {
		json_decref(job);
		return;
	}
	hub_job_overlay(call->srv->hub, job);
	api_reply_data(call, 200, job);
}

void api_client_commands_list(struct api_call *call)
{
	api_jobs_query(call, "client_id", call->params[0]);
}
