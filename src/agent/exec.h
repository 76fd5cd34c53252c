/* exec: runs jobs as child processes and reports their outcome.
 *
 * Every job reports through the report callback: a "started" frame, then
 * one "result" frame; or one "reject" frame when it never started. The
 * callback takes ownership of the frame. A live job ("stream": true) also
 * reports "output" frames, paced by the link (exec_set_link): while the
 * link is FULL its pipes are not read; exec_link_changed resumes them. */
#ifndef TETHER_EXEC_H
#define TETHER_EXEC_H

#include <stdbool.h>

#include <jansson.h>

#include "agent.h"

typedef void (*exec_report_fn)(void *ud, json_t *frame);

/* The agent's link to the server, as live output sees it. */
enum exec_link {
	EXEC_LINK_OPEN,   /* takes more output now */
	EXEC_LINK_FULL,   /* above its high-water mark: wait for exec_link_changed */
	EXEC_LINK_DOWN,   /* no connection: live output cannot be sent */
};
typedef enum exec_link (*exec_link_fn)(void *ud);

int exec_create(struct agent *a, exec_report_fn report, void *ud, struct exec **out);
/* Stops supervising (children keep running unless killed); frees on drain. */
void exec_destroy(struct exec *e);

/* Sets how live output asks about the link (without it: always open). */
void exec_set_link(struct exec *e, exec_link_fn fn, void *ud);
/* The link drained below its mark, came up or went down: the live output
 * that waited for it goes on (or is skipped when it is down). NULL is a
 * no-op. Safe to call from the link's own callbacks. */
void exec_link_changed(struct exec *e);

/* Handles a validated "run" frame. A jid already seen is not run again. */
void exec_run(struct exec *e, json_t *run);
/* Kills a running job's process group; its result says who cancelled it. */
void exec_cancel(struct exec *e, const char *jid, const char *by);
/* The jids still running (new reference, array). */
json_t *exec_running(struct exec *e);
/* Interpreters this host offers: built-ins found on disk and aliases. */
json_t *exec_interpreters(const struct agent *a);

#endif
