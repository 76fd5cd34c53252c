/* GET /api/v1/auditlog: rport's audit log listing over the core's records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "core/registry.h"
#include "dialects/rport/api.h"
#include "dialects/rport/client_json.h"
#include "store/store.h"
#include "util.h"

/* The page of records has come: rport's AuditLog shape. */
static void audit_page(void *ud, int rc, json_t *arr, int64_t total)
{
	struct api_call *call = ud;

	if (rc) {
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
			struct client *c = cid && *cid ? registry_find(call->srv->registry, cid) : NULL;
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
				rport_client_field(c, "hostname", &host, &list, num, sizeof num);
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

/* GET /auditlog: filter[username|action|application|remote_ip|affected_id|client_id]
 * (OR-ed values, '*' wildcards), filter[timestamp][since|until], sort
 * (timestamp, default newest first), page[...]. */
void api_auditlog_list(struct api_call *call)
{
	static const char *const fields[] = { "username", "action", "application", "remote_ip",
					      "affected_id", "client_id" };
	struct audit_query q;
	int64_t limit, offset;
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
	store_read_audit_query(call->srv->store, &q, audit_page, call);
}
