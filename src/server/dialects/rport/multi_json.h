/* multi_json: rport's MultiJob JSON. */
#ifndef TETHER_RPORT_MULTI_JSON_H
#define TETHER_RPORT_MULTI_JSON_H

#include <jansson.h>

struct server;

/* The multi job as GET /commands/{id} shows it (new reference), or NULL if
 * unknown: rport's fields in rport's order, then tether's (argv, jobs,
 * status, summary, pending, not_run). */
json_t *rport_multi_json(struct server *srv, const char *jid);

#endif
