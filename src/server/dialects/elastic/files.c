/* files: an agent's output as Elastic's file: GET .../file/{file_id}
 * (its info) and .../file/{file_id}/download (a zip with stdout and
 * stderr, encrypted with traditional PKWARE encryption and the password
 * "elastic", as Kibana's). file_id is "<action_id>.<agent_id>". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#include "dialects/elastic/elastic_priv.h"
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
			   "size", (json_int_t)(r->stdout_len + r->stderr_len), "status", "READY",
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

static int add_file(struct archive *a, const char *name, const char *data, size_t len,
		    int64_t mtime_ns)
{
	struct archive_entry *e = archive_entry_new();
	int rc;

	if (!e)
		return -1;
	archive_entry_set_pathname(e, name);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_mtime(e, (time_t)(mtime_ns / 1000000000LL), 0);
	rc = archive_write_header(a, e);
	archive_entry_free(e);
	if (rc != ARCHIVE_OK)
		return -1;
	for (size_t off = 0; off < len;) {
		la_ssize_t w = archive_write_data(a, data + off, len - off);

		if (w <= 0)
			return -1;
		off += (size_t)w;
	}
	return 0;
}

/* The zip of a job's output, in *out (malloc'd). Returns 0 or -1. */
static int zip_output(const struct job_row *r, struct membuf *out)
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
	if (add_file(a, "stdout", r->stdout_data ? r->stdout_data : "", r->stdout_len,
		     r->finished_at) ||
	    add_file(a, "stderr", r->stderr_data ? r->stderr_data : "", r->stderr_len,
		     r->finished_at))
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

static void download_read(void *ud, int rc, const json_t *rec, const struct job_rows *rows)
{
	struct es_call *call = ud;
	const struct job_row *r = file_row(call, rc, rec, rows);
	struct membuf zip;
	char headers[400];

	if (!r)
		return;
	if (r->output_omitted) {
		es_reply_error(call, 503, "the output is too large to read now; try again");
		return;
	}
	if (zip_output(r, &zip)) {
		es_reply_error(call, 500, "ra_execute_error_processing: the zip could not be made");
		return;
	}
	snprintf(headers, sizeof headers,
		 "Content-Disposition: attachment; filename=\"%.80s.zip\"\r\n"
		 "Cache-Control: max-age=31536000, immutable\r\n"
		 "X-Content-Type-Options: nosniff\r\n",
		 call->params[1]);
	es_reply_raw(call, 200, "application/octet-stream", headers, zip.p, zip.len);
	free(zip.p);
}

void es_file_download(struct es_call *call)
{
	es_action_read(call->srv, call->params[0], -1, download_read, call);
}
