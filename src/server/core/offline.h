/* offline: jobs queued for clients that are not connected (SSM's pending
 * commands, Elastic's pending actions).
 *
 * A dialect asks for it with queue_offline in its invocation_request; the
 * core then stores a job for an offline target as "queued" (with its
 * expiry) instead of failing it. This module follows every queued job in
 * memory (loaded from the store at start, so a restart, kill -9 included,
 * loses none): at its agent's hello the job is dispatched exactly once (a
 * conditional write queued -> running commits before the run is sent, then
 * the agent journal's guarantees hold as for any job); at its deadline it
 * ends "expired"; a cancel ends it "cancelled". Both publish EV_JOB_DONE.
 *
 * Children of a multi-client invocation are dispatched when fan-out says a
 * slot is free (a queued child counts against max_concurrency only once it
 * is dispatched): fan-out registers hooks for that (offline_set_hooks). */
#ifndef TETHER_OFFLINE_H
#define TETHER_OFFLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;
struct offline;

/* Loads the queued jobs from the store and starts the expiry sweep. */
int offline_create(struct server *srv, struct offline **out);
/* Closes the timer (at shutdown, before the loop drains). */
void offline_stop(struct offline *q);
void offline_destroy(struct offline *q);   /* NULL is a no-op */

/* Fan-out's hooks for queued children. ready: the child's agent is
 * connected; return true to dispatch it now (fan-out counted it running),
 * false to keep it queued (fan-out calls offline_dispatch when a slot
 * frees). requeued: a child fan-out counted running went back to the
 * queue (its agent left before the run was sent). */
struct offline_hooks {
	bool (*ready)(void *ud, const char *multi_jid, const char *jid);
	void (*requeued)(void *ud, const char *multi_jid, const char *jid);
};
void offline_set_hooks(struct offline *q, const struct offline_hooks *h, void *ud);

/* Follows a job whose queued row is committed (multi_jid NULL for a
 * single-client job). If its client is connected by now it is dispatched
 * at once. Returns 0 or TE_NOMEM. */
int offline_add(struct offline *q, const char *jid, const char *client_id,
		const char *multi_jid, int64_t created_at, int64_t expires_at);
/* The client's agent said hello: its queued jobs go out. */
void offline_client_up(struct offline *q, const char *client_id);
/* Dispatches a queued job now (fan-out, once it has a slot for it).
 * Returns 0, or TE_NOTFOUND when the job is not queued (any more). */
int offline_dispatch(struct offline *q, const char *jid);
/* Ends a queued job "cancelled" with error (e.g. "cancelled by admin").
 * Returns 0 (EV_JOB_DONE follows once stored), TE_NOTFOUND (not queued)
 * or TE_STATE (it is leaving the queue right now: cancel it as a running
 * job). */
int offline_cancel(struct offline *q, const char *jid, const char *error);
/* Ends every job queued for the client "cancelled" with error (the client
 * was deleted: it will never take them). Returns how many it ended (a job
 * leaving the queue right now is not among them: it runs or fails as a
 * running job). */
int offline_cancel_client(struct offline *q, const char *client_id, const char *error);
/* Why: the error of a job queued for a client that was deleted (by
 * offline_cancel_client's caller, or found here when a job's row is
 * committed after its client went). */
#define OFFLINE_CLIENT_DELETED "cancelled: the client was deleted"

/* Is the job queued here? */
bool offline_has(const struct offline *q, const char *jid);
size_t offline_count(const struct offline *q);

/* Expires every job whose deadline is at or before now_ns (the sweep calls
 * it each second with the clock; tests call it with theirs). Returns how
 * many it expired. */
int offline_sweep(struct offline *q, int64_t now_ns);

#endif
