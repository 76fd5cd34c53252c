/* query: parsing of rport's job list parameters. */
#include "query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* The fields rport's job lists sort and filter on (plus client_id), and
 * the SQL each stands for. tether has no schedules: no job has a
 * schedule_id, so it is NULL for all (a sort on it keeps the tie-break
 * order; a filter on it matches nothing), as rport answers for jobs that
 * no schedule started. */
static const struct {
	const char *field;
	const char *sql;
} job_fields[] = {
	{ "jid", "jid" },
	{ "status", "status" },
	{ "created_by", "created_by" },
	{ "multi_job_id", "multi_job_id" },
	{ "schedule_id", "NULL" },
	{ "client_id", "client_id" },
	{ "started_at", "started_at" },
	{ "finished_at", "finished_at" },
};

static const char *column_of(const char *field)
{
	for (size_t i = 0; i < sizeof job_fields / sizeof job_fields[0]; i++)
		if (!strcmp(job_fields[i].field, field))
			return job_fields[i].sql;
	return NULL;
}

static bool is_time_column(const char *c)
{
	return !strcmp(c, "started_at") || !strcmp(c, "finished_at");
}

void query_jobs_free(struct job_query *q)
{
	for (size_t i = 0; i < q->nfilters; i++)
		for (size_t k = 0; k < q->filters[i].nvalues; k++)
			free(q->filters[i].values[k]);
	q->nfilters = 0;
}

static int parse_sort(struct job_query *q, const char *v, char *err, size_t errlen)
{
	char tmp[512];
	char *save = NULL, *tok;

	if (util_strlcpy(tmp, v, sizeof tmp)) {
		snprintf(err, errlen, "sort parameter is too long");
		return -1;
	}
	for (tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		bool desc = false;
		const char *col;

		if (*tok == '-') {
			desc = true;
			tok++;
		}
		col = column_of(tok);
		if (!col) {
			snprintf(err, errlen, "unsupported sort field '%.64s'", tok);
			return -1;
		}
		if (q->nsort == QUERY_MAX_SORT) {
			snprintf(err, errlen, "too many sort fields (maximum %d)", QUERY_MAX_SORT);
			return -1;
		}
		q->sort[q->nsort].column = col;
		q->sort[q->nsort].desc = desc;
		q->nsort++;
	}
	return 0;
}

/* name is "filter[field]" or "filter[field][op]". */
static int parse_filter(struct job_query *q, const char *name, const char *v,
			char *err, size_t errlen)
{
	char field[64], op[16] = "";
	const char *p = name + 7, *close = strchr(p, ']');
	struct query_filter *f;
	const char *col;
	size_t n;

	if (!close || (size_t)(close - p) >= sizeof field) {
		snprintf(err, errlen, "invalid filter parameter '%.64s'", name);
		return -1;
	}
	n = (size_t)(close - p);
	memcpy(field, p, n);
	field[n] = '\0';
	if (close[1] == '[') {
		const char *oclose = strchr(close + 2, ']');

		if (!oclose || oclose[1] || (size_t)(oclose - close - 2) >= sizeof op) {
			snprintf(err, errlen, "invalid filter parameter '%.64s'", name);
			return -1;
		}
		memcpy(op, close + 2, (size_t)(oclose - close - 2));
		op[oclose - close - 2] = '\0';
	} else if (close[1]) {
		snprintf(err, errlen, "invalid filter parameter '%.64s'", name);
		return -1;
	}
	col = column_of(field);
	if (!col) {
		snprintf(err, errlen, "unsupported filter field '%.64s'", field);
		return -1;
	}
	if (q->nfilters == QUERY_MAX_FILTERS) {
		snprintf(err, errlen, "too many filters (maximum %d)", QUERY_MAX_FILTERS);
		return -1;
	}
	f = &q->filters[q->nfilters];
	memset(f, 0, sizeof *f);
	f->column = col;
	if (is_time_column(col)) {
		if (!strcmp(op, "gt"))
			f->op = QOP_GT;
		else if (!strcmp(op, "lt"))
			f->op = QOP_LT;
		else if (!strcmp(op, "since"))
			f->op = QOP_SINCE;
		else if (!strcmp(op, "until"))
			f->op = QOP_UNTIL;
		else {
			snprintf(err, errlen,
				 "filter[%s] needs an operator: [gt], [lt], [since] or [until]", field);
			return -1;
		}
		if (util_time_parse(v, &f->time_ns)) {
			snprintf(err, errlen, "invalid time '%.64s' in filter[%s][%s]: use RFC 3339",
				 v, field, op);
			return -1;
		}
		q->nfilters++;
		return 0;
	}
	if (op[0]) {
		snprintf(err, errlen, "unsupported filter operator '%.16s' for '%s'", op, field);
		return -1;
	}
	f->op = QOP_IN;
	/* Count the filter first so query_jobs_free sees its values. */
	q->nfilters++;
	{
		char tmp[2048];
		char *save = NULL, *tok;

		if (util_strlcpy(tmp, v, sizeof tmp)) {
			snprintf(err, errlen, "filter[%s] is too long", field);
			return -1;
		}
		for (tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (f->nvalues == QUERY_MAX_VALUES) {
				snprintf(err, errlen, "too many values in filter[%s] (maximum %d)",
					 field, QUERY_MAX_VALUES);
				return -1;
			}
			f->values[f->nvalues] = strdup(tok);
			if (!f->values[f->nvalues]) {
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			f->nvalues++;
		}
	}
	if (!f->nvalues) {
		snprintf(err, errlen, "filter[%s] has no value", field);
		return -1;
	}
	return 0;
}

int query_jobs_parse(const char *const *names, const char *const *values, size_t n,
		     struct job_query *q, char *err, size_t errlen)
{
	memset(q, 0, sizeof *q);
	q->limit = QUERY_DEFAULT_LIMIT;
	for (size_t i = 0; i < n; i++) {
		const char *name = names[i], *v = values[i] ? values[i] : "";
		long long num;

		if (!strcmp(name, "sort")) {
			if (parse_sort(q, v, err, errlen))
				return -1;
		} else if (!strncmp(name, "filter[", 7)) {
			if (parse_filter(q, name, v, err, errlen))
				return -1;
		} else if (!strcmp(name, "page[limit]")) {
			if (util_parse_int(v, 1, INT64_MAX, &num)) {
				snprintf(err, errlen, "invalid page[limit] '%.32s': expected a positive integer", v);
				return -1;
			}
			if (num > QUERY_MAX_LIMIT) {
				snprintf(err, errlen, "pagination limit too big (%lld) maximum is %d",
					 num, QUERY_MAX_LIMIT);
				return -1;
			}
			q->limit = num;
		} else if (!strcmp(name, "page[offset]")) {
			if (util_parse_int(v, 0, INT64_MAX, &num)) {
				snprintf(err, errlen, "invalid page[offset] '%.32s': expected a non-negative integer", v);
				return -1;
			}
			q->offset = num;
		} else if (!strncmp(name, "page[", 5)) {
			snprintf(err, errlen, "unsupported pagination parameter '%.32s'", name);
			return -1;
		}
		/* fields[...] and anything else: accepted and ignored. */
	}
	return 0;
}

int query_jobs_only_creator(struct job_query *q, const char *user, char *err, size_t errlen)
{
	struct query_filter *f;
	char *v;

	if (q->nfilters == QUERY_MAX_FILTERS) {
		snprintf(err, errlen, "too many filters (maximum %d)", QUERY_MAX_FILTERS - 1);
		return -1;
	}
	/* Exact and case-sensitive: not a LIKE pattern. */
	v = strdup(user);
	if (!v) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	f = &q->filters[q->nfilters++];
	memset(f, 0, sizeof *f);
	f->column = "created_by";
	f->op = QOP_EQ;
	f->values[0] = v;
	f->nvalues = 1;
	return 0;
}
