/* metrics_face: GET /metrics (Prometheus' text format; core/metrics.h). */
#ifndef TETHER_METRICS_FACE_H
#define TETHER_METRICS_FACE_H

#include "http/face.h"

extern const struct http_face metrics_face;

#endif
