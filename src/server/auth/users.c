/* users: API users (from the configuration, api.auth_file, or managed
 * through the API and stored) and user groups with their permissions. */
#include "auth/auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auth/auth_priv.h"
#include "store/store.h"
#include "util.h"

struct api_user *auth_user_find(const struct auth *a, const char *name)
{
	for (size_t i = 0; i < a->nusers; i++)
		if (!strcmp(a->users[i].name, name))
			return &a->users[i];
	return NULL;
}

bool auth_user_active(const struct auth *a, const char *name)
{
	const struct api_user *u = auth_user_find(a, name);

	return u && !u->locked;
}

void auth_users_free(struct auth *a)
{
	for (size_t i = 0; i < a->nusers; i++) {
		free(a->users[i].name);
		json_decref(a->users[i].groups);
	}
	free(a->users);
}

int auth_user_add_config(struct auth *a, const char *name, const char *hash,
			 char *err, size_t errlen)
{
	struct api_user *nu;

	if (strncmp(hash, "$argon2id$", 10) && strncmp(hash, "$argon2i$", 9)) {
		snprintf(err, errlen, "password of API user '%s' is not an argon2 hash", name);
		return -1;
	}
	nu = realloc(a->users, (a->nusers + 1) * sizeof *nu);
	if (!nu)
		return -1;
	a->users = nu;
	memset(&nu[a->nusers], 0, sizeof nu[a->nusers]);
	nu[a->nusers].name = strdup(name);
	if (!nu[a->nusers].name ||
	    util_strlcpy(nu[a->nusers].hash, hash, sizeof nu[a->nusers].hash)) {
		free(nu[a->nusers].name);
		snprintf(err, errlen, "bad hash for API user '%s'", name);
		return -1;
	}
	/* Users from the configuration are administrators. */
	nu[a->nusers].groups = json_pack("[s]", AUTH_ADMIN_GROUP);
	nu[a->nusers].from_config = true;
	a->nusers++;
	return 0;
}

/* api.auth_file: one "user:hash" per line, '#' comments. */
int auth_user_file_load(struct auth *a, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int lineno = 0;

	if (!f) {
		snprintf(err, errlen, "api.auth_file %s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		char *colon, *end;

		lineno++;
		end = line + strcspn(line, "\r\n");
		*end = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		colon = strchr(line, ':');
		if (!colon) {
			snprintf(err, errlen, "api.auth_file %s: line %d: expected user:hash",
				 path, lineno);
			fclose(f);
			return -1;
		}
		*colon = '\0';
		if (auth_user_add_config(a, line, colon + 1, err, errlen)) {
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	return 0;
}

static json_t *user_record(const struct api_user *u)
{
	return json_pack("{s:s, s:O, s:b}", "hash", u->hash, "groups", u->groups, "locked",
			 u->locked);
}

json_t *auth_users_json(struct auth *a)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < a->nusers; i++)
		json_array_append_new(arr, json_pack("{s:s, s:O, s:b, s:s}", "username",
						     a->users[i].name, "groups", a->users[i].groups,
						     "locked", a->users[i].locked, "source",
						     a->users[i].from_config ? "config" : "api"));
	return arr;
}

bool auth_user_exists(struct auth *a, const char *name)
{
	return auth_user_find(a, name) != NULL;
}

int auth_user_set(struct auth *a, const char *name, const char *hash, const json_t *groups,
		  int locked, bool create)
{
	struct api_user *u = auth_user_find(a, name);

	if (create && u)
		return TE_EXISTS;
	if (!create && !u)
		return TE_NOTFOUND;
	if (u && u->from_config)
		return TE_STATE;
	if (!u) {
		struct api_user *nu = realloc(a->users, (a->nusers + 1) * sizeof *nu);

		if (!nu)
			return TE_NOMEM;
		a->users = nu;
		u = &a->users[a->nusers];
		memset(u, 0, sizeof *u);
		u->name = strdup(name);
		u->groups = json_array();
		if (!u->name)
			return TE_NOMEM;
		a->nusers++;
	}
	if (hash)
		util_strlcpy(u->hash, hash, sizeof u->hash);
	if (groups) {
		json_decref(u->groups);
		u->groups = json_deep_copy(groups);
	}
	if (locked >= 0)
		u->locked = locked;
	auth_cache_flush(a);
	auth_store_write(a, AUTH_REC_USER, name, user_record(u));
	return 0;
}

int auth_user_delete(struct auth *a, const char *name)
{
	struct api_user *u = auth_user_find(a, name);
	struct token *t, *tmp;
	size_t i;

	if (!u)
		return TE_NOTFOUND;
	if (u->from_config)
		return TE_STATE;
	/* Its tokens go with it. */
	HASH_ITER(hh, a->tokens, t, tmp)
		if (!strcmp(t->user, name))
			auth_token_drop(a, t);
	auth_store_write(a, AUTH_REC_USER, name, NULL);
	i = (size_t)(u - a->users);
	free(u->name);
	json_decref(u->groups);
	memmove(&a->users[i], &a->users[i + 1], (a->nusers - i - 1) * sizeof *a->users);
	a->nusers--;
	auth_cache_flush(a);
	return 0;
}

static bool in_group(const struct api_user *u, const char *group)
{
	size_t i;
	json_t *v;

	json_array_foreach(u->groups, i, v)
		if (json_string_value(v) && !strcmp(json_string_value(v), group))
			return true;
	return false;
}

bool auth_user_is_admin(struct auth *a, const char *name)
{
	const struct api_user *u = auth_user_find(a, name);

	return u && in_group(u, AUTH_ADMIN_GROUP);
}

bool auth_user_may(struct auth *a, const char *name, const char *permission)
{
	const struct api_user *u = auth_user_find(a, name);
	size_t i;
	json_t *v;

	if (!u)
		return false;
	if (in_group(u, AUTH_ADMIN_GROUP))
		return true;
	json_array_foreach(u->groups, i, v) {
		json_t *g = json_object_get(a->user_groups, json_string_value(v));

		if (json_is_true(json_object_get(json_object_get(g, "permissions"), permission)))
			return true;
	}
	return false;
}

const json_t *auth_user_groups(struct auth *a, const char *name)
{
	const struct api_user *u = auth_user_find(a, name);

	return u ? u->groups : NULL;
}

json_t *auth_user_groups_json(struct auth *a)
{
	json_t *arr = json_array();
	const char *k;
	json_t *v;

	json_object_foreach(a->user_groups, k, v)
		json_array_append_new(arr, json_pack("{s:s, s:O}", "name", k, "permissions",
						     json_object_get(v, "permissions")));
	return arr;
}

int auth_user_group_put(struct auth *a, const char *name, const json_t *permissions)
{
	json_t *rec = json_pack("{s:O}", "permissions", permissions);

	/* The table and the write each hold a reference. */
	json_object_set(a->user_groups, name, rec);
	auth_store_write(a, AUTH_REC_USER_GROUP, name, rec);
	return 0;
}

int auth_user_group_delete(struct auth *a, const char *name)
{
	if (!json_object_get(a->user_groups, name))
		return TE_NOTFOUND;
	json_object_del(a->user_groups, name);
	auth_store_write(a, AUTH_REC_USER_GROUP, name, NULL);
	return 0;
}

static void user_load_cb(void *ud, const char *id, json_t *rec)
{
	struct auth *a = ud;
	const char *hash = json_string_value(json_object_get(rec, "hash"));
	struct api_user *nu;

	if (!hash || auth_user_find(a, id))
		return; /* the configuration wins */
	nu = realloc(a->users, (a->nusers + 1) * sizeof *nu);
	if (!nu)
		return;
	a->users = nu;
	nu = &a->users[a->nusers];
	memset(nu, 0, sizeof *nu);
	nu->name = strdup(id);
	util_strlcpy(nu->hash, hash, sizeof nu->hash);
	nu->groups = json_is_array(json_object_get(rec, "groups")) ?
			     json_deep_copy(json_object_get(rec, "groups")) : json_array();
	nu->locked = json_is_true(json_object_get(rec, "locked"));
	if (nu->name)
		a->nusers++;
}

static void user_group_load_cb(void *ud, const char *id, json_t *rec)
{
	struct auth *a = ud;

	json_object_set(a->user_groups, id, rec);
}

void auth_users_load(struct auth *a)
{
	store_kv_each(a->store, "users", user_load_cb, a);
	store_kv_each(a->store, "user_groups", user_group_load_cb, a);
}
