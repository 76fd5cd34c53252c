/* audit: the audit log (store table auditlog, GET /api/v1/auditlog).
 *
 * Actions are recorded before they take effect: a dispatch's record is
 * written in the same transaction as its job, and an action whose record
 * cannot be written is refused. */
#ifndef TETHER_AUDIT_H
#define TETHER_AUDIT_H

#include <jansson.h>

#include "server.h"

struct store;

struct audit_entry {
	const char *username;
	const char *remote_ip;
	const char *application;   /* "auth", "client.command", "client.script", ... */
	const char *action;        /* "login", "failed_login", "execute.start", "cancel", ... */
	const char *affected_id;   /* a jid, token prefix, credential id... */
	const char *client_id;
	json_t *request;           /* borrowed; may be NULL */
	json_t *response;          /* borrowed; may be NULL: what the action answered */
	/* Or either one already as compact JSON text (borrowed), taken
	 * instead of dumping the tree: a submission's own. */
	const char *request_text;
	const char *response_text;
	bool success;
};

/* Inserts one record (inside a store transaction, or autocommit). */
int audit_insert(struct store *st, const struct audit_entry *e);
/* Queues a record on the store's group commit, for events that are not
 * themselves writes (failed logins). */
void audit_queue(struct server *srv, const struct audit_entry *e);

/* Queues the record of a failed login (action "failed_login", success
 * false) of user (a user name or client auth id, may be "") from peer;
 * application: "auth" for the API, "agent" for agents. */
void audit_failed_login(struct server *srv, const char *user, const char *peer,
			const char *application);

#endif
