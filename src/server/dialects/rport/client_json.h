/* client_json: rport's Client shape of the core's clients. */
#ifndef TETHER_RPORT_CLIENT_JSON_H
#define TETHER_RPORT_CLIENT_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/registry.h"

/* The client as rport's Client JSON (new reference). */
json_t *rport_client_json(const struct client *c);
/* All known clients, sorted by id (new reference). */
json_t *rport_clients_json(struct registry *reg);
/* One field of the client as rport's Client JSON names it, read from the
 * registry without rendering the client (list filters and sorts): *str for
 * a scalar (num_cpus and mem_total are written into num), or *list (tags,
 * ipv4, ipv6: borrowed, may be NULL). Returns false for other fields. */
bool rport_client_field(const struct client *c, const char *field, const char **str,
			const json_t **list, char *num, size_t numlen);
/* The same, resolved once per request: a field's number (-1 for a name
 * rport_client_field does not know), then its value per client. Numbers
 * (num_cpus, mem_total) come in *num, not as text. */
int rport_client_field_id(const char *field);
bool rport_client_field_get(const struct client *c, int id, const char **str,
			    const json_t **list, long long *num);
bool rport_client_field_numeric(int id);

#endif
