/* enroll: an agent proving an enrollment code (auth/enroll.c) on the agent
 * listener. The first frame is then "enroll" instead of "hello"; the answer
 * is "enrolled" with the agent's own credential, or an error frame, and
 * the connection closes either way. Failures count against the address as
 * failed logins do (the same bans), and every attempt is audited. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "agents/hub_priv.h"
#include "auth/auth.h"
#include "core/audit.h"
#include "log.h"
#include "proto.h"

static void audit_use(struct server *srv, const char *peer, const char *code_id,
		      const char *client_id, bool ok, const char *why)
{
	struct audit_entry e = { 0 };
	json_t *req = json_pack("{s:s?, s:s?}", "code_id", code_id, "result", why);

	e.username = "";
	e.remote_ip = peer;
	e.application = "enrollment";
	e.action = ok ? "enroll" : "failed_enroll";
	e.affected_id = code_id ? code_id : "";
	e.client_id = client_id;
	e.request = req;
	e.success = ok;
	audit_queue(srv, &e);
	json_decref(req);
}

void on_enroll(struct session *s, json_t *m)
{
	struct hub *h = s->hub;
	const char *code = json_string_value(json_object_get(m, "code"));
	const char *id = json_string_value(json_object_get(m, "id"));
	const char *peer = net_ws_peer(s->conn), *why;
	char password[96];
	json_t *rec, *out;
	enum enroll_result r;

	if (s->client) {
		session_fail(s, PROTO_CLOSE_PROTOCOL, "enroll after hello");
		return;
	}
	s->enroll_done = true;
	if (guard_admit(h->guard, peer, NULL, &why) != GUARD_OK) {
		session_fail(s, PROTO_CLOSE_AUTH, why);
		return;
	}
	r = auth_enroll_use(h->srv->auth, code, id, password, sizeof password, &rec);
	why = auth_enroll_result_text(r);
	audit_use(h->srv, peer, rec ? json_string_value(json_object_get(rec, "id")) : NULL, id,
		  r == ENROLL_OK, why);
	if (r != ENROLL_OK) {
		log_warn("hub: %s: enrollment of '%.64s' refused: %s", peer, id, why);
		if (r == ENROLL_BAD_CODE)
			guard_failed(h->guard, peer, NULL);
		session_fail(s, PROTO_CLOSE_AUTH, why);
		return;
	}
	guard_succeeded(h->guard, peer, NULL);
	log_info("hub: %s: client '%s' enrolled with code %s", peer, id,
		 json_string_value(json_object_get(rec, "id")));
	out = proto_new(PROTO_ENROLLED);
	json_object_set_new(out, "auth_id", json_string(id));
	json_object_set_new(out, "password", json_string(password));
	json_object_set_new(out, "id", json_string(id));
	json_object_set(out, "tags", json_object_get(rec, "tags"));
	json_object_set(out, "labels", json_object_get(rec, "labels"));
	sodium_memzero(password, sizeof password);
	session_send(s, out);
	net_ws_close(s->conn, 1000, "enrolled");
}
