/* elastic_priv: what the files of dialects/elastic share (face.c: the
 * request's life, Kibana's transport rules and envelope; actions.c: the
 * routes; action_json.c: ActionDetails; files.c: the output file). */
#ifndef TETHER_ELASTIC_PRIV_H
#define TETHER_ELASTIC_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "http/router.h"
#include "net.h"
#include "server.h"
#include "store/store.h"

/* Kibana's one version of these routes (elastic-api-version). */
#define ES_API_VERSION "2023-10-31"
/* parameters.timeout when none is given: four hours. */
#define ES_DEFAULT_TIMEOUT_SEC 14400
/* An action not complete two weeks after it was created has expired. */
#define ES_EXPIRY_NS (14LL * 24 * 3600 * 1000000000LL)
/* The tail of each stream that the details show. */
#define ES_OUTPUT_TAIL 2048
/* What a details or list read may carry of output (all rows together). */
#define ES_OUTPUT_BUDGET (64 * 1024 * 1024)
/* The agents an action may name. */
#define ES_MAX_AGENTS 100

/* One request in flight; freed by the reply functions. */
struct es_call {
	struct server *srv;
	net_http_req *req;
	char user[128];
	bool authenticated;
	bool admin;
	bool read_only;            /* a "read" scoped token */
	const char *params[HTTP_MAX_PARAMS];
	char *pathbuf;
};

/* Replies (each frees the call). payload is stolen. */
void es_reply(struct es_call *call, int status, json_t *payload);
/* Kibana's error body {"statusCode", "error", "message"}. */
void es_reply_error(struct es_call *call, int status, const char *message);
/* The same with a printf message. */
void es_reply_errorf(struct es_call *call, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Sends raw bytes with extra headers (the download) and frees the call. */
void es_reply_raw(struct es_call *call, int status, const char *type, const char *headers,
		  const char *body, size_t len);
/* The reason phrase Kibana puts in "error" ("Bad Request"...). */
const char *es_reason(int status);

/* May the caller see an action created by created_by (tether's rules: an
 * administrator sees all, others their own)? */
bool es_visible(const struct es_call *call, const char *created_by);

/* Routes (actions.c, files.c, face.c). */
void es_execute(struct es_call *call);
void es_cancel(struct es_call *call);
void es_details(struct es_call *call);
void es_list(struct es_call *call);
void es_action_status(struct es_call *call);
void es_file_info(struct es_call *call);
void es_file_download(struct es_call *call);
void es_apikey_create(struct es_call *call);
void es_apikey_list(struct es_call *call);
void es_apikey_delete(struct es_call *call);

/* ---- ActionDetails (action_json.c) ---------------------------------- */

/* Is this invocation record an Elastic action? */
bool es_record_is_action(const json_t *rec);
/* The status words of an action (the list's statuses filter). */
enum es_status { ES_PENDING, ES_SUCCESSFUL, ES_FAILED, ES_CANCELED };
const char *es_status_name(enum es_status s);
/* ActionDetails from the invocation record and its jobs (rows: the
 * children, any order). with_outputs adds "outputs". Sets *status. */
json_t *es_action_json(struct server *srv, const json_t *rec, const struct job_rows *rows,
		       bool with_outputs, int64_t now, enum es_status *status);
/* The job of agent in rows, or NULL. */
const struct job_row *es_row_of(const struct job_rows *rows, const char *agent);

/* Reads an action's record and its jobs. cb gets rc 0 with both (lent for
 * the call), TE_NOTFOUND (no such Elastic action) or TE_IO. */
typedef void (*es_action_cb)(void *ud, int rc, const json_t *rec, const struct job_rows *rows);
void es_action_read(struct server *srv, const char *id, int64_t output_budget, es_action_cb cb,
		    void *ud);

#endif
