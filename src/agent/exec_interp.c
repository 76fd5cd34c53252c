/* exec_interp: interpreter names to programs and argv (a table, not an
 * if-chain). */
#include "exec_interp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "util.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct interp_def {
	const char *name;
	enum exec_interp_kind kind;
	bool windows_only;
	const char *const *paths;   /* where to look, first found wins; NULL-terminated */
	const char *path_name;      /* else looked up in PATH under this name */
};

static const char *const sh_paths[] = { "/bin/sh", NULL };
static const char *const bash_paths[] = { "/bin/bash", "/usr/bin/bash", "/usr/local/bin/bash", NULL };
static const char *const zsh_paths[] = { "/bin/zsh", "/usr/bin/zsh", "/usr/local/bin/zsh", NULL };
static const char *const pwsh_paths[] = { "/usr/bin/pwsh", "/usr/local/bin/pwsh",
					  "/opt/microsoft/powershell/7/pwsh", "/snap/bin/pwsh",
					  NULL };
static const char *const taco_paths[] = { "/usr/local/bin/tacoscript", "/usr/bin/tacoscript",
					  NULL };

/* "powershell" is Windows PowerShell; on Unix the same requests go to
 * PowerShell 7 (pwsh) when it is installed. */
static const struct interp_def interp_table[] = {
	{ "sh", EXEC_INTERP_SHELL, false, sh_paths, NULL },
	{ "/bin/sh", EXEC_INTERP_SHELL, false, sh_paths, NULL },
	{ "bash", EXEC_INTERP_SHELL, false, bash_paths, "bash" },
	{ "zsh", EXEC_INTERP_SHELL, false, zsh_paths, "zsh" },
	{ "pwsh", EXEC_INTERP_PWSH, false, pwsh_paths, "pwsh" },
	{ "powershell", EXEC_INTERP_PWSH, false, pwsh_paths, "pwsh" },
	{ "tacoscript", EXEC_INTERP_FILE, false, taco_paths, "tacoscript" },
	{ "cmd", EXEC_INTERP_SHELL, true, NULL, NULL },
};

#define INTERP_COUNT (sizeof interp_table / sizeof interp_table[0])

static bool is_exec_file(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

bool exec_find_in_path(const char *prog, char *out, size_t outlen)
{
	const char *path = getenv("PATH");
	const char *p, *end;
	char cand[PATH_MAX];

	if (strchr(prog, '/')) {
		if (!is_exec_file(prog))
			return false;
		return util_strlcpy(out, prog, outlen) == 0;
	}
	if (!path || !*path)
		path = DEFAULT_PATH;
	for (p = path; *p; p = *end ? end + 1 : end) {
		int n;

		end = strchr(p, ':');
		if (!end)
			end = p + strlen(p);
		/* Only absolute directories: "" or "." in PATH would look in
		 * the agent's working directory. */
		if (end == p || *p != '/')
			continue;
		n = snprintf(cand, sizeof cand, "%.*s/%s", (int)(end - p), p, prog);
		if (n < 0 || (size_t)n >= sizeof cand)
			continue;
		if (is_exec_file(cand))
			return util_strlcpy(out, cand, outlen) == 0;
	}
	return false;
}

static const struct interp_def *interp_find(const char *name)
{
	for (size_t i = 0; i < INTERP_COUNT; i++)
		if (!strcmp(interp_table[i].name, name))
			return &interp_table[i];
	return NULL;
}

static bool def_locate(const struct interp_def *d, char *out, size_t outlen)
{
	if (d->windows_only)
		return false;
	for (const char *const *p = d->paths; p && *p; p++)
		if (is_exec_file(*p))
			return util_strlcpy(out, *p, outlen) == 0;
	return d->path_name && exec_find_in_path(d->path_name, out, outlen);
}

/* The kind follows the program's name: an alias or a path to pwsh takes
 * pwsh's arguments. */
static enum exec_interp_kind kind_of_path(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	if (!strcmp(base, "pwsh") || !strncmp(base, "pwsh-", 5) || !strcmp(base, "powershell"))
		return EXEC_INTERP_PWSH;
	if (!strcmp(base, "tacoscript"))
		return EXEC_INTERP_FILE;
	return EXEC_INTERP_SHELL;
}

static int resolve_path(const char *path, const char *what, struct exec_interp *out,
			char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st)) {
		snprintf(err, errlen, "interpreter %s%s: %s", path, what, strerror(errno));
		return TE_NOTFOUND;
	}
	if (!S_ISREG(st.st_mode) || access(path, X_OK)) {
		snprintf(err, errlen, "interpreter %s%s: not an executable file", path, what);
		return TE_NOTFOUND;
	}
	if (util_strlcpy(out->path, path, sizeof out->path)) {
		snprintf(err, errlen, "interpreter path is too long");
		return TE_NOTFOUND;
	}
	out->kind = kind_of_path(path);
	return 0;
}

int exec_interp_resolve(const struct agent *a, const char *name, struct exec_interp *out,
			char *err, size_t errlen)
{
	const struct interp_def *d;
	const char *alias;
	struct exec_interp r;

	if (!name || !*name)
		name = "sh";
	memset(&r, 0, sizeof r);
	/* Aliases first, as rport: they may redefine a built-in name. */
	alias = json_string_value(json_object_get(a->cfg.aliases, name));
	if (alias) {
		char what[300];

		snprintf(what, sizeof what, " (alias '%.200s')", name);
		if (alias[0] != '/') {
			char found[PATH_MAX];

			if (!exec_find_in_path(alias, found, sizeof found)) {
				snprintf(err, errlen, "interpreter %s%s: not found in PATH", alias,
					 what);
				return TE_NOTFOUND;
			}
			if (resolve_path(found, what, &r, err, errlen))
				return TE_NOTFOUND;
		} else if (resolve_path(alias, what, &r, err, errlen)) {
			return TE_NOTFOUND;
		}
		*out = r;
		return 0;
	}
	if (name[0] == '/') {
		if (resolve_path(name, "", &r, err, errlen))
			return TE_NOTFOUND;
		*out = r;
		return 0;
	}
	d = interp_find(name);
	if (!d) {
		snprintf(err, errlen,
			 "interpreter '%.200s' is not available on this host (not a built-in name, "
			 "an [interpreter-aliases] entry or an absolute path)", name);
		return TE_NOTFOUND;
	}
	if (d->windows_only) {
		struct utsname u;

		snprintf(err, errlen, "interpreter '%s' needs a Windows agent; this host runs %s",
			 name, uname(&u) == 0 ? u.sysname : "Unix");
		return TE_NOTFOUND;
	}
	if (!def_locate(d, r.path, sizeof r.path)) {
		if (d->kind == EXEC_INTERP_PWSH)
			snprintf(err, errlen,
				 "interpreter '%s' is not available on this host: PowerShell (pwsh) "
				 "is not installed", name);
		else
			snprintf(err, errlen, "interpreter '%s' is not installed on this host", name);
		return TE_NOTFOUND;
	}
	r.kind = d->kind;
	*out = r;
	return 0;
}

int exec_interp_argv(const struct exec_interp *in, const char *command, const char *script,
		     const char **argv)
{
	int n = 0;

	argv[n++] = in->path;
	switch (in->kind) {
	case EXEC_INTERP_PWSH:
		argv[n++] = "-NoProfile";
		argv[n++] = "-NonInteractive";
		argv[n++] = script ? "-File" : "-Command";
		argv[n++] = script ? script : command;
		break;
	case EXEC_INTERP_FILE:
		if (!script)
			return -1;
		argv[n++] = script;
		break;
	case EXEC_INTERP_SHELL:
	default:
		if (script) {
			argv[n++] = script;
		} else {
			argv[n++] = "-c";
			argv[n++] = command;
		}
		break;
	}
	argv[n] = NULL;
	return n;
}

const char *exec_interp_script_ext(const struct exec_interp *in)
{
	/* pwsh -File refuses a file without the .ps1 extension. */
	switch (in->kind) {
	case EXEC_INTERP_PWSH:
		return ".ps1";
	case EXEC_INTERP_FILE:
		return ".yml";
	case EXEC_INTERP_SHELL:
	default:
		return "";
	}
}

json_t *exec_interp_list(const struct agent *a)
{
	json_t *l = json_array();
	char path[PATH_MAX];
	const char *k;
	json_t *v;

	for (size_t i = 0; i < INTERP_COUNT; i++) {
		const struct interp_def *d = &interp_table[i];

		if (json_object_get(a->cfg.aliases, d->name))
			continue; /* listed with the aliases below */
		if (def_locate(d, path, sizeof path))
			json_array_append_new(l, json_string(d->name));
	}
	json_object_foreach(a->cfg.aliases, k, v) {
		struct exec_interp r;
		char err[512];

		if (exec_interp_resolve(a, k, &r, err, sizeof err) == 0)
			json_array_append_new(l, json_string(k));
	}
	return l;
}

/* Words a POSIX shell (or bash, zsh) treats itself: builtins and reserved
 * words. A command starting with one of these always goes to the shell. */
static const char *const shell_words[] = {
	"!", ".", ":", "[", "[[", "]]", "{", "}", "alias", "bg", "bind", "break", "builtin",
	"caller", "case", "cd", "chdir", "command", "compgen", "complete", "continue",
	"coproc", "declare", "dirs", "disown", "do", "done", "echo", "elif", "else",
	"enable", "esac", "eval", "exec", "exit", "export", "false", "fc", "fg", "fi",
	"for", "function", "getopts", "hash", "help", "history", "if", "in", "jobs",
	"kill", "let", "local", "logout", "mapfile", "popd", "printf", "pushd", "pwd",
	"read", "readarray", "readonly", "return", "select", "set", "shift", "shopt",
	"source", "suspend", "test", "then", "time", "times", "trap", "true", "type",
	"typeset", "ulimit", "umask", "unalias", "unset", "until", "wait", "while",
};

/* Bytes a shell gives no meaning to inside a word: no quoting, expansion,
 * globbing, redirection, comment, separator or escape. */
static bool plain_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '/' || c == '.' || c == '_' || c == '-' || c == '+' || c == ':' ||
	       c == ',' || c == '@' || c == '%' || c == '=';
}

/* An ELF binary or a "#!" script: execve runs it. Anything else (a shell
 * script without "#!") gets ENOEXEC, which only a shell turns into a run. */
static bool directly_executable(const char *path)
{
	unsigned char head[4];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, head, sizeof head);
	close(fd);
	return (n == 4 && !memcmp(head, "\x7f" "ELF", 4)) ||
	       (n >= 2 && head[0] == '#' && head[1] == '!');
}

int exec_interp_direct(const struct exec_interp *in, const char *command, size_t len, char *buf,
		       size_t buflen, const char **argv, int max, char *path, size_t pathlen)
{
	int n = 0;
	size_t i = 0, o = 0;

	/* zsh expands '=word' and more: only sh and bash. */
	if (in->kind != EXEC_INTERP_SHELL || strstr(in->path, "zsh") || !command || len == 0 ||
	    len >= buflen || max < 2)
		return -1;
	while (i < len) {
		while (i < len && command[i] == ' ')
			i++;
		if (i == len)
			break;
		if (n == max - 1)
			return -1;
		argv[n++] = buf + o;
		while (i < len && command[i] != ' ') {
			if (!plain_byte((unsigned char)command[i]))
				return -1;
			buf[o++] = command[i++];
		}
		buf[o++] = '\0';
	}
	argv[n] = NULL;
	if (n == 0 || strchr(argv[0], '=') || (strchr(argv[0], '/') && argv[0][0] != '/'))
		return -1;
	for (size_t k = 0; k < sizeof shell_words / sizeof shell_words[0]; k++)
		if (!strcmp(argv[0], shell_words[k]))
			return -1;
	if (!exec_find_in_path(argv[0], path, pathlen) || !directly_executable(path))
		return -1;
	return n;
}
