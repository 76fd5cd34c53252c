/* server: the process-wide state of tetherd, passed to every module. */
#ifndef TETHER_SERVER_H
#define TETHER_SERVER_H

#include <uv.h>

#include "config.h"
#include "net.h"

struct store;
struct auth;
struct hub;
struct api;
struct groups;
struct fanout;
struct ws_api;
struct events;
struct registry;
struct metrics;
struct offline;
struct schedules;
struct tat;
struct guard;

struct server {
	uv_loop_t *loop;
	struct server_config cfg;
	net_ctx *net;
	net_listener *api_listener;
	net_listener *agent_listener;
	struct store *store;
	struct auth *auth;
	struct hub *hub;
	struct api *api;
	struct groups *groups;
	struct fanout *fanout;
	struct ws_api *ws;
	struct events *events;
	struct registry *registry;
	struct metrics *metrics;
	struct offline *offline;       /* jobs queued for offline clients */
	struct schedules *schedules;
	struct tat *tat;                 /* the TAT dialect's state */
	/* The API listener's brute-force guard: its faces that check passwords
	 * (rport's REST and streaming APIs, the Elastic face) count into one. */
	struct guard *api_guard;
	const char *version;
};

#define TETHER_VERSION "0.1.0"

#endif
