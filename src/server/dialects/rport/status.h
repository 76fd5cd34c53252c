/* status: rport's words for the core's statuses, and its times. */
#ifndef TETHER_RPORT_STATUS_H
#define TETHER_RPORT_STATUS_H

#include <stdint.h>

#include <jansson.h>

#include "core/model.h"

/* rport knows "running", "successful", "failed" and "unknown": a job on its
 * way is running; a cancelled job failed. tether's queued jobs (opt-in,
 * queue_offline) are "queued", then "expired" if their client never came. */
const char *rport_job_status(enum job_status s);
/* A time (ns since the epoch) as rport writes it (RFC 3339, UTC); 0 is
 * null. New reference. */
json_t *rport_time_json(int64_t ns);

#endif
