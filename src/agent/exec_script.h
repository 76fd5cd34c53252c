/* exec_script: script files under <data_dir>/scripts.
 *
 * The directory must be a real directory owned by the agent's user with
 * mode 0700; every script is a file <jid>[.ext] of mode 0700 in it,
 * removed when its job ends. Files are small and written synchronously. */
#ifndef TETHER_EXEC_SCRIPT_H
#define TETHER_EXEC_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>

/* Checks <data_dir>/scripts, creating it (0700) when missing. Returns 0
 * and its path in dir, or TE_INVAL/TE_IO with a message for the user. */
int exec_script_dir(const char *data_dir, char *dir, size_t dirlen, char *err, size_t errlen);

/* Writes a new file dir/<jid><ext>, mode 0700 (never over an existing
 * file, never through a symlink). Returns 0 and its path, or TE_IO with a
 * message; on failure nothing is left behind. */
int exec_script_write(const char *dir, const char *jid, const char *ext, const char *text,
		      size_t len, char *path, size_t pathlen, char *err, size_t errlen);

/* Removes a script file; path "" is a no-op. Clears path. */
void exec_script_remove(char *path);

/* True when the script starts with "#!": the rest of that line, trimmed,
 * goes to out (truncated to outlen). */
bool exec_script_shebang(const char *text, size_t len, char *out, size_t outlen);

/* Removes files left in <data_dir>/scripts by jobs that were running when
 * the agent stopped (their processes, if alive, keep their open file). */
void exec_script_sweep(const char *data_dir);

#endif
