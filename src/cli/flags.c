/* flags: Go/consul-style flags: -name value, -name=value, --name; bools
 * take no value (or =true/=false). Stops at the first positional, "-" or
 * "--". A mistyped name gets the nearest known one suggested. */
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

/* Levenshtein distance of a[0..alen) and b, capped at 64 characters a side
 * (longer names are never close to a flag). */
static size_t distance(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b), prev[65], cur[65];

	if (alen > 64 || blen > 64)
		return 64;
	for (size_t j = 0; j <= blen; j++)
		prev[j] = j;
	for (size_t i = 1; i <= alen; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= blen; j++) {
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);

			cur[j] = del < ins ? del : ins;
			if (sub < cur[j])
				cur[j] = sub;
		}
		memcpy(prev, cur, (blen + 1) * sizeof prev[0]);
	}
	return prev[blen];
}

const char *cli_nearest(const char *const *names, size_t n, const char *word, size_t len)
{
	const char *best = NULL;
	size_t best_d = (size_t)-1;

	for (size_t i = 0; i < n; i++) {
		size_t d = distance(word, len, names[i]);

		if (d < best_d) {
			best_d = d;
			best = names[i];
		}
	}
	/* Close enough to be a typo: two edits, or a third of a long name. */
	if (best && (best_d <= 2 || best_d * 3 <= strlen(best)))
		return best;
	return NULL;
}

static void unknown_flag(const struct cli_flag *flags, size_t n, const char *name, size_t len,
			 const char *cmd)
{
	const char *names[64];
	const char *near;
	size_t k = 0;

	for (size_t i = 0; i < n && k < 64; i++)
		names[k++] = flags[i].name;
	/* "tether" itself for the global flags, else "tether CMD". */
	const char *sep = strcmp(cmd, "tether") ? " " : "";
	const char *sub = *sep ? cmd : "";

	near = cli_nearest(names, k, name, len);
	if (near)
		fprintf(stderr, "tether%s%s: unknown flag -%.*s; did you mean -%s? (see 'tether%s%s "
				"-help')\n", sep, sub, (int)len, name, near, sep, sub);
	else
		fprintf(stderr, "tether%s%s: unknown flag -%.*s (see 'tether%s%s -help')\n", sep, sub,
			(int)len, name, sep, sub);
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
			unknown_flag(flags, n, name, len, cmd);
			return CLI_USAGE;
		}
		if (f->type == CF_BOOL || f->type == CF_TRI) {
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
			} else if (i + 1 < argc && (!strcmp(argv[i + 1], "true") ||
						    !strcmp(argv[i + 1], "false"))) {
				/* As Go's flag package, a boolean takes its value
				 * after '='; a bare word after it would be the
				 * command ('-abort-on-error false' runs false). */
				fprintf(stderr, "tether %s: -%s is a boolean flag: write -%s=%s "
						"('%s' after it would be taken as the command)\n",
					cmd, f->name, f->name, argv[i + 1], argv[i + 1]);
				return CLI_USAGE;
			}
			if (f->type == CF_TRI)
				*(int *)f->dst = v;
			else
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
			if (errno || *end || !*val || v < 0) {
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
	printf("usage: %s\n\n%s\n", usage, about);
	if (n)
		printf("\nFlags (a boolean takes -flag or -flag=false):\n");
	for (size_t i = 0; i < n; i++) {
		char left[64];

		snprintf(left, sizeof left, "-%s%s%s", flags[i].name, flags[i].arg ? " " : "",
			 flags[i].arg ? flags[i].arg : "");
		printf("  %-24s %s%s\n", left, flags[i].help,
		       flags[i].type == CF_LIST ? " (repeatable)" : "");
	}
}
