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

/* Stores and starts a multi job. record must hold: jid, started_at,
 * created_by, targets (client ids in order), command, cwd, interpreter,
 * is_sudo, is_script, timeout_sec, concurrent, abort_on_err,
 * max_concurrency (0: no limit), max_errors (-1: no limit), plus the
 * request's targeting as given (client_ids, group_ids, tags, labels); and
 * may hold delivery_timeout_sec, idempotency_key and request_hash.
 * Returns 0, TE_EXISTS (the idempotency key is in use) or TE_IO. */
int fanout_start(struct fanout *f, json_t *record);

/* The multi job a running child of client_id belongs to, or NULL (also
 * when the child is another client's). */
const char *fanout_multi_of(struct fanout *f, const char *child_jid, const char *client_id);

/* The multi job as the API shows it, or NULL if unknown. */
json_t *fanout_multi_json(struct fanout *f, const char *jid);

/* Cancels every running child and dispatches nothing more. Returns the
 * number of children asked to stop, or TE_NOTFOUND. */
int fanout_cancel(struct fanout *f, const char *jid, const char *by);

#endif
