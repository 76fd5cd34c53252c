/* face: the Elastic dialect's share of the API listener: which requests
 * are its own, authentication (basic, tether's bearer tokens, API keys),
 * Kibana's transport rules (kbn-xsrf, elastic-api-version), its error
 * envelope, and the route table. */
#include "dialects/elastic/elastic.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth.h"
#include <sodium.h>

#include "auth/guard.h"
#include "core/audit.h"
#include "dialects/elastic/elastic_priv.h"
#include "util.h"

enum {
	ES_WRITE = 1,      /* Kibana's "Execute Operations": tether's commands permission */
	ES_QUERY_VERSION = 2, /* elastic-api-version may also come as a query value */
};

struct es_route {
	struct http_route r;
	void (*handler)(struct es_call *call);
	int flags;
};

static const struct es_route routes[] = {
	{ { "POST", "/api/endpoint/action/execute" }, es_execute, ES_WRITE },
	{ { "POST", "/api/endpoint/action/cancel" }, es_cancel, ES_WRITE },
	{ { "GET", "/api/endpoint/action" }, es_list, 0 },
	{ { "GET", "/api/endpoint/action_status" }, es_action_status, 0 },
	{ { "GET", "/api/endpoint/action/{}" }, es_details, 0 },
	{ { "GET", "/api/endpoint/action/{}/file/{}" }, es_file_info, 0 },
	{ { "GET", "/api/endpoint/action/{}/file/{}/download" }, es_file_download,
	  ES_QUERY_VERSION },
	{ { "POST", "/api/security/api_key" }, es_apikey_create, 0 },
	{ { "GET", "/api/security/api_key" }, es_apikey_list, 0 },
	{ { "DELETE", "/api/security/api_key/{}" }, es_apikey_delete, 0 },
};
#define NROUTES (sizeof routes / sizeof routes[0])

static bool prefixed(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);

	return !strncmp(path, prefix, n) && (path[n] == '\0' || path[n] == '/' || path[n] == '?');
}

static bool claims(const net_http_req *req)
{
	const char *path = net_http_path(req);

	return prefixed(path, "/api/endpoint") || prefixed(path, "/api/security/api_key");
}

const char *es_reason(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Request Entity Too Large";
	case 423: return "Locked";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	default: return status >= 500 ? "Internal Server Error" : "Bad Request";
	}
}

static void call_free(struct es_call *call)
{
	free(call->pathbuf);
	free(call);
}

static void respond(struct es_call *call, int status, const char *headers, json_t *payload)
{
	char *text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;

	json_decref(payload);
	if (!text) {
		static const char oom[] =
			"{\"statusCode\":500,\"error\":\"Internal Server Error\",\"message\":\"out of memory\"}";

		net_http_respond(call->req, 500, "application/json; charset=utf-8", oom,
				 sizeof oom - 1);
	} else {
		net_http_respond_ex(call->req, status, "application/json; charset=utf-8", headers,
				    text, strlen(text));
		free(text);
	}
	call_free(call);
}

void es_reply(struct es_call *call, int status, json_t *payload)
{
	respond(call, status, NULL, payload);
}

void es_reply_raw(struct es_call *call, int status, const char *type, const char *headers,
		  const char *body, size_t len)
{
	net_http_respond_ex(call->req, status, type, headers, body, len);
	call_free(call);
}

static json_t *error_json(int status, const char *message)
{
	return json_pack("{s:i, s:s, s:s}", "statusCode", status, "error", es_reason(status),
			 "message", message);
}

void es_reply_error(struct es_call *call, int status, const char *message)
{
	es_reply(call, status, error_json(status, message));
}

void es_reply_errorf(struct es_call *call, int status, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	es_reply_error(call, status, msg);
}

bool es_visible(const struct es_call *call, const char *created_by)
{
	return call->admin || (created_by && !strcmp(created_by, call->user));
}

static void reply_unauthorized(struct es_call *call)
{
	respond(call, 401, "WWW-Authenticate: Basic realm=\"tether\", ApiKey\r\n",
		error_json(401, "Unauthorized: valid credentials are required (basic auth, a "
				"bearer token, or Authorization: ApiKey base64(id:key))"));
}

/* The route of the request: its index, or -1 after answering. */
static int route_of(struct es_call *call)
{
	struct http_params pp = { { NULL }, NULL };
	size_t i;
	enum http_match m = http_route_find(routes, NROUTES, sizeof routes[0],
					    net_http_method(call->req), net_http_path(call->req),
					    &i, &pp);

	free(call->pathbuf);
	call->pathbuf = pp.buf;
	memcpy(call->params, pp.v, sizeof call->params);
	if (m == HTTP_MATCHED)
		return (int)i;
	if (m == HTTP_NOMEM)
		es_reply_error(call, 500, "out of memory");
	else if (m == HTTP_BAD_PARAM)
		es_reply_error(call, 400, "a path segment is not a valid value");
	else
		es_reply_error(call, 404, "Not Found");
	return -1;
}

/* Kibana's version rule: the header (or, on the download, the query
 * value) may be absent (the default version) or name the one version. */
static bool version_ok(struct es_call *call, int flags)
{
	const char *v = net_http_header(call->req, "elastic-api-version");

	if (!v && (flags & ES_QUERY_VERSION))
		v = net_http_query(call->req, "elastic-api-version");
	if (!v || !strcmp(v, ES_API_VERSION))
		return true;
	es_reply_errorf(call, 400,
			"No version \"%.40s\" available for [%s] [%s]. Available versions are: "
			"[\"" ES_API_VERSION "\"]",
			v, net_http_method(call->req), net_http_path(call->req));
	return false;
}

static void dispatch(struct es_call *call)
{
	int i = route_of(call);

	if (i < 0)
		return;
	if (!version_ok(call, routes[i].flags))
		return;
	if (call->read_only && strcmp(net_http_method(call->req), "GET")) {
		es_reply_error(call, 403, "Endpoint authorization failure");
		return;
	}
	if ((routes[i].flags & ES_WRITE) && !call->admin &&
	    !auth_user_may(call->srv->auth, call->user, "commands")) {
		es_reply_error(call, 403, "Endpoint authorization failure");
		return;
	}
	routes[i].handler(call);
}

static void auth_done(void *ud, const struct auth_identity *id)
{
	struct es_call *call = ud;
	const char *peer = net_http_peer(call->req);

	if (!id) {
		char name[128] = "";

		if (net_http_authorization(call->req)) {
			auth_basic_user(net_http_authorization(call->req), name, sizeof name);
			guard_failed(call->srv->api_guard, peer, name[0] ? name : NULL);
			audit_failed_login(call->srv, name, peer, "auth");
		}
		reply_unauthorized(call);
		return;
	}
	if (!id->api_token && !id->session_token)
		guard_succeeded(call->srv->api_guard, peer, id->user);
	call->authenticated = true;
	util_strlcpy(call->user, id->user, sizeof call->user);
	call->admin = auth_user_is_admin(call->srv->auth, id->user);
	call->read_only = id->scope == AUTH_SCOPE_READ;
	/* Kibana's xsrf rule, after authentication, before the body is read. */
	if (strcmp(net_http_method(call->req), "GET") &&
	    strcmp(net_http_method(call->req), "HEAD") &&
	    !net_http_header(call->req, "kbn-xsrf")) {
		es_reply_error(call, 400, "Request must contain a kbn-xsrf header.");
		return;
	}
	if (net_http_read_body(call->req))
		call_free(call);
}

static void on_headers(struct server *srv, net_http_req *req)
{
	struct es_call *call = calloc(1, sizeof *call);
	const char *authz = net_http_authorization(req);

	if (!call) {
		static const char oom[] =
			"{\"statusCode\":503,\"error\":\"Service Unavailable\",\"message\":\"out of memory\"}";

		net_http_respond(req, 503, "application/json", oom, sizeof oom - 1);
		return;
	}
	call->srv = srv;
	call->req = req;
	net_http_set_user(req, call);
	if (!authz) {
		reply_unauthorized(call);
		return;
	}
	{
		char name[128];
		const char *why;
		/* The API listener's guard, shared with rport's face: a guess
		 * counts the same on either, and /api/v1/bans lists its bans. */
		struct guard *g = srv->api_guard;
		enum guard_verdict v;

		auth_basic_user(authz, name, sizeof name);
		v = g ? guard_admit(g, net_http_peer(req), name[0] ? name : NULL, &why) : GUARD_OK;
		if (v != GUARD_OK) {
			es_reply_error(call, (int)v, why);
			return;
		}
	}
	auth_api_check(srv->auth, authz, NULL, auth_done, call);
}

static void on_request(struct server *srv, net_http_req *req)
{
	(void)srv;
	dispatch(net_http_user(req));
}

static void on_abort(struct server *srv, net_http_req *req)
{
	(void)srv;
	call_free(net_http_user(req));
}

/* The network layer's own answers (a body over the limit, a body that
 * took too long) in Kibana's envelope, its status kept. */
static size_t on_error_body(int *status, const char *title, const char *detail, char *out,
			    size_t outlen, const char **type)
{
	char msg[300];
	json_t *j;
	size_t n;

	snprintf(msg, sizeof msg, "%s%s%s", title ? title : "", detail && *detail ? ": " : "",
		 detail ? detail : "");
	j = error_json(*status, msg);
	n = j ? json_dumpb(j, out, outlen, JSON_COMPACT) : 0;
	json_decref(j);
	*type = "application/json; charset=utf-8";
	return n <= outlen ? n : 0;
}

const struct http_face elastic_face = {
	.name = "elastic",
	.claims = claims,
	.headers = on_headers,
	.request = on_request,
	.abort = on_abort,
	.error_body = on_error_body,
};

/* ---- API keys: POST/GET /api/security/api_key, DELETE .../{id} --------- */

void es_apikey_create(struct es_call *call)
{
	size_t len;
	const char *body = net_http_body(call->req, &len);
	json_t *j = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL) : json_object();
	json_t *info = NULL, *out;
	const char *name = json_string_value(json_object_get(j, "name"));
	char *key, *plain, *enc;
	size_t plen, elen;

	if (!json_is_object(j) || !name || !name[0] || strlen(name) > 128) {
		json_decref(j);
		es_reply_error(call, 400, "[request body.name]: expected value of type [string] "
					  "of 1 to 128 characters");
		return;
	}
	key = auth_apikey_issue(call->srv->auth, call->user, name, &info);
	if (!key) {
		json_decref(j);
		es_reply_error(call, 500, "out of memory");
		return;
	}
	plen = strlen(json_string_value(json_object_get(info, "prefix"))) + 1 + strlen(key);
	plain = malloc(plen + 1);
	elen = sodium_base64_encoded_len(plen, sodium_base64_VARIANT_ORIGINAL);
	enc = malloc(elen);
	if (!plain || !enc) {
		free(plain);
		free(enc);
		free(key);
		json_decref(info);
		json_decref(j);
		es_reply_error(call, 500, "out of memory");
		return;
	}
	snprintf(plain, plen + 1, "%s:%s", json_string_value(json_object_get(info, "prefix")), key);
	sodium_bin2base64(enc, elen, (const unsigned char *)plain, plen,
			  sodium_base64_VARIANT_ORIGINAL);
	out = json_pack("{s:s, s:s, s:s, s:s}", "id",
			json_string_value(json_object_get(info, "prefix")), "name", name, "api_key",
			key, "encoded", enc);
	{
		struct audit_entry e = { 0 };

		e.username = call->user;
		e.remote_ip = net_http_peer(call->req);
		e.application = "api_key";
		e.action = "create";
		e.affected_id = json_string_value(json_object_get(info, "prefix"));
		e.success = true;
		audit_queue(call->srv, &e);
	}
	sodium_memzero(plain, plen);
	free(plain);
	free(enc);
	sodium_memzero(key, strlen(key));
	free(key);
	json_decref(info);
	json_decref(j);
	es_reply(call, 200, out);
}

void es_apikey_list(struct es_call *call)
{
	es_reply(call, 200, json_pack("{s:o}", "apiKeys",
				      auth_apikeys_of(call->srv->auth,
						      call->admin ? NULL : call->user)));
}

void es_apikey_delete(struct es_call *call)
{
	struct audit_entry e = { 0 };

	if (auth_apikey_revoke(call->srv->auth, call->admin ? NULL : call->user, call->params[0])) {
		es_reply_errorf(call, 404, "API key with id '%.64s' not found.", call->params[0]);
		return;
	}
	e.username = call->user;
	e.remote_ip = net_http_peer(call->req);
	e.application = "api_key";
	e.action = "delete";
	e.affected_id = call->params[0];
	e.success = true;
	audit_queue(call->srv, &e);
	es_reply(call, 200, json_pack("{s:[s]}", "invalidated_api_keys", call->params[0]));
}
