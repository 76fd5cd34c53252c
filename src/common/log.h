/* log: the one logging module. Levels are checked before formatting. */
#ifndef TETHER_LOG_H
#define TETHER_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

extern int log_current_level;

/* Sets the level from a name ("error", "warn", "info", "debug"); returns 0 or -1. */
int log_set_level_name(const char *name);
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON, LOG_FORMAT_JOURNAL };
/* Sets the format from a name: "text", "json", "journal", or "auto"
 * (journal when stderr is the systemd journal's stream, else text).
 * Returns 0 or -1. The default, before any call, is text. */
int log_set_format_name(const char *name);
/* Prefix for every line, e.g. the program name. The string must outlive logging. */
void log_set_ident(const char *ident);

void log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vwrite(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Like log_write, with ": strerror(errno)" appended. */
void log_write_errno(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_at(lvl, ...) \
	do { if ((lvl) <= log_current_level) log_write((lvl), __VA_ARGS__); } while (0)
#define log_error(...) log_at(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_at(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)
#define log_warn_errno(...) \
	do { if (LOG_WARN <= log_current_level) log_write_errno(LOG_WARN, __VA_ARGS__); } while (0)
#define log_error_errno(...) \
	do { if (LOG_ERROR <= log_current_level) log_write_errno(LOG_ERROR, __VA_ARGS__); } while (0)

#endif
