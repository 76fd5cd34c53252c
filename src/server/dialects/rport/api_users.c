/* api_users: users and user groups (administrators only). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "dialects/rport/api.h"
#include "core/audit.h"
#include "auth/auth.h"
#include "util.h"
#include "dialects/rport/ws_api.h"

static const struct http_field user_fields[] = {
	{ "username", HF_STRING, 0 },
	{ "password", HF_STRING, 0 },
	{ "groups", HF_ARRAY, 0 },
	{ "locked", HF_BOOL, 0 },
};

static const struct http_field group_fields[] = {
	{ "name", HF_STRING, 0 },
	{ "permissions", HF_OBJECT, 0 },
};

static void audit_user(struct api_call *call, const char *app, const char *action,
		       const char *id)
{
	api_audit(call, app, action, id, NULL, true);
}

static bool valid_name(const char *n)
{
	size_t l = n ? strlen(n) : 0;

	if (!l || l > 64)
		return false;
	for (size_t i = 0; i < l; i++)
		if (n[i] <= ' ' || n[i] == ':' || n[i] == '/' || n[i] == '*' || n[i] == 0x7f)
			return false;
	return true;
}

static bool valid_groups(json_t *g)
{
	size_t i;
	json_t *v;

	if (!g)
		return true;
	if (json_array_size(g) > 64)
		return false;
	json_array_foreach(g, i, v)
		if (!valid_name(json_string_value(v)))
			return false;
	return true;
}

void api_users_list(struct api_call *call)
{
	json_t *all = auth_users_json(call->srv->auth);

	api_reply_list(call, all, (int64_t)json_array_size(all));
}

/* A user change waits for the password hash (worker thread). */
struct user_op {
	struct api_call *call;
	json_t *body;
	bool create;
	char name[128];
};

static void user_apply(struct user_op *op, const char *hash)
{
	struct api_call *call = op->call;
	json_t *locked = json_object_get(op->body, "locked");
	int rc = auth_user_set(call->srv->auth, op->name, hash, json_object_get(op->body, "groups"),
			       json_is_boolean(locked) ? json_is_true(locked) : -1, op->create);
	char title[200];

	if (rc == TE_EXISTS) {
		snprintf(title, sizeof title, "User with username \"%.64s\" already exists.", op->name);
		api_reply_error(call, 409, title, "");
	} else if (rc == TE_NOTFOUND) {
		snprintf(title, sizeof title, "User with username \"%.64s\" not found.", op->name);
		api_reply_error(call, 404, title, "");
	} else if (rc == TE_STATE) {
		api_reply_error(call, 400, "User from the configuration file.",
				"it cannot be changed through the API");
	} else if (rc) {
		api_reply_error(call, 500, "Failed to store the user.", "");
	} else {
		audit_user(call, "auth.user", op->create ? "create" : "update", op->name);
		/* A locked user loses open streams at once. */
		if (json_is_true(locked))
			ws_api_revoke_user(call->srv->ws, op->name);
		api_reply(call, op->create ? 201 : 204,
			  op->create ? json_pack("{s:{s:s}}", "data", "username", op->name) : NULL);
	}
	json_decref(op->body);
	free(op);
}

static void user_hashed(void *ud, const char *hash)
{
	struct user_op *op = ud;

	if (!hash) {
		api_reply_error(op->call, 500, "Failed to hash the password.", "");
		json_decref(op->body);
		free(op);
		return;
	}
	user_apply(op, hash);
}

static void user_change(struct api_call *call, bool create)
{
	struct user_op *op;
	const char *name, *pw;
	json_t *body;

	if (api_body(call, user_fields, sizeof user_fields / sizeof user_fields[0], &body))
		return;
	name = create ? json_string_value(json_object_get(body, "username")) : call->params[0];
	pw = json_string_value(json_object_get(body, "password"));
	if (!create && json_string_value(json_object_get(body, "username")) &&
	    strcmp(json_string_value(json_object_get(body, "username")), name)) {
		json_decref(body);
		api_reply_error(call, 400, "Invalid user.", "the username cannot be changed");
		return;
	}
	if (!valid_name(name) || !valid_groups(json_object_get(body, "groups"))) {
		json_decref(body);
		api_reply_error(call, 400, "Invalid user.",
				"user and group names: 1 to 64 characters without spaces, ':', '/' or '*'");
		return;
	}
	if ((create && !pw) || (pw && (strlen(pw) < 8 || strlen(pw) > 512))) {
		json_decref(body);
		api_reply_error(call, 400, "Invalid password.", "8 to 512 characters");
		return;
	}
	op = calloc(1, sizeof *op);
	if (!op) {
		json_decref(body);
		api_reply_error(call, 500, "Internal error.", "out of memory");
		return;
	}
	op->call = call;
	op->body = body;
	op->create = create;
	util_strlcpy(op->name, name, sizeof op->name);
	if ((create && auth_user_exists(call->srv->auth, name)) ||
	    (!create && !auth_user_exists(call->srv->auth, name)) || !pw)
		user_apply(op, NULL);   /* the error, or no new password */
	else
		auth_hash_async(call->srv->auth, pw, user_hashed, op);
}

void api_users_post(struct api_call *call)
{
	user_change(call, true);
}

void api_users_put(struct api_call *call)
{
	user_change(call, false);
}

/* PUT /me (rport): a user changes their own password, proving the old one.
 * The username cannot change here; two_fa_send_to is accepted and ignored
 * (tether has no 2FA yet). */
static const struct http_field me_fields[] = {
	{ "username", HF_STRING, 0 },
	{ "password", HF_STRING, 0 },
	{ "old_password", HF_STRING, 0 },
	{ "two_fa_send_to", HF_STRING, 0 },
};

static void me_old_checked(void *ud, const struct auth_identity *id)
{
	struct user_op *op = ud;

	/* Only the password itself proves it: never a token. */
	if (!id || id->api_token || id->session_token || strcmp(id->user, op->name)) {
		api_reply_error(op->call, 400, "Incorrect old password.", "");
		json_decref(op->body);
		free(op);
		return;
	}
	auth_hash_async(op->call->srv->auth, json_string_value(json_object_get(op->body, "password")),
			user_hashed, op);
}

void api_me_put(struct api_call *call)
{
	const char *name, *pw, *old;
	struct user_op *op;
	json_t *body;
	char *cred = NULL, *hdr = NULL;
	size_t clen, b64len;

	if (api_body(call, me_fields, sizeof me_fields / sizeof me_fields[0], &body))
		return;
	name = json_string_value(json_object_get(body, "username"));
	pw = json_string_value(json_object_get(body, "password"));
	old = json_string_value(json_object_get(body, "old_password"));
	if (name && *name && strcmp(name, call->user)) {
		json_decref(body);
		api_reply_error(call, 400, "Invalid user.", "the username cannot be changed");
		return;
	}
	if (!pw || !*pw) {
		json_decref(body);
		api_reply(call, 204, NULL);   /* nothing to change */
		return;
	}
	if (strlen(pw) < 8 || strlen(pw) > 512) {
		json_decref(body);
		api_reply_error(call, 400, "Invalid password.", "8 to 512 characters");
		return;
	}
	if (!old || !*old) {
		json_decref(body);
		api_reply_error(call, 400, "Missing old password.",
				"old_password is required to change the password");
		return;
	}
	/* The old password is checked as a login would be (off the loop). */
	clen = strlen(call->user) + 1 + strlen(old);
	b64len = sodium_base64_ENCODED_LEN(clen, sodium_base64_VARIANT_ORIGINAL);
	op = calloc(1, sizeof *op);
	cred = malloc(clen + 1);
	hdr = malloc(b64len + 6);
	if (!op || !cred || !hdr) {
		free(op);
		free(cred);
		free(hdr);
		json_decref(body);
		api_reply_error(call, 500, "Internal error.", "out of memory");
		return;
	}
	snprintf(cred, clen + 1, "%s:%s", call->user, old);
	memcpy(hdr, "Basic ", 6);
	sodium_bin2base64(hdr + 6, b64len, (const unsigned char *)cred, clen,
			  sodium_base64_VARIANT_ORIGINAL);
	sodium_memzero(cred, clen);
	free(cred);
	/* Only the password changes: groups and locked stay as they are. */
	json_object_del(body, "username");
	json_object_del(body, "old_password");
	json_object_del(body, "two_fa_send_to");
	op->call = call;
	op->body = body;
	util_strlcpy(op->name, call->user, sizeof op->name);
	auth_api_check(call->srv->auth, hdr, NULL, me_old_checked, op);
	free(hdr);
}

void api_users_delete(struct api_call *call)
{
	char title[200];
	int rc = auth_user_delete(call->srv->auth, call->params[0]);

	if (rc == TE_NOTFOUND) {
		snprintf(title, sizeof title, "User with username \"%.64s\" not found.",
			 call->params[0]);
		api_reply_error(call, 404, title, "");
		return;
	}
	if (rc == TE_STATE) {
		api_reply_error(call, 400, "User from the configuration file.",
				"it cannot be changed through the API");
		return;
	}
	audit_user(call, "auth.user", "delete", call->params[0]);
	ws_api_revoke_user(call->srv->ws, call->params[0]);
	api_reply(call, 204, NULL);
}

void api_user_groups_list(struct api_call *call)
{
	json_t *all = auth_user_groups_json(call->srv->auth);

	api_reply_list(call, all, (int64_t)json_array_size(all));
}

void api_user_groups_put(struct api_call *call)
{
	json_t *body, *perms, *clean;
	const char *k;
	json_t *v;

	if (api_body(call, group_fields, 2, &body))
		return;
	if (!valid_name(call->params[0])) {
		json_decref(body);
		api_reply_error(call, 400, "Invalid user group.", "1 to 64 characters, no spaces");
		return;
	}
	perms = json_object_get(body, "permissions");
	clean = json_object();
	json_object_foreach(perms, k, v) {
		if ((strcmp(k, "commands") && strcmp(k, "scripts") && strcmp(k, "scheduler")) ||
		    !json_is_boolean(v)) {
			json_decref(clean);
			json_decref(body);
			api_reply_error(call, 400, "Invalid user group.",
					"permissions are {\"commands\": bool, \"scripts\": bool, "
					"\"scheduler\": bool}");
			return;
		}
		json_object_set(clean, k, v);
	}
	auth_user_group_put(call->srv->auth, call->params[0], clean);
	json_decref(body);
	audit_user(call, "auth.user.group", "update", call->params[0]);
	/* rport answers 200 with the UserGroup. */
	api_reply_data(call, 200, json_pack("{s:s, s:o}", "name", call->params[0], "permissions",
					    clean));
}

/* GET /user-groups/{name}. */
void api_user_groups_get(struct api_call *call)
{
	json_t *all = auth_user_groups_json(call->srv->auth), *g;
	char title[200];
	size_t i;

	json_array_foreach(all, i, g) {
		const char *n = json_string_value(json_object_get(g, "name"));

		if (n && !strcmp(n, call->params[0])) {
			json_incref(g);
			json_decref(all);
			api_reply_data(call, 200, g);
			return;
		}
	}
	json_decref(all);
	snprintf(title, sizeof title, "User Group[name=\"%.64s\"] not found.", call->params[0]);
	api_reply_error(call, 404, title, "");
}

void api_user_groups_delete(struct api_call *call)
{
	if (auth_user_group_delete(call->srv->auth, call->params[0])) {
		api_reply_error(call, 404, "User group not found.", "");
		return;
	}
	audit_user(call, "auth.user.group", "delete", call->params[0]);
	api_reply(call, 204, NULL);
}
