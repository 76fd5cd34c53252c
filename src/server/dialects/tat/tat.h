/* tat: the Tencent Cloud TAT dialect (API version 2020-10-28).
 *
 * A face of the API listener (http/face.h): it claims POST / requests that
 * carry TAT's X-TC-* headers or a TC3-HMAC-SHA256 Authorization, verifies
 * the signature against a key pair bound to a tether user, and maps each
 * action onto the core (RunCommand is a multi-client invocation). Answers
 * are {"Response": {..., "RequestId"}} with HTTP 200, errors included, as
 * Tencent Cloud gives them. See docs/api-tat.md. */
#ifndef TETHER_TAT_H
#define TETHER_TAT_H

#include "http/face.h"

struct server;
struct tat;

extern const struct http_face tat_face;

/* The dialect's state (per-action rate limits). Returns 0 or TE_NOMEM. */
int tat_create(struct server *srv, struct tat **out);
void tat_destroy(struct tat *t);   /* NULL is a no-op */

#endif
