/* Unit test for net_cork/net_uncork (src/common/net_server.c) over a real
 * loopback socket: between the two, a WebSocket connection's first frame
 * goes out at once and the frames after it only at net_uncork, in order;
 * a close frame sent while corked comes after the frames gathered before
 * it. A loopback write is in the peer's receive queue when it returns, so
 * the client reads with MSG_DONTWAIT: what it finds is what was written. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net.h"
#include "util.h"

static net_conn *opened;
static int closes;

static void on_open(void *ud, net_conn *c)
{
	(void)ud;
	opened = c;
}

static void on_message(void *ud, net_conn *c, const char *data, size_t len)
{
	(void)ud;
	(void)c;
	(void)data;
	(void)len;
}

static void on_close(void *ud, net_conn *c, const char *reason)
{
	(void)ud;
	(void)c;
	(void)reason;
	closes++;
	opened = NULL;
}

static const struct net_callbacks cbs = {
	.ws_open = on_open,
	.ws_message = on_message,
	.ws_close = on_close,
};

/* Turns the loop until *flag is set (at most 10 s). */
static void run_until(uv_loop_t *loop, bool (*done)(void))
{
	time_t end = time(NULL) + 10;

	while (!done() && time(NULL) < end)
		uv_run(loop, UV_RUN_NOWAIT);
	assert_true(done());
}

static bool is_open(void) { return opened != NULL; }
static bool is_closed(void) { return closes > 0; }

/* What the socket holds now (no wait). */
static size_t take(int fd, char *out, size_t cap)
{
	size_t n = 0;

	for (;;) {
		ssize_t r = recv(fd, out + n, cap - n, MSG_DONTWAIT);

		if (r <= 0)
			break;
		n += (size_t)r;
	}
	return n;
}

/* The text frames in b (unmasked, short), joined with '|'; a close frame
 * shows as "#close". */
static void frames(const char *b, size_t n, char *out, size_t cap)
{
	size_t i = 0;

	out[0] = '\0';
	while (i + 2 <= n) {
		unsigned op = (unsigned char)b[i] & 0x0f, len = (unsigned char)b[i + 1] & 0x7f;

		if (out[0])
			util_strlcpy(out + strlen(out), "|", cap - strlen(out));
		if (op == 8)
			util_strlcpy(out + strlen(out), "#close", cap - strlen(out));
		else
			snprintf(out + strlen(out), cap - strlen(out), "%.*s", (int)len, b + i + 2);
		i += 2 + len;
	}
}

static void test_cork_gathers_after_the_first_frame(void **state)
{
	uv_loop_t loop;
	net_ctx *ctx;
	net_listener *l;
	struct net_listen_cfg cfg = { 0 };
	struct sockaddr_in a = { 0 };
	const char *hs = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			 "Sec-WebSocket-Version: 13\r\n\r\n";
	char b[4096] = "", f[256];
	size_t n = 0;
	int fd;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	ctx = net_ctx_create(&loop, 1000, false);
	assert_non_null(ctx);
	cfg.host = "127.0.0.1";
	cfg.port = 0;
	cfg.max_body = 1024;
	cfg.max_ws_message = 1024;
	cfg.max_ws_queue = 1024 * 1024;
	cfg.cb = &cbs;
	l = net_listen(ctx, &cfg);
	assert_non_null(l);

	fd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)net_listener_port(l));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(write(fd, hs, strlen(hs)), (ssize_t)strlen(hs));
	run_until(&loop, is_open);
	/* the 101 */
	while (!strstr(b, "\r\n\r\n") && n < sizeof b - 1) {
		struct pollfd p = { fd, POLLIN, 0 };

		assert_int_equal(poll(&p, 1, 10000), 1);
		n += take(fd, b + n, sizeof b - 1 - n);
		b[n] = '\0';
	}
	assert_non_null(strstr(b, "101 Switching Protocols"));
	assert_int_equal(strlen(strstr(b, "\r\n\r\n")), 4);

	/* corked: the first frame at once, the others at the uncork */
	net_cork(ctx);
	assert_int_equal(net_ws_send(opened, "one", 3), 0);
	assert_int_equal(net_ws_send(opened, "two", 3), 0);
	assert_int_equal(net_ws_send(opened, "three", 5), 0);
	n = take(fd, b, sizeof b);
	frames(b, n, f, sizeof f);
	assert_string_equal(f, "one");
	net_cork(ctx);   /* nested: only the outermost uncork writes */
	net_uncork(ctx);
	assert_int_equal(take(fd, b, sizeof b), 0);
	net_uncork(ctx);
	n = take(fd, b, sizeof b);
	frames(b, n, f, sizeof f);
	assert_string_equal(f, "two|three");

	/* uncorked: each frame at once */
	assert_int_equal(net_ws_send(opened, "four", 4), 0);
	n = take(fd, b, sizeof b);
	frames(b, n, f, sizeof f);
	assert_string_equal(f, "four");

	/* a close while corked: after what was gathered before it */
	net_cork(ctx);
	assert_int_equal(net_ws_send(opened, "five", 4), 0);
	assert_int_equal(net_ws_send(opened, "six", 3), 0);
	net_ws_close(opened, 1000, "");
	n = take(fd, b, sizeof b);
	frames(b, n, f, sizeof f);
	assert_string_equal(f, "five|six|#close");
	net_uncork(ctx);
	assert_int_equal(take(fd, b, sizeof b), 0);

	/* the peer answers the close; the connection ends */
	{
		const char close_frame[] = { (char)0x88, (char)0x82, 0, 0, 0, 0, 0x03, (char)0xe8 };

		assert_int_equal(write(fd, close_frame, sizeof close_frame),
				 (ssize_t)sizeof close_frame);
	}
	run_until(&loop, is_closed);
	close(fd);
	net_ctx_destroy(ctx);
	uv_run(&loop, UV_RUN_DEFAULT);
	net_ctx_free(ctx);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cork_gathers_after_the_first_frame),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
