/* libFuzzer harness: the HTTP request path before routing, as the server
 * drives it (src/common/net_http.c): bytes fed in pieces as if read from a
 * socket, a request's head, its body when asked for, pipelined requests,
 * every limit (URL, head, body, bodies in flight). The first byte chooses
 * the piece size and whether the owner refuses a head; the WebSocket frame
 * reader gets the rest of an upgrade. No sockets. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "net.h"
#include "net_srv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int ws_data(void *ud, const uint8_t *d, size_t n)
{
	struct buf *b = ud;

	return buf_append(b, d, n) ? 1009 : 0;
}

static int ws_end(void *ud, int opcode)
{
	(void)opcode;
	buf_reset(ud);
	return 0;
}

static int ws_control(void *ud, int opcode, const uint8_t *d, size_t n)
{
	(void)ud;
	(void)d;
	(void)n;
	return opcode == 8 ? -1 : 0;
}

static const struct net_ws_events ws_ev = { ws_end, ws_control, ws_data };

static void feed_ws(const uint8_t *d, size_t n)
{
	struct net_ws_rx rx;
	struct buf msg;
	uint8_t *copy = malloc(n ? n : 1);
	size_t used = 0;

	memset(&rx, 0, sizeof rx);
	buf_init(&msg, 4096);
	memcpy(copy, d, n);
	while (used < n) {
		size_t u;

		if (net_ws_rx_feed(&rx, copy + used, n - used, &ws_ev, &msg, &u))
			break;
		used += u;
		if (!u)
			break;
	}
	buf_free(&msg);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t in_flight = 0;
	struct net_limits lim = { 512, 1024, 2048, &in_flight, 4096 };
	struct nh h;
	size_t piece, off = 1;
	bool refuse;
	int requests = 0;

	if (size < 1)
		return 0;
	piece = (data[0] & 0x0f) + 1;
	refuse = data[0] & 0x10;
	nh_init(&h, &lim);
	while (off < size && requests < 64) {
		size_t n = size - off < piece ? size - off : piece;
		enum nh_result res;
		size_t used = nh_feed(&h, (const char *)data + off, n, &res);

		off += used;
		if (res == NH_ERROR)
			break;
		if (res == NH_HEAD) {
			net_http_req *r = h.req;
			char seg[64];

			/* What api.c reads at the head. */
			(void)net_http_path(r);
			(void)net_http_query(r, "page[limit]");
			(void)net_path_segment_decode(r->path, strlen(r->path), seg, sizeof seg);
			if (refuse && net_http_has_body(r))
				break; /* answered at its head; the connection closes */
			if (refuse) {
				/* Refused without a body: the parser goes on. */
				net_req_unreserve(r, &lim);
				net_req_free(r);
				h.req = NULL;
				nh_next(&h);
			}
		} else if (res == NH_DONE) {
			net_http_req *r = h.req;
			size_t blen;

			h.req = NULL;
			requests++;
			(void)net_http_body(r, &blen);
			if (r->is_upgrade) {
				net_req_unreserve(r, &lim);
				net_req_free(r);
				feed_ws(data + off, size - off);
				break;
			}
			net_req_unreserve(r, &lim);
			net_req_free(r);
			nh_next(&h);
		} else if (!used) {
			break;
		}
	}
	nh_release(&h);
	if (in_flight)
		__builtin_trap(); /* a body's reservation was not given back */
	return 0;
}
