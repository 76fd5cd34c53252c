/* metrics: counters, histograms and scrape-time gauges. */
#include "core/metrics.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "core/events.h"
#include "core/model.h"
#include "core/registry.h"
#include "server.h"
#include "store/store.h"
#include "util.h"

/* Seconds: from a run sent to its result, and a fan-out's length. */
static const double hist_bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
				      1, 2.5, 5, 10, 30, 60, 300, 1800 };
#define NBOUNDS (sizeof hist_bounds / sizeof hist_bounds[0])
#define MAX_DIALECTS 8
#define MAX_GAUGES 32
/* Timers kept for runs and fan-outs in flight; past this many, new ones
 * are not timed (a fleet-wide burst still counts, just not in the
 * histogram). */
#define MAX_TIMED 200000
/* Who submitted a job or an invocation (its dialect), kept from the
 * submission to the job's end; an invocation's entry stays a while after
 * its end for the children that end after it (cancelled ones). */
#define OWNER_KEEP_MS (10 * 60 * 1000)
/* The dialects every scrape shows (others are added as they submit). */
static const char *const known_dialects[] = { "rport", "elastic", "tat", "schedule" };
#define UNKNOWN_DIALECT MAX_DIALECTS    /* a job from before a restart */

struct hist {
	uint64_t counts[NBOUNDS + 1];   /* the last: above every bound */
	uint64_t n;
	double sum;
};

struct timed {
	char *id;
	uint64_t start_ms;
	UT_hash_handle hh;
};

struct owner {
	char *id;                /* a jid (single run) or an invocation id */
	int dialect;             /* index in dialects[] */
	bool done;               /* an invocation that dispatches nothing more */
	uint64_t done_ms;
	UT_hash_handle hh;
};

struct gauge {
	const char *name, *help, *labels;
	metrics_gauge_fn fn;
	void *ud;
};

struct metrics {
	struct server *srv;
	uint64_t counters[MC_COUNT];
	struct {
		const char *name;
		uint64_t n;
	} dialects[MAX_DIALECTS];
	/* by dialect (UNKNOWN_DIALECT last) and status */
	uint64_t jobs_done[MAX_DIALECTS + 1][JOB_STATUS_COUNT];
	uint64_t invocations_done[MAX_DIALECTS + 1];
	struct hist dispatch, fanout;
	struct timed *fanouts;
	size_t nfanouts;
	size_t nruns;            /* runs sent, not yet unsent (metrics_job_sent) */
	struct owner *owners;    /* in insertion order (uthash keeps it) */
	size_t nowners;
	/* A job's end not yet counted: no single run of ours, so fan-out's
	 * EV_INVOCATION_CHILD_DONE, published while the same EV_JOB_DONE is
	 * delivered (fan-out subscribes after us), names its invocation. */
	char pending_jid[64];
	enum job_status pending_status;
	/* The same the other way round, should fan-out ever be called first:
	 * the last child end seen and its invocation's dialect. */
	char child_jid[64];
	int child_dialect;
	struct gauge gauges[MAX_GAUGES];
	size_t ngauges;
};

void metrics_add(struct metrics *m, enum metric_counter c, uint64_t n)
{
	if (m)
		m->counters[c] += n;
}

static void hist_add(struct hist *h, double v)
{
	size_t i = 0;

	while (i < NBOUNDS && v > hist_bounds[i])
		i++;
	h->counts[i]++;
	h->n++;
	h->sum += v;
}

static void timer_start(struct timed **set, size_t *n, const char *id)
{
	struct timed *t;

	if (*n >= MAX_TIMED)
		return;
	HASH_FIND_STR(*set, id, t);
	if (t)
		return;
	t = calloc(1, sizeof *t);
	if (!t || !(t->id = strdup(id))) {
		free(t);
		return;
	}
	t->start_ms = util_mono_ms();
	HASH_ADD_KEYPTR(hh, *set, t->id, strlen(t->id), t);
	(*n)++;
}

/* Seconds since the timer started, or -1 when it was not timed. */
static double timer_stop(struct timed **set, size_t *n, const char *id)
{
	struct timed *t;
	double s;

	if (!id)
		return -1;
	HASH_FIND_STR(*set, id, t);
	if (!t)
		return -1;
	s = (double)(util_mono_ms() - t->start_ms) / 1000.0;
	HASH_DEL(*set, t);
	free(t->id);
	free(t);
	(*n)--;
	return s;
}

static void timers_free(struct timed **set)
{
	struct timed *t, *tmp;

	HASH_ITER(hh, *set, t, tmp) {
		HASH_DEL(*set, t);
		free(t->id);
		free(t);
	}
}

/* The index of dialect in the table (added when new), or UNKNOWN_DIALECT
 * when the table is full. */
static int dialect_index(struct metrics *m, const char *dialect)
{
	size_t i;

	if (!dialect)
		dialect = "rport";
	for (i = 0; i < MAX_DIALECTS && m->dialects[i].name; i++)
		if (!strcmp(m->dialects[i].name, dialect))
			return (int)i;
	if (i == MAX_DIALECTS)
		return UNKNOWN_DIALECT;
	m->dialects[i].name = dialect;
	return (int)i;
}

static void owner_free(struct metrics *m, struct owner *o)
{
	HASH_DEL(m->owners, o);
	free(o->id);
	free(o);
	m->nowners--;
}

/* Forgets invocations ended long ago, and the oldest entries past the cap
 * (their jobs then count as of an unknown dialect). */
static void owners_trim(struct metrics *m)
{
	uint64_t now = util_mono_ms();

	while (m->owners && ((m->owners->done && now - m->owners->done_ms > OWNER_KEEP_MS) ||
			     m->nowners >= MAX_TIMED))
		owner_free(m, m->owners);
}

static void owner_add(struct metrics *m, const char *id, int dialect)
{
	struct owner *o;

	owners_trim(m);
	HASH_FIND_STR(m->owners, id, o);
	if (o)
		return;
	o = calloc(1, sizeof *o);
	if (!o || !(o->id = strdup(id))) {
		free(o);
		return;
	}
	o->dialect = dialect;
	HASH_ADD_KEYPTR(hh, m->owners, o->id, strlen(o->id), o);
	m->nowners++;
}

static struct owner *owner_find(struct metrics *m, const char *id)
{
	struct owner *o = NULL;

	if (id)
		HASH_FIND_STR(m->owners, id, o);
	return o;
}

void metrics_invocation(struct metrics *m, const char *dialect, const char *id)
{
	int d;

	if (!m)
		return;
	d = dialect_index(m, dialect);
	if (d != UNKNOWN_DIALECT)
		m->dialects[d].n++;
	if (id) {
		timer_start(&m->fanouts, &m->nfanouts, id);
		owner_add(m, id, d);
	}
}

void metrics_single(struct metrics *m, const char *dialect, const char *jid)
{
	if (!m)
		return;
	metrics_invocation(m, dialect, NULL);
	owner_add(m, jid, dialect_index(m, dialect));
}

void metrics_job_sent(struct metrics *m)
{
	if (m)
		m->nruns++;
}

void metrics_job_unsent(struct metrics *m)
{
	if (m && m->nruns)
		m->nruns--;
}

/* The pending end (if any) had no invocation: a job from before a restart. */
static void pending_flush(struct metrics *m)
{
	if (!m->pending_jid[0])
		return;
	if (m->pending_status < JOB_STATUS_COUNT)
		m->jobs_done[UNKNOWN_DIALECT][m->pending_status]++;
	m->pending_jid[0] = '\0';
}

static void job_done(struct metrics *m, const struct event *e)
{
	struct owner *o = owner_find(m, e->jid);

	pending_flush(m);
	if (o) {
		if (e->status < JOB_STATUS_COUNT)
			m->jobs_done[o->dialect][e->status]++;
		owner_free(m, o);
		return;
	}
	if (e->jid && !strcmp(m->child_jid, e->jid)) {
		if (e->status < JOB_STATUS_COUNT)
			m->jobs_done[m->child_dialect][e->status]++;
		m->child_jid[0] = '\0';
		return;
	}
	util_strlcpy(m->pending_jid, e->jid ? e->jid : "", sizeof m->pending_jid);
	m->pending_status = e->status;
}

/* A multi-client invocation's job ended: the pending end is its own (or,
 * had its EV_JOB_DONE not come yet, it will find this one). */
static void child_done(struct metrics *m, const struct event *e)
{
	struct owner *o = owner_find(m, e->invocation_id);

	if (!e->jid)
		return;
	if (!m->pending_jid[0] || strcmp(m->pending_jid, e->jid)) {
		util_strlcpy(m->child_jid, e->jid, sizeof m->child_jid);
		m->child_dialect = o ? o->dialect : UNKNOWN_DIALECT;
		return;
	}
	if (m->pending_status < JOB_STATUS_COUNT)
		m->jobs_done[o ? o->dialect : UNKNOWN_DIALECT][m->pending_status]++;
	m->pending_jid[0] = '\0';
}

static void on_event(void *ud, const struct event *e)
{
	struct metrics *m = ud;
	struct owner *o;
	double s;

	if (e->kind == EV_INVOCATION_CHILD_DONE) {
		child_done(m, e);
	} else if (e->kind == EV_JOB_DONE) {
		job_done(m, e);
		if (e->run_sent_ms > 0)
			hist_add(&m->dispatch, (double)((int64_t)util_mono_ms() - e->run_sent_ms) / 1000.0);
	} else if (e->kind == EV_INVOCATION_DONE) {
		o = owner_find(m, e->invocation_id);
		m->invocations_done[o ? o->dialect : UNKNOWN_DIALECT]++;
		if (o && !o->done) {
			/* Moved to the end, so the oldest ended one stays first. */
			HASH_DEL(m->owners, o);
			o->done = true;
			o->done_ms = util_mono_ms();
			HASH_ADD_KEYPTR(hh, m->owners, o->id, strlen(o->id), o);
		}
		s = timer_stop(&m->fanouts, &m->nfanouts, e->invocation_id);
		if (s >= 0)
			hist_add(&m->fanout, s);
	}
}

int metrics_gauge(struct metrics *m, const char *name, const char *help, const char *labels,
		  metrics_gauge_fn fn, void *ud)
{
	if (!m)
		return 0;
	if (m->ngauges == MAX_GAUGES)
		return TE_TOOBIG;
	m->gauges[m->ngauges++] = (struct gauge){ name, help, labels, fn, ud };
	return 0;
}

int metrics_create(struct server *srv, struct metrics **out)
{
	struct metrics *m = calloc(1, sizeof *m);

	if (!m)
		return TE_NOMEM;
	m->srv = srv;
	for (size_t i = 0; i < sizeof known_dialects / sizeof known_dialects[0]; i++)
		dialect_index(m, known_dialects[i]);
	if (srv->events &&
	    events_subscribe(srv->events, EV_MASK(EV_JOB_DONE) | EV_MASK(EV_INVOCATION_DONE) |
					  EV_MASK(EV_INVOCATION_CHILD_DONE),
			     on_event, m)) {
		free(m);
		return TE_NOMEM;
	}
	*out = m;
	return 0;
}

void metrics_destroy(struct metrics *m)
{
	if (!m)
		return;
	if (m->srv->events)
		events_unsubscribe(m->srv->events, on_event, m);
	timers_free(&m->fanouts);
	while (m->owners)
		owner_free(m, m->owners);
	free(m);
}

/* ---- rendering ---------------------------------------------------------- */

struct out {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void emit(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = true;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		{
			size_t cap = o->cap * 2 + (size_t)n;
			char *b = realloc(o->buf, cap);

			if (!b) {
				o->failed = true;
				return;
			}
			o->buf = b;
			o->cap = cap;
		}
	}
}

static void head(struct out *o, const char *name, const char *type, const char *help)
{
	emit(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void hist_emit(struct out *o, const char *name, const char *help, const struct hist *h)
{
	uint64_t cum = 0;

	head(o, name, "histogram", help);
	for (size_t i = 0; i < NBOUNDS; i++) {
		cum += h->counts[i];
		emit(o, "%s_bucket{le=\"%g\"} %llu\n", name, hist_bounds[i], (unsigned long long)cum);
	}
	emit(o, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
	     (unsigned long long)h->n, name, h->sum, name, (unsigned long long)h->n);
}

static void count_connected(void *ud, struct client *c)
{
	size_t *n = ud;

	if (registry_client_connected(c))
		(*n)++;
}

static void render_agents(struct metrics *m, struct out *o)
{
	size_t connected = 0;

	if (m->srv->registry)
		registry_each(m->srv->registry, count_connected, &connected);
	head(o, "tether_agents_connected", "gauge", "Agents connected now.");
	emit(o, "tether_agents_connected %zu\n", connected);
	head(o, "tether_clients_known", "gauge", "Clients the server knows, connected or not.");
	emit(o, "tether_clients_known %zu\n",
	     m->srv->registry ? registry_count(m->srv->registry) : (size_t)0);
	head(o, "tether_agent_handshakes_total", "counter", "Agent hellos, by result.");
	emit(o, "tether_agent_handshakes_total{result=\"ok\"} %llu\n"
		"tether_agent_handshakes_total{result=\"failed\"} %llu\n",
	     (unsigned long long)m->counters[MC_AGENT_HANDSHAKES_OK],
	     (unsigned long long)m->counters[MC_AGENT_HANDSHAKES_FAILED]);
	head(o, "tether_agent_frames_total", "counter", "Frames on the agent listener.");
	emit(o, "tether_agent_frames_total{direction=\"in\"} %llu\n"
		"tether_agent_frames_total{direction=\"out\"} %llu\n",
	     (unsigned long long)m->counters[MC_AGENT_FRAMES_IN],
	     (unsigned long long)m->counters[MC_AGENT_FRAMES_OUT]);
	head(o, "tether_agent_bytes_total", "counter",
	     "Bytes of frames on the agent listener (payloads).");
	emit(o, "tether_agent_bytes_total{direction=\"in\"} %llu\n"
		"tether_agent_bytes_total{direction=\"out\"} %llu\n",
	     (unsigned long long)m->counters[MC_AGENT_BYTES_IN],
	     (unsigned long long)m->counters[MC_AGENT_BYTES_OUT]);
	head(o, "tether_agent_hellos_deferred_total", "counter",
	     "Hellos left for a later loop turn (past the turn's budget of 64).");
	emit(o, "tether_agent_hellos_deferred_total %llu\n",
	     (unsigned long long)m->counters[MC_AGENT_HELLOS_DEFERRED]);
}

static const char *dialect_name(const struct metrics *m, size_t d)
{
	return d == UNKNOWN_DIALECT ? "unknown" : m->dialects[d].name;
}

/* The dialects to show: the table's, and "unknown" once it has counts. */
static bool dialect_shown(const struct metrics *m, size_t d)
{
	if (d < MAX_DIALECTS)
		return m->dialects[d].name != NULL;
	if (m->invocations_done[d])
		return true;
	for (int s = 0; s < JOB_STATUS_COUNT; s++)
		if (m->jobs_done[d][s])
			return true;
	return false;
}

static void render_jobs(struct metrics *m, struct out *o)
{
	head(o, "tether_invocations_total", "counter",
	     "Submissions accepted (single- and multi-client), by dialect.");
	for (size_t i = 0; i < MAX_DIALECTS && m->dialects[i].name; i++)
		emit(o, "tether_invocations_total{dialect=\"%s\"} %llu\n", m->dialects[i].name,
		     (unsigned long long)m->dialects[i].n);
	head(o, "tether_invocations_finished_total", "counter",
	     "Multi-client invocations that dispatch nothing more, by dialect.");
	for (size_t d = 0; d <= MAX_DIALECTS; d++)
		if (dialect_shown(m, d))
			emit(o, "tether_invocations_finished_total{dialect=\"%s\"} %llu\n",
			     dialect_name(m, d), (unsigned long long)m->invocations_done[d]);
	head(o, "tether_jobs_finished_total", "counter",
	     "Jobs that reached a final status, by dialect and status.");
	for (size_t d = 0; d <= MAX_DIALECTS; d++) {
		if (!dialect_shown(m, d))
			continue;
		for (int s = 0; s < JOB_STATUS_COUNT; s++)
			if (job_status_final((enum job_status)s))
				emit(o, "tether_jobs_finished_total{dialect=\"%s\",status=\"%s\"} %llu\n",
				     dialect_name(m, d), job_status_name((enum job_status)s),
				     (unsigned long long)m->jobs_done[d][s]);
	}
	head(o, "tether_jobs_in_flight", "gauge", "Runs sent to agents and not yet final.");
	emit(o, "tether_jobs_in_flight %zu\n", m->nruns);
	hist_emit(o, "tether_job_dispatch_to_result_seconds",
		  "From a run sent to its agent to its final status.", &m->dispatch);
	hist_emit(o, "tether_fanout_duration_seconds",
		  "From a multi-client invocation's submission to its last dispatch done.",
		  &m->fanout);
}

/* A counter of things done off the loop (name_total) and one of their time. */
static void count_and_time(struct out *o, const char *name, const char *help, uint64_t n,
			   const char *secs_name, const char *secs_help, double secs)
{
	char total[96];

	snprintf(total, sizeof total, "%s_total", name);
	head(o, total, "counter", help);
	emit(o, "%s %llu\n", total, (unsigned long long)n);
	head(o, secs_name, "counter", secs_help);
	emit(o, "%s %.6f\n", secs_name, secs);
}

static void render_store(struct metrics *m, struct out *o)
{
	const double *bounds;
	const uint64_t *counts;
	uint64_t commits = 0, writes = 0, cum = 0, total = 0;
	size_t n = 0;
	double sum = 0;

	if (!m->srv->store)
		return;
	store_stats(m->srv->store, &commits, &writes);
	head(o, "tether_store_commits_total", "counter", "Group commits of the store.");
	emit(o, "tether_store_commits_total %llu\n", (unsigned long long)commits);
	head(o, "tether_store_writes_total", "counter", "Writes applied in those commits.");
	emit(o, "tether_store_writes_total %llu\n", (unsigned long long)writes);
	store_commit_histogram(m->srv->store, &bounds, &counts, &n, &sum);
	head(o, "tether_store_commit_seconds", "histogram",
	     "Time of one group commit on the loop (BEGIN to COMMIT; the fsync is the sync thread's).");
	for (size_t i = 0; i <= n; i++)
		total += counts[i];
	for (size_t i = 0; i < n; i++) {
		cum += counts[i];
		emit(o, "tether_store_commit_seconds_bucket{le=\"%g\"} %llu\n", bounds[i],
		     (unsigned long long)cum);
	}
	emit(o, "tether_store_commit_seconds_bucket{le=\"+Inf\"} %llu\n"
		"tether_store_commit_seconds_sum %.6f\ntether_store_commit_seconds_count %llu\n",
	     (unsigned long long)total, sum, (unsigned long long)total);
	store_checkpoint_stats(m->srv->store, &commits, &sum);
	count_and_time(o, "tether_store_checkpoints", "WAL checkpoints made on a worker thread, off the loop.",
		       commits, "tether_store_checkpoint_seconds_total",
		       "Time those checkpoints took (on the worker).", sum);
	store_sync_stats(m->srv->store, &commits, &sum);
	count_and_time(o, "tether_store_syncs",
		       "fdatasyncs of the WAL on the store's sync thread, off the loop.", commits,
		       "tether_store_sync_seconds_total", "Time those syncs took (on the sync thread).",
		       sum);
}

/* Each family once, its samples together, as the format wants. */
static void render_gauges(struct metrics *m, struct out *o)
{
	for (size_t i = 0; i < m->ngauges; i++) {
		bool seen = false;

		for (size_t j = 0; j < i; j++)
			if (!strcmp(m->gauges[j].name, m->gauges[i].name))
				seen = true;
		if (seen)
			continue;
		head(o, m->gauges[i].name, "gauge", m->gauges[i].help);
		for (size_t j = i; j < m->ngauges; j++) {
			const struct gauge *g = &m->gauges[j];

			if (strcmp(g->name, m->gauges[i].name))
				continue;
			if (g->labels)
				emit(o, "%s{%s} %g\n", g->name, g->labels, g->fn(g->ud));
			else
				emit(o, "%s %g\n", g->name, g->fn(g->ud));
		}
	}
}

char *metrics_render(struct metrics *m, size_t *len)
{
	struct out o = { malloc(16384), 0, 16384, false };

	if (!o.buf)
		return NULL;
	pending_flush(m);
	head(&o, "tether_build_info", "gauge", "The server's version.");
	emit(&o, "tether_build_info{version=\"%s\"} 1\n", m->srv->version ? m->srv->version : "");
	render_agents(m, &o);
	render_jobs(m, &o);
	render_store(m, &o);
	render_gauges(m, &o);
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	*len = o.len;
	return o.buf;
}
