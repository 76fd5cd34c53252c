/* tat: the TAT face of the API listener: transport, TC3-HMAC-SHA256
 * verification, the envelope, the per-action rate limit and the action
 * table (see tat.h and docs/api-tat.md). */
#include "dialects/tat/tat.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/tat_keys.h"
#include "dialects/tat/sign.h"
#include "dialects/tat/tat_priv.h"
#include "log.h"
#include "server.h"

#define TAT_VERSION "2020-10-28"
#define TAT_SKEW_SEC 300
#define TAT_BUCKETS 512

/* One second's count of one user's calls of one action. */
struct bucket {
	char key[192];
	int64_t second;
	int64_t count;
};

struct tat {
	struct server *srv;
	struct bucket b[TAT_BUCKETS];
};

enum ptype { P_STR, P_INT, P_BOOL, P_STRS, P_OBJS, P_OBJ };

struct param {
	const char *name;
	enum ptype type;
};

struct action {
	const char *name;
	void (*fn)(struct tat_call *c);
	const char *permission;          /* NULL: any user */
	const struct param *params;      /* NULL-name ended */
};

static const struct param p_run[] = {
	{ "Content", P_STR }, { "InstanceIds", P_STRS }, { "CommandName", P_STR },
	{ "Description", P_STR }, { "CommandType", P_STR }, { "WorkingDirectory", P_STR },
	{ "Timeout", P_INT }, { "SaveCommand", P_BOOL }, { "EnableParameter", P_BOOL },
	{ "DefaultParameters", P_STR }, { "Parameters", P_STR }, { "Tags", P_OBJS },
	{ "Username", P_STR }, { "OutputCOSBucketUrl", P_STR }, { "OutputCOSKeyPrefix", P_STR },
	{ NULL, P_STR },
};
static const struct param p_preview[] = {
	{ "Parameters", P_STR }, { "CommandId", P_STR }, { "Content", P_STR }, { NULL, P_STR },
};
static const struct param p_cancel[] = {
	{ "InvocationId", P_STR }, { "InstanceIds", P_STRS }, { NULL, P_STR },
};
static const struct param p_invocations[] = {
	{ "InvocationIds", P_STRS }, { "Filters", P_OBJS }, { "Limit", P_INT },
	{ "Offset", P_INT }, { NULL, P_STR },
};
static const struct param p_tasks[] = {
	{ "InvocationTaskIds", P_STRS }, { "Filters", P_OBJS }, { "Limit", P_INT },
	{ "Offset", P_INT }, { "HideOutput", P_BOOL }, { NULL, P_STR },
};
static const struct param p_agents[] = {
	{ "InstanceIds", P_STRS }, { "Filters", P_OBJS }, { "Limit", P_INT },
	{ "Offset", P_INT }, { NULL, P_STR },
};

static const struct param p_create[] = {
	{ "CommandName", P_STR }, { "Content", P_STR }, { "Description", P_STR },
	{ "CommandType", P_STR }, { "WorkingDirectory", P_STR }, { "Timeout", P_INT },
	{ "EnableParameter", P_BOOL }, { "DefaultParameters", P_STR }, { "Tags", P_OBJS },
	{ "Username", P_STR }, { "OutputCOSBucketUrl", P_STR }, { "OutputCOSKeyPrefix", P_STR },
	{ NULL, P_STR },
};
static const struct param p_modify[] = {
	{ "CommandId", P_STR }, { "CommandName", P_STR }, { "Content", P_STR },
	{ "Description", P_STR }, { "CommandType", P_STR }, { "WorkingDirectory", P_STR },
	{ "Timeout", P_INT }, { "DefaultParameters", P_STR }, { "Username", P_STR },
	{ "OutputCOSBucketUrl", P_STR }, { "OutputCOSKeyPrefix", P_STR }, { NULL, P_STR },
};
static const struct param p_commands[] = {
	{ "CommandIds", P_STRS }, { "Filters", P_OBJS }, { "Limit", P_INT },
	{ "Offset", P_INT }, { NULL, P_STR },
};
static const struct param p_delete[] = {
	{ "CommandId", P_STR }, { NULL, P_STR },
};
static const struct param p_invoke[] = {
	{ "CommandId", P_STR }, { "InstanceIds", P_STRS }, { "Parameters", P_STR },
	{ "Username", P_STR }, { "WorkingDirectory", P_STR }, { "Timeout", P_INT },
	{ "OutputCOSBucketUrl", P_STR }, { "OutputCOSKeyPrefix", P_STR }, { NULL, P_STR },
};

static const struct param p_invoker_create[] = {
	{ "Name", P_STR }, { "Type", P_STR }, { "CommandId", P_STR }, { "InstanceIds", P_STRS },
	{ "Username", P_STR }, { "Parameters", P_STR }, { "ScheduleSettings", P_OBJ },
	{ "Tags", P_OBJS }, { NULL, P_STR },
};
static const struct param p_invoker_modify[] = {
	{ "InvokerId", P_STR }, { "Name", P_STR }, { "Type", P_STR }, { "CommandId", P_STR },
	{ "InstanceIds", P_STRS }, { "Username", P_STR }, { "Parameters", P_STR },
	{ "ScheduleSettings", P_OBJ }, { NULL, P_STR },
};
static const struct param p_invoker_id[] = {
	{ "InvokerId", P_STR }, { NULL, P_STR },
};
static const struct param p_invokers[] = {
	{ "InvokerIds", P_STRS }, { "Filters", P_OBJS }, { "Limit", P_INT },
	{ "Offset", P_INT }, { NULL, P_STR },
};
static const struct param p_invoker_records[] = {
	{ "InvokerIds", P_STRS }, { "Limit", P_INT }, { "Offset", P_INT }, { NULL, P_STR },
};

static const struct action actions[] = {
	{ "CreateCommand", tat_create_command, "commands", p_create },
	{ "DescribeCommands", tat_describe_commands, NULL, p_commands },
	{ "ModifyCommand", tat_modify_command, "commands", p_modify },
	{ "DeleteCommand", tat_delete_command, "commands", p_delete },
	{ "InvokeCommand", tat_invoke_command, "commands", p_invoke },
	{ "RunCommand", tat_run_command, "commands", p_run },
	{ "PreviewReplacedCommandContent", tat_preview, NULL, p_preview },
	{ "CancelInvocation", tat_cancel_invocation, "commands", p_cancel },
	{ "DescribeInvocations", tat_describe_invocations, NULL, p_invocations },
	{ "DescribeInvocationTasks", tat_describe_tasks, NULL, p_tasks },
	{ "DescribeAutomationAgentStatus", tat_describe_agents, NULL, p_agents },
	/* Invokers are schedules: the scheduler permission (and commands to
	 * make or change one). */
	{ "CreateInvoker", tat_create_invoker, "scheduler", p_invoker_create },
	{ "DescribeInvokers", tat_describe_invokers, NULL, p_invokers },
	{ "EnableInvoker", tat_enable_invoker, "scheduler", p_invoker_id },
	{ "DisableInvoker", tat_disable_invoker, "scheduler", p_invoker_id },
	{ "ModifyInvoker", tat_modify_invoker, "scheduler", p_invoker_modify },
	{ "DeleteInvoker", tat_delete_invoker, "scheduler", p_invoker_id },
	{ "DescribeInvokerRecords", tat_describe_invoker_records, NULL, p_invoker_records },
};

/* TAT actions tether does not serve yet: answered UnsupportedOperation. */
static const char *const later[] = {
	"DescribeRegions", "DescribeScenes",
};

static struct tat *tat_of(struct server *srv)
{
	return srv->tat;
}

/* ---- envelope ------------------------------------------------------- */

static void call_free(struct tat_call *c)
{
	if (!c)
		return;
	json_decref(c->params);
	free(c);
}

static void respond(struct tat_call *c, json_t *resp)
{
	json_t *root = json_pack("{s:o}", "Response", resp);
	char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
	static const char oom[] = "{\"Response\":{\"Error\":{\"Code\":\"InternalError\","
				  "\"Message\":\"out of memory\"},\"RequestId\":\"\"}}";

	if (text)
		net_http_respond(c->req, 200, "application/json", text, strlen(text));
	else
		net_http_respond(c->req, 200, "application/json", oom, sizeof oom - 1);
	free(text);
	json_decref(root);
	call_free(c);
}

const char *tat_param_str(const struct tat_call *c, const char *name)
{
	return json_string_value(json_object_get(c->params, name));
}

json_t *tat_meta(const json_t *rec)
{
	return json_object_get(json_object_get(rec, "metadata"), "tat");
}

const char *tat_meta_str(const json_t *rec, const char *name)
{
	return json_string_value(json_object_get(tat_meta(rec), name));
}

void tat_reply(struct tat_call *c, json_t *fields)
{
	json_t *resp = fields ? fields : json_object();

	json_object_set_new(resp, "RequestId", json_string(c->request_id));
	respond(c, resp);
}

void tat_fail(struct tat_call *c, const char *code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	respond(c, json_pack("{s:{s:s, s:s}, s:s}", "Error", "Code", code, "Message", msg,
			     "RequestId", c->request_id));
}

/* ---- the face ------------------------------------------------------- */

static bool claims(const net_http_req *req)
{
	const char *authz = net_http_authorization(req);

	if (strcmp(net_http_method(req), "POST") || strcmp(net_http_path(req), "/"))
		return false;
	return net_http_header(req, "X-TC-Action") || net_http_header(req, "X-TC-Version") ||
	       net_http_header(req, "X-TC-Timestamp") ||
	       (authz && !strncmp(authz, "TC3-", 4));
}

static void on_headers(struct server *srv, net_http_req *req)
{
	struct tat_call *c = calloc(1, sizeof *c);

	if (!c) {
		static const char oom[] = "{\"Response\":{\"Error\":{\"Code\":\"InternalError\","
					  "\"Message\":\"out of memory\"},\"RequestId\":\"\"}}";

		net_http_respond(req, 200, "application/json", oom, sizeof oom - 1);
		return;
	}
	c->srv = srv;
	c->req = req;
	util_uuid4(c->request_id);
	net_http_set_user(req, c);
	/* The peer gone already: the request is freed and nothing follows. */
	if (net_http_read_body(req))
		call_free(c);
}

static void on_abort(struct server *srv, net_http_req *req)
{
	(void)srv;
	call_free(net_http_user(req));
}

static const char *header_of(void *ud, const char *name)
{
	return net_http_header(ud, name);
}

/* The same, with the Host header's port left out: Tencent's Node.js SDK
 * signs the endpoint's host name alone ("127.0.0.1" of "127.0.0.1:3000"). */
struct bare_host {
	net_http_req *req;
	char host[256];
};

static const char *header_bare_host(void *ud, const char *name)
{
	struct bare_host *b = ud;

	return strcmp(name, "host") ? net_http_header(b->req, name) : b->host;
}

/* Host without its port into b->host; false when it has none. */
static bool host_without_port(net_http_req *req, struct bare_host *b)
{
	const char *h = net_http_header(req, "Host");
	const char *colon = h ? strrchr(h, ':') : NULL;
	size_t n;

	b->req = req;
	if (!colon || strchr(colon, ']'))
		return false;
	n = (size_t)(colon - h);
	if (n >= sizeof b->host)
		return false;
	memcpy(b->host, h, n);
	b->host[n] = '\0';
	return true;
}

/* Does the signature match with this header lookup? 0 yes, 1 no, or a
 * canonical request error (TE_NOTFOUND, TE_INVAL, TE_NOMEM). */
static int signature_matches(struct tat_call *c, const char *secret, tat_header_fn fn, void *ud)
{
	const char *ts = net_http_header(c->req, "X-TC-Timestamp");
	char sig[TAT_HEX_LEN];
	struct buf canon;
	size_t len = 0;
	const char *body = net_http_body(c->req, &len);
	int rc = tat_canonical_request("POST", c->authz.signed_headers, fn, ud, body, len, &canon);

	if (rc)
		return rc;
	rc = tat_signature(secret, ts, c->authz.date, c->authz.service, canon.data, canon.len, sig);
	buf_free(&canon);
	return rc || !tat_signature_equal(sig, c->authz.signature) ? 1 : 0;
}

/* The checks of the signature that need no key. Returns 0, or -1 having
 * answered. */
static int verify_begin(struct tat_call *c)
{
	const char *ts = net_http_header(c->req, "X-TC-Timestamp");
	const char *authz = net_http_authorization(c->req);
	struct tat_authz *a = &c->authz;
	int64_t now = util_now_ns() / 1000000000LL;
	char date[11];
	long long t;

	if (!ts) {
		tat_fail(c, "MissingParameter", "The request is missing the X-TC-Timestamp header.");
		return -1;
	}
	if (util_parse_int(ts, 0, 99999999999LL, &t)) {
		tat_fail(c, "InvalidParameter", "X-TC-Timestamp must be Unix seconds, not `%.40s`.",
			 ts);
		return -1;
	}
	if (!authz) {
		tat_fail(c, "AuthFailure.InvalidAuthorization",
			 "The request is missing the Authorization header (TC3-HMAC-SHA256).");
		return -1;
	}
	if (tat_authz_parse(authz, a)) {
		tat_fail(c, "AuthFailure.InvalidAuthorization",
			 "The Authorization header is not of the form `TC3-HMAC-SHA256 "
			 "Credential=SecretId/Date/tat/tc3_request, SignedHeaders=..., "
			 "Signature=...`.");
		return -1;
	}
	if (t < now - TAT_SKEW_SEC || t > now + TAT_SKEW_SEC) {
		tat_fail(c, "AuthFailure.SignatureExpire",
			 "Signature expired: X-TC-Timestamp %lld is more than %d seconds away from "
			 "the server's time %lld.", t, TAT_SKEW_SEC, (long long)now);
		return -1;
	}
	tat_date_of(t, date);
	if (strcmp(date, a->date)) {
		tat_fail(c, "AuthFailure.SignatureFailure",
			 "The credential's date %s is not the UTC date of X-TC-Timestamp (%s).",
			 a->date, date);
		return -1;
	}
	/* The service is what the client signed: SDKs take it from the
	 * endpoint's first label ("tat" for tat.tencentcloudapi.com, "127" for
	 * 127.0.0.1), so any is accepted; the signature covers it. */
	return 0;
}

/* Recomputes the signature with the key pair's secret. Returns 0 (and sets
 * c->user), or -1 having answered. */
static int verify_finish(struct tat_call *c, const char *secret, const char *user)
{
	struct bare_host bh;
	int rc = signature_matches(c, secret, header_of, c->req);

	if (rc == 1 && host_without_port(c->req, &bh))
		rc = signature_matches(c, secret, header_bare_host, &bh);
	if (rc < 0) {
		tat_fail(c, "AuthFailure.SignatureFailure",
			 rc == TE_NOTFOUND ? "A header named in SignedHeaders is not in the request." :
					     "SignedHeaders must be lower-case names separated by "
					     "`;` and include content-type and host.");
		return -1;
	}
	if (rc) {
		tat_fail(c, "AuthFailure.SignatureFailure",
			 "The provided credentials could not be validated. Please check your "
			 "signature is correct.");
		return -1;
	}
	util_strlcpy(c->user, user, sizeof c->user);
	if (!auth_user_exists(c->srv->auth, c->user)) {
		tat_fail(c, "AuthFailure.UnauthorizedOperation",
			 "The key pair's user `%s` does not exist.", c->user);
		return -1;
	}
	c->admin = auth_user_is_admin(c->srv->auth, c->user);
	return 0;
}

/* Counts one call; false when the user passed the action's limit in this
 * second. */
static bool rate_admit(struct tat *t, const char *user, const char *action)
{
	int64_t now = util_now_ns() / 1000000000LL;
	char key[192];
	uint32_t h = 2166136261u;
	struct bucket *b;

	snprintf(key, sizeof key, "%s\n%s", user, action);
	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	b = &t->b[h % TAT_BUCKETS];
	if (strcmp(b->key, key) || b->second != now) {
		/* A new second, or another key in the slot (a collision only
		 * resets a count: a limit is never shared). */
		util_strlcpy(b->key, key, sizeof b->key);
		b->second = now;
		b->count = 0;
	}
	return ++b->count <= t->srv->cfg.tat_rate_limit;
}

static const char *type_name(enum ptype t)
{
	static const char *const n[] = { "String", "Integer", "Boolean", "Array of String",
					 "Array of Object", "Object" };

	return n[t];
}

static bool type_ok(enum ptype t, const json_t *v)
{
	size_t i;
	json_t *e;

	switch (t) {
	case P_STR:
		return json_is_string(v);
	case P_INT:
		return json_is_integer(v);
	case P_BOOL:
		return json_is_boolean(v);
	case P_OBJ:
		return json_is_object(v);
	case P_STRS:
	case P_OBJS:
		if (!json_is_array(v))
			return false;
		json_array_foreach(v, i, e)
			if (t == P_STRS ? !json_is_string(e) : !json_is_object(e))
				return false;
		return true;
	}
	return false;
}

/* Every parameter is known and of its type. 0, or -1 having answered. */
static int params_check(struct tat_call *c, const struct param *ps)
{
	const char *k;
	json_t *v;

	json_object_foreach(c->params, k, v) {
		const struct param *p = ps;

		while (p->name && strcmp(p->name, k))
			p++;
		if (!p->name) {
			tat_fail(c, "UnknownParameter", "The parameter `%.64s` is not recognized.", k);
			return -1;
		}
		if (!type_ok(p->type, v)) {
			tat_fail(c, "InvalidParameter", "The parameter `%s` must be of type %s.", k,
				 type_name(p->type));
			return -1;
		}
	}
	return 0;
}

/* The key pair is known (or not): finish the checks and run the action. */
static void key_found(void *ud, int rc, const char *secret, const char *user)
{
	struct tat_call *c = ud;
	const struct action *a = c->def;
	const char *ct = net_http_content_type(c->req);
	json_error_t je;
	size_t len = 0;
	const char *body = net_http_body(c->req, &len);

	if (rc) {
		if (rc == TE_NOTFOUND)
			tat_fail(c, "AuthFailure.SecretIdNotFound", "The SecretId `%s` is not found.",
				 c->authz.secret_id);
		else
			tat_fail(c, "InternalError", "The key pair cannot be read.");
		return;
	}
	if (verify_finish(c, secret, user))
		return;
	if (!rate_admit(tat_of(c->srv), c->user, a->name)) {
		tat_fail(c, "RequestLimitExceeded",
			 "Your request rate of %s exceeds the limit of %lld requests a second.",
			 a->name, (long long)c->srv->cfg.tat_rate_limit);
		return;
	}
	if (!ct || strncasecmp(ct, "application/json", 16)) {
		tat_fail(c, "UnsupportedProtocol",
			 "POST requests must have Content-Type application/json.");
		return;
	}
	c->params = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &je) : json_object();
	if (!json_is_object(c->params)) {
		tat_fail(c, "InvalidParameter", "The request body is not a JSON object%s%s.",
			 c->params ? "" : ": ", c->params ? "" : je.text);
		return;
	}
	if (params_check(c, a->params))
		return;
	if (a->permission && !c->admin && !auth_user_may(c->srv->auth, c->user, a->permission)) {
		tat_fail(c, "UnauthorizedOperation.CamAuthFailed",
			 "The user `%s` may not run commands.", c->user);
		return;
	}
	a->fn(c);
}

static void on_request(struct server *srv, net_http_req *req)
{
	struct tat_call *c = net_http_user(req);
	const char *action = net_http_header(req, "X-TC-Action");
	const char *version = net_http_header(req, "X-TC-Version");
	const struct action *a = NULL;

	(void)srv;
	if (!action || !*action) {
		tat_fail(c, "MissingParameter", "The request is missing the X-TC-Action header.");
		return;
	}
	for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
		if (!strcmp(actions[i].name, action))
			a = &actions[i];
	if (!a) {
		for (size_t i = 0; i < sizeof later / sizeof later[0]; i++)
			if (!strcmp(later[i], action)) {
				tat_fail(c, "UnsupportedOperation",
					 "The action `%s` is not supported by tether yet.", action);
				return;
			}
		tat_fail(c, "InvalidAction", "The action `%.64s` is not found in TAT %s.", action,
			 TAT_VERSION);
		return;
	}
	c->action = a->name;
	if (!version || !*version) {
		tat_fail(c, "MissingParameter", "The request is missing the X-TC-Version header.");
		return;
	}
	if (strcmp(version, TAT_VERSION)) {
		tat_fail(c, "NoSuchVersion", "The API version `%.32s` does not exist; use %s.",
			 version, TAT_VERSION);
		return;
	}
	c->def = a;
	if (verify_begin(c))
		return;
	tat_key_lookup(c->srv, c->authz.secret_id, key_found, c);
}

/* The network layer's own answers to a TAT request (a body over the
 * limit, a body that took too long), as TAT answers errors: HTTP 200 and
 * the error in the Response envelope. */
static size_t on_error_body(int *status, const char *title, const char *detail, char *out,
			    size_t outlen, const char **type)
{
	char msg[300], rid[UUID_STR_LEN];
	const char *code = *status == 413 ? "RequestSizeLimitExceeded"
			   : *status == 503 ? "ServiceUnavailable" : "InvalidParameter";
	json_t *j;
	size_t n;

	util_uuid4(rid);
	snprintf(msg, sizeof msg, "%s%s%s.", title ? title : "", detail && *detail ? ": " : "",
		 detail ? detail : "");
	j = json_pack("{s:{s:{s:s, s:s}, s:s}}", "Response", "Error", "Code", code, "Message", msg,
		      "RequestId", rid);
	n = j ? json_dumpb(j, out, outlen, JSON_COMPACT) : 0;
	json_decref(j);
	*status = 200;
	*type = "application/json";
	return n <= outlen ? n : 0;
}

const struct http_face tat_face = {
	.name = "tat",
	.claims = claims,
	.headers = on_headers,
	.request = on_request,
	.abort = on_abort,
	.error_body = on_error_body,
};

int tat_create(struct server *srv, struct tat **out)
{
	struct tat *t = calloc(1, sizeof *t);

	if (!t)
		return TE_NOMEM;
	t->srv = srv;
	if (tat_invokers_start(srv)) {
		free(t);
		return TE_NOMEM;
	}
	*out = t;
	return 0;
}

void tat_destroy(struct tat *t)
{
	free(t);
}
