/* facts: what the agent tells the server about its host. */
#ifndef TETHER_FACTS_H
#define TETHER_FACTS_H

#include <jansson.h>

/* hostname, os, os_kernel, os_arch, os_family, os_full_name, os_version,
 * ipv4, ipv6, num_cpus, mem_total, timezone. New reference. */
json_t *facts_collect(void);

#endif
