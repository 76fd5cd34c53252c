/* api_clients: GET /clients, GET /clients/{id}. */
#include <stdio.h>

#include "api.h"
#include "hub.h"

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
	api_reply_data(call, 200, hub_client_json(c));
}
