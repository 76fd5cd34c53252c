/* Unit tests for src/server/core/targets.c: every enum target_error, the
 * order of the resolved ids (the ids as given, then each group's members
 * sorted by id, each id once; a selector's matches sorted), tags and labels
 * with any/all, NULL entries, and the limits TARGETS_MAX_IDS and
 * TARGETS_MAX_GROUPS. Clients are the real registry's, groups the real
 * groups module over the in-memory store stub. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/groups.h"
#include "core/targets.h"
#include "core_fixture.h"

static int setup(void **state)
{
	static struct fixture fx;

	fx_init(&fx, true, false);
	/* Added in an order unlike their ids, so that sorting shows. */
	fx_client(&fx, "c3", true, "web,prod", "env=prod,dc=east");
	fx_client(&fx, "c1", false, "web", "env=dev,dc=east");
	fx_client(&fx, "c2", true, "db,prod", "env=prod,dc=west");
	fx_client(&fx, "c4", true, NULL, NULL);
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	fx_free(*state);
	return 0;
}

static void put_group(struct fixture *fx, const char *text)
{
	json_t *g = json_loads(text, 0, NULL);

	assert_non_null(g);
	assert_int_equal(groups_put(fx->srv.groups, g), 0);
	json_decref(g);
}

/* Resolves and gives the ids as "a,b" (or the error's subject). */
static enum target_error resolve(struct fixture *fx, const struct target_spec *spec, char *out,
				 size_t outlen)
{
	struct target_list l;
	char subject[64] = "junk";
	enum target_error rc = targets_resolve(&fx->srv, spec, &l, subject, sizeof subject);

	out[0] = '\0';
	if (rc != TARGET_OK) {
		assert_null(l.ids);
		assert_int_equal(l.n, 0);
		util_strlcpy(out, subject, outlen);
		return rc;
	}
	for (size_t i = 0; i < l.n; i++) {
		if (i)
			strncat(out, ",", outlen - strlen(out) - 1);
		strncat(out, l.ids[i], outlen - strlen(out) - 1);
	}
	targets_free(&l);
	return rc;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_check(void **state)
{
	const char *ids[] = { "c1" }, *gids[] = { "g" }, *tags[] = { "web" };
	struct target_spec s = { 0 };

	(void)state;
	assert_int_equal(targets_check(&s), TARGET_MISSING);
	s.client_ids = ids;
	s.nclient_ids = 1;
	assert_int_equal(targets_check(&s), TARGET_OK);
	s.selectors = tags;
	s.nselectors = 1;
	assert_int_equal(targets_check(&s), TARGET_MULTIPLE);
	s.nclient_ids = 0;
	assert_int_equal(targets_check(&s), TARGET_OK);
	s.group_ids = gids;
	s.ngroup_ids = 1;
	assert_int_equal(targets_check(&s), TARGET_MULTIPLE);
	/* by_selector alone (an empty tag list) is a way of targeting too. */
	s = (struct target_spec){ .by_selector = true };
	assert_int_equal(targets_check(&s), TARGET_OK);
	s.client_ids = ids;
	s.nclient_ids = 1;
	assert_int_equal(targets_check(&s), TARGET_MULTIPLE);
	s = (struct target_spec){ .group_ids = gids, .ngroup_ids = 1 };
	assert_int_equal(targets_check(&s), TARGET_OK);
	/* MULTIPLE is checked before TOO_MANY. */
	s = (struct target_spec){ .nclient_ids = TARGETS_MAX_IDS + 1, .by_selector = true };
	assert_int_equal(targets_check(&s), TARGET_MULTIPLE);
}

static void test_limits(void **state)
{
	struct fixture *fx = *state;
	const char **ids = calloc(TARGETS_MAX_IDS + 1, sizeof *ids);
	const char **gids = calloc(TARGETS_MAX_GROUPS + 1, sizeof *gids);
	struct target_spec s = { 0 };
	char out[64];

	assert_non_null(ids);
	assert_non_null(gids);
	for (size_t i = 0; i <= TARGETS_MAX_IDS; i++)
		ids[i] = "c1";
	for (size_t i = 0; i <= TARGETS_MAX_GROUPS; i++)
		gids[i] = "g";
	put_group(fx, "{\"id\":\"g\",\"params\":{\"client_id\":[\"c2\"]}}");
	s.client_ids = ids;
	s.nclient_ids = TARGETS_MAX_IDS;
	assert_int_equal(targets_check(&s), TARGET_OK);
	/* The same id many times gives it once. */
	assert_int_equal(resolve(fx, &s, out, sizeof out), TARGET_OK);
	assert_string_equal(out, "c1");
	s.nclient_ids = TARGETS_MAX_IDS + 1;
	assert_int_equal(targets_check(&s), TARGET_TOO_MANY);
	assert_int_equal(resolve(fx, &s, out, sizeof out), TARGET_TOO_MANY);
	s = (struct target_spec){ .group_ids = gids, .ngroup_ids = TARGETS_MAX_GROUPS };
	assert_int_equal(resolve(fx, &s, out, sizeof out), TARGET_OK);
	assert_string_equal(out, "c2");
	s.ngroup_ids = TARGETS_MAX_GROUPS + 1;
	assert_int_equal(targets_check(&s), TARGET_TOO_MANY);
	assert_int_equal(resolve(fx, &s, out, sizeof out), TARGET_TOO_MANY);
	free(ids);
	free(gids);
}

static void test_ids_in_order_given(void **state)
{
	struct fixture *fx = *state;
	const char *ids[] = { "c3", "c1", "c3", "c2" };
	struct target_spec s = { .client_ids = ids, .nclient_ids = N(ids) };
	char out[128];

	/* As given, each once; disconnected clients are targets too. */
	assert_int_equal(resolve(fx, &s, out, sizeof out), TARGET_OK);
	assert_string_equal(out, "c3,c1,c2");
}

static void test_ids_then_groups(void **state)
{
	struct fixture *fx = *state;
	const char *ids[] = { "c3" }, *gids[] = { "prod", "all" };
	struct target_spec s = { .client_ids = ids, .nclient_ids = 1, .group_ids = gids,
				 .ngroup_ids = 2 };
	char out[128];

	put_group(fx, "{\"id\":\"prod\",\"params\":{\"tag\":[\"prod\"]}}");
	put_group(fx, "{\"id\":\"all\",\"params\":{\"client_id\":[\"c*\"]}}");
	/* c3 first (given), then prod's members sorted (c2; c3 is there
	 * already), then all's (c1, c4). */
	assert_int_equal(resolve(fx, &s, out, sizeof out), TARGET_OK);
	assert_string_equal(out, "c3,c2,c1,c4");
	/* Groups only: each group's members sorted, in the groups' order. */
	s = (struct target_spec){ .group_ids = gids, .ngroup_ids = 2 };
	assert_int_equal(resolve(fx, &s, out, sizeof out), TARGET_OK);
	assert_string_equal(out, "c2,c3,c1,c4");
}

static void test_unknown_and_invalid(void **state)
{
	struct fixture *fx = *state;
	const char *ids[] = { "c1", "nope", "c2" }, *nul[] = { "c1", NULL };
	const char *gids[] = { "missing" }, *gnul[] = { NULL };
	struct target_spec s = { .client_ids = ids, .nclient_ids = N(ids) };
	char out[128];

	assert_int_equal(resolve(fx, &s, out, sizeof out), TARGET_CLIENT_UNKNOWN);
	assert_string_equal(out, "nope");
	s.client_ids = nul;
	s.nclient_ids = N(nul);
	assert_int_equal(resolve(fx, &s, out, sizeof out), TARGET_ID_INVALID);
	assert_string_equal(out, "");
	s = (struct target_spec){ .group_ids = gids, .ngroup_ids = 1 };
	assert_int_equal(resolve(fx, &s, out, sizeof out), TARGET_GROUP_UNKNOWN);
	assert_string_equal(out, "missing");
	s.group_ids = gnul;
	assert_int_equal(resolve(fx, &s, out, sizeof out), TARGET_GROUP_UNKNOWN);
	assert_string_equal(out, "");
	/* With ids before it: the unknown group still fails. */
	s.client_ids = ids;
	s.nclient_ids = 1;
	s.group_ids = gids;
	assert_int_equal(resolve(fx, &s, out, sizeof out), TARGET_GROUP_UNKNOWN);
	assert_string_equal(out, "missing");
}

static void test_subject_is_cut(void **state)
{
	struct fixture *fx = *state;
	const char *ids[] = { "a-very-long-unknown-client-id" };
	struct target_spec s = { .client_ids = ids, .nclient_ids = 1 };
	struct target_list l;
	char subject[8];

	assert_int_equal(targets_resolve(&fx->srv, &s, &l, subject, sizeof subject),
			 TARGET_CLIENT_UNKNOWN);
	assert_string_equal(subject, "a-very-");
}

static void test_empty_groups(void **state)
{
	struct fixture *fx = *state;
	const char *ids[] = { "c1" }, *gids[] = { "none", "none2" };
	struct target_spec s = { .group_ids = gids, .ngroup_ids = 2 };
	char out[128];

	put_group(fx, "{\"id\":\"none\",\"params\":{\"tag\":[\"nothing\"]}}");
	put_group(fx, "{\"id\":\"none2\"}");
	assert_int_equal(resolve(fx, &s, out, sizeof out), TARGET_GROUP_EMPTY);
	/* With ids, an empty group is no error. */
	s.client_ids = ids;
	s.nclient_ids = 1;
	assert_int_equal(resolve(fx, &s, out, sizeof out), TARGET_OK);
	assert_string_equal(out, "c1");
	/* Groups whose members are all among the ids add nothing: fine. */
	put_group(fx, "{\"id\":\"none\",\"params\":{\"client_id\":[\"c1\"]}}");
	assert_int_equal(resolve(fx, &s, out, sizeof out), TARGET_OK);
	assert_string_equal(out, "c1");
}

static void test_no_selector(void **state)
{
	struct fixture *fx = *state;
	struct target_spec s = { .by_selector = true };
	char out[128];

	/* A selector flag with no selector (any of nothing): no match. */
	assert_int_equal(resolve(fx, &s, out, sizeof out), TARGET_SELECTOR_NO_MATCH);
	s = (struct target_spec){ 0 };
	assert_int_equal(resolve(fx, &s, out, sizeof out), TARGET_MISSING);
}

static void test_tags(void **state)
{
	struct fixture *fx = *state;
	const char *web_prod[] = { "web", "prod" }, *nothing[] = { "nothing" };
	struct target_spec s = { .selectors = web_prod, .nselectors = 2, .by_selector = true };
	char out[128];

	/* Any: sorted by id. */
	assert_int_equal(resolve(fx, &s, out, sizeof out), TARGET_OK);
	assert_string_equal(out, "c1,c2,c3");
	s.all_of = true;
	assert_int_equal(resolve(fx, &s, out, sizeof out), TARGET_OK);
	assert_string_equal(out, "c3");
	/* Tags match exactly (no wildcard, case-sensitive). */
	{
		const char *star[] = { "we*" }, *upper[] = { "WEB" };

		s = (struct target_spec){ .selectors = star, .nselectors = 1 };
		assert_int_equal(resolve(fx, &s, out, sizeof out), TARGET_SELECTOR_NO_MATCH);
		s.selectors = upper;
		assert_int_equal(resolve(fx, &s, out, sizeof out), TARGET_SELECTOR_NO_MATCH);
	}
	s = (struct target_spec){ .selectors = nothing, .nselectors = 1 };
	assert_int_equal(resolve(fx, &s, out, sizeof out), TARGET_SELECTOR_NO_MATCH);
}

static void test_labels(void **state)
{
	struct fixture *fx = *state;
	const char *sel[] = { "env:prod", "dc:east" }, *bad[] = { "envprod" };
	struct target_spec s = { .selectors = sel, .nselectors = 2, .by_selector = true,
				 .by_labels = true };
	char out[128];

	assert_int_equal(resolve(fx, &s, out, sizeof out), TARGET_OK);
	assert_string_equal(out, "c1,c2,c3");
	s.all_of = true;
	assert_int_equal(resolve(fx, &s, out, sizeof out), TARGET_OK);
	assert_string_equal(out, "c3");
	/* A label is "key:value": without the colon it matches nothing, and
	 * a tag named like a label is no label. */
	s = (struct target_spec){ .selectors = bad, .nselectors = 1, .by_labels = true };
	assert_int_equal(resolve(fx, &s, out, sizeof out), TARGET_SELECTOR_NO_MATCH);
	{
		const char *tag_sel[] = { "env:prod" };

		s = (struct target_spec){ .selectors = tag_sel, .nselectors = 1 };
		assert_int_equal(resolve(fx, &s, out, sizeof out), TARGET_SELECTOR_NO_MATCH);
	}
}

static void test_free_is_safe(void **state)
{
	struct target_list l = { 0 };

	(void)state;
	targets_free(NULL);
	targets_free(&l);
	targets_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ids_in_order_given, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ids_then_groups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_and_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subject_is_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_groups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_selector, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_labels, setup, teardown),
		cmocka_unit_test(test_free_is_safe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
