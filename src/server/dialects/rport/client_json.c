/* rport's Client JSON, rendered from the core's client registry. */
#include "dialects/rport/client_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dialects/rport/status.h"
#include "util.h"


json_t *rport_client_json(const struct client *c)
{
	static const char *const str_facts[] = {
		"os", "os_full_name", "os_version", "os_arch", "os_family",
		"os_kernel", "os_virtualization_system", "os_virtualization_role",
		"hostname", "cpu_family", "cpu_model", "cpu_vendor",
		"cpu_model_name", "timezone",
	};
	json_t *j = json_object();
	json_t *v;

	json_object_set_new(j, "id", json_string(c->id));
	json_object_set_new(j, "name", json_string(c->name ? c->name : c->id));
	for (size_t i = 0; i < sizeof str_facts / sizeof str_facts[0]; i++)
		json_object_set_new(j, str_facts[i], json_string(registry_client_fact(c, str_facts[i])));
	v = json_object_get(c->facts, "num_cpus");
	json_object_set_new(j, "num_cpus", json_integer(json_integer_value(v)));
	v = json_object_get(c->facts, "mem_total");
	json_object_set_new(j, "mem_total", json_integer(json_integer_value(v)));
	v = json_object_get(c->facts, "ipv4");
	json_object_set_new(j, "ipv4", json_is_array(v) ? json_deep_copy(v) : json_array());
	v = json_object_get(c->facts, "ipv6");
	json_object_set_new(j, "ipv6", json_is_array(v) ? json_deep_copy(v) : json_array());
	json_object_set_new(j, "tags", json_deep_copy(c->tags));
	json_object_set_new(j, "labels", json_deep_copy(c->labels));
	json_object_set_new(j, "version", json_string(c->version ? c->version : ""));
	json_object_set_new(j, "address", json_string(c->address));
	json_object_set_new(j, "connection_state",
			    json_string(registry_client_connected(c) ? "connected" : "disconnected"));
	json_object_set_new(j, "connected_at", rport_time_json(c->connected_at));
	json_object_set_new(j, "disconnected_at",
			    registry_client_connected(c) ? json_null() : rport_time_json(c->disconnected_at));
	json_object_set_new(j, "last_heartbeat_at", rport_time_json(c->last_seen));
	json_object_set_new(j, "client_auth_id", json_string(c->auth_id ? c->auth_id : ""));
	json_object_set_new(j, "interpreters", json_deep_copy(c->interpreters));
	json_object_set_new(j, "services", json_deep_copy(c->services));
	return j;
}

static int client_id_cmp(const void *a, const void *b)
{
	const struct client *ca = *(struct client *const *)a;
	const struct client *cb = *(struct client *const *)b;

	return strcmp(ca->id, cb->id);
}

static void collect(void *ud, struct client *c)
{
	struct client ***p = ud;

	*(*p)++ = c;
}

json_t *rport_clients_json(struct registry *reg)
{
	struct client **all = malloc((registry_count(reg) + 1) * sizeof *all), **at = all;
	json_t *arr = json_array();
	size_t n = 0;

	if (!all)
		return arr;
	registry_each(reg, collect, &at);
	n = (size_t)(at - all);
	qsort(all, n, sizeof *all, client_id_cmp);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, rport_client_json(all[i]));
	free(all);
	return arr;
}

bool rport_client_field(const struct client *c, const char *field, const char **str,
		      const json_t **list, char *num, size_t numlen)
{
	static const char *const str_facts[] = {
		"os", "os_full_name", "os_version", "os_arch", "os_family", "os_kernel",
		"os_virtualization_system", "os_virtualization_role", "hostname", "cpu_family",
		"cpu_model", "cpu_vendor", "cpu_model_name", "timezone",
	};

	*str = NULL;
	*list = NULL;
	if (!strcmp(field, "id") || !strcmp(field, "client_id"))
		*str = c->id;
	else if (!strcmp(field, "name"))
		*str = c->name ? c->name : c->id;
	else if (!strcmp(field, "version"))
		*str = c->version ? c->version : "";
	else if (!strcmp(field, "address"))
		*str = c->address;
	else if (!strcmp(field, "client_auth_id"))
		*str = c->auth_id ? c->auth_id : "";
	else if (!strcmp(field, "connection_state"))
		*str = registry_client_connected(c) ? "connected" : "disconnected";
	else if (!strcmp(field, "tags"))
		*list = c->tags;
	else if (!strcmp(field, "ipv4") || !strcmp(field, "ipv6"))
		*list = json_object_get(c->facts, field);
	else if (!strcmp(field, "num_cpus") || !strcmp(field, "mem_total")) {
		snprintf(num, numlen, "%lld",
			 (long long)json_integer_value(json_object_get(c->facts, field)));
		*str = num;
	} else
		for (size_t i = 0; i < sizeof str_facts / sizeof str_facts[0]; i++)
			if (!strcmp(field, str_facts[i]))
				*str = registry_client_fact(c, field);
	return *str || *list || !strcmp(field, "ipv4") || !strcmp(field, "ipv6");
}
