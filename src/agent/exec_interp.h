/* exec_interp: which program runs a job, and with which arguments.
 *
 * A request names an interpreter as "" (the default, /bin/sh), a built-in
 * name (sh, bash, zsh, pwsh, powershell, tacoscript, cmd), an alias from
 * [interpreter-aliases] or an absolute path. See docs/execution.md. */
#ifndef TETHER_EXEC_INTERP_H
#define TETHER_EXEC_INTERP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "agent.h"

/* How the program takes a command or a script file. */
enum exec_interp_kind {
	EXEC_INTERP_SHELL,   /* prog -c CMD;  prog FILE */
	EXEC_INTERP_PWSH,    /* prog -NoProfile -NonInteractive -Command CMD | -File FILE.ps1 */
	EXEC_INTERP_FILE,    /* prog FILE only (tacoscript): no commands */
};

struct exec_interp {
	char path[PATH_MAX];          /* absolute path of the program */
	enum exec_interp_kind kind;
};

/* Most argv entries exec_interp_argv writes, with the NULL. */
#define EXEC_ARGV_MAX 10

/* Resolves a requested interpreter name. Returns 0 and fills *out, or
 * TE_NOTFOUND with a message for the user in err ("interpreter 'cmd' needs
 * a Windows agent"). */
int exec_interp_resolve(const struct agent *a, const char *name, struct exec_interp *out,
			char *err, size_t errlen);

/* Builds argv (without sudo) into argv[EXEC_ARGV_MAX]: for a command when
 * script is NULL, else for the script file. Strings are borrowed. Returns
 * the count, or -1 when this interpreter cannot run a command. */
int exec_interp_argv(const struct exec_interp *in, const char *command, const char *script,
		     const char **argv);

/* The shell's work done without the shell: when a command for a shell
 * interpreter (sh, bash, zsh) is one simple command of plain words (letters,
 * digits and / . _ - + : , @ % =; words split on spaces; no quotes,
 * variables, globs, redirections, separators or escapes), whose first word
 * is an absolute path or a program found in PATH (not a builtin or reserved
 * word, not an assignment), the program can be executed directly, as the
 * shell would, saving one exec. Splits command (len bytes) into buf
 * (buflen bytes) and argv (max entries with the NULL); path gets the
 * program's absolute path. Returns the argument count, or -1 when the shell
 * is needed. */
int exec_interp_direct(const struct exec_interp *in, const char *command, size_t len, char *buf,
		       size_t buflen, const char **argv, int max, char *path, size_t pathlen);

/* The file name extension a script needs with this interpreter ("" or ".ps1"). */
const char *exec_interp_script_ext(const struct exec_interp *in);

/* Finds prog in $PATH (or the standard directories when PATH is unset).
 * Returns true and the absolute path in out. */
bool exec_find_in_path(const char *prog, char *out, size_t outlen);

/* Interpreter names this host offers (new reference, array of strings). */
json_t *exec_interp_list(const struct agent *a);

#endif
