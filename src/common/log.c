/* log: lines on stderr, in one of three formats:
 *   text     "2026-12-01T14:00:00.123Z tetherd info: message"
 *   json     {"time":"...","level":"info","program":"tetherd","msg":"..."}
 *   journal  "<6>info: message": the journal stamps its own time and reads
 *            the priority from the <N> prefix (sd-daemon(3)). */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

int log_current_level = LOG_INFO;
static const char *log_ident = "tether";
static const char *const level_names[] = { "error", "warn", "info", "debug" };
/* syslog priorities of the levels: err, warning, info, debug. */
static const int level_prio[] = { 3, 4, 6, 7 };
static enum log_format log_fmt = LOG_FORMAT_TEXT;

/* Is stderr the journal's stream? systemd sets JOURNAL_STREAM to its
 * "device:inode" when it connects stdout/stderr to the journal. */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st))
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

int log_set_format_name(const char *name)
{
	if (!strcmp(name, "text"))
		log_fmt = LOG_FORMAT_TEXT;
	else if (!strcmp(name, "json"))
		log_fmt = LOG_FORMAT_JSON;
	else if (!strcmp(name, "journal"))
		log_fmt = LOG_FORMAT_JOURNAL;
	else if (!strcmp(name, "auto"))
		log_fmt = stderr_is_journal() ? LOG_FORMAT_JOURNAL : LOG_FORMAT_TEXT;
	else
		return -1;
	return 0;
}

/* msg as the inside of a JSON string into out (always terminated). */
static void json_escape(const char *msg, char *out, size_t outlen)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)msg; *p && o + 7 < outlen; p++) {
		if (*p == '"' || *p == '\\') {
			out[o++] = '\\';
			out[o++] = (char)*p;
		} else if (*p < 0x20) {
			o += (size_t)snprintf(out + o, outlen - o, "\\u%04x", *p);
		} else {
			out[o++] = (char)*p;
		}
	}
	out[o] = '\0';
}

int log_set_level_name(const char *name)
{
	for (int i = 0; i < 4; i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			log_current_level = i;
			return 0;
		}
	}
	return -1;
}

void log_set_ident(const char *ident)
{
	log_ident = ident;
}

void log_vwrite(int level, const char *fmt, va_list ap)
{
	char msg[2048];
	struct timespec ts;
	struct tm tm;

	if (level < 0)
		level = 0;
	if (level > 3)
		level = 3;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	vsnprintf(msg, sizeof msg, fmt, ap);
	/* One fprintf per line so concurrent writers do not interleave mid-line. */
	if (log_fmt == LOG_FORMAT_JOURNAL) {
		for (char *p = msg; *p; p++)
			if (*p == '\n')
				*p = ' ';
		fprintf(stderr, "<%d>%s: %s\n", level_prio[level], level_names[level], msg);
		return;
	}
	if (log_fmt == LOG_FORMAT_JSON) {
		char esc[2048 * 6 + 1];

		json_escape(msg, esc, sizeof esc);
		fprintf(stderr,
			"{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\","
			"\"program\":\"%s\",\"msg\":\"%s\"}\n",
			tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], log_ident, esc);
		return;
	}
	fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: %s\n",
		tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_ident,
		level_names[level], msg);
}

void log_write(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(level, fmt, ap);
	va_end(ap);
}

void log_write_errno(int level, const char *fmt, ...)
{
	char msg[1800];
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_write(level, "%s: %s", msg, strerror(saved));
}
