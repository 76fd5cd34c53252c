/* ws_api: rport's streaming API, GET /api/v1/ws/commands and /ws/scripts.
 *
 * After the upgrade the first frame is a multi-job request (the body of
 * POST /api/v1/commands or /scripts). The server starts the multi job with
 * live output and streams, for each client, partial frames
 * {jid, client_id, client_name, result:{stdout|stderr}} as output arrives,
 * then the final job; it closes after the last final. Errors are rport's
 * error payload frame, then a close.
 *
 * A slow reader never makes the server buffer without bound: while more
 * than WS_PARTIAL_CAP bytes wait for it, partial output for it is dropped
 * (the next partial it gets says how many bytes were dropped with
 * "output_dropped_bytes"; the final job always has the whole output). A
 * reader more than WS_HARD_CAP behind is disconnected (close 1008). */
#include "ws_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uthash.h>

#include "api.h"
#include "auth.h"
#include "fanout.h"
#include "guard.h"
#include "hub.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define WS_PARTIAL_CAP (1024 * 1024)
#define WS_HARD_CAP (64 * 1024 * 1024)
#define WS_FIRST_FRAME_MAX (1024 * 1024)

struct watcher {
	struct ws_api *w;
	net_conn *conn;          /* NULL once gone */
	int refs;                /* the connection, and a pending auth check */
	bool is_script;
	bool announce;
	int auth_state;          /* 0 pending, 1 ok, -1 refused */
	char user[128];
	bool read_only;
	bool has_token;
	unsigned char token_hash[32];
	char *early;             /* first frame received before auth finished */
	size_t early_len;
	bool started;
	char mjid[UUID_STR_LEN];
	size_t targets;
	size_t finals;
	int64_t dropped;
	UT_hash_handle hh;       /* w->by_multi */
};

struct ws_api {
	struct server *srv;
	uv_timer_t check;         /* expired tokens close their streams */
	struct watcher *by_multi;
	struct watcher **all;     /* every open watcher, for revocations */
	size_t nall;
	size_t allcap;
};

static void all_add(struct ws_api *w, struct watcher *wt)
{
	if (w->nall == w->allcap) {
		size_t nc = w->allcap ? w->allcap * 2 : 16;
		struct watcher **na = realloc(w->all, nc * sizeof *na);

		if (!na)
			return;
		w->all = na;
		w->allcap = nc;
	}
	w->all[w->nall++] = wt;
}

static void all_remove(struct ws_api *w, struct watcher *wt)
{
	for (size_t i = 0; i < w->nall; i++) {
		if (w->all[i] == wt) {
			w->all[i] = w->all[--w->nall];
			return;
		}
	}
}

static void watcher_unref(struct watcher *wt)
{
	if (--wt->refs > 0)
		return;
	free(wt->early);
	free(wt);
}

static void send_json(struct watcher *wt, json_t *m)
{
	char *text = json_dumps(m, JSON_COMPACT);

	json_decref(m);
	if (!text || !wt->conn) {
		free(text);
		return;
	}
	if (net_ws_send(wt->conn, text, strlen(text)) == TE_TOOBIG)
		net_ws_close(wt->conn, 1008, "reader too slow");
	free(text);
}

static void send_error(struct watcher *wt, const struct api_err *e)
{
	send_json(wt, api_err_json(e));
	if (wt->conn)
		net_ws_close(wt->conn, 1000, "error");
}

static void start_job(struct watcher *wt, const char *data, size_t len)
{
	struct server *srv = wt->w->srv;
	struct api_err err;
	json_t *body, *rec;

	wt->started = true;
	if (!len || !data[strspn(data, " \t\r\n")]) {
		api_err_set(&err, 400,
			    "Inbound message should contain non empty json object with command data.",
			    "");
		send_error(wt, &err);
		return;
	}
	if (wt->is_script ? api_parse_body(data, len, api_multi_script_fields,
					   api_multi_script_nfields, &body, &err) :
			    api_parse_body(data, len, api_multi_fields, api_multi_nfields, &body,
					   &err)) {
		send_error(wt, &err);
		return;
	}
	rec = api_multi_start(srv, body, wt->is_script, true, wt->user,
			      wt->conn ? net_ws_peer(wt->conn) : "", &err);
	json_decref(body);
	if (!rec) {
		send_error(wt, &err);
		return;
	}
	util_strlcpy(wt->mjid, json_string_value(json_object_get(rec, "jid")), sizeof wt->mjid);
	wt->targets = json_array_size(json_object_get(rec, "targets"));
	HASH_ADD_STR(wt->w->by_multi, mjid, wt);
	if (wt->announce) {
		/* Opt-in (?announce=1): the multi job and its targets first,
		 * so a client can cancel it or wait for every target. */
		json_t *a = json_pack("{s:s, s:O}", "multi_job_id", wt->mjid, "client_ids",
				      json_object_get(rec, "targets"));
		send_json(wt, a);
	}
	log_info("ws: %s streams multi job %s (%zu clients)", wt->user, wt->mjid, wt->targets);
	json_decref(rec);
}

static void auth_checked(void *ud, const struct auth_identity *id)
{
	struct watcher *wt = ud;

	if (id) {
		wt->auth_state = 1;
		util_strlcpy(wt->user, id->user, sizeof wt->user);
		wt->read_only = id->scope == AUTH_SCOPE_READ;
		if (id->session_token || id->api_token) {
			wt->has_token = true;
			memcpy(wt->token_hash, id->token_hash, sizeof wt->token_hash);
		}
		/* The user group permission of the route. */
		if (!auth_user_may(wt->w->srv->auth, wt->user, wt->is_script ? "scripts" : "commands"))
			wt->read_only = true;
	} else {
		wt->auth_state = -1;
	}
	if (wt->conn && wt->refs == 2) {
		/* Finished after the upgrade (a password hashed off the loop). */
		if (wt->auth_state < 0 || wt->read_only) {
			struct api_err err;

			api_err_set(&err, wt->auth_state < 0 ? 401 : 403,
				    wt->auth_state < 0 ? "unauthorized" :
				    "the scope of the provided token is not authorized for this operation",
				    "");
			send_error(wt, &err);
		} else if (wt->early) {
			start_job(wt, wt->early, wt->early_len);
			free(wt->early);
			wt->early = NULL;
		}
	}
	watcher_unref(wt);
}

/* A browser sends Origin; only configured origins may open the API (no
 * cross-site WebSocket hijacking). Tools send none. */
static bool origin_allowed(const struct server *srv, const char *origin)
{
	const char *list = srv->cfg.allowed_origins;
	size_t ol;

	if (!origin)
		return true;
	ol = strlen(origin);
	while (*list) {
		const char *end = strchr(list, ',');
		size_t n = end ? (size_t)(end - list) : strlen(list);

		while (n && *list == ' ') {
			list++;
			n--;
		}
		while (n && list[n - 1] == ' ')
			n--;
		if (n == ol && !strncasecmp(list, origin, n))
			return true;
		if (!end)
			break;
		list = end + 1;
	}
	return false;
}

int ws_api_accept(struct ws_api *w, net_conn *c)
{
	const char *path = net_ws_path(c);
	struct watcher *wt;
	bool is_script;

	if (!strcmp(path, "/api/v1/ws/commands"))
		is_script = false;
	else if (!strcmp(path, "/api/v1/ws/scripts"))
		is_script = true;
	else
		return 404;
	if (!origin_allowed(w->srv, net_ws_origin(c))) {
		log_warn("ws: refused a connection from origin %.200s", net_ws_origin(c));
		return 403;
	}
	{
		char name[128];
		enum guard_verdict v;

		auth_basic_user(net_ws_authorization(c), name, sizeof name);
		v = guard_check(api_guard(w->srv->api), net_ws_peer(c), name[0] ? name : NULL);
		if (v != GUARD_OK)
			return v;
	}
	wt = calloc(1, sizeof *wt);
	if (!wt)
		return 503;
	wt->w = w;
	wt->conn = c;
	wt->is_script = is_script;
	wt->announce = net_ws_query(c, "announce") && strcmp(net_ws_query(c, "announce"), "0");
	wt->refs = 2;
	net_ws_set_user(c, wt);
	all_add(w, wt);
	auth_api_check(w->srv->auth, net_ws_authorization(c), net_ws_query(c, "access_token"),
		       auth_checked, wt);
	if (wt->auth_state != 0) {
		int st = wt->auth_state < 0 ? 401 : wt->read_only ? 403 : 0;

		if (st) {
			net_ws_set_user(c, NULL);
			all_remove(w, wt);
			watcher_unref(wt);
			return st;
		}
	}
	return 0;
}

void ws_api_message(struct ws_api *w, net_conn *c, const char *data, size_t len)
{
	struct watcher *wt = net_ws_user(c);

	(void)w;
	if (!wt || wt->started)
		return; /* one request per connection; later frames are ignored */
	if (wt->auth_state == 0) {
		if (wt->early)
			return;
		wt->early = malloc(len + 1);
		if (wt->early) {
			memcpy(wt->early, data, len);
			wt->early[len] = '\0';
			wt->early_len = len;
		}
		return;
	}
	if (wt->auth_state < 0)
		return;
	start_job(wt, data, len);
}

void ws_api_close(struct ws_api *w, net_conn *c)
{
	struct watcher *wt = net_ws_user(c);

	if (!wt)
		return;
	if (wt->started && wt->mjid[0]) {
		struct watcher *found;

		HASH_FIND_STR(w->by_multi, wt->mjid, found);
		if (found == wt)
			HASH_DEL(w->by_multi, wt);
	}
	wt->conn = NULL;
	all_remove(w, wt);
	watcher_unref(wt);
}

void ws_api_revoke_user(struct ws_api *w, const char *user)
{
	for (size_t i = 0; i < w->nall; i++)
		if (w->all[i]->conn && !strcmp(w->all[i]->user, user))
			net_ws_close(w->all[i]->conn, 4001, "user deleted or locked");
}

/* Every 2 s: a stream opened with a token that has since expired (or was
 * revoked, or whose user is gone) is closed. The watchers are few. */
static void check_cb(uv_timer_t *t)
{
	struct ws_api *w = t->data;

	for (size_t i = 0; i < w->nall; i++) {
		struct watcher *wt = w->all[i];

		if (wt->conn && wt->has_token && !auth_token_valid(w->srv->auth, wt->token_hash))
			net_ws_close(wt->conn, 4001, "token expired or revoked");
	}
}

void ws_api_stop(struct ws_api *w)
{
	if (w && !uv_is_closing((uv_handle_t *)&w->check))
		uv_close((uv_handle_t *)&w->check, NULL);
}

void ws_api_revoke_token(struct ws_api *w, const unsigned char hash[32])
{
	for (size_t i = 0; i < w->nall; i++)
		if (w->all[i]->conn && w->all[i]->has_token &&
		    !memcmp(w->all[i]->token_hash, hash, 32))
			net_ws_close(w->all[i]->conn, 4001, "token revoked");
}

/* ---- events from the core -------------------------------------------- */

void ws_api_output(struct ws_api *w, const char *mjid, const char *jid,
		   const struct client *c, const char *stream, json_t *data, bool base64)
{
	struct watcher *wt;
	json_t *m, *res;
	size_t len = json_string_length(data);

	HASH_FIND_STR(w->by_multi, mjid, wt);
	if (!wt || !wt->conn)
		return;
	if (net_ws_queued(wt->conn) > WS_PARTIAL_CAP) {
		wt->dropped += (int64_t)len;
		return;
	}
	res = json_object();
	json_object_set(res, stream, data);
	if (base64) {
		char key[32];

		snprintf(key, sizeof key, "%s_encoding", stream);
		json_object_set_new(res, key, json_string("base64"));
	}
	m = json_pack("{s:s, s:s, s:s, s:s, s:o}", "jid", jid, "multi_job_id", mjid, "client_id",
		      hub_client_id(c), "client_name", hub_client_name(c), "result", res);
	if (wt->dropped) {
		json_object_set_new(m, "output_dropped_bytes", json_integer(wt->dropped));
		wt->dropped = 0;
	}
	send_json(wt, m);
}

void ws_api_child_done(struct ws_api *w, const char *mjid, const char *jid)
{
	struct watcher *wt;
	json_t *job;

	HASH_FIND_STR(w->by_multi, mjid, wt);
	if (!wt || !wt->conn)
		return;
	if (store_job_get(w->srv->store, jid, &job) == 0)
		send_json(wt, job);
	wt->finals++;
	if (wt->conn && wt->finals >= wt->targets)
		net_ws_close(wt->conn, 1000, "done");
}

void ws_api_multi_done(struct ws_api *w, const char *mjid)
{
	struct watcher *wt;

	/* Aborted or stopped early: targets never run get no final. */
	HASH_FIND_STR(w->by_multi, mjid, wt);
	if (wt && wt->conn)
		net_ws_close(wt->conn, 1000, "done");
}

int ws_api_create(struct server *srv, struct ws_api **out)
{
	struct ws_api *w = calloc(1, sizeof *w);

	if (!w)
		return TE_NOMEM;
	w->srv = srv;
	uv_timer_init(srv->loop, &w->check);
	w->check.data = w;
	uv_timer_start(&w->check, check_cb, 2000, 2000);
	uv_unref((uv_handle_t *)&w->check);
	*out = w;
	return 0;
}

void ws_api_destroy(struct ws_api *w)
{
	struct watcher *wt, *tmp;

	if (!w)
		return;
	HASH_ITER(hh, w->by_multi, wt, tmp)
		HASH_DEL(w->by_multi, wt);
	free(w->all);
	free(w);
}
