/* tat_priv: what the TAT dialect's files share (tat.c: transport,
 * signature, envelope, dispatch; run.c: RunCommand and its kin;
 * describe.c: the Describe actions; render.c: TAT's shapes). */
#ifndef TETHER_TAT_PRIV_H
#define TETHER_TAT_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/model.h"
#include "dialects/tat/sign.h"
#include "net.h"
#include "store/store.h"
#include "util.h"

struct server;

/* One request being answered. */
struct tat_call {
	struct server *srv;
	net_http_req *req;
	char request_id[UUID_STR_LEN];
	const char *action;
	const void *def;         /* tat.c's entry of the action */
	struct tat_authz authz;  /* the Authorization header, parsed */
	json_t *params;          /* the body, an object */
	char user[128];
	bool admin;
	char cmd_id[16];         /* InvokeCommand: the saved command run */
};

/* A TAT error: code and message, for work done without a call (an
 * invoker's run) or before answering. */
struct tat_error {
	char code[96];
	char message[512];
};
void tat_error_set(struct tat_error *err, const char *code, const char *message);

/* Answers the call with fields (taken; may be NULL) plus RequestId, and
 * frees the call. */
void tat_reply(struct tat_call *c, json_t *fields);
/* The request's string parameter name, or NULL. */
const char *tat_param_str(const struct tat_call *c, const char *name);
/* A core record's TAT fields (metadata.tat), or NULL; one of them as a
 * string, or NULL. */
json_t *tat_meta(const json_t *rec);
const char *tat_meta_str(const json_t *rec, const char *name);
/* Answers with {"Error": {code, message}} and frees the call. */
void tat_fail(struct tat_call *c, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Actions (run.c, describe.c). */
void tat_run_command(struct tat_call *c);
void tat_preview(struct tat_call *c);
void tat_cancel_invocation(struct tat_call *c);
void tat_describe_invocations(struct tat_call *c);
void tat_describe_tasks(struct tat_call *c);
void tat_describe_agents(struct tat_call *c);
/* command.c: saved commands, library entries of kind command. */
void tat_create_command(struct tat_call *c);
void tat_describe_commands(struct tat_call *c);
void tat_modify_command(struct tat_call *c);
void tat_delete_command(struct tat_call *c);
void tat_invoke_command(struct tat_call *c);
/* invoker.c: scheduled invokers over the core's schedules. */
void tat_create_invoker(struct tat_call *c);
void tat_describe_invokers(struct tat_call *c);
void tat_enable_invoker(struct tat_call *c);
void tat_disable_invoker(struct tat_call *c);
void tat_modify_invoker(struct tat_call *c);
void tat_delete_invoker(struct tat_call *c);
void tat_describe_invoker_records(struct tat_call *c);
/* Registers the invokers' source with the core's schedules: 0 or TE_NOMEM. */
int tat_invokers_start(struct server *srv);
/* Is the command cmd_id the command of an invoker? */
bool tat_command_in_invoker(struct server *srv, const char *cmd_id);
/* The visible TAT command cmd_id (admin: any; otherwise user's): fn gets
 * the call and the library record (borrowed), or NULL and NULL having
 * answered; ud is passed through. */
typedef void (*tat_command_fn)(struct tat_call *c, const json_t *rec, void *ud);
void tat_command_get(struct tat_call *c, const char *cmd_id, tat_command_fn fn, void *ud);
/* PreviewReplacedCommandContent with CommandId. */
void tat_preview_saved(struct tat_call *c);
/* Answers PreviewReplacedCommandContent with out (the rendered text, freed). */
void tat_preview_reply(struct tat_call *c, char *out);
/* Saves the call's command fields (RunCommand's or CreateCommand's, already
 * checked) as the command cmd_id; done gets saved false having answered. */
typedef void (*tat_saved_fn)(struct tat_call *c, void *ud, bool saved);
void tat_command_save(struct tat_call *c, const char *cmd_id, tat_saved_fn done, void *ud);
/* EnableParameter and DefaultParameters of a command being saved agree and
 * DefaultParameters is TAT's map: 0, or -1 having answered. */
int tat_defaults_check(struct tat_call *c);

/* run.c's checks, shared with command.c. */
/* Content decoded: malloc'd NUL-terminated text, or NULL having answered. */
char *tat_content_decode(struct tat_call *c, const char *b64, size_t *len);
/* text (taken) with its {{name}} parameters replaced when enable: malloc'd,
 * or NULL having answered. */
char *tat_content_render(struct tat_call *c, char *text, size_t len, bool enable,
			 const char *defaults_text, const char *params_text);
/* The same without a call: malloc'd, or NULL with err set. Takes text. */
char *tat_render_text(char *text, size_t len, bool enable, const char *defaults_text,
		      const char *params_text, struct tat_error *err);
/* The call's InstanceIds (required, 1..100, made unique) checked against
 * the registry as the call's user (known, visible, online, the Username
 * allowed): 0, or -1 having answered. *ids (n of them; each and the
 * array malloc'd) is set either way; the caller frees it. */
int tat_instances_check(struct tat_call *c, char ***ids, size_t *n);
/* What the Describe actions show of an invocation: the metadata of its
 * record, {"tat": {...}}. invoker NULL: the user's own run (USER). */
struct tat_run_meta {
	const char *inv, *cmd, *content_b64, *cwd, *username;
	int64_t timeout;
	bool enable;
	const char *name, *description, *parameters, *defaults;
	const char *invoker;
};
json_t *tat_run_metadata(const struct tat_run_meta *m);
/* CommandName's form: 1 to 60 bytes of [a-zA-Z0-9_.-]. */
bool tat_name_ok(const char *s);
/* The optional fields of a command (saving: Tags allowed). 0, or -1
 * having answered. */
int tat_fields_check(struct tat_call *c, bool saving);

/* render.c */
/* ISO-8601 "YYYY-MM-DDThh:mm:ssZ" of ns since the epoch ("" for 0). */
void tat_time(int64_t ns, char out[32]);
/* A job row's task status in TAT's words. */
const char *tat_task_status(const struct job_row *r);
/* The invocation status from its tasks' statuses (docs/api-tat.md). */
const char *tat_invocation_status(const char *const *task_status, size_t n);
/* TaskResult of a row: ExitCode, Output (base64 of the first 24 KB),
 * Dropped, ExecStartTime, ExecEndTime. New reference. */
json_t *tat_task_result(const struct job_row *r, bool hide_output);
/* A fresh TAT id: prefix ("inv", "invt", "cmd") + "-" + 8 of [a-z0-9]. */
void tat_new_id(const char *prefix, char out[16]);
/* Base64 (standard, padded) of n bytes; malloc'd, caller frees. */
char *tat_b64(const void *p, size_t n);

/* Filters: [{"Name", "Values": [...]}] checked against names (NULL-ended):
 * at most 10 filters and 5 values each. Returns 0, or -1 having answered
 * the call. */
int tat_filters_check(struct tat_call *c, const json_t *filters, const char *const *names);
/* Limit (default 20, 1..100) and Offset (>= 0): 0, or -1 having answered. */
int tat_paging(struct tat_call *c, int64_t *limit, int64_t *offset);

#define TAT_OUTPUT_MAX (24 * 1024)

#endif
