/* net_ws: WebSocket frames from clients (RFC 6455 section 5), the server's
 * frame headers, and the handshake's accept key. No sockets: net_server.c
 * feeds it. */
#include "net_srv.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

enum {
	OP_CONT = 0,
	OP_TEXT = 1,
	OP_BINARY = 2,
	OP_CLOSE = 8,
	OP_PING = 9,
	OP_PONG = 10,
};

/* Bytes of the header still needed, from what is there. */
static size_t header_need(const struct net_ws_rx *rx)
{
	size_t need = 2;

	if (rx->hlen < 2)
		return need;
	if ((rx->hdr[1] & 0x7f) == 126)
		need += 2;
	else if ((rx->hdr[1] & 0x7f) == 127)
		need += 8;
	if (rx->hdr[1] & 0x80)
		need += 4;
	return need;
}

/* A whole header is there: check it and get ready for the payload. */
static int header_done(struct net_ws_rx *rx)
{
	uint8_t b0 = rx->hdr[0], b1 = rx->hdr[1];
	uint64_t len = b1 & 0x7f;
	size_t at = 2;
	bool control;

	rx->fin = (b0 & 0x80) != 0;
	rx->opcode = b0 & 0x0f;
	if (b0 & 0x70)
		return 1002; /* no extension was agreed on */
	if (!(b1 & 0x80))
		return 1002; /* client frames are masked */
	if (len == 126) {
		len = (uint64_t)rx->hdr[2] << 8 | rx->hdr[3];
		at = 4;
	} else if (len == 127) {
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | rx->hdr[2 + i];
		at = 10;
		if (len >> 63)
			return 1002;
	}
	memcpy(rx->mask, rx->hdr + at, 4);
	rx->mask_off = 0;
	rx->remaining = len;
	control = rx->opcode >= 8;
	if (control) {
		if (rx->opcode > OP_PONG || !rx->fin || len > 125)
			return 1002;
		rx->ctrl_len = 0;
	} else if (rx->opcode == OP_CONT) {
		if (!rx->msg_opcode)
			return 1002; /* a continuation of nothing */
	} else if (rx->opcode == OP_TEXT || rx->opcode == OP_BINARY) {
		if (rx->msg_opcode)
			return 1002; /* a new message inside a fragmented one */
		rx->msg_opcode = rx->opcode;
	} else {
		return 1002;
	}
	rx->in_payload = true;
	return 0;
}

static void unmask(struct net_ws_rx *rx, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		p[i] ^= rx->mask[rx->mask_off];
		rx->mask_off = (uint8_t)((rx->mask_off + 1) & 3);
	}
}

/* The frame's payload is all read. */
static int frame_done(struct net_ws_rx *rx, const struct net_ws_events *ev, void *ud)
{
	int op = rx->msg_opcode;

	rx->in_payload = false;
	rx->hlen = 0;
	if (rx->opcode >= 8)
		return ev->control(ud, rx->opcode, rx->ctrl, rx->ctrl_len);

	if (!rx->fin)
		return 0;
	rx->msg_opcode = 0;
	return ev->message_end(ud, op);
}

int net_ws_rx_feed(struct net_ws_rx *rx, const uint8_t *data, size_t len,
		   const struct net_ws_events *ev, void *ud, size_t *used)
{
	size_t i = 0;
	int rc = 0;

	while (i < len && !rc) {
		if (!rx->in_payload) {
			size_t need = header_need(rx);

			while (i < len && rx->hlen < need) {
				rx->hdr[rx->hlen++] = data[i++];
				need = header_need(rx);
			}
			if (rx->hlen < need)
				break;
			rc = header_done(rx);
			if (!rc && rx->remaining == 0)
				rc = frame_done(rx, ev, ud);
			continue;
		}
		{
			size_t n = len - i;

			if (n > rx->remaining)
				n = (size_t)rx->remaining;
			if (rx->opcode >= 8) {
				memcpy(rx->ctrl + rx->ctrl_len, data + i, n);
				unmask(rx, rx->ctrl + rx->ctrl_len, n);
				rx->ctrl_len = (uint8_t)(rx->ctrl_len + n);
			} else {
				/* Unmasked in place: the bytes are the caller's
				 * read buffer, which it gives up to us. */
				uint8_t *p = (uint8_t *)(uintptr_t)(data + i);

				unmask(rx, p, n);
				rc = ev->data(ud, p, n);
			}
			i += n;
			rx->remaining -= n;
			if (!rc && rx->remaining == 0)
				rc = frame_done(rx, ev, ud);
		}
	}
	*used = i;
	return rc;
}

size_t net_ws_frame_header(uint8_t out[10], int opcode, size_t len)
{
	out[0] = (uint8_t)(0x80 | (opcode & 0x0f));
	if (len < 126) {
		out[1] = (uint8_t)len;
		return 2;
	}
	if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		return 4;
	}
	out[1] = 127;
	for (int i = 0; i < 8; i++)
		out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	return 10;
}

int net_ws_accept_key(const char *key, char out[29])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char md[SHA_DIGEST_LENGTH];
	char in[128];
	size_t kl = strlen(key);

	if (kl == 0 || kl > 64)
		return TE_INVAL;
	memcpy(in, key, kl);
	memcpy(in + kl, guid, sizeof guid - 1);
	SHA1((const unsigned char *)in, kl + sizeof guid - 1, md);
	EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
	out[28] = '\0';
	return 0;
}
