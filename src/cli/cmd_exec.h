/* cmd_exec: what tether exec's two files share (not for other commands):
 * cmd_exec.c reads the flags and builds the request, cmd_exec_stream.c
 * streams the job and shows what comes back. */
#ifndef TETHER_CLI_CMD_EXEC_H
#define TETHER_CLI_CMD_EXEC_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"

/* What the stream needs of the flags. */
struct exec_stream_opts {
	bool verbose;
	bool json;
	bool concurrent;
	bool is_script;        /* the scripts stream, not the commands one */
	const char *maxc_text; /* -max-concurrency as given (N or N%), or NULL */
	long max_concurrency;  /* -max-concurrency N; 0: no limit or a percentage */
	uint64_t wait_ms;      /* -wait; 0: none */
};

/* Sends request (compact JSON, takes ownership) on the job stream and
 * shows the job as it runs; returns tether exec's exit status. */
int cmd_exec_stream(struct cli *c, const struct exec_stream_opts *o, char *request);

#endif
