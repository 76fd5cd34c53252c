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

/* The string facts a field may name, in rport_client_field_id's order
 * after the fixed fields. */
static const char *const fact_fields[] = {
	"os", "os_full_name", "os_version", "os_arch", "os_family", "os_kernel",
	"os_virtualization_system", "os_virtualization_role", "hostname", "cpu_family",
	"cpu_model", "cpu_vendor", "cpu_model_name", "timezone",
};

enum {
	CF_ID, CF_CLIENT_ID, CF_NAME, CF_VERSION, CF_ADDRESS, CF_AUTH_ID, CF_STATE, CF_TAGS,
	CF_IPV4, CF_IPV6, CF_NUM_CPUS, CF_MEM_TOTAL, CF_FACT0,
};

static const char *const fixed_fields[CF_FACT0] = {
	"id", "client_id", "name", "version", "address", "client_auth_id", "connection_state",
	"tags", "ipv4", "ipv6", "num_cpus", "mem_total",
};

int rport_client_field_id(const char *field)
{
	for (int i = 0; i < CF_FACT0; i++)
		if (!strcmp(field, fixed_fields[i]))
			return i;
	for (size_t i = 0; i < sizeof fact_fields / sizeof fact_fields[0]; i++)
		if (!strcmp(field, fact_fields[i]))
			return CF_FACT0 + (int)i;
	return -1;
}

bool rport_client_field_get(const struct client *c, int id, const char **str,
			    const json_t **list, long long *num)
{
	*str = NULL;
	*list = NULL;
	*num = 0;
	switch (id) {
	case CF_ID:
	case CF_CLIENT_ID:
		*str = c->id;
		break;
	case CF_NAME:
		*str = c->name ? c->name : c->id;
		break;
	case CF_VERSION:
		*str = c->version ? c->version : "";
		break;
	case CF_ADDRESS:
		*str = c->address;
		break;
	case CF_AUTH_ID:
		*str = c->auth_id ? c->auth_id : "";
		break;
	case CF_STATE:
		*str = registry_client_connected(c) ? "connected" : "disconnected";
		break;
	case CF_TAGS:
		*list = c->tags;
		break;
	case CF_IPV4:
	case CF_IPV6:
		*list = json_object_get(c->facts, id == CF_IPV4 ? "ipv4" : "ipv6");
		return true;
	case CF_NUM_CPUS:
	case CF_MEM_TOTAL:
		*num = (long long)json_integer_value(
			json_object_get(c->facts, id == CF_NUM_CPUS ? "num_cpus" : "mem_total"));
		return true;
	default:
		if (id < CF_FACT0 || (size_t)(id - CF_FACT0) >= sizeof fact_fields / sizeof fact_fields[0])
			return false;
		*str = registry_client_fact(c, fact_fields[id - CF_FACT0]);
	}
	return *str || *list;
}

bool rport_client_field_numeric(int id)
{
	return id == CF_NUM_CPUS || id == CF_MEM_TOTAL;
}

bool rport_client_field(const struct client *c, const char *field, const char **str,
		      const json_t **list, char *num, size_t numlen)
{
	int id = rport_client_field_id(field);
	long long n;

	*str = NULL;
	*list = NULL;
	if (id < 0 || !rport_client_field_get(c, id, str, list, &n))
		return false;
	if (rport_client_field_numeric(id)) {
		snprintf(num, numlen, "%lld", n);
		*str = num;
	}
	return true;
}
