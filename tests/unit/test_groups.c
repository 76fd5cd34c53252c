/* Unit tests for src/server/core/groups.c: a group body's checks, put and
 * delete (in memory and through the store interface, and what the store's
 * failure leaves), loading at creation, membership from the clients'
 * attributes (rport's rules: keys AND-ed, values OR-ed, '*' wildcards,
 * case-insensitive, tag and/or, empty params match nothing), and the
 * access helpers groups_client_allowed and groups_of_client. The store is
 * the in-memory stub; clients are the real registry's. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/groups.h"
#include "core_fixture.h"

static int setup(void **state)
{
	static struct fixture fx;

	fx_init(&fx, true, false);
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	fx_free(*state);
	return 0;
}

static json_t *parse(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	if (!j)
		fail_msg("bad JSON in the test: %s: %s", text, e.text);
	return j;
}

/* Validates text; returns the result and leaves the message in err. */
static int validate(const char *text, char *err, size_t errlen)
{
	json_t *j = parse(text);
	int rc;

	err[0] = '\0';
	rc = groups_validate(j, err, errlen);
	json_decref(j);
	return rc;
}

static void put(struct fixture *fx, const char *text)
{
	json_t *j = parse(text);
	char err[256];

	assert_int_equal(groups_validate(j, err, sizeof err), 0);
	assert_int_equal(groups_put(fx->srv.groups, j), 0);
	json_decref(j);
}

/* The members of group id, as "a,b,c". */
static const char *members(struct fixture *fx, const char *id)
{
	static char out[512];
	json_t *ids = json_array(), *v;
	const json_t *g = groups_get(fx->srv.groups, id);
	size_t i;

	assert_non_null(g);
	groups_members(fx->srv.groups, g, ids);
	out[0] = '\0';
	json_array_foreach(ids, i, v) {
		if (i)
			strncat(out, ",", sizeof out - strlen(out) - 1);
		strncat(out, json_string_value(v), sizeof out - strlen(out) - 1);
	}
	json_decref(ids);
	return out;
}

static void test_validate_accepts(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(validate("{\"id\":\"g1\"}", err, sizeof err), 0);
	assert_int_equal(validate("{\"id\":\"g1\",\"description\":null,\"params\":null,"
				  "\"allowed_user_groups\":null}", err, sizeof err), 0);
	assert_int_equal(validate("{\"id\":\"g1\",\"description\":\"d\",\"allowed_user_groups\":"
				  "[\"ops\"],\"params\":{\"client_id\":[\"a*\"],\"name\":[],"
				  "\"os\":null,\"tag\":{\"and\":[\"x\",\"y\"]}}}", err,
				  sizeof err), 0);
	assert_int_equal(validate("{\"id\":\"g1\",\"params\":{\"tag\":{\"OR\":[\"x\"]}}}", err,
				  sizeof err), 0);
	/* Every key rport knows. */
	assert_int_equal(validate("{\"id\":\"g\",\"params\":{\"client_id\":[],\"name\":[],\"os\":[],"
				  "\"os_arch\":[],\"os_family\":[],\"os_kernel\":[],\"hostname\":[],"
				  "\"ipv4\":[],\"ipv6\":[],\"tag\":[],\"version\":[],\"address\":[],"
				  "\"client_auth_id\":[],\"connection_state\":[]}}", err, sizeof err),
			 0);
}

static void test_validate_refuses(void **state)
{
	static const struct { const char *body, *err; } bad[] = {
		{ "{}", "Missing group id." },
		{ "{\"id\":\"\"}", "Missing group id." },
		{ "{\"id\":5}", "Missing group id." },
		{ "{\"id\":\"a/b\"}", "Invalid group id: at most 128 characters, no '/' or spaces." },
		{ "{\"id\":\"a b\"}", "Invalid group id: at most 128 characters, no '/' or spaces." },
		{ "{\"id\":\"g\",\"description\":5}", "description must be a string" },
		{ "{\"id\":\"g\",\"params\":[]}", "params must be an object" },
		{ "{\"id\":\"g\",\"allowed_user_groups\":\"ops\"}",
		  "params.allowed_user_groups must be an array of at most 256 strings" },
		{ "{\"id\":\"g\",\"allowed_user_groups\":[1]}",
		  "params.allowed_user_groups must hold strings of at most 256 bytes" },
		{ "{\"id\":\"g\",\"params\":{\"colour\":[\"x\"]}}",
		  "unknown param \"colour\": use client_id, name, os, os_arch, os_family, os_kernel, hostname, ipv4, ipv6, tag, version, address, client_auth_id or connection_state" },
		{ "{\"id\":\"g\",\"params\":{\"name\":\"x\"}}",
		  "params.name must be an array of at most 256 strings" },
		{ "{\"id\":\"g\",\"params\":{\"name\":[true]}}",
		  "params.name must hold strings of at most 256 bytes" },
		{ "{\"id\":\"g\",\"params\":{\"tag\":{\"and\":[\"x\"],\"or\":[\"y\"]}}}",
		  "params.tag must be a list or {\"and\": [...]} or {\"or\": [...]}" },
		{ "{\"id\":\"g\",\"params\":{\"tag\":{\"xor\":[\"x\"]}}}",
		  "params.tag operator must be \"and\" or \"or\"" },
		{ "{\"id\":\"g\",\"params\":{\"tag\":{\"and\":\"x\"}}}",
		  "params.tag must be an array of at most 256 strings" },
	};
	char err[512], body[1200];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(validate(bad[i].body, err, sizeof err), -1);
		assert_string_equal(err, bad[i].err);
	}
	/* The limits: an id of 128 characters passes, 129 does not; a pattern
	 * of 256 bytes passes, 257 does not; 256 patterns pass, 257 do not. */
	snprintf(body, sizeof body, "{\"id\":\"%0128d\"}", 0);
	assert_int_equal(validate(body, err, sizeof err), 0);
	snprintf(body, sizeof body, "{\"id\":\"%0129d\"}", 0);
	assert_int_equal(validate(body, err, sizeof err), -1);
	snprintf(body, sizeof body, "{\"id\":\"g\",\"params\":{\"name\":[\"%0256d\"]}}", 0);
	assert_int_equal(validate(body, err, sizeof err), 0);
	snprintf(body, sizeof body, "{\"id\":\"g\",\"params\":{\"name\":[\"%0257d\"]}}", 0);
	assert_int_equal(validate(body, err, sizeof err), -1);
	{
		json_t *g = parse("{\"id\":\"g\",\"params\":{\"os\":[]}}");
		json_t *list = json_object_get(json_object_get(g, "params"), "os");

		for (i = 0; i < 256; i++)
			json_array_append_new(list, json_string("x"));
		assert_int_equal(groups_validate(g, err, sizeof err), 0);
		json_array_append_new(list, json_string("x"));
		assert_int_equal(groups_validate(g, err, sizeof err), -1);
		assert_string_equal(err, "params.os must be an array of at most 256 strings");
		json_decref(g);
	}
}

static void test_put_get_delete(void **state)
{
	struct fixture *fx = *state;
	json_t *j, *one, *list;
	const json_t *g;

	put(fx, "{\"id\":\"web\",\"params\":{\"client_id\":[\"w*\"]},\"extra\":1}");
	g = groups_get(fx->srv.groups, "web");
	assert_non_null(g);
	/* Stored normalised: description "", allowed_user_groups [], and only
	 * the known fields. */
	assert_string_equal(json_string_value(json_object_get(g, "description")), "");
	assert_int_equal(json_array_size(json_object_get(g, "allowed_user_groups")), 0);
	assert_null(json_object_get(g, "extra"));
	assert_true(json_equal(json_object_get(fx->st->groups, "web"), g));
	/* Replacing. */
	put(fx, "{\"id\":\"web\",\"description\":\"web servers\",\"params\":{\"client_id\":[\"x\"]}}");
	assert_string_equal(json_string_value(json_object_get(groups_get(fx->srv.groups, "web"),
							      "description")), "web servers");
	assert_string_equal(json_string_value(json_object_get(json_object_get(fx->st->groups, "web"),
							      "description")), "web servers");
	put(fx, "{\"id\":\"db\"}");
	fx_client(fx, "x", true, NULL, NULL);
	/* The JSON views carry client_ids; the list is sorted by id. */
	one = groups_get_json(fx->srv.groups, "web");
	j = parse("[\"x\"]");
	assert_true(json_equal(json_object_get(one, "client_ids"), j));
	json_decref(j);
	json_decref(one);
	assert_null(groups_get_json(fx->srv.groups, "nope"));
	list = groups_list_json(fx->srv.groups);
	assert_int_equal(json_array_size(list), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")), "db");
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "id")), "web");
	assert_int_equal(json_array_size(json_object_get(json_array_get(list, 0), "client_ids")), 0);
	json_decref(list);
	/* Delete: gone from memory and from the store; a second delete says
	 * not found. */
	assert_int_equal(groups_delete(fx->srv.groups, "web"), 0);
	assert_null(groups_get(fx->srv.groups, "web"));
	assert_null(json_object_get(fx->st->groups, "web"));
	assert_int_equal(groups_delete(fx->srv.groups, "web"), TE_NOTFOUND);
	assert_non_null(groups_get(fx->srv.groups, "db"));
}

static void test_store_failure_changes_nothing(void **state)
{
	struct fixture *fx = *state;
	json_t *j = parse("{\"id\":\"g2\"}");

	put(fx, "{\"id\":\"g1\",\"description\":\"old\"}");
	fx->st->fail[STUB_GROUP_PUT] = TE_IO;
	assert_int_equal(groups_put(fx->srv.groups, j), TE_IO);
	assert_null(groups_get(fx->srv.groups, "g2"));
	json_decref(j);
	j = parse("{\"id\":\"g1\",\"description\":\"new\"}");
	assert_int_equal(groups_put(fx->srv.groups, j), TE_IO);
	assert_string_equal(json_string_value(json_object_get(groups_get(fx->srv.groups, "g1"),
							      "description")), "old");
	json_decref(j);
	fx->st->fail[STUB_GROUP_PUT] = 0;
	fx->st->fail[STUB_GROUP_DELETE] = TE_IO;
	assert_int_equal(groups_delete(fx->srv.groups, "g1"), TE_IO);
	assert_non_null(groups_get(fx->srv.groups, "g1"));
}

static void test_loads_stored_groups(void **state)
{
	struct fixture *fx = *state;
	struct groups *g2;

	(void)state;
	json_object_set_new(fx->st->groups, "stored",
			    parse("{\"id\":\"stored\",\"description\":\"\",\"params\":"
				  "{\"tag\":[\"db\"]},\"allowed_user_groups\":[]}"));
	assert_int_equal(groups_create(&fx->srv, &g2), 0);
	assert_non_null(groups_get(g2, "stored"));
	groups_destroy(g2);
	groups_destroy(NULL);
}

static void test_members(void **state)
{
	struct fixture *fx = *state;
	struct client *c;

	c = fx_client(fx, "web-2", true, "web,prod", NULL);
	json_object_set_new(c->facts, "os", json_string("Linux"));
	json_object_set_new(c->facts, "hostname", json_string("host2"));
	json_object_set_new(c->facts, "ipv4", parse("[\"10.0.0.2\"]"));
	c = fx_client(fx, "web-1", false, "web", NULL);
	json_object_set_new(c->facts, "os", json_string("linux"));
	json_object_set_new(c->facts, "hostname", json_string("host1"));
	c = fx_client(fx, "db-1", true, "db,prod", NULL);
	json_object_set_new(c->facts, "os", json_string("Windows"));
	c->name = strdup("Database");

	put(fx, "{\"id\":\"ids\",\"params\":{\"client_id\":[\"web-*\"]}}");
	assert_string_equal(members(fx, "ids"), "web-1,web-2");
	/* Values OR-ed. */
	put(fx, "{\"id\":\"or\",\"params\":{\"client_id\":[\"db-1\",\"web-2\"]}}");
	assert_string_equal(members(fx, "or"), "db-1,web-2");
	/* Keys AND-ed; case-insensitive. */
	put(fx, "{\"id\":\"and\",\"params\":{\"os\":[\"LINUX\"],\"connection_state\":[\"connected\"]}}");
	assert_string_equal(members(fx, "and"), "web-2");
	put(fx, "{\"id\":\"name\",\"params\":{\"name\":[\"data*\"]}}");
	assert_string_equal(members(fx, "name"), "db-1");
	put(fx, "{\"id\":\"ip\",\"params\":{\"ipv4\":[\"10.0.0.*\"]}}");
	assert_string_equal(members(fx, "ip"), "web-2");
	/* Tags: a list (any), {"or": [...]}, {"and": [...]}. */
	put(fx, "{\"id\":\"tags\",\"params\":{\"tag\":[\"db\",\"nothing\"]}}");
	assert_string_equal(members(fx, "tags"), "db-1");
	put(fx, "{\"id\":\"tor\",\"params\":{\"tag\":{\"or\":[\"db\",\"web\"]}}}");
	assert_string_equal(members(fx, "tor"), "db-1,web-1,web-2");
	put(fx, "{\"id\":\"tand\",\"params\":{\"tag\":{\"and\":[\"web\",\"prod\"]}}}");
	assert_string_equal(members(fx, "tand"), "web-2");
	/* Params with nothing in them match nothing. */
	put(fx, "{\"id\":\"empty\"}");
	assert_string_equal(members(fx, "empty"), "");
	put(fx, "{\"id\":\"empty2\",\"params\":{\"client_id\":[],\"tag\":{\"and\":[]}}}");
	assert_string_equal(members(fx, "empty2"), "");
	/* Membership follows the clients as they change. */
	fx_client(fx, "web-0", false, NULL, NULL);
	assert_string_equal(members(fx, "ids"), "web-0,web-1,web-2");
	/* Appends to what ids holds. */
	{
		json_t *ids = parse("[\"first\"]");

		groups_members(fx->srv.groups, groups_get(fx->srv.groups, "name"), ids);
		assert_int_equal(json_array_size(ids), 2);
		assert_string_equal(json_string_value(json_array_get(ids, 0)), "first");
		assert_string_equal(json_string_value(json_array_get(ids, 1)), "db-1");
		json_decref(ids);
	}
}

static void test_client_allowed(void **state)
{
	struct fixture *fx = *state;
	struct client *web = fx_client(fx, "web-1", true, "web", NULL);
	struct client *db = fx_client(fx, "db-1", true, "db", NULL);
	json_t *ops = parse("[\"ops\"]"), *dev = parse("[\"dev\",\"qa\"]"), *none = parse("[]");

	put(fx, "{\"id\":\"webs\",\"params\":{\"tag\":[\"web\"]},\"allowed_user_groups\":[\"ops\",\"qa\"]}");
	put(fx, "{\"id\":\"all\",\"params\":{\"client_id\":[\"*\"]},\"allowed_user_groups\":[]}");
	assert_true(groups_client_allowed(fx->srv.groups, ops, web));
	assert_true(groups_client_allowed(fx->srv.groups, dev, web));     /* through qa */
	/* In a group, but not one the user groups may use. */
	assert_false(groups_client_allowed(fx->srv.groups, ops, db));
	assert_false(groups_client_allowed(fx->srv.groups, none, web));
	assert_false(groups_client_allowed(fx->srv.groups, NULL, web));
	/* A group that allows the user group but does not hold the client. */
	put(fx, "{\"id\":\"dbs\",\"params\":{\"tag\":[\"nothing\"]},\"allowed_user_groups\":[\"dev\"]}");
	assert_false(groups_client_allowed(fx->srv.groups, dev, db));
	put(fx, "{\"id\":\"dbs\",\"params\":{\"tag\":[\"db\"]},\"allowed_user_groups\":[\"dev\"]}");
	assert_true(groups_client_allowed(fx->srv.groups, dev, db));
	json_decref(ops);
	json_decref(dev);
	json_decref(none);
}

static void test_groups_of_client(void **state)
{
	struct fixture *fx = *state;
	struct client *web = fx_client(fx, "web-1", true, "web", NULL);
	struct client *other = fx_client(fx, "other", true, NULL, NULL);
	json_t *ids = json_array(), *ug = json_array();

	put(fx, "{\"id\":\"a\",\"params\":{\"tag\":[\"web\"]},\"allowed_user_groups\":[\"ops\",\"qa\"]}");
	put(fx, "{\"id\":\"b\",\"params\":{\"client_id\":[\"web-*\"]},\"allowed_user_groups\":[\"qa\",\"dev\"]}");
	put(fx, "{\"id\":\"c\",\"params\":{\"client_id\":[\"db-*\"]},\"allowed_user_groups\":[\"x\"]}");
	groups_of_client(fx->srv.groups, web, ids, ug);
	assert_int_equal(json_array_size(ids), 2);
	assert_string_equal(json_string_value(json_array_get(ids, 0)), "a");
	assert_string_equal(json_string_value(json_array_get(ids, 1)), "b");
	/* Each user group once. */
	assert_int_equal(json_array_size(ug), 3);
	assert_string_equal(json_string_value(json_array_get(ug, 0)), "ops");
	assert_string_equal(json_string_value(json_array_get(ug, 1)), "qa");
	assert_string_equal(json_string_value(json_array_get(ug, 2)), "dev");
	/* Either may be NULL. */
	json_array_clear(ids);
	groups_of_client(fx->srv.groups, web, ids, NULL);
	assert_int_equal(json_array_size(ids), 2);
	json_array_clear(ug);
	groups_of_client(fx->srv.groups, web, NULL, ug);
	assert_int_equal(json_array_size(ug), 3);
	json_array_clear(ids);
	json_array_clear(ug);
	groups_of_client(fx->srv.groups, other, ids, ug);
	assert_int_equal(json_array_size(ids), 0);
	assert_int_equal(json_array_size(ug), 0);
	json_decref(ids);
	json_decref(ug);
}

/* The registry's id order, connected count and generation (what the
 * client lists page and cache on), and groups_client_match with the groups'
 * generation. */
static void test_orders_counts_and_match(void **state)
{
	struct fixture *fx = *state;
	struct registry *reg = fx->srv.registry;
	struct client *const *all;
	struct client *c;
	uint64_t gen, ggen;
	size_t n;

	fx_client(fx, "b", true, "web", NULL);
	fx_client(fx, "c", false, "db", NULL);
	c = fx_client(fx, "a", true, "db", NULL);
	all = registry_sorted(reg, &n);
	assert_int_equal(n, 3);
	assert_string_equal(all[0]->id, "a");
	assert_string_equal(all[1]->id, "b");
	assert_string_equal(all[2]->id, "c");
	assert_int_equal(registry_connected_count(reg), 2);
	gen = registry_generation(reg);
	registry_client_attach(reg, c, NULL);
	assert_int_equal(registry_connected_count(reg), 1);
	assert_true(registry_generation(reg) != gen);
	gen = registry_generation(reg);
	registry_client_attach(reg, c, NULL); /* no change: counted once */
	assert_int_equal(registry_connected_count(reg), 1);
	fx_client(fx, "0", false, NULL, NULL);
	assert_true(registry_generation(reg) != gen);
	all = registry_sorted(reg, &n);
	assert_int_equal(n, 4);
	assert_string_equal(all[0]->id, "0");
	registry_remove(reg, registry_find(reg, "b"));
	assert_int_equal(registry_connected_count(reg), 0);
	all = registry_sorted(reg, &n);
	assert_int_equal(n, 3);
	assert_string_equal(all[2]->id, "c");

	ggen = groups_generation(fx->srv.groups);
	put(fx, "{\"id\":\"dbs\",\"params\":{\"tag\":[\"db\"]},"
		"\"allowed_user_groups\":[\"ops\"]}");
	assert_true(groups_generation(fx->srv.groups) != ggen);
	assert_true(groups_client_match(fx->srv.groups, registry_find(reg, "c"), "d*", false));
	assert_false(groups_client_match(fx->srv.groups, registry_find(reg, "c"), "x*", false));
	assert_false(groups_client_match(fx->srv.groups, registry_find(reg, "0"), "dbs", false));
	assert_true(groups_client_match(fx->srv.groups, registry_find(reg, "a"), "OP*", true));
	assert_false(groups_client_match(fx->srv.groups, registry_find(reg, "a"), "dbs", true));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate_accepts),
		cmocka_unit_test(test_validate_refuses),
		cmocka_unit_test_setup_teardown(test_put_get_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_failure_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loads_stored_groups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_members, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_allowed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_groups_of_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_orders_counts_and_match, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
