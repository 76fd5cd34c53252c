/* exec: uv_spawn, output capture with a cap, timeouts, results. */
#include "exec.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <uthash.h>

#include "log.h"
#include "proto.h"
#include "util.h"

extern char **environ;

#define READ_CHUNK (64 * 1024)
#define DRAIN_AFTER_EXIT_MS 1000
#define SEEN_MAX 4096

struct job {
	struct exec *e;
	char jid[UUID_STR_LEN];
	uv_process_t proc;
	uv_pipe_t out;
	uv_pipe_t err;
	uv_timer_t timer;
	int open_handles;
	struct buf obuf;
	struct buf ebuf;
	int64_t odrop;
	int64_t edrop;
	bool out_eof;
	bool err_eof;
	bool exited;
	bool reported;
	bool cancelled;
	bool stream;             /* live output frames for a watcher */
	char cancelled_by[128];
	int64_t exit_status;
	int term_signal;
	int64_t timeout_sec;
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
	char readbuf[READ_CHUNK];
};

static void job_handle_closed(uv_handle_t *h)
{
	struct job *j = h->data;

	if (--j->open_handles == 0) {
		buf_free(&j->obuf);
		buf_free(&j->ebuf);
		free(j);
	}
}

static void job_close_handle(struct job *j, uv_handle_t *h)
{
	(void)j;
	if (h->data && !uv_is_closing(h))
		uv_close(h, job_handle_closed);
}

/* Output as a JSON string when valid UTF-8, else base64 with a flag. */
static void put_output(json_t *m, const char *key, const struct buf *b)
{
	const char *data = b->data ? b->data : "";

	if (util_utf8_valid(data, b->len)) {
		json_object_set_new(m, key, json_stringn(data, b->len));
	} else {
		size_t blen = sodium_base64_encoded_len(b->len, sodium_base64_VARIANT_ORIGINAL);
		char *enc = malloc(blen);
		char ek[32];

		if (!enc)
			return;
		sodium_bin2base64(enc, blen, (const unsigned char *)data, b->len,
				  sodium_base64_VARIANT_ORIGINAL);
		json_object_set_new(m, key, json_string(enc));
		snprintf(ek, sizeof ek, "%s_encoding", key);
		json_object_set_new(m, ek, json_string("base64"));
		free(enc);
	}
}

static json_t *time_json(int64_t ns)
{
	char t[TIME_STR_LEN];

	util_time_format(ns, t);
	return json_string(t);
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
	put_output(m, "stdout", &j->obuf);
	put_output(m, "stderr", &j->ebuf);
	json_object_set_new(m, "stdout_dropped", json_integer(j->odrop));
	json_object_set_new(m, "stderr_dropped", json_integer(j->edrop));
	json_object_set_new(m, "pid", json_integer(j->pid));
	json_object_set_new(m, "started_at", time_json(j->started_at));
	json_object_set_new(m, "finished_at", time_json(util_now_ns()));
	j->e->report(j->e->ud, m);
}

/* The process exited and its pipes are done (or we stopped waiting). */
static void job_finish(struct job *j)
{
	char error[300];

	if (!j->reported) {
		if (j->cancelled) {
			snprintf(error, sizeof error, "cancelled by %s", j->cancelled_by);
			job_report(j, "failed", j->term_signal == 0, j->term_signal ? 128 + j->term_signal : j->exit_status, error);
		} else if (j->term_signal) {
			snprintf(error, sizeof error, "signal: %s", strsignal(j->term_signal));
			job_report(j, "failed", true, 128 + j->term_signal, error);
		} else if (j->exit_status) {
			snprintf(error, sizeof error, "exit status %lld", (long long)j->exit_status);
			job_report(j, "failed", true, j->exit_status, error);
		} else {
			job_report(j, "successful", true, 0, "");
		}
	}
	HASH_DEL(j->e->jobs, j);
	job_close_handle(j, (uv_handle_t *)&j->timer);
	job_close_handle(j, (uv_handle_t *)&j->out);
	job_close_handle(j, (uv_handle_t *)&j->err);
	job_close_handle(j, (uv_handle_t *)&j->proc);
}

static void job_maybe_finish(struct job *j)
{
	if (j->exited && j->out_eof && j->err_eof)
		job_finish(j);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct job *j = h->data;

	(void)suggested;
	/* One read at a time on this thread: one shared buffer is enough. */
	b->base = j->e->readbuf;
	b->len = sizeof j->e->readbuf;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct job *j = s->data;
	bool is_out = s == (uv_stream_t *)&j->out;
	struct buf *dst = is_out ? &j->obuf : &j->ebuf;
	int64_t *drop = is_out ? &j->odrop : &j->edrop;

	if (n > 0) {
		size_t room = dst->cap - dst->len;
		size_t take = (size_t)n < room ? (size_t)n : room;

		/* Live output is best-effort (the result carries all of it):
		 * sent only when asked, and only while the job reports. */
		if (j->stream && !j->reported && take) {
			json_t *m = proto_new(PROTO_OUTPUT);
			struct buf tmp = { (char *)b->base, take, take, take };

			json_object_set_new(m, "jid", json_string(j->jid));
			json_object_set_new(m, "stream", json_string(is_out ? "stdout" : "stderr"));
			if (util_utf8_valid(b->base, take)) {
				json_object_set_new(m, "data", json_stringn(b->base, take));
			} else {
				put_output(m, "data", &tmp);
				json_object_del(m, "data_encoding");
				json_object_set_new(m, "encoding", json_string("base64"));
			}
			j->e->report(j->e->ud, m);
		}
		/* Past send_back_limit the rest is counted, not kept. */
		if (take)
			buf_append(dst, b->base, take);
		*drop += n - (ssize_t)take;
		return;
	}
	if (n < 0) {
		uv_read_stop(s);
		if (is_out)
			j->out_eof = true;
		else
			j->err_eof = true;
		job_maybe_finish(j);
	}
}

static void timer_cb(uv_timer_t *t)
{
	struct job *j = t->data;
	char error[200];

	if (!j->exited) {
		/* rport semantics: the job is "unknown", the process keeps
		 * running; we stop waiting for it. */
		snprintf(error, sizeof error,
			 "timeout: the command did not finish within %lld seconds and keeps running",
			 (long long)j->timeout_sec);
		if (!j->reported)
			job_report(j, "unknown", false, 0, error);
		return;
	}
	/* Exited, but something (a grandchild) still holds the pipes. */
	uv_read_stop((uv_stream_t *)&j->out);
	uv_read_stop((uv_stream_t *)&j->err);
	j->out_eof = j->err_eof = true;
	job_finish(j);
}

static void exit_cb(uv_process_t *p, int64_t status, int term_signal)
{
	struct job *j = p->data;

	j->exited = true;
	j->exit_status = status;
	j->term_signal = term_signal;
	if (j->out_eof && j->err_eof) {
		job_finish(j);
		return;
	}
	uv_timer_stop(&j->timer);
	uv_timer_start(&j->timer, timer_cb, DRAIN_AFTER_EXIT_MS, 0);
}

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

static void reject(struct exec *e, const char *jid, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void reject(struct exec *e, const char *jid, const char *fmt, ...)
{
	char msg[600];
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

static bool is_exec_file(const char *p)
{
	return access(p, X_OK) == 0;
}

/* Resolves an interpreter name to a program; NULL if not available. */
static const char *interpreter_path(const struct agent *a, const char *name)
{
	const char *alias;

	if (!name || !*name || !strcmp(name, "sh") || !strcmp(name, "/bin/sh"))
		return "/bin/sh";
	alias = json_string_value(json_object_get(a->cfg.aliases, name));
	if (alias)
		return alias;
	if (name[0] == '/')
		return name;
	if (!strcmp(name, "bash"))
		return is_exec_file("/bin/bash") ? "/bin/bash" : NULL;
	if (!strcmp(name, "pwsh") || !strcmp(name, "powershell")) {
		if (is_exec_file("/usr/bin/pwsh"))
			return "/usr/bin/pwsh";
		return is_exec_file("/usr/local/bin/pwsh") ? "/usr/local/bin/pwsh" : NULL;
	}
	return NULL;
}

json_t *exec_interpreters(const struct agent *a)
{
	json_t *l = json_array();
	const char *k;
	json_t *v;

	json_array_append_new(l, json_string("sh"));
	json_array_append_new(l, json_string("/bin/sh"));
	if (is_exec_file("/bin/bash"))
		json_array_append_new(l, json_string("bash"));
	if (interpreter_path(a, "pwsh")) {
		json_array_append_new(l, json_string("pwsh"));
		json_array_append_new(l, json_string("powershell"));
	}
	json_object_foreach(a->cfg.aliases, k, v)
		json_array_append_new(l, json_string(k));
	return l;
}

static char **build_env(const char *jid)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof *env);
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "TETHER_JOB_ID=", 14))
			env[k++] = environ[i];
	env[k] = malloc(strlen(jid) + 16);
	if (!env[k]) {
		free(env);
		return NULL;
	}
	snprintf(env[k], strlen(jid) + 16, "TETHER_JOB_ID=%s", jid);
	return env;
}

/* Only the last entry (TETHER_JOB_ID) was allocated by build_env. */
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

void exec_run(struct exec *e, json_t *run)
{
	struct agent *a = e->a;
	const char *jid = json_string_value(json_object_get(run, "jid"));
	const char *command = json_string_value(json_object_get(run, "command"));
	const char *interp = json_string_value(json_object_get(run, "interpreter"));
	const char *cwd = json_string_value(json_object_get(run, "cwd"));
	bool is_sudo = json_is_true(json_object_get(run, "is_sudo"));
	int64_t timeout = json_integer_value(json_object_get(run, "timeout_sec"));
	uv_process_options_t opt;
	uv_stdio_container_t stdio[3];
	const char *prog;
	const char *argv[8];
	char **env = NULL;
	struct job *j;
	struct seen *s;
	int argc = 0, rc;
	json_t *m;

	HASH_FIND_STR(e->seen, jid, s);
	if (s) {
		/* Never run twice. The state it has goes out by the journal. */
		log_warn("job %s: run received again, not run twice", jid);
		return;
	}
	seen_add(e, jid);
	if (!a->cfg.commands_enabled) {
		reject(e, jid, "remote commands execution is disabled");
		return;
	}
	if (!policy_allows(a->policy, command, strlen(command))) {
		reject(e, jid, "command is not allowed: %s", command);
		return;
	}
	prog = interpreter_path(a, interp);
	if (!prog) {
		reject(e, jid, "failed to start a command: interpreter '%s' is not available on this host",
		       interp);
		return;
	}
	if (cwd && *cwd) {
		struct stat st;

		if (stat(cwd, &st)) {
			reject(e, jid, "failed to start a command: cwd %s: %s", cwd, strerror(errno));
			return;
		}
		if (!S_ISDIR(st.st_mode)) {
			reject(e, jid, "failed to start a command: cwd %s: not a directory", cwd);
			return;
		}
	}
	if (is_sudo) {
		argv[argc++] = "sudo";
		argv[argc++] = "-n";
	}
	argv[argc++] = prog;
	argv[argc++] = "-c";
	argv[argc++] = command;
	argv[argc] = NULL;

	j = calloc(1, sizeof *j);
	env = build_env(jid);
	if (!j || !env) {
		free(j);
		free_env(env);
		reject(e, jid, "failed to start a command: out of memory");
		return;
	}
	j->e = e;
	util_strlcpy(j->jid, jid, sizeof j->jid);
	j->timeout_sec = timeout > 0 ? timeout : 60;
	j->stream = json_is_true(json_object_get(run, "stream"));
	buf_init(&j->obuf, (size_t)a->cfg.send_back_limit);
	buf_init(&j->ebuf, (size_t)a->cfg.send_back_limit);
	uv_pipe_init(a->loop, &j->out, 0);
	uv_pipe_init(a->loop, &j->err, 0);
	uv_timer_init(a->loop, &j->timer);
	j->out.data = j->err.data = j->timer.data = j->proc.data = j;
	j->open_handles = 3;

	memset(&opt, 0, sizeof opt);
	stdio[0].flags = UV_IGNORE;    /* /dev/null */
	stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[1].data.stream = (uv_stream_t *)&j->out;
	stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[2].data.stream = (uv_stream_t *)&j->err;
	opt.file = argv[0];
	opt.args = (char **)argv;
	opt.env = env;
	opt.cwd = cwd && *cwd ? cwd : NULL;
	opt.stdio = stdio;
	opt.stdio_count = 3;
	/* setsid(): its own session and process group, so a kill reaches
	 * everything it started. */
	opt.flags = UV_PROCESS_DETACHED;
	opt.exit_cb = exit_cb;
	j->started_at = util_now_ns();
	rc = uv_spawn(a->loop, &j->proc, &opt);
	free_env(env);
	if (rc) {
		j->proc.data = NULL; /* never initialised: nothing to close */
		j->open_handles--;
		job_close_handle(j, (uv_handle_t *)&j->timer);
		job_close_handle(j, (uv_handle_t *)&j->out);
		job_close_handle(j, (uv_handle_t *)&j->err);
		reject(e, jid, "failed to start a command: %s: %s", argv[0], uv_strerror(rc));
		return;
	}
	j->pid = j->proc.pid;
	HASH_ADD_STR(e->jobs, jid, j);
	uv_read_start((uv_stream_t *)&j->out, alloc_cb, read_cb);
	uv_read_start((uv_stream_t *)&j->err, alloc_cb, read_cb);
	uv_timer_start(&j->timer, timer_cb, (uint64_t)j->timeout_sec * 1000, 0);
	log_info("job %s started: pid %d", jid, j->pid);

	m = proto_new(PROTO_STARTED);
	json_object_set_new(m, "jid", json_string(jid));
	json_object_set_new(m, "pid", json_integer(j->pid));
	json_object_set_new(m, "started_at", time_json(j->started_at));
	e->report(e->ud, m);
}

void exec_cancel(struct exec *e, const char *jid, const char *by)
{
	struct job *j;

	HASH_FIND_STR(e->jobs, jid, j);
	if (!j || j->exited)
		return;
	j->cancelled = true;
	util_strlcpy(j->cancelled_by, by && *by ? by : "the server", sizeof j->cancelled_by);
	kill(-j->pid, SIGKILL);
}

json_t *exec_running(struct exec *e)
{
	json_t *a = json_array();
	struct job *j, *tmp;

	HASH_ITER(hh, e->jobs, j, tmp)
		if (!j->reported)
			json_array_append_new(a, json_string(j->jid));
	return a;
}

int exec_create(struct agent *a, exec_report_fn report, void *ud, struct exec **out)
{
	struct exec *e = calloc(1, sizeof *e);

	if (!e)
		return TE_NOMEM;
	e->a = a;
	e->report = report;
	e->ud = ud;
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
		HASH_DEL(e->jobs, j);
		j->reported = true;
		job_close_handle(j, (uv_handle_t *)&j->timer);
		job_close_handle(j, (uv_handle_t *)&j->out);
		job_close_handle(j, (uv_handle_t *)&j->err);
		job_close_handle(j, (uv_handle_t *)&j->proc);
	}
	HASH_ITER(hh, e->seen, s, stmp) {
		HASH_DEL(e->seen, s);
		free(s);
	}
	free(e);
}
