/* api: the operator REST API: route table, authentication, envelopes. */
#ifndef TETHER_API_H
#define TETHER_API_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/targets.h"
#include "http/body.h"
#include "http/router.h"
#include "net.h"
#include "server.h"

#define API_MAX_PARAMS HTTP_MAX_PARAMS

/* One request in flight. Freed by the reply functions. */
struct api_call {
	struct server *srv;
	net_http_req *req;
	char user[128];                     /* authenticated user */
	bool authenticated;
	bool read_only;                     /* a "read" scoped token */
	bool admin;                         /* member of Administrators */
	bool session_token;                 /* authenticated by a /login token */
	unsigned char token_hash[32];
	const char *params[API_MAX_PARAMS]; /* {} segments of the route */
	int wait_sec;                       /* ?wait= of a job's GET (api_wait.h) */
	bool waited;                        /* held once already: answer now */
	char *pathbuf;
};

typedef void (*api_handler)(struct api_call *call);

enum {
	ROUTE_SELF_AUTH = 1,   /* may authenticate by its body (login) */
	ROUTE_ADMIN = 2,       /* administrators only */
	ROUTE_COMMANDS = 4,    /* user group permission "commands" */
	ROUTE_SCRIPTS = 8,     /* user group permission "scripts" */
	ROUTE_SCHEDULER = 16,  /* user group permission "scheduler" */
};

struct api_route {
	struct http_route r;      /* method and pattern ("/api/v1/clients/{}/commands/{}") */
	api_handler handler;
	int flags;
};

/* The route table, for tests that walk every route. */
const struct api_route *api_routes(size_t *n);

int api_create(struct server *srv, struct api **out);
/* Answers the requests it holds (api_wait.c); before the listeners close. */
void api_stop(struct api *a);
void api_destroy(struct api *a);
/* The listener's HTTP side (dialects/rport/listener.c); ud is the api. */
void api_http_headers(void *ud, net_http_req *req);
void api_http_request(void *ud, net_http_req *req);
void api_http_abort(void *ud, net_http_req *req);

/* Replies (each frees the call). payload is stolen. */
void api_reply(struct api_call *call, int status, json_t *payload);
void api_reply_data(struct api_call *call, int status, json_t *data);
/* A body as it is (not JSON built here), of the given Content-Type. */
void api_reply_raw(struct api_call *call, int status, const char *type, const char *body,
		   size_t len);
void api_reply_list(struct api_call *call, json_t *data, int64_t count);
void api_reply_error(struct api_call *call, int status, const char *title,
		     const char *detail);

/* An error in rport's envelope, for code shared by REST and WebSocket. */
struct api_err {
	int status;
	char title[300];
	char detail[400];
};
void api_err_set(struct api_err *e, int status, const char *title, const char *detail);
/* {"errors":[{"code":"","title":...,"detail":...}]} (new reference). */
json_t *api_err_json(const struct api_err *e);
void api_reply_err(struct api_call *call, const struct api_err *e);

/* Body schemas are http/body.h's (struct http_field, HF_* types). */
/* Parses the body as a JSON object with only the listed fields (rport's
 * DisallowUnknownFields). On failure it replies 400 itself and returns -1. */
int api_body(struct api_call *call, const struct http_field *fields, size_t nfields,
	     json_t **out);
/* The kinds of rport request a field may be limited to (http_field.kinds). */
#define API_KIND_COMMAND 1u   /* runs a command (not a script) */
#define API_KIND_SCRIPT 2u    /* runs a script */
#define API_KIND_REST 4u      /* over REST (not the WebSocket API) */
/* api_body for a request of these kinds. */
int api_body_kind(struct api_call *call, const struct http_field *fields, size_t nfields,
		  unsigned kind, json_t **out);
/* The same on any text (WebSocket frames). Returns 0 or -1 with err. */
int api_parse_body(const char *body, size_t len, const struct http_field *fields,
		   size_t nfields, unsigned kind, json_t **out, struct api_err *err);

/* The request's query parameters as two parallel arrays (for the query
 * parsers of core/query.h). Returns 0, or -1 after replying 500. */
struct api_query {
	const char **names, **values;
	size_t n;
};
int api_query_get(struct api_call *call, struct api_query *aq);
void api_query_free(struct api_query *aq);

/* The body's idempotency key, looked up in the store: when it was used
 * before, the answer is the first request's job (or 422 for another
 * request); otherwise next goes on with the body (it owns it), the key
 * (NULL when none; it points into body) and the request's hash (lent for
 * the call). Bad keys are answered 400. */
typedef void (*api_idem_next)(struct api_call *call, json_t *body, const char *key,
			      const char *hash, void *ud);
void api_idem_begin(struct api_call *call, json_t *body, api_idem_next next, void *ud);

/* Parses a multi-client request body (REST or WebSocket) into the core's
 * terms and prepares it (core/invoke.h): returns the prepared invocation
 * (its id and target count are known; submit it with invoke_submit) or
 * NULL with err. stream asks agents for live output. */
struct invocation *api_multi_prepare(struct server *srv, json_t *body, bool is_script,
				     bool stream, const char *user, const char *peer,
				     const char *idem_key, const char *idem_hash,
				     struct api_err *err);
/* The core's invocation and targeting errors in rport's words. */
struct invoke_error;
void api_invoke_err(const struct invoke_error *ie, bool by_labels, struct api_err *err);
void api_target_err(enum target_error te, const char *subject, bool by_labels,
		    struct api_err *err);
/* The fields of a multi-client request (commands and scripts, REST and
 * the WebSocket API: see API_KIND_*). */
extern const struct http_field api_multi_fields[];
extern const size_t api_multi_nfields;

/* timeout_sec and delivery_timeout_sec of a submission, checked against
 * JOB_MAX_TIMEOUT_SEC, with the server's defaults. Returns 0 or -1 with
 * err (400). */
int api_job_timeouts(const struct server *srv, json_t *body, int64_t *timeout,
		     int64_t *delivery, struct api_err *err);
/* The body's idempotency_key (NULL when none; points into body) and the
 * hash of the request it stands for (route + body). Returns 0 or -1 with
 * err. */
int api_idem_key(json_t *body, const char *route, const char **key, char hash[65],
		 struct api_err *err);
/* Answers with the job that call's user created with key (200, or 422
 * for another request), or 500 when the key names none. */
void api_idem_replay(struct api_call *call, const char *key, const char *hash);

/* Reads page[limit] (default 100, max 1000) and page[offset]. Replies 400
 * and returns -1 on bad values. */
int api_page(struct api_call *call, int64_t *limit, int64_t *offset);
/* The same with another maximum (client lists). */
int api_page_max(struct api_call *call, int64_t *limit, int64_t *offset, int64_t max);

struct client;
/* A client as the API shows it: rport's Client with its client groups
 * (groups) and their allowed_user_groups (new reference). */
json_t *api_client_json(struct server *srv, const struct client *c);
/* Keeps only the n named fields of obj (fields[...]); n = 0 keeps all. */
void api_fields_keep(json_t *obj, const char *const *fields, size_t n);

/* Handlers, by resource (api_clients.c, api_commands.c). */
void api_clients_list(struct api_call *call);
/* Frees the sorted orders GET /clients keeps (at shutdown). */
void api_clients_cache_free(void);
void api_clients_get(struct api_call *call);
void api_clients_delete(struct api_call *call);
void api_clients_auth_list(struct api_call *call);
void api_clients_auth_get(struct api_call *call);
void api_client_tags_list(struct api_call *call);
void api_user_groups_get(struct api_call *call);
void api_me_ip_get(struct api_call *call);
void api_me_put(struct api_call *call);
/* GET /openapi.json: the OpenAPI document embedded at build time
 * (api_openapi.c, api/openapi.json). */
void api_openapi_get(struct api_call *call);
/* GET /status with rport's fields (api_auth.c). */
void api_status_rport(struct api_call *call);
void api_clients_auth_post(struct api_call *call);
void api_clients_auth_delete(struct api_call *call);
void api_enroll_post(struct api_call *call);
void api_enroll_list(struct api_call *call);
void api_enroll_delete(struct api_call *call);
void api_client_commands_post(struct api_call *call);
void api_client_commands_list(struct api_call *call);
void api_client_commands_delete(struct api_call *call);
void api_client_scripts_post(struct api_call *call);
void api_scripts_post(struct api_call *call);
void api_commands_delete(struct api_call *call);
/* Decodes a base64 script (UTF-8 text). Replies 400 and returns -1 on
 * error; *out is malloc'd. */
int api_decode_script(struct api_call *call, json_t *v, char **out);
int api_decode_script_err(json_t *v, char **out, struct api_err *err);
struct client;
/* The checks every job submission makes before its targets are known
 * (single and multi-client, commands and scripts, REST and the WS API), so
 * that all refuse the same requests in the same words: the command, or the
 * base64 script, its length, the interpreter's form, cwd. Sets *command
 * (into body, or *script: the decoded script, or the shell-quoted
 * rendering of a command's "argv", which the caller frees). A command has
 * "command" or "argv", not both (api_job_argv). Returns 0, or -1 with err
 * set. */
int api_job_validate(json_t *body, bool is_script, const char **command, char **script,
		     struct api_err *err);
/* The check for each target: its agent offers the interpreter, or it is an
 * absolute path. Returns 0, or -1 with err set (400). */
int api_job_validate_target(const struct client *c, const char *interp, struct api_err *err);
void api_client_commands_get(struct api_call *call);
/* Queues an audit record for the caller's action (who, from where). */
void api_audit(struct api_call *call, const char *application, const char *action,
	       const char *affected_id, const char *client_id, bool success);
void api_users_list(struct api_call *call);
void api_users_post(struct api_call *call);
void api_users_put(struct api_call *call);
void api_users_delete(struct api_call *call);
void api_user_groups_list(struct api_call *call);
void api_user_groups_put(struct api_call *call);
void api_user_groups_delete(struct api_call *call);
/* May the caller use this client (admins: all; others: through client
 * groups' allowed_user_groups)? */
bool api_client_allowed(struct api_call *call, const struct client *c);
/* Replies 403 and returns false unless the caller created the job or is
 * an administrator. */
bool api_job_visible(struct api_call *call, const char *created_by);
void api_auditlog_list(struct api_call *call);
/* The API's brute-force guard (the WebSocket API shares it). */
struct guard *api_guard(struct api *a);
struct auth_identity;
/* A login with wrong credentials (authorization: the header, or NULL for
 * another kind such as an access_token): counted toward the guard's bans
 * of the address and of the Basic user name, and audited. */
void api_login_failed(struct server *srv, const char *peer, const char *authorization);
/* A login that succeeded: a password login forgets the failures of the
 * address and the user; a token login forgets nothing. */
void api_login_succeeded(struct server *srv, const char *peer, const struct auth_identity *id);
void api_login(struct api_call *call);
void api_logout(struct api_call *call);
void api_me_get(struct api_call *call);
void api_me_tokens_list(struct api_call *call);
void api_me_tokens_post(struct api_call *call);
void api_me_tokens_delete(struct api_call *call);
/* api_tat_keys.c */
void api_me_tat_keys_list(struct api_call *call);
void api_me_tat_keys_post(struct api_call *call);
void api_me_tat_keys_delete(struct api_call *call);
/* GET /bans, DELETE /bans/{kind}/{key} (administrators). */
void api_bans_list(struct api_call *call);
void api_bans_delete(struct api_call *call);
void api_commands_post(struct api_call *call);
void api_commands_list(struct api_call *call);
void api_commands_get(struct api_call *call);
void api_commands_jobs(struct api_call *call);
void api_groups_list(struct api_call *call);
void api_groups_get(struct api_call *call);
void api_groups_post(struct api_call *call);
void api_groups_put(struct api_call *call);
void api_groups_delete(struct api_call *call);
/* The library and schedules (api_library.c, api_schedules.c). */
void api_library_commands_list(struct api_call *call);
void api_library_commands_post(struct api_call *call);
void api_library_commands_get(struct api_call *call);
void api_library_commands_put(struct api_call *call);
void api_library_commands_delete(struct api_call *call);
void api_library_commands_run(struct api_call *call);
void api_library_scripts_list(struct api_call *call);
void api_library_scripts_post(struct api_call *call);
void api_library_scripts_get(struct api_call *call);
void api_library_scripts_put(struct api_call *call);
void api_library_scripts_delete(struct api_call *call);
void api_library_scripts_run(struct api_call *call);

void api_schedules_list(struct api_call *call);
void api_schedules_post(struct api_call *call);
void api_schedules_get(struct api_call *call);
void api_schedules_put(struct api_call *call);
void api_schedules_delete(struct api_call *call);
/* Lists jobs where base_column = base_value with rport's sort/filter/page. */
void api_jobs_query(struct api_call *call, const char *base_column, const char *base_value);

#endif
