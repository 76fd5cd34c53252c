/* output: how the CLI shows a job's output: decoded (base64 when the
 * server says so), byte for byte (NULs and other binary kept), each line
 * labelled, and a note when the agent cut it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"

char *cli_job_stream(json_t *result, const char *stream, size_t *len)
{
	json_t *v = json_object_get(result, stream);
	const char *text = json_string_value(v);
	size_t tlen = json_string_length(v);
	char key[32], *out;
	const char *enc;

	*len = 0;
	if (!text)
		return NULL;
	snprintf(key, sizeof key, "%s_encoding", stream);
	enc = json_string_value(json_object_get(result, key));
	if (!enc) {
		out = malloc(tlen + 1);
		if (!out)
			return NULL;
		memcpy(out, text, tlen);
		out[tlen] = '\0';
		*len = tlen;
		return out;
	}
	if (strcmp(enc, "base64"))
		return NULL;
	out = malloc(tlen + 1);
	if (!out || sodium_base642bin((unsigned char *)out, tlen + 1, text, tlen, "\r\n", len,
				      NULL, sodium_base64_VARIANT_ORIGINAL)) {
		free(out);
		*len = 0;
		return NULL;
	}
	out[*len] = '\0';
	return out;
}

void cli_write_lines(FILE *f, const char *prefix, const char *data, size_t len)
{
	size_t start = 0;

	while (start < len) {
		const char *nl = memchr(data + start, '\n', len - start);
		size_t n = nl ? (size_t)(nl - (data + start)) : len - start;

		fputs(prefix, f);
		fputs(": ", f);
		fwrite(data + start, 1, n, f);
		fputc('\n', f);
		start += n + (nl ? 1 : 0);
	}
}

void cli_note_truncation(json_t *job, const char *name)
{
	json_t *res = json_object_get(job, "result");
	const char *error = json_string_value(json_object_get(job, "error"));
	bool said = false;

	for (int s = 0; s < 2; s++) {
		const char *stream = s ? "stderr" : "stdout";
		char key[40];
		json_t *dropped;

		snprintf(key, sizeof key, "%s_truncated", stream);
		if (!json_is_true(json_object_get(res, key)))
			continue;
		snprintf(key, sizeof key, "%s_dropped_bytes", stream);
		dropped = json_object_get(res, key);
		if (json_is_integer(dropped))
			fprintf(stderr, "==> %s: %s was cut at the agent's send_back_limit: %lld "
					"bytes dropped\n", name, stream,
				(long long)json_integer_value(dropped));
		else
			fprintf(stderr, "==> %s: %s was cut at the agent's send_back_limit\n", name,
				stream);
		said = true;
	}
	/* rport's servers say it in the error text only. */
	if (!said && error && strstr(error, "overflow of std"))
		fprintf(stderr, "==> %s: output was cut at the agent's send_back_limit (%s)\n", name,
			error);
}
