/* api_groups: client groups (GET/POST /client-groups, GET/PUT/DELETE
 * /client-groups/{id}). */
#include <stdio.h>
#include <string.h>

#include "dialects/rport/api.h"
#include "core/groups.h"
#include "util.h"

static const struct http_field group_fields[] = {
	{ "id", HF_STRING, 0 },
	{ "description", HF_STRING, 0 },
	{ "params", HF_OBJECT, 0 },
	{ "allowed_user_groups", HF_ARRAY, 0 },
	{ "client_ids", HF_ARRAY, 0 },   /* read-only: accepted and ignored */
};

static void not_found(struct api_call *call, const char *id)
{
	char title[256];

	snprintf(title, sizeof title, "Client Group[id=\"%.128s\"] not found.", id);
	api_reply_error(call, 404, title, "");
}

void api_groups_list(struct api_call *call)
{
	json_t *all = groups_list_json(call->srv->groups);

	api_reply_list(call, all, (int64_t)json_array_size(all));
}

void api_groups_get(struct api_call *call)
{
	json_t *g = groups_get_json(call->srv->groups, call->params[0]);

	if (!g) {
		not_found(call, call->params[0]);
		return;
	}
	api_reply_data(call, 200, g);
}

static int read_group(struct api_call *call, json_t **body)
{
	char err[400];

	if (api_body(call, group_fields, sizeof group_fields / sizeof group_fields[0], body))
		return -1;
	if (groups_validate(*body, err, sizeof err)) {
		json_decref(*body);
		api_reply_error(call, 400, "Invalid client group.", err);
		return -1;
	}
	return 0;
}

void api_groups_post(struct api_call *call)
{
	json_t *body;
	const char *id;
	char title[256];

	if (read_group(call, &body))
		return;
	id = json_string_value(json_object_get(body, "id"));
	if (groups_get(call->srv->groups, id)) {
		snprintf(title, sizeof title, "Client group with id=\"%.128s\" already exists.", id);
		json_decref(body);
		api_reply_error(call, 409, title, "use PUT /api/v1/client-groups/{id} to change it");
		return;
	}
	if (groups_put(call->srv->groups, body)) {
		json_decref(body);
		api_reply_error(call, 500, "Failed to store the client group.", "");
		return;
	}
	api_audit(call, "client.group", "create", id, NULL, true);
	api_reply_data(call, 201, groups_get_json(call->srv->groups, id));
	json_decref(body);
}

void api_groups_put(struct api_call *call)
{
	json_t *body;
	const char *id;

	if (api_body(call, group_fields, sizeof group_fields / sizeof group_fields[0], &body))
		return;
	id = json_string_value(json_object_get(body, "id"));
	if (!id)
		json_object_set_new(body, "id", json_string(call->params[0]));
	else if (strcmp(id, call->params[0])) {
		json_decref(body);
		api_reply_error(call, 400, "Invalid client group.",
				"the id in the body differs from the id in the URL");
		return;
	}
	{
		char err[400];

		if (groups_validate(body, err, sizeof err)) {
			json_decref(body);
			api_reply_error(call, 400, "Invalid client group.", err);
			return;
		}
	}
	if (groups_put(call->srv->groups, body)) {
		json_decref(body);
		api_reply_error(call, 500, "Failed to store the client group.", "");
		return;
	}
	json_decref(body);
	api_audit(call, "client.group", "update", call->params[0], NULL, true);
	api_reply(call, 204, NULL);
}

void api_groups_delete(struct api_call *call)
{
	int rc = groups_delete(call->srv->groups, call->params[0]);

	if (rc == TE_NOTFOUND) {
		not_found(call, call->params[0]);
		return;
	}
	if (rc) {
		api_reply_error(call, 500, "Failed to delete the client group.", "");
		return;
	}
	api_audit(call, "client.group", "delete", call->params[0], NULL, true);
	api_reply(call, 204, NULL);
}
