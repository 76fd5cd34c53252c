/* invoke: submitting invocations, the one way every dialect runs commands.
 *
 * A dialect parses its request into a struct invocation_request (plain
 * values, no dialect's shapes) and submits it. The core validates it,
 * resolves the targets, checks the user's access and the targets'
 * interpreters, computes the fan-out limits, and then writes the audit
 * record, the invocation's record and its idempotency key in ONE commit of
 * the store's group commit before anything runs. Failures are codes with a
 * subject; each dialect words them in its own envelope. */
#ifndef TETHER_INVOKE_H
#define TETHER_INVOKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/model.h"
#include "core/targets.h"

struct server;
struct client;

#define INVOKE_MAX_COMMAND_LEN 65536
#define INVOKE_MAX_CWD_LEN 4096
#define INVOKE_MAX_INTERPRETER_LEN 256

/* A fan-out limit as the request gave it: a number, or a text such as "10"
 * or "10%" (a share of the targets), or something else (invalid). */
struct invoke_limit {
	enum { LIMIT_NONE, LIMIT_NUMBER, LIMIT_TEXT, LIMIT_INVALID } kind;
	long long n;
	const char *text;
};

struct invocation_request {
	struct target_spec targets;      /* multi-client invocations */
	const char *command;             /* the text that runs (a script decoded,
					  * an argv rendered) */
	const json_t *argv;              /* run without a shell: an array of
					  * strings (checked), or NULL */
	bool is_script;
	const char *interpreter;         /* NULL or "": the agent's default */
	const char *cwd;
	bool is_sudo;
	const char *run_as;              /* the user the command runs as on the
					  * agent (its allow-list decides); NULL
					  * or "": the agent's own */
	bool kill_on_timeout;
	bool stream;                     /* ask the agents for live output */
	/* Keep up to this many bytes of each stream (the agent may clamp it to
	 * its own maximum); the full output is then kept outside the job row
	 * (store/outputs.h). 0: the agent's send_back_limit, as always. */
	int64_t output_cap_bytes;
	int64_t timeout_sec;             /* 0: the server's default */
	int64_t delivery_timeout_sec;    /* 0: the server's default */
	bool concurrent;                 /* else sequential */
	bool abort_on_error;             /* sequential mode only */
	struct invoke_limit max_concurrency, max_errors;
	/* Wait for offline targets (core/offline.h): a target that is not
	 * connected gets a job "queued" until its agent says hello, expiring
	 * expires_in_sec after submission (0: the server's default). Without
	 * it, an offline target fails at once ("client is not connected"). */
	bool queue_offline;
	int64_t expires_in_sec;
	const char *comment;             /* kept with the record; may be NULL */
	/* The dialect's own fields, kept in the invocation's record as they
	 * are (e.g. the targeting as the request gave it); may be NULL. */
	const json_t *metadata;
	const char *dialect;             /* who asked: "rport", "elastic"... (a
					  * literal; NULL: rport), for metrics */
	const char *created_by;          /* the user */
	const char *peer;                /* the user's address, for the audit log */
	const char *idempotency_key;     /* NULL: none */
	const char *request_hash;        /* what the key stands for (hex) */
	/* The audit record: application ("client.command", "client.script")
	 * and the request as received. */
	const char *audit_application;
	const json_t *audit_request;
};

enum invoke_code {
	INVOKE_OK = 0,
	INVOKE_COMMAND_EMPTY,
	INVOKE_COMMAND_TOO_LONG,
	INVOKE_INTERPRETER_NOT_FOR_COMMANDS, /* tacoscript asked for a command */
	INVOKE_INTERPRETER_INVALID,     /* not a name or an absolute path */
	INVOKE_CWD_TOO_LONG,
	INVOKE_TIMEOUT_INVALID,         /* subject: the field; value: what was given */
	INVOKE_TARGETS,                 /* target says which; subject: the id */
	INVOKE_FORBIDDEN,               /* subject: the client the user may not use */
	INVOKE_INTERPRETER_UNKNOWN,     /* a connected target does not offer it */
	INVOKE_LIMIT_NEEDS_CONCURRENT,  /* max_concurrency in sequential mode */
	INVOKE_LIMIT_INVALID,           /* subject: the field; value: its minimum */
	INVOKE_EXPIRY_INVALID,          /* value: what was given; subject: the field */
	INVOKE_EXPIRY_NEEDS_QUEUE,      /* expires_in_sec without queue_offline */
	INVOKE_KEY_IN_USE,              /* the idempotency key took another job */
	INVOKE_AUDIT_FAILED,            /* no audit record: nothing runs */
	INVOKE_STORE_FAILED,
	INVOKE_NOMEM,
};

struct invoke_error {
	enum invoke_code code;
	enum target_error target;
	char subject[256];
	long long value;
	long long value_max;             /* INVOKE_EXPIRY_INVALID: the maximum */
};

/* Checks of the job itself, the same for every path: the command (unless
 * it came from a script or an argv), the interpreter's form and the cwd.
 * Returns 0, or -1 with err set. */
int invoke_check_job(bool is_script, bool has_argv, const char *command,
		     const char *interpreter, const char *cwd, struct invoke_error *err);
/* The timeouts with the server's defaults applied (0 or none: the
 * default; over 30 days or a negative delivery timeout: invalid). */
int invoke_timeouts(const struct server *srv, int64_t timeout_sec, int64_t delivery_sec,
		    int64_t *timeout_out, int64_t *delivery_out, struct invoke_error *err);
/* The expiry of a queued job in seconds (0: the server's default,
 * [server] queue_expiry_default_sec; negative or above queue_expiry_max_sec:
 * invalid; given without queue_offline: invalid). *out is 0 when the
 * request does not queue. Returns 0 or -1 with err set. */
int invoke_expiry(const struct server *srv, bool queue_offline, int64_t expires_in_sec,
		  int64_t *out, struct invoke_error *err);
/* May the user run on client c? */
bool invoke_client_allowed(struct server *srv, const char *user, const struct client *c);
/* Does the connected client c offer the interpreter? Returns 0 or -1. */
int invoke_check_interpreter(const struct client *c, const char *interpreter,
			     struct invoke_error *err);

/* A multi-client invocation, checked and ready to commit. */
struct invocation;

/* Validates and prepares req (everything but the commit). Returns 0 with
 * *out (its id is known from here on), or -1 with err set. */
int invoke_prepare(struct server *srv, const struct invocation_request *req,
		   struct invocation **out, struct invoke_error *err);
const char *invocation_id(const struct invocation *inv);
size_t invocation_target_count(const struct invocation *inv);
/* The target client ids in dispatch order (a JSON array, borrowed). */
const json_t *invocation_targets(const struct invocation *inv);
/* Called once the invocation is durable and dispatching (rc 0), or when
 * the commit failed (rc -1, err set: INVOKE_KEY_IN_USE, INVOKE_AUDIT_FAILED,
 * INVOKE_STORE_FAILED). */
typedef void (*invoke_cb)(void *ud, int rc, const char *id, const struct invoke_error *err);
/* Commits and starts a prepared invocation (takes it). cb may be NULL. */
void invoke_submit(struct server *srv, struct invocation *inv, invoke_cb cb, void *ud);
/* Frees a prepared invocation that is not submitted. */
void invocation_free(struct invocation *inv);

/* ---- single-client invocations -------------------------------------- */

/* How a single-client invocation ended its submission. */
enum invoke_outcome {
	INVOKE_STARTED,          /* the agent started it */
	INVOKE_ACCEPTED,         /* sent; no answer came (it is redelivered or
				  * expires: it never runs twice) */
	INVOKE_REFUSED,          /* the agent refused it (error: its words); final */
	INVOKE_NOT_CONNECTED,    /* never left the server; withdrawn */
	INVOKE_QUEUED,           /* the client is offline and the request asked
				  * to wait: stored as queued (core/offline.h) */
	INVOKE_KEY_TAKEN,        /* a twin request took the idempotency key first */
	INVOKE_NOT_STORED,       /* the store failed: nothing runs */
};
typedef void (*invoke_single_cb)(void *ud, enum invoke_outcome o, const char *jid,
				 const char *error);
/* Runs req on client c: connected, or any known client when
 * req->queue_offline (then a job for an offline one is queued and cb gets
 * INVOKE_QUEUED). Checks the interpreter and the
 * timeouts (the job itself was checked with invoke_check_job, the user's
 * access with invoke_client_allowed); returns -1 with err set if they
 * fail. Otherwise writes the audit record, the job and the idempotency key
 * in one commit, sends the run, and calls cb once (an error answer releases
 * the key first, so a retry runs anew). Returns 0. */
int invoke_single(struct server *srv, struct client *c, const struct invocation_request *req,
		  invoke_single_cb cb, void *ud, struct invoke_error *err);

#endif
