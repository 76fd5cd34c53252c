/* metrics_face: GET /metrics (Prometheus' text format; core/metrics.h). */
#ifndef TETHER_METRICS_FACE_H
#define TETHER_METRICS_FACE_H

#include "http/face.h"

extern const struct http_face metrics_face;

/* The callbacks of the [metrics] address listener (its ud: the struct
 * server): GET /metrics as on the API listener, 404 for anything else. */
const struct net_callbacks *metrics_listener_callbacks(void);

#endif
