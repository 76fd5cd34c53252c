/* wsc: the CLI's WebSocket client (RFC 6455) over a libcurl connection.
 *
 * libcurl opens the connection (CONNECT_ONLY) with the same transport
 * options as every REST call (cli_curl_setup: TLS with the system store or
 * -ca-file, -tls-server-name), so `tether exec` and `tether clients` reach a
 * server the same way. The upgrade is done at once (blocking, bounded);
 * frames are then read on a libuv loop.
 *
 * Lifetime: after wsc_connect succeeds, the closed callback fires exactly
 * once from the loop; the wsc is freed after it returns. Never use it after
 * that. */
#ifndef TETHER_CLI_WSC_H
#define TETHER_CLI_WSC_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "cli.h"

typedef struct wsc wsc;

struct wsc_callbacks {
	/* A whole text or binary message. */
	void (*message)(void *ud, const char *data, size_t len);
	/* The connection is over. lost is false when the server closed it
	 * with a close frame (code and reason are its) or when we closed it;
	 * true when it broke (reason says how; code 0). */
	void (*closed)(void *ud, bool lost, int code, const char *reason);
};

/* Connects and upgrades path (e.g. "/api/v1/ws/commands"). Returns 0 and
 * sets *out; or the HTTP status (> 0) when the upgrade was refused, with
 * *body set to the answer's body (NUL-terminated, caller frees; may be
 * NULL); or -1 on a transport failure (message printed). */
int wsc_connect(const struct cli *c, uv_loop_t *loop, const char *path,
		const struct wsc_callbacks *cb, void *ud, wsc **out, char **body);
/* Sends one text message (masked, as a client must). Blocks until it is
 * written (bounded). Returns 0, or -1 if the connection failed (closed
 * follows from the loop). */
int wsc_send_text(wsc *w, const char *data, size_t len);
/* Starts a close handshake; closed follows (lost false) when the server
 * answers, or after 2 s without an answer. */
void wsc_close(wsc *w, int code, const char *reason);

#endif
