/* status: rport's job status words for the core's statuses. */
#ifndef TETHER_RPORT_STATUS_H
#define TETHER_RPORT_STATUS_H

#include "core/model.h"

/* rport knows "running", "successful", "failed" and "unknown": a job that
 * waits or is on its way is running; cancelled and expired jobs failed. */
const char *rport_job_status(enum job_status s);

#endif
