/* exec: runs jobs as child processes (posix_spawn), captures their output
 * with a cap, applies timeouts and cancels, reports results.
 *
 * One job = one process, two pipes and one timer on the agent's loop; no
 * threads. posix_spawn (vfork-like in glibc) rather than libuv's fork:
 * the agent's pages are not copied or write-faulted for every job, which
 * is most of the cost of a short command. One SIGCHLD handler reaps every
 * child. The timer serves the phase the job is in:
 *
 *   RUNNING     timeout_sec, then "unknown" (DETACHED) or SIGTERM (TERM_SENT)
 *   TERM_SENT   KILL_GRACE_MS, then SIGKILL to the group (KILL_SENT)
 *   KILL_SENT   KILL_WAIT_MS for a process that ignores even SIGKILL
 *   DRAINING    exited; DRAIN_AFTER_EXIT_MS for pipes a grandchild holds
 *   DETACHED    reported "unknown" at the timeout; no timer, it keeps
 *               running and its output is read and thrown away
 *
 * Live output ("stream": true) is paced by the agent's link, never
 * dropped for a burst: while the link has more queued than its high-water
 * mark (exec_link_fn says FULL) a live job's pipes stop being read, so the
 * child blocks in write(); when the link drains (exec_link_changed) the
 * streams that waited go on in the order they stopped, one frame each per
 * turn, so one noisy job cannot starve another. With no link at all
 * (DOWN) the pipes are read anyway, the child never blocks on a
 * disconnected agent, and what is read is skipped: the offset of the next
 * frame shows the gap. See docs/internals/protocol.md, "Live output".
 *
 * See docs/execution.md for what users see. */
#include "exec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>
#include <uthash.h>
#include <utlist.h>

#include "exec_interp.h"
#include "exec_script.h"
#include "log.h"
#include "proctree.h"
#include "proto.h"
#include "util.h"

extern char **environ;

#define READ_CHUNK (64 * 1024)
/* Largest live output frame: one read's worth. */
#define LIVE_FRAME_MAX READ_CHUNK
#define DRAIN_AFTER_EXIT_MS 1000
/* Most words of a command run without the shell (exec_interp_direct). */
#define EXEC_DIRECT_MAX 64
#define KILL_GRACE_MS 5000
#define KILL_WAIT_MS 5000
#define SEEN_MAX 4096
#define DEFAULT_TIMEOUT_SEC 60

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
	int64_t started_at;
	int pid;
	UT_hash_handle hh;
};

static const char *const stream_names[2] = { "stdout", "stderr" };

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

/* ---- handles ------------------------------------------------------ */

static void job_handle_closed(uv_handle_t *h)
{
	struct job *j = h->data;

	if (--j->open_handles == 0) {
		buf_free(&j->io[0].buf);
		buf_free(&j->io[1].buf);
		free(j);
	}
}

static void job_close_handle(uv_handle_t *h)
{
	if (h->data && !uv_is_closing(h))
		uv_close(h, job_handle_closed);
}

static void job_close_all(struct job *j)
{
	job_close_handle((uv_handle_t *)&j->timer);
	job_close_handle((uv_handle_t *)&j->io[0].pipe);
	job_close_handle((uv_handle_t *)&j->io[1].pipe);
}

/* ---- frames ------------------------------------------------------- */

static json_t *time_json(int64_t ns)
{
	char t[TIME_STR_LEN];

	util_time_format(ns, t);
	return json_string(t);
}


/* Sets key to the bytes as a JSON string when they are valid UTF-8 and
 * not bloated by escapes, else as base64 with enc_key = "base64". */
static void put_bytes(json_t *m, const char *key, const char *enc_key, const char *data,
		      size_t len)
{
	size_t blen = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
	char *enc;

	if (!data)
		data = "";
	if (util_utf8_valid(data, len) && util_json_escaped_len(data, len) <= blen) {
		json_object_set_new(m, key, json_stringn(data, len));
		return;
	}
	enc = malloc(blen);
	if (!enc) {
		json_object_set_new(m, key, json_string(""));
		return;
	}
	sodium_bin2base64(enc, blen, (const unsigned char *)data, len,
			  sodium_base64_VARIANT_ORIGINAL);
	json_object_set_new(m, key, json_string(enc));
	json_object_set_new(m, enc_key, json_string("base64"));
	free(enc);
}

static void reject(struct exec *e, const char *jid, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void reject(struct exec *e, const char *jid, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;
	json_t *m = proto_new(PROTO_REJECT);

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_info("job %s refused: %s", jid, msg);
	json_object_set_new(m, "jid", json_string(jid));
	json_object_set_new(m, "error", json_string(msg));
	e->report(e->ud, m);
}

static void job_live_end(struct job *j);

static void job_report(struct job *j, const char *status, bool with_exit, int64_t code,
		       const char *error)
{
	json_t *m = proto_new(PROTO_RESULT);

	j->reported = true;
	json_object_set_new(m, "jid", json_string(j->jid));
	json_object_set_new(m, "status", json_string(status));
	json_object_set_new(m, "exit_code", with_exit ? json_integer(code) : json_null());
	json_object_set_new(m, "error", json_string(error ? error : ""));
	put_bytes(m, "stdout", "stdout_encoding", j->io[0].buf.data, j->io[0].buf.len);
	put_bytes(m, "stderr", "stderr_encoding", j->io[1].buf.data, j->io[1].buf.len);
	json_object_set_new(m, "stdout_dropped", json_integer(j->io[0].dropped));
	json_object_set_new(m, "stderr_dropped", json_integer(j->io[1].dropped));
	json_object_set_new(m, "pid", json_integer(j->pid));
	json_object_set_new(m, "started_at", time_json(j->started_at));
	json_object_set_new(m, "finished_at", time_json(util_now_ns()));
	log_info("job %s: %s%s%s", j->jid, status, error && *error ? ": " : "",
		 error ? error : "");
	j->e->report(j->e->ud, m);
	/* The output is in the frame now; what still comes is thrown away. */
	buf_free(&j->io[0].buf);
	buf_free(&j->io[1].buf);
	job_live_end(j);
}

/* Length of the longest prefix of s[0..n) that does not end inside a
 * UTF-8 sequence, so that live output is not cut in a character. */
static size_t utf8_whole_prefix(const char *s, size_t n)
{
	size_t back = 0;

	while (back < 3 && back < n && ((unsigned char)s[n - 1 - back] & 0xc0) == 0x80)
		back++;
	if (back < n) {
		unsigned char lead = (unsigned char)s[n - 1 - back];
		size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;

		if (need > back + 1)
			return n - 1 - back;
	}
	return n;
}

/* ---- live output ---------------------------------------------------- */

static enum exec_link link_state(const struct exec *e)
{
	return e->link ? e->link(e->link_ud) : EXEC_LINK_OPEN;
}

/* Bytes of s ready to go live, at most max: whole characters only unless
 * final (the last bytes of a stream go as they are). */
static size_t stream_ready(const struct jstream *s, bool final, size_t max)
{
	size_t n = s->buf.len > s->streamed ? s->buf.len - s->streamed : 0;

	if (n > max) {
		n = max;
		final = false;
	}
	return final || !n ? n : utf8_whole_prefix(s->buf.data + s->streamed, n);
}

static int64_t count_newlines(const char *p, size_t n)
{
	int64_t lines = 0;

	for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
		lines++;
	return lines;
}

/* Sends the next n bytes of stream i as one output frame, with where they
 * start in the stream (offset, and the newlines before them). */
static void stream_send(struct job *j, int i, size_t n)
{
	struct jstream *s = &j->io[i];
	json_t *m = proto_new(PROTO_OUTPUT);

	json_object_set_new(m, "jid", json_string(j->jid));
	json_object_set_new(m, "stream", json_string(stream_names[i]));
	json_object_set_new(m, "offset", json_integer((json_int_t)s->streamed));
	json_object_set_new(m, "offset_lines", json_integer(s->lines));
	put_bytes(m, "data", "encoding", s->buf.data + s->streamed, n);
	s->lines += count_newlines(s->buf.data + s->streamed, n);
	s->streamed += n;
	j->e->report(j->e->ud, m);
}

/* No link: the bytes can never be live. They stay kept for the result;
 * the offset of the next frame tells the server about the gap. */
static void stream_skip(struct jstream *s, bool final)
{
	size_t n = stream_ready(s, final, SIZE_MAX);

	if (!n)
		return;
	s->lines += count_newlines(s->buf.data + s->streamed, n);
	s->streamed += n;
	s->skipped += (int64_t)n;
}

/* A stream whose reads follow the link: live, running, and with room
 * left in what is kept (past send_back_limit nothing more goes live, so
 * there is no reason to slow the child). */
static bool stream_gated(const struct job *j, const struct jstream *s)
{
	return j->live && !j->reported && !j->exited && s->buf.len < s->buf.cap;
}

static void waitq_add(struct exec *e, struct jstream *s)
{
	if (!s->waiting) {
		DL_APPEND(e->waitq, s);
		s->waiting = true;
	}
}

static void waitq_del(struct exec *e, struct jstream *s)
{
	if (s->waiting) {
		DL_DELETE(e->waitq, s);
		s->waiting = false;
		s->prev = s->next = NULL;
	}
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *b);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b);

static void stream_pause(struct jstream *s)
{
	if (!s->paused && !s->eof) {
		uv_read_stop((uv_stream_t *)&s->pipe);
		s->paused = true;
	}
}

static void stream_resume(struct jstream *s)
{
	if (s->paused) {
		s->paused = false;
		if (!s->eof && !uv_is_closing((uv_handle_t *)&s->pipe))
			uv_read_start((uv_stream_t *)&s->pipe, alloc_cb, read_cb);
	}
}

/* After a read: sends what is ready while the link takes it and nobody
 * waits ahead; else takes a place at the end of the line and, while the
 * stream is gated, stops reading its pipe (the child blocks). */
static void stream_service(struct job *j, int i)
{
	struct exec *e = j->e;
	struct jstream *s = &j->io[i];
	enum exec_link st;
	size_t n;

	if (!j->live || j->reported)
		return;
	st = link_state(e);
	if (st == EXEC_LINK_DOWN) {
		stream_skip(s, false);
		return;
	}
	while (st == EXEC_LINK_OPEN && !e->waitq && (n = stream_ready(s, false, LIVE_FRAME_MAX))) {
		stream_send(j, i, n);
		st = link_state(e);
	}
	if (st == EXEC_LINK_OPEN && !e->waitq)
		return;
	if (stream_gated(j, s))
		stream_pause(s);
	if (s->paused || stream_ready(s, false, SIZE_MAX))
		waitq_add(e, s);
}

/* The end of a stream's live output (the job is being reported): what is
 * left goes now, whatever the link's queue, just before the result that
 * follows it (at most one read, plus what came after the exit). */
static void stream_final(struct job *j, int i)
{
	struct jstream *s = &j->io[i];
	size_t n;

	waitq_del(j->e, s);
	if (!j->live || j->reported)
		return;
	if (link_state(j->e) == EXEC_LINK_DOWN) {
		stream_skip(s, true);
		return;
	}
	while ((n = stream_ready(s, true, LIVE_FRAME_MAX)))
		stream_send(j, i, n);
}

/* The job is reported: its streams leave the line and are read (and
 * thrown away) until they close, so that a detached child never blocks. */
static void job_live_end(struct job *j)
{
	for (int i = 0; i < 2; i++) {
		waitq_del(j->e, &j->io[i]);
		stream_resume(&j->io[i]);
		if (j->io[i].skipped)
			log_info("job %s: %lld bytes of %s were not sent live (the agent had no "
				 "connection); the result has them", j->jid,
				 (long long)j->io[i].skipped, stream_names[i]);
	}
}

void exec_set_link(struct exec *e, exec_link_fn fn, void *ud)
{
	if (!e)
		return;
	e->link = fn;
	e->link_ud = ud;
}

void exec_link_changed(struct exec *e)
{
	struct jstream *s, *tmp;
	size_t n;

	if (!e)
		return;
	if (link_state(e) == EXEC_LINK_DOWN) {
		DL_FOREACH_SAFE(e->waitq, s, tmp) {
			stream_skip(s, false);
			waitq_del(e, s);
			stream_resume(s);
		}
		return;
	}
	/* In turn, one frame each; a stream with more goes to the back. */
	while (e->waitq && link_state(e) == EXEC_LINK_OPEN) {
		s = e->waitq;
		waitq_del(e, s);
		n = stream_ready(s, false, LIVE_FRAME_MAX);
		if (n)
			stream_send(s->job, s->idx, n);
		if (stream_ready(s, false, SIZE_MAX)) {
			waitq_add(e, s);
			continue;
		}
		stream_resume(s);
	}
}

/* ---- end of a job ------------------------------------------------- */

static const char *signal_name(int sig)
{
	switch (sig) {
	case SIGTERM: return "SIGTERM";
	case SIGKILL: return "SIGKILL";
	case SIGINT: return "SIGINT";
	case SIGHUP: return "SIGHUP";
	case SIGQUIT: return "SIGQUIT";
	case SIGSEGV: return "SIGSEGV";
	case SIGABRT: return "SIGABRT";
	case SIGPIPE: return "SIGPIPE";
	default: return "a signal";
	}
}

/* The first line of stderr when sudo -n itself failed ("sudo: a
 * password is required"), else NULL. */
static const char *sudo_failure(const struct job *j, char *line, size_t linelen)
{
	const struct buf *b = &j->io[1].buf;
	size_t n = 0;

	if (!j->is_sudo || j->term_signal || j->exit_status != 1 || !b->data ||
	    strncmp(b->data, "sudo: ", 6))
		return NULL;
	while (n < b->len && b->data[n] != '\n' && n + 1 < linelen)
		n++;
	memcpy(line, b->data, n);
	line[n] = '\0';
	return line;
}

static void job_report_outcome(struct job *j)
{
	bool signaled = j->term_signal != 0;
	int64_t code = signaled ? 128 + j->term_signal : j->exit_status;
	char error[600], line[256];
	const char *sudo;

	switch (j->kill_reason) {
	case KILL_CANCEL:
		snprintf(error, sizeof error, "cancelled by %s", j->cancelled_by);
		job_report(j, "failed", true, code, error);
		return;
	case KILL_TIMEOUT:
		if (j->kill_signal == SIGKILL)
			snprintf(error, sizeof error,
				 "timeout: killed after %lld seconds (SIGKILL: it was still running "
				 "%d s after SIGTERM)", (long long)j->timeout_sec,
				 KILL_GRACE_MS / 1000);
		else
			snprintf(error, sizeof error,
				 "timeout: killed after %lld seconds (SIGTERM to its process group)",
				 (long long)j->timeout_sec);
		job_report(j, "failed", true, code, error);
		return;
	case KILL_NONE:
	default:
		break;
	}
	if (signaled) {
		snprintf(error, sizeof error, "signal: %s (%s)", signal_name(j->term_signal),
			 strsignal(j->term_signal));
		job_report(j, "failed", true, code, error);
	} else if ((sudo = sudo_failure(j, line, sizeof line))) {
		snprintf(error, sizeof error, "sudo -n failed (exit status 1): %s", sudo + 6);
		job_report(j, "failed", true, code, error);
	} else if (j->exit_status) {
		snprintf(error, sizeof error, "exit status %lld", (long long)j->exit_status);
		job_report(j, "failed", true, code, error);
	} else {
		job_report(j, "successful", true, 0, "");
	}
}

/* The process exited and its pipes are done (or we stopped waiting). */
static void job_finish(struct job *j)
{
	if (!j->reported) {
		stream_final(j, 0);
		stream_final(j, 1);
		job_report_outcome(j);
	}
	exec_script_remove(j->script);
	HASH_DEL(j->e->jobs, j);
	job_close_all(j);
}

static void job_maybe_finish(struct job *j)
{
	if (j->exited && j->io[0].eof && j->io[1].eof)
		job_finish(j);
}

/* ---- output ------------------------------------------------------- */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct job *j = h->data;

	(void)suggested;
	/* One read at a time on this thread: one shared buffer is enough. */
	b->base = j->e->readbuf;
	b->len = sizeof j->e->readbuf;
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct job *j = st->data;
	int i = st == (uv_stream_t *)&j->io[0].pipe ? 0 : 1;
	struct jstream *s = &j->io[i];

	if (n > 0) {
		size_t room, take;

		if (j->reported)
			return; /* detached after a timeout: read to keep it unblocked */
		room = s->buf.cap - s->buf.len;
		take = (size_t)n < room ? (size_t)n : room;
		/* Past send_back_limit the rest is counted, not kept. */
		if (take && buf_append(&s->buf, b->base, take))
			take = 0;
		s->dropped += n - (ssize_t)take;
		if (take)
			stream_service(j, i);
		return;
	}
	if (n < 0) {
		uv_read_stop(st);
		s->eof = true;
		s->paused = false;
		job_maybe_finish(j);
	}
}

/* ---- kills and timers --------------------------------------------- */

/* sig to the job's process group, then to whatever of the job left it
 * (setsid() in a child, a daemon's double fork: see proctree.h). */
static void job_signal_group(struct job *j, int sig)
{
	int n;

	/* The child called setsid(): its pid is its process group. */
	if (kill(-j->pid, sig) && errno != ESRCH)
		log_warn_errno("job %s: kill(-%d, %d)", j->jid, j->pid, sig);
	/* Once reaped, the leader's pid may be another process's. */
	n = proctree_signal(j->exited ? 0 : j->pid, j->jid, sig);
	if (n > 0)
		log_debug("job %s: signal %d reached %d process(es) of its tree", j->jid, sig, n);
}

static void timer_cb(uv_timer_t *t);

static void job_arm(struct job *j, enum job_phase ph, uint64_t ms)
{
	j->phase = ph;
	uv_timer_stop(&j->timer);
	if (ms)
		uv_timer_start(&j->timer, timer_cb, ms, 0);
}

/* SIGTERM to the whole group now, SIGKILL after the grace period. */
static void job_kill_start(struct job *j, enum kill_reason why)
{
	j->kill_reason = why;
	j->kill_signal = SIGTERM;
	job_signal_group(j, SIGTERM);
	job_arm(j, PH_TERM_SENT, KILL_GRACE_MS);
}

static void timer_cb(uv_timer_t *t)
{
	struct job *j = t->data;
	char error[300];

	switch (j->phase) {
	case PH_RUNNING:
		if (j->kill_on_timeout) {
			log_info("job %s: timeout after %lld s: killing its process group", j->jid,
				 (long long)j->timeout_sec);
			job_kill_start(j, KILL_TIMEOUT);
			return;
		}
		/* rport semantics: the job is "unknown", the process keeps
		 * running; we stop waiting for it. */
		stream_final(j, 0);
		stream_final(j, 1);
		snprintf(error, sizeof error,
			 "timeout: the command did not finish within %lld seconds; it keeps "
			 "running (pid %d)", (long long)j->timeout_sec, j->pid);
		job_report(j, "unknown", false, 0, error);
		/* The interpreter holds the file open: removing it is safe. */
		exec_script_remove(j->script);
		job_arm(j, PH_DETACHED, 0);
		return;
	case PH_TERM_SENT:
		j->kill_signal = SIGKILL;
		job_signal_group(j, SIGKILL);
		job_arm(j, PH_KILL_SENT, KILL_WAIT_MS);
		return;
	case PH_KILL_SENT:
		/* Uninterruptible sleep, or a setuid child we may not signal. */
		stream_final(j, 0);
		stream_final(j, 1);
		snprintf(error, sizeof error,
			 "%s: SIGKILL sent to process group %d, but the process did not exit",
			 j->kill_reason == KILL_CANCEL ? "cancel" : "timeout", j->pid);
		job_report(j, "unknown", false, 0, error);
		exec_script_remove(j->script);
		job_arm(j, PH_DETACHED, 0);
		return;
	case PH_DRAINING:
		/* Exited, but something (a grandchild) still holds the pipes. */
		for (int i = 0; i < 2; i++) {
			uv_read_stop((uv_stream_t *)&j->io[i].pipe);
			j->io[i].eof = true;
			j->io[i].paused = false;
		}
		job_finish(j);
		return;
	case PH_DETACHED:
	default:
		return;
	}
}

static void job_exited(struct job *j, int64_t status, int term_signal)
{
	j->exited = true;
	j->exit_status = status;
	j->term_signal = term_signal;
	/* What is left in the pipes is read at once (not gated any more): the
	 * drain deadline below is for grandchildren, not for the link. */
	stream_resume(&j->io[0]);
	stream_resume(&j->io[1]);
	if (j->kill_reason != KILL_NONE && j->phase != PH_DETACHED) {
		/* Its leader is gone: what is left of the group goes now,
		 * before its pgid could be reused. */
		job_signal_group(j, SIGKILL);
	}
	if (j->phase == PH_DETACHED || (j->io[0].eof && j->io[1].eof)) {
		job_finish(j);
		return;
	}
	job_arm(j, PH_DRAINING, DRAIN_AFTER_EXIT_MS);
}

/* Reaps every child that has ended: job leaders, and the orphans of jobs
 * the agent adopted as their subreaper. */
static void sigchld_cb(uv_signal_t *h, int signum)
{
	struct exec *e = h->data;
	int st;
	pid_t pid;

	(void)signum;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		struct job *j, *tmp;

		HASH_ITER(hh, e->jobs, j, tmp) {
			if (j->pid == pid && !j->exited) {
				if (WIFSIGNALED(st))
					job_exited(j, 0, WTERMSIG(st));
				else
					job_exited(j, WEXITSTATUS(st), 0);
				break;
			}
		}
	}
}

/* Starts file with argv and env: stdin /dev/null, stdout and stderr into
 * the job's pipes, its own session (so a kill reaches its whole group),
 * default signal handling, an empty signal mask. Returns 0 and sets
 * j->pid, or an errno value (the exec's own, as posix_spawn reports it). */
static int job_spawn(struct job *j, const char *file, const char *const *argv, char **env,
		     const char *cwd)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	int fds[2][2] = { { -1, -1 }, { -1, -1 } };
	pid_t pid;
	int rc = 0;

	for (int i = 0; i < 2 && !rc; i++)
		if (pipe2(fds[i], O_CLOEXEC))
			rc = errno;
	if (rc) {
		for (int i = 0; i < 2; i++)
			for (int k = 0; k < 2; k++)
				if (fds[i][k] >= 0)
					close(fds[i][k]);
		return rc;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigfillset(&all);
	if ((rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) ||
	    (rc = posix_spawn_file_actions_adddup2(&fa, fds[0][1], 1)) ||
	    (rc = posix_spawn_file_actions_adddup2(&fa, fds[1][1], 2)) ||
	    (cwd && (rc = posix_spawn_file_actions_addchdir_np(&fa, cwd))) ||
	    (rc = posix_spawnattr_setsigmask(&at, &none)) ||
	    (rc = posix_spawnattr_setsigdefault(&at, &all)) ||
	    (rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
						     POSIX_SPAWN_SETSIGDEF)) == 0)
		rc = posix_spawnp(&pid, file, &fa, &at, (char *const *)argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(fds[0][1]);
	close(fds[1][1]);
	for (int i = 0; i < 2; i++) {
		if (rc || uv_pipe_open(&j->io[i].pipe, fds[i][0])) {
			close(fds[i][0]);
			if (!rc) {
				/* Cannot happen with a fresh pipe; the child
				 * still runs, its output is lost. */
				log_warn("job %s: cannot watch the output pipe", j->jid);
				j->io[i].eof = true;
			}
		}
	}
	if (!rc)
		j->pid = pid;
	return rc;
}

/* ---- spawning ----------------------------------------------------- */

static void seen_add(struct exec *e, const char *jid)
{
	struct seen *s = calloc(1, sizeof *s);

	if (!s)
		return;
	util_strlcpy(s->jid, jid, sizeof s->jid);
	HASH_ADD_STR(e->seen, jid, s);
	if (e->seen_tail)
		e->seen_tail->next = s;
	else
		e->seen_head = s;
	e->seen_tail = s;
	if (++e->nseen > SEEN_MAX) {
		struct seen *old = e->seen_head;

		e->seen_head = old->next;
		HASH_DEL(e->seen, old);
		free(old);
		e->nseen--;
	}
}

/* The agent's environment plus TETHER_JOB_ID (which replaces one the
 * agent may have inherited). Only the last entry is allocated here. */
static char **build_env(const char *jid)
{
	size_t n = 0, k = 0, len = strlen(jid) + sizeof "TETHER_JOB_ID=";
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof *env);
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "TETHER_JOB_ID=", 14))
			env[k++] = environ[i];
	env[k] = malloc(len);
	if (!env[k]) {
		free(env);
		return NULL;
	}
	snprintf(env[k], len, "TETHER_JOB_ID=%s", jid);
	return env;
}

static void free_env(char **env)
{
	size_t n = 0;

	if (!env)
		return;
	while (env[n])
		n++;
	if (n)
		free(env[n - 1]);
	free(env);
}

/* Marks every descriptor above 2 close-on-exec, so that a child gets
 * only stdin, stdout and stderr whatever a library opened without
 * O_CLOEXEC (sockets, log files). The agent never needs to pass one. */
static void cloexec_all(void)
{
#if defined(CLOSE_RANGE_CLOEXEC)
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
#endif
	{
		DIR *d = opendir("/proc/self/fd");
		struct dirent *de;

		if (!d)
			return;
		while ((de = readdir(d))) {
			long long fd;
			int fl;

			if (util_parse_int(de->d_name, 3, INT_MAX, &fd) || fd == dirfd(d))
				continue;
			fl = fcntl((int)fd, F_GETFD);

			if (fl >= 0 && !(fl & FD_CLOEXEC))
				fcntl((int)fd, F_SETFD, fl | FD_CLOEXEC);
		}
		closedir(d);
	}
}

/* What a run frame asks for, checked before anything is spawned. */
struct run_req {
	const char *jid;
	const char *command;
	size_t command_len;
	const char *interp_name;
	const char *cwd;
	json_t *argv;       /* run without a shell, or NULL (borrowed) */
	bool is_sudo;
	bool is_script;
	bool kill_on_timeout;
	bool live;
	int64_t timeout;
};

/* An argv job: well formed, no script and no interpreter, and allowed by
 * the policy, which sees the argv's shell-quoted rendering (what the same
 * job sent as a command would be: proto_argv_render). Returns 0, or -1
 * after sending a reject. */
static int run_check_argv(struct exec *e, const struct run_req *r)
{
	char err[300], *text;
	bool ok;

	if (proto_argv_check(r->argv, err, sizeof err)) {
		reject(e, r->jid, "failed to start a command: %s", err);
		return -1;
	}
	if (r->is_script || (r->interp_name && *r->interp_name)) {
		reject(e, r->jid, "failed to start a command: argv runs its program without a shell: "
				  "%s cannot be used with it", r->is_script ? "a script" : "an interpreter");
		return -1;
	}
	text = proto_argv_render(r->argv);
	if (!text) {
		reject(e, r->jid, "failed to start a command: out of memory");
		return -1;
	}
	ok = policy_allows(e->a->policy, text, strlen(text));
	if (!ok)
		reject(e, r->jid, "command is not allowed: %s", text);
	free(text);
	return ok ? 0 : -1;
}

/* Checks everything before a process exists: the gates, the policy, the
 * interpreter, cwd, sudo. Returns 0, or -1 after sending a reject. */
static int run_checks(struct exec *e, const struct run_req *r, struct exec_interp *in,
		      bool *shebang, char *line, size_t linelen, char *sudo, size_t sudolen)
{
	const struct agent *a = e->a;
	char err[900];

	*shebang = false;
	/* An absurd timeout would wrap the timer's milliseconds (and kill at
	 * once with kill_on_timeout): refuse it rather than guess. */
	if (r->timeout > PROTO_MAX_TIMEOUT_SEC) {
		reject(e, r->jid,
		       "failed to start a command: timeout_sec %lld is out of range (at most %lld s, 30 days)",
		       (long long)r->timeout, (long long)PROTO_MAX_TIMEOUT_SEC);
		return -1;
	}
	if (!a->cfg.commands_enabled) {
		reject(e, r->jid, "remote commands execution is disabled");
		return -1;
	}
	if (r->is_script && !a->cfg.scripts_enabled) {
		reject(e, r->jid, "remote scripts are disabled");
		return -1;
	}
	if (r->argv) {
		if (run_check_argv(e, r))
			return -1;
	} else if (!r->is_script) {
		/* The command string as sent, as rport does; before anything
		 * else about it is looked at. */
		if (!policy_allows(a->policy, r->command, r->command_len)) {
			reject(e, r->jid, "command is not allowed: %s", r->command);
			return -1;
		}
	} else if (exec_script_shebang(r->command, r->command_len, line, linelen)) {
		/* Runs with its own interpreter. rport checks nothing; with
		 * check_command_policy the policy sees the shebang line
		 * ("/usr/bin/env python3"). */
		*shebang = true;
		memset(in, 0, sizeof *in);
		if (a->cfg.scripts_check_policy && !policy_allows(a->policy, line, strlen(line))) {
			reject(e, r->jid, "script interpreter is not allowed: %s", line);
			return -1;
		}
	}
	if (!*shebang && !r->argv) {
		if (exec_interp_resolve(a, r->interp_name, in, err, sizeof err)) {
			reject(e, r->jid, "failed to start a command: %s", err);
			return -1;
		}
		if (!r->is_script && in->kind == EXEC_INTERP_FILE) {
			reject(e, r->jid, "failed to start a command: interpreter %s runs only scripts",
			       in->path);
			return -1;
		}
		/* A script without a shebang: the program that will run it
		 * (only with check_command_policy, as above). */
		if (r->is_script && a->cfg.scripts_check_policy &&
		    !policy_allows(a->policy, in->path, strlen(in->path))) {
			reject(e, r->jid, "script interpreter is not allowed: %s", in->path);
			return -1;
		}
	}
	if (r->cwd && *r->cwd) {
		struct stat st;

		if (stat(r->cwd, &st)) {
			reject(e, r->jid, "failed to start a command: cwd %s: %s", r->cwd,
			       strerror(errno));
			return -1;
		}
		if (!S_ISDIR(st.st_mode)) {
			reject(e, r->jid, "failed to start a command: cwd %s: Not a directory", r->cwd);
			return -1;
		}
		if (access(r->cwd, X_OK)) {
			reject(e, r->jid, "failed to start a command: cwd %s: %s", r->cwd,
			       strerror(errno));
			return -1;
		}
	}
	if (r->is_sudo && !exec_find_in_path("sudo", sudo, sudolen)) {
		reject(e, r->jid,
		       "failed to start a command: is_sudo was requested but sudo is not installed "
		       "(not found in the agent's PATH)");
		return -1;
	}
	return 0;
}

static struct job *job_new(struct exec *e, const struct run_req *r)
{
	struct agent *a = e->a;
	struct job *j = calloc(1, sizeof *j);

	if (!j)
		return NULL;
	j->e = e;
	util_strlcpy(j->jid, r->jid, sizeof j->jid);
	j->timeout_sec = r->timeout > 0 ? r->timeout : DEFAULT_TIMEOUT_SEC;
	j->is_sudo = r->is_sudo;
	j->kill_on_timeout = r->kill_on_timeout;
	j->live = r->live;
	for (int i = 0; i < 2; i++) {
		buf_init(&j->io[i].buf, (size_t)a->cfg.send_back_limit);
		j->io[i].idx = i;
		j->io[i].job = j;
		uv_pipe_init(a->loop, &j->io[i].pipe, 0);
		j->io[i].pipe.data = j;
	}
	uv_timer_init(a->loop, &j->timer);
	j->timer.data = j;
	j->open_handles = 3;
	return j;
}

static void run_req_parse(json_t *run, struct run_req *r)
{
	json_t *cmd = json_object_get(run, "command");

	memset(r, 0, sizeof *r);
	r->jid = json_string_value(json_object_get(run, "jid"));
	r->command = json_string_value(cmd);
	r->command_len = json_string_length(cmd);
	r->interp_name = json_string_value(json_object_get(run, "interpreter"));
	r->cwd = json_string_value(json_object_get(run, "cwd"));
	r->argv = json_object_get(run, "argv");
	if (json_is_null(r->argv))
		r->argv = NULL;
	r->is_sudo = json_is_true(json_object_get(run, "is_sudo"));
	r->is_script = json_is_true(json_object_get(run, "is_script"));
	r->kill_on_timeout = json_is_true(json_object_get(run, "kill_on_timeout"));
	r->live = json_is_true(json_object_get(run, "stream"));
	r->timeout = json_integer_value(json_object_get(run, "timeout_sec"));
}

void exec_run(struct exec *e, json_t *run)
{
	struct agent *a = e->a;
	struct run_req r;
	struct exec_interp in;
	const char *argv[EXEC_ARGV_MAX + 2];
	const char *aargv[PROTO_ARGV_MAX + 4];
	const char *file;
	const char *const *pargv;
	const char *dargv[EXEC_DIRECT_MAX];
	char dbuf[4096], dpath[PATH_MAX];
	bool direct = false;
	const char **iargv = argv;
	char sudo[PATH_MAX], dir[PATH_MAX], err[900], line[512];
	char **env = NULL;
	bool shebang;
	struct job *j = NULL;
	struct seen *s;
	int rc;
	json_t *m;

	run_req_parse(run, &r);
	HASH_FIND_STR(e->seen, r.jid, s);
	if (s) {
		/* Never run twice. The state it has goes out by the journal. */
		log_warn("job %s: run received again, not run twice", r.jid);
		return;
	}
	seen_add(e, r.jid);
	if (run_checks(e, &r, &in, &shebang, line, sizeof line, sudo, sizeof sudo))
		return;
	j = job_new(e, &r);
	env = build_env(r.jid);
	if (!j || !env) {
		util_strlcpy(err, "out of memory", sizeof err);
		goto fail;
	}
	if (r.is_sudo) {
		argv[0] = sudo;
		argv[1] = "-n";
		iargv = argv + 2;
	}
	if (r.is_script) {
		/* Written synchronously: a script is small (the server caps
		 * it) and the directory is local. */
		if (exec_script_dir(a->cfg.data_dir, dir, sizeof dir, err, sizeof err) ||
		    exec_script_write(dir, r.jid, shebang ? "" : exec_interp_script_ext(&in),
				      r.command, r.command_len, j->script, sizeof j->script, err,
				      sizeof err))
			goto fail;
		if (shebang) {
			iargv[0] = j->script;
			iargv[1] = NULL;
		} else {
			exec_interp_argv(&in, NULL, j->script, iargv);
		}
	} else if (r.argv) {
		/* No shell: the program (found in PATH as execvp does) and its
		 * arguments as given; under sudo, sudo -n -- argv. */
		size_t i, k = 0;
		json_t *v;

		if (r.is_sudo) {
			aargv[k++] = sudo;
			aargv[k++] = "-n";
			aargv[k++] = "--";
		}
		json_array_foreach(r.argv, i, v)
			aargv[k++] = json_string_value(v);
		aargv[k] = NULL;
	} else {
		exec_interp_argv(&in, r.command, NULL, iargv);
		/* One plain simple command: exec it as the shell would, saving
		 * the shell's own exec (docs/execution.md). Not under sudo,
		 * whose PATH is its own. */
		if (!r.is_sudo)
			direct = exec_interp_direct(&in, r.command, r.command_len, dbuf, sizeof dbuf,
						    dargv, EXEC_DIRECT_MAX, dpath, sizeof dpath) > 0;
	}

	cloexec_all();
	j->started_at = util_now_ns();
	/* Its own session and process group (setsid), so one kill reaches
	 * everything it started; what leaves the group is found by
	 * proctree_signal. */
	file = direct ? dpath : r.argv ? aargv[0] : argv[0];
	pargv = direct ? dargv : r.argv ? aargv : argv;
	rc = job_spawn(j, file, pargv, env, r.cwd && *r.cwd ? r.cwd : NULL);
	if (rc) {
		if (shebang && rc == ENOENT && !r.is_sudo)
			snprintf(err, sizeof err,
				 "the script's interpreter (#!%s): no such file or directory", line);
		else if (rc == EMFILE || rc == ENFILE)
			/* The agent's pipes, not the command: say so. */
			snprintf(err, sizeof err,
				 "the agent is out of file descriptors (%s): too many jobs at once "
				 "for its limit", uv_strerror(uv_translate_sys_error(rc)));
		else
			/* libuv has no name for ENOEXEC: an argv names a file
			 * that is no program (no shell runs it instead). */
			snprintf(err, sizeof err, "%.600s: %s", file,
				 rc == ENOEXEC ? "exec format error (not a binary, and no #! line)" :
				 uv_strerror(uv_translate_sys_error(rc)));
		goto fail;
	}
	free_env(env);
	HASH_ADD_STR(e->jobs, jid, j);
	uv_read_start((uv_stream_t *)&j->io[0].pipe, alloc_cb, read_cb);
	uv_read_start((uv_stream_t *)&j->io[1].pipe, alloc_cb, read_cb);
	/* At most PROTO_MAX_TIMEOUT_SEC (run_checks): no overflow. */
	job_arm(j, PH_RUNNING, (uint64_t)j->timeout_sec * 1000u);
	log_debug("job %s started: pid %d: %s%s", r.jid, j->pid, r.is_script ? "script " : "",
		  file);

	m = proto_new(PROTO_STARTED);
	json_object_set_new(m, "jid", json_string(r.jid));
	json_object_set_new(m, "pid", json_integer(j->pid));
	json_object_set_new(m, "started_at", time_json(j->started_at));
	e->report(e->ud, m);
	return;
fail:
	free_env(env);
	if (j) {
		exec_script_remove(j->script);
		job_close_all(j);
	}
	reject(e, r.jid, "failed to start a command: %s", err);
}

void exec_cancel(struct exec *e, const char *jid, const char *by)
{
	struct job *j;

	if (!jid)
		return;
	HASH_FIND_STR(e->jobs, jid, j);
	if (!j) {
		log_info("job %s: cancel for a job that is not running here", jid);
		return;
	}
	/* Exited (its result follows within a second), already being killed,
	 * or reported "unknown" at its timeout: nothing to cancel. */
	if (j->exited || j->reported || j->kill_reason != KILL_NONE)
		return;
	util_strlcpy(j->cancelled_by, by && *by ? by : "the server", sizeof j->cancelled_by);
	log_info("job %s: cancelled by %s: killing process group %d", jid, j->cancelled_by,
		 j->pid);
	job_kill_start(j, KILL_CANCEL);
}

json_t *exec_running(struct exec *e)
{
	json_t *arr = json_array();
	struct job *j, *tmp;

	if (!e)
		return arr;
	HASH_ITER(hh, e->jobs, j, tmp)
		if (!j->reported)
			json_array_append_new(arr, json_string(j->jid));
	return arr;
}

json_t *exec_interpreters(const struct agent *a)
{
	return exec_interp_list(a);
}

static void free_handle(uv_handle_t *h)
{
	free(h);
}

int exec_create(struct agent *a, exec_report_fn report, void *ud, struct exec **out)
{
	struct exec *e = calloc(1, sizeof *e);

	if (!e)
		return TE_NOMEM;
	e->a = a;
	e->report = report;
	e->ud = ud;
	e->sigchld = malloc(sizeof *e->sigchld);
	if (!e->sigchld || uv_signal_init(a->loop, e->sigchld)) {
		free(e->sigchld);
		free(e);
		return TE_NOMEM;
	}
	e->sigchld->data = e;
	uv_signal_start(e->sigchld, sigchld_cb, SIGCHLD);
	/* Orphans of jobs become the agent's: a kill can still find them,
	 * and sigchld_cb reaps them. */
	proctree_adopt_orphans();
	exec_script_sweep(a->cfg.data_dir);
	*out = e;
	return 0;
}

void exec_destroy(struct exec *e)
{
	struct job *j, *tmp;
	struct seen *s, *stmp;

	if (!e)
		return;
	HASH_ITER(hh, e->jobs, j, tmp) {
		/* Children keep running; only our supervision ends. */
		HASH_DEL(e->jobs, j);
		j->reported = true;
		waitq_del(e, &j->io[0]);
		waitq_del(e, &j->io[1]);
		exec_script_remove(j->script);
		job_close_all(j);
	}
	HASH_ITER(hh, e->seen, s, stmp) {
		HASH_DEL(e->seen, s);
		free(s);
	}
	uv_close((uv_handle_t *)e->sigchld, free_handle);
	free(e);
}
