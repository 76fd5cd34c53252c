/* cmd_apikey: tether apikey — creates, lists and deletes the caller's API
 * keys (Authorization: ApiKey <encoded>, the Elastic dialect's form;
 * POST/GET /api/security/api_key, DELETE /api/security/api_key/{id}). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

static int apikey_create(struct cli *c, const char *name)
{
	json_t *body = json_pack("{s:s}", "name", name), *resp = NULL;
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	long status = 0;
	int rc = CLI_OK;

	json_decref(body);
	if (!text)
		return CLI_TRANSPORT;
	if (cli_http(c, "POST", "/api/security/api_key", text, &status, &resp)) {
		free(text);
		return CLI_TRANSPORT;
	}
	free(text);
	if (status != 200) {
		fprintf(stderr, "tether apikey create: %s (HTTP %ld)\n",
			cli_str(resp, "message"), status);
		rc = status == 401 || status == 403 ? CLI_AUTH : CLI_TRANSPORT;
	} else {
		printf("id: %s\nencoded: %s\n(shown once: send it as 'Authorization: ApiKey "
		       "<encoded>')\n", cli_str(resp, "id"), cli_str(resp, "encoded"));
	}
	json_decref(resp);
	return rc;
}

static int apikey_list(struct cli *c)
{
	json_t *resp = NULL, *k;
	long status = 0;
	size_t i;

	if (cli_http(c, "GET", "/api/security/api_key", NULL, &status, &resp))
		return CLI_TRANSPORT;
	if (status != 200) {
		fprintf(stderr, "tether apikey list: %s (HTTP %ld)\n", cli_str(resp, "message"),
			status);
		json_decref(resp);
		return status == 401 || status == 403 ? CLI_AUTH : CLI_TRANSPORT;
	}
	printf("%-10s %-20s %s\n", "ID", "USER", "NAME");
	json_array_foreach(json_object_get(resp, "apiKeys"), i, k)
		printf("%-10s %-20s %s\n", cli_str(k, "id"), cli_str(k, "username"),
		       cli_str(k, "name"));
	json_decref(resp);
	return CLI_OK;
}

static int apikey_delete(struct cli *c, const char *id)
{
	char path[200];
	json_t *resp = NULL;
	long status = 0;
	int rc = CLI_OK;

	for (const char *p = id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			id = "";
	if (!*id || strlen(id) > 64) {
		fprintf(stderr, "tether apikey delete: give the key's id (letters and digits)\n");
		return CLI_USAGE;
	}
	snprintf(path, sizeof path, "/api/security/api_key/%s", id);
	if (cli_http(c, "DELETE", path, NULL, &status, &resp))
		return CLI_TRANSPORT;
	if (status != 200) {
		fprintf(stderr, "tether apikey delete: %s (HTTP %ld)\n", cli_str(resp, "message"),
			status);
		rc = status == 404 ? CLI_NO_TARGET : status == 401 || status == 403 ? CLI_AUTH :
									       CLI_TRANSPORT;
	} else {
		printf("API key %s deleted\n", id);
	}
	json_decref(resp);
	return rc;
}

int cmd_apikey(struct cli *c, int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[0], "create"))
		return apikey_create(c, argv[1]);
	if (argc == 2 && !strcmp(argv[0], "delete"))
		return apikey_delete(c, argv[1]);
	if (argc == 0 || (argc == 1 && !strcmp(argv[0], "list")))
		return apikey_list(c);
	fprintf(stderr, "usage: tether apikey [list] | tether apikey create NAME | "
			"tether apikey delete ID\n");
	return argc == 1 && (!strcmp(argv[0], "-help") || !strcmp(argv[0], "--help")) ? 0 :
											     CLI_USAGE;
}
