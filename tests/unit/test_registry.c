/* registry (core/registry.c): a client kept across a wait (client_ref)
 * is that client while no client has been removed, and is looked up by
 * id again after any removal: never a freed pointer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/registry.h"

static void test_ref_holds_until_a_removal(void **state)
{
	struct registry *reg;
	struct client *a, *b;
	struct client_ref ra, rb, none = { NULL, 0 };

	(void)state;
	assert_int_equal(registry_create(&reg), 0);
	a = registry_get_or_add(reg, "a");
	b = registry_get_or_add(reg, "b");
	assert_non_null(a);
	assert_non_null(b);
	registry_ref_take(reg, &ra, a);
	registry_ref_take(reg, &rb, b);
	assert_ptr_equal(registry_ref_get(reg, &ra, "a"), a);
	/* A client added meanwhile changes nothing. */
	assert_non_null(registry_get_or_add(reg, "c"));
	assert_ptr_equal(registry_ref_get(reg, &rb, "b"), b);
	/* No pointer kept: by id. */
	assert_ptr_equal(registry_ref_get(reg, &none, "b"), b);
	assert_null(registry_ref_get(reg, &none, "zz"));
	/* b goes: its ref finds nothing, a's finds a by id again. */
	registry_remove(reg, b);
	assert_null(registry_ref_get(reg, &rb, "b"));
	assert_ptr_equal(registry_ref_get(reg, &ra, "a"), a);
	/* b comes back as a new client: the old ref finds the new one. */
	b = registry_get_or_add(reg, "b");
	assert_ptr_equal(registry_ref_get(reg, &rb, "b"), b);
	registry_destroy(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref_holds_until_a_removal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
