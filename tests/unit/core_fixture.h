/* core_fixture: a struct server for the core's unit tests, filled with the
 * real registry and events, the in-memory store (stub_store.h), and a test
 * router in place of the agents layer: it records the runs and cancels the
 * core sends, and the test answers them (a job's end is an EV_JOB_DONE, as
 * agents/deliver.c publishes it). An event recorder subscribed to every
 * kind keeps what the core published, in order. */
#ifndef TETHER_CORE_FIXTURE_H
#define TETHER_CORE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#include "core/events.h"
#include "core/registry.h"
#include "server.h"
#include "stub_store.h"

#define FX_MAX_RECORDS 256

struct fx_run {
	char jid[UUID_STR_LEN];
	char client_id[128];
	char multi_job_id[UUID_STR_LEN];
	char command[128];
	int64_t timeout_sec;
	registry_run_cb cb;
	void *ud;
};

struct fx_cancel {
	char jid[UUID_STR_LEN];
	char client_id[128];
	char by[64];
};

struct fx_event {
	enum event_kind kind;
	char jid[UUID_STR_LEN];
	char invocation_id[UUID_STR_LEN];
	char client_id[128];
	enum job_status status;
};

struct fixture {
	uv_loop_t loop;
	struct server srv;
	struct store *st;
	/* The router: run answers run_rc (0: sent), cancel answers cancel_rc. */
	int run_rc, cancel_rc;
	struct fx_run runs[FX_MAX_RECORDS];
	size_t nruns;
	struct fx_cancel cancels[FX_MAX_RECORDS];
	size_t ncancels;
	struct fx_event events[FX_MAX_RECORDS];
	size_t nevents;
};

/* Sets up loop, cfg (server_config_defaults), store, events, registry with
 * the test router, and the recorder. Groups and fan-out when asked. */
void fx_init(struct fixture *fx, bool with_groups, bool with_fanout);
void fx_free(struct fixture *fx);
/* A known client; connected ones have a (fake) session. tags: NULL or a
 * comma-separated list; labels: NULL or "k=v,k2=v2". */
struct client *fx_client(struct fixture *fx, const char *id, bool connected, const char *tags,
			 const char *labels);
/* Ends a job as the agents layer does: stored, then EV_JOB_DONE. */
void fx_job_done(struct fixture *fx, const char *jid, enum job_status status);
/* Events of one kind recorded so far. */
size_t fx_count(const struct fixture *fx, enum event_kind kind);
/* Index in fx->runs of the run sent to client_id, or -1. */
int fx_run_of(const struct fixture *fx, const char *client_id);

#endif
