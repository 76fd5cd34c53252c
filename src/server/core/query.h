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
/* The same for GET /commands (multi-client jobs): jid, created_by,
 * schedule_id, started_at. */
int query_multi_parse(const char *const *names, const char *const *values, size_t n,
		      struct job_query *q, char *err, size_t errlen);
/* Adds filter created_by = user (what non-administrators may see). */
int query_jobs_only_creator(struct job_query *q, const char *user, char *err, size_t errlen);

/* ---- client lists (GET /clients) --------------------------------------
 * filter[f]=a,b (OR, '*' wildcards, case-insensitive), filter[f1|f2]=...
 * (any of the fields), filter[*]=... (any field), and the value forms
 * or(a,b) and and(a,b); sort=f,-g; fields[clients]=f,g; page[limit] and
 * page[offset]. Field names are rport's (query.c's tables). */
#define QUERY_MAX_OR_FIELDS 8
#define QUERY_MAX_FIELDS 48

struct client_filter {
	const char *fields[QUERY_MAX_OR_FIELDS]; /* from the table; "*" = any */
	size_t nfields;
	char *values[QUERY_MAX_VALUES];
	size_t nvalues;
	bool all;                                 /* and(...): every value */
};

struct client_query {
	struct client_filter filters[QUERY_MAX_FILTERS];
	size_t nfilters;
	struct query_sort sort[QUERY_MAX_SORT];  /* column = field name */
	size_t nsort;
	const char *fields[QUERY_MAX_FIELDS];    /* fields[clients]; none = all */
	size_t nfields;
	int64_t limit;
	int64_t offset;
};

/* The client fields rport filters on (NULL-terminated), for matchers. */
extern const char *const query_client_filter_fields[];

/* Parses GET /clients arguments; limit defaults to default_limit, at most
 * max_limit. Returns 0, or -1 with rport's message in err. Free with
 * query_clients_free in both cases. */
int query_clients_parse(const char *const *names, const char *const *values, size_t n,
			int64_t default_limit, int64_t max_limit, struct client_query *q,
			char *err, size_t errlen);
void query_clients_free(struct client_query *q);

/* fields[<resource>]=a,b for a list of resource (e.g. "jobs"): checks
 * each name against known (NULL-terminated) and fills out (pointers into
 * known). Resources in skip (NULL-terminated, or NULL) are left to another
 * call; any other than accepted is an error. Returns the count (0: not
 * given) or -1 with err. */
int query_fields_parse(const char *const *names, const char *const *values, size_t n,
		       const char *const *accepted, const char *const *skip,
		       const char *const *known, const char **out, size_t maxout, char *err,
		       size_t errlen);

#endif
