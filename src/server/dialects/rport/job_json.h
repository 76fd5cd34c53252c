/* job_json: rport's Job shape of the store's job rows. */
#ifndef TETHER_RPORT_JOB_JSON_H
#define TETHER_RPORT_JOB_JSON_H

#include <jansson.h>

#include "core/model.h"
#include "util.h"
#include "store/store.h"

/* A list (GET .../commands, /commands/{jid}/jobs, the jobs of
 * /commands/{jid}) carries at most this much stored output: 1,000 jobs of
 * 8 MiB would be an 8 GiB answer. Past it a job's output is left out and
 * "<name>_omitted": true says so; GET the job itself to read it. The store
 * leaves those bytes unread (the output_budget of its list reads). */
#define RPORT_LIST_OUTPUT_BUDGET (16 * 1024 * 1024)

#include "dialects/rport/status.h"

/* The row as rport's Job JSON ({"jid":..., "result":{...}}); new
 * reference, NULL when out of memory. */
json_t *rport_job_json(const struct job_row *row);
/* The rows as an array of Job JSON (new reference). */
json_t *rport_jobs_json(const struct job_rows *rows);

/* The same JSON as text, appended to b without a tree: the bytes of
 * json_dumps(rport_job_json(row), JSON_COMPACT). 0, TE_INVAL (a string
 * is not UTF-8: what was appended stays), TE_NOMEM or TE_TOOBIG. */
int rport_job_write(struct buf *b, const struct job_row *row);
/* The rows as the text of rport_jobs_json's array (a row with a string
 * that is not UTF-8 goes through the tree). 0, TE_NOMEM or TE_TOOBIG. */
int rport_jobs_write(struct buf *b, const struct job_rows *rows);

#endif
