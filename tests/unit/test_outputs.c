/* outputs: a job's full output in files under the data dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "store/outputs.h"
#include "util.h"

static void saved(void *ud, int rc)
{
	*(int *)ud = rc;
}

static void test_save_tail_remove(void **state)
{
	const char *jid = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
	char dir[64], path[1200], tail[16];
	const char *data[2];
	size_t len[2], got;
	int64_t size = 0;
	struct stat sb;
	uv_loop_t loop;
	char *big;
	int rc = 1;

	(void)state;
	util_strlcpy(dir, "/tmp/tether-test-outputs-XXXXXX", sizeof dir);
	assert_non_null(mkdtemp(dir));
	big = malloc(3 * 1000 * 1000);
	assert_non_null(big);
	for (size_t i = 0; i < 3 * 1000 * 1000; i++)
		big[i] = (char)('a' + i % 26);
	data[0] = big;
	len[0] = 3 * 1000 * 1000;
	data[1] = NULL;
	len[1] = 0;
	uv_loop_init(&loop);
	/* Twice at once (an agent resending its result): one whole copy. */
	assert_int_equal(outputs_save(&loop, dir, jid, data, len, saved, &rc), 0);
	assert_int_equal(outputs_save(&loop, dir, jid, data, len, saved, &rc), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(rc, 0);
	assert_int_equal(outputs_path(dir, jid, 0, path, sizeof path), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(sb.st_size, 3 * 1000 * 1000);
	assert_int_equal(outputs_tail(dir, jid, 0, tail, sizeof tail, &got, &size), 0);
	assert_int_equal(size, 3 * 1000 * 1000);
	assert_int_equal(got, sizeof tail);
	assert_memory_equal(tail, big + 3 * 1000 * 1000 - sizeof tail, sizeof tail);
	assert_int_equal(outputs_tail(dir, jid, 1, tail, sizeof tail, &got, &size), 0);
	assert_int_equal(size, 0);
	assert_int_equal(got, 0);
	/* Not a job id: refused, nothing written outside. */
	assert_int_equal(outputs_save(&loop, dir, "../x", data, len, saved, &rc), TE_INVAL);
	assert_int_equal(outputs_path(dir, "a/b", 0, path, sizeof path), -1);
	assert_int_equal(outputs_remove(dir, jid), 0);
	assert_int_equal(outputs_tail(dir, jid, 0, tail, sizeof tail, &got, &size), -1);
	assert_int_equal(outputs_remove(dir, jid), 0); /* none: not an error */
	assert_int_equal(uv_loop_close(&loop), 0);
	snprintf(path, sizeof path, "%s/outputs", dir);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(rmdir(dir), 0);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_save_tail_remove),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
