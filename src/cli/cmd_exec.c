/* cmd_exec: tether exec, in the manner of consul exec, over the streaming
 * WebSocket API. This file reads the flags, checks them, and builds the
 * request (the command, an argv or a script; the targets, with consul-style
 * filters applied to the client list; the options); cmd_exec_stream.c
 * streams the job: output labelled by client and shown byte for byte,
 * every targeted client accounted for (run, failed, never run), and the
 * exit status saying what happened, including a connection lost midway. */
#include "cmd_exec.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util.h"

#define MAX_SCRIPT (768 * 1024)

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
			      json_t *tags, json_t *only_ids, bool offline_too, int *status)
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
		} else if (!offline_too && (!state || strcmp(state, "connected"))) {
			/* As consul: the live members. Named clients are kept,
			 * and with -queue the offline ones too (they wait). */
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


/* The flags of tether exec. */
struct exec_args {
	json_t *clients, *groups, *tags, *labels;
	char *node, *service, *maxc, *cwd, *interp;
	char *waitd, *maxe;
	char *queue;           /* -queue DUR: wait for offline targets that long */
	int64_t queue_sec;
	bool concurrent, sudo, kill, verbose, json;
	bool shell;
	int abort_on_error;
	long timeout;
	int rest;              /* argv[rest..] are the command's words */
	char *script;          /* read from stdin ('-'), or NULL */
};

/* Checks the words and the flags that go together, reads a script from
 * stdin; returns 0 or CLI_USAGE (message printed). */
static int exec_args_check(struct exec_args *a, int argc, char **argv,
			   struct exec_stream_opts *o)
{
	int rest = a->rest;

	if (a->waitd && parse_duration(a->waitd, &o->wait_ms))
		return CLI_USAGE;
	if (a->queue) {
		long long ms = util_parse_duration_ms(a->queue);

		if (ms < 1000) {
			fprintf(stderr, "tether exec: -queue '%s' is not a duration of at least 1s "
				"(like 90s, 30m or 1h)\n", a->queue);
			return CLI_USAGE;
		}
		a->queue_sec = (ms + 999) / 1000;
	}
	if (rest >= argc) {
		fprintf(stderr, "tether exec: give a command, or '-' to read a script from stdin\n");
		return CLI_USAGE;
	}
	if (!a->shell && (a->interp || (!strcmp(argv[rest], "-") && rest + 1 == argc))) {
		/* consul's -shell=false: the words are the program's argv. */
		fprintf(stderr, "tether exec: -shell=false runs the program and its arguments as "
				"given, without a shell: %s\n", a->interp ? "-interpreter cannot be used with it" :
				"'-' (a script from stdin) needs one");
		return CLI_USAGE;
	}
	if (!strcmp(argv[rest], "-") && rest + 1 == argc) {
		size_t len;

		o->is_script = true;
		a->script = read_stdin(&len);
		if (!a->script || !len) {
			fprintf(stderr, "tether exec: no script on stdin\n");
			return CLI_USAGE;
		}
	}
	if (a->labels && (a->clients || a->groups || a->node || a->service || a->tags)) {
		fprintf(stderr, "tether exec: -label cannot be combined with other targeting flags\n");
		return CLI_USAGE;
	}
	return 0;
}

/* Credentials and server first: a clear 401 rather than a failed
 * WebSocket upgrade. Returns 0 or the exit status. */
static int exec_auth_check(struct cli *c)
{
	json_t *me = NULL;
	long http = 0;
	int rc;

	if (cli_http(c, "GET", "/api/v1/me", NULL, &http, &me))
		return CLI_TRANSPORT;
	if (http != 200) {
		rc = cli_http_fail(http, me, "authentication");
		json_decref(me);
		return rc;
	}
	json_decref(me);
	return 0;
}

/* What runs: the script (base64), the argv (-shell=false) or the words
 * joined into one command. Returns 0 or CLI_USAGE (message printed). */
static int exec_request_body(const struct exec_args *a, int argc, char **argv, json_t *req)
{
	int rest = a->rest;

	if (a->script) {
		size_t blen = sodium_base64_encoded_len(strlen(a->script),
							sodium_base64_VARIANT_ORIGINAL);
		char *b64 = malloc(blen);

		sodium_bin2base64(b64, blen, (unsigned char *)a->script, strlen(a->script),
				  sodium_base64_VARIANT_ORIGINAL);
		json_object_set_new(req, "script", json_string(b64));
		free(b64);
	} else if (!a->shell) {
		json_t *av = json_array();

		for (int i = rest; i < argc; i++) {
			json_t *w = json_string(argv[i]);

			if (!w) {
				/* JSON carries text only: never send a changed argv. */
				fprintf(stderr, "tether exec: argument %d is not UTF-8 text; argv "
						"travels as JSON strings\n", i - rest + 1);
				json_decref(av);
				return CLI_USAGE;
			}
			json_array_append_new(av, w);
		}
		json_object_set_new(req, "argv", av);
	} else {
		struct buf cmd;

		buf_init(&cmd, 64 * 1024);
		for (int i = rest; i < argc; i++)
			if (buf_appendf(&cmd, "%s%s", i > rest ? " " : "", argv[i])) {
				fprintf(stderr, "tether exec: the command is longer than 64 KiB\n");
				buf_free(&cmd);
				return CLI_USAGE;
			}
		json_object_set_new(req, "command", json_string(cmd.data));
		buf_free(&cmd);
	}
	return 0;
}

/* Where it runs: labels, groups and clients as given, or the client list
 * filtered here (-node, -service, -tag). Returns 0 or the exit status. */
static int exec_request_targets(struct cli *c, const struct exec_args *a, json_t *req)
{
	json_t *ids;
	int rc;

	if (a->labels) {
		json_object_set_new(req, "labels",
				    json_pack("{s:s, s:O}", "operator", "AND", "labels", a->labels));
	} else if (a->groups && !a->node && !a->service && !a->tags) {
		json_object_set(req, "group_ids", a->groups);
		if (a->clients)
			json_object_set(req, "client_ids", a->clients);
	} else if (a->clients && !a->node && !a->service && !a->tags) {
		json_object_set(req, "client_ids", a->clients);
	} else {
		if (a->groups) {
			fprintf(stderr, "tether exec: -group cannot be combined with -node, -service or -tag\n");
			return CLI_USAGE;
		}
		ids = filter_clients(c, a->node, a->service, a->tags, a->clients, a->queue_sec > 0, &rc);
		if (rc) {
			json_decref(ids);
			return rc;
		}
		if (!json_array_size(ids)) {
			fprintf(stderr, "tether exec: no client matched\n");
			json_decref(ids);
			return CLI_NO_TARGET;
		}
		json_object_set_new(req, "client_ids", ids);
	}
	return 0;
}

/* How it runs: concurrency, error limits, timeout, cwd, sudo, interpreter. */
static void exec_request_options(const struct exec_args *a, json_t *req,
				 struct exec_stream_opts *o)
{
	if (a->concurrent)
		json_object_set_new(req, "execute_concurrently", json_true());
	/* -max-errors decides when a sequential job stops; without
	 * -abort-on-error it replaces the server's stop-at-first. */
	if (a->abort_on_error >= 0)
		json_object_set_new(req, "abort_on_error", json_boolean(a->abort_on_error));
	else if (a->maxe && !a->concurrent)
		json_object_set_new(req, "abort_on_error", json_false());
	if (a->maxc) {
		char *end;
		long v = strtol(a->maxc, &end, 10);

		json_object_set_new(req, "max_concurrency",
				    *end == '\0' && *a->maxc ? json_integer(v) : json_string(a->maxc));
		if (*end == '\0')
			o->max_concurrency = v;
	}
	if (a->maxe) {
		char *end;
		long v = strtol(a->maxe, &end, 10);

		json_object_set_new(req, "max_errors",
				    *end == '\0' && *a->maxe ? json_integer(v) : json_string(a->maxe));
	}
	if (a->timeout > 0)
		json_object_set_new(req, "timeout_sec", json_integer(a->timeout));
	if (a->cwd)
		json_object_set_new(req, "cwd", json_string(a->cwd));
	if (a->sudo)
		json_object_set_new(req, "is_sudo", json_true());
	if (a->interp)
		json_object_set_new(req, "interpreter", json_string(a->interp));
	if (a->kill)
		json_object_set_new(req, "kill_on_timeout", json_true());
	if (a->queue_sec) {
		json_object_set_new(req, "queue_offline", json_true());
		json_object_set_new(req, "expires_in_sec", json_integer(a->queue_sec));
	}
}

int cmd_exec(struct cli *c, int argc, char **argv)
{
	struct exec_args a = { .shell = true, .abort_on_error = -1 };
	const struct cli_flag flags[] = {
		{ "client", CF_LIST, &a.clients, "target a client by id", "ID" },
		{ "group", CF_LIST, &a.groups, "target the clients of a client group", "ID" },
		{ "label", CF_LIST, &a.labels, "target clients with this label (all must match)", "K:V" },
		{ "node", CF_STR, &a.node, "regular expression on client id or name", "REGEX" },
		{ "service", CF_STR, &a.service, "regular expression on the agent's services", "REGEX" },
		{ "tag", CF_LIST, &a.tags, "regular expression on the client's tags", "REGEX" },
		{ "concurrent", CF_BOOL, &a.concurrent, "run on all targets at once (default: one by one)", NULL },
		{ "abort-on-error", CF_TRI, &a.abort_on_error, "stop at the first failure (sequential; server default true)", NULL },
		{ "max-concurrency", CF_STR, &a.maxc, "with -concurrent: at most N (or N%) at once", "N" },
		{ "max-errors", CF_STR, &a.maxe, "stop dispatching once more than N (or N%) clients failed", "N" },
		{ "timeout", CF_INT, &a.timeout, "seconds before the job counts as unknown", "SEC" },
		{ "cwd", CF_STR, &a.cwd, "working directory on the clients", "DIR" },
		{ "sudo", CF_BOOL, &a.sudo, "run with sudo -n", NULL },
		{ "interpreter", CF_STR, &a.interp, "interpreter (sh, bash, an alias or a path)", "NAME" },
		{ "shell", CF_BOOL, &a.shell, "-shell=false: run CMD with ARGs as given, without a shell", NULL },
		{ "kill-on-timeout", CF_BOOL, &a.kill, "kill the process group at the timeout", NULL },
		{ "queue", CF_STR, &a.queue, "offline targets wait this long for their agent (e.g. 1h); their jobs are queued", "DUR" },
		{ "wait", CF_STR, &a.waitd, "give up on targets silent for this long (e.g. 30s)", "DUR" },
		{ "verbose", CF_BOOL, &a.verbose, "say more about each client", NULL },
		{ "json", CF_BOOL, &a.json, "one JSON object per event on stdout", NULL },
	};
	const size_t nflags = sizeof flags / sizeof flags[0];
	struct exec_stream_opts o;
	json_t *req = NULL;
	char *request;
	int rc;

	memset(&o, 0, sizeof o);
	rc = cli_flags_parse(flags, nflags, argc, argv, &a.rest, "exec");
	if (rc < 0) {
		cli_flags_help(flags, nflags, "tether exec [flags] COMMAND... | tether exec [flags] -",
			       "Runs a command on the targeted clients and streams their output,\n"
			       "each line prefixed by the client's name. '-' reads a script from stdin.\n"
			       "Without targeting flags it runs on every connected client.\n"
			       "Exit status: 0 if every targeted client ran it and exited 0; 1 if it\n"
			       "failed, timed out, was cancelled or never ran on any; 2 usage error;\n"
			       "3 if no client matched; 4 authentication or permission error; 5 if\n"
			       "the server cannot be reached; 6 if the connection to the server was\n"
			       "lost during the job (it may still be running: see 'tether job').");
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;
	o.verbose = a.verbose;
	o.json = a.json;
	o.concurrent = a.concurrent;
	o.maxc_text = a.maxc;
	if ((rc = exec_args_check(&a, argc, argv, &o)) || (rc = exec_auth_check(c)))
		goto out;
	req = json_object();
	if ((rc = exec_request_body(&a, argc, argv, req)) ||
	    (rc = exec_request_targets(c, &a, req)))
		goto out;
	exec_request_options(&a, req, &o);
	request = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	req = NULL;
	rc = cmd_exec_stream(c, &o, request);
out:
	json_decref(req);
	free(a.script);
	json_decref(a.clients);
	json_decref(a.groups);
	json_decref(a.tags);
	json_decref(a.labels);
	return rc;
}
