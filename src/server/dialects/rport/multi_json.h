/* multi_json: rport's MultiJob JSON. */
#ifndef TETHER_RPORT_MULTI_JSON_H
#define TETHER_RPORT_MULTI_JSON_H

#include <jansson.h>

#include "util.h"

struct server;

/* The multi job as GET /commands/{id} shows it: rport's fields in rport's
 * order, then tether's (argv, jobs, status, summary, pending, not_run).
 * Read through the store's callbacks; cb gets it (a new reference), or
 * NULL when there is no such multi job. */
typedef void (*rport_multi_cb)(void *ud, json_t *multi, const struct buf *jobs);
void rport_multi_json_read(struct server *srv, const char *jid, rport_multi_cb cb, void *ud);
/* The jobs come as text, not in the tree: cb's jobs holds their array
 * (written by rport_jobs_write) and multi's "jobs" is null until
 * rport_multi_dump puts them in. When jobs->len is 0 they are in the tree
 * (the text could not be written). */

/* The text of multi with its jobs, appended to out. 0 or a TE_ code. */
int rport_multi_dump(struct buf *out, const json_t *multi, const struct buf *jobs);

#endif
