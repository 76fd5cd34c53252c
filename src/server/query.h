/* query: rport's list parameters for jobs: sort, filter[...] (with '*'
 * wildcards and date bounds) and page[...]. Pure parsing, no I/O, so it can
 * be unit-tested and fuzzed. */
#ifndef TETHER_QUERY_H
#define TETHER_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QUERY_MAX_FILTERS 16
#define QUERY_MAX_VALUES 32
#define QUERY_MAX_SORT 8
#define QUERY_DEFAULT_LIMIT 100
#define QUERY_MAX_LIMIT 1000

enum query_op { QOP_IN, QOP_GT, QOP_LT, QOP_SINCE, QOP_UNTIL, QOP_EQ };

struct query_filter {
	const char *column;            /* SQL from query.c's whitelist (a column, or NULL) */
	enum query_op op;
	char *values[QUERY_MAX_VALUES]; /* QOP_IN: OR-ed, '*' wildcards */
	size_t nvalues;
	int64_t time_ns;               /* date bounds */
};

struct query_sort {
	const char *column;            /* likewise */
	bool desc;
};

struct job_query {
	struct query_filter filters[QUERY_MAX_FILTERS];
	size_t nfilters;
	struct query_sort sort[QUERY_MAX_SORT];
	size_t nsort;
	int64_t limit;
	int64_t offset;
};

/* Parses n query arguments (names[i]=values[i]). Unknown arguments that are
 * not sort/filter/page/fields are ignored. Returns 0, or -1 with rport's
 * message in err ("unsupported filter field 'x'"...). Free with
 * query_jobs_free in both cases. */
int query_jobs_parse(const char *const *names, const char *const *values, size_t n,
		     struct job_query *q, char *err, size_t errlen);
void query_jobs_free(struct job_query *q);
/* Adds filter created_by = user (what non-administrators may see). */
int query_jobs_only_creator(struct job_query *q, const char *user, char *err, size_t errlen);

#endif
