/* wsc: the CLI's WebSocket client over a libcurl connection (see wsc.h). */
#include "wsc.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "util.h"

#define WSC_MAX_MESSAGE (64 * 1024 * 1024)
#define WSC_MAX_HEADER (64 * 1024)
#define WSC_MAX_ERROR_BODY (1024 * 1024)
#define WSC_IO_TIMEOUT_MS 30000
#define WSC_PING_MS 15000      /* a ping when the server has been quiet this long */
#define WSC_DEAD_MS 45000      /* nothing at all (not even a pong) this long: lost */
#define WSC_CLOSE_WAIT_MS 2000

enum { OP_CONT = 0x0, OP_TEXT = 0x1, OP_BINARY = 0x2, OP_CLOSE = 0x8, OP_PING = 0x9,
       OP_PONG = 0xA };

struct wsc {
	CURL *h;
	curl_socket_t fd;
	uv_poll_t poll;
	uv_timer_t timer;
	const struct wsc_callbacks *cb;
	void *ud;
	struct buf rx;           /* bytes read, not yet parsed */
	struct buf msg;          /* the message being reassembled */
	bool in_message;
	bool close_sent;
	bool finished;
	int handles;             /* uv handles still open */
	uint64_t last_rx_ms;
	uint64_t close_sent_ms;
};

/* Waits until fd is readable (or writable); 1 ready, 0 timeout, -1 error. */
static int wait_fd(curl_socket_t fd, bool for_write, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = for_write ? POLLOUT : POLLIN };
	int rc;

	do
		rc = poll(&p, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	return rc;
}

static int send_all(CURL *h, curl_socket_t fd, const unsigned char *p, size_t len)
{
	struct sigaction ign, old;

	/* A server gone mid-write is an error to report (exit 6), not a
	 * SIGPIPE: OpenSSL writes with write(2). Only around our writes, so
	 * that a closed stdout still ends 'tether exec | head' as usual. */
	memset(&ign, 0, sizeof ign);
	ign.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &ign, &old);
	while (len) {
		size_t n = 0;
		CURLcode crc = curl_easy_send(h, p, len, &n);

		if (crc == CURLE_AGAIN) {
			if (wait_fd(fd, true, WSC_IO_TIMEOUT_MS) <= 0)
				goto fail;
			continue;
		}
		if (crc != CURLE_OK)
			goto fail;
		p += n;
		len -= n;
	}
	sigaction(SIGPIPE, &old, NULL);
	return 0;
fail:
	sigaction(SIGPIPE, &old, NULL);
	return -1;
}

/* Writes one masked frame. */
static int send_frame(wsc *w, int opcode, const void *data, size_t len)
{
	unsigned char hdr[14], mask[4];
	unsigned char *frame;
	size_t hl = 0;
	int rc;

	hdr[hl++] = (unsigned char)(0x80 | opcode);
	if (len < 126) {
		hdr[hl++] = (unsigned char)(0x80 | len);
	} else if (len <= 0xffff) {
		hdr[hl++] = 0x80 | 126;
		hdr[hl++] = (unsigned char)(len >> 8);
		hdr[hl++] = (unsigned char)len;
	} else {
		hdr[hl++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			hdr[hl++] = (unsigned char)((uint64_t)len >> (8 * i));
	}
	randombytes_buf(mask, sizeof mask);
	memcpy(hdr + hl, mask, 4);
	hl += 4;
	frame = malloc(hl + len);
	if (!frame)
		return -1;
	memcpy(frame, hdr, hl);
	for (size_t i = 0; i < len; i++)
		frame[hl + i] = ((const unsigned char *)data)[i] ^ mask[i & 3];
	rc = send_all(w->h, w->fd, frame, hl + len);
	free(frame);
	return rc;
}

static void on_handle_closed(uv_handle_t *hd)
{
	wsc *w = hd->data;

	if (--w->handles == 0) {
		/* The socket is curl's: closed only once libuv let go of it. */
		curl_easy_cleanup(w->h);
		buf_free(&w->rx);
		buf_free(&w->msg);
		free(w);
	}
}

/* Ends the connection once: tells the caller, then frees. */
static void finish(wsc *w, bool lost, int code, const char *reason)
{
	if (w->finished)
		return;
	w->finished = true;
	uv_poll_stop(&w->poll);
	uv_timer_stop(&w->timer);
	w->cb->closed(w->ud, lost, code, reason);
	uv_close((uv_handle_t *)&w->poll, on_handle_closed);
	uv_close((uv_handle_t *)&w->timer, on_handle_closed);
}

static void on_close_frame(wsc *w, const unsigned char *p, size_t len)
{
	char reason[256] = "";
	int code = 1005;         /* no status in the frame */

	if (len >= 2) {
		size_t rl = len - 2 < sizeof reason - 1 ? len - 2 : sizeof reason - 1;

		code = (p[0] << 8) | p[1];
		memcpy(reason, p + 2, rl);
		reason[rl] = '\0';
	}
	if (!w->close_sent) {
		unsigned char echo[2] = { p && len >= 2 ? p[0] : 0x03, p && len >= 2 ? p[1] : 0xe8 };

		w->close_sent = true;
		send_frame(w, OP_CLOSE, echo, 2);
	}
	finish(w, false, code, reason);
}

/* Handles the complete frames at the start of rx; returns the bytes used,
 * or -1 after finish() on a protocol error. */
static ssize_t parse_frames(wsc *w)
{
	const unsigned char *p = (const unsigned char *)w->rx.data;
	size_t have = w->rx.len, used = 0;

	while (!w->finished) {
		const unsigned char *f = p + used;
		size_t avail = have - used, hl = 2;
		uint64_t plen;
		bool fin, masked;
		int op;
		unsigned char mask[4] = { 0 };

		if (avail < 2)
			break;
		fin = f[0] & 0x80;
		op = f[0] & 0x0f;
		masked = f[1] & 0x80;
		plen = f[1] & 0x7f;
		if (plen == 126) {
			if (avail < 4)
				break;
			plen = ((uint64_t)f[2] << 8) | f[3];
			hl = 4;
		} else if (plen == 127) {
			if (avail < 10)
				break;
			plen = 0;
			for (int i = 0; i < 8; i++)
				plen = (plen << 8) | f[2 + i];
			hl = 10;
		}
		if (plen > WSC_MAX_MESSAGE) {
			finish(w, true, 0, "the server sent a frame larger than 64 MiB");
			return -1;
		}
		if (masked) {
			if (avail < hl + 4)
				break;
			memcpy(mask, f + hl, 4);
			hl += 4;
		}
		if (avail < hl + plen)
			break;
		{
			unsigned char *payload = (unsigned char *)w->rx.data + used + hl;

			if (masked)
				for (uint64_t i = 0; i < plen; i++)
					payload[i] ^= mask[i & 3];
			used += hl + (size_t)plen;
			switch (op) {
			case OP_TEXT:
			case OP_BINARY:
			case OP_CONT:
				if ((op == OP_CONT) != w->in_message) {
					finish(w, true, 0, "the server broke the WebSocket framing");
					return -1;
				}
				if (buf_append(&w->msg, payload, (size_t)plen)) {
					finish(w, true, 0, "the server sent a message larger than 64 MiB");
					return -1;
				}
				w->in_message = !fin;
				if (fin) {
					w->cb->message(w->ud, w->msg.data ? w->msg.data : "", w->msg.len);
					buf_reset(&w->msg);
				}
				break;
			case OP_CLOSE:
				on_close_frame(w, payload, (size_t)plen);
				return -1;
			case OP_PING:
				if (!w->close_sent && send_frame(w, OP_PONG, payload, (size_t)plen)) {
					finish(w, true, 0, "cannot write to the server");
					return -1;
				}
				break;
			case OP_PONG:
				break;
			default:
				finish(w, true, 0, "the server sent an unknown WebSocket opcode");
				return -1;
			}
		}
	}
	return (ssize_t)used;
}

static void on_readable(uv_poll_t *hd, int status, int events)
{
	wsc *w = hd->data;
	char chunk[65536];

	(void)events;
	if (status < 0) {
		finish(w, true, 0, uv_strerror(status));
		return;
	}
	/* Read until the socket (and TLS) has nothing more. */
	while (!w->finished) {
		size_t n = 0;
		CURLcode rc = curl_easy_recv(w->h, chunk, sizeof chunk, &n);
		ssize_t used;

		if (rc == CURLE_AGAIN)
			break;
		if (rc != CURLE_OK) {
			char why[300];

			snprintf(why, sizeof why, "%s", curl_easy_strerror(rc));
			finish(w, !w->close_sent, 0, why);
			return;
		}
		if (n == 0) {
			finish(w, !w->close_sent, 0,
			       "the server closed the connection without a WebSocket close");
			return;
		}
		w->last_rx_ms = util_mono_ms();
		if (buf_append(&w->rx, chunk, n)) {
			finish(w, true, 0, "out of memory reading from the server");
			return;
		}
		used = parse_frames(w);
		if (used < 0)
			return;
		if (used > 0) {
			memmove(w->rx.data, w->rx.data + used, w->rx.len - (size_t)used);
			w->rx.len -= (size_t)used;
		}
	}
}

static void on_timer(uv_timer_t *t)
{
	wsc *w = t->data;
	uint64_t now = util_mono_ms();

	if (w->close_sent) {
		if (now - w->close_sent_ms >= WSC_CLOSE_WAIT_MS)
			finish(w, false, 1000, "closed by us");
		return;
	}
	if (now - w->last_rx_ms >= WSC_DEAD_MS) {
		finish(w, true, 0, "the server stopped answering (no pong for 45 s)");
		return;
	}
	if (now - w->last_rx_ms >= WSC_PING_MS && send_frame(w, OP_PING, "tether", 6))
		finish(w, true, 0, "cannot write to the server");
}

/* Reads the upgrade answer's head (and what follows it into *rest). */
static int read_head(CURL *h, curl_socket_t fd, struct buf *in, size_t *head_len)
{
	uint64_t deadline = util_mono_ms() + WSC_IO_TIMEOUT_MS;

	for (;;) {
		char chunk[4096];
		size_t n = 0;
		CURLcode rc;
		char *end;

		if (in->len && (end = memmem(in->data, in->len, "\r\n\r\n", 4))) {
			*head_len = (size_t)(end - in->data) + 4;
			return 0;
		}
		rc = curl_easy_recv(h, chunk, sizeof chunk, &n);
		if (rc == CURLE_AGAIN) {
			uint64_t now = util_mono_ms();

			if (now >= deadline || wait_fd(fd, false, (int)(deadline - now)) <= 0)
				return -1;
			continue;
		}
		if (rc != CURLE_OK || n == 0 || buf_append(in, chunk, n))
			return -1;
	}
}

/* The rest of a refused upgrade's body: Content-Length bytes or to EOF. */
static char *read_body(CURL *h, curl_socket_t fd, struct buf *in, size_t head_len)
{
	const char *cl = NULL;
	size_t want = WSC_MAX_ERROR_BODY;
	uint64_t deadline = util_mono_ms() + 5000;
	char *lower = strndup(in->data, head_len), *out;
	struct buf body;

	if (lower) {
		for (char *p = lower; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		cl = strstr(lower, "\r\ncontent-length:");
		if (cl)
			want = (size_t)strtoul(cl + 17, NULL, 10);
		free(lower);
	}
	if (want > WSC_MAX_ERROR_BODY)
		want = WSC_MAX_ERROR_BODY;
	buf_init(&body, WSC_MAX_ERROR_BODY + 1);
	buf_append(&body, in->data + head_len, in->len - head_len < want ? in->len - head_len : want);
	while (body.len < want) {
		char chunk[4096];
		size_t n = 0;
		CURLcode rc = curl_easy_recv(h, chunk, sizeof chunk, &n);

		if (rc == CURLE_AGAIN) {
			uint64_t now = util_mono_ms();

			if (now >= deadline || wait_fd(fd, false, (int)(deadline - now)) <= 0)
				break;
			continue;
		}
		if (rc != CURLE_OK || n == 0)
			break;
		buf_append(&body, chunk, n < want - body.len ? n : want - body.len);
	}
	buf_append(&body, "", 1);
	out = buf_steal(&body, NULL);
	return out;
}

/* Sec-WebSocket-Accept for key: base64(SHA-1(key + GUID)). */
static void accept_of(const char *key, char *out, size_t outlen)
{
	char in[128];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	snprintf(in, sizeof in, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
	out[0] = '\0';
	if (EVP_Digest(in, strlen(in), md, &mdlen, EVP_sha1(), NULL))
		sodium_bin2base64(out, outlen, md, mdlen, sodium_base64_VARIANT_ORIGINAL);
}

static bool head_has(const char *head, size_t len, const char *name, const char *value)
{
	char *copy = strndup(head, len), *p;
	char want[256];
	bool ok = false;

	if (!copy)
		return false;
	snprintf(want, sizeof want, "\r\n%s:", name);
	for (p = copy; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	for (char *q = want; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	p = strstr(copy, want);
	if (p) {
		/* The value as sent (case kept) is at the same offset. */
		const char *v = head + (p - copy) + strlen(want);

		while (*v == ' ' || *v == '\t')
			v++;
		ok = !strncmp(v, value, strlen(value));
	}
	free(copy);
	return ok;
}

/* Sends the upgrade request (with the credentials, wiped from memory
 * once sent). Returns 0, or -1 (message printed). */
static int send_upgrade(const struct cli *c, CURL *h, curl_socket_t fd, const char *host,
			const char *target, const char *key)
{
	char auth[1200];
	struct buf req;
	int rc = 0;

	buf_init(&req, 16 * 1024);
	buf_appendf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
			  "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
			  "Sec-WebSocket-Version: 13\r\nUser-Agent: tether-cli\r\n",
		    target, host, key);
	if (!cli_auth_header(c, auth, sizeof auth) && auth[0])
		buf_appendf(&req, "Authorization: %s\r\n", auth);
	sodium_memzero(auth, sizeof auth);
	if (buf_appendf(&req, "\r\n") ||
	    send_all(h, fd, (const unsigned char *)req.data, req.len)) {
		fprintf(stderr, "tether: cannot send the WebSocket upgrade to %s\n", c->addr);
		rc = -1;
	}
	sodium_memzero(req.data, req.len);
	buf_free(&req);
	return rc;
}

int wsc_connect(const struct cli *c, uv_loop_t *loop, const char *path,
		const struct wsc_callbacks *cb, void *ud, wsc **out, char **body)
{
	CURL *h = curl_easy_init();
	char errbuf[CURL_ERROR_SIZE] = "", host[600], target[2400], key[32];
	char expect[64];
	unsigned char nonce[16];
	struct buf in;
	curl_socket_t fd = CURL_SOCKET_BAD;
	size_t head_len = 0;
	CURLcode rc;
	wsc *w;
	int status = -1;

	*out = NULL;
	*body = NULL;
	if (!h)
		return -1;
	if (cli_curl_setup(c, h, path) || cli_request_target(c, path, host, sizeof host, target,
							      sizeof target)) {
		curl_easy_cleanup(h);
		return -1;
	}
	curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	/* Through a proxy (https_proxy...) the upgrade must go down a
	 * CONNECT tunnel, for http:// too. */
	curl_easy_setopt(h, CURLOPT_HTTPPROXYTUNNEL, 1L);
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		fprintf(stderr, "tether: cannot reach %s: %s\n", c->addr,
			errbuf[0] ? errbuf : curl_easy_strerror(rc));
		if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR)
			fprintf(stderr, "tether: the server's certificate could not be verified: "
					"give its CA with -ca-file (TETHER_CACERT), and "
					"-tls-server-name if the address is not a name in it\n");
		curl_easy_cleanup(h);
		return -1;
	}
	curl_easy_getinfo(h, CURLINFO_ACTIVESOCKET, &fd);
	randombytes_buf(nonce, sizeof nonce);
	sodium_bin2base64(key, sizeof key, nonce, sizeof nonce, sodium_base64_VARIANT_ORIGINAL);
	accept_of(key, expect, sizeof expect);
	if (send_upgrade(c, h, fd, host, target, key)) {
		curl_easy_cleanup(h);
		return -1;
	}
	buf_init(&in, WSC_MAX_HEADER + 65536);
	if (read_head(h, fd, &in, &head_len)) {
		fprintf(stderr, "tether: %s did not answer the WebSocket upgrade\n", c->addr);
		goto fail;
	}
	if (in.len < 12 || strncmp(in.data, "HTTP/1.", 7)) {
		fprintf(stderr, "tether: %s answered the WebSocket upgrade with something "
				"that is not HTTP\n", c->addr);
		goto fail;
	}
	{
		char *end;
		long v = strtol(in.data + 9, &end, 10);

		status = end != in.data + 9 && v > 0 && v < 1000 ? (int)v : -1;
	}
	if (status != 101) {
		*body = read_body(h, fd, &in, head_len);
		buf_free(&in);
		curl_easy_cleanup(h);
		return status > 0 ? status : -1;
	}
	if (!head_has(in.data, head_len, "Sec-WebSocket-Accept", expect)) {
		fprintf(stderr, "tether: %s answered the WebSocket upgrade with a wrong "
				"Sec-WebSocket-Accept\n", c->addr);
		goto fail;
	}
	w = calloc(1, sizeof *w);
	if (!w)
		goto fail;
	w->h = h;
	w->fd = fd;
	w->cb = cb;
	w->ud = ud;
	w->last_rx_ms = util_mono_ms();
	buf_init(&w->rx, WSC_MAX_MESSAGE + 65536);
	buf_init(&w->msg, WSC_MAX_MESSAGE);
	buf_append(&w->rx, in.data + head_len, in.len - head_len);
	buf_free(&in);
	uv_poll_init_socket(loop, &w->poll, fd);
	uv_timer_init(loop, &w->timer);
	w->poll.data = w;
	w->timer.data = w;
	w->handles = 2;
	uv_poll_start(&w->poll, UV_READABLE, on_readable);
	uv_timer_start(&w->timer, on_timer, 1000, 1000);
	*out = w;
	/* Frames that came with the answer's head. */
	if (w->rx.len) {
		ssize_t used = parse_frames(w);

		if (used > 0) {
			memmove(w->rx.data, w->rx.data + used, w->rx.len - (size_t)used);
			w->rx.len -= (size_t)used;
		}
	}
	return 0;
fail:
	buf_free(&in);
	curl_easy_cleanup(h);
	return -1;
}

int wsc_send_text(wsc *w, const char *data, size_t len)
{
	if (w->finished || w->close_sent)
		return -1;
	if (send_frame(w, OP_TEXT, data, len)) {
		finish(w, true, 0, "cannot write to the server");
		return -1;
	}
	return 0;
}

void wsc_close(wsc *w, int code, const char *reason)
{
	unsigned char p[125];
	size_t rl = strlen(reason) > 120 ? 120 : strlen(reason);

	if (w->finished || w->close_sent)
		return;
	p[0] = (unsigned char)(code >> 8);
	p[1] = (unsigned char)code;
	memcpy(p + 2, reason, rl);
	w->close_sent = true;
	w->close_sent_ms = util_mono_ms();
	if (send_frame(w, OP_CLOSE, p, rl + 2))
		finish(w, false, code, reason);
}
