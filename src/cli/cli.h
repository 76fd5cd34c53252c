/* cli: the tether command-line client. */
#ifndef TETHER_CLI_H
#define TETHER_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Exit statuses (docs/cli.md). */
enum {
	CLI_OK = 0,
	CLI_FAILED = 1,        /* the command failed (or did not finish) on a client */
	CLI_USAGE = 2,         /* bad flags or arguments */
	CLI_NO_TARGET = 3,     /* no client matched the targeting */
	CLI_AUTH = 4,          /* wrong credentials or not allowed */
	CLI_TRANSPORT = 5,     /* server unreachable, or a server error */
	CLI_LOST = 6,          /* the connection to the server was lost during a job */
};

struct cli {
	char addr[512];        /* http://host:port */
	char user[128];
	char password[256];
	char token[256];       /* bearer token (login or TETHER_TOKEN) */
	char ca_file[1024];    /* -ca-file / TETHER_CACERT; "" = the system store */
	char tls_server_name[256]; /* -tls-server-name: name checked and sent as SNI */
	bool json;
};

/* Fills from flags already parsed, the environment, and the stored login. */
void cli_config_env(struct cli *c);
/* Path of the stored login token file (~/.config/tether/token). */
int cli_token_path(char *out, size_t outlen);

/* Sets the URL (c->addr + path) and the transport options shared by REST
 * and streaming calls: HTTP/1.1, timeouts, TLS verification (system store
 * or -ca-file) and -tls-server-name. Returns 0, or -1 if the address does
 * not parse (message printed). */
int cli_curl_setup(const struct cli *c, void *curl, const char *path);
/* For a raw request on a connection cli_curl_setup opened: the Host header
 * value and the request target (the address's path prefix + path). */
int cli_request_target(const struct cli *c, const char *path, char *host, size_t hostlen,
		       char *target, size_t targetlen);
/* REST call. body may be NULL. Sets *status and *resp (parsed JSON or NULL).
 * Returns 0, or -1 on a transport error (message printed). */
int cli_http(const struct cli *c, const char *method, const char *path, const char *body,
	     long *status, json_t **resp);
/* GET path; on a status other than 200 prints the server's error (what
 * failed) and returns the exit status (404: CLI_NO_TARGET), else 0 with
 * *resp set (caller frees). */
int cli_get(struct cli *c, const char *path, const char *what, json_t **resp);
/* o[k] as a string, "" when absent. */
const char *cli_str(json_t *o, const char *k);
/* Prints the error envelope of a failed call; returns the exit status. */
int cli_http_fail(long status, json_t *resp, const char *what);
/* "Authorization: ..." header value for the current credentials. */
int cli_auth_header(const struct cli *c, char *out, size_t outlen);

/* Generic flag parsing: -name value, -name=value, --name, bool flags. */
/* CF_TRI: a boolean whose absence is known: int*, left as it was (say -1)
 * unless given, then 1 or 0. */
enum cli_ftype { CF_BOOL, CF_STR, CF_LIST, CF_INT, CF_TRI };
struct cli_flag {
	const char *name;
	enum cli_ftype type;
	void *dst;               /* bool*, char** , json_t** (list), long*, int* (tri) */
	const char *help;
	const char *arg;         /* placeholder in help */
};
/* Parses argv from index 0; sets *rest to the first positional. Returns 0,
 * or CLI_USAGE after printing an error naming the flag. "-h"/"--help"
 * returns -1. */
int cli_flags_parse(const struct cli_flag *flags, size_t n, int argc, char **argv, int *rest,
		    const char *cmd);
/* The name in names[] nearest to word[0..len) if it is close enough to be a
 * typo, else NULL. */
const char *cli_nearest(const char *const *names, size_t n, const char *word, size_t len);
void cli_flags_help(const struct cli_flag *flags, size_t n, const char *usage,
		    const char *about);

int cmd_exec(struct cli *c, int argc, char **argv);
int cmd_clients(struct cli *c, int argc, char **argv);
int cmd_jobs(struct cli *c, int argc, char **argv);
int cmd_job(struct cli *c, int argc, char **argv);
int cmd_groups(struct cli *c, int argc, char **argv);
int cmd_login(struct cli *c, int argc, char **argv);
int cmd_bans(struct cli *c, int argc, char **argv);
int cmd_enrollment(struct cli *c, int argc, char **argv);
int cmd_apikey(struct cli *c, int argc, char **argv);
int cmd_logout(struct cli *c, int argc, char **argv);
int cmd_cancel(struct cli *c, int argc, char **argv);
int cmd_audit(struct cli *c, int argc, char **argv);
int cmd_tat_keys(struct cli *c, int argc, char **argv);

/* Output helpers shared by exec and job. */
/* Decodes a job's result stream ("stdout"/"stderr"), base64 if the job
 * says so. Returns malloc'd bytes (caller frees) and sets *len; NULL when
 * the stream is absent or does not decode. */
char *cli_job_stream(json_t *result, const char *stream, size_t *len);
/* Writes "prefix: line\n" for each line of data[0..len) (NULs kept). A
 * last line without a newline is written with one. */
void cli_write_lines(FILE *f, const char *prefix, const char *data, size_t len);
/* A note on stderr when the job's output was cut at the agent's
 * send_back_limit (with the bytes dropped when the server says). */
void cli_note_truncation(json_t *job, const char *name);

#endif
