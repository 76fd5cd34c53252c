/* tether-swarm: N simulated agents on one event loop, speaking the real
 * agent protocol, for tests and benchmarks (docs/swarm.md). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <sodium.h>
#include <uthash.h>
#include <uv.h>

#include "log.h"
#include "net.h"
#include "proto.h"
#include "util.h"

struct pending_result {
	char jid[UUID_STR_LEN];
	char *text;
	size_t len;
	struct pending_result *next;
};

struct sim {
	int idx;
	char id[96];
	net_conn *c;
	bool welcomed;
	bool dialing;
	int attempt;
	uint64_t retry_at;           /* 0: not waiting */
	struct pending_result *unacked;
};

/* A run to answer later (a binary heap on due time). */
struct task {
	uint64_t due;
	int agent;
	char jid[UUID_STR_LEN];
	bool cancelled;
};

struct seen {
	char jid[UUID_STR_LEN];
	UT_hash_handle hh;
};

static struct {
	uv_loop_t loop;
	net_ctx *net;
	char host[256];
	int port;
	char auth_id[128];
	char auth_pw[128];
	int count;
	int start;
	char prefix[64];
	json_t *tags;
	json_t *labels;
	json_t *services;
	int delay_ms;
	int jitter_ms;
	int output_bytes;
	int exit_code;
	int hang_every;
	int disconnect_every;
	int connect_rate;
	int stats_interval;
	struct sim *sims;
	int connected;
	bool announced;
	struct task *heap;
	size_t nheap, capheap;
	struct seen *seen;
	char *output;
	uv_timer_t tick;
	uv_timer_t stats;
	uv_signal_t sigterm, sigint, sigusr1;
	uint64_t runs, results, acks, duplicates, dials;
	int next_dial;
	bool stopping;
} S;

static const struct net_callbacks sim_callbacks;

/* ---- heap ------------------------------------------------------------ */

static void heap_push(struct task t)
{
	size_t i;

	if (S.nheap == S.capheap) {
		size_t nc = S.capheap ? S.capheap * 2 : 1024;
		struct task *nh = realloc(S.heap, nc * sizeof *nh);

		if (!nh)
			return;
		S.heap = nh;
		S.capheap = nc;
	}
	i = S.nheap++;
	while (i && S.heap[(i - 1) / 2].due > t.due) {
		S.heap[i] = S.heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	S.heap[i] = t;
}

static struct task heap_pop(void)
{
	struct task top = S.heap[0], last = S.heap[--S.nheap];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= S.nheap)
			break;
		if (c + 1 < S.nheap && S.heap[c + 1].due < S.heap[c].due)
			c++;
		if (S.heap[c].due >= last.due)
			break;
		S.heap[i] = S.heap[c];
		i = c;
	}
	if (S.nheap)
		S.heap[i] = last;
	return top;
}

/* ---- frames ------------------------------------------------------------ */

static void send_json(struct sim *a, json_t *m)
{
	size_t len;
	char *t = proto_dump(m, &len);

	json_decref(m);
	if (t && a->c && a->welcomed)
		net_ws_send(a->c, t, len);
	free(t);
}

static void send_hello(struct sim *a)
{
	json_t *m = proto_new(PROTO_HELLO);

	json_object_set_new(m, "auth_id", json_string(S.auth_id));
	json_object_set_new(m, "password", json_string(S.auth_pw));
	json_object_set_new(m, "id", json_string(a->id));
	json_object_set_new(m, "name", json_string(a->id));
	json_object_set_new(m, "version", json_string("swarm"));
	json_object_set_new(m, "facts", json_pack("{s:s, s:s, s:s}", "hostname", a->id,
						  "os_kernel", "linux", "os_arch", "amd64"));
	json_object_set_new(m, "tags", json_deep_copy(S.tags));
	json_object_set_new(m, "labels", json_deep_copy(S.labels));
	json_object_set_new(m, "services", json_deep_copy(S.services));
	json_object_set_new(m, "interpreters", json_pack("[s, s]", "sh", "/bin/sh"));
	{
		size_t len;
		char *t = proto_dump(m, &len);

		if (t)
			net_ws_send(a->c, t, len);
		free(t);
	}
	json_decref(m);
}

static void flush_unacked(struct sim *a)
{
	for (struct pending_result *p = a->unacked; p; p = p->next)
		net_ws_send(a->c, p->text, p->len);
}

static void keep_result(struct sim *a, const char *jid, json_t *m)
{
	struct pending_result *p = calloc(1, sizeof *p);

	if (!p) {
		json_decref(m);
		return;
	}
	util_strlcpy(p->jid, jid, sizeof p->jid);
	p->text = proto_dump(m, &p->len);
	json_decref(m);
	p->next = a->unacked;
	a->unacked = p;
	S.results++;
	if (a->c && a->welcomed && p->text)
		net_ws_send(a->c, p->text, p->len);
}

static void finish_task(struct task *t)
{
	struct sim *a = &S.sims[t->agent];
	json_t *m = proto_new(PROTO_RESULT);
	char now[TIME_STR_LEN];
	char err[64];

	util_time_format(util_now_ns(), now);
	json_object_set_new(m, "jid", json_string(t->jid));
	if (t->cancelled) {
		json_object_set_new(m, "status", json_string("failed"));
		json_object_set_new(m, "error", json_string("cancelled by the server"));
		json_object_set_new(m, "exit_code", json_integer(137));
	} else {
		json_object_set_new(m, "status", json_string(S.exit_code ? "failed" : "successful"));
		snprintf(err, sizeof err, "exit status %d", S.exit_code);
		json_object_set_new(m, "error", json_string(S.exit_code ? err : ""));
		json_object_set_new(m, "exit_code", json_integer(S.exit_code));
	}
	json_object_set_new(m, "stdout", json_string(S.output));
	json_object_set_new(m, "stderr", json_string(""));
	json_object_set_new(m, "pid", json_integer(10000 + t->agent));
	json_object_set_new(m, "finished_at", json_string(now));
	keep_result(a, t->jid, m);
}

static void on_run(struct sim *a, json_t *m)
{
	const char *jid = json_string_value(json_object_get(m, "jid"));
	struct seen *s;
	struct task t;
	json_t *st;
	char now[TIME_STR_LEN];

	S.runs++;
	HASH_FIND_STR(S.seen, jid, s);
	if (s) {
		S.duplicates++;
		return; /* never run twice */
	}
	s = calloc(1, sizeof *s);
	if (!s)
		return;
	util_strlcpy(s->jid, jid, sizeof s->jid);
	HASH_ADD_STR(S.seen, jid, s);
	if (S.hang_every && (a->idx % S.hang_every) == 0)
		return;
	util_time_format(util_now_ns(), now);
	st = proto_new(PROTO_STARTED);
	json_object_set_new(st, "jid", json_string(jid));
	json_object_set_new(st, "pid", json_integer(10000 + a->idx));
	json_object_set_new(st, "started_at", json_string(now));
	send_json(a, st);
	memset(&t, 0, sizeof t);
	t.agent = (int)(a - S.sims);
	util_strlcpy(t.jid, jid, sizeof t.jid);
	t.due = util_mono_ms() + (uint64_t)S.delay_ms +
		(S.jitter_ms ? randombytes_uniform((uint32_t)S.jitter_ms + 1) : 0);
	heap_push(t);
	if (S.disconnect_every && (a->idx % S.disconnect_every) == 0 && a->c)
		net_ws_drop(a->c); /* the result comes after the reconnect */
}

static void on_ack(struct sim *a, const char *jid)
{
	struct pending_result **pp = &a->unacked;

	S.acks++;
	while (*pp) {
		if (!strcmp((*pp)->jid, jid)) {
			struct pending_result *p = *pp;

			*pp = p->next;
			free(p->text);
			free(p);
			return;
		}
		pp = &(*pp)->next;
	}
}

static void on_cancel(struct sim *a, const char *jid)
{
	(void)a;
	for (size_t i = 0; i < S.nheap; i++)
		if (!strcmp(S.heap[i].jid, jid))
			S.heap[i].cancelled = true;
}

/* ---- connections -------------------------------------------------------- */

static void announce(void)
{
	if (S.connected == S.count && !S.announced) {
		printf("swarm: all %d connected\n", S.count);
		fflush(stdout);
		S.announced = true;
	}
}

static void dial(struct sim *a)
{
	struct net_client_cfg cc;

	memset(&cc, 0, sizeof cc);
	cc.host = S.host;
	cc.port = S.port;
	cc.path = "/";
	cc.subprotocol = PROTO_SUBPROTOCOL;
	cc.max_ws_message = 16 * 1024 * 1024;
	cc.max_ws_queue = 64 * 1024 * 1024;
	cc.cb = &sim_callbacks;
	cc.ud = a;
	a->retry_at = 0;
	a->dialing = true;
	S.dials++;
	a->c = net_client_connect(S.net, &cc);
	if (!a->c) {
		a->dialing = false;
		a->retry_at = util_mono_ms() + 500;
	}
}

static void schedule_retry(struct sim *a)
{
	uint64_t d = 250;

	for (int i = 0; i < a->attempt && d < 10000; i++)
		d *= 2;
	if (d > 10000)
		d = 10000;
	d = d / 2 + randombytes_uniform((uint32_t)(d / 2 + 1));
	if (a->attempt < 20)
		a->attempt++;
	a->retry_at = util_mono_ms() + d;
}

static void sim_open(void *ud, net_conn *c)
{
	struct sim *a = ud;

	(void)c;
	send_hello(a);
}

static void sim_message(void *ud, net_conn *c, const char *data, size_t len)
{
	struct sim *a = ud;
	enum proto_type t;
	char err[128];
	json_t *m;

	(void)c;
	if (proto_parse(data, len, &m, &t, err, sizeof err))
		return;
	switch (t) {
	case PROTO_WELCOME:
		a->welcomed = true;
		a->attempt = 0;
		a->dialing = false;
		S.connected++;
		flush_unacked(a);
		announce();
		break;
	case PROTO_RUN:
		on_run(a, m);
		break;
	case PROTO_ACK:
		on_ack(a, json_string_value(json_object_get(m, "jid")));
		break;
	case PROTO_CANCEL:
		on_cancel(a, json_string_value(json_object_get(m, "jid")));
		break;
	case PROTO_PING:
		send_json(a, proto_new(PROTO_PONG));
		break;
	default:
		break;
	}
	json_decref(m);
}

static void sim_close(void *ud, net_conn *c, const char *reason)
{
	struct sim *a = ud;

	(void)c;
	(void)reason;
	if (a->welcomed) {
		S.connected--;
		S.announced = false;
	}
	a->welcomed = false;
	a->dialing = false;
	a->c = NULL;
	if (!S.stopping)
		schedule_retry(a);
}

static const struct net_callbacks sim_callbacks = {
	.ws_open = sim_open,
	.ws_message = sim_message,
	.ws_close = sim_close,
};

/* Every 10 ms: due results, first dials (rate-limited) and retries. */
static void tick_cb(uv_timer_t *t)
{
	uint64_t now = util_mono_ms();
	int budget = S.connect_rate ? (S.connect_rate / 100 > 0 ? S.connect_rate / 100 : 1) : S.count;

	(void)t;
	while (S.nheap && S.heap[0].due <= now) {
		struct task task = heap_pop();

		finish_task(&task);
	}
	while (S.next_dial < S.count && budget > 0) {
		dial(&S.sims[S.next_dial++]);
		budget--;
	}
	/* Retries: a scan, at most every 100 ms. */
	{
		static uint64_t last;

		if (now - last >= 100) {
			last = now;
			for (int i = 0; i < S.next_dial; i++) {
				struct sim *a = &S.sims[i];

				if (!a->c && a->retry_at && a->retry_at <= now && budget-- > 0)
					dial(a);
			}
		}
	}
}

static void print_stats(void)
{
	fprintf(stderr,
		"swarm: connected %d/%d, runs %llu, results %llu, acks %llu, duplicates %llu, dials %llu\n",
		S.connected, S.count, (unsigned long long)S.runs, (unsigned long long)S.results,
		(unsigned long long)S.acks, (unsigned long long)S.duplicates,
		(unsigned long long)S.dials);
}

static void stats_cb(uv_timer_t *t)
{
	(void)t;
	print_stats();
}

static void on_signal(uv_signal_t *h, int sig)
{
	(void)h;
	if (sig == SIGUSR1) {
		print_stats();
		return;
	}
	if (S.stopping)
		return;
	S.stopping = true;
	uv_close((uv_handle_t *)&S.tick, NULL);
	uv_close((uv_handle_t *)&S.stats, NULL);
	uv_close((uv_handle_t *)&S.sigterm, NULL);
	uv_close((uv_handle_t *)&S.sigint, NULL);
	uv_close((uv_handle_t *)&S.sigusr1, NULL);
	net_ctx_destroy(S.net);
}

static json_t *split_list(const char *s)
{
	json_t *a = json_array();
	char *copy = strdup(s), *save = NULL, *tok;

	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		json_array_append_new(a, json_string(tok));
	free(copy);
	return a;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tether-swarm --server HOST:PORT --auth ID:PASSWORD --count N [options]\n"
		"  --prefix P           client ids P00000... (default swarm-)\n"
		"  --start N            first index (default 0)\n"
		"  --tags a,b           tags of every agent\n"
		"  --labels k:v,...     labels of every agent\n"
		"  --services a,b       services of every agent\n"
		"  --delay-ms N         time a run takes (default 0)\n"
		"  --jitter-ms N        random extra time per run\n"
		"  --output-bytes N     stdout size of a result (default 6)\n"
		"  --exit-code N        exit code of every run (non-zero: failed)\n"
		"  --hang-every K       every K-th agent never answers a run\n"
		"  --disconnect-every K every K-th agent drops its connection when a run arrives\n"
		"  --connect-rate N     at most N new connections per second\n"
		"  --stats-interval S   print counters every S seconds (also on SIGUSR1)\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' }, { "auth", required_argument, NULL, 'a' },
		{ "count", required_argument, NULL, 'n' }, { "prefix", required_argument, NULL, 'p' },
		{ "start", required_argument, NULL, 'S' }, { "tags", required_argument, NULL, 't' },
		{ "labels", required_argument, NULL, 'l' }, { "services", required_argument, NULL, 'v' },
		{ "delay-ms", required_argument, NULL, 'd' }, { "jitter-ms", required_argument, NULL, 'j' },
		{ "output-bytes", required_argument, NULL, 'o' },
		{ "exit-code", required_argument, NULL, 'e' },
		{ "hang-every", required_argument, NULL, 'H' },
		{ "disconnect-every", required_argument, NULL, 'D' },
		{ "connect-rate", required_argument, NULL, 'r' },
		{ "stats-interval", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	char *server = NULL, *auth = NULL;
	struct rlimit rl;
	long long v;
	int opt;

	log_set_ident("tether-swarm");
	log_current_level = LOG_ERROR;
	if (sodium_init() < 0)
		return 1;
	util_strlcpy(S.prefix, "swarm-", sizeof S.prefix);
	S.tags = json_array();
	S.labels = json_object();
	S.services = json_array();
	S.output_bytes = 6;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		const char *a = optarg;

		switch (opt) {
		case 's': server = optarg; break;
		case 'a': auth = optarg; break;
		case 'p': util_strlcpy(S.prefix, a, sizeof S.prefix); break;
		case 't': json_decref(S.tags); S.tags = split_list(a); break;
		case 'v': json_decref(S.services); S.services = split_list(a); break;
		case 'l': {
			json_t *l = split_list(a);
			size_t i;
			json_t *x;

			json_array_foreach(l, i, x) {
				const char *kv = json_string_value(x), *c = strchr(kv, ':');
				char k[128];

				if (!c || (size_t)(c - kv) >= sizeof k) {
					fprintf(stderr, "tether-swarm: --labels takes k:v,...\n");
					return 2;
				}
				memcpy(k, kv, (size_t)(c - kv));
				k[c - kv] = '\0';
				json_object_set_new(S.labels, k, json_string(c + 1));
			}
			json_decref(l);
			break;
		}
		case 'h': usage(stdout); return 0;
		case 'n': case 'S': case 'd': case 'j': case 'o': case 'e': case 'H': case 'D':
		case 'r': case 'i':
			if (util_parse_int(a, 0, 100000000, &v)) {
				fprintf(stderr, "tether-swarm: --%s needs a number\n",
					opts[0].name ? "option" : "");
				return 2;
			}
			if (opt == 'n') S.count = (int)v;
			if (opt == 'S') S.start = (int)v;
			if (opt == 'd') S.delay_ms = (int)v;
			if (opt == 'j') S.jitter_ms = (int)v;
			if (opt == 'o') S.output_bytes = (int)v;
			if (opt == 'e') S.exit_code = (int)v;
			if (opt == 'H') S.hang_every = (int)v;
			if (opt == 'D') S.disconnect_every = (int)v;
			if (opt == 'r') S.connect_rate = (int)v;
			if (opt == 'i') S.stats_interval = (int)v;
			break;
		default: usage(stderr); return 2;
		}
	}
	if (!server || !auth || !strchr(auth, ':') || S.count <= 0 ||
	    util_parse_hostport(server, S.host, sizeof S.host, &S.port)) {
		usage(stderr);
		return 2;
	}
	util_strlcpy(S.auth_id, auth, sizeof S.auth_id);
	*strchr(S.auth_id, ':') = '\0';
	util_strlcpy(S.auth_pw, strchr(auth, ':') + 1, sizeof S.auth_pw);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
		if ((long long)rl.rlim_cur < (long long)S.count + 100) {
			fprintf(stderr, "tether-swarm: %d agents need %d file descriptors; the limit is %llu\n",
				S.count, S.count + 100, (unsigned long long)rl.rlim_cur);
			return 2;
		}
	}
	S.output = malloc((size_t)S.output_bytes + 1);
	memset(S.output, 'x', (size_t)S.output_bytes);
	if (S.output_bytes)
		S.output[S.output_bytes - 1] = '\n';
	S.output[S.output_bytes] = '\0';
	S.sims = calloc((size_t)S.count, sizeof *S.sims);
	for (int i = 0; i < S.count; i++) {
		S.sims[i].idx = S.start + i;
		snprintf(S.sims[i].id, sizeof S.sims[i].id, "%.60s%05d", S.prefix, (S.start + i) % 10000000);
	}
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&S.loop);
	S.net = net_ctx_create(&S.loop, S.count + 100);
	if (!S.net)
		return 1;
	uv_timer_init(&S.loop, &S.tick);
	uv_timer_start(&S.tick, tick_cb, 0, 10);
	uv_timer_init(&S.loop, &S.stats);
	if (S.stats_interval)
		uv_timer_start(&S.stats, stats_cb, (uint64_t)S.stats_interval * 1000,
			       (uint64_t)S.stats_interval * 1000);
	uv_signal_init(&S.loop, &S.sigterm);
	uv_signal_init(&S.loop, &S.sigint);
	uv_signal_init(&S.loop, &S.sigusr1);
	uv_signal_start(&S.sigterm, on_signal, SIGTERM);
	uv_signal_start(&S.sigint, on_signal, SIGINT);
	uv_signal_start(&S.sigusr1, on_signal, SIGUSR1);
	uv_run(&S.loop, UV_RUN_DEFAULT);
	net_ctx_free(S.net);
	uv_loop_close(&S.loop);
	print_stats();
	return 0;
}
