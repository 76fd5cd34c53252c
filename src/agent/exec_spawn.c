/* exec_spawn: a "run" frame becomes a job: never the same jid twice, the
 * checks before anything exists (gates, policy, interpreter, cwd, sudo),
 * the program and argv (a script file, an argv without a shell, a command
 * through its interpreter or exec'ed directly), and posix_spawn into the
 * job's own session with only stdin, stdout and stderr open. */
#include "exec_priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec_interp.h"
#include "exec_script.h"
#include "log.h"
#include "policy.h"
#include "proto.h"

extern char **environ;

/* Most words of a command run without the shell (exec_interp_direct). */
#define EXEC_DIRECT_MAX 64
#define SEEN_MAX 4096
#define DEFAULT_TIMEOUT_SEC 60

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
	const char *run_as; /* NULL: the agent's own user */
	bool is_sudo;
	bool is_script;
	bool kill_on_timeout;
	bool live;
	int64_t timeout;
	int64_t output_cap;  /* keep this much of each stream; 0: send_back_limit */
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
		exec_reject(e, r->jid, "failed to start a command: %s", err);
		return -1;
	}
	if (r->is_script || (r->interp_name && *r->interp_name)) {
		exec_reject(e, r->jid, "failed to start a command: argv runs its program without a shell: "
				       "%s cannot be used with it", r->is_script ? "a script" : "an interpreter");
		return -1;
	}
	text = proto_argv_render(r->argv);
	if (!text) {
		exec_reject(e, r->jid, "failed to start a command: out of memory");
		return -1;
	}
	ok = policy_allows(e->a->policy, text, strlen(text));
	if (!ok)
		exec_reject(e, r->jid, "command is not allowed: %s", text);
	free(text);
	return ok ? 0 : -1;
}

/* A run as another user: the user is in [remote-commands] run_as and
 * exists; as root the agent switches to it with setpriv (uid, gid and the
 * user's groups), otherwise with sudo -n -u. The helper's path goes into
 * helper. Returns 0, or -1 after sending a reject. */
static int run_as_check(struct exec *e, const struct run_req *r, char *helper, size_t len)
{
	const struct agent_config *cfg = &e->a->cfg;
	const char *prog = geteuid() == 0 ? "setpriv" : "sudo";
	bool allowed = false;

	for (size_t i = 0; i < cfg->nrun_as; i++)
		allowed |= !strcmp(cfg->run_as[i], r->run_as);
	if (!allowed) {
		exec_reject(e, r->jid,
			    "failed to start a command: run_as user '%.64s' is not in the agent's "
			    "[remote-commands] run_as", r->run_as);
		return -1;
	}
	if (!getpwnam(r->run_as)) {
		exec_reject(e, r->jid, "failed to start a command: run_as user '%.64s' does not exist",
			    r->run_as);
		return -1;
	}
	if (!exec_find_in_path(prog, helper, len)) {
		exec_reject(e, r->jid, "failed to start a command: run_as needs %s (not found in the "
				       "agent's PATH)", prog);
		return -1;
	}
	return 0;
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
		exec_reject(e, r->jid,
			    "failed to start a command: timeout_sec %lld is out of range (at most %lld s, 30 days)",
			    (long long)r->timeout, (long long)PROTO_MAX_TIMEOUT_SEC);
		return -1;
	}
	if (!a->cfg.commands_enabled) {
		exec_reject(e, r->jid, "remote commands execution is disabled");
		return -1;
	}
	if (r->is_script && !a->cfg.scripts_enabled) {
		exec_reject(e, r->jid, "remote scripts are disabled");
		return -1;
	}
	if (r->argv) {
		if (run_check_argv(e, r))
			return -1;
	} else if (!r->is_script) {
		/* The command string as sent, as rport does; before anything
		 * else about it is looked at. */
		if (!policy_allows(a->policy, r->command, r->command_len)) {
			exec_reject(e, r->jid, "command is not allowed: %s", r->command);
			return -1;
		}
	} else if (exec_script_shebang(r->command, r->command_len, line, linelen)) {
		/* Runs with its own interpreter. rport checks nothing; with
		 * check_command_policy the policy sees the shebang line
		 * ("/usr/bin/env python3"). */
		*shebang = true;
		memset(in, 0, sizeof *in);
		if (a->cfg.scripts_check_policy && !policy_allows(a->policy, line, strlen(line))) {
			exec_reject(e, r->jid, "script interpreter is not allowed: %s", line);
			return -1;
		}
	}
	if (!*shebang && !r->argv) {
		if (exec_interp_resolve(a, r->interp_name, in, err, sizeof err)) {
			exec_reject(e, r->jid, "failed to start a command: %s", err);
			return -1;
		}
		if (!r->is_script && in->kind == EXEC_INTERP_FILE) {
			exec_reject(e, r->jid, "failed to start a command: interpreter %s runs only scripts",
				    in->path);
			return -1;
		}
		/* A script without a shebang: the program that will run it
		 * (only with check_command_policy, as above). */
		if (r->is_script && a->cfg.scripts_check_policy &&
		    !policy_allows(a->policy, in->path, strlen(in->path))) {
			exec_reject(e, r->jid, "script interpreter is not allowed: %s", in->path);
			return -1;
		}
	}
	if (r->cwd && *r->cwd) {
		struct stat st;

		if (stat(r->cwd, &st)) {
			exec_reject(e, r->jid, "failed to start a command: cwd %s: %s", r->cwd,
				    strerror(errno));
			return -1;
		}
		if (!S_ISDIR(st.st_mode)) {
			exec_reject(e, r->jid, "failed to start a command: cwd %s: Not a directory", r->cwd);
			return -1;
		}
		if (access(r->cwd, X_OK)) {
			exec_reject(e, r->jid, "failed to start a command: cwd %s: %s", r->cwd,
				    strerror(errno));
			return -1;
		}
	}
	if (r->run_as && run_as_check(e, r, sudo, sudolen))
		return -1;
	if (r->is_sudo && !r->run_as && !exec_find_in_path("sudo", sudo, sudolen)) {
		exec_reject(e, r->jid,
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
	int64_t cap = a->cfg.send_back_limit;

	if (!j)
		return NULL;
	/* A run's own cap, at most this agent's max_output_cap (0: runs'
	 * caps are not honoured, send_back_limit holds for all). */
	if (r->output_cap > 0 && a->cfg.max_output_cap > 0) {
		cap = r->output_cap < a->cfg.max_output_cap ? r->output_cap : a->cfg.max_output_cap;
		j->output_cap = cap;
	}
	j->e = e;
	util_strlcpy(j->jid, r->jid, sizeof j->jid);
	j->timeout_sec = r->timeout > 0 ? r->timeout : DEFAULT_TIMEOUT_SEC;
	j->is_sudo = r->is_sudo;
	j->kill_on_timeout = r->kill_on_timeout;
	j->live = r->live;
	for (int i = 0; i < 2; i++) {
		buf_init(&j->io[i].buf, (size_t)cap);
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
	r->run_as = json_string_value(json_object_get(run, "run_as"));
	if (r->run_as && !*r->run_as)
		r->run_as = NULL;
	r->is_script = json_is_true(json_object_get(run, "is_script"));
	r->kill_on_timeout = json_is_true(json_object_get(run, "kill_on_timeout"));
	r->live = json_is_true(json_object_get(run, "stream"));
	r->timeout = json_integer_value(json_object_get(run, "timeout_sec"));
	r->output_cap = json_integer_value(json_object_get(run, "output_cap"));
}

/* What a job runs: the program and its argv, with the arrays they live
 * in. */
struct run_argv {
	const char *argv[EXEC_ARGV_MAX + 6];
	const char *aargv[PROTO_ARGV_MAX + 7];
	char uid[40], gid[40];   /* setpriv's --reuid=, --regid= (run_as as root) */
	const char *dargv[EXEC_DIRECT_MAX];
	char dbuf[4096], dpath[PATH_MAX];
	bool direct;
	const char *file;
	const char *const *pargv;
};

/* Fills ra for the job: under sudo (sudo -n), a script (written to its
 * file first, run by its shebang or its interpreter), an argv (no shell),
 * or a command through its interpreter, exec'ed directly when it is one
 * plain simple command. Returns 0, or -1 with err set. */
static int run_argv_build(struct exec *e, const struct run_req *r, const struct exec_interp *in,
			  bool shebang, const char *sudo, struct job *j, struct run_argv *ra,
			  char *err, size_t errlen)
{
	struct agent *a = e->a;
	const char **iargv = ra->argv;
	char dir[PATH_MAX];

	ra->direct = false;
	if (r->run_as) {
		/* Another user: setpriv as root, sudo -n -u otherwise (the
		 * helper's path is in sudo: run_as_check). */
		const struct passwd *pw = getpwnam(r->run_as);
		size_t k = 0;

		if (!pw) {
			snprintf(err, errlen, "run_as user '%.64s' does not exist", r->run_as);
			return -1;
		}
		ra->argv[k++] = sudo;
		if (geteuid() == 0) {
			snprintf(ra->uid, sizeof ra->uid, "--reuid=%u", (unsigned)pw->pw_uid);
			snprintf(ra->gid, sizeof ra->gid, "--regid=%u", (unsigned)pw->pw_gid);
			ra->argv[k++] = ra->uid;
			ra->argv[k++] = ra->gid;
			ra->argv[k++] = "--init-groups";
		} else {
			ra->argv[k++] = "-n";
			ra->argv[k++] = "-u";
			ra->argv[k++] = r->run_as;
		}
		ra->argv[k++] = "--";
		iargv = ra->argv + k;
	} else if (r->is_sudo) {
		ra->argv[0] = sudo;
		ra->argv[1] = "-n";
		iargv = ra->argv + 2;
	}
	if (r->is_script) {
		/* Written synchronously: a script is small (the server caps
		 * it) and the directory is local. */
		if (exec_script_dir(a->cfg.data_dir, dir, sizeof dir, err, errlen) ||
		    exec_script_write(dir, r->jid, shebang ? "" : exec_interp_script_ext(in),
				      r->command, r->command_len, j->script, sizeof j->script, err,
				      errlen))
			return -1;
		if (shebang) {
			iargv[0] = j->script;
			iargv[1] = NULL;
		} else {
			exec_interp_argv(in, NULL, j->script, iargv);
		}
	} else if (r->argv) {
		/* No shell: the program (found in PATH as execvp does) and its
		 * arguments as given; under sudo, sudo -n -- argv. */
		size_t i, k = 0;
		json_t *v;

		if (r->run_as) {
			for (const char **p = ra->argv; p < iargv; p++)
				ra->aargv[k++] = *p;
		} else if (r->is_sudo) {
			ra->aargv[k++] = sudo;
			ra->aargv[k++] = "-n";
			ra->aargv[k++] = "--";
		}
		json_array_foreach(r->argv, i, v)
			ra->aargv[k++] = json_string_value(v);
		ra->aargv[k] = NULL;
	} else {
		exec_interp_argv(in, r->command, NULL, iargv);
		/* One plain simple command: exec it as the shell would, saving
		 * the shell's own exec (docs/execution.md). Not under sudo,
		 * whose PATH is its own, nor as another user. */
		if (!r->is_sudo && !r->run_as)
			ra->direct = exec_interp_direct(in, r->command, r->command_len, ra->dbuf,
							sizeof ra->dbuf, ra->dargv, EXEC_DIRECT_MAX,
							ra->dpath, sizeof ra->dpath) > 0;
	}
	ra->file = ra->direct ? ra->dpath : r->argv ? ra->aargv[0] : ra->argv[0];
	ra->pargv = ra->direct ? ra->dargv : r->argv ? ra->aargv : ra->argv;
	return 0;
}

/* Why job_spawn failed with rc, for the reject. */
static void run_spawn_error(const struct run_req *r, int rc, bool shebang, const char *line,
			    const char *file, char *err, size_t errlen)
{
	if (shebang && rc == ENOENT && !r->is_sudo)
		snprintf(err, errlen, "the script's interpreter (#!%s): no such file or directory",
			 line);
	else if (rc == EMFILE || rc == ENFILE)
		/* The agent's pipes, not the command: say so. */
		snprintf(err, errlen,
			 "the agent is out of file descriptors (%s): too many jobs at once "
			 "for its limit", uv_strerror(uv_translate_sys_error(rc)));
	else
		/* libuv has no name for ENOEXEC: an argv names a file
		 * that is no program (no shell runs it instead). */
		snprintf(err, errlen, "%.600s: %s", file,
			 rc == ENOEXEC ? "exec format error (not a binary, and no #! line)" :
			 uv_strerror(uv_translate_sys_error(rc)));
}

/* The job runs: it is watched (pipes, timeout) and "started" goes out. */
static void run_started(struct exec *e, const struct run_req *r, struct job *j,
			const char *file)
{
	json_t *m;

	HASH_ADD_STR(e->jobs, jid, j);
	exec_job_read_start(j);
	/* At most PROTO_MAX_TIMEOUT_SEC (run_checks): no overflow. */
	exec_job_arm(j, PH_RUNNING, (uint64_t)j->timeout_sec * 1000u);
	log_debug("job %s started: pid %d: %s%s", r->jid, j->pid, r->is_script ? "script " : "",
		  file);

	m = proto_new(PROTO_STARTED);
	json_object_set_new(m, "jid", json_string(r->jid));
	json_object_set_new(m, "pid", json_integer(j->pid));
	json_object_set_new(m, "started_at", exec_time_json(j->started_at));
	e->report(e->ud, m);
}

void exec_run(struct exec *e, json_t *run)
{
	struct run_req r;
	struct exec_interp in;
	struct run_argv ra;
	char sudo[PATH_MAX], err[900], line[512];
	char **env = NULL;
	bool shebang;
	struct job *j = NULL;
	struct seen *s;
	int rc;

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
	if (run_argv_build(e, &r, &in, shebang, sudo, j, &ra, err, sizeof err))
		goto fail;

	cloexec_all();
	j->started_at = util_now_ns();
	/* Its own session and process group (setsid), so one kill reaches
	 * everything it started; what leaves the group is found by
	 * proctree_signal. */
	rc = job_spawn(j, ra.file, ra.pargv, env, r.cwd && *r.cwd ? r.cwd : NULL);
	if (rc) {
		run_spawn_error(&r, rc, shebang, line, ra.file, err, sizeof err);
		goto fail;
	}
	free_env(env);
	run_started(e, &r, j, ra.file);
	return;
fail:
	free_env(env);
	if (j) {
		exec_script_remove(j->script);
		exec_job_close_all(j);
	}
	exec_reject(e, r.jid, "failed to start a command: %s", err);
}

