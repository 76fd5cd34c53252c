/* spec: a stored job's run as a job_spec again (pure: no database, so the
 * core's tests link it beside their in-memory store). */
#include <string.h>

#include "store/store.h"
#include "util.h"

void store_job_spec_of_row(struct job_spec *spec, const struct job_row *row)
{
	memset(spec, 0, sizeof *spec);
	util_strlcpy(spec->jid, row->jid, sizeof spec->jid);
	spec->multi_job_id = row->multi_job_id;
	spec->client_id = row->client_id;
	spec->client_name = row->client_name;
	spec->command = row->command;
	spec->argv = row->argv;
	spec->cwd = row->cwd;
	/* "/bin/sh" is the agent's default: sent as none, as at first. */
	spec->interpreter = strcmp(row->interpreter, "/bin/sh") ? row->interpreter : "";
	spec->is_sudo = row->is_sudo;
	spec->run_as = row->run_as;
	spec->output_cap_bytes = row->output_cap_bytes;
	spec->is_script = row->is_script;
	spec->kill_on_timeout = row->kill_on_timeout;
	spec->created_by = row->created_by;
}
