/* query: parsing of rport's job list parameters. */
#include "core/query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* The fields rport's job lists sort and filter on (plus client_id), and
 * the SQL each stands for. schedule_id is NULL for a job that no
 * schedule started (a filter on it does not match such a job). */
struct fieldmap {
	const char *field;
	const char *sql;
};

static const struct fieldmap job_fields[] = {
	{ "jid", "jid" },
	{ "status", "status" },
	{ "created_by", "created_by" },
	{ "multi_job_id", "multi_job_id" },
	{ "schedule_id", "schedule_id" },
	{ "client_id", "client_id" },
	{ "started_at", "started_at" },
	{ "finished_at", "finished_at" },
	{ NULL, NULL },
};

/* GET /commands (multi-client jobs): rport's MultiJob list fields. */
static const struct fieldmap multi_fields[] = {
	{ "jid", "jid" },
	{ "created_by", "created_by" },
	{ "schedule_id", "schedule_id" },
	{ "started_at", "started_at" },
	{ NULL, NULL },
};

static const char *column_of(const struct fieldmap *t, const char *field)
{
	for (; t->field; t++)
		if (!strcmp(t->field, field))
			return t->sql;
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

static int parse_sort(const struct fieldmap *t, struct job_query *q, const char *v, char *err,
		      size_t errlen)
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
		col = column_of(t, tok);
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
/* Splits list (modified) at commas into values[*n...], each strdup'ed;
 * trim drops leading spaces. label names the parameter in errors: too
 * many values, or none. */
static int values_add(char **values, size_t *n, char *list, bool trim, const char *label,
		      char *err, size_t errlen)
{
	char *save = NULL, *tok;

	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (trim && *tok == ' ')
			tok++;
		if (*n == QUERY_MAX_VALUES) {
			snprintf(err, errlen, "too many values in %.64s (maximum %d)", label,
				 QUERY_MAX_VALUES);
			return -1;
		}
		values[*n] = strdup(tok);
		if (!values[*n]) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		(*n)++;
	}
	if (!*n) {
		snprintf(err, errlen, "%.64s has no value", label);
		return -1;
	}
	return 0;
}

static int parse_filter(const struct fieldmap *t, struct job_query *q, const char *name,
			const char *v, char *err, size_t errlen)
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
	col = column_of(t, field);
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
		char tmp[2048], label[96];

		if (util_strlcpy(tmp, v, sizeof tmp)) {
			snprintf(err, errlen, "filter[%s] is too long", field);
			return -1;
		}
		snprintf(label, sizeof label, "filter[%s]", field);
		return values_add(f->values, &f->nvalues, tmp, false, label, err, errlen);
	}
}

static int parse_list(const struct fieldmap *t, const char *const *names,
		      const char *const *values, size_t n, struct job_query *q, char *err,
		      size_t errlen);

int query_jobs_parse(const char *const *names, const char *const *values, size_t n,
		     struct job_query *q, char *err, size_t errlen)
{
	return parse_list(job_fields, names, values, n, q, err, errlen);
}

int query_multi_parse(const char *const *names, const char *const *values, size_t n,
		      struct job_query *q, char *err, size_t errlen)
{
	return parse_list(multi_fields, names, values, n, q, err, errlen);
}

/* page[limit] (1..max_limit) and page[offset]; any other page[...] is
 * refused. Returns 0 or -1 with err. */
static int page_param(const char *name, const char *v, int64_t max_limit, int64_t *limit,
		      int64_t *offset, char *err, size_t errlen)
{
	long long num;

	if (!strcmp(name, "page[limit]")) {
		if (util_parse_int(v, 1, INT64_MAX, &num)) {
			snprintf(err, errlen, "invalid page[limit] '%.32s': expected a positive integer", v);
			return -1;
		}
		if (num > max_limit) {
			snprintf(err, errlen, "pagination limit too big (%lld) maximum is %lld", num,
				 (long long)max_limit);
			return -1;
		}
		*limit = num;
	} else if (!strcmp(name, "page[offset]")) {
		if (util_parse_int(v, 0, INT64_MAX, &num)) {
			snprintf(err, errlen, "invalid page[offset] '%.32s': expected a non-negative integer", v);
			return -1;
		}
		*offset = num;
	} else {
		snprintf(err, errlen, "unsupported pagination parameter '%.32s'", name);
		return -1;
	}
	return 0;
}

static int parse_list(const struct fieldmap *t, const char *const *names,
		      const char *const *values, size_t n, struct job_query *q, char *err,
		      size_t errlen)
{
	memset(q, 0, sizeof *q);
	q->limit = QUERY_DEFAULT_LIMIT;
	for (size_t i = 0; i < n; i++) {
		const char *name = names[i], *v = values[i] ? values[i] : "";

		if (!strcmp(name, "sort")) {
			if (parse_sort(t, q, v, err, errlen))
				return -1;
		} else if (!strncmp(name, "filter[", 7)) {
			if (parse_filter(t, q, name, v, err, errlen))
				return -1;
		} else if (!strncmp(name, "page[", 5)) {
			if (page_param(name, v, QUERY_MAX_LIMIT, &q->limit, &q->offset, err, errlen))
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

/* ---- client lists -------------------------------------------------- */

/* rport's filter fields for clients (its ClientsGet documentation). */
const char *const query_client_filter_fields[] = {
	"id", "name", "os", "os_arch", "os_family", "os_kernel", "os_full_name", "os_version",
	"os_virtualization_system", "os_virtualization_role", "cpu_family", "cpu_model",
	"cpu_model_name", "cpu_vendor", "num_cpus", "timezone", "hostname", "ipv4", "ipv6",
	"tags", "version", "address", "client_auth_id", "connection_state",
	"allowed_user_groups", "groups", NULL,
};

/* rport sorts clients by id, name, os, hostname and version; tether also
 * by the other scalar fields. */
static const char *const client_sort_fields[] = {
	"id", "name", "os", "os_arch", "os_family", "os_kernel", "os_full_name", "os_version",
	"hostname", "version", "address", "client_auth_id", "connection_state", "timezone",
	"num_cpus", NULL,
};

/* The fields of a Client record that fields[clients] may name. */
static const char *const client_fields[] = {
	"id", "name", "os", "os_full_name", "os_version", "os_arch", "os_family", "os_kernel",
	"os_virtualization_system", "os_virtualization_role", "hostname", "cpu_family",
	"cpu_model", "cpu_vendor", "cpu_model_name", "timezone", "num_cpus", "mem_total",
	"ipv4", "ipv6", "tags", "labels", "version", "address", "connection_state",
	"connected_at", "disconnected_at", "last_heartbeat_at", "client_auth_id",
	"interpreters", "services", "groups", "allowed_user_groups", NULL,
};

static const char *in_table(const char *const *t, const char *name)
{
	for (; *t; t++)
		if (!strcmp(*t, name))
			return *t;
	return NULL;
}

void query_clients_free(struct client_query *q)
{
	for (size_t i = 0; i < q->nfilters; i++)
		for (size_t k = 0; k < q->filters[i].nvalues; k++)
			free(q->filters[i].values[k]);
	q->nfilters = 0;
}

/* Splits v at commas into f's values. */
static int split_values(struct client_filter *f, const char *v, const char *name, char *err,
			size_t errlen)
{
	char tmp[2048];
	size_t len;

	if (util_strlcpy(tmp, v, sizeof tmp)) {
		snprintf(err, errlen, "%.64s is too long", name);
		return -1;
	}
	len = strlen(tmp);
	/* or(a,b) / and(a,b) */
	if (len > 4 && (!strncmp(tmp, "or(", 3) || !strncmp(tmp, "and(", 4)) &&
	    tmp[len - 1] == ')') {
		size_t skip = tmp[0] == 'a' ? 4 : 3;

		f->all = tmp[0] == 'a';
		tmp[len - 1] = '\0';
		memmove(tmp, tmp + skip, len - skip);
	}
	return values_add(f->values, &f->nvalues, tmp, true, name, err, errlen);
}

static int client_filter_parse(struct client_query *q, const char *name, const char *v,
			       char *err, size_t errlen)
{
	char list[256];
	const char *p = name + 7, *close = strrchr(p, ']');
	struct client_filter *f;
	char *save = NULL, *tok;
	size_t n;

	if (!close || close[1] || (size_t)(close - p) >= sizeof list || close == p) {
		snprintf(err, errlen, "invalid filter parameter '%.64s'", name);
		return -1;
	}
	n = (size_t)(close - p);
	memcpy(list, p, n);
	list[n] = '\0';
	if (q->nfilters == QUERY_MAX_FILTERS) {
		snprintf(err, errlen, "too many filters (maximum %d)", QUERY_MAX_FILTERS);
		return -1;
	}
	f = &q->filters[q->nfilters];
	memset(f, 0, sizeof *f);
	q->nfilters++;
	for (tok = strtok_r(list, "|", &save); tok; tok = strtok_r(NULL, "|", &save)) {
		const char *field = !strcmp(tok, "*") ? "*" :
				    in_table(query_client_filter_fields, tok);

		if (!field) {
			snprintf(err, errlen, "unsupported filter field '%.64s'", tok);
			return -1;
		}
		if (f->nfields == QUERY_MAX_OR_FIELDS) {
			snprintf(err, errlen, "too many fields in '%.64s' (maximum %d)", name,
				 QUERY_MAX_OR_FIELDS);
			return -1;
		}
		f->fields[f->nfields++] = field;
	}
	if (!f->nfields) {
		snprintf(err, errlen, "invalid filter parameter '%.64s'", name);
		return -1;
	}
	return split_values(f, v, name, err, errlen);
}

static int client_sort_parse(struct client_query *q, const char *v, char *err, size_t errlen)
{
	char tmp[512];
	char *save = NULL, *tok;

	if (util_strlcpy(tmp, v, sizeof tmp)) {
		snprintf(err, errlen, "sort parameter is too long");
		return -1;
	}
	for (tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		bool desc = *tok == '-';
		const char *field = in_table(client_sort_fields, tok + desc);

		if (!field) {
			snprintf(err, errlen, "unsupported sort field '%.64s'", tok + desc);
			return -1;
		}
		if (q->nsort == QUERY_MAX_SORT) {
			snprintf(err, errlen, "too many sort fields (maximum %d)", QUERY_MAX_SORT);
			return -1;
		}
		q->sort[q->nsort].column = field;
		q->sort[q->nsort].desc = desc;
		q->nsort++;
	}
	return 0;
}

int query_fields_parse(const char *const *names, const char *const *values, size_t n,
		       const char *const *accepted, const char *const *skip,
		       const char *const *known, const char **out, size_t maxout, char *err,
		       size_t errlen)
{
	size_t count = 0;

	for (size_t i = 0; i < n; i++) {
		char res[64], tmp[1024];
		const char *name = names[i], *close;
		char *save = NULL, *tok;

		if (strncmp(name, "fields[", 7))
			continue;
		close = strchr(name + 7, ']');
		if (!close || close[1] || (size_t)(close - name - 7) >= sizeof res) {
			snprintf(err, errlen, "invalid fields parameter '%.64s'", name);
			return -1;
		}
		memcpy(res, name + 7, (size_t)(close - name - 7));
		res[close - name - 7] = '\0';
		if (skip && in_table(skip, res))
			continue;
		if (!in_table(accepted, res)) {
			snprintf(err, errlen, "unsupported resource in fields: \"%.64s\"", res);
			return -1;
		}
		if (util_strlcpy(tmp, values[i] ? values[i] : "", sizeof tmp)) {
			snprintf(err, errlen, "fields[%s] is too long", res);
			return -1;
		}
		for (tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			const char *f = in_table(known, tok);

			if (!f) {
				snprintf(err, errlen, "unsupported field \"%.64s\" for resource \"%s\"",
					 tok, res);
				return -1;
			}
			if (count == maxout) {
				snprintf(err, errlen, "too many fields (maximum %zu)", maxout);
				return -1;
			}
			out[count++] = f;
		}
	}
	return (int)count;
}

int query_clients_parse(const char *const *names, const char *const *values, size_t n,
			int64_t default_limit, int64_t max_limit, struct client_query *q,
			char *err, size_t errlen)
{
	static const char *const resources[] = { "clients", NULL };
	int nf;

	memset(q, 0, sizeof *q);
	q->limit = default_limit;
	for (size_t i = 0; i < n; i++) {
		const char *name = names[i], *v = values[i] ? values[i] : "";

		if (!strcmp(name, "sort")) {
			if (client_sort_parse(q, v, err, errlen))
				return -1;
		} else if (!strncmp(name, "filter[", 7)) {
			if (client_filter_parse(q, name, v, err, errlen))
				return -1;
		} else if (!strncmp(name, "page[", 5)) {
			if (page_param(name, v, max_limit, &q->limit, &q->offset, err, errlen))
				return -1;
		}
	}
	nf = query_fields_parse(names, values, n, resources, NULL, client_fields, q->fields,
				QUERY_MAX_FIELDS, err, errlen);
	if (nf < 0)
		return -1;
	q->nfields = (size_t)nf;
	return 0;
}
