/* audit: writing audit records (the rport dialect lists them). */
#include "core/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util.h"

int audit_insert(struct store *st, const struct audit_entry *e)
{
	struct store_audit_row r = {
		.timestamp = util_now_ns(),
		.username = e->username,
		.remote_ip = e->remote_ip,
		.application = e->application,
		.action = e->action,
		.affected_id = e->affected_id,
		.client_id = e->client_id,
		.success = e->success,
	};
	char *req = NULL, *resp = NULL;
	int rc = TE_NOMEM;

	if ((!e->request_text && e->request && !(req = json_dumps(e->request, JSON_COMPACT))) ||
	    (!e->response_text && e->response &&
	     !(resp = json_dumps(e->response, JSON_COMPACT | JSON_ENCODE_ANY))))
		goto out;
	r.request = e->request_text ? e->request_text : req;
	r.response = e->response_text ? e->response_text : resp;
	rc = store_audit_put(st, &r);
out:
	free(req);
	free(resp);
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
