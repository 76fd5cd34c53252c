/* events: publish/subscribe of what happens to jobs, invocations and
 * clients. The core publishes; faces (the streaming APIs, fan-out, later
 * metrics and the cluster) subscribe, any number of them, each to the kinds
 * it wants. Subscribers are called synchronously, in the order they
 * subscribed; an event's pointers are valid during the call only.
 *
 * A subscriber may publish (fan-out publishes invocation events from a job's
 * done event) and may unsubscribe itself or another subscriber during a call:
 * removed subscribers are not called again. */
#ifndef TETHER_EVENTS_H
#define TETHER_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/model.h"

enum event_kind {
	EV_JOB_OUTPUT,          /* live output of a running job (not stored) */
	EV_JOB_DONE,            /* a job is final and stored */
	EV_INVOCATION_CHILD_DONE, /* a multi-client invocation's job is final */
	EV_INVOCATION_DONE,     /* a multi-client invocation dispatches nothing more
				 * and its record is finished */
	EV_KIND_COUNT
};

#define EV_MASK(k) (1u << (k))

struct event {
	enum event_kind kind;
	const char *jid;              /* the job (not for EV_INVOCATION_DONE) */
	const char *invocation_id;    /* the multi-client invocation, or NULL */
	const char *client_id;        /* the job's client, when known */
	const char *client_name;
	enum job_status status;       /* EV_JOB_DONE, EV_INVOCATION_CHILD_DONE */
	/* EV_JOB_OUTPUT: one chunk of a stream as the agent sent it. */
	enum job_stream stream;
	const char *data;             /* text, or base64 when base64 is set */
	size_t len;
	bool base64;
	int64_t offset;               /* bytes of the stream before data; -1 unknown */
	int64_t offset_lines;         /* newlines before data; -1 unknown */
	/* EV_JOB_DONE: util_mono_ms() when this process first sent its run to
	 * the agent; 0: not sent by this process (queued, or before a restart). */
	int64_t run_sent_ms;
};

typedef void (*event_fn)(void *ud, const struct event *e);

struct events;

int events_create(struct events **out);
void events_destroy(struct events *ev);   /* NULL is a no-op */
/* Subscribes fn to the kinds in mask (EV_MASK bits). Returns 0 or TE_NOMEM. */
int events_subscribe(struct events *ev, unsigned mask, event_fn fn, void *ud);
/* Removes every subscription of (fn, ud). */
void events_unsubscribe(struct events *ev, event_fn fn, void *ud);
/* True if someone listens to kind (lets a publisher skip building it). */
bool events_wanted(const struct events *ev, enum event_kind kind);
void events_publish(struct events *ev, const struct event *e);

#endif
