/* sign: TC3-HMAC-SHA256 (see sign.h). */
#include "dialects/tat/sign.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

static void hex_of(const unsigned char *d, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = '\0';
}

void tat_sha256_hex(const void *p, size_t n, char out[TAT_HEX_LEN])
{
	unsigned char d[SHA256_DIGEST_LENGTH];

	SHA256(p, n, d);
	hex_of(d, sizeof d, out);
}

/* Copies the text after "key=" up to a ',' (trimmed) into out. */
static int authz_field(const char *s, const char *key, char *out, size_t outlen)
{
	const char *p = strstr(s, key), *end;
	size_t n;

	if (!p)
		return -1;
	p += strlen(key);
	end = strchr(p, ',');
	if (!end)
		end = p + strlen(p);
	while (end > p && isspace((unsigned char)end[-1]))
		end--;
	n = (size_t)(end - p);
	if (n == 0 || n >= outlen)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

int tat_authz_parse(const char *authorization, struct tat_authz *out)
{
	static const char alg[] = TAT_SIGN_ALGORITHM " ";
	char cred[300], *p, *q;
	size_t n;

	memset(out, 0, sizeof *out);
	if (!authorization || strncmp(authorization, alg, sizeof alg - 1))
		return -1;
	authorization += sizeof alg - 1;
	if (authz_field(authorization, "Credential=", cred, sizeof cred) ||
	    authz_field(authorization, "SignedHeaders=", out->signed_headers,
			sizeof out->signed_headers) ||
	    authz_field(authorization, "Signature=", out->signature, sizeof out->signature))
		return -1;
	/* ID/DATE/SERVICE/tc3_request */
	p = strchr(cred, '/');
	if (!p || (size_t)(p - cred) >= sizeof out->secret_id || p == cred)
		return -1;
	memcpy(out->secret_id, cred, (size_t)(p - cred));
	q = strchr(++p, '/');
	if (!q || q - p != 10)
		return -1;
	memcpy(out->date, p, 10);
	p = q + 1;
	q = strchr(p, '/');
	n = q ? (size_t)(q - p) : 0;
	if (!q || n == 0 || n >= sizeof out->service || strcmp(q + 1, "tc3_request"))
		return -1;
	memcpy(out->service, p, n);
	if (strlen(out->signature) != 64)
		return -1;
	return 0;
}

int tat_canonical_request(const char *method, const char *signed_headers, tat_header_fn header,
			  void *ud, const char *body, size_t len, struct buf *out)
{
	char name[128], hash[TAT_HEX_LEN];
	const char *p = signed_headers;
	bool has_ct = false, has_host = false;
	int rc;

	buf_init(out, 64 * 1024);
	if ((rc = buf_appendf(out, "%s\n/\n\n", method)))
		goto fail;
	while (*p) {
		const char *end = strchr(p, ';'), *v, *ve;
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n == 0 || n >= sizeof name) {
			rc = TE_INVAL;
			goto fail;
		}
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)p[i];

			if (!(islower(c) || isdigit(c) || c == '-' || c == '_')) {
				rc = TE_INVAL;
				goto fail;
			}
			name[i] = (char)c;
		}
		name[n] = '\0';
		has_ct |= !strcmp(name, "content-type");
		has_host |= !strcmp(name, "host");
		v = header(ud, name);
		if (!v) {
			rc = TE_NOTFOUND;
			goto fail;
		}
		while (isspace((unsigned char)*v))
			v++;
		ve = v + strlen(v);
		while (ve > v && isspace((unsigned char)ve[-1]))
			ve--;
		if ((rc = buf_appendf(out, "%s:", name)))
			goto fail;
		for (; v < ve; v++) {
			char c = (char)tolower((unsigned char)*v);

			if ((rc = buf_append(out, &c, 1)))
				goto fail;
		}
		if ((rc = buf_append(out, "\n", 1)))
			goto fail;
		p += n;
		if (*p == ';')
			p++;
		if (end && !*p) {
			rc = TE_INVAL;
			goto fail;
		}
	}
	if (!has_ct || !has_host) {
		rc = TE_INVAL;
		goto fail;
	}
	tat_sha256_hex(body ? body : "", body ? len : 0, hash);
	if ((rc = buf_appendf(out, "\n%s\n%s", signed_headers, hash)))
		goto fail;
	return 0;
fail:
	buf_free(out);
	return rc == TE_TOOBIG ? TE_INVAL : rc;
}

static int hmac(const void *key, size_t klen, const char *msg, size_t mlen,
		unsigned char out[SHA256_DIGEST_LENGTH])
{
	unsigned int n = 0;

	if (!HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, mlen, out, &n) ||
	    n != SHA256_DIGEST_LENGTH)
		return -1;
	return 0;
}

int tat_signature(const char *secret_key, const char *timestamp, const char *date,
		  const char *service, const char *canonical, size_t canonical_len,
		  char out[TAT_HEX_LEN])
{
	unsigned char kd[SHA256_DIGEST_LENGTH], ks[SHA256_DIGEST_LENGTH];
	unsigned char k[SHA256_DIGEST_LENGTH], sig[SHA256_DIGEST_LENGTH];
	char key[300], sts[512], chash[TAT_HEX_LEN];
	int kn, sn;

	kn = snprintf(key, sizeof key, "TC3%s", secret_key);
	if (kn < 0 || (size_t)kn >= sizeof key)
		return -1;
	tat_sha256_hex(canonical, canonical_len, chash);
	sn = snprintf(sts, sizeof sts, "%s\n%s\n%s/%s/tc3_request\n%s", TAT_SIGN_ALGORITHM,
		      timestamp, date, service, chash);
	if (sn < 0 || (size_t)sn >= sizeof sts)
		return -1;
	if (hmac(key, (size_t)kn, date, strlen(date), kd) ||
	    hmac(kd, sizeof kd, service, strlen(service), ks) ||
	    hmac(ks, sizeof ks, "tc3_request", 11, k) || hmac(k, sizeof k, sts, (size_t)sn, sig)) {
		OPENSSL_cleanse(key, sizeof key);
		return -1;
	}
	OPENSSL_cleanse(key, sizeof key);
	OPENSSL_cleanse(kd, sizeof kd);
	OPENSSL_cleanse(ks, sizeof ks);
	OPENSSL_cleanse(k, sizeof k);
	hex_of(sig, sizeof sig, out);
	return 0;
}

void tat_date_of(int64_t unix_sec, char out[11])
{
	time_t t = (time_t)unix_sec;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(out, 11, "%Y-%m-%d", &tm) != 10)
		snprintf(out, 11, "0000-00-00");
}

bool tat_signature_equal(const char *a, const char *b)
{
	size_t n = strlen(a);

	if (n != strlen(b))
		return false;
	return CRYPTO_memcmp(a, b, n) == 0;
}
