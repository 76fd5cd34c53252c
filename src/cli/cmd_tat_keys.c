/* cmd_tat_keys: tether tat-keys — the caller's TAT key pairs (GET, POST
 * /api/v1/me/tat-keys, DELETE /api/v1/me/tat-keys/{secret_id}). The
 * secret is printed once, at creation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

static int keys_list(struct cli *c)
{
	json_t *resp = NULL, *k;
	long status = 0;
	size_t i;
	int rc = CLI_OK;

	if (cli_http(c, "GET", "/api/v1/me/tat-keys", NULL, &status, &resp))
		return CLI_TRANSPORT;
	if (status != 200) {
		rc = cli_http_fail(status, resp, "listing TAT key pairs");
		goto out;
	}
	if (!json_array_size(json_object_get(resp, "data"))) {
		printf("no TAT key pairs\n");
		goto out;
	}
	printf("%-40s %s\n", "SECRET ID", "CREATED");
	json_array_foreach(json_object_get(resp, "data"), i, k)
		printf("%-40s %s\n", cli_str(k, "secret_id"), cli_str(k, "created_at"));
out:
	json_decref(resp);
	return rc;
}

static int keys_create(struct cli *c)
{
	json_t *resp = NULL, *d;
	long status = 0;
	int rc = CLI_OK;

	if (cli_http(c, "POST", "/api/v1/me/tat-keys", "{}", &status, &resp))
		return CLI_TRANSPORT;
	if (status != 201) {
		rc = cli_http_fail(status, resp, "creating a TAT key pair");
	} else {
		d = json_object_get(resp, "data");
		printf("SecretId:  %s\nSecretKey: %s\n(the secret is shown once: keep it now)\n",
		       cli_str(d, "secret_id"), cli_str(d, "secret_key"));
	}
	json_decref(resp);
	return rc;
}

static int keys_delete(struct cli *c, const char *id)
{
	char path[200];
	json_t *resp = NULL;
	long status = 0;
	int rc = CLI_OK;

	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9'))) {
			fprintf(stderr, "tether tat-keys delete: '%s' is not a SecretId\n", id);
			return CLI_USAGE;
		}
	if (!*id || strlen(id) > 64) {
		fprintf(stderr, "tether tat-keys delete: give a SecretId\n");
		return CLI_USAGE;
	}
	snprintf(path, sizeof path, "/api/v1/me/tat-keys/%s", id);
	if (cli_http(c, "DELETE", path, NULL, &status, &resp))
		return CLI_TRANSPORT;
	if (status != 204)
		rc = cli_http_fail(status, resp, "deleting the TAT key pair");
	else
		printf("TAT key pair %s deleted\n", id);
	json_decref(resp);
	return rc;
}

int cmd_tat_keys(struct cli *c, int argc, char **argv)
{
	if (argc == 0 || !strcmp(argv[0], "list"))
		return argc > 1 ? CLI_USAGE : keys_list(c);
	if (!strcmp(argv[0], "create") && argc == 1)
		return keys_create(c);
	if (!strcmp(argv[0], "delete") && argc == 2)
		return keys_delete(c, argv[1]);
	if (!strcmp(argv[0], "-h") || !strcmp(argv[0], "-help") || !strcmp(argv[0], "--help")) {
		printf("usage: tether tat-keys [list] | tether tat-keys create | "
		       "tether tat-keys delete SECRET_ID\n\n"
		       "Your key pairs for tetherd's TAT API (TC3-HMAC-SHA256; docs/api-tat.md).\n"
		       "create prints the SecretKey once; tetherd keeps it sealed.\n");
		return 0;
	}
	fprintf(stderr, "tether tat-keys: unknown use (list, create, delete SECRET_ID)\n");
	return CLI_USAGE;
}
