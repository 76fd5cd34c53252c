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
};

struct cli {
	char addr[512];        /* http://host:port */
	char user[128];
	char password[256];
	char token[256];       /* bearer token (login or TETHER_TOKEN) */
	bool json;
};

/* Fills from flags already parsed, the environment, and the stored login. */
void cli_config_env(struct cli *c);
/* Path of the stored login token file (~/.config/tether/token). */
int cli_token_path(char *out, size_t outlen);

/* REST call. body may be NULL. Sets *status and *resp (parsed JSON or NULL).
 * Returns 0, or -1 on a transport error (message printed). */
int cli_http(const struct cli *c, const char *method, const char *path, const char *body,
	     long *status, json_t **resp);
/* Prints the error envelope of a failed call; returns the exit status. */
int cli_http_fail(long status, json_t *resp, const char *what);
/* "Authorization: ..." header value for the current credentials. */
int cli_auth_header(const struct cli *c, char *out, size_t outlen);

/* Generic flag parsing: -name value, -name=value, --name, bool flags. */
enum cli_ftype { CF_BOOL, CF_STR, CF_LIST, CF_INT };
struct cli_flag {
	const char *name;
	enum cli_ftype type;
	void *dst;               /* bool*, char** , json_t** (list), long* */
	const char *help;
	const char *arg;         /* placeholder in help */
};
/* Parses argv from index 0; sets *rest to the first positional. Returns 0,
 * or CLI_USAGE after printing an error naming the flag. "-h"/"--help"
 * returns -1. */
int cli_flags_parse(const struct cli_flag *flags, size_t n, int argc, char **argv, int *rest,
		    const char *cmd);
void cli_flags_help(const struct cli_flag *flags, size_t n, const char *usage,
		    const char *about);

int cmd_exec(struct cli *c, int argc, char **argv);
int cmd_clients(struct cli *c, int argc, char **argv);
int cmd_jobs(struct cli *c, int argc, char **argv);
int cmd_job(struct cli *c, int argc, char **argv);
int cmd_groups(struct cli *c, int argc, char **argv);
int cmd_login(struct cli *c, int argc, char **argv);
int cmd_bans(struct cli *c, int argc, char **argv);

#endif
