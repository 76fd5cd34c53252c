/* list: GET /api/endpoint/action (the action log) and GET
 * /api/endpoint/action_status (pending actions per agent): a scan of the
 * invocations the user may see, newest first, that are Elastic actions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dialects/elastic/elastic_priv.h"
#include "util.h"

/* The scan reads at most this many of the newest invocations. */
#define ES_SCAN_MAX 10000
#define ES_MAX_FILTER 50

/* A query parameter that may be given several times or as "a,b". */
struct multi_param {
	char *buf;                 /* owns the strings */
	const char *v[ES_MAX_FILTER];
	size_t n;
};

static int param_collect(struct es_call *call, const char *name, struct multi_param *mp,
			 char *msg, size_t len)
{
	size_t total = 0, cnt = net_http_query_count(call->req), off = 0;

	memset(mp, 0, sizeof *mp);
	for (size_t i = 0; i < cnt; i++) {
		const char *val, *k = net_http_query_at(call->req, i, &val);

		if (!strcmp(k, name) || (!strncmp(k, name, strlen(name)) &&
					 !strcmp(k + strlen(name), "[]")))
			total += strlen(val ? val : "") + 1;
	}
	if (!total)
		return 0;
	mp->buf = malloc(total);
	if (!mp->buf) {
		snprintf(msg, len, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < cnt; i++) {
		const char *val, *k = net_http_query_at(call->req, i, &val);
		char *s, *save = NULL, *tok;

		if (strcmp(k, name) && (strncmp(k, name, strlen(name)) ||
					strcmp(k + strlen(name), "[]")))
			continue;
		s = mp->buf + off;
		memcpy(s, val ? val : "", strlen(val ? val : "") + 1);
		off += strlen(s) + 1;
		for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (mp->n == ES_MAX_FILTER) {
				snprintf(msg, len, "[request query.%s]: array size is [%zu], but cannot "
						   "be greater than [%d]", name, mp->n + 1, ES_MAX_FILTER);
				return -1;
			}
			if (!tok[0])
				continue;
			mp->v[mp->n++] = tok;
		}
	}
	return 0;
}

static bool param_has(const struct multi_param *mp, const char *s)
{
	for (size_t i = 0; i < mp->n; i++)
		if (s && !strcmp(mp->v[i], s))
			return true;
	return false;
}

/* Rounds t (ns) down (or up: to the last ms of the unit) to unit. */
static int64_t round_to(int64_t t, char unit, bool up)
{
	time_t secs = (time_t)(t / 1000000000LL);
	struct tm tm;
	int64_t base;

	gmtime_r(&secs, &tm);
	switch (unit) {
	case 'y': tm.tm_mon = 0; /* fall through */
	case 'M': tm.tm_mday = 1; /* fall through */
	case 'd': tm.tm_hour = 0; /* fall through */
	case 'h': tm.tm_min = 0; /* fall through */
	case 'm': tm.tm_sec = 0; /* fall through */
	case 's': break;
	case 'w':
		tm.tm_mday -= (tm.tm_wday + 6) % 7; /* back to Monday */
		tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		break;
	default: return t;
	}
	base = (int64_t)timegm(&tm) * 1000000000LL;
	if (!up)
		return base;
	switch (unit) {
	case 'y': tm.tm_year++; break;
	case 'M': tm.tm_mon++; break;
	case 'w': tm.tm_mday += 7; break;
	case 'd': tm.tm_mday++; break;
	case 'h': tm.tm_hour++; break;
	case 'm': tm.tm_min++; break;
	default: tm.tm_sec++; break;
	}
	return (int64_t)timegm(&tm) * 1000000000LL - 1000000LL;
}

static int64_t unit_ns(char u)
{
	switch (u) {
	case 's': return 1000000000LL;
	case 'm': return 60 * 1000000000LL;
	case 'h': return 3600 * 1000000000LL;
	case 'd': return 86400 * 1000000000LL;
	case 'w': return 7 * 86400 * 1000000000LL;
	case 'M': return 30 * 86400 * 1000000000LL;
	case 'y': return 365 * 86400 * 1000000000LL;
	default: return 0;
	}
}

/* An ISO date or Elastic date math ("now", "now-24h/h", "now-7d"). up
 * rounds "/unit" to the end of the unit (endDate). Returns 0 or -1. */
int es_date_parse(const char *s, bool up, int64_t now, int64_t *out);
int es_date_parse(const char *s, bool up, int64_t now, int64_t *out)
{
	int64_t t = now;
	const char *p;

	if (strncmp(s, "now", 3))
		return util_time_parse(s, out);
	p = s + 3;
	while (*p) {
		if (*p == '+' || *p == '-') {
			int sign = *p == '-' ? -1 : 1;
			char *end;
			long long n = strtoll(p + 1, &end, 10);

			if (end == p + 1 || n < 0 || n > 100000 || !unit_ns(*end))
				return -1;
			t += sign * n * unit_ns(*end);
			p = end + 1;
		} else if (*p == '/') {
			if (!unit_ns(p[1]))
				return -1;
			t = round_to(t, p[1], up);
			p += 2;
		} else {
			return -1;
		}
	}
	*out = t;
	return 0;
}

/* ---- the scan ---------------------------------------------------------- */

struct scan;
/* Called for each Elastic action the user may see (rows lent). */
typedef void (*scan_fn)(struct scan *sc, const json_t *rec, const struct job_rows *rows);

struct scan {
	struct es_call *call;
	scan_fn fn;
	void (*done)(struct scan *sc);
	json_t *list;               /* [{jid, started_at, created_by}] newest first */
	size_t next;
	bool in_loop, pending;      /* the trampoline over synchronous reads */
	int64_t now, since, until;  /* ns; 0 unbounded */
	struct multi_param commands, agents, users, statuses, with_outputs, types;
	int64_t page, page_size, total;
	json_t *data;
	json_t *agent_counts;       /* action_status: agent -> pending count */
};

static void scan_free(struct scan *sc)
{
	json_decref(sc->list);
	json_decref(sc->data);
	json_decref(sc->agent_counts);
	free(sc->commands.buf);
	free(sc->agents.buf);
	free(sc->users.buf);
	free(sc->statuses.buf);
	free(sc->with_outputs.buf);
	free(sc->types.buf);
	free(sc);
}

static void scan_step(struct scan *sc);

static void scan_action(void *ud, int rc, const json_t *rec, const struct job_rows *rows)
{
	struct scan *sc = ud;

	if (rc == 0)
		sc->fn(sc, rec, rows);
	sc->next++;
	if (sc->in_loop)
		sc->pending = false;    /* answered at once: the loop goes on */
	else
		scan_step(sc);
}

/* Does the summary pass the filters that need no record? */
static bool summary_ok(struct scan *sc, json_t *m)
{
	int64_t t = 0;

	util_time_parse(json_string_value(json_object_get(m, "started_at")), &t);
	if ((sc->since && t < sc->since) || (sc->until && t > sc->until))
		return false;
	if (sc->users.n && !param_has(&sc->users, json_string_value(json_object_get(m, "created_by"))))
		return false;
	return true;
}

static void scan_step(struct scan *sc)
{
	sc->in_loop = true;
	while (sc->next < json_array_size(sc->list)) {
		json_t *m = json_array_get(sc->list, sc->next);

		if (!summary_ok(sc, m)) {
			sc->next++;
			continue;
		}
		sc->pending = true;
		es_action_read(sc->call->srv, json_string_value(json_object_get(m, "jid")),
			       ES_OUTPUT_BUDGET, scan_action, sc);
		if (sc->pending) {
			/* Answered later: scan_action goes on from there. */
			sc->in_loop = false;
			return;
		}
	}
	sc->in_loop = false;
	sc->done(sc);
}

static void scan_list_read(void *ud, int rc, json_t *arr, int64_t total)
{
	struct scan *sc = ud;

	(void)total;
	if (rc) {
		es_reply_error(sc->call, 500, "the actions could not be read");
		scan_free(sc);
		return;
	}
	sc->list = arr;
	scan_step(sc);
}

static void scan_start(struct scan *sc)
{
	store_read_multi_list(sc->call->srv->store, sc->call->admin ? NULL : sc->call->user,
			      ES_SCAN_MAX, 0, scan_list_read, sc);
}

/* ---- GET /api/endpoint/action ------------------------------------------ */

static bool targets_any(const json_t *rec, const struct multi_param *agents)
{
	size_t i;
	const json_t *v;

	if (!agents->n)
		return true;
	json_array_foreach(json_object_get(rec, "targets"), i, v)
		if (param_has(agents, json_string_value(v)))
			return true;
	return false;
}

static void list_visit(struct scan *sc, const json_t *rec, const struct job_rows *rows)
{
	enum es_status s;
	const char *id = json_string_value(json_object_get(rec, "jid"));
	json_t *a;

	if (sc->commands.n && !param_has(&sc->commands, "execute"))
		return;
	if (sc->types.n && !param_has(&sc->types, "manual"))
		return;
	if (!targets_any(rec, &sc->agents))
		return;
	a = es_action_json(sc->call->srv, rec, rows, param_has(&sc->with_outputs, id), sc->now, &s);
	if (sc->statuses.n && !param_has(&sc->statuses, es_status_name(s))) {
		json_decref(a);
		return;
	}
	sc->total++;
	if (sc->total > (sc->page - 1) * sc->page_size && sc->total <= sc->page * sc->page_size)
		json_array_append(sc->data, a);
	json_decref(a);
}

static json_t *strings_json(const struct multi_param *mp)
{
	json_t *a = json_array();

	for (size_t i = 0; i < mp->n; i++)
		json_array_append_new(a, json_string(mp->v[i]));
	return a;
}

static json_t *date_json(struct es_call *call, const char *name)
{
	const char *v = net_http_query(call->req, name);

	return v ? json_string(v) : json_null();
}

static void list_done(struct scan *sc)
{
	struct es_call *call = sc->call;
	json_t *out;

	out = json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:O}", "page",
			(json_int_t)sc->page, "pageSize", (json_int_t)sc->page_size, "startDate",
			date_json(call, "startDate"), "endDate", date_json(call, "endDate"),
			"elasticAgentIds", sc->agents.n ? strings_json(&sc->agents) : json_null(),
			"userIds", sc->users.n ? strings_json(&sc->users) : json_null(), "commands",
			sc->commands.n ? strings_json(&sc->commands) : json_null(), "statuses",
			sc->statuses.n ? strings_json(&sc->statuses) : json_null(), "agentTypes",
			json_pack("[s]", "endpoint"), "total", (json_int_t)sc->total, "data",
			sc->data);
	scan_free(sc);
	es_reply(call, 200, out);
}

static int int_param(struct es_call *call, const char *name, int64_t def, int64_t max,
		     int64_t *out, char *msg, size_t len)
{
	const char *v = net_http_query(call->req, name);
	long long n;

	*out = def;
	if (!v)
		return 0;
	if (util_parse_int(v, 1, INT64_MAX, &n)) {
		snprintf(msg, len, "[request query.%s]: expected value of type [number] but got [%.40s]",
			 name, v);
		return -1;
	}
	if (n > max) {
		snprintf(msg, len, "[request query.%s]: Value must be equal to or lower than [%lld].",
			 name, (long long)max);
		return -1;
	}
	*out = n;
	return 0;
}

static const char *const known_commands[] = {
	"isolate", "unisolate", "kill-process", "suspend-process", "running-processes",
	"get-file", "execute", "upload", "scan", "runscript", "cancel", NULL,
};

static int enum_check(const struct multi_param *mp, const char *name,
		      const char *const *allowed, char *msg, size_t len)
{
	for (size_t i = 0; i < mp->n; i++) {
		size_t k;

		for (k = 0; allowed[k] && strcmp(allowed[k], mp->v[i]); k++)
			;
		if (!allowed[k]) {
			snprintf(msg, len, "[request query.%s]: types that failed validation: value "
					   "[%.64s] is not one of the allowed values", name, mp->v[i]);
			return -1;
		}
	}
	return 0;
}

void es_list(struct es_call *call)
{
	static const char *const statuses[] = { "failed", "pending", "successful", "canceled", NULL };
	static const char *const types[] = { "automated", "manual", NULL };
	struct scan *sc = calloc(1, sizeof *sc);
	char msg[300] = "";
	const char *d;

	if (!sc) {
		es_reply_error(call, 500, "out of memory");
		return;
	}
	sc->call = call;
	sc->fn = list_visit;
	sc->done = list_done;
	sc->now = util_now_ns();
	sc->data = json_array();
	if (int_param(call, "page", 1, 1000000, &sc->page, msg, sizeof msg) ||
	    int_param(call, "pageSize", 10, 10000, &sc->page_size, msg, sizeof msg) ||
	    param_collect(call, "commands", &sc->commands, msg, sizeof msg) ||
	    param_collect(call, "agentIds", &sc->agents, msg, sizeof msg) ||
	    param_collect(call, "userIds", &sc->users, msg, sizeof msg) ||
	    param_collect(call, "statuses", &sc->statuses, msg, sizeof msg) ||
	    param_collect(call, "withOutputs", &sc->with_outputs, msg, sizeof msg) ||
	    param_collect(call, "types", &sc->types, msg, sizeof msg) ||
	    enum_check(&sc->commands, "commands", known_commands, msg, sizeof msg) ||
	    enum_check(&sc->statuses, "statuses", statuses, msg, sizeof msg) ||
	    enum_check(&sc->types, "types", types, msg, sizeof msg)) {
		scan_free(sc);
		es_reply_error(call, 400, msg);
		return;
	}
	if ((d = net_http_query(call->req, "startDate")) &&
	    es_date_parse(d, false, sc->now, &sc->since)) {
		scan_free(sc);
		es_reply_errorf(call, 400, "[request query.startDate]: Invalid date [%.64s]", d);
		return;
	}
	if ((d = net_http_query(call->req, "endDate")) &&
	    es_date_parse(d, true, sc->now, &sc->until)) {
		scan_free(sc);
		es_reply_errorf(call, 400, "[request query.endDate]: Invalid date [%.64s]", d);
		return;
	}
	scan_start(sc);
}

/* ---- GET /api/endpoint/action_status?agent_ids=... ----------------------- */

static void status_visit(struct scan *sc, const json_t *rec, const struct job_rows *rows)
{
	size_t i;
	const json_t *v;
	enum es_status s;
	json_t *a = es_action_json(sc->call->srv, rec, rows, false, sc->now, &s);
	json_t *states = json_object_get(a, "agentState");

	if (!json_is_true(json_object_get(a, "isExpired"))) {
		json_array_foreach(json_object_get(rec, "targets"), i, v) {
			const char *agent = json_string_value(v);
			json_t *st = json_object_get(states, agent);
			json_t *cnt = json_object_get(sc->agent_counts, agent);

			if (cnt && !json_is_true(json_object_get(st, "isCompleted")))
				json_integer_set(cnt, json_integer_value(cnt) + 1);
		}
	}
	json_decref(a);
}

static void status_done(struct scan *sc)
{
	struct es_call *call = sc->call;
	json_t *data = json_array();

	for (size_t i = 0; i < sc->agents.n; i++)
		json_array_append_new(data, json_pack("{s:s, s:{s:O}}", "agent_id", sc->agents.v[i],
						      "pending_actions", "execute",
						      json_object_get(sc->agent_counts,
								      sc->agents.v[i])));
	scan_free(sc);
	es_reply(call, 200, json_pack("{s:o}", "data", data));
}

void es_action_status(struct es_call *call)
{
	struct scan *sc = calloc(1, sizeof *sc);
	char msg[300] = "";

	if (!sc) {
		es_reply_error(call, 500, "out of memory");
		return;
	}
	sc->call = call;
	sc->fn = status_visit;
	sc->done = status_done;
	sc->now = util_now_ns();
	sc->agent_counts = json_object();
	if (param_collect(call, "agent_ids", &sc->agents, msg, sizeof msg)) {
		scan_free(sc);
		es_reply_error(call, 400, msg);
		return;
	}
	if (!sc->agents.n) {
		scan_free(sc);
		es_reply_error(call, 400, "[request query.agent_ids]: expected value of type [array] "
					  "but got [undefined]");
		return;
	}
	for (size_t i = 0; i < sc->agents.n; i++) {
		if (strlen(sc->agents.v[i]) > 256) {
			scan_free(sc);
			es_reply_error(call, 400, "[request query.agent_ids]: an id is over 256 characters");
			return;
		}
		json_object_set_new(sc->agent_counts, sc->agents.v[i], json_integer(0));
	}
	scan_start(sc);
}
