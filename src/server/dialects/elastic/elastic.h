/* elastic: the Elastic Defend dialect (Kibana's response actions API,
 * /api/endpoint/...) on the API listener, over the core. See
 * docs/api-elastic.md. */
#ifndef TETHER_ELASTIC_H
#define TETHER_ELASTIC_H

#include "http/face.h"

/* The face front.c asks: it claims /api/endpoint/... and Kibana's API key
 * route /api/security/api_key. */
extern const struct http_face elastic_face;

#endif
