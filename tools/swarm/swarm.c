/* tether-swarm: thousands of simulated agents on one libuv loop, speaking
 * the real agent protocol (hello, started, result, ack, ping) to a real
 * tetherd, for tests and benchmarks. Usage and figures: docs/swarm.md.
 *
 * Memory is what limits a swarm, so the per-agent state is a few bytes and
 * nothing is per agent but the connection itself:
 * - every delayed action (a run's end, a simulated drop, a reconnect after
 *   backoff) is one entry in one binary heap driven by one uv_timer;
 * - pings go out in slices from one periodic timer (agent i pings in slice
 *   i % slices, so each agent pings once per keep-alive period);
 * - dials wait in one FIFO, paced by --connect-rate and by a cap on
 *   handshakes in flight (tetherd refuses with 1013 beyond its
 *   max_concurrent_handshakes, and a refused agent only backs off);
 * - jobs live in one open-addressing table keyed by jid. An acked job stays
 *   as a tombstone without its text, so a replayed run is never run twice.
 *
 * Connections belong to net (src/common/net.c): a net_conn is used only
 * between net_client_connect and its ws_close, and never dialled or closed
 * from inside net's callbacks without going through the loop first.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "log.h"
#include "net.h"
#include "proto.h"
#include "util.h"

#define SWARM_VERSION "tether-swarm/1"
#define FD_RESERVE 100            /* fds beyond one per agent */
#define FD_TABLE_MAX (1ULL << 20) /* soft limit when the hard one is larger */
#define PING_TICK_MS 100          /* one slice of agents pinged per tick */
#define DROP_MIN_MS 50            /* a simulated drop comes this late at least */
#define DROP_RETRY_MS 10          /* ... and after "started" has left */
#define CANCEL_EXIT_CODE 143      /* 128 + SIGTERM, as a real agent's killed job */
#define MAX_OUTPUT (16LL * 1024 * 1024)
#define ERROR_LOG_MAX 10          /* server error frames logged, then counted */
#define START_HOLD_MS 5           /* v2: "started" waits this long, as the agent's */

/* ---- configuration ---------------------------------------------------- */

struct swarm_cfg {
	const char *server;
	const char *auth;
	const char *prefix;
	const char *tags;
	const char *labels;
	const char *services;
	const char *local_addr;
	const char *log_level;
	const char *tls_ca;
	const char *runs_file;
	long long count;
	long long start;
	long long delay_ms;
	long long jitter_ms;
	long long output_bytes;
	long long exit_code;
	long long hang_every;
	long long disconnect_every;
	long long connect_rate;
	long long max_pending;
	long long stats_interval;
	long long min_retry_ms;
	long long max_retry_ms;
	long long keep_alive_ms;
	long long keep_alive_timeout_ms;
	long long protocol;
};

enum opt_type { OPT_STR, OPT_INT };

/* Every option, its field and its bounds (redis config.c style). */
static const struct swarm_opt {
	const char *name;
	enum opt_type type;
	size_t off;
	long long min, max;
	const char *arg;
	const char *help;
} swarm_opts[] = {
#define S_(n, f, a, h) { n, OPT_STR, offsetof(struct swarm_cfg, f), 0, 0, a, h }
#define I_(n, f, lo, hi, a, h) { n, OPT_INT, offsetof(struct swarm_cfg, f), lo, hi, a, h }
	S_("server", server, "HOST:PORT", "tetherd's agent listener (required)"),
	S_("auth", auth, "ID:PASSWORD", "client credential (required)"),
	I_("count", count, 1, 1000000, "N", "number of agents (required)"),
	S_("prefix", prefix, "P", "client ids are P00000, P00001... (default swarm-)"),
	I_("start", start, 0, 100000000, "N", "index of the first agent (default 0)"),
	S_("tags", tags, "a,b", "tags of every agent"),
	S_("labels", labels, "k:v,...", "labels of every agent"),
	S_("services", services, "a,b", "services of every agent"),
	I_("delay-ms", delay_ms, 0, 86400000, "N", "time a run takes (default 0)"),
	I_("jitter-ms", jitter_ms, 0, 86400000, "N", "random extra time per run, 0..N (default 0)"),
	I_("output-bytes", output_bytes, 0, MAX_OUTPUT, "N", "stdout bytes of a result (default 0)"),
	I_("exit-code", exit_code, 0, 255, "N", "exit code of every run; non-zero: failed (default 0)"),
	I_("hang-every", hang_every, 0, 100000000, "K",
	   "agents whose index is a multiple of K never answer a run"),
	I_("disconnect-every", disconnect_every, 0, 100000000, "K",
	   "agents whose index is a multiple of K drop their connection mid-run"),
	I_("connect-rate", connect_rate, 0, 1000000, "N",
	   "at most N new connections a second (default 0: unlimited)"),
	I_("max-pending", max_pending, 1, 100000, "N",
	   "at most N handshakes in flight (default 200)"),
	I_("stats-interval", stats_interval, 0, 86400, "S", "print counters every S seconds"),
	I_("min-retry-ms", min_retry_ms, 10, 3600000, "N", "first reconnect backoff (default 1000)"),
	I_("max-retry-ms", max_retry_ms, 10, 3600000, "N", "largest reconnect backoff (default 30000)"),
	I_("keep-alive-ms", keep_alive_ms, 100, 3600000, "N", "ping period (default 20000)"),
	I_("keep-alive-timeout-ms", keep_alive_timeout_ms, 1000, 86400000, "N",
	   "reconnect when the server is silent this long (default 60000)"),
	I_("protocol", protocol, 1, PROTO_VERSION, "N",
	   "agent protocol version to offer (default: the newest, 2)"),
	S_("local-addr", local_addr, "IP", "source address of the connections"),
	S_("log-level", log_level, "L", "error, warn (default), info or debug"),
	S_("tls-ca", tls_ca, "FILE", "connect over TLS (wss), verifying the server against this CA"),
	S_("runs-file", runs_file, "FILE", "append the jid of every run started, one a line"),
#undef S_
#undef I_
};
#define NOPTS (sizeof swarm_opts / sizeof swarm_opts[0])

/* ---- state ------------------------------------------------------------- */

enum sim_state {
	SIM_IDLE,        /* nothing scheduled (stopping) */
	SIM_BACKOFF,     /* an EV_DIAL entry waits in the heap */
	SIM_QUEUED,      /* in the dial FIFO */
	SIM_CONNECTING,  /* dialled, no ws_open yet */
	SIM_HELLO,       /* hello sent, no welcome yet */
	SIM_WELCOMED,
	SIM_CLOSING,     /* closed or dropped by us; ws_close to come */
};

enum job_state { JOB_RUNNING, JOB_HUNG, JOB_HELD, JOB_ACKED };

struct job {
	char jid[UUID_STR_LEN];
	uint8_t state;
	uint8_t drop_pending;    /* a simulated drop must come first */
	uint32_t agent;          /* index into sims[] */
	int32_t pid;
	int64_t started_ns;
	struct job *next_held;   /* next in the agent's live list (JOB_RUNNING,
				  * JOB_HUNG) or held list (JOB_HELD) */
	char *text;              /* result frame while JOB_HELD */
	size_t len;
};

/* One agent: 32 bytes, its index is its position in sims[]. */
struct sim {
	net_conn *nc;
	struct job *held;        /* results not yet acked, newest first */
	struct job *live;        /* runs not finished (said in hello) */
	uint32_t last_rx_s;      /* loop time of the last frame, seconds */
	uint8_t state;
	uint8_t attempt;         /* failed dials since the last welcome */
	uint8_t proto;           /* the version the welcome named */
};

enum ev_kind { EV_DIAL, EV_FINISH, EV_DROP, EV_STARTED };

struct ev {
	uint64_t due;            /* loop time, ms */
	uint64_t seq;            /* FIFO among equal due times */
	void *p;                 /* struct sim (EV_DIAL) or struct job */
	int kind;
};

struct counters {
	uint64_t runs, results, resent, acks, duplicates, cancels, drops;
	uint64_t disconnects, dials, dial_failures, errors, hangs;
};

static struct swarm {
	struct swarm_cfg cfg;
	uv_loop_t loop;
	net_ctx *net;
	int fd_limit;
	char host[256];
	int port;
	char auth_id[256];
	const char *password;
	json_t *tags, *labels, *services, *interpreters, *facts;
	char *output;            /* --output-bytes of stdout, shared */
	char *output_json;       /* ... as a JSON string, quoted and escaped */
	char *ping_text;         /* the ping frame, built once */
	size_t ping_len;
	struct sim *sims;
	uint32_t count;
	/* connection counts */
	uint32_t welcomed;
	uint32_t inflight;       /* SIM_CONNECTING + SIM_HELLO */
	uint32_t nconns;         /* net_conns alive */
	bool announced;          /* "all N connected" printed for this round */
	bool warned_connect;
	/* dial FIFO (ring of agent indexes) */
	uint32_t *queue;
	uint32_t qhead, qlen;
	uint64_t next_dial_us;
	/* timer heap */
	struct ev *heap;
	size_t nheap, capheap;
	uint64_t seq;
	/* jobs */
	struct job **jobs;
	size_t njobs, capjobs;
	int32_t next_pid;
	uint64_t rng;
	uint64_t ping_tick;
	struct counters n;
	bool stopping;
	bool destroyed;
	FILE *runs;               /* --runs-file, line-buffered */
	uv_timer_t tick, pump, ping, stats, stop;
	uv_signal_t sig_term, sig_int, sig_usr1;
} S;

static const struct net_callbacks sim_callbacks;

/* ---- small helpers ------------------------------------------------------ */

static uint64_t now_ms(void)
{
	return uv_now(&S.loop);
}

/* xorshift64*: jitter only, not security. */
static uint64_t rnd(uint64_t below)
{
	uint64_t x = S.rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	S.rng = x;
	return below ? (x * 2685821657736338717ULL) % below : 0;
}

static uint32_t sim_index(const struct sim *a)
{
	return (uint32_t)(a - S.sims);
}

/* The agent's number as its id shows it (--start counts). */
static uint64_t sim_number(const struct sim *a)
{
	return (uint64_t)S.cfg.start + sim_index(a);
}

static void sim_id(const struct sim *a, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s%05llu", S.cfg.prefix, (unsigned long long)sim_number(a));
}

static bool every(long long k, const struct sim *a)
{
	return k > 0 && sim_number(a) % (uint64_t)k == 0;
}

/* ---- timer heap ---------------------------------------------------------- */

static bool ev_before(const struct ev *x, const struct ev *y)
{
	return x->due < y->due || (x->due == y->due && x->seq < y->seq);
}

static void tick_cb(uv_timer_t *t);

static void tick_arm(void)
{
	uint64_t now = now_ms();

	if (S.stopping || !S.nheap)
		return;
	uv_timer_start(&S.tick, tick_cb, S.heap[0].due > now ? S.heap[0].due - now : 0, 0);
}

/* Returns 0 or TE_NOMEM. */
static int ev_push(int kind, void *p, uint64_t due)
{
	struct ev e = { .due = due, .seq = S.seq++, .p = p, .kind = kind };
	size_t i;

	if (S.nheap == S.capheap) {
		size_t nc = S.capheap ? S.capheap * 2 : 1024;
		struct ev *nh = realloc(S.heap, nc * sizeof *nh);

		if (!nh)
			return TE_NOMEM;
		S.heap = nh;
		S.capheap = nc;
	}
	i = S.nheap++;
	while (i && ev_before(&e, &S.heap[(i - 1) / 2])) {
		S.heap[i] = S.heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	S.heap[i] = e;
	if (i == 0)
		tick_arm();
	return 0;
}

static struct ev ev_pop(void)
{
	struct ev top = S.heap[0], last = S.heap[--S.nheap];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= S.nheap)
			break;
		if (c + 1 < S.nheap && ev_before(&S.heap[c + 1], &S.heap[c]))
			c++;
		if (!ev_before(&S.heap[c], &last))
			break;
		S.heap[i] = S.heap[c];
		i = c;
	}
	if (S.nheap)
		S.heap[i] = last;
	return top;
}

/* ---- job table (open addressing, never shrinks: acked jobs stay) ---------- */

static uint64_t jid_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

static struct job *jobs_find(const char *jid)
{
	size_t mask = S.capjobs - 1;

	if (!S.capjobs)
		return NULL;
	for (size_t i = jid_hash(jid) & mask;; i = (i + 1) & mask) {
		if (!S.jobs[i])
			return NULL;
		if (!strcmp(S.jobs[i]->jid, jid))
			return S.jobs[i];
	}
}

static void jobs_place(struct job **tab, size_t cap, struct job *j)
{
	size_t i = jid_hash(j->jid) & (cap - 1);

	while (tab[i])
		i = (i + 1) & (cap - 1);
	tab[i] = j;
}

/* Takes ownership of j on success. Returns 0 or TE_NOMEM. */
static int jobs_insert(struct job *j)
{
	if ((S.njobs + 1) * 2 > S.capjobs) {
		size_t nc = S.capjobs ? S.capjobs * 2 : 1024;
		struct job **nt = calloc(nc, sizeof *nt);

		if (!nt)
			return TE_NOMEM;
		for (size_t i = 0; i < S.capjobs; i++)
			if (S.jobs[i])
				jobs_place(nt, nc, S.jobs[i]);
		free(S.jobs);
		S.jobs = nt;
		S.capjobs = nc;
	}
	jobs_place(S.jobs, S.capjobs, j);
	S.njobs++;
	return 0;
}

/* ---- sending ---------------------------------------------------------------- */

static void send_text(struct sim *a, const char *text, size_t len)
{
	if (a->state == SIM_WELCOMED || a->state == SIM_HELLO) {
		int rc = net_ws_send(a->nc, text, len);

		if (rc)
			log_warn("swarm: agent %u: send failed (%d)", sim_index(a), rc);
	}
}

/* Sends a frame and decrefs it. */
static void send_frame(struct sim *a, json_t *m)
{
	size_t len;
	char *text = m ? proto_dump(m, &len) : NULL;

	json_decref(m);
	if (text)
		send_text(a, text, len);
	free(text);
}

static void send_hello(struct sim *a)
{
	json_t *m = proto_new(PROTO_HELLO);
	json_t *facts = json_copy(S.facts);
	char id[160];

	sim_id(a, id, sizeof id);
	json_object_set_new(facts, "hostname", json_string(id));
	json_object_set_new(m, "auth_id", json_string(S.auth_id));
	json_object_set_new(m, "password", json_string(S.password));
	json_object_set_new(m, "id", json_string(id));
	json_object_set_new(m, "name", json_string(id));
	json_object_set_new(m, "version", json_string(SWARM_VERSION));
	json_object_set_new(m, "protocol", json_integer(S.cfg.protocol));
	json_object_set_new(m, "facts", facts);
	json_object_set(m, "tags", S.tags);
	json_object_set(m, "labels", S.labels);
	json_object_set(m, "services", S.services);
	json_object_set(m, "interpreters", S.interpreters);
	/* As a real agent: the runs it still has, and the results it holds
	 * (offered again after welcome), so the server sends neither again. */
	{
		json_t *running = json_array(), *held = json_array();

		for (struct job *j = a->live; j; j = j->next_held)
			json_array_append_new(running, json_string(j->jid));
		for (struct job *j = a->held; j; j = j->next_held)
			json_array_append_new(held, json_string(j->jid));
		json_object_set_new(m, "running", running);
		json_object_set_new(m, "held", held);
	}
	send_frame(a, m);
}

/* ---- connection state ---------------------------------------------------------- */

/* Takes the agent out of the counts of its current state. */
static void sim_leave(struct sim *a)
{
	switch (a->state) {
	case SIM_CONNECTING:
	case SIM_HELLO:
		S.inflight--;
		break;
	case SIM_WELCOMED:
		S.welcomed--;
		S.announced = false;
		if (!S.stopping)
			S.n.disconnects++;
		break;
	default:
		break;
	}
}

static void pump_kick(void);

static void queue_push(struct sim *a)
{
	S.queue[(S.qhead + S.qlen) % S.count] = sim_index(a);
	S.qlen++;
	a->state = SIM_QUEUED;
	pump_kick();
}

static uint64_t backoff_ms(struct sim *a)
{
	uint64_t d = (uint64_t)S.cfg.min_retry_ms;
	uint64_t max = (uint64_t)S.cfg.max_retry_ms;

	for (int i = 0; i < a->attempt && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	if (a->attempt < 30)
		a->attempt++;
	/* Half fixed, half random, as the real agent: spreads a fleet's
	 * reconnects after a server restart. */
	return d / 2 + rnd(d / 2 + 1);
}

static void sim_backoff(struct sim *a)
{
	a->state = SIM_BACKOFF;
	if (ev_push(EV_DIAL, a, now_ms() + backoff_ms(a)))
		queue_push(a); /* no memory for the timer: retry through the FIFO */
}

/* Ends the agent's connection from our side. code 0: a lost connection,
 * cut without waiting for the close handshake. ws_close follows from the
 * loop. */
static void sim_disconnect(struct sim *a, int code, const char *reason)
{
	if (!a->nc || a->state == SIM_CLOSING)
		return;
	sim_leave(a);
	a->state = SIM_CLOSING;
	if (code) {
		net_ws_close(a->nc, code, reason);
		return;
	}
	/* net_ws_drop alone arms a zero-second lws timeout that, under
	 * libuv, fires only at lws's next unrelated service (seconds
	 * later on an idle connection); the close asks for a writeable
	 * callback, which wakes lws, and the drop then cuts the socket
	 * whether or not the close frame got out. */
	net_ws_close(a->nc, PROTO_CLOSE_SHUTDOWN, "connection lost (simulated)");
	net_ws_drop(a->nc);
}

static void dial(struct sim *a)
{
	struct net_client_cfg cc;
	net_conn *nc;

	memset(&cc, 0, sizeof cc);
	cc.host = S.host;
	cc.port = S.port;
	cc.path = "/";
	cc.subprotocol = PROTO_SUBPROTOCOL;
	cc.max_ws_message = 16 * 1024 * 1024;
	cc.max_ws_queue = 256 * 1024 * 1024;
	cc.local_addr = S.cfg.local_addr;
	cc.tls = S.cfg.tls_ca != NULL;
	cc.ca_file = S.cfg.tls_ca;
	cc.cb = &sim_callbacks;
	cc.ud = a;
	S.n.dials++;
	nc = net_client_connect(S.net, &cc);
	if (!nc) {
		S.n.dial_failures++;
		sim_backoff(a);
		return;
	}
	a->nc = nc;
	a->state = SIM_CONNECTING;
	S.inflight++;
	S.nconns++;
}

/* Dials from the FIFO while handshakes in flight and the rate allow. */
static void pump_cb(uv_timer_t *t)
{
	uint64_t interval = S.cfg.connect_rate ? 1000000ULL / (uint64_t)S.cfg.connect_rate : 0;

	(void)t;
	while (!S.stopping && S.qlen && S.inflight < (uint64_t)S.cfg.max_pending) {
		struct sim *a;

		if (interval) {
			uint64_t now_us = uv_hrtime() / 1000;

			if (now_us < S.next_dial_us) {
				uv_timer_start(&S.pump, pump_cb,
					       (S.next_dial_us - now_us + 999) / 1000, 0);
				return;
			}
			/* A burst of at most 10 ms worth after a pause. */
			if (S.next_dial_us + 10000 < now_us)
				S.next_dial_us = now_us - 10000;
			S.next_dial_us += interval;
		}
		a = &S.sims[S.queue[S.qhead]];
		S.qhead = (S.qhead + 1) % S.count;
		S.qlen--;
		if (a->state == SIM_QUEUED)
			dial(a);
	}
}

/* Runs the pump from the loop, never inside net's callbacks. */
static void pump_kick(void)
{
	if (!S.stopping && !uv_is_active((uv_handle_t *)&S.pump))
		uv_timer_start(&S.pump, pump_cb, 0, 0);
}

static void announce(void)
{
	if (S.welcomed == S.count && !S.announced) {
		S.announced = true;
		S.warned_connect = false;
		printf("swarm: all %u connected\n", S.count);
		fflush(stdout);
	}
}

/* ---- jobs -------------------------------------------------------------------- */

/* Builds the result frame, keeps it until acked and sends it if it can. */
/* Takes a job off its agent's live list (it has finished). */
static void live_unlink(struct sim *a, struct job *j)
{
	for (struct job **pp = &a->live; *pp; pp = &(*pp)->next_held) {
		if (*pp == j) {
			*pp = j->next_held;
			j->next_held = NULL;
			return;
		}
	}
}

static void job_finish(struct job *j, const char *status, long long code, const char *error)
{
	struct sim *a = &S.sims[j->agent];
	char started[TIME_STR_LEN], finished[TIME_STR_LEN];
	struct buf b;
	int rc;

	live_unlink(a, j);
	util_time_format(j->started_ns, started);
	util_time_format(util_now_ns(), finished);
	/* A fixed layout (the output escaped once at start): the swarm
	 * shares the cores with the server it measures. */
	buf_init(&b, (size_t)MAX_OUTPUT * 8 + 4096);
	rc = buf_appendf(&b, "{\"type\":\"result\",\"jid\":\"%s\",\"status\":\"%s\","
			 "\"exit_code\":%lld,\"error\":", j->jid, status, code);
	if (!rc)
		rc = proto_put_str(&b, error, strlen(error));
	if (!rc)
		rc = buf_appendf(&b, ",\"stdout\":%s,\"stderr\":\"\",\"stdout_dropped\":0,"
				 "\"stderr_dropped\":0,\"pid\":%d,\"started_at\":\"%s\","
				 "\"finished_at\":\"%s\"}", S.output_json, (int)j->pid, started,
				 finished);
	j->text = rc ? NULL : buf_steal(&b, &j->len);
	buf_free(&b);
	if (!j->text) {
		/* Cannot hold it: the server finishes the job as unknown
		 * after its deadline. */
		log_error("swarm: job %s: out of memory building its result", j->jid);
		j->state = JOB_ACKED;
		return;
	}
	j->state = JOB_HELD;
	j->next_held = a->held;
	a->held = j;
	if (a->state == SIM_WELCOMED) {
		S.n.results++;
		send_text(a, j->text, j->len);
	}
}

static void job_complete(struct job *j)
{
	char error[64] = "";

	if (S.cfg.exit_code)
		snprintf(error, sizeof error, "exit status %lld", S.cfg.exit_code);
	job_finish(j, S.cfg.exit_code ? "failed" : "successful", S.cfg.exit_code, error);
}

static void ev_finish(struct job *j)
{
	if (j->state != JOB_RUNNING)
		return; /* cancelled meanwhile */
	if (j->drop_pending) {
		/* The drop goes first: its result must cross a reconnect. */
		ev_push(EV_FINISH, j, now_ms() + DROP_RETRY_MS);
		return;
	}
	job_complete(j);
}

static void ev_drop(struct job *j)
{
	struct sim *a = &S.sims[j->agent];

	if (j->state != JOB_RUNNING) {
		j->drop_pending = 0;
		return;
	}
	if (a->state == SIM_WELCOMED && net_ws_queued(a->nc)) {
		/* "started" must reach the server first: the REST call that
		 * started the job waits for it. */
		ev_push(EV_DROP, j, now_ms() + DROP_RETRY_MS);
		return;
	}
	j->drop_pending = 0;
	if (a->state == SIM_WELCOMED) {
		S.n.drops++;
		sim_disconnect(a, 0, NULL);
	}
}

static void send_started(struct job *j)
{
	struct sim *a = &S.sims[j->agent];
	json_t *st = proto_new(PROTO_STARTED);
	char t[TIME_STR_LEN];

	util_time_format(j->started_ns, t);
	json_object_set_new(st, "jid", json_string(j->jid));
	json_object_set_new(st, "pid", json_integer(j->pid));
	json_object_set_new(st, "started_at", json_string(t));
	send_frame(a, st);
}

/* v2: the held start goes out unless the job has ended (its result
 * said the start). */
static void ev_started(struct job *j)
{
	if (j->state == JOB_RUNNING && S.sims[j->agent].state == SIM_WELCOMED)
		send_started(j);
}

static void tick_cb(uv_timer_t *t)
{
	uint64_t now = now_ms();

	(void)t;
	while (!S.stopping && S.nheap && S.heap[0].due <= now) {
		struct ev e = ev_pop();

		switch (e.kind) {
		case EV_DIAL: {
			struct sim *a = e.p;

			if (a->state == SIM_BACKOFF)
				queue_push(a);
			break;
		}
		case EV_FINISH:
			ev_finish(e.p);
			break;
		case EV_DROP:
			ev_drop(e.p);
			break;
		case EV_STARTED:
			ev_started(e.p);
			break;
		default:
			break;
		}
	}
	tick_arm();
}

/* ---- frames from the server ------------------------------------------------------ */

static void on_welcome(struct sim *a, json_t *m)
{
	struct job *j;

	if (a->state != SIM_HELLO)
		return;
	sim_leave(a);
	a->state = SIM_WELCOMED;
	a->attempt = 0;
	a->proto = json_integer_value(json_object_get(m, "protocol")) >= 2 ? 2 : 1;
	S.welcomed++;
	/* Results not acked yet: offered again on every new connection. */
	for (j = a->held; j; j = j->next_held) {
		S.n.results++;
		S.n.resent++;
		send_text(a, j->text, j->len);
	}
	announce();
	pump_kick();
}

static void on_run(struct sim *a, json_t *m)
{
	const char *jid = json_string_value(json_object_get(m, "jid"));
	uint64_t now = now_ms(), delay;
	struct job *j;

	if (a->state != SIM_WELCOMED)
		return;
	if (!util_is_uuid(jid)) {
		log_warn("swarm: run frame with an invalid jid ignored");
		return;
	}
	S.n.runs++;
	j = jobs_find(jid);
	if (j) {
		/* Never run twice; a finished one answers with its result. */
		S.n.duplicates++;
		if (j->state == JOB_HELD && j->agent == sim_index(a)) {
			S.n.results++;
			S.n.resent++;
			send_text(a, j->text, j->len);
		}
		return;
	}
	j = calloc(1, sizeof *j);
	if (j) {
		util_strlcpy(j->jid, jid, sizeof j->jid);
		j->agent = sim_index(a);
	}
	if (!j || jobs_insert(j)) {
		free(j);
		log_error("swarm: job %s: out of memory", jid);
		return;
	}
	j->next_held = a->live;
	a->live = j;
	if (every(S.cfg.hang_every, a)) {
		j->state = JOB_HUNG;
		S.n.hangs++;
		return;
	}
	j->state = JOB_RUNNING;
	/* One line per run started: a test counts runs per jid from it. */
	if (S.runs)
		fprintf(S.runs, "%s\n", jid);
	j->pid = S.next_pid++;
	if (S.next_pid > 4000000)
		S.next_pid = 1000;
	j->started_ns = util_now_ns();
	/* v2 as the real agent: the start waits a moment, and a run that
	 * ends sooner sends only its result. */
	if (a->proto < 2 || ev_push(EV_STARTED, j, now + START_HOLD_MS))
		send_started(j);
	delay = (uint64_t)S.cfg.delay_ms + rnd((uint64_t)S.cfg.jitter_ms + 1);
	if (every(S.cfg.disconnect_every, a)) {
		j->drop_pending = 1;
		ev_push(EV_DROP, j, now + (delay / 2 > DROP_MIN_MS ? delay / 2 : DROP_MIN_MS));
	}
	if (ev_push(EV_FINISH, j, now + delay))
		job_complete(j);
}

static void on_cancel(struct sim *a, json_t *m)
{
	const char *jid = json_string_value(json_object_get(m, "jid"));
	const char *by = json_string_value(json_object_get(m, "by"));
	struct job *j = jobs_find(jid);
	char error[200];

	if (!j || j->agent != sim_index(a) || j->state != JOB_RUNNING)
		return; /* unknown, finished, or a hanging agent's */
	S.n.cancels++;
	j->drop_pending = 0;
	snprintf(error, sizeof error, "cancelled by %.150s", by && *by ? by : "the server");
	job_finish(j, "failed", CANCEL_EXIT_CODE, error);
}

static void ack_jid(struct sim *a, const char *jid)
{
	struct job *j = jid ? jobs_find(jid) : NULL, **pp;

	S.n.acks++;
	if (!j || j->agent != sim_index(a) || j->state != JOB_HELD)
		return; /* acked before (a resent result) */
	for (pp = &a->held; *pp; pp = &(*pp)->next_held) {
		if (*pp == j) {
			*pp = j->next_held;
			break;
		}
	}
	free(j->text);
	j->text = NULL;
	j->len = 0;
	j->next_held = NULL;
	j->state = JOB_ACKED;
}

static void ack_array(struct sim *a, json_t *jids)
{
	size_t i;
	json_t *v;

	json_array_foreach(jids, i, v)
		ack_jid(a, json_string_value(v));
}

static void on_ack(struct sim *a, json_t *m)
{
	ack_jid(a, json_string_value(json_object_get(m, "jid")));
}

static void on_acks(struct sim *a, json_t *m)
{
	ack_array(a, json_object_get(m, "jids"));
}

static void on_ping(struct sim *a, json_t *m)
{
	(void)m;
	send_frame(a, proto_new(PROTO_PONG));
}

static void on_ignore(struct sim *a, json_t *m)
{
	(void)a;
	(void)m;
}

static void on_error(struct sim *a, json_t *m)
{
	char id[160];

	S.n.errors++;
	if (S.n.errors <= ERROR_LOG_MAX && LOG_WARN <= log_current_level) {
		sim_id(a, id, sizeof id);
		log_warn("swarm: %s: server says: %s%s", id,
			 json_string_value(json_object_get(m, "message")),
			 S.n.errors == ERROR_LOG_MAX ? " (further errors are only counted)" : "");
	}
}

/* What an agent does with each frame type from the server. */
static void (*const frame_handlers[PROTO_TYPE_COUNT])(struct sim *, json_t *) = {
	[PROTO_WELCOME] = on_welcome,
	[PROTO_RUN] = on_run,
	[PROTO_CANCEL] = on_cancel,
	[PROTO_ACK] = on_ack,
	[PROTO_ACKS] = on_acks,
	[PROTO_PING] = on_ping,
	[PROTO_PONG] = on_ignore,
	[PROTO_ERROR] = on_error,
};

/* ---- net callbacks ------------------------------------------------------------------ */

static void sim_ws_open(void *ud, net_conn *nc)
{
	struct sim *a = ud;

	a->nc = nc;
	if (a->state != SIM_CONNECTING)
		return;
	if (S.stopping) {
		sim_disconnect(a, PROTO_CLOSE_SHUTDOWN, "swarm stopping");
		return;
	}
	a->state = SIM_HELLO;
	a->last_rx_s = (uint32_t)(now_ms() / 1000);
	send_hello(a);
}

static void sim_ws_message(void *ud, net_conn *nc, const char *data, size_t len)
{
	struct sim *a = ud;
	enum proto_type type;
	char err[256];
	json_t *m;

	if (a->nc != nc || (a->state != SIM_HELLO && a->state != SIM_WELCOMED))
		return;
	a->last_rx_s = (uint32_t)(now_ms() / 1000);
	if (proto_parse(data, len, &m, &type, err, sizeof err)) {
		log_warn("swarm: agent %u: bad frame from the server: %s", sim_index(a), err);
		sim_disconnect(a, PROTO_CLOSE_PROTOCOL, "bad frame");
		return;
	}
	/* v2: acks ride on any frame. */
	if (a->proto >= 2 && json_is_array(json_object_get(m, "acks")))
		ack_array(a, json_object_get(m, "acks"));
	if (frame_handlers[type])
		frame_handlers[type](a, m);
	else
		log_warn("swarm: agent %u: unexpected frame '%s'", sim_index(a),
			 proto_type_name(type));
	json_decref(m);
}

static void sim_ws_close(void *ud, net_conn *nc, const char *reason)
{
	struct sim *a = ud;

	if (a->nc != nc)
		return;
	S.nconns--;
	if (a->state == SIM_CONNECTING && !S.warned_connect && !S.stopping) {
		/* Once per round, not once per agent. */
		S.warned_connect = true;
		log_warn("swarm: cannot connect to %s:%d (%s); retrying with backoff",
			 S.host, S.port, reason);
	} else {
		log_debug("swarm: agent %u: connection closed: %s", sim_index(a), reason);
	}
	sim_leave(a);
	a->nc = NULL;
	if (S.stopping) {
		a->state = SIM_IDLE;
		return;
	}
	sim_backoff(a);
	pump_kick();
}

static const struct net_callbacks sim_callbacks = {
	.ws_open = sim_ws_open,
	.ws_message = sim_ws_message,
	.ws_close = sim_ws_close,
};

/* ---- pings, stats, signals ------------------------------------------------------------ */

/* One slice of the agents per tick: each pings once per keep-alive period,
 * and one silent for keep_alive_timeout reconnects (a half-open
 * connection never closes by itself). */
static void ping_cb(uv_timer_t *t)
{
	uint64_t slices = (uint64_t)S.cfg.keep_alive_ms / PING_TICK_MS;
	uint32_t now_s = (uint32_t)(now_ms() / 1000);
	uint32_t limit_s = (uint32_t)(S.cfg.keep_alive_timeout_ms / 1000);

	(void)t;
	if (!slices)
		slices = 1;
	for (uint64_t i = S.ping_tick++ % slices; i < S.count; i += slices) {
		struct sim *a = &S.sims[i];

		if (a->state != SIM_WELCOMED && a->state != SIM_HELLO)
			continue;
		if (now_s - a->last_rx_s > limit_s) {
			log_info("swarm: agent %u: no answer from the server for %u s: reconnecting",
				 sim_index(a), now_s - a->last_rx_s);
			sim_disconnect(a, PROTO_CLOSE_SHUTDOWN, "keep-alive timeout");
		} else if (a->state == SIM_WELCOMED) {
			send_text(a, S.ping_text, S.ping_len);
		}
	}
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, rss = 0;

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = -1;
	fclose(f);
	return rss < 0 ? -1 : rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static void print_stats(void)
{
	size_t held = 0;

	for (uint32_t i = 0; i < S.count; i++)
		for (struct job *j = S.sims[i].held; j; j = j->next_held)
			held++;
	printf("swarm: stats connected=%u/%u connecting=%u queued=%u runs=%llu results=%llu "
	       "resent=%llu acks=%llu duplicates=%llu held=%zu cancels=%llu hangs=%llu "
	       "drops=%llu disconnects=%llu dials=%llu dial_failures=%llu errors=%llu "
	       "jobs=%zu rss_kb=%ld\n",
	       S.welcomed, S.count, S.inflight, S.qlen, (unsigned long long)S.n.runs,
	       (unsigned long long)S.n.results, (unsigned long long)S.n.resent,
	       (unsigned long long)S.n.acks, (unsigned long long)S.n.duplicates, held,
	       (unsigned long long)S.n.cancels, (unsigned long long)S.n.hangs,
	       (unsigned long long)S.n.drops, (unsigned long long)S.n.disconnects,
	       (unsigned long long)S.n.dials, (unsigned long long)S.n.dial_failures,
	       (unsigned long long)S.n.errors, S.njobs, rss_kb());
	fflush(stdout);
}

static void stats_cb(uv_timer_t *t)
{
	(void)t;
	print_stats();
}

static void close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Lets net close every connection, closes our handles, and uv_run returns
 * once everything has drained. The sockets are cut without close
 * handshakes: 10,000 of those take seconds (lws 4.1 keeps its timeouts in
 * one sorted list, and every close frame arms one), a cut under a second;
 * tetherd sees a disconnect either way. */
static void stop_cb(uv_timer_t *t)
{
	(void)t;
	if (S.destroyed)
		return;
	S.destroyed = true;
	log_info("swarm: closing %u connections", S.nconns);
	net_ctx_destroy(S.net);
	close_handle((uv_handle_t *)&S.tick);
	close_handle((uv_handle_t *)&S.pump);
	close_handle((uv_handle_t *)&S.ping);
	close_handle((uv_handle_t *)&S.stats);
	close_handle((uv_handle_t *)&S.stop);
	close_handle((uv_handle_t *)&S.sig_term);
	close_handle((uv_handle_t *)&S.sig_int);
	close_handle((uv_handle_t *)&S.sig_usr1);
}

static void on_signal(uv_signal_t *h, int signum)
{
	(void)h;
	if (signum == SIGUSR1) {
		print_stats();
		return;
	}
	if (S.stopping)
		return;
	log_info("swarm: signal %d: stopping", signum);
	S.stopping = true;
	uv_timer_stop(&S.tick);
	uv_timer_stop(&S.pump);
	uv_timer_stop(&S.ping);
	uv_timer_stop(&S.stats);
	uv_timer_start(&S.stop, stop_cb, 0, 0);
}

/* ---- start-up -------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: tether-swarm --server HOST:PORT --auth ID:PASSWORD --count N [options]\n"
		   "Simulated agents on one event loop, for tests and benchmarks "
		   "(docs/swarm.md).\n\n");
	for (size_t i = 0; i < NOPTS; i++) {
		char left[64];

		snprintf(left, sizeof left, "--%s %s", swarm_opts[i].name, swarm_opts[i].arg);
		fprintf(f, "  %-28s %s\n", left, swarm_opts[i].help);
	}
	fprintf(f, "  %-28s %s\n", "--help", "this text");
	fprintf(f, "\nPrints \"swarm: all N connected\" whenever all agents are welcomed; "
		   "counters on SIGUSR1.\n");
}

/* "a,b" into a JSON array of strings. Returns NULL on an empty item. */
static json_t *parse_list(const char *s)
{
	json_t *arr = json_array();
	const char *p = s;

	while (s && *p) {
		size_t n = strcspn(p, ",");

		if (!n) {
			json_decref(arr);
			return NULL;
		}
		json_array_append_new(arr, json_stringn(p, n));
		p += n;
		if (*p == ',')
			p++;
	}
	return arr;
}

/* "k:v,k2:v2" into a JSON object. Returns NULL when malformed. */
static json_t *parse_labels(const char *s)
{
	json_t *obj = json_object();
	const char *p = s;

	while (s && *p) {
		size_t n = strcspn(p, ",");
		const char *colon = memchr(p, ':', n);
		char key[256];

		if (!colon || colon == p || (size_t)(colon - p) >= sizeof key) {
			json_decref(obj);
			return NULL;
		}
		memcpy(key, p, (size_t)(colon - p));
		key[colon - p] = '\0';
		json_object_set_new(obj, key, json_stringn(colon + 1, (size_t)(p + n - colon - 1)));
		p += n;
		if (*p == ',')
			p++;
	}
	return obj;
}

/* Returns 0, or -1 after printing why. */
static int parse_args(int argc, char **argv, struct swarm_cfg *cfg)
{
	struct option lopts[NOPTS + 2];
	int idx, ch;

	for (size_t i = 0; i < NOPTS; i++) {
		lopts[i].name = swarm_opts[i].name;
		lopts[i].has_arg = required_argument;
		lopts[i].flag = NULL;
		lopts[i].val = 0;
	}
	lopts[NOPTS] = (struct option){ "help", no_argument, NULL, 'h' };
	lopts[NOPTS + 1] = (struct option){ NULL, 0, NULL, 0 };
	while ((ch = getopt_long(argc, argv, "h", lopts, &idx)) != -1) {
		const struct swarm_opt *o;
		long long v;

		if (ch == 'h') {
			usage(stdout);
			exit(0);
		}
		if (ch != 0 || idx < 0 || (size_t)idx >= NOPTS) {
			usage(stderr);
			return -1;
		}
		o = &swarm_opts[idx];
		if (o->type == OPT_STR) {
			*(const char **)((char *)cfg + o->off) = optarg;
			continue;
		}
		if (util_parse_int(optarg, o->min, o->max, &v)) {
			fprintf(stderr, "tether-swarm: --%s '%s': expected an integer in %lld..%lld\n",
				o->name, optarg, o->min, o->max);
			return -1;
		}
		*(long long *)((char *)cfg + o->off) = v;
	}
	if (optind < argc) {
		fprintf(stderr, "tether-swarm: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (!cfg->server || !cfg->auth || !cfg->count) {
		fprintf(stderr, "tether-swarm: --server, --auth and --count are required\n");
		usage(stderr);
		return -1;
	}
	if (cfg->min_retry_ms > cfg->max_retry_ms) {
		fprintf(stderr, "tether-swarm: --min-retry-ms is above --max-retry-ms\n");
		return -1;
	}
	return 0;
}

static int setup_identity(void)
{
	const char *colon = strchr(S.cfg.auth, ':');
	const char *server = S.cfg.server;
	size_t n;

	if (!strncmp(server, "ws://", 5))
		server += 5;
	if (util_parse_hostport(server, S.host, sizeof S.host, &S.port) || !S.host[0]) {
		fprintf(stderr, "tether-swarm: --server '%s': expected HOST:PORT\n", S.cfg.server);
		return -1;
	}
	n = colon ? (size_t)(colon - S.cfg.auth) : 0;
	if (!n || n >= sizeof S.auth_id) {
		fprintf(stderr, "tether-swarm: --auth: expected ID:PASSWORD\n");
		return -1;
	}
	memcpy(S.auth_id, S.cfg.auth, n);
	S.auth_id[n] = '\0';
	S.password = colon + 1;
	if (strlen(S.cfg.prefix) > 100) {
		fprintf(stderr, "tether-swarm: --prefix is longer than 100 bytes\n");
		return -1;
	}
	S.tags = parse_list(S.cfg.tags);
	S.services = parse_list(S.cfg.services);
	S.labels = parse_labels(S.cfg.labels);
	if (!S.tags || !S.services || !S.labels) {
		fprintf(stderr, "tether-swarm: --tags/--services take a,b; --labels takes k:v,k2:v2\n");
		return -1;
	}
	S.interpreters = json_pack("[s,s]", "sh", "/bin/sh");
	S.facts = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:[s], s:[]}",
			    "os", "Linux", "os_kernel", "linux", "os_arch", "amd64",
			    "os_family", "swarm", "os_full_name", "tether-swarm simulated agent",
			    "os_version", "1", "timezone", "UTC (UTC+0000)", "num_cpus", 1,
			    "mem_total", (json_int_t)1073741824, "ipv4", "127.0.0.1", "ipv6");
	{
		json_t *ping = proto_new(PROTO_PING);

		S.ping_text = ping ? proto_dump(ping, &S.ping_len) : NULL;
		json_decref(ping);
	}
	if (!S.interpreters || !S.facts || !S.ping_text)
		return -1;
	return 0;
}

/* Every agent is a socket: raise the soft limit to the hard one and refuse
 * a count that cannot fit. */
static int setup_fd_limit(void)
{
	struct rlimit rl;
	unsigned long long need = (unsigned long long)S.cfg.count + FD_RESERVE;

	if (getrlimit(RLIMIT_NOFILE, &rl)) {
		perror("tether-swarm: getrlimit");
		return -1;
	}
	if (rl.rlim_max != RLIM_INFINITY && need > (unsigned long long)rl.rlim_max) {
		fprintf(stderr,
			"tether-swarm: --count %lld needs %llu open files, but the hard limit "
			"(RLIMIT_NOFILE) is %llu: lower --count or raise the limit (ulimit -Hn, "
			"limits.conf)\n",
			S.cfg.count, need, (unsigned long long)rl.rlim_max);
		return -1;
	}
	if (rl.rlim_cur != rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > FD_TABLE_MAX)
			rl.rlim_cur = need > FD_TABLE_MAX ? need : FD_TABLE_MAX;
		if (setrlimit(RLIMIT_NOFILE, &rl)) {
			perror("tether-swarm: setrlimit");
			return -1;
		}
	}
	/* lws gets the soft limit itself, not count + FD_RESERVE: below the
	 * soft limit lws 4.1 sets max_fds_unrelated_to_ulimit and finds the
	 * connection of every socket event by a linear scan of its fd table
	 * (a quarter of the CPU time of 10,000 connects). The table costs
	 * 16 bytes per possible fd. */
	S.fd_limit = (int)rl.rlim_cur;
	return 0;
}

static char *make_output(size_t n)
{
	static const char pattern[] = "tether-swarm simulated output 0123456789abcdefghijklmnopqrstu\n";
	char *o = malloc(n + 1);

	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++)
		o[i] = pattern[i % (sizeof pattern - 1)];
	o[n] = '\0';
	return o;
}

static void swarm_free(void)
{
	for (size_t i = 0; i < S.capjobs; i++) {
		if (S.jobs[i]) {
			free(S.jobs[i]->text);
			free(S.jobs[i]);
		}
	}
	free(S.jobs);
	free(S.heap);
	free(S.queue);
	free(S.sims);
	free(S.output);
	free(S.output_json);
	free(S.ping_text);
	json_decref(S.tags);
	json_decref(S.labels);
	json_decref(S.services);
	json_decref(S.interpreters);
	json_decref(S.facts);
}

int main(int argc, char **argv)
{
	int rc = 1;

	S.cfg.prefix = "swarm-";
	S.cfg.max_pending = 200;
	S.cfg.min_retry_ms = 1000;
	S.cfg.max_retry_ms = 30000;
	S.cfg.keep_alive_ms = 20000;
	S.cfg.keep_alive_timeout_ms = 60000;
	S.cfg.protocol = PROTO_VERSION;
	log_set_ident("tether-swarm");
	log_current_level = LOG_WARN;
	if (parse_args(argc, argv, &S.cfg))
		return 2;
	if (S.cfg.log_level && log_set_level_name(S.cfg.log_level)) {
		fprintf(stderr, "tether-swarm: --log-level: error, warn, info or debug\n");
		return 2;
	}
	if (setup_identity() || setup_fd_limit())
		goto out;
	if (S.cfg.runs_file) {
		S.runs = fopen(S.cfg.runs_file, "a");
		if (!S.runs) {
			fprintf(stderr, "tether-swarm: --runs-file %s: %s\n", S.cfg.runs_file,
				strerror(errno));
			goto out;
		}
		setvbuf(S.runs, NULL, _IOLBF, 0);
	}
	S.count = (uint32_t)S.cfg.count;
	S.sims = calloc(S.count, sizeof *S.sims);
	S.queue = calloc(S.count, sizeof *S.queue);
	S.output = make_output((size_t)S.cfg.output_bytes);
	if (S.output) {
		struct buf ob;

		buf_init(&ob, (size_t)MAX_OUTPUT * 8 + 16);
		if (!proto_put_str(&ob, S.output, (size_t)S.cfg.output_bytes))
			S.output_json = buf_steal(&ob, NULL);
		buf_free(&ob);
	}
	if (!S.sims || !S.queue || !S.output || !S.output_json) {
		fprintf(stderr, "tether-swarm: out of memory for %u agents\n", S.count);
		goto out;
	}
	S.rng = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
	S.next_pid = 1000 + (int32_t)rnd(100000);
	signal(SIGPIPE, SIG_IGN);
	if (uv_loop_init(&S.loop)) {
		fprintf(stderr, "tether-swarm: cannot create the event loop\n");
		goto out;
	}
	S.net = net_ctx_create(&S.loop, S.fd_limit, true);
	if (!S.net) {
		uv_loop_close(&S.loop);
		goto out;
	}
	uv_timer_init(&S.loop, &S.tick);
	uv_timer_init(&S.loop, &S.pump);
	uv_timer_init(&S.loop, &S.ping);
	uv_timer_init(&S.loop, &S.stats);
	uv_timer_init(&S.loop, &S.stop);
	uv_signal_init(&S.loop, &S.sig_term);
	uv_signal_init(&S.loop, &S.sig_int);
	uv_signal_init(&S.loop, &S.sig_usr1);
	uv_signal_start(&S.sig_term, on_signal, SIGTERM);
	uv_signal_start(&S.sig_int, on_signal, SIGINT);
	uv_signal_start(&S.sig_usr1, on_signal, SIGUSR1);
	uv_timer_start(&S.ping, ping_cb, PING_TICK_MS, PING_TICK_MS);
	if (S.cfg.stats_interval)
		uv_timer_start(&S.stats, stats_cb, (uint64_t)S.cfg.stats_interval * 1000,
			       (uint64_t)S.cfg.stats_interval * 1000);
	for (uint32_t i = 0; i < S.count; i++)
		queue_push(&S.sims[i]);
	uv_run(&S.loop, UV_RUN_DEFAULT);
	net_ctx_free(S.net);
	if (uv_loop_close(&S.loop))
		log_warn("swarm: the event loop still had handles at exit");
	print_stats();
	rc = 0;
out:
	if (S.runs)
		fclose(S.runs);
	swarm_free();
	return rc;
}
