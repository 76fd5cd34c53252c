/* read: the callback reads of store.h over the SQLite backend's
 * synchronous ones. SQLite answers from the page cache or the file without
 * a round trip, so each read runs at once and calls cb before returning;
 * a PostgreSQL backend replaces this file (docs/internals/store.md). */
#include "store/store_priv.h"

/* Hands a synchronous read's outcome to cb: the result on success (cb owns
 * it), NULL and total 0 on failure, whatever the read left in them. */
static void read_done(store_read_cb cb, void *ud, int rc, json_t *result, int64_t total)
{
	if (rc) {
		json_decref(result);
		cb(ud, rc, NULL, 0);
		return;
	}
	cb(ud, 0, result, total);
}

void store_read_job(struct store *st, const char *jid, store_job_cb cb, void *ud)
{
	if (store_read_later(
		st,
		&(struct rd_args){.kind = RD_JOB, .s = {jid}, .cb = (void (*)(void))cb, .ud = ud}))
		return;
	struct job_row row;
	int rc = store_job_get(st, jid, &row);

	if (rc) {
		cb(ud, rc, NULL);
		return;
	}
	cb(ud, 0, &row);
	store_job_row_free(&row);
}

void store_read_job_query(struct store *st, const char *base_column, const char *base_value,
			  const struct job_query *q, int64_t output_budget, store_jobs_cb cb,
			  void *ud)
{
	if (store_read_later(st, &(struct rd_args){.kind = RD_JOB_QUERY,
						   .s = {base_column, base_value},
						   .n = {output_budget},
						   .q = q,
						   .cb = (void (*)(void))cb,
						   .ud = ud}))
		return;
	struct job_rows rows;
	int rc = store_job_query(st, base_column, base_value, q, output_budget, &rows);

	if (rc) {
		cb(ud, rc, NULL);
		return;
	}
	cb(ud, 0, &rows);
	store_job_rows_free(&rows);
}

void store_read_audit_query(struct store *st, const struct audit_query *q, store_read_cb cb,
			    void *ud)
{
	if (store_read_later(st, &(struct rd_args){
				     .kind = RD_AUDIT, .q = q, .cb = (void (*)(void))cb, .ud = ud}))
		return;
	json_t *recs = NULL;
	int64_t total = 0;
	int rc = store_audit_query(st, q, &recs, &total);

	read_done(cb, ud, rc, recs, total);
}

void store_read_multi(struct store *st, const char *jid, store_read_cb cb, void *ud)
{
	if (store_read_later(st,
			     &(struct rd_args){
				 .kind = RD_MULTI, .s = {jid}, .cb = (void (*)(void))cb, .ud = ud}))
		return;
	json_t *data = NULL;
	int rc = store_multi_get(st, jid, &data);

	read_done(cb, ud, rc, data, 1);
}

void store_read_multi_creator(struct store *st, const char *jid, store_creator_cb cb, void *ud)
{
	if (store_read_later(
		st, &(struct rd_args){
			.kind = RD_MULTI_CREATOR, .s = {jid}, .cb = (void (*)(void))cb, .ud = ud}))
		return;
	char who[256];
	int rc = store_multi_creator(st, jid, who, sizeof who);

	cb(ud, rc, rc ? NULL : who);
}

void store_read_multi_list(struct store *st, const char *created_by, int64_t limit,
			   int64_t offset, store_read_cb cb, void *ud)
{
	if (store_read_later(st, &(struct rd_args){.kind = RD_MULTI_LIST,
						   .s = {created_by},
						   .n = {limit, offset},
						   .cb = (void (*)(void))cb,
						   .ud = ud}))
		return;
	json_t *arr = NULL;
	int64_t total = 0;
	int rc = store_multi_list(st, created_by, limit, offset, &arr, &total);

	read_done(cb, ud, rc, arr, total);
}

void store_read_idem(struct store *st, const char *user, const char *key, store_idem_cb cb,
		     void *ud)
{
	if (store_read_later(
		st, &(struct rd_args){
			.kind = RD_IDEM, .s = {user, key}, .cb = (void (*)(void))cb, .ud = ud}))
		return;
	char jid[UUID_STR_LEN], hash[STORE_IDEM_HASH_LEN];
	int rc = store_idem_get(st, user, key, jid, hash);

	if (rc)
		cb(ud, rc, NULL, NULL);
	else
		cb(ud, 0, jid, hash);
}

void store_read_each_running_of(struct store *st, const char *client_id,
				void (*fn)(void *ud, const struct job_running *r), store_done_cb done,
				void *ud)
{
	if (store_read_later(st, &(struct rd_args){.kind = RD_RUNNING_OF,
						   .s = {client_id},
						   .fn = (void (*)(void))fn,
						   .cb = (void (*)(void))done,
						   .ud = ud}))
		return;
	done(ud, store_job_each_running_of(st, client_id, fn, ud));
}

void store_read_each_unconfirmed_of(struct store *st, const char *client_id,
				    void (*fn)(void *ud, const char *jid, int64_t delivery_sec),
				    store_done_cb done, void *ud)
{
	if (store_read_later(st, &(struct rd_args){.kind = RD_UNCONFIRMED_OF,
						   .s = {client_id},
						   .fn = (void (*)(void))fn,
						   .cb = (void (*)(void))done,
						   .ud = ud}))
		return;
	done(ud, store_job_each_unconfirmed_of(st, client_id, fn, ud));
}

void store_read_each_running(struct store *st, void (*fn)(void *ud, const struct job_running *r),
			     store_done_cb done, void *ud)
{
	if (store_read_later(st, &(struct rd_args){.kind = RD_RUNNING,
						   .fn = (void (*)(void))fn,
						   .cb = (void (*)(void))done,
						   .ud = ud}))
		return;
	done(ud, store_job_each_running(st, fn, ud));
}

void store_read_each_child(struct store *st, const char *multi_jid,
			   void (*fn)(void *ud, const char *client_id, const char *jid,
				      const char *status),
			   store_done_cb done, void *ud)
{
	if (store_read_later(st, &(struct rd_args){.kind = RD_CHILD,
						   .s = {multi_jid},
						   .fn = (void (*)(void))fn,
						   .cb = (void (*)(void))done,
						   .ud = ud}))
		return;
	done(ud, store_job_each_child(st, multi_jid, fn, ud));
}
