/* outcome: server-side final outcomes; see outcome.h. */
#include "core/outcome.h"

#include "store/store.h"
#include "util.h"

int outcome_not_connected(struct store *st, const char *jid, const char *state)
{
	return outcome_fail(st, jid, "client is not connected", state);
}

int outcome_fail(struct store *st, const char *jid, const char *error, const char *state)
{
	struct job_result r = { 0 };

	r.status = JOB_FAILED;
	r.error = error;
	r.state = state;
	r.finished_at = util_now_ns();
	return store_job_finish(st, jid, NULL, &r);
}
