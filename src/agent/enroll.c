/* enroll: one connection to the agent listener: an "enroll" frame with the
 * code and the client id, an "enrolled" frame back with the credential,
 * then the configuration is written (mode 0600; under /etc/tether, run as
 * root, 0640 for the group the packaged service runs as) and the program
 * exits. A code that carries a
 * certificate fingerprint pins it: the connection is refused unless the
 * server shows that certificate (no trust on first use). */
#include "enroll.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>
#include <uv.h>

#include "conn.h"
#include "log.h"
#include "net.h"
#include "proto.h"
#include "util.h"

#define ENROLL_TIMEOUT_MS 30000
#define ENROLL_GROUP "_tether-agent"

struct enroll {
	const char *server, *code, *id, *name, *config, *data_dir, *ca_file;
	char fingerprint[65];
	struct server_url url;
	uv_loop_t loop;
	uv_timer_t timer;
	net_ctx *net;
	net_conn *nc;
	json_t *answer;        /* the enrolled frame */
	char error[512];
	int status;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tether-agent enroll --server URL --code CODE [options]\n"
		"\n"
		"Proves an enrollment code (from 'tether enrollment create') to the server once,\n"
		"receives this agent's own credential and writes its configuration.\n"
		"\n"
		"  --server URL       the agent listener: HOST:PORT, ws://HOST:PORT or wss://HOST:PORT\n"
		"  --code CODE        the code (or TETHER_ENROLL_CODE in the environment)\n"
		"  --id ID            this client's id (default: the host name)\n"
		"  --name NAME        its name (default: the id)\n"
		"  --config FILE      where to write (default /etc/tether/tether-agent.conf)\n"
		"  --data-dir DIR     client.data_dir (default /var/lib/tether-agent)\n"
		"  --ca-file FILE     wss:// without a pinned fingerprint: verify by this CA\n"
		"  --force            replace an existing FILE\n");
}

/* A TOML basic string. */
static void toml_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static int write_config(struct enroll *e)
{
	const char *auth_id = json_string_value(json_object_get(e->answer, "auth_id"));
	const char *pw = json_string_value(json_object_get(e->answer, "password"));
	json_t *tags = json_object_get(e->answer, "tags");
	json_t *labels = json_object_get(e->answer, "labels");
	char tmp[4200], auth[512];
	/* The packaged service reads /etc/tether as the agent's group. */
	struct group *g = geteuid() == 0 && !strncmp(e->config, "/etc/tether/", 12)
				  ? getgrnam(ENROLL_GROUP) : NULL;
	const char *k;
	json_t *v;
	size_t i;
	FILE *f;
	int fd;

	if (snprintf(tmp, sizeof tmp, "%s.new", e->config) >= (int)sizeof tmp ||
	    snprintf(auth, sizeof auth, "%s:%s", auth_id, pw) >= (int)sizeof auth)
		return -1;
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		fprintf(stderr, "tether-agent: enroll: cannot write %s: %s\n", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fprintf(f, "# Written by tether-agent enroll (code %.12s...). tether-agent.conf(5).\n"
		   "[client]\nserver = ", e->code);
	toml_str(f, e->server);
	fprintf(f, "\nauth = ");
	toml_str(f, auth);
	fprintf(f, "\nid = ");
	toml_str(f, e->id);
	fprintf(f, "\nname = ");
	toml_str(f, e->name);
	fprintf(f, "\ndata_dir = ");
	toml_str(f, e->data_dir);
	if (e->fingerprint[0]) {
		fprintf(f, "\nfingerprint = ");
		toml_str(f, e->fingerprint);
	} else if (e->ca_file) {
		fprintf(f, "\ntls_ca = ");
		toml_str(f, e->ca_file);
	}
	fprintf(f, "\ntags = [");
	json_array_foreach(tags, i, v) {
		fprintf(f, "%s", i ? ", " : "");
		toml_str(f, json_string_value(v) ? json_string_value(v) : "");
	}
	fprintf(f, "]\n");
	if (json_object_size(labels)) {
		fprintf(f, "\n[client.labels]\n");
		json_object_foreach(labels, k, v) {
			toml_str(f, k);
			fprintf(f, " = ");
			toml_str(f, json_string_value(v) ? json_string_value(v) : "");
			fprintf(f, "\n");
		}
	}
	sodium_memzero(auth, sizeof auth);
	if (g && (fchown(fd, 0, g->gr_gid) || fchmod(fd, 0640)))
		log_warn("enroll: cannot give %s to group %s: %s", tmp, ENROLL_GROUP, strerror(errno));
	if (fflush(f) || fsync(fd) || fclose(f)) {
		fprintf(stderr, "tether-agent: enroll: cannot write %s: %s\n", tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, e->config)) {
		fprintf(stderr, "tether-agent: enroll: cannot write %s: %s\n", e->config,
			strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void stop(struct enroll *e)
{
	uv_timer_stop(&e->timer);
	if (e->nc) {
		net_ws_close(e->nc, 1000, "done");
		e->nc = NULL;
	}
	net_ctx_destroy(e->net);
	uv_close((uv_handle_t *)&e->timer, NULL);
}

static void on_open(void *ud, net_conn *c)
{
	struct enroll *e = ud;
	json_t *m = proto_new(PROTO_ENROLL);
	size_t len;
	char *text;

	json_object_set_new(m, "code", json_string(e->code));
	json_object_set_new(m, "id", json_string(e->id));
	text = proto_dump(m, &len);
	json_decref(m);
	if (!text || net_ws_send(c, text, len)) {
		snprintf(e->error, sizeof e->error, "cannot send the enrollment");
		stop(e);
	}
	free(text);
}

static void on_message(void *ud, net_conn *c, const char *data, size_t len)
{
	struct enroll *e = ud;
	enum proto_type type;
	char err[256];
	json_t *m;

	(void)c;
	if (e->answer || e->error[0])
		return;
	if (proto_parse(data, len, &m, &type, err, sizeof err)) {
		snprintf(e->error, sizeof e->error, "the server sent a bad frame: %s", err);
	} else if (type == PROTO_ENROLLED) {
		e->answer = m;
		m = NULL;
	} else if (type == PROTO_ERROR) {
		snprintf(e->error, sizeof e->error, "refused: %s",
			 json_string_value(json_object_get(m, "message")));
	} else {
		snprintf(e->error, sizeof e->error, "unexpected \"%s\" frame", proto_type_name(type));
	}
	json_decref(m);
	stop(e);
}

static void on_close(void *ud, net_conn *c, const char *reason)
{
	struct enroll *e = ud;

	(void)c;
	if (!e->nc)
		return;
	e->nc = NULL;
	if (!e->answer && !e->error[0])
		snprintf(e->error, sizeof e->error, "the connection closed: %s", reason);
	stop(e);
}

static void on_timeout(uv_timer_t *t)
{
	struct enroll *e = t->data;

	snprintf(e->error, sizeof e->error, "no answer from %s within %d s", e->server,
		 ENROLL_TIMEOUT_MS / 1000);
	stop(e);
}

static const struct net_callbacks callbacks = {
	.ws_open = on_open,
	.ws_message = on_message,
	.ws_close = on_close,
};

/* The code: "<id>.<secret>" or "<id>.<secret>.<fingerprint>". */
static int parse_code(struct enroll *e)
{
	const char *d1 = strchr(e->code, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;

	if (!d1 || d1 == e->code || !d1[1] || (d2 && (strlen(d2 + 1) != 64 ||
						     strspn(d2 + 1, "0123456789abcdef") != 64))) {
		fprintf(stderr, "tether-agent: enroll: the code is not an enrollment code\n");
		return -1;
	}
	if (d2)
		util_strlcpy(e->fingerprint, d2 + 1, sizeof e->fingerprint);
	return 0;
}

static int enroll_args(struct enroll *e, int argc, char **argv, bool *force)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "code", required_argument, NULL, 'k' },
		{ "id", required_argument, NULL, 'i' },
		{ "name", required_argument, NULL, 'n' },
		{ "config", required_argument, NULL, 'c' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "ca-file", required_argument, NULL, 'a' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static char host[256];
	int opt;

	e->config = "/etc/tether/tether-agent.conf";
	e->data_dir = "/var/lib/tether-agent";
	e->code = getenv("TETHER_ENROLL_CODE");
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's': e->server = optarg; break;
		case 'k': e->code = optarg; break;
		case 'i': e->id = optarg; break;
		case 'n': e->name = optarg; break;
		case 'c': e->config = optarg; break;
		case 'd': e->data_dir = optarg; break;
		case 'a': e->ca_file = optarg; break;
		case 'f': *force = true; break;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || !e->server || !e->code || !*e->code) {
		fprintf(stderr, "tether-agent: enroll needs --server and --code\n");
		usage(stderr);
		return 2;
	}
	if (!e->id) {
		if (gethostname(host, sizeof host - 1))
			util_strlcpy(host, "localhost", sizeof host);
		e->id = host;
	}
	if (!e->name)
		e->name = e->id;
	return 0;
}

int enroll_main(int argc, char **argv)
{
	struct enroll e;
	struct net_client_cfg cc;
	bool force = false;
	int rc;

	memset(&e, 0, sizeof e);
	rc = enroll_args(&e, argc, argv, &force);
	if (rc)
		return rc == 1 ? 0 : rc;
	if (parse_code(&e) || conn_parse_server(e.server, &e.url, e.error, sizeof e.error)) {
		if (e.error[0])
			fprintf(stderr, "tether-agent: enroll: %s\n", e.error);
		return 2;
	}
	if (e.fingerprint[0] && !e.url.tls) {
		fprintf(stderr, "tether-agent: enroll: the code pins the server's certificate: "
				"use a wss:// server address\n");
		return 2;
	}
	if (!force && access(e.config, F_OK) == 0) {
		fprintf(stderr, "tether-agent: enroll: %s exists (--force replaces it)\n", e.config);
		return 2;
	}
	uv_loop_init(&e.loop);
	e.net = net_ctx_create(&e.loop, 64, e.url.tls);
	uv_timer_init(&e.loop, &e.timer);
	e.timer.data = &e;
	memset(&cc, 0, sizeof cc);
	cc.host = e.url.host;
	cc.port = e.url.port;
	cc.path = e.url.path;
	cc.subprotocol = PROTO_SUBPROTOCOL;
	cc.tls = e.url.tls;
	cc.fingerprint = e.fingerprint[0] ? e.fingerprint : NULL;
	cc.ca_file = e.ca_file;
	cc.max_ws_message = 1024 * 1024;
	cc.max_ws_queue = 1024 * 1024;
	cc.cb = &callbacks;
	cc.ud = &e;
	e.nc = e.net ? net_client_connect(e.net, &cc) : NULL;
	if (!e.nc) {
		fprintf(stderr, "tether-agent: enroll: cannot reach %s\n", e.server);
		if (e.net)
			net_ctx_destroy(e.net);
		uv_close((uv_handle_t *)&e.timer, NULL);
		uv_run(&e.loop, UV_RUN_DEFAULT);
		net_ctx_free(e.net);
		uv_loop_close(&e.loop);
		return 1;
	}
	uv_timer_start(&e.timer, on_timeout, ENROLL_TIMEOUT_MS, 0);
	uv_run(&e.loop, UV_RUN_DEFAULT);
	net_ctx_free(e.net);
	uv_loop_close(&e.loop);
	if (!e.answer) {
		fprintf(stderr, "tether-agent: enroll: %s\n", e.error[0] ? e.error : "failed");
		return 1;
	}
	rc = write_config(&e) ? 1 : 0;
	json_decref(e.answer);
	if (!rc)
		printf("tether-agent: enrolled as '%s'; the configuration is in %s\n", e.id, e.config);
	return rc;
}
