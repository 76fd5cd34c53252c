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
 * and counted per job and stream. Once it catches up (its queue drains, or
 * the next partial goes out), or before the job's final, a frame
 * {"type":"dropped", jid, multi_job_id, client_id, client_name, stream,
 * offset, bytes, lines} says what it missed; the final job always has the
 * whole output. Output the agent could not send live (it had no
 * connection) shows as a gap in the agents' frame offsets and is reported
 * the same way, at once. Partials carry their offset too, so a reader can
 * place every byte. A reader more than WS_HARD_CAP behind is disconnected
 * (close 1008). */
#include "dialects/rport/ws_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>
#include <uthash.h>

#include "dialects/rport/api.h"
#include "dialects/rport/job_json.h"
#include "auth/auth.h"
#include "core/events.h"
#include "core/invoke.h"
#include "core/fanout.h"
#include "core/metrics.h"
#include "auth/guard.h"
#include "agents/hub.h"
#include "log.h"
#include "store/store.h"
#include "util.h"

#define WS_PARTIAL_CAP (1024 * 1024)
#define WS_HARD_CAP (64 * 1024 * 1024)
#define WS_FIRST_FRAME_MAX (1024 * 1024)

/* What a watcher got of one job's stream: the partial bytes and lines
 * sent, and those dropped for it (the pending part not yet reported). */
struct jstat {
	char key[UUID_STR_LEN + 8];   /* "<jid>/<stream>" */
	char jid[UUID_STR_LEN];
	char stream[8];
	char client_id[128];
	char client_name[128];
	int64_t sent_bytes, sent_lines;
	int64_t dropped_bytes, dropped_lines;  /* reported or pending */
	int64_t pend_bytes, pend_lines;
	int64_t pend_offset;                   /* where the pending drop starts */
	bool pending;                          /* on the watcher's pend list */
	struct jstat *next_pend;
	UT_hash_handle hh;
};

struct watcher {
	struct ws_api *w;
	net_conn *conn;          /* NULL once gone */
	int refs;                /* the connection, and a pending auth check */
	bool is_script;
	bool announce;
	int auth_state;          /* 0 pending, 1 ok, -1 refused */
	char user[128];
	char peer[64];           /* for the guard, when the check ends late */
	char *authorization;     /* the upgrade's, until the check ends */
	bool creds_given;
	bool read_only;
	bool has_token;
	unsigned char token_hash[32];
	char *early;             /* first frame received before auth finished */
	size_t early_len;
	bool started;
	char mjid[UUID_STR_LEN];
	size_t targets;
	size_t finals;
	json_t *announce_ids;    /* the targets, until the announce is sent */
	int reading;             /* finals being read from the store */
	bool multi_done;         /* the multi job ended while finals were read */
	struct jstat *stats;     /* by key, until the job's final */
	struct jstat *pend_head; /* with drops to report, oldest first */
	struct jstat *pend_tail;
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

static void stats_clear(struct watcher *wt)
{
	struct jstat *st, *tmp;

	HASH_ITER(hh, wt->stats, st, tmp) {
		HASH_DEL(wt->stats, st);
		free(st);
	}
	wt->pend_head = wt->pend_tail = NULL;
}

static void watcher_unref(struct watcher *wt)
{
	if (--wt->refs > 0)
		return;
	stats_clear(wt);
	free(wt->authorization);
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

/* rport's WebSocket API checks the targeting before the command (REST
 * checks the command first): a frame {} is "Missing targeting parameters.". */
static bool ws_targeting_missing(json_t *body, struct api_err *err)
{
	static const char *const keys[] = { "client_ids", "group_ids", "tags", "labels" };
	json_t *v;

	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		v = json_object_get(body, keys[i]);
		if ((json_is_array(v) && json_array_size(v)) || json_is_object(v))
			return false;
	}
	api_err_set(err, 400, "Missing targeting parameters.",
		    "please specify targeting options, such as client ids, groups ids or tags");
	return true;
}

/* The invocation is durable and dispatching, or it failed to commit. */
static void job_submitted(void *ud, int rc, const char *id, const struct invoke_error *ie)
{
	struct watcher *wt = ud;
	json_t *ids = wt->announce_ids;

	wt->announce_ids = NULL;
	if (rc) {
		struct api_err err;
		struct watcher *found;

		HASH_FIND_STR(wt->w->by_multi, wt->mjid, found);
		if (found == wt)
			HASH_DEL(wt->w->by_multi, wt);
		wt->mjid[0] = '\0';
		api_invoke_err(ie, false, &err);
		send_error(wt, &err);
	} else {
		if (ids) {
			/* Opt-in (?announce=1): the multi job and its targets
			 * first, so a client can cancel it or wait for every
			 * target. */
			send_json(wt, json_pack("{s:s, s:O}", "multi_job_id", id, "client_ids", ids));
		}
		log_info("ws: %s streams multi job %s (%zu clients)", wt->user, id, wt->targets);
	}
	json_decref(ids);
	watcher_unref(wt);
}

static void start_job(struct watcher *wt, const char *data, size_t len)
{
	struct server *srv = wt->w->srv;
	struct api_err err;
	struct invocation *inv;
	json_t *body;

	wt->started = true;
	if (!len || !data[strspn(data, " \t\r\n")]) {
		api_err_set(&err, 400,
			    "Inbound message should contain non empty json object with command data.",
			    "");
		send_error(wt, &err);
		return;
	}
	if (api_parse_body(data, len, api_multi_fields, api_multi_nfields,
			   wt->is_script ? API_KIND_SCRIPT : API_KIND_COMMAND, &body, &err)) {
		send_error(wt, &err);
		return;
	}
	if (ws_targeting_missing(body, &err)) {
		json_decref(body);
		send_error(wt, &err);
		return;
	}
	inv = api_multi_prepare(srv, body, wt->is_script, true, wt->user,
				wt->conn ? net_ws_peer(wt->conn) : "", NULL, NULL, &err);
	json_decref(body);
	if (!inv) {
		send_error(wt, &err);
		return;
	}
	/* Watching from now on: no child can end before the commit. */
	util_strlcpy(wt->mjid, invocation_id(inv), sizeof wt->mjid);
	wt->targets = invocation_target_count(inv);
	HASH_ADD_STR(wt->w->by_multi, mjid, wt);
	if (wt->announce)
		wt->announce_ids = json_deep_copy(invocation_targets(inv));
	wt->refs++;
	invoke_submit(srv, inv, job_submitted, wt);
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
		api_login_succeeded(wt->w->srv, wt->peer, id);
	} else {
		wt->auth_state = -1;
		/* Wrong credentials count toward bans here as on REST. */
		if (wt->creds_given)
			api_login_failed(wt->w->srv, wt->peer, wt->authorization);
	}
	free(wt->authorization);
	wt->authorization = NULL;
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
	if (!net_ws_authorization(c) && !net_ws_query(c, "access_token")) {
		net_ws_set_refusal(c, "token required");   /* rport's words */
		return 401;
	}
	{
		char name[128];
		enum guard_verdict v;

		auth_basic_user(net_ws_authorization(c), name, sizeof name);
		v = guard_admit(api_guard(w->srv->api), net_ws_peer(c), name[0] ? name : NULL, NULL);
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
	util_strlcpy(wt->peer, net_ws_peer(c), sizeof wt->peer);
	wt->creds_given = net_ws_authorization(c) || net_ws_query(c, "access_token");
	if (net_ws_authorization(c))
		wt->authorization = strdup(net_ws_authorization(c));
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

/* Bytes and newlines of a chunk of output (a JSON string, base64 when
 * b64). */
static void count_output(const char *text, size_t len, bool b64, int64_t *bytes,
			 int64_t *lines)
{
	unsigned char *dec = NULL;
	const char *p = text;

	*bytes = *lines = 0;
	if (!text)
		return;
	if (b64) {
		size_t dlen = 0;

		dec = malloc(len + 1);
		if (dec && !sodium_base642bin(dec, len + 1, text, len, NULL, &dlen, NULL,
					      sodium_base64_VARIANT_ORIGINAL)) {
			p = (const char *)dec;
			len = dlen;
		}
	}
	*bytes = (int64_t)len;
	for (const char *e = p + len; (p = memchr(p, '\n', (size_t)(e - p))); p++)
		(*lines)++;
	free(dec);
}

static struct jstat *stat_get(struct watcher *wt, const char *jid, const char *stream,
			      const char *client_id, const char *client_name)
{
	char key[UUID_STR_LEN + 8];
	struct jstat *st;

	snprintf(key, sizeof key, "%s/%s", jid, stream);
	HASH_FIND_STR(wt->stats, key, st);
	if (st || !client_id)
		return st;
	st = calloc(1, sizeof *st);
	if (!st)
		return NULL;
	util_strlcpy(st->key, key, sizeof st->key);
	util_strlcpy(st->jid, jid, sizeof st->jid);
	util_strlcpy(st->stream, stream, sizeof st->stream);
	util_strlcpy(st->client_id, client_id, sizeof st->client_id);
	util_strlcpy(st->client_name, client_name ? client_name : "", sizeof st->client_name);
	HASH_ADD_STR(wt->stats, key, st);
	return st;
}

static void send_dropped(struct watcher *wt, const char *jid, const char *client_id,
			 const char *client_name, const char *stream, int64_t offset,
			 int64_t bytes, int64_t lines)
{
	send_json(wt, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "type",
				"dropped", "jid", jid, "multi_job_id", wt->mjid, "client_id",
				client_id, "client_name", client_name, "stream", stream,
				"offset", (json_int_t)offset, "bytes", (json_int_t)bytes,
				"lines", (json_int_t)lines));
}

/* Counts bytes (and lines) of st's stream as missed by the reader, from
 * where it is now; reported by drops_report or drops_final. */
static void drop_add(struct watcher *wt, struct jstat *st, int64_t bytes, int64_t lines)
{
	if (!st->pending) {
		st->pend_offset = st->sent_bytes + st->dropped_bytes;
		st->pending = true;
		if (wt->pend_tail)
			wt->pend_tail->next_pend = st;
		else
			wt->pend_head = st;
		wt->pend_tail = st;
	}
	st->dropped_bytes += bytes;
	st->dropped_lines += lines;
	st->pend_bytes += bytes;
	st->pend_lines += lines;
}

/* Takes st off the pend list (the list is short: jobs with fresh drops). */
static void pend_unlink(struct watcher *wt, struct jstat *st)
{
	struct jstat **pp, *prev = NULL;

	if (!st->pending)
		return;
	for (pp = &wt->pend_head; *pp; prev = *pp, pp = &(*pp)->next_pend) {
		if (*pp == st) {
			*pp = st->next_pend;
			if (wt->pend_tail == st)
				wt->pend_tail = prev;
			break;
		}
	}
	st->pending = false;
	st->next_pend = NULL;
}

/* Reports every pending drop (the reader has caught up). */
static void drops_report(struct watcher *wt)
{
	struct jstat *st, *next;

	for (st = wt->pend_head; st; st = next) {
		next = st->next_pend;
		send_dropped(wt, st->jid, st->client_id, st->client_name, st->stream,
			     st->pend_offset, st->pend_bytes, st->pend_lines);
		st->pend_bytes = st->pend_lines = 0;
		st->pending = false;
		st->next_pend = NULL;
	}
	wt->pend_head = wt->pend_tail = NULL;
}

/* Before job jid's final: whatever of its stored output the reader got
 * neither as partials nor in a dropped frame (dropped here and not yet
 * reported, or never sent live by its agent) is reported now, so that
 * partials plus dropped frames always add up to the final's output. */
static void drops_final(struct watcher *wt, const char *jid, json_t *job)
{
	static const char *const streams[] = { "stdout", "stderr" };
	json_t *res = json_object_get(job, "result");

	for (size_t i = 0; i < 2; i++) {
		struct jstat *st = stat_get(wt, jid, streams[i], NULL, NULL);
		json_t *out = json_object_get(res, streams[i]);
		char key[32];
		const char *enc;
		int64_t bytes = 0, lines = 0, mb, ml, at;

		snprintf(key, sizeof key, "%s_encoding", streams[i]);
		enc = json_string_value(json_object_get(res, key));
		count_output(json_string_value(out), json_string_length(out),
			     enc && !strcmp(enc, "base64"), &bytes, &lines);
		at = st ? st->sent_bytes + st->dropped_bytes : 0;
		mb = bytes - at;
		ml = lines - (st ? st->sent_lines + st->dropped_lines : 0);
		if (mb < 0)
			mb = 0;
		if (ml < 0)
			ml = 0;
		/* The pending drop ends where the unseen tail starts: one range. */
		if (st && st->pending) {
			at = st->pend_offset;
			mb += st->pend_bytes;
			ml += st->pend_lines;
		}
		if (mb > 0)
			send_dropped(wt, jid,
				     st ? st->client_id :
					  json_string_value(json_object_get(job, "client_id")),
				     st ? st->client_name :
					  json_string_value(json_object_get(job, "client_name")),
				     streams[i], at, mb, ml);
		if (st) {
			pend_unlink(wt, st);
			HASH_DEL(wt->stats, st);
			free(st);
		}
	}
}

void ws_api_drained(struct ws_api *w, net_conn *c)
{
	struct watcher *wt = net_ws_user(c);

	(void)w;
	if (wt && wt->pend_head)
		drops_report(wt);
}

/* Live output of child jid of multi job mjid. offset and offset_lines:
 * the bytes and newlines of the stream before the frame's first byte, as
 * the agent says (-1: unknown); a frame that starts past what the reader
 * got is a gap, reported at once as dropped. */
static void ws_output(struct ws_api *w, const char *mjid, const struct event *e)
{
	struct watcher *wt;
	struct jstat *st;
	json_t *m, *res;
	int64_t bytes, lines, at = 0, offset = e->offset, offset_lines = e->offset_lines;
	const char *jid = e->jid, *stream = job_stream_name(e->stream);
	bool base64 = e->base64;

	HASH_FIND_STR(w->by_multi, mjid, wt);
	if (!wt || !wt->conn)
		return;
	st = stat_get(wt, jid, stream, e->client_id, e->client_name);
	count_output(e->data, e->len, base64, &bytes, &lines);
	if (st) {
		at = st->sent_bytes + st->dropped_bytes;
		/* The agent skipped output (it had no connection): a gap. */
		if (offset > at) {
			int64_t gl = offset_lines - (st->sent_lines + st->dropped_lines);

			drop_add(wt, st, offset - at, gl > 0 ? gl : 0);
			at = offset;
		}
	}
	if (net_ws_queued(wt->conn) > WS_PARTIAL_CAP) {
		if (st)
			drop_add(wt, st, bytes, lines);
		return;
	}
	/* Caught up: first say what was missed, then go on. */
	if (wt->pend_head)
		drops_report(wt);
	if (st) {
		st->sent_bytes += bytes;
		st->sent_lines += lines;
	}
	res = json_object();
	/* The agent's frame was checked as UTF-8 when it was parsed. */
	json_object_set_new(res, stream, json_stringn_nocheck(e->data, e->len));
	if (base64) {
		char key[32];

		snprintf(key, sizeof key, "%s_encoding", stream);
		json_object_set_new(res, key, json_string("base64"));
	}
	m = json_pack("{s:s, s:s, s:s, s:s, s:o}", "jid", jid, "multi_job_id", mjid, "client_id",
		      e->client_id, "client_name", e->client_name, "result", res);
	/* Where these bytes start in the stream (tether): with the dropped
	 * frames' offsets, every byte has its place. */
	if (st && m)
		json_object_set_new(m, "offset", json_integer((json_int_t)at));
	send_json(wt, m);
}

/* A final being read from the store, for a watcher. */
struct final_read {
	struct watcher *wt;
	char jid[UUID_STR_LEN];
};

static void final_read(void *ud, int rc, struct job_row *row)
{
	struct final_read *fr = ud;
	struct watcher *wt = fr->wt;

	if (rc == 0 && wt->conn) {
		json_t *job = rport_job_json(row);

		drops_final(wt, fr->jid, job);
		send_json(wt, job);
	}
	wt->finals++;
	wt->reading--;
	if (wt->conn && (wt->finals >= wt->targets || (wt->multi_done && !wt->reading)))
		net_ws_close(wt->conn, 1000, "done");
	free(fr);
	watcher_unref(wt);
}

/* A child job is final (stored): its Job is read and sent. */
static void ws_child_done(struct ws_api *w, const char *mjid, const char *jid)
{
	struct watcher *wt;
	struct final_read *fr;

	HASH_FIND_STR(w->by_multi, mjid, wt);
	if (!wt || !wt->conn)
		return;
	fr = calloc(1, sizeof *fr);
	if (!fr) {
		wt->finals++;
		return;
	}
	fr->wt = wt;
	util_strlcpy(fr->jid, jid, sizeof fr->jid);
	wt->refs++;
	wt->reading++;
	store_read_job(w->srv->store, jid, final_read, fr);
}

/* The multi job is finished. */
static void ws_multi_done(struct ws_api *w, const char *mjid)
{
	struct watcher *wt;

	/* Aborted or stopped early: targets never run get no final. A final
	 * still being read is sent first. */
	HASH_FIND_STR(w->by_multi, mjid, wt);
	if (!wt || !wt->conn)
		return;
	if (wt->reading)
		wt->multi_done = true;
	else
		net_ws_close(wt->conn, 1000, "done");
}

static void on_event(void *ud, const struct event *e)
{
	struct ws_api *w = ud;
	const char *mjid;

	switch (e->kind) {
	case EV_JOB_OUTPUT:
		/* Only for a child whose multi job someone watches, and only
		 * from the job's own agent. */
		if (!w->by_multi)
			return;
		mjid = fanout_multi_of(w->srv->fanout, e->jid, e->client_id);
		if (mjid)
			ws_output(w, mjid, e);
		break;
	case EV_INVOCATION_CHILD_DONE:
		ws_child_done(w, e->invocation_id, e->jid);
		break;
	case EV_INVOCATION_DONE:
		ws_multi_done(w, e->invocation_id);
		break;
	default:
		break;
	}
}

/* The gauge tether_live_streams: streams open now (each is a watcher of
 * its multi-client job's output once its frame came). */
static double live_streams(void *ud)
{
	const struct ws_api *w = ud;

	return (double)w->nall;
}

int ws_api_create(struct server *srv, struct ws_api **out)
{
	struct ws_api *w = calloc(1, sizeof *w);

	if (!w)
		return TE_NOMEM;
	w->srv = srv;
	if (events_subscribe(srv->events,
			     EV_MASK(EV_JOB_OUTPUT) | EV_MASK(EV_INVOCATION_CHILD_DONE) |
				     EV_MASK(EV_INVOCATION_DONE),
			     on_event, w)) {
		free(w);
		return TE_NOMEM;
	}
	uv_timer_init(srv->loop, &w->check);
	w->check.data = w;
	uv_timer_start(&w->check, check_cb, 2000, 2000);
	uv_unref((uv_handle_t *)&w->check);
	metrics_gauge(srv->metrics, "tether_live_streams",
		      "WebSocket command and script streams (output watchers) open now.", NULL,
		      live_streams, w);
	*out = w;
	return 0;
}

void ws_api_destroy(struct ws_api *w)
{
	struct watcher *wt, *tmp;

	if (!w)
		return;
	events_unsubscribe(w->srv->events, on_event, w);
	HASH_ITER(hh, w->by_multi, wt, tmp)
		HASH_DEL(w->by_multi, wt);
	free(w->all);
	free(w);
}
