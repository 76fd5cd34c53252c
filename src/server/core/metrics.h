/* metrics: the server's counters, gauges and histograms, rendered in
 * Prometheus' text exposition format (GET /metrics, front/metrics_face.c).
 *
 * Counters are bumped where things happen (the hub's frames and
 * handshakes, the core's submissions); jobs and invocations are counted
 * from the events (core/events.h), by the dialect that submitted them
 * (rport, elastic, tat, schedule; "unknown" for a job submitted before a
 * restart); gauges are read at each scrape through
 * callbacks that layers above register (a dialect's bans, its streams). */
#ifndef TETHER_METRICS_H
#define TETHER_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct server;
struct metrics;

enum metric_counter {
	MC_AGENT_HANDSHAKES_OK,
	MC_AGENT_HANDSHAKES_FAILED,
	MC_AGENT_FRAMES_IN,
	MC_AGENT_FRAMES_OUT,
	MC_AGENT_BYTES_IN,
	MC_AGENT_BYTES_OUT,
	MC_AGENT_HELLOS_DEFERRED,
	MC_COUNT
};

int metrics_create(struct server *srv, struct metrics **out);
void metrics_destroy(struct metrics *m);          /* NULL is a no-op */

/* m may be NULL (tests without metrics): then these do nothing. */
void metrics_add(struct metrics *m, enum metric_counter c, uint64_t n);
/* A submission of dialect ("rport", "elastic"...) was accepted; id: the
 * invocation (its fan-out is timed until EV_INVOCATION_DONE), or NULL for
 * a single-client run. */
void metrics_invocation(struct metrics *m, const char *dialect, const char *id);
/* A single-client run of dialect was accepted: counted as a submission,
 * and its job's end (EV_JOB_DONE) is counted under the dialect. */
void metrics_single(struct metrics *m, const char *dialect, const char *jid);
/* A job's run was first sent to its agent (in flight until it is
 * unsent: its end, whose EV_JOB_DONE carries run_sent_ms, or its being
 * forgotten without one). */
void metrics_job_sent(struct metrics *m);
void metrics_job_unsent(struct metrics *m);

/* A gauge read at each scrape: fn returns its value. labels is the label
 * set as Prometheus writes it ("listener=\"api\"") or NULL; name, help and
 * labels are borrowed and must outlive m. */
typedef double (*metrics_gauge_fn)(void *ud);
int metrics_gauge(struct metrics *m, const char *name, const char *help, const char *labels,
		  metrics_gauge_fn fn, void *ud);

/* The exposition text (malloc'd, *len bytes), or NULL. */
char *metrics_render(struct metrics *m, size_t *len);

#endif
