/* proto: the agent protocol (WebSocket subprotocol "tether.v1", JSON text
 * frames {"type": ..., ...}). See docs/internals/protocol.md. */
#ifndef TETHER_PROTO_H
#define TETHER_PROTO_H

#include <stddef.h>

#include <jansson.h>

#define PROTO_SUBPROTOCOL "tether.v1"
#define PROTO_VERSION 1
/* The longest timeout_sec a run may ask for (30 days): the server refuses
 * more at submission, and an agent refuses a run frame that asks for more. */
#define PROTO_MAX_TIMEOUT_SEC (30LL * 86400)

/* A run's optional argv (the API's "argv" field, the run frame's): at most
 * this many entries, each at most PROTO_ARGV_ARG_MAX bytes, together at
 * most PROTO_ARGV_TOTAL_MAX bytes. */
#define PROTO_ARGV_MAX 256
#define PROTO_ARGV_ARG_MAX (64 * 1024)
#define PROTO_ARGV_TOTAL_MAX (256 * 1024)

enum proto_type {
	PROTO_HELLO,    /* agent -> server: identity, credentials, facts */
	PROTO_WELCOME,  /* server -> agent: accepted */
	PROTO_RUN,      /* server -> agent: run a command or script */
	PROTO_STARTED,  /* agent -> server: the process runs (pid) */
	PROTO_REJECT,   /* agent -> server: refused or failed to start */
	PROTO_OUTPUT,   /* agent -> server: a piece of live output */
	PROTO_RESULT,   /* agent -> server: the final state of a job */
	PROTO_CANCEL,   /* server -> agent: kill a running job */
	PROTO_ACK,      /* server -> agent: the result is durable */
	PROTO_PING,     /* either way: heartbeat */
	PROTO_PONG,
	PROTO_ERROR,    /* either way: a protocol error, then close */
	PROTO_ENROLL,   /* agent -> server, first frame instead of hello: code, id */
	PROTO_ENROLLED, /* server -> agent: its own credential; then close */
	PROTO_TYPE_COUNT
};

/* Application close codes (after the upgrade, so the peer sees the reason). */
#define PROTO_CLOSE_AUTH 4001      /* bad credentials */
#define PROTO_CLOSE_PROTOCOL 4002  /* malformed frame */
#define PROTO_CLOSE_REPLACED 4003  /* no longer sent: a dead holder of an id is dropped */
#define PROTO_CLOSE_REVOKED 4004   /* credentials deleted */
#define PROTO_CLOSE_ID_IN_USE 4005 /* a live connection has this client id */
#define PROTO_CLOSE_SHUTDOWN 1001

const char *proto_type_name(enum proto_type t);

/* Parses and validates one frame: JSON object, known type, required fields
 * with the right types. Returns 0 and sets *out (caller decrefs) and *type,
 * or -1 with a message in err. */
int proto_parse(const char *data, size_t len, json_t **out, enum proto_type *type,
		char *err, size_t errlen);

/* Checks a parsed document against limits: nesting depth, array length
 * and object size. Returns 0, or -1 with a message in err. */
int proto_json_limits(const json_t *v, int max_depth, size_t max_items, char *err,
		      size_t errlen);

/* Serialises a frame compactly. Returns a malloc'd string (caller frees) and
 * its length, or NULL. Does not steal msg. */
char *proto_dump(const json_t *msg, size_t *len);

/* Checks an argv: a JSON array of 1 to PROTO_ARGV_MAX strings, the first
 * not empty, none holding a NUL byte, each and all together within the
 * limits above. Returns 0, or -1 with a message for the user in err
 * ("argv[2] holds a NUL byte"). */
int proto_argv_check(const json_t *argv, char *err, size_t errlen);

/* An argv (checked by proto_argv_check) as one line a POSIX shell would
 * split back into the same words: a word of only letters, digits and
 * / . _ - + : , @ % = stays as it is (the first word without '=', which
 * the shell would take for an assignment), any other word is put in single
 * quotes, a quote inside written '\''. ["/usr/bin/printf", "%s|\n", "a b"]
 * is /usr/bin/printf '%s|\n' 'a b'. The job's command shows it, and the
 * agent's policy is checked against it. Returns a malloc'd string (caller
 * frees), or NULL when out of memory. */
char *proto_argv_render(const json_t *argv);

/* Starts a frame of the given type: {"type": name}. Caller decrefs. */
json_t *proto_new(enum proto_type t);

#endif
