/* outputs: a job's full output in files under the data dir (outputs.h). */
#include "store/outputs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static const char *const names[2] = { "stdout", "stderr" };

static bool jid_ok(const char *jid)
{
	size_t n = jid ? strlen(jid) : 0;

	if (!n || n >= UUID_STR_LEN + 8)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((jid[i] >= '0' && jid[i] <= '9') || (jid[i] >= 'a' && jid[i] <= 'z') ||
		      (jid[i] >= 'A' && jid[i] <= 'Z') || jid[i] == '-'))
			return false;
	return true;
}

static int dir_path(const char *data_dir, const char *jid, char *out, size_t outlen)
{
	int n;

	if (!jid_ok(jid))
		return -1;
	n = snprintf(out, outlen, "%s/outputs/%s", data_dir, jid);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int outputs_path(const char *data_dir, const char *jid, int stream, char *out, size_t outlen)
{
	char dir[1024];
	int n;

	if (stream < 0 || stream > 1 || dir_path(data_dir, jid, dir, sizeof dir))
		return -1;
	n = snprintf(out, outlen, "%s/%s", dir, names[stream]);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* ---- writing, in the thread pool -------------------------------------- */

struct save {
	uv_work_t w;
	char dir[1024];
	const char *data[2];
	size_t len[2];
	int rc;
	int err;               /* errno of the failure */
	outputs_saved_fn cb;
	void *ud;
};

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int save_stream(const struct save *s, int i)
{
	char tmp[1100], path[1100];
	int fd, rc;

	snprintf(path, sizeof path, "%s/%s", s->dir, names[i]);
	/* Two copies of one result may be written at once: each its own. */
	snprintf(tmp, sizeof tmp, "%s/.%s.%p.tmp", s->dir, names[i], (const void *)s);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	rc = write_all(fd, s->data[i] ? s->data[i] : "", s->data[i] ? s->len[i] : 0);
	if (!rc)
		rc = fsync(fd);
	if (close(fd))
		rc = -1;
	if (!rc)
		rc = rename(tmp, path);
	if (rc)
		unlink(tmp);
	return rc;
}

static void save_work(uv_work_t *w)
{
	struct save *s = w->data;
	char parent[1100];
	int fd;

	s->rc = TE_IO;
	snprintf(parent, sizeof parent, "%s", s->dir);
	*strrchr(parent, '/') = '\0';
	if ((mkdir(parent, 0700) && errno != EEXIST) || (mkdir(s->dir, 0700) && errno != EEXIST) ||
	    save_stream(s, 0) || save_stream(s, 1)) {
		s->err = errno;
		return;
	}
	fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	s->rc = 0;
}

static void save_after(uv_work_t *w, int status)
{
	struct save *s = w->data;

	if (status)
		s->rc = TE_IO;
	if (s->rc)
		log_error("outputs: %s could not be written: %s", s->dir, strerror(s->err));
	s->cb(s->ud, s->rc);
	free(s);
}

int outputs_save(uv_loop_t *loop, const char *data_dir, const char *jid,
		 const char *const data[2], const size_t len[2], outputs_saved_fn cb, void *ud)
{
	struct save *s = calloc(1, sizeof *s);

	if (!s)
		return TE_NOMEM;
	if (dir_path(data_dir, jid, s->dir, sizeof s->dir)) {
		free(s);
		return TE_INVAL;
	}
	for (int i = 0; i < 2; i++) {
		s->data[i] = data[i];
		s->len[i] = len[i];
	}
	s->cb = cb;
	s->ud = ud;
	s->w.data = s;
	if (uv_queue_work(loop, &s->w, save_work, save_after)) {
		free(s);
		return TE_IO;
	}
	return 0;
}

/* ---- reading and removing ------------------------------------------- */

int outputs_tail(const char *data_dir, const char *jid, int stream, char *buf, size_t cap,
		 size_t *got, int64_t *size)
{
	char path[1100];
	struct stat sb;
	ssize_t n;
	off_t off;
	int fd;

	*got = 0;
	if (outputs_path(data_dir, jid, stream, path, sizeof path))
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &sb)) {
		close(fd);
		return -1;
	}
	*size = (int64_t)sb.st_size;
	off = sb.st_size > (off_t)cap ? sb.st_size - (off_t)cap : 0;
	n = pread(fd, buf, (size_t)(sb.st_size - off), off);
	close(fd);
	if (n < 0)
		return -1;
	*got = (size_t)n;
	return 0;
}

int outputs_remove(const char *data_dir, const char *jid)
{
	char dir[1024], path[1400];
	struct dirent *de;
	int rc = 0;
	DIR *d;

	if (dir_path(data_dir, jid, dir, sizeof dir))
		return -1;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (unlink(path) && errno != ENOENT)
			rc = -1;
	}
	closedir(d);
	if (rmdir(dir) && errno != ENOENT)
		rc = -1;
	return rc;
}
