/* enroll: agent enrollment codes.
 *
 * An administrator creates a code; an agent proves it once over the agent
 * listener and receives a credential of its own (a random password bound
 * to its client id, kept by the server only as a salted digest, as every
 * client credential). A code is "<id>.<secret>": the store keeps the id
 * and a digest of the secret, never the secret. Codes expire, are used up
 * (max_uses, 0 for no limit) or revoked; they may fix a pattern the client
 * id must match and the tags and labels enrolled agents get. */
#include "auth/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <jansson.h>
#include <sodium.h>

#include "auth/auth_priv.h"
#include "store/store.h"
#include "util.h"

#define ENROLL_SECRET_BYTES 32
#define ENROLL_MAX_PATTERN 256

static void enroll_load_cb(void *ud, const char *id, json_t *rec)
{
	struct auth *a = ud;

	json_object_set(a->enroll_codes, id, rec);
}

void auth_enroll_load(struct auth *a)
{
	if (a->store)
		store_kv_each(a->store, "enroll_codes", enroll_load_cb, a);
}

static void secret_digest(const char *secret, char hex[2 * DIGEST_LEN + 1])
{
	unsigned char d[DIGEST_LEN];

	crypto_generichash(d, sizeof d, (const unsigned char *)secret, strlen(secret), NULL, 0);
	sodium_bin2hex(hex, 2 * DIGEST_LEN + 1, d, sizeof d);
}

static int persist(struct auth *a, const char *id, json_t *rec)
{
	return auth_store_write(a, AUTH_REC_ENROLL, id, json_deep_copy(rec));
}

/* Does the whole of s match the expression? -1: the expression is bad. */
static int pattern_match(const char *pattern, const char *s, char *err, size_t errlen)
{
	int ec, rc;
	PCRE2_SIZE off;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
				       PCRE2_ANCHORED | PCRE2_ENDANCHORED, &ec, &off, NULL);
	pcre2_match_data *md;

	if (!re) {
		PCRE2_UCHAR msg[120];

		pcre2_get_error_message(ec, msg, sizeof msg);
		snprintf(err, errlen, "%.100s at offset %zu", (const char *)msg, (size_t)off);
		return -1;
	}
	if (!s) {
		pcre2_code_free(re);
		return 0;
	}
	md = pcre2_match_data_create_from_pattern(re, NULL);
	rc = md ? pcre2_match(re, (PCRE2_SPTR)s, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL) : -1;
	pcre2_match_data_free(md);
	pcre2_code_free(re);
	return rc >= 0;
}

int auth_enroll_check_pattern(const char *pattern, char *err, size_t errlen)
{
	if (strlen(pattern) > ENROLL_MAX_PATTERN) {
		snprintf(err, errlen, "longer than %d characters", ENROLL_MAX_PATTERN);
		return -1;
	}
	return pattern_match(pattern, NULL, err, errlen) < 0 ? -1 : 0;
}

/* The record as the API shows it: everything but the digest. */
static json_t *public_rec(const json_t *rec)
{
	json_t *o = json_deep_copy(rec);

	json_object_del(o, "digest");
	return o;
}

int auth_enroll_create(struct auth *a, const struct enroll_spec *spec, char **code,
		       json_t **shown)
{
	unsigned char rid[5], sec[ENROLL_SECRET_BYTES];
	char id[16], secret[sodium_base64_ENCODED_LEN(ENROLL_SECRET_BYTES,
						       sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
	char dig[2 * DIGEST_LEN + 1];
	int64_t now = util_now_ns() / 1000000000;
	json_t *rec;

	randombytes_buf(rid, sizeof rid);
	snprintf(id, sizeof id, "ec");
	sodium_bin2hex(id + 2, sizeof id - 2, rid, sizeof rid);
	randombytes_buf(sec, sizeof sec);
	sodium_bin2base64(secret, sizeof secret, sec, sizeof sec,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(sec, sizeof sec);
	secret_digest(secret, dig);
	rec = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:b, s:s?, s:O, s:O, s:[]}", "id", id,
			"digest", dig, "created_by", spec->created_by, "created_at", (json_int_t)now,
			"expires_at", (json_int_t)(now + spec->expires_in_sec), "max_uses",
			(json_int_t)spec->max_uses, "uses", (json_int_t)0, "revoked", 0,
			"id_pattern", spec->id_pattern && *spec->id_pattern ? spec->id_pattern : NULL,
			"tags", spec->tags ? spec->tags : json_array(), "labels",
			spec->labels ? spec->labels : json_object(), "enrolled");
	if (!rec)
		return TE_NOMEM;
	if (!spec->tags)
		json_decref(json_object_get(rec, "tags"));
	if (!spec->labels)
		json_decref(json_object_get(rec, "labels"));
	size_t codelen = strlen(id) + 1 + strlen(secret) + 1;

	*code = malloc(codelen);
	if (!*code || persist(a, id, rec)) {
		free(*code);
		json_decref(rec);
		return TE_NOMEM;
	}
	snprintf(*code, codelen, "%s.%s", id, secret);
	sodium_memzero(secret, sizeof secret);
	json_object_set(a->enroll_codes, id, rec);
	*shown = public_rec(rec);
	json_decref(rec);
	return 0;
}

json_t *auth_enroll_list(struct auth *a)
{
	json_t *out = json_array(), *v;
	const char *k;

	json_object_foreach(a->enroll_codes, k, v)
		json_array_append_new(out, public_rec(v));
	return out;
}

int auth_enroll_revoke(struct auth *a, const char *id)
{
	json_t *rec = json_object_get(a->enroll_codes, id);

	if (!rec)
		return TE_NOTFOUND;
	json_object_set_new(rec, "revoked", json_true());
	return persist(a, id, rec);
}

/* Is the client id one an agent may have? (The hub's own rule is checked
 * again at its hello; this keeps a code from minting odd credentials.) */
static bool id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > 128)
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
			return false;
	return true;
}

enum enroll_result auth_enroll_use(struct auth *a, const char *code, const char *client_id,
				   char *password, size_t pwlen, json_t **rec_out)
{
	char id[32], dig[2 * DIGEST_LEN + 1], err[160];
	const char *dot = code ? strchr(code, '.') : NULL, *secret;
	json_t *rec;
	unsigned char sec[ENROLL_SECRET_BYTES];
	int64_t now = util_now_ns() / 1000000000;
	json_int_t max_uses, uses;
	const char *pat, *want;

	*rec_out = NULL;
	if (!dot || (size_t)(dot - code) >= sizeof id)
		return ENROLL_BAD_CODE;
	memcpy(id, code, (size_t)(dot - code));
	id[dot - code] = '\0';
	secret = dot + 1;
	/* A code may carry the server's fingerprint after the secret. */
	{
		const char *end = strchr(secret, '.');
		char s[96];
		size_t n = end ? (size_t)(end - secret) : strlen(secret);

		if (n >= sizeof s)
			return ENROLL_BAD_CODE;
		memcpy(s, secret, n);
		s[n] = '\0';
		secret_digest(s, dig);
		sodium_memzero(s, sizeof s);
	}
	rec = json_object_get(a->enroll_codes, id);
	want = rec ? json_string_value(json_object_get(rec, "digest")) : NULL;
	if (!want || strlen(want) != strlen(dig) ||
	    sodium_memcmp(want, dig, strlen(dig)) != 0)
		return ENROLL_BAD_CODE;
	*rec_out = rec;
	if (json_is_true(json_object_get(rec, "revoked")))
		return ENROLL_REVOKED;
	if (now >= json_integer_value(json_object_get(rec, "expires_at")))
		return ENROLL_EXPIRED;
	max_uses = json_integer_value(json_object_get(rec, "max_uses"));
	uses = json_integer_value(json_object_get(rec, "uses"));
	if (max_uses && uses >= max_uses)
		return ENROLL_USED_UP;
	if (!client_id || !id_ok(client_id))
		return ENROLL_BAD_ID;
	pat = json_string_value(json_object_get(rec, "id_pattern"));
	if (pat && pattern_match(pat, client_id, err, sizeof err) != 1)
		return ENROLL_ID_NOT_ALLOWED;
	if (auth_agent_cred_exists(a, client_id))
		return ENROLL_ID_TAKEN;
	randombytes_buf(sec, sizeof sec);
	if (pwlen < sodium_base64_ENCODED_LEN(sizeof sec, sodium_base64_VARIANT_URLSAFE_NO_PADDING))
		return ENROLL_FAILED;
	sodium_bin2base64(password, pwlen, sec, sizeof sec,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(sec, sizeof sec);
	if (auth_cred_add(a, client_id, password)) {
		sodium_memzero(password, pwlen);
		return ENROLL_FAILED;
	}
	json_object_set_new(rec, "uses", json_integer(uses + 1));
	json_array_append_new(json_object_get(rec, "enrolled"), json_string(client_id));
	persist(a, id, rec);
	return ENROLL_OK;
}

const char *auth_enroll_result_text(enum enroll_result r)
{
	switch (r) {
	case ENROLL_OK: return "enrolled";
	case ENROLL_BAD_CODE: return "the enrollment code is not valid";
	case ENROLL_REVOKED: return "the enrollment code is revoked";
	case ENROLL_EXPIRED: return "the enrollment code has expired";
	case ENROLL_USED_UP: return "the enrollment code is used up";
	case ENROLL_BAD_ID: return "the client id must be 1 to 128 letters, digits, '-', '_' or '.'";
	case ENROLL_ID_NOT_ALLOWED: return "the enrollment code does not allow this client id";
	case ENROLL_ID_TAKEN: return "a credential for this client id exists already";
	case ENROLL_FAILED: return "the credential could not be made";
	}
	return "?";
}
