/* exec_output: a job's output pipes: each read is kept up to the
 * send_back_limit (the rest only counted), and a live job's output goes
 * out as "output" frames paced by the agent's link: while the link is
 * FULL the pipes of live jobs stop being read (the child blocks in
 * write()), and when it drains the streams that waited go on in turn, one
 * frame each. See exec.c's header and docs/internals/protocol.md, "Live
 * output". */
#include "exec_priv.h"

#include <stdint.h>
#include <string.h>

#include <utlist.h>

#include "log.h"
#include "proto.h"

/* Largest live output frame: one read's worth. */
#define LIVE_FRAME_MAX READ_CHUNK

static const char *const stream_names[2] = { "stdout", "stderr" };

/* Length of the longest prefix of s[0..n) that does not end inside a
 * UTF-8 sequence, so that live output is not cut in a character. */
static size_t utf8_whole_prefix(const char *s, size_t n)
{
	size_t back = 0;

	while (back < 3 && back < n && ((unsigned char)s[n - 1 - back] & 0xc0) == 0x80)
		back++;
	if (back < n) {
		unsigned char lead = (unsigned char)s[n - 1 - back];
		size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;

		if (need > back + 1)
			return n - 1 - back;
	}
	return n;
}

/* ---- live output ---------------------------------------------------- */

static enum exec_link link_state(const struct exec *e)
{
	return e->link ? e->link(e->link_ud) : EXEC_LINK_OPEN;
}

/* Bytes of s ready to go live, at most max: whole characters only unless
 * final (the last bytes of a stream go as they are). */
static size_t stream_ready(const struct jstream *s, bool final, size_t max)
{
	size_t n = s->buf.len > s->streamed ? s->buf.len - s->streamed : 0;

	if (n > max) {
		n = max;
		final = false;
	}
	return final || !n ? n : utf8_whole_prefix(s->buf.data + s->streamed, n);
}

static int64_t count_newlines(const char *p, size_t n)
{
	int64_t lines = 0;

	for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
		lines++;
	return lines;
}

/* Sends the next n bytes of stream i as one output frame, with where they
 * start in the stream (offset, and the newlines before them). */
static void stream_send(struct job *j, int i, size_t n)
{
	struct jstream *s = &j->io[i];
	json_t *m = proto_new(PROTO_OUTPUT);

	json_object_set_new(m, "jid", json_string(j->jid));
	json_object_set_new(m, "stream", json_string(stream_names[i]));
	json_object_set_new(m, "offset", json_integer((json_int_t)s->streamed));
	json_object_set_new(m, "offset_lines", json_integer(s->lines));
	exec_put_bytes(m, "data", "encoding", s->buf.data + s->streamed, n);
	s->lines += count_newlines(s->buf.data + s->streamed, n);
	s->streamed += n;
	j->e->report(j->e->ud, m);
}

/* No link: the bytes can never be live. They stay kept for the result;
 * the offset of the next frame tells the server about the gap. */
static void stream_skip(struct jstream *s, bool final)
{
	size_t n = stream_ready(s, final, SIZE_MAX);

	if (!n)
		return;
	s->lines += count_newlines(s->buf.data + s->streamed, n);
	s->streamed += n;
	s->skipped += (int64_t)n;
}

/* A stream whose reads follow the link: live, running, and with room
 * left in what is kept (past send_back_limit nothing more goes live, so
 * there is no reason to slow the child). */
static bool stream_gated(const struct job *j, const struct jstream *s)
{
	return j->live && !j->reported && !j->exited && s->buf.len < s->buf.cap;
}

static void waitq_add(struct exec *e, struct jstream *s)
{
	if (!s->waiting) {
		DL_APPEND(e->waitq, s);
		s->waiting = true;
	}
}

void exec_waitq_del(struct exec *e, struct jstream *s)
{
	if (s->waiting) {
		DL_DELETE(e->waitq, s);
		s->waiting = false;
		s->prev = s->next = NULL;
	}
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *b);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b);

static void stream_pause(struct jstream *s)
{
	if (!s->paused && !s->eof) {
		uv_read_stop((uv_stream_t *)&s->pipe);
		s->paused = true;
	}
}

void exec_stream_resume(struct jstream *s)
{
	if (s->paused) {
		s->paused = false;
		if (!s->eof && !uv_is_closing((uv_handle_t *)&s->pipe))
			uv_read_start((uv_stream_t *)&s->pipe, alloc_cb, read_cb);
	}
}

/* After a read: sends what is ready while the link takes it and nobody
 * waits ahead; else takes a place at the end of the line and, while the
 * stream is gated, stops reading its pipe (the child blocks). */
static void stream_service(struct job *j, int i)
{
	struct exec *e = j->e;
	struct jstream *s = &j->io[i];
	enum exec_link st;
	size_t n;

	if (!j->live || j->reported)
		return;
	st = link_state(e);
	if (st == EXEC_LINK_DOWN) {
		stream_skip(s, false);
		return;
	}
	while (st == EXEC_LINK_OPEN && !e->waitq && (n = stream_ready(s, false, LIVE_FRAME_MAX))) {
		stream_send(j, i, n);
		st = link_state(e);
	}
	if (st == EXEC_LINK_OPEN && !e->waitq)
		return;
	if (stream_gated(j, s))
		stream_pause(s);
	if (s->paused || stream_ready(s, false, SIZE_MAX))
		waitq_add(e, s);
}

/* The end of a stream's live output (the job is being reported): what is
 * left goes now, whatever the link's queue, just before the result that
 * follows it (at most one read, plus what came after the exit). */
void exec_stream_final(struct job *j, int i)
{
	struct jstream *s = &j->io[i];
	size_t n;

	exec_waitq_del(j->e, s);
	if (!j->live || j->reported)
		return;
	if (link_state(j->e) == EXEC_LINK_DOWN) {
		stream_skip(s, true);
		return;
	}
	while ((n = stream_ready(s, true, LIVE_FRAME_MAX)))
		stream_send(j, i, n);
}

/* The job is reported: its streams leave the line and are read (and
 * thrown away) until they close, so that a detached child never blocks. */
void exec_job_live_end(struct job *j)
{
	for (int i = 0; i < 2; i++) {
		exec_waitq_del(j->e, &j->io[i]);
		exec_stream_resume(&j->io[i]);
		if (j->io[i].skipped)
			log_info("job %s: %lld bytes of %s were not sent live (the agent had no "
				 "connection); the result has them", j->jid,
				 (long long)j->io[i].skipped, stream_names[i]);
	}
}

void exec_set_link(struct exec *e, exec_link_fn fn, void *ud)
{
	if (!e)
		return;
	e->link = fn;
	e->link_ud = ud;
}

void exec_link_changed(struct exec *e)
{
	struct jstream *s, *tmp;
	size_t n;

	if (!e)
		return;
	if (link_state(e) == EXEC_LINK_DOWN) {
		DL_FOREACH_SAFE(e->waitq, s, tmp) {
			stream_skip(s, false);
			exec_waitq_del(e, s);
			exec_stream_resume(s);
		}
		return;
	}
	/* In turn, one frame each; a stream with more goes to the back. */
	while (e->waitq && link_state(e) == EXEC_LINK_OPEN) {
		s = e->waitq;
		exec_waitq_del(e, s);
		n = stream_ready(s, false, LIVE_FRAME_MAX);
		if (n)
			stream_send(s->job, s->idx, n);
		if (stream_ready(s, false, SIZE_MAX)) {
			waitq_add(e, s);
			continue;
		}
		exec_stream_resume(s);
	}
}

/* ---- output ------------------------------------------------------- */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct job *j = h->data;

	(void)suggested;
	/* One read at a time on this thread: one shared buffer is enough. */
	b->base = j->e->readbuf;
	b->len = sizeof j->e->readbuf;
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct job *j = st->data;
	int i = st == (uv_stream_t *)&j->io[0].pipe ? 0 : 1;
	struct jstream *s = &j->io[i];

	if (n > 0) {
		size_t room, take;

		if (j->reported)
			return; /* detached after a timeout: read to keep it unblocked */
		room = s->buf.cap - s->buf.len;
		take = (size_t)n < room ? (size_t)n : room;
		/* Past send_back_limit the rest is counted, not kept. */
		if (take && buf_append(&s->buf, b->base, take))
			take = 0;
		s->dropped += n - (ssize_t)take;
		if (take)
			stream_service(j, i);
		return;
	}
	if (n < 0) {
		uv_read_stop(st);
		s->eof = true;
		s->paused = false;
		exec_job_maybe_finish(j);
	}
}

void exec_job_read_start(struct job *j)
{
	uv_read_start((uv_stream_t *)&j->io[0].pipe, alloc_cb, read_cb);
	uv_read_start((uv_stream_t *)&j->io[1].pipe, alloc_cb, read_cb);
}
