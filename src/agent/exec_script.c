/* exec_script: the scripts directory and its files. */
#include "exec_script.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

int exec_script_dir(const char *data_dir, char *dir, size_t dirlen, char *err, size_t errlen)
{
	struct stat st;
	int n = snprintf(dir, dirlen, "%s/scripts", data_dir);

	if (n < 0 || (size_t)n >= dirlen) {
		snprintf(err, errlen, "the scripts directory path is too long");
		return TE_INVAL;
	}
	if (mkdir(dir, 0700) && errno != EEXIST) {
		snprintf(err, errlen, "cannot create the scripts directory %s: %s", dir,
			 strerror(errno));
		return TE_IO;
	}
	/* lstat: a symlink to a directory someone else controls is refused. */
	if (lstat(dir, &st)) {
		snprintf(err, errlen, "scripts directory %s: %s", dir, strerror(errno));
		return TE_IO;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "scripts directory %s is not a directory", dir);
		return TE_INVAL;
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errlen,
			 "scripts directory %s must be owned by the agent's user (uid %u), not uid %u",
			 dir, (unsigned)geteuid(), (unsigned)st.st_uid);
		return TE_INVAL;
	}
	if ((st.st_mode & 07777) != 0700) {
		snprintf(err, errlen, "scripts directory %s must have mode 0700, not %04o", dir,
			 (unsigned)(st.st_mode & 07777));
		return TE_INVAL;
	}
	return 0;
}

int exec_script_write(const char *dir, const char *jid, const char *ext, const char *text,
		      size_t len, char *path, size_t pathlen, char *err, size_t errlen)
{
	int n = snprintf(path, pathlen, "%s/%s%s", dir, jid, ext);
	size_t off = 0;
	int fd;

	if (n < 0 || (size_t)n >= pathlen) {
		snprintf(err, errlen, "the script file path is too long");
		path[0] = '\0';
		return TE_IO;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0700);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create the script file %s: %s", path, strerror(errno));
		path[0] = '\0';
		return TE_IO;
	}
	/* 0700 whatever the umask: it must be executable for a shebang. */
	if (fchmod(fd, 0700))
		goto fail;
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)w;
	}
	if (close(fd)) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	snprintf(err, errlen, "cannot write the script file %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(path);
	path[0] = '\0';
	return TE_IO;
}

void exec_script_remove(char *path)
{
	if (!path || !path[0])
		return;
	if (unlink(path) && errno != ENOENT)
		log_warn_errno("cannot remove the script file %s", path);
	path[0] = '\0';
}

bool exec_script_shebang(const char *text, size_t len, char *out, size_t outlen)
{
	size_t i = 2, end;

	if (len < 2 || text[0] != '#' || text[1] != '!')
		return false;
	while (i < len && (text[i] == ' ' || text[i] == '\t'))
		i++;
	end = i;
	while (end < len && text[end] != '\n' && text[end] != '\0')
		end++;
	while (end > i && (text[end - 1] == ' ' || text[end - 1] == '\t' || text[end - 1] == '\r'))
		end--;
	if (outlen) {
		size_t n = end - i < outlen - 1 ? end - i : outlen - 1;

		memcpy(out, text + i, n);
		out[n] = '\0';
	}
	return true;
}

void exec_script_sweep(const char *data_dir)
{
	char dir[PATH_MAX], err[512], path[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int n = snprintf(dir, sizeof dir, "%s/scripts", data_dir);

	/* Nothing to sweep when it was never created. */
	if (n < 0 || (size_t)n >= sizeof dir || lstat(dir, &st))
		return;
	if (exec_script_dir(data_dir, dir, sizeof dir, err, sizeof err)) {
		log_warn("%s", err);
		return;
	}
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		n = snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (n < 0 || (size_t)n >= sizeof path)
			continue;
		if (unlink(path) == 0)
			log_info("removed the script file %s left by a previous run", path);
	}
	closedir(d);
}
