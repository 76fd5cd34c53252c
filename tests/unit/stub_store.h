/* stub_store: an in-memory stand-in for store/store.h, for the core's unit
 * tests (they link it instead of the SQLite store). Only the functions the
 * core modules call are implemented; their results follow the real store's
 * contract (store.h). The state is plain JSON that a test reads and fills
 * directly.
 *
 * Group commit: by default store_queue runs apply and then after at once
 * (as the real store does before a loop is attached). With manual set,
 * writes wait in the queue until the test calls store_flush; writes queued
 * by an after run in the same flush, after the batch that queued them. */
#ifndef TETHER_STUB_STORE_H
#define TETHER_STUB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "store/store.h"

/* Operations whose result a test can force (fail[op] != 0 is returned
 * instead of doing the write). */
enum stub_op {
	STUB_JOB_INSERT,
	STUB_JOB_FINISH,
	STUB_MULTI_PUT,
	STUB_MULTI_CREATE,
	STUB_GROUP_PUT,
	STUB_GROUP_DELETE,
	STUB_AUDIT_PUT,
	STUB_IDEM_PUT,
	STUB_OP_COUNT
};

struct stub_write;

struct store {
	json_t *jobs;        /* jid -> {client_id, client_name, multi_job_id, status, error,
			      * state, command, created_by, timeout_sec} */
	json_t *job_order;   /* jids in insertion order */
	json_t *multis;      /* jid -> the record as last put */
	json_t *groups;      /* id -> group */
	json_t *clients;     /* id -> client record (for registry_load) */
	json_t *idem;        /* "user\nkey" -> {jid, hash} */
	json_t *audits;      /* audit records in order */
	int fail[STUB_OP_COUNT];
	bool commit_fails;   /* every after of a flush gets TE_IO */
	bool manual;         /* writes wait for store_flush */
	int multi_puts;      /* store_multi_put calls that wrote */
	uint64_t commits, writes;
	struct stub_write *head, *tail;
	bool flushing;
};

struct store *stub_store_create(void);
void stub_store_destroy(struct store *st);
/* Writes waiting in the queue. */
size_t stub_store_pending(const struct store *st);
/* The stored status of a job ("" when there is no such job). */
const char *stub_store_job_status(const struct store *st, const char *jid);
/* A string field of a stored job, or NULL. */
const char *stub_store_job_field(const struct store *st, const char *jid, const char *field);

#endif
