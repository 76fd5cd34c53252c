/* api_enroll: enrollment codes (tether's addition; admins only).
 *
 *   POST   /api/v1/enrollment-codes        create: the code is shown once
 *   GET    /api/v1/enrollment-codes        list (never the secrets)
 *   DELETE /api/v1/enrollment-codes/{id}   revoke
 *
 * An agent uses a code with `tether-agent enroll` (auth/enroll.c,
 * agents/enroll.c). When the agent listener has TLS, the code carries the
 * SHA-256 fingerprint of its certificate, which the agent pins. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth/auth.h"
#include "dialects/rport/api.h"
#include "net.h"
#include "server.h"
#include "util.h"

#define ENROLL_DEFAULT_SEC 3600
#define ENROLL_MAX_SEC (30LL * 86400)
#define ENROLL_MAX_TAGS 32
#define ENROLL_MAX_TAG_LEN 128

static const struct http_field enroll_fields[] = {
	{ "expires_in_sec", HF_INT, 0 },
	{ "max_uses", HF_INT, 0 },
	{ "id_pattern", HF_STRING, 0 },
	{ "tags", HF_ARRAY, 0 },
	{ "labels", HF_OBJECT, 0 },
};

static int check_tags(const json_t *tags, char *detail, size_t n)
{
	size_t i;
	json_t *v;

	if (json_array_size(tags) > ENROLL_MAX_TAGS) {
		snprintf(detail, n, "at most %d tags", ENROLL_MAX_TAGS);
		return -1;
	}
	json_array_foreach(tags, i, v) {
		if (!json_is_string(v) || !json_string_length(v) ||
		    json_string_length(v) > ENROLL_MAX_TAG_LEN) {
			snprintf(detail, n, "tags[%zu] must be a string of 1 to %d characters", i,
				 ENROLL_MAX_TAG_LEN);
			return -1;
		}
	}
	return 0;
}

static int check_labels(const json_t *labels, char *detail, size_t n)
{
	const char *k;
	json_t *v;

	if (json_object_size(labels) > ENROLL_MAX_TAGS) {
		snprintf(detail, n, "at most %d labels", ENROLL_MAX_TAGS);
		return -1;
	}
	json_object_foreach((json_t *)labels, k, v) {
		if (!*k || strlen(k) > ENROLL_MAX_TAG_LEN || !json_is_string(v) ||
		    json_string_length(v) > ENROLL_MAX_TAG_LEN) {
			snprintf(detail, n, "labels.%.64s must be a string of at most %d characters",
				 k, ENROLL_MAX_TAG_LEN);
			return -1;
		}
	}
	return 0;
}

/* The spec from the body; -1 after answering 400. */
static int enroll_spec_of(struct api_call *call, json_t *body, struct enroll_spec *spec)
{
	json_t *exp = json_object_get(body, "expires_in_sec");
	json_t *uses = json_object_get(body, "max_uses");
	char detail[256];

	spec->created_by = call->user;
	spec->expires_in_sec = exp ? json_integer_value(exp) : ENROLL_DEFAULT_SEC;
	spec->max_uses = uses ? json_integer_value(uses) : 1;
	spec->id_pattern = json_string_value(json_object_get(body, "id_pattern"));
	spec->tags = json_object_get(body, "tags");
	spec->labels = json_object_get(body, "labels");
	if (spec->expires_in_sec < 1 || spec->expires_in_sec > ENROLL_MAX_SEC) {
		api_reply_error(call, 400, "Invalid expires_in_sec.",
				"from 1 to 2592000 seconds (30 days)");
		return -1;
	}
	if (spec->max_uses < 0 || spec->max_uses > 1000000) {
		api_reply_error(call, 400, "Invalid max_uses.",
				"from 0 (no limit) to 1000000");
		return -1;
	}
	if (spec->id_pattern && auth_enroll_check_pattern(spec->id_pattern, detail,
							  sizeof detail)) {
		api_reply_error(call, 400, "Invalid id_pattern.", detail);
		return -1;
	}
	if (spec->tags && check_tags(spec->tags, detail, sizeof detail)) {
		api_reply_error(call, 400, "Invalid tags.", detail);
		return -1;
	}
	if (spec->labels && check_labels(spec->labels, detail, sizeof detail)) {
		api_reply_error(call, 400, "Invalid labels.", detail);
		return -1;
	}
	return 0;
}

void api_enroll_post(struct api_call *call)
{
	struct enroll_spec spec;
	json_t *body, *shown;
	char *code, fp[65], *full;

	if (api_body(call, enroll_fields, sizeof enroll_fields / sizeof enroll_fields[0], &body))
		return;
	if (enroll_spec_of(call, body, &spec)) {
		json_decref(body);
		return;
	}
	if (auth_enroll_create(call->srv->auth, &spec, &code, &shown)) {
		json_decref(body);
		api_reply_error(call, 500, "Failed to create the enrollment code.", "");
		return;
	}
	json_decref(body);
	fp[0] = '\0';
	if (call->srv->cfg.tls_cert[0] &&
	    net_tls_cert_fingerprint(call->srv->cfg.tls_cert, fp))
		fp[0] = '\0';
	size_t fulllen = strlen(code) + 2 + sizeof fp;

	full = malloc(fulllen);
	if (!full) {
		free(code);
		json_decref(shown);
		api_reply_error(call, 503, "Service Unavailable", "out of memory");
		return;
	}
	snprintf(full, fulllen, "%s%s%s", code, fp[0] ? "." : "", fp);
	sodium_memzero(code, strlen(code));
	free(code);
	json_object_set_new(shown, "code", json_string(full));
	if (fp[0])
		json_object_set_new(shown, "fingerprint", json_string(fp));
	sodium_memzero(full, strlen(full));
	free(full);
	api_audit(call, "enrollment", "create",
		  json_string_value(json_object_get(shown, "id")), NULL, true);
	api_reply_data(call, 201, shown);
}

void api_enroll_list(struct api_call *call)
{
	json_t *all = auth_enroll_list(call->srv->auth);

	api_reply_list(call, all, (int64_t)json_array_size(all));
}

void api_enroll_delete(struct api_call *call)
{
	char title[200];

	if (auth_enroll_revoke(call->srv->auth, call->params[0])) {
		snprintf(title, sizeof title, "Enrollment code with ID=%.64s not found.",
			 call->params[0]);
		api_reply_error(call, 404, title, "");
		return;
	}
	api_audit(call, "enrollment", "revoke", call->params[0], NULL, true);
	api_reply(call, 204, NULL);
}
