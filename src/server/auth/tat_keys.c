/* tat_keys: TAT key pairs (see tat_keys.h). */
#include "auth/tat_keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"
#include "server.h"
#include "store/store_tat.h"
#include "util.h"

/* The sealing key, read (or made) at the first use. */
static unsigned char seal_key[crypto_secretbox_KEYBYTES];
static int seal_state;   /* 0: not loaded, 1: loaded, -1: failed */

static int read_all(int fd, unsigned char *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);

		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int seal_key_load(const struct server *srv)
{
	char path[600];
	int fd;

	if (seal_state)
		return seal_state > 0 ? 0 : -1;
	snprintf(path, sizeof path, "%s/tat.key", srv->cfg.data_dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			randombytes_buf(seal_key, sizeof seal_key);
			if (write(fd, seal_key, sizeof seal_key) != (ssize_t)sizeof seal_key ||
			    fsync(fd)) {
				close(fd);
				unlink(path);
				seal_state = -1;
				log_error("tat: cannot write %s", path);
				return -1;
			}
			close(fd);
			seal_state = 1;
			return 0;
		}
	}
	if (fd < 0 || read_all(fd, seal_key, sizeof seal_key)) {
		if (fd >= 0)
			close(fd);
		log_error("tat: cannot read the sealing key %s", path);
		seal_state = -1;
		return -1;
	}
	close(fd);
	seal_state = 1;
	return 0;
}

/* base64(nonce || secretbox(secret)) into a malloc'd text, or NULL. */
static char *seal(const struct server *srv, const char *secret)
{
	size_t n = strlen(secret), blen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + n;
	unsigned char *box = malloc(blen);
	size_t tlen = sodium_base64_ENCODED_LEN(blen, sodium_base64_VARIANT_ORIGINAL);
	char *text = malloc(tlen);

	if (!box || !text || seal_key_load(srv)) {
		free(box);
		free(text);
		return NULL;
	}
	randombytes_buf(box, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, (const unsigned char *)secret, n,
			      box, seal_key);
	sodium_bin2base64(text, tlen, box, blen, sodium_base64_VARIANT_ORIGINAL);
	free(box);
	return text;
}

/* The secret of a sealed text into out (NUL-terminated). 0 or -1. */
static int unseal(const struct server *srv, const char *text, char *out, size_t outlen)
{
	unsigned char box[256];
	size_t blen = 0, n;

	if (seal_key_load(srv) ||
	    sodium_base642bin(box, sizeof box, text, strlen(text), NULL, &blen, NULL,
			      sodium_base64_VARIANT_ORIGINAL) ||
	    blen < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
		return -1;
	n = blen - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
	if (n + 1 > outlen ||
	    crypto_secretbox_open_easy((unsigned char *)out, box + crypto_secretbox_NONCEBYTES,
				       blen - crypto_secretbox_NONCEBYTES, box, seal_key))
		return -1;
	out[n] = '\0';
	return 0;
}

struct lookup {
	struct server *srv;
	tat_key_cb cb;
	void *ud;
};

static void lookup_read(void *ud, int rc, json_t *rec, int64_t total)
{
	struct lookup *l = ud;
	char secret[128];

	(void)total;
	if (rc == 0 && unseal(l->srv, json_string_value(json_object_get(rec, "sealed")), secret,
			      sizeof secret) == 0) {
		l->cb(l->ud, 0, secret, json_string_value(json_object_get(rec, "user")));
		sodium_memzero(secret, sizeof secret);
	} else {
		if (rc == 0)
			log_error("tat: the stored secret of %s cannot be opened (tat.key changed?)",
				  json_string_value(json_object_get(rec, "secret_id")));
		l->cb(l->ud, rc ? rc : TE_IO, NULL, NULL);
	}
	json_decref(rec);
	free(l);
}

void tat_key_lookup(struct server *srv, const char *secret_id, tat_key_cb cb, void *ud)
{
	const struct server_config *cfg = &srv->cfg;
	struct lookup *l;

	if (cfg->tat_secret_id[0] && !strcmp(cfg->tat_secret_id, secret_id)) {
		cb(ud, 0, cfg->tat_secret_key, cfg->tat_user);
		return;
	}
	l = malloc(sizeof *l);
	if (!l) {
		cb(ud, TE_NOMEM, NULL, NULL);
		return;
	}
	l->srv = srv;
	l->cb = cb;
	l->ud = ud;
	store_read_tat_key(srv->store, secret_id, lookup_read, l);
}

/* ---- create and delete ---------------------------------------------- */

struct made {
	char id[TAT_KEY_ID_LEN];
	char secret[TAT_KEY_SECRET_LEN];
	char user[128];
	char *sealed;
	tat_key_made_cb cb;
	void (*del_cb)(void *ud, int rc);
	void *ud;
};

static void random_text(char *out, size_t n)
{
	static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

	for (size_t i = 0; i < n; i++)
		out[i] = set[randombytes_uniform(sizeof set - 1)];
	out[n] = '\0';
}

static int made_apply(struct store *st, void *arg)
{
	struct made *m = arg;

	return store_tat_key_put(st, m->id, m->user, m->sealed, util_now_ns());
}

static void made_after(void *arg, int rc)
{
	struct made *m = arg;

	if (rc)
		m->cb(m->ud, rc, NULL, NULL);
	else
		m->cb(m->ud, 0, m->id, m->secret);
	sodium_memzero(m->secret, sizeof m->secret);
	free(m->sealed);
	free(m);
}

void tat_key_create(struct server *srv, const char *user, tat_key_made_cb cb, void *ud)
{
	struct made *m = calloc(1, sizeof *m);

	if (!m) {
		cb(ud, TE_NOMEM, NULL, NULL);
		return;
	}
	memcpy(m->id, "AKID", 4);
	random_text(m->id + 4, TAT_KEY_ID_LEN - 5);
	random_text(m->secret, TAT_KEY_SECRET_LEN - 1);
	util_strlcpy(m->user, user, sizeof m->user);
	m->cb = cb;
	m->ud = ud;
	m->sealed = seal(srv, m->secret);
	if (!m->sealed) {
		free(m);
		cb(ud, TE_IO, NULL, NULL);
		return;
	}
	store_queue(srv->store, made_apply, made_after, m);
}

static int del_apply(struct store *st, void *arg)
{
	struct made *m = arg;

	return store_tat_key_delete(st, m->id, m->user[0] ? m->user : NULL);
}

static void del_after(void *arg, int rc)
{
	struct made *m = arg;

	m->del_cb(m->ud, rc);
	free(m);
}

void tat_key_delete(struct server *srv, const char *user, const char *secret_id,
		    void (*cb)(void *ud, int rc), void *ud)
{
	struct made *m = calloc(1, sizeof *m);

	if (!m || strlen(secret_id) >= sizeof m->id) {
		int rc = m ? TE_NOTFOUND : TE_NOMEM;

		free(m);
		cb(ud, rc);
		return;
	}
	util_strlcpy(m->id, secret_id, sizeof m->id);
	if (user)
		util_strlcpy(m->user, user, sizeof m->user);
	m->del_cb = cb;
	m->ud = ud;
	store_queue(srv->store, del_apply, del_after, m);
}
