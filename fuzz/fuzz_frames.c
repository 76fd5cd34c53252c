/* libFuzzer harness: the result/started decoder without a JSON tree
 * (proto_fast_decode), checked against jansson: a frame it takes must be
 * one proto_parse takes, with the same type and the same fields. And the
 * string encoder: what it writes, jansson reads back as it went in. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static void check_decode(const char *text, size_t size)
{
	char *arena = malloc(size + 1);
	struct proto_result fr, jr;
	struct proto_started fs, js;
	enum proto_type t;
	char err[256];
	json_t *m;
	int ft;

	if (!arena)
		return;
	ft = proto_fast_decode(text, size, arena, &fr, &fs);
	if (ft < 0) {
		free(arena);
		return;
	}
	if (proto_parse(text, size, &m, &t, err, sizeof err) || (int)t != ft)
		abort();
	if (ft == PROTO_RESULT) {
		proto_result_from_json(&jr, m);
		if (!same(fr.jid, jr.jid) || !same(fr.status, jr.status) || !same(fr.error, jr.error) ||
		    !same(fr.enc[0], jr.enc[0]) || !same(fr.enc[1], jr.enc[1]) ||
		    !same(fr.started_at, jr.started_at) || !same(fr.finished_at, jr.finished_at) ||
		    fr.has_exit_code != jr.has_exit_code || fr.exit_code != jr.exit_code ||
		    fr.pid != jr.pid || fr.output_cap != jr.output_cap)
			abort();
		for (int i = 0; i < 2; i++)
			if ((fr.out[i] == NULL) != (jr.out[i] == NULL) || fr.out_len[i] != jr.out_len[i] ||
			    (fr.out[i] && memcmp(fr.out[i], jr.out[i], fr.out_len[i])) ||
			    fr.dropped[i] != jr.dropped[i])
				abort();
	} else {
		proto_started_from_json(&js, m);
		if (!same(fs.jid, js.jid) || !same(fs.started_at, js.started_at) || fs.pid != js.pid)
			abort();
	}
	json_decref(m);
	free(arena);
}

static void check_encode(const char *text, size_t size)
{
	struct buf b;
	json_t *m, *v;
	int rc;

	buf_init(&b, 8 * size + 64);
	if (buf_append(&b, "{\"k\":", 5))
		goto out;
	rc = proto_put_str(&b, text, size);
	if (rc == TE_INVAL || memchr(text, 0, size))
		goto out; /* not UTF-8 (refused), or a NUL jansson would refuse */
	if (rc || buf_append(&b, "}", 1))
		abort();
	m = json_loadb(b.data, b.len, 0, NULL);
	v = json_object_get(m, "k");
	if (!json_is_string(v) || json_string_length(v) != size ||
	    memcmp(json_string_value(v), text, size))
		abort();
	json_decref(m);
out:
	buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_decode((const char *)data, size);
	check_encode((const char *)data, size);
	return 0;
}
