/* reload: SIGHUP applies the configuration file's policy again. */
#ifndef TETHER_RELOAD_H
#define TETHER_RELOAD_H

#include <stddef.h>

#include "agent.h"

/* Re-reads path; on success the policy and the script gates are the
 * file's. Returns 0, or -1 with err (nothing changed). */
int agent_reload(struct agent *a, const char *path, char *err, size_t errlen);

#endif
