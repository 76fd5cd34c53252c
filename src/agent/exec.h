/* exec: runs jobs as child processes and reports their outcome.
 *
 * Every job reports through the report callback: a "started" frame, then
 * one "result" frame; or one "reject" frame when it never started. The
 * callback takes ownership of the frame. */
#ifndef TETHER_EXEC_H
#define TETHER_EXEC_H

#include <stdbool.h>

#include <jansson.h>

#include "agent.h"

typedef void (*exec_report_fn)(void *ud, json_t *frame);

int exec_create(struct agent *a, exec_report_fn report, void *ud, struct exec **out);
/* Stops supervising (children keep running unless killed); frees on drain. */
void exec_destroy(struct exec *e);

/* Handles a validated "run" frame. A jid already seen is not run again. */
void exec_run(struct exec *e, json_t *run);
/* Kills a running job's process group; its result says who cancelled it. */
void exec_cancel(struct exec *e, const char *jid, const char *by);
/* The jids still running (new reference, array). */
json_t *exec_running(struct exec *e);
/* Interpreters this host offers: built-ins found on disk and aliases. */
json_t *exec_interpreters(const struct agent *a);

#endif
