/* cron: five-field cron expressions (minute hour day-of-month month
 * day-of-week) with ranges, lists, steps and the names of months and days,
 * and the next time one matches. Pure: no I/O, no clock, no time zone
 * (times are UTC seconds since the epoch), so it is unit-tested and
 * fuzzed (fuzz/fuzz_cron.c). */
#ifndef TETHER_CRON_H
#define TETHER_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRON_MAX_LEN 256

/* One bit per allowed value of each field. */
struct cron_expr {
	uint64_t minute;     /* bits 0-59 */
	uint32_t hour;       /* bits 0-23 */
	uint32_t dom;        /* bits 1-31 */
	uint16_t month;      /* bits 1-12 */
	uint8_t dow;         /* bits 0-6, Sunday = 0 (7 is read as 0) */
	bool dom_star;       /* the field began with '*' (vixie cron's rule) */
	bool dow_star;
};

/* Parses text: five fields separated by blanks, each a comma list of
 * "*", "N", "N-M", any of them followed by "/STEP" ("N/STEP" is N to the
 * field's end), months "jan".."dec" and days "sun".."sat" in any case, or
 * one of @yearly @annually @monthly @weekly @daily @midnight @hourly.
 * Returns 0, or -1 with a message naming the field in err (e.g. "minute:
 * 60 is out of range 0-59"). An expression that can never match (such as
 * "0 0 30 2 *") is refused as well. */
int cron_parse(const char *text, struct cron_expr *out, char *err, size_t errlen);
/* The first whole minute strictly after `after` (UTC seconds) that e
 * matches, or -1 when there is none in the next five years. When neither
 * day field begins with '*', a day matches either (vixie cron's rule);
 * otherwise it must match both. */
int64_t cron_next(const struct cron_expr *e, int64_t after);

#endif
