/* cmd_exec: tether exec, in the manner of consul exec, over the streaming
 * WebSocket API. Output is labelled by client, every targeted client is
 * accounted for, and the exit status says what happened. */
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "cli.h"
#include "log.h"
#include "net.h"
#include "util.h"

#define MAX_SCRIPT (768 * 1024)

struct target {
	char *id;
	char *name;
	bool targeted;         /* announced as a target of this job */
	bool done;
	bool ok;
	size_t printed[2];     /* bytes of stdout/stderr already shown */
	struct buf line[2];    /* partial line per stream */
};

struct run {
	struct cli *c;
	uv_loop_t loop;
	net_ctx *net;
	net_conn *conn;
	uv_signal_t sigint;
	uv_timer_t quiet;
	uint64_t wait_ms;
	char *request;
	char mjid[UUID_STR_LEN];
	struct target *t;
	size_t nt;
	size_t ntargets;
	size_t ndone;
	size_t nfailed;
	bool verbose;
	bool json;
	bool tty;
	bool cancelled;
	bool timed_out;
	int error_status;      /* set by an error frame or a transport failure */
	bool progress_shown;
};

static struct target *target_of(struct run *r, const char *id)
{
	for (size_t i = 0; i < r->nt; i++)
		if (!strcmp(r->t[i].id, id))
			return &r->t[i];
	return NULL;
}

static void progress_clear(struct run *r)
{
	if (r->progress_shown) {
		fprintf(stderr, "\r\033[K");
		r->progress_shown = false;
	}
}

static void progress_show(struct run *r)
{
	if (!r->tty || r->json || r->ntargets < 2)
		return;
	fprintf(stderr, "\r\033[K[%zu/%zu done] %zu running, %zu failed", r->ndone, r->ntargets,
		r->ntargets > r->ndone ? r->ntargets - r->ndone : 0, r->nfailed);
	r->progress_shown = true;
}

/* Prints whole lines, prefixed with the client name. */
static void emit(struct run *r, struct target *t, int stream, const char *data, size_t len,
		 bool flush)
{
	struct buf *b = &t->line[stream];
	const char *name = t->name ? t->name : t->id;

	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\n') {
			progress_clear(r);
			fprintf(stream ? stderr : stdout, "%s%s: %.*s\n", name,
				stream ? " [stderr]" : "", (int)b->len, b->data ? b->data : "");
			buf_reset(b);
		} else if (buf_append(b, data + i, 1)) {
			/* A very long line: show what we have. */
			fprintf(stream ? stderr : stdout, "%s%s: %.*s\n", name,
				stream ? " [stderr]" : "", (int)b->len, b->data);
			buf_reset(b);
			buf_append(b, data + i, 1);
		}
	}
	if (flush && b->len) {
		progress_clear(r);
		fprintf(stream ? stderr : stdout, "%s%s: %.*s\n", name, stream ? " [stderr]" : "",
			(int)b->len, b->data);
		buf_reset(b);
	}
	fflush(stdout);
}

static void print_json_event(json_t *ev)
{
	char *s = json_dumps(ev, JSON_COMPACT);

	if (s)
		printf("%s\n", s);
	free(s);
	fflush(stdout);
	json_decref(ev);
}

static void cancel_job(struct run *r)
{
	char path[128];
	long status = 0;
	json_t *resp;

	if (!r->mjid[0])
		return;
	snprintf(path, sizeof path, "/api/v1/commands/%s", r->mjid);
	if (cli_http(r->c, "DELETE", path, NULL, &status, &resp) == 0 && status < 300)
		fprintf(stderr, "tether: cancelling job %s on the clients (Ctrl-C again to leave)\n",
			r->mjid);
	json_decref(resp);
}

static void on_sigint(uv_signal_t *s, int sig)
{
	struct run *r = s->data;

	(void)sig;
	progress_clear(r);
	if (r->cancelled) {
		fprintf(stderr, "tether: leaving; the job goes on where it was not cancelled\n");
		exit(CLI_FAILED);
	}
	r->cancelled = true;
	cancel_job(r);
}

static void on_quiet(uv_timer_t *t)
{
	struct run *r = t->data;

	progress_clear(r);
	r->timed_out = true;
	for (size_t i = 0; i < r->nt; i++)
		if (r->t[i].targeted && !r->t[i].done)
			fprintf(stderr, "==> %s: no response within -wait\n",
				r->t[i].name ? r->t[i].name : r->t[i].id);
	if (r->conn)
		net_ws_close(r->conn, 1000, "client gave up waiting");
}

static void quiet_reset(struct run *r)
{
	if (r->wait_ms)
		uv_timer_start(&r->quiet, on_quiet, r->wait_ms, 0);
}

static void on_partial(struct run *r, json_t *m)
{
	struct target *t = target_of(r, json_string_value(json_object_get(m, "client_id")));
	json_t *res = json_object_get(m, "result");
	int stream;
	json_t *d;
	unsigned char *bin = NULL;
	size_t len;
	const char *data;

	if (!t)
		return;
	stream = json_object_get(res, "stderr") ? 1 : 0;
	d = json_object_get(res, stream ? "stderr" : "stdout");
	data = json_string_value(d);
	len = json_string_length(d);
	if (!data)
		return;
	if (json_object_get(res, stream ? "stderr_encoding" : "stdout_encoding")) {
		bin = malloc(len + 1);
		if (!bin || sodium_base642bin(bin, len + 1, data, len, NULL, &len, NULL,
					      sodium_base64_VARIANT_ORIGINAL)) {
			free(bin);
			return;
		}
		data = (const char *)bin;
	}
	if (r->json) {
		print_json_event(json_pack("{s:s, s:s, s:s, s:s, s:s%}", "event", "output",
					   "client_id", t->id, "client_name",
					   t->name ? t->name : t->id, "stream",
					   stream ? "stderr" : "stdout", "data", data, len));
	} else {
		emit(r, t, stream, data, len, false);
	}
	t->printed[stream] += len;
	free(bin);
}

static void on_final(struct run *r, json_t *job)
{
	struct target *t = target_of(r, json_string_value(json_object_get(job, "client_id")));
	const char *status = json_string_value(json_object_get(job, "status"));
	const char *error = json_string_value(json_object_get(job, "error"));
	json_t *res = json_object_get(job, "result"), *ec = json_object_get(job, "exit_code");

	if (!t || t->done)
		return;
	t->done = true;
	r->ndone++;
	t->ok = status && !strcmp(status, "successful") && json_integer_value(ec) == 0;
	if (!t->ok)
		r->nfailed++;
	if (r->json) {
		print_json_event(json_pack("{s:s, s:O}", "event", "result", "job", job));
		progress_show(r);
		return;
	}
	/* What the live stream missed (dropped, or never streamed). */
	for (int s = 0; s < 2; s++) {
		const char *key = s ? "stderr" : "stdout";
		const char *text = json_string_value(json_object_get(res, key));
		size_t len = json_string_length(json_object_get(res, key));

		if (text && !json_object_get(res, s ? "stderr_encoding" : "stdout_encoding") &&
		    len > t->printed[s])
			emit(r, t, s, text + t->printed[s], len - t->printed[s], false);
		emit(r, t, s, "", 0, true);
	}
	progress_clear(r);
	if (t->ok) {
		if (r->verbose)
			fprintf(stderr, "==> %s: finished with exit code 0\n", t->name ? t->name : t->id);
	} else if (json_is_integer(ec)) {
		fprintf(stderr, "==> %s: %s with exit code %lld%s%s\n", t->name ? t->name : t->id,
			status, (long long)json_integer_value(ec), error && *error ? ": " : "",
			error ? error : "");
	} else {
		fprintf(stderr, "==> %s: %s%s%s\n", t->name ? t->name : t->id, status,
			error && *error ? ": " : "", error ? error : "");
	}
	if (json_is_true(json_object_get(res, "stdout_truncated")) ||
	    json_is_true(json_object_get(res, "stderr_truncated")))
		fprintf(stderr, "==> %s: output was cut at the agent's send_back_limit\n",
			t->name ? t->name : t->id);
	progress_show(r);
}

static int error_status_of(const char *title)
{
	if (!title)
		return CLI_USAGE;
	if (strstr(title, "unauthorized") || strstr(title, "scope") || strstr(title, "forbidden"))
		return CLI_AUTH;
	if (strstr(title, "not found") || strstr(title, "no active clients") ||
	    strstr(title, "at least 1 client"))
		return CLI_NO_TARGET;
	return CLI_USAGE;
}

static void ws_open(void *ud, net_conn *c)
{
	struct run *r = ud;

	net_ws_send(c, r->request, strlen(r->request));
	quiet_reset(r);
}

static void ws_message(void *ud, net_conn *c, const char *data, size_t len)
{
	struct run *r = ud;
	json_t *m = json_loadb(data, len, 0, NULL);
	json_t *errs;

	(void)c;
	quiet_reset(r);
	if (!m)
		return;
	if ((errs = json_object_get(m, "errors"))) {
		json_t *e = json_array_get(errs, 0);
		const char *title = json_string_value(json_object_get(e, "title"));
		const char *detail = json_string_value(json_object_get(e, "detail"));

		progress_clear(r);
		fprintf(stderr, "tether exec: %s%s%s\n", title ? title : "error",
			detail && *detail ? ": " : "", detail ? detail : "");
		r->error_status = error_status_of(title);
	} else if (json_object_get(m, "multi_job_id") && !json_object_get(m, "jid")) {
		size_t i;
		json_t *v;

		util_strlcpy(r->mjid, json_string_value(json_object_get(m, "multi_job_id")),
			     sizeof r->mjid);
		json_array_foreach(json_object_get(m, "client_ids"), i, v) {
			struct target *t = target_of(r, json_string_value(v));

			if (!t) {
				struct target *nt = realloc(r->t, (r->nt + 1) * sizeof *nt);

				if (!nt)
					continue;
				r->t = nt;
				t = &r->t[r->nt++];
				memset(t, 0, sizeof *t);
				t->id = strdup(json_string_value(v));
				buf_init(&t->line[0], 64 * 1024);
				buf_init(&t->line[1], 64 * 1024);
			}
			if (!t->targeted) {
				t->targeted = true;
				r->ntargets++;
			}
		}
		if (r->json)
			print_json_event(json_pack("{s:s, s:s, s:O}", "event", "start", "multi_job_id",
						   r->mjid, "client_ids",
						   json_object_get(m, "client_ids")));
		else if (r->verbose)
			fprintf(stderr, "==> job %s on %zu client(s)\n", r->mjid, r->ntargets);
		if (r->cancelled)
			cancel_job(r);
		progress_show(r);
	} else if (json_object_get(m, "status")) {
		on_final(r, m);
	} else if (json_object_get(m, "result")) {
		on_partial(r, m);
	}
	json_decref(m);
}

static void ws_close(void *ud, net_conn *c, const char *reason)
{
	struct run *r = ud;

	(void)c;
	r->conn = NULL;
	if (!r->mjid[0] && !r->error_status) {
		fprintf(stderr, "tether exec: the stream ended before the job started: %s\n", reason);
		r->error_status = CLI_TRANSPORT;
	}
	uv_close((uv_handle_t *)&r->sigint, NULL);
	uv_close((uv_handle_t *)&r->quiet, NULL);
	net_ctx_destroy(r->net);
}

static const struct net_callbacks exec_callbacks = {
	.ws_open = ws_open,
	.ws_message = ws_message,
	.ws_close = ws_close,
};

static bool regex_any(regex_t *re, json_t *arr)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (json_string_value(v) && !regexec(re, json_string_value(v), 0, NULL, 0))
			return true;
	return false;
}

static int compile(regex_t *re, const char *pat, const char *flag)
{
	char msg[200];
	int rc = regcomp(re, pat, REG_EXTENDED | REG_NOSUB);

	if (rc) {
		regerror(rc, re, msg, sizeof msg);
		fprintf(stderr, "tether exec: -%s '%s' is not a valid regular expression: %s\n", flag,
			pat, msg);
		return -1;
	}
	return 0;
}

/* consul-style filters, applied to the client list: -node on id or name,
 * -service on declared services, -tag on tags; plus -client ids. */
static json_t *filter_clients(struct cli *c, const char *node, const char *service,
			      json_t *tags, json_t *only_ids, int *status)
{
	regex_t rn, rs;
	regex_t rt[16];
	size_t ntag = json_array_size(tags);
	long http = 0;
	json_t *resp = NULL, *ids = json_array(), *cl;
	size_t i;

	*status = 0;
	if (ntag > 16) {
		fprintf(stderr, "tether exec: at most 16 -tag filters\n");
		*status = CLI_USAGE;
		return ids;
	}
	if ((node && compile(&rn, node, "node")) || (service && compile(&rs, service, "service"))) {
		*status = CLI_USAGE;
		return ids;
	}
	for (i = 0; i < ntag; i++) {
		if (compile(&rt[i], json_string_value(json_array_get(tags, i)), "tag")) {
			*status = CLI_USAGE;
			return ids;
		}
	}
	if (cli_http(c, "GET", "/api/v1/clients?page[limit]=100000", NULL, &http, &resp)) {
		*status = CLI_TRANSPORT;
		goto out;
	}
	if (http != 200) {
		*status = cli_http_fail(http, resp, "listing clients");
		goto out;
	}
	json_array_foreach(json_object_get(resp, "data"), i, cl) {
		const char *id = json_string_value(json_object_get(cl, "id"));
		const char *name = json_string_value(json_object_get(cl, "name"));
		const char *state = json_string_value(json_object_get(cl, "connection_state"));
		bool ok = true;

		if (!id)
			continue;
		if (only_ids) {
			size_t k;
			json_t *v;

			ok = false;
			json_array_foreach(only_ids, k, v)
				if (!strcmp(json_string_value(v), id))
					ok = true;
		} else if (!state || strcmp(state, "connected")) {
			/* As consul: the live members. Named clients are kept. */
			ok = false;
		}
		if (ok && node)
			ok = !regexec(&rn, id, 0, NULL, 0) ||
			     (name && !regexec(&rn, name, 0, NULL, 0));
		if (ok && service)
			ok = regex_any(&rs, json_object_get(cl, "services"));
		for (size_t k = 0; ok && k < ntag; k++)
			ok = regex_any(&rt[k], json_object_get(cl, "tags"));
		if (ok)
			json_array_append_new(ids, json_string(id));
	}
out:
	json_decref(resp);
	if (node)
		regfree(&rn);
	if (service)
		regfree(&rs);
	for (i = 0; i < ntag; i++)
		regfree(&rt[i]);
	return ids;
}

static char *read_stdin(size_t *len)
{
	struct buf b;
	char chunk[65536];
	size_t n;

	buf_init(&b, MAX_SCRIPT);
	while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
		if (buf_append(&b, chunk, n)) {
			fprintf(stderr, "tether exec: the script on stdin is larger than %d bytes\n",
				MAX_SCRIPT);
			buf_free(&b);
			return NULL;
		}
	}
	return buf_steal(&b, len);
}

static int parse_duration(const char *s, uint64_t *ms)
{
	long long v = util_parse_duration_ms(s);

	if (v < 0) {
		fprintf(stderr, "tether exec: -wait '%s' is not a duration like 2s or 500ms\n", s);
		return -1;
	}
	*ms = (uint64_t)v;
	return 0;
}

int cmd_exec(struct cli *c, int argc, char **argv)
{
	json_t *clients = NULL, *groups = NULL, *tags = NULL, *labels = NULL;
	char *node = NULL, *service = NULL, *maxc = NULL, *cwd = NULL, *interp = NULL;
	char *waitd = NULL;
	bool concurrent = false, abort_set = false, sudo = false, kill = false, verbose = false;
	bool json = false;
	long timeout = 0;
	const struct cli_flag flags[] = {
		{ "client", CF_LIST, &clients, "target a client by id", "ID" },
		{ "group", CF_LIST, &groups, "target the clients of a client group", "ID" },
		{ "label", CF_LIST, &labels, "target clients with this label (all must match)", "K:V" },
		{ "node", CF_STR, &node, "regular expression on client id or name", "REGEX" },
		{ "service", CF_STR, &service, "regular expression on the agent's services", "REGEX" },
		{ "tag", CF_LIST, &tags, "regular expression on the client's tags", "REGEX" },
		{ "concurrent", CF_BOOL, &concurrent, "run on all targets at once (default: one by one)", NULL },
		{ "abort-on-error", CF_BOOL, &abort_set, "stop at the first failure (sequential; server default true)", NULL },
		{ "max-concurrency", CF_STR, &maxc, "with -concurrent: at most N (or N%) at once", "N" },
		{ "timeout", CF_INT, &timeout, "seconds before the job counts as unknown", "SEC" },
		{ "cwd", CF_STR, &cwd, "working directory on the clients", "DIR" },
		{ "sudo", CF_BOOL, &sudo, "run with sudo -n", NULL },
		{ "interpreter", CF_STR, &interp, "interpreter (sh, bash, an alias or a path)", "NAME" },
		{ "kill-on-timeout", CF_BOOL, &kill, "kill the process group at the timeout", NULL },
		{ "wait", CF_STR, &waitd, "give up on targets silent for this long (e.g. 30s)", "DUR" },
		{ "verbose", CF_BOOL, &verbose, "say more about each client", NULL },
		{ "json", CF_BOOL, &json, "one JSON object per event on stdout", NULL },
	};
	const size_t nflags = sizeof flags / sizeof flags[0];
	struct run r;
	struct net_client_cfg cc;
	char host[256], auth[1200], path[128];
	const char *p;
	json_t *req, *ids = NULL, *me;
	long http = 0;
	int rest = 0, rc, port;
	bool is_script = false, tls = false;
	char *script = NULL;
	bool abort_flag_given = false;

	for (int i = 0; i < argc; i++)
		if (!strncmp(argv[i], "-abort-on-error", 15) || !strncmp(argv[i], "--abort-on-error", 16))
			abort_flag_given = true;
	rc = cli_flags_parse(flags, nflags, argc, argv, &rest, "exec");
	if (rc < 0) {
		cli_flags_help(flags, nflags, "tether exec [flags] COMMAND... | tether exec [flags] -",
			       "Runs a command on the targeted clients and streams their output,\n"
			       "each line prefixed by the client's name. '-' reads a script from stdin.\n"
			       "Without targeting flags it runs on every connected client.\n"
			       "Exit status: 0 if every targeted client ran it and exited 0; 1 if it\n"
			       "failed, timed out or was cancelled on any; 3 if no client matched;\n"
			       "4 on an authentication error; 5 if the server cannot be reached.");
		rc = 0;
		goto out_flags;
	}
	if (rc)
		goto out_flags;
	memset(&r, 0, sizeof r);
	r.c = c;
	r.verbose = verbose;
	r.json = json;
	r.tty = isatty(2);
	if (waitd && parse_duration(waitd, &r.wait_ms)) {
		rc = CLI_USAGE;
		goto out_flags;
	}
	if (rest >= argc) {
		fprintf(stderr, "tether exec: give a command, or '-' to read a script from stdin\n");
		rc = CLI_USAGE;
		goto out_flags;
	}
	if (!strcmp(argv[rest], "-") && rest + 1 == argc) {
		size_t len;

		is_script = true;
		script = read_stdin(&len);
		if (!script || !len) {
			fprintf(stderr, "tether exec: no script on stdin\n");
			rc = CLI_USAGE;
			goto out_flags;
		}
	}
	if (labels && (clients || groups || node || service || tags)) {
		fprintf(stderr, "tether exec: -label cannot be combined with other targeting flags\n");
		rc = CLI_USAGE;
		goto out_flags;
	}
	/* Credentials and server first: a clear 401 rather than a failed
	 * WebSocket upgrade. */
	if (cli_http(c, "GET", "/api/v1/me", NULL, &http, &me)) {
		rc = CLI_TRANSPORT;
		goto out_flags;
	}
	json_decref(me);
	if (http != 200) {
		rc = cli_http_fail(http, NULL, "authentication");
		goto out_flags;
	}
	req = json_object();
	if (is_script) {
		size_t blen = sodium_base64_encoded_len(strlen(script), sodium_base64_VARIANT_ORIGINAL);
		char *b64 = malloc(blen);

		sodium_bin2base64(b64, blen, (unsigned char *)script, strlen(script),
				  sodium_base64_VARIANT_ORIGINAL);
		json_object_set_new(req, "script", json_string(b64));
		free(b64);
	} else {
		struct buf cmd;

		buf_init(&cmd, 64 * 1024);
		for (int i = rest; i < argc; i++)
			if (buf_appendf(&cmd, "%s%s", i > rest ? " " : "", argv[i])) {
				fprintf(stderr, "tether exec: the command is longer than 64 KiB\n");
				buf_free(&cmd);
				json_decref(req);
				rc = CLI_USAGE;
				goto out_flags;
			}
		json_object_set_new(req, "command", json_string(cmd.data));
		buf_free(&cmd);
	}
	if (labels) {
		json_object_set_new(req, "labels",
				    json_pack("{s:s, s:O}", "operator", "AND", "labels", labels));
	} else if (groups && !node && !service && !tags) {
		json_object_set(req, "group_ids", groups);
		if (clients)
			json_object_set(req, "client_ids", clients);
	} else if (clients && !node && !service && !tags) {
		json_object_set(req, "client_ids", clients);
	} else {
		if (groups) {
			fprintf(stderr, "tether exec: -group cannot be combined with -node, -service or -tag\n");
			json_decref(req);
			rc = CLI_USAGE;
			goto out_flags;
		}
		ids = filter_clients(c, node, service, tags, clients, &rc);
		if (rc) {
			json_decref(ids);
			json_decref(req);
			goto out_flags;
		}
		if (!json_array_size(ids)) {
			fprintf(stderr, "tether exec: no client matched\n");
			json_decref(ids);
			json_decref(req);
			rc = CLI_NO_TARGET;
			goto out_flags;
		}
		json_object_set_new(req, "client_ids", ids);
	}
	if (concurrent)
		json_object_set_new(req, "execute_concurrently", json_true());
	if (abort_flag_given)
		json_object_set_new(req, "abort_on_error", json_boolean(abort_set));
	if (maxc) {
		char *end;
		long v = strtol(maxc, &end, 10);

		json_object_set_new(req, "max_concurrency",
				    *end == '\0' ? json_integer(v) : json_string(maxc));
	}
	if (timeout > 0)
		json_object_set_new(req, "timeout_sec", json_integer(timeout));
	if (cwd)
		json_object_set_new(req, "cwd", json_string(cwd));
	if (sudo)
		json_object_set_new(req, "is_sudo", json_true());
	if (interp)
		json_object_set_new(req, "interpreter", json_string(interp));
	if (kill)
		json_object_set_new(req, "kill_on_timeout", json_true());
	r.request = json_dumps(req, JSON_COMPACT);
	json_decref(req);

	/* Targets as the server will resolve them come in the announce
	 * frame; names from the client list when we have it. */
	p = c->addr;
	if (!strncmp(p, "https://", 8)) {
		tls = true;
		p += 8;
	} else if (!strncmp(p, "http://", 7)) {
		p += 7;
	}
	{
		char hp[300];
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		snprintf(hp, sizeof hp, "%.*s", (int)n, p);
		if (util_parse_hostport(hp, host, sizeof host, &port)) {
			util_strlcpy(host, hp, sizeof host);
			port = tls ? 443 : 80;
		}
	}
	log_current_level = LOG_ERROR;
	uv_loop_init(&r.loop);
	r.net = net_ctx_create(&r.loop, 64, true);
	uv_signal_init(&r.loop, &r.sigint);
	r.sigint.data = &r;
	uv_signal_start(&r.sigint, on_sigint, SIGINT);
	uv_timer_init(&r.loop, &r.quiet);
	r.quiet.data = &r;
	cli_auth_header(c, auth, sizeof auth);
	snprintf(path, sizeof path, "/api/v1/ws/%s?announce=1", is_script ? "scripts" : "commands");
	memset(&cc, 0, sizeof cc);
	cc.host = host;
	cc.port = port;
	cc.path = path;
	cc.subprotocol = NULL;
	cc.tls = tls;
	cc.authorization = auth[0] ? auth : NULL;
	cc.max_ws_message = 64 * 1024 * 1024;
	cc.cb = &exec_callbacks;
	cc.ud = &r;
	r.conn = net_client_connect(r.net, &cc);
	if (!r.conn) {
		fprintf(stderr, "tether exec: cannot connect to %s\n", c->addr);
		rc = CLI_TRANSPORT;
		uv_close((uv_handle_t *)&r.sigint, NULL);
		uv_close((uv_handle_t *)&r.quiet, NULL);
		net_ctx_destroy(r.net);
		uv_run(&r.loop, UV_RUN_DEFAULT);
		goto out_run;
	}
	/* Learn the targets' names for labelled output. */
	{
		long st = 0;
		json_t *resp = NULL, *cl;
		size_t i;

		r.t = calloc(1, sizeof *r.t);
		if (!cli_http(c, "GET", "/api/v1/clients?page[limit]=100000", NULL, &st, &resp) &&
		    st == 200) {
			size_t n = json_array_size(json_object_get(resp, "data"));

			free(r.t);
			r.t = calloc(n + 1, sizeof *r.t);
			json_array_foreach(json_object_get(resp, "data"), i, cl) {
				r.t[i].id = strdup(json_string_value(json_object_get(cl, "id")));
				r.t[i].name = strdup(json_string_value(json_object_get(cl, "name")) ?
						     json_string_value(json_object_get(cl, "name")) : "");
				buf_init(&r.t[i].line[0], 64 * 1024);
				buf_init(&r.t[i].line[1], 64 * 1024);
			}
			r.nt = n;
		}
		json_decref(resp);
	}
	uv_run(&r.loop, UV_RUN_DEFAULT);
	/* Only the targets of this job count: those that got a final, and
	 * those the server announced. */
	{
		size_t targets = 0, completed = 0, failed = 0;

		/* Targets that never reported (aborted, or -wait ran out)
		 * count as not completed. */
		for (size_t i = 0; i < r.nt; i++) {
			if (r.t[i].targeted || r.t[i].done)
				targets++;
			if (r.t[i].done) {
				completed++;
				if (!r.t[i].ok)
					failed++;
			}
		}
		if (r.error_status) {
			rc = r.error_status;
		} else if (r.json) {
			print_json_event(json_pack("{s:s, s:s, s:I, s:I, s:I}", "event", "summary",
						   "multi_job_id", r.mjid, "clients", (json_int_t)targets,
						   "completed", (json_int_t)completed, "failed",
						   (json_int_t)failed));
			rc = failed || completed < targets || r.cancelled ? CLI_FAILED : CLI_OK;
		} else {
			progress_clear(&r);
			fprintf(stderr, "%zu / %zu clients completed, %zu failed\n", completed, targets,
				failed);
			rc = failed || completed < targets || r.cancelled ? CLI_FAILED : CLI_OK;
		}
	}
out_run:
	net_ctx_free(r.net);
	uv_loop_close(&r.loop);
	for (size_t i = 0; i < r.nt; i++) {
		free(r.t[i].id);
		free(r.t[i].name);
		buf_free(&r.t[i].line[0]);
		buf_free(&r.t[i].line[1]);
	}
	free(r.t);
	free(r.request);
out_flags:
	free(script);
	json_decref(clients);
	json_decref(groups);
	json_decref(tags);
	json_decref(labels);
	return rc;
}
