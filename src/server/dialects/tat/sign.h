/* sign: TC3-HMAC-SHA256, Tencent Cloud's request signature (API 3.0).
 *
 * Pure functions (OpenSSL's HMAC and SHA-256, no server state), so the
 * signer is unit-tested against the published test vector. The server
 * verifies a request by parsing its Authorization header, rebuilding the
 * canonical request from the headers it received and the body, and
 * recomputing the signature with the key pair's secret. */
#ifndef TETHER_TAT_SIGN_H
#define TETHER_TAT_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define TAT_SIGN_ALGORITHM "TC3-HMAC-SHA256"
#define TAT_HEX_LEN 65          /* 64 hex digits and the NUL */

/* An Authorization header's parts. */
struct tat_authz {
	char secret_id[129];
	char date[11];          /* YYYY-MM-DD */
	char service[33];
	char signed_headers[513];
	char signature[TAT_HEX_LEN];
};

/* Parses "TC3-HMAC-SHA256 Credential=ID/DATE/SERVICE/tc3_request,
 * SignedHeaders=a;b, Signature=HEX". Returns 0, or -1 when it is not of
 * that form. */
int tat_authz_parse(const char *authorization, struct tat_authz *out);

/* Lower-case hex of SHA-256 of p. */
void tat_sha256_hex(const void *p, size_t n, char out[TAT_HEX_LEN]);

/* Looks a header up by its lower-case name: its value, or NULL. */
typedef const char *(*tat_header_fn)(void *ud, const char *name);

/* The canonical request of a POST to "/" with no query: every header in
 * signed_headers (";"-separated, lower case) as "name:lower(trim(value))",
 * then signed_headers and the body's hash. Returns 0 with *out filled
 * (buf_free it), TE_INVAL when signed_headers is malformed or lacks
 * content-type or host, TE_NOTFOUND when a signed header is absent, or
 * TE_NOMEM. */
int tat_canonical_request(const char *method, const char *signed_headers, tat_header_fn header,
			  void *ud, const char *body, size_t len, struct buf *out);

/* The signature of a canonical request: the string to sign from the
 * timestamp (Unix seconds as sent), date and service, then the chained
 * HMACs from secret_key. Writes lower-case hex. Returns 0 or -1. */
int tat_signature(const char *secret_key, const char *timestamp, const char *date,
		  const char *service, const char *canonical, size_t canonical_len,
		  char out[TAT_HEX_LEN]);

/* The UTC date of a Unix time, YYYY-MM-DD. */
void tat_date_of(int64_t unix_sec, char out[11]);

/* Compares two signatures in constant time (for equal lengths). */
bool tat_signature_equal(const char *a, const char *b);

#endif
