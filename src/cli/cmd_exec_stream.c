/* cmd_exec_stream: the streaming side of tether exec: the WebSocket job
 * stream, output labelled by client and shown byte for byte (live frames,
 * checked against the final output), the progress line, Ctrl-C and -wait,
 * and the summary that accounts for every targeted client (run, failed,
 * never run) with the exit status, including a connection lost midway.
 * The flags and the request are cmd_exec.c's. */
#include "cmd_exec.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "util.h"
#include "wsc.h"

#define LINE_CAP (64 * 1024)
#define PARTIAL_FLUSH_MS 200   /* a partial line is shown after this long */

/* Live output is best effort (an agent or the server drops it for a slow
 * link, not always saying so); the final job has all of it. Each live frame
 * leaves a checkpoint: the bytes shown so far and a hash of them. At the
 * final, the longest checkpointed prefix that matches the final output says
 * where the live view is still right; the rest is shown from the final. */
struct checkpoint {
	size_t off;
	uint64_t hash;
};

#define MAX_CHECKPOINTS (1024 * 1024)

struct target {
	char *id;
	char *name;
	bool targeted;         /* announced as a target of this job */
	bool done;
	bool ok;
	size_t printed[2];     /* bytes of stdout/stderr shown live */
	uint64_t hash[2];      /* FNV-1a of those bytes */
	struct checkpoint *ck[2];
	size_t nck[2], ack[2];
	struct buf line[2];    /* partial line per stream */
	uint64_t since[2];     /* when the partial line began (ms) */
};

#define FNV_BASIS 0xcbf29ce484222325ULL

static uint64_t fnv(uint64_t h, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static void checkpoint_add(struct target *t, int s, const char *data, size_t len)
{
	if (!t->printed[s] && !t->nck[s])
		t->hash[s] = FNV_BASIS;
	t->hash[s] = fnv(t->hash[s], data, len);
	t->printed[s] += len;
	if (t->nck[s] == t->ack[s]) {
		size_t n = t->ack[s] ? t->ack[s] * 2 : 64;
		struct checkpoint *c;

		if (n > MAX_CHECKPOINTS || !(c = realloc(t->ck[s], n * sizeof *c)))
			return;
		t->ck[s] = c;
		t->ack[s] = n;
	}
	t->ck[s][t->nck[s]++] = (struct checkpoint){ t->printed[s], t->hash[s] };
}

/* How much of text the live view showed right: the last checkpoint whose
 * prefix hash matches. */
static size_t checkpoint_match(const struct target *t, int s, const char *text, size_t len)
{
	uint64_t h = FNV_BASIS;
	size_t pos = 0, good = 0;

	for (size_t i = 0; i < t->nck[s]; i++) {
		const struct checkpoint *c = &t->ck[s][i];

		if (c->off > len)
			break;
		h = fnv(h, text + pos, c->off - pos);
		pos = c->off;
		if (h != c->hash)
			break;
		good = c->off;
	}
	return good;
}

struct run {
	struct cli *c;
	uv_loop_t loop;
	wsc *ws;               /* NULL once closed */
	uv_signal_t sigint;
	uv_timer_t quiet;
	uv_timer_t flush;
	uint64_t wait_ms;
	char *request;
	char mjid[UUID_STR_LEN];
	struct target *t;
	size_t nt;
	size_t ntargets;
	size_t ndone;
	size_t nfailed;
	bool concurrent;
	long max_concurrency;  /* 0: no limit */
	const char *maxc_text; /* as given (N or N%) */
	bool verbose;
	bool json;
	bool tty;
	bool cancelled;
	bool timed_out;
	bool we_closed;
	bool lost;             /* the connection broke before the job's end */
	char lost_reason[300];
	bool stream_gap;       /* the server dropped live output for us */
	int error_status;      /* set by an error frame or a refusal */
	bool progress_shown;
};

static struct target *target_of(struct run *r, const char *id)
{
	if (!id)
		return NULL;
	for (size_t i = 0; i < r->nt; i++)
		if (!strcmp(r->t[i].id, id))
			return &r->t[i];
	return NULL;
}

static const char *name_of(const struct target *t)
{
	return t->name && *t->name ? t->name : t->id;
}

static void progress_clear(struct run *r)
{
	if (r->progress_shown) {
		fprintf(stderr, "\r\033[K");
		r->progress_shown = false;
	}
}

/* How many targets run at once: one in sequential mode, the concurrency
 * limit (N, or N% of the targets rounded up, as the server) otherwise. */
static size_t running_now(const struct run *r)
{
	size_t left = r->ntargets > r->ndone ? r->ntargets - r->ndone : 0;
	size_t cap = left;

	if (!r->concurrent)
		cap = 1;
	else if (r->maxc_text && strchr(r->maxc_text, '%'))
		cap = (size_t)ceil((double)r->ntargets * atof(r->maxc_text) / 100.0);
	else if (r->max_concurrency > 0)
		cap = (size_t)r->max_concurrency;
	if (cap < 1)
		cap = 1;
	return left < cap ? left : cap;
}

static void progress_show(struct run *r)
{
	size_t left, running;

	if (!r->tty || r->json || r->ntargets < 2)
		return;
	left = r->ntargets > r->ndone ? r->ntargets - r->ndone : 0;
	running = running_now(r);
	if (r->cancelled)
		fprintf(stderr, "\r\033[K[%zu/%zu done] cancelling, %zu failed", r->ndone,
			r->ntargets, r->nfailed);
	else
		fprintf(stderr, "\r\033[K[%zu/%zu done] %zu running, %zu waiting, %zu failed",
			r->ndone, r->ntargets, running, left - running, r->nfailed);
	r->progress_shown = true;
}

static void write_line(struct run *r, struct target *t, int stream, const char *data,
		       size_t len)
{
	FILE *f = stream ? stderr : stdout;

	progress_clear(r);
	fputs(name_of(t), f);
	fputs(stream ? " [stderr]: " : ": ", f);
	fwrite(data, 1, len, f);
	fputc('\n', f);
}

static void flush_arm(struct run *r);

/* Prints whole lines, prefixed with the client name; keeps a partial line
 * for PARTIAL_FLUSH_MS (or until flush). Bytes are written as they are:
 * NULs and invalid UTF-8 included. */
static void emit(struct run *r, struct target *t, int stream, const char *data, size_t len,
		 bool flush)
{
	struct buf *b = &t->line[stream];
	size_t start = 0;

	while (start < len) {
		const char *nl = memchr(data + start, '\n', len - start);
		size_t n = nl ? (size_t)(nl - (data + start)) : len - start;

		if (b->len + n > LINE_CAP) {
			/* A very long line: show what we have, go on. */
			size_t room = LINE_CAP > b->len ? LINE_CAP - b->len : 0;

			buf_append(b, data + start, room);
			write_line(r, t, stream, b->data, b->len);
			buf_reset(b);
			start += room;
			continue;
		}
		if (!b->len && n)
			t->since[stream] = util_mono_ms();
		buf_append(b, data + start, n);
		start += n;
		if (nl) {
			write_line(r, t, stream, b->data ? b->data : "", b->len);
			buf_reset(b);
			start++;
		}
	}
	if (flush && b->len) {
		write_line(r, t, stream, b->data, b->len);
		buf_reset(b);
	}
	fflush(stdout);
	if (b->len)
		flush_arm(r);
}

/* Partial lines older than PARTIAL_FLUSH_MS are shown (a prompt, a
 * progress dot); the timer re-arms for the youngest one left. */
static void on_flush(uv_timer_t *tm)
{
	struct run *r = tm->data;
	uint64_t now = util_mono_ms(), next = 0;

	for (size_t i = 0; i < r->nt; i++) {
		for (int s = 0; s < 2; s++) {
			struct buf *b = &r->t[i].line[s];

			if (!b->len)
				continue;
			if (now - r->t[i].since[s] >= PARTIAL_FLUSH_MS) {
				write_line(r, &r->t[i], s, b->data, b->len);
				buf_reset(b);
			} else {
				uint64_t due = PARTIAL_FLUSH_MS - (now - r->t[i].since[s]);

				if (!next || due < next)
					next = due;
			}
		}
	}
	fflush(stdout);
	if (next)
		uv_timer_start(&r->flush, on_flush, next, 0);
	progress_show(r);
}

static void flush_arm(struct run *r)
{
	if (!uv_is_active((uv_handle_t *)&r->flush))
		uv_timer_start(&r->flush, on_flush, PARTIAL_FLUSH_MS, 0);
}

static void print_json_event(json_t *ev)
{
	char *s = ev ? json_dumps(ev, JSON_COMPACT) : NULL;

	if (s)
		printf("%s\n", s);
	free(s);
	fflush(stdout);
	json_decref(ev);
}

static void cancel_job(struct run *r)
{
	char path[128];
	long status = 0;
	json_t *resp;

	if (!r->mjid[0])
		return;
	snprintf(path, sizeof path, "/api/v1/commands/%s", r->mjid);
	if (cli_http(r->c, "DELETE", path, NULL, &status, &resp) == 0 && status < 300)
		fprintf(stderr, "tether: cancelling job %s: no more clients get it, running ones "
				"are stopped (Ctrl-C again to leave)\n", r->mjid);
	else if (status)
		cli_http_fail(status, resp, "cancelling the job");
	json_decref(resp);
}

static void on_sigint(uv_signal_t *s, int sig)
{
	struct run *r = s->data;

	(void)sig;
	progress_clear(r);
	if (r->cancelled) {
		fprintf(stderr, "tether: leaving; the job goes on where it was not cancelled\n");
		exit(CLI_FAILED);
	}
	r->cancelled = true;
	cancel_job(r);
}

static void on_quiet(uv_timer_t *t)
{
	struct run *r = t->data;

	progress_clear(r);
	r->timed_out = true;
	for (size_t i = 0; i < r->nt; i++)
		if (r->t[i].targeted && !r->t[i].done)
			fprintf(stderr, "==> %s: no response within -wait\n", name_of(&r->t[i]));
	if (r->ws) {
		r->we_closed = true;
		wsc_close(r->ws, 1000, "client gave up waiting");
	}
}

static void quiet_reset(struct run *r)
{
	if (r->wait_ms)
		uv_timer_start(&r->quiet, on_quiet, r->wait_ms, 0);
}

/* A JSON output event: the bytes as a string when they are UTF-8, else
 * base64 with "encoding" (jansson, and JSON, carry only UTF-8). */
static json_t *json_output_event(struct target *t, int stream, const char *data, size_t len)
{
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s}", "event", "output", "client_id", t->id,
			       "client_name", name_of(t), "stream", stream ? "stderr" : "stdout");

	if (!ev)
		return NULL;
	if (util_utf8_valid(data, len)) {
		json_object_set_new(ev, "data", json_stringn(data, len));
	} else {
		size_t blen = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
		char *b64 = malloc(blen);

		if (!b64) {
			json_decref(ev);
			return NULL;
		}
		sodium_bin2base64(b64, blen, (const unsigned char *)data, len,
				  sodium_base64_VARIANT_ORIGINAL);
		json_object_set_new(ev, "data", json_string(b64));
		json_object_set_new(ev, "encoding", json_string("base64"));
		free(b64);
	}
	return ev;
}

static void on_partial(struct run *r, json_t *m)
{
	struct target *t = target_of(r, json_string_value(json_object_get(m, "client_id")));
	json_t *res = json_object_get(m, "result");
	json_t *dropped = json_object_get(m, "output_dropped_bytes");
	int stream;
	char *data;
	size_t len;

	if (json_is_integer(dropped) && json_integer_value(dropped) > 0) {
		/* For this watcher as a whole, not one client: the live view
		 * has a hole; each final job still has the whole output. */
		if (!r->json && !r->stream_gap) {
			progress_clear(r);
			fprintf(stderr, "==> the server dropped %lld bytes of live output (this "
					"reader was too slow); the final results fill them in\n",
				(long long)json_integer_value(dropped));
		}
		if (r->json)
			print_json_event(json_pack("{s:s, s:I}", "event", "dropped", "bytes",
						   (json_int_t)json_integer_value(dropped)));
		r->stream_gap = true;
	}
	if (!t)
		return;
	stream = json_object_get(res, "stderr") ? 1 : 0;
	data = cli_job_stream(res, stream ? "stderr" : "stdout", &len);
	if (!data)
		return;
	if (r->json)
		print_json_event(json_output_event(t, stream, data, len));
	else
		emit(r, t, stream, data, len, false);
	checkpoint_add(t, stream, data, len);
	free(data);
}

static void on_final(struct run *r, json_t *job)
{
	struct target *t = target_of(r, json_string_value(json_object_get(job, "client_id")));
	const char *status = json_string_value(json_object_get(job, "status"));
	const char *error = json_string_value(json_object_get(job, "error"));
	json_t *res = json_object_get(job, "result"), *ec = json_object_get(job, "exit_code");

	if (!t || t->done)
		return;
	t->done = true;
	r->ndone++;
	t->ok = status && !strcmp(status, "successful") && json_integer_value(ec) == 0;
	if (!t->ok)
		r->nfailed++;
	if (r->json) {
		print_json_event(json_pack("{s:s, s:O}", "event", "result", "job", job));
		return;
	}
	/* What the live stream did not bring: never streamed, or dropped on
	 * the way (then from where the live view went wrong, said so). */
	for (int s = 0; s < 2; s++) {
		size_t len, good;
		char *text = cli_job_stream(res, s ? "stderr" : "stdout", &len);

		if (!text) {
			emit(r, t, s, "", 0, true);
			continue;
		}
		good = checkpoint_match(t, s, text, len);
		if (good < t->printed[s]) {
			emit(r, t, s, "", 0, true);
			progress_clear(r);
			fprintf(stderr, "==> %s: live %s missed some output; from byte %zu on, "
					"the %zu bytes of the final result follow\n", name_of(t),
				s ? "stderr" : "stdout", good, len - good);
		}
		if (len > good && (good < t->printed[s] || len > t->printed[s]))
			emit(r, t, s, text + good, len - good, false);
		emit(r, t, s, "", 0, true);
		free(text);
	}
	progress_clear(r);
	if (t->ok) {
		if (r->verbose)
			fprintf(stderr, "==> %s: finished with exit code 0\n", name_of(t));
	} else if (json_is_integer(ec)) {
		fprintf(stderr, "==> %s: %s with exit code %lld%s%s\n", name_of(t),
			status ? status : "?", (long long)json_integer_value(ec),
			error && *error ? ": " : "", error ? error : "");
	} else {
		fprintf(stderr, "==> %s: %s%s%s\n", name_of(t), status ? status : "?",
			error && *error ? ": " : "", error ? error : "");
	}
	cli_note_truncation(job, name_of(t));
	progress_show(r);
}

static int error_status_of(const char *title)
{
	if (!title)
		return CLI_USAGE;
	if (strstr(title, "unauthorized") || strstr(title, "scope") || strstr(title, "forbidden"))
		return CLI_AUTH;
	if (strstr(title, "not found") || strstr(title, "no active clients") ||
	    strstr(title, "at least 1 client"))
		return CLI_NO_TARGET;
	return CLI_USAGE;
}

static void on_announce(struct run *r, json_t *m)
{
	size_t i;
	json_t *v;

	util_strlcpy(r->mjid, json_string_value(json_object_get(m, "multi_job_id")),
		     sizeof r->mjid);
	json_array_foreach(json_object_get(m, "client_ids"), i, v) {
		struct target *t = target_of(r, json_string_value(v));

		if (!t && json_string_value(v)) {
			struct target *nt = realloc(r->t, (r->nt + 1) * sizeof *nt);

			if (!nt)
				continue;
			r->t = nt;
			t = &r->t[r->nt++];
			memset(t, 0, sizeof *t);
			t->id = strdup(json_string_value(v));
			buf_init(&t->line[0], LINE_CAP + 1);
			buf_init(&t->line[1], LINE_CAP + 1);
		}
		if (t && !t->targeted) {
			t->targeted = true;
			r->ntargets++;
		}
	}
	if (r->json)
		print_json_event(json_pack("{s:s, s:s, s:O}", "event", "start", "multi_job_id",
					   r->mjid, "client_ids", json_object_get(m, "client_ids")));
	else if (r->verbose)
		fprintf(stderr, "==> job %s on %zu client(s)\n", r->mjid, r->ntargets);
	if (r->cancelled)
		cancel_job(r);
	progress_show(r);
}

static void ws_message(void *ud, const char *data, size_t len)
{
	struct run *r = ud;
	json_t *m = json_loadb(data, len, 0, NULL);
	json_t *errs;

	quiet_reset(r);
	if (!m)
		return;
	if ((errs = json_object_get(m, "errors"))) {
		json_t *e = json_array_get(errs, 0);
		const char *title = json_string_value(json_object_get(e, "title"));
		const char *detail = json_string_value(json_object_get(e, "detail"));

		progress_clear(r);
		fprintf(stderr, "tether exec: %s%s%s\n", title ? title : "error",
			detail && *detail ? ": " : "", detail ? detail : "");
		r->error_status = error_status_of(title);
	} else if (json_object_get(m, "multi_job_id") && !json_object_get(m, "jid")) {
		on_announce(r, m);
	} else if (json_object_get(m, "status")) {
		on_final(r, m);
	} else if (json_object_get(m, "result")) {
		on_partial(r, m);
	}
	json_decref(m);
}

static void ws_closed(void *ud, bool lost, int code, const char *reason)
{
	struct run *r = ud;

	r->ws = NULL;
	if (!r->we_closed && !r->error_status) {
		if (code == 4001) {
			/* The server ended the stream for our credentials. */
			progress_clear(r);
			fprintf(stderr, "tether exec: the server closed the stream: %s\n", reason);
			r->error_status = CLI_AUTH;
		} else if (!r->mjid[0]) {
			fprintf(stderr, "tether exec: the stream ended before the job started: %s\n",
				reason[0] ? reason : "closed");
			r->error_status = CLI_TRANSPORT;
		} else if ((lost || code != 1000) && r->ndone < r->ntargets) {
			/* Not the end of the job: the server closes 1000 after
			 * the last result or when the job stops. */
			r->lost = true;
			if (code)
				snprintf(r->lost_reason, sizeof r->lost_reason, "closed with %d%s%s",
					 code, reason[0] ? ": " : "", reason);
			else
				util_strlcpy(r->lost_reason, reason, sizeof r->lost_reason);
		}
	}
	uv_close((uv_handle_t *)&r->sigint, NULL);
	uv_close((uv_handle_t *)&r->quiet, NULL);
	uv_timer_stop(&r->flush);
	uv_close((uv_handle_t *)&r->flush, NULL);
}

static const struct wsc_callbacks exec_callbacks = {
	.message = ws_message,
	.closed = ws_closed,
};

/* After the stream: what became of the targets that got no result. The
 * server's record says why the job stopped and which never ran. */
static void report_unfinished(struct run *r, json_t **not_run_out)
{
	json_t *not_run = json_array(), *resp = NULL, *data = NULL;
	const char *stop = NULL;
	char path[128];
	long st = 0;
	struct buf names;

	buf_init(&names, 1024 * 1024);
	for (size_t i = 0; i < r->nt; i++) {
		if (!r->t[i].targeted || r->t[i].done)
			continue;
		json_array_append_new(not_run, json_string(r->t[i].id));
		buf_appendf(&names, "%s%s", names.len ? ", " : "", name_of(&r->t[i]));
	}
	*not_run_out = not_run;
	if (!json_array_size(not_run)) {
		buf_free(&names);
		return;
	}
	progress_clear(r);
	if (r->lost) {
		if (!r->json)
			fprintf(stderr, "==> no result (the connection was lost): %s\n", names.data);
		buf_free(&names);
		return;
	}
	if (r->mjid[0]) {
		snprintf(path, sizeof path, "/api/v1/commands/%s", r->mjid);
		if (!cli_http(r->c, "GET", path, NULL, &st, &resp) && st == 200)
			data = json_object_get(resp, "data");
		stop = json_string_value(json_object_get(data, "stop_reason"));
	}
	if (!r->json) {
		if (stop)
			fprintf(stderr, "==> job stopped: %s\n", stop);
		if (!r->timed_out)
			fprintf(stderr, "==> never ran on %zu client(s): %s\n",
				json_array_size(not_run), names.data);
	}
	json_decref(resp);
	buf_free(&names);
}

/* The targets' names for labelled output, from the client list; the
 * targets as the server resolved them come in the announce frame. */
static void run_learn_names(struct run *r)
{
	long st = 0;
	json_t *resp = NULL, *cl;
	size_t i;

	r->t = calloc(1, sizeof *r->t);
	if (!cli_http(r->c, "GET", "/api/v1/clients?page[limit]=100000", NULL, &st, &resp) &&
	    st == 200) {
		size_t n = json_array_size(json_object_get(resp, "data"));

		free(r->t);
		r->t = calloc(n + 1, sizeof *r->t);
		json_array_foreach(json_object_get(resp, "data"), i, cl) {
			const char *id = json_string_value(json_object_get(cl, "id"));
			const char *name = json_string_value(json_object_get(cl, "name"));

			if (!id)
				continue;
			r->t[r->nt].id = strdup(id);
			r->t[r->nt].name = strdup(name ? name : "");
			buf_init(&r->t[r->nt].line[0], LINE_CAP + 1);
			buf_init(&r->t[r->nt].line[1], LINE_CAP + 1);
			r->nt++;
		}
	}
	json_decref(resp);
}

/* Opens the stream, sends the request and runs the loop until the stream
 * is over. Returns 0, or the exit status when the stream did not open. */
static int run_stream(struct run *r, bool is_script)
{
	char path[128], *refusal = NULL;
	int rc;

	/* The handles first: ws_closed closes them, whenever it comes. */
	uv_loop_init(&r->loop);
	uv_signal_init(&r->loop, &r->sigint);
	r->sigint.data = r;
	uv_timer_init(&r->loop, &r->quiet);
	r->quiet.data = r;
	uv_timer_init(&r->loop, &r->flush);
	r->flush.data = r;
	snprintf(path, sizeof path, "/api/v1/ws/%s?announce=1", is_script ? "scripts" : "commands");
	rc = wsc_connect(r->c, &r->loop, path, &exec_callbacks, r, &r->ws, &refusal);
	if (rc) {
		if (rc > 0) {
			json_t *body = refusal ? json_loads(refusal, 0, NULL) : NULL;

			rc = cli_http_fail(rc, body, "starting the stream");
			json_decref(body);
		} else {
			rc = CLI_TRANSPORT;
		}
		free(refusal);
		uv_close((uv_handle_t *)&r->sigint, NULL);
		uv_close((uv_handle_t *)&r->quiet, NULL);
		uv_close((uv_handle_t *)&r->flush, NULL);
		uv_run(&r->loop, UV_RUN_DEFAULT);
		uv_loop_close(&r->loop);
		return rc;
	}
	if (r->ws)
		uv_signal_start(&r->sigint, on_sigint, SIGINT);
	if (r->ws && !wsc_send_text(r->ws, r->request, strlen(r->request)))
		quiet_reset(r);
	uv_run(&r->loop, UV_RUN_DEFAULT);
	uv_loop_close(&r->loop);
	return 0;
}

/* Only the targets of this job count: those that got a final, and those
 * the server announced. Prints the summary; returns the exit status. */
static int run_summary(struct run *r, json_t **not_run)
{
	size_t targets = 0, completed = 0, failed = 0;
	int rc = 0;

	for (size_t i = 0; i < r->nt; i++) {
		if (r->t[i].targeted || r->t[i].done)
			targets++;
		if (r->t[i].done) {
			completed++;
			if (!r->t[i].ok)
				failed++;
		}
	}
	if (!r->error_status)
		report_unfinished(r, not_run);
	if (r->error_status) {
		rc = r->error_status;
	} else if (r->json) {
		json_t *ev = json_pack("{s:s, s:s, s:I, s:I, s:I, s:O}", "event", "summary",
				       "multi_job_id", r->mjid, "clients", (json_int_t)targets,
				       "completed", (json_int_t)completed, "failed",
				       (json_int_t)failed, "not_completed", *not_run);

		if (ev && r->lost) {
			json_object_set_new(ev, "connection_lost", json_true());
			json_object_set_new(ev, "reason", json_string(r->lost_reason));
		}
		print_json_event(ev);
	} else {
		progress_clear(r);
		fprintf(stderr, "%zu / %zu clients completed, %zu failed", completed, targets,
			failed);
		if (completed < targets)
			fprintf(stderr, ", %zu %s", targets - completed,
				r->lost ? "unknown" : r->timed_out ? "silent" : "never ran");
		fputc('\n', stderr);
	}
	if (!r->error_status && r->lost) {
		fprintf(stderr, "tether exec: lost the connection to the server during job "
				"%s (%s); the job goes on there: 'tether job %s' shows it\n",
			r->mjid, r->lost_reason, r->mjid);
		rc = CLI_LOST;
	} else if (!r->error_status) {
		rc = failed || completed < targets || r->cancelled ? CLI_FAILED : CLI_OK;
	}
	return rc;
}

int cmd_exec_stream(struct cli *c, const struct exec_stream_opts *o, char *request)
{
	struct run r;
	json_t *not_run = NULL;
	int rc;

	memset(&r, 0, sizeof r);
	r.c = c;
	r.verbose = o->verbose;
	r.json = o->json;
	r.tty = isatty(2);
	r.concurrent = o->concurrent;
	r.maxc_text = o->maxc_text;
	r.max_concurrency = o->max_concurrency;
	r.wait_ms = o->wait_ms;
	r.request = request;
	run_learn_names(&r);
	rc = run_stream(&r, o->is_script);
	if (!rc)
		rc = run_summary(&r, &not_run);
	json_decref(not_run);
	for (size_t i = 0; i < r.nt; i++) {
		free(r.t[i].id);
		free(r.t[i].name);
		free(r.t[i].ck[0]);
		free(r.t[i].ck[1]);
		buf_free(&r.t[i].line[0]);
		buf_free(&r.t[i].line[1]);
	}
	free(r.t);
	free(r.request);
	return rc;
}
