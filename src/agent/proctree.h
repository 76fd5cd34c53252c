/* proctree: the processes a job left outside its process group.
 *
 * Every job runs in its own session, so one kill(-pgid) reaches all it
 * starts, unless a descendant calls setsid() (or setpgid()) itself. The
 * agent is the child subreaper of its jobs (PR_SET_CHILD_SUBREAPER), so
 * such a process is either still below the job's leader or, once its
 * parent exits, a child of the agent carrying the job's TETHER_JOB_ID. */
#ifndef TETHER_PROCTREE_H
#define TETHER_PROCTREE_H

#include <sys/types.h>

/* Makes the calling process the subreaper of its descendants' orphans.
 * Returns 0 or TE_IO (logged). */
int proctree_adopt_orphans(void);

/* Sends sig to every process of job jid: the descendants of leader (0 when
 * the leader is gone) whatever their session, and the agent's adopted
 * children carrying TETHER_JOB_ID=jid with their descendants. Reads /proc
 * once. Returns the number of processes signalled, or a negative TE_ code
 * when /proc cannot be read. */
int proctree_signal(pid_t leader, const char *jid, int sig);

#endif
