/* model: the core's words for what tetherd runs, independent of any API
 * dialect. A dialect maps these to its own strings and shapes (rport's in
 * dialects/rport/). */
#ifndef TETHER_MODEL_H
#define TETHER_MODEL_H

#include <stdbool.h>

/* A job's status: one run of one command on one client. The first three
 * are live; the rest are final. */
enum job_status {
	JOB_QUEUED,       /* created; its client is offline, it waits (with an expiry) */
	JOB_DISPATCHED,   /* sent to the agent; the start is not confirmed yet */
	JOB_RUNNING,      /* the agent started the process */
	JOB_SUCCESSFUL,   /* exit code 0 */
	JOB_FAILED,       /* non-zero exit, refused, or lost */
	JOB_UNKNOWN,      /* the outcome is not known (a timeout without a result) */
	JOB_CANCELLED,    /* stopped on request */
	JOB_EXPIRED,      /* never delivered before its delivery deadline */
	JOB_STATUS_COUNT
};

/* The model's own names ("queued", "dispatched", "running", "successful",
 * "failed", "unknown", "cancelled", "expired"): the store's column. */
const char *job_status_name(enum job_status s);
/* Parses a model name; returns false for anything else. */
bool job_status_parse(const char *name, enum job_status *out);
static inline bool job_status_final(enum job_status s) { return s >= JOB_SUCCESSFUL; }

enum job_stream { JOB_STDOUT, JOB_STDERR };
static inline const char *job_stream_name(enum job_stream s)
{
	return s == JOB_STDERR ? "stderr" : "stdout";
}

#endif
