/* tetherd: parse config -> create loop -> start subsystems -> run -> stop. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <sodium.h>
#include <uv.h>

#include "dialects/rport/api.h"
#include "front/front.h"
#include "front/health.h"
#include "front/metrics_face.h"
#include "auth/auth.h"
#include "auth/guard.h"
#include "core/events.h"
#include "core/registry.h"
#include "core/fanout.h"
#include "core/offline.h"
#include "core/schedule.h"
#include "core/groups.h"
#include "core/metrics.h"
#include "agents/hub.h"
#include "agents/retention.h"
#include "log.h"
#include "proto.h"
#include "server.h"
#include "store/store.h"
#include "util.h"
#include "dialects/rport/ws_api.h"
#include "dialects/tat/tat.h"

static struct server srv;
static uv_signal_t sig_term, sig_int, sig_hup;
static char config_path[4096];   /* -c FILE, for SIGHUP */
static bool stopping;
static struct retention *retention;
static net_listener *metrics_listener;   /* [metrics] address, when set */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tetherd [-c FILE] [options]\n"
		"       tetherd hash-password   (reads a password on stdin, prints an argon2id hash)\n"
		"       tetherd routes          (prints the API's route table)\n"
		"       tetherd backup [-c FILE] [--data-dir DIR] DEST\n"
		"                               (a consistent copy of the store, while the server runs)\n"
		"       tetherd check-config [-c FILE] [options]\n"
		"                               (checks the configuration and the files it names,\n"
		"                               without opening the store or any listener)\n"
		"\n"
		"  -c, --config FILE         TOML configuration ([server], [api]); see docs/configuration.md\n"
		"      --data-dir DIR        where the SQLite store lives (server.data_dir)\n"
		"      --api-address H:P     operator REST API listener (api.address, default 0.0.0.0:3000)\n"
		"      --agent-address H:P   agent WebSocket listener (server.address, default 0.0.0.0:8080)\n"
		"      --log-level LEVEL     error, warn, info or debug\n"
		"  -h, --help                this text\n"
		"  -V, --version             print the version\n");
}

/* Around each commit's callbacks: the runs they send to one agent go out
 * in two writes, not one each (net_cork). */
static void cork_batch(void *ud, bool begin)
{
	if (begin)
		net_cork(ud);
	else
		net_uncork(ud);
}

/* Closes the timers and connections; the loop then drains and returns. */
static void stop_subsystems(void)
{
	schedules_stop(srv.schedules);
	retention_stop(retention);
	fanout_stop(srv.fanout);
	offline_stop(srv.offline);
	ws_api_stop(srv.ws);
	api_stop(srv.api);
	hub_stop(srv.hub);
	/* From here on writes are committed at once. */
	store_detach_loop(srv.store);
	net_ctx_destroy(srv.net);
}

/* The API listener's brute-force guard, shared by its faces (so that a
 * guess counts the same on any of them, and GET /api/v1/bans shows and
 * lifts them all). */
static int api_guard_create(struct server *s)
{
	s->api_guard = guard_create((int)s->cfg.max_failed_login, s->cfg.ban_time * 1000,
				    (int64_t)(s->cfg.user_login_wait * 1000.0));
	if (!s->api_guard)
		return TE_NOMEM;
	metrics_gauge(s->metrics, "tether_bans_active", "Active brute-force bans, by listener.",
		      "listener=\"api\"", guard_ban_count, s->api_guard);
	return 0;
}

/* Frees what start created, in reverse (each destroy takes NULL). */
/* The API listener's faces: rport's REST API and TAT's. */
static void faces_destroy(void)
{
	api_destroy(srv.api);
	tat_destroy(srv.tat);
}

static void destroy_subsystems(void)
{
	if (srv.store)
		store_set_batch_hook(srv.store, NULL, NULL);
	net_ctx_free(srv.net);
	ws_api_destroy(srv.ws);
	schedules_destroy(srv.schedules);
	fanout_destroy(srv.fanout);
	offline_destroy(srv.offline);
	groups_destroy(srv.groups);
	hub_destroy(srv.hub);
	faces_destroy();
	store_close(srv.store);
	auth_destroy(srv.auth);
	registry_destroy(srv.registry);
	metrics_destroy(srv.metrics);
	guard_destroy(srv.api_guard);
	events_destroy(srv.events);
}

static void on_signal(uv_signal_t *h, int signum)
{
	(void)h;
	if (stopping)
		return;
	stopping = true;
	health_stopping();
	log_info("signal %d: shutting down", signum);
	uv_close((uv_handle_t *)&sig_term, NULL);
	uv_close((uv_handle_t *)&sig_int, NULL);
	uv_close((uv_handle_t *)&sig_hup, NULL);
	stop_subsystems();
}

/* SIGHUP: the users and client credentials of the configuration file
 * again (auth_reload); agents whose credential is gone are cut off.
 * Everything else needs a restart. */
static void on_hup(uv_signal_t *h, int signum)
{
	struct server_config *nc = calloc(1, sizeof *nc);
	json_t *removed = json_array();
	char err[1024] = "";
	size_t i;
	json_t *v;

	(void)h;
	(void)signum;
	if (!nc || !removed) {
		free(nc);
		json_decref(removed);
		return;
	}
	server_config_defaults(nc);
	if (!config_path[0]) {
		snprintf(err, sizeof err, "no configuration file (-c) to read");
	} else if (!server_config_load(nc, config_path, err, sizeof err) &&
		   !server_config_check(nc, err, sizeof err) &&
		   !auth_reload(srv.auth, nc, removed, err, sizeof err)) {
		json_array_foreach(removed, i, v)
			hub_disconnect_auth(srv.hub, json_string_value(v));
		log_info("SIGHUP: users and client credentials of %s reloaded (%zu credential(s) gone)",
			 config_path, json_array_size(removed));
		err[0] = '\0';
	}
	if (err[0])
		log_error("SIGHUP: not reloaded: %s", err);
	sodium_memzero(nc, sizeof *nc);
	free(nc);
	json_decref(removed);
}

/* The route table, for tests that walk every route. */
static int print_routes(void)
{
	size_t n;
	const struct api_route *r = api_routes(&n);

	for (size_t i = 0; i < n; i++)
		printf("%s %s%s\n", r[i].r.method, r[i].r.pattern,
		       r[i].flags & ROUTE_SELF_AUTH ? " self-auth" : "");
	printf("WS /api/v1/ws/commands\nWS /api/v1/ws/scripts\n");
	printf("GET /healthz unauthenticated\nGET /readyz unauthenticated\nGET /metrics tokens-only\n");
	return 0;
}

/* A command-line option wins over the configuration file. */
static void override(char *dst, size_t size, const char *value)
{
	if (value)
		util_strlcpy(dst, value, size);
}

static int hash_password_cmd(void)
{
	char line[1024];
	char *h;
	size_t n;

	if (!fgets(line, sizeof line, stdin)) {
		fprintf(stderr, "tetherd: no password on stdin\n");
		return 2;
	}
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	if (!n) {
		fprintf(stderr, "tetherd: empty password\n");
		return 2;
	}
	h = auth_hash_password(line);
	sodium_memzero(line, sizeof line);
	if (!h)
		return 1;
	printf("%s\n", h);
	free(h);
	return 0;
}

/* tetherd check-config: the configuration was read and checked; the user
 * and credential files it names are read too (their errors name the file
 * and line), as at a start, but nothing is opened or bound. */
static int check_config(const char *path)
{
	char err[1024];
	struct auth *a = NULL;
	uv_loop_t loop;
	int rc;

	uv_loop_init(&loop);
	rc = auth_create(&loop, &srv.cfg, &a, err, sizeof err);
	auth_destroy(a);
	uv_loop_close(&loop);
	if (rc) {
		fprintf(stderr, "tetherd: %s\n", err);
		return 2;
	}
	printf("tetherd: the configuration %s is valid\n", path ? path : "(built-in defaults)");
	return 0;
}

/* Descriptors kept free for the store's files, logs, libuv's own (epoll,
 * signals, async) and SQLite's temporary files. */
#define FD_RESERVE 64

/* Raises the soft descriptor limit to the hard one (every agent is a
 * socket) and returns it. */
static rlim_t fd_limit_raise(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur > 1000000 ? 1000000 : rl.rlim_cur;
}

/* The network context. A connection accepted with a descriptor number
 * FD_RESERVE below the limit or higher (half the limit when it is small) is
 * closed at once: accept() never meets EMFILE, and the store and the loop
 * always have descriptors left. */
static net_ctx *net_create(uv_loop_t *loop)
{
	rlim_t n = fd_limit_raise(), cut = n > 2 * FD_RESERVE ? n - FD_RESERVE : n / 2;

	return net_ctx_create(loop, (int)cut, true);
}

static net_listener *listen_on(const char *address, const struct net_callbacks *cb,
			       void *ud, size_t max_body, size_t max_msg, const char *sub,
			       const char *cert, const char *key)
{
	struct net_listen_cfg lc;
	char host[256];
	int port;

	memset(&lc, 0, sizeof lc);
	/* Exactly what is configured: "0.0.0.0" all IPv4 interfaces, "[::]"
	 * all of both families, a name each of its addresses. */
	util_parse_hostport(address, host, sizeof host, &port);
	lc.host = host;
	lc.port = port;
	lc.subprotocol = sub;
	lc.max_body = max_body;
	lc.max_ws_message = max_msg;
	lc.max_ws_queue = 64 * 1024 * 1024;
	lc.max_url = (size_t)srv.cfg.max_url_bytes;
	lc.max_header = (size_t)srv.cfg.max_header_bytes;
	lc.max_bodies = (size_t)srv.cfg.max_bodies_bytes;
	lc.body_timeout_ms = (uint64_t)srv.cfg.body_timeout_sec * 1000;
	lc.cb = cb;
	lc.ud = ud;
	lc.tls_cert = cert && *cert ? cert : NULL;
	lc.tls_key = key && *key ? key : NULL;
	return net_listen(srv.net, &lc);
}

/* The command line and the configuration: returns -1 when the server is
 * to start, else the exit status (a subcommand ran, or an error). */
static int configure(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "api-address", required_argument, NULL, 'a' },
		{ "agent-address", required_argument, NULL, 'g' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *data_dir = NULL, *api_addr = NULL, *agent_addr = NULL;
	const char *level = NULL;
	char err[1024];
	int opt;
	bool check_only = false, backup = false;
	const char *backup_dest = NULL;

	if (argc > 1 && !strcmp(argv[1], "hash-password"))
		return hash_password_cmd();
	if (argc > 1 && !strcmp(argv[1], "routes"))
		return print_routes();
	if (argc > 1 && !strcmp(argv[1], "check-config")) {
		check_only = true;
		argv++;
		argc--;
	} else if (argc > 1 && !strcmp(argv[1], "backup")) {
		backup = true;
		argv++;
		argc--;
	}
	while ((opt = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; util_strlcpy(config_path, optarg, sizeof config_path); break;
		case 'd': data_dir = optarg; break;
		case 'a': api_addr = optarg; break;
		case 'g': agent_addr = optarg; break;
		case 'l': level = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("tetherd %s\n", TETHER_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (backup && optind < argc)
		backup_dest = argv[optind++];
	if (backup && !backup_dest) {
		fprintf(stderr, "tetherd: backup needs a destination file\n");
		usage(stderr);
		return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "tetherd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	server_config_defaults(&srv.cfg);
	if (config && server_config_load(&srv.cfg, config, err, sizeof err)) {
		fprintf(stderr, "tetherd: %s\n", err);
		return 2;
	}
	override(srv.cfg.data_dir, sizeof srv.cfg.data_dir, data_dir);
	override(srv.cfg.api_address, sizeof srv.cfg.api_address, api_addr);
	override(srv.cfg.agent_address, sizeof srv.cfg.agent_address, agent_addr);
	override(srv.cfg.log_level, sizeof srv.cfg.log_level, level);
	/* A backup needs only the data directory. */
	if (backup) {
		if (store_backup(srv.cfg.data_dir, backup_dest, err, sizeof err)) {
			fprintf(stderr, "tetherd: backup: %s\n", err);
			return 1;
		}
		printf("tetherd: the store of %s is copied to %s\n", srv.cfg.data_dir, backup_dest);
		return 0;
	}
	if (log_set_level_name(srv.cfg.log_level)) {
		fprintf(stderr, "tetherd: unknown log level '%s'\n", srv.cfg.log_level);
		return 2;
	}
	if (log_set_format_name(srv.cfg.log_format)) {
		fprintf(stderr, "tetherd: server.log_format '%s' is not text, json, journal or auto\n",
			srv.cfg.log_format);
		return 2;
	}
	if (server_config_check(&srv.cfg, err, sizeof err)) {
		fprintf(stderr, "tetherd: configuration: %s\n", err);
		return 2;
	}
	if (check_only)
		return check_config(config);
	return -1;
}

int main(int argc, char **argv)
{
	char err[1024];
	uv_loop_t loop;
	int rc = 1;

	log_set_ident("tetherd");
	if (sodium_init() < 0) {
		fprintf(stderr, "tetherd: libsodium failed to initialise\n");
		return 1;
	}
	rc = configure(argc, argv);
	if (rc >= 0)
		return rc;
	rc = 1;
	signal(SIGPIPE, SIG_IGN);
	srv.version = TETHER_VERSION;
	uv_loop_init(&loop);
	srv.loop = &loop;

	if (auth_create(&loop, &srv.cfg, &srv.auth, err, sizeof err)) {
		fprintf(stderr, "tetherd: %s\n", err);
		goto out;
	}
	if (store_open(srv.cfg.data_dir, &srv.store, err, sizeof err)) {
		fprintf(stderr, "tetherd: %s\n", err);
		goto out;
	}
	store_set_sync_thread(srv.store, srv.cfg.store_sync_thread);
	if (store_attach_loop(srv.store, &loop))
		goto out;
	auth_attach_store(srv.auth, srv.store);
	if (events_create(&srv.events) || metrics_create(&srv, &srv.metrics) ||
	    registry_create(&srv.registry) ||
	    hub_create(&srv, &srv.hub) || groups_create(&srv, &srv.groups) ||
	    offline_create(&srv, &srv.offline) || fanout_create(&srv, &srv.fanout) || ws_api_create(&srv, &srv.ws) ||
	    api_guard_create(&srv) || api_create(&srv, &srv.api) || schedules_create(&srv, &srv.schedules) ||
	    tat_create(&srv, &srv.tat) || retention_create(&srv, &retention))
		goto out;
	srv.net = net_create(&loop);
	if (!srv.net)
		goto out;
	store_set_batch_hook(srv.store, cork_batch, srv.net);
	srv.agent_listener = listen_on(srv.cfg.agent_address, hub_net_callbacks(), srv.hub,
				       0, (size_t)srv.cfg.max_agent_message,
				       PROTO_SUBPROTOCOL, srv.cfg.tls_cert, srv.cfg.tls_key);
	srv.api_listener = listen_on(srv.cfg.api_address, front_callbacks(), &srv,
				     (size_t)srv.cfg.max_request_bytes, 1024 * 1024,
				     "tether-api", srv.cfg.api_tls_cert, srv.cfg.api_tls_key);
	if (srv.cfg.metrics_address[0] &&
	    !(metrics_listener = listen_on(srv.cfg.metrics_address, metrics_listener_callbacks(),
					   &srv, 1024, 1024, NULL, srv.cfg.api_tls_cert,
					   srv.cfg.api_tls_key))) {
		fprintf(stderr, "tetherd: cannot open the metrics listener %s\n",
			srv.cfg.metrics_address);
		stop_subsystems();
		uv_run(&loop, UV_RUN_DEFAULT);
		goto out;
	}
	if (!srv.agent_listener || !srv.api_listener) {
		fprintf(stderr, "tetherd: cannot open the listeners (see the log above)\n");
		stop_subsystems();
		uv_run(&loop, UV_RUN_DEFAULT);
		goto out;
	}
	uv_signal_init(&loop, &sig_term);
	uv_signal_init(&loop, &sig_int);
	uv_signal_start(&sig_term, on_signal, SIGTERM);
	uv_signal_start(&sig_int, on_signal, SIGINT);
	uv_signal_init(&loop, &sig_hup);
	uv_signal_start(&sig_hup, on_hup, SIGHUP);
	log_info("tetherd %s: API on %s, agents on %s, data in %s", TETHER_VERSION,
		 srv.cfg.api_address, srv.cfg.agent_address, srv.cfg.data_dir);
	if (metrics_listener)
		log_info("metrics on %s", srv.cfg.metrics_address);
	uv_run(&loop, UV_RUN_DEFAULT);
	log_info("stopped");
	rc = 0;
out:
	destroy_subsystems();
	if (uv_loop_close(&loop) == UV_EBUSY)
		log_debug("loop still had handles at exit");
	return rc;
}
