/* libFuzzer harness: the job list parameters (sort, filter[...], page[...]).
 * The input is split at '&' into name=value pairs, as a query string. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *names[64], *values[64];
	char *copy = malloc(size + 1), *save = NULL, *tok;
	struct job_query q;
	char err[300];
	size_t n = 0;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (tok = strtok_r(copy, "&", &save); tok && n < 64; tok = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(tok, '=');

		if (eq)
			*eq = '\0';
		names[n] = tok;
		values[n] = eq ? eq + 1 : "";
		n++;
	}
	query_jobs_parse(names, values, n, &q, err, sizeof err);
	if (q.nfilters < QUERY_MAX_FILTERS)
		query_jobs_only_creator(&q, "alice", err, sizeof err);
	query_jobs_free(&q);
	free(copy);
	return 0;
}
