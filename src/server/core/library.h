/* library: saved commands and scripts, in the core's terms (no dialect's
 * field names). An entry is a JSON record:
 *   {id, kind: "command"|"script", name, text, tags: [..], timeout_sec,
 *    interpreter, cwd, is_sudo, created_by, created_at, updated_by,
 *    updated_at, metadata: {..}}
 * with times as RFC 3339 strings and metadata the dialect's own fields (a
 * dialect keeps what it has beyond these there). Names are unique per
 * kind. The records live in the store; every read goes through its
 * callback forms. */
#ifndef TETHER_LIBRARY_H
#define TETHER_LIBRARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct server;

enum library_kind { LIBRARY_COMMAND, LIBRARY_SCRIPT };

#define LIBRARY_MAX_NAME 200
#define LIBRARY_MAX_TAGS 64

/* "command" or "script". */
const char *library_kind_name(enum library_kind k);

/* What a create or an update gives (borrowed for the call). */
struct library_entry {
	const char *name;
	const char *text;           /* the command, or the script's text */
	const json_t *tags;         /* an array of strings, or NULL */
	int64_t timeout_sec;        /* 0: the server's default when it runs */
	const char *interpreter;    /* NULL or "": the agent's default */
	const char *cwd;
	bool is_sudo;
	const json_t *metadata;     /* an object, or NULL */
};

/* rc is 0 with rec (a new reference the callback owns), or TE_NOTFOUND,
 * TE_EXISTS (another entry of the kind has the name), TE_INVAL (the entry
 * breaks a limit above), TE_IO or TE_NOMEM with rec NULL. Called once, maybe
 * before the call returns. */
typedef void (*library_cb)(void *ud, int rc, json_t *rec);

void library_create(struct server *srv, enum library_kind kind, const struct library_entry *e,
		    const char *user, library_cb cb, void *ud);
/* Replaces an entry's fields (not its id and creation; its metadata only
 * when e->metadata is set); the record after. */
void library_update(struct server *srv, enum library_kind kind, const char *id,
		    const struct library_entry *e, const char *user, library_cb cb, void *ud);
/* rec is NULL on success too. */
void library_delete(struct server *srv, enum library_kind kind, const char *id,
		    library_cb cb, void *ud);
void library_get(struct server *srv, enum library_kind kind, const char *id, library_cb cb,
		 void *ud);

/* A list's filters, sorts and page over records' fields (by the core's
 * field names). A filter's values are OR-ed '*' globs (case-insensitive);
 * on an array field any element may match; filters are AND-ed. */
#define SAVED_MAX_FILTERS 16
#define SAVED_MAX_VALUES 32
#define SAVED_MAX_SORT 8
struct saved_query {
	struct {
		const char *field;
		const char *values[SAVED_MAX_VALUES];
		size_t nvalues;
	} filters[SAVED_MAX_FILTERS];
	size_t nfilters;
	struct {
		const char *field;
		bool desc;
	} sort[SAVED_MAX_SORT];
	size_t nsort;
	int64_t limit, offset;
	char *mem[SAVED_MAX_FILTERS];   /* the owner's copies of the values, if any */
};
/* The page of arr's records (objects) that q selects, in its order (ties:
 * arr's order), with the count before paging in *total. New reference, or
 * NULL on out of memory. */
json_t *saved_select(const json_t *arr, const struct saved_query *q, int64_t *total);

typedef void (*library_list_cb)(void *ud, int rc, json_t *page, int64_t total);
void library_list(struct server *srv, enum library_kind kind, const struct saved_query *q,
		  library_list_cb cb, void *ud);

#endif
