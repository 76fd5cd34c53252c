/* files: an agent's output as Elastic's file: GET .../file/{file_id}
 * (its info) and .../file/{file_id}/download (a zip with stdout and
 * stderr, encrypted with traditional PKWARE encryption and the password
 * "elastic", as Kibana's). file_id is "<action_id>.<agent_id>". The zip
 * is made in libuv's thread pool, from the job's full output when it has
 * one outside its row (store/outputs.h), else from a copy of the row's. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#include <sys/stat.h>
#include <unistd.h>

#include "dialects/elastic/elastic_priv.h"
#include "store/outputs.h"
#include "util.h"

#define ES_ZIP_PASSWORD "elastic"

/* The agent id of a file id of this action, or NULL. */
static const char *agent_of(const char *action_id, const char *file_id)
{
	size_t n = strlen(action_id);

	if (strncmp(file_id, action_id, n) || file_id[n] != '.' || !file_id[n + 1])
		return NULL;
	return file_id + n + 1;
}

/* The job of the file named in the call, done and with output, or NULL
 * after answering. */
static const struct job_row *file_row(struct es_call *call, int rc, const json_t *rec,
				      const struct job_rows *rows)
{
	const char *agent = agent_of(call->params[0], call->params[1]);
	const struct job_row *r;

	if (rc == TE_NOTFOUND || (rc == 0 && !es_visible(call, json_string_value(
					     json_object_get(rec, "created_by"))))) {
		es_reply_errorf(call, 404, "Action with id '%.64s' not found.", call->params[0]);
		return NULL;
	}
	if (rc) {
		es_reply_error(call, 500, "the action could not be read");
		return NULL;
	}
	r = agent ? es_row_of(rows, agent) : NULL;
	if (!r || !job_status_final(r->status) || !r->has_exit_code) {
		es_reply_errorf(call, 404, "File with id '%.200s' not found.", call->params[1]);
		return NULL;
	}
	return r;
}

/* The length of a stream: its full output's file, else the row's copy. */
static int64_t stream_len(struct server *srv, const struct job_row *r, int i)
{
	char path[1200];
	struct stat sb;

	if (!outputs_path(srv->cfg.data_dir, r->jid, i, path, sizeof path) && !stat(path, &sb))
		return (int64_t)sb.st_size;
	return (int64_t)(i ? r->stderr_len : r->stdout_len);
}

static void info_read(void *ud, int rc, const json_t *rec, const struct job_rows *rows)
{
	struct es_call *call = ud;
	const struct job_row *r = file_row(call, rc, rec, rows);
	char t[TIME_STR_LEN];

	if (!r)
		return;
	util_time_format(r->finished_at, t);
	es_reply(call, 200,
		 json_pack("{s:{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s}}", "data", "name",
			   "full-output.zip", "id", call->params[1], "mimeType", "application/zip",
			   "size",
			   (json_int_t)(stream_len(call->srv, r, 0) + stream_len(call->srv, r, 1)), "status", "READY",
			   "created", t, "actionId", call->params[0], "agentId", r->client_id,
			   "agentType", "endpoint"));
}

void es_file_info(struct es_call *call)
{
	es_action_read(call->srv, call->params[0], 0, info_read, call);
}

/* A growing memory buffer for libarchive's writer. */
struct membuf {
	char *p;
	size_t len, cap;
};

static la_ssize_t mem_write(struct archive *a, void *ud, const void *buf, size_t n)
{
	struct membuf *m = ud;

	(void)a;
	if (m->len + n > m->cap) {
		size_t cap = m->cap ? m->cap : 65536;
		char *p;

		while (cap < m->len + n)
			cap *= 2;
		p = realloc(m->p, cap);
		if (!p)
			return -1;
		m->p = p;
		m->cap = cap;
	}
	memcpy(m->p + m->len, buf, n);
	m->len += n;
	return (la_ssize_t)n;
}

/* One stream of the zip: the file at path when it opens (read in chunks),
 * else len bytes of data. */
struct zip_src {
	char path[1200];
	char *data;
	size_t len;
};

#define ZIP_CHUNK (256 * 1024)

static int add_file(struct archive *a, const char *name, const struct zip_src *src,
		    int64_t mtime_ns)
{
	struct archive_entry *e;
	const char *data = src->data ? src->data : "";
	size_t len = src->len;
	struct stat sb;
	char *chunk = NULL;
	int fd = -1, rc;

	if (src->path[0] && (fd = open(src->path, O_RDONLY | O_CLOEXEC)) >= 0) {
		if (fstat(fd, &sb) || !(chunk = malloc(ZIP_CHUNK))) {
			close(fd);
			return -1;
		}
		len = (size_t)sb.st_size;
	}
	e = archive_entry_new();
	if (!e) {
		rc = -1;
		goto out;
	}
	archive_entry_set_pathname(e, name);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_mtime(e, (time_t)(mtime_ns / 1000000000LL), 0);
	rc = archive_write_header(a, e) == ARCHIVE_OK ? 0 : -1;
	archive_entry_free(e);
	for (size_t off = 0; !rc && off < len;) {
		const char *p = data + off;
		size_t n = len - off;

		if (fd >= 0) {
			ssize_t got = pread(fd, chunk, n < ZIP_CHUNK ? n : ZIP_CHUNK, (off_t)off);

			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				rc = -1; /* the file shrank: no zip rather than a wrong one */
				break;
			}
			p = chunk;
			n = (size_t)got;
		}
		for (size_t done = 0; !rc && done < n;) {
			la_ssize_t w = archive_write_data(a, p + done, n - done);

			if (w <= 0)
				rc = -1;
			else
				done += (size_t)w;
		}
		off += n;
	}
out:
	if (fd >= 0)
		close(fd);
	free(chunk);
	return rc;
}

/* The zip of a job's output, in *out (malloc'd). Returns 0 or -1. */
static int zip_output(const struct zip_src src[2], int64_t mtime_ns, struct membuf *out)
{
	struct archive *a = archive_write_new();
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (!a)
		return -1;
	if (archive_write_set_format_zip(a) != ARCHIVE_OK ||
	    archive_write_set_options(a, "zip:encryption=zipcrypt") != ARCHIVE_OK ||
	    archive_write_set_passphrase(a, ES_ZIP_PASSWORD) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open(a, out, NULL, mem_write, NULL) != ARCHIVE_OK)
		goto fail;
	if (add_file(a, "stdout", &src[0], mtime_ns) || add_file(a, "stderr", &src[1], mtime_ns))
		goto fail;
	if (archive_write_close(a) != ARCHIVE_OK)
		goto fail;
	rc = 0;
fail:
	archive_write_free(a);
	if (rc) {
		free(out->p);
		memset(out, 0, sizeof *out);
	}
	return rc;
}

/* A download being zipped in the thread pool. */
struct zip_job {
	uv_work_t w;
	struct es_call *call;
	struct zip_src src[2];
	int64_t mtime_ns;
	struct membuf zip;
	int rc;
};

static void zip_work(uv_work_t *w)
{
	struct zip_job *z = w->data;

	z->rc = zip_output(z->src, z->mtime_ns, &z->zip);
}

static void zip_done(uv_work_t *w, int status)
{
	struct zip_job *z = w->data;
	struct es_call *call = z->call;
	char headers[400];

	if (status || z->rc) {
		es_reply_error(call, 500, "ra_execute_error_processing: the zip could not be made");
	} else {
		snprintf(headers, sizeof headers,
			 "Content-Disposition: attachment; filename=\"%.80s.zip\"\r\n"
			 "Cache-Control: max-age=31536000, immutable\r\n"
			 "X-Content-Type-Options: nosniff\r\n",
			 call->params[1]);
		es_reply_raw(call, 200, "application/octet-stream", headers, z->zip.p, z->zip.len);
	}
	for (int i = 0; i < 2; i++)
		free(z->src[i].data);
	free(z->zip.p);
	free(z);
}

/* Copies what the zip is made of: the paths of the full output, and the
 * row's copy for a stream without one (the row is only lent). */
static int zip_sources(struct server *srv, const struct job_row *r, struct zip_src src[2])
{
	for (int i = 0; i < 2; i++) {
		const char *data = i ? r->stderr_data : r->stdout_data;
		size_t len = i ? r->stderr_len : r->stdout_len;

		if (!outputs_path(srv->cfg.data_dir, r->jid, i, src[i].path, sizeof src[i].path) &&
		    !access(src[i].path, F_OK))
			continue;
		src[i].path[0] = '\0';
		src[i].data = malloc(len ? len : 1);
		if (!src[i].data)
			return -1;
		if (len)
			memcpy(src[i].data, data, len);
		src[i].len = len;
	}
	return 0;
}

static void download_read(void *ud, int rc, const json_t *rec, const struct job_rows *rows)
{
	struct es_call *call = ud;
	const struct job_row *r = file_row(call, rc, rec, rows);
	struct zip_job *z;

	if (!r)
		return;
	if (r->output_omitted) {
		es_reply_error(call, 503, "the output is too large to read now; try again");
		return;
	}
	z = calloc(1, sizeof *z);
	if (!z || zip_sources(call->srv, r, z->src)) {
		if (z) {
			free(z->src[0].data);
			free(z->src[1].data);
		}
		free(z);
		es_reply_error(call, 500, "ra_execute_error_processing: the zip could not be made");
		return;
	}
	z->call = call;
	z->mtime_ns = r->finished_at;
	z->w.data = z;
	if (uv_queue_work(call->srv->loop, &z->w, zip_work, zip_done))
		zip_done(&z->w, -1);
}

void es_file_download(struct es_call *call)
{
	es_action_read(call->srv, call->params[0], -1, download_read, call);
}
