/* reload: SIGHUP re-reads the configuration file and applies what can
 * change safely while jobs run: the command policy ([remote-commands]
 * allow, deny, order, enabled) and the script gates ([remote-scripts]).
 * A job already running keeps the rules it was
 * checked by; the next one is checked by the new ones. Everything else
 * (server, credentials, id, tags, data_dir, limits, the interpreter
 * aliases the hello announced) needs a restart and is
 * left as it was; a file that no longer parses or checks changes nothing. */
#include "reload.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "policy.h"

/* Swaps the reloadable fields of a and b. */
static void swap_policy_fields(struct agent_config *a, struct agent_config *b)
{
	struct agent_config t = *a;

	a->commands_enabled = b->commands_enabled;
	a->allow = b->allow;
	a->nallow = b->nallow;
	a->deny = b->deny;
	a->ndeny = b->ndeny;
	a->order = b->order;
	a->scripts_enabled = b->scripts_enabled;
	a->scripts_check_policy = b->scripts_check_policy;
	b->commands_enabled = t.commands_enabled;
	b->allow = t.allow;
	b->nallow = t.nallow;
	b->deny = t.deny;
	b->ndeny = t.ndeny;
	b->order = t.order;
	b->scripts_enabled = t.scripts_enabled;
	b->scripts_check_policy = t.scripts_check_policy;
}

int agent_reload(struct agent *a, const char *path, char *err, size_t errlen)
{
	struct agent_config nc;
	policy *np = NULL;
	const char *const *allow, *const *deny;
	size_t nallow, ndeny;

	agent_config_defaults(&nc);
	if (agent_config_load(&nc, path, err, errlen) || agent_config_check(&nc, err, errlen)) {
		agent_config_free(&nc);
		return -1;
	}
	allow = nc.allow ? (const char *const *)nc.allow : POLICY_DEFAULT_ALLOW;
	nallow = nc.allow ? nc.nallow : POLICY_DEFAULT_NALLOW;
	deny = nc.deny ? (const char *const *)nc.deny : POLICY_DEFAULT_DENY;
	ndeny = nc.deny ? nc.ndeny : POLICY_DEFAULT_NDENY;
	if (policy_create(allow, nallow, deny, ndeny, nc.order, &np, err, errlen)) {
		agent_config_free(&nc);
		return -1;
	}
	swap_policy_fields(&a->cfg, &nc);
	policy_destroy(a->policy);
	a->policy = np;
	agent_config_free(&nc);    /* frees the old fields */
	return 0;
}
