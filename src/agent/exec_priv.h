/* exec_priv: what the exec module's files share (not for other modules).
 *
 * exec.c         jobs' lifetime: results, kills and timers, reaping,
 *                cancel, create and destroy
 * exec_output.c  the output pipes: reading, the cap, live output paced by
 *                the link
 * exec_spawn.c   a run frame: the checks, the argv, posix_spawn
 */
#ifndef TETHER_EXEC_PRIV_H
#define TETHER_EXEC_PRIV_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uthash.h>
#include <uv.h>

#include "exec.h"
#include "util.h"

#define READ_CHUNK (64 * 1024)

enum job_phase { PH_RUNNING, PH_TERM_SENT, PH_KILL_SENT, PH_DRAINING, PH_DETACHED };
enum kill_reason { KILL_NONE, KILL_TIMEOUT, KILL_CANCEL };

struct job;

/* One output stream: what is kept (at most send_back_limit) and what is
 * only counted. Live output is buf[0..streamed) sent or skipped, and
 * buf[streamed..len) still to go. */
struct jstream {
	uv_pipe_t pipe;
	struct buf buf;
	int64_t dropped;
	size_t streamed;     /* bytes of buf already handled as live output */
	int64_t lines;       /* newlines in buf[0..streamed) */
	int64_t skipped;     /* of those, bytes never sent: no link */
	bool eof;
	bool paused;         /* reading stopped until the link drains */
	bool waiting;        /* on the exec's waitq */
	int idx;             /* 0 stdout, 1 stderr */
	struct job *job;
	struct jstream *prev, *next;  /* the waitq */
};

struct job {
	struct exec *e;
	char jid[UUID_STR_LEN];
	struct jstream io[2];         /* stdout, stderr */
	uv_timer_t timer;
	int open_handles;
	enum job_phase phase;
	enum kill_reason kill_reason;
	int kill_signal;              /* the last signal sent by a kill */
	bool exited;
	bool reported;
	bool live;                    /* send "output" frames ("stream": true) */
	bool is_sudo;
	bool kill_on_timeout;
	char cancelled_by[128];
	char script[PATH_MAX];        /* the script file, "" when none */
	int64_t exit_status;
	int term_signal;
	int64_t timeout_sec;
	int64_t output_cap;           /* the run's cap as applied, 0: send_back_limit */
	int64_t started_at;
	int pid;
	UT_hash_handle hh;
};

/* Jids this agent has seen, so that a repeated run never runs twice. */
struct seen {
	char jid[UUID_STR_LEN];
	UT_hash_handle hh;
	struct seen *next;
};

struct exec {
	struct agent *a;
	exec_report_fn report;
	void *ud;
	struct job *jobs;
	struct seen *seen;
	struct seen *seen_head;   /* oldest first, for pruning */
	struct seen *seen_tail;
	size_t nseen;
	uv_signal_t *sigchld;     /* its own allocation: closed after e is freed */
	exec_link_fn link;        /* NULL: always open */
	void *link_ud;
	struct jstream *waitq;    /* live streams waiting for the link, in turn */
	char readbuf[READ_CHUNK];
};

/* ---- exec.c --------------------------------------------------------- */

/* Closes the job's handles; it is freed when the last one has closed. */
void exec_job_close_all(struct job *j);
/* A timestamp as a JSON string. */
json_t *exec_time_json(int64_t ns);
/* Sets key to the bytes as a JSON string when they are valid UTF-8 and
 * not bloated by escapes, else as base64 with enc_key = "base64". */
void exec_put_bytes(json_t *m, const char *key, const char *enc_key, const char *data,
		    size_t len);
/* Sends a "reject" frame for jid: the job never started. */
void exec_reject(struct exec *e, const char *jid, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Finishes the job once it has exited and both pipes are at their end. */
void exec_job_maybe_finish(struct job *j);
/* Enters phase ph, with its timer in ms (0: none). */
void exec_job_arm(struct job *j, enum job_phase ph, uint64_t ms);

/* ---- exec_output.c ---------------------------------------------------- */

/* Starts reading both of the job's pipes. */
void exec_job_read_start(struct job *j);
/* Reads a stream again that waited for the link. */
void exec_stream_resume(struct jstream *s);
/* Takes a stream off the line of streams waiting for the link. */
void exec_waitq_del(struct exec *e, struct jstream *s);
/* The end of a stream's live output, just before the result. */
void exec_stream_final(struct job *j, int i);
/* The job is reported: its streams are read (and thrown away) until they
 * close. */
void exec_job_live_end(struct job *j);

#endif
