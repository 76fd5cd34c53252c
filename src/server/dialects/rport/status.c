/* status: rport's status words; see status.h. */
#include "dialects/rport/status.h"

#include "util.h"

const char *rport_job_status(enum job_status s)
{
	switch (s) {
	case JOB_QUEUED:
		/* Only a job that asked to wait for its client is ever queued. */
		return "queued";
	case JOB_EXPIRED:
		return "expired";
	case JOB_DISPATCHED:
	case JOB_RUNNING:
		return "running";
	case JOB_SUCCESSFUL:
		return "successful";
	case JOB_FAILED:
	case JOB_CANCELLED:
		return "failed";
	default:
		return "unknown";
	}
}

json_t *rport_time_json(int64_t ns)
{
	char t[TIME_STR_LEN];

	if (!ns)
		return json_null();
	util_time_format(ns, t);
	return json_string(t);
}
