/* journal: the agent's on-disk record of jobs, so that nothing runs twice
 * and no finished result is lost (docs/internals/delivery.md).
 *
 * <data_dir>/journal/run/<jid>     written before the process is spawned
 * <data_dir>/journal/result/<jid>  the result frame, until acked (written
 *                                  before it is sent, fsync'd meanwhile)
 * <data_dir>/journal/done.log      jids the server acknowledged (pruned)
 */
#ifndef TETHER_JOURNAL_H
#define TETHER_JOURNAL_H

#include <stddef.h>

#include <jansson.h>
#include <uv.h>

struct journal;

enum journal_state {
	JOURNAL_UNKNOWN = 0,
	JOURNAL_RUNNING,    /* recorded, no result yet */
	JOURNAL_FINISHED,   /* result kept until the server acks it */
	JOURNAL_ACKED,      /* done: the server has it */
};

/* Opens (creating) the journal under data_dir. Returns 0 or -1 with err. */
int journal_open(const char *data_dir, struct journal **out, char *err, size_t errlen);
void journal_close(struct journal *j);   /* NULL is a no-op */
/* From now on, result files are fdatasync'd on loop's thread pool instead
 * of before journal_record_result returns. */
void journal_set_loop(struct journal *j, uv_loop_t *loop);

enum journal_state journal_state_of(struct journal *j, const char *jid);
/* Jids whose result waits for the server's ack (new reference, array). */
json_t *journal_held(struct journal *j);
/* Records a job about to run (text: the run frame). Returns 0 or -1. */
int journal_record_run(struct journal *j, const char *jid, const char *text, size_t len);
/* Records a final frame (result or reject); drops the run record. The
 * file is written (safe from a crash of the agent) before this returns;
 * its fdatasync may finish later (journal_set_loop). */
int journal_record_result(struct journal *j, const char *jid, const char *text, size_t len);
/* The server has it: forget the result, remember the jid. */
int journal_ack(struct journal *j, const char *jid);

/* Every result not yet acked, oldest first. fn gets a malloc'd copy it
 * must free. */
void journal_each_result(struct journal *j,
			 void (*fn)(void *ud, const char *jid, char *text, size_t len), void *ud);
/* Every run without a result (the agent stopped while it ran). fn gets
 * the recorded run frame text (valid during the call). */
void journal_each_orphan(struct journal *j,
			 void (*fn)(void *ud, const char *jid, const char *text, size_t len),
			 void *ud);

/* Limits: acked jids remembered, results kept. */
#define JOURNAL_MAX_DONE 10000
#define JOURNAL_MAX_RESULTS 10000

#endif
