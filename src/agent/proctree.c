/* proctree: finds and signals the processes of a job that left its process
 * group (see proctree.h). One pass over /proc per call: kills are rare (a
 * timeout with kill_on_timeout, a cancel), so a scan costs less than
 * tracking every fork would; a few thousand processes take a few ms. */
#include "proctree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define ENVIRON_CAP (1024 * 1024) /* the kernel caps argv+environ lower */

struct proc {
	pid_t pid;
	pid_t ppid;
	bool marked;
};

int proctree_adopt_orphans(void)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) {
		log_warn_errno("prctl(PR_SET_CHILD_SUBREAPER)");
		return TE_IO;
	}
	return 0;
}

static int proc_cmp(const void *a, const void *b)
{
	const struct proc *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* The parent of pid from /proc/<pid>/stat ("pid (comm) state ppid ..."; comm
 * may hold spaces and parentheses, so parse after the last ')'). */
static int stat_ppid(pid_t pid, pid_t *ppid)
{
	char path[64], buf[512];
	ssize_t n;
	int fd;
	char *p, st;
	int pp;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return TE_IO;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return TE_IO;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c %d", &st, &pp) != 2)
		return TE_IO;
	*ppid = (pid_t)pp;
	return 0;
}

/* Whether pid's initial environment holds exactly the entry needle. */
static bool environ_has(pid_t pid, const char *needle)
{
	char path[64];
	size_t len = strlen(needle), have = 0, cap = 16384;
	char *buf = NULL;
	bool found = false;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	for (;;) {
		ssize_t n;

		if (have == cap) {
			char *nb;

			if (cap >= ENVIRON_CAP)
				break;
			nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		} else if (!buf && !(buf = malloc(cap))) {
			break;
		}
		n = read(fd, buf + have, cap - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	for (size_t i = 0; buf && i + len <= have;) {
		const char *end = memchr(buf + i, '\0', have - i);
		size_t elen = end ? (size_t)(end - (buf + i)) : have - i;

		if (elen == len && !memcmp(buf + i, needle, len)) {
			found = true;
			break;
		}
		i += elen + 1;
	}
	free(buf);
	return found;
}

static struct proc *proc_find(struct proc *v, size_t n, pid_t pid)
{
	struct proc key = { .pid = pid };

	return bsearch(&key, v, n, sizeof *v, proc_cmp);
}

int proctree_signal(pid_t leader, const char *jid, int sig)
{
	char needle[128];
	struct proc *v = NULL;
	size_t n = 0, cap = 0;
	pid_t self = getpid();
	struct dirent *de;
	bool grew;
	int count = 0;
	DIR *d;

	snprintf(needle, sizeof needle, "TETHER_JOB_ID=%s", jid);
	d = opendir("/proc");
	if (!d) {
		log_warn_errno("opendir /proc");
		return TE_IO;
	}
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		pid_t ppid;

		if (*end || pid <= 1 || pid == self || stat_ppid((pid_t)pid, &ppid))
			continue;
		if (n == cap) {
			struct proc *nv = realloc(v, (cap ? cap * 2 : 256) * sizeof *v);

			if (!nv) {
				closedir(d);
				free(v);
				return TE_NOMEM;
			}
			v = nv;
			cap = cap ? cap * 2 : 256;
		}
		v[n].pid = (pid_t)pid;
		v[n].ppid = ppid;
		/* The roots: the leader, and the orphans the agent adopted
		 * that carry this job's id (other jobs' leaders carry theirs). */
		v[n].marked = (pid == leader && leader > 0) ||
			      (ppid == self && environ_has((pid_t)pid, needle));
		n++;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof *v, proc_cmp);
	/* Down the tree: a pass per generation. */
	do {
		grew = false;
		for (size_t i = 0; i < n; i++) {
			struct proc *parent;

			if (v[i].marked)
				continue;
			parent = proc_find(v, n, v[i].ppid);
			if (parent && parent->marked) {
				v[i].marked = true;
				grew = true;
			}
		}
	} while (grew);
	for (size_t i = 0; i < n; i++) {
		if (!v[i].marked)
			continue;
		if (kill(v[i].pid, sig) == 0)
			count++;
		else if (errno != ESRCH)
			log_warn_errno("job %s: kill(%d, %d)", jid, (int)v[i].pid, sig);
	}
	free(v);
	return count;
}
