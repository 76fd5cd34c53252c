/* api_clients: GET /clients, GET /clients/{id}. */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "audit.h"
#include "auth.h"
#include "hub.h"
#include "util.h"

void api_clients_list(struct api_call *call)
{
	json_t *all = hub_clients_json(call->srv->hub);
	int64_t limit, offset;
	json_t *page;
	size_t n = json_array_size(all);

	/* Whole fleets are listed by tools: a larger page than for jobs. */
	if (api_page_max(call, &limit, &offset, 100000)) {
		json_decref(all);
		return;
	}
	if (!call->admin) {
		/* Only the clients this user may use. */
		json_t *mine = json_array();
		size_t i;
		json_t *v;

		json_array_foreach(all, i, v) {
			struct client *c = hub_client_find(call->srv->hub,
							   json_string_value(json_object_get(v, "id")));

			if (c && api_client_allowed(call, c))
				json_array_append(mine, v);
		}
		json_decref(all);
		all = mine;
		n = json_array_size(all);
	}
	page = json_array();
	for (size_t i = (size_t)offset; i < n && i < (size_t)(offset + limit); i++)
		json_array_append(page, json_array_get(all, i));
	json_decref(all);
	api_reply_list(call, page, (int64_t)n);
}

void api_clients_get(struct api_call *call)
{
	struct client *c = hub_client_find(call->srv->hub, call->params[0]);
	char title[256];

	if (!c) {
		snprintf(title, sizeof title, "Client with id=\"%.128s\" not found.",
			 call->params[0]);
		api_reply_error(call, 404, title, "");
		return;
	}
	if (!api_client_allowed(call, c)) {
		api_reply_error(call, 403, "forbidden", "access to this client is not allowed");
		return;
	}
	api_reply_data(call, 200, hub_client_json(c));
}

void api_clients_delete(struct api_call *call)
{
	char title[256];
	int rc = hub_client_delete(call->srv->hub, call->params[0]);

	if (rc == TE_NOTFOUND) {
		snprintf(title, sizeof title, "Client with id=\"%.128s\" not found.", call->params[0]);
		api_reply_error(call, 404, title, "");
		return;
	}
	if (rc == TE_STATE) {
		api_reply_error(call, 400, "Client is connected.",
				"only disconnected clients can be deleted");
		return;
	}
	api_reply(call, 204, NULL);
}

static const struct api_field cred_fields[] = {
	{ "id", AF_STRING },
	{ "password", AF_STRING },
};

void api_clients_auth_list(struct api_call *call)
{
	json_t *all = auth_creds_list(call->srv->auth);

	api_reply_list(call, all, (int64_t)json_array_size(all));
}

static void audit_cred(struct api_call *call, const char *action, const char *id)
{
	api_audit(call, "clients-auth", action, id, NULL, true);
}

void api_clients_auth_post(struct api_call *call)
{
	const char *id, *pw;
	json_t *body;
	char title[256];
	int rc;

	if (api_body(call, cred_fields, 2, &body))
		return;
	id = json_string_value(json_object_get(body, "id"));
	pw = json_string_value(json_object_get(body, "password"));
	if (!id || !*id || strlen(id) > 128 || strpbrk(id, " /:")) {
		json_decref(body);
		api_reply_error(call, 400, "Invalid client auth id.",
				"1 to 128 characters, no spaces, ':' or '/'");
		return;
	}
	if (!pw || strlen(pw) < 8 || strlen(pw) > 512) {
		json_decref(body);
		api_reply_error(call, 400, "Invalid client auth password.",
				"8 to 512 characters");
		return;
	}
	rc = auth_cred_add(call->srv->auth, id, pw);
	if (rc == TE_EXISTS) {
		snprintf(title, sizeof title, "Client auth with id=\"%.128s\" already exists.", id);
		json_decref(body);
		api_reply_error(call, 409, title, "");
		return;
	}
	if (rc) {
		json_decref(body);
		api_reply_error(call, 500, "Failed to store the client auth.", "");
		return;
	}
	audit_cred(call, "create", id);
	api_reply(call, 201, json_pack("{s:{s:s}}", "data", "id", id));
	json_decref(body);
}

void api_clients_auth_delete(struct api_call *call)
{
	char title[256];
	int rc = auth_cred_delete(call->srv->auth, call->params[0]);

	if (rc == TE_NOTFOUND) {
		snprintf(title, sizeof title, "Client auth with id=\"%.128s\" not found.",
			 call->params[0]);
		api_reply_error(call, 404, title, "");
		return;
	}
	if (rc == TE_STATE) {
		api_reply_error(call, 400, "Client auth from the configuration file.",
				"it cannot be changed through the API");
		return;
	}
	audit_cred(call, "delete", call->params[0]);
	/* Its agents are cut off now, not at their next login. */
	hub_disconnect_auth(call->srv->hub, call->params[0]);
	api_reply(call, 204, NULL);
}
