/* api_saved: rport's library (/library/commands, /library/scripts) and
 * schedules (/schedules): handlers and the list parameters they share. */
#ifndef TETHER_API_SAVED_H
#define TETHER_API_SAVED_H

#include <stddef.h>

#include "core/library.h"
#include "dialects/rport/api.h"

/* sort=, filter[f]=, fields[resource]= and page[...] of a library or
 * schedule list over the rport fields in sortable / filterable
 * (NULL-terminated); page[limit] defaults to 20, at most 100 (rport's
 * numbers for these lists). The values point into the request. Fills q
 * and fields (*nfields, 0: all); free q with api_saved_query_free. Replies
 * 400 and returns -1 on error (nothing to free then). */
int api_saved_query(struct api_call *call, const char *resource,
		    const char *const *sortable, const char *const *filterable,
		    struct saved_query *q, const char **fields, int *nfields, size_t maxfields);

void api_saved_query_free(struct saved_query *q);

#endif
