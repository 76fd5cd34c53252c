/* Unit tests for dialects/tat/sign.c: TC3-HMAC-SHA256 against Tencent
 * Cloud's published test vector, the Authorization parser and the
 * canonical request's rules. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dialects/tat/sign.h"

static const char vec_body[] = "{\"Limit\": 1, \"Filters\": [{\"Values\": [\"\\u672a\\u547d\\u540d\"], "
			       "\"Name\": \"instance-name\"}]}";
static const char vec_key[] = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";

static const char *vec_header(void *ud, const char *name)
{
	(void)ud;
	if (!strcmp(name, "content-type"))
		return "application/json; charset=utf-8";
	if (!strcmp(name, "host"))
		return "cvm.tencentcloudapi.com";
	if (!strcmp(name, "x-tc-action"))
		return "DescribeInstances";
	return NULL;
}

static void test_payload_hash(void **state)
{
	char h[TAT_HEX_LEN];

	(void)state;
	tat_sha256_hex(vec_body, strlen(vec_body), h);
	assert_string_equal(h, "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064");
}

static void test_vector_two_headers(void **state)
{
	struct buf c;
	char h[TAT_HEX_LEN], sig[TAT_HEX_LEN];

	(void)state;
	assert_int_equal(tat_canonical_request("POST", "content-type;host", vec_header, NULL,
					       vec_body, strlen(vec_body), &c), 0);
	tat_sha256_hex(c.data, c.len, h);
	assert_string_equal(h, "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031");
	assert_int_equal(tat_signature(vec_key, "1551113065", "2019-02-25", "cvm", c.data, c.len,
				       sig), 0);
	assert_string_equal(sig, "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168");
	buf_free(&c);
}

static void test_vector_with_action(void **state)
{
	struct buf c;
	char sig[TAT_HEX_LEN];

	(void)state;
	assert_int_equal(tat_canonical_request("POST", "content-type;host;x-tc-action", vec_header,
					       NULL, vec_body, strlen(vec_body), &c), 0);
	assert_non_null(strstr(c.data, "x-tc-action:describeinstances\n"));
	assert_int_equal(tat_signature(vec_key, "1551113065", "2019-02-25", "cvm", c.data, c.len,
				       sig), 0);
	assert_string_equal(sig, "644be983de9a8a3f00db8eadaba61467c3b429e2215758ba897b738ca469fd26");
	buf_free(&c);
}

static void test_canonical_rules(void **state)
{
	struct buf c;

	(void)state;
	/* content-type and host must be signed; every signed header present. */
	assert_int_equal(tat_canonical_request("POST", "host", vec_header, NULL, "", 0, &c),
			 TE_INVAL);
	assert_int_equal(tat_canonical_request("POST", "content-type;host;x-tc-nope", vec_header,
					       NULL, "", 0, &c), TE_NOTFOUND);
	assert_int_equal(tat_canonical_request("POST", "content-type;;host", vec_header, NULL, "", 0,
					       &c), TE_INVAL);
	assert_int_equal(tat_canonical_request("POST", "Content-Type;host", vec_header, NULL, "", 0,
					       &c), TE_INVAL);
	assert_int_equal(tat_canonical_request("POST", "content-type;host;", vec_header, NULL, "", 0,
					       &c), TE_INVAL);
}

static void test_authz_parse(void **state)
{
	struct tat_authz a;

	(void)state;
	assert_int_equal(tat_authz_parse("TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/"
					 "2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, "
					 "Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168",
					 &a), 0);
	assert_string_equal(a.secret_id, "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE");
	assert_string_equal(a.date, "2019-02-25");
	assert_string_equal(a.service, "cvm");
	assert_string_equal(a.signed_headers, "content-type;host");
	assert_string_equal(a.signature,
			    "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168");
	assert_int_equal(tat_authz_parse("Basic YWRtaW46Zm9vYmFy", &a), -1);
	assert_int_equal(tat_authz_parse("TC3-HMAC-SHA256 Credential=x/2019-02-25/cvm/other, "
					 "SignedHeaders=host, Signature=ab", &a), -1);
	assert_int_equal(tat_authz_parse("TC3-HMAC-SHA256 Credential=/2019-02-25/cvm/tc3_request", &a),
			 -1);
	assert_int_equal(tat_authz_parse(NULL, &a), -1);
}

static void test_date_and_compare(void **state)
{
	char d[11];

	(void)state;
	tat_date_of(1551113065, d);
	assert_string_equal(d, "2019-02-25");
	tat_date_of(0, d);
	assert_string_equal(d, "1970-01-01");
	assert_true(tat_signature_equal("abc", "abc"));
	assert_false(tat_signature_equal("abc", "abd"));
	assert_false(tat_signature_equal("abc", "abcd"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_payload_hash),
		cmocka_unit_test(test_vector_two_headers),
		cmocka_unit_test(test_vector_with_action),
		cmocka_unit_test(test_canonical_rules),
		cmocka_unit_test(test_authz_parse),
		cmocka_unit_test(test_date_and_compare),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
