/* api_tat_keys: a user's TAT key pairs (SecretId/SecretKey) through
 * tether's API: GET, POST /api/v1/me/tat-keys and DELETE
 * /api/v1/me/tat-keys/{secret_id}. The secret is shown once, at creation
 * (auth/tat_keys.h keeps it sealed). */
#include <stdio.h>
#include <string.h>

#include "auth/tat_keys.h"
#include "dialects/rport/api.h"
#include "server.h"
#include "store/store_tat.h"

static void keys_read(void *ud, int rc, json_t *list, int64_t total)
{
	struct api_call *call = ud;
	char ts[TIME_STR_LEN];
	size_t i;
	json_t *k;

	if (rc) {
		api_reply_error(call, 500, "Internal error.", "cannot read the key pairs");
		return;
	}
	json_array_foreach(list, i, k) {
		util_time_format(json_integer_value(json_object_get(k, "created_at")), ts);
		json_object_set_new(k, "created_at", json_string(ts));
	}
	api_reply_list(call, list, total);
}

void api_me_tat_keys_list(struct api_call *call)
{
	store_read_tat_keys_of(call->srv->store, call->user, keys_read, call);
}

static void key_made(void *ud, int rc, const char *secret_id, const char *secret)
{
	struct api_call *call = ud;

	if (rc) {
		api_reply_error(call, 500, "Internal error.", "cannot store the key pair");
		return;
	}
	api_audit(call, "auth.user.me.tat_key", "create", secret_id, NULL, true);
	api_reply_data(call, 201, json_pack("{s:s, s:s}", "secret_id", secret_id, "secret_key",
					    secret));
}

void api_me_tat_keys_post(struct api_call *call)
{
	tat_key_create(call->srv, call->user, key_made, call);
}

static void key_deleted(void *ud, int rc)
{
	struct api_call *call = ud;
	char title[200];

	if (rc) {
		snprintf(title, sizeof title, "TAT key pair \"%.40s\" not found.", call->params[0]);
		api_reply_error(call, rc == TE_NOTFOUND ? 404 : 500, title, "");
		return;
	}
	api_audit(call, "auth.user.me.tat_key", "delete", call->params[0], NULL, true);
	api_reply(call, 204, NULL);
}

void api_me_tat_keys_delete(struct api_call *call)
{
	tat_key_delete(call->srv, call->user, call->params[0], key_deleted, call);
}
