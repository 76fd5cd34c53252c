/* health: /healthz and /readyz on the API listener, the only routes
 * answered without credentials (besides the console's static files).
 *
 * GET or HEAD /healthz: 200 while the process serves requests.
 * GET or HEAD /readyz: 200 when the store accepts a commit and both
 * listeners are open, else 503 with which one is not; during shutdown 503.
 * Neither says anything else (no version, no counts). */
#ifndef TETHER_HEALTH_H
#define TETHER_HEALTH_H

#include <stdbool.h>

#include "http/face.h"

struct server;

extern const struct http_face health_face;

/* Marks the server as stopping: /readyz answers 503 from then on. */
void health_stopping(void);

#endif
