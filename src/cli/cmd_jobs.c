/* cmd_jobs: tether jobs, job, cancel. Jobs are of two kinds in rport's
 * API: multi-client jobs (/commands) and single-client jobs
 * (/clients/{id}/commands, also the children of multi jobs); the CLI shows
 * both, with what ran and how it ended. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli.h"
#include "util.h"

#define JOBS_MAX_LIMIT 1000
#define JOBS_PAGES_PER_CLIENT 5

static void print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2));

	if (s)
		printf("%s\n", s);
	free(s);
}

/* The command's first line, cut to fit a column; "(script)" for scripts. */
static void command_cell(json_t *j, char *out, size_t outlen)
{
	const char *cmd = cli_str(j, "command");
	size_t n = strcspn(cmd, "\n");

	if (json_is_true(json_object_get(j, "is_script")) && !*cmd) {
		util_strlcpy(out, "(script)", outlen);
		return;
	}
	if (n >= outlen - 4) {
		snprintf(out, outlen, "%.*s...", (int)(outlen - 4), cmd);
		return;
	}
	snprintf(out, outlen, "%.*s%s", (int)n, cmd, cmd[n] ? " ..." : "");
}

/* "finished: 3 successful", "running: 1/3 done", "stopped: 1 failed, 2 not run". */
static void multi_status(json_t *m, char *out, size_t outlen)
{
	static const char *const keys[] = { "successful", "failed", "unknown", "running", "queued",
					    "expired", "pending", "not_run" };
	json_t *sum = json_object_get(m, "summary");
	size_t l;

	snprintf(out, outlen, "%s:", cli_str(m, "status")[0] ? cli_str(m, "status") : "?");
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		json_int_t n = json_integer_value(json_object_get(sum, keys[i]));

		if (!n)
			continue;
		l = strlen(out);
		snprintf(out + l, outlen - l, "%s %lld %s", out[l - 1] == ':' ? "" : ",",
			 (long long)n, !strcmp(keys[i], "not_run") ? "not run" : keys[i]);
	}
}

static int row_cmp(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcmp(cli_str(y, "started_at"), cli_str(x, "started_at"));

	return c ? c : strcmp(cli_str(y, "jid"), cli_str(x, "jid"));
}

/* Single-client jobs of one client (children of multi jobs left out),
 * newest first, at most limit, appended to rows. */
static int client_singles(struct cli *c, const char *cid, long limit, json_t *rows)
{
	char *esc = curl_escape(cid, 0);
	long got = 0;
	int rc = 0;

	if (!esc)
		return CLI_TRANSPORT;
	for (long page = 0; page < JOBS_PAGES_PER_CLIENT && got < limit; page++) {
		char path[600];
		json_t *resp = NULL, *j;
		size_t i, n;

		snprintf(path, sizeof path, "/api/v1/clients/%s/commands?page[limit]=%ld&page[offset]=%ld",
			 esc, limit, page * limit);
		if ((rc = cli_get(c, path, "listing a client's jobs", &resp)))
			break;
		n = json_array_size(json_object_get(resp, "data"));
		json_array_foreach(json_object_get(resp, "data"), i, j) {
			char cmd[64], st[80];

			if (got >= limit || !json_is_null(json_object_get(j, "multi_job_id")))
				continue;
			command_cell(j, cmd, sizeof cmd);
			/* A queued job shows until when it waits for its client. */
			if (!strcmp(cli_str(j, "status"), "queued") && cli_str(j, "expires_at")[0])
				snprintf(st, sizeof st, "queued, expires %s", cli_str(j, "expires_at"));
			else
				snprintf(st, sizeof st, "%s", cli_str(j, "status"));
			json_array_append_new(rows, json_pack(
				"{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O}", "kind", "single",
				"jid", cli_str(j, "jid"), "started_at", cli_str(j, "started_at"),
				"created_by", cli_str(j, "created_by"), "targets", cli_str(j, "client_id"),
				"status", st, "command", cmd, "exit_code",
				json_object_get(j, "exit_code") ? json_object_get(j, "exit_code") :
								  json_null()));
			got++;
		}
		json_decref(resp);
		if ((long)n < limit)
			break;
	}
	curl_free(esc);
	return rc;
}

int cmd_jobs(struct cli *c, int argc, char **argv)
{
	bool json = false, multi_only = false;
	long limit = 20;
	char *client = NULL;
	const struct cli_flag flags[] = {
		{ "json", CF_BOOL, &json, "one JSON object per job", NULL },
		{ "limit", CF_INT, &limit, "how many, newest first (default 20, at most 1000)", "N" },
		{ "client", CF_STR, &client, "only the single-client jobs of this client", "ID" },
		{ "multi", CF_BOOL, &multi_only, "only multi-client jobs", NULL },
	};
	const size_t nflags = sizeof flags / sizeof flags[0];
	json_t *resp = NULL, *rows = json_array(), *j;
	char path[256];
	int rest, rc;
	size_t i;

	rc = cli_flags_parse(flags, nflags, argc, argv, &rest, "jobs");
	if (rc < 0) {
		cli_flags_help(flags, nflags, "tether jobs [-json] [-limit N] [-client ID] [-multi]",
			       "Lists jobs, newest first: multi-client jobs (with how many clients\n"
			       "succeeded, failed or never ran) and single-client jobs (POST\n"
			       "/clients/{id}/commands). 'tether job JID' shows one with its output.");
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;
	if (rest < argc) {
		fprintf(stderr, "tether jobs: unexpected argument '%s'\n", argv[rest]);
		rc = CLI_USAGE;
		goto out;
	}
	if (limit <= 0 || limit > JOBS_MAX_LIMIT)
		limit = limit <= 0 ? 20 : JOBS_MAX_LIMIT;
	if (!client) {
		snprintf(path, sizeof path, "/api/v1/commands?page[limit]=%ld", limit);
		if ((rc = cli_get(c, path, "listing jobs", &resp)))
			goto out;
		json_array_foreach(json_object_get(resp, "data"), i, j) {
			json_t *one = NULL, *m;
			char st[160], cmd[64], targets[32];

			snprintf(path, sizeof path, "/api/v1/commands/%s", cli_str(j, "jid"));
			if ((rc = cli_get(c, path, "reading a job", &one)))
				goto out;
			m = json_object_get(one, "data");
			multi_status(m, st, sizeof st);
			command_cell(m, cmd, sizeof cmd);
			snprintf(targets, sizeof targets, "%lld clients",
				 (long long)json_integer_value(json_object_get(m, "jobs_total")));
			json_array_append_new(rows, json_pack(
				"{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O}", "kind", "multi", "jid",
				cli_str(j, "jid"), "started_at", cli_str(j, "started_at"), "created_by",
				cli_str(j, "created_by"), "targets", targets, "status", st, "command",
				cmd, "summary", json_object_get(m, "summary") ?
				json_object_get(m, "summary") : json_null()));
			json_decref(one);
		}
		json_decref(resp);
		resp = NULL;
	}
	if (!multi_only) {
		if (client) {
			if ((rc = client_singles(c, client, limit, rows)))
				goto out;
		} else {
			json_t *cl;

			if ((rc = cli_get(c, "/api/v1/clients?page[limit]=100000", "listing clients",
					  &resp)))
				goto out;
			json_array_foreach(json_object_get(resp, "data"), i, cl) {
				if ((rc = client_singles(c, cli_str(cl, "id"), limit, rows)))
					goto out;
			}
		}
	}
	{
		size_t n = json_array_size(rows);
		json_t **v = calloc(n + 1, sizeof *v);

		if (!v) {
			rc = CLI_TRANSPORT;
			goto out;
		}
		for (i = 0; i < n; i++)
			v[i] = json_array_get(rows, i);
		qsort(v, n, sizeof *v, row_cmp);
		if (!json)
			printf("%-36s  %-6s  %-30s  %-10s  %-14s  %-28s  %s\n", "JID", "KIND", "STARTED",
			       "BY", "TARGETS", "STATUS", "COMMAND");
		for (i = 0; i < n && (long)i < limit; i++) {
			if (json) {
				char *s = json_dumps(v[i], JSON_COMPACT);

				if (s)
					printf("%s\n", s);
				free(s);
				continue;
			}
			printf("%-36s  %-6s  %-30s  %-10s  %-14s  %-28s  %s\n", cli_str(v[i], "jid"),
			       cli_str(v[i], "kind"), cli_str(v[i], "started_at"),
			       cli_str(v[i], "created_by"), cli_str(v[i], "targets"),
			       cli_str(v[i], "status"), cli_str(v[i], "command"));
		}
		free(v);
	}
out:
	json_decref(resp);
	json_decref(rows);
	return rc;
}

static void print_job_output(json_t *job)
{
	json_t *res = json_object_get(job, "result");
	json_t *ec = json_object_get(job, "exit_code");
	const char *name = cli_str(job, "client_name")[0] ? cli_str(job, "client_name") :
							    cli_str(job, "client_id");
	char prefix[300];

	printf("==> %s: %s", name, cli_str(job, "status"));
	if (json_is_integer(ec))
		printf(" (exit code %lld)", (long long)json_integer_value(ec));
	if (cli_str(job, "error")[0])
		printf(": %s", cli_str(job, "error"));
	printf("\n");
	for (int s = 0; s < 2; s++) {
		size_t len;
		char *text = cli_job_stream(res, s ? "stderr" : "stdout", &len);

		snprintf(prefix, sizeof prefix, "%s%s", name, s ? " [stderr]" : "");
		if (text)
			cli_write_lines(stdout, prefix, text, len);
		free(text);
	}
	fflush(stdout);
	cli_note_truncation(job, name);
}

int cmd_job(struct cli *c, int argc, char **argv)
{
	bool json = false;
	const struct cli_flag flags[] = {
		{ "json", CF_BOOL, &json, "print the API's JSON", NULL },
	};
	json_t *resp = NULL, *j;
	char path[256];
	int rest, rc;
	size_t i;

	rc = cli_flags_parse(flags, 1, argc, argv, &rest, "job");
	if (rc < 0) {
		cli_flags_help(flags, 1, "tether job [-json] JID",
			       "Shows a multi-client job with each client's output, or a\n"
			       "single-client job by its jid. Output is shown decoded and byte for\n"
			       "byte; -json gives the API's JSON (binary output in base64).");
		return 0;
	}
	if (rc)
		return rc;
	if (rest >= argc || !util_is_uuid(argv[rest])) {
		fprintf(stderr, "tether job: give a job id (a UUID), e.g. from 'tether jobs'\n");
		return CLI_USAGE;
	}
	snprintf(path, sizeof path, "/api/v1/commands/%s", argv[rest]);
	{
		long status = 0;

		if (cli_http(c, "GET", path, NULL, &status, &resp))
			return CLI_TRANSPORT;
		if (status == 404) {
			/* Not a multi job: a single job is found by jid alone. */
			json_decref(resp);
			snprintf(path, sizeof path, "/api/v1/clients/-/commands/%s", argv[rest]);
			if (cli_http(c, "GET", path, NULL, &status, &resp))
				return CLI_TRANSPORT;
		}
		if (status != 200) {
			rc = cli_http_fail(status, resp, "reading the job");
			json_decref(resp);
			return status == 404 ? CLI_NO_TARGET : rc;
		}
	}
	j = json_object_get(resp, "data");
	if (json) {
		print_json(j);
	} else if (json_object_get(j, "jobs")) {
		char st[160], cmd[64];
		json_t *ch;

		multi_status(j, st, sizeof st);
		command_cell(j, cmd, sizeof cmd);
		printf("job %s by %s, started %s: %s\n", cli_str(j, "jid"), cli_str(j, "created_by"),
		       cli_str(j, "started_at"), cmd);
		printf("status %s\n", st);
		if (cli_str(j, "stop_reason")[0])
			printf("stop reason: %s\n", cli_str(j, "stop_reason"));
		json_array_foreach(json_object_get(j, "jobs"), i, ch)
			print_job_output(ch);
		if (json_array_size(json_object_get(j, "not_run"))) {
			json_t *v;

			printf("==> never ran on:");
			json_array_foreach(json_object_get(j, "not_run"), i, v)
				printf("%s %s", i ? "," : "", json_string_value(v));
			printf("\n");
		}
		if (json_integer_value(json_object_get(j, "jobs_total")) >
		    (json_int_t)json_array_size(json_object_get(j, "jobs")))
			printf("(the first %zu of %lld client jobs; 'tether job -json' or GET "
			       "/api/v1/commands/%s/jobs has the rest)\n",
			       json_array_size(json_object_get(j, "jobs")),
			       (long long)json_integer_value(json_object_get(j, "jobs_total")),
			       cli_str(j, "jid"));
	} else {
		print_job_output(j);
	}
	json_decref(resp);
	return 0;
}

int cmd_cancel(struct cli *c, int argc, char **argv)
{
	json_t *resp = NULL, *job = NULL;
	char path[300];
	long status = 0;
	int rest = 0, rc;
	const char *jid;

	rc = cli_flags_parse(NULL, 0, argc, argv, &rest, "cancel");
	if (rc < 0) {
		cli_flags_help(NULL, 0, "tether cancel JID",
			       "Cancels a job. A multi-client job dispatches nothing more and its\n"
			       "running children are stopped; a single-client job is stopped on its\n"
			       "client (the process group is killed: TERM, then KILL). The jobs end\n"
			       "failed with 'cancelled by <user>'.");
		return 0;
	}
	if (rc)
		return rc;
	if (rest >= argc || !util_is_uuid(argv[rest]) || rest + 1 < argc) {
		fprintf(stderr, "tether cancel: give one job id (a UUID), e.g. from 'tether jobs'\n");
		return CLI_USAGE;
	}
	jid = argv[rest];
	snprintf(path, sizeof path, "/api/v1/commands/%s", jid);
	if (cli_http(c, "DELETE", path, NULL, &status, &resp))
		return CLI_TRANSPORT;
	if (status == 202 || status == 200 || status == 204) {
		printf("cancelling job %s: no more clients get it, running ones are stopped\n", jid);
		json_decref(resp);
		return 0;
	}
	if (status != 404) {
		rc = cli_http_fail(status, resp, "cancelling the job");
		json_decref(resp);
		return status == 409 ? CLI_FAILED : rc;
	}
	/* Not a multi job: find the single job's client, cancel it there. */
	json_decref(resp);
	resp = NULL;
	snprintf(path, sizeof path, "/api/v1/clients/-/commands/%s", jid);
	if ((rc = cli_get(c, path, "finding the job", &job)))
		return rc;
	{
		const char *cid = cli_str(json_object_get(job, "data"), "client_id");
		char *esc = curl_escape(cid, 0);

		snprintf(path, sizeof path, "/api/v1/clients/%s/commands/%s", esc ? esc : "", jid);
		curl_free(esc);
		if (cli_http(c, "DELETE", path, NULL, &status, &resp)) {
			json_decref(job);
			return CLI_TRANSPORT;
		}
		if (status == 202 || status == 200 || status == 204) {
			printf("cancelling job %s on %s\n", jid, cid);
			rc = 0;
		} else {
			rc = cli_http_fail(status, resp, "cancelling the job");
			if (status == 409)
				rc = CLI_FAILED;
			else if (status == 404)
				rc = CLI_NO_TARGET;
		}
	}
	json_decref(job);
	json_decref(resp);
	return rc;
}
