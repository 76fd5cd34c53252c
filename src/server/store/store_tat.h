/* store_tat: the TAT dialect's rows (schema version 5).
 *
 * tat_ids maps TAT's ids to the core's: a saved command (cmd-xxxxxxxx,
 * kind "cmd") to its library entry, an invocation (inv-xxxxxxxx) to
 * its multi-client invocation (its parent: the command id, cmd-xxxxxxxx),
 * a task (invt-xxxxxxxx) to its invocation and client. tat_keys holds the
 * key pairs users create (the secret sealed with the server's key; the
 * dialect seals and opens it). Writes run inside store_queue's apply;
 * reads complete through callbacks, as store.h's do. */
#ifndef TETHER_STORE_TAT_H
#define TETHER_STORE_TAT_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct tat_id_row {
	const char *id;          /* inv-..., invt-... */
	const char *kind;        /* "inv", "invt" */
	const char *core_id;     /* the multi-client invocation's id */
	const char *parent;      /* an inv's cmd id; a task's inv id */
	const char *client_id;   /* a task's client; "" otherwise */
	const char *created_by;
	int64_t created_at;      /* ns */
};

#define STORE_TAT_MAX_IN 100

/* Which rows to read: kind, and each non-empty list OR-ed within itself
 * and AND-ed with the others; newest first, paged. */
struct tat_id_query {
	const char *kind;
	const char *ids[STORE_TAT_MAX_IN];
	size_t nids;
	const char *parents[STORE_TAT_MAX_IN];
	size_t nparents;
	const char *client_ids[STORE_TAT_MAX_IN];
	size_t nclient_ids;
	const char *core_ids[STORE_TAT_MAX_IN];
	size_t ncore_ids;
	const char *created_by;  /* NULL: anyone's */
	int64_t limit, offset;
};

/* Inserts one row. Returns 0, TE_EXISTS or TE_IO. */
int store_tat_id_put(struct store *st, const struct tat_id_row *r);
/* Deletes one row (a saved command's, when the command goes): 0 or TE_IO. */
int store_tat_id_delete(struct store *st, const char *id);
/* The matching rows, [{id, kind, core_id, parent, client_id, created_by,
 * created_at}], and their count before paging. */
int store_tat_id_query(struct store *st, const struct tat_id_query *q, json_t **out,
		       int64_t *total);
void store_read_tat_ids(struct store *st, const struct tat_id_query *q, store_read_cb cb,
			void *ud);

/* Key pairs: secret_id -> {user, the sealed secret (base64), created_at}. */
int store_tat_key_put(struct store *st, const char *secret_id, const char *user,
		      const char *sealed, int64_t created_at);
/* Deletes user's pair (any user's when user is NULL): 0 or TE_NOTFOUND. */
int store_tat_key_delete(struct store *st, const char *secret_id, const char *user);
/* {secret_id, user, sealed, created_at}, or TE_NOTFOUND. */
void store_read_tat_key(struct store *st, const char *secret_id, store_read_cb cb, void *ud);
/* [{secret_id, created_at}] of user's pairs, oldest first. */
void store_read_tat_keys_of(struct store *st, const char *user, store_read_cb cb, void *ud);

#endif
