/* exec: runs jobs as child processes (posix_spawn), captures their output
 * with a cap, applies timeouts and cancels, reports results. This file has
 * a job's lifetime (results, kills, timers, reaping); its output pipes
 * and live output are in exec_output.c, a run frame's checks and the
 * spawn in exec_spawn.c.
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
#include "exec_priv.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <sodium.h>

#include "exec_interp.h"
#include "exec_script.h"
#include "log.h"
#include "proctree.h"
#include "proto.h"

#define DRAIN_AFTER_EXIT_MS 1000
#define KILL_GRACE_MS 5000
#define KILL_WAIT_MS 5000

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

void exec_job_close_all(struct job *j)
{
	job_close_handle((uv_handle_t *)&j->timer);
	job_close_handle((uv_handle_t *)&j->io[0].pipe);
	job_close_handle((uv_handle_t *)&j->io[1].pipe);
}

/* ---- frames ------------------------------------------------------- */

json_t *exec_time_json(int64_t ns)
{
	char t[TIME_STR_LEN];

	util_time_format(ns, t);
	return json_string(t);
}


/* Sets key to the bytes as a JSON string when they are valid UTF-8 and
 * not bloated by escapes, else as base64 with enc_key = "base64". */
void exec_put_bytes(json_t *m, const char *key, const char *enc_key, const char *data,
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

void exec_reject(struct exec *e, const char *jid, const char *fmt, ...)
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


/* The bytes a stream takes in the frame m, as exec_put_bytes wrote it. */
static size_t put_len(json_t *m, const char *key, const char *enc_key, const struct buf *b)
{
	if (json_object_get(m, enc_key))
		return json_string_length(json_object_get(m, key));
	return util_json_escaped_len(b->data ? b->data : "", b->len);
}

/* Puts both streams in m; while they would not fit a frame (the agent's
 * max_result_output: the frame must stay under the server's
 * max_request_bytes_client, or the result could never be delivered), the
 * larger loses its end (counted as dropped, as past the cap). */
static void put_streams(struct job *j, json_t *m)
{
	const long long max = j->e->a->cfg.max_result_output;

	for (int round = 0;; round++) {
		size_t n = 0;

		exec_put_bytes(m, "stdout", "stdout_encoding", j->io[0].buf.data, j->io[0].buf.len);
		exec_put_bytes(m, "stderr", "stderr_encoding", j->io[1].buf.data, j->io[1].buf.len);
		n = put_len(m, "stdout", "stdout_encoding", &j->io[0].buf) +
		    put_len(m, "stderr", "stderr_encoding", &j->io[1].buf);
		if ((long long)n <= max || round == 8)
			return;
		struct jstream *s = j->io[0].buf.len >= j->io[1].buf.len ? &j->io[0] : &j->io[1];
		size_t cut = (size_t)((long long)n - max) + 4096;

		if (cut > s->buf.len)
			cut = s->buf.len;
		s->buf.len -= cut;
		s->dropped += (int64_t)cut;
		json_object_del(m, "stdout_encoding");
		json_object_del(m, "stderr_encoding");
	}
}

static void job_report(struct job *j, const char *status, bool with_exit, int64_t code,
		       const char *error)
{
	json_t *m = proto_new(PROTO_RESULT);

	j->reported = true;
	json_object_set_new(m, "jid", json_string(j->jid));
	json_object_set_new(m, "status", json_string(status));
	json_object_set_new(m, "exit_code", with_exit ? json_integer(code) : json_null());
	json_object_set_new(m, "error", json_string(error ? error : ""));
	put_streams(j, m);
	if (j->output_cap > 0)
		json_object_set_new(m, "output_cap", json_integer(j->output_cap));
	json_object_set_new(m, "stdout_dropped", json_integer(j->io[0].dropped));
	json_object_set_new(m, "stderr_dropped", json_integer(j->io[1].dropped));
	json_object_set_new(m, "pid", json_integer(j->pid));
	json_object_set_new(m, "started_at", exec_time_json(j->started_at));
	json_object_set_new(m, "finished_at", exec_time_json(util_now_ns()));
	log_info("job %s: %s%s%s", j->jid, status, error && *error ? ": " : "",
		 error ? error : "");
	j->e->report(j->e->ud, m);
	/* The output is in the frame now; what still comes is thrown away. */
	buf_free(&j->io[0].buf);
	buf_free(&j->io[1].buf);
	exec_job_live_end(j);
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
		exec_stream_final(j, 0);
		exec_stream_final(j, 1);
		job_report_outcome(j);
	}
	exec_script_remove(j->script);
	HASH_DEL(j->e->jobs, j);
	exec_job_close_all(j);
}

void exec_job_maybe_finish(struct job *j)
{
	if (j->exited && j->io[0].eof && j->io[1].eof)
		job_finish(j);
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

void exec_job_arm(struct job *j, enum job_phase ph, uint64_t ms)
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
	exec_job_arm(j, PH_TERM_SENT, KILL_GRACE_MS);
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
		exec_stream_final(j, 0);
		exec_stream_final(j, 1);
		snprintf(error, sizeof error,
			 "timeout: the command did not finish within %lld seconds; it keeps "
			 "running (pid %d)", (long long)j->timeout_sec, j->pid);
		job_report(j, "unknown", false, 0, error);
		/* The interpreter holds the file open: removing it is safe. */
		exec_script_remove(j->script);
		exec_job_arm(j, PH_DETACHED, 0);
		return;
	case PH_TERM_SENT:
		j->kill_signal = SIGKILL;
		job_signal_group(j, SIGKILL);
		exec_job_arm(j, PH_KILL_SENT, KILL_WAIT_MS);
		return;
	case PH_KILL_SENT:
		/* Uninterruptible sleep, or a setuid child we may not signal. */
		exec_stream_final(j, 0);
		exec_stream_final(j, 1);
		snprintf(error, sizeof error,
			 "%s: SIGKILL sent to process group %d, but the process did not exit",
			 j->kill_reason == KILL_CANCEL ? "cancel" : "timeout", j->pid);
		job_report(j, "unknown", false, 0, error);
		exec_script_remove(j->script);
		exec_job_arm(j, PH_DETACHED, 0);
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
	exec_stream_resume(&j->io[0]);
	exec_stream_resume(&j->io[1]);
	if (j->kill_reason != KILL_NONE && j->phase != PH_DETACHED) {
		/* Its leader is gone: what is left of the group goes now,
		 * before its pgid could be reused. */
		job_signal_group(j, SIGKILL);
	}
	if (j->phase == PH_DETACHED || (j->io[0].eof && j->io[1].eof)) {
		job_finish(j);
		return;
	}
	exec_job_arm(j, PH_DRAINING, DRAIN_AFTER_EXIT_MS);
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
		exec_waitq_del(e, &j->io[0]);
		exec_waitq_del(e, &j->io[1]);
		exec_script_remove(j->script);
		exec_job_close_all(j);
	}
	HASH_ITER(hh, e->seen, s, stmp) {
		HASH_DEL(e->seen, s);
		free(s);
	}
	uv_close((uv_handle_t *)e->sigchld, free_handle);
	free(e);
}
