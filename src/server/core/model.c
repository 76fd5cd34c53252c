/* model: names of the model's enums. */
#include "core/model.h"

#include <string.h>

static const char *const status_names[JOB_STATUS_COUNT] = {
	[JOB_QUEUED] = "queued",         [JOB_DISPATCHED] = "dispatched",
	[JOB_RUNNING] = "running",       [JOB_SUCCESSFUL] = "successful",
	[JOB_FAILED] = "failed",         [JOB_UNKNOWN] = "unknown",
	[JOB_CANCELLED] = "cancelled",   [JOB_EXPIRED] = "expired",
};

const char *job_status_name(enum job_status s)
{
	return (unsigned)s < JOB_STATUS_COUNT ? status_names[s] : "unknown";
}

bool job_status_parse(const char *name, enum job_status *out)
{
	int i;

	for (i = 0; name && i < JOB_STATUS_COUNT; i++)
		if (!strcmp(name, status_names[i])) {
			*out = (enum job_status)i;
			return true;
		}
	return false;
}
