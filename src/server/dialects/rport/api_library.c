/* api_library: rport's command and script library (/library/commands,
 * /library/scripts) over core/library.h, and running an entry by id
 * (POST /library/{commands,scripts}/{id}/run, tether's: rport has no such
 * call). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/invoke.h"
#include "core/library.h"
#include "core/query.h"
#include "store/store.h"
#include "dialects/rport/api_saved.h"
#include "net.h"
#include "util.h"

static const struct http_field command_fields[] = {
	{ "name", HF_STRING, 0 },
	{ "cmd", HF_STRING, 0 },
	{ "script", HF_STRING, 0 },   /* rport's spec names the text so */
	{ "tags", HF_ARRAY, 0 },
	{ "timeout_sec", HF_INT, 0 },
};

static const struct http_field script_fields[] = {
	{ "name", HF_STRING, 0 },
	{ "script", HF_STRING, 0 },
	{ "interpreter", HF_STRING, 0 },
	{ "cwd", HF_STRING, 0 },
	{ "is_sudo", HF_BOOL, 0 },
	{ "tags", HF_ARRAY, 0 },
	{ "timeout_sec", HF_INT, 0 },
};

static const char *const command_keys[] = { "id", "name", "cmd", "tags", "timeout_sec",
					    "created_at", "created_by", "updated_at",
					    "updated_by", NULL };
static const char *const script_keys[] = { "id", "name", "script", "interpreter", "cwd",
					   "is_sudo", "tags", "timeout_sec", "created_at",
					   "created_by", "updated_at", "updated_by", NULL };

static const char *word(enum library_kind k, bool cap)
{
	if (k == LIBRARY_SCRIPT)
		return cap ? "Script" : "script";
	return cap ? "Command" : "command";
}

/* A core record in rport's Command or Script shape (new reference). */
static json_t *entry_json(enum library_kind k, const json_t *rec)
{
	json_t *o = json_object();
	static const char *const common[] = { "id", "name", "tags", "timeout_sec", "created_at",
					      "created_by", "updated_at", "updated_by" };

	for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
		json_object_set(o, common[i], json_object_get(rec, common[i]) ?: json_null());
	if (k == LIBRARY_COMMAND) {
		json_object_set(o, "cmd", json_object_get(rec, "text"));
	} else {
		json_object_set(o, "script", json_object_get(rec, "text"));
		json_object_set(o, "interpreter", json_object_get(rec, "interpreter"));
		json_object_set(o, "cwd", json_object_get(rec, "cwd"));
		json_object_set(o, "is_sudo", json_object_get(rec, "is_sudo"));
	}
	return o;
}

/* ---- list parameters (shared with api_schedules.c) ------------------ */

static bool in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (!strcmp(*list, s))
			return true;
	return false;
}

/* Splits v at ',' into out (pointers into the copy kept in *keep). */
static size_t split(char *v, const char **out, size_t max)
{
	char *save = NULL, *tok;
	size_t n = 0;

	for (tok = strtok_r(v, ",", &save); tok && n < max; tok = strtok_r(NULL, ",", &save))
		out[n++] = tok;
	return n;
}

void api_saved_query_free(struct saved_query *q)
{
	for (size_t i = 0; i < SAVED_MAX_FILTERS; i++) {
		free(q->mem[i]);
		q->mem[i] = NULL;
	}
}

int api_saved_query(struct api_call *call, const char *resource,
		    const char *const *sortable, const char *const *filterable,
		    struct saved_query *q, const char **fields, int *nfields, size_t maxfields)
{
	const char *const resources[] = { resource, NULL };
	struct api_query aq;
	char err[300] = "", *copy;
	int64_t limit, offset;

	memset(q, 0, sizeof *q);
	if (api_query_get(call, &aq))
		return -1;
	*nfields = query_fields_parse(aq.names, aq.values, aq.n, resources, NULL, sortable, fields,
				      maxfields, err, sizeof err);
	for (size_t i = 0; *nfields >= 0 && i < aq.n && !err[0]; i++) {
		const char *name = aq.names[i], *v = aq.values[i];

		if (!strcmp(name, "sort")) {
			const char *parts[SAVED_MAX_SORT];
			size_t n;

			/* The values are the request's: copy before splitting. */
			copy = strdup(v);
			n = copy ? split(copy, parts, SAVED_MAX_SORT) : 0;
			for (size_t k = 0; k < n && !err[0] && q->nsort < SAVED_MAX_SORT; k++) {
				bool desc = parts[k][0] == '-';
				const char *f = parts[k] + desc;

				for (size_t j = 0; sortable[j]; j++)
					if (!strcmp(sortable[j], f))
						q->sort[q->nsort].field = sortable[j];
				if (!q->sort[q->nsort].field) {
					snprintf(err, sizeof err, "unsupported sort field '%.64s'", f);
					break;
				}
				q->sort[q->nsort++].desc = desc;
			}
			free(copy);
		} else if (!strncmp(name, "filter[", 7) && name[strlen(name) - 1] == ']') {
			char f[64];
			size_t fl = strlen(name) - 8;

			snprintf(f, sizeof f, "%.*s", (int)(fl < 63 ? fl : 63), name + 7);
			if (!in_list(filterable, f)) {
				snprintf(err, sizeof err, "unsupported filter field '%.64s'", f);
				break;
			}
			if (q->nfilters == SAVED_MAX_FILTERS) {
				snprintf(err, sizeof err, "too many filters (at most %d)",
					 SAVED_MAX_FILTERS);
				break;
			}
			for (size_t j = 0; filterable[j]; j++)
				if (!strcmp(filterable[j], f))
					q->filters[q->nfilters].field = filterable[j];
			/* Split in a copy that q keeps (api_saved_query_free). */
			if (!(q->mem[q->nfilters] = strdup(v))) {
				snprintf(err, sizeof err, "out of memory");
				break;
			}
			q->filters[q->nfilters].nvalues =
				split(q->mem[q->nfilters], q->filters[q->nfilters].values,
				      SAVED_MAX_VALUES);
			q->nfilters++;
		}
	}
	api_query_free(&aq);
	if (*nfields < 0 || err[0]) {
		api_saved_query_free(q);
		api_reply_error(call, 400, err, "");
		return -1;
	}
	if (api_page_max(call, &limit, &offset, 100)) {
		api_saved_query_free(q);
		return -1;
	}
	if (!net_http_query(call->req, "page[limit]"))
		limit = 20;
	q->limit = limit;
	q->offset = offset;
	return 0;
}

/* ---- handlers ------------------------------------------------------- */

struct lib_call {
	struct api_call *call;
	enum library_kind kind;
	struct saved_query q;
	const char *fields[16];
	int nfields;
	json_t *body;          /* run: the request */
};

static struct lib_call *lib_call_new(struct api_call *call, enum library_kind k)
{
	struct lib_call *lc = calloc(1, sizeof *lc);

	if (!lc) {
		api_reply_error(call, 500, "Internal error.", "out of memory");
		return NULL;
	}
	lc->call = call;
	lc->kind = k;
	return lc;
}

static void reply_not_found(struct api_call *call, enum library_kind k, const char *id)
{
	char title[200];

	snprintf(title, sizeof title, "%s with id=\"%.64s\" not found.", word(k, true), id);
	api_reply_error(call, 404, title, "id: no library entry of this kind has it");
}

/* The answer to a write or a read of one entry. */
static void one_done(void *ud, int rc, json_t *rec)
{
	struct lib_call *lc = ud;
	struct api_call *call = lc->call;
	const char *method = net_http_method(call->req);
	char title[200];

	if (rc == TE_NOTFOUND) {
		reply_not_found(call, lc->kind, call->params[0]);
	} else if (rc == TE_EXISTS) {
		snprintf(title, sizeof title, "another %s with the same name exists",
			 word(lc->kind, false));
		api_reply_error(call, 409, title, "name: must be unique");
	} else if (rc == TE_INVAL) {
		api_reply_error(call, 400, "Invalid JSON data.", "a field is over its limit");
	} else if (rc) {
		api_reply_error(call, 500, "Failed to access the library.", "");
	} else if (!strcmp(method, "DELETE")) {
		api_reply(call, 204, NULL);
	} else {
		json_t *o = entry_json(lc->kind, rec);

		api_fields_keep(o, lc->fields, (size_t)lc->nfields);
		api_reply_data(call, !strcmp(method, "POST") ? 201 : 200, o);
	}
	json_decref(rec);
	free(lc);
}

static void list_done(void *ud, int rc, json_t *page, int64_t total)
{
	struct lib_call *lc = ud;
	struct api_call *call = lc->call;
	json_t *shown, *sel, *rec;
	size_t i;

	(void)total;
	if (rc) {
		api_saved_query_free(&lc->q);
		free(lc);
		api_reply_error(call, 500, "Failed to read the library.", "");
		return;
	}
	/* Rendered first, so the filters and sorts are over rport's names. */
	shown = json_array();
	json_array_foreach(page, i, rec)
		json_array_append_new(shown, entry_json(lc->kind, rec));
	json_decref(page);
	sel = saved_select(shown, &lc->q, &total);
	json_decref(shown);
	api_saved_query_free(&lc->q);
	if (!sel) {
		free(lc);
		api_reply_error(call, 500, "Internal error.", "out of memory");
		return;
	}
	json_array_foreach(sel, i, rec)
		api_fields_keep(rec, lc->fields, (size_t)lc->nfields);
	free(lc);
	api_reply_list(call, sel, total);
}

static void list(struct api_call *call, enum library_kind k)
{
	static const char *const filter_cmd[] = { "id", "name", "cmd", "tags", "timeout_sec",
						  "created_at", "created_by", "updated_at",
						  "updated_by", NULL };
	struct lib_call *lc = lib_call_new(call, k);
	struct saved_query all;

	if (!lc)
		return;
	if (api_saved_query(call, k == LIBRARY_SCRIPT ? "scripts" : "commands",
			    k == LIBRARY_SCRIPT ? script_keys : command_keys,
			    k == LIBRARY_SCRIPT ? script_keys : filter_cmd, &lc->q, lc->fields,
			    &lc->nfields, 16)) {
		free(lc);
		return;
	}
	memset(&all, 0, sizeof all);
	all.limit = INT64_MAX;
	library_list(call->srv, k, &all, list_done, lc);
}

/* The body of a create or an update as a core entry (borrowing from
 * body). Replies 400 naming the field and returns -1 on error. */
static int entry_of(struct api_call *call, enum library_kind k, json_t *body,
		    struct library_entry *e)
{
	const char *text = json_string_value(json_object_get(body, k == LIBRARY_SCRIPT ? "script" :
								    "cmd"));
	json_t *tags = json_object_get(body, "tags"), *v;
	char detail[200];
	size_t i;

	if (k == LIBRARY_COMMAND && (!text || !*text))
		text = json_string_value(json_object_get(body, "script"));
	memset(e, 0, sizeof *e);
	e->name = json_string_value(json_object_get(body, "name"));
	e->text = text;
	e->tags = json_is_array(tags) ? tags : NULL;
	e->timeout_sec = json_integer_value(json_object_get(body, "timeout_sec"));
	e->interpreter = json_string_value(json_object_get(body, "interpreter"));
	e->cwd = json_string_value(json_object_get(body, "cwd"));
	e->is_sudo = json_is_true(json_object_get(body, "is_sudo"));
	if (!e->name || !*e->name) {
		api_reply_error(call, 400, "Missing required fields.", "name: must not be empty");
		return -1;
	}
	if (strlen(e->name) > LIBRARY_MAX_NAME) {
		snprintf(detail, sizeof detail, "name: at most %d characters", LIBRARY_MAX_NAME);
		api_reply_error(call, 400, "Invalid JSON data.", detail);
		return -1;
	}
	if (!e->text || !*e->text) {
		api_reply_error(call, 400, "Missing required fields.",
				k == LIBRARY_SCRIPT ? "script: must not be empty" :
						      "cmd: must not be empty");
		return -1;
	}
	if (strlen(e->text) > INVOKE_MAX_COMMAND_LEN) {
		snprintf(detail, sizeof detail, "%s: at most %d bytes",
			 k == LIBRARY_SCRIPT ? "script" : "cmd", INVOKE_MAX_COMMAND_LEN);
		api_reply_error(call, 400, "Invalid JSON data.", detail);
		return -1;
	}
	if (e->timeout_sec < 0 || e->timeout_sec > JOB_MAX_TIMEOUT_SEC) {
		snprintf(detail, sizeof detail, "timeout_sec: must be 0 to %lld",
			 (long long)JOB_MAX_TIMEOUT_SEC);
		api_reply_error(call, 400, "Invalid JSON data.", detail);
		return -1;
	}
	if (e->tags && json_array_size(e->tags) > LIBRARY_MAX_TAGS) {
		snprintf(detail, sizeof detail, "tags: at most %d", LIBRARY_MAX_TAGS);
		api_reply_error(call, 400, "Invalid JSON data.", detail);
		return -1;
	}
	json_array_foreach(tags, i, v) {
		if (!json_is_string(v)) {
			api_reply_error(call, 400, "Invalid JSON data.", "tags: must be strings");
			return -1;
		}
	}
	if (k == LIBRARY_SCRIPT) {
		struct invoke_error ie;
		struct api_err err;

		if (invoke_check_job(true, false, e->text, e->interpreter, e->cwd, &ie)) {
			api_invoke_err(&ie, false, &err);
			api_reply_err(call, &err);
			return -1;
		}
	}
	return 0;
}

static void write_entry(struct api_call *call, enum library_kind k, bool create)
{
	struct library_entry e;
	struct lib_call *lc;
	json_t *body;

	if (api_body(call, k == LIBRARY_SCRIPT ? script_fields : command_fields,
		     k == LIBRARY_SCRIPT ? sizeof script_fields / sizeof script_fields[0] :
					   sizeof command_fields / sizeof command_fields[0], &body))
		return;
	if (entry_of(call, k, body, &e) || !(lc = lib_call_new(call, k))) {
		json_decref(body);
		return;
	}
	lc->body = body;
	if (create)
		library_create(call->srv, k, &e, call->user, one_done, lc);
	else
		library_update(call->srv, k, call->params[0], &e, call->user, one_done, lc);
	/* The core copied what it keeps. No use of lc here: it may be gone. */
	json_decref(body);
}

static void get_entry(struct api_call *call, enum library_kind k)
{
	struct lib_call *lc = lib_call_new(call, k);
	struct saved_query unused;

	if (!lc)
		return;
	if (api_saved_query(call, k == LIBRARY_SCRIPT ? "scripts" : "commands",
			    k == LIBRARY_SCRIPT ? script_keys : command_keys,
			    (const char *const[]){ NULL }, &unused, lc->fields, &lc->nfields, 16)) {
		free(lc);
		return;
	}
	api_saved_query_free(&unused);
	library_get(call->srv, k, call->params[0], one_done, lc);
}

static void delete_entry(struct api_call *call, enum library_kind k)
{
	struct lib_call *lc = lib_call_new(call, k);

	if (lc)
		library_delete(call->srv, k, call->params[0], one_done, lc);
}

/* ---- running an entry by id ----------------------------------------- */

/* What a run's body may hold: the targeting and the fan-out, as POST
 * /commands has them; the job itself is the entry's. */
static const struct http_field run_fields[] = {
	{ "client_ids", HF_ARRAY, 0 },
	{ "group_ids", HF_ARRAY, 0 },
	{ "tags", HF_OBJECT, 0 },
	{ "labels", HF_OBJECT, 0 },
	{ "execute_concurrently", HF_BOOL, 0 },
	{ "abort_on_error", HF_BOOL, 0 },
	{ "max_concurrency", HF_ANY, 0 },
	{ "max_errors", HF_ANY, 0 },
	{ "kill_on_timeout", HF_BOOL, 0 },
	{ "delivery_timeout_sec", HF_INT, 0 },
};

static void run_submitted(void *ud, int rc, const char *id, const struct invoke_error *ie)
{
	struct api_call *call = ud;
	struct api_err err;

	if (rc) {
		api_invoke_err(ie, false, &err);
		api_reply_err(call, &err);
		return;
	}
	api_reply_data(call, 200, json_pack("{s:s}", "jid", id));
}

static void run_read(void *ud, int rc, json_t *rec)
{
	struct lib_call *lc = ud;
	struct api_call *call = lc->call;
	enum library_kind k = lc->kind;
	json_t *body = lc->body;
	const char *text = json_string_value(json_object_get(rec, "text"));
	int64_t timeout = json_integer_value(json_object_get(rec, "timeout_sec"));
	struct invocation *inv;
	struct api_err err;

	free(lc);
	if (rc) {
		json_decref(body);
		if (rc == TE_NOTFOUND)
			reply_not_found(call, k, call->params[0]);
		else
			api_reply_error(call, 500, "Failed to read the library.", "");
		return;
	}
	if (k == LIBRARY_SCRIPT) {
		/* The multi-client path takes a script as rport sends it. */
		size_t len = strlen(text), blen = sodium_base64_encoded_len(len,
					sodium_base64_VARIANT_ORIGINAL);
		char *b64 = malloc(blen);

		if (!b64) {
			json_decref(rec);
			json_decref(body);
			api_reply_error(call, 500, "Internal error.", "out of memory");
			return;
		}
		sodium_bin2base64(b64, blen, (const unsigned char *)text, len,
				  sodium_base64_VARIANT_ORIGINAL);
		json_object_set_new(body, "script", json_string(b64));
		free(b64);
		json_object_set(body, "interpreter", json_object_get(rec, "interpreter"));
		json_object_set(body, "cwd", json_object_get(rec, "cwd"));
		json_object_set(body, "is_sudo", json_object_get(rec, "is_sudo"));
	} else {
		json_object_set_new(body, "command", json_string(text));
	}
	if (timeout > 0)
		json_object_set_new(body, "timeout_sec", json_integer(timeout));
	json_decref(rec);
	inv = api_multi_prepare(call->srv, body, k == LIBRARY_SCRIPT, false, call->user,
				net_http_peer(call->req), NULL, NULL, &err);
	json_decref(body);
	if (!inv) {
		api_reply_err(call, &err);
		return;
	}
	invoke_submit(call->srv, inv, run_submitted, call);
}

static void run_entry(struct api_call *call, enum library_kind k)
{
	struct lib_call *lc;
	json_t *body;

	if (api_body(call, run_fields, sizeof run_fields / sizeof run_fields[0], &body))
		return;
	if (!(lc = lib_call_new(call, k))) {
		json_decref(body);
		return;
	}
	lc->body = body;
	library_get(call->srv, k, call->params[0], run_read, lc);
}

void api_library_commands_list(struct api_call *call) { list(call, LIBRARY_COMMAND); }
void api_library_commands_post(struct api_call *call) { write_entry(call, LIBRARY_COMMAND, true); }
void api_library_commands_get(struct api_call *call) { get_entry(call, LIBRARY_COMMAND); }
void api_library_commands_put(struct api_call *call) { write_entry(call, LIBRARY_COMMAND, false); }
void api_library_commands_delete(struct api_call *call) { delete_entry(call, LIBRARY_COMMAND); }
void api_library_commands_run(struct api_call *call) { run_entry(call, LIBRARY_COMMAND); }
void api_library_scripts_list(struct api_call *call) { list(call, LIBRARY_SCRIPT); }
void api_library_scripts_post(struct api_call *call) { write_entry(call, LIBRARY_SCRIPT, true); }
void api_library_scripts_get(struct api_call *call) { get_entry(call, LIBRARY_SCRIPT); }
void api_library_scripts_put(struct api_call *call) { write_entry(call, LIBRARY_SCRIPT, false); }
void api_library_scripts_delete(struct api_call *call) { delete_entry(call, LIBRARY_SCRIPT); }
void api_library_scripts_run(struct api_call *call) { run_entry(call, LIBRARY_SCRIPT); }
