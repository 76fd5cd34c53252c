/* api: routing, authentication and rport's envelopes. */
#include "dialects/rport/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "http/body.h"
#include "http/router.h"
#include "auth/auth.h"
#include "core/groups.h"
#include "core/metrics.h"
#include "auth/guard.h"
#include "agents/hub.h"
#include "store/store.h"
#include "log.h"
#include "net.h"
#include "proto.h"
#include "util.h"

struct api {
	struct server *srv;
	struct guard *guard;
};

/* Every route requires an authenticated user; there is no open route. */
static const struct api_route routes[] = {
	{ { "POST", "/api/v1/login" }, api_login, ROUTE_SELF_AUTH },
	{ { "GET", "/api/v1/login" }, api_login, ROUTE_SELF_AUTH },
	{ { "DELETE", "/api/v1/logout" }, api_logout, 0 },
	{ { "GET", "/api/v1/me" }, api_me_get, 0 },
	{ { "GET", "/api/v1/me/ip" }, api_me_ip_get, 0 },
	{ { "PUT", "/api/v1/me" }, api_me_put, 0 },
	{ { "GET", "/api/v1/me/tokens" }, api_me_tokens_list, 0 },
	{ { "POST", "/api/v1/me/tokens" }, api_me_tokens_post, 0 },
	{ { "DELETE", "/api/v1/me/tokens/{}" }, api_me_tokens_delete, 0 },
	{ { "GET", "/api/v1/me/tat-keys" }, api_me_tat_keys_list, 0 },
	{ { "POST", "/api/v1/me/tat-keys" }, api_me_tat_keys_post, 0 },
	{ { "DELETE", "/api/v1/me/tat-keys/{}" }, api_me_tat_keys_delete, 0 },
	{ { "GET", "/api/v1/status" }, api_status_rport, 0 },
	{ { "GET", "/api/v1/openapi.json" }, api_openapi_get, 0 },
	{ { "GET", "/api/v1/auditlog" }, api_auditlog_list, ROUTE_ADMIN },
	{ { "GET", "/api/v1/clients" }, api_clients_list, 0 },
	{ { "GET", "/api/v1/clients/{}" }, api_clients_get, 0 },
	{ { "DELETE", "/api/v1/clients/{}" }, api_clients_delete, ROUTE_ADMIN },
	{ { "GET", "/api/v1/clients-auth" }, api_clients_auth_list, ROUTE_ADMIN },
	{ { "GET", "/api/v1/clients-auth/{}" }, api_clients_auth_get, ROUTE_ADMIN },
	{ { "GET", "/api/v1/client-tags" }, api_client_tags_list, 0 },
	{ { "POST", "/api/v1/clients-auth" }, api_clients_auth_post, ROUTE_ADMIN },
	{ { "DELETE", "/api/v1/clients-auth/{}" }, api_clients_auth_delete, ROUTE_ADMIN },
	{ { "GET", "/api/v1/enrollment-codes" }, api_enroll_list, ROUTE_ADMIN },
	{ { "POST", "/api/v1/enrollment-codes" }, api_enroll_post, ROUTE_ADMIN },
	{ { "DELETE", "/api/v1/enrollment-codes/{}" }, api_enroll_delete, ROUTE_ADMIN },
	{ { "POST", "/api/v1/clients/{}/commands" }, api_client_commands_post, ROUTE_COMMANDS },
	{ { "GET", "/api/v1/clients/{}/commands" }, api_client_commands_list, 0 },
	{ { "GET", "/api/v1/clients/{}/commands/{}" }, api_client_commands_get, 0 },
	{ { "DELETE", "/api/v1/clients/{}/commands/{}" }, api_client_commands_delete, ROUTE_COMMANDS },
	{ { "POST", "/api/v1/clients/{}/scripts" }, api_client_scripts_post, ROUTE_SCRIPTS },
	{ { "POST", "/api/v1/scripts" }, api_scripts_post, ROUTE_SCRIPTS },
	{ { "DELETE", "/api/v1/commands/{}" }, api_commands_delete, ROUTE_COMMANDS },
	{ { "POST", "/api/v1/commands" }, api_commands_post, ROUTE_COMMANDS },
	{ { "GET", "/api/v1/commands" }, api_commands_list, 0 },
	{ { "GET", "/api/v1/commands/{}" }, api_commands_get, 0 },
	{ { "GET", "/api/v1/commands/{}/jobs" }, api_commands_jobs, 0 },
	{ { "GET", "/api/v1/client-groups" }, api_groups_list, 0 },
	{ { "POST", "/api/v1/client-groups" }, api_groups_post, ROUTE_ADMIN },
	{ { "GET", "/api/v1/client-groups/{}" }, api_groups_get, 0 },
	{ { "PUT", "/api/v1/client-groups/{}" }, api_groups_put, ROUTE_ADMIN },
	{ { "DELETE", "/api/v1/client-groups/{}" }, api_groups_delete, ROUTE_ADMIN },
	{ { "GET", "/api/v1/users" }, api_users_list, ROUTE_ADMIN },
	{ { "POST", "/api/v1/users" }, api_users_post, ROUTE_ADMIN },
	{ { "PUT", "/api/v1/users/{}" }, api_users_put, ROUTE_ADMIN },
	{ { "DELETE", "/api/v1/users/{}" }, api_users_delete, ROUTE_ADMIN },
	{ { "GET", "/api/v1/user-groups" }, api_user_groups_list, ROUTE_ADMIN },
	{ { "GET", "/api/v1/user-groups/{}" }, api_user_groups_get, ROUTE_ADMIN },
	{ { "PUT", "/api/v1/user-groups/{}" }, api_user_groups_put, ROUTE_ADMIN },
	{ { "DELETE", "/api/v1/user-groups/{}" }, api_user_groups_delete, ROUTE_ADMIN },
	{ { "GET", "/api/v1/bans" }, api_bans_list, ROUTE_ADMIN },
	{ { "DELETE", "/api/v1/bans/{}/{}" }, api_bans_delete, ROUTE_ADMIN },
	/* the library (api_library.c) and schedules (api_schedules.c) */
	{ { "GET", "/api/v1/library/commands" }, api_library_commands_list, 0 },
	{ { "POST", "/api/v1/library/commands" }, api_library_commands_post, ROUTE_COMMANDS },
	{ { "GET", "/api/v1/library/commands/{}" }, api_library_commands_get, 0 },
	{ { "PUT", "/api/v1/library/commands/{}" }, api_library_commands_put, ROUTE_COMMANDS },
	{ { "DELETE", "/api/v1/library/commands/{}" }, api_library_commands_delete, ROUTE_COMMANDS },
	{ { "POST", "/api/v1/library/commands/{}/run" }, api_library_commands_run, ROUTE_COMMANDS },
	{ { "GET", "/api/v1/library/scripts" }, api_library_scripts_list, 0 },
	{ { "POST", "/api/v1/library/scripts" }, api_library_scripts_post, ROUTE_SCRIPTS },
	{ { "GET", "/api/v1/library/scripts/{}" }, api_library_scripts_get, 0 },
	{ { "PUT", "/api/v1/library/scripts/{}" }, api_library_scripts_put, ROUTE_SCRIPTS },
	{ { "DELETE", "/api/v1/library/scripts/{}" }, api_library_scripts_delete, ROUTE_SCRIPTS },
	{ { "POST", "/api/v1/library/scripts/{}/run" }, api_library_scripts_run, ROUTE_SCRIPTS },
	{ { "GET", "/api/v1/schedules" }, api_schedules_list, ROUTE_SCHEDULER },
	{ { "POST", "/api/v1/schedules" }, api_schedules_post, ROUTE_SCHEDULER },
	{ { "GET", "/api/v1/schedules/{}" }, api_schedules_get, ROUTE_SCHEDULER },
	{ { "PUT", "/api/v1/schedules/{}" }, api_schedules_put, ROUTE_SCHEDULER },
	{ { "DELETE", "/api/v1/schedules/{}" }, api_schedules_delete, ROUTE_SCHEDULER },
};

static void call_free(struct api_call *call)
{
	free(call->pathbuf);
	free(call);
}

void api_reply(struct api_call *call, int status, json_t *payload)
{
	char *text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;

	json_decref(payload);
	if (!payload) {
		net_http_respond(call->req, status, "application/json", "", 0);
		call_free(call);
		return;
	}
	if (!text) {
		static const char oom[] =
			"{\"errors\":[{\"code\":\"\",\"title\":\"Internal error.\",\"detail\":\"out of memory\"}]}";

		net_http_respond(call->req, 500, "application/json", oom, sizeof oom - 1);
	} else {
		net_http_respond(call->req, status, "application/json", text, strlen(text));
		free(text);
	}
	call_free(call);
}

void api_reply_raw(struct api_call *call, int status, const char *type, const char *body,
		   size_t len)
{
	net_http_respond(call->req, status, type, body, len);
	call_free(call);
}

void api_reply_data(struct api_call *call, int status, json_t *data)
{
	api_reply(call, status, json_pack("{s:o}", "data", data));
}

void api_reply_list(struct api_call *call, json_t *data, int64_t count)
{
	api_reply(call, 200, json_pack("{s:o, s:{s:I}}", "data", data, "meta", "count",
				       (json_int_t)count));
}

void api_reply_error(struct api_call *call, int status, const char *title,
		     const char *detail)
{
	api_reply(call, status,
		  json_pack("{s:[{s:s, s:s, s:s}]}", "errors", "code", "", "title", title,
			    "detail", detail ? detail : ""));
}

void api_err_set(struct api_err *e, int status, const char *title, const char *detail)
{
	e->status = status;
	util_strlcpy(e->title, title ? title : "", sizeof e->title);
	util_strlcpy(e->detail, detail ? detail : "", sizeof e->detail);
}

json_t *api_err_json(const struct api_err *e)
{
	return json_pack("{s:[{s:s, s:s, s:s}]}", "errors", "code", "", "title", e->title,
			 "detail", e->detail);
}

void api_reply_err(struct api_call *call, const struct api_err *e)
{
	api_reply_error(call, e->status, e->title, e->detail);
}

int api_parse_body(const char *body, size_t len, const struct http_field *fields,
		   size_t nfields, unsigned kind, json_t **out, struct api_err *err)
{
	struct http_body_err e;
	char detail[400];

	if (!http_body_parse(body, len, fields, nfields, kind, HTTP_BODY_BARE_KEYS, out, &e))
		return 0;
	switch (e.code) {
	case HB_EMPTY:
		api_err_set(err, 400, "Missing body with json data.", "");
		break;
	case HB_SYNTAX:
		snprintf(detail, sizeof detail, "%s (line %d, column %d)", e.detail, e.line,
			 e.column);
		api_err_set(err, 400, "Invalid JSON data.", detail);
		break;
	case HB_NOT_OBJECT:
		api_err_set(err, 400, "Invalid JSON data.", "the body must be a JSON object");
		break;
	case HB_UNKNOWN_FIELD:
		snprintf(detail, sizeof detail, "json: unknown field \"%.100s\"", e.field);
		api_err_set(err, 400, "Invalid JSON data.", detail);
		break;
	case HB_WRONG_TYPE:
		snprintf(detail, sizeof detail, "json: field \"%s\" must be %s", e.field,
			 http_ftype_name(e.type));
		api_err_set(err, 400, "Invalid JSON data.", detail);
		break;
	default:
		api_err_set(err, 400, "Invalid JSON data.", e.detail);
		break;
	}
	return -1;
}

int api_body_kind(struct api_call *call, const struct http_field *fields, size_t nfields,
		  unsigned kind, json_t **out)
{
	size_t len;
	const char *body = net_http_body(call->req, &len);
	struct api_err err;

	if (api_parse_body(body, len, fields, nfields, kind, out, &err)) {
		api_reply_err(call, &err);
		return -1;
	}
	return 0;
}

int api_body(struct api_call *call, const struct http_field *fields, size_t nfields,
	     json_t **out)
{
	return api_body_kind(call, fields, nfields, 0, out);
}

int api_query_get(struct api_call *call, struct api_query *aq)
{
	aq->n = net_http_query_count(call->req);
	aq->names = calloc(aq->n + 1, sizeof *aq->names);
	aq->values = calloc(aq->n + 1, sizeof *aq->values);
	if (!aq->names || !aq->values) {
		api_query_free(aq);
		api_reply_error(call, 500, "Internal error.", "out of memory");
		return -1;
	}
	for (size_t i = 0; i < aq->n; i++)
		aq->names[i] = net_http_query_at(call->req, i, &aq->values[i]);
	return 0;
}

void api_query_free(struct api_query *aq)
{
	free(aq->names);
	free(aq->values);
	aq->names = aq->values = NULL;
}

int api_page(struct api_call *call, int64_t *limit, int64_t *offset)
{
	return api_page_max(call, limit, offset, 1000);
}

int api_page_max(struct api_call *call, int64_t *limit, int64_t *offset, int64_t max)
{
	const char *l = net_http_query(call->req, "page[limit]");
	const char *o = net_http_query(call->req, "page[offset]");
	long long v;
	char detail[160];

	*limit = 100;
	*offset = 0;
	if (l) {
		if (util_parse_int(l, 1, INT64_MAX, &v)) {
			snprintf(detail, sizeof detail, "invalid page[limit] '%.40s': expected a positive integer", l);
			api_reply_error(call, 400, "Invalid pagination parameters.", detail);
			return -1;
		}
		if (v > max) {
			snprintf(detail, sizeof detail, "pagination limit too big (%lld) maximum is %lld",
				 v, (long long)max);
			api_reply_error(call, 400, detail, "");
			return -1;
		}
		*limit = v;
	}
	if (o) {
		if (util_parse_int(o, 0, INT64_MAX, &v)) {
			snprintf(detail, sizeof detail, "invalid page[offset] '%.40s': expected a non-negative integer", o);
			api_reply_error(call, 400, "Invalid pagination parameters.", detail);
			return -1;
		}
		*offset = v;
	}
	return 0;
}

/* The route for the request: its index, or -1 with *path_found (another
 * method would match) and *bad (a {} segment is no valid value). */
static int route_find(struct api_call *call, bool *path_found, bool *bad)
{
	struct http_params pp = { { NULL }, NULL };
	size_t i;
	enum http_match m = http_route_find(routes, sizeof routes / sizeof routes[0],
					    sizeof routes[0], net_http_method(call->req),
					    net_http_path(call->req), &i, &pp);

	free(call->pathbuf);
	call->pathbuf = pp.buf;         /* the call owns the decoded segments */
	memcpy(call->params, pp.v, sizeof call->params);
	*path_found = m == HTTP_NO_METHOD || m == HTTP_BAD_PARAM;
	*bad = m == HTTP_BAD_PARAM;
	return m == HTTP_MATCHED ? (int)i : -1;
}

static void reply_unauthorized(struct api_call *call);

/* rport's permissions: administrators may do all; others need the user
 * group permission of the route. Replies 403 and returns false. */
static bool route_permitted(struct api_call *call, int flags)
{
	const char *perm = flags & ROUTE_COMMANDS ? "commands" :
			   flags & ROUTE_SCRIPTS ? "scripts" :
			   flags & ROUTE_SCHEDULER ? "scheduler" : NULL;

	if (call->admin)
		return true;
	if (flags & ROUTE_ADMIN) {
		api_reply_error(call, 403, "forbidden", "administrators only");
		return false;
	}
	if (perm && !auth_user_may(call->srv->auth, call->user, perm)) {
		char detail[200];

		snprintf(detail, sizeof detail, "user \"%.64s\" has no \"%s\" permission",
			 call->user, perm);
		api_reply_error(call, 403, "forbidden", detail);
		return false;
	}
	return true;
}

static void dispatch(struct api_call *call)
{
	const char *method = net_http_method(call->req);
	bool path_found, bad;
	int i = route_find(call, &path_found, &bad);

	if (!call->pathbuf) {
		api_reply_error(call, 500, "Internal error.", "out of memory");
		return;
	}
	if (i < 0) {
		if (!call->authenticated)
			reply_unauthorized(call);
		else if (bad)
			api_reply_error(call, 400, "Invalid path.",
					"a path segment is not a valid value (a bad escape, NUL, "
					"'/', '.' or '..')");
		else if (path_found)
			api_reply_error(call, 405, "Method Not Allowed", "");
		else
			api_reply_error(call, 404, "Not Found", "");
		return;
	}
	if (!call->authenticated && !(routes[i].flags & ROUTE_SELF_AUTH)) {
		reply_unauthorized(call);
		return;
	}
	/* A read-only token may only read. */
	if (call->read_only && strcmp(method, "GET")) {
		api_reply_error(call, 403,
				"the scope of the provided token is not authorized for this operation",
				"");
		return;
	}
	if (!route_permitted(call, routes[i].flags))
		return;
	routes[i].handler(call);
}

/* Without valid credentials only a self-authenticating route (login,
 * credentials in its body) is worth reading a body for. */
static bool body_may_authenticate(struct api_call *call)
{
	bool path_found, bad;
	int i = route_find(call, &path_found, &bad);

	return i >= 0 && (routes[i].flags & ROUTE_SELF_AUTH);
}

static void reply_unauthorized(struct api_call *call)
{
	api_reply_error(call, 401, "unauthorized",
			"valid credentials are required: HTTP basic auth, an API token as the "
			"password, or a bearer token from POST /api/v1/login");
}

void api_login_failed(struct server *srv, const char *peer, const char *authorization)
{
	char name[128] = "";

	if (authorization)
		auth_basic_user(authorization, name, sizeof name);
	guard_failed(srv->api->guard, peer, name[0] ? name : NULL);
	audit_failed_login(srv, name, peer, "auth");
}

void api_login_succeeded(struct server *srv, const char *peer, const struct auth_identity *id)
{
	/* A token proves nothing about the password: it must not forget the
	 * failures an attacker has built up against the user's password or
	 * from the address (a token script behind a shared bastion would
	 * otherwise reset them for every guesser there). */
	if (id->api_token || id->session_token)
		return;
	guard_succeeded(srv->api->guard, peer, id->user);
}

/* Credentials checked, before any body was read. */
static void auth_done(void *ud, const struct auth_identity *id)
{
	struct api_call *call = ud;

	if (!id) {
		/* Credentials were given and are wrong: refused, whatever the
		 * route. Missing credentials are left to the route. */
		if (net_http_authorization(call->req)) {
			api_login_failed(call->srv, net_http_peer(call->req),
					 net_http_authorization(call->req));
			reply_unauthorized(call);
			return;
		}
	} else {
		api_login_succeeded(call->srv, net_http_peer(call->req), id);
		call->authenticated = true;
		util_strlcpy(call->user, id->user, sizeof call->user);
		call->admin = auth_user_is_admin(call->srv->auth, id->user);
		call->read_only = id->scope == AUTH_SCOPE_READ;
		call->session_token = id->session_token;
		memcpy(call->token_hash, id->token_hash, sizeof call->token_hash);
	}
	if (!call->authenticated && net_http_has_body(call->req) &&
	    !body_may_authenticate(call)) {
		/* Refused at once: the body of an anonymous request is never
		 * read (nor held in memory). */
		reply_unauthorized(call);
		return;
	}
	if (net_http_read_body(call->req))
		call_free(call); /* the peer left; the request is gone */
}

/* The head of a request: credentials are checked before its body is read
 * (this is the one place where the API checks them). */
void api_http_headers(void *ud, net_http_req *req)
{
	struct api *a = ud;
	struct api_call *call = calloc(1, sizeof *call);

	if (!call) {
		static const char oom[] =
			"{\"errors\":[{\"code\":\"\",\"title\":\"Service Unavailable\",\"detail\":\"out of memory\"}]}";

		net_http_respond(req, 503, "application/json", oom, sizeof oom - 1);
		return;
	}
	call->srv = a->srv;
	call->req = req;
	net_http_set_user(req, call);
	if (net_http_authorization(req)) {
		char name[128];
		const char *why;
		enum guard_verdict v;

		auth_basic_user(net_http_authorization(req), name, sizeof name);
		v = guard_admit(a->guard, net_http_peer(req), name[0] ? name : NULL, &why);
		if (v != GUARD_OK) {
			api_reply_error(call, v, why, "");
			return;
		}
	}
	auth_api_check(a->srv->auth, net_http_authorization(req), NULL, auth_done, call);
}

/* The body is read: route it. */
void api_http_request(void *ud, net_http_req *req)
{
	(void)ud;
	dispatch(net_http_user(req));
}

/* The body never came whole (net answered): drop the call. */
void api_http_abort(void *ud, net_http_req *req)
{
	(void)ud;
	call_free(net_http_user(req));
}

const struct api_route *api_routes(size_t *n)
{
	*n = sizeof routes / sizeof routes[0];
	return routes;
}

int api_create(struct server *srv, struct api **out)
{
	struct api *a = calloc(1, sizeof *a);

	if (!a)
		return TE_NOMEM;
	a->srv = srv;
	a->guard = srv->api_guard;   /* the listener's, shared with its other faces */
	if (!a->guard) {
		free(a);
		return TE_STATE;
	}
	*out = a;
	return 0;
}

void api_destroy(struct api *a)
{
	if (!a)
		return;
	api_clients_cache_free();
	free(a);
}

struct guard *api_guard(struct api *a)
{
	return a->guard;
}

void api_audit(struct api_call *call, const char *application, const char *action,
	       const char *affected_id, const char *client_id, bool success)
{
	struct audit_entry e = { 0 };

	e.username = call->user;
	e.remote_ip = net_http_peer(call->req);
	e.application = application;
	e.action = action;
	e.affected_id = affected_id;
	e.client_id = client_id;
	e.success = success;
	audit_queue(call->srv, &e);
}

bool api_client_allowed(struct api_call *call, const struct client *c)
{
	if (call->admin)
		return true;
	return groups_client_allowed(call->srv->groups,
				     auth_user_groups(call->srv->auth, call->user), c);
}

bool api_job_visible(struct api_call *call, const char *created_by)
{
	if (call->admin || (created_by && !strcmp(created_by, call->user)))
		return true;
	api_reply_error(call, 403, "forbidden", "the job belongs to another user");
	return false;
}
