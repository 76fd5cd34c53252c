/* outcome: the final outcomes the server itself gives a job (as opposed
 * to the one its agent reports), written the same way on every path. */
#ifndef TETHER_OUTCOME_H
#define TETHER_OUTCOME_H

struct store;

/* The run never left the server because the client was not connected: the
 * job fails with "client is not connected" and the server's verdict state
 * (NULL for none, "withdrawn" when it is withdrawn for good). Runs inside a
 * store transaction (an apply of store_queue). Returns store_job_finish's
 * code. */
int outcome_not_connected(struct store *st, const char *jid, const char *state);
/* The same with another reason (error) for a run that never left. */
int outcome_fail(struct store *st, const char *jid, const char *error, const char *state);

#endif
