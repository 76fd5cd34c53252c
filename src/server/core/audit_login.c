/* audit_login: the audit record of a failed login, the same for every
 * face that takes logins (API users, agents). */
#include "core/audit.h"

void audit_failed_login(struct server *srv, const char *user, const char *peer,
			const char *application)
{
	struct audit_entry e = { 0 };

	e.username = user;
	e.remote_ip = peer;
	e.application = application;
	e.action = "failed_login";
	e.success = false;
	audit_queue(srv, &e);
}
