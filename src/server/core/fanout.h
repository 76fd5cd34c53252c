/* fanout: the multi-client job scheduler (rport's multi job, SSM's
 * fan-out controls).
 *
 * A multi job record (JSON, stored before anything runs) holds the request
 * and its resolved targets. Targets are dispatched in order: one at a time
 * in sequential mode, or up to max_concurrency at once in concurrent mode.
 * Sequential mode with abort_on_err stops at the first failed child;
 * max_errors stops dispatching once the failures exceed it. Targets never
 * dispatched are reported as not run. */
#ifndef TETHER_FANOUT_H
#define TETHER_FANOUT_H

#include <jansson.h>

#include "server.h"

struct fanout;

int fanout_create(struct server *srv, struct fanout **out);
/* Closes the timers (at shutdown, before the loop drains). */
void fanout_stop(struct fanout *f);
void fanout_destroy(struct fanout *f);

/* Starts dispatching a multi job whose record is stored (core/invoke.c
 * commits it with its audit record). The record holds: jid, started_at,
 * created_by, targets (client ids in order), command, cwd, interpreter,
 * is_sudo, is_script, timeout_sec, concurrent, abort_on_err,
 * max_concurrency (null: no limit), max_errors (null: no limit), and may
 * hold argv, kill_on_timeout, stream, delivery_timeout_sec and a dialect's
 * own fields. Takes its own reference. Returns 0 or TE_NOMEM. */
int fanout_begin(struct fanout *f, json_t *record);

/* The multi job a running child of client_id belongs to, or NULL (also
 * when the child is another client's). */
const char *fanout_multi_of(struct fanout *f, const char *child_jid, const char *client_id);


/* A running multi job's progress from memory, what its GET shows while it
 * runs (no store read of its children): targets[0..next) have a child,
 * running and queued ones are not final, the others by outcome. rec is
 * borrowed (valid until the loop runs on). Returns 0, or TE_NOTFOUND when
 * the job is not running here or was resumed after a restart (its earlier
 * children are only in the store). */
struct fanout_progress {
	const json_t *rec;
	size_t next;
	int running, queued;
	int64_t successful, failed, unknown, expired;
};
int fanout_progress(struct fanout *f, const char *jid, struct fanout_progress *out);

/* Cancels every running child and dispatches nothing more. Returns the
 * number of children asked to stop, or TE_NOTFOUND. */
int fanout_cancel(struct fanout *f, const char *jid, const char *by);

#endif
