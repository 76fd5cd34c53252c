/* proto: the agent protocol (WebSocket subprotocol "tether.v1", JSON text
 * frames {"type": ..., ...}; its version, 1 or 2, is agreed at hello). See
 * docs/internals/protocol.md. */
#ifndef TETHER_PROTO_H
#define TETHER_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "util.h"

#define PROTO_SUBPROTOCOL "tether.v1"
/* The newest version this build speaks. The hello says the agent's, the
 * welcome the one both use (the lower). Version 2: acks batched ("acks"
 * frames) and piggybacked (an "acks" field on any frame to the agent), a
 * "started" that the agent may leave out when the result follows at once
 * (the result carries pid and started_at). */
#define PROTO_VERSION 2
#define PROTO_V1 1
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
	PROTO_ACKS,     /* server -> agent (v2): these results are durable */
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

/* ---- frames without a JSON tree (proto_wire.c) ------------------------ */

/* Appends s (len bytes, UTF-8) as a JSON string with its quotes, escaped
 * as jansson would read it back. 0, TE_INVAL (not valid UTF-8; what was
 * appended stays) or TE_NOMEM. */
int proto_put_str(struct buf *b, const char *s, size_t len);

/* What a run frame carries (strings NULL: empty). */
struct proto_run {
	const char *jid, *command, *interpreter, *cwd, *run_as;
	const json_t *argv;          /* NULL, or an array of strings */
	bool is_sudo, is_script, kill_on_timeout, stream;
	long long output_cap, timeout_sec;
};

/* Appends a run frame WITHOUT its closing brace, so that more fields can
 * follow (proto_put_jids); the caller appends "}". 0 or a TE_ code. */
int proto_run_encode(struct buf *b, const struct proto_run *r);
/* Appends ,"key":["jid",...]. 0 or TE_NOMEM. */
int proto_put_jids(struct buf *b, const char *key, const char (*jids)[UUID_STR_LEN], size_t n);
/* Appends a whole v1 ack frame {"type":"ack","jid":...}. 0 or TE_NOMEM. */
int proto_ack_encode(struct buf *b, const char *jid);
/* Appends a whole v2 acks frame {"type":"acks","jids":[...]}. */
int proto_acks_encode(struct buf *b, const char (*jids)[UUID_STR_LEN], size_t n);

/* A result frame's fields (strings NULL when absent or not strings,
 * integers 0 when absent or not integers, as jansson's getters give). */
struct proto_result {
	const char *jid, *status, *error;
	const char *out[2];          /* stdout, stderr */
	size_t out_len[2];
	const char *enc[2];          /* stdout_encoding, stderr_encoding */
	bool has_exit_code;
	long long exit_code, dropped[2], pid, output_cap;
	const char *started_at, *finished_at;
};
struct proto_started {
	const char *jid, *started_at;
	long long pid;
};

/* Decodes a result or started frame that is one flat JSON object (scalar
 * values, keys without escapes, no duplicates) without a JSON tree. The
 * strings are unescaped into arena, which must hold len + 1 bytes and
 * outlive *res / *st. Returns PROTO_RESULT (fills *res) or PROTO_STARTED
 * (fills *st) when the frame is valid and has its required fields, else
 * -1: the caller then parses it with proto_parse, which gives the error
 * for a bad one. A frame taken here means what proto_parse would make
 * of it. */
int proto_fast_decode(const char *data, size_t len, char *arena, struct proto_result *res,
		      struct proto_started *st);
/* The same fields from a frame parsed by proto_parse (strings borrowed
 * from m). */
void proto_result_from_json(struct proto_result *o, const json_t *m);
void proto_started_from_json(struct proto_started *o, const json_t *m);

#endif
