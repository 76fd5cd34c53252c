/* flags: Go/consul-style flags: -name value, -name=value, --name; bools
 * take no value (or =true/=false). Stops at the first positional, "-" or
 * "--". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct cli_flag *find(const struct cli_flag *flags, size_t n, const char *name,
				   size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(flags[i].name) == len && !strncmp(flags[i].name, name, len))
			return &flags[i];
	return NULL;
}

int cli_flags_parse(const struct cli_flag *flags, size_t n, int argc, char **argv, int *rest,
		    const char *cmd)
{
	int i;

	for (i = 0; i < argc; i++) {
		const char *a = argv[i], *name, *eq, *val = NULL;
		const struct cli_flag *f;
		size_t len;

		if (a[0] != '-' || !strcmp(a, "-"))
			break;
		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		name = a + 1 + (a[1] == '-');
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		if ((len == 1 && name[0] == 'h') || (len == 4 && !strncmp(name, "help", 4)))
			return -1;
		f = find(flags, n, name, len);
		if (!f) {
			fprintf(stderr, "tether %s: unknown flag -%.*s (see 'tether %s -help')\n", cmd,
				(int)len, name, cmd);
			return CLI_USAGE;
		}
		if (f->type == CF_BOOL) {
			bool v = true;

			if (eq) {
				if (!strcmp(eq + 1, "true") || !strcmp(eq + 1, "1"))
					v = true;
				else if (!strcmp(eq + 1, "false") || !strcmp(eq + 1, "0"))
					v = false;
				else {
					fprintf(stderr, "tether %s: -%s takes true or false\n", cmd, f->name);
					return CLI_USAGE;
				}
			}
			*(bool *)f->dst = v;
			continue;
		}
		if (eq) {
			val = eq + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			fprintf(stderr, "tether %s: -%s needs a value (%s)\n", cmd, f->name,
				f->arg ? f->arg : "VALUE");
			return CLI_USAGE;
		}
		if (f->type == CF_STR) {
			*(char **)f->dst = (char *)val;
		} else if (f->type == CF_LIST) {
			json_t **l = f->dst;

			if (!*l)
				*l = json_array();
			json_array_append_new(*l, json_string(val));
		} else {
			char *end;
			long v;

			errno = 0;
			v = strtol(val, &end, 10);
			if (errno || *end || v < 0) {
				fprintf(stderr, "tether %s: -%s needs a non-negative number, not '%s'\n",
					cmd, f->name, val);
				return CLI_USAGE;
			}
			*(long *)f->dst = v;
		}
	}
	*rest = i;
	return 0;
}

void cli_flags_help(const struct cli_flag *flags, size_t n, const char *usage,
		    const char *about)
{
	printf("usage: %s\n\n%s\n\nFlags:\n", usage, about);
	for (size_t i = 0; i < n; i++) {
		char left[64];

		snprintf(left, sizeof left, "-%s%s%s", flags[i].name, flags[i].arg ? " " : "",
			 flags[i].arg ? flags[i].arg : "");
		printf("  %-24s %s%s\n", left, flags[i].help,
		       flags[i].type == CF_LIST ? " (repeatable)" : "");
	}
}
