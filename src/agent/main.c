/* tether-agent: config -> loop -> connection -> run -> stop. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "agent.h"
#include "conn.h"
#include "enroll.h"
#include "reload.h"
#include "exec.h"
#include "log.h"
#include "util.h"

static struct agent agent;
static uv_signal_t sig_term, sig_int, sig_hup;
static const char *config_path;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tether-agent -c FILE [options]\n"
		"       tether-agent enroll --server URL --code CODE [options]\n"
		"                                           (gets a credential, writes the configuration)\n"
		"       tether-agent check-config -c FILE   (checks the configuration and the policy,\n"
		"                                           without connecting or running anything)\n"
		"\n"
		"  -c, --config FILE       TOML configuration ([client], [remote-commands]...);\n"
		"                          see docs/configuration.md\n"
		"      --log-level LEVEL   error, warn, info or debug\n"
		"  -h, --help              this text\n"
		"  -V, --version           print the version\n");
}

static void on_signal(uv_signal_t *h, int signum)
{
	(void)h;
	if (agent.stopping)
		return;
	agent.stopping = true;
	log_info("signal %d: stopping", signum);
	uv_close((uv_handle_t *)&sig_term, NULL);
	uv_close((uv_handle_t *)&sig_int, NULL);
	uv_close((uv_handle_t *)&sig_hup, NULL);
	conn_stop(agent.conn);
	exec_destroy(agent.exec);
	agent.exec = NULL;
	net_ctx_destroy(agent.net);
}

/* SIGHUP: the policy again from the file (reload.c). */
static void on_hup(uv_signal_t *h, int signum)
{
	char err[1024];

	(void)h;
	(void)signum;
	if (agent_reload(&agent, config_path, err, sizeof err))
		log_error("SIGHUP: %s: not reloaded, the rules in force stay", err);
	else
		log_info("SIGHUP: the policy of %s is reloaded", config_path);
}

static int make_policy(char *err, size_t errlen)
{
	const struct agent_config *c = &agent.cfg;
	const char *const *allow = c->allow ? (const char *const *)c->allow : POLICY_DEFAULT_ALLOW;
	size_t nallow = c->allow ? c->nallow : POLICY_DEFAULT_NALLOW;
	const char *const *deny = c->deny ? (const char *const *)c->deny : POLICY_DEFAULT_DENY;
	size_t ndeny = c->deny ? c->ndeny : POLICY_DEFAULT_NDENY;

	return policy_create(allow, nallow, deny, ndeny, c->order, &agent.policy, err, errlen);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *level = NULL;
	char err[1024];
	uv_loop_t loop;
	int opt, rc = 1;
	bool check_only = false;

	log_set_ident("tether-agent");
	/* libuv's thread pool only fsyncs journaled results here: one thread
	 * (the default is four) keeps the idle footprint small. */
	setenv("UV_THREADPOOL_SIZE", "1", 0);
	if (sodium_init() < 0)
		return 1;
	if (argc > 1 && !strcmp(argv[1], "enroll"))
		return enroll_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "check-config")) {
		check_only = true;
		argv++;
		argc--;
	}
	while ((opt = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 'l': level = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("tether-agent %s\n", AGENT_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!config) {
		fprintf(stderr, "tether-agent: a configuration file is required (-c FILE)\n");
		usage(stderr);
		return 2;
	}
	agent_config_defaults(&agent.cfg);
	if (agent_config_load(&agent.cfg, config, err, sizeof err) ||
	    agent_config_check(&agent.cfg, err, sizeof err)) {
		fprintf(stderr, "tether-agent: %s\n", err);
		agent_config_free(&agent.cfg);
		return 2;
	}
	if (level)
		util_strlcpy(agent.cfg.log_level, level, sizeof agent.cfg.log_level);
	if (log_set_level_name(agent.cfg.log_level)) {
		fprintf(stderr, "tether-agent: unknown log level '%s'\n", agent.cfg.log_level);
		agent_config_free(&agent.cfg);
		return 2;
	}
	if (log_set_format_name(agent.cfg.log_format)) {
		fprintf(stderr,
			"tether-agent: client.log_format '%s' is not text, json, journal or auto\n",
			agent.cfg.log_format);
		agent_config_free(&agent.cfg);
		return 2;
	}
	if (!check_only && geteuid() == 0 && !agent.cfg.allow_root) {
		fprintf(stderr,
			"tether-agent: refusing to run as root: every command would run as root.\n"
			"Run it as an unprivileged user (see README), or set allow_root = true in [client].\n");
		agent_config_free(&agent.cfg);
		return 2;
	}
	if (make_policy(err, sizeof err)) {
		fprintf(stderr, "tether-agent: [remote-commands]: %s\n", err);
		agent_config_free(&agent.cfg);
		return 2;
	}
	if (check_only) {
		printf("tether-agent: the configuration %s is valid\n", config);
		if (geteuid() == 0 && !agent.cfg.allow_root)
			printf("tether-agent: note: running as root needs allow_root = true in [client]\n");
		agent_config_free(&agent.cfg);
		return 0;
	}
	if (mkdir(agent.cfg.data_dir, 0700) && errno != EEXIST) {
		fprintf(stderr, "tether-agent: cannot create data_dir %s: %s\n", agent.cfg.data_dir,
			strerror(errno));
		goto out_cfg;
	}
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&loop);
	agent.loop = &loop;
	agent.net = net_ctx_create(&loop, 1024, !strncasecmp(agent.cfg.server, "wss://", 6));
	if (!agent.net)
		goto out;
	if (conn_create(&agent, &agent.conn, err, sizeof err)) {
		fprintf(stderr, "tether-agent: %s\n", err);
		goto out;
	}
	if (exec_create(&agent, conn_report, agent.conn, &agent.exec))
		goto out;
	uv_signal_init(&loop, &sig_term);
	uv_signal_init(&loop, &sig_int);
	uv_signal_start(&sig_term, on_signal, SIGTERM);
	uv_signal_start(&sig_int, on_signal, SIGINT);
	config_path = config;
	uv_signal_init(&loop, &sig_hup);
	uv_signal_start(&sig_hup, on_hup, SIGHUP);
	log_info("tether-agent %s: client '%s', server %s", AGENT_VERSION, agent.cfg.id,
		 agent.cfg.server);
	conn_start(agent.conn);
	uv_run(&loop, UV_RUN_DEFAULT);
	rc = 0;
out:
	net_ctx_free(agent.net);
	exec_destroy(agent.exec);
	conn_destroy(agent.conn);
	uv_loop_close(&loop);
out_cfg:
	policy_destroy(agent.policy);
	agent_config_free(&agent.cfg);
	return rc;
}
