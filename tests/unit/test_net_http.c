/* Unit tests for src/common/net_http.c and net_ws.c: the request reader
 * (pipelining, chunked bodies, every limit and its status), path segment
 * and query decoding, WebSocket frames and the accept key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "net_srv.h"

static size_t in_flight;
static struct net_limits lim = { 64, 256, 100, &in_flight, 150 };

/* Feeds s whole; returns the result and the request (taken) or the error. */
static enum nh_result feed(struct nh *h, const char *s, size_t *used)
{
	enum nh_result res;

	*used = nh_feed(h, s, strlen(s), &res);
	return res;
}

static void test_pipelined_requests_one_at_a_time(void **state)
{
	const char *in = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
			 "POST /b?x=1%20y&z=a+b HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}";
	struct nh h;
	enum nh_result res;
	size_t used, off = 0;
	net_http_req *r;

	(void)state;
	nh_init(&h, &lim);
	res = feed(&h, in, &used);
	assert_int_equal(res, NH_HEAD);
	assert_string_equal(net_http_path(h.req), "/a");
	off += used;
	used = nh_feed(&h, in + off, strlen(in + off), &res);
	assert_int_equal(res, NH_DONE);
	off += used;
	r = h.req;
	h.req = NULL;
	net_req_free(r);
	nh_next(&h);
	used = nh_feed(&h, in + off, strlen(in + off), &res);
	assert_int_equal(res, NH_HEAD);
	assert_string_equal(net_http_method(h.req), "POST");
	assert_string_equal(net_http_query(h.req, "x"), "1 y");
	assert_string_equal(net_http_query(h.req, "z"), "a b");
	off += used;
	used = nh_feed(&h, in + off, strlen(in + off), &res);
	assert_int_equal(res, NH_DONE);
	{
		size_t bl;

		assert_memory_equal(net_http_body(h.req, &bl), "{}", 2);
		assert_int_equal(bl, 2);
	}
	assert_int_equal(in_flight, 2);
	net_req_unreserve(h.req, &lim);
	assert_int_equal(in_flight, 0);
	nh_release(&h);
}

static void test_chunked_body_and_trailer(void **state)
{
	const char *in = "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
			 "3\r\nabc\r\n2\r\nde\r\n0\r\nAuthorization: sneaky\r\n\r\n";
	struct nh h;
	enum nh_result res;
	size_t used, bl;

	(void)state;
	nh_init(&h, &lim);
	used = nh_feed(&h, in, strlen(in), &res);
	assert_int_equal(res, NH_HEAD);
	nh_feed(&h, in + used, strlen(in + used), &res);
	assert_int_equal(res, NH_DONE);
	assert_memory_equal(net_http_body(h.req, &bl), "abcde", 5);
	/* A trailer never becomes a header. */
	assert_null(net_http_authorization(h.req));
	net_req_unreserve(h.req, &lim);
	nh_release(&h);
}

static int error_of(const char *in)
{
	struct nh h;
	enum nh_result res;
	size_t used, n = strlen(in);
	int status = 0;

	nh_init(&h, &lim);
	used = nh_feed(&h, in, n, &res);
	while (res == NH_HEAD && used < n) {
		size_t u = nh_feed(&h, in + used, n - used, &res);

		if (!u)
			break;
		used += u;
	}
	if (res == NH_ERROR)
		status = h.err.status;
	nh_release(&h);
	return status;
}

static void test_limits_and_malformed_requests(void **state)
{
	char big[400];

	(void)state;
	assert_int_equal(error_of("POST / HTTP/1.1\r\nContent-Length: 2\r\n"
				  "Transfer-Encoding: chunked\r\n\r\n"), 400);
	assert_int_equal(error_of("POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n"), 413);
	assert_int_equal(error_of("FOO / HTTP/1.1\r\n\r\n"), 501);
	assert_int_equal(error_of("GET / HTTP/9\r\n\r\n"), 400);
	assert_int_equal(error_of("GET http://h/ HTTP/1.1\r\n\r\n"), 400);
	assert_int_equal(error_of("CONNECT h:1 HTTP/1.1\r\n\r\n"), 405);
	assert_int_equal(error_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
	assert_int_equal(error_of("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), 501);
	memset(big, 'a', sizeof big);
	big[sizeof big - 1] = '\0';
	{
		char req[600];

		snprintf(req, sizeof req, "GET /%.100s HTTP/1.1\r\n\r\n", big);
		assert_int_equal(error_of(req), 414);
		snprintf(req, sizeof req, "GET / HTTP/1.1\r\nX: %s\r\n\r\n", big);
		assert_int_equal(error_of(req), 431);
	}
	/* Chunks past the body cap. */
	assert_int_equal(error_of("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				  "65\r\n"), 0);
	{
		char req[400] = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n";

		memset(req + strlen(req), 'x', 101);
		assert_int_equal(error_of(req), 413);
	}
	assert_int_equal(in_flight, 0);
}

static void test_bodies_in_flight_budget(void **state)
{
	struct nh a, b;
	enum nh_result res;
	const char *in = "POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nx";
	size_t used;

	(void)state;
	nh_init(&a, &lim);
	nh_init(&b, &lim);
	used = nh_feed(&a, in, strlen(in), &res);
	assert_int_equal(res, NH_HEAD);
	nh_feed(&a, in + used, strlen(in + used), &res);
	assert_int_equal(in_flight, 100);
	used = nh_feed(&b, in, strlen(in), &res);
	nh_feed(&b, in + used, strlen(in + used), &res);
	assert_int_equal(res, NH_ERROR);
	assert_int_equal(b.err.status, 503);
	nh_release(&a);
	nh_release(&b);
	assert_int_equal(in_flight, 0);
}

static void test_path_segments(void **state)
{
	char out[32];

	(void)state;
	assert_int_equal(net_path_segment_decode("a%20b", 5, out, sizeof out), 3);
	assert_string_equal(out, "a b");
	assert_int_equal(net_path_segment_decode("..", 2, out, sizeof out), TE_INVAL);
	assert_int_equal(net_path_segment_decode("%2e%2E", 6, out, sizeof out), TE_INVAL);
	assert_int_equal(net_path_segment_decode(".", 1, out, sizeof out), TE_INVAL);
	assert_int_equal(net_path_segment_decode("%00", 3, out, sizeof out), TE_INVAL);
	assert_int_equal(net_path_segment_decode("%zz", 3, out, sizeof out), TE_INVAL);
	assert_int_equal(net_path_segment_decode("ab%2", 4, out, sizeof out), TE_INVAL);
	assert_int_equal(net_path_segment_decode("..%2f..", 7, out, sizeof out), 5);
	assert_string_equal(out, "../..");
	assert_int_equal(net_path_segment_decode("abcdef", 6, out, 4), TE_TOOBIG);
}

static int msgs, last_op;
static struct buf msgbuf;

static int ev_data(void *ud, const uint8_t *d, size_t n)
{
	(void)ud;
	return buf_append(&msgbuf, d, n) ? 1009 : 0;
}

static int ev_end(void *ud, int op)
{
	(void)ud;
	msgs++;
	last_op = op;
	return 0;
}

static int ev_control(void *ud, int op, const uint8_t *d, size_t n)
{
	(void)ud;
	(void)d;
	(void)n;
	last_op = op;
	return 0;
}

static const struct net_ws_events ev = { ev_end, ev_control, ev_data };

static void test_any_header_by_name(void **state)
{
	const char *in = "POST / HTTP/1.1\r\nHost: h:1\r\nX-TC-Action:  RunCommand \r\n"
			 "kbn-xsrf: true\r\nX-Twice: a\r\nx-twice: b\r\nContent-Length: 0\r\n\r\n";
	struct nh h;
	size_t used;
	const char *v, *name;

	(void)state;
	nh_init(&h, &lim);
	assert_int_equal(feed(&h, in, &used), NH_HEAD);
	assert_string_equal(net_http_header(h.req, "x-tc-action"), "RunCommand");
	assert_string_equal(net_http_header(h.req, "KBN-XSRF"), "true");
	assert_string_equal(net_http_header(h.req, "host"), "h:1");
	assert_string_equal(net_http_header(h.req, "x-twice"), "a");
	assert_null(net_http_header(h.req, "x-missing"));
	assert_int_equal(net_http_header_count(h.req), 6);
	name = net_http_header_at(h.req, 1, &v);
	assert_string_equal(name, "x-tc-action");
	assert_string_equal(v, "RunCommand");
	assert_null(net_http_header_at(h.req, 6, &v));
	nh_release(&h);
}

static void test_too_many_headers(void **state)
{
	char in[4096] = "GET / HTTP/1.1\r\n";
	struct nh h;
	size_t used;

	(void)state;
	for (int i = 0; i < 101; i++)
		snprintf(in + strlen(in), sizeof in - strlen(in), "a%d: b\r\n", i);
	strcat(in, "\r\n");
	{
		struct net_limits big = lim;

		big.max_header = 8192;
		nh_init(&h, &big);
		assert_int_equal(feed(&h, in, &used), NH_ERROR);
		assert_int_equal(h.err.status, 431);
		nh_release(&h);
	}
}

static void test_ws_frames(void **state)
{
	/* RFC 6455 5.7: a masked "Hello", then a fragmented "Hel" "lo" with a
	 * ping between the fragments. */
	uint8_t one[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	uint8_t frag[] = { 0x01, 0x83, 0, 0, 0, 0, 'H', 'e', 'l', 0x89, 0x80, 0, 0, 0, 0,
			   0x80, 0x82, 0, 0, 0, 0, 'l', 'o' };
	uint8_t unmasked[] = { 0x81, 0x01, 'x' };
	uint8_t cont[] = { 0x80, 0x80, 0, 0, 0, 0 };
	struct net_ws_rx rx;
	size_t used;

	(void)state;
	buf_init(&msgbuf, 16);
	memset(&rx, 0, sizeof rx);
	/* Byte by byte: a header split anywhere. */
	for (size_t i = 0; i < sizeof one; i++)
		assert_int_equal(net_ws_rx_feed(&rx, one + i, 1, &ev, NULL, &used), 0);
	assert_int_equal(msgs, 1);
	assert_memory_equal(msgbuf.data, "Hello", 5);
	buf_reset(&msgbuf);
	assert_int_equal(net_ws_rx_feed(&rx, frag, sizeof frag, &ev, NULL, &used), 0);
	assert_int_equal(msgs, 2);
	assert_memory_equal(msgbuf.data, "Hello", 5);
	memset(&rx, 0, sizeof rx);
	assert_int_equal(net_ws_rx_feed(&rx, unmasked, sizeof unmasked, &ev, NULL, &used), 1002);
	memset(&rx, 0, sizeof rx);
	assert_int_equal(net_ws_rx_feed(&rx, cont, sizeof cont, &ev, NULL, &used), 1002);
	buf_free(&msgbuf);
}

static void test_ws_accept_key(void **state)
{
	char out[29];

	(void)state;
	assert_int_equal(net_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined_requests_one_at_a_time),
		cmocka_unit_test(test_chunked_body_and_trailer),
		cmocka_unit_test(test_limits_and_malformed_requests),
		cmocka_unit_test(test_bodies_in_flight_budget),
		cmocka_unit_test(test_path_segments),
		cmocka_unit_test(test_any_header_by_name),
		cmocka_unit_test(test_too_many_headers),
		cmocka_unit_test(test_ws_frames),
		cmocka_unit_test(test_ws_accept_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
