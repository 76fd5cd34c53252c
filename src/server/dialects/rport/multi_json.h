/* multi_json: rport's MultiJob JSON. */
#ifndef TETHER_RPORT_MULTI_JSON_H
#define TETHER_RPORT_MULTI_JSON_H

#include <jansson.h>

struct server;

/* The multi job as GET /commands/{id} shows it: rport's fields in rport's
 * order, then tether's (argv, jobs, status, summary, pending, not_run).
 * Read through the store's callbacks; cb gets it (a new reference), or
 * NULL when there is no such multi job. */
typedef void (*rport_multi_cb)(void *ud, json_t *multi);
void rport_multi_json_read(struct server *srv, const char *jid, rport_multi_cb cb, void *ud);

#endif
