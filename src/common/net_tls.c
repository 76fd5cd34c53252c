/* net_tls: the server's TLS, OpenSSL over memory BIOs (net_server.c moves
 * the bytes between the BIOs and the socket). ALPN offers http/1.1 only:
 * the server speaks no HTTP/2, and a client that asked for h2 and got it
 * would wait for frames that never come. */
#include "net_srv.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "log.h"

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	for (unsigned int i = 0; i < inlen;) {
		unsigned int n = in[i];

		if (i + 1 + n > inlen)
			break;
		if (n == 8 && !memcmp(in + i + 1, "http/1.1", 8)) {
			*out = in + i + 1;
			*outlen = 8;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + n;
	}
	/* Nothing we speak was offered: go on without ALPN (HTTP/1.1). */
	return SSL_TLSEXT_ERR_NOACK;
}

SSL_CTX *net_tls_server_ctx(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* Idle connections give their TLS buffers back. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		char why[256];

		ERR_error_string_n(ERR_get_error(), why, sizeof why);
		log_error("net: TLS certificate %s / key %s: %s", cert, key, why);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	return ctx;
}

SSL *net_tls_new(SSL_CTX *ctx)
{
	SSL *ssl = SSL_new(ctx);
	BIO *rbio, *wbio;

	if (!ssl)
		return NULL;
	rbio = BIO_new(BIO_s_mem());
	wbio = BIO_new(BIO_s_mem());
	if (!rbio || !wbio) {
		BIO_free(rbio);
		BIO_free(wbio);
		SSL_free(ssl);
		return NULL;
	}
	/* An empty read BIO means "wait for more", not end of file. */
	BIO_set_mem_eof_return(rbio, -1);
	BIO_set_mem_eof_return(wbio, -1);
	SSL_set_bio(ssl, rbio, wbio);
	SSL_set_accept_state(ssl);
	return ssl;
}

int net_tls_cert_fingerprint(const char *pem_path, char out[65])
{
	FILE *f = fopen(pem_path, "r");
	X509 *x;
	unsigned char md[32];
	unsigned int n = 0;
	int rc = -1;

	if (!f)
		return -1;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x && X509_digest(x, EVP_sha256(), md, &n) && n == 32) {
		for (unsigned int i = 0; i < 32; i++)
			snprintf(out + 2 * i, 3, "%02x", md[i]);
		rc = 0;
	}
	X509_free(x);
	return rc;
}
