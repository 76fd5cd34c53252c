/* outputs: a job's full output kept outside its row, in files under the
 * data dir: <data_dir>/outputs/<jid>/stdout and .../stderr (mode 0600,
 * the folder 0700). Written in libuv's thread pool; the job row keeps its
 * usual capped copy. A dialect that needs more than the row (Elastic's
 * zip) reads the files. */
#ifndef TETHER_OUTPUTS_H
#define TETHER_OUTPUTS_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/* Where the streams of a job's output are (0 stdout, 1 stderr). Returns 0,
 * or -1 when jid is not a job id (letters, digits and '-' only). */
int outputs_path(const char *data_dir, const char *jid, int stream, char *out, size_t outlen);

/* Writes both streams (data[i] borrowed until cb) off the loop: each to a
 * temporary file, fsync, then renamed over the last copy, so a result
 * written twice (an agent resending it) leaves one whole copy. cb runs on
 * the loop with 0 or a TE_ code. Returns 0, or a TE_ code (cb not called). */
typedef void (*outputs_saved_fn)(void *ud, int rc);
int outputs_save(uv_loop_t *loop, const char *data_dir, const char *jid,
		 const char *const data[2], const size_t len[2], outputs_saved_fn cb, void *ud);

/* The size of a stored stream and its last (at most cap) bytes in buf: a
 * small read, for the details' tails. Returns 0, or -1 when the job has no
 * stored output. */
int outputs_tail(const char *data_dir, const char *jid, int stream, char *buf, size_t cap,
		 size_t *got, int64_t *size);

/* Removes a job's output folder (for whatever deletes jobs). Returns 0
 * (also when there was none) or -1. */
int outputs_remove(const char *data_dir, const char *jid);

#endif
