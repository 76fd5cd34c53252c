/* audit: records and the query endpoint. */
#include "core/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dialects/rport/api.h"
#include "agents/hub.h"
#include "store/store.h"
#include "util.h"

int audit_insert(struct store *st, const struct audit_entry *e)
{
	json_t *rec = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:b}",
				"timestamp", (json_int_t)util_now_ns(),
				"username", e->username ? e->username : "",
				"remote_ip", e->remote_ip ? e->remote_ip : "",
				"application", e->application ? e->application : "",
				"action", e->action ? e->action : "",
				"affected_id", e->affected_id ? e->affected_id : "",
				"client_id", e->client_id ? e->client_id : "",
				"success", e->success);
	int rc;

	if (!rec)
		return TE_NOMEM;
	if (e->request)
		json_object_set(rec, "request", e->request);
	if (e->response)
		json_object_set(rec, "response", e->response);
	rc = store_audit_put(st, rec);
	json_decref(rec);
	return rc;
}

struct audit_write {
	json_t *hold;
	struct audit_entry e;
};

static int audit_apply(struct store *st, void *arg)
{
	struct audit_write *w = arg;

	return audit_insert(st, &w->e);
}

static void audit_after(void *arg, int rc)
{
	struct audit_write *w = arg;

	(void)rc;
	json_decref(w->hold);
	free(w);
}

void audit_queue(struct server *srv, const struct audit_entry *e)
{
	struct audit_write *w = calloc(1, sizeof *w);

	if (!w)
		return;
	/* Copy the strings: the caller's may not outlive the queue. */
	w->hold = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "u", e->username ? e->username : "",
			    "ip", e->remote_ip ? e->remote_ip : "", "app",
			    e->application ? e->application : "", "act", e->action ? e->action : "",
			    "id", e->affected_id ? e->affected_id : "", "cid",
			    e->client_id ? e->client_id : "");
	if (e->request)
		json_object_set(w->hold, "req", e->request);
	w->e.username = json_string_value(json_object_get(w->hold, "u"));
	w->e.remote_ip = json_string_value(json_object_get(w->hold, "ip"));
	w->e.application = json_string_value(json_object_get(w->hold, "app"));
	w->e.action = json_string_value(json_object_get(w->hold, "act"));
	w->e.affected_id = json_string_value(json_object_get(w->hold, "id"));
	w->e.client_id = json_string_value(json_object_get(w->hold, "cid"));
	w->e.request = json_object_get(w->hold, "req");
	w->e.success = e->success;
	store_queue(srv->store, audit_apply, audit_after, w);
}

/* GET /auditlog: filter[username|action|application|remote_ip|affected_id|client_id]
 * (OR-ed values, '*' wildcards), filter[timestamp][since|until], sort
 * (timestamp, default newest first), page[...]. */
void api_auditlog_list(struct api_call *call)
{
	static const char *const fields[] = { "username", "action", "application", "remote_ip",
					      "affected_id", "client_id" };
	struct audit_query q;
	int64_t limit, offset, total = 0;
	json_t *arr = NULL;
	char title[200];
	size_t n = net_http_query_count(call->req);

	memset(&q, 0, sizeof q);
	if (api_page(call, &limit, &offset))
		return;
	q.limit = limit;
	q.offset = offset;
	q.desc = true;
	for (size_t i = 0; i < n; i++) {
		const char *v, *name = net_http_query_at(call->req, i, &v);
		size_t k;

		if (!strcmp(name, "sort")) {
			if (!strcmp(v, "timestamp"))
				q.desc = false;
			else if (strcmp(v, "-timestamp")) {
				snprintf(title, sizeof title, "unsupported sort field '%.64s'", v);
				api_reply_error(call, 400, title, "");
				return;
			}
			continue;
		}
		if (strncmp(name, "filter[", 7))
			continue;
		if (!strcmp(name, "filter[timestamp][since]") || !strcmp(name, "filter[timestamp][gt]")) {
			if (util_time_parse(v, &q.since)) {
				api_reply_error(call, 400, "Invalid time in filter[timestamp].", "use RFC 3339");
				return;
			}
			continue;
		}
		if (!strcmp(name, "filter[timestamp][until]") || !strcmp(name, "filter[timestamp][lt]")) {
			if (util_time_parse(v, &q.until)) {
				api_reply_error(call, 400, "Invalid time in filter[timestamp].", "use RFC 3339");
				return;
			}
			continue;
		}
		for (k = 0; k < sizeof fields / sizeof fields[0]; k++) {
			char want[64];

			snprintf(want, sizeof want, "filter[%s]", fields[k]);
			if (!strcmp(name, want))
				break;
		}
		if (k == sizeof fields / sizeof fields[0] || q.nfilters == 8) {
			snprintf(title, sizeof title, "unsupported filter field '%.64s'", name + 7);
			api_reply_error(call, 400, title, "");
			return;
		}
		q.filters[q.nfilters].field = fields[k];
		q.filters[q.nfilters].value = v;
		q.nfilters++;
	}
	if (store_audit_query(call->srv->store, &q, &arr, &total)) {
		api_reply_error(call, 500, "Failed to read the audit log.", "");
		return;
	}
	{
		/* rport's AuditLog: request as the JSON text (a string),
		 * client_hostname, response as JSON text too ("" when the
		 * action recorded none, e.g. a failed login). */
		size_t i;
		json_t *rec;

		json_array_foreach(arr, i, rec) {
			json_t *req = json_object_get(rec, "request");
			const char *cid = json_string_value(json_object_get(rec, "client_id"));
			struct client *c = cid && *cid ? hub_client_find(call->srv->hub, cid) : NULL;
			const char *host = "";
			const json_t *list;
			char num[32];

			if (req && !json_is_string(req)) {
				char *text = json_is_null(req) ? NULL : json_dumps(req, JSON_COMPACT);

				json_object_set_new(rec, "request", json_string(text ? text : ""));
				free(text);
			} else if (!req) {
				json_object_set_new(rec, "request", json_string(""));
			}
			if (c)
				hub_client_field(c, "hostname", &host, &list, num, sizeof num);
			json_object_set_new(rec, "client_hostname", json_string(host ? host : ""));
			req = json_object_get(rec, "response");
			if (req && !json_is_null(req)) {
				char *text = json_dumps(req, JSON_COMPACT | JSON_ENCODE_ANY);

				json_object_set_new(rec, "response", json_string(text ? text : ""));
				free(text);
			} else {
				json_object_set_new(rec, "response", json_string(""));
			}
		}
	}
	api_reply_list(call, arr, total);
}
