/* api_wait: ?wait=<sec> on the GET of a job or a multi-client job: the
 * answer comes when it is final (or when the wait ends). */
#ifndef TETHER_RPORT_API_WAIT_H
#define TETHER_RPORT_API_WAIT_H

#include <stddef.h>

#include "dialects/rport/api.h"

#define API_WAIT_MAX_SEC 60

/* The request's wait in seconds (0 when absent, and always 0 for a call
 * that waited already). Bad values are answered 400 and return -1. */
int api_wait_param(struct api_call *call, int *sec);
/* Holds the call until the job or invocation id is done (the core's
 * EV_JOB_DONE / EV_INVOCATION_DONE) or sec seconds pass, then calls
 * again(call) with call->waited set; again answers it. With sec 0 (or no
 * room: 4,096 held requests) again runs at once. */
void api_wait_hold(struct api_call *call, const char *id, int sec, api_handler again);
/* Answers every held request (the server stops) and takes no new ones. */
void api_wait_stop(void);
size_t api_wait_held(void);

#endif
