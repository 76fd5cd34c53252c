/* backup: a consistent copy of a running server's store (tetherd backup).
 *
 * Runs in its own process beside the server: it opens the database
 * read-only and copies it with SQLite's online backup API in one step, so
 * the copy is the database as of one read transaction (WAL readers do not
 * block the server's writer, nor it them). The copy is written to a
 * temporary file beside the destination, checked, synced and renamed into
 * place: a destination is never half written. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store.h"

static int check_copy(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW) {
		const char *r = (const char *)sqlite3_column_text(s, 0);

		if (r && !strcmp(r, "ok"))
			rc = 0;
		else
			snprintf(err, errlen, "the copy fails its check: %s", r ? r : "?");
	} else {
		snprintf(err, errlen, "cannot check the copy: %s", sqlite3_errmsg(db));
	}
	sqlite3_finalize(s);
	return rc;
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int store_backup(const char *dir, const char *dest, char *err, size_t errlen)
{
	char src[4096], tmp[4096];
	sqlite3 *from = NULL, *to = NULL;
	sqlite3_backup *b;
	int rc = -1;

	if (snprintf(src, sizeof src, "%s/tether.db", dir) >= (int)sizeof src ||
	    snprintf(tmp, sizeof tmp, "%s.partial", dest) >= (int)sizeof tmp) {
		snprintf(err, errlen, "path too long");
		return -1;
	}
	if (access(src, R_OK)) {
		snprintf(err, errlen, "no store at %s: %s", src, strerror(errno));
		return -1;
	}
	unlink(tmp);
	if (sqlite3_open_v2(src, &from, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", src, sqlite3_errmsg(from));
		goto out;
	}
	sqlite3_busy_timeout(from, 10000);
	if (sqlite3_open_v2(tmp, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "cannot create %s: %s", tmp, sqlite3_errmsg(to));
		goto out;
	}
	b = sqlite3_backup_init(to, "main", from, "main");
	if (!b) {
		snprintf(err, errlen, "cannot start the backup: %s", sqlite3_errmsg(to));
		goto out;
	}
	/* One step: the whole database under one read transaction. */
	rc = sqlite3_backup_step(b, -1);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "the backup failed: %s", sqlite3_errstr(rc));
		rc = -1;
		goto out;
	}
	rc = check_copy(to, err, errlen);
out:
	sqlite3_close(from);
	sqlite3_close(to);
	if (!rc && (fsync_path(tmp) || rename(tmp, dest))) {
		snprintf(err, errlen, "cannot write %s: %s", dest, strerror(errno));
		rc = -1;
	}
	if (rc)
		unlink(tmp);
	return rc;
}
